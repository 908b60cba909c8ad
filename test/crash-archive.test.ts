// kill -9 over intake, batch and ack poll (issue 10 item 3; product.md 5 and 10): the REAL
// daemon (`node bin/tlbridge.js run`) against a REAL OpenSSH sshd, killed by SIGKILL at each
// named point of an archive write (TLBRIDGE_CRASH_AT, src/util/crash-point.ts: the process
// kills itself there, so the instant is exact, not raced), four times in a row on the same
// data folder, then started normally. Every run ends with the real `tlbridge audit verify`
// clean, every input either sent under exactly one FileControlNumber (and acknowledged once)
// or in error/ with its report, and nothing left in work/ or in the archive's staging folder.
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import type Database from 'better-sqlite3';
import { ACK_DIR, renderAck } from './support/acks.js';
import { DaemonProcess, E2eEnv, EVERY_2S, filesUnder, NEVER, PARTNER, producedFile, refs } from './support/daemon-process.js';
import { sshdUnavailableReason, startSshd, type TestSshd } from './support/sshd.js';

const TYPE_DIR = 'MATERIALS_PRODUCED';
/** in the order add() reaches them (src/archive/archive.ts) */
const POINTS = ['archive-staged', 'archive-placed', 'archive-before-commit', 'archive-after-commit'];
const count = (db: Database.Database, sql: string, ...params: unknown[]): number => (db.prepare(sql).get(...params) as { n: number }).n;

