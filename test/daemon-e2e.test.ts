// End-to-end: the REAL daemon process (`node bin/tlbridge.js run`) against a REAL OpenSSH sshd
// (test/support/sshd.ts, chroot: remote paths are /inbox/...), with kill -9, SIGTERM and a
// server that stops or freezes in the middle of a batch (product.md 1, 3, 5, 6; issue 3
// "Done means"). The daemon is driven only from the outside: files dropped into its drop
// folder, signals; what it did is read from the server's folder, its data folder, its JSON log
// lines and the ledger (read-only).
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type Database from 'better-sqlite3';
import {
  ArrivalCounter,
  delay,
  E2eEnv,
  filesUnder,
  NEVER,
  producedFile,
  REPO,
  refs,
  xmllintAll,
  type DaemonProcess,
  type E2eOptions,
} from './support/daemon-process.js';
import { sshdUnavailableReason, startSshd, type TestSshd } from './support/sshd.js';

const TYPE_DIR = 'MATERIALS_PRODUCED';
const XSD = path.join(REPO, 'xsd', 'MATERIALS_PRODUCED.xsd');
/** product.md 5: SIGTERM -> exit within 15 s */
const STOP_LIMIT_MS = 15_000;

const count = (db: Database.Database, sql: string, ...params: unknown[]): number => (db.prepare(sql).get(...params) as { n: number }).n;
const inState = (db: Database.Database, state: string): number => count(db, 'SELECT count(*) AS n FROM messages WHERE state = ?', state);

