// One batch cycle of one partner (product.md 1 and 5):
//
//   lock -> recovery -> claim -> upload (bounded parallelism) -> archive -> unlock
//
// - lock: at most one cycle per partner across processes (ledger/partner-lock.ts); if another holds it, the
//   cycle is skipped at once, never waits (send-now's drain.ts waits and runs it again).
// - recovery first (recovery.ts): messages still SENDING belong to a cycle that ended abruptly;
//   the server decides whether each is SENT or STAGED again; its unfinished batches are finished.
// - claim: up to maxBatchMessages STAGED messages whose file is CONVERTED, oldest first, minus
//   reversals whose original is not SENT/ACCEPTED yet; one transaction.
// - upload (send.ts): through the pool, `sftp.connections` at a time; each success is SENT at
//   once; a failure goes back to STAGED; a connection failure stops the rest of the cycle.
// - archive (archive-batch.ts): the XML of every message actually SENT, with a manifest chained
//   into the archive, in the same transaction that finishes the batch row. Each copy is written
//   and fsynced in the staging area as its message becomes SENT (Archive.prestage), so little
//   of it is left once the last upload ends; it joins the archive only in that transaction.
import type { Archive, Prestage } from '../archive/archive.js';
import type { Config } from '../config/load.js';
import type { Db } from '../ledger/db.js';
import { EndpointError, endpointFor, type EmbeddedEndpointOptions } from '../transport/endpoint.js';
import { SftpPool } from '../transport/pool.js';
import { tryAcquirePartnerLock } from '../ledger/partner-lock.js';
import { recordRun, type RunOrigin, type RunOutcome } from '../ledger/runs.js';
import { errText } from '../util/err-text.js';
import { finishBatch } from './archive-batch.js';
import { msSince, type CycleContext, type MessageFields } from './context.js';
import { BatchQueries, batchOutcome, type BatchMessageRow } from './queries.js';
import { recoverSending } from './recovery.js';
import { sendClaimed } from './send.js';

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
  /** who runs it, for its runs row; default 'daemon' ('cli' for runBatchCycleOnce) */
  origin?: RunOrigin;
  /** after each file actually uploaded (the metrics' byte counter) */
  onUploaded?: (partner: string, bytes: number) => void;
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

export function emptyResult(): BatchCycleResult {
  return { batchId: null, sent: 0, failed: 0, conflicts: 0, skipped: 0, held: 0, recovered: 0 };
}

/** Runs one batch cycle of `partner`. Never throws for upload or server problems: see `error`. */
export async function runBatchCycle(deps: BatchCycleDeps): Promise<BatchCycleResult> {
  const log = deps.logger ?? SILENT_LOGGER;
  const { partner } = deps;
  if (!Object.prototype.hasOwnProperty.call(deps.config.partners, partner)) {
    return { ...emptyResult(), error: `unknown partner "${partner}"` };
  }
  return recordRun(deps.db, { kind: 'batch', partner, origin: deps.origin ?? 'daemon' }, () => lockedCycle(deps, log), cycleOutcome);
}

/** skipped: another cycle held the lock; failed: the cycle or any of its uploads failed. */
function cycleOutcome(r: BatchCycleResult): { outcome: RunOutcome; error?: string | undefined } {
  if (r.skipped) return { outcome: 'skipped' };
  if (r.error) return { outcome: 'failed', error: r.error };
  if (r.failed || r.conflicts) return { outcome: 'failed', error: `${r.failed} upload(s) failed, ${r.conflicts} conflict(s)` };
  return { outcome: 'ok' };
}

