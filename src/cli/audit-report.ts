// `tlbridge audit report` (product.md 10): the uploads of a period with their outcome, the
// operator actions, totals and the state of the archive chain, as HTML (default), CSV or JSON,
// to stdout or --out FILE. Read inside one read transaction, so totals and rows agree even
// while the daemon writes; streamed row by row, so a year of uploads needs no more memory than
// a day's.
import type { Config } from '../config/load.js';
import { dataPaths } from '../config/paths.js';
import { openForCommand } from '../ledger/open.js';
import { iterateActions } from '../audit/actions.js';
import { writeCsv, writeJson, type ReportInput } from '../audit/formats.js';
import { HTML_MAX_ROWS, writeHtml } from '../audit/html.js';
import { reportMeta, type ReportFiltersShown } from '../audit/meta.js';
import { computeTotals, countRows, iterateCsvRecords, iterateRows, type ReportFilters } from '../audit/rows.js';
import { openSink, type ReportSink } from '../audit/sink.js';
import { EXIT, UsageError, type Io } from './io.js';
import { version } from './main.js';
import { NO_PROGRESS, startProgress } from './progress.js';
import { parseTimeBound } from './time-bound.js';

export const REPORT_FORMATS = ['html', 'csv', 'json'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

export interface ReportOptions {
  from?: string;
  to?: string;
  partner?: string;
  format?: string;
  out?: string;
}

function parseOptions(config: Config, o: ReportOptions): { format: ReportFormat; filters: ReportFilters; shown: ReportFiltersShown } {
  const format = (o.format ?? 'html') as ReportFormat;
  if (!REPORT_FORMATS.includes(format)) throw new UsageError(`--format ${JSON.stringify(o.format)}: one of ${REPORT_FORMATS.join(', ')}`);
  const from = o.from !== undefined ? { text: o.from, utc: parseTimeBound('--from', o.from, config.timezone, 'since') } : null;
  const to = o.to !== undefined ? { text: o.to, utc: parseTimeBound('--to', o.to, config.timezone, 'until') } : null;
  if (from && to && from.utc > to.utc) throw new UsageError(`--from ${o.from} is after --to ${o.to}`);
  const partner = o.partner?.trim() || null;
  return { format, filters: { from: from?.utc ?? null, to: to?.utc ?? null, partner }, shown: { from, to, partner } };
}

/** The command that gives the same rows as CSV (where the HTML points above its row limit). */
function csvCommand(o: ReportOptions): string {
  const q = (s: string) => (/^[A-Za-z0-9._:+\/-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);
  const parts = ['tlbridge audit report --format csv'];
  if (o.from !== undefined) parts.push(`--from ${q(o.from)}`);
  if (o.to !== undefined) parts.push(`--to ${q(o.to)}`);
  if (o.partner) parts.push(`--partner ${q(o.partner)}`);
  parts.push(`--out ${o.out ? q(o.out.replace(/\.html?$/i, '') + '.csv') : 'report.csv'}`);
  return parts.join(' ');
}

export async function auditReport(config: Config, o: ReportOptions, io: Io): Promise<number> {
  const { format, filters, shown } = parseOptions(config, o);
  const { db } = openForCommand(config, { create: false });
  let sink: ReportSink | undefined;
  try {
    sink = openSink(io, o.out);
    // one snapshot for totals, rows and actions (WAL: the daemon keeps writing meanwhile)
    db.exec('BEGIN');
    const meta = reportMeta(db, { archiveRoot: dataPaths(config).archive, filters: shown, version: version(), timezone: config.timezone });
    const needTotals = format !== 'csv';
    const totals = needTotals ? computeTotals(db, filters) : null;
    // the rows written, as the bar counts them (none in an HTML page above its row limit)
    const rowsOut = totals ? (format === 'html' && totals.uploads > HTML_MAX_ROWS ? 0 : totals.uploads) : io.stderr?.isTTY ? countRows(db, filters) : 0;
    const progress = rowsOut ? startProgress({ total: rowsOut, unit: 'rows', label: 'audit report', stream: io.stderr }) : NO_PROGRESS;
    const input: ReportInput = {
      meta,
      totals: totals ?? { uploads: 0, messages: 0, byPartner: [], byState: {} },
      rows: () => iterateRows(db, filters),
      csvRecords: () => iterateCsvRecords(db, filters),
      actions: () => iterateActions(db, filters),
      onRow: () => progress.increment(),
    };
    try {
      if (format === 'csv') await writeCsv(sink.writer, input);
      else if (format === 'json') await writeJson(sink.writer, input);
      else await writeHtml(sink.writer, { ...input, csvHint: csvCommand(o) });
      await sink.finish();
    } finally {
      progress.stop();
    }
    if (o.out) io.err(`tlbridge audit report: ${format.toUpperCase()} written to ${o.out}`);
    return EXIT.OK;
  } catch (e) {
    sink?.abort();
    if ((e as Error)?.name === 'SinkError') {
      io.err(`tlbridge audit report: ${(e as Error).message}`);
      return EXIT.FAILED;
    }
    throw e;
  } finally {
    if (db.inTransaction) db.exec('ROLLBACK');
    db.close();
  }
}
