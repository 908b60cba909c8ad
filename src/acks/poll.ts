// One ack poll of one partner (product.md 1, 5; messages.md 2):
//
//   lock -> list ackDir -> per group of up to GROUP_FILES files: download (capped, several in
//   flight, into memory) -> sha256 -> [known? skip] -> ONE transaction for the group (group.ts):
//   archive folders (manifests in the chain) + acks rows + message states + transitions
//   -> after the commit only: ackAfterRead on the server (delete | move:<dir> | keep), the
//   deletes pipelined
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
// - No local path is built from a remote name: a download goes into memory (capped at
//   maxAckBytes, a group at GROUP_BYTES), the archived copy is always `ack.xml`. ack-work/ is
//   only emptied of what older versions left there.
// - One bad ack never stops the others: a file that cannot be read, or whose record fails, is
//   that file's error (a group that fails is redone one ack at a time, group.ts); only a dead
//   connection ends the poll early (the rest waits for the next poll).
// - SIGTERM (signal): no new group is started; the one in progress finishes.
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
import type { FetchResult, RemoveResult } from '../transport/fetch.js';
import type { RemoteEntry, SftpSession } from '../transport/session.js';
import { sha256 } from '../util/sha256.js';
import { isKnownAck, knownUnchanged, type AckFileInput, type ApplyOutcome } from './apply.js';
import { applyAcks } from './group.js';
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
  /** aborted (SIGTERM): no new group of files is started; the one in progress finishes */
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

/** Files per group: downloaded together (several in flight), recorded in one transaction, then
 * removed together. */
const GROUP_FILES = 64;
/** Bytes per group at most (their listed sizes; the first file always goes): a group sits in
 * memory until it is recorded. */
