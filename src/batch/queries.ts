// The ledger queries and updates of a batch cycle, against the schema of
// src/ledger/migrations.ts. State changes go through the state machine
// (src/ledger/message-states.ts), which writes their transition rows; times are ISO-8601 UTC.
import type { applyPendingAcks as ApplyPendingAcks } from '../acks/apply.js';
import { nowIso, type Db } from '../ledger/db.js';
import { VISIBLE } from '../ledger/ledger.js';
import { moveMessage } from '../ledger/message-states.js';

/** acks/apply.js, loaded (loadAckApply) only for a batch with a message that an ack waits for:
 * it brings the XML validator with it, which most send-now runs never need. Acks wait only
 * for a STAGED message (acks/decide.ts), so once a claim has made its messages SENDING no new
 * one can appear for them before they are SENT. */
let applyPendingAcks: typeof ApplyPendingAcks | undefined;

export interface BatchMessageRow {
  id: number;
  file_id: number;
  partner: string;
  message_type: string;
  type_code: string;
  fcn: string;
  reference_doc: string;
  original_ref: string | null;
  xml_path: string;
  xml_sha256: string;
  bytes: number;
  state: string;
  remote_path: string | null;
  batch_id: number | null;
  last_error: string | null;
  attempts: number;
  created_at: string;
  sent_at: string | null;
}

export interface BatchRow {
  id: number;
  partner: string;
  started_at: string;
  finished_at: string | null;
  outcome: string | null;
  messages: number;
  archive_dir: string | null;
  error: string | null;
}

export type BatchOutcome = 'sent' | 'partial' | 'failed';

/** A reversal held back because its original is not SENT yet (or never will be). */
export interface HeldReversal {
  id: number;
  fcn: string;
  message_type: string;
  original_ref: string;
  last_error: string | null;
  /** the originals found, "<fcn> <state>, ..." */
  originals: string;
  /** 1: an original is still on its way (STAGED, SENDING, HELD); 0: every original is REJECTED or CANCELLED */
  waiting: number;
}

export const REVERSAL_SUFFIX = '_REVERSAL';

const MESSAGE_COLUMNS = `m.id, m.file_id, m.partner, m.message_type, m.type_code, m.fcn, m.reference_doc, m.original_ref,
  m.xml_path, m.xml_sha256, m.bytes, m.state, m.remote_path, m.batch_id, m.last_error, m.attempts, m.created_at, m.sent_at`;

/** m is a reversal (its type ends in _REVERSAL and it names the original's reference). */
const IS_REVERSAL = `(m.original_ref IS NOT NULL AND substr(m.message_type, -${REVERSAL_SUFFIX.length}) = '${REVERSAL_SUFFIX}')`;
/** The originals of reversal m: same partner, the base type, reference_doc = m.original_ref, committed. */
const ORIGINALS = `FROM messages o
  WHERE o.partner = m.partner
    AND o.message_type = substr(m.message_type, 1, length(m.message_type) - ${REVERSAL_SUFFIX.length})
    AND o.reference_doc = m.original_ref
    AND o.file_id IN (SELECT id FROM files WHERE state = 'CONVERTED')`;
const ORIGINAL_DELIVERED = `EXISTS (SELECT 1 ${ORIGINALS} AND o.state IN ('SENT', 'ACCEPTED'))`;
const ORIGINAL_KNOWN = `EXISTS (SELECT 1 ${ORIGINALS})`;
/** The latest original was cancelled by an operator: its reversals never go (product.md 9). */
const ORIGINAL_CANCELLED = `(SELECT o.state ${ORIGINALS} ORDER BY o.id DESC LIMIT 1) = 'CANCELLED'`;

/**
 * A STAGED message may go into a batch unless it is a reversal whose original this ledger
 * holds but has not delivered, or whose latest original was cancelled. A reversal without any
 * original in the ledger was admitted by intake under `reversals.requireKnownOriginal: false`
 * (its original was sent before tlbridge was installed): it may go.
 */
const UPLOADABLE = `(NOT ${IS_REVERSAL} OR NOT ${ORIGINAL_KNOWN} OR (${ORIGINAL_DELIVERED} AND NOT ${ORIGINAL_CANCELLED}))`;

