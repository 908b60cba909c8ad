// Shared shapes of the bench: options, the context a section runs in, the summary rows it
// returns, and the formatting of the report. A section is one module exporting a `Section`;
// run.ts lists them in order. Every row of every section goes into the one table on stdout
// (figure, tlbridge, reference, ratio, goal, result) and into bench/results.json.
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
  /** run the send-now figure (a private sshd) */
  upload: boolean;
}

export interface BenchContext {
  opts: BenchOptions;
  /** the repository root: the child runs `node bin/tlbridge.js` here */
  repo: string;
  /** this run's temp dir (os.tmpdir()/tlbridge-bench-*), removed at the end */
  tmp: string;
  machine: MachineInfo;
  rssMethod: RssMethod;
  /** a detail line of a section: stderr and results.json (the table alone goes to stdout) */
  out(line?: string): void;
  /** a progress line (stderr), not part of the report */
  progress(line: string): void;
}

/** PASS/MISS against a target; FAIL = the measurement itself went wrong; INFO = no target. */
export type Verdict = 'PASS' | 'MISS' | 'FAIL' | 'SKIP' | 'INFO';

export interface SummaryRow {
  section: string;
  /** the figure, as the table names it */
  metric: string;
  /** tlbridge's figure, formatted */
  value: string;
  /** the reference's figure in the same run, formatted (xmllint, OpenSSH sftp -b, ...) */
  reference?: string;
  /** tlbridge / reference (time or size); the goal applies to it where a reference exists */
  ratio?: number;
  /** the goal, e.g. "<= 3.0x" or "< 200 MB" */
  target?: string;
  verdict: Verdict;
  /** the raw numbers behind the row, for results.json (ms, MB, counts, the single runs) */
  numbers?: Record<string, number | string | number[]>;
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
    ['figure', 'tlbridge', 'reference', 'ratio', 'goal', 'result'],
    rows.map((r) => [`${r.section}: ${r.metric}`, r.value, r.reference ?? '', r.ratio === undefined ? '' : `${fmtNum(r.ratio, 2)}x`, r.target ?? '', r.verdict]),
  );
}

/** The same table as Markdown (the README's benchmark section). */
export function summaryMarkdown(rows: SummaryRow[]): string[] {
  const cell = (s: string) => s.replace(/\|/g, '\\|');
  return [
    '| figure | tlbridge | reference | ratio | goal | result |',
    '|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${[`${r.section}: ${r.metric}`, r.value, r.reference ?? '', r.ratio === undefined ? '' : `${fmtNum(r.ratio, 2)}x`, r.target ?? '', `**${r.verdict}**`].map(cell).join(' | ')} |`),
  ];
}

/** PASS when `x` is within the goal, else MISS; FAIL when there is no number. */
export function verdictAtMost(x: number | undefined, max: number, strict = false): Verdict {
  if (x === undefined || !Number.isFinite(x)) return 'FAIL';
  return (strict ? x < max : x <= max) ? 'PASS' : 'MISS';
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}
