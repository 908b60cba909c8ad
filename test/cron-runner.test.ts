// The keyed cron runner under the batch schedulers and the ack pollers, driven by runNow(),
// by its hooks and by every-second cron slots whose runs the tests await: no fixed sleeps.
import { expect } from 'chai';
import cron from 'node-cron';
import { memoryLogger } from './support/memory-logger.js';
import { CronRunner, type CronJob, type CronRunnerOptions, type SkipReason } from '../src/schedule/cron-runner.js';

interface Res {
  error?: string;
  hold?: boolean;
  n: number;
}

function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

const YEARLY = '0 0 1 1 *'; // never during a test

function makeRunner(log = memoryLogger(), over: Partial<CronRunnerOptions<Res>> = {}): CronRunner<Res> {
  return new CronRunner<Res>({
    name: 'test',
    label: 'test run',
    keyField: 'partner',
    timezone: 'UTC',
    log,
    graceMs: 200,
    abandonWaitMs: 500,
    backoff: { baseMs: 60_000, random: () => 0.5 },
    failure: (r) => r.error,
    clears: (r) => !r.hold,
    fromError: (error) => ({ n: -1, error }),
    ...over,
  });
}

const taskNames = (): (string | undefined)[] => [...cron.getTasks().values()].map((t) => t.name);

