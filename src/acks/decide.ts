// What an ack does (messages.md 2, product.md 1 "Acks and states"), as a pure function of plain
// data: the parsed ack, the message it names (or none), that message's earlier acks and the
// partner's facts. No SQLite, no server: apply.ts reads the inputs and carries out the plan.
//
// - matched = a message of this partner (its file CONVERTED) with FileControlNumber =
//   InputFileControlNumber, and InputFileSenderNumber = sender.id and InputFileReceiverNumber
//   = the partner's receiverId; otherwise the ack is `unmatched` (kept, reported, never dropped).
// - SENDING: any valid matched ack, a duplicate report included, proves the upload:
//   SENDING -> SENT (its own transition), then the outcome of a SUCCESS/WARNING/ERROR ack.
// - STAGED (after a resend, or an upload that failed after an earlier one got through): recorded
//   as `pending`; applied when the message goes SENDING -> SENT again (pendingOutcome).
// - HELD, CANCELLED: recorded only, as an `alert` an operator has to look at.
// - a duplicate report never changes a state beyond SENDING -> SENT: effect `duplicate`.
// - accepted / rejected: the ack with the latest FileDate + FileTime decides. An ack that is not
//   later than one already applied to the message is `superseded` and changes nothing (equal
//   times: the first one stays). Pending acks compete the same way when they are applied.
// - REJECTED: a summary of every error in messages.last_error; ACCEPTED: last_error cleared.
import type { MessageState } from '../ledger/ledger.js';
import { ackInstant, classify, errorSummary, type AckClass, type AckError, type AckParseResult, type ParsedAck } from './parse.js';

export type AckEffect = 'accepted' | 'rejected' | 'duplicate' | 'unmatched' | 'superseded' | 'invalid' | 'pending' | 'alert';

export interface MatchedMessage {
  id: number;
  fcn: string;
  state: MessageState;
  batch_id: number | null;
  last_error: string | null;
}

/** An earlier ack of the message that decided it (accepted, rejected) or waits for it (pending). */
export interface PriorAck {
  id: number;
  effect: 'accepted' | 'rejected' | 'pending';
  remoteName: string;
  ackFcn: string | null;
  status: string | null;
  errors: AckError[];
  fileDate: string | null;
  fileTime: string | null;
}

export interface PartnerFacts {
  partner: string;
  senderId: string;
  receiverId: string;
  duplicateErrorCodes: string[];
}

export interface DecideInput {
  parsed: AckParseResult;
  /** the message of this partner whose FileControlNumber is the ack's InputFileControlNumber */
  message: MatchedMessage | null;
  prior: readonly PriorAck[];
  facts: PartnerFacts;
}

/** Which ack a move comes from: the one being decided, or an earlier pending one. */
export type AckSource = { kind: 'this' } | { kind: 'pending'; ack: PriorAck };

export interface PlannedMove {
  from: MessageState;
  to: MessageState;
  /** proof: SENDING -> SENT because an ack came; outcome: what an ack says */
  why: 'proof' | 'outcome';
  source: AckSource;
  /** for an outcome: the new last_error (null clears it) */
  lastError?: string | null;
}

export interface Plan {
  valid: boolean;
  problem: string | null;
  ack: ParsedAck | null;
  effect: AckEffect;
  message: MatchedMessage | null;
  moves: PlannedMove[];
  /** new messages.last_error without a state change; undefined = untouched */
  lastError?: string | null;
  /** what it did and why, when that is not a plain outcome: stored in acks.problem and logged */
  note: string | null;
  needsAttention: boolean;
  /** pending acks of the message this decision settles */
  settled: Settled[];
}

export interface Settled {
  ackId: number;
  effect: 'accepted' | 'rejected' | 'superseded';
  note: string;
}

export function decide(input: DecideInput): Plan {
  const { parsed, facts } = input;
  const none = { moves: [], settled: [], needsAttention: false };
  if (!parsed.ok) return { ...none, valid: false, problem: parsed.problem, ack: null, effect: 'invalid', message: null, note: null };
  const ack = parsed.ack;
  const unmatched = (why: string): Plan => ({ ...none, valid: true, problem: why, ack, effect: 'unmatched', message: null, note: why });

  const m = input.message;
  if (!m) return unmatched(`no message of partner ${facts.partner} has FileControlNumber ${ack.inputFcn}`);
  if (ack.inputSender !== facts.senderId) {
    return unmatched(`InputFileSenderNumber ${ack.inputSender} is not our sender.id ${facts.senderId} (FileControlNumber ${ack.inputFcn})`);
  }
  if (ack.inputReceiver !== facts.receiverId) {
    return unmatched(`InputFileReceiverNumber ${ack.inputReceiver} is not partner ${facts.partner}'s receiverId ${facts.receiverId} (FileControlNumber ${ack.inputFcn})`);
  }

  const cls = classify(ack, facts);
  const base = { ...none, valid: true, problem: null, ack, message: m };
  if (m.state === 'HELD' || m.state === 'CANCELLED') {
    const what = cls === 'duplicate' ? 'duplicate report' : `${ack.status} ack`;
    return { ...base, effect: 'alert', needsAttention: true, note: `the message is ${m.state}: this ${what} is recorded only and changes nothing; an operator must look at it` };
  }
  if (m.state === 'STAGED' && cls !== 'duplicate') {
    return { ...base, effect: 'pending', note: `the message is STAGED (resent): this ${ack.status} ack is applied when it is SENT again` };
  }

  const proof: PlannedMove[] = m.state === 'SENDING' ? [{ from: 'SENDING', to: 'SENT', why: 'proof', source: { kind: 'this' } }] : [];
  const state: MessageState = m.state === 'SENDING' ? 'SENT' : m.state;
  const pending = input.prior.filter((p) => p.effect === 'pending');
  const applied = input.prior.filter((p) => p.effect !== 'pending');

  if (cls === 'duplicate') {
    const codes = [...new Set(ack.errors.map((e) => e.code))].join(', ');
    // the proof of upload applies what waited for it, as a cycle's own SENT would
    const o = proof.length ? outcome(state, m.last_error, pending.map(fromPending), applied) : null;
    const stays = proof.length ? `SENDING -> SENT` : `its state stays ${m.state}`;
    return {
      ...base,
      effect: 'duplicate',
      moves: [...proof, ...(o?.move ? [o.move] : [])],
      ...(o && o.lastError !== undefined ? { lastError: o.lastError } : {}),
      settled: o?.settled ?? [],
      note: `duplicate report (${codes}): confirms delivery of ${m.fcn}; ${stays}`,
    };
  }

  const mine: Candidate = { name: `ack ${ack.ackFcn}`, source: { kind: 'this' }, cls, fileDate: ack.fileDate, fileTime: ack.fileTime, lastError: lastErrorOf(cls, ack.errors) };
  const o = outcome(state, m.last_error, [...pending.map(fromPending), mine], applied);
  const won = o.winner?.source.kind === 'this';
  return {
    ...base,
    effect: won ? cls : 'superseded',
    moves: [...proof, ...(o.move ? [o.move] : [])],
    ...(o.lastError !== undefined ? { lastError: o.lastError } : {}),
    settled: o.settled,
    note: won ? null : (o.beaten.get(mine) ?? null),
  };
}

