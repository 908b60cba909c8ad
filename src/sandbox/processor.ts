// What the sandbox does with a file that arrived under /inbox: judge it the way the manufacturer
// would, and answer with an IE_PROCESSING_RESPONSE in /outbox/IE_PROCESSING_RESPONSE.
//
// Judgement, in order:
//  1. Not UTF-8, empty, too big, with a DOCTYPE, or not well-formed: ERROR, XML_MALFORMED.
//  2. Its FileControlNumber was seen before from the same FileSenderNumber (any earlier
//     outcome): ERROR with only ErrorClass 2, ErrorCode DUPLICATE_FILE (a pure duplicate
//     report, messages.md 2).
//  3. Otherwise every problem found, each its own ProcessingError (class 1):
//     UNKNOWN_MESSAGE_TYPE (the folder is no message type code), XSD_INVALID (one per XSD
//     issue), ENVELOPE_MISMATCH (FileReceiverNumber is not the manufacturer's id;
//     FileSenderNumber is not the expected sender, when one is configured; FileTransactionType
//     is not the folder's type's; the file name is not <FileControlNumber>.xml).
//  4. None: SUCCESS, unless rejectRate picks it (by a hash of its FileControlNumber, so the
//     same file always gets the same answer): ERROR, REJECTED_BY_SANDBOX.
// Every FileControlNumber that could be read is remembered in <dir>/seen-fcn.jsonl (one line each,
// appended, so a long rehearsal does not rewrite a growing file).
//
// The file itself stays where the client put it (/inbox/<TYPE>/<name>.xml): the daemon's
// recovery finds it there after a crash, and a re-upload of the same bytes counts as already
// present (product.md 5). A rename over it (the sandbox's plain rename replaces) lands again and
// is judged again (a duplicate, then). Every judgement is appended to <dir>/processed.jsonl; at
// start, a final name under inbox/ that has no judgement there (the process stopped between the
// rename and the judgement) is judged then, so no arrival goes unanswered.
//
// The ack gets its own FileControlNumber ACK + 12 digits (counter in <dir>/ack-counter.json) and
// is written atomically: a dot-prefixed temp name in the ack folder, then a rename. With
// ackDelaySeconds it waits in <dir>/pending-acks/<due ms>-<ack fcn>.xml and is renamed into the
// ack folder when due; a restart delivers what was pending.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../log.js';
import type { MessageTypeInfo } from '../messages/registry.js';
import { loadSchema, parseUntrusted, validateDoc, type XmlDoc } from '../xml/validator.js';
import { renderAck, type AckError, type AckStatus } from './ack.js';

export const INBOX = 'inbox';
export const ACK_FOLDER = ['outbox', 'IE_PROCESSING_RESPONSE'] as const;
export const SEEN_FILE = 'seen-fcn.jsonl';
export const ACK_COUNTER_FILE = 'ack-counter.json';
export const PENDING_DIR = 'pending-acks';
export const PROCESSED_LOG = 'processed.jsonl';

/** TraceLink refuses files over 300 MB (messages.md 1); so does the sandbox. */
export const MAX_FILE_BYTES = 300 * 1000 * 1000;
/** More XSD issues than this are summed up in one last ProcessingError. */
const MAX_XSD_ERRORS = 50;

export const ERROR_CODES = {
  malformed: 'XML_MALFORMED',
  unknownType: 'UNKNOWN_MESSAGE_TYPE',
  xsd: 'XSD_INVALID',
  envelope: 'ENVELOPE_MISMATCH',
  duplicate: 'DUPLICATE_FILE',
  rejected: 'REJECTED_BY_SANDBOX',
} as const;

export interface ProcessorOptions {
  dir: string;
  messageTypes: Record<string, MessageTypeInfo>;
  namespaces: { commontypes: string; ack: string };
  receiverId: string;
  senderId?: string;
  rejectRate: number;
  ackDelaySeconds: number;
  logger: Logger;
}

