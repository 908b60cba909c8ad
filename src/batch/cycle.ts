// One batch cycle of one partner (product.md 1 and 5):
//
//   lock -> recovery -> claim -> upload (bounded parallelism) -> archive -> unlock
//
// - lock: at most one cycle per partner across processes (lock.ts); if another holds it, the
//   cycle is skipped at once, never waits.
// - recovery first: a message still SENDING belongs to a cycle that ended abruptly (crash,
//   kill -9, power loss). Its final file on the server decides: present with the ledger's size
//   -> SENT ("found on server after restart"); absent -> STAGED, uploaded again under the SAME
//   name and FileControlNumber (the upload replaces a stale temp file). Batches such a cycle
//   left unfinished are finished and archived with what they delivered.
// - claim: up to maxBatchMessages STAGED messages whose file is CONVERTED, oldest first, minus
//   reversals whose original is not SENT/ACCEPTED yet; one transaction.
// - upload: through the pool, `sftp.connections` at a time; each success is SENT at once in
//   its own small transaction, so a crash loses at most the in-flight uploads' bookkeeping,
//   which recovery then settles from the server. A failure sends the message back to STAGED
//   (same FileControlNumber); a connection failure stops the rest of the cycle quickly.
// - archive: the XML of every message actually SENT, with a manifest chained into the
//   archive, in the same transaction that finishes the batch row.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Archive } from '../archive/archive.js';
import type { Config } from '../config/load.js';
import type { Db } from '../ledger/db.js';
import { EndpointError, endpointFor, type EmbeddedEndpointOptions } from '../transport/endpoint.js';
import { SftpPool } from '../transport/pool.js';
import { HostKeyMismatchError, SftpTimeoutError, UploadConflictError } from '../transport/errors.js';
import type { SftpSession } from '../transport/session.js';
import { tryAcquirePartnerLock } from './lock.js';
import { BatchQueries, batchOutcome, type BatchMessageRow } from './queries.js';
import { errText } from '../util/schedule.js';

export interface CycleLogger {
  info(msg: string, fields?: object): void;
  warn(msg: string, fields?: object): void;
  error(msg: string, fields?: object): void;
}

export const SILENT_LOGGER: CycleLogger = { info() {}, warn() {}, error() {} };

export interface BatchCycleDeps {
  db: Db;
  config: Config;
  archive: Archive;
  /** the partner's pool (SftpPool(endpointFor(config, partner), sftp.connections)) */
  pool: SftpPool;
  partner: string;
  logger?: CycleLogger;
  /** aborted (SIGTERM): no new upload starts; what has not started goes back to STAGED */
  signal?: AbortSignal;
}

export interface BatchCycleResult {
  /** the batch this cycle created; null when nothing was pending (or the cycle was skipped) */
  batchId: number | null;
  /** messages of this batch now SENT (uploaded, or found already present with the same size) */
  sent: number;
  /** messages of this batch back to STAGED because of an error (upload, connection, changed outbox file) */
  failed: number;
  /** messages of this batch back to STAGED because the server holds another file under their name */
  conflicts: number;
  /** 1 when the cycle did not run because another cycle (this or another process) holds the partner lock */
  skipped: number;
  /** STAGED reversals held back because their original is not SENT (or was REJECTED) */
  held: number;
  /** messages left SENDING by an earlier cycle and settled now (found on the server or back to STAGED) */
  recovered: number;
  /** the cycle-level failure (connection, recovery, unexpected); per-message errors are in the ledger */
  error?: string;
  /** when skipped: who holds the lock */
  lockedBy?: { pid: number; since: string };
}

function emptyResult(): BatchCycleResult {
  return { batchId: null, sent: 0, failed: 0, conflicts: 0, skipped: 0, held: 0, recovered: 0 };
}

