// Where a command writes; tests pass their own to read what a command printed.
export interface Io {
  out(line: string): void;
  err(line: string): void;
  /** the streams behind out and err, when there are any: whether they are terminals decides
   * the help text's width and whether long work shows progress (on stderr only) */
  stdout?: NodeJS.WriteStream;
  stderr?: NodeJS.WriteStream;
}

export const processIo: Io = {
  out: (l) => process.stdout.write(l + '\n'),
  err: (l) => process.stderr.write(l + '\n'),
  stdout: process.stdout,
  stderr: process.stderr,
};

/** A wrong command line: exit 2 (product.md 4). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const EXIT = { OK: 0, FAILED: 1, USAGE: 2 } as const;