export interface ProcessedRecord {
  at: string;
  /** server path of the judged file */
  path: string;
  messageType: string | null;
  fileControlNumber: string | null;
  sender: string | null;
  status: AckStatus;
  errors: AckError[];
  ackFileControlNumber: string;
  /** when the ack is (or was) put into the ack folder */
  ackDueAt: string;
  /** size and mtime of the judged file: with the path, what tells a judged file from a new one */
  bytes: number;
  mtimeMs: number;
}

interface Arrival {
  virt: string;
  info: MessageTypeInfo | null;
  folder: string | null;
  name: string;
  bytes: number;
  mtimeMs: number;
}

interface SeenEntry {
  sender: string;
  fcn: string;
  at: string;
  path: string;
}

const HEADER = '/*/*[local-name()="ControlFileHeader"]';

export class Processor {
  private readonly o: ProcessorOptions;
  private readonly seen = new Map<string, SeenEntry>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;
  private ackSeq: number;

  constructor(o: ProcessorOptions) {
    this.o = o;
    for (const d of [path.join(o.dir, INBOX), this.ackDir, this.pendingDir]) fs.mkdirSync(d, { recursive: true, mode: 0o750 });
    for (const t of Object.values(o.messageTypes)) {
      fs.mkdirSync(path.join(o.dir, INBOX, t.code), { recursive: true, mode: 0o750 });
      loadSchema(t.schema); // a schema that does not compile stops the start, not a judgement
    }
    this.loadSeen();
    const last = this.readJson<{ last?: number }>(ACK_COUNTER_FILE)?.last;
    this.ackSeq = typeof last === 'number' && Number.isSafeInteger(last) && last >= 0 ? last : 0;
    this.resumePending();
  }

  get ackDir(): string {
    return path.join(this.o.dir, ...ACK_FOLDER);
  }

  private get pendingDir(): string {
    return path.join(this.o.dir, PENDING_DIR);
  }