/** Runs one batch cycle of `partner`. Never throws for upload or server problems: see `error`. */
export async function runBatchCycle(deps: BatchCycleDeps): Promise<BatchCycleResult> {
  const log = deps.logger ?? SILENT_LOGGER;
  const { partner } = deps;
  if (!Object.prototype.hasOwnProperty.call(deps.config.partners, partner)) {
    return { ...emptyResult(), error: `unknown partner "${partner}"` };
  }
  const acq = tryAcquirePartnerLock(deps.db, partner);
  if (!acq.acquired) {
    log.info('batch cycle skipped: another batch cycle of this partner is running', {
      partner,
      lockPid: acq.heldBy.pid,
      lockedSince: acq.heldBy.acquired_at,
    });
    return { ...emptyResult(), skipped: 1, lockedBy: { pid: acq.heldBy.pid, since: acq.heldBy.acquired_at } };
  }
  const lock = acq.lock;
  if (lock.tookOverFrom) {
    log.warn('took over a stale partner lock (its holder is gone)', {
      partner,
      lockPid: lock.tookOverFrom.pid,
      lockedSince: lock.tookOverFrom.acquired_at,
    });
  }
  const cycle = new Cycle(deps, log);
  try {
    return await cycle.run();
  } catch (e) {
    const error = errText(e);
    log.error('batch cycle failed', { partner, batchId: cycle.result.batchId, error });
    return { ...cycle.result, error };
  } finally {
    lock.release();
  }
}

/**
 * For the `send-now` command and other one-shot callers: builds the partner's pool, runs one
 * cycle, closes the pool. Endpoint problems (unreadable key file, embedded sandbox not
 * started) come back as `error`.
 */
export async function runBatchCycleOnce(
  deps: Omit<BatchCycleDeps, 'pool'> & { endpoint?: EmbeddedEndpointOptions },
): Promise<BatchCycleResult> {
  let pool: SftpPool;
  try {
    const cfg = deps.config.partners[deps.partner];
    if (!cfg) return { ...emptyResult(), error: `unknown partner "${deps.partner}"` };
    pool = new SftpPool(endpointFor(deps.config, deps.partner, deps.endpoint), cfg.sftp.connections);
  } catch (e) {
    if (e instanceof EndpointError) return { ...emptyResult(), error: e.message };
    throw e;
  }
  try {
    return await runBatchCycle({ ...deps, pool });
  } finally {
    await pool.close();
  }
}

/** Where a message goes on the server: <inboxDir>/<type_code>/<fcn>.xml */
export function remoteDirOf(inboxDir: string, m: Pick<BatchMessageRow, 'type_code'>): string {
  return path.posix.join(inboxDir, m.type_code);
}

export function remotePathOf(inboxDir: string, m: Pick<BatchMessageRow, 'type_code' | 'fcn'>): string {
  return path.posix.join(inboxDir, m.type_code, `${m.fcn}.xml`);
}

/** The outbox file of a message: xml_path as stored, relative to dataDir unless absolute. */
export function outboxPathOf(dataDir: string, m: Pick<BatchMessageRow, 'xml_path'>): string {
  return path.isAbsolute(m.xml_path) ? m.xml_path : path.join(dataDir, m.xml_path);
}

class Cycle {
  readonly result = emptyResult();
  private readonly q: BatchQueries;
  private readonly partner: string;
  private readonly inboxDir: string;
  private readonly connections: number;
  private readonly maxBatch: number;
  private readonly t0 = performance.now();

  constructor(
    private readonly deps: BatchCycleDeps,
    private readonly log: CycleLogger,
  ) {
    this.q = new BatchQueries(deps.db);
    this.partner = deps.partner;
    const p = deps.config.partners[deps.partner]!;
    this.inboxDir = p.sftp.inboxDir;
    this.connections = p.sftp.connections;
    this.maxBatch = p.maxBatchMessages;
  }

  private get aborted(): boolean {
    return this.deps.signal?.aborted ?? false;
  }

