// Ledger operations. Every state change writes its transition row through message-states.ts,
// the one place that knows which moves exist (product.md 1).
// Messages of a file being converted are inserted as they come (so memory never holds a whole
// file) but stay invisible to batches, status and the duplicate rules until their file is
// CONVERTED: everything that reads messages joins on the file's state.
import { formatControlNumber } from '../messages/control-number.js';
import type { MessageKeys } from '../messages/types.js';
import type { Statement } from 'better-sqlite3';
import { nowIso, type Db } from './db.js';
import { recordFileTransition, recordStagedMessagesOfFile } from './message-states.js';

export type FileState = 'RECEIVED' | 'CONVERTED' | 'FAILED' | 'DUPLICATE';
export type MessageState = 'STAGED' | 'SENDING' | 'SENT' | 'ACCEPTED' | 'REJECTED' | 'HELD' | 'CANCELLED';
export const FILE_STATES: FileState[] = ['RECEIVED', 'CONVERTED', 'FAILED', 'DUPLICATE'];
export const MESSAGE_STATES: MessageState[] = ['STAGED', 'SENDING', 'SENT', 'ACCEPTED', 'REJECTED', 'HELD', 'CANCELLED'];

const statements = new WeakMap<Db, Map<string, Statement>>();

/** The statement for `sql` on `db`, prepared once per connection (intake runs the same few
 * statements for every file; preparing them each time cost more than running them). */
export function prepared(db: Db, sql: string): Statement {
  let m = statements.get(db);
  if (!m) statements.set(db, (m = new Map()));
  let st = m.get(sql);
  if (!st) m.set(sql, (st = db.prepare(sql)));
  return st;
}

/** Messages that count: their file's conversion has committed. */
export const VISIBLE = `m.file_id IN (SELECT id FROM files WHERE state = 'CONVERTED')`;

export interface FileRow {
  id: number;
  name: string;
  inbound: string;
  layout: string;
  sha256: string;
  bytes: number;
  state: FileState;
  message_type: string | null;
  partner: string | null;
  erp_file_id: string | null;
  erp_created: string | null;
  messages: number;
  work_path: string | null;
  error_path: string | null;
  archive_dir: string | null;
  received_at: string;
}

export interface NewMessage {
  fileId: number;
  partner: string;
  messageType: string;
  typeCode: string;
  fcn: string;
  keys: MessageKeys;
  bodyHash: string;
  sourceLine: number;
  xmlPath: string;
  xmlSha256: string;
  bytes: number;
}

export class Ledger {
  constructor(readonly db: Db) {}

  // ---- files -------------------------------------------------------------------------

  insertFile(f: { name: string; inbound: string; layout: string; sha256: string; bytes: number; workPath: string; reprocessOf?: number }): number {
    const at = nowIso();
    return this.db.transaction(() => {
      const id = Number(
        prepared(
        this.db,
            `INSERT INTO files (name, inbound, layout, sha256, bytes, state, work_path, reprocess_of, received_at, updated_at)
             VALUES (?, ?, ?, ?, ?, 'RECEIVED', ?, ?, ?, ?)`,
          )
          .run(f.name, f.inbound, f.layout, f.sha256, f.bytes, f.workPath, f.reprocessOf ?? null, at, at).lastInsertRowid,
      );
      recordFileTransition(this.db, id, null, 'RECEIVED', at, f.workPath);
      return id;
    })();
  }

  file(id: number): FileRow | undefined {
    return prepared(this.db, 'SELECT * FROM files WHERE id = ?').get(id) as FileRow | undefined;
  }

  fileByWorkPath(workPath: string): FileRow | undefined {
    return prepared(this.db, `SELECT * FROM files WHERE work_path = ? ORDER BY id DESC LIMIT 1`).get(workPath) as FileRow | undefined;
  }

  /** An earlier file with the same content that was converted and still has a message that
   * counts (messages.md 1.5): a re-drop, not new data. A file whose messages all ended
   * REJECTED or CANCELLED blocks nothing: its byte-identical re-drop is converted anew.
   * `fcn` is the first such message's FileControlNumber. `+f.state` keeps the planner on the
   * sha256 index: on files_state it walked every CONVERTED file for each new file. */
  convertedFileWithSha(sha256: string, exceptId: number): (FileRow & { fcn: string }) | undefined {
    return prepared(
        this.db,
        `SELECT f.*, (SELECT m.fcn FROM messages m WHERE m.file_id = f.id AND m.state NOT IN ('REJECTED', 'CANCELLED') ORDER BY m.id LIMIT 1) AS fcn
         FROM files f WHERE f.sha256 = ? AND f.id <> ? AND +f.state = 'CONVERTED' AND fcn IS NOT NULL ORDER BY f.id LIMIT 1`,
      )
      .get(sha256, exceptId) as (FileRow & { fcn: string }) | undefined;
  }

