// One SFTP session (ssh2-sftp-client on ssh2): connect with the pinned host key, then stat,
// list, download, remove, rename, mkdir -p and upload (the protocol itself is upload.ts).
//
// What this file guarantees, whatever the server does:
// - the host key is pinned (ssh2 `hostVerifier`), never trusted on first use;
// - connect and every single operation are bounded by `timeoutMs` (a transfer by inactivity:
//   no byte moved for `timeoutMs`); a timed-out session is torn down and marked closed;
// - one operation at a time per session (calls are queued, never interleaved);
// - secrets (key, passphrase, password) never appear in error messages;
// - `close()` never hangs (ssh2-sftp-client's end() can, #526).
import SftpClient from 'ssh2-sftp-client';
import type { Client as SshClient, SFTPWrapper } from 'ssh2';
import { createWriteStream } from 'node:fs';
import { unlink } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ByteLimit, ByteLimitExceededError } from './streams.js';
import { checkEndpoint, connectOptions, redactor, type SftpEndpoint } from './endpoint.js';
import { DownloadTooLargeError, HostKeyMismatchError, SftpError, SftpTimeoutError, errCode, errMessage, isUnsupported } from './errors.js';
import { sha256Fingerprint } from './fingerprint.js';
import { withInactivityTimeout } from './timeout.js';
import { listType, readdirCapped } from './listing.js';
import { mkdirRequest, putPipelined, removeRequest, renameRequest, statRequest } from './put.js';
import { fetchPipelined, removePipelined, type FetchResult, type RemoveResult } from './fetch.js';
import { makeDirs, trimDir, uploadEach, uploadFile, uploadTarget, type UploadJob, type UploadOps, type UploadResult, type UploadTarget } from './upload.js';

export type RemoteEntryType = 'file' | 'dir' | 'other';

export interface RemoteEntry {
  name: string;
  size: number;
  modifyTime: number; // ms since epoch
  type: RemoteEntryType;
}

export interface RemoteStat {
  size: number;
  type: RemoteEntryType;
  modifyTime: number; // ms since epoch
}

// ssh2-sftp-client keeps these on the instance; its typings do not declare them.
interface ClientInternals {
  client: SshClient;
  sftp?: SFTPWrapper;
}
// ssh2's SFTP object records the server's extensions (name -> data) from the VERSION reply
// during init (lib/protocol/SFTP.js: `sftp._extensions = extensions`).
interface SftpInternals {
  _extensions?: Record<string, string>;
}

export class SftpSession {
  private readonly knownDirs = new Set<string>();
  /** mkdir -p under way, by folder: the uploads of one session into a new folder wait for one */
  private readonly makingDirs = new Map<string, Promise<void>>();
  /** the socket is corked until the end of this turn of the event loop (hold()) */
  private held = false;
  private readonly ep: SftpEndpoint;
  private readonly allowed: string[];
  private readonly context: string;
  private readonly redact: (msg: string) => string;
  private readonly client: SftpClient;
  private readonly raw: SshClient;
  // the raw operations the upload protocol runs on, inside one exclusive() call
  private readonly ops: UploadOps;
  private posixRenameSupport: boolean | null = null; // null: not known, find out on first rename
  private closedFlag = false;
  private closeReason = '';
  private closing: Promise<void> | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private inFlight = false;
  /** while the handshake runs: fails it at once (close() during the connect, the pool's abandon) */
  private abandonConnect: (() => void) | undefined;

