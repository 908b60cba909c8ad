// Writes that survive a power loss: the data is fsynced before the caller records it in the
// ledger, and a folder is fsynced after an entry is created in it (otherwise the name itself
// can be lost although the file's blocks were written).
import { createHash } from 'node:crypto';
import fs from 'node:fs';

/** The mode of every file tlbridge keeps (product.md 3, 6). */
export const FILE_MODE = 0o640;
export const DIR_MODE = 0o750;
/** Copies go through a buffer of this size: memory stays flat whatever the file's size. */
export const COPY_CHUNK_BYTES = 1 << 20;

export interface DurableWriteOptions {
  /** 'wx' (default): never replaces an existing file; 'w': replaces it */
  flag?: 'w' | 'wx';
  mode?: number;
  /** the caller fsyncs the file later (fsyncAll, before anything records it): many files
   * written first and then fsynced together cost a fraction of one fsync each */
  deferSync?: boolean;
}

export function writeFileDurable(file: string, data: Buffer | string, opts: DurableWriteOptions = {}): void {
  const buf = typeof data === 'string' ? Buffer.from(data) : data;
  if (opts.deferSync) return withDurableFile(file, opts, (fd) => writeAll(fd, buf, buf.length));
  const mode = opts.mode ?? FILE_MODE;
  // an empty file has no write to carry the sync: it gets an fsync
  const sync = buf.length > 0;
  const fd = fs.openSync(file, openFlags(opts.flag ?? 'wx', sync), mode);
  try {
    fs.fchmodSync(fd, mode);
    writeAll(fd, buf, buf.length);
    if (!sync) fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The open flags of `flag`, with O_SYNC when `sync`: each write then returns only once its data
 * and the file's metadata are on the disk, as if fsync followed it (POSIX; Linux runs the same
 * fsync code for it). A file written in one go needs no fsync call of its own: one system call
 * and, in the libuv pool, one round trip through the event loop fewer per file. Its mode is set
 * before the write, so that the write's sync covers it too.
 */
function openFlags(flag: 'w' | 'wx', sync: boolean): number {
  const c = fs.constants;
  return c.O_WRONLY | c.O_CREAT | c.O_TRUNC | (flag === 'wx' ? c.O_EXCL : 0) | (sync ? c.O_SYNC : 0);
}

/**
 * Copies everything `src` holds into a new durable file, with the sha256 and the byte count
 * computed in the same pass. Positional reads from offset 0: the descriptor's own position is
 * neither used nor moved, so a descriptor that was read before copies whole. The caller keeps
 * (and closes) `src`.
 */
export function copyFdDurable(src: number, file: string, opts: DurableWriteOptions = {}): { sha256: string; bytes: number } {
  const hash = createHash('sha256');
  const buf = copyBuffer(src);
  let pos = 0;
  withDurableFile(file, opts, (out) => {
    for (;;) {
      const n = fs.readSync(src, buf, 0, buf.length, pos);
      if (n === 0) return;
      hash.update(buf.subarray(0, n));
      writeAll(out, buf, n);
      pos += n;
    }
  });
  return { sha256: hash.digest('hex'), bytes: pos };
}

/** A buffer for copying `src`: its size, up to COPY_CHUNK_BYTES (a fresh 1 MiB for every small
 * file made the garbage collector a tenth of intake's time). */
function copyBuffer(src: number): Buffer {
  return Buffer.allocUnsafe(Math.max(1, Math.min(COPY_CHUNK_BYTES, fs.fstatSync(src).size + 1)));
}

function withDurableFile(file: string, opts: DurableWriteOptions, write: (fd: number) => void): void {
  const mode = opts.mode ?? FILE_MODE;
  const fd = fs.openSync(file, openFlags(opts.flag ?? 'wx', false), mode);
  try {
    // the umask may narrow the mode (the unit's is 0077), and a replaced file keeps its old one;
    // set before the data, so that the fsync (now or the caller's) makes it durable too
    fs.fchmodSync(fd, mode);
    write(fd);
    if (!opts.deferSync) fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** writeSync may write less than asked (a large buffer, a signal): loop until all of `length` is out, from `from`. */
export function writeAll(fd: number, buf: Buffer, length: number, from = 0): void {
  for (let off = from; off < length; ) off += fs.writeSync(fd, buf, off, length - off);
}

/** fsync of a file or folder by path (a folder: after entries were created or renamed in it). */
export function fsyncPath(p: string): void {
  const fd = fs.openSync(p, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** How many fsyncs fsyncAll keeps in flight: the libuv pool's default size. Concurrent fsyncs
 * share the file system's journal commits and the disk's cache flushes, so a batch costs far
 * less than one after another (measured on the 2-core VM: 4 in flight took 0.4x the time of
 * one after another; 8 no better, 16 and 32 worse). */
const FSYNC_CONCURRENCY = 4;

/** fsyncs every file or folder in `paths` (written earlier with deferSync), several at a time;
 * resolves once all are durable, rejects with the first failure (after all have settled). */
export async function fsyncAll(paths: readonly string[]): Promise<void> {
  let next = 0;
  let failure: unknown;
  const worker = async (): Promise<void> => {
    while (next < paths.length) {
      const p = paths[next++]!;
      await fsyncPathAsync(p).catch((e: unknown) => (failure ??= e));
    }
  };
  await Promise.all(Array.from({ length: Math.min(FSYNC_CONCURRENCY, paths.length) }, worker));
  if (failure !== undefined) throw failure;
}

// The asynchronous writes below chain fs callbacks inside one promise each: fs.promises costs
// a FileHandle and a promise per call, twice the event loop's time per durable file (measured:
// 1,000 files of 1.5 KB, 185 ms of loop time against 85), and intake makes four per input file.
type Done<T = void> = (e: NodeJS.ErrnoException | null, v?: T) => void;

/** open (creating with `mode`), fchmod, `body`, fsync (none when `sync`: opened O_SYNC, every
 * write is durable when it returns), close; the first error wins, and the descriptor is closed
 * whatever happened. */
function durableFd<T>(file: string, flag: 'w' | 'wx', mode: number, sync: boolean, body: (fd: number, done: Done<T>) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    fs.open(file, openFlags(flag, sync), mode, (e, fd) => {
      if (e) return reject(e);
      const finish = (err: NodeJS.ErrnoException | null, v?: T): void =>
        fs.close(fd, (ce) => {
          const first = err ?? ce;
          if (first) reject(first);
          else resolve(v as T);
        });
      const written: Done<T> = (be, v) => {
        if (be || sync) return finish(be, v);
        fs.fsync(fd, (se) => finish(se, v));
      };
      // the umask may narrow the mode (the unit's is 0077), and a replaced file keeps its old one
      fs.fchmod(fd, mode, (me) => {
        if (me) return finish(me);
        // a throw here would escape the promise as an uncaught exception (an fs callback's stack)
        try {
          body(fd, written);
        } catch (be) {
          finish(be as NodeJS.ErrnoException);
        }
      });
    });
  });
}

/** fs.write until all `length` bytes from `off` are out (a write may be short). */
function writeAllCb(fd: number, buf: Buffer, off: number, length: number, done: Done): void {
  if (length === 0) return done(null);
  fs.write(fd, buf, off, length, null, (e, n) => (e ? done(e) : writeAllCb(fd, buf, off + n, length - n, done)));
}

/** writeFileDurable in the libuv pool: the create and the synchronous write block a pool thread,
 * not the event loop, which meanwhile converts the next file. Resolves once the file is durable
 * (its folder still needs an fsync, once for all the files created in it). */
export function writeFileDurableAsync(file: string, data: Buffer | string, opts: Omit<DurableWriteOptions, 'deferSync'> = {}): Promise<void> {
  const buf = typeof data === 'string' ? Buffer.from(data) : data;
  // an empty file has no write to carry the sync: it gets an fsync
  return durableFd<void>(file, opts.flag ?? 'wx', opts.mode ?? FILE_MODE, buf.length > 0, (fd, done) => writeAllCb(fd, buf, 0, buf.length, done));
}

/** copyFdDurable in the libuv pool (the same positional reads from `src`, kept by the caller). */
export function copyFdDurableAsync(src: number, file: string, opts: Omit<DurableWriteOptions, 'deferSync'> = {}): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  return durableFd(file, opts.flag ?? 'wx', opts.mode ?? FILE_MODE, false, (out, done: Done<{ sha256: string; bytes: number }>) => {
    const buf = copyBuffer(src);
    const step = (pos: number): void =>
      fs.read(src, buf, 0, buf.length, pos, (e, n) => {
        if (e) return done(e);
        if (n === 0) return done(null, { sha256: hash.digest('hex'), bytes: pos });
        hash.update(buf.subarray(0, n));
        writeAllCb(out, buf, 0, n, (we) => (we ? done(we) : step(pos + n)));
      });
    step(0);
  });
}

/** A folder made (its parent must exist) with `mode` whatever the umask, in the libuv pool. */
export function mkdirAsync(dir: string, mode = DIR_MODE): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    fs.mkdir(dir, { mode }, (e) => (e ? reject(e) : fs.chmod(dir, mode, (ce) => (ce ? reject(ce) : resolve()))));
  });
}

