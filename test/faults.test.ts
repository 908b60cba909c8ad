// Faults of the world around the daemon (issue 10, 8), each against the real thing: the real
// OpenSSH sshd (test/support/sshd.ts) refusing writes or renames, or with a full disk (a small
// tmpfs); the real file system under the data folder running full; a drop folder removed while
// the daemon runs. Each ends with a clear log line, no crash, nothing lost, and delivery (or
// conversion) once the fault is gone. The remote faults drive the batch cycle directly; the
// local ones run the daemon as a real process, since they are about the daemon staying up.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Archive } from '../src/archive/archive.js';
import { oneShotPool, runBatchCycle, type BatchCycleResult } from '../src/batch/cycle.js';
import { openLedger, type Db } from '../src/ledger/db.js';
import type Database from 'better-sqlite3';
import { BIN, DaemonProcess, filesUnder, producedFile, readLedger, REPO, refs } from './support/daemon-process.js';
import { makeEnv, type TestEnv } from './support/daemon-env.js';
import { LedgerFixtures, type StagedFixture } from './support/ledger-fixtures.js';
import { startSshd, sshdUnavailableReason, type TestSshd } from './support/sshd.js';

const P = 'ACME-PHARMA';
const TYPE_DIR = '/inbox/MATERIALS_PRODUCED';

/** `mount -t tmpfs -o size=<size>` on `dir`; the reason when it is refused (not root, no permission). */
function mountTmpfs(dir: string, size: string): string | null {
  fs.mkdirSync(dir, { recursive: true });
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.error) return `mount: ${r.error.message}`;
  if (r.status !== 0) return `mount -t tmpfs refused: ${(r.stderr || '').trim() || `exit ${r.status}`}`;
  return null;
}

function umount(dir: string): void {
  spawnSync('umount', ['-l', dir], { encoding: 'utf8' });
}

