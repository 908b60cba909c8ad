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
import cron, { type ScheduledTask } from 'node-cron';
import type { Archive } from '../archive/archive.js';
import type { Config } from '../config/load.js';
import type { Service, ServiceStarter } from '../daemon.js';
import type { Db } from '../ledger/db.js';
import { nullLogger, type Logger } from '../log.js';
import { backoffDelay, type BackoffOptions } from '../transport/backoff.js';
import { cronLogger, errText, nextRun, settlesWithin } from '../util/schedule.js';
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

export interface AckPollerState {
  partner: string;
  running: boolean;
  /** consecutive failed polls */
  failures: number;
  /** no poll starts before this time (backoff); null when not backing off */
  backoffUntil: string | null;
  lastRunAt: string | null;
  lastResult: PollAcksResult | null;
  nextRunAt: string | null;
}

export interface AckPollers {
  /** the partners that have a poller (embedded ones without a sandbox endpoint are left out) */
  readonly partners: string[];
  /** Polls `partner` now (outside the schedule, ignoring the backoff), then flags overdue messages; waits for it. */
  runNow(partner: string): Promise<PollAcksResult>;
  state(): AckPollerState[];
  /** Stops the tasks, lets the in-flight poll finish or abandons it, closes the pools. */
  stop(): Promise<void>;
}

const ABANDON_WAIT_MS = 3000;

interface Runtime {
  partner: string;
  task: ScheduledTask | null;
  pool: SftpPool | null;
  inFlight: Promise<PollAcksResult> | null;
  abort: AbortController;
  failures: number;
  notBefore: number;
  lastRunAt: number | null;
  lastResult: PollAcksResult | null;
}

export function startAckPollers(deps: AckPollerDeps): AckPollers {
  const log = deps.logger ?? nullLogger;
  const graceMs = deps.graceMs ?? 5000;
  const now = deps.now ?? (() => new Date());
  const rt = new Map<string, Runtime>();
  let stopping = false;

  const poolOf = (r: Runtime): SftpPool => {
    if (!r.pool) r.pool = deps.createPool ? deps.createPool(r.partner) : new SftpPool(endpointFor(deps.config, r.partner, deps.endpoint), 1);
    return r.pool;
  };

  const overdue = (r: Runtime): void => {
    try {
      flagOverdue(deps.db, deps.config, log, now(), { partner: r.partner });
    } catch (e) {
      log.error('overdue check failed', { partner: r.partner, error: errText(e) });
    }
  };

  const poll = async (r: Runtime): Promise<PollAcksResult> => {
    let result: PollAcksResult;
    try {
      result = await pollAcks({ db: deps.db, config: deps.config, archive: deps.archive, pool: poolOf(r), partner: r.partner, logger: log, signal: r.abort.signal });
    } catch (e) {
      // endpointFor (an unreadable key file, ...) or something unexpected: a failed poll too
      result = { ...emptyPollResult(), error: errText(e) };
      log.error('ack poll could not run', { partner: r.partner, error: result.error });
    }
    r.lastRunAt = Date.now();
    r.lastResult = result;
    if (result.error !== undefined && !stopping) {
      const delay = backoffDelay(r.failures, deps.backoff);
      r.failures++;
      r.notBefore = Date.now() + delay;
      log.warn('ack poll failed; backing off', {
        partner: r.partner,
        failures: r.failures,
        backoffMs: delay,
        retryAfter: new Date(r.notBefore).toISOString(),
        error: result.error,
      });
    } else if (result.error === undefined && result.busy === undefined) {
      if (r.failures) log.info('ack poll succeeded again; backoff cleared', { partner: r.partner, failures: r.failures });
      r.failures = 0;
      r.notBefore = 0;
    }
    return result;
  };

  const track = (r: Runtime): Promise<PollAcksResult> => {
    const p = poll(r)
      .then((res) => {
        if (!stopping) overdue(r);
        return res;
      })
      .finally(() => {
        if (r.inFlight === p) r.inFlight = null;
      });
    r.inFlight = p;
    return p;
  };

  for (const partner of deps.partners ?? Object.keys(deps.config.partners)) {
    const cfg = deps.config.partners[partner];
    if (!cfg) throw new Error(`startAckPollers: unknown partner "${partner}"`);
    if (cfg.sftp.host === EMBEDDED_HOST && !deps.createPool && deps.endpoint?.embeddedPort === undefined) {
      log.info('ack poll not scheduled: the partner uses the embedded sandbox, which is not running', { partner });
      continue;
    }
    const r: Runtime = { partner, task: null, pool: null, inFlight: null, abort: new AbortController(), failures: 0, notBefore: 0, lastRunAt: null, lastResult: null };
    rt.set(partner, r);
    r.task = cron.schedule(
      cfg.ackPoll,
      async () => {
        if (stopping) return;
        if (r.inFlight) return; // a runNow() poll is running (noOverlap covers scheduled ones)
        if (Date.now() < r.notBefore) {
          overdue(r); // backing off: the poll waits, the overdue check does not need the server
          return;
        }
        await track(r);
      },
      { name: `acks:${partner}`, timezone: deps.config.timezone, noOverlap: true, logger: cronLogger(log, partner) },
    );
    log.info('ack poll scheduled', { partner, ackPoll: cfg.ackPoll, timezone: deps.config.timezone, nextRunAt: nextRun(r.task) });
  }

  return {
    partners: [...rt.keys()],

    async runNow(partner: string): Promise<PollAcksResult> {
      const r = rt.get(partner);
      if (!r) throw new Error(`no ack poller for partner "${partner}"`);
      if (stopping) throw new Error('the ack pollers are stopping');
      if (r.inFlight) await r.inFlight.catch(() => undefined);
      return track(r);
    },

    state(): AckPollerState[] {
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
      await Promise.all(
        all.map(async (r) => {
          try {
            await r.task?.stop();
            await r.task?.destroy();
          } catch {
            /* the task is gone either way */
          }
        }),
      );
      for (const r of all) r.abort.abort(new Error('stopping'));
      await Promise.all(
        all.map(async (r) => {
          const inFlight = r.inFlight;
          if (inFlight && !(await settlesWithin(inFlight, graceMs))) {
            log.warn('stop: abandoning the in-flight ack poll', { partner: r.partner, graceMs });
            await r.pool?.close({ abandon: true });
            if (!(await settlesWithin(inFlight, ABANDON_WAIT_MS))) log.error('stop: the ack poll did not end after it was abandoned', { partner: r.partner });
          }
          await r.pool?.close({ abandon: true });
        }),
      );
      if (all.length) log.info('ack polls stopped', { partners: all.map((r) => r.partner) });
    },
  };
}

/**
 * The daemon service (src/daemon.ts ServiceStarter): the ack pollers of every configured
 * partner. Pass it to startDaemon / run among the extra services.
 */
export const startAckPollService: ServiceStarter = (ctx) => ackPollService()(ctx);

/** A ServiceStarter with options (embedded sandbox endpoint, pool factory, backoff). */
export function ackPollService(opts: Omit<AckPollerDeps, 'db' | 'config' | 'archive' | 'logger'> = {}): ServiceStarter {
  return (ctx): Service => {
    const pollers = startAckPollers({ ...opts, db: ctx.db, config: ctx.config, archive: ctx.archive, logger: ctx.logger });
    return { name: 'ack-poll', stop: () => pollers.stop() };
  };
}
