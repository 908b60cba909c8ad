// Helpers for the ack tests: an ack rendered exactly like messages.md section 2's example (with
// parameters), a throwaway data folder + config pointing at a test sshd, and ledger rows of
// sent messages made directly with SQL against the schema (src/ledger/migrations.ts).
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Archive } from '../../src/archive/archive.js';
import { loadConfig, type Config } from '../../src/config/load.js';
import { openLedger, type Db } from '../../src/ledger/db.js';
import type { Logger } from '../../src/log.js';
import { memoryLogger, type LogEntry } from './memory-logger.js';
import { pollAcks, type PollAcksResult } from '../../src/acks/poll.js';
import { endpointFor } from '../../src/transport/endpoint.js';
import { SftpPool } from '../../src/transport/pool.js';
import type { TestSshd } from './sshd.js';

export const SENDER_ID = '0614141000005'; // us (sender.id)
export const RECEIVER_ID = '0312345000001'; // ACME-PHARMA's receiverId
export const PARTNER = 'ACME-PHARMA';
export const ACK_DIR = '/outbox/IE_PROCESSING_RESPONSE';

export interface AckErrorSpec {
  code: string;
  class: number | string;
  message: string;
  path?: string;
}

export interface AckSpec {
  /** InputFileControlNumber: the FileControlNumber of the message answered */
  inputFcn: string;
  status?: string;
  errors?: AckErrorSpec[];
  /** the ack's own FileControlNumber */
  ackFcn?: string;
  fileDate?: string;
  fileTime?: string;
  inputTransactionType?: string;
  /** InputFileSenderNumber: by default our sender.id */
  inputSender?: string;
  /** InputFileReceiverNumber: by default the partner's receiverId */
  inputReceiver?: string;
  /** header FileSenderNumber (the partner) */
  sender?: string;
  /** header FileReceiverNumber (us) */
  receiver?: string;
  ieNamespace?: string;
  cmnNamespace?: string;
}

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

let ackSeq = 0;

