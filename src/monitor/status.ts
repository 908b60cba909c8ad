// The facts `status`, `status --check` and the metrics report, read from the ledger and the
// error folder: counts by state, per partner the last and next batch, overdue acks, error files.
// Read-only, safe beside a running daemon (WAL: readers never block the writer).
import fs from 'node:fs';
import { overdueCutoff } from '../acks/overdue.js';
import type { Config } from '../config/load.js';
import { dataPaths } from '../config/paths.js';
import type { Db } from '../ledger/db.js';
import { FILE_STATES, MESSAGE_STATES, VISIBLE, type FileState, type MessageState } from '../ledger/ledger.js';
import { pauseOf } from '../ledger/pauses.js';
import { nextCronRun } from '../schedule/cron-runner.js';
import { unsafeInputs } from '../intake/drop-scan.js';

export interface PartnerStatus {
  partner: string;
  lastBatchAt: string | null;
  nextBatchAt: string | null;
  staged: number;
  sent: number;
  overdue: number;
  lastError: string | null;
  /** no batch cycle and no ack poll while paused (product.md 9) */
  paused: boolean;
  pausedAt: string | null;
  pausedBy: string | null;
  pauseReason: string | null;
}

export interface Status {
  files: Record<FileState, number>;
  messages: Record<MessageState, number>;
  overdue: number;
  errorFiles: number;
  unmatchedAcks: number;
  invalidAcks: number;
  partners: PartnerStatus[];
  reversalsBlocked: number;
  /** drop-folder entries intake never opens (product.md 9), counted by scanning the folders */
  unsafeInputs: number;
}

export interface BlockedReversal {
  id: number;
  fcn: string;
  partner: string;
  messageType: string;
  originalRef: string;
  /** REJECTED or CANCELLED */
  originalState: string;
}

/** Input files waiting in error/: every file but the reports beside them (and dotfiles), by name. */
export function errorFileNames(config: Config): string[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dataPaths(config).error, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries
    .filter((e) => e.isFile() && !e.name.startsWith('.') && !e.name.endsWith('.error.txt') && !e.name.endsWith('.error.json'))
    .map((e) => e.name)
    .sort();
}

export function countErrorFiles(config: Config): number {
  return errorFileNames(config).length;
}

/** STAGED reversals held back for ever because the original they reverse ended REJECTED
 * (messages.md 1.5) or was CANCELLED by an operator: the latest visible message of the base
 * type with that reference is in one of those states. */
export function blockedReversals(db: Db): BlockedReversal[] {
  return db
    .prepare(
      `SELECT * FROM (SELECT m.id, m.fcn, m.partner, m.message_type AS messageType, m.original_ref AS originalRef,
         (SELECT o.state FROM messages o JOIN files f ON f.id = o.file_id
              WHERE f.state = 'CONVERTED' AND o.partner = m.partner AND o.reference_doc = m.original_ref
                AND o.message_type = substr(m.message_type, 1, length(m.message_type) - length('_REVERSAL'))
              ORDER BY o.id DESC LIMIT 1) AS originalState
       FROM messages m
       WHERE ${VISIBLE} AND m.state = 'STAGED' AND m.original_ref IS NOT NULL AND m.message_type LIKE '%\\_REVERSAL' ESCAPE '\\')
       WHERE originalState IN ('REJECTED', 'CANCELLED')
       ORDER BY id`,
    )
    .all() as BlockedReversal[];
}

interface LastError {
  text: string;
  at: string;
}

/** The partner's latest error: a failed (or partly failed) batch, or the last_error of a
 * message that is still waiting (STAGED, SENDING, HELD) or ended REJECTED. The last_error of
 * a message that went out since (SENT, ACCEPTED) or was cancelled is history, not news. */
