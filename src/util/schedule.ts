// Small helpers of the scheduled services (src/schedule/cron-runner.ts) and the stages they run.

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
