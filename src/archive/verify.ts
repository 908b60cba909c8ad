// `audit verify` (product.md 3, 10): recomputes every archived file's sha256 and the manifest
// chain the ledger recorded, and names what is missing, changed or has appeared.
//
// Across pruning (product.md 9): a removed manifest is expected missing only when an intact
// pruning manifest of the chain names it with the same path and hash; the link across the gap
// is checked through that list (each entry keeps the removed manifest's previousManifestSha256),
// so the chain is still proved end to end. A pruning manifest that was changed is named itself,
// and the manifests it claims to have removed are then missing.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Db } from '../ledger/db.js';
import { sha256 } from '../util/sha256.js';
import type { Manifest } from './archive.js';
import type { PrunedEntry } from './prune-plan.js';

export interface VerifyOptions {
  /** the manifests' own hashes and links only, no file hashing (the audit report's footer) */
  chainOnly?: boolean;
}

export interface VerifyResult {
  problems: string[];
  /** manifests of the chain on disk (pruned ones not counted) */
  manifests: number;
  /** the files they list */
  files: number;
  /** manifests removed by pruning, each named by a pruning manifest */
  pruned: number;
}

interface Row {
  seq: number;
  kind: string;
  path: string;
  sha256: string;
}

/** One line per difference; [] = intact. */
export function verifyArchive(root: string, db: Db, opts: VerifyOptions = {}): string[] {
  return verifyArchiveDetailed(root, db, opts).problems;
}

export function verifyArchiveDetailed(root: string, db: Db, opts: VerifyOptions = {}): VerifyResult {
  const problems: string[] = [];
  const rows = db.prepare('SELECT seq, kind, path, sha256 FROM manifests ORDER BY seq').all() as Row[];
  const bySeq = new Map(rows.map((r) => [r.seq, r]));
  const prunedBy = prunedEntries(root, rows, bySeq, problems);
  const pending = pendingPruneFolders(db);
  const expected = new Set<string>();
  const expectedDirs: string[] = [];
  let prevSha: string | null = null;
  const result = { manifests: 0, files: 0, pruned: 0 };
  for (const row of rows) {
    const p = prunedBy.get(row.seq);
    if (p) {
      result.pruned++;
      if (p.entry.previousManifestSha256 !== prevSha)
        problems.push(`chain broken: ${row.path} (pruned by ${p.by}) had previous manifest ${p.entry.previousManifestSha256 ?? 'none'}, but the one before it is ${prevSha ?? 'none'}`);
      // its folder may still be there while the run that removes it has not finished
      if (pending.has(p.by)) expectedDirs.push(`${path.dirname(row.path)}/`);
      prevSha = row.sha256;
      continue;
    }
    const dir = path.dirname(row.path);
    expected.add(row.path);
    let text: string;
    try {
      text = fs.readFileSync(path.join(root, row.path), 'utf8');
    } catch {
      problems.push(`missing: ${row.path} (manifest ${row.seq} of the chain; no pruning manifest names it)`);
      prevSha = row.sha256;
      continue;
    }
    result.manifests++;
    const actual = sha256(text);
    if (actual !== row.sha256) problems.push(`changed: ${row.path} (manifest sha256 ${actual}, the chain recorded ${row.sha256})`);
    let m: Manifest;
    try {
      m = JSON.parse(text) as Manifest;
    } catch {
      problems.push(`changed: ${row.path} is no longer valid JSON`);
      prevSha = row.sha256;
      continue;
    }
    if (m.previousManifestSha256 !== prevSha)
      problems.push(`chain broken: ${row.path} names previous manifest ${m.previousManifestSha256 ?? 'none'}, but the one before it is ${prevSha ?? 'none'}`);
    for (const f of m.files ?? []) {
      const rel = `${dir}/${f.path}`;
      expected.add(rel);
      result.files++;
      if (opts.chainOnly) continue;
      const got = hashFile(path.join(root, rel));
      if (!got) problems.push(`missing: ${rel}`);
      else if (got.sha256 !== f.sha256 || got.bytes !== f.bytes)
        problems.push(`changed: ${rel} (sha256 ${got.sha256}, ${got.bytes} bytes; manifest says ${f.sha256}, ${f.bytes} bytes)`);
    }
    prevSha = row.sha256;
  }
  if (!opts.chainOnly)
    for (const rel of walk(root)) if (!expected.has(rel) && !expectedDirs.some((d) => rel.startsWith(d))) problems.push(`appeared: ${rel} (in no manifest of the chain)`);
  return { problems, ...result };
}

/** The removed manifests named by the intact pruning manifests, by seq. A pruning manifest that
 * was changed, or an entry that disagrees with the chain's record, is a problem and names nothing. */
function prunedEntries(root: string, rows: Row[], bySeq: Map<number, Row>, problems: string[]): Map<number, { entry: PrunedEntry; by: string }> {
  const out = new Map<number, { entry: PrunedEntry; by: string }>();
  for (const row of rows) {
    if (row.kind !== 'prune') continue;
    let m: { prunedManifests?: PrunedEntry[] };
    try {
      const text = fs.readFileSync(path.join(root, row.path), 'utf8');
      if (sha256(text) !== row.sha256) continue; // the main pass names it as changed
      m = JSON.parse(text) as { prunedManifests?: PrunedEntry[] };
    } catch {
      continue; // missing or unreadable: the main pass names it
    }
    for (const e of m.prunedManifests ?? []) {
      const r = bySeq.get(e.seq);
      if (!r) problems.push(`changed: pruning manifest ${row.path} names manifest ${e.seq}, which the chain does not hold`);
      else if (r.path !== e.path || r.sha256 !== e.sha256)
        problems.push(`changed: pruning manifest ${row.path} names ${e.path} with sha256 ${e.sha256}, the chain recorded ${r.path} with ${r.sha256}`);
      else if (r.seq >= row.seq) problems.push(`changed: pruning manifest ${row.path} names ${e.path}, which came after it`);
      else out.set(e.seq, { entry: e, by: row.path });
    }
  }
  return out;
}

/** Pruning manifests whose run committed but has not yet deleted its folders (a crash). */
function pendingPruneFolders(db: Db): Set<string> {
  try {
    return new Set(
      db.prepare(`SELECT mf.path FROM prune_runs r JOIN manifests mf ON mf.seq = r.manifest_seq WHERE r.removed_at IS NULL`).pluck().all() as string[],
    );
  } catch {
    return new Set(); // a ledger from before retention
  }
}

/** sha256 and size of a file, read in chunks (archived inputs can be hundreds of MB); null when it cannot be read. */
function hashFile(p: string): { sha256: string; bytes: number } | null {
  let fd: number;
  try {
    fd = fs.openSync(p, fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0));
  } catch {
    return null;
  }
  try {
    const h = crypto.createHash('sha256');
    const buf = Buffer.allocUnsafe(1 << 20);
    let bytes = 0;
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0; ) {
      h.update(buf.subarray(0, n));
      bytes += n;
    }
    return { sha256: h.digest('hex'), bytes };
  } catch {
    return null;
  } finally {
    fs.closeSync(fd);
  }
}

function* walk(root: string, rel = ''): Generator<string> {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(path.join(root, rel), { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) yield* walk(root, r);
    else yield r;
  }
}
