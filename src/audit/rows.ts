// The rows of `audit report` (product.md 10), read from the ledger as a stream: one row per
// upload, in batch order. The ledger keeps no table of uploads; its transitions are the record:
// an upload is a STAGED -> SENDING move (written by the batch claim with the detail
// `batch <id>`) whose next move of that message is SENDING -> SENT (a failed attempt goes back
// to STAGED instead and is no upload). The claim commits its batch row and its transitions in
// one transaction, so transition order is batch order: a plain scan of the table in rowid order
// (`+s.entity` keeps the planner off the entity index, which would read nearly every row out of
// order) gives the rows sorted without a sort.
import type { Db } from '../ledger/db.js';
import { filterSql } from './where.js';

export interface ReportFilters {
  /** ISO-8601 UTC bounds on the batch time, both inclusive; null: open */
  from: string | null;
  to: string | null;
  partner: string | null;
}

/** The CSV columns of product.md 10, in order. */
export const CSV_COLUMNS = [
  'batchId',
  'batchTime',
  'messageType',
  'referenceDocumentNumber',
  'workOrderNumber',
  'lots',
  'fileControlNumber',
  'remotePath',
  'ackStatus',
  'ackErrorCodes',
  'ackTime',
  'sourceFile',
  'sourceSha256',
  'state',
] as const;

export interface ReportRow {
  batchId: number;
  batchTime: string;
  messageType: string;
  referenceDocumentNumber: string;
  workOrderNumber: string;
  /** several joined with `;` */
  lots: string;
  fileControlNumber: string;
  remotePath: string | null;
  ackStatus: string | null;
  /** the deciding ack's error codes joined with `;` */
  ackErrorCodes: string;
  ackTime: string | null;
  sourceFile: string;
  sourceSha256: string;
  /** the message's state now */
  state: string;
  // beyond the CSV columns (JSON, HTML): who, and where it is in the archive
  partner: string;
  messageId: string;
  /** the archive folder of the batch (its manifest and the XML as sent), relative to archive/ */
  batchArchiveDir: string | null;
  /** the archive folder of the deciding ack */
  ackArchiveDir: string | null;
  /** the archive folder of the source file as received */
  sourceArchiveDir: string | null;
}

/** The period on the batch time and the partner on the message, as more conditions of ROWS. */
function where(f: ReportFilters): { sql: string; params: Record<string, string> } {
  const w = filterSql(f, { at: 'b.started_at', partner: 'm.partner = @partner' });
  return { sql: w.sql ? `AND ${w.sql}` : '', params: w.params };
}

/** The uploads: claim transition s, its message m, its batch b, the next claim of m (or null). */
const UPLOADS = `
  SELECT s.id AS sid, s.entity_id AS mid, s.at AS claimed_at,
         CAST(substr(s.detail, 7) AS INTEGER) AS bid,
         (SELECT n.to_state FROM transitions n
           WHERE n.entity = 'message' AND n.entity_id = s.entity_id AND n.id > s.id ORDER BY n.id LIMIT 1) AS next_state
  FROM transitions s
  WHERE +s.entity = 'message' AND s.from_state = 'STAGED' AND s.to_state = 'SENDING' AND s.detail LIKE 'batch %'`;

/** When the message was claimed again after upload u. Only asked when u is not its latest claim
 * (messages.batch_id is the batch of the latest claim), which spares the lookup for nearly every row. */
const NEXT_CLAIM_AT = `(SELECT n.at FROM transitions n
   WHERE n.entity = 'message' AND n.entity_id = u.mid AND n.id > u.sid
     AND n.from_state = 'STAGED' AND n.to_state = 'SENDING' ORDER BY n.id LIMIT 1)`;

/**
 * The deciding ack of an upload: of the valid acks of the message received from its claim to the
 * next claim, one that decided an outcome (accepted, rejected) before any other (a duplicate
 * report, superseded, recorded while STAGED), then the latest by the ack's FileDate + FileTime.
 */
const DECIDING_ACK = `(SELECT a.id FROM acks a
   WHERE a.message_id = u.mid AND a.valid = 1 AND a.received_at >= u.claimed_at
     AND (u.bid = m.batch_id OR a.received_at < ${NEXT_CLAIM_AT})
   ORDER BY a.effect IN ('accepted', 'rejected') DESC, a.file_date DESC, a.file_time DESC, a.id DESC LIMIT 1)`;

// Only messages whose file's conversion committed count (ledger.ts VISIBLE), checked on the
// joined file row.
const ROWS = `
  WITH u AS (${UPLOADS})
  SELECT b.id AS batchId, b.started_at AS batchTime, m.message_type AS messageType,
         m.reference_doc AS referenceDocumentNumber, m.work_order AS workOrderNumber,
         (SELECT group_concat(l.lot, char(10)) FROM message_lines l WHERE l.message_id = m.id) AS lots,
         m.fcn AS fileControlNumber, m.remote_path AS remotePath,
         a.status AS ackStatus,
         a.errors_json AS ackErrorCodes,
         a.received_at AS ackTime, f.name AS sourceFile, f.sha256 AS sourceSha256, m.state AS state,
         m.partner AS partner, CAST(m.id AS TEXT) AS messageId, b.archive_dir AS batchArchiveDir,
         a.archive_dir AS ackArchiveDir, f.archive_dir AS sourceArchiveDir
  FROM u
  JOIN messages m ON m.id = u.mid
  JOIN batches b ON b.id = u.bid
  JOIN files f ON f.id = m.file_id
  LEFT JOIN acks a ON a.id = ${DECIDING_ACK}
  WHERE u.next_state = 'SENT' AND f.state = 'CONVERTED' `;

