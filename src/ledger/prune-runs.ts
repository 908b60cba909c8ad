// The latest retention run (product.md 9), for status and monitoring: prune_runs holds every
// run (daemon or CLI) with what it removed; suspended runs (legal hold, retentionDays 0) too.
import type { Db } from './db.js';

export interface PruneRunRow {
  origin: string;
  startedAt: string;
  finishedAt: string | null;
  outcome: string | null;
  folders: number;
  messages: number;
  outboxFiles: number;
  bytes: number;
  /** null while a committed run's folders are not yet deleted (finished at the next start or prune) */
  removedAt: string | null;
  error: string | null;
}

export function lastPruneRun(db: Db): PruneRunRow | null {
  return (
    (db
      .prepare(
        `SELECT origin, started_at AS startedAt, finished_at AS finishedAt, outcome, folders, messages, outbox_files AS outboxFiles, bytes,
                removed_at AS removedAt, error FROM prune_runs ORDER BY id DESC LIMIT 1`,
      )
      .get() as PruneRunRow | undefined) ?? null
  );
}
