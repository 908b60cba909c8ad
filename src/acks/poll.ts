// One ack poll of one partner (product.md 1, 5; messages.md 2):
//
//   lock -> list ackDir -> per file: download (capped) -> sha256 -> [known? skip] ->
//   ONE transaction: archive (manifest in the chain) + acks row + message state + transition
//   -> after the commit only: ackAfterRead on the server (delete | move:<dir> | keep)
//
// - Every `*.xml` in ackDir is read, except dotfiles and names ending in tempSuffix.
// - The (partner, sha256) of an ack is unique in the ledger: an ack whose content is already
//   there (the poll crashed between the commit and the delete, or the partner uploaded the
//   same file again) is applied nothing twice; its ackAfterRead step is still done, so nothing
//   is lost and nothing stays behind.
// - With `keep`, a file already read is recognised without downloading it again: same partner,
//   remote name and size as a row of the ledger, and not modified on the server after that row
//   was recorded. Anything else is downloaded and the sha256 decides.
// - A file larger than maxAckBytes is never downloaded: it is recorded once as invalid ("too
//   large"), its manifest names it (the content is not archived: it was not read), and it is
//   LEFT on the server whatever ackAfterRead says: product.md 5 removes an ack only after it
//   is archived, and an operator has to look at it there. Its sha256 column holds
//   `too-large:<hash of its name, size and mtime>`, since its content hash is unknown, so
//   later polls recognise it and stay quiet.
// - Invalid acks (too large, DOCTYPE, not well-formed, not valid against the ack XSD) are
//   archived, recorded with valid = 0 and their problem, change nothing, and are logged as
//   errors. Before an invalid (or short) download is recorded, the remote file is checked
//   against its listing: one that changed meanwhile is still being written and is left for
//   the next poll.
// - Limits per poll (partners.X.sftp): at most maxAckEntries entries of ackDir are listed (read
//   chunk by chunk, the rest stays unseen), at most maxAcksPerPoll files are read and at most
//   maxAckBytesPerPoll bytes downloaded (the first file always: maxAckBytes caps it); what is
//   over a limit waits for the next poll, logged once per poll.
// - No local path is built from a remote name: a download goes to a folder of its own made
//   with mkdtemp (so its file is new), the archived copy is always `ack.xml`.
// - One bad ack never stops the others: each file has its own try/catch; only a dead
//   connection ends the poll early (the rest waits for the next poll).
// - At most one poll per partner at a time, across processes (daemon and `poll-acks` CLI):
//   a partner_locks row named `acks:<partner>` (partner codes cannot contain ':', so it never
//   meets a batch cycle's lock).
//
// What an ack does is decided by decide.ts (pure) and carried out by apply.ts.
import fs from 'node:fs';
import path from 'node:path';
import type { Archive } from '../archive/archive.js';
import { tryAcquirePartnerLock } from '../ledger/partner-lock.js';
import { recordRun, type RunOrigin } from '../ledger/runs.js';
import type { Config } from '../config/load.js';
import { dataPaths } from '../config/paths.js';
import type { PartnerConfig } from '../config/schema.js';
import type { Db } from '../ledger/db.js';
import { nullLogger, type Logger } from '../log.js';
import { EndpointError, endpointFor, type EmbeddedEndpointOptions } from '../transport/endpoint.js';
import { SftpPool } from '../transport/pool.js';
import { DownloadTooLargeError } from '../transport/errors.js';
import type { RemoteEntry, SftpSession } from '../transport/session.js';
import { sha256 } from '../util/sha256.js';
import { ACK_ARCHIVE_FILE, applyAck, isKnownAck, knownUnchanged, type AckFileInput } from './apply.js';
import { ackParseOptions, parseAck } from './parse.js';
import { errText } from '../util/err-text.js';
import { PollBudget } from './budget.js';
import { afterReadOf, isAckName, type AfterRead } from './names.js';

export { applyAck, type AckAnswer, type AckContext, type AckFileInput, type ApplyOutcome } from './apply.js';
export type { AckEffect } from './decide.js';
export { afterReadOf, isAckName, type AfterRead } from './names.js';

