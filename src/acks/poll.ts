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
// - One bad ack never stops the others: each file has its own try/catch; only a dead
//   connection ends the poll early (the rest waits for the next poll).
// - At most one poll per partner at a time, across processes (daemon and `poll-acks` CLI):
//   a partner_locks row named `acks:<partner>` (partner codes cannot contain ':', so it never
//   meets a batch cycle's lock).
//
// Reconciliation (decide()):
// - matched = a message of this partner (its file CONVERTED) with FileControlNumber =
//   InputFileControlNumber, and InputFileSenderNumber = sender.id and InputFileReceiverNumber
//   = the partner's receiverId; otherwise the ack is `unmatched` (kept, reported, never dropped).
// - a duplicate report (classify) changes no state: effect `duplicate`, no transition row.
// - accepted / rejected: the ack with the latest FileDate + FileTime decides. An ack that is not
//   later than an accepted/rejected ack already applied to the message is `superseded` and
//   changes nothing (equal times: the first one stays).
// - the message's state: SENT, and also SENDING (a batch cycle is uploading it again, or died
//   doing so) and STAGED or HELD (after a `resend`, or an upload that failed after an earlier
//   one got through): the server answered a copy it received, so the ack is applied as for SENT
//   (-> ACCEPTED / REJECTED). A cycle still uploading it then finds it no longer SENDING and
//   leaves it alone. ACCEPTED <-> REJECTED by a later ack. CANCELLED stays CANCELLED (an
//   operator's decision; the ack is still recorded against it, with a warning).
// - REJECTED: every error in errors_json and a summary in messages.last_error; ACCEPTED:
//   last_error cleared (warnings stay in the ack's errors_json).
// - acks.problem holds why an invalid ack is invalid, and for the others the note of what the
//   reconciliation did without a state change (why unmatched; a duplicate report; why
//   superseded): that row is the message's history for acks that change no state.
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Archive } from '../archive/archive.js';
import { tryAcquirePartnerLock } from '../ledger/partner-lock.js';
import type { Config } from '../config/load.js';
import type { PartnerConfig } from '../config/schema.js';
import { nowIso, type Db } from '../ledger/db.js';
import { Ledger, VISIBLE, type MessageState } from '../ledger/ledger.js';
import { nullLogger, type Logger } from '../log.js';
import { EndpointError, endpointFor, type EmbeddedEndpointOptions } from '../transport/endpoint.js';
import { SftpPool } from '../transport/pool.js';
import { DownloadTooLargeError } from '../transport/errors.js';
import type { RemoteEntry, SftpSession } from '../transport/session.js';
import { ackInstant, ackParseOptions, classify, errorSummary, parseAck, type AckParseResult, type ParsedAck } from './parse.js';
import { errText } from '../util/schedule.js';

export type AckEffect = 'accepted' | 'rejected' | 'duplicate' | 'unmatched' | 'superseded' | 'invalid';

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
  /** files already in the ledger (applied earlier): nothing applied again; or left for the next poll because still being written */
  skipped: number;
  /** files that could not be handled (left on the server for the next poll), or whose delete/move failed */
  errors: number;
  /** the poll itself failed (connection, listing): the poll did not (fully) run */
  error?: string;
  /** another poll of this partner holds the lock (this or another process): nothing was done */
  busy?: { pid: number; since: string };
}

/** What the manifest of an ack names, one entry per message it answered (product.md 3). */
export interface AckAnswer {
  batchId: number | null;
  messageId: number;
  fcn: string;
  effect: AckEffect;
  from?: string;
  to?: string;
}

/** One ack file to record: its content, or (too large) only what the listing said. */
export type AckFileInput =
  | { kind: 'file'; remoteName: string; data: Buffer; parsed?: AckParseResult }
  | { kind: 'too-large'; remoteName: string; size: number; modifyTime: number; maxBytes: number };

export interface AckContext {
  db: Db;
  config: Config;
  archive: Archive;
  partner: string;
  logger?: Logger;
}

export type ApplyOutcome =
  | { already: true; ackId: number; effect: string | null }
  | {
      already: false;
      ackId: number;
      effect: AckEffect;
      problem: string | null;
      archiveDir: string;
      answers: AckAnswer[];
      ack: ParsedAck | null;
    };

