// The facts retention decides on (prune-rules.ts), read from the manifests on disk and the
// ledger. Manifests never change once written, so what was read from disk is kept in a cache:
// the plan is made once outside the write lock (disk reads) and again inside it (ledger only),
// so a message that changed in between is seen.
import fs from 'node:fs';
import path from 'node:path';
import type { Db } from '../ledger/db.js';
import { isErrorFileDismissed } from '../ledger/dismissals.js';
import { sha256 } from '../util/sha256.js';
import type { Manifest } from './archive.js';
import { decideConfigPrune, decidePrune, type FolderFacts, type MessageFacts } from './prune-rules.js';

/** a manifest larger than this is not ours: never read whole, never pruned */
const MAX_MANIFEST_BYTES = 64 * 1024 * 1024;

/** What the archive's pruning manifest names of each removed manifest. */
export interface PrunedEntry {
  seq: number;
  kind: string;
  id: string;
  path: string;
  sha256: string;
  previousManifestSha256: string | null;
  createdAt: string;
  /** the folder's files and the manifest itself */
  bytes: number;
}

interface ManifestRow {
  seq: number;
  kind: string;
  ref: string;
  path: string;
  sha256: string;
  created_at: string;
}

/** What one read of a manifest gave: null when it is missing, changed or not JSON. */
export type ManifestCache = Map<number, { m: Manifest; bytes: number } | null>;

export interface PrunePlan {
  cutoff: string;
  entries: PrunedEntry[];
  folders: FolderFacts[];
  messages: { id: number; xmlPath: string; xmlSha256: string; bytes: number }[];
  fileIds: number[];
  batchIds: number[];
  ackDirs: string[];
  /** rejected input files that go with their intake (absolute paths, with their reports) */
  errorFiles: string[];
  kept: Map<string, string>;
}

const numbers = (v: unknown): number[] => (Array.isArray(v) ? v : []).map((x) => Number(x)).filter((n) => Number.isSafeInteger(n));

function readManifest(root: string, row: ManifestRow, cache: ManifestCache): { m: Manifest; bytes: number } | null {
  if (cache.has(row.seq)) return cache.get(row.seq)!;
  let got: { m: Manifest; bytes: number } | null = null;
  try {
    const p = path.join(root, row.path);
    if (fs.lstatSync(p).size <= MAX_MANIFEST_BYTES) {
      const text = fs.readFileSync(p, 'utf8');
      if (sha256(text) === row.sha256) {
        const m = JSON.parse(text) as Manifest;
        const bytes = Buffer.byteLength(text) + (m.files ?? []).reduce((n, f) => n + (Number(f.bytes) || 0), 0);
        got = { m, bytes };
      }
    }
  } catch {
    got = null;
  }
  cache.set(row.seq, got);
  return got;
}

/** The messages a manifest names, by its kind (archive.ts callers write these fields). */
function namedMessages(db: Db, kind: string, m: Manifest, dir: string): number[] {
  switch (kind) {
    case 'intake':
      return db.prepare('SELECT id FROM messages WHERE file_id = ?').pluck().all(Number(m.fileId)) as number[];
    case 'batch':
      return numbers(((m.messages as { id?: unknown }[] | undefined) ?? []).map((x) => x?.id));
    case 'acks': {
      const answered = numbers(((m.answers as { messageId?: unknown }[] | undefined) ?? []).map((x) => x?.messageId));
      const rows = db.prepare('SELECT message_id FROM acks WHERE archive_dir = ? AND message_id IS NOT NULL').pluck().all(dir) as number[];
      return [...new Set([...answered, ...rows])];
    }
    case 'operator':
      if (m.messageId !== undefined) return numbers([m.messageId]);
      // what a dismiss dismissed: `dismissedKind`; manifests written before it was named so
      // carry it in `kind` (the dismiss's field overwrote the manifest's 'operator')
      return m.command === 'dismiss' && (m.dismissedKind ?? m.kind) === 'message' ? numbers([m.target]) : [];
    default:
      return [];
  }
}

function intakeErrorFile(db: Db, m: Manifest): { path: string; inErrorDir: boolean; dismissed: boolean } | null {
  const p = db.prepare('SELECT error_path FROM files WHERE id = ?').pluck().get(Number(m.fileId)) as string | null | undefined;
  if (!p) return null;
  return { path: p, inErrorDir: fs.existsSync(p), dismissed: isErrorFileDismissed(db, path.basename(p)) };
}

/** Folders the ledger knows to name each message, of any age: its intake, its latest batch,
 * its acks, the operator actions on it (by FileControlNumber, a dismiss by id). */
function messageFacts(db: Db, ids: number[]): Map<number, MessageFacts & { xmlPath: string; xmlSha256: string; bytes: number; fcn: string }> {
  const out = new Map<number, MessageFacts & { xmlPath: string; xmlSha256: string; bytes: number; fcn: string }>();
  if (!ids.length) return out;
  const operatorDirs = new Map<string, string[]>();
  const ops = db
    .prepare(`SELECT o.command, o.target, mf.path FROM operator_actions o JOIN manifests mf ON mf.kind = 'operator' AND mf.ref = CAST(o.id AS TEXT)`)
    .all() as { command: string; target: string; path: string }[];
  for (const o of ops) {
    const key = o.command === 'dismiss' ? `id:${o.target}` : `fcn:${o.target}`;
    operatorDirs.set(key, [...(operatorDirs.get(key) ?? []), path.dirname(o.path)]);
  }
  const rows = db
    .prepare(
      `SELECT m.id, m.state, m.updated_at, m.fcn, m.xml_path, m.xml_sha256, m.bytes, f.archive_dir AS intake_dir, b.archive_dir AS batch_dir
         FROM messages m JOIN files f ON f.id = m.file_id LEFT JOIN batches b ON b.id = m.batch_id
        WHERE m.id IN (SELECT value FROM json_each(?))`,
    )
    .all(JSON.stringify(ids)) as { id: number; state: string; updated_at: string; fcn: string; xml_path: string; xml_sha256: string; bytes: number; intake_dir: string | null; batch_dir: string | null }[];
  const ackDirs = db.prepare('SELECT archive_dir FROM acks WHERE message_id = ?').pluck();
  for (const r of rows) {
    const folders = [r.intake_dir, r.batch_dir, ...(ackDirs.all(r.id) as (string | null)[]), ...(operatorDirs.get(`fcn:${r.fcn}`) ?? []), ...(operatorDirs.get(`id:${r.id}`) ?? [])];
    const known = folders.filter((d): d is string => d !== null);
    out.set(r.id, { id: r.id, state: r.state, updatedAt: r.updated_at, folders: known, xmlPath: r.xml_path, xmlSha256: r.xml_sha256, bytes: r.bytes, fcn: r.fcn });
  }
  return out;
}

