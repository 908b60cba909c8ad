// Operating it (product.md 9) against a REAL OpenSSH sshd and a real ledger file: hold,
// release, cancel, confirm, dismiss, pause, resume through the command line, the pause gate of
// the daemon's schedulers, and status --check going 0 -> 1 -> 0.
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { startSchedulers } from '../src/batch/scheduler.js';
import { startAckPollers } from '../src/acks/scheduler.js';
import type { Config } from '../src/config/load.js';
import { isPaused } from '../src/ledger/pauses.js';
import { isErrorFileDismissed } from '../src/ledger/dismissals.js';
import { operatorManifestExtra } from '../src/ledger/operator.js';
import { planPrune } from '../src/archive/prune-plan.js';
import { memoryLogger } from './support/memory-logger.js';
import { loginUser, operatorText, sudoUser } from '../src/ledger/operator.js';
import { finishRun, lastDaemonStart, recordDaemonStart, startRun } from '../src/ledger/runs.js';
import { startService } from '../src/cli/run.js';
import { checkHealth } from '../src/monitor/health.js';
import { runCli } from './support/cli.js';
import { ACK_DIR, clearServer, makeAckEnv, PARTNER, renderAck, type AckEnv } from './support/acks.js';
import { LedgerFixtures } from './support/ledger-fixtures.js';
import type { TestSshd } from './support/sshd.js';
import { useSharedSshd } from './support/shared-sshd.js';
import { waitFor } from './support/daemon-env.js';

describe('operator manifests keep their own fields (pure)', () => {
  it('an extra field named like one of the manifest\'s own (kind, command, at, ...) is refused; others pass', () => {
    expect(operatorManifestExtra({ dismissedKind: 'message', partner: 'P' })).to.deep.equal({ dismissedKind: 'message', partner: 'P' });
    expect(operatorManifestExtra(undefined)).to.deep.equal({});
    for (const k of ['kind', 'id', 'files', 'command', 'reason', 'osUser', 'at']) expect(() => operatorManifestExtra({ [k]: 'x' }), k).to.throw(/would overwrite/);
  });
});

