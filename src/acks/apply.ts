// The apply step of an ack (product.md 1, 3, 5): in ONE transaction its archive folder (manifest
// chained, naming the batch and message it answered), its acks row and its effect on the
// message, every state change through the state machine (src/ledger/message-states.ts). What
// the effect is comes from the pure decide() (decide.ts); this file reads its inputs and carries
// it out. acks.problem holds why an invalid ack is invalid, and for the others the note of what
// the reconciliation did without a plain outcome (why unmatched, a duplicate report, superseded,
// pending, an alert): that row is the message's history for acks that change no state.
import type { Archive } from '../archive/archive.js';
import type { Config } from '../config/load.js';
import { nowIso, type Db } from '../ledger/db.js';
import { VISIBLE } from '../ledger/ledger.js';
import { moveMessage } from '../ledger/message-states.js';
import { nullLogger, type Logger } from '../log.js';
import { sha256 } from '../util/sha256.js';
import { decide, pendingOutcome, type AckEffect, type MatchedMessage, type Plan, type PlannedMove, type PriorAck, type Settled } from './decide.js';
import { ackParseOptions, errorSummary, parseAck, type AckError, type AckParseResult, type ParsedAck } from './parse.js';

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

function prepare(db: Db) {
  return {
    known: db.prepare('SELECT id, effect FROM acks WHERE partner = ? AND sha256 = ?'),
    sameName: db.prepare('SELECT received_at FROM acks WHERE partner = ? AND remote_name = ? AND bytes = ?').pluck(),
    matched: db.prepare(`SELECT m.id, m.fcn, m.state, m.batch_id, m.last_error FROM messages m WHERE m.partner = ? AND m.fcn = ? AND ${VISIBLE}`),
    message: db.prepare('SELECT id, fcn, state, batch_id, last_error FROM messages WHERE id = ?'),
    prior: db.prepare(
      `SELECT id, effect, remote_name, ack_fcn, status, errors_json, file_date, file_time FROM acks
       WHERE message_id = ? AND effect IN ('accepted', 'rejected', 'pending') ORDER BY id`,
    ),
    insert: db.prepare(
      `INSERT INTO acks (partner, remote_name, sha256, bytes, valid, problem, ack_fcn, input_fcn, status, errors_json,
         file_date, file_time, message_id, effect, archive_dir, received_at, needs_attention)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    settle: db.prepare(`UPDATE acks SET effect = ?, problem = ? WHERE id = ? AND effect = 'pending'`),
    lastError: db.prepare('UPDATE messages SET last_error = ?, updated_at = ? WHERE id = ?'),
  };
}

const statements = new WeakMap<Db, ReturnType<typeof prepare>>();
function stmts(db: Db): ReturnType<typeof prepare> {
  let s = statements.get(db);
  if (!s) statements.set(db, (s = prepare(db)));
  return s;
}

/**
 * Records one ack. An ack whose (partner, sha256) is already in the ledger changes nothing and
 * gives `already: true`. Does nothing on the server: ackAfterRead is the caller's, after this
 * returns. Throws only for local failures (disk, ledger), after rolling back.
 */
export function applyAck(ctx: AckContext, input: AckFileInput): ApplyOutcome {
  const p = prepareAck(ctx, input);
  if (p.kind === 'already') return p.outcome;
  const outcome = ctx.db
    .transaction((): ApplyOutcome => {
      const existing = knownRow(ctx, p.key);
      if (existing) return existing;
      const at = nowIso();
      const r = planAck(ctx, p, readFacts(ctx, p), at);
      const { dir, result: ackId } = ctx.archive.add('acks', p.archiveId, p.files, r.extra, (dir) => recordAck(ctx, p, r, dir, at));
      return recorded(r, ackId, dir);
    })
    .immediate();
  if (!outcome.already) logOutcome(ctx.logger ?? nullLogger, ctx.partner, input.remoteName, outcome);
  return outcome;
}

/** An ack ready to record: its ledger key, what it parsed to, its archive folder and files. */
export interface PreparedAck {
  kind: 'new';
  input: AckFileInput;
  key: string;
  bytes: number;
  parsed: AckParseResult;
  archiveId: string;
  files: { name: string; data: Buffer }[];
}

/** The ledger key, the parse and the archive id of an input; `already` when its content is recorded. */
export function prepareAck(ctx: AckContext, input: AckFileInput): PreparedAck | { kind: 'already'; outcome: ApplyOutcome } {
  const cfg = partnerOf(ctx);
  let key: string;
  let bytes: number;
  let parsed: AckParseResult;
  if (input.kind === 'file') {
    key = sha256(input.data);
    bytes = input.data.length;
    // no need to parse what is already recorded (checked again inside the transaction)
    const pre = knownRow(ctx, key);
    if (pre) return { kind: 'already', outcome: pre };
    parsed = input.parsed ?? parseAck(input.data, ackParseOptions(ctx.config, cfg));
  } else {
    key = `too-large:${sha256(`${input.remoteName}\n${input.size}\n${input.modifyTime}`)}`;
    bytes = input.size;
    parsed = { ok: false, problem: `too large: ${input.size} bytes, more than maxAckBytes (${input.maxBytes}); not downloaded, so its content is not archived` };
  }
  const files = input.kind === 'file' ? [{ name: ACK_ARCHIVE_FILE, data: input.data }] : [];
  return { kind: 'new', input, key, bytes, parsed, archiveId: ackArchiveId(ctx.partner, key), files };
}

function partnerOf(ctx: AckContext) {
  const cfg = Object.prototype.hasOwnProperty.call(ctx.config.partners, ctx.partner) ? ctx.config.partners[ctx.partner] : undefined;
  if (!cfg) throw new Error(`unknown partner "${ctx.partner}"`);
  return cfg;
}

/** The ledger row of this content, as an `already` outcome; null when it is new. */
export function knownRow(ctx: AckContext, key: string): ApplyOutcome | null {
  const row = stmts(ctx.db).known.get(ctx.partner, key) as { id: number; effect: string | null } | undefined;
  return row ? { already: true, ackId: row.id, effect: row.effect } : null;
}

/** What decide() reads from the ledger for an ack: the message it names and that message's earlier acks. */
export interface AckFacts {
  found: MatchedMessage | null;
  prior: PriorAck[];
}

export function readFacts(ctx: AckContext, p: PreparedAck): AckFacts {
  const found = p.parsed.ok ? ((stmts(ctx.db).matched.get(ctx.partner, p.parsed.ack.inputFcn) as MatchedMessage | undefined) ?? null) : null;
  return { found, prior: found ? priorAcks(ctx.db, found.id) : [] };
}

/** The decision for an ack on `facts`, and the manifest fields that document it. */
export interface PlannedAck {
  plan: Plan;
  answers: AckAnswer[];
  extra: Record<string, unknown>;
}

export function planAck(ctx: AckContext, p: PreparedAck, facts: AckFacts, at: string): PlannedAck {
  const cfg = partnerOf(ctx);
  const plan = decide({
    parsed: p.parsed,
    message: facts.found,
    prior: facts.prior,
    facts: { partner: ctx.partner, senderId: ctx.config.sender.id, receiverId: cfg.receiverId, duplicateErrorCodes: cfg.duplicateErrorCodes },
  });
  const m = plan.message; // null when unmatched (other sender or receiver numbers too)
  const last = plan.moves.at(-1);
  const answers: AckAnswer[] = m ? [{ batchId: m.batch_id, messageId: m.id, fcn: m.fcn, effect: plan.effect, ...(last ? { from: m.state, to: last.to } : {}) }] : [];
  const a = plan.ack;
  const extra = {
    partner: ctx.partner,
    remoteName: p.input.remoteName,
    sha256: p.input.kind === 'file' ? p.key : null,
    bytes: p.bytes,
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
  return { plan, answers, extra };
}

/** The acks row and the plan's effect on the message (inside the transaction that archives it); the row's id. */
export function recordAck(ctx: AckContext, p: PreparedAck, r: PlannedAck, dir: string, at: string): number {
  const { plan } = r;
  const m = plan.message;
  const a = plan.ack;
  const id = Number(
    stmts(ctx.db).insert.run(
      ctx.partner,
      p.input.remoteName,
      p.key,
      p.bytes,
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
      plan.needsAttention ? 1 : 0,
    ).lastInsertRowid,
  );
  if (m && a) {
    const self = { id, remoteName: p.input.remoteName, ackFcn: a.ackFcn, status: a.status, errors: a.errors, fileDate: a.fileDate, fileTime: a.fileTime };
    carryOut(ctx.db, m.id, plan.moves, plan.lastError, plan.settled, at, self);
  }
  return id;
}

export function recorded(r: PlannedAck, ackId: number, dir: string): ApplyOutcome {
  return { already: false, ackId, effect: r.plan.effect, problem: r.plan.problem ?? r.plan.note, archiveDir: dir, answers: r.answers, ack: r.plan.ack };
}

/** An ack with this content is in the ledger (applied earlier). */
export function isKnownAck(db: Db, partner: string, sha: string): boolean {
  return stmts(db).known.get(partner, sha) !== undefined;
}

/** keep: a row with this remote name and size, recorded after the file was last modified on the server. */
export function knownUnchanged(db: Db, partner: string, name: string, size: number, modifyTime: number): boolean {
  const times = stmts(db).sameName.all(partner, name, size) as string[];
  return times.some((t) => Number.isFinite(modifyTime) && modifyTime <= Date.parse(t));
}

/**
 * The acks recorded while a message was STAGED, applied as it goes SENDING -> SENT (call in the
 * transaction of that move, after it): the latest of them by FileDate + FileTime decides.
 */
export function applyPendingAcks(db: Db, messageId: number, at: string): void {
  const prior = priorAcks(db, messageId);
  if (!prior.some((p) => p.effect === 'pending')) return;
  const m = stmts(db).message.get(messageId) as MatchedMessage;
  const o = pendingOutcome(m.state, m.last_error, prior);
  carryOut(db, messageId, o.move ? [o.move] : [], o.lastError, o.settled, at, null);
}

type AckFileFacts = Omit<PriorAck, 'effect'>;

function priorAcks(db: Db, messageId: number): PriorAck[] {
  type Row = { id: number; effect: PriorAck['effect']; remote_name: string; ack_fcn: string | null; status: string | null; errors_json: string | null; file_date: string | null; file_time: string | null };
  return (stmts(db).prior.all(messageId) as Row[]).map((r) => ({
    id: r.id,
    effect: r.effect,
    remoteName: r.remote_name,
    ackFcn: r.ack_fcn,
    status: r.status,
    errors: r.errors_json ? (JSON.parse(r.errors_json) as AckError[]) : [],
    fileDate: r.file_date,
    fileTime: r.file_time,
  }));
}

/** The moves of a plan through the state machine, then last_error and the settled pending acks. */
function carryOut(db: Db, messageId: number, moves: PlannedMove[], lastError: string | null | undefined, settled: Settled[], at: string, self: AckFileFacts | null): void {
  const s = stmts(db);
  for (const mv of moves) {
    const src = mv.source.kind === 'pending' ? mv.source.ack : self;
    if (!src) throw new Error(`programming error: a move of message ${messageId} names no ack`);
    const detail = mv.why === 'proof' ? `${ackDetail(src)}: proves the upload` : ackDetail(src) + (mv.source.kind === 'pending' ? ' (recorded while STAGED, applied now it is SENT)' : '');
    const set = mv.why === 'proof' ? { sentAt: at } : { lastError: mv.lastError ?? null };
    const r = moveMessage(db, messageId, mv.from, mv.to, { at, detail, set });
    // the state was read in this same immediate transaction: nobody can have moved it
    if (!r.moved) throw new Error(`message ${messageId} changed state while its ack was applied (now ${r.now})`);
  }
  if (lastError !== undefined) s.lastError.run(lastError, at, messageId);
  for (const x of settled) s.settle.run(x.effect, x.note, x.ackId);
}

function ackDetail(a: AckFileFacts): string {
  const errors = a.errors.length ? `: ${errorSummary(a.errors, 1500)}` : '';
  return `ack ${a.ackFcn} (${a.remoteName}, ack ${a.id}) ${a.status} of ${a.fileDate} ${a.fileTime}${errors}`;
}

export function logOutcome(log: Logger, partner: string, remoteName: string, o: Extract<ApplyOutcome, { already: false }>): void {
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
    case 'alert':
      log.warn('ack of a HELD or CANCELLED message: recorded only; an operator must look at it', { ...fields, note: o.problem ?? undefined });
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

/** The archived ack's file name: never the remote name (a name chosen by the partner's server
 * builds no local path, product.md 6); the manifest and the acks row keep the remote name. */
export const ACK_ARCHIVE_FILE = 'ack.xml';

/**
 * The archive id of an ack: its partner and its whole ledger key (the content's sha256, or for
 * a too-large one the sha256 of its name, size and mtime). (partner, key) is unique in the
 * ledger, so two acks never share a folder; a prefix of the hash could.
 */
export function ackArchiveId(partner: string, key: string): string {
  return key.startsWith('too-large:') ? `${partner}-toolarge-${key.slice('too-large:'.length)}` : `${partner}-${key}`;
}
