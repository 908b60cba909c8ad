// Requests from a CLI to the running daemon (product.md 4): `send-now` and `poll-acks` run by
// an operator who cannot read the partner's key (systemd holds it as the service's
// credential) leave a row here; the daemon's request watcher (src/schedule/requests.ts) runs
// the work through its own schedulers and writes the outcome; the CLI waits for it.
//
// A row moves requested -> started (the daemon took it, handler_pid says which process) ->
// finished (outcome + detail JSON). Every step is a conditional UPDATE, so a CLI giving up
// and a daemon picking the row up at the same instant cannot both win.
import { nowIso, type Db } from './db.js';
import { pidAlive } from './partner-lock.js';

export type RequestKind = 'send' | 'acks';
/** ok / failed: the daemon's answer; expired: nobody picked it up (or the daemon ended first) */
export type RequestOutcome = 'ok' | 'failed' | 'expired';

export interface RunRequest {
  id: number;
  kind: RequestKind;
  partner: string;
  requestedAt: string;
  requestedBy: string;
  requesterPid: number;
  startedAt: string | null;
  handlerPid: number | null;
  finishedAt: string | null;
  outcome: RequestOutcome | null;
  /** parsed JSON; null while unfinished */
  detail: unknown;
}

interface Row extends Omit<RunRequest, 'detail'> {
  detail: string | null;
}

const COLUMNS = `id, kind, partner, requested_at AS requestedAt, requested_by AS requestedBy, requester_pid AS requesterPid,
  started_at AS startedAt, handler_pid AS handlerPid, finished_at AS finishedAt, outcome, detail`;

function parse(row: Row | undefined): RunRequest | null {
  if (!row) return null;
  let detail: unknown = null;
  if (row.detail !== null) {
    try {
      detail = JSON.parse(row.detail);
    } catch {
      detail = { error: 'unreadable detail' };
    }
  }
  return { ...row, detail };
}

export function createRequest(db: Db, kind: RequestKind, partner: string, requestedBy: string, at = nowIso()): number {
  return Number(
    db
      .prepare('INSERT INTO run_requests (kind, partner, requested_at, requested_by, requester_pid) VALUES (?, ?, ?, ?, ?)')
      .run(kind, partner, at, requestedBy, process.pid).lastInsertRowid,
  );
}

export function getRequest(db: Db, id: number): RunRequest | null {
  return parse(db.prepare(`SELECT ${COLUMNS} FROM run_requests WHERE id = ?`).get(id) as Row | undefined);
}

/** Rows nobody took yet, oldest first. */
export function pendingRequests(db: Db): RunRequest[] {
  return (db.prepare(`SELECT ${COLUMNS} FROM run_requests WHERE finished_at IS NULL AND started_at IS NULL ORDER BY id`).all() as Row[]).map((r) => parse(r)!);
}

/** The daemon takes the row; false when another took it or the CLI gave up first. */
export function startRequest(db: Db, id: number, at = nowIso()): boolean {
  return db.prepare('UPDATE run_requests SET started_at = ?, handler_pid = ? WHERE id = ? AND started_at IS NULL AND finished_at IS NULL').run(at, process.pid, id).changes === 1;
}

export function finishRequest(db: Db, id: number, outcome: RequestOutcome, detail: unknown, at = nowIso()): boolean {
  return db.prepare('UPDATE run_requests SET finished_at = ?, outcome = ?, detail = ? WHERE id = ? AND finished_at IS NULL').run(at, outcome, JSON.stringify(detail), id).changes === 1;
}

/** The CLI gives up on a row no daemon took; false when the daemon took it meanwhile. */
export function expireUnstarted(db: Db, id: number, why: string, at = nowIso()): boolean {
  return db
    .prepare(`UPDATE run_requests SET finished_at = ?, outcome = 'expired', detail = ? WHERE id = ? AND started_at IS NULL AND finished_at IS NULL`)
    .run(at, JSON.stringify({ error: why }), id).changes === 1;
}

/** At the watcher's start and each look: rows a process that is gone left behind. Started rows
 * of a dead (or earlier, same-pid) handler can never finish; unstarted rows whose CLI is gone
 * or that waited longer than `maxAgeMs` have nobody waiting for them any more (running them
 * would surprise: an operator's Ctrl-C is not an order). Returns how many were closed. */
export function closeAbandoned(db: Db, opts: { ownHandler: (id: number) => boolean; maxAgeMs: number; now?: number }): number {
  const now = opts.now ?? Date.now();
  const open = (db.prepare(`SELECT ${COLUMNS} FROM run_requests WHERE finished_at IS NULL ORDER BY id`).all() as Row[]).map((r) => parse(r)!);
  let closed = 0;
  for (const r of open) {
    if (r.startedAt !== null) {
      const gone = r.handlerPid === null || (r.handlerPid === process.pid ? !opts.ownHandler(r.id) : !pidAlive(r.handlerPid));
      if (gone && finishRequest(db, r.id, 'failed', { error: `the daemon (pid ${r.handlerPid ?? '?'}) ended before it finished this request` })) closed++;
    } else if (!pidAlive(r.requesterPid) || now - Date.parse(r.requestedAt) > opts.maxAgeMs) {
      if (expireUnstarted(db, r.id, 'nobody waited for it any more (the command that asked ended, or it waited too long)')) closed++;
    }
  }
  return closed;
}
