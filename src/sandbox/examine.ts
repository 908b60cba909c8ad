// The costly half of a judgement (processor.ts): read an arrived file (never more than the
// cap), parse it as untrusted XML, read its envelope and validate it against its type's XSD.
// Stateless, and its answer is plain data, so it runs the same inline on the event loop (small
// files) and in the examine worker (large ones, examine-worker.ts), and the stateful half
// (seen numbers, reject rate, the ack) stays on the main thread.
import fs from 'node:fs';
import { loadSchema, validateDoc } from '../xml/schema.js';
import { parseUntrusted } from '../xml/untrusted.js';
import type { AckError } from './ack.js';
import { ERROR_CODES, issueText, MAX_XSD_ERRORS, readEnvelope, tooBig, type Envelope } from './rules.js';

export interface ExamineJob {
  /** local path of the arrived file */
  local: string;
  /** the XSD of the folder's message type; null when the folder is no type */
  schema: string | null;
  /** commontypes namespace (the envelope's cmn: prefix) */
  commontypes: string;
  /** a larger file is refused unread past this many bytes */
  maxBytes: number;
}

export type Examination =
  /** vanished, or not a regular file: nothing to judge */
  | { kind: 'gone'; error: string }
  /** refused before any XML parser saw it, or not well-formed */
  | { kind: 'refused'; bytes: number; mtimeMs: number; errors: AckError[] }
  /** well-formed: its envelope, and its XSD problems (none when schema was null) */
  | { kind: 'doc'; bytes: number; mtimeMs: number; env: Envelope; xsd: AckError[] };

const CHUNK = 1024 * 1024;

export function examineFile(job: ExamineJob): Examination {
  let fd: number;
  try {
    fd = fs.openSync(job.local, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch (e) {
    return { kind: 'gone', error: (e as Error).message };
  }
  let data: Buffer;
  let bytes: number;
  let mtimeMs: number;
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) return { kind: 'gone', error: 'not a regular file' };
    bytes = st.size;
    mtimeMs = st.mtimeMs;
    if (st.size > job.maxBytes) return { kind: 'refused', bytes, mtimeMs, errors: [tooBig(st.size, job.maxBytes)] };
    // a session may still be writing through another handle: read at most the cap, plus one
    // byte to tell a file that grew past it
    const read = readCapped(fd, job.maxBytes + 1);
    if (read.length > job.maxBytes) return { kind: 'refused', bytes: read.length, mtimeMs, errors: [tooBig(read.length, job.maxBytes)] };
    data = read;
  } catch (e) {
    return { kind: 'gone', error: (e as Error).message };
  } finally {
    fs.closeSync(fd);
  }

  const parsed = parseUntrusted(data, { maxBytes: job.maxBytes, namespaces: { cmn: job.commontypes } });
  if (!parsed.doc) {
    const errors: AckError[] = parsed.issues.map((i) => ({ code: ERROR_CODES.malformed, class: 1, message: issueText(i) }));
    if (errors.length === 0) errors.push({ code: ERROR_CODES.malformed, class: 1, message: 'not an XML document' });
    return { kind: 'refused', bytes, mtimeMs, errors };
  }
  const doc = parsed.doc;
  try {
    const env = readEnvelope(doc);
    const xsd: AckError[] = [];
    if (job.schema !== null) {
      const issues = validateDoc(loadSchema(job.schema), doc);
      for (const i of issues.slice(0, MAX_XSD_ERRORS)) xsd.push({ code: ERROR_CODES.xsd, class: 1, message: issueText(i) });
      if (issues.length > MAX_XSD_ERRORS) xsd.push({ code: ERROR_CODES.xsd, class: 1, message: `${issues.length - MAX_XSD_ERRORS} more XSD issues not listed` });
    }
    return { kind: 'doc', bytes, mtimeMs, env, xsd };
  } finally {
    doc.dispose(); // its WebAssembly memory (up to a few times the file), now rather than at some GC
  }
}

function readCapped(fd: number, limit: number): Buffer {
  const parts: Buffer[] = [];
  let total = 0;
  while (total < limit) {
    const buf = Buffer.allocUnsafe(Math.min(CHUNK, limit - total));
    const n = fs.readSync(fd, buf, 0, buf.length, total);
    if (n === 0) break;
    parts.push(n === buf.length ? buf : buf.subarray(0, n));
    total += n;
  }
  return Buffer.concat(parts, total);
}
