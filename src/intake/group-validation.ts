// XSD validation of a commit group's small files in the validation worker (validate-pool.ts),
// while the main thread converts the next files: on a drop of many one-document files, judging
// each document inline was a tenth of the event loop's time per file. A group's commit waits for
// the judgement of all its files (invalidFiles) and stages none that failed: such a file leaves
// the group and goes the one-file path, which validates inline and reports the problems exactly
// as it always did. A worker that fails leaves its documents to be judged here, inline.
import type { XmlIssue } from '../xml/binding.js';
import { loadSchema } from '../xml/schema.js';
import { validateInWorker } from '../xml/validate-pool.js';
import type { TranslatedMessage } from './translate.js';

/** Documents posted to the worker together (one message each way per job, not per file). */
const JOB_MESSAGES = 32;
/** Jobs out at once: the converting thread waits for the oldest beyond this (memory bound). */
const MAX_JOBS = 8;

interface Job {
  files: number[];
  batch: TranslatedMessage[];
  result: Promise<XmlIssue[][] | undefined>;
}

export class GroupValidation {
  /** messages waiting for a job, by schema (a job validates against one schema) */
  private readonly waiting = new Map<string, { files: number[]; batch: TranslatedMessage[] }>();
  private readonly jobs: Job[] = [];
  private readonly invalid = new Set<number>();

  /** Queues the messages of the file `fileId` for validation. */
  async add(fileId: number, batch: readonly TranslatedMessage[]): Promise<void> {
    for (const m of batch) {
      const schema = m.info.schema;
      let w = this.waiting.get(schema);
      if (!w) this.waiting.set(schema, (w = { files: [], batch: [] }));
      w.files.push(fileId);
      w.batch.push(m);
      if (w.batch.length >= JOB_MESSAGES) this.post(schema);
    }
    while (this.jobs.length > MAX_JOBS) await this.settleOldest();
  }

  /** The files (by id) with a message that does not validate, once every message queued is judged. */
  async invalidFiles(): Promise<Set<number>> {
    for (const schema of [...this.waiting.keys()]) this.post(schema);
    while (this.jobs.length) await this.settleOldest();
    return this.invalid;
  }

  /** Used by one caller at a time: the group's conversion adds, then its commit asks. */
  private async settleOldest(): Promise<void> {
    const job = this.jobs[0]!;
    const issues = await job.result;
    this.jobs.shift();
    this.judge(job, issues);
  }

  private post(schema: string): void {
    const w = this.waiting.get(schema);
    this.waiting.delete(schema);
    if (!w?.batch.length) return;
    const result = validateInWorker(
      schema,
      w.batch.map((m) => m.xml),
    ).catch(() => undefined);
    this.jobs.push({ ...w, result });
  }

  private judge(job: Job, issues: XmlIssue[][] | undefined): void {
    const inline = issues ? undefined : loadSchema(job.batch[0]!.info.schema);
    job.batch.forEach((m, i) => {
      const found = issues ? issues[i]! : inline!.validate(m.xml);
      if (found.length) this.invalid.add(job.files[i]!);
    });
  }
}
