// The daemon's side of CLI requests (src/ledger/requests.ts, product.md 4): a CLI that cannot
// read a partner's key leaves a row; this watcher looks for new rows every second, takes each
// at once, and runs it through the handlers the daemon gives it, which go through the same
// runners' runNow as the schedule (one partner lock, the pause gate, a runs row per cycle).
// Requests of one kind and partner run one after another; others side by side.
//
// stop(): no new row is taken, the running ones are told to start no new cycle and waited
// for (bounded); what is still open then is closed as failed, so no CLI waits for a daemon
// that is gone (it also checks the daemon's pid).
import type { PollAcksResult } from '../acks/poll.js';
import type { BatchCycleResult } from '../batch/cycle.js';
import { DEFAULT_LOCK_WAIT_MS, drainPartner } from '../batch/drain.js';
import type { Db } from '../ledger/db.js';
import { isPaused } from '../ledger/pauses.js';
import { closeAbandoned, finishRequest, pendingRequests, startRequest, type RequestKind, type RunRequest } from '../ledger/requests.js';
import { errText } from '../util/err-text.js';
import type { RunnerLog } from './cron-runner.js';

export interface RequestHandlerResult {
  ok: boolean;
  /** what the CLI prints from: stored as the row's detail `{result}` */
  result: unknown;
}

export type RequestHandler = (partner: string, signal: AbortSignal) => Promise<RequestHandlerResult>;

export interface RequestWatcherDeps {
  db: Db;
  log: RunnerLog;
  handlers: Record<RequestKind, RequestHandler>;
  /** how often the ledger is looked at; default 1000 ms */
  everyMs?: number;
  /** an untaken row older than this has nobody waiting any more (the CLI gives up after 15 s); default 2 min */
  maxAgeMs?: number;
  /** how long stop() waits for running requests; default 10 s */
  stopWaitMs?: number;
}

export interface RequestWatcher {
  /** looks for new rows now (the interval does it every `everyMs`) */
  look(): void;
  stop(): Promise<void>;
}

export function startRequestWatcher(deps: RequestWatcherDeps): RequestWatcher {
  const { db, log } = deps;
  const abort = new AbortController();
  const running = new Map<number, Promise<void>>();
  /** the tail of each kind:partner queue */
  const queues = new Map<string, Promise<void>>();
  let stopping = false;

  const handle = async (r: RunRequest): Promise<void> => {
    const fields = { requestId: r.id, kind: r.kind, partner: r.partner, requestedBy: r.requestedBy };
    if (abort.signal.aborted) {
      finishRequest(db, r.id, 'failed', { error: 'the daemon is stopping' });
      return;
    }
    log.info(r.kind === 'send' ? 'send-now requested: running the batch cycles' : 'poll-acks requested: polling', fields);
    try {
      const out = await deps.handlers[r.kind](r.partner, abort.signal);
      finishRequest(db, r.id, out.ok ? 'ok' : 'failed', { result: out.result });
      log.info('request finished', { ...fields, outcome: out.ok ? 'ok' : 'failed' });
    } catch (e) {
      const error = errText(e);
      finishRequest(db, r.id, 'failed', { error });
      log.warn('request failed', { ...fields, error });
    }
  };

  const look = (): void => {
    if (stopping) return;
    try {
      closeAbandoned(db, { ownHandler: (id) => running.has(id), maxAgeMs: deps.maxAgeMs ?? 2 * 60_000 });
      for (const r of pendingRequests(db)) {
        if (!startRequest(db, r.id)) continue;
        const key = `${r.kind}:${r.partner}`;
        const p = (queues.get(key) ?? Promise.resolve()).then(() => handle(r));
        queues.set(key, p);
        running.set(r.id, p);
        void p.finally(() => {
          running.delete(r.id);
          if (queues.get(key) === p) queues.delete(key);
        });
      }
    } catch (e) {
      // a busy or closing ledger: the next look tries again
      log.warn('could not look for CLI requests', { error: errText(e) });
    }
  };

  const timer = setInterval(look, deps.everyMs ?? 1000);
  timer.unref();
  look();
  return {
    look,
    async stop() {
      if (stopping) return;
      stopping = true;
      clearInterval(timer);
      abort.abort(new Error('stopping'));
      const all = Promise.allSettled([...running.values()]);
      let t: NodeJS.Timeout | undefined;
      await Promise.race([all, new Promise((r) => (t = setTimeout(r, deps.stopWaitMs ?? 10_000)))]);
      clearTimeout(t);
      for (const id of running.keys()) finishRequest(db, id, 'failed', { error: 'the daemon stopped before it finished this request' });
    },
  };
}

/** The daemon's handlers: `send` drains the partner through the batch schedulers' runNow (as
 * send-now does in the CLI, so the summary is the same), `acks` polls through the ack pollers'
 * runNow (which flags overdue messages after it, as a scheduled poll does). */
export function requestHandlers(deps: {
  db: Db;
  batch: { runNow(partner: string): Promise<BatchCycleResult> };
  acks: { runNow(partner: string): Promise<PollAcksResult> };
  lockWaitMs?: number;
}): Record<RequestKind, RequestHandler> {
  const { db } = deps;
  return {
    send: async (partner, signal) => {
      const d = await drainPartner({ db, partner, signal, lockWaitMs: deps.lockWaitMs ?? DEFAULT_LOCK_WAIT_MS, cycle: () => deps.batch.runNow(partner) });
      return { ok: d.ok, result: d };
    },
    acks: async (partner) => {
      // the pause gate of a scheduled slot; runNow itself does not ask it
      if (isPaused(db, partner)) throw new Error(`${partner} is paused`);
      const r = await deps.acks.runNow(partner);
      return { ok: r.error === undefined, result: r };
    },
  };
}
