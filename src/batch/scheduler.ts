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
import type { Archive } from '../archive/archive.js';
import type { Config } from '../config/load.js';
import type { Db } from '../ledger/db.js';
import { addPartnerJobs, partnerRunner, pauseGate, partnerState, type PartnerJobState } from '../schedule/partner-job.js';
import type { BackoffOptions } from '../transport/backoff.js';
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

/** running, failures (consecutive failed cycles), backoffUntil (no scheduled cycle starts
 * before it; null when not backing off), lastRunAt, lastResult, nextRunAt */
export type PartnerScheduleState = PartnerJobState<BatchCycleResult>;

export interface Schedulers {
  /** Runs a cycle of `partner` now (outside the schedule, ignoring the backoff) and waits for it. */
  runNow(partner: string): Promise<BatchCycleResult>;
  state(): PartnerScheduleState[];
  /** Stops the tasks, lets an in-flight cycle finish or abandons it, closes the pools. */
  stop(): Promise<void>;
}

/** stop() finishes within graceMs + this (abandon, then the cycle's bookkeeping). */
const ABANDON_WAIT_MS = 4000;

export function startSchedulers(deps: SchedulerDeps): Schedulers {
  const log = deps.logger ?? SILENT_LOGGER;
  const partners = deps.partners ?? Object.keys(deps.config.partners);
  const runner = partnerRunner<BatchCycleResult>({
    name: 'batch',
    label: 'batch cycle',
    timezone: deps.config.timezone,
    log,
    graceMs: deps.graceMs ?? 8000,
    abandonWaitMs: ABANDON_WAIT_MS,
    backoff: deps.backoff,
    // a cycle that skipped messages (another process held them) proves nothing about the server
    clears: (r) => r.skipped === 0,
    ...pauseGate(deps.db, log, 'batch cycle'),
    fromError: (error) => ({ batchId: null, sent: 0, failed: 0, conflicts: 0, skipped: 0, held: 0, recovered: 0, error }),
    texts: {
      unknown: (partner) => `no batch schedule for partner "${partner}"`,
      stopping: 'the schedulers are stopping',
      abandoning: 'stop: abandoning the in-flight uploads of a batch cycle',
      notEnded: 'stop: the batch cycle did not end after its uploads were abandoned',
    },
  });

  addPartnerJobs(runner, partners, (partner) => {
    const cfg = deps.config.partners[partner];
    if (!cfg) throw new Error(`startSchedulers: unknown partner "${partner}"`);
    return {
      cron: cfg.schedule,
      makePool: () => (deps.createPool ? deps.createPool(partner) : new SftpPool(endpointFor(deps.config, partner, deps.endpoint), cfg.sftp.connections)),
      run: (pool, signal) => runBatchCycle({ db: deps.db, config: deps.config, archive: deps.archive, pool, partner, logger: log, signal }),
      scheduled: (nextRunAt) => log.info('batch schedule started', { partner, schedule: cfg.schedule, timezone: deps.config.timezone, nextRunAt }),
    };
  });

  let stopped: Promise<void> | undefined;
  return {
    runNow: (partner) => runner.runNow(partner),
    state: () => runner.state().map(partnerState),
    stop: () => (stopped ??= runner.stop().then(() => log.info('batch schedules stopped', { partners: runner.keys }))),
  };
}