describe('cron runner', function () {
  let runners: CronRunner<Res>[] = [];
  const track = (r: CronRunner<Res>): CronRunner<Res> => (runners.push(r), r);

  afterEach(async function () {
    await Promise.all(runners.map((r) => r.stop()));
    runners = [];
  });

  it('runNow: runs the job, records its state; a failure backs off with jitter and a success clears it, with their log lines', async function () {
    const log = memoryLogger();
    const r = track(makeRunner(log));
    let next: Res = { n: 1, error: 'server unreachable' };
    r.add({ key: 'P1', cron: YEARLY, run: async () => next });

    const t0 = Date.now();
    expect(await r.runNow('P1')).to.deep.equal({ n: 1, error: 'server unreachable' });
    let st = r.state()[0]!;
    expect(st).to.include({ key: 'P1', running: false, failures: 1 });
    expect(st.lastResult).to.deep.equal({ n: 1, error: 'server unreachable' });
    expect(Date.parse(st.lastRunAt!)).to.be.at.least(t0 - 1000);
    expect(Date.parse(st.nextRunAt!)).to.be.greaterThan(Date.now());
    // random 0.5 of the first ceiling (baseMs): 30 s
    expect(Date.parse(st.backoffUntil!) - Date.now()).to.be.within(25_000, 30_500);
    const warn = log.entries.find((e) => e.message === 'test run failed; backing off')!;
    expect(warn.level).to.equal('warn');
    expect(warn.fields).to.include({ partner: 'P1', failures: 1, backoffMs: 30_000, error: 'server unreachable' });

    await r.runNow('P1'); // runNow ignores the backoff; the ceiling doubles
    expect(r.state()[0]!.failures).to.equal(2);
    expect(log.entries.filter((e) => e.message === 'test run failed; backing off')[1]!.fields.backoffMs).to.equal(60_000);

    next = { n: 2, hold: true }; // neither a failure nor proof of health: the backoff stays
    await r.runNow('P1');
    expect(r.state()[0]).to.include({ failures: 2 });
    expect(r.state()[0]!.backoffUntil).to.be.a('string');

    next = { n: 3 };
    await r.runNow('P1');
    st = r.state()[0]!;
    expect(st).to.include({ failures: 0, backoffUntil: null });
    expect(log.entries.find((e) => e.message === 'test run succeeded again; backoff cleared')!.fields).to.deep.equal({ partner: 'P1', failures: 2 });
  });

  it('runNow: a run that throws is a failed run with the fromError result and an error line', async function () {
    const log = memoryLogger();
    const r = track(makeRunner(log));
    r.add({
      key: 'P1',
      cron: YEARLY,
      run: () => {
        throw new Error('key file unreadable'); // synchronously, like endpointFor
      },
    });
    expect(await r.runNow('P1')).to.deep.equal({ n: -1, error: 'key file unreadable' });
    expect(r.state()[0]!.failures).to.equal(1);
    expect(log.entries.find((e) => e.message === 'test run could not run')).to.deep.include({ level: 'error', fields: { partner: 'P1', error: 'key file unreadable' } });
  });

  it('runNow: waits for the run in flight; two callers never overlap a key; unknown keys and a stopping runner refuse', async function () {
    const r = track(makeRunner(memoryLogger(), { texts: { unknown: (k) => `no job "${k}"`, stopping: 'going away' } }));
    let active = 0;
    let peak = 0;
    let count = 0;
    const gates: ReturnType<typeof deferred<void>>[] = [];
    const started = [deferred(), deferred(), deferred()];
    r.add({
      key: 'P1',
      cron: YEARLY,
      run: async () => {
        const i = count++;
        active++;
        peak = Math.max(peak, active);
        const gate = deferred();
        gates.push(gate);
        started[i]!.resolve();
        await gate.promise;
        active--;
        return { n: i };
      },
    });
    const a = r.runNow('P1');
    await started[0]!.promise;
    expect(r.state()[0]!.running).to.equal(true);
    const b = r.runNow('P1');
    const c = r.runNow('P1');
    gates[0]!.resolve();
    await started[1]!.promise;
    gates[1]!.resolve();
    await started[2]!.promise;
    gates[2]!.resolve();
    const results = await Promise.all([a, b, c]);
    expect(results.map((x) => x.n)).to.have.members([0, 1, 2]);
    expect(peak).to.equal(1);
    expect(r.state()[0]!.running).to.equal(false);

    try {
      await r.runNow('NOPE');
      expect.fail('an unknown key ran');
    } catch (e) {
      expect((e as Error).message).to.equal('no job "NOPE"');
    }
    await r.stop();
    try {
      await r.runNow('P1');
      expect.fail('ran after stop');
    } catch (e) {
      expect((e as Error).message).to.equal('going away');
    }
    expect(() => r.add({ key: 'P2', cron: YEARLY, run: async () => ({ n: 0 }) })).to.throw('going away');
  });

  it('cron slots: an every-second schedule runs the job; the gate and the backoff skip slots and say why', async function () {
    let paused = true;
    const skips: { key: string; reason: SkipReason }[] = [];
    let onSkipped = deferred();
    let onRan = deferred<Res>();
    let fail = true;
    const r = track(
      makeRunner(memoryLogger(), {
        shouldRun: () => !paused,
        onSkip: (key, reason) => {
          skips.push({ key, reason });
          onSkipped.resolve();
        },
        afterRun: (_key, res) => onRan.resolve(res),
      }),
    );
    r.add({ key: 'P1', cron: '* * * * * *', run: async () => (fail ? { n: 1, error: 'down' } : { n: 2 }) });
    expect(taskNames()).to.include('test:P1');

    await onSkipped.promise; // paused: the slot is skipped
    expect(skips[0]).to.deep.equal({ key: 'P1', reason: 'paused' });
    expect(r.state()[0]!.lastRunAt).to.equal(null);

    paused = false;
    expect(await onRan.promise).to.deep.equal({ n: 1, error: 'down' }); // the next slot runs, and fails
    expect(r.state()[0]!.failures).to.equal(1);

    onSkipped = deferred();
    skips.length = 0;
    await onSkipped.promise; // 30 s of backoff: the slots are skipped
    expect(skips[0]).to.deep.equal({ key: 'P1', reason: 'backoff' });

    fail = false;
    onRan = deferred<Res>();
    await r.runNow('P1');
    expect(await onRan.promise).to.deep.equal({ n: 2 });
    expect(r.state()[0]).to.include({ failures: 0, backoffUntil: null });
  });

  it('stop(): a run that heeds the signal ends within the grace; one that does not is abandoned, then the job is closed; the tasks are gone', async function () {
    const log = memoryLogger();
    const r = track(makeRunner(log, { graceMs: 100, abandonWaitMs: 2000 }));
    const calls: string[] = [];
    const polite = deferred();
    r.add({
      key: 'POLITE',
      cron: YEARLY,
      run: (signal) =>
        new Promise<Res>((resolve) => {
          polite.resolve();
          signal.addEventListener('abort', () => resolve({ n: 1 }), { once: true });
        }),
      abandon: async () => void calls.push('abandon POLITE'),
      close: async () => void calls.push('close POLITE'),
    });
    const stubborn = deferred<Res>();
    const stubbornStarted = deferred();
    r.add({
      key: 'STUBBORN',
      cron: YEARLY,
      run: () => (stubbornStarted.resolve(), stubborn.promise),
      abandon: async () => {
        calls.push('abandon STUBBORN');
        stubborn.resolve({ n: 2, error: 'connection closed' }); // like a pool closed with abandon
      },
      close: async () => void calls.push('close STUBBORN'),
    });
    expect(taskNames()).to.include.members(['test:POLITE', 'test:STUBBORN']);
    const runs = [r.runNow('POLITE'), r.runNow('STUBBORN')];
    await Promise.all([polite.promise, stubbornStarted.promise]);

    const stopping = r.stop();
    expect(r.stop()).to.equal(stopping); // a second stop waits for the same one
    await stopping;
    expect((await Promise.all(runs)).map((x) => x.n)).to.deep.equal([1, 2]);
    expect(calls).to.have.members(['close POLITE', 'abandon STUBBORN', 'close STUBBORN']);
    expect(calls.indexOf('abandon STUBBORN')).to.be.lessThan(calls.indexOf('close STUBBORN'));
    expect(log.entries.find((e) => e.message === 'stop: abandoning the in-flight test run')!.fields).to.deep.equal({ partner: 'STUBBORN', graceMs: 100 });
    // a failure while stopping is not held against the partner (no backoff at the next start)
    expect(r.state().find((s) => s.key === 'STUBBORN')).to.include({ failures: 0 });
    expect(r.state().every((s) => s.nextRunAt === null)).to.equal(true);
    expect(taskNames()).to.not.include.members(['test:POLITE']);
    expect(taskNames()).to.not.include.members(['test:STUBBORN']);
  });

  it('stop(): a run that ignores even the abandon is given up on after abandonWaitMs, with an error line', async function () {
    const log = memoryLogger();
    const r = track(makeRunner(log, { graceMs: 50, abandonWaitMs: 50 }));
    const never = deferred<Res>();
    const started = deferred();
    let closed = false;
    r.add({ key: 'HUNG', cron: YEARLY, run: () => (started.resolve(), never.promise), close: async () => void (closed = true) });
    const run = r.runNow('HUNG');
    await started.promise;
    await r.stop();
    expect(closed).to.equal(true);
    expect(log.entries.some((e) => e.level === 'error' && e.message === 'stop: the test run did not end after it was abandoned' && e.fields.partner === 'HUNG')).to.equal(true);
    never.resolve({ n: 0 });
    expect((await run).n).to.equal(0);
  });

  it('reschedule(): the new schedule takes over without dropping the run in flight; a bad expression keeps the old one', async function () {
    const r = track(makeRunner());
    const gate = deferred();
    const firstStarted = deferred();
    let runs = 0;
    const slotRan = deferred();
    r.add({
      key: 'P1',
      cron: YEARLY,
      run: async () => {
        runs++;
        if (runs === 1) {
          firstStarted.resolve();
          await gate.promise;
        } else slotRan.resolve();
        return { n: runs };
      },
    });
    const yearlyNext = r.nextRunAt('P1');
    expect(() => r.reschedule('P1', 'not a cron expression')).to.throw();
    expect(r.nextRunAt('P1')).to.equal(yearlyNext);

    const first = r.runNow('P1');
    await firstStarted.promise;
    r.reschedule('P1', '* * * * * *');
    expect(Date.parse(r.nextRunAt('P1')!) - Date.now()).to.be.lessThan(2000);
    expect(taskNames().filter((n) => n === 'test:P1')).to.have.length(1); // the old task is gone

    // a slot of the new task while the first run is in flight: it finds the run and skips
    const task = [...cron.getTasks().values()].find((t) => t.name === 'test:P1')!;
    await new Promise<void>((resolve) => task.once('execution:finished', () => resolve()));
    expect(runs).to.equal(1);
    gate.resolve();
    expect((await first).n).to.equal(1);
    await slotRan.promise;
    expect(runs).to.be.at.least(2);
  });

  it('remove(): ends one job like stop() and leaves the others running', async function () {
    const r = track(makeRunner());
    let closed = '';
    const job = (key: string): CronJob<Res> => ({ key, cron: YEARLY, run: async () => ({ n: 0 }), close: async () => void (closed += key) });
    r.add(job('A'));
    r.add(job('B'));
    expect(() => r.add(job('A'))).to.throw('scheduled already');
    await r.remove('A');
    expect(closed).to.equal('A');
    expect(r.keys).to.deep.equal(['B']);
    expect(taskNames()).to.not.include('test:A');
    expect((await r.runNow('B')).n).to.equal(0);
  });
});