  firstFcnOfFile(fileId: number): string | undefined {
    return (prepared(this.db, 'SELECT fcn FROM messages WHERE file_id = ? ORDER BY id LIMIT 1').get(fileId) as { fcn: string } | undefined)?.fcn;
  }

  /** Ends a file: its state, header facts and archive folder, in the caller's transaction. */
  finishFile(
    id: number,
    state: Exclude<FileState, 'RECEIVED'>,
    facts: { messageType?: string; partner?: string; erpFileId?: string; erpCreated?: string; messages?: number; errorPath?: string; archiveDir?: string; detail?: string },
  ): void {
    const at = nowIso();
    prepared(
        this.db,
        `UPDATE files SET state = ?, message_type = ?, partner = ?, erp_file_id = ?, erp_created = ?, messages = ?,
           error_path = ?, archive_dir = ?, updated_at = ? WHERE id = ? AND state = 'RECEIVED'`,
      )
      .run(state, facts.messageType ?? null, facts.partner ?? null, facts.erpFileId ?? null, facts.erpCreated ?? null, facts.messages ?? 0, facts.errorPath ?? null, facts.archiveDir ?? null, at, id);
    recordFileTransition(this.db, id, 'RECEIVED', state, at, facts.detail);
    if (state === 'CONVERTED') {
      recordStagedMessagesOfFile(this.db, id, at);
      prepared(this.db, 'UPDATE messages SET created_at = ?, updated_at = ? WHERE file_id = ?').run(at, at, id);
    }
  }

  clearWorkPath(id: number): void {
    prepared(this.db, 'UPDATE files SET work_path = NULL WHERE id = ?').run(id);
  }

  // ---- FileControlNumbers ------------------------------------------------------------

  /** Reserves `count` numbers and returns the first; numbers of a failed file are never reused. */
  reserveSequence(count: number): number {
    return this.db.transaction(() => {
      this.db.prepare(`INSERT OR IGNORE INTO sequences (name, value) VALUES ('fcn', 0)`).run();
      const row = this.db.prepare(`UPDATE sequences SET value = value + ? WHERE name = 'fcn' RETURNING value`).get(count) as { value: number };
      return row.value - count + 1;
    }).immediate();
  }

  /** Sets the sequence back from `reservedUpTo` to `usedUpTo`, only if it still stands at `reservedUpTo`. */
  releaseSequence(reservedUpTo: number, usedUpTo: number): void {
    this.db.prepare(`UPDATE sequences SET value = ? WHERE name = 'fcn' AND value = ?`).run(usedUpTo, reservedUpTo);
  }

  // ---- messages of a file in conversion ----------------------------------------------

  insertMessages(list: NewMessage[]): void {
    if (!list.length) return;
    const at = nowIso();
    const ins = prepared(
        this.db,
      `INSERT INTO messages (file_id, partner, message_type, type_code, fcn, reference_doc, work_order, original_ref, body_hash,
         source_line, xml_path, xml_sha256, bytes, state, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'STAGED', ?, ?)`,
    );
    const line = prepared(
        this.db,
      'INSERT INTO message_lines (message_id, line_no, product_type, product_code, lot, quantity) VALUES (?, ?, ?, ?, ?, ?)',
    );
    this.db.transaction(() => {
      for (const m of list) {
        const id = ins.run(m.fileId, m.partner, m.messageType, m.typeCode, m.fcn, m.keys.referenceDocumentNumber, m.keys.workOrderNumber, m.keys.originalReferenceDocumentNumber ?? null, m.bodyHash, m.sourceLine, m.xmlPath, m.xmlSha256, m.bytes, at, at).lastInsertRowid;
        m.keys.lines.forEach((l, i) => line.run(id, i + 1, l.product.type, l.product.code, l.lot, l.quantity));
      }
    })();
  }

  /** A failed file's messages never existed: remove them (their numbers stay used). */
  dropMessagesOfFile(fileId: number): string[] {
    return this.db.transaction(() => {
      const paths = (prepared(this.db, 'SELECT xml_path FROM messages WHERE file_id = ?').all(fileId) as { xml_path: string }[]).map((r) => r.xml_path);
      prepared(this.db, 'DELETE FROM message_lines WHERE message_id IN (SELECT id FROM messages WHERE file_id = ?)').run(fileId);
      prepared(this.db, 'DELETE FROM messages WHERE file_id = ?').run(fileId);
      return paths;
    })();
  }

