// Attempts at converting one claimed file (product.md 6): each attempt is committed before it
// starts, and only an attempt that ended in a caught exception counts as failed, so a kill of
// the process (power loss, OOM, kill -9) never counts against the file. Two failures send the
// file to error/ with reason 'internal'. The error/ name chosen for a file is recorded here
// before its reports are written, so a retry after a crash reuses it instead of adding `.1`.
import { nowIso, type Db } from './db.js';
import { prepared } from './ledger.js';

export interface IntakeAttempt {
  workPath: string;
  /** attempts started, this one included */
  started: number;
  /** attempts that threw */
  failed: number;
  lastError: string | null;
  errorName: string | null;
}

interface Row {
  work_path: string;
  started: number;
  failed: number;
  last_error: string | null;
  error_name: string | null;
}

const toAttempt = (r: Row): IntakeAttempt => ({ workPath: r.work_path, started: r.started, failed: r.failed, lastError: r.last_error, errorName: r.error_name });

export function intakeAttempt(db: Db, workPath: string): IntakeAttempt | undefined {
  const r = prepared(db, 'SELECT * FROM intake_attempts WHERE work_path = ?').get(workPath) as Row | undefined;
  return r && toAttempt(r);
}

/** Records that an attempt starts now (committed before any work); returns the counts. */
export function startIntakeAttempt(db: Db, workPath: string): IntakeAttempt {
  prepared(db, 
    `INSERT INTO intake_attempts (work_path, started, updated_at) VALUES (?, 1, ?)
     ON CONFLICT (work_path) DO UPDATE SET started = started + 1, updated_at = excluded.updated_at`,
  ).run(workPath, nowIso());
  return intakeAttempt(db, workPath)!;
}

/** Records that the attempt threw; returns the failures so far. */
export function failIntakeAttempt(db: Db, workPath: string, error: string): number {
  prepared(db, 
    `INSERT INTO intake_attempts (work_path, started, failed, last_error, updated_at) VALUES (?, 1, 1, ?, ?)
     ON CONFLICT (work_path) DO UPDATE SET failed = failed + 1, last_error = excluded.last_error, updated_at = excluded.updated_at`,
  ).run(workPath, error.slice(0, 4000), nowIso());
  return intakeAttempt(db, workPath)?.failed ?? 1;
}

/** The error/ name of this claimed file: the one recorded earlier, or `choose()`'s, recorded now. */
export function recordErrorName(db: Db, workPath: string, choose: () => string): string {
  const known = intakeAttempt(db, workPath)?.errorName;
  if (known) return known;
  const name = choose();
  prepared(db, 
    `INSERT INTO intake_attempts (work_path, error_name, updated_at) VALUES (?, ?, ?)
     ON CONFLICT (work_path) DO UPDATE SET error_name = excluded.error_name, updated_at = excluded.updated_at`,
  ).run(workPath, name, nowIso());
  return name;
}

/** error/ names that other files in flight have chosen but may not have written yet. */
export function reservedErrorNames(db: Db, workPath: string): Set<string> {
  return new Set(prepared(db, 'SELECT error_name FROM intake_attempts WHERE error_name IS NOT NULL AND work_path <> ?').pluck().all(workPath) as string[]);
}

/** The file's outcome is committed and work/ cleared: its attempts are history. */
export function clearIntakeAttempt(db: Db, workPath: string): void {
  prepared(db, 'DELETE FROM intake_attempts WHERE work_path = ?').run(workPath);
}
