// What the per-partner scheduled jobs (batch cycles, ack polls) share on top of the runner.
//
// The partner's SFTP pool is made at the job's first run, so an endpoint problem (an
// unreadable key file) is that run's failure and a partner that never runs never connects;
// it is closed with abandon when stop() gives up on a run in flight (an upload or download in
// progress fails at once) and again at the end.
import type { BackoffOptions } from '../transport/backoff.js';
import type { SftpPool } from '../transport/pool.js';
import type { Db } from '../ledger/db.js';
import { isPaused } from '../ledger/pauses.js';
import { CronRunner, type CronRunnerOptions, type JobState, type RunnerLog, type SkipReason } from './cron-runner.js';

/** A runner keyed by partner code (the `partner` log field) whose results fail by their `error`. */
export function partnerRunner<R extends { error?: string }>(
  opts: Omit<CronRunnerOptions<R>, 'keyField' | 'failure' | 'backoff'> & { backoff?: BackoffOptions | undefined },
): CronRunner<R> {
  const { backoff, ...rest } = opts;
  return new CronRunner<R>({ ...rest, keyField: 'partner', failure: (r) => r.error, ...(backoff ? { backoff } : {}) });
}

/** The runner's gate for paused partners (product.md 9): asked at every slot, so a pause or
 * resume by the CLI takes effect at the next slot without a restart; a run in flight finishes.
 * A paused slot logs one line; `onSkip` then sees every skipped slot (paused or backing off). */
export function pauseGate(
  db: Db,
  log: RunnerLog,
  label: string,
  onSkip?: (partner: string, reason: SkipReason) => void,
): Pick<CronRunnerOptions<unknown>, 'shouldRun' | 'onSkip'> {
  return {
    shouldRun: (partner) => !isPaused(db, partner),
    onSkip: (partner, reason) => {
      if (reason === 'paused') log.info(`${label} skipped: the partner is paused`, { partner });
      onSkip?.(partner, reason);
    },
  };
}

export interface PartnerJob<R> {
  cron: string;
  makePool(): SftpPool;
  run(pool: SftpPool, signal: AbortSignal): Promise<R>;
  /** after the job is added: its start log line */
  scheduled(nextRunAt: string | null): void;
  /** the connection settings the pool is made from: when they change (a reload), the next run
   * gets a new pool (runs of one partner never overlap, so the old one is idle then) */
  poolKey?(): string;
}

/** Adds the job `jobOf(partner)` of each partner (null leaves the partner out). When anything
 * throws (an unknown partner, a bad cron expression) the runner is stopped, since the tasks
 * already scheduled would keep the process alive, and the error is thrown on. */
export function addPartnerJobs<R>(runner: CronRunner<R>, partners: string[], jobOf: (partner: string) => PartnerJob<R> | null): void {
  try {
    for (const partner of partners) {
      const job = jobOf(partner);
      if (!job) continue;
      addJob(runner, partner, job);
    }
  } catch (e) {
    void runner.stop();
    throw e;
  }
}

function addJob<R>(runner: CronRunner<R>, partner: string, job: PartnerJob<R>): void {
  const pool = partnerPool(() => job.makePool(), job.poolKey);
  runner.add({ key: partner, cron: job.cron, run: (signal) => job.run(pool.get(), signal), abandon: pool.abandon, close: pool.close });
  job.scheduled(runner.nextRunAt(partner));
}

export interface PartnerJobChanges {
  added: string[];
  removed: string[];
  rescheduled: string[];
}

/** After a reload (product.md 9): jobs of partners no longer listed (or whose jobOf is now null)
 * are taken off the runner (a run in flight is told to start nothing new and ends, bounded, as
 * at stop()), new partners' jobs are added, and a changed cron expression reschedules the job
 * (a run in flight goes on). An invalid expression throws before anything changed. */
export async function reloadPartnerJobs<R>(runner: CronRunner<R>, partners: string[], jobOf: (partner: string) => PartnerJob<R> | null): Promise<PartnerJobChanges> {
  const jobs = new Map<string, PartnerJob<R>>();
  for (const partner of partners) {
    const job = jobOf(partner);
    if (job) jobs.set(partner, job);
  }
  const changes: PartnerJobChanges = { added: [], removed: [], rescheduled: [] };
  for (const key of runner.keys) {
    if (jobs.has(key)) continue;
    await runner.remove(key);
    changes.removed.push(key);
  }
  for (const [partner, job] of jobs) {
    if (!runner.has(partner)) {
      addJob(runner, partner, job);
      changes.added.push(partner);
    } else if (runner.cronOf(partner) !== job.cron) {
      runner.reschedule(partner, job.cron);
      job.scheduled(runner.nextRunAt(partner));
      changes.rescheduled.push(partner);
    }
  }
  return changes;
}

export interface PartnerPool {
  get(): SftpPool;
  abandon(): Promise<void>;
  close(): Promise<void>;
}

export function partnerPool(make: () => SftpPool, keyOf?: () => string): PartnerPool {
  let pool: SftpPool | null = null;
  let key: string | undefined;
  const close = async (): Promise<void> => {
    await pool?.close({ abandon: true });
  };
  const get = (): SftpPool => {
    const now = keyOf?.();
    if (pool && now !== key) {
      void pool.close(); // idle: the runs of one partner never overlap
      pool = null;
    }
    key = now;
    return (pool ??= make());
  };
  return { get, abandon: close, close };
}

/** The runner's state of a job, keyed by partner. */
export type PartnerJobState<R> = { partner: string } & Omit<JobState<R>, 'key'>;

export function partnerState<R>({ key, ...rest }: JobState<R>): PartnerJobState<R> {
  return { partner: key, ...rest };
}