function prepareAll(db: Db) {
  const p = (sql: string) => db.prepare(sql);
  return {
    claimable: p(
      `SELECT ${MESSAGE_COLUMNS} FROM messages m
       WHERE m.partner = ? AND m.state = 'STAGED' AND ${VISIBLE} AND ${UPLOADABLE}
       ORDER BY m.created_at, m.id LIMIT ?`,
    ),
    held: p(
      `SELECT m.id, m.fcn, m.message_type, m.original_ref, m.last_error,
         (SELECT group_concat(o.fcn || ' ' || o.state, ', ') ${ORIGINALS}) AS originals,
         EXISTS (SELECT 1 ${ORIGINALS} AND o.state IN ('STAGED', 'SENDING', 'HELD')) AS waiting
       FROM messages m
       WHERE m.partner = ? AND m.state = 'STAGED' AND ${VISIBLE} AND ${IS_REVERSAL} AND NOT ${UPLOADABLE}
       ORDER BY m.created_at, m.id`,
    ),
    sending: p(`SELECT ${MESSAGE_COLUMNS} FROM messages m WHERE m.partner = ? AND m.state = 'SENDING' ORDER BY m.id`),
    message: p(`SELECT ${MESSAGE_COLUMNS} FROM messages m WHERE m.id = ?`),
    states: p(`SELECT id, state FROM messages WHERE id IN (SELECT value FROM json_each(?))`),
    ackWaits: p(`SELECT 1 FROM acks WHERE message_id = ? AND effect = 'pending' LIMIT 1`),
    acksWait: p(`SELECT 1 FROM acks WHERE effect = 'pending' AND message_id IN (SELECT value FROM json_each(?)) LIMIT 1`),
    openBatches: p(`SELECT * FROM batches WHERE partner = ? AND finished_at IS NULL ORDER BY id`),
    sendingInBatch: p(`SELECT count(*) AS n FROM messages WHERE batch_id = ? AND state = 'SENDING'`),
    deliveredInBatch: p(
      `SELECT ${MESSAGE_COLUMNS} FROM messages m
       WHERE m.batch_id = ? AND m.sent_at IS NOT NULL AND m.state IN ('SENT', 'ACCEPTED', 'REJECTED') ORDER BY m.id`,
    ),
    insertBatch: p(`INSERT INTO batches (partner, started_at, messages) VALUES (?, ?, ?)`),
    finishBatch: p(`UPDATE batches SET finished_at = ?, outcome = ?, archive_dir = ?, error = ? WHERE id = ?`),
    setLastError: p(`UPDATE messages SET last_error = ?, updated_at = ? WHERE id = ? AND state = 'STAGED'`),
    // an ack proved the upload first and moved the message on: it learns where it went
    setRemotePath: p(`UPDATE messages SET remote_path = ? WHERE id = ? AND remote_path IS NULL`),
  };
}

export class BatchQueries {
  private readonly s: ReturnType<typeof prepareAll>;

  constructor(readonly db: Db) {
    this.s = prepareAll(db);
  }

  /** Up to `limit` STAGED, visible, uploadable messages of a partner, oldest (staged first) first. */
  claimable(partner: string, limit: number): BatchMessageRow[] {
    return this.s.claimable.all(partner, limit) as BatchMessageRow[];
  }

  /** STAGED reversals of a partner held back by their original. */
  heldReversals(partner: string): HeldReversal[] {
    return this.s.held.all(partner) as HeldReversal[];
  }

  sending(partner: string): BatchMessageRow[] {
    return this.s.sending.all(partner) as BatchMessageRow[];
  }

  message(id: number): BatchMessageRow | undefined {
    return this.s.message.get(id) as BatchMessageRow | undefined;
  }

  /** The state now of each of `ids` (one query for many: a batch checks its messages in groups). */
  states(ids: readonly number[]): Map<number, string> {
    const rows = this.s.states.all(JSON.stringify(ids)) as { id: number; state: string }[];
    return new Map(rows.map((r) => [r.id, r.state]));
  }

  /** Batches of a partner that never finished (the cycle that owned them ended abruptly). */
  openBatches(partner: string): BatchRow[] {
    return this.s.openBatches.all(partner) as BatchRow[];
  }

  sendingInBatch(batchId: number): number {
    return (this.s.sendingInBatch.get(batchId) as { n: number }).n;
  }