function remountTmpfs(dir: string, size: string): void {
  const r = spawnSync('mount', ['-o', `remount,size=${size}`, dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`remount of ${dir} failed: ${r.stderr}`);
}

describe('faults: the partner server refuses or runs full (real sshd)', function () {
  this.timeout(120_000);
  let sshd: TestSshd;
  let env: TestEnv;
  let db: Db;
  let archive: Archive;
  let fx: LedgerFixtures;
  let round = 0;
  const mounts: string[] = [];

  before(async function () {
    const why = sshdUnavailableReason();
    if (why) {
      console.log(`      SKIPPED: no private OpenSSH sshd on this machine: ${why}`);
      this.skip();
    }
    sshd = await startSshd({ dirs: [TYPE_DIR, '/outbox/IE_PROCESSING_RESPONSE'] });
  });

  after(async function () {
    for (const m of mounts.splice(0)) umount(m);
    if (sshd) await sshd.dispose();
  });

  beforeEach(async function () {
    round++;
    env = makeEnv({
      partnerSftp: `{ host: 127.0.0.1, port: ${sshd.port}, username: ${sshd.username}, privateKeyFile: ${sshd.privateKeyPath}, hostKeySha256: "${sshd.hostKeySha256}", inboxDir: /inbox, tempSuffix: .part, connections: 2, timeoutMs: 5000 }`,
    });
    db = openLedger(path.join(env.config.dataDir, 'ledger.sqlite'));
    archive = new Archive(path.join(env.config.dataDir, 'archive'), db);
    fx = new LedgerFixtures(db, env.config.dataDir, `F${round}`);
  });

  afterEach(async function () {
    if (sshd) await restartWith({}); // a test that failed half-way may have left a fault in force
    db?.close();
    env?.dispose();
  });

  /** one batch cycle as the CLI runs it: its own pool, closed afterwards */
  const cycle = async (): Promise<BatchCycleResult> => {
    const pool = oneShotPool(env.config, P);
    if ('error' in pool) throw new Error(pool.error);
    try {
      return await runBatchCycle({ origin: 'cli', db, config: env.config, archive, partner: P, logger: env.logger, pool });
    } finally {
      await pool.close();
    }
  };
  const serverDir = (): string => path.join(sshd.root, TYPE_DIR);
  const serverNames = (): string[] => fs.readdirSync(serverDir()).sort();
  const finalName = (m: StagedFixture): string => `${m.fcn}.xml`;
  const states = (msgs: StagedFixture[]): string[] =>
    msgs.map((m) => (db.prepare('SELECT state FROM messages WHERE id = ?').get(m.id) as { state: string }).state);
  const lastErrors = (msgs: StagedFixture[]): string[] =>
    msgs.map((m) => (db.prepare('SELECT last_error FROM messages WHERE id = ?').get(m.id) as { last_error: string | null }).last_error ?? '');
  /** sshd restarted with `r`: a fault brought in, or lifted ({}) */
  const restartWith = async (r: Parameters<TestSshd['reconfigure']>[0]): Promise<void> => {
    await sshd.stop();
    sshd.reconfigure(r);
    await sshd.start();
  };
  const expectDelivered = (msgs: StagedFixture[]): void => {
    expect(states(msgs)).to.deep.equal(msgs.map(() => 'SENT'));
    for (const m of msgs) expect(fs.readFileSync(path.join(serverDir(), finalName(m))).equals(m.content), `${m.fcn} exact bytes`).to.equal(true);
    expect(archive.verify()).to.deep.equal([]);
  };

  it('a read-only inbox, then refused renames: the cycle fails naming the path, messages back to STAGED, delivered once lifted', async function () {
    const msgs = fx.stageMany(3);
    await restartWith({ readOnly: true });
    const r1 = await cycle();
    expect(r1.sent).to.equal(0);
    expect(r1.failed).to.equal(3);
    expect(states(msgs)).to.deep.equal(['STAGED', 'STAGED', 'STAGED']);
    for (const [i, e] of lastErrors(msgs).entries()) {
      expect(e).to.contain(`${TYPE_DIR}/${msgs[i]!.fcn}.xml.part`).and.match(/permission denied/i);
    }
    const logged = env.logs.filter((l) => l.level === 'error' && l.msg === 'message back to STAGED');
    expect(logged).to.have.length(3);
    expect(String(logged[0]!.fields?.error)).to.match(/put \/inbox\/MATERIALS_PRODUCED\/F\d+\d{12}\.xml\.part: .*permission denied/i);
    expect(serverNames()).to.deep.equal([]);

    // writes allowed, renames refused: the temp files land, no final name ever appears
    await restartWith({ forbidden: ['rename', 'posix-rename'] });
    const r2 = await cycle();
    expect(r2.sent).to.equal(0);
    expect(states(msgs)).to.deep.equal(['STAGED', 'STAGED', 'STAGED']);
    for (const [i, e] of lastErrors(msgs).entries()) expect(e).to.contain(`rename ${TYPE_DIR}/${msgs[i]!.fcn}.xml.part`);
    expect(serverNames()).to.deep.equal(msgs.map((m) => `${finalName(m)}.part`).sort());

    // the fault lifted: one cycle delivers all, over the stale temp files, each once
    await restartWith({});
    const r3 = await cycle();
    expect(r3.error).to.equal(undefined);
    expect(r3.sent).to.equal(3);
    expectDelivered(msgs);
    expect(serverNames()).to.deep.equal(msgs.map(finalName).sort());
  });

  it('a remote disk that fills (1 MB tmpfs): no partial final file, the rest back to STAGED, delivered once there is space', async function () {
    const why = mountTmpfs(serverDir(), '1m');
    if (why) {
      console.log(`      PENDING: ${why}`);
      this.skip();
    }
    mounts.push(serverDir());
    const msgs = fx.stageMany(24, { bytes: 90_000 }); // ~2.1 MB for 1 MB
    const r1 = await cycle();
    expect(r1.sent).to.be.greaterThan(0).and.lessThan(msgs.length);
    expect(r1.sent + r1.failed).to.equal(msgs.length);
    const sent = msgs.filter((_, i) => states(msgs)[i] === 'SENT');
    const staged = msgs.filter((_, i) => states(msgs)[i] === 'STAGED');
    expect(sent.length + staged.length).to.equal(msgs.length);
    // whatever is under a final name is whole; a failed one has at most a temp file
    for (const m of sent) expect(fs.readFileSync(path.join(serverDir(), finalName(m))).equals(m.content)).to.equal(true);
    for (const m of staged) expect(fs.existsSync(path.join(serverDir(), finalName(m))), `${m.fcn} has no final file`).to.equal(false);
    expect(serverNames().filter((n) => !n.endsWith('.part'))).to.deep.equal(sent.map(finalName).sort());
    const errs = env.logs.filter((l) => l.level === 'error' && l.msg === 'message back to STAGED').map((l) => String(l.fields?.error));
    expect(errs.length).to.equal(staged.length);
    // OpenSSH reports ENOSPC as a generic FAILURE (or the size check after the write catches the
    // short file): the log names the path and says what may be wrong
    expect(errs.every((e) => e.includes(`${TYPE_DIR}/`) && e.includes('.xml.part')), errs.join('\n')).to.equal(true);
    expect(errs.every((e) => /disk may be full|failure/i.test(e)), errs.join('\n')).to.equal(true);

    // space freed: the next cycle delivers the rest, each once, over the stale temp files
    remountTmpfs(serverDir(), '8m');
    const r2 = await cycle();
    expect(r2.error).to.equal(undefined);
    expect(r2.sent).to.equal(staged.length);
    expectDelivered(msgs);
    expect(serverNames()).to.deep.equal(msgs.map(finalName).sort());
    umount(serverDir());
    mounts.splice(mounts.indexOf(serverDir()), 1);
  });
});


describe('faults: the local file system (the daemon as a real process)', function () {
  this.timeout(180_000);
  let env: TestEnv;
  let daemons: DaemonProcess[];
  const mounts: string[] = [];
  let seq = 0;

  beforeEach(function () {
    env = makeEnv({ stableMs: 200 });
    daemons = [];
  });

  afterEach(async function () {
    for (const d of daemons) if (d.running) await d.kill9();
    for (const m of mounts.splice(0)) umount(m);
    env.dispose();
  });

  const start = async (): Promise<DaemonProcess> => {
    const d = new DaemonProcess(env.configPath);
    daemons.push(d);
    await d.ready();
    return d;
  };
  const data = (sub: string): string => path.join(env.config.dataDir, sub);
  /** written beside, then renamed in, as an ERP export should */
  const drop = (name: string, content: string, folder = env.inbound): void => {
    const tmp = path.join(env.dir, `stage-${++seq}`);
    fs.writeFileSync(tmp, content);
    fs.renameSync(tmp, path.join(folder, name));
  };
  const ledger = <T>(fn: (db: Database.Database) => T): T => readLedger(data('ledger.sqlite'), fn)!;
  const fileRow = (name: string) =>
    ledger((db) => db.prepare('SELECT id, state, messages, error_path FROM files WHERE name = ? ORDER BY id DESC').get(name) as { id: number; state: string; messages: number; error_path: string | null } | undefined);
  const messagesOf = (fileId: number): Record<string, number> =>
    Object.fromEntries(
      ledger((db) => db.prepare('SELECT state, count(*) AS n FROM messages WHERE file_id = ? GROUP BY state').all(fileId) as { state: string; n: number }[]).map((r) => [r.state, r.n]),
    );
  const converted = (d: DaemonProcess, name: string) => d.waitForLog((l) => l.message === 'file converted' && l.file === name, 60_000);

  it("the data dir's disk runs full while converting: the file is kept whole, the daemon stays up, and it converts once there is space", async function () {
    const outbox = data('outbox');
    const why = mountTmpfs(outbox, '2m');
    if (why) {
      console.log(`      PENDING: ${why}`);
      this.skip();
    }
    mounts.push(outbox);
    const d = await start();
    const big = producedFile(refs('FULL', 1000), 'EXP-FULL'); // ~1000 outbox files: far more than 2 MB of tmpfs pages
    drop('full.txt', big);
    const failed = await d.waitForLog((l) => l.level === 'error' && /intake failed/.test(l.message), 60_000);
    expect(String(failed.error)).to.contain('ENOSPC').and.contain(outbox);
    expect(d.running).to.equal(true);
    // never lost: the input is still in work/ (or in error/ with its report), byte for byte
    const kept = [...filesUnder(data('work')).map((f) => path.join(data('work'), f)), ...filesUnder(data('error')).filter((f) => !f.endsWith('.error.json')).map((f) => path.join(data('error'), f))];
    expect(kept, 'the input is kept').to.have.length(1);
    expect(fs.readFileSync(kept[0]!, 'utf8')).to.equal(big);
    // never half-staged: the file is not CONVERTED, no message of it is STAGED, no outbox file is left over
    const row = fileRow('full.txt')!;
    expect(row.state).to.not.equal('CONVERTED');
    expect(messagesOf(row.id)).to.deep.equal({});
    expect(filesUnder(outbox), 'the outbox files of the failed conversion are removed').to.deep.equal([]);

    // the daemon goes on: a small file converts (the space of the failed conversion was given back)
    drop('small.txt', producedFile(refs('SMALL', 2), 'EXP-SMALL'));
    await converted(d, 'small.txt');
    expect(messagesOf(fileRow('small.txt')!.id)).to.deep.equal({ STAGED: 2 });

    // space freed; the kept file is converted, whole: from work/ at the next start, or (had
    // intake given it up as an internal error) from error/ by the operator's reprocess
    remountTmpfs(outbox, '16m');
    expect((await d.terminate())?.code).to.equal(0);
    const d2 = await start();
    const inError = filesUnder(data('error')).find((f) => f.endsWith('full.txt'));
    if (inError) {
      const r = spawnSync(process.execPath, [BIN, 'reprocess', inError, '--reason', 'disk space freed', '--config', env.configPath], { cwd: REPO, encoding: 'utf8' });
      expect(r.status, r.stderr).to.equal(0);
    } else if (fileRow('full.txt')!.state !== 'CONVERTED') await converted(d2, 'full.txt');
    expect(messagesOf(fileRow('full.txt')!.id)).to.deep.equal({ STAGED: 1000 });
    expect(filesUnder(data('work'))).to.deep.equal([]);
    expect(d2.running).to.equal(true);
  });

  it('a drop folder deleted and recreated while the daemon runs: logged, the daemon keeps running, a file dropped afterwards is picked up', async function () {
    const d = await start();
    drop('before.txt', producedFile(refs('BEFORE', 1), 'EXP-BEFORE'));
    await converted(d, 'before.txt');

    fs.rmSync(env.inbound, { recursive: true });
    const gone = await d.waitForLog((l) => /drop folder/.test(l.message) && l.inbound === env.inbound && l.level === 'error');
    expect(String(gone.error)).to.match(/ENOENT/);
    expect(d.running).to.equal(true);

    fs.mkdirSync(env.inbound);
    drop('after.txt', producedFile(refs('AFTER', 3), 'EXP-AFTER'));
    await d.waitForLog((l) => l.message.startsWith('drop folder readable again') && l.inbound === env.inbound);
    await converted(d, 'after.txt');
    expect(messagesOf(fileRow('after.txt')!.id)).to.deep.equal({ STAGED: 3 });
    expect(d.running).to.equal(true);
    // said once while it was missing, not at every rescan
    const from = d.logs.indexOf(gone);
    expect(d.logs.slice(from).filter((l) => /drop folder/.test(l.message) && l.level === 'error')).to.have.length(1);
  });
});
