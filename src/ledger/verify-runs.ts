// Every `audit verify` with its time and result (product.md 10), for the audit report's footer.
import type { Db } from './db.js';

export interface VerifyRun {
  startedAt: string;
  finishedAt: string;
  ok: boolean;
  problems: number;
}

export function recordVerifyRun(db: Db, run: VerifyRun): void {
  db.prepare('INSERT INTO verify_runs (started_at, finished_at, ok, problems) VALUES (?, ?, ?, ?)').run(run.startedAt, run.finishedAt, run.ok ? 1 : 0, run.problems);
}

/** The latest full verify (by its end), or null when none ran. */
export function lastVerifyRun(db: Db): VerifyRun | null {
  const r = db.prepare('SELECT started_at AS startedAt, finished_at AS finishedAt, ok, problems FROM verify_runs ORDER BY finished_at DESC, id DESC LIMIT 1').get() as
    | { startedAt: string; finishedAt: string; ok: number; problems: number }
    | undefined;
  return r ? { startedAt: r.startedAt, finishedAt: r.finishedAt, ok: r.ok === 1, problems: r.problems } : null;
}
