// `tlbridge audit verify` (product.md 3, 4): recomputes every archived file's sha256 and the
// manifest chain recorded in the ledger; any change, removal or addition is named.
import fs from 'node:fs';
import path from 'node:path';
import type { Manifest } from '../archive/archive.js';
import { verifyArchive } from '../archive/verify.js';
import type { Config } from '../config/load.js';
import type { Db } from '../ledger/db.js';
import { EXIT, UsageError, type Io } from './io.js';
import { dataPaths } from '../config/paths.js';
import { openForCommand } from '../ledger/open.js';

export function audit(config: Config, opts: { sub?: string; rest: string[] }, io: Io): number {
  if (opts.sub === 'report') throw new UsageError('audit report is not available in this version (product.md 4: later)');
  if (opts.sub !== 'verify') throw new UsageError(opts.sub ? `unknown audit command "${opts.sub}" (known: verify)` : 'audit needs a command: verify');
  if (opts.rest.length) throw new UsageError(`audit verify takes no arguments`);
  return verify(config, io);
}

function verify(config: Config, io: Io): number {
  const root = dataPaths(config).archive;
  // no ledger: the chain is empty, and every file in the archive is one it does not know
  const { db, exists } = openForCommand(config, { create: false });
  try {
    if (!exists && !fs.existsSync(root)) {
      io.out(`archive intact: 0 manifests, 0 files (nothing archived yet: ${root})`);
      return EXIT.OK;
    }
    const problems = verifyArchive(root, db);
    if (!exists) problems.unshift(`no ledger at ${dataPaths(config).ledger}: the manifest chain is unknown`);
    if (problems.length) {
      for (const p of problems) io.out(p);
      io.err(`archive NOT intact: ${problems.length} problem(s) in ${root}`);
      return EXIT.FAILED;
    }
    const { manifests, files } = countChain(db, root);
    io.out(`archive intact: ${manifests} manifests, ${files} files`);
    return EXIT.OK;
  } finally {
    db.close();
  }
}

/** Manifests in the chain and the files they list (the manifests themselves not counted). */
function countChain(db: Db, root: string): { manifests: number; files: number } {
  const rows = db.prepare('SELECT path FROM manifests ORDER BY seq').all() as { path: string }[];
  let files = 0;
  for (const r of rows) files += ((JSON.parse(fs.readFileSync(path.join(root, r.path), 'utf8')) as Manifest).files ?? []).length;
  return { manifests: rows.length, files };
}
