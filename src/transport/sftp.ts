// One SFTP session (ssh2-sftp-client on ssh2) and the upload protocol of product.md 5.
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
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { normalizeFingerprint, sha256Fingerprint } from './fingerprint.js';

export interface SftpEndpoint {
  host: string;
  port: number;
  username: string;
  privateKey?: Buffer;
  passphrase?: string;
  password?: string;
  hostKeySha256: string[]; // allowed fingerprints (a list allows rotation); must be non-empty
  timeoutMs: number; // connect AND every single operation
  tempSuffix: string; // e.g. ".part"
  label?: string; // partner name for error messages
}

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

export interface UploadResult {
  outcome: 'uploaded' | 'already-present';
  remotePath: string;
}

/** Any failure of the transport; `code` is the underlying code where there is one (ENOENT, ECONNREFUSED, ...). */
export class SftpError extends Error {
  code: string | undefined;
  constructor(message: string, code?: string | number) {
    super(message);
    this.name = 'SftpError';
    this.code = code === undefined ? undefined : String(code);
  }
}

export class HostKeyMismatchError extends SftpError {
  expected: string[];
  actual: string;
  constructor(expected: string[], actual: string, context = 'sftp') {
    super(
      `${context}: host key mismatch: expected one of [${expected.join(', ')}], got ${actual}; connection refused`,
      'HOST_KEY_MISMATCH',
    );
    this.name = 'HostKeyMismatchError';
    this.expected = [...expected];
    this.actual = actual;
  }
}

export class UploadConflictError extends SftpError {
  remotePath: string;
  localSize: number;
  remoteSize: number;
  constructor(remotePath: string, localSize: number, remoteSize: number, context = 'sftp') {
    super(
      `${context}: upload conflict: ${remotePath} already exists on the server with ${remoteSize} bytes, ` +
        `ours has ${localSize} bytes; not overwritten`,
      'UPLOAD_CONFLICT',
    );
    this.name = 'UploadConflictError';
    this.remotePath = remotePath;
    this.localSize = localSize;
    this.remoteSize = remoteSize;
  }
}

export class SftpTimeoutError extends SftpError {
  constructor(message: string) {
    super(message, 'ETIMEDOUT');
    this.name = 'SftpTimeoutError';
  }
}

export class DownloadTooLargeError extends SftpError {
  remotePath: string;
  maxBytes: number;
  size: number; // size seen (stat), or bytes counted when the stream went past the cap
  constructor(remotePath: string, size: number, maxBytes: number, context = 'sftp') {
    super(`${context}: download ${remotePath}: ${size} bytes exceeds the limit of ${maxBytes} bytes`, 'TOO_LARGE');
    this.name = 'DownloadTooLargeError';
    this.remotePath = remotePath;
    this.maxBytes = maxBytes;
    this.size = size;
  }
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

const TRANSFER_CHUNK = 64 * 1024;

export class SftpSession {
  private readonly knownDirs = new Set<string>();
  private readonly ep: SftpEndpoint;
  private readonly allowed: string[];
  private readonly context: string;
  private readonly secrets: string[];
  private readonly client: SftpClient;
  private readonly raw: SshClient;
  private posixRenameSupport: boolean | null = null; // null: not known, find out on first rename
  private closedFlag = false;
  private closeReason = '';
  private closing: Promise<void> | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private inFlight = false;

  private constructor(ep: SftpEndpoint, allowed: string[]) {
    this.ep = ep;
    this.allowed = allowed;
    this.context = `sftp ${ep.label ? ep.label + ' ' : ''}(${ep.username}@${ep.host}:${ep.port})`;
    this.secrets = collectSecrets(ep);
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
  }

