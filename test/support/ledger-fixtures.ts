// Ledger rows for batch tests, made directly with SQL against the schema (src/ledger/
// migrations.ts): a CONVERTED input file and STAGED messages, each with a real XML file in
// <dataDir>/outbox/<partner>/<fcn>.xml whose sha256 and size are what the ledger records.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Db } from '../../src/ledger/db.js';

export interface StagedFixture {
  id: number;
  fileId: number;
  fcn: string;
  partner: string;
  messageType: string;
  typeCode: string;
  referenceDoc: string;
  originalRef: string | null;
  /** as stored in messages.xml_path (relative to dataDir) */
  xmlPath: string;
  /** the outbox file */
  absPath: string;
  content: Buffer;
  sha256: string;
}

export interface StageOptions {
  partner?: string;
  messageType?: string;
  /** the SFTP folder; default: the message type */
  typeCode?: string;
  referenceDoc?: string;
  /** reversals: the original's reference_doc */
  originalRef?: string;
  /** the input file; default: a new CONVERTED file */
  fileId?: number;
  /** approximate size of the XML in bytes (default ~1.5 KB) */
  bytes?: number;
  /** default STAGED */
  state?: 'STAGED' | 'SENDING' | 'SENT' | 'ACCEPTED' | 'REJECTED' | 'HELD' | 'CANCELLED';
  batchId?: number;
}

export interface MessageRowView {
  id: number;
  fcn: string;
  state: string;
  remote_path: string | null;
  batch_id: number | null;
  last_error: string | null;
  attempts: number;
  sent_at: string | null;
  updated_at: string;
  bytes: number;
}

export interface TransitionView {
  from_state: string | null;
  to_state: string;
  at: string;
  detail: string | null;
}

export const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$/;

export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A small, well-formed XML document of about `bytes` bytes naming its FileControlNumber. */
export function sampleXml(fcn: string, messageType: string, bytes = 1500): Buffer {
  const head =
    `<?xml version="1.0" encoding="UTF-8"?>\n<TestMessage xmlns="urn:tlbridge:test" type="${messageType}">\n` +
    `  <FileControlNumber>${fcn}</FileControlNumber>\n  <Pad>`;
  const tail = '</Pad>\n</TestMessage>\n';
  const pad = Math.max(0, bytes - head.length - tail.length);
  let body = '';
  for (let i = 0; body.length < pad; i++) body += `${fcn}-${i};`;
  return Buffer.from(head + body.slice(0, pad) + tail, 'utf8');
}

export class LedgerFixtures {
  private seq = 0;
  /** created_at values increase in insertion order, so "oldest first" is insertion order */
  private clock = Date.parse('2026-01-01T00:00:00.000Z');

  constructor(
    readonly db: Db,
    readonly dataDir: string,
    /** FileControlNumber prefix (<= 8 characters): keeps numbers unique across tests sharing a server */
    readonly prefix = 'T',
  ) {}

  private tick(): string {
    this.clock += 1000;
    return new Date(this.clock).toISOString();
  }

  nextFcn(): string {
    this.seq++;
    return `${this.prefix}${String(this.seq).padStart(12, '0')}`;
  }

  /** An input file in state CONVERTED (or `state`), with its transition rows. */
  file(partner = 'ACME-PHARMA', messageType = 'MATERIALS_PRODUCED', state: 'RECEIVED' | 'CONVERTED' = 'CONVERTED'): number {
    const at = this.tick();
    const name = `erp-${this.prefix}-${this.seq}-${at.replace(/[:.]/g, '')}.txt`;
    const id = Number(
      this.db
        .prepare(
          `INSERT INTO files (name, inbound, layout, sha256, bytes, state, message_type, partner, messages, received_at, updated_at)
           VALUES (?, '/drop', 'erp-delimited', ?, 100, ?, ?, ?, 0, ?, ?)`,
        )
        .run(name, sha256Hex(name), state, messageType, partner, at, at).lastInsertRowid,
    );
    this.db.prepare(`INSERT INTO transitions (entity, entity_id, from_state, to_state, at) VALUES ('file', ?, NULL, 'RECEIVED', ?)`).run(id, at);
    if (state === 'CONVERTED') {
      this.db.prepare(`INSERT INTO transitions (entity, entity_id, from_state, to_state, at) VALUES ('file', ?, 'RECEIVED', 'CONVERTED', ?)`).run(id, at);
    }
    return id;
  }

