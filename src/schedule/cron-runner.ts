// One runner for the daemon's periodic jobs (batch cycles, ack polls, later the daily
// retention job): keyed jobs (a partner code, or a name like "retention"), each on its own
// node-cron 4 task in the configured timezone with noOverlap (libraries.md), so one slow or
// failing job never holds up another. A missed slot (sleep, clock jump) is not caught up: the
// jobs take everything pending, so it only delays.
//
// A job whose result counts as a failure backs off (backoffDelay: exponential, full jitter);
// its slots inside the backoff are skipped. runNow() runs a job outside its schedule, ignoring
// the backoff, after waiting for the run in flight: two runs of one key never overlap.
//
// stop() (SIGTERM): no new run starts; the runs in flight are told to start nothing new
// (AbortSignal) and given `graceMs`; after that the job's abandon() (close its pool with
// abandon) makes them fail fast, and they get `abandonWaitMs` more. Every wait is bounded.
import cron, { type Logger as CronLogger, type ScheduledTask } from 'node-cron';
import { backoffDelay, type BackoffOptions } from '../transport/backoff.js';
import { errText } from '../util/err-text.js';

export interface RunnerLog {
  info(msg: string, fields?: object): void;
  warn(msg: string, fields?: object): void;
  error(msg: string, fields?: object): void;
}

export interface CronJob<R> {
  key: string;
  /** node-cron expression, 5 fields or 6 (with seconds) */
  cron: string;
  /** default: the runner's timezone */
  timezone?: string;
  /** the work of one slot or runNow(); `signal` aborts at stop(): start nothing new */
  run(signal: AbortSignal): Promise<R>;
  /** stop() waited `graceMs` in vain: make the run in flight fail fast (close a pool with abandon) */
  abandon?(): Promise<void>;
  /** at stop(), once the job's run ended or was given up on: release what the job holds */
  close?(): Promise<void>;
}

export type SkipReason = 'backoff' | 'paused';

export interface CronRunnerOptions<R> {
  /** node-cron task names are `${name}:${key}` */
  name: string;
  /** one run in log lines: "batch cycle" gives "batch cycle failed; backing off" */
  label: string;
  /** the log field that carries the key; default "key" */
  keyField?: string;
  timezone: string;
  log: RunnerLog;
  /** the error text when `result` counts as a failure (backs off), else undefined */
  failure(result: R): string | undefined;
  /** whether a result that is no failure clears the backoff; default true */
  clears?(result: R): boolean;
  /** the result of a run that threw (a failure too) */
  fromError(error: string): R;
  /** asked at every slot; false skips the slot (a paused partner); default always true */
  shouldRun?(key: string): boolean;
  /** after each run and its bookkeeping, unless stopping; part of the run (runNow waits for it) */
  afterRun?(key: string, result: R): void;
  /** a slot that did not run the job: it is backing off, or shouldRun said no */
  onSkip?(key: string, reason: SkipReason): void;
  backoff?: BackoffOptions;
  graceMs: number;
  abandonWaitMs: number;
  texts?: {
    unknown?: (key: string) => string;
    stopping?: string;
    abandoning?: string;
    notEnded?: string;
  };
}

export interface JobState<R> {
  key: string;
  running: boolean;
  /** consecutive failed runs */
  failures: number;
  /** no slot runs the job before this time (backoff); null when not backing off */
  backoffUntil: string | null;
  lastRunAt: string | null;
  lastResult: R | null;
  nextRunAt: string | null;
}

interface Slot<R> {
  job: CronJob<R>;
  task: ScheduledTask | null;
  inFlight: Promise<R> | null;
  abort: AbortController;
  removed: boolean;
  failures: number;
  notBefore: number;
  lastRunAt: number | null;
  lastResult: R | null;
}

export class CronRunner<R> {
  private readonly slots = new Map<string, Slot<R>>();
  private halting = false;
  private stopped: Promise<void> = Promise.resolve();
  private readonly keyField: string;

  constructor(private readonly o: CronRunnerOptions<R>) {
    this.keyField = o.keyField ?? 'key';
  }

  get keys(): string[] {
    return [...this.slots.keys()];
  }

  get stopping(): boolean {
    return this.halting;
  }