  private constructor(ep: SftpEndpoint, allowed: string[]) {
    this.ep = ep;
    this.allowed = allowed;
    this.context = `sftp ${ep.label ? ep.label + ' ' : ''}(${ep.username}@${ep.host}:${ep.port})`;
    this.redact = redactor(ep);
    // Our own callbacks instead of the library's console.log/console.error defaults.
    const note = (why: string) => () => this.markClosed(why);
    this.client = new SftpClient(ep.label ?? 'tlbridge', {
      error: (e: unknown) => this.markClosed(`error: ${this.redact(errMessage(e))}`),
      end: note('connection ended'),
      close: note('connection closed'),
    });
    this.raw = (this.client as unknown as ClientInternals).client;
    // Listeners of our own directly on the ssh2 client: the library's global listeners skip
    // events that one of its per-operation listeners already handled, and a dropped connection
    // may show only as 'end'.
    this.raw.on('error', (e: unknown) => this.markClosed(`error: ${this.redact(errMessage(e))}`));
    this.raw.on('end', () => this.markClosed('connection ended'));
    this.raw.on('close', () => this.markClosed('connection closed'));
    // plain requests on the raw channel (put.ts), which several uploads may have outstanding at once
    this.ops = {
      context: this.context,
      mkdirp: (dir) => this.mkdirpRaw(dir),
      mkdir: (dir) => this.request(`mkdir ${dir}`, (sftp) => mkdirRequest(sftp, dir)),
      forgetDir: (dir) => this.knownDirs.delete(dir),
      put: (data, remotePath, probe) => this.request(`put ${remotePath}`, (sftp, touch) => putPipelined(sftp, data, remotePath, probe, touch, this.hold)),
      stat: (remotePath) => this.request(`stat ${remotePath}`, (sftp) => statRequest(sftp, remotePath)),
      remove: (remotePath, missingOk) => this.request(`remove ${remotePath}`, (sftp) => removeRequest(sftp, remotePath, missingOk)),
      rename: (from, to) => this.renameRaw(from, to),
      isClosed: () => this.closedFlag,
    };
  }

  /** Connects, verifies the host key against `ep.hostKeySha256`, opens the SFTP subsystem.
   * `connecting` gets the session before its handshake: close() on it abandons the connect. */
  static async connect(ep: SftpEndpoint, connecting?: (s: SftpSession) => void): Promise<SftpSession> {
    const allowed = checkEndpoint(ep);
    const s = new SftpSession(ep, allowed);
    connecting?.(s);
    await s.open();
    return s;
  }

  /** Whether the server announced posix-rename@openssh.com (false until known otherwise). */
  get supportsPosixRename(): boolean {
    return this.posixRenameSupport === true;
  }

  /** True after an error/end/close event, a timeout, or close(). A closed session is not reused. */
  get closed(): boolean {
    return this.closedFlag;
  }

  /** Why the session is closed ('' while open). */
  get closedBecause(): string {
    return this.closeReason;
  }

  // ---------------------------------------------------------------- public operations

