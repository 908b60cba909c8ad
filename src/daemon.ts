// `tlbridge run`: the long-running service. Wires the stages of product.md 1 together:
// drop-folder intake, and the per-partner batch schedulers; stops cleanly on SIGTERM/SIGINT.
import fs from 'node:fs';
import path from 'node:path';
import { Archive } from './archive/archive.js';
import type { Config } from './config/load.js';
import { dataPaths } from './config/paths.js';
import { processClaimed, sweepOrphanOutbox } from './intake/intake.js';
import { DropFolderWatcher, nameFromWorkPath } from './intake/watcher.js';
import { openLedger, type Db } from './ledger/db.js';
import { Ledger } from './ledger/ledger.js';
import type { Logger } from './log.js';

export interface Service {
  name: string;
  stop(): Promise<void>;
}

export interface Daemon {
  db: Db;
  ledger: Ledger;
  archive: Archive;
  watcher: DropFolderWatcher;
  /** stops taking work, lets the file or upload in progress finish or abandon safely */
  stop(): Promise<void>;
}

export type ServiceStarter = (ctx: { config: Config; db: Db; ledger: Ledger; archive: Archive; logger: Logger }) => Promise<Service> | Service;

export async function startDaemon(config: Config, logger: Logger, extra: ServiceStarter[] = []): Promise<Daemon> {
  const d = dataPaths(config);
  for (const dir of [config.dataDir, d.work, d.error, d.outbox, d.archive]) fs.mkdirSync(dir, { recursive: true, mode: 0o750 });
  const db = openLedger(d.ledger);
  const ledger = new Ledger(db);
  const archive = new Archive(d.archive, db);
  const stopping = new AbortController();
  const deps = { config, ledger, archive, logger, signal: stopping.signal };

  // Crash recovery first: what a kill -9 left behind is finished before new work starts.
  const orphans = sweepOrphanOutbox(config, ledger);
  if (orphans) logger.warn('removed outbox files of conversions that never committed', { count: orphans });
  for (const f of fs.readdirSync(d.work, { withFileTypes: true }).filter((e) => e.isFile()).map((e) => e.name).sort()) {
    const workPath = path.join(d.work, f);
    const row = ledger.fileByWorkPath(workPath);
    const inbound = config.inbound.find((i) => i.path === row?.inbound) ?? config.inbound[0]!;
    logger.warn('resuming a file left in work/ by an earlier run', { workPath });
    await processClaimed(deps, { workPath, name: row?.name ?? nameFromWorkPath(workPath), inbound });
  }

  const watcher = new DropFolderWatcher({
    inbound: config.inbound,
    workDir: d.work,
    rescanSeconds: config.rescanSeconds,
    logger,
    onClaimed: async (c) => {
      await processClaimed(deps, c);
    },
  });
  await watcher.start();
  const services: Service[] = [];
  for (const start of extra) services.push(await start({ config, db, ledger, archive, logger }));
  logger.info('tlbridge running', { config: config.file, dataDir: config.dataDir, inbound: config.inbound.map((i) => i.path), partners: Object.keys(config.partners) });

  return {
    db,
    ledger,
    archive,
    watcher,
    async stop() {
      // a conversion in progress is abandoned, not finished: its file stays in work/ and is
      // converted again, from the start, at the next start
      stopping.abort();
      await Promise.all([watcher.stop(), ...services.map((s) => s.stop())]);
      db.close();
    },
  };
}
