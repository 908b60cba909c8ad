// The ledger: one SQLite file (better-sqlite3 12) that the daemon and the CLI share.
// WAL lets readers run beside the one writer; synchronous=FULL because the default NORMAL
// can lose the last transactions on power loss, and a lost transition is an audit gap.
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { MIGRATIONS } from './migrations.js';

export type Db = Database.Database;

export function openLedger(file: string): Db {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o750 });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  // the CLI and the daemon take turns writing; wait for the other instead of failing
  db.pragma('busy_timeout = 15000');
  migrate(db);
  // product.md 6: 0640 whatever the umask (the unit runs with UMask=0077); SQLite gives the
  // -wal and -shm files it creates later the database file's mode
  if (file !== ':memory:') for (const f of [file, `${file}-wal`, `${file}-shm`]) if (fs.existsSync(f)) fs.chmodSync(f, 0o640);
  return db;
}

function migrate(db: Db): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length)
    throw new Error(`the ledger is at schema version ${current}, newer than this tlbridge (${MIGRATIONS.length}); refusing to touch it`);
  for (let v = current; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      // re-read inside the write lock: another process may have migrated meanwhile
      if ((db.pragma('user_version', { simple: true }) as number) !== v) return;
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    }).immediate();
  }
}

export function nowIso(): string {
  return new Date().toISOString();
}
