// A retention run (product.md 9): what prune-plan.ts finds may go is removed as whole manifests.
// Crash-safe order: ONE transaction records the pruning manifest (kind 'prune', chained like
// every other, naming each removed manifest with its path and hash and each outbox and error
// file that goes) and deletes the ledger rows; only then are the folders and files deleted from
// disk, and the run is marked removed. A run committed but not marked (a kill in between) is
// finished from its pruning manifest at the next start or prune.
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/load.js';
import { dataPaths } from '../config/paths.js';
import { nowIso, type Db } from '../ledger/db.js';
import { sha256 } from '../util/sha256.js';
import type { Archive, Manifest } from './archive.js';
import { planPrune, type ManifestCache, type PrunePlan, type PrunedEntry } from './prune-plan.js';

const DAY_MS = 86_400_000;

export interface PruneReport {
  /** why nothing was considered: legal hold, or retentionDays 0 */
  suspended: string | null;
  dryRun: boolean;
  cutoff: string | null;
  folders: { path: string; kind: string }[];
  messages: number;
  outboxFiles: number;
  errorFiles: number;
  bytes: number;
  /** the pruning manifest (relative to archive/); null when nothing went or a dry run */
  manifest: string | null;
  /** candidates older than the cutoff that stay, with why */
  kept: { path: string; why: string }[];
  /** earlier runs whose removal from disk this run finished */
  finished: number;
}

export interface PruneOptions {
  now?: Date;
  dryRun?: boolean;
  origin: 'daemon' | 'cli';
}

/** What the pruning manifest lists beyond the removed manifests: paths relative to dataDir. */
interface Removed {
  messages: number;
  files: number;
  batches: number;
  acks: number;
  outboxFiles: { path: string; sha256: string; bytes: number }[];
  errorFiles: string[];
}

const json = (v: unknown[]): string => JSON.stringify(v);

export function pruneArchive(config: Config, db: Db, archive: Archive, opts: PruneOptions): PruneReport {
  const now = opts.now ?? new Date();
  const dryRun = opts.dryRun ?? false;
  const { retentionDays, legalHold } = config.archive;
  // under legal hold nothing is deleted, not even what a committed run left (verify accepts it)
  const pending = dryRun || legalHold ? { finished: 0, failed: [] } : finishPendingRemovals(config, db);
  if (pending.failed.length) throw new Error(pending.failed.join('; '));
  const base: PruneReport = { suspended: null, dryRun, cutoff: null, folders: [], messages: 0, outboxFiles: 0, errorFiles: 0, bytes: 0, manifest: null, kept: [], finished: pending.finished };
  const suspended = legalHold
    ? 'archive.legalHold is true: pruning is suspended, nothing is removed'
    : retentionDays === 0
      ? 'archive.retentionDays is 0: everything is kept'
      : null;
  if (suspended) {
    if (!dryRun) recordSuspended(db, opts.origin, now, suspended);
    return { ...base, suspended };
  }
  const cutoff = new Date(now.getTime() - retentionDays * DAY_MS).toISOString();
  const cache: ManifestCache = new Map();
  const first = planPrune(archive.root, db, cutoff, cache);
  if (dryRun) return { ...report(base, first, config), cutoff };

  const runId = Number(db.prepare('INSERT INTO prune_runs (origin, started_at) VALUES (?, ?)').run(opts.origin, now.toISOString()).lastInsertRowid);
  let done: { plan: PrunePlan; manifest: string | null };
  try {
    done = db
      .transaction(() => {
        // again inside the write lock: a message that changed since the first look is seen
        const plan = planPrune(archive.root, db, cutoff, cache);
        if (!plan.entries.length) {
          finishRun(db, runId, plan, config, null);
          return { plan, manifest: null };
        }
        const removed = removedOf(plan, config);
        const extra = { cutoff, retentionDays, prunedManifests: plan.entries, removed };
        const { dir } = archive.add('prune', String(runId), [], extra, (d) => deleteRows(db, runId, plan, d));
        finishRun(db, runId, plan, config, `${dir}/manifest.json`);
        return { plan, manifest: `${dir}/manifest.json` };
      })
      .immediate();
  } catch (e) {
    db.prepare(`UPDATE prune_runs SET finished_at = ?, outcome = 'failed', error = ? WHERE id = ?`).run(nowIso(), e instanceof Error ? e.message : String(e), runId);
    throw e;
  }
  // committed: from here on a failure leaves the run to be finished at the next start or prune
  if (done.manifest) removeFromDisk(config, db, runId, done.manifest);
  return { ...report(base, done.plan, config), cutoff, manifest: done.manifest };
}