async function lockedCycle(deps: BatchCycleDeps, log: CycleLogger): Promise<BatchCycleResult> {
  const { partner } = deps;
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
 * The partner's pool for one-shot callers (send-now runs all its cycles on one); an endpoint
 * problem (unreadable key file, embedded sandbox not started) comes back as its text.
 */
export function oneShotPool(config: Config, partner: string, endpoint?: EmbeddedEndpointOptions): SftpPool | { error: string } {
  try {
    const cfg = Object.prototype.hasOwnProperty.call(config.partners, partner) ? config.partners[partner] : undefined;
    if (!cfg) return { error: `unknown partner "${partner}"` };
    return new SftpPool(endpointFor(config, partner, endpoint), cfg.sftp.connections);
  } catch (e) {
    if (e instanceof EndpointError) return { error: e.message };
    throw e;
  }
}

class Cycle implements CycleContext {
  readonly result = emptyResult();
  readonly q: BatchQueries;
  readonly partner: string;
  readonly inboxDir: string;
  readonly connections: number;
  private readonly maxBatch: number;
  private readonly t0 = performance.now();

  constructor(
    readonly deps: BatchCycleDeps,
    readonly log: CycleLogger,
  ) {
    this.q = new BatchQueries(deps.db);
    this.partner = deps.partner;
    const p = deps.config.partners[deps.partner]!;
    this.inboxDir = p.sftp.inboxDir;
    this.connections = p.sftp.connections;
    this.maxBatch = p.maxBatchMessages;
  }

  get aborted(): boolean {
    return this.deps.signal?.aborted ?? false;
  }

  async run(): Promise<BatchCycleResult> {
    const r = this.result;
    // 1. recovery first: a connection problem here ends the cycle before anything new is claimed
    try {
      await recoverSending(this);
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
    await this.q.loadAckApply(claim.messages.map((m) => m.id));
    for (const m of claim.messages) {
      this.log.info('message claimed for a batch', { ...this.fields(m), from: 'STAGED', to: 'SENDING' });
    }

    // the archive copies of the messages SENT, written while the rest uploads (send.ts); if its
    // folder cannot be made, finishBatch copies every file itself (and says what fails)
    let prestage: Prestage | undefined;
    try {
      prestage = this.deps.archive.prestage();
    } catch (e) {
      prestage = undefined;
      this.log.warn('archive copies cannot be written ahead; the batch copies them at its end', { partner: this.partner, batchId, error: errText(e) });
    }
    try {
      return await this.uploadAndFinish(batchId, claim.messages, prestage);
    } finally {
      if (prestage) {
        await prestage.settled();
        try {
          prestage.discard();
        } catch {
          /* the recovery removes it once this process is gone */
        }
      }
    }
  }

  /** Steps 4 and 5 of the claimed batch. */
  private async uploadAndFinish(batchId: number, messages: BatchMessageRow[], prestage: Prestage | undefined): Promise<BatchCycleResult> {
    const r = this.result;
    // 4. upload; whatever is still SENDING afterwards (not started, or an unexpected throw)
    //    goes back to STAGED here, never left for the next cycle's recovery to guess about
    const delivered: BatchMessageRow[] = [];
    let connectionError: string | undefined;
    try {
      connectionError = await sendClaimed(this, batchId, messages, delivered, prestage);
    } finally {
      const reason = this.aborted
        ? 'not attempted: the batch cycle was stopped (shutdown)'
        : connectionError !== undefined
          ? `not attempted: ${connectionError}`
          : 'not attempted: the batch cycle ended early';
      for (const m of messages) {
        if (m.state !== 'SENDING') continue;
        if (this.q.markStaged(m.id, reason, false)) {
          m.state = 'STAGED';
          r.failed++;
          this.log.warn('message back to STAGED', { ...this.fields(m), from: 'SENDING', to: 'STAGED', error: reason });
        }
      }
    }
    if (connectionError !== undefined) r.error = connectionError;
    else if (this.aborted && r.sent + r.failed + r.conflicts < messages.length) r.error = 'stopped (shutdown)';

    // 5. archive what was delivered and finish the batch row
    const outcome = batchOutcome(delivered.length, messages.length);
    const batchError =
      r.error ?? (r.failed || r.conflicts ? `${r.failed} failed, ${r.conflicts} conflict(s) of ${messages.length}` : null);
    await finishBatch(this, batchId, delivered, outcome, batchError, false, await prestage?.settled());
    const summary = {
      partner: this.partner,
      batchId,
      messages: messages.length,
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

  fields(m: BatchMessageRow): MessageFields {
    return { messageId: m.id, fcn: m.fcn, partner: this.partner, batchId: m.batch_id, durationMs: this.ms() };
  }

  private ms(): number {
    return msSince(this.t0);
  }
}
