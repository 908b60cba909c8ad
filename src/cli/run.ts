// `tlbridge run`: the daemon in the foreground, log lines on stdout (JSON for journald; text on a terminal, log.format). Exits 0
// after SIGTERM/SIGINT and a clean stop; the stop is bounded so systemd never has to kill it. SIGHUP re-reads the config
// (product.md 9): a valid one is applied without dropping in-flight work, an invalid one is refused and the old one stays.
import { startAckPollers, type AckPollers } from '../acks/scheduler.js';
import { startSchedulers, type Schedulers } from '../batch/scheduler.js';
import { isLoopback } from '../config/listen.js';
import { ConfigError, loadConfig, type Config } from '../config/load.js';
import { assertRunnable } from '../config/check.js';
import { configChanges, nothingChanged, refusedKeys } from '../config/reload.js';
import { startDaemon, type Daemon, type ServiceStarter } from '../daemon.js';
import { createLogger, flushLogger, setLogLevel, type Logger } from '../log.js';
import { checkHealth } from '../monitor/health.js';
import { startMonitorServer, type MonitorServer } from '../monitor/http.js';
import { startEmbeddedSandbox } from '../sandbox/embedded.js';
import type { Sandbox } from '../sandbox/server.js';
import { errText } from '../util/err-text.js';
import { EXIT } from './io.js';
import { recordDaemonStart } from '../ledger/runs.js';
import { requestHandlers, startRequestWatcher } from '../schedule/requests.js';
import { recordRulesInForce } from '../archive/rules-record.js';
import { retentionService } from '../schedule/retention-job.js';

const STOP_DEADLINE_MS = 12_000;

export interface RunningService {
  daemon: Daemon;
  sandbox?: Sandbox;
  /** /metrics and /healthz, when metrics.listen is set */
  monitor?: MonitorServer;
}

/** The running service without the signal wait: the embedded sandbox first (when a partner
 * has `sftp.host: embedded`) and stopped last, so in-flight uploads to it finish before it goes
 * away; then the daemon with the batch schedulers and the ack pollers, handed its endpoint;
 * then the metrics server. */
export async function startService(config: Config, logger: Logger): Promise<RunningService> {
  const embedded = await startEmbeddedSandbox(config, logger);
  const endpoint = embedded?.endpoint;
  let batch: Schedulers | undefined;
  let acks: AckPollers | undefined;
  const services: ServiceStarter[] = [
    // status --check measures a partner's missing cycles from the later of its last completed
    // cycle and this start, so a daemon that was down is not blamed for the slots it missed
    (ctx) => {
      recordDaemonStart(ctx.db);
      return { name: 'start-record', stop: async () => undefined };
    },
    (ctx) => {
      const m = ctx.metrics;
      const s = startSchedulers({
        db: ctx.db,
        config: ctx.config,
        archive: ctx.archive,
        logger: ctx.logger,
        endpoint,
        ...(m ? { onCycle: (partner: string, seconds: number) => m.batchCycle(partner, seconds), onUploaded: (partner: string, bytes: number) => m.uploaded(partner, bytes) } : {}),
      });
      batch = s;
      return { name: 'batch', stop: () => s.stop(), reload: (c) => s.reload(c) };
    },
    (ctx) => {
      const p = startAckPollers({ endpoint, db: ctx.db, config: ctx.config, archive: ctx.archive, logger: ctx.logger });
      acks = p;
      return { name: 'ack-poll', stop: () => p.stop(), reload: (c) => p.reload(c) };
    },
    // send-now / poll-acks of a CLI that cannot read the key, run here (product.md 4)
    (ctx) => {
      const w = startRequestWatcher({ db: ctx.db, log: ctx.logger, handlers: requestHandlers({ db: ctx.db, batch: batch!, acks: acks! }) });
      return { name: 'requests', stop: () => w.stop() };
    },
    retentionService(),
  ];
  let daemon: Daemon | undefined;
  try {
    daemon = await startDaemon(config, logger, services, { recordRules: true });
    const monitor = config.metrics ? await startMonitor(daemon, config.metrics.listen, logger) : undefined;
    return { daemon, ...(embedded ? { sandbox: embedded.sandbox } : {}), ...(monitor ? { monitor } : {}) };
  } catch (e) {
    await daemon?.stop();
    await embedded?.sandbox.close();
    throw e;
  }
}

async function startMonitor(daemon: Daemon, listen: string, logger: Logger): Promise<MonitorServer> {
  const m = daemon.metrics;
  const server = await startMonitorServer({
    listen,
    metrics: () => m.text(),
    contentType: m.registry.contentType,
    health: () => checkHealth(daemon.config(), daemon.db),
    logger,
  });
  const { host, port } = server.address;
  (isLoopback(host) ? logger.info : logger.warn)('serving /metrics and /healthz', { listen, host, port, loopback: isLoopback(host) });
  return server;
}