function recordSuspended(db: Db, origin: string, now: Date, why: string): void {
  const at = now.toISOString();
  db.prepare(`INSERT INTO prune_runs (origin, started_at, finished_at, outcome, error) VALUES (?, ?, ?, 'suspended', ?)`).run(origin, at, at, why);
}

function relToData(config: Config, p: string): string | null {
  const rel = path.relative(config.dataDir, path.resolve(config.dataDir, p));
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : null;
}

function removedOf(plan: PrunePlan, config: Config): Removed {
  return {
    messages: plan.messages.length,
    files: plan.fileIds.length,
    batches: plan.batchIds.length,
    acks: plan.ackDirs.length,
    outboxFiles: plan.messages.flatMap((m) => {
      const rel = relToData(config, m.xmlPath);
      return rel ? [{ path: rel, sha256: m.xmlSha256, bytes: m.bytes }] : [];
    }),
    errorFiles: plan.errorFiles.map((p) => relToData(config, p)).filter((p): p is string => p !== null),
  };
}

function planBytes(plan: PrunePlan, config: Config): number {
  const r = removedOf(plan, config);
  let bytes = plan.entries.reduce((n, e) => n + e.bytes, 0) + r.outboxFiles.reduce((n, f) => n + f.bytes, 0);
  for (const p of r.errorFiles) for (const ext of ['', '.error.txt', '.error.json']) bytes += sizeOf(path.join(config.dataDir, p + ext));
  return bytes;
}

function sizeOf(p: string): number {
  try {
    return fs.lstatSync(p).size;
  } catch {
    return 0;
  }
}

function report(base: PruneReport, plan: PrunePlan, config: Config): PruneReport {
  const r = removedOf(plan, config);
  return {
    ...base,
    folders: plan.entries.map((e) => ({ path: path.dirname(e.path), kind: e.kind })),
    messages: r.messages,
    outboxFiles: r.outboxFiles.length,
    errorFiles: r.errorFiles.length,
    bytes: planBytes(plan, config),
    kept: [...plan.kept].filter(([, why]) => why !== 'younger than the cutoff').map(([p, why]) => ({ path: p, why })),
  };
}

function finishRun(db: Db, runId: number, plan: PrunePlan, config: Config, manifest: string | null): void {
  const seq = manifest ? (db.prepare('SELECT seq FROM manifests WHERE path = ?').pluck().get(manifest) as number) : null;
  const r = removedOf(plan, config);
  db.prepare(
    `UPDATE prune_runs SET finished_at = ?, outcome = 'ok', manifest_seq = ?, folders = ?, messages = ?, outbox_files = ?, bytes = ?, removed_at = ? WHERE id = ?`,
  ).run(nowIso(), seq, plan.entries.length, r.messages, r.outboxFiles.length, planBytes(plan, config), manifest ? null : nowIso(), runId);
}

