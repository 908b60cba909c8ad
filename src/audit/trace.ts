// `audit trace ID` (product.md 10): every message that matches a message id, a
// FileControlNumber or a reference document number, each with its whole life from the ledger
// and the archive: the source file and line, the XML (path, sha256), every transition with its
// time and operator, every upload, every ack, and the rules in force when it was staged (the
// latest config manifest of the chain at or before that time).
import fs from 'node:fs';
import path from 'node:path';
import type { Db } from '../ledger/db.js';
import { VISIBLE } from '../ledger/ledger.js';
import { operatorText } from '../ledger/operator.js';

export interface TraceTransition {
  at: string;
  from: string | null;
  to: string;
  detail: string | null;
  /** the operator behind it, when an operator command made it */
  operator: { actionId: number; command: string; by: string; reason: string } | null;
}

export interface TraceUpload {
  batchId: number;
  batchTime: string;
  sentAt: string;
  remotePath: string | null;
  /** the XML as sent, under archive/ (null when the batch is not archived) */
  archivedXml: string | null;
}

export interface TraceAck {
  id: number;
  receivedAt: string;
  remoteName: string;
  ackFileControlNumber: string | null;
  status: string | null;
  effect: string | null;
  fileDate: string | null;
  fileTime: string | null;
  sha256: string;
  /** the ack file as archived, under archive/ */
  archivedPath: string | null;
  errors: Array<{ code: string; class: number; message: string; path: string | null }>;
  note: string | null;
}

export interface TraceRules {
  /** the config manifest, under archive/ */
  manifest: string;
  createdAt: string;
  event: string | null;
  config: { path: string; sha256: string } | null;
  /** the schema of the message's type */
  schema: { name: string; path: string; sha256: string } | null;
}

export interface TraceMessage {
  id: string;
  partner: string;
  messageType: string;
  fileControlNumber: string;
  referenceDocumentNumber: string;
  workOrderNumber: string;
  originalReferenceDocumentNumber: string | null;
  state: string;
  lots: string[];
  source: { file: string; fileId: number; line: number; sha256: string; receivedAt: string; archiveDir: string | null };
  xml: { path: string; sha256: string; bytes: number };
  transitions: TraceTransition[];
  uploads: TraceUpload[];
  acks: TraceAck[];
  rulesInForce: TraceRules | null;
}

type MessageRow = {
  id: number;
  partner: string;
  message_type: string;
  fcn: string;
  reference_doc: string;
  work_order: string;
  original_ref: string | null;
  state: string;
  remote_path: string | null;
  source_line: number;
  xml_path: string;
  xml_sha256: string;
  bytes: number;
  file_id: number;
  file_name: string;
  file_sha256: string;
  received_at: string;
  file_archive: string | null;
};