/** SIGHUP (product.md 9): re-reads `file`. An invalid config or a change to a key the running
 * daemon is built on is refused (every problem logged, the old config stays); a valid one is
 * applied and one line says what changed. Returns whether it was applied. */
export async function reloadService(svc: RunningService, logger: Logger, file = svc.daemon.config().file): Promise<boolean> {
  const old = svc.daemon.config();
  let next: Config;
  try {
    next = loadConfig(file);
    assertRunnable(next);
  } catch (e) {
    const problems = e instanceof ConfigError ? e.problems : [errText(e)];
    for (const problem of problems) logger.error('reload: config problem', { config: file, problem });
    logger.error('reload refused: the configuration is invalid; the old one stays in force', { config: file, problems: problems.length });
    return false;
  }
  const refused = refusedKeys(old, next);
  if (refused.length) {
    logger.error('reload refused: these keys cannot change while the daemon runs (restart it instead); the old configuration stays in force', {
      config: file,
      keys: refused,
    });
    return false;
  }
  const changes = configChanges(old, next);
  if (nothingChanged(changes)) {
    recordRules(svc, next, logger);
    logger.info('configuration reloaded: nothing changed', { config: file });
    return true;
  }
  try {
    const applied = await svc.daemon.reload(next);
    setLogLevel(logger, next.log.level);
    recordRules(svc, next, logger);
    if (old.timezone !== next.timezone) logger.warn('reload: the new timezone applies to intake now, to the cron schedules at the next start', { timezone: next.timezone });
    logger.info('configuration reloaded', { config: file, ...changes, schedules: applied });
    return true;
  } catch (e) {
    // a cron expression the runner refused after validation passed: nothing unsafe was done
    logger.error('reload failed part way; restart the daemon to apply the configuration', { config: file, error: errText(e) });
    return false;
  }
}

/** product.md 6: the rules of every accepted reload go into the chain (a failure is logged; the
 * reload goes on, since refusing it would leave the old rules in force unrecorded all the same). */
function recordRules(svc: RunningService, next: Config, logger: Logger): void {
  try {
    logger.info('rules in force archived', { config: next.file, archiveDir: recordRulesInForce(svc.daemon.archive, next, 'reload') });
  } catch (e) {
    logger.error('reload: the rules in force could not be archived', { config: next.file, error: errText(e) });
  }
}

export async function run(config: Config): Promise<number> {
  assertRunnable(config); // a ConfigError: exit 2 before anything starts (RestartPreventExitStatus=2)
  const logger = createLogger(config.log.level, config.log.format);
  // `on`, not `once`: under `npm start` the signal can arrive twice (the process group's and
  // npm's forward), and a second one must not hit Node's default handler mid-stop. Listening
  // before the start: a signal right after the "running" line still stops cleanly.
  const stopSignal = new Promise<NodeJS.Signals>((resolve) => {
    process.on('SIGTERM', () => resolve('SIGTERM'));
    process.on('SIGINT', () => resolve('SIGINT'));
  });
  // one reload at a time, in signal order; a reload never overlaps the stop. Listening before
  // the start: Node's default for SIGHUP would end the process.
  let svc: RunningService | undefined;
  let reloading: Promise<unknown> = Promise.resolve();
  process.on('SIGHUP', () => {
    if (!svc) return logger.warn('SIGHUP ignored: the daemon is still starting; send it again once it runs');
    const running = svc;
    logger.info('SIGHUP: reloading the configuration', { config: running.daemon.config().file });
    reloading = reloading.then(() => reloadService(running, logger));
  });
  svc = await startService(config, logger);
  const { daemon, sandbox, monitor } = svc;
  const signal = await stopSignal;
  await reloading;
  logger.info('stopping', { signal });
  const started = Date.now();
  await monitor?.close();
  const timedOut = await Promise.race([
    daemon.stop().then(() => false),
    new Promise<boolean>((r) => setTimeout(() => r(true), STOP_DEADLINE_MS).unref()),
  ]);
  await sandbox?.close();
  if (timedOut) {
    // the ledger is consistent at every commit; what was in flight is resumed at the next start
    logger.error('stop deadline reached; exiting with work in progress, resumed at the next start', { afterMs: Date.now() - started });
    await flushLogger();
    process.exit(EXIT.FAILED);
  }
  logger.info('stopped', { durationMs: Date.now() - started });
  await flushLogger();
  return EXIT.OK;
}
