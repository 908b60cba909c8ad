// What an ack does (product.md 1 "Acks and states", messages.md 2): the pure decide() of
// src/acks/decide.ts on plain data, no SQLite, no server. Each ack rule once.
import { expect } from 'chai';
import { decide, pendingOutcome, type DecideInput, type MatchedMessage, type PriorAck } from '../src/acks/decide.js';
import type { AckError, ParsedAck } from '../src/acks/parse.js';
import { PollBudget } from '../src/acks/budget.js';
import type { MessageState } from '../src/ledger/ledger.js';

const FACTS = { partner: 'ACME', senderId: 'S1', receiverId: 'R1', duplicateErrorCodes: ['DUPLICATE_FILE'] };
const DUP_ERR: AckError = { code: 'DUPLICATE_FILE', class: 2, message: 'already received', path: null };
const E1: AckError = { code: 'E1', class: 1, message: 'bad lot', path: '/x/lot' };

function ack(over: Partial<ParsedAck> = {}): ParsedAck {
  return {
    ackFcn: 'ACK1',
    sender: 'R1',
    receiver: 'S1',
    fileDate: '2026-11-25',
    fileTime: '12:00:00Z',
    inputTransactionType: 'MATPROD',
    inputSender: 'S1',
    inputReceiver: 'R1',
    inputFcn: 'C000000000001',
    status: 'SUCCESS',
    errors: [],
    ...over,
  };
}

function msg(state: MessageState, lastError: string | null = null): MatchedMessage {
  return { id: 7, fcn: 'C000000000001', state, batch_id: 3, last_error: lastError };
}

function prior(id: number, effect: PriorAck['effect'], status: string, fileTime: string, errors: AckError[] = []): PriorAck {
  return { id, effect, remoteName: `A${id}.xml`, ackFcn: `ACK${id}`, status, errors, fileDate: '2026-11-25', fileTime };
}

function run(a: ParsedAck, m: MatchedMessage | null, p: PriorAck[] = []): ReturnType<typeof decide> {
  const input: DecideInput = { parsed: { ok: true, ack: a }, message: m, prior: p, facts: FACTS };
  return decide(input);
}

const moves = (plan: ReturnType<typeof decide>): string[] => plan.moves.map((x) => `${x.from}->${x.to}:${x.why}:${x.source.kind}`);

