// The streams of a transfer. Upload: the data goes out in chunks, each read a sign of life for
// the inactivity timer. Download: a guard against an untrusted server; the size it announced is
// checked before reading, but a file can grow while it is read, so the bytes are counted too.
import { Readable, Transform, type TransformCallback } from 'node:stream';

const TRANSFER_CHUNK = 64 * 1024;

/** `data` as a stream of chunks of at most 64 KiB; `onRead` is called on every read. */
export function chunkedSource(data: Buffer, onRead: () => void): Readable {
  let offset = 0;
  return new Readable({
    read() {
      onRead();
      if (offset >= data.length) {
        this.push(null);
        return;
      }
      const end = Math.min(offset + TRANSFER_CHUNK, data.length);
      this.push(data.subarray(offset, end));
      offset = end;
    },
  });
}

/** Thrown by ByteLimit when more than `maxBytes` pass through it. */
export class ByteLimitExceededError extends Error {
  constructor(
    readonly maxBytes: number,
    readonly seen: number,
  ) {
    super(`more than ${maxBytes} bytes`);
    this.name = 'ByteLimitExceededError';
  }
}

/** Pass-through that counts bytes and fails once more than `maxBytes` went through. */
export class ByteLimit extends Transform {
  bytes = 0;
  constructor(
    private readonly maxBytes: number,
    private readonly onProgress?: (bytes: number) => void,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    this.onProgress?.(this.bytes);
    if (this.bytes > this.maxBytes) cb(new ByteLimitExceededError(this.maxBytes, this.bytes));
    else cb(null, chunk);
  }
}
