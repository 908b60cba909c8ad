// The error/ folder (product.md 3): each rejected input under its own name (a clash adds .1,
// .2, ...) and beside it <name>.error.txt (one line per problem) and <name>.error.json.
import fs from 'node:fs';
import path from 'node:path';
import { formatInputError, type InputError } from '../flatfile/errors.js';
import { FILE_MODE, fsyncPath, writeFileDurable } from '../util/durable-file.js';

/** product.md 3: too-large = over maxInputBytes, hashed but never read or archived; internal =
 * intake threw an unexpected error twice (product.md 6). */
export type RejectReason = 'invalid' | 'duplicate' | 'rule' | 'too-large' | 'internal';

export interface ErrorReport {
  file: string;
  sha256: string;
  receivedAt: string;
  reason: RejectReason;
  /** false when the input itself was not archived (too-large) */
  archived?: boolean;
  errors: { line: number | null; field: string | null; value: string | null; message: string; original: InputError['original'] | null }[];
}

/** A file that fails only because of duplicates is a duplicate; rule breaches next; else invalid. */
export function rejectReason(errors: InputError[]): RejectReason {
  if (errors.length && errors.every((e) => e.kind === 'duplicate')) return 'duplicate';
  if (errors.some((e) => e.kind === undefined)) return 'invalid';
  return 'rule';
}

/** A name in error/ not used by any file or report there, nor by `reserved` (names chosen by
 * other files in flight): `name`, else `name.1`, `name.2`, ... */
export function freeErrorName(dir: string, name: string, reserved: ReadonlySet<string> = new Set()): string {
  const taken = (n: string) => reserved.has(n) || fs.existsSync(path.join(dir, n)) || fs.existsSync(path.join(dir, `${n}.error.json`));
  if (!taken(name)) return name;
  for (let i = 1; ; i++) if (!taken(`${name}.${i}`)) return `${name}.${i}`;
}

/** The input as it goes into error/: copied from the descriptor intake opened, or (too-large,
 * never read) moved there by the caller after the outcome is committed. */
export type ErrorSource = { fd: number } | { moveLater: true };

/** Writes the two reports and (from a descriptor) the input's copy into error/ under `name`,
 * which the caller chose and recorded before: a retry after a crash rewrites the same files
 * instead of adding `.1`. Returns the stored input's path and the .error.json text. */
export function writeErrorFile(errorDir: string, source: ErrorSource, name: string, report: ErrorReport): { path: string; json: string } {
  fs.mkdirSync(errorDir, { recursive: true, mode: 0o750 });
  const target = path.join(errorDir, name);
  // the report first: an input in error/ without its report would be a mystery
  writeFileDurable(`${target}.error.txt`, report.errors.map((e) => formatInputError({ ...e, original: e.original ?? undefined })).join('\n') + '\n', { flag: 'w' });
  // `file` is the name in error/; `droppedAs` the name it came under, when that differs
  const json = JSON.stringify({ ...report, file: name, ...(name !== report.file ? { droppedAs: report.file } : {}) }, null, 2) + '\n';
  writeFileDurable(`${target}.error.json`, json, { flag: 'w' });
  if ('fd' in source) copyFdDurable(source.fd, target);
  fsyncPath(errorDir);
  return { path: target, json };
}

const CHUNK = 1 << 20;

/** Copies an open descriptor's content from position 0 into `target` (replaced if there),
 * in chunks, fsynced: any size, bounded memory. */
export function copyFdDurable(fd: number, target: string): number {
  const out = fs.openSync(target, 'w', FILE_MODE);
  try {
    const buf = Buffer.allocUnsafe(CHUNK);
    let pos = 0;
    for (;;) {
      const n = fs.readSync(fd, buf, 0, CHUNK, pos);
      if (n === 0) break;
      for (let off = 0; off < n; ) off += fs.writeSync(out, buf, off, n - off);
      pos += n;
    }
    fs.fsyncSync(out);
    fs.fchmodSync(out, FILE_MODE);
    return pos;
  } finally {
    fs.closeSync(out);
  }
}
