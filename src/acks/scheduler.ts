// The ack pollers: one node-cron 4 task per partner on its `ackPoll`, in the configured
// timezone, with noOverlap. Each slot polls the partner's ackDir (pollAcks) and then flags the
// partner's overdue messages (flagOverdue). A poll that fails (server unreachable, listing
// refused) backs off (backoffDelay; slots inside the backoff skip the poll), and never holds
// up the other partners: each has its own task, pool and state. Overdue flagging does not need
// the server and runs on every slot, backing off or not: a dead server is exactly when acks
// go overdue.
//
// Partners with `sftp.host: embedded` are skipped (info log) unless the caller hands over the
// embedded sandbox's endpoint or its own pool factory: the sandbox is not built yet.
//
// stop(): no new poll starts; the poll in flight is told to start no new file and given
// `graceMs`, then its pool is closed with abandon (a download in progress fails; nothing was
// committed for that file, it stays on the server). Everything is bounded.
import type { Archive } from '../archive/archive.js';
import type { Config } from '../config/load.js';
import type { Service, ServiceStarter } from '../daemon.js';
import type { Db } from '../ledger/db.js';
import { nullLogger, type Logger } from '../log.js';
import { addPartnerJobs, partnerRunner, partnerState, pauseGate, reloadPartnerJobs, type PartnerJob, type PartnerJobChanges, type PartnerJobState } from '../schedule/partner-job.js';
import type { BackoffOptions } from '../transport/backoff.js';
import { errText } from '../util/err-text.js';
import { EMBEDDED_HOST, endpointFor, type EmbeddedEndpointOptions } from '../transport/endpoint.js';
import { SftpPool } from '../transport/pool.js';
import { flagOverdue } from './overdue.js';
import { emptyPollResult, pollAcks, type PollAcksResult } from './poll.js';

export interface AckPollerDeps {
  db: Db;
  config: Config;
  archive: Archive;
  logger?: Logger;
  /** partners to poll; default every configured partner */
  partners?: string[];
  /** what the embedded sandbox handed over (partners with `sftp.host: embedded`) */
  endpoint?: EmbeddedEndpointOptions;
  /** the pool of a partner; default SftpPool(endpointFor(config, partner, endpoint), 1) */
  createPool?: (partner: string) => SftpPool;
  /** how long stop() lets an in-flight poll finish before abandoning it; default 5000 ms */
  graceMs?: number;
  backoff?: BackoffOptions;
  /** the clock of flagOverdue; default new Date() */
  now?: () => Date;
}

/** running, failures (consecutive failed polls), backoffUntil (no scheduled poll starts
 * before it; null when not backing off), lastRunAt, lastResult, nextRunAt */
export type AckPollerState = PartnerJobState<PollAcksResult>;

export interface AckPollers {
  /** the partners that have a poller (embedded ones without a sandbox endpoint are left out) */
  readonly partners: string[];
  /** Polls `partner` now (outside the schedule, ignoring the backoff), then flags overdue messages; waits for it. */
  runNow(partner: string): Promise<PollAcksResult>;
  state(): AckPollerState[];
  /** A reloaded config (product.md 9): every configured partner polled on its new ackPoll. */
  reload(config: Config): Promise<PartnerJobChanges>;
  /** Stops the tasks, lets the in-flight poll finish or abandons it, closes the pools. */
  stop(): Promise<void>;
}

const ABANDON_WAIT_MS = 3000;

export function startAckPollers(given: AckPollerDeps): AckPollers {
  // a reload replaces deps.config: the jobs read it at every run
  const deps = { ...given };
  const log = deps.logger ?? nullLogger;
  const now = deps.now ?? (() => new Date());
  const overdue = (partner: string): void => {
    try {
      flagOverdue(deps.db, deps.config, log, now(), { partner });
    } catch (e) {
      log.error('overdue check failed', { partner, error: errText(e) });
    }
  };
  const runner = partnerRunner<PollAcksResult>({
    name: 'acks',
    label: 'ack poll',
    timezone: deps.config.timezone,
    log,
    graceMs: deps.graceMs ?? 5000,
    abandonWaitMs: ABANDON_WAIT_MS,
    backoff: deps.backoff,
    // a poll that found the partner busy (another process polling) proves nothing about the server
    clears: (r) => r.busy === undefined,
    fromError: (error) => ({ ...emptyPollResult(), error }),
    afterRun: overdue,
    // a skipped slot skips the poll, not the overdue check: it does not need the server, and a
    // dead server is exactly when acks go overdue
    ...pauseGate(deps.db, log, 'ack poll', overdue),
    texts: { unknown: (partner) => `no ack poller for partner "${partner}"`, stopping: 'the ack pollers are stopping' },
  });

  const jobOf = (partner: string): PartnerJob<PollAcksResult> | null => {
    const cfg = deps.config.partners[partner];
    if (!cfg) throw new Error(`startAckPollers: unknown partner "${partner}"`);
    if (cfg.sftp.host === EMBEDDED_HOST && !deps.createPool && deps.endpoint?.embeddedPort === undefined) {
      log.info('ack poll not scheduled: the partner uses the embedded sandbox, which is not running', { partner });
      return null;
    }
    return {
      cron: cfg.ackPoll,
      makePool: () => (deps.createPool ? deps.createPool(partner) : new SftpPool(endpointFor(deps.config, partner, deps.endpoint), 1)),
      poolKey: () => JSON.stringify(deps.config.partners[partner]?.sftp ?? cfg.sftp),
      run: (pool, signal) => pollAcks({ db: deps.db, config: deps.config, archive: deps.archive, pool, partner, logger: log, signal }),
      scheduled: (nextRunAt) => log.info('ack poll scheduled', { partner, ackPoll: cfg.ackPoll, timezone: deps.config.timezone, nextRunAt }),
    };
  };
  addPartnerJobs(runner, deps.partners ?? Object.keys(deps.config.partners), jobOf);

  let stopped: Promise<void> | undefined;
  return {
    get partners() {
      return runner.keys;
    },
    reload: (config) => {
      deps.config = config;
      return reloadPartnerJobs(runner, Object.keys(config.partners), jobOf);
    },
    runNow: (partner) => runner.runNow(partner),
    state: () => runner.state().map(partnerState),
    stop: () =>
      (stopped ??= runner.stop().then(() => {
        if (runner.keys.length) log.info('ack polls stopped', { partners: runner.keys });
      })),
  };
}

/** A ServiceStarter with options (embedded sandbox endpoint, pool factory, backoff). */
export function ackPollService(opts: Omit<AckPollerDeps, 'db' | 'config' | 'archive' | 'logger'> = {}): ServiceStarter {
  return (ctx): Service => {
    const pollers = startAckPollers({ ...opts, db: ctx.db, config: ctx.config, archive: ctx.archive, logger: ctx.logger });
    return { name: 'ack-poll', stop: () => pollers.stop(), reload: (config) => pollers.reload(config) };
  };
}
