// `tlbridge status [--json]` (product.md 4): counts by state, per partner the last and next
// batch, overdue acks, error files. Read-only, safe beside a running daemon (WAL: readers
// never block the writer). The facts come from src/monitor/status.ts; the last retention run
// (product.md 9) from the ledger's prune_runs.
import type { Config } from '../config/load.js';
import { dataPaths } from '../config/paths.js';
import { openForCommand } from '../ledger/open.js';
import { lastPruneRun, type PruneRunRow } from '../ledger/prune-runs.js';
import { collectStatus } from '../monitor/status.js';
import { EXIT, type Io } from './io.js';
import { table } from './table.js';

export function status(config: Config, opts: { json: boolean }, io: Io): number {
  const { db, exists } = openForCommand(config, { create: false });
  try {
    const { status: s, blocked, lastErrorAt } = collectStatus(config, db);
    const prune = lastPrune(lastPruneRun(db), config.archive.legalHold);
    if (opts.json) {
      io.out(JSON.stringify({ ...s, lastPrune: prune }));
      return EXIT.OK;
    }
    const counts = (o: Record<string, number>) =>
      Object.entries(o)
        .map(([k, n]) => `${k} ${n}`)
        .join('  ');
    io.out(`tlbridge status  ${new Date().toISOString()}  ledger ${dataPaths(config).ledger}${exists ? '' : ' (not created yet)'}`);
    io.out('');
    io.out(`files     ${counts(s.files)}`);
    io.out(`messages  ${counts(s.messages)}`);
    io.out(
      `alerts    overdue acks ${s.overdue}  error files ${s.errorFiles}  unmatched acks ${s.unmatchedAcks}  invalid acks ${s.invalidAcks}  reversals blocked ${s.reversalsBlocked}`,
    );
    io.out(`prune     ${pruneLine(prune, config.archive.pruneAt)}`);
    io.out('');
    const rows = s.partners.map((p) => [
      p.partner,
      p.lastBatchAt ?? '-',
      p.nextBatchAt ?? '-',
      String(p.staged),
      String(p.sent),
      String(p.overdue),
      p.lastError ? `${lastErrorAt.get(p.partner) ?? ''} ${oneLine(p.lastError)}`.trim() : '-',
    ]);
    for (const l of table(['PARTNER', 'LAST BATCH', 'NEXT BATCH', 'STAGED', 'SENT', 'OVERDUE', 'LAST ERROR'], rows)) io.out(l);
    for (const p of s.partners.filter((x) => x.paused))
      io.out(`\n${p.partner} is paused since ${p.pausedAt} by ${p.pausedBy}: ${oneLine(p.pauseReason ?? '')} (no batch cycle, no ack poll; \`tlbridge resume ${p.partner} --reason ...\`)`);
    if (blocked.length) {
      io.out('');
      io.out(`reversals held back: their original was REJECTED or CANCELLED, so they are never uploaded (messages.md 1.5):`);
      for (const b of blocked) io.out(`  ${b.fcn} (id ${b.id}) ${b.partner} ${b.messageType} reverses ${b.originalRef} (${b.originalState})`);
    }
    if (s.errorFiles) io.out(`\n${s.errorFiles} input file(s) in ${dataPaths(config).error}: see the .error.txt beside each`);
    if (s.unsafeInputs)
      io.out(`\n${s.unsafeInputs} drop-folder entr${s.unsafeInputs === 1 ? 'y is' : 'ies are'} never opened (not a regular file, or an unsafe name): see \`tlbridge status --check\``);
    return EXIT.OK;
  } finally {
    db.close();
  }
}

function oneLine(s: string, max = 120): string {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

/** The last retention run as status shows it; `legalHold` is the configuration's now (a run
 * before it was set shows what it removed then, and the hold that stops the next one). */
export interface LastPrune {
  at: string;
  finishedAt: string | null;
  origin: string;
  /** ok, failed, suspended (legal hold, retentionDays 0); null while it runs */
  outcome: string | null;
  deleted: { folders: number; messages: number; outboxFiles: number; bytes: number };
  /** a committed run whose folders are not yet deleted (finished at the next start or prune) */
  removalPending: boolean;
  error: string | null;
  legalHold: boolean;
}

export function lastPrune(r: PruneRunRow | null, legalHold: boolean): LastPrune | null {
  if (!r) return null;
  return {
    at: r.startedAt,
    finishedAt: r.finishedAt,
    origin: r.origin,
    outcome: r.outcome,
    deleted: { folders: r.folders, messages: r.messages, outboxFiles: r.outboxFiles, bytes: r.bytes },
    removalPending: r.outcome === 'ok' && r.removedAt === null,
    error: r.error,
    legalHold,
  };
}

function pruneLine(p: LastPrune | null, pruneAt: string): string {
  const hold = (text: string, legalHold: boolean) => (legalHold ? `${text}; legal hold: nothing is pruned` : text);
  if (!p) return `never run (archive.pruneAt ${pruneAt})`;
  const head = `last ${p.at} (${p.origin})`;
  const d = p.deleted;
  if (p.outcome === 'ok')
    return hold(
      `${head} ok: removed ${d.folders} archive folder(s), ${d.messages} message(s), ${d.outboxFiles} outbox file(s), ${d.bytes} bytes${p.removalPending ? ' (deletion pending: finished at the next start or prune)' : ''}`,
      p.legalHold,
    );
  if (p.outcome === null) return hold(`${head} running`, p.legalHold);
  return hold(`${head} ${p.outcome}${p.error ? `: ${oneLine(p.error)}` : ''}`, p.legalHold);
}
