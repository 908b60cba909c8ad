// `tlbridge run`: the long-running service. Wires the stages of product.md 1 together:
// drop-folder intake, and the per-partner batch schedulers; stops cleanly on SIGTERM/SIGINT and
// takes a reloaded config (SIGHUP, product.md 9) without dropping the work in flight.
import fs from 'node:fs';
import path from 'node:path';
import { Archive } from './archive/archive.js';
import { recoverStaging } from './archive/staging.js';
import { recordRulesInForce } from './archive/rules-record.js';
import type { Config } from './config/load.js';
import { dataPaths } from './config/paths.js';
import { GROUP_FILES, processClaimedGroup } from './intake/group.js';
import { processClaimed, sweepOrphanOutbox, type ClaimedFile, type IntakeDeps } from './intake/intake.js';
import { DropFolderWatcher, nameFromWorkPath } from './intake/watcher.js';
import { openLedger, type Db } from './ledger/db.js';
import { highestUsedSequence, lastArchiveDay, raiseSequence } from './ledger/fcn-floor.js';
import { Ledger } from './ledger/ledger.js';
import type { Logger } from './log.js';
import { DaemonMetrics } from './monitor/metrics.js';
import { DIR_MODE } from './util/durable-file.js';
import { warmValidationWorker } from './xml/validate-pool.js';
import type { PartnerJobChanges } from './schedule/partner-job.js';

export interface Service {
  name: string;
  stop(): Promise<void>;
  /** a reloaded config: what the service scheduled follows it */
  reload?(config: Config): Promise<PartnerJobChanges | void>;
}

export interface Daemon {
  db: Db;
  ledger: Ledger;
  archive: Archive;
  watcher: DropFolderWatcher;
  metrics: DaemonMetrics;
  /** the config in force */
  config(): Config;
  /** Applies a validated config (run.ts checked the keys that may not change); returns what
   * each service changed, by service name. */
  reload(next: Config): Promise<Record<string, PartnerJobChanges | void>>;
  /** stops taking work, lets the file or upload in progress finish or abandon safely */
  stop(): Promise<void>;
}

export type ServiceStarter = (ctx: { config: Config; db: Db; ledger: Ledger; archive: Archive; logger: Logger; metrics?: DaemonMetrics }) => Promise<Service> | Service;

export interface DaemonOptions {
  /** archive the rules in force (config and XSD hashes, product.md 6) before any work starts */
  recordRules?: boolean;
}