export interface PollAcksDeps {
  db: Db;
  config: Config;
  archive: Archive;
  /** the partner's pool (SftpPool(endpointFor(config, partner), ...)) */
  pool: SftpPool;
  partner: string;
  logger?: Logger;
  /** aborted (SIGTERM): no new file is started; the one in progress finishes */
  signal?: AbortSignal;
  /** who runs it, for its runs row; default 'daemon' ('cli' for pollAcksOnce) */
  origin?: RunOrigin;
}

export interface PollAcksResult {
  /** ack files read this poll (downloaded, or recorded as too large without downloading) */
  read: number;
  /** new acks that decided their message: effect accepted or rejected */
  applied: number;
  /** new duplicate reports (no state change) */
  duplicates: number;
  /** new acks older than the outcome already applied (no state change) */
  superseded: number;
  /** new acks that match no message of the partner */
  unmatched: number;
  /** new invalid acks (too large, DOCTYPE, not well-formed, XSD) */
  invalid: number;
  /** new acks of a STAGED (resent) message, applied when it is SENT again; absent when none */
  pending?: number;
  /** new acks of a HELD or CANCELLED message, recorded only as an alert; absent when none */
  alerts?: number;
  /** files over this poll's limits (maxAcksPerPoll, maxAckBytesPerPoll), left for the next poll; absent when none */
  deferred?: number;
  /** files already in the ledger (applied earlier): nothing applied again; or left for the next poll because still being written */
  skipped: number;
  /** files that could not be handled (left on the server for the next poll), or whose delete/move failed */
  errors: number;
  /** the poll itself failed (connection, listing): the poll did not (fully) run */
  error?: string;
  /** another poll of this partner holds the lock (this or another process): nothing was done */
  busy?: { pid: number; since: string };
}

/** Prefix of the partner_locks row that keeps ack polls of one partner one at a time. */
export const ACK_LOCK_PREFIX = 'acks:';


export function emptyPollResult(): PollAcksResult {
  return { read: 0, applied: 0, duplicates: 0, superseded: 0, unmatched: 0, invalid: 0, skipped: 0, errors: 0 };
}

/** A partner's downloads in ack-work/: '@' is in no partner code, so no prefix of one partner's
 * names starts another's (ACME and ACME-X). */
function workPrefix(partner: string): string {
  return `${partner}@`;
}

// ------------------------------------------------------------------------------ the poll

/** Runs one poll of `partner`. Never throws for server or ack problems: see `error` and `errors`. */
export async function pollAcks(deps: PollAcksDeps): Promise<PollAcksResult> {
  const r = emptyPollResult();
  const log = deps.logger ?? nullLogger;
  const { partner } = deps;
  const cfg = Object.prototype.hasOwnProperty.call(deps.config.partners, partner) ? deps.config.partners[partner] : undefined;
  if (!cfg) return { ...r, error: `unknown partner "${partner}"` };
  return recordRun(deps.db, { kind: 'acks', partner, origin: deps.origin ?? 'daemon' }, () => lockedPoll(deps, cfg, log, r), (p) =>
    p.busy ? { outcome: 'skipped' } : p.error !== undefined ? { outcome: 'failed', error: p.error } : { outcome: 'ok' },
  );
}

async function lockedPoll(deps: PollAcksDeps, cfg: PartnerConfig, log: Logger, r: PollAcksResult): Promise<PollAcksResult> {
  const { partner } = deps;
  const acq = tryAcquirePartnerLock(deps.db, ACK_LOCK_PREFIX + partner);
  if (!acq.acquired) {
    log.info('ack poll skipped: another ack poll of this partner is running', { partner, lockPid: acq.heldBy.pid, lockedSince: acq.heldBy.acquired_at });
    return { ...r, busy: { pid: acq.heldBy.pid, since: acq.heldBy.acquired_at } };
  }
  const t0 = Date.now();
  try {
    const poll = new Poll(deps, cfg, log, r);
    poll.prepareWorkDir();
    await deps.pool.use((s) => poll.run(s));
  } catch (e) {
    r.error = errText(e);
    log.error('ack poll failed', { partner, error: r.error });
  } finally {
    acq.lock.release();
  }
  const total = r.read + r.skipped + r.errors;
  if (total > 0 || r.error !== undefined) log.info('ack poll finished', { partner, ...r, durationMs: Date.now() - t0 });
  return r;
}

/**
 * For the `poll-acks` command and other one-shot callers: builds the partner's pool (one
 * connection), runs one poll, closes the pool. Endpoint problems come back as `error`.
 */
