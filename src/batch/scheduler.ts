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
import { addPartnerJobs, partnerRunner, partnerState, pauseGate, reloadPartnerJobs, type PartnerJob, type PartnerJobChanges, type PartnerJobState } from '../schedule/partner-job.js';
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
  /** after each cycle: its duration (the metrics' histogram) */
  onCycle?: (partner: string, seconds: number, result: BatchCycleResult) => void;
  /** after each file actually uploaded (the metrics' byte counter) */
  onUploaded?: (partner: string, bytes: number) => void;
}

/** running, failures (consecutive failed cycles), backoffUntil (no scheduled cycle starts
 * before it; null when not backing off), lastRunAt, lastResult, nextRunAt */
export type PartnerScheduleState = PartnerJobState<BatchCycleResult>;

export interface Schedulers {
  /** Runs a cycle of `partner` now (outside the schedule, ignoring the backoff) and waits for it. */
  runNow(partner: string): Promise<BatchCycleResult>;
  state(): PartnerScheduleState[];
  /** A reloaded config (product.md 9): every configured partner scheduled on its new schedule. */
  reload(config: Config): Promise<PartnerJobChanges>;
  /** Stops the tasks, lets an in-flight cycle finish or abandons it, closes the pools. */
  stop(): Promise<void>;
}

/** stop() finishes within graceMs + this (abandon, then the cycle's bookkeeping). */
const ABANDON_WAIT_MS = 4000;

export function startSchedulers(given: SchedulerDeps): Schedulers {
  // a reload replaces deps.config: the jobs read it at every run
  const deps = { ...given };
  const log = deps.logger ?? SILENT_LOGGER;
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

  const jobOf = (partner: string): PartnerJob<BatchCycleResult> => {
    const cfg = deps.config.partners[partner];
    if (!cfg) throw new Error(`startSchedulers: unknown partner "${partner}"`);
    const sftpOf = () => deps.config.partners[partner]?.sftp ?? cfg.sftp;
    return {
      cron: cfg.schedule,
      makePool: () => (deps.createPool ? deps.createPool(partner) : new SftpPool(endpointFor(deps.config, partner, deps.endpoint), sftpOf().connections)),
      poolKey: () => JSON.stringify(sftpOf()),
      run: async (pool, signal) => {
        const t = performance.now();
        const { onUploaded } = deps;
        const result = await runBatchCycle({ db: deps.db, config: deps.config, archive: deps.archive, pool, partner, logger: log, signal, ...(onUploaded ? { onUploaded } : {}) });
        deps.onCycle?.(partner, (performance.now() - t) / 1000, result);
        return result;
      },
      scheduled: (nextRunAt) => log.info('batch schedule started', { partner, schedule: cfg.schedule, timezone: deps.config.timezone, nextRunAt }),
    };
  };
  addPartnerJobs(runner, deps.partners ?? Object.keys(deps.config.partners), jobOf);

  let stopped: Promise<void> | undefined;
  return {
    runNow: (partner) => runner.runNow(partner),
    state: () => runner.state().map(partnerState),
    reload: (config) => {
      deps.config = config;
      return reloadPartnerJobs(runner, Object.keys(config.partners), jobOf);
    },
    stop: () => (stopped ??= runner.stop().then(() => log.info('batch schedules stopped', { partners: runner.keys }))),
  };
}