/** fsyncPath in the libuv pool. */
export function fsyncPathAsync(p: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    fs.open(p, 'r', (e, fd) => {
      if (e) return reject(e);
      fs.fsync(fd, (se) => fs.close(fd, (ce) => (se ?? ce ? reject(se ?? ce) : resolve())));
    });
  });
}

/**
 * Durable writes started one after another and left to run in the libuv pool while the caller
 * goes on (intake converts the next file while the last one's XML reaches the disk). At most
 * `maxOps` writes or `maxBytes` of their data wait at once: `start` waits for room, so memory
 * stays bounded whatever the caller produces. `settled` resolves once every write started is
 * durable, or rejects with the first failure once all have ended (nothing is left running).
 */
export class DurableWrites {
  private readonly running = new Set<Promise<void>>();
  private bytes = 0;
  private failure: { e: unknown } | undefined;

  constructor(
    private readonly maxOps = 64,
    private readonly maxBytes = 8 << 20,
  ) {}

  /** Starts `write` (which holds `size` bytes until it ends) once there is room. */
  async start(size: number, write: () => Promise<unknown>): Promise<void> {
    while (this.running.size && (this.running.size >= this.maxOps || this.bytes + size > this.maxBytes)) await Promise.race(this.running);
    if (this.failure) throw this.failure.e;
    this.bytes += size;
    const p: Promise<void> = write().then(
      () => undefined,
      (e: unknown) => {
        this.failure ??= { e };
      },
    );
    const done = p.finally(() => {
      this.bytes -= size;
      this.running.delete(done);
    });
    this.running.add(done);
  }

  async settled(): Promise<void> {
    while (this.running.size) await Promise.all(this.running);
    if (this.failure) throw this.failure.e;
  }
}