  /** Stops the delay timers; pending acks stay in pending-acks/ for the next start. */
  close(): void {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  /**
   * Judges the file at `local` (server path `virt`, e.g. /inbox/MATERIALS_PRODUCED/C1.xml) and
   * writes its ack. Synchronous from start to end, so judgements never interleave.
   */
  process(virt: string, local: string): ProcessedRecord | null {
    if (this.closed) return null;
    const segs = virt.split('/').filter(Boolean); // ['inbox', TYPE, name]
    const folder = segs.length === 3 ? segs[1]! : null;
    const info = folder ? (Object.values(this.o.messageTypes).find((t) => t.code === folder) ?? null) : null;
    const name = segs[segs.length - 1]!;
    let data: Buffer;
    let at: Arrival;
    try {
      const st = fs.lstatSync(local);
      if (!st.isFile()) return null;
      at = { virt, info, folder, name, bytes: st.size, mtimeMs: st.mtimeMs };
      if (st.size > MAX_FILE_BYTES) return this.answer(at, [tooBig(st.size)]);
      data = fs.readFileSync(local);
    } catch (e) {
      this.o.logger.warn('sandbox: an arrived file vanished before it was judged', { path: virt, error: (e as Error).message });
      return null;
    }

    const parsed = parseUntrusted(data, { maxBytes: MAX_FILE_BYTES, namespaces: { cmn: this.o.namespaces.commontypes } });
    const env = parsed.doc ? readEnvelope(parsed.doc) : null;
    const errors: AckError[] = [];
    if (!parsed.doc) {
      for (const i of parsed.issues) errors.push({ code: ERROR_CODES.malformed, class: 1, message: issueText(i) });
      if (errors.length === 0) errors.push({ code: ERROR_CODES.malformed, class: 1, message: 'not an XML document' });
      return this.answer(at, errors, env);
    }

    const fcn = env?.controlNumber ?? null;
    const sender = env?.sender ?? '';
    if (fcn) {
      const before = this.seen.get(seenKey(sender, fcn));
      if (before) {
        errors.push({
          code: ERROR_CODES.duplicate,
          class: 2,
          message: `potential duplicate: FileControlNumber ${fcn} from sender ${sender || '(none)'} was already received at ${before.at} (${before.path})`,
          path: 'ControlFileHeader/FileControlNumber',
        });
        return this.answer(at, errors, env);
      }
    }

    if (!info) {
      const known = Object.values(this.o.messageTypes).map((t) => t.code).join(', ');
      errors.push({
        code: ERROR_CODES.unknownType,
        class: 1,
        message: folder
          ? `folder ${JSON.stringify(folder)} is not a message type code (known: ${known})`
          : `files go into /${INBOX}/<MESSAGE_TYPE>/ (known: ${known}); ${virt} is not in one`,
      });
    } else {
      const issues = validateDoc(loadSchema(info.schema), parsed.doc);
      for (const i of issues.slice(0, MAX_XSD_ERRORS)) errors.push({ code: ERROR_CODES.xsd, class: 1, message: issueText(i) });
      if (issues.length > MAX_XSD_ERRORS) {
        errors.push({ code: ERROR_CODES.xsd, class: 1, message: `${issues.length - MAX_XSD_ERRORS} more XSD issues not listed` });
      }
    }
    errors.push(...this.envelopeProblems(env, info, name));
    if (errors.length === 0 && fcn && rejects(fcn, this.o.rejectRate)) {
      errors.push({
        code: ERROR_CODES.rejected,
        class: 1,
        message: `rejected by the sandbox (reject rate ${this.o.rejectRate}), a rehearsal of a manufacturer-side rejection`,
      });
    }
    if (fcn) this.remember(sender, fcn, virt);
    return this.answer(at, errors, env);
  }

  private envelopeProblems(env: Envelope | null, info: MessageTypeInfo | null, name: string): AckError[] {
    const out: AckError[] = [];
    const problem = (field: string, message: string) =>
      out.push({ code: ERROR_CODES.envelope, class: 1, message, path: `ControlFileHeader/${field}` });
    const shown = (v: string | null) => (v === null ? 'missing' : JSON.stringify(v));
    if (env?.receiver !== this.o.receiverId) {
      problem('FileReceiverNumber', `FileReceiverNumber ${shown(env?.receiver ?? null)} is not this receiver: expected ${JSON.stringify(this.o.receiverId)}`);
    }
    if (this.o.senderId !== undefined && env?.sender !== this.o.senderId) {
      problem('FileSenderNumber', `FileSenderNumber ${shown(env?.sender ?? null)} is not the expected sender ${JSON.stringify(this.o.senderId)}`);
    }
    if (info && env?.transactionType !== info.transactionType) {
      problem(
        'FileTransactionType',
        `FileTransactionType ${shown(env?.transactionType ?? null)} does not match the folder ${info.code} (expects ${JSON.stringify(info.transactionType)})`,
      );
    }
    const fcn = env?.controlNumber ?? null;
    if (!fcn) problem('FileControlNumber', 'FileControlNumber is missing');
    else if (name !== `${fcn}.xml`) problem('FileControlNumber', `the file name ${JSON.stringify(name)} is not <FileControlNumber>.xml (${fcn}.xml)`);
    return out;
  }

  private answer(at: Arrival, errors: AckError[], env: Envelope | null = null): ProcessedRecord {
    const { virt, info, folder, name } = at;
    const now = new Date();
    const status: AckStatus = errors.length ? 'ERROR' : 'SUCCESS';
    const ackFcn = this.nextAckNumber();
    const stem = name.replace(/\.xml$/i, '');
    const xml = renderAck(
      {
        sender: this.o.receiverId,
        receiver: env?.sender || this.o.senderId || 'UNKNOWN',
        controlNumber: ackFcn,
        at: now,
        input: {
          transactionType: env?.transactionType || info?.transactionType || folder || 'UNKNOWN',
          sender: env?.sender || this.o.senderId || 'UNKNOWN',
          receiver: env?.receiver || this.o.receiverId,
          controlNumber: env?.controlNumber || stem || 'UNKNOWN',
        },
        status,
        errors,
      },
      this.o.namespaces,
    );
    const due = now.getTime() + Math.round(this.o.ackDelaySeconds * 1000);
    if (this.o.ackDelaySeconds > 0) this.park(ackFcn, xml, due);
    else this.deliver(ackFcn, xml);
    const rec: ProcessedRecord = {
      at: now.toISOString(),
      path: virt,
      messageType: info?.name ?? null,
      fileControlNumber: env?.controlNumber ?? null,
      sender: env?.sender ?? null,
      status,
      errors,
      ackFileControlNumber: ackFcn,
      ackDueAt: new Date(due).toISOString(),
      bytes: at.bytes,
      mtimeMs: at.mtimeMs,
    };
    fs.appendFileSync(path.join(this.o.dir, PROCESSED_LOG), JSON.stringify(rec) + '\n', { mode: 0o640 });
    this.o.logger.info(`sandbox: ${virt} judged ${status}`, {
      path: virt,
      fileControlNumber: rec.fileControlNumber,
      status,
      errors: errors.map((e) => e.code),
      ack: ackFcn,
      ackDueAt: rec.ackDueAt,
    });
    return rec;
  }

  /**
   * Judges what arrived but was never judged (the process stopped between a client's rename and
   * the judgement): every final name under inbox/ with no processed.jsonl record of the same
   * path, size and mtime. Returns their server paths.
   */
  judgeUnjudged(): string[] {
    const judged = new Set<string>();
    try {
      for (const line of fs.readFileSync(path.join(this.o.dir, PROCESSED_LOG), 'utf8').split('\n')) {
        if (!line.trim()) continue;
        try {
          const r = JSON.parse(line) as Partial<ProcessedRecord>;
          judged.add(`${r.path}\u0000${r.bytes}\u0000${r.mtimeMs}`);
        } catch {
          /* a line cut short by a kill */
        }
      }
    } catch {
      /* nothing judged yet */
    }
    const found: string[] = [];
    const walk = (localDir: string, virtDir: string): void => {
      let entries: fs.Dirent[];
      try {
        entries = fs.readdirSync(localDir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
        const local = path.join(localDir, e.name);
        const virt = `${virtDir}/${e.name}`;
        if (e.isDirectory()) walk(local, virt);
        else if (e.isFile() && /\.xml$/i.test(e.name) && !e.name.startsWith('.')) {
          const st = fs.statSync(local);
          if (!judged.has(`${virt}\u0000${st.size}\u0000${st.mtimeMs}`)) found.push(virt);
        }
      }
    };
    walk(path.join(this.o.dir, INBOX), `/${INBOX}`);
    for (const virt of found) this.process(virt, path.join(this.o.dir, ...virt.split('/').filter(Boolean)));
    return found;
  }

  // ------------------------------------------------------------------- ack files

  /** Writes the ack into the ack folder: dot-prefixed temp name, then rename. */
  private deliver(ackFcn: string, xml: string): void {
    fs.mkdirSync(this.ackDir, { recursive: true, mode: 0o750 });
    const tmp = path.join(this.ackDir, `.${ackFcn}.xml.tmp`);
    fs.writeFileSync(tmp, xml, { mode: 0o640 });
    fs.renameSync(tmp, path.join(this.ackDir, `${ackFcn}.xml`));
  }

  private park(ackFcn: string, xml: string, due: number): void {
    const file = path.join(this.pendingDir, `${due}-${ackFcn}.xml`);
    const tmp = path.join(this.pendingDir, `.${ackFcn}.xml.tmp`);
    fs.mkdirSync(this.pendingDir, { recursive: true, mode: 0o750 });
    fs.writeFileSync(tmp, xml, { mode: 0o640 });
    fs.renameSync(tmp, file);
    this.schedule(file, ackFcn, due);
  }

  private schedule(file: string, ackFcn: string, due: number): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (this.closed) return;
      try {
        fs.mkdirSync(this.ackDir, { recursive: true, mode: 0o750 });
        fs.renameSync(file, path.join(this.ackDir, `${ackFcn}.xml`));
        this.o.logger.info('sandbox: delayed ack delivered', { ack: ackFcn });
      } catch (e) {
        this.o.logger.error('sandbox: could not deliver a delayed ack', { ack: ackFcn, error: (e as Error).message });
      }
    }, Math.max(0, due - Date.now()));
    this.timers.add(t);
  }

  private resumePending(): void {
    let names: string[];
    try {
      names = fs.readdirSync(this.pendingDir);
    } catch {
      return;
    }
    for (const n of names.sort()) {
      const m = /^(\d+)-(ACK\d+)\.xml$/.exec(n);
      if (m) this.schedule(path.join(this.pendingDir, n), m[2]!, Number(m[1]));
    }
  }

  // ------------------------------------------------------------------- state

  private nextAckNumber(): string {
    this.ackSeq++;
    this.writeJson(ACK_COUNTER_FILE, { last: this.ackSeq });
    return `ACK${String(this.ackSeq).padStart(12, '0')}`;
  }

  private loadSeen(): void {
    let text: string;
    try {
      text = fs.readFileSync(path.join(this.o.dir, SEEN_FILE), 'utf8');
    } catch {
      return;
    }
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      try {
        const e = JSON.parse(line) as SeenEntry;
        if (typeof e.fcn === 'string' && typeof e.sender === 'string') this.seen.set(seenKey(e.sender, e.fcn), e);
      } catch {
        /* a line cut short by a kill: skipped */
      }
    }
  }

  private remember(sender: string, fcn: string, virt: string): void {
    const e: SeenEntry = { sender, fcn, at: new Date().toISOString(), path: virt };
    this.seen.set(seenKey(sender, fcn), e);
    fs.appendFileSync(path.join(this.o.dir, SEEN_FILE), JSON.stringify(e) + '\n', { mode: 0o640 });
  }

  private readJson<T>(name: string): T | null {
    try {
      return JSON.parse(fs.readFileSync(path.join(this.o.dir, name), 'utf8')) as T;
    } catch {
      return null;
    }
  }

  private writeJson(name: string, value: unknown): void {
    const file = path.join(this.o.dir, name);
    const tmp = path.join(this.o.dir, `.${name}.tmp`);
    fs.writeFileSync(tmp, JSON.stringify(value) + '\n', { mode: 0o640 });
    fs.renameSync(tmp, file);
  }
}

