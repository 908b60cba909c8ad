// Intake of one claimed file (product.md 1, 5 and 6): translate it, apply the rules with
// history, stage its messages (all or none), archive what was received, or put it into
// error/ with its report. The work/ copy is removed only once the outcome is committed
// (claim.ts). Whatever the file holds, it ends with an outcome: an exception thrown twice
// sends it to error/ with reason internal instead of stopping intake.
import fs from 'node:fs';
import path from 'node:path';
import type { Archive } from '../archive/archive.js';
import type { Config, InboundConfig } from '../config/load.js';
import { dataPaths } from '../config/paths.js';
import { inputError, type InputError } from '../flatfile/errors.js';
import { failIntakeAttempt, intakeAttempt } from '../ledger/intake-attempts.js';
import { FcnAllocator, type Ledger, type NewMessage } from '../ledger/ledger.js';
import type { Logger } from '../log.js';
import { writeFileDurable } from '../util/durable-file.js';
import { errText } from '../util/err-text.js';
import { sha256 as sha256Of } from '../util/sha256.js';
import { beginClaim, convertClaim, factsOf, finishLeftover, NotAnInputError, openClaimed, rejectClaim, wholeFileProblems } from './claim.js';
import { historyRules } from './history-rules.js';
import { translateFile, type TranslatedMessage } from './translate.js';

export interface IntakeDeps {
  config: Config;
  ledger: Ledger;
  archive: Archive;
  logger: Logger;
  /** aborts a conversion in progress (shutdown); the file stays in work/ for the next start */
  signal?: AbortSignal;
}

export interface ClaimedFile {
  /** where the claimed file sits, under work/ */
  workPath: string;
  /** the name it was dropped under */
  name: string;
  inbound: InboundConfig;
  /** `reprocess --force`: pass the duplicate checks */
  force?: boolean;
  reprocessOf?: number;
}

export interface IntakeOutcome {
  fileId: number;
  state: 'CONVERTED' | 'FAILED' | 'DUPLICATE';
  messages: number;
  errors: InputError[];
}

const INSERT_CHUNK = 500;
/** A file whose intake throws this many times goes to error/ with reason internal (product.md 6). */
export const MAX_INTAKE_FAILURES = 2;

// Failures of the machine, not of the file: a full disk or a busy ledger must not send a good
// file to error/. They leave the file in work/ for the next start, uncounted.
const ENVIRONMENT_CODES = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EROFS', 'EMFILE', 'ENFILE', 'ENOMEM', 'EAGAIN', 'SQLITE_FULL', 'SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_READONLY']);

/** Whether an exception counts against the file: not a stop, not the machine's fault. */
export function countsAsFailure(e: unknown): boolean {
  if (!(e instanceof Error)) return true;
  if (e.name === 'AbortError' || e instanceof NotAnInputError) return false;
  const code = String((e as NodeJS.ErrnoException).code ?? '');
  return !(ENVIRONMENT_CODES.has(code) || code.startsWith('SQLITE_IOERR'));
}

/** Intake of one claimed file, whatever it holds: it ends CONVERTED, FAILED or DUPLICATE. Each
 * attempt is committed before it starts and an exception is counted against the file (a kill
 * is not); after MAX_INTAKE_FAILURES the file goes to error/ with reason internal. Throws only
 * for a stop (AbortError), the machine's own failures, an entry that is no regular file
 * (NotAnInputError, put back where it was), or when even the internal path fails. */
export async function processClaimed(deps: IntakeDeps, c: ClaimedFile): Promise<IntakeOutcome> {
  const db = deps.ledger.db;
  for (;;) {
    // the attempt itself is committed with the claim's row (beginClaim)
    const before = intakeAttempt(db, c.workPath);
    if (before && before.failed >= MAX_INTAKE_FAILURES) return intakeInternal(deps, c, before.lastError ?? 'unknown error');
    try {
      return await intakeOnce(deps, c);
    } catch (e) {
      if (!countsAsFailure(e)) throw e;
      const failed = failIntakeAttempt(db, c.workPath, errText(e));
      const attempt = intakeAttempt(db, c.workPath)?.started ?? (before?.started ?? 0) + 1;
      deps.logger.error('intake threw an unexpected error', { file: c.name, workPath: c.workPath, attempt, failures: failed, error: (e as Error).stack ?? String(e) });
    }
  }
}

async function withOpen<T>(c: ClaimedFile, fn: (fd: number, st: fs.Stats) => Promise<T>): Promise<T> {
  const { fd, st } = openClaimed(c);
  try {
    return await fn(fd, st);
  } finally {
    fs.closeSync(fd);
  }
}

