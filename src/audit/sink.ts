// Where a report goes: a file or stdout, written in chunks with backpressure (a report of a
// year's uploads never sits whole in memory). A file is written beside its name and linked into
// place at the end, so a half-written report never carries the name and an existing file is
// never overwritten.
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { Io } from '../cli/io.js';

const CHUNK = 64 * 1024;

export class ReportWriter {
  private buf = '';
  private failed: Error | null = null;

  constructor(private readonly stream: NodeJS.WritableStream) {
    stream.on('error', (e: Error) => (this.failed ??= e));
  }

  /** Adds text; waits for the stream to drain when its buffer is full. */
  async write(s: string): Promise<void> {
    this.buf += s;
    if (this.buf.length >= CHUNK) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.failed) throw this.failed;
    if (!this.buf) return;
    const chunk = this.buf;
    this.buf = '';
    if (!this.stream.write(chunk))
      await new Promise<void>((resolve) => {
        const done = () => {
          this.stream.off('drain', done);
          this.stream.off('error', done);
          resolve();
        };
        this.stream.on('drain', done);
        this.stream.on('error', done);
      });
    if (this.failed) throw this.failed;
  }
}

export interface ReportSink {
  writer: ReportWriter;
  /** everything written: the file gets its name (or stdout is flushed) */
  finish(): Promise<void>;
  /** a failure: nothing is left under the name */
  abort(): void;
}

/** stdout through `io`: its stream when it has one, else line by line through io.out (tests). */
function stdoutSink(io: Io): ReportSink {
  let partial = '';
  const stream: NodeJS.WritableStream =
    io.stdout ??
    new Writable({
      write(chunk: Buffer | string, _enc, done) {
        const lines = (partial + chunk.toString()).split('\n');
        partial = lines.pop()!;
        for (const l of lines) io.out(l);
        done();
      },
    });
  const writer = new ReportWriter(stream);
  return {
    writer,
    async finish() {
      await writer.flush();
      if (partial) io.out(partial);
      partial = '';
    },
    abort() {},
  };
}

/** FILE: written as FILE.<pid>.part (0640), then hard-linked to FILE, which must not exist. */
function fileSink(out: string): ReportSink {
  if (fs.existsSync(out)) throw new SinkError(`${out} exists; a report never overwrites a file`);
  const tmp = path.join(path.dirname(out), `.${path.basename(out)}.${process.pid}.part`);
  const stream = fs.createWriteStream(tmp, { flags: 'wx', mode: 0o640 });
  const writer = new ReportWriter(stream);
  const remove = () => fs.rmSync(tmp, { force: true });
  return {
    writer,
    async finish() {
      await writer.flush();
      stream.end();
      await once(stream, 'finish');
      const fd = fs.openSync(tmp, 'r');
      try {
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      try {
        fs.linkSync(tmp, out);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new SinkError(`${out} appeared while the report was written; not overwritten`);
        throw e;
      } finally {
        remove();
      }
    },
    abort() {
      stream.destroy();
      remove();
    },
  };
}

/** A report that cannot be written where it was asked to go (exit 1, one line). */
export class SinkError extends Error {
  override readonly name = 'SinkError';
}

export function openSink(io: Io, out: string | undefined): ReportSink {
  return out ? fileSink(out) : stdoutSink(io);
}