/** Every upload row in the period, in batch order, one at a time (bounded memory). */
export function* iterateRows(db: Db, f: ReportFilters): Generator<ReportRow> {
  const w = where(f);
  for (const r of db.prepare(`${ROWS} ${w.sql} ORDER BY u.sid`).iterate(w.params) as IterableIterator<ReportRow & { lots: string | null; ackErrorCodes: string | null }>) {
    r.lots = lotList(r.lots);
    r.ackErrorCodes = errorCodes(r.ackErrorCodes);
    yield r;
  }
}

const LOTS_AT = CSV_COLUMNS.indexOf('lots');
const CODES_AT = CSV_COLUMNS.indexOf('ackErrorCodes');

/** The same rows as arrays in CSV column order (the SELECT lists them first): no object per row. */
export function* iterateCsvRecords(db: Db, f: ReportFilters): Generator<unknown[]> {
  const w = where(f);
  for (const r of db.prepare(`${ROWS} ${w.sql} ORDER BY u.sid`).raw(true).iterate(w.params) as IterableIterator<unknown[]>) {
    r.length = CSV_COLUMNS.length;
    r[LOTS_AT] = lotList(r[LOTS_AT] as string | null);
    r[CODES_AT] = errorCodes(r[CODES_AT] as string | null);
    yield r;
  }
}

/** The lines' lots (one per line, by line number, from SQL) as the report shows them: each once, `;` between. */
function lotList(lines: string | null): string {
  return lines === null ? '' : lines.includes('\n') ? [...new Set(lines.split('\n'))].join(';') : lines;
}

/** The codes of an ack's errors JSON ([{code, class, message, path}]), joined with `;`. */
function errorCodes(json: string | null): string {
  if (!json || json === '[]') return '';
  const list = JSON.parse(json) as Array<{ code?: unknown }>;
  return Array.isArray(list) ? list.map((e) => String(e?.code ?? '')).join(';') : '';
}

/** How many rows iterateRows gives (for progress and the 50,000-row rule). */
export function countRows(db: Db, f: ReportFilters): number {
  const w = where(f);
  const sql = `WITH u AS (${UPLOADS}) SELECT count(*) FROM u JOIN messages m ON m.id = u.mid JOIN batches b ON b.id = u.bid
    JOIN files f ON f.id = m.file_id WHERE u.next_state = 'SENT' AND f.state = 'CONVERTED' ${w.sql}`;
  return db.prepare(sql).pluck().get(w.params) as number;
}

export interface Totals {
  /** upload rows */
  uploads: number;
  /** distinct messages uploaded in the period */
  messages: number;
  /** messages by partner, then by their state now */
  byPartner: Array<{ partner: string; messages: number; uploads: number; byState: Record<string, number> }>;
  /** messages by their state now (the outcome) */
  byState: Record<string, number>;
}

/** Totals count messages (a resent message once), in SQL, without holding the rows. */
export function computeTotals(db: Db, f: ReportFilters): Totals {
  const w = where(f);
  const per = db
    .prepare(
      `WITH u AS (${UPLOADS}),
       x AS (SELECT m.partner, m.id, m.state, count(*) AS uploads FROM u
             JOIN messages m ON m.id = u.mid JOIN batches b ON b.id = u.bid JOIN files f ON f.id = m.file_id
             WHERE u.next_state = 'SENT' AND f.state = 'CONVERTED' ${w.sql} GROUP BY m.id)
       SELECT partner, state, count(*) AS messages, sum(uploads) AS uploads FROM x GROUP BY partner, state ORDER BY partner, state`,
    )
    .all(w.params) as Array<{ partner: string; state: string; messages: number; uploads: number }>;
  const byPartner = new Map<string, Totals['byPartner'][number]>();
  const byState: Record<string, number> = Object.create(null) as Record<string, number>;
  let uploads = 0;
  let messages = 0;
  for (const r of per) {
    let p = byPartner.get(r.partner);
    if (!p) byPartner.set(r.partner, (p = { partner: r.partner, messages: 0, uploads: 0, byState: Object.create(null) as Record<string, number> }));
    p.messages += r.messages;
    p.uploads += r.uploads;
    p.byState[r.state] = r.messages;
    byState[r.state] = (byState[r.state] ?? 0) + r.messages;
    uploads += r.uploads;
    messages += r.messages;
  }
  return { uploads, messages, byPartner: [...byPartner.values()], byState: { ...byState } };
}
