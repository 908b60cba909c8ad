// `tlbridge send-now [--partner P]`: a batch cycle now, waited for. It may run beside the
// daemon: cycles of one partner take turns through the ledger's partner lock.
import { Archive } from '../archive/archive.js';
import { runBatchCycleOnce } from '../batch/cycle.js';
import type { Config } from '../config/load.js';
import { dataPaths } from '../config/paths.js';
import { embeddedClientOptions } from '../sandbox/embedded.js';
import { EXIT, UsageError, type Io } from './io.js';
import { openForCommand } from '../ledger/open.js';

export async function sendNow(config: Config, opts: { partner?: string }, io: Io): Promise<number> {
  const known = Object.keys(config.partners);
  if (opts.partner !== undefined && !known.includes(opts.partner)) throw new UsageError(`unknown partner "${opts.partner}" (configured: ${known.join(', ')})`);
  const partners = opts.partner ? [opts.partner] : known;
  const { db } = openForCommand(config, { create: true });
  try {
    const archive = new Archive(dataPaths(config).archive, db);
    let ok = true;
    for (const partner of partners) {
      const r = await runBatchCycleOnce({ db, config, archive, partner, endpoint: embeddedClientOptions(config) });
      if (r.skipped) {
        io.out(`${partner}: another batch cycle of this partner is running${r.lockedBy ? ` (pid ${r.lockedBy.pid} since ${r.lockedBy.since})` : ''}; nothing done`);
        ok = false;
        continue;
      }
      const what = `${partner}: batch ${r.batchId ?? '-'}: ${r.sent} sent, ${r.failed} failed, ${r.conflicts} conflict(s), ${r.held} reversal(s) held, ${r.recovered} recovered`;
      io.out(r.error ? `${what}; ${r.error}` : what);
      if (r.error || r.failed || r.conflicts) ok = false;
    }
    return ok ? EXIT.OK : EXIT.FAILED;
  } finally {
    db.close();
  }
}