/** Prefix of the partner_locks row that keeps ack polls of one partner one at a time. */
export const ACK_LOCK_PREFIX = 'acks:';

/**
 * Where acks are downloaded to before they are archived: <dataDir>/ack-work/. Not under
 * work/: the daemon's start-up treats every entry of work/ as a claimed input file.
 */
export function ackWorkDir(config: Pick<Config, 'dataDir'>): string {
  return path.join(config.dataDir, 'ack-work');
}

export function emptyPollResult(): PollAcksResult {
  return { read: 0, applied: 0, duplicates: 0, superseded: 0, unmatched: 0, invalid: 0, skipped: 0, errors: 0 };
}

export type AfterRead = { kind: 'delete' } | { kind: 'keep' } | { kind: 'move'; dir: string };

/** ackAfterRead of a partner; a relative move dir is relative to ackDir. */
export function afterReadOf(sftp: Pick<PartnerConfig['sftp'], 'ackAfterRead' | 'ackDir'>): AfterRead {
  const v = sftp.ackAfterRead;
  if (v === 'keep') return { kind: 'keep' };
  if (v.startsWith('move:')) {
    const raw = v.slice('move:'.length).trim();
    const dir = path.posix.normalize(raw.startsWith('/') ? raw : path.posix.join(sftp.ackDir, raw)).replace(/\/+$/, '') || '/';
    return { kind: 'move', dir };
  }
  return { kind: 'delete' };
}

/** Which names in ackDir are acks: `*.xml`, no dotfiles, nothing ending in tempSuffix. */
export function isAckName(name: string, tempSuffix: string): boolean {
  if (!name || name.startsWith('.') || name.includes('/') || name.includes('\\')) return false;
  if (tempSuffix && name.endsWith(tempSuffix)) return false;
  return name.toLowerCase().endsWith('.xml');
}

// ------------------------------------------------------------------------------ the poll

/** Runs one poll of `partner`. Never throws for server or ack problems: see `error` and `errors`. */
export async function pollAcks(deps: PollAcksDeps): Promise<PollAcksResult> {
  const r = emptyPollResult();
  const log = deps.logger ?? nullLogger;
  const { partner } = deps;
  const cfg = Object.prototype.hasOwnProperty.call(deps.config.partners, partner) ? deps.config.partners[partner] : undefined;
  if (!cfg) return { ...r, error: `unknown partner "${partner}"` };

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
    return await pollAcks({ ...deps, pool });
  } finally {
    await pool.close();
  }
}

class Poll {
  private readonly ackDir: string;
  private readonly after: AfterRead;
  private readonly workDir: string;
  private moveDirReady = false;

  constructor(
    private readonly deps: PollAcksDeps,
    private readonly cfg: PartnerConfig,
    private readonly log: Logger,
    private readonly r: PollAcksResult,
  ) {
    this.ackDir = cfg.sftp.ackDir.replace(/\/+$/, '') || '/';
    this.after = afterReadOf(cfg.sftp);
    this.workDir = ackWorkDir(deps.config);
  }

  /** Creates the download folder and removes what a crashed poll of this partner left there. */
  prepareWorkDir(): void {
    fs.mkdirSync(this.workDir, { recursive: true, mode: 0o750 });
    const prefix = `${this.deps.partner}--`;
    for (const f of fs.readdirSync(this.workDir)) if (f.startsWith(prefix)) fs.rmSync(path.join(this.workDir, f), { force: true });
  }

  async run(s: SftpSession): Promise<void> {
    const { partner } = this.deps;
    const entries = (await s.list(this.ackDir))
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
  }