export async function pollAcksOnce(deps: Omit<PollAcksDeps, 'pool'> & { endpoint?: EmbeddedEndpointOptions }): Promise<PollAcksResult> {
  let pool: SftpPool;
  try {
    if (!Object.prototype.hasOwnProperty.call(deps.config.partners, deps.partner)) return { ...emptyPollResult(), error: `unknown partner "${deps.partner}"` };
    pool = new SftpPool(endpointFor(deps.config, deps.partner, deps.endpoint), 1);
  } catch (e) {
    if (e instanceof EndpointError) return { ...emptyPollResult(), error: e.message };
    throw e;
  }
  try {
    return await pollAcks({ origin: 'cli', ...deps, pool });
  } finally {
    await pool.close();
  }
}

class Poll {
  private readonly ackDir: string;
  private readonly after: AfterRead;
  private readonly workDir: string;
  private moveDirReady = false;
  private readonly budget: PollBudget;

  constructor(
    private readonly deps: PollAcksDeps,
    private readonly cfg: PartnerConfig,
    private readonly log: Logger,
    private readonly r: PollAcksResult,
  ) {
    this.ackDir = cfg.sftp.ackDir.replace(/\/+$/, '') || '/';
    this.after = afterReadOf(cfg.sftp);
    this.workDir = dataPaths(deps.config).ackWork;
    this.budget = new PollBudget(cfg.sftp);
  }

  /** Creates the download folder and removes what a crashed poll of this partner left there. */
  prepareWorkDir(): void {
    fs.mkdirSync(this.workDir, { recursive: true, mode: 0o750 });
    const prefix = workPrefix(this.deps.partner);
    for (const f of fs.readdirSync(this.workDir)) if (f.startsWith(prefix)) fs.rmSync(path.join(this.workDir, f), { recursive: true, force: true });
  }

