// The service side of operating tlbridge (product.md 6, 9): /metrics and /healthz, backup and
// restore of the ledger (a restored ledger never hands out a used FileControlNumber), SIGHUP
// reload. Real daemon (in-process and as a child process), real SQLite files, real HTTP.
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { backup, backupLedger } from '../src/cli/backup.js';
import { reloadService, startService, type RunningService } from '../src/cli/run.js';
import { parseListen } from '../src/config/listen.js';
import { ConfigError, loadConfig } from '../src/config/load.js';
import { startDaemon, type Daemon } from '../src/daemon.js';
import { highestUsedSequence, sequenceOfFileName } from '../src/ledger/fcn-floor.js';
import { MESSAGE_STATES } from '../src/ledger/ledger.js';
import { startMonitorServer } from '../src/monitor/http.js';
import { nullLogger } from '../src/log.js';
import { connectFailureText } from '../src/transport/session.js';
import { DaemonProcess, producedFile, refs } from './support/daemon-process.js';
import { makeEnv, waitFor, type TestEnv } from './support/daemon-env.js';

const PARTNER = 'ACME-PHARMA';

const get = async (port: number, p: string): Promise<{ status: number; body: string; type: string }> => {
  const r = await fetch(`http://127.0.0.1:${port}${p}`);
  return { status: r.status, body: await r.text(), type: r.headers.get('content-type') ?? '' };
};
const sample = (text: string, series: string): number | undefined => {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};
const fcns = (db: Database.Database): string[] => (db.prepare('SELECT fcn FROM messages ORDER BY fcn').all() as { fcn: string }[]).map((r) => r.fcn);
const convertedCount = (d: Daemon) => () =>
  (d.db.prepare(`SELECT COUNT(*) AS n FROM files WHERE state = 'CONVERTED'`).get() as { n: number }).n;
const drop = (env: TestEnv, name: string, content: string): void => {
  const tmp = path.join(env.dir, `.${name}`);
  fs.writeFileSync(tmp, content);
  fs.renameSync(tmp, path.join(env.inbound, name));
};

describe('metrics.listen (product.md 2, 9)', () => {
  it('parses PORT as loopback, HOST:PORT and [IPv6]:PORT, and refuses host names and an empty host', () => {
    expect(parseListen('9464')).to.deep.equal({ host: '127.0.0.1', port: 9464 });
    expect(parseListen('127.0.0.1:9464')).to.deep.equal({ host: '127.0.0.1', port: 9464 });
    expect(parseListen('[::1]:9464')).to.deep.equal({ host: '::1', port: 9464 });
    expect(parseListen('0.0.0.0:9464')).to.deep.equal({ host: '0.0.0.0', port: 9464 });
    expect(parseListen('localhost:9464')).to.deep.equal({ host: 'localhost', port: 9464 });
    expect(parseListen('metrics.example.net:9464')).to.be.a('string').and.match(/not an IP address/);
    expect(parseListen(':9464')).to.be.a('string');
    expect(parseListen('[::1]')).to.be.a('string');
    expect(parseListen('127.0.0.1:99999')).to.match(/out of range/);
  });

  it('is validated with the config, by key path', () => {
    const env = makeEnv();
    fs.appendFileSync(env.configPath, '\nmetrics: { listen: "metrics.example.net:9464" }\n');
    try {
      expect(() => loadConfig(env.configPath))
        .to.throw(ConfigError)
        .with.property('problems')
        .that.satisfies((p: string[]) => p.some((x) => x.startsWith('metrics.listen:')));
    } finally {
      env.dispose();
    }
  });
});

