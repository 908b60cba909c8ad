// One worker thread that XSD-validates rendered messages off the converting thread, so that a
// big file's parse+validate (about half of its CPU time, libxml2 in WebAssembly) runs on the
// second core while the next messages are read, mapped and rendered. Started at the first job,
// restarted after a crash; jobs are answered in the order posted. A worker that dies fails the
// jobs it held: the caller validates those inline instead, never a lost judgement.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { XmlIssue } from './binding.js';
import { holdYoungGeneration } from '../util/young-generation.js';

// the worker module beside this one, with this module's own extension (.ts under tsx)
const HERE = fileURLToPath(import.meta.url);
const WORKER_MODULE = new URL(`./validate-worker${path.extname(HERE)}`, import.meta.url).href;
const BOOT = new URL('./validate-boot.mjs', import.meta.url);

interface Pending {
  resolve(issues: XmlIssue[][]): void;
  reject(e: Error): void;
}

class ValidatePool {
  private worker: Worker | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  /** The issues of each document against the XSD `schema` (a path loadSchema accepts); [] = valid. */
  validate(schema: string, xml: string[]): Promise<XmlIssue[][]> {
    const w = this.worker ?? this.start();
    const id = this.nextId++;
    // referenced only while a job is out: an idle worker never keeps the process alive, and a
    // caller awaiting an answer is never left with an event loop that has nothing to wait for
    if (this.pending.size === 0) w.ref();
    // one buffer of UTF-8, moved (not copied) to the worker: cloning 64 strings cost ~3 ms a
    // chunk on the posting thread (measured), and libxml2 wants the bytes anyway
    const lengths = xml.map((x) => Buffer.byteLength(x));
    const bytes = Buffer.allocUnsafeSlow(lengths.reduce((a, b) => a + b, 0));
    let at = 0;
    for (const x of xml) at += bytes.write(x, at);
    return new Promise<XmlIssue[][]>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.postMessage({ id, schema, bytes: bytes.buffer, lengths }, [bytes.buffer]);
    });
  }

  /** the worker, started if it is not running */
  ensureStarted(): void {
    this.worker ?? this.start();
  }

  private start(): Worker {
    const w = new Worker(BOOT, {
      workerData: { module: WORKER_MODULE },
      // it keeps almost nothing between jobs (documents and libxml2's memory are outside its
      // heap): small generations are ~12 MB less peak RSS at the same speed (measured, 150,000
      // messages). Should it ever run out, it dies, and its chunks are validated inline.
      resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 12 },
    });
    this.worker = w;
    w.unref();
    // its isolate's start-up reset the main thread's young-generation hold (young-generation.ts)
    w.once('online', holdYoungGeneration);
    w.on('message', (m: { id: number; issues?: XmlIssue[][]; error?: string }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) w.unref();
      if (m.issues) p.resolve(m.issues);
      else p.reject(new Error(m.error ?? 'the validation worker gave no answer'));
    });
    const gone = (why: string): void => {
      if (this.worker !== w) return;
      this.worker = null;
      const all = [...this.pending.values()];
      this.pending.clear();
      for (const p of all) p.reject(new Error(`the validation worker stopped: ${why}`));
    };
    w.on('error', (e: Error) => gone(e.message));
    w.on('exit', (code) => gone(`exit code ${code}`));
    return w;
  }
}

let pool: ValidatePool | undefined;

/** Validates `xml` against the XSD file `schema` in the shared worker thread; rejects if the worker fails. */
export function validateInWorker(schema: string, xml: string[]): Promise<XmlIssue[][]> {
  pool ??= new ValidatePool();
  return pool.validate(schema, xml);
}

/** Starts the worker and compiles `schemas` in it ahead of the first job, so that the first files
 * of a drop are not judged late (the daemon at start), or with none, so that its start-up (~140 ms:
 * an isolate, libxml2-wasm) overlaps the caller's own (convert, before its config is read). A
 * failure is left to the first job, whose documents are then validated inline. */
export function warmValidationWorker(schemas: readonly string[] = []): void {
  pool ??= new ValidatePool();
  pool.ensureStarted();
  for (const s of new Set(schemas)) void pool.validate(s, []).catch(() => undefined);
}