/**
 * The outcome of the acks that waited while the message was STAGED, applied as it goes
 * SENDING -> SENT (state is then SENT): the latest of them, unless an applied one is later.
 */
export function pendingOutcome(state: MessageState, lastError: string | null, prior: readonly PriorAck[]): { move: PlannedMove | null; lastError?: string | null; settled: Settled[] } {
  const pending = prior.filter((p) => p.effect === 'pending');
  if (!pending.length) return { move: null, settled: [] };
  const o = outcome(state, lastError, pending.map(fromPending), prior.filter((p) => p.effect !== 'pending'));
  return { move: o.move, ...(o.lastError !== undefined ? { lastError: o.lastError } : {}), settled: o.settled };
}

interface Candidate {
  /** how a note names it */
  name: string;
  source: AckSource;
  cls: Exclude<AckClass, 'duplicate'>;
  fileDate: string | null;
  fileTime: string | null;
  lastError: string | null;
}

function fromPending(p: PriorAck): Candidate {
  const cls = p.status === 'ERROR' ? 'rejected' : 'accepted';
  return { name: `ack ${p.id}`, source: { kind: 'pending', ack: p }, cls, fileDate: p.fileDate, fileTime: p.fileTime, lastError: lastErrorOf(cls, p.errors) };
}

function lastErrorOf(cls: AckClass, errors: readonly AckError[]): string | null {
  return cls === 'rejected' ? errorSummary(errors) || 'rejected by the partner (ProcessingStatus ERROR, no error given)' : null;
}

/** The latest candidate decides (ties: the first), unless an applied ack is not earlier than it. */
function outcome(state: MessageState, lastError: string | null, candidates: Candidate[], applied: readonly PriorAck[]) {
  const beaten = new Map<Candidate, string>();
  let winner: Candidate | null = null;
  for (const c of candidates) {
    if (!winner || isLater(c, winner)) {
      if (winner) beaten.set(winner, notLaterThan(c));
      winner = c;
    } else beaten.set(c, notLaterThan(winner));
  }
  const w = winner;
  const stronger = w && applied.find((p) => !isLater(w, p));
  if (winner && stronger) {
    beaten.set(winner, `not later than ack ${stronger.id} (${stronger.fileDate} ${stronger.fileTime}, ${stronger.effect}) already applied; changes nothing`);
    winner = null;
  }
  const settled: Settled[] = [];
  for (const c of candidates) {
    if (c.source.kind !== 'pending') continue;
    settled.push(
      c === winner
        ? { ackId: c.source.ack.id, effect: c.cls, note: `recorded while the message was STAGED; applied when it was SENT again` }
        : { ackId: c.source.ack.id, effect: 'superseded', note: `recorded while the message was STAGED; ${beaten.get(c)}` },
    );
  }
  if (!winner) return { winner, move: null, settled, beaten };
  const target: MessageState = winner.cls === 'accepted' ? 'ACCEPTED' : 'REJECTED';
  const move: PlannedMove | null = target === state ? null : { from: state, to: target, why: 'outcome', source: winner.source, lastError: winner.lastError };
  // same state, other errors: only last_error follows the latest ack
  const newLastError = move ? undefined : winner.lastError !== lastError ? winner.lastError : undefined;
  return { winner, move, lastError: newLastError, settled, beaten };
}

function notLaterThan(c: Candidate): string {
  return `not later than ${c.name} (${c.fileDate} ${c.fileTime}, ${c.cls}); changes nothing`;
}

/** a strictly later than b (instants when both are known, else the text of date + time). */
function isLater(a: { fileDate: string | null; fileTime: string | null }, b: { fileDate: string | null; fileTime: string | null }): boolean {
  const x = ackInstant(a.fileDate, a.fileTime);
  const y = ackInstant(b.fileDate, b.fileTime);
  if (x !== null && y !== null) return x > y;
  return `${a.fileDate ?? ''}T${a.fileTime ?? ''}` > `${b.fileDate ?? ''}T${b.fileTime ?? ''}`;
}