export async function startDaemon(config: Config, logger: Logger, extra: ServiceStarter[] = [], opts: DaemonOptions = {}): Promise<Daemon> {
  const d = dataPaths(config);
  for (const dir of [config.dataDir, d.work, d.error, d.outbox, d.archive]) makeDir(dir);
  const db = openLedger(d.ledger);
  const ledger = new Ledger(db);
  const archive = new Archive(d.archive, db);
  // first of all: a folder a crash left half-archived is finished or removed (archive.ts)
  const staged = recoverStaging(db, d.archive);
  if (staged.unplaced.length || staged.removed) logger.warn('archive: removed what interrupted archive writes left (never committed: the work is redone)', { ...staged });
  const stopping = new AbortController();
  let current = config;
  // a getter: intake reads the config in force when each file starts
  const deps: IntakeDeps = {
    get config() {
      return current;
    },
    ledger,
    archive,
    logger,
    signal: stopping.signal,
  };
  const metrics = new DaemonMetrics({ db, config: () => current });
  const intake = async (c: ClaimedFile): Promise<void> => {
    try {
      metrics.intakeFile((await processClaimed(deps, c)).state);
    } catch (e) {
      if ((e as Error).name !== 'AbortError') metrics.intakeFile('error');
      throw e;
    }
  };
  // files claimed together: their plain outcomes committed together (group.ts)
  const intakeGroup = async (files: ClaimedFile[], more: () => ClaimedFile[]): Promise<{ workPath: string; error: unknown }[]> => {
    if (files.length === 1) {
      const extra = more();
      if (!extra.length) return intake(files[0]!).then(() => [], (error: unknown) => [{ workPath: files[0]!.workPath, error }]);
      files = [...files, ...extra];
    }
    const failures: { workPath: string; error: unknown }[] = [];
    await processClaimedGroup(
      deps,
      files,
      (r) => {
        if ('outcome' in r) metrics.intakeFile(r.outcome.state);
        else {
          if ((r.error as Error).name !== 'AbortError') metrics.intakeFile('error');
          failures.push({ workPath: r.c.workPath, error: r.error });
        }
      },
      more,
    );
    return failures;
  };

  // A ledger restored from a backup may stand below numbers already handed out (product.md 6).
  const used = highestUsedSequence(d, config.sender.controlNumberPrefix, lastArchiveDay(db));
  const raised = raiseSequence(db, used);
  if (raised) logger.warn('FileControlNumber sequence raised past the highest number in the outbox and archive (a restored ledger?)', raised);
  // after the floor (which reads the archive from the ledger's last manifest on), before any work
  if (opts.recordRules) logger.info('rules in force archived', { config: config.file, archiveDir: recordRulesInForce(archive, config, 'start') });

  // Crash recovery first: what a kill -9 left behind is finished before new work starts.
  const orphans = sweepOrphanOutbox(config, ledger);
  if (orphans) logger.warn('removed outbox files of conversions that never committed', { count: orphans });
  for (const f of fs.readdirSync(d.work, { withFileTypes: true }).filter((e) => e.isFile()).map((e) => e.name).sort()) {
    const workPath = path.join(d.work, f);
    const row = ledger.fileByWorkPath(workPath);
    const inbound = config.inbound.find((i) => i.path === row?.inbound) ?? config.inbound[0]!;
    logger.warn('resuming a file left in work/ by an earlier run', { workPath });
    // each file on its own: one that cannot be resumed now never stops the others or the start
    await intake({ workPath, name: row?.name ?? nameFromWorkPath(workPath), inbound }).catch((e) =>
      logger.error('a file left in work/ could not be resumed; it stays there for the next start', { workPath, error: (e as Error).stack ?? String(e) }),
    );
  }

  // intake judges small files in the validation worker (group-validation.ts): ready before the first drop
  warmValidationWorker(Object.values(config.messageTypes).map((t) => t.schema));
  const watcher = new DropFolderWatcher({
    inbound: config.inbound,
    workDir: d.work,
    rescanSeconds: config.rescanSeconds,
    logger,
    onClaimed: intakeGroup,
    maxBatch: GROUP_FILES,
  });
  await watcher.start();
  const services: Service[] = [];
  for (const start of extra) services.push(await start({ config, db, ledger, archive, logger, metrics }));
  logger.info('tlbridge running', { config: config.file, dataDir: config.dataDir, inbound: config.inbound.map((i) => i.path), partners: Object.keys(config.partners) });

  return {
    db,
    ledger,
    archive,
    watcher,
    metrics,
    config: () => current,
    async reload(next) {
      current = next;
      metrics.partnersChanged();
      await watcher.update(next.inbound, next.rescanSeconds);
      const changes: Record<string, PartnerJobChanges | void> = {};
      for (const s of services) if (s.reload) changes[s.name] = await s.reload(next);
      return changes;
    },
    async stop() {
      // a conversion in progress is abandoned, not finished: its file stays in work/ and is
      // converted again, from the start, at the next start
      stopping.abort();
      await Promise.all([watcher.stop(), ...services.map((s) => s.stop())]);
      db.close();
    },
  };
}

/** A folder of dataDir, 0750 when made now whatever the umask (the unit's UMask is 0077). */
function makeDir(dir: string): void {
  if (fs.existsSync(dir)) return;
  fs.mkdirSync(dir, { recursive: true, mode: DIR_MODE });
  fs.chmodSync(dir, DIR_MODE);
}
