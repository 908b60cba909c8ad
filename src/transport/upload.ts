// The upload protocol of product.md 5, on the raw operations of one SFTP session:
//
//   mkdir -p <dir>; write <name><tempSuffix> (replacing a stale temp); check that every byte's
//   WRITE was acknowledged, and stat <name>, pipelined with the writes;
//   <name> present with the same size  -> remove temp, 'already-present';
//   <name> present with another size   -> remove temp, UploadConflictError (never overwritten);
//   else rename temp -> <name> (posix-rename where offered) -> 'uploaded'.
//
// A reader of the server never sees a half-written file under its final name, and a retry
// after a crash under the same name is safe: the temp is replaced, the final file never is.
// Each file is its own chain of requests, so several may be under way on one session
// (uploadEach): none of them waits for another's answers.
import { SftpError, SftpTimeoutError, UploadConflictError } from './errors.js';
import type { RemoteStat } from './session.js';

export interface UploadResult {
  outcome: 'uploaded' | 'already-present';
  remotePath: string;
}

/** What the protocol needs of a session; each call is one operation inside the session's queue. */
export interface UploadOps {
  /** "sftp <label> (user@host:port)", the start of every error message */
  readonly context: string;
  /** mkdir -p (makeDirs), skipping a folder the session has already seen */
  mkdirp(dir: string): Promise<void>;
  /** one folder, whose parent exists */
  mkdir(dir: string): Promise<void>;
  /** the folder may be gone: ask for it again next time */
  forgetDir(dir: string): void;
  /**
   * Create or truncate `remotePath` and write `data`; returns the bytes the server acknowledged
   * writing, and a stat of `probe` (null: not there) taken right after, in the same round trip.
   */
  put(data: Buffer, remotePath: string, probe: string): Promise<{ written: number; probed: RemoteStat | null }>;
  stat(remotePath: string): Promise<RemoteStat | null>;
  remove(remotePath: string, missingOk: boolean): Promise<void>;
  /** posix-rename where offered, else a plain rename (which refuses an existing target) */
  rename(from: string, to: string): Promise<void>;
  /** the session died (error/end/close event, timeout) */
  isClosed(): boolean;
}

export interface UploadTarget {
  dir: string;
  finalPath: string;
  tempPath: string;
}

/** Where `name` goes in `remoteDir`; throws SftpError when `name` is not a base name. */
export function uploadTarget(remoteDir: string, name: string, tempSuffix: string): UploadTarget {
  checkBaseName(name);
  const dir = trimDir(remoteDir);
  const finalPath = joinRemote(dir, name);
  return { dir, finalPath, tempPath: finalPath + tempSuffix };
}

export async function uploadFile(ops: UploadOps, data: Buffer, target: UploadTarget): Promise<UploadResult> {
  const { dir, finalPath, tempPath } = target;
  await ops.mkdirp(dir);
  let put: { written: number; probed: RemoteStat | null };
  try {
    put = await ops.put(data, tempPath, finalPath);
  } catch (e) {
    ops.forgetDir(dir);
    throw e;
  }
  if (put.written !== data.length) {
    await ops.remove(tempPath, true).catch(() => undefined);
    throw new SftpError(
      `${ops.context}: upload ${tempPath}: wrote ${data.length} bytes but the server acknowledged ${put.written}` +
        ' (its disk may be full, or the write was cut short); not renamed to its final name',
    );
  }
  const existing = put.probed;
  if (existing) return settleExisting(ops, existing, tempPath, finalPath, data.length);
  try {
    await ops.rename(tempPath, finalPath);
  } catch (e) {
    if (e instanceof SftpTimeoutError || ops.isClosed()) throw e;
    // A plain rename refuses an existing target: someone (or an earlier attempt) got there first.
    const now = await ops.stat(finalPath);
    if (now) return settleExisting(ops, now, tempPath, finalPath, data.length);
    throw e;
  }
  return { outcome: 'uploaded', remotePath: finalPath };
}

/** One file of uploadEach: `data` goes to `<dir>/<name>`. */
export interface UploadJob {
  data: Buffer;
  dir: string;
  name: string;
}

/**
 * uploadFile for the files `next` gives, `depth` at a time on the one session of `ops`: a
 * file's round trips overlap the others' (the server answers each request as it comes).
 * `done` gets every file's outcome, an error included; once the session has failed
 * (`isClosed`), `next` is not asked again, and what was in flight fails with it.
 */
export async function uploadEach<J extends UploadJob>(
  ops: UploadOps,
  tempSuffix: string,
  depth: number,
  next: () => J | null | Promise<J | null>,
  done: (job: J, r: UploadResult | undefined, e?: unknown) => void,
): Promise<void> {
  const worker = async (): Promise<void> => {
    while (!ops.isClosed()) {
      const job = await next();
      if (!job) return;
      let r: UploadResult;
      try {
        r = await uploadFile(ops, job.data, uploadTarget(job.dir, job.name, tempSuffix));
      } catch (e) {
        done(job, undefined, e);
        continue;
      }
      done(job, r);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, depth) }, worker));
}

async function settleExisting(
  ops: UploadOps,
  existing: RemoteStat,
  tempPath: string,
  finalPath: string,
  size: number,
): Promise<UploadResult> {
  if (existing.type === 'file' && existing.size === size) {
    await ops.remove(tempPath, true);
    return { outcome: 'already-present', remotePath: finalPath };
  }
  await ops.remove(tempPath, true).catch(() => undefined);
  throw new UploadConflictError(finalPath, size, existing.size, ops.context);
}

/** mkdir -p `dir`, one level at a time; a folder made meanwhile by another connection is fine. */
export async function makeDirs(ops: Pick<UploadOps, 'context' | 'stat' | 'mkdir' | 'isClosed'>, dir: string): Promise<void> {
  const whole = await ops.stat(dir);
  if (whole) {
    if (whole.type === 'dir') return;
    throw new SftpError(`${ops.context}: mkdir ${dir}: exists and is not a directory`, 'ENOTDIR');
  }
  const absolute = dir.startsWith('/');
  let cur = absolute ? '' : '.';
  for (const part of dir.split('/').filter((p) => p !== '' && p !== '.')) {
    cur = cur === '' ? `/${part}` : `${cur}/${part}`;
    const st = await ops.stat(cur);
    if (st?.type === 'dir') continue;
    if (st) throw new SftpError(`${ops.context}: mkdir ${cur}: exists and is not a directory`, 'ENOTDIR');
    try {
      await ops.mkdir(cur);
    } catch (e) {
      if (e instanceof SftpTimeoutError || ops.isClosed()) throw e;
      // Another connection may have created it in between (pool uploads to the same folder).
      const again = await ops.stat(cur);
      if (again?.type !== 'dir') throw e;
    }
  }
}

/** Base names only: no path separator, no control characters, not "." or "..". */
function checkBaseName(name: string): void {
  // eslint-disable-next-line no-control-regex
  if (!name || name === '.' || name === '..' || /[/\\\u0000-\u001f\u007f]/.test(name)) {
    throw new SftpError(`invalid remote file name ${JSON.stringify(name)}`, 'ERR_BAD_NAME');
  }
}

/** A remote folder without trailing slashes ("/" and "" stay as they are). */
export function trimDir(dir: string): string {
  if (dir === '/' || dir === '') return dir;
  return dir.replace(/\/+$/, '') || '/';
}

function joinRemote(dir: string, name: string): string {
  if (dir === '' || dir === '.') return name;
  return dir.endsWith('/') ? dir + name : `${dir}/${name}`;
}