/** The ack of messages.md 2, byte for byte the example's layout, with the given values. */
export function renderAck(a: AckSpec): string {
  const ie = a.ieNamespace ?? 'urn:tracelink:mapper:sl:processing_response';
  const cmn = a.cmnNamespace ?? 'urn:tracelink:mapper:sl:commontypes';
  const errors = (a.errors ?? [])
    .map(
      (e) =>
        `    <ie:ProcessingError>\n` +
        `      <ie:ErrorCode>${escapeXml(e.code)}</ie:ErrorCode>\n` +
        `      <ie:ErrorClass>${escapeXml(String(e.class))}</ie:ErrorClass>\n` +
        `      <ie:ErrorMessage>${escapeXml(e.message)}</ie:ErrorMessage>\n` +
        (e.path !== undefined ? `      <ie:ErrorPath>${escapeXml(e.path)}</ie:ErrorPath>\n` : '') +
        `    </ie:ProcessingError>\n`,
    )
    .join('');
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<ie:IEProcessingAckMessage xmlns:ie="${ie}"\n` +
    `                           xmlns:cmn="${cmn}">\n` +
    `  <ie:ControlFileHeader>\n` +
    `    <cmn:FileSenderNumber>${escapeXml(a.sender ?? RECEIVER_ID)}</cmn:FileSenderNumber>\n` +
    `    <cmn:FileReceiverNumber>${escapeXml(a.receiver ?? SENDER_ID)}</cmn:FileReceiverNumber>\n` +
    `    <cmn:FileControlNumber>${escapeXml(a.ackFcn ?? `ACK${String(++ackSeq).padStart(9, '0')}`)}</cmn:FileControlNumber>\n` +
    `    <cmn:FileDate>${escapeXml(a.fileDate ?? '2026-11-25')}</cmn:FileDate>\n` +
    `    <cmn:FileTime>${escapeXml(a.fileTime ?? '12:00:00Z')}</cmn:FileTime>\n` +
    `  </ie:ControlFileHeader>\n` +
    `  <ie:MessageBody>\n` +
    `    <ie:ProcessingResultsHeader>\n` +
    `      <ie:InputFileTransactionType>${escapeXml(a.inputTransactionType ?? 'MATPRODUCED')}</ie:InputFileTransactionType>\n` +
    `      <ie:InputFileSenderNumber>${escapeXml(a.inputSender ?? SENDER_ID)}</ie:InputFileSenderNumber>\n` +
    `      <ie:InputFileReceiverNumber>${escapeXml(a.inputReceiver ?? RECEIVER_ID)}</ie:InputFileReceiverNumber>\n` +
    `      <ie:InputFileControlNumber>${escapeXml(a.inputFcn)}</ie:InputFileControlNumber>\n` +
    `      <ie:ProcessingStatus>${escapeXml(a.status ?? 'SUCCESS')}</ie:ProcessingStatus>\n` +
    `    </ie:ProcessingResultsHeader>\n` +
    errors +
    `  </ie:MessageBody>\n` +
    `</ie:IEProcessingAckMessage>\n`
  );
}

export function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

// ------------------------------------------------------------------------------ ledger rows

export interface SentMessage {
  id: number;
  fcn: string;
  fileId: number;
  batchId: number;
}

let fileSeq = 0;

/**
 * A CONVERTED input file, a finished batches row (unless `batchId` is given) and one message in
 * `state` (default SENT) with its transitions, sent_at and remote_path.
 */
export function seedMessage(
  db: Db,
  opts: { fcn: string; state?: string; sentAt?: string; batchId?: number; partner?: string; typeCode?: string },
): SentMessage {
  const partner = opts.partner ?? PARTNER;
  const typeCode = opts.typeCode ?? 'MATERIALS_PRODUCED';
  const state = opts.state ?? 'SENT';
  const sentAt = opts.sentAt ?? new Date().toISOString();
  const name = `erp-${++fileSeq}-${opts.fcn}.txt`;
  const fileId = Number(
    db
      .prepare(
        `INSERT INTO files (name, inbound, layout, sha256, bytes, state, message_type, partner, messages, received_at, updated_at)
         VALUES (?, '/drop', 'erp-delimited', ?, 100, 'CONVERTED', 'MATERIALS_PRODUCED', ?, 1, ?, ?)`,
      )
      .run(name, sha256Hex(name), partner, sentAt, sentAt).lastInsertRowid,
  );
  db.prepare(`INSERT INTO transitions (entity, entity_id, from_state, to_state, at) VALUES ('file', ?, NULL, 'RECEIVED', ?), ('file', ?, 'RECEIVED', 'CONVERTED', ?)`).run(
    fileId,
    sentAt,
    fileId,
    sentAt,
  );
  const batchId =
    opts.batchId ??
    Number(
      db
        .prepare(`INSERT INTO batches (partner, started_at, finished_at, outcome, messages) VALUES (?, ?, ?, 'sent', 1)`)
        .run(partner, sentAt, sentAt).lastInsertRowid,
    );
  const xmlPath = `outbox/${partner}/${opts.fcn}.xml`;
  const id = Number(
    db
      .prepare(
        `INSERT INTO messages (file_id, partner, message_type, type_code, fcn, reference_doc, work_order, body_hash, source_line,
           xml_path, xml_sha256, bytes, state, remote_path, batch_id, attempts, created_at, updated_at, sent_at)
         VALUES (?, ?, 'MATERIALS_PRODUCED', ?, ?, ?, 'WO-1', ?, 1, ?, ?, 1000, ?, ?, ?, 1, ?, ?, ?)`,
      )
      .run(
        fileId,
        partner,
        typeCode,
        opts.fcn,
        `REF-${opts.fcn}`,
        sha256Hex(opts.fcn),
        xmlPath,
        sha256Hex(xmlPath),
        state,
        `/inbox/${typeCode}/${opts.fcn}.xml`,
        batchId,
        sentAt,
        sentAt,
        sentAt,
      ).lastInsertRowid,
  );
  // how it got there: STAGED, SENDING, SENT, then STAGED again after a resend, or an outcome
  const steps = state === 'SENDING' ? ['STAGED', 'SENDING'] : state === 'SENT' ? ['STAGED', 'SENDING', 'SENT'] : ['STAGED', 'SENDING', 'SENT', state];
  let from: string | null = null;
  for (const to of steps) {
    db.prepare(`INSERT INTO transitions (entity, entity_id, from_state, to_state, at, detail) VALUES ('message', ?, ?, ?, ?, 'seeded')`).run(id, from, to, sentAt);
    from = to;
  }
  return { id, fcn: opts.fcn, fileId, batchId };
}

export interface MessageView {
  id: number;
  fcn: string;
  state: string;
  last_error: string | null;
  batch_id: number | null;
  overdue_logged_at: string | null;
  updated_at: string;
}

export interface AckRow {
  id: number;
  partner: string;
  remote_name: string;
  sha256: string;
  bytes: number;
  valid: number;
  problem: string | null;
  ack_fcn: string | null;
  input_fcn: string | null;
  status: string | null;
  errors_json: string | null;
  file_date: string | null;
  file_time: string | null;
  message_id: number | null;
  effect: string | null;
  archive_dir: string | null;
  received_at: string;
}

export interface TransitionRow {
  from_state: string | null;
  to_state: string;
  at: string;
  detail: string | null;
}

// ------------------------------------------------------------------------------ environment

export interface AckEnv {
  dir: string;
  configPath: string;
  config: Config;
  db: Db;
  archive: Archive;
  logger: Logger & { entries: LogEntry[] };
  pool: SftpPool;
  /** local folder that is ackDir on the server */
  serverAckDir: string;
  poll(): Promise<PollAcksResult>;
  /** writes an ack file into the server's ackDir (atomically: temp name + rename) */
  put(name: string, content: string | Buffer): string;
  serverFiles(dir?: string): string[];
  message(id: number): MessageView;
  transitions(id: number): TransitionRow[];
  acks(): AckRow[];
  manifests(): number;
  close(): Promise<void>;
}

export interface AckEnvOptions {
  ackAfterRead?: string;
  maxAckBytes?: number;
  ackPoll?: string;
  ackDeadlineMinutes?: number;
  /** another port (e.g. one nobody listens on) */
  port?: number;
  timeoutMs?: number;
  /** the per-poll limits of partners.X.sftp */
  limits?: { maxAckEntries?: number; maxAcksPerPoll?: number; maxAckBytesPerPoll?: number };
}

export function makeAckEnv(sshd: TestSshd, opts: AckEnvOptions = {}): AckEnv {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlbridge-acks-'));
  const configPath = path.join(dir, 'tlbridge.yaml');
  fs.writeFileSync(
    configPath,
    `sender: { id: "${SENDER_ID}", controlNumberPrefix: "T" }
timezone: UTC
dataDir: ./var
inbound:
  - { path: ./var/inbound, layout: erp-delimited }
partners:
  ${PARTNER}:
    receiverId: "${RECEIVER_ID}"
    usage: TEST
    schedule: "0 0 1 1 *"
    ackPoll: "${opts.ackPoll ?? '0 0 1 1 *'}"
    ackDeadlineMinutes: ${opts.ackDeadlineMinutes ?? 240}
    sftp:
      host: 127.0.0.1
      port: ${opts.port ?? sshd.port}
      username: ${sshd.username}
      privateKeyFile: ${sshd.privateKeyPath}
      hostKeySha256: "${sshd.hostKeySha256}"
      ackDir: ${ACK_DIR}
      ackAfterRead: "${opts.ackAfterRead ?? 'delete'}"
      maxAckBytes: ${opts.maxAckBytes ?? 8192}
      timeoutMs: ${opts.timeoutMs ?? 10000}
${Object.entries(opts.limits ?? {}).map(([k, v]) => `      ${k}: ${v}\n`).join('')}`,
  );
  const config = loadConfig(configPath);
  const db = openLedger(path.join(config.dataDir, 'ledger.sqlite'));
  const archive = new Archive(path.join(config.dataDir, 'archive'), db);
  const logger = memoryLogger();
  const pool = new SftpPool(endpointFor(config, PARTNER), 1);
  const serverAckDir = path.join(sshd.root, ACK_DIR.slice(1));
  let putSeq = 0;
  return {
    dir,
    configPath,
    config,
    db,
    archive,
    logger,
    pool,
    serverAckDir,
    poll: () => pollAcks({ db, config, archive, pool, partner: PARTNER, logger }),
    put(name, content) {
      const final = path.join(serverAckDir, name);
      const tmp = path.join(serverAckDir, `.put-${process.pid}-${++putSeq}`);
      fs.writeFileSync(tmp, content);
      fs.renameSync(tmp, final);
      return final;
    },
    serverFiles(d = serverAckDir) {
      return fs.existsSync(d) ? fs.readdirSync(d).filter((f) => fs.statSync(path.join(d, f)).isFile()).sort() : [];
    },
    message(id) {
      return db.prepare('SELECT id, fcn, state, last_error, batch_id, overdue_logged_at, updated_at FROM messages WHERE id = ?').get(id) as MessageView;
    },
    transitions(id) {
      return db.prepare(`SELECT from_state, to_state, at, detail FROM transitions WHERE entity = 'message' AND entity_id = ? ORDER BY id`).all(id) as TransitionRow[];
    },
    acks() {
      return db.prepare('SELECT * FROM acks ORDER BY id').all() as AckRow[];
    },
    manifests() {
      return (db.prepare('SELECT COUNT(*) AS n FROM manifests').get() as { n: number }).n;
    },
    async close() {
      await pool.close();
      db.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Empties the server's ackDir and the other folders a test may have made (keeps ackDir itself). */
export function clearServer(sshd: TestSshd): void {
  for (const entry of fs.readdirSync(sshd.root)) {
    const p = path.join(sshd.root, entry);
    if (entry === 'outbox' || entry === 'inbox') continue;
    fs.rmSync(p, { recursive: true, force: true });
  }
  const ackDir = path.join(sshd.root, ACK_DIR.slice(1));
  fs.rmSync(ackDir, { recursive: true, force: true });
  fs.mkdirSync(ackDir, { recursive: true, mode: 0o755 });
}

/** Every file under `dir`, recursively (absolute paths). */
export function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}
