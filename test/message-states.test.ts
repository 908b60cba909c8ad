// The message state machine (product.md 1, src/ledger/message-states.ts) against a real SQLite
// ledger: every row of the table moves and writes its transition, every move outside it throws
// and changes nothing, a move from a state already left (a race) changes nothing and says where
// the message is now; input files' transitions; statements prepared once per ledger.
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openLedger, type Db } from '../src/ledger/db.js';
import { Ledger, MESSAGE_STATES, type MessageState } from '../src/ledger/ledger.js';
import {
  FILE_TRANSITIONS,
  IllegalTransitionError,
  MESSAGE_TRANSITIONS,
  isAllowedMove,
  moveMessage,
  recordFileTransition,
} from '../src/ledger/message-states.js';
import { seedMessage } from './support/acks.js';

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

describe('ledger: the message state machine', function () {
  let dir: string;
  let db: Db;
  let seq = 0;
  const fcn = (): string => `S${String(++seq).padStart(12, '0')}`;
  const row = (id: number) =>
    db.prepare('SELECT state, last_error, remote_path, sent_at, batch_id, attempts, overdue_logged_at, updated_at FROM messages WHERE id = ?').get(id) as {
      state: string;
      last_error: string | null;
      remote_path: string | null;
      sent_at: string | null;
      batch_id: number | null;
      attempts: number;
      overdue_logged_at: string | null;
      updated_at: string;
    };
  const transitions = (id: number) =>
    db.prepare(`SELECT from_state, to_state, at, detail FROM transitions WHERE entity = 'message' AND entity_id = ? ORDER BY id`).all(id) as {
      from_state: string | null;
      to_state: string;
      at: string;
      detail: string | null;
    }[];
  const count = (sql: string): number => (db.prepare(sql).get() as { n: number }).n;

  beforeEach(function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlbridge-states-'));
    db = openLedger(path.join(dir, 'ledger.sqlite'));
  });

  afterEach(function () {
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('has exactly the rows of product.md 1', function () {
    const rows = MESSAGE_TRANSITIONS.map((r) => `${r.from ?? '(new)'} -> ${r.to}`);
    expect(rows).to.have.members([
      '(new) -> STAGED',
      'STAGED -> SENDING',
      'SENDING -> SENT',
      'SENDING -> STAGED',
      'SENT -> ACCEPTED',
      'SENT -> REJECTED',
      'ACCEPTED -> REJECTED',
      'REJECTED -> ACCEPTED',
      'SENT -> STAGED',
      'STAGED -> HELD',
      'HELD -> STAGED',
      'STAGED -> CANCELLED',
      'HELD -> CANCELLED',
    ]);
    expect(rows).to.have.length(13); // no duplicates
    for (const r of MESSAGE_TRANSITIONS) expect(r.why, `${r.from} -> ${r.to}`).to.be.a('string').and.not.equal('');
  });

  for (const rule of MESSAGE_TRANSITIONS.filter((r) => r.from !== null)) {
    it(`${rule.from} -> ${rule.to}: moves, with its transition row (${rule.why})`, function () {
      const m = seedMessage(db, { fcn: fcn(), state: rule.from! });
      const before = transitions(m.id).length;
      const r = moveMessage(db, m.id, rule.from!, rule.to, { detail: `test ${rule.from} -> ${rule.to}` });
      expect(r.moved).to.equal(true);
      expect(row(m.id).state).to.equal(rule.to);
      const t = transitions(m.id);
      expect(t).to.have.length(before + 1);
      expect(t.at(-1)).to.include({ from_state: rule.from, to_state: rule.to, detail: `test ${rule.from} -> ${rule.to}` });
      expect(t.at(-1)!.at).to.match(ISO_UTC);
      expect(row(m.id).updated_at).to.equal(t.at(-1)!.at);
    });
  }

  it('(new) -> STAGED: a converted file writes one creation row per message, nothing before it commits', function () {
    const ledger = new Ledger(db);
    const fileId = ledger.insertFile({ name: 'in.txt', inbound: '/drop', layout: 'erp-delimited', sha256: 'a'.repeat(64), bytes: 10, workPath: '/work/in.txt' });
    const msg = (n: number) => ({
      fileId,
      partner: 'P',
      messageType: 'MATERIALS_PRODUCED',
      typeCode: 'MATERIALS_PRODUCED',
      fcn: `N${String(n).padStart(12, '0')}`,
      keys: { referenceDocumentNumber: `R${n}`, workOrderNumber: 'WO', lines: [] },
      bodyHash: `h${n}`,
      sourceLine: n,
      xmlPath: `outbox/P/N${n}.xml`,
      xmlSha256: 'b'.repeat(64),
      bytes: 100,
    });
    ledger.insertMessages([msg(1), msg(2)]);
    expect(count(`SELECT count(*) AS n FROM transitions WHERE entity = 'message'`)).to.equal(0);
    db.transaction(() => ledger.finishFile(fileId, 'CONVERTED', { messages: 2 }))();
    const rows = db.prepare(`SELECT from_state, to_state FROM transitions WHERE entity = 'message' ORDER BY entity_id`).all();
    expect(rows).to.deep.equal([
      { from_state: null, to_state: 'STAGED' },
      { from_state: null, to_state: 'STAGED' },
    ]);
    const fileRows = db.prepare(`SELECT from_state, to_state FROM transitions WHERE entity = 'file' AND entity_id = ? ORDER BY id`).all(fileId);
    expect(fileRows).to.deep.equal([
      { from_state: null, to_state: 'RECEIVED' },
      { from_state: 'RECEIVED', to_state: 'CONVERTED' },
    ]);
  });

  it('every move outside the table throws a programming error and changes nothing', function () {
    const outside: [MessageState, MessageState][] = [];
    for (const from of MESSAGE_STATES) for (const to of MESSAGE_STATES) if (!isAllowedMove(MESSAGE_TRANSITIONS, from, to)) outside.push([from, to]);
    expect(outside).to.have.length(7 * 7 - 12);
    // the ones a careless caller might try, named so a change of the table shows here
    for (const m of ['SENT->SENDING', 'ACCEPTED->STAGED', 'CANCELLED->STAGED', 'STAGED->SENT', 'SENDING->ACCEPTED', 'HELD->SENDING', 'SENT->SENT']) {
      expect(outside.map(([f, t]) => `${f}->${t}`)).to.include(m);
    }
    for (const [from, to] of outside) {
      const m = seedMessage(db, { fcn: fcn(), state: from });
      const before = { row: row(m.id), transitions: transitions(m.id) };
      expect(() => moveMessage(db, m.id, from, to), `${from} -> ${to}`).to.throw(IllegalTransitionError, `${from} -> ${to} is not a transition`);
      expect(row(m.id)).to.deep.equal(before.row);
      expect(transitions(m.id)).to.deep.equal(before.transitions);
    }
  });

  it('a move from a state the message has already left changes nothing and says where it is now (the race)', function () {
    // an ack moved it on before the cycle's own SENT commit
    const m = seedMessage(db, { fcn: fcn(), state: 'ACCEPTED' });
    const before = { row: row(m.id), transitions: transitions(m.id) };
    const r = moveMessage(db, m.id, 'SENDING', 'SENT', { detail: 'uploaded', set: { sentAt: '2030-01-01T00:00:00.000Z', remotePath: '/x' } });
    expect(r).to.deep.equal({ moved: false, now: 'ACCEPTED' });
    expect(row(m.id)).to.deep.equal(before.row);
    expect(transitions(m.id)).to.deep.equal(before.transitions);
    // a message that does not exist
    expect(moveMessage(db, 999_999, 'STAGED', 'SENDING')).to.deep.equal({ moved: false, now: null });
    expect(count(`SELECT count(*) AS n FROM transitions WHERE entity_id = 999999`)).to.equal(0);
  });

  it('writes what the move sets with it, in the same statement: sent_at, remote_path, batch_id, last_error, attempts, the overdue flag', function () {
    const m = seedMessage(db, { fcn: fcn(), state: 'STAGED' });
    db.prepare(`UPDATE messages SET last_error = 'old', overdue_logged_at = '2026-01-01T00:00:00.000Z', remote_path = NULL, sent_at = NULL WHERE id = ?`).run(m.id);
    const batchId = Number(db.prepare(`INSERT INTO batches (partner, started_at, messages) VALUES ('ACME-PHARMA', '2026-01-01T00:00:00.000Z', 1)`).run().lastInsertRowid);
    expect(moveMessage(db, m.id, 'STAGED', 'SENDING', { set: { batchId } }).moved).to.equal(true);
    expect(row(m.id)).to.include({ batch_id: batchId, last_error: 'old', attempts: 1 });
    expect(moveMessage(db, m.id, 'SENDING', 'STAGED', { set: { lastError: 'upload failed', addAttempt: true } }).moved).to.equal(true);
    expect(row(m.id)).to.include({ last_error: 'upload failed', attempts: 2, batch_id: batchId });
    moveMessage(db, m.id, 'STAGED', 'SENDING', { set: { batchId } });
    const at = '2026-02-03T04:05:06.789Z';
    expect(moveMessage(db, m.id, 'SENDING', 'SENT', { at, set: { sentAt: at, remotePath: '/inbox/X/a.xml' } })).to.deep.equal({ moved: true, at });
    expect(row(m.id)).to.include({ sent_at: at, remote_path: '/inbox/X/a.xml', updated_at: at, overdue_logged_at: '2026-01-01T00:00:00.000Z' });
    expect(moveMessage(db, m.id, 'SENT', 'STAGED', { set: { clearOverdue: true } }).moved).to.equal(true);
    expect(row(m.id)).to.include({ overdue_logged_at: null, remote_path: '/inbox/X/a.xml' });
    moveMessage(db, m.id, 'STAGED', 'SENDING');
    moveMessage(db, m.id, 'SENDING', 'SENT');
    expect(moveMessage(db, m.id, 'SENT', 'REJECTED', { set: { lastError: 'E1: bad' } }).moved).to.equal(true);
    expect(moveMessage(db, m.id, 'REJECTED', 'ACCEPTED', { set: { lastError: null } }).moved).to.equal(true);
    expect(row(m.id)).to.include({ state: 'ACCEPTED', last_error: null });
    expect(transitions(m.id).slice(-9).map((t) => `${t.from_state}->${t.to_state}`)).to.deep.equal([
      'STAGED->SENDING',
      'SENDING->STAGED',
      'STAGED->SENDING',
      'SENDING->SENT',
      'SENT->STAGED',
      'STAGED->SENDING',
      'SENDING->SENT',
      'SENT->REJECTED',
      'REJECTED->ACCEPTED',
    ]);
  });

  it('inside a caller transaction that rolls back, neither the move nor its transition stays', function () {
    const m = seedMessage(db, { fcn: fcn(), state: 'SENT' });
    const before = transitions(m.id).length;
    expect(() =>
      db.transaction(() => {
        moveMessage(db, m.id, 'SENT', 'ACCEPTED');
        throw new Error('the archive failed');
      })(),
    ).to.throw('the archive failed');
    expect(row(m.id).state).to.equal('SENT');
    expect(transitions(m.id)).to.have.length(before);
  });

  it('prepares its statements once per ledger, not per message', function () {
    const ms = [1, 2, 3, 4].map(() => seedMessage(db, { fcn: fcn(), state: 'STAGED' }));
    const original = db.prepare.bind(db);
    let prepared = 0;
    (db as { prepare: Db['prepare'] }).prepare = ((sql: string) => {
      prepared++;
      return original(sql);
    }) as Db['prepare'];
    try {
      moveMessage(db, ms[0]!.id, 'STAGED', 'SENDING');
      const first = prepared;
      expect(first).to.be.above(0); // the wrapper sees them
      for (const m of ms.slice(1)) moveMessage(db, m.id, 'STAGED', 'SENDING');
      moveMessage(db, ms[0]!.id, 'SENDING', 'STAGED');
      expect(prepared).to.equal(first);
    } finally {
      (db as { prepare: Db['prepare'] }).prepare = original;
    }
  });

  it('input files: RECEIVED -> CONVERTED | FAILED | DUPLICATE; anything else throws', function () {
    expect(FILE_TRANSITIONS.map((r) => `${r.from ?? '(new)'} -> ${r.to}`)).to.have.members([
      '(new) -> RECEIVED',
      'RECEIVED -> CONVERTED',
      'RECEIVED -> FAILED',
      'RECEIVED -> DUPLICATE',
    ]);
    expect(() => recordFileTransition(db, 1, 'CONVERTED', 'FAILED', '2026-01-01T00:00:00.000Z')).to.throw(IllegalTransitionError, 'file 1: CONVERTED -> FAILED');
    expect(() => recordFileTransition(db, 1, null, 'CONVERTED', '2026-01-01T00:00:00.000Z')).to.throw(IllegalTransitionError);
    expect(count(`SELECT count(*) AS n FROM transitions WHERE entity = 'file'`)).to.equal(0);
  });
});

describe('ledger file modes (product.md 6)', function () {
  it('the ledger and its WAL are 0640 whatever the umask', function () {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlbridge-ledger-mode-'));
    const old = process.umask(0o077);
    try {
      const db = openLedger(path.join(dir, 'ledger.sqlite'));
      db.exec('CREATE TABLE mode_probe (x)');
      db.prepare('INSERT INTO mode_probe VALUES (1)').run();
      const modes = Object.fromEntries(fs.readdirSync(dir).map((f) => [f, (fs.statSync(path.join(dir, f)).mode & 0o777).toString(8)]));
      db.close();
      expect(modes).to.deep.equal({ 'ledger.sqlite': '640', 'ledger.sqlite-shm': '640', 'ledger.sqlite-wal': '640' });
    } finally {
      process.umask(old);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
