// Every batch cycle and ack poll, from the daemon or the CLI, empty ones included, with its
// start, end and outcome (product.md 9): status --check tells "no completed cycle for 3 fire
// times" from "nothing to send" by these rows, and the metrics read the last success from
// them. Also the daemon's start times, from which a missing cycle is measured too.
import { nowIso, type Db } from './db.js';

export type RunKind = 'batch' | 'acks';
export type RunOrigin = 'daemon' | 'cli';
export type RunOutcome = 'ok' | 'failed' | 'skipped';

export interface RunRow {
  id: number;
  kind: RunKind;
  partner: string;
  origin: RunOrigin;
  startedAt: string;
  finishedAt: string | null;
  outcome: RunOutcome | null;
  error: string | null;
}

const COLUMNS = 'id, kind, partner, origin, started_at AS startedAt, finished_at AS finishedAt, outcome, error';

export function startRun(db: Db, kind: RunKind, partner: string, origin: RunOrigin, at = nowIso()): number {
  return Number(db.prepare('INSERT INTO runs (kind, partner, origin, started_at) VALUES (?, ?, ?, ?)').run(kind, partner, origin, at).lastInsertRowid);
}

export function finishRun(db: Db, id: number, outcome: RunOutcome, error?: string | null, at = nowIso()): void {
  db.prepare('UPDATE runs SET finished_at = ?, outcome = ?, error = ? WHERE id = ?').run(at, outcome, error ?? null, id);
}

/** A run from start to end: its row is written before `work` and finished with the outcome
 * `outcomeOf` gives; a throw is recorded as failed and thrown on. */
export async function recordRun<R>(
  db: Db,
  run: { kind: RunKind; partner: string; origin: RunOrigin },
  work: () => Promise<R>,
  outcomeOf: (r: R) => { outcome: RunOutcome; error?: string | undefined },
): Promise<R> {
  const id = startRun(db, run.kind, run.partner, run.origin);
  let r: R;
  try {
    r = await work();
  } catch (e) {
    finishRun(db, id, 'failed', e instanceof Error ? e.message : String(e));
    throw e;
  }
  const o = outcomeOf(r);
  finishRun(db, id, o.outcome, o.error);
  return r;
}

/** The latest finished run of the kind and partner that was not skipped (the last word on whether it works). */
export function lastFinishedRun(db: Db, kind: RunKind, partner: string): RunRow | null {
  return (
    (db
      .prepare(`SELECT ${COLUMNS} FROM runs WHERE kind = ? AND partner = ? AND finished_at IS NOT NULL AND outcome IN ('ok','failed') ORDER BY id DESC LIMIT 1`)
      .get(kind, partner) as RunRow | undefined) ?? null
  );
}

/** When the latest completed ('ok') run of the kind and partner ended; null: never. */
export function lastOkAt(db: Db, kind: RunKind, partner: string): string | null {
  return (db.prepare(`SELECT MAX(finished_at) FROM runs WHERE kind = ? AND partner = ? AND outcome = 'ok'`).pluck().get(kind, partner) as string | null) ?? null;
}

export function recordDaemonStart(db: Db, at = nowIso()): void {
  db.prepare('INSERT INTO daemon_starts (started_at, pid) VALUES (?, ?)').run(at, process.pid);
}

export function lastDaemonStart(db: Db): string | null {
  return (db.prepare('SELECT MAX(started_at) FROM daemon_starts').pluck().get() as string | null) ?? null;
}