describe('operating: hold, release, cancel, confirm, dismiss, pause, resume, status --check (real sshd)', function () {
  let sshd: TestSshd;
  let env: AckEnv;
  let fx: LedgerFixtures;
  let testNo = 0;

  useSharedSshd(['/inbox', ACK_DIR], { ready: (s) => (sshd = s) });
  beforeEach(() => {
    clearServer(sshd);
    const inbox = path.join(sshd.root, 'inbox');
    for (const e of fs.readdirSync(inbox)) fs.rmSync(path.join(inbox, e), { recursive: true, force: true });
    env = makeAckEnv(sshd);
    fx = new LedgerFixtures(env.db, env.config.dataDir, `OP${String(++testNo).padStart(2, '0')}`);
  });
  afterEach(async () => {
    await env.close();
  });

  const cli = (...args: string[]) => runCli([...args, '--config', env.configPath]);
  const onServer = (m: { typeCode: string; fcn: string }) => fs.existsSync(path.join(sshd.root, 'inbox', m.typeCode, `${m.fcn}.xml`));
  const state = (id: number) => env.message(id).state;
  const check = async () => {
    const r = await cli('status', '--check');
    const j = await cli('status', '--check', '--json');
    return { code: r.code, lines: r.out, json: JSON.parse(j.out[0]!) as { healthy: boolean; problems: Array<{ kind: string; partner: string | null; subject: string | null; message: string }> }, jsonCode: j.code };
  };
  /** one message uploaded by send-now: SENT */
  const sent = async () => {
    const m = fx.stage();
    expect((await cli('send-now', '--partner', PARTNER)).code).to.equal(0);
    expect(state(m.id)).to.equal('SENT');
    return m;
  };

  it('a held message stays on our side while the others are sent; released, it goes in the next cycle', async () => {
    const [a, b, c] = fx.stageMany(3);
    const hold = await cli('hold', String(b!.id), '--reason', 'wrong lot (ticket 1)');
    expect(hold.code, hold.err.join('\n')).to.equal(0);
    expect(hold.out[0]).to.match(/STAGED -> HELD/);
    expect(state(b!.id)).to.equal('HELD');

    const sn = await cli('send-now', '--partner', PARTNER);
    expect(sn.code, 'HELD messages are reported, not errors').to.equal(0);
    expect(sn.out[0]).to.match(/: 2 sent, .*; 1 HELD message\(s\) wait for release$/);
    expect([onServer(a!), onServer(b!), onServer(c!)]).to.deep.equal([true, false, true]);
    expect(state(b!.id)).to.equal('HELD');

    expect((await cli('hold', String(b!.id), '--reason', 'again')).code, 'a HELD message cannot be held').to.equal(1);
    const rel = await cli('release', b!.fcn, '--reason', 'lot confirmed');
    expect(rel.code, rel.err.join('\n')).to.equal(0);
    expect(state(b!.id)).to.equal('STAGED');
    expect((await cli('send-now', '--partner', PARTNER)).code).to.equal(0);
    expect(onServer(b!)).to.equal(true);
    expect(state(b!.id)).to.equal('SENT');

    // both actions recorded, with the login user columns, in the ledger and the archive chain
    const actions = env.db.prepare(`SELECT command, target, reason, os_user, login_user, sudo_user FROM operator_actions ORDER BY id`).all() as Record<string, unknown>[];
    expect(actions.map((x) => [x.command, x.target, x.reason])).to.deep.equal([
      ['hold', b!.fcn, 'wrong lot (ticket 1)'],
      ['release', b!.fcn, 'lot confirmed'],
    ]);
    expect(actions[0]).to.have.property('login_user');
    expect(actions[0]).to.have.property('sudo_user');
    const manifests = env.db.prepare(`SELECT kind FROM manifests WHERE kind = 'operator'`).all();
    expect(manifests).to.have.length(2);
    const details = env.transitions(b!.id).map((t) => `${t.from_state}->${t.to_state} ${t.detail ?? ''}`);
    expect(details.some((d) => /^STAGED->HELD hold by \S+.*wrong lot/.test(d)), details.join('\n')).to.equal(true);
    expect((await cli('audit', 'verify')).code).to.equal(0);
  });

  it('a cancelled message never goes; release of a cancelled message exits 1; its staged reversals never go and are listed', async () => {
    const orig = fx.stage({ referenceDoc: 'REF-CANCEL' });
    const rev = fx.stage({ messageType: 'MATERIALS_PRODUCED_REVERSAL', originalRef: 'REF-CANCEL' });
    const other = fx.stage();
    const r = await cli('cancel', String(orig.id), '--reason', 'duplicate export');
    expect(r.code, r.err.join('\n')).to.equal(0);
    expect(r.out[0]).to.include(rev.fcn);
    expect(state(orig.id)).to.equal('CANCELLED');

    const rel = await cli('release', String(orig.id), '--reason', 'oops');
    expect(rel.code).to.equal(1);
    expect(rel.err[0]).to.match(/CANCELLED/);
    expect((await cli('cancel', String(orig.id), '--reason', 'twice')).code).to.equal(1);
    expect((await cli('hold', '999999', '--reason', 'unknown')).code).to.equal(1);
    expect(await cli('hold', String(other.id))).to.include({ code: 2 });

    expect((await cli('send-now', '--partner', PARTNER)).code).to.equal(0);
    expect([onServer(orig), onServer(rev), onServer(other)]).to.deep.equal([false, false, true]);
    expect([state(orig.id), state(rev.id)]).to.deep.equal(['CANCELLED', 'STAGED']);

    const s = JSON.parse((await cli('status', '--json')).out[0]!) as { reversalsBlocked: number };
    expect(s.reversalsBlocked).to.equal(1);
    const c = await check();
    expect(c.code).to.equal(1);
    expect(c.json.problems.filter((p) => p.kind === 'reversal-blocked').map((p) => p.subject)).to.deep.equal([String(rev.id)]);
  });

  it('confirm of a SENT message; only SENT; exactly one of --accepted and --rejected', async () => {
    const m = await sent();
    expect((await cli('confirm', String(m.id), '--reason', 'neither')).code).to.equal(2);
    expect((await cli('confirm', String(m.id), '--accepted', '--rejected', '--reason', 'both')).code).to.equal(2);
    const r = await cli('confirm', String(m.id), '--accepted', '--reason', 'partner confirmed by mail');
    expect(r.code, r.err.join('\n')).to.equal(0);
    expect(state(m.id)).to.equal('ACCEPTED');
    expect((await cli('confirm', String(m.id), '--rejected', '--reason', 'again')).code).to.equal(1);
    const staged = fx.stage();
    expect((await cli('confirm', String(staged.id), '--accepted', '--reason', 'not sent')).code).to.equal(1);
  });

  it('a paused partner: send-now and poll-acks skip it (exit 1 when named), the schedulers skip its slots across restarts; resumed, it runs', async () => {
    const m = fx.stage();
    const p = await cli('pause', PARTNER, '--reason', 'partner maintenance');
    expect(p.code, p.err.join('\n')).to.equal(0);
    expect((await cli('pause', PARTNER, '--reason', 'twice')).code, 'pausing a paused partner').to.equal(1);
    expect((await cli('pause', 'NOBODY', '--reason', 'x')).code).to.equal(1);

    const sn = await cli('send-now', '--partner', PARTNER);
    expect(sn.code).to.equal(1);
    expect(sn.out.join('\n')).to.match(/paused/);
    expect((await cli('send-now')).code, 'the sweep over all partners is no failure').to.equal(0);
    expect(onServer(m)).to.equal(false);
    env.put('ACK1.xml', renderAck({ inputFcn: 'NOBODY0000001' }));
    expect((await cli('poll-acks', '--partner', PARTNER)).code).to.equal(1);
    expect(env.serverFiles()).to.deep.equal(['ACK1.xml']);

    const st = JSON.parse((await cli('status', '--json')).out[0]!) as { partners: Array<Record<string, unknown>> };
    expect(st.partners[0]).to.include({ partner: PARTNER, paused: true, pauseReason: 'partner maintenance' });
    expect(st.partners[0]!.pausedAt).to.be.a('string');
    expect(st.partners[0]!.pausedBy).to.be.a('string');
    const c = await check();
    expect(c.code).to.equal(1);
    expect(c.json.problems.map((x) => x.kind)).to.include('paused');

    // the daemon's runners, started after the pause (a restart), skip every slot
    const config: Config = { ...env.config, partners: { [PARTNER]: { ...env.config.partners[PARTNER]!, schedule: '* * * * * *', ackPoll: '* * * * * *' } } };
    const log = memoryLogger();
    const batch = startSchedulers({ db: env.db, config, archive: env.archive, logger: log });
    const acks = startAckPollers({ db: env.db, config, archive: env.archive, logger: log });
    try {
      await waitFor('a paused batch slot', () => log.entries.some((e) => e.message === 'batch cycle skipped: the partner is paused'));
      await waitFor('a paused ack slot', () => log.entries.some((e) => e.message === 'ack poll skipped: the partner is paused'));
      const daemonRuns = env.db.prepare(`SELECT COUNT(*) AS n FROM runs WHERE origin = 'daemon'`).get() as { n: number };
      expect(daemonRuns.n, 'no cycle and no poll ran').to.equal(0);
      expect(state(m.id)).to.equal('STAGED');
      expect(env.serverFiles()).to.deep.equal(['ACK1.xml']);

      const r = await cli('resume', PARTNER, '--reason', 'maintenance over');
      expect(r.code, r.err.join('\n')).to.equal(0);
      expect(isPaused(env.db, PARTNER)).to.equal(false);
      await waitFor('the cycle after resume', () => state(m.id) === 'SENT');
      await waitFor('the poll after resume', () => env.serverFiles().length === 0);
    } finally {
      await batch.stop();
      await acks.stop();
    }
    const daemonRuns = env.db.prepare(`SELECT DISTINCT kind, outcome FROM runs WHERE origin = 'daemon' ORDER BY kind`).all();
    expect(daemonRuns, 'the daemon records its cycles and polls').to.deep.include.members([
      { kind: 'acks', outcome: 'ok' },
      { kind: 'batch', outcome: 'ok' },
    ]);
    expect((await cli('resume', PARTNER, '--reason', 'twice')).code).to.equal(1);
    expect(onServer(m)).to.equal(true);
  });

  it('no completed cycle for 3 fire times since the daemon start is a problem and its restart; a completed empty cycle clears it, a failed one is its own problem', async () => {
    const config: Config = { ...env.config, partners: { [PARTNER]: { ...env.config.partners[PARTNER]!, schedule: '*/5 * * * *', ackPoll: '0 0 1 1 *' } } };
    const now = new Date('2026-12-02T12:00:00.000Z');
    recordDaemonStart(env.db, '2026-12-02T11:44:00.000Z'); // fires 11:45, 11:50, 11:55: three passed
    expect(checkHealth(config, env.db, now).problems.map((p) => p.kind)).to.deep.equal(['batch-missed']);
    recordDaemonStart(env.db, '2026-12-02T11:46:00.000Z'); // a restart: 11:50, 11:55, 12:00 (12:00 is now)
    expect(checkHealth(config, env.db, now).problems.map((p) => p.kind)).to.deep.equal(['batch-missed']);
    expect(checkHealth(config, env.db, new Date('2026-12-02T11:59:59.000Z')).healthy).to.equal(true);
    // an empty cycle completes: nothing to send is no problem
    finishRun(env.db, startRun(env.db, 'batch', PARTNER, 'daemon', '2026-12-02T11:55:00.000Z'), 'ok', null, '2026-12-02T11:55:01.000Z');
    expect(checkHealth(config, env.db, now).healthy).to.equal(true);
    // a failed one is its own problem
    finishRun(env.db, startRun(env.db, 'batch', PARTNER, 'daemon', '2026-12-02T11:59:00.000Z'), 'failed', 'ECONNREFUSED', '2026-12-02T11:59:01.000Z');
    expect(checkHealth(config, env.db, now).problems.map((p) => p.kind)).to.deep.equal(['batch-failed']);
  });

  it('the daemon records its start in the ledger', async () => {
    const { daemon } = await startService(env.config, memoryLogger());
    try {
      const rows = env.db.prepare('SELECT pid FROM daemon_starts').all();
      expect(rows).to.deep.equal([{ pid: process.pid }]);
      expect(lastDaemonStart(env.db)).to.be.a('string');
    } finally {
      await daemon.stop();
    }
  });

  /** the archived manifest of the dismiss of `target`, as JSON */
  const dismissManifest = (target: string): Record<string, unknown> => {
    const rel = env.db
      .prepare(`SELECT mf.path FROM operator_actions o JOIN manifests mf ON mf.kind = 'operator' AND mf.ref = CAST(o.id AS TEXT) WHERE o.command = 'dismiss' AND o.target = ?`)
      .pluck()
      .get(target) as string;
    return JSON.parse(fs.readFileSync(path.join(env.config.dataDir, 'archive', rel), 'utf8')) as Record<string, unknown>;
  };

  it('status --check goes 0 -> 1 -> 0 as an error file appears and is dismissed', async () => {
    const c0 = await check();
    expect(c0.code, c0.lines.join('\n')).to.equal(0);
    expect(c0.lines).to.deep.equal(['TLBRIDGE OK']);
    expect(c0.json).to.deep.equal({ healthy: true, problems: [] });

    const errorDir = path.join(env.config.dataDir, 'error');
    fs.mkdirSync(errorDir, { recursive: true });
    fs.writeFileSync(path.join(errorDir, 'export-0412.txt'), 'bad\n');
    fs.writeFileSync(path.join(errorDir, 'export-0412.txt.error.txt'), 'line 1: bad\n');
    const c1 = await check();
    expect(c1.code).to.equal(1);
    expect(c1.jsonCode).to.equal(1);
    expect(c1.lines[0]).to.equal('TLBRIDGE PROBLEM: 1 problem(s)');
    expect(c1.lines[1]).to.match(/^error-file: .*export-0412\.txt/);
    expect(c1.json.problems).to.deep.equal([{ kind: 'error-file', partner: null, subject: 'export-0412.txt', message: c1.json.problems[0]!.message }]);

    expect((await cli('dismiss', 'export-0412.txt')).code, 'no --reason').to.equal(2);
    const d = await cli('dismiss', 'export-0412.txt', '--reason', 'ERP re-exported it');
    expect(d.code, d.err.join('\n')).to.equal(0);
    expect(fs.existsSync(path.join(errorDir, 'export-0412.txt')), 'the file stays').to.equal(true);
    expect(isErrorFileDismissed(env.db, 'export-0412.txt')).to.equal(true);
    expect((await cli('dismiss', path.join(errorDir, 'export-0412.txt'), '--reason', 'twice, by its path')).code).to.equal(1);
    expect((await cli('dismiss', 'no-such-file.txt', '--reason', 'x')).code).to.equal(1);
    expect((await check()).code).to.equal(0);
    // the archive documents it as an operator manifest; what was dismissed is under its own key
    expect(dismissManifest('export-0412.txt')).to.deep.include({ kind: 'operator', command: 'dismiss', dismissedKind: 'error_file', reason: 'ERP re-exported it' });
  });

  it('status --check goes 0 -> 1 -> 0 as a rejection comes in and is dismissed, and as an unmatched ack does', async () => {
    const m = await sent();
    expect((await check()).code).to.equal(0);
    env.put('ACK-REJ.xml', renderAck({ inputFcn: m.fcn, status: 'ERROR', errors: [{ code: 'E1', class: 1, message: 'bad lot' }] }));
    expect((await cli('poll-acks', '--partner', PARTNER)).code).to.equal(0);
    expect(state(m.id)).to.equal('REJECTED');
    const c1 = await check();
    expect(c1.code).to.equal(1);
    expect(c1.json.problems.map((p) => [p.kind, p.subject])).to.deep.equal([['rejected', String(m.id)]]);
    expect((await cli('dismiss', `message:${m.id}`, '--reason', 'reissued as a new document')).code).to.equal(0);
    expect((await check()).code).to.equal(0);

    env.put('ACK-UNM.xml', renderAck({ inputFcn: 'NOSUCH000000001', ackFcn: 'ACK000000009' }));
    expect((await cli('poll-acks', '--partner', PARTNER)).code).to.equal(0);
    const c2 = await check();
    expect(c2.code).to.equal(1);
    const ack = c2.json.problems[0]!;
    expect(ack.kind).to.equal('unmatched-ack');
    expect((await cli('dismiss', `ack:${ack.subject}`, '--reason', 'not ours')).code).to.equal(0);
    expect((await check()).code).to.equal(0);
    expect(dismissManifest(String(m.id))).to.deep.include({ kind: 'operator', dismissedKind: 'message', partner: PARTNER });
    // retention still reads it: the dismiss's folder names the message it dismissed;
    const plan = planPrune(path.join(env.config.dataDir, 'archive'), env.db, '9999-12-31T00:00:00.000Z', new Map());
    const dir = path.dirname(env.db.prepare(`SELECT mf.path FROM operator_actions o JOIN manifests mf ON mf.kind = 'operator' AND mf.ref = CAST(o.id AS TEXT) WHERE o.command = 'dismiss' AND o.target = ?`).pluck().get(String(m.id)) as string);
    // a prune of everything older than the year 9999 keeps it while its message stays (without
    // the message named, it went by age, and the message's record lost its dismissal)
    expect(plan.folders.map((f) => f.dir)).not.to.include(dir);
    expect(plan.kept.get(dir), JSON.stringify([...plan.kept])).to.be.a('string');
    expect(dismissManifest(ack.subject!)).to.deep.include({ kind: 'operator', dismissedKind: 'ack' });

    // every cycle and poll of this test is in the runs table, with its outcome
    const runs = env.db.prepare(`SELECT kind, origin, outcome FROM runs ORDER BY id`).all();
    expect(runs).to.deep.equal([
      { kind: 'batch', origin: 'cli', outcome: 'ok' },
      { kind: 'acks', origin: 'cli', outcome: 'ok' },
      { kind: 'acks', origin: 'cli', outcome: 'ok' },
    ]);
  });
});

