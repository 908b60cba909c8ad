// `tlbridge poll-acks [--partner P]` (product.md 4): an ack poll now, for every configured
// partner or one; one summary line per partner on stdout; warnings and errors (invalid or
// unmatched acks, a failed poll) on stderr. Exit 0, or 1 if a poll failed (connection,
// listing, endpoint). It may run beside the daemon: polls of one partner take turns
// (partner_locks `acks:<partner>`); one that finds another running says so and is not a failure.
// When this process cannot read the partner's key, the running daemon polls on request
// (via-daemon.ts). On a fresh install (no ledger) it connects to nothing and creates nothing.
// Overdue flagging is left to the daemon, so its once-only warning lands in the service log.
import fs from 'node:fs';
import { Archive } from '../archive/archive.js';
import type { Config } from '../config/load.js';
import { dataPaths } from '../config/paths.js';
import { openForCommand } from '../ledger/open.js';
import { EXIT, UsageError, type Io } from './io.js';
import type { LogFields, Logger } from '../log.js';
import { redact } from '../log.js';
import { pollAcksOnce, type PollAcksResult } from '../acks/poll.js';
import type { EmbeddedEndpointOptions } from '../transport/endpoint.js';
import { runsUnlessPaused } from './pause.js';
import type { Db } from '../ledger/db.js';
import { askDaemon, requestDetail, unreadableSecrets, type AskOptions } from './via-daemon.js';

export async function pollAcksCommand(config: Config, opts: { partner?: string }, io: Io, ask: AskOptions = {}): Promise<number> {
  if (opts.partner !== undefined && !opts.partner) throw new UsageError('--partner needs a partner code');
  const known = Object.keys(config.partners);
  if (opts.partner !== undefined && !Object.prototype.hasOwnProperty.call(config.partners, opts.partner)) {
    throw new UsageError(`unknown partner "${opts.partner}" (configured: ${known.length ? known.join(', ') : 'none'})`);
  }
  const partners = opts.partner !== undefined ? [opts.partner] : known;

  const ledger = dataPaths(config).ledger;
  if (!fs.existsSync(ledger)) {
    // nothing was ever sent from here, so no ack can match: connect to nothing, create nothing
    // (not even the ledger, which run as another user would be one the daemon cannot write)
    io.out(`no ledger yet (${ledger}): nothing was sent from here, so there is no ack to poll for`);
    return EXIT.OK;
  }
  const { db } = openForCommand(config, { create: false });
  try {
    const archive = new Archive(dataPaths(config).archive, db);
    const logger = stderrLogger(io);
    let failed = false;
    for (const partner of partners) {
      if (!runsUnlessPaused(db, 'acks', partner, io)) {
        // a paused partner named with --partner is a failure; in the sweep over all it is not
        if (opts.partner !== undefined) failed = true;
        continue;
      }
      const secrets = unreadableSecrets(config, partner);
      const r = secrets.length ? await viaDaemon(db, partner, secrets, ask) : await pollAcksOnce({ db, config, archive, partner, logger, endpoint: await embeddedEndpoint(config) });
      if ('failure' in r) {
        io.err(`tlbridge poll-acks: ${partner}: ${r.failure}`);
        failed = true;
        continue;
      }
      io.out(summary(partner, r));
      if (r.error !== undefined) failed = true;
    }
    return failed ? EXIT.FAILED : EXIT.OK;
  } finally {
    db.close();
  }
}

/** How to reach a running daemon's embedded sandbox, if a partner is one. The sandbox's modules
 * (its SSH server, the XML renderer) are loaded only then: a fifth of the command's start-up. */
async function embeddedEndpoint(config: Config): Promise<EmbeddedEndpointOptions | undefined> {
  if (!Object.values(config.partners).some((p) => p.sftp.host === 'embedded')) return undefined;
  return (await import('../sandbox/embedded.js')).embeddedClientOptions(config);
}

/** The daemon polls (it can read the key); its result prints as a local one would. */
async function viaDaemon(db: Db, partner: string, secrets: string[], ask: AskOptions): Promise<PollAcksResult | { failure: string }> {
  const answer = await askDaemon(db, 'acks', partner, secrets, ask);
  if (!answer.ok) return { failure: answer.error };
  const d = requestDetail<PollAcksResult>(answer.request);
  return 'result' in d ? d.result : { failure: d.error };
}

export function summary(partner: string, r: PollAcksResult): string {
  if (r.busy) return `${partner}: skipped, another ack poll of this partner is running (pid ${r.busy.pid} since ${r.busy.since})`;
  const counts =
    `read ${r.read}, applied ${r.applied}, duplicates ${r.duplicates}, superseded ${r.superseded}, ` +
    `unmatched ${r.unmatched}, invalid ${r.invalid}, skipped ${r.skipped}, errors ${r.errors}` +
    // acks waiting for a resent message's upload, and acks of HELD/CANCELLED messages (alerts)
    (r.pending ? `, pending ${r.pending}` : '') +
    (r.alerts ? `, alerts ${r.alerts}` : '');
  return r.error !== undefined ? `${partner}: poll failed: ${r.error} (${counts})` : `${partner}: ${counts}`;
}

/** warn and error lines for the operator, on stderr; info and debug are not shown. */
function stderrLogger(io: Io): Logger {
  const line = (level: string) => (msg: string, fields?: LogFields) => {
    const f = fields ? Object.entries(redact(fields)).filter(([, v]) => v !== undefined && v !== null) : [];
    io.err(`tlbridge poll-acks: ${level}: ${msg}${f.length ? ' ' + JSON.stringify(Object.fromEntries(f)) : ''}`);
  };
  return { error: line('error'), warn: line('warn'), info: () => undefined, debug: () => undefined };
}
