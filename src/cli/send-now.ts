// `tlbridge send-now [--partner P]`: a batch cycle now, waited for. It may run beside the
// daemon: cycles of one partner take turns through the ledger's partner lock.
import { Archive } from '../archive/archive.js';
import { runBatchCycleOnce, type BatchCycleResult, type CycleLogger } from '../batch/cycle.js';
import type { Config } from '../config/load.js';
import { dataPaths } from '../config/paths.js';
import type { Db } from '../ledger/db.js';
import { VISIBLE } from '../ledger/ledger.js';
import { embeddedClientOptions } from '../sandbox/embedded.js';
import { EXIT, UsageError, type Io } from './io.js';
import { openForCommand } from '../ledger/open.js';
import { startProgress, type Progress } from './progress.js';
import { runsUnlessPaused } from './pause.js';

export async function sendNow(config: Config, opts: { partner?: string }, io: Io): Promise<number> {
  const known = Object.keys(config.partners);
  if (opts.partner !== undefined && !known.includes(opts.partner)) throw new UsageError(`unknown partner "${opts.partner}" (configured: ${known.join(', ')})`);
  const partners = opts.partner ? [opts.partner] : known;
  const { db } = openForCommand(config, { create: true });
  try {
    const archive = new Archive(dataPaths(config).archive, db);
    let ok = true;
    for (const partner of partners) {
      if (!runsUnlessPaused(db, 'batch', partner, io)) {
        // a paused partner named with --partner is a failure; in the sweep over all it is not
        if (opts.partner !== undefined) ok = false;
        continue;
      }
      // one bar per partner, gone before its summary line: the two share the terminal
      const total = stagedCount(db, partner);
      const progress = startProgress({ total, unit: 'files uploaded', label: partner, stream: io.stderr });
      let r: BatchCycleResult;
      try {
        r = await runBatchCycleOnce({ db, config, archive, partner, endpoint: embeddedClientOptions(config), logger: progressLogger(progress, total) });
      } finally {
        progress.stop();
      }
      if (r.skipped) {
        io.out(`${partner}: another batch cycle of this partner is running${r.lockedBy ? ` (pid ${r.lockedBy.pid} since ${r.lockedBy.since})` : ''}; nothing done`);
        ok = false;
        continue;
      }
      const what = `${partner}: batch ${r.batchId ?? '-'}: ${r.sent} sent, ${r.failed} failed, ${r.conflicts} conflict(s), ${r.held} reversal(s) held, ${r.recovered} recovered`;
      // HELD messages are reported, not errors (product.md 4)
      const held = countState(db, partner, 'HELD');
      const line = held ? `${what}; ${held} HELD message(s) wait for release` : what;
      io.out(r.error ? `${line}; ${r.error}` : line);
      if (r.error || r.failed || r.conflicts) ok = false;
    }
    return ok ? EXIT.OK : EXIT.FAILED;
  } finally {
    db.close();
  }
}

/** What a cycle may upload: the partner's STAGED messages (of converted files). */
function stagedCount(db: Db, partner: string): number {
  return countState(db, partner, 'STAGED');
}

function countState(db: Db, partner: string, state: 'STAGED' | 'HELD'): number {
  return (db.prepare(`SELECT count(*) AS n FROM messages m WHERE m.state = ? AND m.partner = ? AND ${VISIBLE}`).get(state, partner) as { n: number }).n;
}

/** The cycle's own state-change events, counted: a message SENT is one uploaded; more claimed
 * (STAGED to SENDING) than were staged at the start (the daemon staged a file meanwhile)
 * raises the total. Logs nothing: the summary line says the rest. */
function progressLogger(progress: Progress, staged: number): CycleLogger {
  let claimed = 0;
  const seen = (_msg: string, fields?: object) => {
    const f = fields as { from?: unknown; to?: unknown } | undefined;
    if (f?.from === 'STAGED' && f.to === 'SENDING' && ++claimed > staged) progress.setTotal(claimed);
    else if (f?.to === 'SENT') progress.increment(1);
  };
  return { info: seen, warn: seen, error: seen };
}