describe('daemon end-to-end (real process, real sshd)', function () {
  this.timeout(120_000);
  let sshd: TestSshd | undefined;
  let env: E2eEnv | undefined;
  let arrivals: ArrivalCounter | undefined;
  /** SIGTERM -> exit times and what the recoveries did, printed at the end (for the record) */
  const stopTimes: string[] = [];
  const notes: string[] = [];

  let title = '';
  beforeEach(function () {
    title = (this.currentTest?.title ?? '').slice(0, 40);
  });
  after(function () {
    if (stopTimes.length) console.log(`      SIGTERM -> exit: ${stopTimes.join('; ')}`);
    for (const n of notes) console.log(`      ${n}`);
  });

  before(function () {
    const why = sshdUnavailableReason();
    if (why) {
      console.log(`      (skipped: a private sshd cannot run here: ${why})`);
      this.skip();
    }
  });

  afterEach(async function () {
    arrivals?.close();
    arrivals = undefined;
    if (this.currentTest?.state === 'failed' && env) {
      for (const p of env.processes) console.log(`--- daemon pid ${p.pid} (last lines)\n${p.tail(40)}`);
    }
    await env?.dispose();
    env = undefined;
    sshd?.thaw();
    await sshd?.dispose();
    sshd = undefined;
  });

  /** a fresh sshd and a data folder whose config points at it */
  async function setup(opts: Omit<E2eOptions, 'sshd'> = {}, watchArrivals = false): Promise<{ sshd: TestSshd; env: E2eEnv }> {
    sshd = await startSshd({ dirs: ['/inbox', '/outbox/IE_PROCESSING_RESPONSE'] });
    env = new E2eEnv({ sshd, ...opts });
    if (watchArrivals) arrivals = new ArrivalCounter(path.join(sshd.root, 'inbox', TYPE_DIR));
    return { sshd, env };
  }

  /** files on the server under /inbox, relative to /inbox */
  const serverFiles = (): string[] => filesUnder(path.join(sshd!.root, 'inbox'));

  /** SENDING -> SENT transitions per message id */
  const sentTransitions = (): Map<number, number> =>
    new Map(
      (
        env!.ledger((db) =>
          db.prepare(`SELECT entity_id AS id, count(*) AS n FROM transitions WHERE entity = 'message' AND to_state = 'SENT' GROUP BY entity_id`).all(),
        ) as { id: number; n: number }[]
      ).map((r) => [r.id, r.n]),
    );

  /**
   * Everything the "exactly once" contract says about n sent messages: every message SENT
   * with remote_path /inbox/MATERIALS_PRODUCED/<fcn>.xml; the server holds exactly those files,
   * byte-identical to the outbox, no temp files; each final name appeared on the server once
   * (when watched); one SENT transition per message; one message (one FileControlNumber) per
   * document; each sent message archived in exactly one batch manifest; work/ empty.
   */
  function expectAllSentExactlyOnce(n: number): void {
    const msgs = env!.messages();
    expect(msgs.length, 'messages in the ledger').to.equal(n);
    expect(msgs.filter((m) => m.state !== 'SENT').map((m) => `${m.fcn} ${m.state} ${m.last_error}`), 'not SENT').to.deep.equal([]);
    for (const m of msgs) expect(m.remote_path, m.fcn).to.equal(`/inbox/${TYPE_DIR}/${m.fcn}.xml`);

    const expected = msgs.map((m) => `${TYPE_DIR}/${m.fcn}.xml`).sort();
    expect(serverFiles(), 'files on the server (and no .part)').to.deep.equal(expected);
    for (const m of msgs) {
      const remote = fs.readFileSync(path.join(sshd!.root, 'inbox', TYPE_DIR, `${m.fcn}.xml`));
      const outbox = fs.readFileSync(path.isAbsolute(m.xml_path) ? m.xml_path : path.join(env!.dataDir, m.xml_path));
      if (!remote.equals(outbox)) expect.fail(`${m.fcn}: the server's file differs from the staged outbox file`);
    }
    if (arrivals) {
      const twice = [...arrivals.finalArrivals()].filter(([, k]) => k !== 1);
      expect(twice, 'final names written more than once on the server').to.deep.equal([]);
      expect(arrivals.finalArrivals().size, 'final names that appeared on the server').to.equal(n);
    }

    const sent = sentTransitions();
    expect(msgs.filter((m) => sent.get(m.id) !== 1).map((m) => `${m.fcn}: ${sent.get(m.id) ?? 0} SENT transitions`)).to.deep.equal([]);
    // never a second FileControlNumber for the same document
    const perDoc = new Map<string, number>();
    for (const m of msgs) perDoc.set(m.reference_doc, (perDoc.get(m.reference_doc) ?? 0) + 1);
    expect([...perDoc].filter(([, k]) => k !== 1), 'documents with more than one message').to.deep.equal([]);
    expect(new Set(msgs.map((m) => m.fcn)).size).to.equal(n);

    // the archive: each sent message in exactly one batch manifest
    const manifests = env!.ledger((db) => db.prepare(`SELECT path FROM manifests WHERE kind = 'batch'`).all() as { path: string }[])!;
    const archived = new Map<string, number>();
    for (const mf of manifests) {
      const j = JSON.parse(fs.readFileSync(path.join(env!.dataDir, 'archive', mf.path), 'utf8')) as { messages?: { fcn: string }[] };
      for (const m of j.messages ?? []) archived.set(m.fcn, (archived.get(m.fcn) ?? 0) + 1);
    }
    const badArchive = msgs.filter((m) => archived.get(m.fcn) !== 1).map((m) => `${m.fcn} (batch ${m.batch_id}): in ${archived.get(m.fcn) ?? 0} batch manifests`);
    expect(badArchive.slice(0, 10), `${badArchive.length} sent message(s) not archived exactly once`).to.deep.equal([]);
    expect(env!.ledger((db) => count(db, 'SELECT count(*) AS n FROM batches WHERE finished_at IS NULL')), 'open batches').to.equal(0);

    expect(env!.filesUnder('work'), 'work/').to.deep.equal([]);
  }

  async function waitAllSent(n: number, timeoutMs = 60_000): Promise<void> {
    // and the batch that sent the last of them finished (archived) too
    await env!.waitLedger(
      `${n} messages SENT and their batches finished`,
      (db) => inState(db, 'SENT') === n && count(db, 'SELECT count(*) AS n FROM messages') === n && count(db, 'SELECT count(*) AS n FROM batches WHERE finished_at IS NULL') === 0,
      timeoutMs,
      100,
    );
  }

  /** drop `files` files of `per` documents each, named <prefix>-<i>.txt */
  function dropMany(prefix: string, files: number, per: number): number {
    for (let i = 0; i < files; i++) env!.drop(`${prefix}-${i}.txt`, producedFile(refs(`${prefix}${i}`, per)));
    return files * per;
  }

  async function waitConverted(files: number, timeoutMs = 60_000): Promise<void> {
    await env!.waitLedger(`${files} files CONVERTED`, (db) => count(db, `SELECT count(*) AS n FROM files WHERE state = 'CONVERTED'`) === files, timeoutMs, 100);
  }

  /** waits until a batch is half-way: some of it SENT, some still SENDING */
  async function waitMidBatch(total: number): Promise<{ sent: number; sending: number }> {
    return env!.waitLedger(
      'a batch half-way (some SENT, some SENDING)',
      (db) => {
        const sent = inState(db, 'SENT');
        const sending = inState(db, 'SENDING');
        return sent >= 20 && sent <= total - 60 && sending > 0 ? { sent, sending } : undefined;
      },
      60_000,
      10,
    );
  }

  function expectCleanStop(exit: Awaited<ReturnType<DaemonProcess['terminate']>>, d: DaemonProcess): void {
    stopTimes.push(`${exit ? `${exit.ms} ms, code ${exit.code}` : 'no exit'} (${title})`);
    expect(exit, `the daemon did not exit within 20 s of SIGTERM\n${d.tail()}`).to.not.equal(null);
    expect(exit!.signal, 'killed by a signal').to.equal(null);
    expect(exit!.code, `exit code\n${d.tail()}`).to.equal(0);
    expect(exit!.ms, 'ms from SIGTERM to exit').to.be.below(STOP_LIMIT_MS);
    expect(d.find((l) => l.message === 'stopping' && l.signal === 'SIGTERM'), 'logged "stopping"').to.not.equal(undefined);
    expect(d.find((l) => l.message === 'stopped'), `logged "stopped" (a clean stop, not the stop deadline)\n${d.tail()}`).to.not.equal(undefined);
  }

  // ------------------------------------------------------------------------------------------

  it('1. converts dropped files and lands the batch on the server under the right names, valid XML, SENT, nothing left behind', async function () {
    this.timeout(60_000);
    await setup();
    const d = env!.start();
    await d.ready();
    env!.drop('first.txt', producedFile(refs('ONE', 5)));
    env!.drop('second.txt', producedFile(refs('TWO', 7)));
    await waitAllSent(12);
    // the batch summary is logged after the last message is SENT
    await d.waitForLog((l) => l.message === 'batch sent' || l.message === 'batch partial', 10_000);

    const msgs = env!.messages();
    // prefix + 12 digits, distinct, increasing in staging order (blocks may leave gaps between files)
    for (const m of msgs) expect(m.fcn).to.match(/^E\d{12}$/);
    expect([...msgs.map((m) => m.fcn)].sort()).to.deep.equal(msgs.map((m) => m.fcn));
    expectAllSentExactlyOnce(12);
    const onServer = serverFiles().map((f) => path.join(sshd!.root, 'inbox', f));
    expect(onServer).to.have.length(12);
    expect(xmllintAll(XSD, onServer), 'xmllint --schema MATERIALS_PRODUCED.xsd').to.equal('');
    // the name is the message's own FileControlNumber
    for (const f of onServer) expect(fs.readFileSync(f, 'utf8')).to.contain(`:FileControlNumber>${path.basename(f, '.xml')}</`);

    // both drops are claimed in the same scan; which one the ledger records first is not promised
    expect(env!.files().map((f) => [f.name, f.state, f.messages]).sort()).to.deep.equal([
      ['first.txt', 'CONVERTED', 5],
      ['second.txt', 'CONVERTED', 7],
    ]);
    expect(fs.readdirSync(env!.inbound), 'drop folder').to.deep.equal([]);
    expect(env!.filesUnder('error'), 'error/').to.deep.equal([]);
    const batches = env!.ledger((db) => db.prepare('SELECT outcome, archive_dir FROM batches').all() as { outcome: string; archive_dir: string | null }[])!;
    expect(batches.length).to.be.at.least(1);
    for (const b of batches) {
      expect(b.outcome).to.equal('sent');
      expect(b.archive_dir).to.be.a('string');
    }
    // every log line is JSON with level, message and an ISO-8601 UTC timestamp
    expect(d.other, 'non-JSON output').to.deep.equal([]);
    for (const l of d.logs) expect(l.timestamp, JSON.stringify(l)).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

    expectCleanStop(await d.terminate(), d);
    const audit = env!.cli(['audit', 'verify']);
    expect(audit.code, audit.stdout + audit.stderr).to.equal(0);
  });

  it('2. a wrong pinned host key: sends nothing, keeps the messages STAGED naming both fingerprints, keeps converting, stops on SIGTERM', async function () {
    this.timeout(60_000);
    const wrong = `SHA256:${randomBytes(32).toString('base64').replace(/=+$/, '')}`;
    await setup({ hostKeySha256: wrong });
    expect(wrong).to.not.equal(sshd!.hostKeySha256);
    const d = env!.start();
    await d.ready();
    env!.drop('a.txt', producedFile(refs('HK', 4)));
    // the batch is claimed, the connection refused, every message back to STAGED with the reason
    await env!.waitLedger(
      'the batch refused',
      (db) => count(db, `SELECT count(*) AS n FROM messages WHERE state = 'STAGED' AND last_error LIKE '%host key%'`) === 4 && inState(db, 'SENDING') === 0,
      30_000,
    );
    const failedFrom = d.logs.length;
    for (const m of env!.messages()) {
      expect(m.state).to.equal('STAGED');
      expect(m.last_error, 'shows the pinned fingerprint').to.contain(wrong);
      expect(m.last_error, "shows the server's fingerprint").to.contain(sshd!.hostKeySha256);
    }
    expect(d.find((l) => typeof l.error === 'string' && l.error.includes(wrong) && l.error.includes(sshd!.hostKeySha256)), 'logged with both fingerprints').to.not.equal(undefined);

    // still alive and working: a new file is converted while the partner is failing
    env!.drop('b.txt', producedFile(refs('HK2', 3)));
    await env!.waitLedger('b.txt converted', (db) => count(db, `SELECT count(*) AS n FROM files WHERE name = 'b.txt' AND state = 'CONVERTED'`) === 1, 20_000);
    // a later slot, after the backoff, tries again and fails again; the daemon lives on
    await d.waitForLog('batch cycle failed; backing off', 30_000, failedFrom);
    expect(d.running).to.equal(true);

    // nothing at all reached the server: no file, no temp file, no folder
    expect(fs.readdirSync(path.join(sshd!.root, 'inbox')), "the server's /inbox").to.deep.equal([]);
    const states = env!.messageStates();
    expect(states).to.deep.equal({ STAGED: 7 });
    expect(env!.ledger((db) => count(db, `SELECT count(*) AS n FROM transitions WHERE to_state = 'SENT'`))).to.equal(0);
    // retried with backoff, never spun on: at most one failed cycle per 2 s slot
    const failedCycles = d.count('batch cycle failed; backing off');
    expect(failedCycles, 'failed cycles').to.be.at.least(1);
    const runningFor = Date.now() - d.startedAt;
    expect(failedCycles, `failed cycles in ${runningFor} ms`).to.be.at.most(Math.ceil(runningFor / 2000) + 1);

    expectCleanStop(await d.terminate(), d);
    expect(env!.ledger((db) => inState(db, 'SENDING'))).to.equal(0);
  });

  it('3. the server stopped in the middle of a batch and started again: every message SENT, each on the server exactly once', async function () {
    this.timeout(120_000);
    await setup({}, true);
    const d = env!.start();
    await d.ready();
    const n = dropMany('SRV', 3, 100);
    const at = await waitMidBatch(n);
    await sshd!.stop();
    // the batch notices, puts what it could not send back to STAGED, and backs off; the retry
    // after the backoff fails too (the line comes once the cycle has done its bookkeeping)
    const first = await d.waitForLog((l) => l.message === 'batch cycle failed; backing off', 20_000);
    await d.waitForLog((l) => l.message === 'batch cycle failed; backing off', 30_000, d.logs.indexOf(first) + 1);
    expect(d.running, 'the daemon survives the server going away').to.equal(true);
    const whileDown = env!.messageStates();
    expect(whileDown.SENDING ?? 0, `nothing SENDING while the server is down (${JSON.stringify(whileDown)})`).to.equal(0);
    expect(whileDown.SENT ?? 0).to.be.at.least(at.sent);
    expect(whileDown.SENT ?? 0, 'the stop interrupted the batch').to.be.below(n);
    // the interruption sent messages back: SENDING -> STAGED transitions exist
    expect(env!.ledger((db) => count(db, `SELECT count(*) AS n FROM transitions WHERE from_state = 'SENDING' AND to_state = 'STAGED'`))).to.be.above(0);
    await sshd!.start();
    await waitAllSent(n, 90_000);
    expectAllSentExactlyOnce(n);
    // the SENT commit comes before the cycle's own bookkeeping line: wait for the line
    const cleared = await d.waitForLog((l) => l.message.endsWith('backoff cleared'), 30_000);
    expect(cleared, 'the backoff was cleared after the server came back').to.not.equal(undefined);
    expectCleanStop(await d.terminate(), d);
    const audit = env!.cli(['audit', 'verify']);
    expect(audit.code, audit.stdout + audit.stderr).to.equal(0);
  });

  it('4. kill -9 of the daemon during a batch, then a restart: every message SENT once, same FileControlNumbers, audit intact', async function () {
    this.timeout(120_000);
    await setup({}, true);
    const first = env!.start();
    await first.ready();
    const n = dropMany('K9', 3, 100);
    await waitMidBatch(n);
    // freeze the server so the in-flight requests (a write, a rename, ...) are pending when
    // the daemon dies: whatever the server then completes is found by the recovery
    sshd!.freeze();
    await delay(150); // not a wait for an event: lets the daemon issue requests that then hang
    const killed = await first.kill9();
    expect(killed.signal).to.equal('SIGKILL');
    sshd!.thaw();
    const before = env!.messages();
    const fcnsBefore = new Map(before.map((m) => [m.reference_doc, m.fcn]));
    expect(before.length).to.equal(n);
    const sendingAtKill = before.filter((m) => m.state === 'SENDING').length;
    expect(sendingAtKill, 'killed in the middle of a batch: messages left SENDING').to.be.above(0);
    expect(before.filter((m) => m.state === 'SENT').length, 'killed in the middle of a batch: some SENT').to.be.above(0);

    const second = env!.start();
    await second.ready();
    await waitAllSent(n, 90_000);
    await second.waitForLog('recovery: messages left SENDING by an earlier cycle', 5_000);
    expectAllSentExactlyOnce(n);
    notes.push(
      `kill -9 during a batch: ${sendingAtKill} left SENDING; recovery found ${second.count('found on server after restart')} on the server, ` +
        `put ${second.count('message back to STAGED (recovery)')} back to STAGED; ${second.count((l) => l.outcome === 'already-present')} uploads found their final name present`,
    );
    // same FileControlNumber for every document as before the crash: nothing re-allocated
    const after = env!.messages();
    expect(after.filter((m) => fcnsBefore.get(m.reference_doc) !== m.fcn).map((m) => m.reference_doc)).to.deep.equal([]);
    expect(env!.filesUnder('work'), 'work/').to.deep.equal([]);
    expect(env!.files().every((f) => f.state === 'CONVERTED' && f.work_path === null)).to.equal(true);

    expectCleanStop(await second.terminate(), second);
    const audit = env!.cli(['audit', 'verify']);
    expect(audit.code, audit.stdout + audit.stderr).to.equal(0);
  });

  it('5. kill -9 during intake of a 20,000-message file, then a restart: converted exactly once, no orphans, no duplicates', async function () {
    this.timeout(300_000);
    const N = 20_000;
    await setup({ schedule: NEVER }); // intake only: nothing is sent in this test
    const first = env!.start();
    await first.ready();
    env!.drop('big.txt', producedFile(refs('BIG', N), 'EXP-BIG'));
    // mid-conversion: the file RECEIVED, some chunks of its messages already in the ledger
    await env!.waitLedger(
      'the big file half-way through conversion',
      (db) => {
        const f = db.prepare(`SELECT id, state FROM files WHERE name = 'big.txt'`).get() as { id: number; state: string } | undefined;
        return f?.state === 'RECEIVED' && count(db, 'SELECT count(*) AS n FROM messages WHERE file_id = ?', f.id) >= 1000;
      },
      60_000,
      20,
    );
    await first.kill9();
    const atKill = env!.files();
    expect(atKill.map((f) => [f.name, f.state])).to.deep.equal([['big.txt', 'RECEIVED']]);
    expect(env!.filesUnder('work'), 'the claimed file is in work/ at the kill').to.have.length(1);
    const outboxAtKill = env!.filesUnder('outbox').length;
    expect(outboxAtKill, 'outbox files written before the kill').to.be.above(0);

    const second = env!.start();
    await second.waitForLog('resuming a file left in work/ by an earlier run', 30_000);
    await waitConverted(1, 240_000);
    await second.waitForLog((l) => l.message === 'file converted', 10_000);

    const files = env!.files();
    expect(files.map((f) => [f.name, f.state, f.messages, f.work_path])).to.deep.equal([['big.txt', 'CONVERTED', N, null]]);
    const fileTransitions = env!.ledger((db) =>
      db.prepare(`SELECT from_state, to_state FROM transitions WHERE entity = 'file' ORDER BY id`).all() as { from_state: string | null; to_state: string }[],
    )!;
    expect(fileTransitions.filter((t) => t.to_state === 'CONVERTED'), 'converted once').to.have.length(1);
    expect(fileTransitions.filter((t) => t.to_state === 'FAILED' || t.to_state === 'DUPLICATE')).to.deep.equal([]);

    const msgs = env!.messages();
    expect(msgs.length, 'messages').to.equal(N);
    expect(new Set(msgs.map((m) => m.reference_doc)).size, 'distinct documents').to.equal(N);
    expect(new Set(msgs.map((m) => m.fcn)).size, 'distinct FileControlNumbers').to.equal(N);
    expect(msgs.every((m) => m.state === 'STAGED' && m.file_id === files[0]!.id)).to.equal(true);
    // each document's message staged once
    const staged = env!.ledger((db) => count(db, `SELECT count(*) AS n FROM transitions WHERE entity = 'message' AND to_state = 'STAGED'`));
    expect(staged).to.equal(N);

    // outbox: exactly the staged messages' files, nothing the killed run left behind
    const expectedOutbox = msgs.map((m) => path.relative(path.join(env!.dataDir, 'outbox'), path.isAbsolute(m.xml_path) ? m.xml_path : path.join(env!.dataDir, m.xml_path))).sort();
    expect(env!.filesUnder('outbox'), 'outbox/ = the staged messages, no orphans').to.deep.equal(expectedOutbox);
    expect(env!.filesUnder('work'), 'work/').to.deep.equal([]);
    expect(env!.filesUnder('error'), 'error/').to.deep.equal([]);
    expect(fs.readdirSync(env!.inbound), 'drop folder').to.deep.equal([]);
    const intakeManifests = env!.ledger((db) => count(db, `SELECT count(*) AS n FROM manifests WHERE kind = 'intake'`));
    expect(intakeManifests, 'the input archived once').to.equal(1);

    expectCleanStop(await second.terminate(), second);
    const audit = env!.cli(['audit', 'verify']);
    expect(audit.code, audit.stdout + audit.stderr).to.equal(0);
  });

  describe('6. SIGTERM', function () {
    it('while idle: exit 0 well within 15 s', async function () {
      this.timeout(60_000);
      await setup();
      const d = env!.start();
      await d.ready();
      env!.drop('a.txt', producedFile(refs('IDLE', 3)));
      await waitAllSent(3);
      await d.waitForLog('batch sent'); // the cycle that sent them has ended: idle
      const exit = await d.terminate();
      expectCleanStop(exit, d);
      expect(env!.messageStates()).to.deep.equal({ SENT: 3 });
    });

    it('while a batch runs: exit 0 within 15 s, nothing left SENDING; a restart sends the rest exactly once', async function () {
      this.timeout(120_000);
      await setup({}, true);
      const first = env!.start();
      await first.ready();
      const n = dropMany('TERM', 3, 100);
      await waitMidBatch(n);
      const exit = await first.terminate();
      expectCleanStop(exit, first);
      const states = env!.messageStates();
      expect(states.SENDING ?? 0, `left SENDING after a clean stop: ${JSON.stringify(states)}`).to.equal(0);
      // consistent: every message the ledger calls SENT is on the server with its full size
      for (const m of env!.messages().filter((x) => x.state === 'SENT')) {
        const st = fs.statSync(path.join(sshd!.root, 'inbox', TYPE_DIR, `${m.fcn}.xml`), { throwIfNoEntry: false });
        expect(st?.size, `${m.fcn} SENT but not on the server`).to.equal(m.bytes);
      }
      const second = env!.start();
      await second.ready();
      await waitAllSent(n, 60_000);
      expectAllSentExactlyOnce(n);
      expectCleanStop(await second.terminate(), second);
    });

    it('while an upload hangs on a frozen server (timeoutMs 30 s): exit 0 within 15 s, nothing left SENDING; a restart sends the rest exactly once', async function () {
      this.timeout(120_000);
      await setup({ timeoutMs: 30_000 }, true);
      const first = env!.start();
      await first.ready();
      const n = dropMany('FRZ', 3, 100);
      await waitMidBatch(n);
      sshd!.freeze();
      await delay(200); // not a wait for an event: lets the daemon start uploads that then hang
      const exit = await first.terminate();
      sshd!.thaw();
      expectCleanStop(exit, first);
      // the in-flight uploads were abandoned: their messages back to STAGED, not left SENDING
      const states = env!.messageStates();
      expect(states.SENDING ?? 0, `left SENDING after the stop: ${JSON.stringify(states)}`).to.equal(0);
      expect(first.find('stop: abandoning the in-flight uploads'), 'the upload hung until the grace time ran out').to.not.equal(undefined);
      const second = env!.start();
      await second.ready();
      await waitAllSent(n, 60_000);
      expectAllSentExactlyOnce(n);
      expectCleanStop(await second.terminate(), second);
    });

    // A conversion in progress is abandoned by the stop (the input stays in work/ and is
    // converted again at the next start, exactly as after kill -9: test 5); translateFile
    // yields to the event loop between chunks so the SIGTERM is noticed at once.
    it('while a 20,000-message file is being converted: exit 0 within 15 s, the file resumable and then converted once', async function () {
      this.timeout(240_000);
      const N = 20_000;
      await setup({ schedule: NEVER });
      const d = env!.start();
      await d.ready();
      env!.drop('big.txt', producedFile(refs('TBIG', N), 'EXP-TBIG'));
      await env!.waitLedger(
        'the big file being converted',
        (db) => count(db, `SELECT count(*) AS n FROM files WHERE state = 'RECEIVED'`) === 1 && count(db, 'SELECT count(*) AS n FROM messages') >= 500,
        60_000,
        20,
      );
      const sigAt = Date.now();
      const exit = await d.terminate(120_000);
      const stopping = d.find((l) => l.message === 'stopping');
      const noticedAfter = stopping?.timestamp ? Date.parse(stopping.timestamp) - sigAt : null;
      const files = env!.files();
      expect(files).to.have.length(1);
      const f = files[0]!;
      // consistent whichever way it stopped: converted with all its messages, or still RECEIVED
      // with its input in work/ (resumed at the next start) and nothing visible of it
      if (f.state === 'CONVERTED') {
        expect(f.messages).to.equal(N);
        expect(env!.filesUnder('work')).to.deep.equal([]);
      } else {
        expect(f.state).to.equal('RECEIVED');
        expect(env!.filesUnder('work'), 'the input kept in work/').to.have.length(1);
        expect(fs.readdirSync(env!.inbound)).to.deep.equal([]);
      }
      expect(env!.messageStates().SENDING ?? 0).to.equal(0);
      stopTimes.push(`${exit ? `${exit.ms} ms, code ${exit.code}` : 'no exit within 120 s'} (${title})`);
      expect(exit, 'exited at all (within 120 s)').to.not.equal(null);
      expect(exit!.code, `exit code\n${d.tail()}`).to.equal(0);
      // a fix may abandon the conversion at the stop deadline ("stop deadline reached"): fine,
      // as long as the exit comes within 15 s and the file is left resumable (checked above)
      expect(exit!.ms, `ms from SIGTERM to exit (the daemon logged "stopping" only ${noticedAfter} ms after the SIGTERM)`).to.be.below(STOP_LIMIT_MS);
      // and the next start finishes the job: converted once, all its messages, nothing left over
      if (f.state === 'RECEIVED') {
        const again = env!.start();
        await again.ready(150_000); // it converts the resumed file before it says it is running
        await env!.waitLedger('the big file converted after the restart', (db) => count(db, `SELECT count(*) AS n FROM files WHERE state = 'CONVERTED'`) === 1, 120_000);
        expect(env!.files().map((x) => [x.state, x.messages])).to.deep.equal([['CONVERTED', N]]);
        expect(env!.ledger((db) => count(db, 'SELECT count(DISTINCT reference_doc) AS n FROM messages'))).to.equal(N);
        expect(env!.filesUnder('work')).to.deep.equal([]);
        expectCleanStop(await again.terminate(), again);
      }
    });
  });
});
