// Opening the ledger for a command (the daemon opens it in src/daemon.ts).
import fs from 'node:fs';
import type { Config } from '../config/load.js';
import { dataPaths } from '../config/paths.js';
import { recoverStaging } from '../archive/staging.js';
import { openLedger, type Db } from './db.js';

/** The ledger, opened as the daemon opens it, after the archive writes a crash interrupted are
 * finished (archive/staging.ts), so that no command, `audit verify` included, sees them. A read-only command on a machine where nothing
 * ran yet gets an empty in-memory ledger instead of creating the file (which, run as another
 * user than the service's, would leave a ledger the daemon cannot write). */
export function openForCommand(config: Pick<Config, 'dataDir'>, opts: { create: boolean }): { db: Db; exists: boolean } {
  const file = dataPaths(config).ledger;
  const exists = fs.existsSync(file);
  if (!exists && !opts.create) return { db: openLedger(':memory:'), exists };
  const db = openLedger(file);
  try {
    recoverStaging(db, dataPaths(config).archive);
  } catch (e) {
    // a user who may read but not change the archive, or a daemon holding the lock: the
    // daemon's own start recovers; what this command shows is then what is on disk
    if (!/^(EACCES|EPERM|EROFS|SQLITE_READONLY|SQLITE_BUSY)/.test((e as { code?: string }).code ?? '')) throw e;
  }
  return { db, exists };
}
