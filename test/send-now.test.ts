// send-now and poll-acks as product.md 4 has them, against a REAL OpenSSH sshd, real ledger
// files and, where a daemon takes part, the REAL daemon as a child process: a drain of several
// batches, the stop after a failing cycle, the wait for a cycle the daemon holds, a CLI that
// cannot read the key asking the running daemon through a request row (and failing fast when
// none runs), and poll-acks on a fresh install touching nothing.
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { Archive } from '../src/archive/archive.js';
import { runBatchCycle } from '../src/batch/cycle.js';
import { drainLines, drainPartner } from '../src/batch/drain.js';
import type { Io } from '../src/cli/io.js';
import { main } from '../src/cli/main.js';
import { sendNow } from '../src/cli/send-now.js';
import { loadConfig } from '../src/config/load.js';
import { openLedger, type Db } from '../src/ledger/db.js';
import { createRequest } from '../src/ledger/requests.js';
import { endpointFor } from '../src/transport/endpoint.js';
import { SftpPool } from '../src/transport/pool.js';
import { ACK_DIR, renderAck } from './support/acks.js';
import { runCli } from './support/cli.js';
import { DaemonProcess, E2eEnv, NEVER, PARTNER } from './support/daemon-process.js';
import { LedgerFixtures, type StagedFixture } from './support/ledger-fixtures.js';
import type { TestSshd } from './support/sshd.js';
import { useSharedSshd } from './support/shared-sshd.js';
import { Waiters } from './support/wait.js';

function fakeTerminal(): NodeJS.WriteStream & { text(): string } {
  const chunks: string[] = [];
  const s = new PassThrough() as unknown as NodeJS.WriteStream & { text(): string };
  Object.assign(s, { isTTY: true, columns: 120, rows: 40, text: () => chunks.join('') });
  s.on('data', (c: Buffer) => void chunks.push(c.toString('utf8')));
  return s;
}

/** An Io whose printed lines can be awaited while the command still runs. */
function watchedIo(): Io & { out_: string[]; err_: string[]; waitErr(re: RegExp, ms?: number): Promise<string> } {
  const out_: string[] = [];
  const err_: string[] = [];
  const w = new Waiters();
  return {
    out_,
    err_,
    out: (l) => void (out_.push(l), w.notify()),
    err: (l) => void (err_.push(l), w.notify()),
    waitErr: (re, ms = 30_000) =>
      w.until(
        () => err_.find((l) => re.test(l)),
        ms,
        () => new Error(`no stderr line ${re} in ${ms} ms; stderr: ${err_.join("\n")}; stdout: ${out_.join("\n")}`),
      ),
  };
}

