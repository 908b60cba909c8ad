// `tlbridge run`: the daemon in the foreground, log lines on stdout (JSON for journald; text on a terminal, log.format). Exits 0
// after SIGTERM/SIGINT and a clean stop; the stop is bounded so systemd never has to kill it.
import { ackPollService } from '../acks/scheduler.js';
import { startSchedulers } from '../batch/scheduler.js';
import type { Config } from '../config/load.js';
import { startDaemon, type Daemon, type ServiceStarter } from '../daemon.js';
import { createLogger, flushLogger, type Logger } from '../log.js';
import { startEmbeddedSandbox } from '../sandbox/embedded.js';
import type { Sandbox } from '../sandbox/server.js';
import { EXIT } from './io.js';
import { recordDaemonStart } from '../ledger/runs.js';

const STOP_DEADLINE_MS = 12_000;

/** The running service without the signal wait: the embedded sandbox first (when a partner
 * has `sftp.host: embedded`) and stopped last, so in-flight uploads to it finish before it goes
 * away; then the daemon with the batch schedulers and the ack pollers, handed its endpoint. */
export async function startService(config: Config, logger: Logger): Promise<{ daemon: Daemon; sandbox?: Sandbox }> {
  const embedded = await startEmbeddedSandbox(config, logger);
  const endpoint = embedded?.endpoint;
  const services: ServiceStarter[] = [
    // status --check measures a partner's missing cycles from the later of its last completed
    // cycle and this start, so a daemon that was down is not blamed for the slots it missed
    (ctx) => {
      recordDaemonStart(ctx.db);
      return { name: 'start-record', stop: async () => undefined };
    },
    (ctx) => {
      const s = startSchedulers({ db: ctx.db, config: ctx.config, archive: ctx.archive, logger: ctx.logger, endpoint });
      return { name: 'batch', stop: () => s.stop() };
    },
    ackPollService({ endpoint }),
  ];
  try {
    return { daemon: await startDaemon(config, logger, services), ...(embedded ? { sandbox: embedded.sandbox } : {}) };
  } catch (e) {
    await embedded?.sandbox.close();
    throw e;
  }
}

export async function run(config: Config): Promise<number> {
  const logger = createLogger(config.log.level, config.log.format);
  // `on`, not `once`: under `npm start` the signal can arrive twice (the process group's and
  // npm's forward), and a second one must not hit Node's default handler mid-stop. Listening
  // before the start: a signal right after the "running" line still stops cleanly.
  const stopSignal = new Promise<NodeJS.Signals>((resolve) => {
    process.on('SIGTERM', () => resolve('SIGTERM'));
    process.on('SIGINT', () => resolve('SIGINT'));
  });
  const { daemon, sandbox } = await startService(config, logger);
  const signal = await stopSignal;
  logger.info('stopping', { signal });
  const started = Date.now();
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