  has(key: string): boolean {
    return this.slots.has(key);
  }

  /** Schedules `job`; an invalid cron expression throws and nothing is scheduled. */
  add(job: CronJob<R>): void {
    if (this.stopping) throw new Error(this.stoppingText());
    if (this.slots.has(job.key)) throw new Error(`${this.o.name}: "${job.key}" is scheduled already`);
    const s: Slot<R> = { job, task: null, inFlight: null, abort: new AbortController(), removed: false, failures: 0, notBefore: 0, lastRunAt: null, lastResult: null };
    s.task = this.schedule(s, job.cron);
    this.slots.set(job.key, s);
  }

  /** Puts `key` on a new schedule. A run in flight goes on (the next slot waits for it); an
   * invalid expression throws and the old schedule stays. */
  reschedule(key: string, expression: string): void {
    const s = this.slot(key);
    if (this.stopping) throw new Error(this.stoppingText());
    const next = this.schedule(s, expression);
    const old = s.task;
    s.task = next;
    s.job = { ...s.job, cron: expression };
    void destroyTask(old);
  }

  /** Takes `key` off the runner the way stop() ends every job (bounded). */
  async remove(key: string): Promise<void> {
    const s = this.slot(key);
    if (this.stopping) return this.stop(); // stop() ends it already
    this.slots.delete(key);
    s.removed = true;
    await destroyTask(this.untask(s));
    s.abort.abort(new Error('stopping'));
    await this.finish(s);
  }

  /** Runs `key` now, outside its schedule and ignoring its backoff, once the run in flight ended. */
  async runNow(key: string): Promise<R> {
    const s = this.slot(key);
    while (s.inFlight && !this.stopping && !s.removed) await s.inFlight.catch(() => undefined);
    if (this.stopping || s.removed) throw new Error(this.stoppingText());
    return this.track(s);
  }

  /** the cron expression `key` runs on; undefined when it is not scheduled */
  cronOf(key: string): string | undefined {
    return this.slots.get(key)?.job.cron;
  }

  nextRunAt(key: string): string | null {
    const task = this.slots.get(key)?.task;
    return task ? nextRun(task) : null;
  }

  state(): JobState<R>[] {
    const now = Date.now();
    return [...this.slots.values()].map((s) => ({
      key: s.job.key,
      running: s.inFlight !== null,
      failures: s.failures,
      backoffUntil: s.notBefore > now ? new Date(s.notBefore).toISOString() : null,
      lastRunAt: s.lastRunAt === null ? null : new Date(s.lastRunAt).toISOString(),
      lastResult: s.lastResult,
      nextRunAt: s.task ? nextRun(s.task) : null,
    }));
  }

  /** Ends the tasks, lets the runs in flight finish or abandons them, closes the jobs. A second
   * call waits for the same stop. */
  stop(): Promise<void> {
    if (!this.halting) {
      this.halting = true;
      this.stopped = this.stopAll();
    }
    return this.stopped;
  }

  private async stopAll(): Promise<void> {
    const all = [...this.slots.values()];
    await Promise.all(all.map((s) => destroyTask(this.untask(s))));
    for (const s of all) s.abort.abort(new Error('stopping'));
    await Promise.all(all.map((s) => this.finish(s)));
  }

  private schedule(s: Slot<R>, expression: string): ScheduledTask {
    const { key } = s.job;
    const task: ScheduledTask = cron.schedule(
      expression,
      async () => {
        if (this.stopping || s.removed || s.task !== task) return;
        if (s.inFlight) return; // a runNow() run is going (noOverlap covers this task's own)
        if (this.o.shouldRun && !this.o.shouldRun(key)) return this.o.onSkip?.(key, 'paused');
        if (Date.now() < s.notBefore) return this.o.onSkip?.(key, 'backoff');
        await this.track(s);
      },
      { name: `${this.o.name}:${key}`, timezone: s.job.timezone ?? this.o.timezone, noOverlap: true, logger: cronLogger(this.o.log, { [this.keyField]: key }) },
    );
    return task;
  }

  private untask(s: Slot<R>): ScheduledTask | null {
    const task = s.task;
    s.task = null;
    return task;
  }

