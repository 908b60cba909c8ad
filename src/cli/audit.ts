// `tlbridge audit verify` (product.md 3, 4): recomputes every archived file's sha256 and the
// manifest chain recorded in the ledger; any change, removal or addition is named.
import fs from 'node:fs';
import { verifyArchiveDetailed } from '../archive/verify.js';
import type { Config } from '../config/load.js';
import { nowIso } from '../ledger/db.js';
import { recordVerifyRun } from '../ledger/verify-runs.js';
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
    const startedAt = nowIso();
    const r = verifyArchiveDetailed(root, db);
    const problems = r.problems;
    if (!exists) problems.unshift(`no ledger at ${dataPaths(config).ledger}: the manifest chain is unknown`);
    // product.md 10: the report's footer shows the last full verify
    if (exists) recordVerifyRun(db, { startedAt, finishedAt: nowIso(), ok: problems.length === 0, problems: problems.length });
    if (problems.length) {
      for (const p of problems) io.out(p);
      io.err(`archive NOT intact: ${problems.length} problem(s) in ${root}`);
      return EXIT.FAILED;
    }
    io.out(`archive intact: ${r.manifests} manifests, ${r.files} files${r.pruned ? ` (${r.pruned} pruned manifest(s), each named by a pruning manifest)` : ''}`);
    return EXIT.OK;
  } finally {
    db.close();
  }
}
