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
// ack folder when due; a restart delivers what was pending (ack-outbox.ts). The rules of each
// step are in rules.ts; this file keeps their order and the state (seen numbers, judgements).
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../log.js';
import type { MessageTypeInfo } from '../messages/registry.js';
import { loadSchema } from '../xml/schema.js';
import { renderAck, type AckError, type AckStatus } from './ack.js';
import { AckOutbox } from './ack-outbox.js';
import { examineFile, type Examination, type ExamineJob } from './examine.js';
import { envelopeProblems, ERROR_CODES, rejects, type Envelope } from './rules.js';

export { ACK_COUNTER_FILE, ACK_FOLDER, PENDING_DIR } from './ack-outbox.js';
export { ERROR_CODES, MAX_FILE_BYTES, rejects } from './rules.js';

export const INBOX = 'inbox';
export const SEEN_FILE = 'seen-fcn.jsonl';
export const PROCESSED_LOG = 'processed.jsonl';

export interface ProcessorOptions {
  dir: string;
  messageTypes: Record<string, MessageTypeInfo>;
  namespaces: { commontypes: string; ack: string };
  receiverId: string;
  senderId?: string;
  rejectRate: number;
  ackDelaySeconds: number;
  /** a larger file is judged XML_MALFORMED unread */
  maxFileBytes: number;
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

export class Processor {
  private readonly o: ProcessorOptions;
  private readonly seen = new Map<string, SeenEntry>();
  private readonly outbox: AckOutbox;
  private closed = false;

  constructor(o: ProcessorOptions) {
    this.o = o;
    fs.mkdirSync(path.join(o.dir, INBOX), { recursive: true, mode: 0o750 });
    for (const t of Object.values(o.messageTypes)) {
      fs.mkdirSync(path.join(o.dir, INBOX, t.code), { recursive: true, mode: 0o750 });
      loadSchema(t.schema); // a schema that does not compile stops the start, not a judgement
    }
    this.loadSeen();
    this.outbox = new AckOutbox(o.dir, o.logger); // last: it starts the timers of pending acks
  }

  get ackDir(): string {
    return this.outbox.ackDir;
  }

  /** Stops the delay timers; pending acks stay in pending-acks/ for the next start. */
  close(): void {
    this.closed = true;
    this.outbox.close();
  }

  /** What examineFile needs for the file at server path `virt`, local path `local`. */
  jobFor(virt: string, local: string): ExamineJob {
    const info = this.typeOf(virt).info;
    return { local, schema: info?.schema ?? null, commontypes: this.o.namespaces.commontypes, maxBytes: this.o.maxFileBytes };
  }

  /**
   * Judges the file at `local` (server path `virt`, e.g. /inbox/MATERIALS_PRODUCED/C1.xml) and
   * writes its ack, all on this thread.
   */
  process(virt: string, local: string): ProcessedRecord | null {
    if (this.closed) return null;
    return this.conclude(virt, examineFile(this.jobFor(virt, local)));
  }

  /**
   * The stateful half of a judgement, from an examination made here or in the worker:
   * synchronous from start to end, so conclusions never interleave.
   */
  conclude(virt: string, exam: Examination): ProcessedRecord | null {
    if (this.closed) return null;
    const { folder, info, name } = this.typeOf(virt);
    if (exam.kind === 'gone') {
      this.o.logger.warn('sandbox: an arrived file vanished before it was judged', { path: virt, error: exam.error });
      return null;
    }
    const at: Arrival = { virt, info, folder, name, bytes: exam.bytes, mtimeMs: exam.mtimeMs };
    if (exam.kind === 'refused') return this.answer(at, exam.errors);
    return this.judge(at, exam.env, exam.xsd);
  }

  private typeOf(virt: string): { folder: string | null; info: MessageTypeInfo | null; name: string } {
    const segs = virt.split('/').filter(Boolean); // ['inbox', TYPE, name]
    const folder = segs.length === 3 ? segs[1]! : null;
    const info = folder ? (Object.values(this.o.messageTypes).find((t) => t.code === folder) ?? null) : null;
    return { folder, info, name: segs[segs.length - 1]! };
  }

  /** Steps 2 to 4 of the judgement, for a well-formed document (its XSD issues already found). */
  private judge(at: Arrival, env: Envelope, xsd: AckError[]): ProcessedRecord {
    const { virt, info, folder, name } = at;
    const errors: AckError[] = [];
    const fcn = env.controlNumber ?? null;
    const sender = env.sender ?? '';
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
      errors.push(...xsd);
    }
    errors.push(...envelopeProblems(env, info, name, this.o));
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

  private answer(at: Arrival, errors: AckError[], env: Envelope | null = null): ProcessedRecord {
    const { virt, info, folder, name } = at;
    const now = new Date();
    const status: AckStatus = errors.length ? 'ERROR' : 'SUCCESS';
    const ackFcn = this.outbox.nextAckNumber();
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
    this.outbox.send(ackFcn, xml, due, this.o.ackDelaySeconds > 0);
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
    for (const virt of found) {
      try {
        this.process(virt, path.join(this.o.dir, ...virt.split('/').filter(Boolean)));
      } catch (e) {
        // one file that cannot be judged must not stop the start; it is tried again at the next
        this.o.logger.error('sandbox: judging a file found at start failed', { path: virt, error: (e as Error).message });
      }
    }
    return found;
  }

  // ------------------------------------------------------------------- state

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
}

function seenKey(sender: string, fcn: string): string {
  return `${sender}\u0000${fcn}`;
}