  async run(s: SftpSession): Promise<void> {
    const { partner } = this.deps;
    const { maxAckEntries } = this.cfg.sftp;
    const listing = await s.listCapped(this.ackDir, maxAckEntries);
    if (listing.more) {
      this.log.warn('ackDir holds more entries than maxAckEntries: only that many are looked at in this poll, the rest waits', { partner, ackDir: this.ackDir, maxAckEntries });
    }
    const entries = listing.entries
      .filter((e) => e.type === 'file' && isAckName(e.name, this.cfg.sftp.tempSuffix))
      .sort((a, b) => a.modifyTime - b.modifyTime || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    if (this.after.kind === 'move' && this.after.dir === this.ackDir) {
      this.log.warn('ackAfterRead moves acks into ackDir itself; treated as keep', { partner, ackDir: this.ackDir });
    }
    for (const e of entries) {
      if (this.deps.signal?.aborted) break;
      const remotePath = path.posix.join(this.ackDir, e.name);
      let committed = false;
      try {
        committed = await this.one(s, e, remotePath);
      } catch (err) {
        this.r.errors++;
        this.log.error('ack could not be processed; it stays on the server for the next poll', { partner, remotePath, error: errText(err) });
        if (s.closed) throw new Error(`connection lost while reading ${remotePath}: ${errText(err)}`);
        continue;
      }
      if (!committed) continue;
      try {
        await this.afterRead(s, e.name, remotePath);
      } catch (err) {
        this.r.errors++;
        this.log.error('ack recorded, but ackAfterRead failed on the server; done again at the next poll', {
          partner,
          remotePath,
          ackAfterRead: this.cfg.sftp.ackAfterRead,
          error: errText(err),
        });
        if (s.closed) throw new Error(`connection lost after reading ${remotePath}: ${errText(err)}`);
      }
    }
    const b = this.budget;
    if (b.deferred) {
      this.r.deferred = b.deferred;
      const { maxAcksPerPoll, maxAckBytesPerPoll } = this.cfg.sftp;
      this.log.info('ack poll limit reached: the rest waits for the next poll', { partner, deferred: b.deferred, readFiles: b.files, readBytes: b.bytes, maxAcksPerPoll, maxAckBytesPerPoll });
    }
  }

  /** Reads and records one file; true when its outcome is committed (now or earlier) and ackAfterRead may run. */
  private async one(s: SftpSession, e: RemoteEntry, remotePath: string): Promise<boolean> {
    const { db, partner } = this.deps;
    const max = this.cfg.sftp.maxAckBytes;
    if (this.after.kind === 'keep' || (this.after.kind === 'move' && this.after.dir === this.ackDir)) {
      if (knownUnchanged(db, partner, e.name, e.size, e.modifyTime)) {
        this.r.skipped++;
        return false; // keep: nothing to do on the server either
      }
    }

    if (!this.budget.take(e.size > max ? 0 : e.size)) return false;
    let input: AckFileInput | null = null;
    if (e.size > max) {
      input = { kind: 'too-large', remoteName: e.name, size: e.size, modifyTime: e.modifyTime, maxBytes: max };
    } else {
      // a folder of its own (mkdtemp creates it exclusively, 0700): the file in it is new
      const own = fs.mkdtempSync(path.join(this.workDir, `${workPrefix(partner)}${process.pid}-`));
      const tmp = path.join(own, ACK_ARCHIVE_FILE);
      try {
        try {
          await s.download(remotePath, tmp, max);
        } catch (err) {
          if (!(err instanceof DownloadTooLargeError)) throw err;
          input = { kind: 'too-large', remoteName: e.name, size: err.size, modifyTime: e.modifyTime, maxBytes: max };
        }
        // at most maxAckBytes: the download stops past it
        if (!input) input = { kind: 'file', remoteName: e.name, data: fs.readFileSync(tmp) };
      } finally {
        fs.rmSync(own, { recursive: true, force: true });
      }
    }
    this.r.read++;

    if (input.kind === 'file') {
      const known = isKnownAck(db, partner, sha256(input.data));
      if (!known) {
        input.parsed = parseAck(input.data, ackParseOptions(this.deps.config, this.cfg));
        // a short or invalid download may be a file the partner is still writing: compare with the listing
        if (input.data.length !== e.size || !input.parsed.ok) {
          const now = await s.stat(remotePath);
          if (!now || now.size !== input.data.length || now.modifyTime !== e.modifyTime) {
            this.r.skipped++;
            this.log.info('ack changed while it was read (still being written?); left for the next poll', {
              partner,
              remotePath,
              listedBytes: e.size,
              readBytes: input.data.length,
            });
            return false;
          }
        }
      }
    }

    const out = applyAck({ ...this.deps, logger: this.log }, input);
    if (input.kind === 'too-large') {
      if (out.already) this.r.skipped++;
      else this.r.invalid++;
      return false; // never removed or moved: its content is in no archive
    }
    if (out.already) {
      this.r.skipped++;
      this.log.info('ack already recorded (same content); nothing applied again', { partner, remotePath, ackId: out.ackId, effect: out.effect });
      return true;
    }
    switch (out.effect) {
      case 'accepted':
      case 'rejected':
        this.r.applied++;
        break;
      case 'duplicate':
        this.r.duplicates++;
        break;
      case 'superseded':
        this.r.superseded++;
        break;
      case 'unmatched':
        this.r.unmatched++;
        break;
      case 'invalid':
        this.r.invalid++;
        break;
      case 'pending':
        this.r.pending = (this.r.pending ?? 0) + 1;
        break;
      case 'alert':
        this.r.alerts = (this.r.alerts ?? 0) + 1;
        break;
    }
    return true;
  }

  private async afterRead(s: SftpSession, name: string, remotePath: string): Promise<void> {
    const a = this.after;
    if (a.kind === 'keep') return;
    if (a.kind === 'delete') {
      await s.remove(remotePath, { missingOk: true });
      this.log.debug('ack deleted on the server', { partner: this.deps.partner, remotePath });
      return;
    }
    if (a.dir === this.ackDir) return;
    if (!this.moveDirReady) {
      await s.mkdirp(a.dir);
      this.moveDirReady = true;
    }
    let target = path.posix.join(a.dir, name);
    for (let n = 1; (await s.stat(target)) !== null; n++) {
      if (n > 1000) throw new Error(`cannot move ${remotePath}: ${name} and ${name}.1 to ${name}.1000 all exist in ${a.dir}`);
      target = path.posix.join(a.dir, `${name}.${n}`);
    }
    await s.rename(remotePath, target);
    this.log.debug('ack moved on the server', { partner: this.deps.partner, remotePath, to: target });
  }
}
