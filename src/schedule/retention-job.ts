// The daily retention run (product.md 9) on the shared CronRunner, key 'retention', at
// archive.pruneAt in the configured timezone. Each run reads the config in force (a reload may
// change retentionDays or legalHold, and pruneAt reschedules the job). At the service's start a
// prune that a crash interrupted after its commit is finished first.
import type { Archive } from '../archive/archive.js';
import { finishPendingRemovals, pruneArchive, type PruneReport } from '../archive/prune.js';
import type { Config } from '../config/load.js';
import type { ServiceStarter } from '../daemon.js';
import type { Db } from '../ledger/db.js';
import type { Logger } from '../log.js';
import { errText } from '../util/err-text.js';
import { CronRunner } from './cron-runner.js';

export const RETENTION_KEY = 'retention';

export type RetentionResult = { report: PruneReport; error?: undefined } | { report?: undefined; error: string };

export interface RetentionService {
  runner: CronRunner<RetentionResult>;
  /** a run now, as at the scheduled time */
  runNow(): Promise<RetentionResult>;
  reload(config: Config): void;
  stop(): Promise<void>;
}

export function startRetention(deps: { db: Db; archive: Archive; config: Config; logger: Logger }): RetentionService {
  let config = deps.config;
  const log = deps.logger;
  if (!config.archive.legalHold) {
    const { finished, failed } = finishPendingRemovals(config, deps.db);
    if (finished) log.warn('retention: finished removing the folders of prune runs a stop interrupted', { runs: finished });
    for (const error of failed) log.error('retention: an interrupted prune run cannot be finished', { error });
  }
  const runner = new CronRunner<RetentionResult>({
    name: 'tlbridge',
    label: 'retention run',
    timezone: config.timezone,
    log,
    failure: (r) => r.error,
    fromError: (error) => ({ error }),
    graceMs: 5000,
    abandonWaitMs: 1000,
  });
  runner.add({
    key: RETENTION_KEY,
    cron: config.archive.pruneAt,
    run: async () => {
      const report = pruneArchive(config, deps.db, deps.archive, { origin: 'daemon' });
      if (report.suspended) log.info(`retention suspended: ${report.suspended}`);
      else
        log.info('retention run', {
          cutoff: report.cutoff,
          folders: report.folders.length,
          messages: report.messages,
          outboxFiles: report.outboxFiles,
          errorFiles: report.errorFiles,
          bytes: report.bytes,
          kept: report.kept.length,
          manifest: report.manifest,
        });
      return { report };
    },
  });
  log.info('retention scheduled', { pruneAt: config.archive.pruneAt, retentionDays: config.archive.retentionDays, legalHold: config.archive.legalHold, nextRunAt: runner.nextRunAt(RETENTION_KEY) });
  return {
    runner,
    runNow: () => runner.runNow(RETENTION_KEY),
    reload(next) {
      if (next.archive.pruneAt !== runner.cronOf(RETENTION_KEY)) runner.reschedule(RETENTION_KEY, next.archive.pruneAt);
      config = next;
    },
    stop: () => runner.stop(),
  };
}

/** The daemon service (run.ts). */
export function retentionService(): ServiceStarter {
  return (ctx) => {
    const r = startRetention(ctx);
    return {
      name: 'retention',
      stop: () => r.stop(),
      reload: async (c) => {
        try {
          r.reload(c);
        } catch (e) {
          throw new Error(`archive.pruneAt: ${errText(e)}`);
        }
      },
    };
  };
}