  // ---- rules with history (messages.md 1.5) -------------------------------------------

  /** The earlier messages with this reference that block a new one (all but REJECTED ones). */
  blockingDuplicate(partner: string, messageType: string, ref: string): { fcn: string; file: string; received_at: string } | undefined {
    return prepared(
        this.db,
        `SELECT m.fcn, f.name AS file, f.received_at FROM messages m JOIN files f ON f.id = m.file_id
         WHERE f.state = 'CONVERTED' AND m.partner = ? AND m.message_type = ? AND m.reference_doc = ? AND m.state NOT IN ('REJECTED', 'CANCELLED')
         ORDER BY m.id LIMIT 1`,
      )
      .get(partner, messageType, ref) as { fcn: string; file: string; received_at: string } | undefined;
  }

  /** The last Work Order Milestones update staged for a work order. */
  lastMilestones(partner: string, workOrder: string): { fcn: string; body_hash: string; file: string; received_at: string; state: string } | undefined {
    return prepared(
        this.db,
        `SELECT m.fcn, m.body_hash, m.state, f.name AS file, f.received_at FROM messages m JOIN files f ON f.id = m.file_id
         WHERE f.state = 'CONVERTED' AND m.partner = ? AND m.message_type = 'WORK_ORDER_MILESTONES' AND m.work_order = ?
         ORDER BY m.id DESC LIMIT 1`,
      )
      .get(partner, workOrder) as { fcn: string; body_hash: string; file: string; received_at: string; state: string } | undefined;
  }

  /** The original a reversal points at: of the base type and partner, not REJECTED. */
  reversalOriginal(partner: string, baseType: string, ref: string): { id: number; fcn: string; state: string } | undefined {
    return prepared(
        this.db,
        `SELECT m.id, m.fcn, m.state FROM messages m JOIN files f ON f.id = m.file_id
         WHERE f.state = 'CONVERTED' AND m.partner = ? AND m.message_type = ? AND m.reference_doc = ?
           AND m.state IN ('STAGED', 'SENDING', 'SENT', 'ACCEPTED', 'HELD')
         ORDER BY m.id DESC LIMIT 1`,
      )
      .get(partner, baseType, ref) as { id: number; fcn: string; state: string } | undefined;
  }

  messageLines(messageId: number): { line_no: number; product_type: string; product_code: string; lot: string; quantity: string }[] {
    return this.db.prepare('SELECT line_no, product_type, product_code, lot, quantity FROM message_lines WHERE message_id = ? ORDER BY line_no').all(messageId) as {
      line_no: number;
      product_type: string;
      product_code: string;
      lot: string;
      quantity: string;
    }[];
  }

  /** Quantities already reversed per product+lot for an original, by live committed reversals. */
  reversedQuantities(partner: string, reversalType: string, originalRef: string): Map<string, string[]> {
    const rows = this.db
      .prepare(
        `SELECT l.product_type, l.product_code, l.lot, l.quantity FROM message_lines l
         JOIN messages m ON m.id = l.message_id JOIN files f ON f.id = m.file_id
         WHERE m.partner = ? AND m.message_type = ? AND m.original_ref = ?
           AND m.state NOT IN ('REJECTED', 'CANCELLED') AND f.state = 'CONVERTED'`,
      )
      .all(partner, reversalType, originalRef) as { product_type: string; product_code: string; lot: string; quantity: string }[];
    const out = new Map<string, string[]>();
    for (const r of rows) {
      const k = lineKey(r.product_type, r.product_code, r.lot);
      out.set(k, [...(out.get(k) ?? []), r.quantity]);
    }
    return out;
  }
}

export function lineKey(type: string, code: string, lot: string): string {
  return `${type}\u0000${code}\u0000${lot}`;
}


/** FileControlNumbers handed out in blocks, so conversion does not commit once per message. */
export class FcnAllocator {
  private next = 0;
  private end = 0;
  constructor(
    private readonly ledger: Ledger,
    private readonly prefix: string,
    private readonly block = 64,
  ) {}

  allocate(): string {
    if (this.next >= this.end) {
      this.next = this.ledger.reserveSequence(this.block);
      this.end = this.next + this.block;
    }
    return formatControlNumber(this.prefix, this.next++);
  }

  /** Gives the numbers reserved but never handed out back, when nobody reserved after us, so
   * operators see no gaps between files in the usual case. Handed-out numbers stay used. */
  release(): void {
    if (this.next >= this.end) return;
    this.ledger.releaseSequence(this.end - 1, this.next - 1);
    this.next = this.end = 0;
  }
}
