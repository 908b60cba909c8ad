// Opening the ledger for a command (the daemon opens it in src/daemon.ts).
import fs from 'node:fs';
import type { Config } from '../config/load.js';
import { dataPaths } from '../config/paths.js';
import { openLedger, type Db } from './db.js';

/** The ledger, opened as the daemon opens it. A read-only command on a machine where nothing
 * ran yet gets an empty in-memory ledger instead of creating the file (which, run as another
 * user than the service's, would leave a ledger the daemon cannot write). */
export function openForCommand(config: Pick<Config, 'dataDir'>, opts: { create: boolean }): { db: Db; exists: boolean } {
  const file = dataPaths(config).ledger;
  const exists = fs.existsSync(file);
  if (!exists && !opts.create) return { db: openLedger(':memory:'), exists };
  return { db: openLedger(file), exists };
}
