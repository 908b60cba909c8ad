// `tlbridge send-now [--partner P]` (product.md 4): batch cycles now, one after another, until
// what was uploadable at the start is gone (batch/drain.ts), waited for. It may run beside the
// daemon: cycles of one partner take turns through the ledger's partner lock, and a cycle the
// daemon is running is waited for. When this process cannot read the partner's key (systemd
// holds it as the service's credential), the running daemon runs the cycles on request
// (via-daemon.ts) and the summary is the same.
import { Archive } from '../archive/archive.js';
import { emptyResult, oneShotPool, runBatchCycle, type CycleLogger } from '../batch/cycle.js';
import { DEFAULT_LOCK_WAIT_MS, drainLines, drainPartner, type DrainResult } from '../batch/drain.js';
import { BatchQueries } from '../batch/queries.js';
import type { Config } from '../config/load.js';
import { dataPaths } from '../config/paths.js';
import type { Db } from '../ledger/db.js';
import { openForCommand } from '../ledger/open.js';
import { EMBEDDED_HOST } from '../transport/endpoint.js';
import { SftpPool } from '../transport/pool.js';
import { EXIT, UsageError, type Io } from './io.js';
import { runsUnlessPaused } from './pause.js';
import { startProgress, type Progress } from './progress.js';
import { askDaemon, requestDetail, unreadableSecrets, type AskOptions } from './via-daemon.js';

export interface SendNowTuning {
  lockWaitMs?: number;
  ask?: AskOptions;
}

export async function sendNow(config: Config, opts: { partner?: string }, io: Io, tuning: SendNowTuning = {}): Promise<number> {
  const known = Object.keys(config.partners);
  if (opts.partner !== undefined && !Object.prototype.hasOwnProperty.call(config.partners, opts.partner)) {
    throw new UsageError(`unknown partner "${opts.partner}" (configured: ${known.join(', ')})`);
  }
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
      const secrets = unreadableSecrets(config, partner);
      const bar = new Bar(io, partner);
      let d: DrainResult | { error: string };
      try {
        d = secrets.length ? await viaDaemon(db, partner, secrets, bar, tuning.ask) : await localDrain(db, config, archive, partner, io, bar, tuning.lockWaitMs ?? DEFAULT_LOCK_WAIT_MS);
      } finally {
        bar.stop();
      }
      if ('error' in d) {
        io.err(`tlbridge send-now: ${partner}: ${d.error}`);
        ok = false;
        continue;
      }
      for (const line of drainLines(d)) io.out(line);
      if (!d.ok) ok = false;
    }
    return ok ? EXIT.OK : EXIT.FAILED;
  } finally {
    db.close();
  }
}

async function localDrain(db: Db, config: Config, archive: Archive, partner: string, io: Io, bar: Bar, lockWaitMs: number): Promise<DrainResult> {
  // the sandbox's modules (an SSH server, the XML libraries) only for a partner it plays
  const embedded = Object.values(config.partners).some((p) => p.sftp.host === EMBEDDED_HOST)
    ? (await import('../sandbox/embedded.js')).embeddedClientOptions(config)
    : undefined;
  const pool = oneShotPool(config, partner, embedded);
  if (!(pool instanceof SftpPool)) {
    // the endpoint cannot be made (an unreadable key file, ...): the one cycle says so
    return drainPartner({ db, partner, lockWaitMs, cycle: async () => ({ ...emptyResult(), error: pool.error }) });
  }
  try {
    return await drainPartner({
      db,
      partner,
      lockWaitMs,
      onStart: (n) => {
        bar.start(n);
        // the handshakes overlap the first cycle's lock, recovery and claim
        if (n > 0) pool.warm(n);
      },
      onWait: (h) => bar.note(() => io.err(`tlbridge send-now: ${partner}: waiting for the batch cycle of pid ${h.pid} (running since ${h.since}) to end`)),
      cycle: () => runBatchCycle({ db, config, archive, pool, partner, origin: 'cli', logger: bar.logger() }),
    });
  } finally {
    await pool.close();
  }
}

async function viaDaemon(db: Db, partner: string, secrets: string[], bar: Bar, ask: AskOptions = {}): Promise<DrainResult | { error: string }> {
  // progress: the start set's messages the daemon has sent so far, read from the ledger
  const start = new BatchQueries(db).claimable(partner, -1).map((m) => m.id);
  const ids = JSON.stringify(start);
  bar.start(start.length);
  const sentOf = db.prepare(`SELECT count(*) FROM messages WHERE id IN (SELECT value FROM json_each(?)) AND state IN ('SENT', 'ACCEPTED', 'REJECTED')`).pluck();
  const answer = await askDaemon(db, 'send', partner, secrets, { ...ask, onLook: () => bar.update(sentOf.get(ids) as number) });
  if (!answer.ok) return { error: answer.error };
  const d = requestDetail<DrainResult>(answer.request);
  return 'result' in d ? d.result : d;
}

/** One progress bar per partner across its batches, gone before its summary: the two share
 * the terminal. A line printed meanwhile (waiting for a lock) removes the bar first and draws
 * a new one after it. */
class Bar {
  private p: Progress | null = null;
  private total = 0;
  private done = 0;
  private claimed = 0;

  constructor(
    private readonly io: Io,
    private readonly label: string,
  ) {}

  start(total: number): void {
    this.total = total;
    this.p = startProgress({ total, unit: 'files uploaded', label: this.label, stream: this.io.stderr });
  }

  update(done: number): void {
    this.done = done;
    this.p?.update(done);
  }

  note(print: () => void): void {
    this.p?.stop();
    print();
    this.p = startProgress({ total: this.total, unit: 'files uploaded', label: this.label, stream: this.io.stderr });
    this.p.update(this.done);
  }

  stop(): void {
    this.p?.stop();
  }

  /** The cycles' own state-change events, counted: a message SENT is one uploaded; more
   * claimed (STAGED to SENDING) than were uploadable at the start (the daemon staged a file
   * meanwhile) raises the total. Logs nothing: the summary lines say the rest. */
  logger(): CycleLogger {
    const seen = (_msg: string, fields?: object) => {
      const f = fields as { from?: unknown; to?: unknown } | undefined;
      if (f?.from === 'STAGED' && f.to === 'SENDING' && ++this.claimed > this.total) {
        this.total = this.claimed;
        this.p?.setTotal(this.total);
      } else if (f?.to === 'SENT') this.update(this.done + 1);
    };
    return { info: seen, warn: seen, error: seen };
  }
}
