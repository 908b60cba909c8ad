// The upload protocol's requests on ssh2's raw SFTP channel. ssh2-sftp-client's methods are not
// used: they must not overlap on one client (libraries.md), while these are plain requests
// that several uploads of one session (upload.ts uploadMany) may have outstanding at once.
// A put goes in as few round trips as the protocol allows: OPEN with the mode in its
// attributes (no separate fchmod), the WRITEs in a window, then CLOSE and a STAT of the final
// name sent together once every WRITE is answered, then (the caller) the rename. The size the
// caller checks is what the WRITE answers acknowledged (SSH_FX_OK: all of that request's bytes
// written); an FSTAT of the handle for it was one more request per file, which OpenSSH's own
// client does not send either.
import type { Stats } from 'ssh2';
import type { SFTPWrapper } from 'ssh2';
import type { RemoteStat } from './session.js';

/** SSH_FX_NO_SUCH_FILE */
const NO_SUCH_FILE = 2;

function remoteStatOf(st: Stats): RemoteStat {
  return { size: st.size, type: st.isFile() ? 'file' : st.isDirectory() ? 'dir' : 'other', modifyTime: (st.mtime ?? 0) * 1000 };
}

function noSuchFile(e: unknown): boolean {
  return (e as { code?: unknown } | null)?.code === NO_SUCH_FILE;
}

/** One request and its answer; a synchronous throw of ssh2 (an extension the server lacks) rejects. */
function request<T = void>(send: (cb: (e: Error | null | undefined, v?: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    send((e, v) => (e ? reject(e) : resolve(v as T)));
  });
}

/** STAT; null when the server says there is no such file. */
export function statRequest(sftp: SFTPWrapper, remotePath: string): Promise<RemoteStat | null> {
  return request<Stats>((cb) => sftp.stat(remotePath, cb)).then(remoteStatOf, (e: unknown) => {
    if (noSuchFile(e)) return null;
    throw e;
  });
}

/** REMOVE; with `missingOk`, a file already gone is no error. */
export function removeRequest(sftp: SFTPWrapper, remotePath: string, missingOk: boolean): Promise<void> {
  return request((cb) => sftp.unlink(remotePath, cb)).catch((e: unknown) => {
    if (!(missingOk && noSuchFile(e))) throw e;
  });
}

export function mkdirRequest(sftp: SFTPWrapper, dir: string): Promise<void> {
  return request((cb) => sftp.mkdir(dir, cb));
}

/** posix-rename@openssh.com (replaces an existing target) or the plain RENAME (refuses one on OpenSSH). */
export function renameRequest(sftp: SFTPWrapper, from: string, to: string, posix: boolean): Promise<void> {
  return request((cb) => (posix ? sftp.ext_openssh_rename(from, to, cb) : sftp.rename(from, to, cb)));
}

/** Bytes per WRITE request: under ssh2's 32 KB default packet limit, so none is split. */
const WRITE_CHUNK = 32 * 1024;
/** WRITE requests outstanding at once, so a big file does not queue all of its chunks in memory twice. */
const WRITE_WINDOW = 16;

export function putPipelined(
  sftp: SFTPWrapper,
  data: Buffer,
  remotePath: string,
  probe: string,
  touch: () => void,
  hold: () => void,
): Promise<{ written: number; probed: RemoteStat | null }> {
  // the requests sent together leave in one socket write instead of one each (hold: the
  // session's socket stays corked until the end of this turn of the event loop)
  const corked = (send: () => void): void => {
    hold();
    send();
  };
  return new Promise((resolve, reject) => {
    hold();
    sftp.open(remotePath, 'w', { mode: 0o644 }, (err, handle) => {
      if (err) return reject(err);
      touch();
      let failure: unknown;
      /** bytes whose WRITE the server answered with OK */
      let written = 0;
      let probed: RemoteStat | null = null;
      let pending = 0;
      let next = 0;
      let tailSent = false;
      const settle = (): void => {
        if (pending > 0 || !tailSent) return;
        if (failure !== undefined) reject(failure);
        else resolve({ written, probed });
      };
      const note = (e: unknown): void => {
        if (e && failure === undefined) failure = e;
      };
      const sendTail = (): void => {
        tailSent = true;
        if (failure !== undefined) {
          // the put has failed: the handle is closed without waiting for an answer, which a
          // channel that died with the failure never gives (ssh2 drops requests sent after it)
          try {
            sftp.close(handle, () => undefined);
          } catch {
            /* the channel is gone: so is the handle */
          }
          reject(failure);
          return;
        }
        pending += 2;
        sftp.close(handle, (e) => {
          pending--;
          touch();
          note(e);
          settle();
        });
        sftp.stat(probe, (e, st) => {
          pending--;
          if (e) {
            if (!noSuchFile(e)) note(e);
          } else probed = remoteStatOf(st);
          settle();
        });
      };
      const pump = (): void => {
        while (failure === undefined && next < data.length && pending < WRITE_WINDOW) {
          const off = next;
          const len = Math.min(WRITE_CHUNK, data.length - off);
          next += len;
          pending++;
          sftp.write(handle, data, off, len, off, (e) => {
            pending--;
            touch();
            if (e) note(e);
            else written += len;
            corked(pump);
            settle();
          });
        }
        // CLOSE only once every WRITE is answered: a server may serve the requests of one handle
        // concurrently (the sandbox does), and a CLOSE that overtakes a WRITE fails the put. After a failed write the rest is not sent; the
        // handle is closed all the same.
        if (!tailSent && pending === 0 && (next >= data.length || failure !== undefined)) sendTail();
      };
      corked(pump);
    });
  });
}
