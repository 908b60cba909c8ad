// The batch schedulers: one node-cron 4 task per partner on its `schedule`, in the configured
// timezone, with noOverlap. A cycle always takes everything pending, so a slot node-cron skips
// (sleep, clock jump: libraries.md) only delays. A partner whose cycles fail backs off
// (backoffDelay, slots inside the backoff are skipped) and never holds up the others: each
// partner has its own task, pool and state.
//
// stop() (SIGTERM): no new cycle starts; an in-flight cycle is told to start no new upload
// (AbortSignal) and given `graceMs` to finish; after that its pool is closed with abandon, so
// in-flight uploads fail at once (only a temp name can be left on the server) and the cycle
// puts their messages back to STAGED. Everything is bounded so the daemon exits within 15 s.
import cron, { type ScheduledTask } from 'node-cron';
import type { Archive } from '../archive/archive.js';
import type { Config } from '../config/load.js';
import type { Db } from '../ledger/db.js';
import { backoffDelay, type BackoffOptions } from '../transport/backoff.js';
import { cronLogger, nextRun, settlesWithin } from '../util/schedule.js';
import { endpointFor, type EmbeddedEndpointOptions } from '../transport/endpoint.js';
import { SftpPool } from '../transport/pool.js';
import { runBatchCycle, SILENT_LOGGER, type BatchCycleResult, type CycleLogger } from './cycle.js';

export interface SchedulerDeps {
  db: Db;
  config: Config;
  archive: Archive;
  logger?: CycleLogger;
  /** partners to schedule; default: every configured partner */
  partners?: string[];
  /** what the embedded sandbox handed over (partners with `sftp.host: embedded`) */
  endpoint?: EmbeddedEndpointOptions;
  /** the pool of a partner; default: SftpPool(endpointFor(config, partner, endpoint), sftp.connections) */
  createPool?: (partner: string) => SftpPool;
  /** how long stop() lets an in-flight cycle finish before abandoning its uploads; default 8000 ms */
  graceMs?: number;
  backoff?: BackoffOptions;
}

export interface PartnerScheduleState {
  partner: string;
  running: boolean;
  /** consecutive failed cycles */
  failures: number;
  /** no cycle starts before this time (backoff); null when not backing off */
  backoffUntil: string | null;
  lastRunAt: string | null;
  lastResult: BatchCycleResult | null;
  nextRunAt: string | null;
}

export interface Schedulers {
  /** Runs a cycle of `partner` now (outside the schedule, ignoring the backoff) and waits for it. */
  runNow(partner: string): Promise<BatchCycleResult>;
  state(): PartnerScheduleState[];
  /** Stops the tasks, lets an in-flight cycle finish or abandons it, closes the pools. */
  stop(): Promise<void>;
}

/** stop() finishes within graceMs + this (abandon, then the cycle's bookkeeping). */
const ABANDON_WAIT_MS = 4000;

interface PartnerRuntime {
  partner: string;
  task: ScheduledTask | null;
  pool: SftpPool | null;
  inFlight: Promise<BatchCycleResult> | null;
  abort: AbortController;
  failures: number;
  notBefore: number;
  lastRunAt: number | null;
  lastResult: BatchCycleResult | null;
}