  async run(): Promise<BatchCycleResult> {
    const r = this.result;
    // 1. recovery first: a connection problem here ends the cycle before anything new is claimed
    try {
      await this.recover();
    } catch (e) {
      r.error = `recovery of messages left SENDING failed: ${errText(e)}`;
      this.log.error('batch cycle: recovery failed; nothing new was claimed', { partner: this.partner, error: r.error });
      return r;
    }
    if (this.aborted) return r;

    // 2. reversals that must wait for (or will never follow) their original
    this.noteHeldReversals();

    // 3. claim
    const claim = this.q.claim(this.partner, this.maxBatch);
    if (!claim) {
      if (r.recovered) this.log.info('batch cycle: nothing pending', { partner: this.partner, durationMs: this.ms() });
      return r;
    }
    const batchId = claim.batchId;
    r.batchId = batchId;
    for (const m of claim.messages) {
      this.log.info('message claimed for a batch', { ...this.fields(m), from: 'STAGED', to: 'SENDING' });
    }

    // 4. upload; whatever is still SENDING afterwards (not started, or an unexpected throw)
    //    goes back to STAGED here, never left for the next cycle's recovery to guess about
    const delivered: BatchMessageRow[] = [];
    let connectionError: string | undefined;
    try {
      connectionError = await this.upload(batchId, claim.messages, delivered);
    } finally {
      const reason = this.aborted
        ? 'not attempted: the batch cycle was stopped (shutdown)'
        : connectionError !== undefined
          ? `not attempted: ${connectionError}`
          : 'not attempted: the batch cycle ended early';
      for (const m of claim.messages) {
        if (m.state !== 'SENDING') continue;
        if (this.q.markStaged(m.id, reason, false)) {
          m.state = 'STAGED';
          r.failed++;
          this.log.warn('message back to STAGED', { ...this.fields(m), from: 'SENDING', to: 'STAGED', error: reason });
        }
      }
    }
    if (connectionError !== undefined) r.error = connectionError;
    else if (this.aborted && r.sent + r.failed + r.conflicts < claim.messages.length) r.error = 'stopped (shutdown)';

    // 5. archive what was delivered and finish the batch row
    const outcome = batchOutcome(delivered.length, claim.messages.length);
    const batchError =
      r.error ?? (r.failed || r.conflicts ? `${r.failed} failed, ${r.conflicts} conflict(s) of ${claim.messages.length}` : null);
    this.finishBatch(batchId, delivered, outcome, batchError, false);
    const summary = {
      partner: this.partner,
      batchId,
      messages: claim.messages.length,
      sent: r.sent,
      failed: r.failed,
      conflicts: r.conflicts,
      held: r.held,
      outcome,
      durationMs: this.ms(),
    };
    if (outcome === 'sent') this.log.info('batch sent', summary);
    else this.log.warn(`batch ${outcome}`, { ...summary, ...(r.error ? { error: r.error } : {}) });
    return r;
  }

  // ------------------------------------------------------------------------- recovery

