// The error/ folder (product.md 3): each rejected input under its own name (a clash adds .1,
// .2, ...) and beside it <name>.error.txt (one line per problem) and <name>.error.json.
import fs from 'node:fs';
import path from 'node:path';
import { formatInputError, type InputError } from '../flatfile/errors.js';
import { writeFileDurable } from '../util/durable-file.js';

export type RejectReason = 'invalid' | 'duplicate' | 'rule';

export interface ErrorReport {
  file: string;
  sha256: string;
  receivedAt: string;
  reason: RejectReason;
  errors: { line: number | null; field: string | null; value: string | null; message: string; original: InputError['original'] | null }[];
}

/** A file that fails only because of duplicates is a duplicate; rule breaches next; else invalid. */
export function rejectReason(errors: InputError[]): RejectReason {
  if (errors.length && errors.every((e) => e.kind === 'duplicate')) return 'duplicate';
  if (errors.some((e) => e.kind === undefined)) return 'invalid';
  return 'rule';
}

function freeName(dir: string, name: string): string {
  const taken = (n: string) => fs.existsSync(path.join(dir, n)) || fs.existsSync(path.join(dir, `${n}.error.json`));
  if (!taken(name)) return name;
  for (let i = 1; ; i++) if (!taken(`${name}.${i}`)) return `${name}.${i}`;
}

/** Copies the input into error/ with its two reports; returns the stored name's path. */
export function writeErrorFile(errorDir: string, sourcePath: string, originalName: string, report: ErrorReport): string {
  fs.mkdirSync(errorDir, { recursive: true, mode: 0o750 });
  const name = freeName(errorDir, originalName);
  const target = path.join(errorDir, name);
  // the report first: an input in error/ without its report would be a mystery
  writeFileDurable(`${target}.error.txt`, report.errors.map((e) => formatInputError({ ...e, original: e.original ?? undefined })).join('\n') + '\n');
  writeFileDurable(`${target}.error.json`, JSON.stringify({ ...report, file: name }, null, 2) + '\n');
  writeFileDurable(target, fs.readFileSync(sourcePath));
  const dfd = fs.openSync(errorDir, 'r');
  fs.fsyncSync(dfd);
  fs.closeSync(dfd);
  return target;
}
