// The archive (product.md 3): what was received, sent and acknowledged, each set in its own
// folder with a manifest, the manifests chained by sha256 in creation order so that any
// later change, removal or addition shows. The chain's order and head live in the ledger
// (table manifests), and each manifest is recorded in the same transaction as the ledger
// change it documents, so the archive and the ledger can never disagree after a crash.
import fs from 'node:fs';
import path from 'node:path';
import type { Db } from '../ledger/db.js';
import { DIR_MODE, fsyncPath, writeFileDurable } from '../util/durable-file.js';
import { sha256 } from '../util/sha256.js';

export type ArchiveKind = 'intake' | 'batch' | 'acks' | 'operator';

export interface ArchiveInput {
  /** base name inside the folder */
  name: string;
  /** the content, or `from`: a local file to copy */
  data?: Buffer | string;
  from?: string;
  /** an open descriptor, copied from position 0 */
  fd?: number;
}

export interface ManifestFile {
  path: string;
  sha256: string;
  bytes: number;
}

export interface Manifest {
  kind: ArchiveKind;
  id: string;
  createdAt: string;
  previousManifestSha256: string | null;
  files: ManifestFile[];
  [extra: string]: unknown;
}

function mkdirs(root: string, rel: string): void {
  let cur = root;
  for (const part of rel.split('/')) {
    cur = path.join(cur, part);
    if (!fs.existsSync(cur)) {
      fs.mkdirSync(cur, { mode: DIR_MODE });
      fs.chmodSync(cur, DIR_MODE);
      fsyncPath(path.dirname(cur));
    }
  }
}

export class Archive {
  constructor(
    readonly root: string,
    private readonly db: Db,
  ) {
    fs.mkdirSync(root, { recursive: true, mode: DIR_MODE });
  }

  /** Archives a set of files under archive/YYYY/MM/DD/<kind>-<id>/ and chains its manifest.
   * `inTransaction` runs inside the same ledger transaction that records the manifest: put
   * the ledger change that the archive documents there. Returns the folder, relative to root. */
  add<T = void>(
    kind: ArchiveKind,
    id: string,
    files: ArchiveInput[],
    extra: Record<string, unknown> = {},
    inTransaction?: (dir: string) => T,
  ): { dir: string; manifestSha256: string; result: T } {
    if (!/^[A-Za-z0-9._-]+$/.test(id)) throw new Error(`archive id must be a plain name: ${JSON.stringify(id)}`);
    const now = new Date();
    const createdAt = now.toISOString();
    const dir = `${createdAt.slice(0, 4)}/${createdAt.slice(5, 7)}/${createdAt.slice(8, 10)}/${kind}-${id}`;
    mkdirs(this.root, dir);
    const abs = path.join(this.root, dir);
    const listed: ManifestFile[] = [];
    for (const f of files) {
      if (f.name.includes('/') || f.name === 'manifest.json' || f.name.startsWith('.')) throw new Error(`bad archive file name ${JSON.stringify(f.name)}`);
      // stand-in: the streaming version replaces this at merge
      const data = f.data ?? (f.fd !== undefined ? readAllFd(f.fd) : fs.readFileSync(f.from!));
      writeFileDurable(path.join(abs, f.name), data, { flag: 'w' });
      listed.push({ path: f.name, sha256: sha256(data), bytes: Buffer.byteLength(data) });
    }
    const tx = this.db.transaction(() => {
      const prev = this.db.prepare('SELECT sha256 FROM manifests ORDER BY seq DESC LIMIT 1').get() as { sha256: string } | undefined;
      const manifest: Manifest = { kind, id, createdAt, previousManifestSha256: prev?.sha256 ?? null, files: listed, ...extra };
      const text = JSON.stringify(manifest, null, 2) + '\n';
      writeFileDurable(path.join(abs, 'manifest.json'), text, { flag: 'w' });
      fsyncPath(abs);
      const manifestSha256 = sha256(text);
      this.db
        .prepare('INSERT INTO manifests (kind, ref, path, sha256, created_at) VALUES (?, ?, ?, ?, ?)')
        .run(kind, id, `${dir}/manifest.json`, manifestSha256, createdAt);
      const result = inTransaction ? inTransaction(dir) : (undefined as T);
      return { dir, manifestSha256, result };
    });
    return tx.immediate();
  }

  /** Recomputes every hash and the chain. Returns one line per difference; [] = intact. */
  verify(): string[] {
    const problems: string[] = [];
    const rows = this.db.prepare('SELECT seq, path, sha256 FROM manifests ORDER BY seq').all() as { seq: number; path: string; sha256: string }[];
    const expected = new Set<string>();
    let prevSha: string | null = null;
    for (const row of rows) {
      const mp = path.join(this.root, row.path);
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
        let data: Buffer;
        try {
          data = fs.readFileSync(path.join(this.root, rel));
        } catch {
          problems.push(`missing: ${rel}`);
          continue;
        }
        const s = sha256(data);
        if (s !== f.sha256 || data.length !== f.bytes) problems.push(`changed: ${rel} (sha256 ${s}, ${data.length} bytes; manifest says ${f.sha256}, ${f.bytes} bytes)`);
      }
      prevSha = row.sha256;
    }
    for (const rel of walk(this.root)) if (!expected.has(rel)) problems.push(`appeared: ${rel} (in no manifest of the chain)`);
    return problems;
  }
}

// stand-in: the streaming version replaces this at merge
function readAllFd(fd: number): Buffer {
  const size = fs.fstatSync(fd).size;
  const buf = Buffer.alloc(size);
  for (let pos = 0; pos < size; ) pos += fs.readSync(fd, buf, pos, size - pos, pos) || size;
  return buf;
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