  private async recover(): Promise<void> {
    const sending = this.q.sending(this.partner);
    if (sending.length) {
      this.log.warn('recovery: messages left SENDING by an earlier cycle; checking the server', {
        partner: this.partner,
        messages: sending.length,
      });
      await forEachLimit(sending, this.connections, async (m) => {
        if (this.aborted) return;
        const t = performance.now();
        const remote = remotePathOf(this.inboxDir, m);
        const st = await this.deps.pool.use((s) => s.stat(remote));
        const fields = { ...this.fields(m), durationMs: ms(t) };
        if (st && st.type === 'file' && st.size === m.bytes) {
          if (this.q.markSent(m.id, remote, 'found on server after restart')) {
            this.result.recovered++;
            this.log.info('message SENT: found on server after restart', { ...fields, from: 'SENDING', to: 'SENT', remotePath: remote });
          }
          return;
        }
        const why = st
          ? `recovery: ${remote} is on the server with ${st.size} bytes (${st.type}), ours has ${m.bytes}; back to STAGED, the upload will not overwrite it`
          : 'recovery: not found on server after restart; back to STAGED, to be uploaded again under the same name';
        if (this.q.markStaged(m.id, why, true)) {
          this.result.recovered++;
          (st ? this.log.error : this.log.warn).call(this.log, 'message back to STAGED (recovery)', {
            ...fields,
            from: 'SENDING',
            to: 'STAGED',
            error: why,
          });
        }
      });
      if (this.aborted) return;
    }
    // batches whose cycle ended abruptly: finish them with what they delivered
    for (const b of this.q.openBatches(this.partner)) {
      if (this.q.sendingInBatch(b.id) > 0) continue; // not settled yet (aborted above)
      const delivered = this.q.deliveredInBatch(b.id);
      const outcome = batchOutcome(delivered.length, b.messages);
      try {
        this.finishBatch(b.id, delivered, outcome, `interrupted: the cycle that started it at ${b.started_at} ended abruptly; finished by recovery`, true);
      } catch (e) {
        // (disk full, ...) the batch stays open and is tried again next cycle; it must not
        // keep this partner from sending
        this.log.error('recovery: could not archive an interrupted batch; will retry', { partner: this.partner, batchId: b.id, error: errText(e) });
        continue;
      }
      this.log.warn('recovery: finished an interrupted batch', {
        partner: this.partner,
        batchId: b.id,
        messages: b.messages,
        sent: delivered.length,
        outcome,
      });
    }
  }

  // ------------------------------------------------------------------------- held reversals

  private noteHeldReversals(): void {
    for (const h of this.q.heldReversals(this.partner)) {
      this.result.held++;
      if (h.waiting) continue; // its original is on its way: it goes in a later cycle
      const msg =
        `not uploaded: its original ${h.message_type.slice(0, -'_REVERSAL'.length)} ${JSON.stringify(h.original_ref)} ` +
        `was not accepted (${h.originals}); a reversal is never sent for a REJECTED original, an operator must decide`;
      if (h.last_error === msg) continue; // said once
      this.q.setLastError(h.id, msg);
      this.log.error('reversal held: its original was REJECTED', {
        messageId: h.id,
        fcn: h.fcn,
        partner: this.partner,
        batchId: null,
        error: msg,
      });
    }
  }

  // ------------------------------------------------------------------------- upload

  /** Uploads the claimed messages; returns the connection error that stopped it, if any. */
  private async upload(batchId: number, messages: BatchMessageRow[], delivered: BatchMessageRow[]): Promise<string | undefined> {
    let connectionError: string | undefined;
    await forEachLimit(messages, this.connections, async (m) => {
      if (connectionError !== undefined || this.aborted) return; // left SENDING: reset by the caller
      const t = performance.now();
      const fail = (error: string, level: 'warn' | 'error', conflict = false): void => {
        if (!this.q.markStaged(m.id, error, true)) return;
        m.state = 'STAGED';
        if (conflict) this.result.conflicts++;
        else this.result.failed++;
        this.log[level](conflict ? 'upload conflict: message back to STAGED; the operator must resolve it' : 'message back to STAGED', {
          ...this.fields(m),
          durationMs: ms(t),
          from: 'SENDING',
          to: 'STAGED',
          error,
        });
      };

      // the outbox file must be exactly what was staged
      let data: Buffer;
      const local = outboxPathOf(this.deps.config.dataDir, m);
      try {
        data = await fs.readFile(local);
      } catch (e) {
        fail(`outbox file ${local} cannot be read (${(e as NodeJS.ErrnoException).code ?? errText(e)}); not sent`, 'error');
        return;
      }
      const sha = createHash('sha256').update(data).digest('hex');
      if (sha !== m.xml_sha256.toLowerCase()) {
        fail(`outbox file ${local} changed since staging (sha256 ${sha}, ${data.length} bytes; the ledger has ${m.xml_sha256}, ${m.bytes} bytes); not sent`, 'error');
        return;
      }

      const used: { s?: SftpSession } = {};
      try {
        const res = await this.deps.pool.use((s) => {
          used.s = s;
          return s.upload(data, remoteDirOf(this.inboxDir, m), `${m.fcn}.xml`);
        });
        const detail = res.outcome === 'already-present' ? `already present on the server with the same size: ${res.remotePath}` : `uploaded to ${res.remotePath}`;
        if (this.q.markSent(m.id, res.remotePath, `batch ${batchId}: ${detail}`)) {
          m.state = 'SENT';
          m.remote_path = res.remotePath;
          delivered.push(m);
          this.result.sent++;
          this.log.info('message SENT', { ...this.fields(m), durationMs: ms(t), from: 'SENDING', to: 'SENT', remotePath: res.remotePath, outcome: res.outcome });
        }
      } catch (e) {
        if (e instanceof UploadConflictError) {
          fail(errText(e), 'error', true);
          return;
        }
        // connect failed (no session), the session died, a timeout or a host key mismatch:
        // the server is not usable now; stop starting uploads
        const connectionLevel = !used.s || used.s.closed || e instanceof HostKeyMismatchError || e instanceof SftpTimeoutError;
        const error = errText(e);
        if (connectionLevel && connectionError === undefined && !this.aborted) {
          connectionError = error;
          this.log.error('batch cycle: connection failed; the rest of the batch goes back to STAGED', {
            partner: this.partner,
            batchId,
            error,
          });
        }
        fail(error, connectionLevel ? 'warn' : 'error');
      }
    });
    return connectionError;
  }

