// Writes many small XML files with several writes in flight: creating a file (open, write,
// close) costs tens of microseconds of system time each, which a synchronous loop spends on
// the converting thread; here libuv's thread pool does them on the other core(s) while the
// conversion goes on. Bounded: at most `inFlight` documents are held waiting for their write.
import fs from 'node:fs';

export interface FileWriter {
  /** Starts writing `data` to `file` (never overwriting: 'wx'); waits only when too many writes are in flight. */
  write(file: string, data: string): Promise<void> | void;
  /** Waits for every write; rejects with the first write error, if any. */
  flush(): Promise<void>;
}

export function groupedFileWriter(opts: { mode: number; inFlight?: number }): FileWriter {
  const limit = opts.inFlight ?? 32;
  const pending = new Set<Promise<void>>();
  let failure: unknown;
  const check = () => {
    if (failure !== undefined) throw failure;
  };
  return {
    write(file, data) {
      check();
      const p: Promise<void> = fs.promises
        .writeFile(file, data, { flag: 'wx', mode: opts.mode })
        .catch((e: unknown) => {
          failure ??= e;
        })
        .finally(() => pending.delete(p));
      pending.add(p);
      if (pending.size < limit) return;
      return Promise.race(pending).then(check);
    },
    async flush() {
      await Promise.all(pending);
      check();
    },
  };
}
