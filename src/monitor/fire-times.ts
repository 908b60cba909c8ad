// When a cron schedule fires after a given time, by node-cron's own matcher (the one the
// runner schedules with), so status --check counts exactly the slots the daemon would run.
import cron from 'node-cron';

type Matcher = { getNextMatch(d: Date): Date };

/** The first `count` fire times of `schedule` after `from`, in `timezone`; [] for an invalid schedule. */
export function fireTimesAfter(schedule: string, timezone: string, from: Date, count: number): Date[] {
  let task: ReturnType<typeof cron.createTask> | undefined;
  try {
    // created, never started: no timer runs; destroyed again at once
    task = cron.createTask(schedule, () => undefined, { timezone });
    // node-cron 4 answers "next runs" only from now; its matcher (not in its typings) walks from any date
    const m = (task as unknown as { timeMatcher?: Partial<Matcher> }).timeMatcher;
    const out: Date[] = [];
    if (typeof m?.getNextMatch === 'function') {
      let at = from;
      for (let i = 0; i < count; i++) out.push((at = m.getNextMatch.call(m, at)));
      return out;
    }
    // fallback on the public match(), minute by minute, bounded (a year)
    const t = task;
    const start = Math.floor(from.getTime() / 60_000) * 60_000 + 60_000;
    for (let ms = start, n = 0; out.length < count && n < 366 * 1440; ms += 60_000, n++) if (t.match(new Date(ms))) out.push(new Date(ms));
    return out;
  } catch {
    return [];
  } finally {
    void task?.destroy();
  }
}