describe('kill -9 at every archive crash point over intake, batch and ack poll (real daemon, real sshd)', function () {
  this.timeout(240_000);
  let sshd: TestSshd | undefined;
  let env: E2eEnv | undefined;
  const notes: string[] = [];

  before(function () {
    const why = sshdUnavailableReason();
    if (why) {
      console.log(`      (skipped: a private sshd cannot run here: ${why})`);
      this.skip();
    }
  });
  after(() => {
    for (const n of notes) console.log(`      ${n}`);
  });
  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && env) for (const p of env.processes) console.log(`--- daemon pid ${p.pid} (last lines)\n${p.tail(30)}`);
    await env?.dispose();
    env = undefined;
    await sshd?.dispose();
    sshd = undefined;
  });

  async function setup(): Promise<E2eEnv> {
    sshd = await startSshd({ dirs: ['/inbox', ACK_DIR] });
    env = new E2eEnv({ sshd, schedule: EVERY_2S });
    // the acks are polled too (E2eEnv's config never polls)
    const yaml = fs.readFileSync(env.configPath, 'utf8');
    expect(yaml).to.include(`ackPoll: "${NEVER}"`);
    fs.writeFileSync(env.configPath, yaml.replace(`ackPoll: "${NEVER}"`, `ackPoll: "${EVERY_2S}"`));
    return env;
  }

  /** A daemon that SIGKILLs itself at `crashAt` (undefined: a normal run). */
  function start(crashAt?: string): DaemonProcess {
    const p = new DaemonProcess(env!.configPath, crashAt ? { TLBRIDGE_CRASH_AT: crashAt } : {});
    env!.processes.push(p);
    return p;
  }

  async function expectKilledAt(p: DaemonProcess, crashAt: string): Promise<void> {
    const exit = await p.waitExit(90_000);
    expect(exit, `the daemon never reached ${crashAt}\n${p.tail()}`).to.not.equal(null);
    expect(exit!.signal, `killed at ${crashAt}\n${p.tail()}`).to.equal('SIGKILL');
  }

  /** Starts a daemon per crash point of `kind` in turn, each killed there; `between` runs while each is up. */
  async function crashThrough(kind: string, between: (p: DaemonProcess) => Promise<void> = async () => undefined): Promise<void> {
    for (const point of POINTS) {
      const crashAt = `${point}:${kind}`;
      const p = start(crashAt);
      await between(p);
      await expectKilledAt(p, crashAt);
      const left = filesUnder(path.join(env!.dataDir, 'archive-staging'));
      notes.push(`${crashAt}: killed; ${left.length} file(s) left in archive-staging/, ${env!.filesUnder('work').length} in work/`);
    }
  }

  const GOOD = ['good-a.txt', 'good-b.txt'];
  const PER_FILE = 3;
  const N = GOOD.length * PER_FILE;
  /** an HDR and a DOC, no TRL: FAILED with a report */
  const INVALID = `HDR|MATERIALS_PRODUCED|${PARTNER}|20261125101500|EXP-BAD\nDOC|BAD-1|WO-1|20261124|153000|x\n`;

  function dropGood(): void {
    GOOD.forEach((name, i) => env!.drop(name, producedFile(refs(`C${i}`, PER_FILE), `EXP-C${i}`)));
  }

  const waitAllSent = (): Promise<unknown> =>
    env!.waitLedger(
      `${N} messages SENT, their batches finished`,
      (db) => count(db, `SELECT count(*) AS n FROM messages WHERE state = 'SENT'`) === N && count(db, 'SELECT count(*) AS n FROM batches WHERE finished_at IS NULL') === 0,
      90_000,
      100,
    );

  const serverAckDir = (): string => path.join(sshd!.root, ACK_DIR.slice(1));
  /** one SUCCESS ack per sent message, put on the server as the partner does (temp name, rename) */
  function putAcks(): void {
    for (const m of env!.messages()) {
      const tmp = path.join(serverAckDir(), `.tmp-${m.fcn}`);
      fs.writeFileSync(tmp, renderAck({ inputFcn: m.fcn, ackFcn: `ACK-${m.fcn}` }));
      fs.renameSync(tmp, path.join(serverAckDir(), `ACK-${m.fcn}.xml`));
    }
  }

  const waitAllAccepted = (): Promise<unknown> =>
    env!.waitLedger(`${N} messages ACCEPTED, every ack off the server`, (db) => count(db, `SELECT count(*) AS n FROM messages WHERE state = 'ACCEPTED'`) === N && fs.readdirSync(serverAckDir()).length === 0, 90_000, 100);

  /** What the contract says once everything is done, whatever was killed on the way. */
  async function expectNothingLostOrDoubled(withInvalid: boolean): Promise<void> {
    const final = env!.processes.at(-1)!;
    // everything may have been done before it (the run killed last got as far as the end): a
    // SIGTERM while it still loads its modules meets Node's default action, not the daemon's
    await final.ready(60_000);
    const stop = await final.terminate();
    expect(stop?.code, `the last daemon stops cleanly\n${final.tail()}`).to.equal(0);

    const audit = env!.cli(['audit', 'verify']);
    expect(audit.code, `audit verify\n${audit.stdout}${audit.stderr}`).to.equal(0);

    // files: each input once, with its outcome
    const files = env!.files();
    expect(files.map((f) => [f.name, f.state, f.work_path]).sort()).to.deep.equal(
      [...GOOD.map((n) => [n, 'CONVERTED', null]), ...(withInvalid ? [['bad.txt', 'FAILED', null]] : [])].sort(),
    );
    expect(env!.filesUnder('work'), 'work/').to.deep.equal([]);
    expect(fs.readdirSync(env!.inbound), 'the drop folder').to.deep.equal([]);
    expect(env!.filesUnder('error'), 'error/: the invalid input once, with its two reports').to.deep.equal(withInvalid ? ['bad.txt', 'bad.txt.error.json', 'bad.txt.error.txt'] : []);
    expect(filesUnder(path.join(env!.dataDir, 'archive-staging')), 'archive-staging/').to.deep.equal([]);

    // messages: one per document, one FileControlNumber each, on the server once, acknowledged
    const msgs = env!.messages();
    expect(msgs.length, 'messages').to.equal(N);
    expect(new Set(msgs.map((m) => m.reference_doc)).size, 'documents').to.equal(N);
    expect(new Set(msgs.map((m) => m.fcn)).size, 'FileControlNumbers').to.equal(N);
    expect(msgs.filter((m) => m.state !== 'ACCEPTED').map((m) => `${m.fcn} ${m.state}`)).to.deep.equal([]);
    expect(filesUnder(path.join(sshd!.root, 'inbox')), 'the server inbox').to.deep.equal(msgs.map((m) => `${TYPE_DIR}/${m.fcn}.xml`).sort());

    const ledger = env!.ledger((db) => ({
      sent: db.prepare(`SELECT entity_id AS id, count(*) AS n FROM transitions WHERE entity = 'message' AND to_state = 'SENT' GROUP BY entity_id`).all() as { id: number; n: number }[],
      accepted: db.prepare(`SELECT entity_id AS id, count(*) AS n FROM transitions WHERE entity = 'message' AND to_state = 'ACCEPTED' GROUP BY entity_id`).all() as { id: number; n: number }[],
      acks: db.prepare('SELECT message_id, effect FROM acks ORDER BY id').all() as { message_id: number; effect: string }[],
      manifests: db.prepare('SELECT kind, ref, path FROM manifests ORDER BY seq').all() as { kind: string; ref: string; path: string }[],
    }))!;
    expect(ledger.sent.filter((r) => r.n !== 1), 'messages SENT more than once').to.deep.equal([]);
    expect(ledger.sent.length).to.equal(N);
    expect(ledger.accepted.filter((r) => r.n !== 1), 'messages ACCEPTED more than once').to.deep.equal([]);
    expect(ledger.acks.map((a) => a.effect), 'one ack row per ack').to.deep.equal(Array(N).fill('accepted'));
    expect(new Set(ledger.acks.map((a) => a.message_id)).size).to.equal(N);

    // the archive: each input, each sent message and each ack in exactly one manifest
    const byKind = (k: string) => ledger.manifests.filter((m) => m.kind === k);
    expect(byKind('intake').length, 'intake manifests: one per input').to.equal(files.length);
    expect(new Set(byKind('intake').map((m) => m.ref)).size).to.equal(files.length);
    expect(byKind('acks').length, 'ack manifests: one per ack').to.equal(N);
    const inBatches = new Map<string, number>();
    for (const mf of byKind('batch')) {
      const j = JSON.parse(fs.readFileSync(path.join(env!.dataDir, 'archive', mf.path), 'utf8')) as { messages?: { fcn: string }[] };
      for (const m of j.messages ?? []) inBatches.set(m.fcn, (inBatches.get(m.fcn) ?? 0) + 1);
    }
    expect(msgs.filter((m) => inBatches.get(m.fcn) !== 1).map((m) => `${m.fcn}: in ${inBatches.get(m.fcn) ?? 0} batch manifests`)).to.deep.equal([]);
    // and nothing under archive/ beyond the chain's folders (verify said so; this names them)
    const folders = new Set(env!.filesUnder('archive').map((f) => path.dirname(f)));
    expect([...folders].sort()).to.deep.equal(ledger.manifests.map((m) => path.dirname(m.path)).sort());
  }

  it('intake: killed at each point while archiving a converted input, then a normal start', async function () {
    await setup();
    dropGood();
    // each restart resumes the file left in work/ and is killed again, one point further
    await crashThrough('intake');
    const last = start();
    await last.ready();
    env!.drop('bad.txt', INVALID);
    await waitAllSent();
    putAcks();
    await waitAllAccepted();
    await expectNothingLostOrDoubled(true);
  });

  it('intake group commit: three files claimed together, killed at each point of their one archive write, lose and double nothing', async function () {
    for (const point of POINTS) {
      await setup();
      const names = ['g-a.txt', 'g-b.txt', 'g-c.txt'];
      // dropped before the start: the first scan sees all three, so they are claimed and committed together
      names.forEach((name, i) => env!.drop(name, producedFile(refs(`G${i}`, PER_FILE), `EXP-G${i}`)));
      const crashAt = `${point}:intake`;
      await expectKilledAt(start(crashAt), crashAt);
      const staged = filesUnder(path.join(env!.dataDir, 'archive-staging'));
      // the group path, not three one-file writes: one call's folder holds every file's folder
      if (point === 'archive-staged') expect(staged.filter((f) => f.endsWith('/manifest.json')).length, `${crashAt}: ${staged.join(', ')}`).to.equal(names.length);
      notes.push(`group ${crashAt}: killed; ${staged.length} file(s) left in archive-staging/, ${env!.filesUnder('work').length} in work/`);
      const last = start();
      await last.ready();
      await env!.waitLedger(`${names.length} files CONVERTED`, (db) => count(db, `SELECT count(*) AS n FROM files WHERE state = 'CONVERTED'`) === names.length, 60_000, 100);
      const stop = await last.terminate();
      expect(stop?.code, `${crashAt}: the last daemon stops cleanly\n${last.tail()}`).to.equal(0);
      const audit = env!.cli(['audit', 'verify']);
      expect(audit.code, `${crashAt}: audit verify\n${audit.stdout}${audit.stderr}`).to.equal(0);
      expect(env!.files().map((f) => [f.name, f.state, f.work_path]).sort(), crashAt).to.deep.equal(names.map((n) => [n, 'CONVERTED', null]));
      expect(env!.filesUnder('work'), `${crashAt}: work/`).to.deep.equal([]);
      expect(env!.filesUnder('error'), `${crashAt}: error/`).to.deep.equal([]);
      expect(filesUnder(path.join(env!.dataDir, 'archive-staging')), `${crashAt}: archive-staging/`).to.deep.equal([]);
      const msgs = env!.messages();
      expect(msgs.length, `${crashAt}: messages`).to.equal(names.length * PER_FILE);
      expect(new Set(msgs.map((m) => m.reference_doc)).size, `${crashAt}: documents`).to.equal(names.length * PER_FILE);
      expect(new Set(msgs.map((m) => m.fcn)).size, `${crashAt}: FileControlNumbers`).to.equal(names.length * PER_FILE);
      const manifests = env!.ledger((db) => db.prepare('SELECT kind, ref, path FROM manifests ORDER BY seq').all() as { kind: string; ref: string; path: string }[])!;
      expect(manifests.filter((m) => m.kind === 'intake').length, `${crashAt}: intake manifests, one per input`).to.equal(names.length);
      const folders = new Set(env!.filesUnder('archive').map((f) => path.dirname(f)));
      expect([...folders].sort(), `${crashAt}: archive/ holds the chain's folders only`).to.deep.equal(manifests.map((m) => path.dirname(m.path)).sort());
      await env!.dispose();
      env = undefined;
      await sshd!.dispose();
      sshd = undefined;
    }
  });

  it('batch: killed at each point while archiving a finished batch (the restart finishes it by recovery), then a normal start', async function () {
    await setup();
    dropGood();
    env!.drop('bad.txt', INVALID);
    await crashThrough('batch');
    const last = start();
    await last.ready();
    await waitAllSent();
    putAcks();
    await waitAllAccepted();
    await expectNothingLostOrDoubled(true);
  });

  it('ack poll: killed at each point while archiving an ack (it stays on the server until committed), then a normal start', async function () {
    await setup();
    dropGood();
    env!.drop('bad.txt', INVALID);
    let first = true;
    await crashThrough('acks', async () => {
      if (!first) return;
      first = false;
      await waitAllSent();
      putAcks();
    });
    start();
    await waitAllAccepted();
    await expectNothingLostOrDoubled(true);
  });
  it('kill -9 right after log lines of each stage (a file converted, a message sent, an ack applied), then a normal start', async function () {
    await setup();
    dropGood();
    env!.drop('bad.txt', INVALID);
    // not an archive crash point: wherever the daemon is when the signal lands
    const moments: { what: string; before?: () => Promise<unknown> | void; line: string }[] = [
      { what: 'intake', line: 'file converted' },
      { what: 'batch', line: 'message SENT' },
      { what: 'ack poll', before: async () => (await waitAllSent(), putAcks()), line: 'message ACCEPTED' },
    ];
    for (const m of moments) {
      const p = start();
      await m.before?.();
      await p.waitForLog(m.line, 90_000);
      await p.kill9();
      notes.push(`kill -9 after "${m.line}" (${m.what}): ${filesUnder(path.join(env!.dataDir, 'archive-staging')).length} file(s) left in archive-staging/, states ${JSON.stringify(env!.messageStates())}`);
    }
    start();
    await waitAllAccepted();
    await expectNothingLostOrDoubled(true);
  });
});