describe('operating: who is behind an operator action', () => {
  it('shows the login user when it differs from the OS user, and SUDO_USER', () => {
    expect(operatorText({ osUser: 'tlbridge', loginUser: null, sudoUser: null })).to.equal('tlbridge');
    expect(operatorText({ osUser: 'alice', loginUser: 'alice', sudoUser: null })).to.equal('alice');
    expect(operatorText({ osUser: 'tlbridge', loginUser: 'alice', sudoUser: 'alice' })).to.equal('tlbridge (login alice, sudo from alice)');
  });

  it('reads SUDO_USER from the environment, and the login user from /proc/self/loginuid (null when unset)', () => {
    const saved = process.env.SUDO_USER;
    try {
      process.env.SUDO_USER = 'bob';
      expect(sudoUser()).to.equal('bob');
      delete process.env.SUDO_USER;
      expect(sudoUser()).to.equal(null);
    } finally {
      if (saved !== undefined) process.env.SUDO_USER = saved;
    }
    const raw = fs.existsSync('/proc/self/loginuid') ? fs.readFileSync('/proc/self/loginuid', 'utf8').trim() : '4294967295';
    if (raw === '4294967295') expect(loginUser()).to.equal(null);
    else expect(loginUser()).to.be.a('string').and.not.equal('');
  });
});
