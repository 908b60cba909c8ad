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
}

/** Adds the job `jobOf(partner)` of each partner (null leaves the partner out). When anything
 * throws (an unknown partner, a bad cron expression) the runner is stopped, since the tasks
 * already scheduled would keep the process alive, and the error is thrown on. */
export function addPartnerJobs<R>(runner: CronRunner<R>, partners: string[], jobOf: (partner: string) => PartnerJob<R> | null): void {
  try {
    for (const partner of partners) {
      const job = jobOf(partner);
      if (!job) continue;
      const pool = partnerPool(() => job.makePool());
      runner.add({ key: partner, cron: job.cron, run: (signal) => job.run(pool.get(), signal), abandon: pool.abandon, close: pool.close });
      job.scheduled(runner.nextRunAt(partner));
    }
  } catch (e) {
    void runner.stop();
    throw e;
  }
}

export interface PartnerPool {
  get(): SftpPool;
  abandon(): Promise<void>;
  close(): Promise<void>;
}

export function partnerPool(make: () => SftpPool): PartnerPool {
  let pool: SftpPool | null = null;
  const close = async (): Promise<void> => {
    await pool?.close({ abandon: true });
  };
  return { get: () => (pool ??= make()), abandon: close, close };
}

/** The runner's state of a job, keyed by partner. */
export type PartnerJobState<R> = { partner: string } & Omit<JobState<R>, 'key'>;

export function partnerState<R>({ key, ...rest }: JobState<R>): PartnerJobState<R> {
  return { partner: key, ...rest };
}