/** The ledger side of a prune, inside the transaction that records its manifest. */
function deleteRows(db: Db, runId: number, plan: PrunePlan, _dir: string): void {
  const ids = json(plan.messages.map((m) => m.id));
  const files = json(plan.fileIds);
  const IN = 'IN (SELECT value FROM json_each(?))';
  db.prepare(`DELETE FROM acks WHERE message_id ${IN} OR archive_dir ${IN}`).run(ids, json(plan.ackDirs));
  db.prepare(`DELETE FROM message_lines WHERE message_id ${IN}`).run(ids);
  db.prepare(`DELETE FROM transitions WHERE entity = 'message' AND entity_id ${IN}`).run(ids);
  db.prepare(`DELETE FROM messages WHERE id ${IN}`).run(ids);
  db.prepare(`DELETE FROM batches WHERE id ${IN} AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.batch_id = batches.id)`).run(json(plan.batchIds));
  // a later attempt at a pruned rejected file keeps its row, without the link to the gone one
  db.prepare(`UPDATE files SET reprocess_of = NULL WHERE reprocess_of ${IN}`).run(files);
  db.prepare(`DELETE FROM transitions WHERE entity = 'file' AND entity_id ${IN}`).run(files);
  db.prepare(`DELETE FROM files WHERE id ${IN} AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.file_id = files.id)`).run(files);
  const mark = db.prepare('INSERT INTO pruned_manifests (seq, prune_run_id) VALUES (?, ?)');
  for (const e of plan.entries) mark.run(e.seq, runId);
}

/** Finishes the disk side of committed runs that a crash interrupted: how many were finished,
 * and why the others could not be (they stay pending). */
export function finishPendingRemovals(config: Config, db: Db): { finished: number; failed: string[] } {
  const pending = db
    .prepare(`SELECT r.id, mf.path FROM prune_runs r JOIN manifests mf ON mf.seq = r.manifest_seq WHERE r.removed_at IS NULL AND r.outcome = 'ok' ORDER BY r.id`)
    .all() as { id: number; path: string }[];
  const failed: string[] = [];
  for (const p of pending) {
    try {
      removeFromDisk(config, db, p.id, p.path);
    } catch (e) {
      failed.push(e instanceof Error ? e.message : String(e));
    }
  }
  return { finished: pending.length - failed.length, failed };
}

/** Deletes what the (committed) pruning manifest names, then marks the run removed. The manifest
 * is read back and checked against the chain's hash first: a changed one deletes nothing. */
function removeFromDisk(config: Config, db: Db, runId: number, manifestPath: string): void {
  const d = dataPaths(config);
  const recorded = db.prepare('SELECT sha256 FROM manifests WHERE path = ?').pluck().get(manifestPath) as string;
  const text = fs.readFileSync(path.join(d.archive, manifestPath), 'utf8');
  if (sha256(text) !== recorded) throw new Error(`pruning manifest ${manifestPath} differs from the chain's record; nothing removed (run audit verify)`);
  const m = JSON.parse(text) as Manifest & { prunedManifests: PrunedEntry[]; removed: Removed };
  for (const e of m.prunedManifests) removeTree(d.archive, path.dirname(e.path));
  for (const f of m.removed.outboxFiles) removeInside(d.outbox, path.join(config.dataDir, f.path));
  for (const f of m.removed.errorFiles) for (const ext of ['', '.error.txt', '.error.json']) removeInside(d.error, path.join(config.dataDir, f + ext));
  db.prepare('UPDATE prune_runs SET removed_at = ? WHERE id = ?').run(nowIso(), runId);
}

function inside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

function removeInside(root: string, p: string): void {
  if (inside(root, p)) fs.rmSync(p, { force: true });
}

/** A pruned folder, then its day, month and year folders once they are empty. */
function removeTree(root: string, rel: string): void {
  let abs = path.join(root, rel);
  if (!inside(root, abs)) return;
  fs.rmSync(abs, { recursive: true, force: true });
  for (abs = path.dirname(abs); inside(root, abs); abs = path.dirname(abs)) {
    try {
      fs.rmdirSync(abs);
    } catch {
      return; // not empty
    }
  }
}
