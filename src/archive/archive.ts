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
import { verifyArchive } from './verify.js';

export type ArchiveKind = 'intake' | 'batch' | 'acks' | 'operator' | 'config' | 'prune';

export interface ArchiveInput {
  /** base name inside the folder */
  name: string;
  /** the content, or `from`: a local file to copy */
  data?: Buffer | string;
  from?: string;
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
      const data = f.data ?? fs.readFileSync(f.from!);
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

  /** Recomputes every hash and the chain (verify.ts). Returns one line per difference; [] = intact. */
  verify(): string[] {
    return verifyArchive(this.root, this.db);
  }
}