const GROUP_BYTES = 16 * 1024 * 1024;

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
    const { maxAckEntries, maxAckBytes } = this.cfg.sftp;
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
    const stays = this.after.kind === 'keep' || (this.after.kind === 'move' && this.after.dir === this.ackDir);
    const todo: RemoteEntry[] = [];
    for (const e of entries) {
      // keep: a file already read is recognised by its listing, not downloaded again
      if (stays && knownUnchanged(this.deps.db, partner, e.name, e.size, e.modifyTime)) {
        this.r.skipped++;
        continue;
      }
      if (this.budget.take(e.size > maxAckBytes ? 0 : e.size)) todo.push(e);
    }
    const groups: RemoteEntry[][] = [];
    for (let at = 0; at < todo.length; ) {
      let n = 0;
      let bytes = 0;
      for (; at + n < todo.length && n < GROUP_FILES; n++) {
        const size = Math.min(todo[at + n]!.size, maxAckBytes);
        if (n > 0 && bytes + size > GROUP_BYTES) break;
        bytes += size;
      }
      groups.push(todo.slice(at, at + n));
      at += n;
    }
    // the next group downloads while this one is recorded, and this one's deletes run while the
    // next one is: the session takes them in turn, so the connection is rarely idle
    let fetching = groups.length ? this.fetch(s, groups[0]!) : null;
    let removing: Promise<void> | null = null;
    try {
      for (let g = 0; g < groups.length; g++) {
        const fetched = await fetching!;
        if (this.deps.signal?.aborted) break;
        fetching = g + 1 < groups.length ? this.fetch(s, groups[g + 1]!) : null;
        const done = await this.record(s, groups[g]!, fetched);
        if (removing) await removing;
        removing = this.afterReadAll(s, done);
      }
      if (removing) await removing;
      removing = null;
    } finally {
      // only after a failure: what is still under way must not reject unseen
      await removing?.catch(() => undefined);
    }
    const b = this.budget;
    if (b.deferred) {
      this.r.deferred = b.deferred;
      const { maxAcksPerPoll, maxAckBytesPerPoll } = this.cfg.sftp;
      this.log.info('ack poll limit reached: the rest waits for the next poll', { partner, deferred: b.deferred, readFiles: b.files, readBytes: b.bytes, maxAcksPerPoll, maxAckBytesPerPoll });
    }
  }

  /** Downloads a group's files (not those too large by their listing); never rejects: a lost connection is `lost`. */
  private fetch(s: SftpSession, entries: RemoteEntry[]): Promise<FetchResult[] | { lost: unknown }> {
    const small = entries.filter((e) => e.size <= this.cfg.sftp.maxAckBytes);
    if (!small.length) return Promise.resolve([]);
    return s.readFiles(small.map((e) => path.posix.join(this.ackDir, e.name)), this.cfg.sftp.maxAckBytes).catch((lost: unknown) => ({ lost }));
  }

  /** Records one downloaded group in one transaction; the files whose outcome is committed (for ackAfterRead). */
  private async record(s: SftpSession, entries: RemoteEntry[], got: FetchResult[] | { lost: unknown }): Promise<RemoteEntry[]> {
    const { partner } = this.deps;
    const max = this.cfg.sftp.maxAckBytes;
    const remotePath = (e: RemoteEntry): string => path.posix.join(this.ackDir, e.name);
    const failed = (e: RemoteEntry, err: unknown): void => {
      this.r.errors++;
      this.log.error('ack could not be processed; it stays on the server for the next poll', { partner, remotePath: remotePath(e), error: errText(err) });
    };

    const small = entries.filter((e) => e.size <= max);
    let fetched: FetchResult[];
    if ('lost' in got) {
      for (const e of small) failed(e, got.lost);
      if (s.closed) throw new Error(`connection lost while reading ${this.ackDir}: ${errText(got.lost)}`);
      fetched = small.map(() => ({ kind: 'failed', error: got.lost }));
    } else fetched = got;
    const read: { e: RemoteEntry; input: AckFileInput }[] = [];
    for (const e of entries) {
      if (e.size > max) {
        read.push({ e, input: { kind: 'too-large', remoteName: e.name, size: e.size, modifyTime: e.modifyTime, maxBytes: max } });
        continue;
      }
      const f = fetched[small.indexOf(e)]!;
      if (f.kind === 'failed') failed(e, f.error);
      else if (f.kind === 'too-large') read.push({ e, input: { kind: 'too-large', remoteName: e.name, size: f.seen, modifyTime: e.modifyTime, maxBytes: max } });
      else read.push({ e, input: { kind: 'file', remoteName: e.name, data: f.data } });
    }
    this.r.read += read.length;

    const ready: typeof read = [];
    for (const x of read) {
      try {
        if (await this.stillBeingWritten(s, x.e, x.input)) continue;
      } catch (err) {
        failed(x.e, err);
        if (s.closed) throw new Error(`connection lost while reading ${remotePath(x.e)}: ${errText(err)}`);
        continue;
      }
      ready.push(x);
    }

    const outcomes = await applyAcks({ ...this.deps, logger: this.log }, ready.map((x) => x.input));
    const done: RemoteEntry[] = [];
    ready.forEach((x, i) => {
      const out = outcomes[i]!;
      if ('failed' in out) return failed(x.e, out.failed);
      if (this.count(x.e, x.input, out)) done.push(x.e);
    });
    return done;
  }

  /** A short or invalid download may be a file the partner is still writing: true (left for the next poll) when it changed since the listing. */
  private async stillBeingWritten(s: SftpSession, e: RemoteEntry, input: AckFileInput): Promise<boolean> {
    if (input.kind !== 'file' || isKnownAck(this.deps.db, this.deps.partner, sha256(input.data))) return false;
    input.parsed = parseAck(input.data, ackParseOptions(this.deps.config, this.cfg));
    if (input.data.length === e.size && input.parsed.ok) return false;
    const remotePath = path.posix.join(this.ackDir, e.name);
    const now = await s.stat(remotePath);
    if (now && now.size === input.data.length && now.modifyTime === e.modifyTime) return false;
    this.r.skipped++;
    this.log.info('ack changed while it was read (still being written?); left for the next poll', { partner: this.deps.partner, remotePath, listedBytes: e.size, readBytes: input.data.length });
    return true;
  }

  /** Counts one recorded ack; true when its outcome is committed (now or earlier) and ackAfterRead may run. */
  private count(e: RemoteEntry, input: AckFileInput, out: ApplyOutcome): boolean {
    if (input.kind === 'too-large') {
      if (out.already) this.r.skipped++;
      else this.r.invalid++;
      return false; // never removed or moved: its content is in no archive
    }
    if (out.already) {
      this.r.skipped++;
      this.log.info('ack already recorded (same content); nothing applied again', { partner: this.deps.partner, remotePath: path.posix.join(this.ackDir, e.name), ackId: out.ackId, effect: out.effect });
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

  /** ackAfterRead for the recorded files of a group: the deletes pipelined, moves one by one. */
  private async afterReadAll(s: SftpSession, done: RemoteEntry[]): Promise<void> {
    if (!done.length || this.after.kind === 'keep') return;
    const { partner } = this.deps;
    const paths = done.map((e) => path.posix.join(this.ackDir, e.name));
    const failed = (remotePath: string, err: unknown): void => {
      this.r.errors++;
      this.log.error('ack recorded, but ackAfterRead failed on the server; done again at the next poll', { partner, remotePath, ackAfterRead: this.cfg.sftp.ackAfterRead, error: errText(err) });
    };
    if (this.after.kind === 'delete') {
      let removed: RemoveResult[];
      try {
        removed = await s.removeFiles(paths);
      } catch (err) {
        for (const p of paths) failed(p, err);
        if (s.closed) throw new Error(`connection lost after reading ${this.ackDir}: ${errText(err)}`);
        return;
      }
      removed.forEach((x, i) => {
        if (x.kind === 'failed') failed(paths[i]!, x.error);
        else this.log.debug('ack deleted on the server', { partner, remotePath: paths[i] });
      });
      return;
    }
    for (const [i, e] of done.entries()) {
      try {
        await this.afterRead(s, e.name, paths[i]!);
      } catch (err) {
        failed(paths[i]!, err);
        if (s.closed) throw new Error(`connection lost after reading ${paths[i]}: ${errText(err)}`);
      }
    }
  }

  /** move:<dir>: renamed there, a suffix added when the name exists. */
  private async afterRead(s: SftpSession, name: string, remotePath: string): Promise<void> {
    const a = this.after;
    if (a.kind !== 'move' || a.dir === this.ackDir) return;
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