function lastError(db: Db, partner: string): LastError | null {
  const m = db
    .prepare(
      `SELECT m.last_error AS text, m.updated_at AS at FROM messages m
       WHERE ${VISIBLE} AND m.partner = ? AND m.last_error IS NOT NULL AND m.state IN ('STAGED', 'SENDING', 'HELD', 'REJECTED')
       ORDER BY m.updated_at DESC, m.id DESC LIMIT 1`,
    )
    .get(partner) as LastError | undefined;
  const b = db
    .prepare(
      `SELECT error AS text, COALESCE(finished_at, started_at) AS at FROM batches
       WHERE partner = ? AND error IS NOT NULL ORDER BY COALESCE(finished_at, started_at) DESC, id DESC LIMIT 1`,
    )
    .get(partner) as LastError | undefined;
  if (!m) return b ?? null;
  if (!b) return m;
  return b.at > m.at ? b : m;
}

export function collectStatus(config: Config, db: Db, now = new Date()): { status: Status; blocked: BlockedReversal[]; lastErrorAt: Map<string, string> } {
  const files = Object.fromEntries(FILE_STATES.map((s) => [s, 0])) as Record<FileState, number>;
  for (const r of db.prepare('SELECT state, COUNT(*) AS n FROM files GROUP BY state').all() as { state: FileState; n: number }[]) files[r.state] = r.n;

  const messages = Object.fromEntries(MESSAGE_STATES.map((s) => [s, 0])) as Record<MessageState, number>;
  for (const r of db.prepare(`SELECT m.state, COUNT(*) AS n FROM messages m WHERE ${VISIBLE} GROUP BY m.state`).all() as { state: MessageState; n: number }[])
    messages[r.state] = r.n;

  const countState = db.prepare(`SELECT COUNT(*) AS n FROM messages m WHERE ${VISIBLE} AND m.partner = ? AND m.state = ?`);
  const countOverdue = db.prepare(
    `SELECT COUNT(*) AS n FROM messages m WHERE ${VISIBLE} AND m.partner = ? AND m.state = 'SENT' AND COALESCE(m.sent_at, m.updated_at) < ?`,
  );
  const overdueOf = (partner: string) => (countOverdue.get(partner, overdueCutoff(config, partner, now)) as { n: number }).n;

  // overdue over every partner with SENT messages, configured or not (a removed partner's
  // messages still wait for their acks)
  const sentPartners = (db.prepare(`SELECT DISTINCT m.partner FROM messages m WHERE ${VISIBLE} AND m.state = 'SENT'`).all() as { partner: string }[]).map(
    (r) => r.partner,
  );
  const overdue = sentPartners.reduce((sum, p) => sum + overdueOf(p), 0);

  const lastBatch = db.prepare('SELECT MAX(started_at) AS at FROM batches WHERE partner = ?');
  const lastErrorAt = new Map<string, string>();
  const partners: PartnerStatus[] = Object.entries(config.partners).map(([partner, p]) => {
    const err = lastError(db, partner);
    if (err) lastErrorAt.set(partner, err.at);
    const pause = pauseOf(db, partner);
    return {
      partner,
      lastBatchAt: (lastBatch.get(partner) as { at: string | null }).at ?? null,
      nextBatchAt: nextCronRun(p.schedule, config.timezone)?.toISOString() ?? null,
      staged: (countState.get(partner, 'STAGED') as { n: number }).n,
      sent: (countState.get(partner, 'SENT') as { n: number }).n,
      overdue: overdueOf(partner),
      lastError: err?.text ?? null,
      paused: pause !== null,
      pausedAt: pause?.pausedAt ?? null,
      pausedBy: pause?.pausedBy ?? null,
      pauseReason: pause?.reason ?? null,
    };
  });

  const count = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
  const blocked = blockedReversals(db);
  const status: Status = {
    files,
    messages,
    overdue,
    errorFiles: countErrorFiles(config),
    unmatchedAcks: count(`SELECT COUNT(*) AS n FROM acks WHERE effect = 'unmatched'`),
    invalidAcks: count(`SELECT COUNT(*) AS n FROM acks WHERE valid = 0`),
    partners,
    reversalsBlocked: blocked.length,
    unsafeInputs: unsafeInputs(config.inbound.map((i) => i.path)).length,
  };
  return { status, blocked, lastErrorAt };
}