export function startSchedulers(deps: SchedulerDeps): Schedulers {
  const log = deps.logger ?? SILENT_LOGGER;
  const graceMs = deps.graceMs ?? 8000;
  const partners = deps.partners ?? Object.keys(deps.config.partners);
  const rt = new Map<string, PartnerRuntime>();
  let stopping = false;

  const poolOf = (r: PartnerRuntime): SftpPool => {
    if (!r.pool) {
      const cfg = deps.config.partners[r.partner]!;
      r.pool = deps.createPool ? deps.createPool(r.partner) : new SftpPool(endpointFor(deps.config, r.partner, deps.endpoint), cfg.sftp.connections);
    }
    return r.pool;
  };

  const cycle = async (r: PartnerRuntime): Promise<BatchCycleResult> => {
    let result: BatchCycleResult;
    try {
      result = await runBatchCycle({
        db: deps.db,
        config: deps.config,
        archive: deps.archive,
        pool: poolOf(r),
        partner: r.partner,
        logger: log,
        signal: r.abort.signal,
      });
    } catch (e) {
      // endpointFor (an unreadable key file, ...) or something unexpected: a failed cycle too
      result = { batchId: null, sent: 0, failed: 0, conflicts: 0, skipped: 0, held: 0, recovered: 0, error: e instanceof Error ? e.message : String(e) };
      log.error('batch cycle could not run', { partner: r.partner, error: result.error });
    }
    r.lastRunAt = Date.now();
    r.lastResult = result;
    if (result.error !== undefined && !stopping) {
      const delay = backoffDelay(r.failures, deps.backoff);
      r.failures++;
      r.notBefore = Date.now() + delay;
      log.warn('batch cycle failed; backing off', {
        partner: r.partner,
        failures: r.failures,
        backoffMs: delay,
        retryAfter: new Date(r.notBefore).toISOString(),
        error: result.error,
      });
    } else if (result.error === undefined && result.skipped === 0) {
      if (r.failures) log.info('batch cycle succeeded again; backoff cleared', { partner: r.partner, failures: r.failures });
      r.failures = 0;
      r.notBefore = 0;
    }
    return result;
  };

  const track = (r: PartnerRuntime): Promise<BatchCycleResult> => {
    const p = cycle(r).finally(() => {
      if (r.inFlight === p) r.inFlight = null;
    });
    r.inFlight = p;
    return p;
  };

  for (const partner of partners) {
    const cfg = deps.config.partners[partner];
    if (!cfg) throw new Error(`startSchedulers: unknown partner "${partner}"`);
    const r: PartnerRuntime = {
      partner,
      task: null,
      pool: null,
      inFlight: null,
      abort: new AbortController(),
      failures: 0,
      notBefore: 0,
      lastRunAt: null,
      lastResult: null,
    };
    rt.set(partner, r);
    r.task = cron.schedule(
      cfg.schedule,
      async () => {
        if (stopping) return;
        if (Date.now() < r.notBefore) return; // backing off: this slot is skipped
        if (r.inFlight) return; // a runNow() cycle is running (noOverlap covers scheduled ones)
        await track(r);
      },
      { name: `batch:${partner}`, timezone: deps.config.timezone, noOverlap: true, logger: cronLogger(log, partner) },
    );
    log.info('batch schedule started', { partner, schedule: cfg.schedule, timezone: deps.config.timezone, nextRunAt: nextRun(r.task) });
  }

  return {
    async runNow(partner: string): Promise<BatchCycleResult> {
      const r = rt.get(partner);
      if (!r) throw new Error(`no batch schedule for partner "${partner}"`);
      if (stopping) throw new Error('the schedulers are stopping');
      if (r.inFlight) await r.inFlight.catch(() => undefined);
      return track(r);
    },

    state(): PartnerScheduleState[] {
      return [...rt.values()].map((r) => ({
        partner: r.partner,
        running: r.inFlight !== null,
        failures: r.failures,
        backoffUntil: r.notBefore > Date.now() ? new Date(r.notBefore).toISOString() : null,
        lastRunAt: r.lastRunAt === null ? null : new Date(r.lastRunAt).toISOString(),
        lastResult: r.lastResult,
        nextRunAt: r.task ? nextRun(r.task) : null,
      }));
    },

    async stop(): Promise<void> {
      if (stopping) return;
      stopping = true;
      const all = [...rt.values()];
      await Promise.all(all.map(async (r) => {
        try {
          await r.task?.stop();
          await r.task?.destroy();
        } catch {
          /* the task is gone either way */
        }
      }));
      for (const r of all) r.abort.abort(new Error('stopping'));
      await Promise.all(
        all.map(async (r) => {
          const inFlight = r.inFlight;
          if (inFlight) {
            if (!(await settlesWithin(inFlight, graceMs))) {
              log.warn('stop: abandoning the in-flight uploads of a batch cycle', { partner: r.partner, graceMs });
              await r.pool?.close({ abandon: true });
              if (!(await settlesWithin(inFlight, ABANDON_WAIT_MS))) {
                log.error('stop: the batch cycle did not end after its uploads were abandoned', { partner: r.partner });
              }
            }
          }
          await r.pool?.close({ abandon: true });
        }),
      );
      log.info('batch schedules stopped', { partners: all.map((r) => r.partner) });
    },
  };
}
