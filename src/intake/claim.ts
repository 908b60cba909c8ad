// One claimed file from open to outcome (product.md 5, 6): opened once without following
// symlinks and checked with fstat; hashed, translated, archived and copied into error/ from
// that one descriptor only; its outcome (archive manifest + ledger row) committed before the
// work/ copy goes.
import fs from 'node:fs';
import path from 'node:path';
import { dataPaths } from '../config/paths.js';
import { inputError, type InputError } from '../flatfile/errors.js';
import { clearIntakeAttempt, recordErrorName, reservedErrorNames, startIntakeAttempt } from '../ledger/intake-attempts.js';
import type { FileRow, FileState } from '../ledger/ledger.js';
import { fsyncPath } from '../util/durable-file.js';
import { sha256Fd } from '../util/sha256.js';
import { notRegular } from './drop-scan.js';
import type { ClaimedFile, IntakeDeps, IntakeOutcome } from './intake.js';
import { archiveNameFor, errorNameFor } from './names.js';
import { freeErrorName, rejectReason, writeErrorFile, type ErrorReport, type RejectReason } from './report.js';
import type { FileHeader } from './translate.js';

/** What a claimed path turned out to be when it is no input at all (swapped for a FIFO, a
 * folder or a link between the check and the claim): it is put back where it was dropped. */
export class NotAnInputError extends Error {
  override name = 'NotAnInputError';
}

export interface Claim {
  deps: IntakeDeps;
  c: ClaimedFile;
  fd: number;
  st: fs.Stats;
  sha256: string;
  bytes: number;
  row: FileRow;
  log: Record<string, unknown>;
  startedAt: number;
  /** the number of this attempt (intake_attempts.started) */
  attempt: number;
}

const OPEN_FLAGS = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY;

/** Opens the claimed file (the one open of product.md 6); the caller closes `fd`. A FIFO opens
 * without blocking (O_NONBLOCK) and a symlink not at all (O_NOFOLLOW): neither is read. */
export function openClaimed(c: ClaimedFile): { fd: number; st: fs.Stats } {
  let fd: number;
  try {
    fd = fs.openSync(c.workPath, OPEN_FLAGS);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ELOOP') putBack(c, 'a symbolic link, not a regular file');
    throw e;
  }
  const st = fs.fstatSync(fd);
  const what = notRegular(st);
  if (what) {
    fs.closeSync(fd);
    putBack(c, what);
  }
  return { fd, st };
}

/** Inputs up to this size are read whole at the claim, in one read (intake's group path). */
export const SMALL_INPUT_BYTES = 64 * 1024;

/** The whole content of a small claimed file, read once from position 0 of its descriptor; its
 * hash, its lines and its archive copy are then the same bytes. Undefined when it is bigger than
 * SMALL_INPUT_BYTES, or held more than its fstat said (still being written to through a
 * descriptor opened before the claim): the caller streams it from the descriptor instead. */
export function readSmall(fd: number, st: fs.Stats): Buffer | undefined {
  if (st.size > SMALL_INPUT_BYTES) return undefined;
  // one byte more than the size: a read that fills it shows the file grew
  const buf = Buffer.allocUnsafe(st.size + 1);
  const n = fs.readSync(fd, buf, 0, buf.length, 0);
  return n > st.size ? undefined : buf.subarray(0, n);
}

function putBack(c: ClaimedFile, what: string): never {
  const back = path.join(c.inbound.path, c.name);
  let where = c.workPath;
  try {
    if (!fs.existsSync(back)) {
      fs.renameSync(c.workPath, back);
      where = back;
    }
  } catch {
    // the drop folder is gone: it stays in work/, which recovery skips (not a regular file)
  }
  throw new NotAnInputError(`${c.name} is ${what}: never opened, left at ${where}`);
}

/** Hashes the open file and finds or makes its ledger row (a file resumed after a crash keeps its row). */
export async function beginClaim(deps: IntakeDeps, c: ClaimedFile, fd: number, st: fs.Stats): Promise<Claim> {
  const { ledger, logger } = deps;
  const startedAt = Date.now();
  const { sha256, bytes } = await sha256Fd(fd, deps.signal);
  claimDurable(c);
  let row = ledger.fileByWorkPath(c.workPath);
  if (row) for (const p of ledger.dropMessagesOfFile(row.id)) fs.rmSync(p, { force: true });
  // the attempt is committed with the claim's row, before any work (one commit, not two)
  let attempt = 0;
  const fileId = ledger.db.transaction(() => {
    attempt = startIntakeAttempt(ledger.db, c.workPath).started;
    return row?.id ?? ledger.insertFile({ name: c.name, inbound: c.inbound.path, layout: c.inbound.layout.name, sha256, bytes, workPath: c.workPath, reprocessOf: c.reprocessOf });
  }).immediate();
  row = ledger.file(fileId)!;
  const log = { file: c.name, fileId, sha256 };
  logger.info('file received', { ...log, bytes, inbound: c.inbound.path });
  return { deps, c, fd, st, sha256, bytes, row, log, startedAt, attempt };
}

/** The claim's rename (drop folder -> work/) made durable before any outcome of the file is
 * committed: the reasoning is group.ts's durableCommit (the group path does it once per group). */
