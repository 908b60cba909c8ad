// `audit verify` (product.md 3, 10): recomputes every archived file's sha256 and the manifest
// chain the ledger recorded, and names what is missing, changed or has appeared.
import fs from 'node:fs';
import path from 'node:path';
import type { Db } from '../ledger/db.js';
import { sha256 } from '../util/sha256.js';
import type { Manifest } from './archive.js';

export interface VerifyOptions {
  /** the manifests' own hashes and links only, no file hashing (the audit report's footer) */
  chainOnly?: boolean;
}

/** One line per difference; [] = intact. */
export function verifyArchive(root: string, db: Db, opts: VerifyOptions = {}): string[] {
  const problems: string[] = [];
  const rows = db.prepare('SELECT seq, path, sha256 FROM manifests ORDER BY seq').all() as { seq: number; path: string; sha256: string }[];
  const expected = new Set<string>();
  let prevSha: string | null = null;
  for (const row of rows) {
    const mp = path.join(root, row.path);
    const dir = path.dirname(row.path);
    expected.add(row.path);
    let text: string;
    try {
      text = fs.readFileSync(mp, 'utf8');
    } catch {
      problems.push(`missing: ${row.path} (manifest ${row.seq} of the chain)`);
      prevSha = row.sha256;
      continue;
    }
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
      if (opts.chainOnly) continue;
      let data: Buffer;
      try {
        data = fs.readFileSync(path.join(root, rel));
      } catch {
        problems.push(`missing: ${rel}`);
        continue;
      }
      const s = sha256(data);
      if (s !== f.sha256 || data.length !== f.bytes) problems.push(`changed: ${rel} (sha256 ${s}, ${data.length} bytes; manifest says ${f.sha256}, ${f.bytes} bytes)`);
    }
    prevSha = row.sha256;
  }
  if (!opts.chainOnly) for (const rel of walk(root)) if (!expected.has(rel)) problems.push(`appeared: ${rel} (in no manifest of the chain)`);
  return problems;
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