describe('acks: decide (pure)', function () {
  it('an invalid ack changes nothing', function () {
    const p = decide({ parsed: { ok: false, problem: 'not well-formed' }, message: msg('SENT'), prior: [], facts: FACTS });
    expect(p).to.include({ valid: false, effect: 'invalid', problem: 'not well-formed', message: null, needsAttention: false });
    expect(p.moves).to.deep.equal([]);
  });

  it('unmatched: no message, another sender number, another receiver number', function () {
    expect(run(ack(), null)).to.include({ effect: 'unmatched', message: null });
    expect(run(ack(), null).problem).to.equal('no message of partner ACME has FileControlNumber C000000000001');
    const s = run(ack({ inputSender: 'X' }), msg('SENT'));
    expect(s).to.include({ effect: 'unmatched', message: null });
    expect(s.problem).to.match(/InputFileSenderNumber X is not our sender.id S1/);
    const r = run(ack({ inputReceiver: 'Y' }), msg('SENT'));
    expect(r).to.include({ effect: 'unmatched', message: null });
    expect(r.problem).to.match(/InputFileReceiverNumber Y is not partner ACME's receiverId R1/);
    expect(r.moves).to.deep.equal([]);
  });

  it('SENT: SUCCESS and WARNING -> ACCEPTED (last_error cleared), ERROR -> REJECTED with every error in last_error', function () {
    const ok = run(ack(), msg('SENT', 'older problem'));
    expect(ok.effect).to.equal('accepted');
    expect(moves(ok)).to.deep.equal(['SENT->ACCEPTED:outcome:this']);
    expect(ok.moves[0]!.lastError).to.equal(null);
    expect(moves(run(ack({ status: 'WARNING', errors: [E1] }), msg('SENT')))).to.deep.equal(['SENT->ACCEPTED:outcome:this']);
    const bad = run(ack({ status: 'ERROR', errors: [E1, { ...E1, code: 'E2', path: null }] }), msg('SENT'));
    expect(bad.effect).to.equal('rejected');
    expect(moves(bad)).to.deep.equal(['SENT->REJECTED:outcome:this']);
    expect(bad.moves[0]!.lastError).to.equal('E1 (class 1, /x/lot): bad lot; E2 (class 1): bad lot');
    expect(run(ack({ status: 'ERROR' }), msg('SENT')).moves[0]!.lastError).to.match(/no error given/);
  });

  it('SENDING: any valid matched ack proves the upload: SENDING -> SENT (its own move), then the outcome', function () {
    const ok = run(ack(), msg('SENDING'));
    expect(ok.effect).to.equal('accepted');
    expect(moves(ok)).to.deep.equal(['SENDING->SENT:proof:this', 'SENT->ACCEPTED:outcome:this']);
    const bad = run(ack({ status: 'ERROR', errors: [E1] }), msg('SENDING'));
    expect(moves(bad)).to.deep.equal(['SENDING->SENT:proof:this', 'SENT->REJECTED:outcome:this']);
  });

  it('SENDING: a duplicate report moves it to SENT and no further', function () {
    const d = run(ack({ status: 'ERROR', errors: [DUP_ERR] }), msg('SENDING'));
    expect(d.effect).to.equal('duplicate');
    expect(moves(d)).to.deep.equal(['SENDING->SENT:proof:this']);
    expect(d.note).to.match(/duplicate report \(DUPLICATE_FILE\): confirms delivery of C000000000001; SENDING -> SENT/);
  });

  it('a duplicate report never changes SENT, ACCEPTED, REJECTED or STAGED', function () {
    for (const state of ['SENT', 'ACCEPTED', 'REJECTED', 'STAGED'] as const) {
      const d = run(ack({ status: 'ERROR', errors: [DUP_ERR] }), msg(state));
      expect(d.effect, state).to.equal('duplicate');
      expect(d.moves, state).to.deep.equal([]);
      expect(d.note).to.contain(`its state stays ${state}`);
    }
  });

  it('STAGED (after a resend): recorded as pending, no state change', function () {
    const p = run(ack({ status: 'ERROR', errors: [E1] }), msg('STAGED'));
    expect(p).to.include({ effect: 'pending', needsAttention: false });
    expect(p.moves).to.deep.equal([]);
    expect(p.lastError).to.equal(undefined);
    expect(p.note).to.match(/applied when it is SENT again/);
  });

  it('HELD and CANCELLED: recorded only, as an alert, whatever the ack says', function () {
    for (const state of ['HELD', 'CANCELLED'] as const) {
      for (const a of [ack(), ack({ status: 'ERROR', errors: [E1] }), ack({ status: 'ERROR', errors: [DUP_ERR] })]) {
        const p = run(a, msg(state));
        expect(p, `${state} ${a.status}`).to.include({ effect: 'alert', needsAttention: true });
        expect(p.moves).to.deep.equal([]);
        expect(p.lastError).to.equal(undefined);
        expect(p.note).to.contain(`the message is ${state}`);
      }
    }
  });

  it('a later ack turns ACCEPTED into REJECTED and back; one not later is superseded (equal times: the first stays)', function () {
    const applied = [prior(1, 'accepted', 'SUCCESS', '12:00:00Z')];
    const later = run(ack({ status: 'ERROR', errors: [E1], fileTime: '13:00:00Z' }), msg('ACCEPTED'), applied);
    expect(later.effect).to.equal('rejected');
    expect(moves(later)).to.deep.equal(['ACCEPTED->REJECTED:outcome:this']);
    const back = run(ack({ fileTime: '14:00:00Z' }), msg('REJECTED'), [...applied, prior(2, 'rejected', 'ERROR', '13:00:00Z', [E1])]);
    expect(moves(back)).to.deep.equal(['REJECTED->ACCEPTED:outcome:this']);
    for (const t of ['11:00:00Z', '12:00:00Z']) {
      const old = run(ack({ status: 'ERROR', errors: [E1], fileTime: t }), msg('ACCEPTED'), applied);
      expect(old.effect, t).to.equal('superseded');
      expect(old.moves).to.deep.equal([]);
      expect(old.note).to.equal('not later than ack 1 (2026-11-25 12:00:00Z, accepted) already applied; changes nothing');
    }
  });

  it('same state again: no move, only last_error follows the latest ack', function () {
    const applied = [prior(1, 'rejected', 'ERROR', '12:00:00Z', [E1])];
    const p = run(ack({ status: 'ERROR', errors: [{ ...E1, code: 'E9' }], fileTime: '13:00:00Z' }), msg('REJECTED', 'E1 (class 1, /x/lot): bad lot'), applied);
    expect(p.effect).to.equal('rejected');
    expect(p.moves).to.deep.equal([]);
    expect(p.lastError).to.equal('E9 (class 1, /x/lot): bad lot');
    const same = run(ack({ fileTime: '13:00:00Z' }), msg('ACCEPTED'), [prior(1, 'accepted', 'SUCCESS', '12:00:00Z')]);
    expect(same.moves).to.deep.equal([]);
    expect(same.lastError).to.equal(undefined); // already null
  });

  it('SENDING with acks pending from STAGED: the latest of them and this one decides; the others are superseded', function () {
    const pending = [prior(1, 'pending', 'ERROR', '12:30:00Z', [E1])];
    // this ack is older than the pending rejection
    const p = run(ack({ fileTime: '12:00:00Z' }), msg('SENDING'), pending);
    expect(p.effect).to.equal('superseded');
    expect(moves(p)).to.deep.equal(['SENDING->SENT:proof:this', 'SENT->REJECTED:outcome:pending']);
    expect(p.moves[1]!.lastError).to.equal('E1 (class 1, /x/lot): bad lot');
    expect(p.settled).to.deep.equal([{ ackId: 1, effect: 'rejected', note: 'recorded while the message was STAGED; applied when it was SENT again' }]);
    expect(p.note).to.equal('not later than ack 1 (2026-11-25 12:30:00Z, rejected); changes nothing');
    // this ack is later: it decides, the pending one is superseded
    const q = run(ack({ fileTime: '13:00:00Z' }), msg('SENDING'), pending);
    expect(q.effect).to.equal('accepted');
    expect(moves(q)).to.deep.equal(['SENDING->SENT:proof:this', 'SENT->ACCEPTED:outcome:this']);
    expect(q.settled).to.have.length(1);
    expect(q.settled[0]).to.include({ ackId: 1, effect: 'superseded' });
    expect(q.settled[0]!.note).to.contain('not later than ack ACK1 (2026-11-25 13:00:00Z, accepted)');
    // a duplicate report proving the upload applies what was pending
    const d = run(ack({ status: 'ERROR', errors: [DUP_ERR] }), msg('SENDING'), pending);
    expect(d.effect).to.equal('duplicate');
    expect(moves(d)).to.deep.equal(['SENDING->SENT:proof:this', 'SENT->REJECTED:outcome:pending']);
  });

  it('pendingOutcome (the cycle\'s own SENT): the latest pending ack decides, ties keep the first, an applied later one wins', function () {
    const a = prior(1, 'pending', 'SUCCESS', '12:00:00Z');
    const b = prior(2, 'pending', 'ERROR', '13:00:00Z', [E1]);
    const c = prior(3, 'pending', 'SUCCESS', '13:00:00Z');
    const o = pendingOutcome('SENT', null, [a, b, c]);
    expect(o.move).to.include({ from: 'SENT', to: 'REJECTED', why: 'outcome' });
    expect(o.move!.source).to.deep.equal({ kind: 'pending', ack: b });
    expect(o.settled.map((x) => [x.ackId, x.effect])).to.deep.equal([
      [1, 'superseded'],
      [2, 'rejected'],
      [3, 'superseded'],
    ]);
    expect(pendingOutcome('SENT', null, [prior(9, 'accepted', 'SUCCESS', '12:00:00Z')])).to.deep.equal({ move: null, settled: [] });
    const beaten = pendingOutcome('ACCEPTED', null, [prior(9, 'accepted', 'SUCCESS', '14:00:00Z'), b]);
    expect(beaten.move).to.equal(null);
    expect(beaten.settled).to.have.length(1);
    expect(beaten.settled[0]).to.include({ ackId: 2, effect: 'superseded' });
    expect(beaten.settled[0]!.note).to.contain('already applied');
  });
});

describe('ack poll budget (pure)', function () {
  it('takes files up to maxAcksPerPoll, the first one whatever its size, then keeps the order: once one waits, the rest wait', function () {
    const b = new PollBudget({ maxAcksPerPoll: 3, maxAckBytesPerPoll: 1000 });
    expect(b.take(1500)).to.equal(true); // the first: maxAckBytes caps it, never starved
    expect(b.take(10)).to.equal(false); // 1510 > 1000
    expect(b.take(0)).to.equal(false); // a smaller later one does not jump the queue
    expect(b).to.include({ files: 1, bytes: 1500, deferred: 2 });
    const c = new PollBudget({ maxAcksPerPoll: 2, maxAckBytesPerPoll: 1000 });
    expect([c.take(100), c.take(0), c.take(0)]).to.deep.equal([true, true, false]);
    expect(c).to.include({ files: 2, bytes: 100, deferred: 1 });
  });
});