  /** One message with its outbox file. */
  stage(opts: StageOptions = {}): StagedFixture {
    const partner = opts.partner ?? 'ACME-PHARMA';
    const messageType = opts.messageType ?? 'MATERIALS_PRODUCED';
    const typeCode = opts.typeCode ?? messageType;
    const fileId = opts.fileId ?? this.file(partner, messageType);
    const fcn = this.nextFcn();
    const referenceDoc = opts.referenceDoc ?? `REF-${fcn}`;
    const content = sampleXml(fcn, messageType, opts.bytes);
    const xmlPath = `outbox/${partner}/${fcn}.xml`;
    const absPath = path.join(this.dataDir, xmlPath);
    fs.mkdirSync(path.dirname(absPath), { recursive: true });
    fs.writeFileSync(absPath, content);
    const sha = sha256Hex(content);
    const at = this.tick();
    const state = opts.state ?? 'STAGED';
    const id = Number(
      this.db
        .prepare(
          `INSERT INTO messages (file_id, partner, message_type, type_code, fcn, reference_doc, work_order, original_ref, body_hash,
             source_line, xml_path, xml_sha256, bytes, state, batch_id, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, 'WO-1', ?, ?, 1, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(fileId, partner, messageType, typeCode, fcn, referenceDoc, opts.originalRef ?? null, sha, xmlPath, sha, content.length, state, opts.batchId ?? null, at, at)
        .lastInsertRowid,
    );
    this.db.prepare(`INSERT INTO transitions (entity, entity_id, from_state, to_state, at) VALUES ('message', ?, NULL, 'STAGED', ?)`).run(id, at);
    if (state !== 'STAGED') {
      this.db.prepare(`INSERT INTO transitions (entity, entity_id, from_state, to_state, at) VALUES ('message', ?, 'STAGED', ?, ?)`).run(id, state, at);
    }
    this.db.prepare('UPDATE files SET messages = messages + 1 WHERE id = ?').run(fileId);
    return { id, fileId, fcn, partner, messageType, typeCode, referenceDoc, originalRef: opts.originalRef ?? null, xmlPath, absPath, content, sha256: sha };
  }

  /** `n` messages of one new CONVERTED file. */
  stageMany(n: number, opts: StageOptions = {}): StagedFixture[] {
    // one transaction: the ledger runs synchronous=FULL, a commit per row would fsync each time
    return this.db.transaction(() => {
      const fileId = opts.fileId ?? this.file(opts.partner, opts.messageType);
      return Array.from({ length: n }, () => this.stage({ ...opts, fileId }));
    })();
  }

  /** A batches row left unfinished, as a cycle that was killed leaves it. */
  openBatch(partner = 'ACME-PHARMA', messages = 0): number {
    return Number(
      this.db.prepare(`INSERT INTO batches (partner, started_at, messages) VALUES (?, ?, ?)`).run(partner, this.tick(), messages).lastInsertRowid,
    );
  }

  setState(id: number, state: string, extra: { sentAt?: string; remotePath?: string } = {}): void {
    const at = this.tick();
    this.db
      .prepare('UPDATE messages SET state = ?, sent_at = COALESCE(?, sent_at), remote_path = COALESCE(?, remote_path), updated_at = ? WHERE id = ?')
      .run(state, extra.sentAt ?? null, extra.remotePath ?? null, at, id);
  }

  row(id: number): MessageRowView {
    const r = this.db.prepare('SELECT id, fcn, state, remote_path, batch_id, last_error, attempts, sent_at, updated_at, bytes FROM messages WHERE id = ?').get(id);
    if (!r) throw new Error(`no message ${id}`);
    return r as MessageRowView;
  }

  transitions(id: number): TransitionView[] {
    return this.db
      .prepare(`SELECT from_state, to_state, at, detail FROM transitions WHERE entity = 'message' AND entity_id = ? ORDER BY id`)
      .all(id) as TransitionView[];
  }

  countByState(partner?: string): Record<string, number> {
    const rows = (
      partner
        ? this.db.prepare('SELECT state, count(*) AS n FROM messages WHERE partner = ? GROUP BY state').all(partner)
        : this.db.prepare('SELECT state, count(*) AS n FROM messages GROUP BY state').all()
    ) as { state: string; n: number }[];
    return Object.fromEntries(rows.map((r) => [r.state, r.n]));
  }
}