  /** Connects, verifies the host key against `ep.hostKeySha256`, opens the SFTP subsystem. */
  static async connect(ep: SftpEndpoint): Promise<SftpSession> {
    const allowed = checkEndpoint(ep);
    const s = new SftpSession(ep, allowed);
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

  /**
   * Upload protocol (product.md 5): mkdir -p remoteDir; write `<name><tempSuffix>` (replacing a
   * stale temp); if `<name>` exists with the same size -> remove temp, 'already-present'; with a
   * different size -> remove temp, UploadConflictError (never overwritten); else rename temp ->
   * name (posix-rename where offered) -> 'uploaded'.
   */
  upload(data: Buffer, remoteDir: string, name: string): Promise<UploadResult> {
    try {
      checkBaseName(name);
    } catch (e) {
      return Promise.reject(e);
    }
    const dir = trimDir(remoteDir);
    const finalPath = joinRemote(dir, name);
    const tempPath = finalPath + this.ep.tempSuffix;
    return this.exclusive(async () => {
      await this.mkdirpRaw(dir);
      try {
        await this.putRaw(data, tempPath);
      } catch (e) {
        this.knownDirs.delete(dir);
        throw e;
      }
      const written = await this.statRaw(tempPath);
      if (!written || written.size !== data.length) {
        await this.removeRaw(tempPath, true).catch(() => undefined);
        throw new SftpError(
          `${this.context}: upload ${tempPath}: wrote ${data.length} bytes but the server has ${written ? written.size : 'no file'}`,
        );
      }
      const existing = await this.statRaw(finalPath);
      if (existing) return this.settleExisting(existing, tempPath, finalPath, data.length);
      try {
        await this.renameRaw(tempPath, finalPath);
      } catch (e) {
        if (e instanceof SftpTimeoutError || this.closedFlag) throw e;
        // A plain rename refuses an existing target: someone (or an earlier attempt) got there first.
        const now = await this.statRaw(finalPath);
        if (now) return this.settleExisting(now, tempPath, finalPath, data.length);
        throw e;
      }
      return { outcome: 'uploaded', remotePath: finalPath };
    });
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
    this.markClosed('closed');
    this.closing = new Promise<void>((resolve) => {
      if (wasClosed || this.inFlight) {
        this.destroy();
        resolve();
        return;
      }
      const timer = setTimeout(() => {
        this.destroy();
        resolve();
      }, this.ep.timeoutMs);
      this.client.end().then(
        () => {
          clearTimeout(timer);
          this.destroy();
          resolve();
        },
        () => {
          clearTimeout(timer);
          this.destroy();
          resolve();
        },
      );
    });
    return this.closing;
  }

  // ---------------------------------------------------------------- internals

  private async open(): Promise<void> {
    const ep = this.ep;
    let seen: string | undefined;
    let mismatch = false;
    const keepaliveInterval = Math.min(15_000, Math.max(1_000, Math.floor(ep.timeoutMs / 3)));
    const cfg: SftpClient.ConnectOptions = {
      host: ep.host,
      port: ep.port,
      username: ep.username,
      readyTimeout: ep.timeoutMs,
      keepaliveInterval,
      keepaliveCountMax: 3,
      tryKeyboard: false,
      // Without hostHash, ssh2 hands over the raw public key blob.
      hostVerifier: (key: Buffer): boolean => {
        seen = sha256Fingerprint(key);
        const ok = this.allowed.includes(seen);
        if (!ok) mismatch = true;
        return ok;
      },
    };
    if (ep.privateKey) cfg.privateKey = ep.privateKey;
    if (ep.passphrase !== undefined) cfg.passphrase = ep.passphrase;
    if (ep.password !== undefined) cfg.password = ep.password;
    let sftp: SFTPWrapper;
    try {
      sftp = await this.timed('connect', () => this.client.connect(cfg), { wrap: false });
    } catch (e) {
      this.markClosed('connect failed');
      this.destroy();
      if (mismatch && seen) throw new HostKeyMismatchError(this.allowed, seen, this.context);
      if (e instanceof SftpTimeoutError) throw e;
      const msg = this.redact(errMessage(e));
      if (/timed out/i.test(msg)) {
        throw new SftpTimeoutError(`${this.context}: connect timed out after ${ep.timeoutMs} ms (${msg})`);
      }
      throw new SftpError(`${this.context}: connect failed: ${msg}`, errCode(e));
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
   * Runs one operation under our own timer. `touch` restarts the timer (transfers call it on
   * every chunk, so they are bounded by inactivity). On timeout the connection is destroyed and
   * the session marked closed; the library's late rejection is swallowed.
   */
  private timed<T>(
    what: string,
    start: (touch: () => void) => Promise<T>,
    opts: { wrap?: boolean } = {},
  ): Promise<T> {
    const ms = this.ep.timeoutMs;
    const wrap = opts.wrap ?? true;
    return new Promise<T>((resolve, reject) => {
      let done = false;
      let timer: NodeJS.Timeout | undefined;
      const onTimeout = (): void => {
        if (done) return;
        done = true;
        this.markClosed(`${what} timed out`);
        this.destroy();
        reject(new SftpTimeoutError(`${this.context}: ${what} timed out after ${ms} ms`));
      };
      const arm = (): void => {
        if (timer) clearTimeout(timer);
        timer = setTimeout(onTimeout, ms);
      };
      const finish = (): boolean => {
        if (done) return false;
        done = true;
        if (timer) clearTimeout(timer);
        return true;
      };
      arm();
      let p: Promise<T>;
      try {
        p = start(() => {
          if (!done) arm();
        });
      } catch (e) {
        if (finish()) reject(wrap ? this.wrapError(what, e) : e);
        return;
      }
      p.then(
        (v) => {
          if (finish()) resolve(v);
        },
        (e: unknown) => {
          if (finish()) reject(wrap ? this.wrapError(what, e) : e);
        },
      );
    });
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

  private async mkdirpRaw(dir: string): Promise<void> {
    if (dir === '' || dir === '/' || dir === '.') return;
    // a folder this session has seen is not asked for again: one round trip less per upload
    // (forgotten when an upload into it fails, in case it was removed meanwhile)
    if (this.knownDirs.has(dir)) return;
    await this.mkdirpUncached(dir);
    this.knownDirs.add(dir);
  }

  private async mkdirpUncached(dir: string): Promise<void> {
    const whole = await this.statRaw(dir);
    if (whole) {
      if (whole.type === 'dir') return;
      throw new SftpError(`${this.context}: mkdir ${dir}: exists and is not a directory`, 'ENOTDIR');
    }
    const absolute = dir.startsWith('/');
    let cur = absolute ? '' : '.';
    for (const part of dir.split('/').filter((p) => p !== '' && p !== '.')) {
      cur = cur === '' ? `/${part}` : `${cur}/${part}`;
      const st = await this.statRaw(cur);
      if (st?.type === 'dir') continue;
      if (st) throw new SftpError(`${this.context}: mkdir ${cur}: exists and is not a directory`, 'ENOTDIR');
      try {
        await this.timed(`mkdir ${cur}`, () => this.client.mkdir(cur, false));
      } catch (e) {
        if (e instanceof SftpTimeoutError || this.closedFlag) throw e;
        // Another connection may have created it in between (pool uploads to the same folder).
        const again = await this.statRaw(cur);
        if (again?.type !== 'dir') throw e;
      }
    }
  }

  private async putRaw(data: Buffer, remotePath: string): Promise<void> {
    await this.timed(`put ${remotePath}`, (touch) => {
      let offset = 0;
      const src = new Readable({
        read() {
          touch();
          if (offset >= data.length) {
            this.push(null);
            return;
          }
          const end = Math.min(offset + TRANSFER_CHUNK, data.length);
          this.push(data.subarray(offset, end));
          offset = end;
        },
      });
      // flags 'w': create or truncate, so a stale temp from an earlier crash is replaced.
      return this.client.put(src, remotePath, { writeStreamOptions: { flags: 'w' } });
    });
  }

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
        await this.timed(`posix-rename ${from} -> ${to}`, () => this.client.posixRename(from, to));
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
    await this.timed(`rename ${from} -> ${to}`, () => this.client.rename(from, to));
  }

  private async settleExisting(
    existing: RemoteStat,
    tempPath: string,
    finalPath: string,
    size: number,
  ): Promise<UploadResult> {
    if (existing.type === 'file' && existing.size === size) {
      await this.removeRaw(tempPath, true);
      return { outcome: 'already-present', remotePath: finalPath };
    }
    await this.removeRaw(tempPath, true).catch(() => undefined);
    throw new UploadConflictError(finalPath, size, existing.size, this.context);
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
    const err = new SftpError(`${this.context}: ${what}: ${msg}`, errCode(e));
    return err;
  }

  private redact(msg: string): string {
    let out = msg;
    for (const s of this.secrets) if (out.includes(s)) out = out.split(s).join('[redacted]');
    return out;
  }
}

// ---------------------------------------------------------------- helpers

function checkEndpoint(ep: SftpEndpoint): string[] {
  const problems: string[] = [];
  if (!ep.host) problems.push('host is empty');
  if (!Number.isInteger(ep.port) || ep.port < 1 || ep.port > 65535) problems.push(`port ${ep.port} is not 1..65535`);
  if (!ep.username) problems.push('username is empty');
  if (!ep.privateKey && ep.password === undefined) problems.push('neither privateKey nor password given');
  if (!Number.isFinite(ep.timeoutMs) || ep.timeoutMs <= 0) problems.push('timeoutMs must be > 0');
  if (!ep.tempSuffix || ep.tempSuffix.includes('/')) problems.push('tempSuffix must be non-empty without "/"');
  const allowed: string[] = [];
  if (!Array.isArray(ep.hostKeySha256) || ep.hostKeySha256.length === 0) {
    problems.push('hostKeySha256 must list at least one fingerprint');
  } else {
    for (const fp of ep.hostKeySha256) {
      const n = typeof fp === 'string' ? normalizeFingerprint(fp) : null;
      if (n) allowed.push(n);
      else problems.push(`hostKeySha256 entry ${JSON.stringify(fp)} is not a SHA256:... fingerprint`);
    }
  }
  if (problems.length) {
    const who = ep.label ?? `${ep.username}@${ep.host}:${ep.port}`;
    throw new SftpError(`sftp ${who}: invalid endpoint: ${problems.join('; ')}`, 'ERR_CONFIG');
  }
  return allowed;
}

function collectSecrets(ep: SftpEndpoint): string[] {
  const out: string[] = [];
  const add = (s: string | undefined): void => {
    if (s && s.length >= 4) out.push(s);
  };
  add(ep.password);
  add(ep.passphrase);
  if (ep.privateKey) {
    const text = ep.privateKey.toString('utf8');
    add(text.trim());
    for (const line of text.split(/\r?\n/)) if (line.trim().length >= 16) add(line.trim());
  }
  return out.sort((a, b) => b.length - a.length);
}

/** Base names only: no path separator, no control characters, not "." or "..". */
function checkBaseName(name: string): void {
  // eslint-disable-next-line no-control-regex
  if (!name || name === '.' || name === '..' || /[/\\\u0000-\u001f\u007f]/.test(name)) {
    throw new SftpError(`invalid remote file name ${JSON.stringify(name)}`, 'ERR_BAD_NAME');
  }
}

function trimDir(dir: string): string {
  if (dir === '/' || dir === '') return dir;
  return dir.replace(/\/+$/, '') || '/';
}

function joinRemote(dir: string, name: string): string {
  if (dir === '' || dir === '.') return name;
  return dir.endsWith('/') ? dir + name : `${dir}/${name}`;
}

function listType(t: string): RemoteEntryType {
  return t === '-' ? 'file' : t === 'd' ? 'dir' : 'other';
}

function errMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

// SFTP status codes that ssh2-sftp-client passes through as numbers.
const SFTP_STATUS: Record<number, string> = { 2: 'ENOENT', 3: 'EACCES', 8: 'ENOTSUP' };

function errCode(e: unknown): string | undefined {
  const c = (e as { code?: unknown } | null)?.code;
  if (c === undefined || c === null) return undefined;
  if (typeof c === 'number' && SFTP_STATUS[c]) return SFTP_STATUS[c];
  return String(c);
}

function isUnsupported(e: unknown): boolean {
  const code = errCode(e);
  return code === '8' || code === 'ENOTSUP' || /not support|unsupported/i.test(errMessage(e));
}
