// `tlbridge run`: the daemon in the foreground, JSON log lines on stdout (journald). Exits 0
// after SIGTERM/SIGINT and a clean stop; the stop is bounded so systemd never has to kill it.
import type { Config } from '../config/load.js';
import { startDaemon, type ServiceStarter } from '../daemon.js';
import { createLogger, flushLogger } from '../log.js';
import { EXIT } from './io.js';

const STOP_DEADLINE_MS = 12_000;

export async function run(config: Config, services: ServiceStarter[] = []): Promise<number> {
  const logger = createLogger(config.log.level);
  const daemon = await startDaemon(config, logger, services);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  logger.info('stopping', { signal });
  const started = Date.now();
  const timedOut = await Promise.race([
    daemon.stop().then(() => false),
    new Promise<boolean>((r) => setTimeout(() => r(true), STOP_DEADLINE_MS).unref()),
  ]);
  if (timedOut) logger.warn('stop deadline reached; work in progress is resumed at the next start', { afterMs: Date.now() - started });
  else logger.info('stopped', { durationMs: Date.now() - started });
  await flushLogger();
  return EXIT.OK;
}