  /** The messages a batch actually delivered (SENT, or acknowledged since). */
  deliveredInBatch(batchId: number): BatchMessageRow[] {
    return this.s.deliveredInBatch.all(batchId) as BatchMessageRow[];
  }

  /**
   * Claims up to `limit` messages: a batches row, and each message STAGED -> SENDING with its
   * batch_id and transition, in ONE immediate transaction. Returns null when nothing is pending.
   */
  claim(partner: string, limit: number): { batchId: number; at: string; messages: BatchMessageRow[] } | null {
    return this.db
      .transaction(() => {
        const rows = this.claimable(partner, limit);
        if (!rows.length) return null;
        const at = nowIso();
        const batchId = Number(this.s.insertBatch.run(partner, at, rows.length).lastInsertRowid);
        for (const m of rows) {
          const r = moveMessage(this.db, m.id, 'STAGED', 'SENDING', { at, detail: `batch ${batchId}`, set: { batchId } });
          if (!r.moved) throw new Error(`message ${m.id} (${m.fcn}) left STAGED while it was being claimed`);
          m.state = 'SENDING';
          m.batch_id = batchId;
        }
        return { batchId, at, messages: rows };
      })
      .immediate();
  }

  /** Loads what markSent needs to apply the acks that wait for any of `ids` (recorded while
   * they were STAGED); call it once they are SENDING, before they are marked SENT. */
  async loadAckApply(ids: readonly number[]): Promise<void> {
    if (applyPendingAcks || !ids.length || !this.s.acksWait.get(JSON.stringify(ids))) return;
    applyPendingAcks = (await import('../acks/apply.js')).applyPendingAcks;
  }

  /**
   * SENDING -> SENT, in its own small transaction, applying what acks recorded while the message
   * was STAGED (product.md 1). True also when an ack proved the upload first and moved it on
   * (SENT, ACCEPTED or REJECTED now): the upload is done either way. False otherwise.
   */
  markSent(id: number, remotePath: string, detail: string): boolean {
    return this.markSentMany([{ id, remotePath, detail }])[0] === true;
  }

  /**
   * markSent for several uploads in ONE transaction (one commit, one fsync): each answer as
   * markSent's, in order. A crash before the commit leaves them SENDING, which recovery settles
   * from the server (recovery.ts).
   */
  markSentMany(items: readonly { id: number; remotePath: string; detail: string }[]): boolean[] {
    return this.db
      .transaction(() => {
        const at = nowIso();
        return items.map(({ id, remotePath, detail }) => {
          const r = moveMessage(this.db, id, 'SENDING', 'SENT', { at, detail, set: { sentAt: at, remotePath } });
          if (r.moved) {
            if (this.s.ackWaits.get(id)) {
              if (!applyPendingAcks) throw new Error(`programming error: an ack waits for message ${id}, and loadAckApply() did not run for it before markSent`);
              applyPendingAcks(this.db, id, at);
            }
            return true;
          }
          if (r.now !== 'SENT' && r.now !== 'ACCEPTED' && r.now !== 'REJECTED') return false;
          this.s.setRemotePath.run(remotePath, id);
          return true;
        });
      })
      .immediate();
  }

  /** SENDING -> STAGED with the reason as last_error; `attempted` counts one more attempt. */
  markStaged(id: number, lastError: string, attempted: boolean): boolean {
    return this.db
      .transaction(() => moveMessage(this.db, id, 'SENDING', 'STAGED', { detail: lastError, set: { lastError, addAttempt: attempted } }).moved)
      .immediate();
  }

  /** Sets a STAGED message's last_error (no state change, so no transition). */
  setLastError(id: number, lastError: string): void {
    this.s.setLastError.run(lastError, nowIso(), id);
  }

  /** Ends a batch row; call inside the archive's transaction when there is an archive folder. */
  finishBatch(batchId: number, outcome: BatchOutcome, archiveDir: string | null, error: string | null): void {
    this.s.finishBatch.run(nowIso(), outcome, archiveDir, error, batchId);
  }
}

export function batchOutcome(delivered: number, total: number): BatchOutcome {
  return delivered === 0 ? 'failed' : delivered >= total ? 'sent' : 'partial';
}