  // ------------------------------------------------------------------------- archive

  private finishBatch(batchId: number, delivered: BatchMessageRow[], outcome: 'sent' | 'partial' | 'failed', error: string | null, recovered: boolean): void {
    if (delivered.length === 0) {
      this.q.finishBatch(batchId, outcome, null, error);
      return;
    }
    // the XML as sent: the outbox file, checked against the sha256 recorded at staging (it was
    // checked before the upload too); one that is gone or changed since is named, not copied
    const files: { name: string; from: string }[] = [];
    const notArchived: { fcn: string; reason: string }[] = [];
    for (const m of delivered) {
      const from = outboxPathOf(this.deps.config.dataDir, m);
      let reason: string | undefined;
      try {
        const sha = createHash('sha256').update(readFileSync(from)).digest('hex');
        if (sha !== m.xml_sha256.toLowerCase()) reason = `the outbox file changed after it was sent (sha256 ${sha}, staged ${m.xml_sha256})`;
      } catch (e) {
        reason = `the outbox file cannot be read (${(e as NodeJS.ErrnoException).code ?? errText(e)})`;
      }
      if (reason) {
        notArchived.push({ fcn: m.fcn, reason });
        this.log.error('batch archive: a sent message cannot be archived', { ...this.fields(m), batchId, error: reason });
      } else files.push({ name: `${m.fcn}.xml`, from });
    }
    const extra = {
      partner: this.partner,
      ...(recovered ? { recovered: true } : {}),
      ...(notArchived.length ? { notArchived } : {}),
      messages: delivered.map((m) => ({
        id: m.id,
        fcn: m.fcn,
        messageType: m.message_type,
        remotePath: m.remote_path ?? remotePathOf(this.inboxDir, m),
      })),
    };
    this.deps.archive.add('batch', String(batchId), files, extra, (dir) => this.q.finishBatch(batchId, outcome, dir, error));
  }

  // ------------------------------------------------------------------------- helpers

  private fields(m: BatchMessageRow): { messageId: number; fcn: string; partner: string; batchId: number | null; durationMs: number } {
    return { messageId: m.id, fcn: m.fcn, partner: this.partner, batchId: m.batch_id, durationMs: this.ms() };
  }

  private ms(): number {
    return ms(this.t0);
  }
}

function ms(since: number): number {
  return Math.round(performance.now() - since);
}


/** Runs fn over items with at most `limit` at a time; the first throw is rethrown after all settle. */
export async function forEachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { e: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (next < items.length && !failure) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (e) {
        failure ??= { e };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure) throw failure.e;
}