  private track(s: Slot<R>): Promise<R> {
    const p = this.runOnce(s).finally(() => {
      if (s.inFlight === p) s.inFlight = null;
    });
    s.inFlight = p;
    return p;
  }

  private async runOnce(s: Slot<R>): Promise<R> {
    const { log, label } = this.o;
    const key = { [this.keyField]: s.job.key };
    let result: R;
    try {
      result = await s.job.run(s.abort.signal);
    } catch (e) {
      // a pool that cannot be made (an unreadable key file, ...) or something unexpected
      const error = errText(e);
      result = this.o.fromError(error);
      log.error(`${label} could not run`, { ...key, error });
    }
    s.lastRunAt = Date.now();
    s.lastResult = result;
    const error = this.o.failure(result);
    if (error !== undefined && !this.stopping) {
      const delay = backoffDelay(s.failures, this.o.backoff);
      s.failures++;
      s.notBefore = Date.now() + delay;
      log.warn(`${label} failed; backing off`, { ...key, failures: s.failures, backoffMs: delay, retryAfter: new Date(s.notBefore).toISOString(), error });
    } else if (error === undefined && (this.o.clears?.(result) ?? true)) {
      if (s.failures) log.info(`${label} succeeded again; backoff cleared`, { ...key, failures: s.failures });
      s.failures = 0;
      s.notBefore = 0;
    }
    if (!this.stopping && !s.removed) this.o.afterRun?.(s.job.key, result);
    return result;
  }

  private async finish(s: Slot<R>): Promise<void> {
    const { log, label, graceMs, texts } = this.o;
    const key = { [this.keyField]: s.job.key };
    const inFlight = s.inFlight;
    if (inFlight && !(await settlesWithin(inFlight, graceMs))) {
      log.warn(texts?.abandoning ?? `stop: abandoning the in-flight ${label}`, { ...key, graceMs });
      await this.release(s, 'abandon');
      if (!(await settlesWithin(inFlight, this.o.abandonWaitMs))) log.error(texts?.notEnded ?? `stop: the ${label} did not end after it was abandoned`, key);
    }
    await this.release(s, 'close');
  }

  private async release(s: Slot<R>, how: 'abandon' | 'close'): Promise<void> {
    try {
      await s.job[how]?.();
    } catch (e) {
      this.o.log.error(`stop: could not release what the ${this.o.label} holds`, { [this.keyField]: s.job.key, error: errText(e) });
    }
  }

  private slot(key: string): Slot<R> {
    const s = this.slots.get(key);
    if (!s) throw new Error(this.o.texts?.unknown?.(key) ?? `${this.o.name}: nothing scheduled for "${key}"`);
    return s;
  }

  private stoppingText(): string {
    return this.o.texts?.stopping ?? `${this.o.name}: stopping`;
  }
}

/** Ends `task` (destroy stops it first; an inline task is gone before this returns). */
async function destroyTask(task: ScheduledTask | null): Promise<void> {
  try {
    await task?.destroy();
  } catch {
    /* the task is gone either way */
  }
}

/** node-cron's own messages (an overlapping slot, a missed slot) into our log instead of the console. */
export function cronLogger(log: RunnerLog, fields: object): CronLogger {
  const text = (m: string | Error): string => (m instanceof Error ? m.message : m);
  return {
    info: (m) => log.info(`node-cron: ${m}`, fields),
    warn: (m) => log.warn(`node-cron: ${m}`, fields),
    error: (m) => log.error(`node-cron: ${text(m)}`, fields),
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

/** The next time `schedule` fires after now, in `timezone`, by node-cron's own matcher. */
export function nextCronRun(schedule: string, timezone: string): Date | null {
  let task: ReturnType<typeof cron.createTask> | undefined;
  try {
    // created, never started: no timer runs; destroyed again at once
    task = cron.createTask(schedule, () => undefined, { timezone });
    return task.getNextRuns(1)[0] ?? null;
  } catch {
    return null;
  } finally {
    void task?.destroy();
  }
}

/** Whether `p` settles (either way) within `ms`. */
function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    const done = () => {
      clearTimeout(timer);
      resolve(true);
    };
    p.then(done, done);
  });
}