function claimDurable(c: ClaimedFile): void {
  fsyncPath(path.dirname(c.workPath));
  try {
    fsyncPath(c.inbound.path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

export interface FileFacts {
  messageType?: string;
  partner?: string;
  erpFileId?: string;
  erpCreated?: string;
}

export function factsOf(header: FileHeader | undefined): FileFacts {
  return { messageType: header?.messageType, partner: header?.partner, erpFileId: header?.erpFileId, erpCreated: header?.created };
}

/** Whether the input is over maxInputBytes: then it is never read, copied or archived. */
export function tooLarge(k: Claim): boolean {
  return k.bytes > k.deps.config.maxInputBytes;
}

/** The whole-file problems found before any line is read: too large, more than one link. */
export function wholeFileProblems(k: Claim): InputError[] {
  const max = k.deps.config.maxInputBytes;
  if (tooLarge(k)) return [inputError(null, null, null, `is ${k.bytes} bytes, over maxInputBytes (${max}): not read and not archived (its sha256 is recorded)`)];
  if (k.st.nlink > 1)
    return [inputError(null, null, null, `has ${k.st.nlink} hard links: another name could change it while it is read, so it is not converted (drop a copy, not a link)`)];
  return [];
}

const archiveExtra = (k: Claim, name: string) => ({
  fileId: k.row.id,
  file: k.c.name,
  ...(name !== k.c.name ? { storedAs: name } : {}),
  sha256: k.sha256,
});

/** error/ + report + archive + ledger, all-or-nothing in that order; then work/ is cleared. */
export function rejectClaim(k: Claim, errors: InputError[], facts: FileFacts = {}, forced?: RejectReason): IntakeOutcome {
  const { deps, c } = k;
  const { ledger, archive, logger } = deps;
  const d = dataPaths(deps.config);
  for (const p of ledger.dropMessagesOfFile(k.row.id)) fs.rmSync(p, { force: true });
  const large = tooLarge(k);
  const reason: RejectReason = forced ?? (large ? 'too-large' : rejectReason(errors));
  const state: FileState = reason === 'duplicate' ? 'DUPLICATE' : 'FAILED';
  // the name is recorded before anything is written: a retry after a crash reuses it
  const name = recordErrorName(ledger.db, c.workPath, () => freeErrorName(d.error, errorNameFor(c.name), reservedErrorNames(ledger.db, c.workPath)));
  const report: ErrorReport = {
    file: c.name,
    sha256: k.sha256,
    receivedAt: k.row.received_at,
    reason,
    ...(large ? { archived: false } : {}),
    errors: errors.map((e) => ({ line: e.line, field: e.field, value: e.value, message: e.message, original: e.original ?? null })),
  };
  const { path: errorPath, json } = writeErrorFile(d.error, large ? { moveLater: true } : { fd: k.fd }, name, report);
  const stored = archiveNameFor(name);
  const files = [...(large ? [] : [{ name: stored, fd: k.fd }]), { name: `${stored}.error.json`, data: json }];
  archive.add(
    'intake',
    String(k.row.id),
    files,
    { ...archiveExtra(k, stored), bytes: k.bytes, outcome: state, reason, ...(large ? { archived: false, note: 'the input is over maxInputBytes: hashed, not archived' } : {}), ...facts },
    (dir) => finishInTransaction(k, () => ledger.finishFile(k.row.id, state, { ...facts, errorPath, archiveDir: dir, detail: `${errors.length} problem(s), reason ${reason}` })),
  );
  clearWork(deps, c, errorPath, large);
  logger.warn(`file ${state === 'DUPLICATE' ? 'is a duplicate' : 'failed'}`, { ...k.log, state, reason, problems: errors.length, errorPath, durationMs: Date.now() - k.startedAt });
  return { fileId: k.row.id, state, messages: 0, errors };
}

export function convertClaim(k: Claim, count: number, facts: FileFacts): IntakeOutcome {
  const { deps, c } = k;
  const stored = archiveNameFor(c.name);
  deps.archive.add('intake', String(k.row.id), [{ name: stored, fd: k.fd }], { ...archiveExtra(k, stored), outcome: 'CONVERTED', messages: count, ...facts }, (dir) =>
    finishInTransaction(k, () => deps.ledger.finishFile(k.row.id, 'CONVERTED', { ...facts, messages: count, archiveDir: dir, detail: `${count} message(s) staged` })),
  );
  clearWork(deps, c, null, false);
  deps.logger.info('file converted', { ...k.log, state: 'CONVERTED', messages: count, messageType: facts.messageType, partner: facts.partner, durationMs: Date.now() - k.startedAt });
  return { fileId: k.row.id, state: 'CONVERTED', messages: count, errors: [] };
}

/** A file found in work/ whose outcome is committed (a crash lost only the last step): a
 * too-large input still to be moved into error/ is moved, anything else removed. */
export function finishLeftover(deps: IntakeDeps, c: ClaimedFile, row: FileRow): IntakeOutcome {
  const move = row.error_path !== null && !fs.existsSync(row.error_path);
  clearWork(deps, c, row.error_path, move);
  clearIntakeAttempt(deps.ledger.db, c.workPath);
  return { fileId: row.id, state: row.state as IntakeOutcome['state'], messages: row.messages, errors: [] };
}

export function clearWork(deps: IntakeDeps, c: ClaimedFile, errorPath: string | null, move: boolean): void {
  if (move && errorPath) {
    fs.renameSync(c.workPath, errorPath);
    fsyncPath(path.dirname(errorPath));
  } else fs.rmSync(c.workPath, { force: true });
  const row = deps.ledger.fileByWorkPath(c.workPath);
  if (row) deps.ledger.clearWorkPath(row.id);
}

/** The outcome's ledger change, with the file's attempts cleared in the same transaction
 * (one commit less per file; once the outcome is committed they are history). */
function finishInTransaction(k: Claim, finish: () => void): void {
  clearIntakeAttempt(k.deps.ledger.db, k.c.workPath);
  finish();
}
