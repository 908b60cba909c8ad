// One look at a drop folder (product.md 9 "Inputs no one could read"): the regular files with
// usable names, and the entries intake never opens (not regular files, unsafe, non-UTF-8 or
// too long names). The daemon's rescan and the status command both use it, so `status` counts
// the same entries whether the daemon runs or not: status scans the folders itself.
import fs from 'node:fs';
import path from 'node:path';
import { isIgnoredName, judgeName, showName } from './names.js';

export interface UnsafeEntry {
  /** the drop folder */
  folder: string;
  /** the name, escaped printable */
  shown: string;
  /** why, as a phrase: "a FIFO (named pipe), not a regular file", "its name is not valid UTF-8" */
  reason: string;
}

export interface DropScan {
  /** regular files with usable names: candidates for the claim */
  files: { name: string; path: string }[];
  unsafe: UnsafeEntry[];
}

const KIND: [string, (s: fs.Stats) => boolean][] = [
  ['a symbolic link (links are never followed)', (s) => s.isSymbolicLink()],
  ['a folder', (s) => s.isDirectory()],
  ['a FIFO (named pipe)', (s) => s.isFIFO()],
  ['a socket', (s) => s.isSocket()],
  ['a device', (s) => s.isBlockDevice() || s.isCharacterDevice()],
];

/** What an entry is when it is not a regular file, or null for a regular file. */
export function notRegular(st: fs.Stats): string | null {
  if (st.isFile()) return null;
  for (const [what, is] of KIND) if (is(st)) return `${what}, not a regular file`;
  return 'not a regular file';
}

/** Looks at one entry by its raw name; undefined when it is ignored or gone. */
export function judgeEntry(folder: string, raw: Buffer): { file: { name: string; path: string } } | { unsafe: UnsafeEntry } | undefined {
  const verdict = judgeName(raw);
  const textName = verdict.usable ? verdict.name : raw.toString('latin1');
  if (isIgnoredName(textName)) return undefined;
  if (!verdict.usable) return { unsafe: { folder, shown: verdict.shown, reason: `its name ${verdict.reason}` } };
  const p = path.join(folder, verdict.name);
  let st: fs.Stats;
  try {
    st = fs.lstatSync(p);
  } catch {
    return undefined; // gone already
  }
  const what = notRegular(st);
  if (what) return { unsafe: { folder, shown: showName(raw), reason: what } };
  return { file: { name: verdict.name, path: p } };
}

/** Scans a drop folder; throws when the folder cannot be read (the caller says so). */
export function scanDropFolder(folder: string): DropScan {
  const out: DropScan = { files: [], unsafe: [] };
  for (const raw of fs.readdirSync(folder, { encoding: 'buffer' })) {
    const r = judgeEntry(folder, raw);
    if (!r) continue;
    if ('file' in r) out.files.push(r.file);
    else out.unsafe.push(r.unsafe);
  }
  return out;
}

/** The never-opened entries of every drop folder (a folder that cannot be read adds none). */
export function unsafeInputs(folders: string[]): UnsafeEntry[] {
  const out: UnsafeEntry[] = [];
  for (const f of folders) {
    try {
      out.push(...scanDropFolder(f).unsafe);
    } catch {
      // absent or unreadable for this user: nothing to count
    }
  }
  return out.sort((a, b) => (a.folder === b.folder ? (a.shown < b.shown ? -1 : 1) : a.folder < b.folder ? -1 : 1));
}
