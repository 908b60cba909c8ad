// The transport's errors, and how a library error is read: its text, its code, whether it means
// "the server does not support this". Every failure of the transport is an SftpError, so a
// caller can tell a server problem from a bug; the subclasses are the cases a caller acts on.

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

export function errMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

// SFTP status codes that ssh2-sftp-client passes through as numbers.
const SFTP_STATUS = new Map<number, string>([
  [2, 'ENOENT'],
  [3, 'EACCES'],
  [8, 'ENOTSUP'],
]);

export function errCode(e: unknown): string | undefined {
  const c = (e as { code?: unknown } | null)?.code;
  if (c === undefined || c === null) return undefined;
  if (typeof c === 'number' && SFTP_STATUS.has(c)) return SFTP_STATUS.get(c);
  return String(c);
}

export function isUnsupported(e: unknown): boolean {
  const code = errCode(e);
  return code === '8' || code === 'ENOTSUP' || /not support|unsupported/i.test(errMessage(e));
}
