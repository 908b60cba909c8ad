// Which drop-folder entries intake may ever open (product.md 6 "Input file names", 9 "Inputs
// no one could read"), and how a name is shown and stored. Pure: names arrive as the bytes the
// directory holds (readdir with encoding 'buffer'), because a name that is not UTF-8 would
// otherwise reach us already mangled into U+FFFD and could never be told apart.
import { isUtf8 } from 'node:buffer';

/** A name longer than this (in bytes) is never claimed: the work/ name adds a claim prefix of
 * up to 55 bytes and the error/ reports add `.<n>.error.json`, and all must fit in 255. */
export const MAX_NAME_BYTES = 180;

/** Temp names and dotfiles are never picked up: writers use them while a file is incomplete. */
export function isIgnoredName(name: string): boolean {
  return name.startsWith('.') || /\.(tmp|part)$/i.test(name);
}

// C0 and DEL, C1, Unicode format characters (Cf: bidi controls, zero-width joiners, BOM, soft
// hyphen ...), and the line and paragraph separators: each can make a name look like another
// one, or break a log line or a terminal.
const UNSAFE_CHAR = /[\x00-\x1f\x7f-\x9f\p{Cf}\u2028\u2029]/u;

/** Why a name (already known to be UTF-8) must not be opened, or null when it is usable. */
export function unsafeName(name: string): string | null {
  if (name.includes('/') || name.includes('\\')) return 'contains a path separator';
  const m = UNSAFE_CHAR.exec(name);
  if (m) {
    const cp = m[0].codePointAt(0)!;
    const kind = cp < 0x20 || cp === 0x7f ? 'a control character' : cp <= 0x9f ? 'a C1 control character' : 'an invisible format character (bidi or similar)';
    return `contains ${kind} (U+${cp.toString(16).toUpperCase().padStart(4, '0')})`;
  }
  if (Buffer.byteLength(name) > MAX_NAME_BYTES) return `is longer than ${MAX_NAME_BYTES} bytes, too long to claim`;
  return null;
}

export type NameVerdict = { usable: true; name: string } | { usable: false; shown: string; reason: string };

/** The verdict on a directory entry's raw name. */
export function judgeName(raw: Buffer): NameVerdict {
  if (!isUtf8(raw)) return { usable: false, shown: showName(raw), reason: 'is not valid UTF-8' };
  const name = raw.toString('utf8');
  const bad = unsafeName(name);
  return bad ? { usable: false, shown: showName(raw), reason: bad } : { usable: true, name };
}

/** A name as printable text, for logs and status: unsafe characters and undecodable bytes as
 * escapes (`\u{202E}`, `\xFF`), a backslash doubled, so two different names never look alike. */
export function showName(raw: Buffer | string): string {
  const buf = typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw;
  if (!isUtf8(buf)) {
    let out = '';
    for (const b of buf) out += b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).toUpperCase().padStart(2, '0')}`;
    return out;
  }
  let out = '';
  for (const ch of buf.toString('utf8')) {
    if (ch === '\\') out += '\\\\';
    else if (UNSAFE_CHAR.test(ch)) out += `\\u{${ch.codePointAt(0)!.toString(16).toUpperCase()}}`;
    else out += ch;
  }
  return out;
}

/** Names the archive keeps for itself inside a folder (the manifest; dotfiles are hidden). */
export function archiveReserved(name: string): boolean {
  return name === 'manifest.json' || name.startsWith('.') || name.includes('/');
}

/** The name an input is stored under in its archive folder: its own, unless the archive uses
 * that name itself; then prefixed (the folder holds only this input and its report, so the
 * prefixed name cannot clash). The original name stays in the manifest and the ledger. */
export function archiveNameFor(name: string): string {
  return archiveReserved(name) ? `input-${name.replace(/^\.+/, '').replace(/\//g, '_') || 'unnamed'}` : name;
}

/** The name an input is stored under in error/: its own, unless error/ would hide it (status
 * counts neither dotfiles nor the `.error.txt` / `.error.json` reports as error files). */
export function errorNameFor(name: string): string {
  let n = name.startsWith('.') ? `input-${name.replace(/^\.+/, '') || 'unnamed'}` : name;
  if (/\.error\.(txt|json)$/.test(n)) n = `${n}.input`;
  return n;
}