describe('/metrics and /healthz (product.md 9)', function () {
  this.timeout(60000);
  let env: TestEnv;
  let svc: RunningService | undefined;
  beforeEach(() => {
    env = makeEnv({ extraYaml: 'metrics: { listen: "127.0.0.1:0" }' });
  });
  afterEach(async () => {
    await svc?.monitor?.close();
    await svc?.daemon.stop();
    await svc?.sandbox?.close();
    svc = undefined;
    env.dispose();
  });
  const start = async () => {
    svc = await startService(env.config, env.logger);
    return svc.monitor!.address.port;
  };

  it('shows every state x partner (zeros included), initialised histograms and process metrics, read from the ledger after a restart', async () => {
    let port = await start();
    let m = await get(port, '/metrics');
    expect(m.status).to.equal(200);
    expect(m.type).to.match(/^text\/plain/);
    for (const state of MESSAGE_STATES) expect(sample(m.body, `tlbridge_messages{state="${state}",partner="${PARTNER}"}`), state).to.equal(0);
    expect(sample(m.body, `tlbridge_batch_duration_seconds_count{partner="${PARTNER}"}`)).to.equal(0);
    expect(sample(m.body, `tlbridge_batch_duration_seconds_bucket{le="+Inf",partner="${PARTNER}"}`)).to.equal(0);
    expect(sample(m.body, `tlbridge_uploaded_bytes_total{partner="${PARTNER}"}`)).to.equal(0);
    expect(sample(m.body, `tlbridge_last_batch_success_timestamp_seconds{partner="${PARTNER}"}`)).to.equal(0);
    expect(sample(m.body, 'tlbridge_data_dir_free_bytes')).to.be.greaterThan(0);
    expect(sample(m.body, 'tlbridge_error_files')).to.equal(0);
    expect(m.body).to.match(/^process_cpu_user_seconds_total /m);

    drop(env, 'a.txt', producedFile(refs('MA', 3)));
    await waitFor('conversion', () => convertedCount(svc!.daemon)() === 1);
    svc!.daemon.db
      .prepare(`INSERT INTO runs (kind, partner, origin, started_at, finished_at, outcome) VALUES ('batch', ?, 'cli', ?, ?, 'failed'), ('batch', ?, 'cli', ?, ?, 'ok')`)
      .run(PARTNER, '2026-12-02T10:00:00.000Z', '2026-12-02T10:00:05.000Z', PARTNER, '2026-12-02T11:00:00.000Z', '2026-12-02T11:00:05.000Z');
    m = await get(port, '/metrics');
    expect(sample(m.body, `tlbridge_messages{state="STAGED",partner="${PARTNER}"}`)).to.equal(3);
    expect(sample(m.body, 'tlbridge_files{state="CONVERTED"}')).to.equal(1);
    expect(sample(m.body, 'tlbridge_intake_files_total{outcome="CONVERTED"}')).to.equal(1);
    // the latest successful run, not the failed one before it
    expect(sample(m.body, `tlbridge_last_batch_success_timestamp_seconds{partner="${PARTNER}"}`)).to.equal(Date.parse('2026-12-02T11:00:05.000Z') / 1000);

    // a restart: the ledger's figures stay, the per-process counters start again
    await svc!.monitor!.close();
    await svc!.daemon.stop();
    await svc!.sandbox?.close();
    port = await start();
    m = await get(port, '/metrics');
    expect(sample(m.body, `tlbridge_messages{state="STAGED",partner="${PARTNER}"}`)).to.equal(3);
    expect(sample(m.body, 'tlbridge_intake_files_total{outcome="CONVERTED"}')).to.equal(undefined);

    const h = await get(port, '/healthz');
    expect(h.status).to.equal(200);
    expect(JSON.parse(h.body)).to.deep.equal({ healthy: true, problems: [] });
    expect((await get(port, '/nothing')).status).to.equal(404);
  });

  it('/healthz of the running daemon: 503 naming an error file while it waits, 200 again once it is dismissed', async () => {
    const port = await start();
    drop(env, 'broken.txt', 'not a flat file\n');
    await waitFor('the error file', () => fs.existsSync(path.join(env.config.dataDir, 'error', 'broken.txt.error.json')));
    let h = await get(port, '/healthz');
    expect(h.status).to.equal(503);
    const body = JSON.parse(h.body) as { healthy: boolean; problems: { kind: string; subject: string | null }[] };
    expect(body.healthy).to.equal(false);
    expect(body.problems.some((p) => p.kind === 'error-file' && p.subject === 'broken.txt'), h.body).to.equal(true);
    const { main } = await import('../src/cli/main.js');
    const out: string[] = [];
    const io = { out: (l: string) => void out.push(l), err: (l: string) => void out.push(l) };
    expect(await main(['dismiss', 'broken.txt', '--reason', 'test file', '--config', env.config.file], io), out.join('\n')).to.equal(0);
    h = await get(port, '/healthz');
    expect(h.status, h.body).to.equal(200);
  });

  it('/healthz answers 503 with the problems while something waits', async () => {
    const problem = { kind: 'error-file', partner: null, subject: 'x.txt', message: 'x.txt waits in error/' };
    const server = await startMonitorServer({ listen: '127.0.0.1:0', metrics: async () => '', contentType: 'text/plain', health: () => ({ healthy: false, problems: [problem] }), logger: nullLogger });
    try {
      const h = await get(server.address.port, '/healthz');
      expect(h.status).to.equal(503);
      expect(JSON.parse(h.body)).to.deep.equal({ healthy: false, problems: [problem] });
    } finally {
      await server.close();
    }
  });
});