  /** The upload protocol of product.md 5 (upload.ts): temp name, size check, rename, never overwrite. */
  upload(data: Buffer, remoteDir: string, name: string): Promise<UploadResult> {
    let target: UploadTarget;
    try {
      target = uploadTarget(remoteDir, name, this.ep.tempSuffix);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.exclusive(() => uploadFile(this.ops, data, target));
  }

  /**
   * The same protocol for many files, up to `depth` of them in flight on this session's one
   * channel, so each file's round trips overlap the others' (upload.ts uploadEach): `next`
   * gives the next file (null: none left), `done` each one's outcome. Ends once `next` gave
   * null and every upload has ended; a session that fails (closed, timed out) takes no more.
   */
  uploadMany<J extends UploadJob>(next: () => J | null | Promise<J | null>, depth: number, done: (job: J, r: UploadResult | undefined, e?: unknown) => void): Promise<void> {
    return this.exclusive(() => uploadEach(this.ops, this.ep.tempSuffix, depth, next, done));
  }

  /** Size, type and mtime of a remote path; null when it does not exist. */
  stat(remotePath: string): Promise<RemoteStat | null> {
    return this.exclusive(() => this.statRaw(remotePath));
  }

  list(remoteDir: string): Promise<RemoteEntry[]> {
    return this.exclusive(async () => {
      const items = await this.timed(`list ${remoteDir}`, () => this.client.list(remoteDir));
      return items.map((i) => ({
        name: i.name,
        size: i.size,
        modifyTime: i.modifyTime,
        type: listType(i.type as string),
      }));
    });
  }

  /**
   * At most `maxEntries` entries of a folder, in the server's order, read chunk by chunk (raw
   * READDIR), so a folder holding a million names never sits in memory at once (acks are
   * untrusted input, product.md 6); `more`: the folder holds more than that. No `.` and `..`.
   */
  listCapped(remoteDir: string, maxEntries: number): Promise<{ entries: RemoteEntry[]; more: boolean }> {
    return this.exclusive(() => this.timed(`list ${remoteDir}`, (touch) => this.readdirCapped(remoteDir, maxEntries, touch)));
  }

  /**
   * Streams a remote file into `localFile` (created/truncated, 0600). Refuses a file whose size
   * exceeds `maxBytes` before reading, and aborts if more than `maxBytes` arrive anyway (the file
   * grew). On any failure the partial local file is removed. Returns the number of bytes.
   */
  download(remotePath: string, localFile: string, maxBytes: number): Promise<number> {
    if (!Number.isFinite(maxBytes) || maxBytes < 0) {
      return Promise.reject(new RangeError('maxBytes must be a number >= 0'));
    }
    return this.exclusive(async () => {
      const st = await this.statRaw(remotePath);
      if (!st) throw new SftpError(`${this.context}: download ${remotePath}: no such file`, 'ENOENT');
      if (st.type !== 'file') throw new SftpError(`${this.context}: download ${remotePath}: not a regular file`);
      if (st.size > maxBytes) throw new DownloadTooLargeError(remotePath, st.size, maxBytes, this.context);
      let rs: Readable | undefined;
      let ws: ReturnType<typeof createWriteStream> | undefined;
      let limit: ByteLimit | undefined;
      try {
        await this.timed(`download ${remotePath}`, (touch) => {
          // Ask for at most maxBytes + 1 bytes: enough to notice an overrun, no more.
          rs = this.client.createReadStream(remotePath, { start: 0, end: maxBytes }) as unknown as Readable;
          limit = new ByteLimit(maxBytes, touch);
          ws = createWriteStream(localFile, { flags: 'w', mode: 0o600 });
          return pipeline(rs, limit, ws);
        });
        return limit!.bytes;
      } catch (e) {
        rs?.destroy();
        ws?.destroy();
        await unlink(localFile).catch(() => undefined);
        if (e instanceof ByteLimitExceededError) {
          throw new DownloadTooLargeError(remotePath, e.seen, maxBytes, this.context);
        }
        throw e;
      }
    });
  }

  /**
   * Reads several files into memory, several in flight at once (fetch.ts), each capped at
   * `maxBytes` (a longer one is `too-large`, never read past maxBytes + 1). One result per path,
   * in order: a file's own failure is its result; a timeout or a dead connection rejects.
   */
  readFiles(remotePaths: readonly string[], maxBytes: number): Promise<FetchResult[]> {
    if (!Number.isFinite(maxBytes) || maxBytes < 0) return Promise.reject(new RangeError('maxBytes must be a number >= 0'));
    return this.exclusive(async () => {
      const sftp = this.rawSftp();
      const out = await this.timed(`read ${remotePaths.length} file(s)`, (touch) => fetchPipelined(sftp, remotePaths, maxBytes, touch));
      return out.map((r, i) => (r.kind === 'failed' ? { kind: 'failed', error: this.wrapError(`read ${remotePaths[i]}`, r.error) } : r));
    });
  }

  /** Removes several files, the requests pipelined; one result per path, in order (a file already gone is `missing`). */
  removeFiles(remotePaths: readonly string[]): Promise<RemoveResult[]> {
    return this.exclusive(async () => {
      const sftp = this.rawSftp();
      const out = await this.timed(`remove ${remotePaths.length} file(s)`, (touch) => removePipelined(sftp, remotePaths, touch));
      return out.map((r, i) => (r.kind === 'failed' ? { kind: 'failed', error: this.wrapError(`remove ${remotePaths[i]}`, r.error) } : r));
    });
  }

  /** Removes a remote file. With `missingOk`, a file that is already gone is not an error. */
  remove(remotePath: string, opts: { missingOk?: boolean } = {}): Promise<void> {
    return this.exclusive(() => this.removeRaw(remotePath, opts.missingOk ?? false));
  }

  /** Renames; atomically replaces an existing target where posix-rename is offered, else fails on one. */
  rename(from: string, to: string): Promise<void> {
    return this.exclusive(() => this.renameRaw(from, to));
  }

  mkdirp(remoteDir: string): Promise<void> {
    return this.exclusive(() => this.mkdirpRaw(trimDir(remoteDir)));
  }

  /**
   * Ends the connection; never rejects. An idle session ends politely, bounded by timeoutMs
   * (then the socket is destroyed); with an operation in flight (abandon on shutdown) the
   * socket is destroyed at once, so that operation fails now instead of draining its writes.
   */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    const wasClosed = this.closedFlag;
    const connecting = this.abandonConnect;
    this.markClosed('closed');
    connecting?.();
    this.closing = new Promise<void>((resolve) => {
      if (wasClosed || this.inFlight || connecting) {
        this.destroy();
        resolve();
        return;
      }
      const timer = setTimeout(() => {
        this.destroy();
        resolve();
      }, this.ep.timeoutMs);
      const ended = (): void => {
        clearTimeout(timer);
        this.destroy();
        resolve();
      };
      this.client.end().then(ended, ended);
    });
    return this.closing;
  }

