// `tlbridge messages [filters] [--json]` (product.md 4): one row per message, narrowed by
// state, partner, type, source file, reference, receipt time, or the newest n.
// Only messages whose file's conversion committed exist for this command (ledger VISIBLE).
import type { Config } from '../config/load.js';
import type { Db } from '../ledger/db.js';
import { MESSAGE_STATES, VISIBLE, type MessageState } from '../ledger/ledger.js';
import { EXIT, UsageError, type Io } from './io.js';
import { overdueCutoff } from '../acks/overdue.js';
import { openForCommand } from '../ledger/open.js';
import { table } from './table.js';
import { MESSAGE_TYPE_NAMES, type MessageTypeName } from '../messages/registry.js';
import { parseTimeBound } from './time-bound.js';

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

/** What `messages` narrows by (product.md 4); every given one must match. */
export interface MessageFilter {
  state?: MessageState;
  partner?: string;
  type?: MessageTypeName;
  /** the source file's name as dropped; * and ? are wildcards */
  file?: string;
  /** the reference document or the work order number */
  reference?: string;
  /** ISO-8601 UTC bounds on the time the source file was received, both inclusive */
  since?: string;
  until?: string;
  /** only the newest n messages (still listed oldest first) */
  limit?: number;
}

export function listMessages(config: Config, db: Db, filter: MessageFilter, now = new Date()): MessageRow[] {
  const where = [VISIBLE];
  // every value from the command line is a bound parameter, never part of the SQL text
  const params: Array<string | number> = [];
  const add = (sql: string, ...values: Array<string | number>) => {
    where.push(sql);
    params.push(...values);
  };
  if (filter.state) add('m.state = ?', filter.state);
  if (filter.partner) add('m.partner = ?', filter.partner);
  if (filter.type) add('m.message_type = ?', filter.type);
  if (filter.file) add(/[*?]/.test(filter.file) ? 'f.name GLOB ?' : 'f.name = ?', filter.file);
  if (filter.reference) add('(m.reference_doc = ? OR m.work_order = ?)', filter.reference, filter.reference);
  if (filter.since) add('f.received_at >= ?', filter.since);
  if (filter.until) add('f.received_at <= ?', filter.until);
  // the newest n by staging order, then turned back to oldest first
  const order = filter.limit === undefined ? 'ORDER BY m.id' : 'ORDER BY m.id DESC LIMIT ?';
  if (filter.limit !== undefined) params.push(filter.limit);
  const rows = db
    .prepare(
      `SELECT m.id, m.message_type, m.partner, m.fcn, m.reference_doc, m.work_order, m.state, m.sent_at, f.name AS source_file,
              m.remote_path, m.batch_id, m.updated_at
       FROM messages m JOIN files f ON f.id = m.file_id
       WHERE ${where.join(' AND ')} ${order}`,
    )
    .all(...params) as Raw[];
  if (filter.limit !== undefined) rows.reverse();

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

export interface MessagesOptions {
  state?: string;
  partner?: string;
  type?: string;
  file?: string;
  reference?: string;
  since?: string;
  until?: string;
  limit?: string;
  json: boolean;
}

/** `--type` as typed (any case): a message type name, or the code a configuration gave it. */
export function parseMessageType(config: Config, s: string): MessageTypeName {
  const t = s.trim();
  const byName = MESSAGE_TYPE_NAMES.find((n) => n === t.toUpperCase());
  const byCode = MESSAGE_TYPE_NAMES.find((n) => config.messageTypes[n].code === t);
  if (byName ?? byCode) return (byName ?? byCode)!;
  throw new UsageError(`unknown message type "${s}" (types: ${MESSAGE_TYPE_NAMES.join(', ')})`);
}

/** The command line's filters, checked: a wrong one is a usage error (exit 2). */
export function parseFilter(config: Config, opts: Omit<MessagesOptions, 'json'>): MessageFilter {
  for (const [flag, v] of [['--partner', opts.partner], ['--file', opts.file], ['--reference', opts.reference]] as const)
    if (v !== undefined && !v.trim()) throw new UsageError(`${flag} needs a value`);
  let limit: number | undefined;
  if (opts.limit !== undefined) {
    limit = Number(opts.limit);
    if (!/^\d+$/.test(opts.limit.trim()) || !Number.isSafeInteger(limit) || limit < 1) throw new UsageError(`--limit ${JSON.stringify(opts.limit)}: must be a whole number >= 1`);
  }
  const filter: MessageFilter = {
    state: opts.state === undefined ? undefined : parseState(opts.state),
    partner: opts.partner,
    type: opts.type === undefined ? undefined : parseMessageType(config, opts.type),
    file: opts.file?.trim(),
    reference: opts.reference?.trim(),
    since: opts.since === undefined ? undefined : parseTimeBound('--since', opts.since, config.timezone, 'since'),
    until: opts.until === undefined ? undefined : parseTimeBound('--until', opts.until, config.timezone, 'until'),
    limit,
  };
  if (filter.since && filter.until && filter.since > filter.until) throw new UsageError(`--since ${opts.since} is after --until ${opts.until}`);
  return filter;
}

export function messages(config: Config, opts: MessagesOptions, io: Io): number {
  const filter = parseFilter(config, opts);
  const { db } = openForCommand(config, { create: false });
  try {
    if (opts.partner && !config.partners[opts.partner])
      io.err(`note: "${opts.partner}" is not a partner of ${config.file} (configured: ${Object.keys(config.partners).join(', ')}); listing what the ledger holds for it`);
    const rows = listMessages(config, db, filter);
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
