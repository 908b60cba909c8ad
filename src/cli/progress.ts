// Progress of long work (product.md 4): a bar on stderr while a terminal watches, nothing
// otherwise. Never on stdout, so `--json` output and piped results stay clean; when stderr is
// not a terminal (journald, a pipe, a file, a test) every call is a no-op.
import cliProgress from 'cli-progress';

export interface Progress {
  /** sets the amount done; `fields` fill the `{name}` placeholders of `detail` */
  update(done: number, fields?: Record<string, string | number>): void;
  /** adds to the amount done */
  increment(by?: number, fields?: Record<string, string | number>): void;
  /** the total grew (or shrank) while the work runs */
  setTotal(total: number): void;
  /** removes the bar; call before printing the result */
  stop(): void;
}

export interface ProgressOptions {
  total: number;
  /** 'bytes' shows sizes (KB, MB, GB); any other unit is a count of that unit */
  unit: string;
  /** what is being worked on, first on the line */
  label?: string;
  /** more of the line after the counts, with `{name}` placeholders filled by update() */
  detail?: string;
  /** initial values of the placeholders in `detail` */
  fields?: Record<string, string | number>;
  /** where the bar goes; no bar unless this is a terminal (normally process.stderr) */
  stream?: NodeJS.WriteStream;
  /** the command prints JSON: no bar even on a terminal */
  json?: boolean;
}

export const NO_PROGRESS: Progress = { update() {}, increment() {}, setTotal() {}, stop() {} };

/** Sizes as an operator reads them: 1023 B, 12.3 MB. */
export function formatBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

export function startProgress(opts: ProgressOptions): Progress {
  const stream = opts.stream;
  if (opts.json || !stream?.isTTY) return NO_PROGRESS;
  const bytes = opts.unit === 'bytes';
  const counts = bytes ? '{done} of {all}' : `{value} of {total} ${opts.unit}`;
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: `${opts.label ? `${opts.label} ` : ''}[{bar}] {percentage}% ${counts}${opts.detail ? `, ${opts.detail}` : ''}, eta {eta_formatted}`,
      barsize: 20,
      // the terminal's own line; trimmed to its width instead of wrapping into a second line
      linewrap: true,
      clearOnComplete: true,
      // cli-progress's own SIGINT/SIGTERM handlers would swallow Ctrl-C: the command must still stop
      gracefulExit: false,
      hideCursor: false,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  let total = opts.total;
  const sizes = (done: number) => (bytes ? { done: formatBytes(done), all: formatBytes(total) } : {});
  let done = 0;
  bar.start(opts.total, 0, { ...opts.fields, ...sizes(0) });
  let stopped = false;
  return {
    update(n, fields) {
      done = n;
      bar.update(n, { ...fields, ...sizes(n) });
    },
    increment(by = 1, fields) {
      done += by;
      bar.update(done, { ...fields, ...sizes(done) });
    },
    setTotal(n) {
      total = n;
      bar.setTotal(n);
    },
    stop() {
      if (stopped) return;
      stopped = true;
      bar.stop();
    },
  };
}
