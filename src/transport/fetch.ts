// Many small files read into memory, and many removed, over ssh2's raw SFTP channel with several
// files in flight at once (ack polls: hundreds of ~1 KB files, where one file after another costs
// a few round trips each). Runs inside the session's one exclusive operation, so nothing else
// uses the channel meanwhile; the server answers each request on its own, so one file's failure
// (gone, refused) is that file's result and the others go on.
//
// A read is capped (acks are untrusted input, product.md 6): at most maxBytes + 1 bytes are ever
// asked for per file, so a file that grew past the cap is seen as too large without reading it.
import type { SFTPWrapper } from 'ssh2';

/** Files open at once: enough to hide the round trips, few enough to bound memory and handles
 * (OpenSSH's sftp-server allows 512 open handles per session). */
export const FILES_IN_FLIGHT = 16;
/** Bytes per READ: under ssh2's 32 KB default packet limit, so none is split. */
const READ_CHUNK = 32 * 1024;
/** REMOVE requests outstanding at once. */
const REMOVES_IN_FLIGHT = 64;
/** SSH_FX_NO_SUCH_FILE */
const NO_SUCH_FILE = 2;

export type FetchResult =
  | { kind: 'data'; data: Buffer }
  /** more than maxBytes: `seen` bytes were read before it stopped */
  | { kind: 'too-large'; seen: number }
  | { kind: 'failed'; error: unknown };

export type RemoveResult = { kind: 'removed' } | { kind: 'missing' } | { kind: 'failed'; error: unknown };

/** Runs `work(i)` for every index, at most `window` at a time; resolves once all have settled. */
function windowed(n: number, window: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < n) await work(next++);
  };
  return Promise.all(Array.from({ length: Math.min(window, n) }, lane)).then(() => undefined);
}

/** OPEN, READs until EOF (a 0-byte read) or past maxBytes, CLOSE; never rejects. */
function fetchOne(sftp: SFTPWrapper, remotePath: string, maxBytes: number, touch: () => void): Promise<FetchResult> {
  return new Promise((resolve) => {
    let handle: Buffer;
    const done = (r: FetchResult): void => {
      // CLOSE is sent, not waited for: its answer changes nothing we keep
      try {
        sftp.close(handle, () => undefined);
      } catch {
        /* the channel is gone: so is the handle */
      }
      resolve(r);
    };
    try {
      sftp.open(remotePath, 'r', (err, h) => {
        touch();
        if (err) return resolve({ kind: 'failed', error: err });
        handle = h;
        const parts: Buffer[] = [];
        let got = 0;
        const readNext = (): void => {
          const want = Math.min(READ_CHUNK, maxBytes + 1 - got);
          const buf = Buffer.allocUnsafe(want);
          sftp.read(handle, buf, 0, want, got, (e, n) => {
            touch();
            if (e) return done({ kind: 'failed', error: e });
            if (!n) return done({ kind: 'data', data: Buffer.concat(parts, got) });
            parts.push(n === want ? buf : buf.subarray(0, n));
            got += n;
            if (got > maxBytes) return done({ kind: 'too-large', seen: got });
            readNext();
          });
        };
        readNext();
      });
    } catch (e) {
      resolve({ kind: 'failed', error: e });
    }
  });
}

/** Reads every file of `remotePaths` into memory, up to FILES_IN_FLIGHT at once; results in the same order. */
export async function fetchPipelined(sftp: SFTPWrapper, remotePaths: readonly string[], maxBytes: number, touch: () => void): Promise<FetchResult[]> {
  const out: FetchResult[] = new Array(remotePaths.length);
  await windowed(remotePaths.length, FILES_IN_FLIGHT, async (i) => {
    out[i] = await fetchOne(sftp, remotePaths[i]!, maxBytes, touch);
  });
  return out;
}

/** Removes every file of `remotePaths`, up to REMOVES_IN_FLIGHT at once; a file already gone is `missing`. */
export async function removePipelined(sftp: SFTPWrapper, remotePaths: readonly string[], touch: () => void): Promise<RemoveResult[]> {
  const out: RemoveResult[] = new Array(remotePaths.length);
  await windowed(remotePaths.length, REMOVES_IN_FLIGHT, (i) =>
    new Promise<void>((resolve) => {
      try {
        sftp.unlink(remotePaths[i]!, (e) => {
          touch();
          out[i] = !e ? { kind: 'removed' } : (e as { code?: unknown }).code === NO_SUCH_FILE ? { kind: 'missing' } : { kind: 'failed', error: e };
          resolve();
        });
      } catch (e) {
        out[i] = { kind: 'failed', error: e };
        resolve();
      }
    }),
  );
  return out;
}
