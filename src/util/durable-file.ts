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
  withDurableFile(file, opts, (fd) => writeAll(fd, buf, buf.length));
}

/**
 * Copies everything `src` holds into a new durable file, with the sha256 and the byte count
 * computed in the same pass. Positional reads from offset 0: the descriptor's own position is
 * neither used nor moved, so a descriptor that was read before copies whole. The caller keeps
 * (and closes) `src`.
 */
export function copyFdDurable(src: number, file: string, opts: DurableWriteOptions = {}): { sha256: string; bytes: number } {
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(COPY_CHUNK_BYTES);
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

function withDurableFile(file: string, opts: DurableWriteOptions, write: (fd: number) => void): void {
  const mode = opts.mode ?? FILE_MODE;
  const fd = fs.openSync(file, opts.flag ?? 'wx', mode);
  try {
    write(fd);
    if (!opts.deferSync) fs.fsyncSync(fd);
    // the umask may narrow the mode, and a replaced file keeps its old one
    fs.fchmodSync(fd, mode);
  } finally {
    fs.closeSync(fd);
  }
}

/** writeSync may write less than asked (a large buffer, a signal): loop until all of it is out. */
function writeAll(fd: number, buf: Buffer, length: number): void {
  for (let off = 0; off < length; ) off += fs.writeSync(fd, buf, off, length - off);
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
 * share the file system's journal commits, so a batch costs far less than one after another. */
const FSYNC_CONCURRENCY = 4;

/** fsyncs every file or folder in `paths` (written earlier with deferSync), several at a time;
 * resolves once all are durable, rejects with the first failure (after all have settled). */
export async function fsyncAll(paths: readonly string[]): Promise<void> {
  let next = 0;
  let failure: unknown;
  const one = async (p: string): Promise<void> => {
    const h = await fs.promises.open(p, 'r');
    try {
      await h.sync();
    } finally {
      await h.close();
    }
  };
  const worker = async (): Promise<void> => {
    while (next < paths.length) {
      const p = paths[next++]!;
      await one(p).catch((e: unknown) => (failure ??= e));
    }
  };
  await Promise.all(Array.from({ length: Math.min(FSYNC_CONCURRENCY, paths.length) }, worker));
  if (failure !== undefined) throw failure;
}