interface Envelope {
  sender: string | null;
  receiver: string | null;
  transactionType: string | null;
  controlNumber: string | null;
}

function readEnvelope(doc: XmlDoc): Envelope {
  const get = (name: string) => doc.text(`${HEADER}/cmn:${name}`);
  return {
    sender: get('FileSenderNumber'),
    receiver: get('FileReceiverNumber'),
    transactionType: get('FileTransactionType'),
    controlNumber: get('FileControlNumber'),
  };
}

function seenKey(sender: string, fcn: string): string {
  return `${sender}\u0000${fcn}`;
}

function issueText(i: { line: number | null; message: string }): string {
  return i.line === null ? i.message : `line ${i.line}: ${i.message}`;
}

function tooBig(size: number): AckError {
  return { code: ERROR_CODES.malformed, class: 1, message: `file of ${size} bytes exceeds the limit of ${MAX_FILE_BYTES} bytes` };
}

/** Deterministic: the same FileControlNumber always gets the same answer; rate 1 rejects all, 0 none. */
export function rejects(fcn: string, rate: number): boolean {
  if (!(rate > 0)) return false;
  if (rate >= 1) return true;
  const h = createHash('sha256').update(fcn).digest().readUInt32BE(0);
  return h / 0x1_0000_0000 < rate;
}