/** A manifest of ours is small; anything bigger is not read whole. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

function readManifest(archiveRoot: string, rel: string): Record<string, unknown> | null {
  try {
    const abs = path.join(archiveRoot, rel);
    if (fs.statSync(abs).size > MAX_MANIFEST_BYTES) return null;
    return JSON.parse(fs.readFileSync(abs, 'utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

export function traceMessages(db: Db, archiveRoot: string, id: string): TraceMessage[] {
  const rows = db
    .prepare(
      `SELECT m.id, m.partner, m.message_type, m.fcn, m.reference_doc, m.work_order, m.original_ref, m.state, m.remote_path, m.source_line,
         m.xml_path, m.xml_sha256, m.bytes, f.id AS file_id, f.name AS file_name, f.sha256 AS file_sha256, f.received_at,
         f.archive_dir AS file_archive
       FROM messages m JOIN files f ON f.id = m.file_id
       WHERE ${VISIBLE} AND (CAST(m.id AS TEXT) = @id OR m.fcn = @id OR m.reference_doc = @id) ORDER BY m.id`,
    )
    .all({ id }) as MessageRow[];
  return rows.map((m) => traceOne(db, archiveRoot, m));
}

function traceOne(db: Db, archiveRoot: string, m: MessageRow): TraceMessage {
  const lots = db.prepare('SELECT lot FROM message_lines WHERE message_id = ? GROUP BY lot ORDER BY min(line_no)').pluck().all(m.id) as string[];
  const transitions = (
    db.prepare(`SELECT id, at, from_state, to_state, detail FROM transitions WHERE entity = 'message' AND entity_id = ? ORDER BY id`).all(m.id) as Array<{
      id: number;
      at: string;
      from_state: string | null;
      to_state: string;
      detail: string | null;
    }>
  ).map((t): TraceTransition & { id: number } => ({ id: t.id, at: t.at, from: t.from_state, to: t.to_state, detail: t.detail, operator: operatorOf(db, t.detail) }));

  // an upload: a claim (detail `batch N`) whose next move is SENDING -> SENT (rows.ts)
  const uploads: TraceUpload[] = [];
  transitions.forEach((t, i) => {
    const next = transitions[i + 1];
    const bid = /^batch (\d+)$/.exec(t.detail ?? '')?.[1];
    if (t.from !== 'STAGED' || t.to !== 'SENDING' || !bid || next?.from !== 'SENDING' || next.to !== 'SENT') return;
    const b = db.prepare('SELECT started_at, archive_dir FROM batches WHERE id = ?').get(Number(bid)) as { started_at: string; archive_dir: string | null } | undefined;
    const archived = b?.archive_dir && fs.existsSync(path.join(archiveRoot, b.archive_dir, `${m.fcn}.xml`)) ? `${b.archive_dir}/${m.fcn}.xml` : null;
    uploads.push({ batchId: Number(bid), batchTime: b?.started_at ?? t.at, sentAt: next.at, remotePath: remotePathIn(archiveRoot, b?.archive_dir ?? null, m), archivedXml: archived });
  });

  const acks = (
    db
      .prepare(
        `SELECT id, received_at, remote_name, ack_fcn, status, effect, file_date, file_time, sha256, archive_dir, errors_json, problem
         FROM acks WHERE message_id = ? ORDER BY id`,
      )
      .all(m.id) as Array<Record<string, string | number | null>>
  ).map(
    (a): TraceAck => ({
      id: a.id as number,
      receivedAt: a.received_at as string,
      remoteName: a.remote_name as string,
      ackFileControlNumber: a.ack_fcn as string | null,
      status: a.status as string | null,
      effect: a.effect as string | null,
      fileDate: a.file_date as string | null,
      fileTime: a.file_time as string | null,
      sha256: a.sha256 as string,
      archivedPath: ackFileIn(archiveRoot, a.archive_dir as string | null),
      errors: a.errors_json ? (JSON.parse(a.errors_json as string) as TraceAck['errors']) : [],
      note: a.problem as string | null,
    }),
  );

  const stagedAt = transitions.find((t) => t.from === null && t.to === 'STAGED')?.at ?? null;
  return {
    id: String(m.id),
    partner: m.partner,
    messageType: m.message_type,
    fileControlNumber: m.fcn,
    referenceDocumentNumber: m.reference_doc,
    workOrderNumber: m.work_order,
    originalReferenceDocumentNumber: m.original_ref,
    state: m.state,
    lots,
    source: { file: m.file_name, fileId: m.file_id, line: m.source_line, sha256: m.file_sha256, receivedAt: m.received_at, archiveDir: m.file_archive },
    xml: { path: m.xml_path, sha256: m.xml_sha256, bytes: m.bytes },
    transitions: transitions.map(({ id: _id, ...t }) => t),
    uploads,
    acks,
    rulesInForce: stagedAt ? rulesAt(db, archiveRoot, stagedAt, m.message_type) : null,
  };
}

/** The operator action a transition names (`... (operator action N): reason`, operator-command.ts). */
function operatorOf(db: Db, detail: string | null): TraceTransition['operator'] {
  const n = /\(operator action (\d+)\)/.exec(detail ?? '')?.[1];
  if (!n) return null;
  const a = db.prepare('SELECT id, command, reason, os_user, login_user, sudo_user FROM operator_actions WHERE id = ?').get(Number(n)) as
    | { id: number; command: string; reason: string; os_user: string; login_user: string | null; sudo_user: string | null }
    | undefined;
  if (!a) return null;
  return { actionId: a.id, command: a.command, by: operatorText({ osUser: a.os_user, loginUser: a.login_user, sudoUser: a.sudo_user }), reason: a.reason };
}

/** Where the batch manifest says this message went (else the message's remote path). */
function remotePathIn(root: string, dir: string | null, m: MessageRow): string | null {
  const man = dir ? readManifest(root, `${dir}/manifest.json`) : null;
  const list = Array.isArray(man?.messages) ? (man.messages as Array<Record<string, unknown>>) : [];
  const hit = list.find((x) => x && x.fcn === m.fcn);
  return str(hit?.remotePath) ?? m.remote_path;
}

/** The ack file of an ack folder (its manifest lists the one file). */
function ackFileIn(root: string, dir: string | null): string | null {
  if (!dir) return null;
  const man = readManifest(root, `${dir}/manifest.json`);
  const files = Array.isArray(man?.files) ? (man.files as Array<Record<string, unknown>>) : [];
  const p = str(files[0]?.path);
  return p ? `${dir}/${p}` : null;
}

/** The rules in force at `at`: the latest config manifest created at or before it. */
function rulesAt(db: Db, root: string, at: string, messageType: string): TraceRules | null {
  const row = db.prepare(`SELECT path, created_at FROM manifests WHERE kind = 'config' AND created_at <= ? ORDER BY seq DESC LIMIT 1`).get(at) as
    | { path: string; created_at: string }
    | undefined;
  if (!row) return null;
  const man = readManifest(root, row.path);
  const cfg = man?.config as Record<string, unknown> | undefined;
  const schemas = Array.isArray(man?.schemas) ? (man.schemas as Array<Record<string, unknown>>) : [];
  const s = schemas.find((x) => x && x.name === messageType);
  return {
    manifest: row.path,
    createdAt: row.created_at,
    event: str(man?.event),
    config: cfg && str(cfg.path) !== null && str(cfg.sha256) !== null ? { path: str(cfg.path)!, sha256: str(cfg.sha256)! } : null,
    schema: s && str(s.path) !== null && str(s.sha256) !== null ? { name: messageType, path: str(s.path)!, sha256: str(s.sha256)! } : null,
  };
}
