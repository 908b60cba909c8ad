// stub: replaced at merge by the real module
import type { Db } from './db.js';

export interface VerifyRun {
  startedAt: string;
  finishedAt: string;
  ok: boolean;
  problems: number;
}

/** The last full `audit verify` run recorded in the ledger; null when none ran. */
export function lastVerifyRun(_db: Db): VerifyRun | null {
  return null;
}

export function recordVerifyRun(_db: Db, _run: VerifyRun): void {}