describe('send-now drains, waits and asks the daemon; poll-acks the same (real sshd)', function () {
  this.timeout(90_000);
  let sshd: TestSshd;
  let env: E2eEnv;
  let db: Db;
  let fx: LedgerFixtures;
  let no = 0;

  useSharedSshd(['/inbox', ACK_DIR], { ready: (s) => (sshd = s) });
  afterEach(async () => {
    sshd.thaw();
    db?.close();
    await env?.dispose();
  });

  /** a fresh data folder on the shared server; the ledger opened (and so created) by the test */
  const setup = (o: { maxBatchMessages?: number; timeoutMs?: number } = {}) => {
    env = new E2eEnv({ sshd, schedule: NEVER, maxBatchMessages: o.maxBatchMessages ?? 500, timeoutMs: o.timeoutMs ?? 10_000 });
    db = openLedger(env.ledgerPath);
    fx = new LedgerFixtures(db, env.dataDir, `SN${String(++no).padStart(2, '0')}`);
  };
  const cli = (...args: string[]) => runCli([...args, '--config', env.configPath]);
  const state = (m: StagedFixture) => fx.row(m.id).state;
  const states = (ms: StagedFixture[]) => ms.map(state);
  const onServer = (m: StagedFixture) => fs.existsSync(path.join(sshd.root, 'inbox', m.typeCode, `${m.fcn}.xml`));
  const runs = (origin: string) =>
    db.prepare(`SELECT outcome FROM runs WHERE kind = 'batch' AND origin = ? ORDER BY id`).pluck().all(origin) as string[];

  /** The config names the key relative (as the README's systemd install does), found through
   * $CREDENTIALS_DIRECTORY only: the daemon started with it reads the key, the CLI cannot. */
  const keyAsCredential = (): string => {
    const creds = fs.mkdtempSync(path.join(os.tmpdir(), 'tlbridge-creds-'));
    fs.copyFileSync(sshd.privateKeyPath, path.join(creds, 'tlbridge-key'));
    fs.chmodSync(path.join(creds, 'tlbridge-key'), 0o600);
    const yaml = fs.readFileSync(env.configPath, 'utf8');
    expect(yaml).to.include(`privateKeyFile: ${sshd.privateKeyPath}`);
    fs.writeFileSync(env.configPath, yaml.replace(`privateKeyFile: ${sshd.privateKeyPath}`, 'privateKeyFile: tlbridge-key'));
    return creds;
  };
  /** staged as intake stages them, with the outbox path absolute: the daemon's start removes
   * outbox files no message row names */
  const stageForDaemon = (n: number): StagedFixture[] => {
    const ms = fx.stageMany(n);
    for (const m of ms) db.prepare('UPDATE messages SET xml_path = ? WHERE id = ?').run(m.absPath, m.id);
    return ms;
  };
  const startDaemon = (extraEnv: NodeJS.ProcessEnv = {}): DaemonProcess => {
    const d = new DaemonProcess(env.configPath, extraEnv);
    env.processes.push(d);
    return d;
  };

  it('drains 2.5 batches in one send-now: three cycles, one line each and a total, exit 0', async () => {
    setup({ maxBatchMessages: 4 });
    const ms = fx.stageMany(10);
    const tty = fakeTerminal();
    const r = await runCli(['send-now', '--partner', PARTNER, '--config', env.configPath], { stderr: tty });
    expect(r.code, r.err.join('\n')).to.equal(0);
    expect(states(ms)).to.deep.equal(Array(10).fill('SENT'));
    // one bar across the three batches, of what was uploadable at the start
    expect(tty.text()).to.include('0 of 10 files uploaded').and.include('10 of 10 files uploaded').and.not.include('of 4 files');
    expect(ms.every(onServer)).to.equal(true);
    expect(r.out).to.have.length(4);
    expect(r.out.slice(0, 3).map((l) => /: (\d+) sent, 0 failed, 0 conflict\(s\)/.exec(l)?.[1])).to.deep.equal(['4', '4', '2']);
    expect(r.out[3]).to.equal(`${PARTNER}: 10 sent in 3 batch(es), 0 failed, 0 conflict(s); 10 were uploadable at the start`);
    expect(runs('cli')).to.deep.equal(['ok', 'ok', 'ok']);
    const batches = db.prepare(`SELECT messages, outcome FROM batches ORDER BY id`).all();
    expect(batches).to.deep.equal([
      { messages: 4, outcome: 'sent' },
      { messages: 4, outcome: 'sent' },
      { messages: 2, outcome: 'sent' },
    ]);
  });

  it('an ack recorded while a message was STAGED is applied by the send-now that uploads it (the ack code is loaded for it only)', async () => {
    setup();
    const [waiting, plain] = fx.stageMany(2);
    fs.writeFileSync(path.join(sshd.root, ACK_DIR.slice(1), 'ACK-PENDING.xml'), renderAck({ inputFcn: waiting!.fcn, status: 'ERROR', errors: [{ code: 'E7', class: 1, message: 'bad lot' }] }));
    const p = await cli('poll-acks', '--partner', PARTNER);
    expect(p.code, p.err.join('\n')).to.equal(0);
    expect(db.prepare(`SELECT effect FROM acks WHERE message_id = ?`).pluck().all(waiting!.id)).to.deep.equal(['pending']);
    const r = await cli('send-now', '--partner', PARTNER);
    expect(r.code, r.err.join('\n')).to.equal(0);
    expect(fx.row(waiting!.id)).to.include({ state: 'REJECTED', last_error: 'E7 (class 1): bad lot' });
    expect(state(plain!)).to.equal('SENT');
    expect([waiting!, plain!].every(onServer)).to.equal(true);
  });

  it('does not chase messages staged after it started: they fill the last batch\'s room at most', async () => {
    setup({ maxBatchMessages: 4 });
    const config = loadConfig(env.configPath);
    const archive = new Archive(path.join(env.dataDir, 'archive'), db);
    const pool = new SftpPool(endpointFor(config, PARTNER), 2);
    const first = fx.stageMany(10);
    let later: StagedFixture[] = [];
    try {
      const d = await drainPartner({
        db,
        partner: PARTNER,
        lockWaitMs: 10_000,
        cycle: async () => {
          const r = await runBatchCycle({ db, config, archive, pool, partner: PARTNER, origin: 'cli' });
          // the daemon staging a big file while the drain runs
          if (!later.length) later = fx.stageMany(10);
          return r;
        },
      });
      expect(d.ok).to.equal(true);
      expect(d.uploadable).to.equal(10);
      expect(d.batches.map((b) => b.sent)).to.deep.equal([4, 4, 4]);
      expect(drainLines(d)).to.have.length(4);
    } finally {
      await pool.close();
    }
    expect(states(first)).to.deep.equal(Array(10).fill('SENT'));
    expect(states(later).filter((s) => s === 'STAGED')).to.have.length(8);
  });

  it('stops after a cycle with a conflict: no second cycle, the rest stays STAGED, exit 1', async () => {
    setup({ maxBatchMessages: 4 });
    const ms = fx.stageMany(10);
    // the server holds another file under the second message's name
    const taken = path.join(sshd.root, 'inbox', ms[1]!.typeCode, `${ms[1]!.fcn}.xml`);
    fs.mkdirSync(path.dirname(taken), { recursive: true });
    fs.writeFileSync(taken, 'someone else\'s file');
    const r = await cli('send-now', '--partner', PARTNER);
    expect(r.code).to.equal(1);
    expect(r.out).to.have.length(1);
    expect(r.out[0]).to.match(/: 3 sent, 0 failed, 1 conflict\(s\)/);
    expect(runs('cli')).to.deep.equal(['failed']);
    expect(states(ms).filter((s) => s === 'STAGED')).to.have.length(7);
    expect(fs.readFileSync(taken, 'utf8')).to.equal('someone else\'s file');

    // the server stopped: the cycle fails, and again only one cycle is run
    await sshd.stop();
    try {
      const down = await cli('send-now', '--partner', PARTNER);
      expect(down.code).to.equal(1);
      expect(down.out).to.have.length(1);
      expect(runs('cli')).to.deep.equal(['failed', 'failed']);
    } finally {
      await sshd.start();
    }
  });

  it('waits for the batch cycle the daemon holds, then goes on with its own', async () => {
    setup({ timeoutMs: 30_000 });
    const a = stageForDaemon(2);
    const daemon = startDaemon();
    await daemon.ready();
    // the daemon's cycle claims a and hangs on a server that does not answer
    sshd.freeze();
    createRequest(db, 'send', PARTNER, 'test');
    await daemon.waitForLog('message claimed for a batch');
    const b = stageForDaemon(3);
    const io = watchedIo();
    const running = main(['send-now', '--partner', PARTNER, '--config', env.configPath], io);
    const waiting = await io.waitErr(/waiting for the batch cycle of pid (\d+)/);
    expect(waiting).to.include(`pid ${daemon.pid}`);
    expect(states(b)).to.deep.equal(['STAGED', 'STAGED', 'STAGED']);
    sshd.thaw();
    const code = await running;
    expect(code, io.err_.join('\n')).to.equal(0);
    expect(states([...a, ...b])).to.deep.equal(Array(5).fill('SENT'));
    expect(io.out_).to.have.length(1);
    expect(io.out_[0]).to.match(/: 3 sent, 0 failed/);
    expect(runs('daemon')).to.deep.equal(['ok']);
    expect(runs('cli')).to.deep.equal(['skipped', 'ok']);
    expect(await daemon.terminate()).to.include({ code: 0 });
  });

  it('a CLI that cannot read the key asks the running daemon: request rows, the same summary, exit 0; poll-acks the same', async () => {
    setup({ maxBatchMessages: 2 });
    const creds = keyAsCredential();
    try {
      const ms = stageForDaemon(5);
      const daemon = startDaemon({ CREDENTIALS_DIRECTORY: creds });
      await daemon.ready();
      const r = await cli('send-now', '--partner', PARTNER);
      expect(r.code, [...r.err, ...r.out].join("\n")).to.equal(0);
      expect(states(ms)).to.deep.equal(Array(5).fill('SENT'));
      expect(r.out.slice(0, 3).map((l) => /batch \d+: (\d+) sent/.exec(l)?.[1])).to.deep.equal(['2', '2', '1']);
      expect(r.out[3]).to.equal(`${PARTNER}: 5 sent in 3 batch(es), 0 failed, 0 conflict(s); 5 were uploadable at the start`);
      expect(runs('daemon')).to.deep.equal(['ok', 'ok', 'ok']);
      expect(runs('cli')).to.deep.equal([]);

      // an ack for the first message, polled by the daemon on request
      const ack = path.join(sshd.root, ACK_DIR.slice(1), 'ACK-SN.xml');
      fs.writeFileSync(ack, renderAck({ inputFcn: ms[0]!.fcn, status: 'SUCCESS' }));
      const p = await cli('poll-acks', '--partner', PARTNER);
      expect(p.code, [...p.err, ...p.out].join("\n")).to.equal(0);
      expect(p.out).to.deep.equal([`${PARTNER}: read 1, applied 1, duplicates 0, superseded 0, unmatched 0, invalid 0, skipped 0, errors 0`]);
      expect(state(ms[0]!)).to.equal('ACCEPTED');
      expect(fs.existsSync(ack)).to.equal(false);

      const rows = db.prepare(`SELECT kind, partner, requested_by, requester_pid, started_at, handler_pid, finished_at, outcome FROM run_requests ORDER BY id`).all() as Array<Record<string, unknown>>;
      expect(rows.map((x) => [x.kind, x.partner, x.outcome, x.handler_pid, x.requester_pid])).to.deep.equal([
        ['send', PARTNER, 'ok', daemon.pid, process.pid],
        ['acks', PARTNER, 'ok', daemon.pid, process.pid],
      ]);
      for (const x of rows) {
        expect(x.requested_by).to.be.a('string').and.not.equal('');
        expect(x.started_at).to.be.a('string');
        expect(x.finished_at).to.be.a('string');
      }
      expect(daemon.find('send-now requested: running the batch cycles')).to.include({ partner: PARTNER });

      // the daemon gone: fail fast, naming the key, asking nothing
      expect(await daemon.terminate()).to.include({ code: 0 });
      stageForDaemon(1);
      const t = Date.now();
      const gone = await cli('send-now', '--partner', PARTNER);
      expect(gone.code).to.equal(1);
      expect(Date.now() - t).to.be.below(5000);
      expect(gone.err.join('\n')).to.include(`partners.${PARTNER}.sftp.privateKeyFile (${path.join(env.dir, 'tlbridge-key')})`).and.include('no daemon is running');
      const ackGone = await cli('poll-acks', '--partner', PARTNER);
      expect(ackGone.code).to.equal(1);
      expect(ackGone.err.join('\n')).to.include('no daemon is running');
      expect(db.prepare('SELECT count(*) FROM run_requests').pluck().get()).to.equal(2);
    } finally {
      fs.rmSync(creds, { recursive: true, force: true });
    }
  });

  it('asking a daemon that does not answer: a bounded wait and a clear message; a daemon killed while it works: the CLI notices', async () => {
    setup({ timeoutMs: 30_000 });
    const creds = keyAsCredential();
    try {
      // a live pid that is no tlbridge daemon: the row is never taken
      db.prepare('INSERT INTO daemon_starts (started_at, pid) VALUES (?, ?)').run(new Date().toISOString(), process.pid);
      const io = watchedIo();
      const code = await sendNow(loadConfig(env.configPath), { partner: PARTNER }, io, { ask: { pickupMs: 300, everyMs: 50 } });
      expect(code).to.equal(1);
      expect(io.err_.join('\n')).to.match(/did not take request \d+ within 0\.3 s/).and.include('privateKeyFile');
      expect(db.prepare('SELECT outcome FROM run_requests').pluck().all()).to.deep.equal(['expired']);

      const ms = stageForDaemon(2);
      const daemon = startDaemon({ CREDENTIALS_DIRECTORY: creds });
      await daemon.ready();
      sshd.freeze();
      const io2 = watchedIo();
      const asking = main(['send-now', '--partner', PARTNER, '--config', env.configPath], io2);
      await daemon.waitForLog('message claimed for a batch');
      await daemon.kill9();
      expect(await asking).to.equal(1);
      expect(io2.err_.join('\n')).to.include(`the daemon (pid ${daemon.pid}) ended before it finished request`);
      const last = db.prepare('SELECT outcome, handler_pid FROM run_requests ORDER BY id DESC LIMIT 1').get();
      expect(last).to.deep.equal({ outcome: 'failed', handler_pid: daemon.pid });
      sshd.thaw();
      expect(states(ms)).to.deep.equal(['SENDING', 'SENDING']); // the next start's recovery settles them
    } finally {
      fs.rmSync(creds, { recursive: true, force: true });
    }
  });

  it('poll-acks on a fresh install: exit 0, connects to nothing, creates nothing', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlbridge-fresh-'));
    try {
      const configPath = path.join(dir, 'tlbridge.yaml');
      // a server nobody listens on: any connection attempt would fail the poll
      fs.writeFileSync(
        configPath,
        `sender: { id: "0614141000005", controlNumberPrefix: "F" }
timezone: UTC
dataDir: ./var
inbound:
  - { path: ./drop, layout: erp-delimited }
partners:
  ${PARTNER}:
    receiverId: "0312345000001"
    usage: TEST
    schedule: "${NEVER}"
    ackPoll: "${NEVER}"
    sftp: { host: 127.0.0.1, port: 1, username: nobody, privateKeyFile: ${sshd.privateKeyPath}, hostKeySha256: "${sshd.hostKeySha256}", timeoutMs: 2000 }
`,
      );
      const r = await runCli(['poll-acks', '--config', configPath]);
      expect(r.code, r.err.join('\n')).to.equal(0);
      expect(r.out.join('\n')).to.match(/no ledger yet/);
      expect(fs.readdirSync(dir)).to.deep.equal(['tlbridge.yaml']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
