// `tlbridge messages [--state S] [--partner P] [--json]` (product.md 4): one row per message.
// Only messages whose file's conversion committed exist for this command (ledger VISIBLE).
import type { Config } from '../config/load.js';
import type { Db } from '../ledger/db.js';
import { MESSAGE_STATES, VISIBLE, type MessageState } from '../ledger/ledger.js';
import { EXIT, UsageError, type Io } from './io.js';
import { overdueCutoff } from '../acks/overdue.js';
import { openForCommand } from '../ledger/open.js';
import { table } from './table.js';

export interface AckError {
  code: string;
  class: number;
  message: string;
  path: string | null;
}

export interface MessageRow {
  id: string;
  messageType: string;
  partner: string;
  fileControlNumber: string;
  referenceDocumentNumber: string;
  workOrderNumber: string;
  state: MessageState;
  overdue: boolean;
  sourceFile: string;
  remotePath: string | null;
  batchId: string | null;
  updatedAt: string;
  ack: { status: string; errors: AckError[] } | null;
}

interface Raw {
  id: number;
  message_type: string;
  partner: string;
  fcn: string;
  reference_doc: string;
  work_order: string;
  state: MessageState;
  sent_at: string | null;
  source_file: string;
  remote_path: string | null;
  batch_id: number | null;
  updated_at: string;
}

interface AckRaw {
  status: string | null;
  errors_json: string | null;
  effect: string;
}

/** `--state` as typed (any case), checked against the states of product.md 1. */
export function parseState(s: string): MessageState {
  const up = s.trim().toUpperCase();
  if (!(MESSAGE_STATES as string[]).includes(up)) throw new UsageError(`unknown state "${s}" (states: ${MESSAGE_STATES.join(', ')})`);
  return up as MessageState;
}

/** errors_json as stored by the ack reconciliation: [{code, class, message, path}]. */
export function parseAckErrors(json: string | null): AckError[] {
  if (!json) return [];
  let list: unknown;
  try {
    list = JSON.parse(json);
  } catch {
    return [];
  }
  if (!Array.isArray(list)) return [];
  return list.map((e: Record<string, unknown>) => {
    const cls = Number.parseInt(String(e?.class ?? ''), 10);
    const p = e?.path;
    return {
      code: String(e?.code ?? ''),
      class: Number.isFinite(cls) ? cls : 0,
      message: String(e?.message ?? ''),
      path: p == null || p === '' ? null : String(p),
    };
  });
}

export function listMessages(config: Config, db: Db, filter: { state?: MessageState; partner?: string }, now = new Date()): MessageRow[] {
  const where = [VISIBLE];
  const params: string[] = [];
  if (filter.state) {
    where.push('m.state = ?');
    params.push(filter.state);
  }
  if (filter.partner) {
    where.push('m.partner = ?');
    params.push(filter.partner);
  }
  const rows = db
    .prepare(
      `SELECT m.id, m.message_type, m.partner, m.fcn, m.reference_doc, m.work_order, m.state, m.sent_at, f.name AS source_file,
              m.remote_path, m.batch_id, m.updated_at
       FROM messages m JOIN files f ON f.id = m.file_id
       WHERE ${where.join(' AND ')} ORDER BY m.id`,
    )
    .all(...params) as Raw[];

  // The ack shown is the latest outcome (by the ack's own FileDate + FileTime, as the
  // reconciliation orders them): for an ACCEPTED or REJECTED message the latest ack with that
  // effect, so a later duplicate report of a resent copy does not hide the real outcome;
  // otherwise the latest accepted, rejected or duplicate ack.
  const acks = db.prepare(
    `SELECT status, errors_json, effect FROM acks WHERE message_id = ? AND effect IN ('accepted', 'rejected', 'duplicate')
     ORDER BY COALESCE(file_date, '') DESC, COALESCE(file_time, '') DESC, received_at DESC, id DESC`,
  );
  const cutoffs = new Map<string, string>();
  const cutoff = (p: string) => {
    if (!cutoffs.has(p)) cutoffs.set(p, overdueCutoff(config, p, now));
    return cutoffs.get(p)!;
  };

  return rows.map((r) => {
    const list = acks.all(r.id) as AckRaw[];
    const want = r.state === 'ACCEPTED' ? 'accepted' : r.state === 'REJECTED' ? 'rejected' : undefined;
    const a = (want && list.find((x) => x.effect === want)) || list[0];
    const sentAt = r.sent_at ?? r.updated_at;
    return {
      id: String(r.id),
      messageType: r.message_type,
      partner: r.partner,
      fileControlNumber: r.fcn,
      // messages.md: for Work Order Milestones the reference is the work order number
      referenceDocumentNumber: r.message_type === 'WORK_ORDER_MILESTONES' ? r.work_order : r.reference_doc,
      workOrderNumber: r.work_order,
      state: r.state,
      overdue: r.state === 'SENT' && sentAt < cutoff(r.partner),
      sourceFile: r.source_file,
      remotePath: r.remote_path,
      batchId: r.batch_id == null ? null : String(r.batch_id),
      updatedAt: r.updated_at,
      ack: a ? { status: a.status ?? '', errors: parseAckErrors(a.errors_json) } : null,
    };
  });
}

export function messages(config: Config, opts: { state?: string; partner?: string; json: boolean }, io: Io): number {
  const state = opts.state === undefined ? undefined : parseState(opts.state);
  if (opts.partner !== undefined && !opts.partner) throw new UsageError('--partner needs a partner code');
  const { db } = openForCommand(config, { create: false });
  try {
    if (opts.partner && !config.partners[opts.partner])
      io.err(`note: "${opts.partner}" is not a partner of ${config.file} (configured: ${Object.keys(config.partners).join(', ')}); listing what the ledger holds for it`);
    const rows = listMessages(config, db, { state, partner: opts.partner });
    if (opts.json) {
      io.out(JSON.stringify(rows));
      return EXIT.OK;
    }
    if (!rows.length) {
      io.out('no messages');
      return EXIT.OK;
    }
    const ackText = (r: MessageRow) => {
      if (!r.ack) return '-';
      const errs = r.ack.errors.map((e) => `${e.code}/${e.class}${e.message ? ` ${e.message}` : ''}`).join('; ');
      return errs ? `${r.ack.status}: ${errs}` : r.ack.status;
    };
    const lines = table(
      ['ID', 'FILE CONTROL NO', 'PARTNER', 'TYPE', 'REFERENCE', 'WORK ORDER', 'STATE', 'UPDATED', 'SOURCE FILE', 'ACK'],
      rows.map((r) => [
        r.id,
        r.fileControlNumber,
        r.partner,
        r.messageType,
        r.referenceDocumentNumber,
        r.workOrderNumber,
        r.overdue ? `${r.state} (overdue)` : r.state,
        r.updatedAt,
        r.sourceFile,
        ackText(r),
      ]),
    );
    for (const l of lines) io.out(l);
    io.out(`${rows.length} message(s)`);
    return EXIT.OK;
  } finally {
    db.close();
  }
}
