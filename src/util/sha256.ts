// sha256 of what the ledger and the archive record: hex, as `sha256sum` prints it.
import { createHash, hash } from 'node:crypto';
import fs from 'node:fs';

export function sha256(data: Buffer | string): string {
  // the one-shot form: a Hash object per message body cost ~2 us more (measured, convert)
  return hash('sha256', data, 'hex');
}

/** Streams the file, so its size is never bounded by a Buffer (2 GiB) or by memory. */
export async function sha256File(file: string): Promise<{ sha256: string; bytes: number }> {
  const h = createHash('sha256');
  let bytes = 0;
  for await (const chunk of fs.createReadStream(file) as AsyncIterable<Buffer>) {
    h.update(chunk);
    bytes += chunk.length;
  }
  return { sha256: h.digest('hex'), bytes };
}

const CHUNK = 1 << 20;
/** One read buffer for every sha256Fd: each chunk is read and hashed without an await between,
 * so calls that interleave never see each other's bytes (a fresh 1 MiB per small file kept
 * the garbage collector busy). */
let shared: Buffer | undefined;

/** Streams an open descriptor from position 0 (positional reads: the descriptor's own offset
 * is neither used nor moved), so any size is hashed in bounded memory. Yields to the event
 * loop between chunks so a big file does not hold the process deaf. */
export async function sha256Fd(fd: number, signal?: AbortSignal): Promise<{ sha256: string; bytes: number }> {
  const h = createHash('sha256');
  const buf = (shared ??= Buffer.allocUnsafe(CHUNK));
  let bytes = 0;
  for (let reads = 1; ; reads++) {
    const n = fs.readSync(fd, buf, 0, CHUNK, bytes);
    if (n === 0) break;
    h.update(buf.subarray(0, n));
    bytes += n;
    if (reads % 16 === 0) {
      await new Promise<void>((r) => setImmediate(r));
      signal?.throwIfAborted(); // a stop (SIGTERM) is answered within seconds, whatever the size
    }
  }
  return { sha256: h.digest('hex'), bytes };
}