/** What a prune at `cutoff` removes and what it keeps (and why). Reads the ledger as it is now;
 * disk reads of manifests go through `cache`. */
export function planPrune(root: string, db: Db, cutoff: string, cache: ManifestCache): PrunePlan {
  const newest = (table: string) => (db.prepare(`SELECT MAX(id) FROM ${table}`).pluck().get() as number | null) ?? null;
  const newestFile = newest('files');
  const newestBatch = newest('batches');
  const newestAck = newest('acks');
  const newestOf = (kind: string, m: Manifest | undefined, row: ManifestRow, dir: string): string | null => {
    if (kind === 'intake' && m && Number(m.fileId) === newestFile) return 'files';
    if (kind === 'batch' && Number(row.ref) === newestBatch) return 'batches';
    if (kind === 'acks' && newestAck !== null && db.prepare('SELECT 1 FROM acks WHERE id = ? AND archive_dir = ?').get(newestAck, dir)) return 'acks';
    return null;
  };
  const rows = db
    .prepare(
      `SELECT seq, kind, ref, path, sha256, created_at FROM manifests
        WHERE (created_at < ? OR kind = 'config') AND kind <> 'prune' AND seq NOT IN (SELECT seq FROM pruned_manifests) ORDER BY seq`,
    )
    .all(cutoff) as ManifestRow[];
  const folders: FolderFacts[] = [];
  const errorFiles = new Map<string, string>();
  const bySeq = new Map<string, ManifestRow>();
  const configs: { dir: string; createdAt: string; intact: boolean }[] = [];
  for (const row of rows) {
    const dir = path.dirname(row.path);
    if (row.kind === 'config') {
      configs.push({ dir, createdAt: row.created_at, intact: row.created_at < cutoff && readManifest(root, row, cache) !== null });
      bySeq.set(dir, row);
      continue;
    }
    if (!(row.created_at < cutoff)) continue;
    bySeq.set(dir, row);
    const got = readManifest(root, row, cache);
    const err = got && row.kind === 'intake' ? intakeErrorFile(db, got.m) : null;
    if (err) errorFiles.set(dir, err.path);
    folders.push({
      dir,
      kind: row.kind,
      createdAt: row.created_at,
      intact: got !== null,
      messageIds: got ? namedMessages(db, row.kind, got.m, dir) : [],
      errorFile: err ? { inErrorDir: err.inErrorDir, dismissed: err.dismissed } : null,
      newestRow: newestOf(row.kind, got?.m, row, dir),
    });
  }
  const facts = messageFacts(db, [...new Set(folders.flatMap((f) => f.messageIds))]);
  const newestMessage = facts.get(newest('messages') ?? -1);
  if (newestMessage) newestMessage.newest = true;
  const decision = decidePrune({ cutoff, folders, messages: facts });
  const goneIds = new Set(decision.messageIds);
  const oldestKept = db
    .prepare('SELECT MIN(created_at) FROM messages WHERE id NOT IN (SELECT value FROM json_each(?))')
    .pluck()
    .get(JSON.stringify(decision.messageIds)) as string | null;
  const configGone = new Set(decideConfigPrune(configs, cutoff, oldestKept).map((c) => c.dir));
  const gone = [...decision.folders.map((f) => f.dir), ...configGone];
  const entries: PrunedEntry[] = gone
    .map((dir) => bySeq.get(dir)!)
    .sort((a, b) => a.seq - b.seq)
    .map((row) => {
      const got = readManifest(root, row, cache)!;
      return {
        seq: row.seq,
        kind: row.kind,
        id: row.ref,
        path: row.path,
        sha256: row.sha256,
        previousManifestSha256: got.m.previousManifestSha256 ?? null,
        createdAt: row.created_at,
        bytes: got.bytes,
      };
    });
  const ofKind = (k: string) => entries.filter((e) => e.kind === k);
  return {
    cutoff,
    entries,
    folders: decision.folders,
    messages: [...goneIds].map((id) => facts.get(id)!).map((m) => ({ id: m.id, xmlPath: m.xmlPath, xmlSha256: m.xmlSha256, bytes: m.bytes })),
    fileIds: numbers(ofKind('intake').map((e) => readManifest(root, bySeq.get(path.dirname(e.path))!, cache)!.m.fileId)),
    batchIds: numbers(ofKind('batch').map((e) => e.id)),
    ackDirs: ofKind('acks').map((e) => path.dirname(e.path)),
    errorFiles: ofKind('intake')
      .map((e) => errorFiles.get(path.dirname(e.path)))
      .filter((p): p is string => p !== undefined),
    kept: decision.kept,
  };
}
