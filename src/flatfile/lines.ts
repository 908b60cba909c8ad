// Reads a flat file as numbered lines without ever holding more than one chunk plus one line,
// so memory stays bounded by the longest accepted line, not by the file. Lines are split on
// LF bytes before decoding: every supported encoding is ASCII-compatible, and decoding line
// by line lets a bad byte sequence be reported with its line number.
import fs, { createReadStream } from 'node:fs';
import { promisify } from 'node:util';
import { isUtf8 } from 'node:buffer';
import type { Encoding } from './layout.js';
import { inputError, type InputError } from './errors.js';
export { isInputError } from './errors.js';

export interface RawLine {
  line: number;
  text: string;
}

export type LineItem = RawLine | InputError;

const LF = 0x0a;
const CR = 0x0d;
const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);
// C0 controls except TAB, plus DEL: never part of an ERP text field, and not representable in XML 1.0.
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f]/;

const cp1252 = new TextDecoder('windows-1252');

function decode(bytes: Buffer, encoding: Encoding, line: number): RawLine | InputError {
  let text: string;
  if (encoding === 'utf-8') {
    if (!isUtf8(bytes)) return inputError(line, null, null, 'is not valid UTF-8 (wrong encoding? the layout expects utf-8)');
    text = bytes.toString('utf8');
  } else if (encoding === 'latin1') {
    text = bytes.toString('latin1');
  } else {
    text = cp1252.decode(bytes);
  }
  const bad = CONTROL.exec(text);
  if (bad) {
    const code = bad[0].charCodeAt(0).toString(16).padStart(2, '0');
    if (code === '0d') return inputError(line, null, null, `contains a CR (0x0d) inside the line at column ${bad.index + 1}: lines must end in LF or CR LF (CR-only line ends?)`);
    return inputError(line, null, null, `contains the control character 0x${code} at column ${bad.index + 1} (binary data?)`);
  }
  return { line, text };
}

/** A file by path, an open descriptor (read from position 0 and left open: intake reads the one
 * descriptor it opened after the claim, product.md 6), or the bytes of a small file read whole
 * from that descriptor (intake's group path: hashed, read and archived from one read). */
export type LineSource = string | { fd: number } | { bytes: Buffer };

const CHUNK = 1 << 20;
const readAt = promisify(fs.read);

/** The bytes of a descriptor from position 0. Not a ReadStream: a consumer that stops early
 * destroys its stream, and a destroyed ReadStream closes its descriptor even with autoClose
 * off; the descriptor belongs to the caller, who closes it once. */
async function* chunksOfFd(fd: number): AsyncGenerator<Buffer> {
  // buffers sized by the file: a fresh 1 MiB per read of each small file (two reads: its bytes,
  // then the end) was most of intake's garbage-collection time
  const size = fs.fstatSync(fd).size;
  for (let pos = 0; ; ) {
    const want = Math.min(CHUNK, Math.max(size - pos + 1, 1024));
    const buf = Buffer.allocUnsafe(want);
    const { bytesRead } = await readAt(fd, buf, 0, want, pos);
    if (bytesRead === 0) return;
    pos += bytesRead;
    yield bytesRead === want ? buf : buf.subarray(0, bytesRead);
  }
}

/** Yields the lines of a file in batches (one per read chunk) to keep per-line overhead low.
 * A line longer than maxLineBytes is reported as an error and skipped, never buffered.
 * `onBytes` hears the size of each chunk read (progress). */
export async function* readLines(file: LineSource, encoding: Encoding, maxLineBytes: number, onBytes?: (n: number) => void): AsyncGenerator<LineItem[]> {
  const stream: Iterable<Buffer> | AsyncIterable<Buffer> = typeof file === 'string' ? createReadStream(file, { highWaterMark: CHUNK }) : 'bytes' in file ? [file.bytes] : chunksOfFd(file.fd);
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let overlong = false;
  let lineNo = 0;
  let first = true;

  const finish = (bytes: Buffer, out: LineItem[]) => {
    lineNo++;
    if (overlong) {
      out.push(inputError(lineNo, null, null, `is longer than maxLineBytes (${maxLineBytes} bytes)`));
      overlong = false;
      return;
    }
    let end = bytes.length;
    if (end > 0 && bytes[end - 1] === CR) end--;
    let start = 0;
    if (first && bytes.subarray(0, 3).equals(UTF8_BOM)) start = 3;
    first = false;
    out.push(decode(bytes.subarray(start, end), encoding, lineNo));
  };

  for await (const chunk of stream) {
    onBytes?.(chunk.length);
    const out: LineItem[] = [];
    let pos = 0;
    for (;;) {
      const nl = chunk.indexOf(LF, pos);
      if (nl < 0) break;
      const piece = chunk.subarray(pos, nl);
      if (pendingBytes > 0 || overlong) {
        if (!overlong && pendingBytes + piece.length > maxLineBytes) overlong = true;
        finish(overlong ? Buffer.alloc(0) : Buffer.concat([...pending, piece]), out);
        pending = [];
        pendingBytes = 0;
      } else {
        if (piece.length > maxLineBytes) overlong = true;
        finish(piece, out);
      }
      pos = nl + 1;
    }
    if (pos < chunk.length) {
      const rest = chunk.subarray(pos);
      if (!overlong) {
        if (pendingBytes + rest.length > maxLineBytes) {
          overlong = true;
          pending = [];
          pendingBytes = 0;
        } else {
          // copy: the stream may reuse its chunk buffers
          pending.push(Buffer.from(rest));
          pendingBytes += rest.length;
        }
      }
    }
    if (out.length) yield out;
  }
  if (pendingBytes > 0 || overlong) {
    const out: LineItem[] = [];
    finish(overlong ? Buffer.alloc(0) : Buffer.concat(pending), out);
    yield out;
  }
}
