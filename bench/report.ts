// Shared shapes of the bench: options, the context a section runs in, the summary rows it
// returns, and the formatting of the report. A section is one module exporting a `Section`;
// run.ts lists them in order (conversion today; the SFTP upload figures vs OpenSSH `sftp -b`
// are meant to be another module of the same shape).
import type { MachineInfo } from './machine.js';
import type { RssMethod } from './measure.js';

export interface BenchOptions {
  /** messages in the throughput file (default 100,000) */
  messages: number;
  /** run the big-input memory check */
  big: boolean;
  /** size of the big input, MB (10^6 bytes) */
  bigMb: number;
  seed: number;
  /** keep the temp dir (for inspection) */
  keep: boolean;
}

export interface BenchContext {
  opts: BenchOptions;
  /** the repository root: the child runs `node bin/tlbridge.js` here */
  repo: string;
  /** this run's temp dir (os.tmpdir()/tlbridge-bench-*), removed at the end */
  tmp: string;
  machine: MachineInfo;
  rssMethod: RssMethod;
  /** a report line (stdout) */
  out(line?: string): void;
  /** a progress line (stderr), not part of the report */
  progress(line: string): void;
}

/** PASS/MISS against a target; FAIL = the measurement itself went wrong; INFO = no target. */
export type Verdict = 'PASS' | 'MISS' | 'FAIL' | 'SKIP' | 'INFO';

export interface SummaryRow {
  section: string;
  metric: string;
  value: string;
  target?: string;
  verdict: Verdict;
}

export interface Section {
  /** short name used in the summary table */
  name: string;
  title: string;
  run(ctx: BenchContext): Promise<SummaryRow[]>;
}

export const MB = 1e6;

export function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function fmtNum(n: number, digits = 1): string {
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function fmtSecs(ms: number): string {
  return `${fmtNum(ms / 1000, 2)} s`;
}

export function fmtMb(bytes: number): string {
  return `${fmtNum(bytes / MB, 1)} MB`;
}

export function heading(title: string): string[] {
  return ['', title, '-'.repeat(title.length)];
}

/** A plain-text table with aligned columns. */
export function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
}

export function summaryTable(rows: SummaryRow[]): string[] {
  return table(
    ['section', 'metric', 'value', 'target', 'result'],
    rows.map((r) => [r.section, r.metric, r.value, r.target ?? '', r.verdict]),
  );
}
