// stub: F's real check replaces this at merge
import type { Config } from '../config/load.js';
import type { Db } from '../ledger/db.js';

export interface Problem {
  kind: string;
  partner: string | null;
  subject: string | null;
  message: string;
}

export interface Health {
  healthy: boolean;
  problems: Problem[];
}

export function checkHealth(_config: Config, _db: Db, _now?: Date): Health {
  return { healthy: true, problems: [] };
}