  // ---------------------------------------------------------------- internals

  private async open(): Promise<void> {
    const ep = this.ep;
    let seen: string | undefined;
    let mismatch = false;
    const cfg = connectOptions(ep, (key) => {
      seen = sha256Fingerprint(key);
      const ok = this.allowed.includes(seen);
      if (!ok) mismatch = true;
      return ok;
    });
    let sftp: SFTPWrapper;
    // a frozen server holds the handshake for timeoutMs: a close() meanwhile (the pool's abandon
    // at shutdown) fails it at once, and the destroyed socket ends the library's connect too
    const abandonedError = new SftpError(`${this.context}: connect abandoned: the session was closed`);
    const abandoned = new Promise<never>((_, reject) => {
      this.abandonConnect = () => reject(abandonedError);
    });
    try {
      sftp = await Promise.race([this.timed('connect', () => this.client.connect(cfg), { wrap: false }), abandoned]);
    } catch (e) {
      if (e === abandonedError) throw e;
      this.markClosed('connect failed');
      this.destroy();
      if (mismatch && seen) throw new HostKeyMismatchError(this.allowed, seen, this.context);
      if (e instanceof SftpTimeoutError) throw e;
      const msg = this.redact(errMessage(e));
      if (/timed out/i.test(msg)) {
        throw new SftpTimeoutError(`${this.context}: connect timed out after ${ep.timeoutMs} ms (${msg})`);
      }
      throw new SftpError(`${this.context}: connect failed: ${connectFailureText(msg, errCode(e))}`, errCode(e));
    } finally {
      this.abandonConnect = undefined;
    }
    if (this.closedFlag) {
      // The connection dropped between 'ready' and now.
      this.destroy();
      throw new SftpError(`${this.context}: connect failed: ${this.closeReason}`);
    }
    sftp.on('close', () => this.markClosed('sftp channel closed'));
    sftp.on('end', () => this.markClosed('sftp channel ended'));
    const ext = (sftp as unknown as SftpInternals)._extensions;
    if (ext && typeof ext === 'object') {
      this.posixRenameSupport = ext['posix-rename@openssh.com'] === '1';
    } // else unknown: renameRaw tries posix-rename and falls back on "not supported"
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(async () => {
      if (this.closedFlag) throw this.closedError();
      this.inFlight = true;
      try {
        return await fn();
      } finally {
        this.inFlight = false;
      }
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Runs one operation under our own timer (timeout.ts). On timeout the connection is destroyed
   * and the session marked closed; the library's late rejection is swallowed.
   */
  private timed<T>(
    what: string,
    start: (touch: () => void) => Promise<T>,
    opts: { wrap?: boolean } = {},
  ): Promise<T> {
    const ms = this.ep.timeoutMs;
    const wrap = opts.wrap ?? true;
    const onTimeout = (): Error => {
      this.markClosed(`${what} timed out`);
      this.destroy();
      return new SftpTimeoutError(`${this.context}: ${what} timed out after ${ms} ms`);
    };
    return withInactivityTimeout(ms, start, onTimeout, (e) => (wrap ? this.wrapError(what, e) : e));
  }

  private async statRaw(remotePath: string): Promise<RemoteStat | null> {
    try {
      const s = await this.timed(`stat ${remotePath}`, () => this.client.stat(remotePath));
      return {
        size: s.size,
        type: s.isFile ? 'file' : s.isDirectory ? 'dir' : 'other',
        modifyTime: s.modifyTime,
      };
    } catch (e) {
      if (e instanceof SftpError && e.code === 'ENOENT' && !(e instanceof SftpTimeoutError)) return null;
      throw e;
    }
  }

  private rawSftp(): SFTPWrapper {
    const sftp = (this.client as unknown as ClientInternals).sftp;
    if (!sftp || this.closedFlag) throw this.closedError();
    return sftp;
  }

  private readdirCapped(dir: string, max: number, touch: () => void): Promise<{ entries: RemoteEntry[]; more: boolean }> {
    const sftp = (this.client as unknown as ClientInternals).sftp;
    if (!sftp) return Promise.reject(new SftpError(`${this.context}: list ${dir}: not connected`));
    return readdirCapped(sftp, dir, max, touch);
  }

  private async mkdirpRaw(dir: string): Promise<void> {
    if (dir === '' || dir === '/' || dir === '.') return;
    // a folder this session has seen is not asked for again: one round trip less per upload
    // (forgotten when an upload into it fails, in case it was removed meanwhile)
    if (this.knownDirs.has(dir)) return;
    let making = this.makingDirs.get(dir);
    if (!making) {
      making = makeDirs(this.ops, dir).finally(() => this.makingDirs.delete(dir));
      this.makingDirs.set(dir, making);
    }
    await making;
    this.knownDirs.add(dir);
  }

  /**
   * One request of the upload protocol on the raw channel (put.ts) under its own timer. None
   * goes out on a closed session: ssh2 never answers a request sent on a channel that died.
   * A put is one operation of ours too: OPEN (create or truncate, so a stale temp from an
   * earlier crash is replaced; the mode goes in OPEN's attributes, where ssh2's write stream
   * sends a separate fchmod), then the WRITEs, a CLOSE and a STAT of the probe, timed by
   * inactivity.
   */
  private request<T>(what: string, send: (sftp: SFTPWrapper, touch: () => void) => Promise<T>): Promise<T> {
    const sftp = (this.client as unknown as ClientInternals).sftp;
    if (!sftp || this.closedFlag) return Promise.reject(this.closedError());
    return this.timed(what, (touch) => {
      this.hold();
      return send(sftp, touch);
    });
  }

  /** Corks the socket until the end of this turn of the event loop: the requests that the
   * answers read in one go give rise to (several uploads in flight) leave in one write. */
  private readonly hold = (): void => {
    if (this.held) return;
    const sock = (this.raw as unknown as { _sock?: { cork(): void; uncork(): void } })._sock;
    if (!sock) return;
    this.held = true;
    sock.cork();
    setImmediate(() => {
      this.held = false;
      sock.uncork();
    });
  };

  private async removeRaw(remotePath: string, missingOk: boolean): Promise<void> {
    try {
      await this.timed(`remove ${remotePath}`, () => this.client.delete(remotePath, missingOk));
    } catch (e) {
      if (missingOk && !(e instanceof SftpTimeoutError) && !this.closedFlag) {
        if ((await this.statRaw(remotePath)) === null) return;
      }
      throw e;
    }
  }

  private async renameRaw(from: string, to: string): Promise<void> {
    if (this.posixRenameSupport !== false) {
      try {
        await this.request(`posix-rename ${from} -> ${to}`, (sftp) => renameRequest(sftp, from, to, true));
        this.posixRenameSupport = true;
        return;
      } catch (e) {
        if (this.posixRenameSupport === null && !this.closedFlag && isUnsupported(e)) {
          this.posixRenameSupport = false;
        } else {
          throw e;
        }
      }
    }
    await this.request(`rename ${from} -> ${to}`, (sftp) => renameRequest(sftp, from, to, false));
  }

  private markClosed(reason: string): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.closeReason = reason;
  }

  private destroy(): void {
    try {
      this.raw.destroy();
    } catch {
      /* already gone */
    }
  }

  private closedError(): SftpError {
    return new SftpError(`${this.context}: session is closed (${this.closeReason})`, 'ERR_NOT_CONNECTED');
  }

  private wrapError(what: string, e: unknown): SftpError {
    if (e instanceof SftpError) return e;
    const msg = this.redact(errMessage(e));
    return new SftpError(`${this.context}: ${what}: ${msg}`, errCode(e));
  }
}

/** A connect() refused by the local packet filter (systemd's IPAddressDeny=, an OUTPUT drop)
 * fails with EPERM or EACCES, not ECONNREFUSED: say so, or it reads like a server problem. */
export function connectFailureText(msg: string, code: string | undefined): string {
  return code === 'EPERM' || code === 'EACCES' ? `connection refused by the local firewall (IPAddressDeny?): ${msg}` : msg;
}
