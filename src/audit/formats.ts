// `audit report` as CSV (RFC 4180 through csv-stringify: CRLF records, a header row with the
// column names of product.md 10, quotes where a field needs them) and as JSON for tools (one
// stable object). Both are written row by row as the ledger gives them.
import { once } from 'node:events';
import { stringify, type Options } from 'csv-stringify';
import type { ActionRow } from './actions.js';
import type { ReportMeta } from './meta.js';
import { CSV_COLUMNS, type ReportRow, type Totals } from './rows.js';
import type { ReportWriter } from './sink.js';

/** What a report is made of; the rows and actions are read when they are written. */
export interface ReportInput {
  meta: ReportMeta;
  totals: Totals;
  rows(): Iterable<ReportRow>;
  /** the rows as arrays in CSV column order */
  csvRecords(): Iterable<unknown[]>;
  actions(): Iterable<ActionRow>;
  /** called after each row written (progress) */
  onRow?(): void;
}

/** What a spreadsheet reads as the start of a formula (OWASP, CSV injection). */
const FORMULA_START = /^[=+\-@\t\r]/;

/**
 * A CSV text cell as a spreadsheet may open it: one that starts like a formula gets a leading `'`
 * (OWASP's advice), since its text came from untrusted input (an ERP field, a partner's ack, an
 * operator's reason) and would otherwise run when an auditor opens the file. Only strings: the
 * number columns (batchId) are numbers and a negative one stays a number. JSON and HTML stay raw.
 */
export function defuseCsvText(s: string): string {
  return FORMULA_START.test(s) ? `'${s}` : s;
}

const CSV_OPTIONS: Options = {
  record_delimiter: 'windows',
  // RFC 4180: a field with a line break is quoted, a bare CR or LF included
  quoted_match: /[\r\n]/,
  cast: { number: (n: number) => String(n), string: defuseCsvText },
};

export async function writeCsv(w: ReportWriter, input: Pick<ReportInput, 'csvRecords' | 'onRow'>): Promise<void> {
  // csv-stringify's stream: records in, text out to the report's writer, each side waiting for the other
  const csv = stringify(CSV_OPTIONS);
  csv.write([...CSV_COLUMNS]);
  let failed: unknown = null;
  const pump = (async () => {
    for await (const chunk of csv as AsyncIterable<Buffer | string>) await w.write(chunk.toString());
  })().catch((e: unknown) => {
    // the output failed (a full disk, a closed pipe): stop the producer too
    failed = e;
    csv.destroy(e as Error);
  });
  try {
    for (const r of input.csvRecords()) {
      if (!csv.write(r)) await once(csv, 'drain');
      input.onRow?.();
    }
  } finally {
    if (!csv.destroyed) csv.end();
    await pump;
  }
  if (failed) throw failed;
}

/** The JSON report's field order: {generatedAt, generatedBy, filters, version, timezone, totals, rows, operatorActions, chain}. */
export async function writeJson(w: ReportWriter, input: ReportInput): Promise<void> {
  const m = input.meta;
  const head = { generatedAt: m.generatedAt, generatedBy: m.generatedBy, filters: m.filters, version: m.version, timezone: m.timezone, totals: input.totals };
  await w.write(JSON.stringify(head).slice(0, -1) + ',"rows":[');
  let first = true;
  for (const r of input.rows()) {
    await w.write((first ? '\n' : ',\n') + JSON.stringify(r));
    first = false;
    input.onRow?.();
  }
  await w.write('\n],"operatorActions":[');
  first = true;
  for (const a of input.actions()) {
    await w.write((first ? '\n' : ',\n') + JSON.stringify(a));
    first = false;
  }
  await w.write(`\n],"chain":${JSON.stringify(m.chain)}}\n`);
}
