// Small helpers shared by the cron-driven services (batch schedules, ack polls).
import type { Logger as CronLogger, ScheduledTask } from 'node-cron';

type Sink = { info(msg: string, f?: object): void; warn(msg: string, f?: object): void; error(msg: string, f?: object): void };

/** node-cron's own messages (an overlapping slot, a missed slot) into our log instead of the console. */
export function cronLogger(log: Sink, partner: string): CronLogger {
  const text = (m: string | Error): string => (m instanceof Error ? m.message : m);
  return {
    info: (m) => log.info(`node-cron: ${m}`, { partner }),
    warn: (m) => log.warn(`node-cron: ${m}`, { partner }),
    error: (m) => log.error(`node-cron: ${text(m)}`, { partner }),
    debug: () => undefined,
  };
}

export function nextRun(task: ScheduledTask): string | null {
  try {
    return task.getNextRun()?.toISOString() ?? null;
  } catch {
    return null;
  }
}

/** Whether `p` settles (either way) within `ms`. */
export function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    const done = () => {
      clearTimeout(timer);
      resolve(true);
    };
    p.then(done, done);
  });
}

export function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