async function intakeInternal(deps: IntakeDeps, c: ClaimedFile, lastError: string): Promise<IntakeOutcome> {
  const row = deps.ledger.fileByWorkPath(c.workPath);
  if (row && row.state !== 'RECEIVED') return finishLeftover(deps, c, row);
  return withOpen(c, async (fd, st) => {
    const k = await beginClaim(deps, c, fd, st);
    const e = inputError(null, null, null, `could not be converted: intake failed ${MAX_INTAKE_FAILURES} times with an unexpected error: ${lastError}`);
    return rejectClaim(k, [e], {}, 'internal');
  });
}

async function intakeOnce(deps: IntakeDeps, c: ClaimedFile): Promise<IntakeOutcome> {
  const { config, ledger } = deps;
  const d = dataPaths(config);
  // A file found in work/ after a crash already has its row: its outcome may be committed
  const done = ledger.fileByWorkPath(c.workPath);
  if (done && done.state !== 'RECEIVED') return finishLeftover(deps, c, done);
  return withOpen(c, async (fd, st) => {
    const k = await beginClaim(deps, c, fd, st);
    const fileId = k.row.id;
    const whole = wholeFileProblems(k);
    if (whole.length) return rejectClaim(k, whole);
    const earlier = c.force ? undefined : ledger.convertedFileWithSha(k.sha256, fileId);
    if (earlier)
      return rejectClaim(k, [
        {
          ...inputError(null, null, null, `has the same content as ${earlier.name}, received ${earlier.received_at} and already converted`),
          kind: 'duplicate',
          original: { file: earlier.name, receivedAt: earlier.received_at, fileControlNumber: earlier.fcn },
        },
      ]);
    const allocator = new FcnAllocator(ledger, config.sender.controlNumberPrefix);
    const rules = historyRules(ledger, config);
    let pending: NewMessage[] = [];
    const written: string[] = [];
    // a conversion that throws (a full disk, the stop) leaves nothing of itself behind: no
    // message rows, no outbox files taking space; the input stays in work/ for another attempt
    const undo = (): void => {
      for (const p of [...ledger.dropMessagesOfFile(fileId), ...written]) fs.rmSync(p, { force: true });
    };
    const result = await translateFile(
      { fd },
      {
        signal: deps.signal,
        config,
        layout: c.inbound.layout,
        fixed: { messageType: c.inbound.messageType, partner: c.inbound.partner },
        allocate: () => allocator.allocate(),
        check: (m, h, hash) => rules(m, h, hash).filter((e) => !(c.force && e.kind === 'duplicate')),
        onMessage: (m: TranslatedMessage) => {
          const dir = path.join(d.outbox, m.partner);
          fs.mkdirSync(dir, { recursive: true, mode: 0o750 });
          const xmlPath = path.join(dir, `${m.fileControlNumber}.xml`);
          written.push(xmlPath);
          try {
            writeFileDurable(xmlPath, m.xml);
          } catch (e) {
            throw Object.assign(new Error(`cannot write the outbox file ${xmlPath}: ${(e as Error).message}`), { code: (e as NodeJS.ErrnoException).code });
          }
          pending.push(newMessageOf(fileId, m, xmlPath));
          if (pending.length >= INSERT_CHUNK) {
            ledger.insertMessages(pending);
            pending = [];
          }
        },
      },
    ).catch((e: unknown) => {
      undo();
      throw e;
    });
    ledger.insertMessages(pending);
    allocator.release();
    const facts = factsOf(result.header);
    if (result.errors.length) return rejectClaim(k, result.errors, facts);
    return convertClaim(k, result.messages, facts);
  });
}

/** The ledger row of a message whose XML was written to `xmlPath`. */
export function newMessageOf(fileId: number, m: TranslatedMessage, xmlPath: string): NewMessage {
  return {
    fileId,
    partner: m.partner,
    messageType: m.info.name,
    typeCode: m.info.code,
    fcn: m.fileControlNumber,
    keys: m.mapped.keys,
    bodyHash: m.bodyHash,
    sourceLine: m.mapped.line,
    xmlPath,
    xmlSha256: sha256Of(m.xml),
    bytes: Buffer.byteLength(m.xml),
  };
}

/** After a crash: outbox files of conversions that never committed have no ledger row. */
export function sweepOrphanOutbox(config: Config, ledger: Ledger): number {
  const root = dataPaths(config).outbox;
  let removed = 0;
  if (!fs.existsSync(root)) return 0;
  const known = ledger.db.prepare('SELECT 1 FROM messages WHERE xml_path = ?');
  for (const partner of fs.readdirSync(root)) {
    const dir = path.join(root, partner);
    if (!fs.statSync(dir).isDirectory()) continue;
    for (const f of fs.readdirSync(dir)) {
      const p = path.join(dir, f);
      if (!known.get(p)) {
        fs.rmSync(p, { force: true });
        removed++;
      }
    }
  }
  return removed;
}
