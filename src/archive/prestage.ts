// Copies written ahead into the archive's staging area (Archive.prestage), for a batch: each
// message's XML once it is SENT, so that its fsync overlaps the rest of the upload.
import fs from 'node:fs';
import path from 'node:path';
import { writeFileDurableAsync } from '../util/durable-file.js';
import { sha256 } from '../util/sha256.js';
import { checkArchiveFileName } from './staging.js';

/** A durable file written ahead into the staging area (Prestage), with its manifest entry's hash and size. */
export interface StagedCopy {
  path: string;
  sha256: string;
  bytes: number;
}

/**
 * Durable copies written ahead, in the libuv pool, a few at a time, while the caller goes on
 * (send.ts: each message's XML once it is SENT, so its fsync overlaps the rest of the upload
 * instead of following it). Its folder is one of the staging area without a manifest.json: a
 * copy that never reached its transaction, which the recovery removes once this process is gone
 * (staging.ts). addMany moves the copies (`staged` inputs) into its own folder, where its
 * folder fsync makes their entries durable; discard() removes what is left.
 */
export class Prestage {
  private readonly queue: { name: string; data: Buffer }[] = [];
  private next = 0;
  private running = 0;
  private readonly copies = new Map<string, StagedCopy>();
  private failure: unknown;
  private idle: (() => void)[] = [];

  constructor(readonly dir: string) {}

  /** Starts the durable copy of `data` as `name` (a base name, each at most once). */
  add(name: string, data: Buffer): void {
    checkArchiveFileName(name);
    this.queue.push({ name, data });
    this.pump();
  }

  /** Once every copy started has ended: the durable ones by name (none after a failure, which the caller copies itself). */
  async settled(): Promise<Map<string, StagedCopy>> {
    if (this.running || this.next < this.queue.length) await new Promise<void>((resolve) => this.idle.push(resolve));
    return this.failure === undefined ? this.copies : new Map();
  }

  /** Removes the folder with what addMany did not take; only once settled() has resolved. */
  discard(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  private pump(): void {
    while (this.running < PRESTAGE_CONCURRENCY && this.next < this.queue.length) {
      const job = this.queue[this.next]!;
      this.queue[this.next++] = undefined as never; // its bytes are not kept once written
      this.running++;
      const file = path.join(this.dir, job.name);
      writeFileDurableAsync(file, job.data).then(
        () => this.copies.set(job.name, { path: file, sha256: sha256(job.data), bytes: job.data.length }),
        (e: unknown) => (this.failure ??= e),
      ).finally(() => {
        this.running--;
        this.pump();
        if (!this.running && this.next >= this.queue.length) for (const resolve of this.idle.splice(0)) resolve();
      });
    }
  }
}

/** Copies of a Prestage written at once: its fsyncs share journal commits (see fsyncAll). */
const PRESTAGE_CONCURRENCY = 4;