  /** Reads and records one file; true when its outcome is committed (now or earlier) and ackAfterRead may run. */
  private async one(s: SftpSession, e: RemoteEntry, remotePath: string): Promise<boolean> {
    const { db, partner } = this.deps;
    const max = this.cfg.sftp.maxAckBytes;
    if (this.after.kind === 'keep' || (this.after.kind === 'move' && this.after.dir === this.ackDir)) {
      if (knownUnchanged(db, partner, e)) {
        this.r.skipped++;
        return false; // keep: nothing to do on the server either
      }
    }

    let input: AckFileInput | null = null;
    if (e.size > max) {
      input = { kind: 'too-large', remoteName: e.name, size: e.size, modifyTime: e.modifyTime, maxBytes: max };
    } else {
      const tmp = path.join(this.workDir, `${partner}--${process.pid}-${randomUUID()}.xml`);
      try {
        try {
          await s.download(remotePath, tmp, max);
        } catch (err) {
          if (!(err instanceof DownloadTooLargeError)) throw err;
          input = { kind: 'too-large', remoteName: e.name, size: err.size, modifyTime: e.modifyTime, maxBytes: max };
        }
        if (!input) {
          const data = fs.readFileSync(tmp);
          input = { kind: 'file', remoteName: e.name, data };
        }
      } finally {
        fs.rmSync(tmp, { force: true });
      }
    }
    this.r.read++;

    if (input.kind === 'file') {
      const known = knownSha(db, partner, sha256(input.data));
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

/** keep: a row with this remote name and size, recorded after the file was last modified on the server. */
function knownUnchanged(db: Db, partner: string, e: RemoteEntry): boolean {
  const rows = db.prepare('SELECT received_at FROM acks WHERE partner = ? AND remote_name = ? AND bytes = ?').all(partner, e.name, e.size) as { received_at: string }[];
  return rows.some((row) => Number.isFinite(e.modifyTime) && e.modifyTime <= Date.parse(row.received_at));
}

function knownSha(db: Db, partner: string, sha: string): boolean {
  return db.prepare('SELECT 1 FROM acks WHERE partner = ? AND sha256 = ?').get(partner, sha) !== undefined;
}

// ------------------------------------------------------------------------ the apply step

interface MatchedMessage {
  id: number;
  fcn: string;
  state: MessageState;
  batch_id: number | null;
  last_error: string | null;
}

interface Plan {
  valid: boolean;
  problem: string | null;
  ack: ParsedAck | null;
  effect: AckEffect;
  message: MatchedMessage | null;
  /** state change, when there is one */
  to: MessageState | null;
  /** new messages.last_error; undefined = untouched */
  lastError?: string | null;
  /** what it did and why (duplicate, superseded, cancelled): stored in acks.problem and logged */
  note: string | null;
}

/**
 * Records one ack: in ONE transaction its archive folder (manifest chained, naming the batch
 * and message it answered), its acks row and its effect on the message (state, last_error,
 * transition). An ack whose (partner, sha256) is already in the ledger changes nothing and
 * gives `already: true`. Does nothing on the server: ackAfterRead is the caller's, after this
 * returns. Throws only for local failures (disk, ledger), after rolling back.
 */
export function applyAck(ctx: AckContext, input: AckFileInput): ApplyOutcome {
  const { db, config, archive, partner } = ctx;
  const log = ctx.logger ?? nullLogger;
  const cfg = config.partners[partner];
  if (!cfg) throw new Error(`unknown partner "${partner}"`);
  const ledger = new Ledger(db);

  const known = db.prepare('SELECT id, effect FROM acks WHERE partner = ? AND sha256 = ?');
  let key: string;
  let bytes: number;
  let parsed: AckParseResult;
  if (input.kind === 'file') {
    key = sha256(input.data);
    bytes = input.data.length;
    // no need to parse what is already recorded (checked again inside the transaction)
    const pre = known.get(partner, key) as { id: number; effect: string | null } | undefined;
    if (pre) return { already: true, ackId: pre.id, effect: pre.effect };
    parsed = input.parsed ?? parseAck(input.data, ackParseOptions(config, cfg));
  } else {
    key = `too-large:${sha256(`${input.remoteName}\n${input.size}\n${input.modifyTime}`)}`;
    bytes = input.size;
    parsed = { ok: false, problem: `too large: ${input.size} bytes, more than maxAckBytes (${input.maxBytes}); not downloaded, so its content is not archived` };
  }
  const contentSha = input.kind === 'file' ? key : null;
  const archiveId = `${partner}-${input.kind === 'file' ? key.slice(0, 16) : `toolarge-${key.slice('too-large:'.length, 'too-large:'.length + 16)}`}`;

  const outcome = db
    .transaction((): ApplyOutcome => {
      const existing = known.get(partner, key) as { id: number; effect: string | null } | undefined;
      if (existing) return { already: true, ackId: existing.id, effect: existing.effect };

      const plan = decide(db, config, cfg, partner, parsed);
      const at = nowIso();
      const m = plan.message;
      const answers: AckAnswer[] = m
        ? [{ batchId: m.batch_id, messageId: m.id, fcn: m.fcn, effect: plan.effect, ...(plan.to ? { from: m.state, to: plan.to } : {}) }]
        : [];
      const a = plan.ack;
      const files = input.kind === 'file' ? [{ name: archiveName(input.remoteName), data: input.data }] : [];
      const extra = {
        partner,
        remoteName: input.remoteName,
        sha256: contentSha,
        bytes,
        receivedAt: at,
        valid: plan.valid,
        problem: plan.problem,
        ackFileControlNumber: a?.ackFcn ?? null,
        status: a?.status ?? null,
        fileDate: a?.fileDate ?? null,
        fileTime: a?.fileTime ?? null,
        inputFileControlNumber: a?.inputFcn ?? null,
        effect: plan.effect,
        answers,
      };
      const { dir, result: ackId } = archive.add('acks', archiveId, files, extra, (dir) => {
        const id = Number(
          db
            .prepare(
              `INSERT INTO acks (partner, remote_name, sha256, bytes, valid, problem, ack_fcn, input_fcn, status, errors_json,
                 file_date, file_time, message_id, effect, archive_dir, received_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
            )
            .run(
              partner,
              input.remoteName,
              key,
              bytes,
              plan.valid ? 1 : 0,
              plan.problem ?? plan.note,
              a?.ackFcn ?? null,
              a?.inputFcn ?? null,
              a?.status ?? null,
              a ? JSON.stringify(a.errors) : null,
              a?.fileDate ?? null,
              a?.fileTime ?? null,
              m?.id ?? null,
              plan.effect,
              dir,
              at,
            ).lastInsertRowid,
        );
        if (m && plan.to) {
          const changed = db
            .prepare('UPDATE messages SET state = ?, last_error = ?, updated_at = ? WHERE id = ? AND state = ?')
            .run(plan.to, plan.lastError ?? null, at, m.id, m.state).changes;
          if (changed !== 1) throw new Error(`message ${m.id} changed state while its ack was applied`);
          ledger.transition('message', m.id, m.state, plan.to, at, transitionDetail(a!, input.remoteName, id));
        } else if (m && plan.lastError !== undefined && plan.lastError !== m.last_error) {
          db.prepare('UPDATE messages SET last_error = ?, updated_at = ? WHERE id = ?').run(plan.lastError, at, m.id);
        }
        return id;
      });
      return { already: false, ackId, effect: plan.effect, problem: plan.problem ?? plan.note, archiveDir: dir, answers, ack: a };
    })
    .immediate();

  if (!outcome.already) logOutcome(log, partner, input.remoteName, outcome);
  return outcome;
}

/** What an ack does, read inside the transaction that applies it. */
function decide(db: Db, config: Config, cfg: PartnerConfig, partner: string, parsed: AckParseResult): Plan {
  if (!parsed.ok) return { valid: false, problem: parsed.problem, ack: null, effect: 'invalid', message: null, to: null, note: null };
  const ack = parsed.ack;
  const unmatched = (why: string): Plan => ({ valid: true, problem: why, ack, effect: 'unmatched', message: null, to: null, note: why });

  const m = db
    .prepare(`SELECT m.id, m.fcn, m.state, m.batch_id, m.last_error FROM messages m WHERE m.partner = ? AND m.fcn = ? AND ${VISIBLE}`)
    .get(partner, ack.inputFcn) as MatchedMessage | undefined;
  if (!m) return unmatched(`no message of partner ${partner} has FileControlNumber ${ack.inputFcn}`);
  if (ack.inputSender !== config.sender.id) {
    return unmatched(`InputFileSenderNumber ${ack.inputSender} is not our sender.id ${config.sender.id} (FileControlNumber ${ack.inputFcn})`);
  }
  if (ack.inputReceiver !== cfg.receiverId) {
    return unmatched(`InputFileReceiverNumber ${ack.inputReceiver} is not partner ${partner}'s receiverId ${cfg.receiverId} (FileControlNumber ${ack.inputFcn})`);
  }

  const cls = classify(ack, cfg);
  const base = { valid: true, problem: null, ack, message: m };
  if (cls === 'duplicate') {
    const codes = [...new Set(ack.errors.map((e) => e.code))].join(', ');
    return { ...base, effect: 'duplicate', to: null, note: `duplicate report (${codes}): confirms delivery of ${m.fcn}; its state stays ${m.state}` };
  }

  // the latest ack that decided this message, by its FileDate + FileTime
  const prior = db
    .prepare(`SELECT id, file_date, file_time, effect FROM acks WHERE message_id = ? AND effect IN ('accepted', 'rejected')`)
    .all(m.id) as { id: number; file_date: string | null; file_time: string | null; effect: string }[];
  const mine = ackInstant(ack.fileDate, ack.fileTime);
  for (const p of prior) {
    if (!isLater(mine, `${ack.fileDate}T${ack.fileTime}`, ackInstant(p.file_date, p.file_time), `${p.file_date ?? ''}T${p.file_time ?? ''}`)) {
      return {
        ...base,
        effect: 'superseded',
        to: null,
        note: `not later than ack ${p.id} (${p.file_date} ${p.file_time}, ${p.effect}) already applied; changes nothing`,
      };
    }
  }

  const target: MessageState = cls === 'accepted' ? 'ACCEPTED' : 'REJECTED';
  const lastError = cls === 'rejected' ? errorSummary(ack.errors) || 'rejected by the partner (ProcessingStatus ERROR, no error given)' : null;
  if (m.state === 'CANCELLED') {
    return { ...base, effect: cls, to: null, note: 'the message is CANCELLED: its state is left as it is' };
  }
  return { ...base, effect: cls, to: m.state === target ? null : target, lastError, note: null };
}

/** a strictly later than b (instants when both are known, else the text of date + time). */
function isLater(a: number | null, aText: string, b: number | null, bText: string): boolean {
  if (a !== null && b !== null) return a > b;
  return aText > bText;
}

function transitionDetail(ack: ParsedAck, remoteName: string, ackId: number): string {
  const errors = ack.errors.length ? `: ${errorSummary(ack.errors, 1500)}` : '';
  return `ack ${ack.ackFcn} (${remoteName}, ack ${ackId}) ${ack.status} of ${ack.fileDate} ${ack.fileTime}${errors}`;
}

function logOutcome(log: Logger, partner: string, remoteName: string, o: Extract<ApplyOutcome, { already: false }>): void {
  const a = o.ack;
  const ans = o.answers[0];
  const fields = {
    partner,
    remoteName,
    ackId: o.ackId,
    effect: o.effect,
    ackFileControlNumber: a?.ackFcn,
    status: a?.status,
    inputFileControlNumber: a?.inputFcn,
    messageId: ans?.messageId,
    fcn: ans?.fcn,
    batchId: ans?.batchId,
    from: ans?.from,
    to: ans?.to,
    archiveDir: o.archiveDir,
  };
  switch (o.effect) {
    case 'invalid':
      log.error('invalid ack: archived and recorded, changes nothing', { ...fields, problem: o.problem });
      break;
    case 'unmatched':
      log.warn('unmatched ack: kept and reported, changes nothing', { ...fields, problem: o.problem });
      break;
    case 'rejected':
      log.warn(ans?.to ? `message ${ans.to}` : 'ack rejected (state unchanged)', { ...fields, errors: a ? errorSummary(a.errors, 1000) : undefined, note: o.problem ?? undefined });
      break;
    case 'accepted':
      log.info(ans?.to ? `message ${ans.to}` : 'ack accepted (state unchanged)', { ...fields, warnings: a?.errors.length ? errorSummary(a.errors, 1000) : undefined, note: o.problem ?? undefined });
      break;
    default:
      log.info(`ack recorded: ${o.effect}`, { ...fields, note: o.problem ?? undefined });
  }
}

/** The remote name as a plain archive file name (the manifest keeps the exact remote name). */
function archiveName(remoteName: string): string {
  const safe = remoteName.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_');
  return safe === 'manifest.json' || safe === '' ? `ack-${safe}` : safe;
}

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}
