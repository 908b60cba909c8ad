// One worker thread that examines large uploads (examine.ts) off the event loop. Started at the
// first job, restarted after a crash; jobs run one at a time in the order posted. A worker that
// dies fails the jobs it held (the caller judges them inline instead), never the process.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../log.js';
import type { Examination, ExamineJob } from './examine.js';

// the worker module beside this one, with this module's own extension (.ts under tsx)
const HERE = fileURLToPath(import.meta.url);
const WORKER_MODULE = new URL(`./examine-worker${path.extname(HERE)}`, import.meta.url).href;
const BOOT = new URL('./examine-boot.mjs', import.meta.url);

interface Pending {
  resolve(e: Examination): void;
  reject(e: Error): void;
}

export class ExaminePool {
  private worker: Worker | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;

  constructor(
    private readonly log: Logger,
    /** tests: see examine-worker.ts */
    private readonly gate?: Int32Array,
  ) {}

  examine(job: ExamineJob): Promise<Examination> {
    if (this.closed) return Promise.reject(new Error('the examine worker is stopped'));
    const w = this.worker ?? this.start();
    const id = this.nextId++;
    return new Promise<Examination>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.postMessage({ id, job });
    });
  }

  /** Stops the worker; jobs still held are failed. */
  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
    this.failAll(new Error('the examine worker was stopped'));
  }

  private start(): Worker {
    const w = new Worker(BOOT, { workerData: { module: WORKER_MODULE, ...(this.gate ? { gate: this.gate } : {}) } });
    this.worker = w;
    w.unref(); // an idle worker never keeps the process alive; pending jobs keep their callers waiting
    w.on('message', (m: { id: number; exam?: Examination; error?: string }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.exam) p.resolve(m.exam);
      else p.reject(new Error(m.error ?? 'the examine worker gave no answer'));
    });
    const gone = (why: string): void => {
      if (this.worker !== w) return;
      this.worker = null;
      if (!this.closed) this.log.error('sandbox: the examine worker stopped; it is started again for the next large file', { error: why });
      this.failAll(new Error(`the examine worker stopped: ${why}`));
    };
    w.on('error', (e: Error) => gone(e.message));
    w.on('exit', (code) => gone(`exit code ${code}`));
    return w;
  }

  private failAll(e: Error): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.reject(e);
  }
}