describe('backup and restore of the ledger (product.md 6, 9)', function () {
  this.timeout(60000);
  let env: TestEnv;
  let daemon: Daemon | undefined;
  beforeEach(() => {
    env = makeEnv();
  });
  afterEach(async () => {
    await daemon?.stop();
    daemon = undefined;
    env.dispose();
  });

  it('a backup taken mid-write opens and passes integrity_check, without the uncommitted work; mode 0640; an existing file is never overwritten', async () => {
    daemon = await startDaemon(env.config, env.logger);
    daemon.db.exec(`CREATE TABLE filler (id INTEGER PRIMARY KEY, b BLOB)`);
    const fill = daemon.db.prepare('INSERT INTO filler (b) VALUES (randomblob(4000))');
    daemon.db.transaction(() => {
      for (let i = 0; i < 600; i++) fill.run();
    })();
    // another connection (a batch cycle of the daemon) is in the middle of a write transaction
    // while the pages are copied
    const writer = new Database(path.join(env.config.dataDir, 'ledger.sqlite'));
    const out = path.join(env.dir, 'backup.sqlite');
    let inFlight = false;
    const r = await backupLedger(env.config, out, (done, total) => {
      if (done < total && !inFlight) {
        writer.exec('BEGIN IMMEDIATE');
        for (let i = 0; i < 5; i++) writer.prepare('INSERT INTO filler (b) VALUES (randomblob(4000))').run();
        inFlight = true;
      }
    });
    expect(inFlight).to.equal(true);
    writer.exec('COMMIT');
    writer.close();
    expect(r.pages).to.be.greaterThan(600);
    expect(fs.statSync(out).mode & 0o777).to.equal(0o640);
    const copy = new Database(out, { readonly: true, fileMustExist: true });
    expect(copy.pragma('integrity_check', { simple: true })).to.equal('ok');
    expect(copy.pragma('journal_mode', { simple: true })).to.equal('delete');
    expect((copy.prepare('SELECT COUNT(*) AS n FROM filler').get() as { n: number }).n).to.equal(600);
    copy.close();
    expect((daemon.db.prepare('SELECT COUNT(*) AS n FROM filler').get() as { n: number }).n).to.equal(605);
    expect(fs.readdirSync(env.dir).filter((n) => n.includes('partial'))).to.deep.equal([]);

    const before = fs.readFileSync(out);
    const lines: string[] = [];
    const io = { out: (l: string) => void lines.push(l), err: (l: string) => void lines.push(l) };
    expect(await backup(env.config, { out }, io)).to.equal(1);
    expect(lines.join('\n')).to.match(/exists already; a backup never overwrites a file/);
    expect(fs.readFileSync(out).equals(before)).to.equal(true);
  });

  it('a restored backup never hands out a used FileControlNumber', async () => {
    daemon = await startDaemon(env.config, env.logger);
    drop(env, 'one.txt', producedFile(refs('ONE', 2)));
    await waitFor('first file', () => convertedCount(daemon!)() === 1);
    const bk = path.join(env.dir, 'ledger-backup.sqlite');
    await backupLedger(env.config, bk);
    drop(env, 'two.txt', producedFile(refs('TWO', 3)));
    await waitFor('second file', () => convertedCount(daemon!)() === 2);
    const used = fcns(daemon.db);
    expect(used).to.deep.equal(['T000000000001', 'T000000000002', 'T000000000003', 'T000000000004', 'T000000000005']);
    await daemon.stop();

    // the restore of the README: the daemon stopped, the copy put in place, WAL files removed
    const ledger = path.join(env.config.dataDir, 'ledger.sqlite');
    for (const f of [ledger, `${ledger}-wal`, `${ledger}-shm`]) fs.rmSync(f, { force: true });
    fs.copyFileSync(bk, ledger);
    expect(highestUsedSequence({ outbox: path.join(env.config.dataDir, 'outbox'), archive: path.join(env.config.dataDir, 'archive') }, 'T')).to.equal(5);

    env.logs.length = 0;
    daemon = await startDaemon(env.config, env.logger);
    const raised = env.logs.find((l) => l.msg.startsWith('FileControlNumber sequence raised'));
    expect(raised?.fields).to.deep.equal({ from: 2, to: 5 });
    drop(env, 'three.txt', producedFile(refs('THREE', 1)));
    await waitFor('third file', () => convertedCount(daemon!)() === 2);
    const after = fcns(daemon.db);
    expect(after).to.deep.equal(['T000000000001', 'T000000000002', 'T000000000006']);
  });

  it('reads sequences only from names of the exact shape prefix + 12 digits + .xml', () => {
    expect(sequenceOfFileName('T000000000042.xml', 'T')).to.equal(42);
    expect(sequenceOfFileName('T00000000042.xml', 'T')).to.equal(null);
    expect(sequenceOfFileName('X000000000042.xml', 'T')).to.equal(null);
    expect(sequenceOfFileName('T000000000042.xml.part', 'T')).to.equal(null);
    expect(sequenceOfFileName('T00000000004a.xml', 'T')).to.equal(null);
  });

  it('reads the archive only from the day of the ledger\'s last manifest on', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tlbridge-fcn-floor-'));
    try {
      const put = (rel: string, name: string) => {
        fs.mkdirSync(path.join(root, 'archive', rel), { recursive: true });
        fs.writeFileSync(path.join(root, 'archive', rel, name), '<x/>');
      };
      put('2025/12/31/batch-1', 'T000000000900.xml'); // before the backup: the ledger knows it
      put('2026/03/04/batch-2', 'T000000000040.xml'); // the backup's own day
      put('2026/03/05/batch-3', 'T000000000050.xml'); // after it
      put('2026/02/28/batch-4', 'T000000000990.xml');
      const dirs = { outbox: path.join(root, 'outbox'), archive: path.join(root, 'archive') };
      expect(highestUsedSequence(dirs, 'T', '2026/03/05')).to.equal(50);
      expect(highestUsedSequence(dirs, 'T', '2026/03/04')).to.equal(50);
      expect(highestUsedSequence(dirs, 'T', '2026/03/06')).to.equal(0);
      expect(highestUsedSequence(dirs, 'T', null)).to.equal(990);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('SIGHUP reload (product.md 9)', function () {
  this.timeout(60000);
  let env: TestEnv;
  let svc: RunningService | undefined;
  beforeEach(() => {
    env = makeEnv();
  });
  afterEach(async () => {
    await svc?.daemon.stop();
    await svc?.sandbox?.close();
    svc = undefined;
    env.dispose();
  });
  const rewrite = (from: string, to: string): void => {
    const text = fs.readFileSync(env.configPath, 'utf8');
    expect(text).to.include(from);
    fs.writeFileSync(env.configPath, text.replace(from, to));
  };

  it('a changed schedule and a new drop folder take effect; a broken config and a dataDir change are refused and the old config stays', async () => {
    svc = await startService(env.config, env.logger);
    rewrite('schedule: "0 0 1 1 *"', 'schedule: "0 3 * * *"');
    rewrite('rescanSeconds: 1', 'rescanSeconds: 1\n  # second drop folder\n');
    const text = fs.readFileSync(env.configPath, 'utf8').replace(
      /inbound:\n(.*)\n/,
      (_m, first: string) => `inbound:\n${first}\n  - { path: ./var/inbound-2, layout: erp-delimited, stableMs: 300 }\n`,
    );
    fs.writeFileSync(env.configPath, text);
    env.logs.length = 0;
    expect(await reloadService(svc, env.logger)).to.equal(true);
    expect(svc.daemon.config().partners[PARTNER]!.schedule).to.equal('0 3 * * *');
    const started = env.logs.find((l) => l.msg === 'batch schedule started');
    expect(started?.fields).to.include({ partner: PARTNER, schedule: '0 3 * * *' });
    expect(new Date(started!.fields!.nextRunAt as string).getUTCHours()).to.equal(3);
    const done = env.logs.find((l) => l.msg === 'configuration reloaded');
    expect(done?.fields).to.deep.include({ partnersChanged: { [PARTNER]: ['schedule'] } });
    expect(done?.fields?.keys).to.include('inbound');
    drop({ ...env, inbound: path.join(env.dir, 'var', 'inbound-2') }, 'late.txt', producedFile(refs('LATE', 1)));
    await waitFor('a file of the new drop folder', () => convertedCount(svc!.daemon)() === 1);

    // broken: every problem logged, the old config kept
    const good = fs.readFileSync(env.configPath, 'utf8');
    fs.writeFileSync(env.configPath, good.replace('schedule: "0 3 * * *"', 'schedule: "not cron"').replace('rescanSeconds: 1', 'rescanSeconds: 0'));
    env.logs.length = 0;
    expect(await reloadService(svc, env.logger)).to.equal(false);
    const problems = env.logs.filter((l) => l.msg === 'reload: config problem').map((l) => String(l.fields?.problem));
    expect(problems.some((p) => p.startsWith(`partners.${PARTNER}.schedule`))).to.equal(true);
    expect(problems.some((p) => p.startsWith('rescanSeconds'))).to.equal(true);
    expect(env.logs.some((l) => l.level === 'error' && l.msg.startsWith('reload refused: the configuration is invalid'))).to.equal(true);
    expect(svc.daemon.config().partners[PARTNER]!.schedule).to.equal('0 3 * * *');

    // a key the running daemon is built on
    fs.writeFileSync(env.configPath, good.replace('dataDir: ./var', 'dataDir: ./other').replace('controlNumberPrefix: "T"', 'controlNumberPrefix: "U"'));
    env.logs.length = 0;
    expect(await reloadService(svc, env.logger)).to.equal(false);
    expect(env.logs.find((l) => l.msg.startsWith('reload refused: these keys'))?.fields?.keys).to.deep.equal(['dataDir', 'sender.controlNumberPrefix']);
    expect(svc.daemon.config().dataDir).to.equal(env.config.dataDir);
  });

  it('the real `tlbridge run` reloads on SIGHUP and refuses a broken config', async function () {
    const d = new DaemonProcess(env.configPath);
    try {
      await d.ready();
      rewrite('schedule: "0 0 1 1 *"', 'schedule: "30 4 * * *"');
      let from = d.logs.length;
      d.child.kill('SIGHUP');
      const line = await d.waitForLog((l) => l.message === 'batch schedule started' && l.schedule === '30 4 * * *', 20_000, from);
      expect(new Date(String(line.nextRunAt)).getUTCMinutes()).to.equal(30);
      await d.waitForLog('configuration reloaded', 20_000, from);

      rewrite('schedule: "30 4 * * *"', 'schedule: "61 4 * * *"');
      from = d.logs.length;
      d.child.kill('SIGHUP');
      const refused = await d.waitForLog(/^reload refused/, 20_000, from);
      expect(refused.level).to.equal('error');
      expect(d.logs.slice(from).some((l) => l.message === 'reload: config problem' && String(l.problem).startsWith(`partners.${PARTNER}.schedule`))).to.equal(true);
      expect(d.running).to.equal(true);
      const exit = await d.terminate();
      expect(exit?.code).to.equal(0);
    } finally {
      if (d.running) await d.terminate();
    }
  });
});

describe('a connect refused by the local firewall', () => {
  it('says so for EPERM and EACCES, and leaves other errors as they are', () => {
    expect(connectFailureText('connect EPERM 192.0.2.1:22', 'EPERM')).to.equal('connection refused by the local firewall (IPAddressDeny?): connect EPERM 192.0.2.1:22');
    expect(connectFailureText('connect EACCES 192.0.2.1:22', 'EACCES')).to.match(/^connection refused by the local firewall/);
    expect(connectFailureText('connect ECONNREFUSED 127.0.0.1:1', 'ECONNREFUSED')).to.equal('connect ECONNREFUSED 127.0.0.1:1');
  });
});
