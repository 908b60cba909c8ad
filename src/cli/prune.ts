// `tlbridge prune [--dry-run]` (product.md 9): a retention run now, as the daemon runs it daily
// at archive.pruneAt. Prints what it removes (or would remove): folders, messages, outbox files,
// bytes, and the folders older than the cutoff that stay with why.
import { Archive } from '../archive/archive.js';
import { pruneArchive, type PruneReport } from '../archive/prune.js';
import type { Config } from '../config/load.js';
import { dataPaths } from '../config/paths.js';
import { openForCommand } from '../ledger/open.js';
import { errText } from '../util/err-text.js';
import { EXIT, type Io } from './io.js';

export function prune(config: Config, opts: { dryRun: boolean; json?: boolean; now?: Date }, io: Io): number {
  const { db, exists } = openForCommand(config, { create: false });
  try {
    if (!exists) {
      io.out('prune: no ledger yet: nothing archived, nothing to prune');
      return EXIT.OK;
    }
    let r: PruneReport;
    try {
      r = pruneArchive(config, db, new Archive(dataPaths(config).archive, db), { dryRun: opts.dryRun, origin: 'cli', ...(opts.now ? { now: opts.now } : {}) });
    } catch (e) {
      io.err(`tlbridge prune: failed, nothing more was removed: ${errText(e)}`);
      return EXIT.FAILED;
    }
    if (opts.json) io.out(JSON.stringify(r));
    else for (const line of pruneLines(r)) io.out(line);
    return EXIT.OK;
  } finally {
    db.close();
  }
}

export function pruneLines(r: PruneReport): string[] {
  const lines: string[] = [];
  if (r.finished) lines.push(`prune: finished removing the folders of ${r.finished} earlier run(s) that were interrupted`);
  if (r.suspended) return [...lines, `prune: ${r.suspended}`];
  const verb = r.dryRun ? 'would remove' : 'removed';
  lines.push(
    `prune${r.dryRun ? ' (dry run)' : ''}: cutoff ${r.cutoff}: ${verb} ${r.folders.length} folder(s), ${r.messages} message(s), ${r.outboxFiles} outbox file(s), ` +
      `${r.errorFiles} error file(s), ${r.bytes} bytes`,
  );
  for (const f of r.folders) lines.push(`  ${verb}: ${f.path}`);
  for (const k of r.kept) lines.push(`  kept: ${k.path}: ${k.why}`);
  if (r.manifest) lines.push(`pruning manifest: ${r.manifest}`);
  return lines;
}
