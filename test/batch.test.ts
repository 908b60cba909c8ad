// Batch cycles (src/batch/*) against a REAL OpenSSH sshd (test/support/sshd.ts), a real SQLite
// ledger file and real outbox files. Ledger rows are made with SQL (test/support/
// ledger-fixtures.ts). The sshd suite is skipped (reason printed) only where a private sshd
// cannot run; CI installs openssh-server.
import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import cron from 'node-cron';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Archive, type Manifest } from '../src/archive/archive.js';
import { tryAcquirePartnerLock, type PartnerLockRow } from '../src/ledger/partner-lock.js';
import { runBatchCycle, type BatchCycleResult, type CycleLogger } from '../src/batch/cycle.js';
import { startSchedulers } from '../src/batch/scheduler.js';
import { loadConfig, type Config } from '../src/config/load.js';
import { openLedger, type Db } from '../src/ledger/db.js';
import { endpointFor, EndpointError } from '../src/transport/endpoint.js';
import { sha256Fingerprint } from '../src/transport/fingerprint.js';
import { SftpPool } from '../src/transport/pool.js';
import type { SftpEndpoint } from '../src/transport/endpoint.js';
import { ISO_UTC, LedgerFixtures, sha256Hex, type StagedFixture } from './support/ledger-fixtures.js';
import { startSshd, sshdUnavailableReason, type TestSshd } from './support/sshd.js';

const partnerLockRow = (db: Db, partner: string): PartnerLockRow | undefined =>
  db.prepare('SELECT partner, owner, pid, acquired_at FROM partner_locks WHERE partner = ?').get(partner) as PartnerLockRow | undefined;

/** Field 22 of /proc/<pid>/stat, as the lock records it in its owner; null when unknown. */
function processStartTime(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const P = 'ACME-PHARMA';

interface LogEntry {
  level: 'info' | 'warn' | 'error';
  msg: string;
  fields: Record<string, unknown>;
}

function captureLogger(): CycleLogger & { entries: LogEntry[] } {
  const entries: LogEntry[] = [];
  const at = (level: LogEntry['level']) => (msg: string, fields?: object) => entries.push({ level, msg, fields: { ...(fields ?? {}) } });
  return { entries, info: at('info'), warn: at('warn'), error: at('error') };
}

/** Every file under a local folder, relative, sorted. */
function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true, withFileTypes: true }) as fs.Dirent[])
    .filter((d) => d.isFile())
    .map((d) => path.relative(dir, path.join(d.parentPath, d.name)))
    .sort();
}

function writeConfig(dir: string, partners: Record<string, string>): Config {
  const file = path.join(dir, 'tlbridge.yaml');
  const yaml = [
    'sender: { id: "0614141000005", controlNumberPrefix: "T" }',
    'timezone: UTC',
    'dataDir: ./var',
    'inbound:',
    '  - path: ./drop',
    'partners:',
    ...Object.values(partners),
  ].join('\n');
  fs.writeFileSync(file, yaml + '\n');
  return loadConfig(file);
}

function partnerYaml(code: string, o: { port: number; username: string; key: string; fp: string; max?: number; schedule?: string; timeoutMs?: number }): string {
  return [
    `  ${code}:`,
    '    receiverId: "0312345000001"',
    '    usage: TEST',
    `    schedule: "${o.schedule ?? '*/15 * * * *'}"`,
    `    maxBatchMessages: ${o.max ?? 500}`,
    '    sftp:',
    '      host: 127.0.0.1',
    `      port: ${o.port}`,
    `      username: ${o.username}`,
    `      privateKeyFile: ${o.key}`,
    `      hostKeySha256: "${o.fp}"`,
    '      inboxDir: /inbox',
    '      tempSuffix: .part',
    '      connections: 4',
    `      timeoutMs: ${o.timeoutMs ?? 5000}`,
  ].join('\n');
}

function withPartner(config: Config, partner: string, change: (p: Config['partners'][string]) => void): Config {
  const p = structuredClone(config.partners[partner]!);
  change(p);
  return { ...config, partners: { ...config.partners, [partner]: p } };
}

async function freeClosedPort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, cond: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await delay(10);
  }
}

// --------------------------------------------------------------------------------------

describe('batch: endpointFor', function () {
  let tmp: string;
  let config: Config;
  before(function () {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tlbridge-endpoint-'));
    fs.writeFileSync(path.join(tmp, 'key'), '-----BEGIN OPENSSH PRIVATE KEY-----\nSECRETKEYMATERIAL1234567890\n-----END OPENSSH PRIVATE KEY-----\n');
    fs.writeFileSync(path.join(tmp, 'password'), 'pa ss word\n');
    fs.writeFileSync(path.join(tmp, 'passphrase'), 'the phrase\r\n');
    const fp = sha256Fingerprint(randomBytes(32));
    config = writeConfig(tmp, {
      [P]: partnerYaml(P, { port: 2222, username: 'cmo', key: path.join(tmp, 'key'), fp }),
    });
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('reads the key, password and passphrase files of a configured partner', function () {
    const withSecrets = withPartner(config, P, (p) => {
      p.sftp.passwordFile = path.join(tmp, 'password');
      p.sftp.passphraseFile = path.join(tmp, 'passphrase');
    });
    const ep = endpointFor(withSecrets, P);
    expect(ep.host).to.equal('127.0.0.1');
    expect(ep.port).to.equal(2222);
    expect(ep.username).to.equal('cmo');
    expect(ep.privateKey!.toString()).to.contain('SECRETKEYMATERIAL');
    expect(ep.password).to.equal('pa ss word'); // only the final line break goes
    expect(ep.passphrase).to.equal('the phrase');
    expect(ep.hostKeySha256).to.deep.equal(config.partners[P]!.sftp.hostKeySha256);
    expect(ep.tempSuffix).to.equal('.part');
    expect(ep.timeoutMs).to.equal(5000);
    expect(ep.label).to.equal(P);
  });

  it('names the key and the path of an unreadable secret file, never content', function () {
    const bad = withPartner(config, P, (p) => {
      p.sftp.privateKeyFile = path.join(tmp, 'missing-key');
    });
    expect(() => endpointFor(bad, P)).to.throw(EndpointError, /privateKeyFile: cannot read .*missing-key \(ENOENT\)/);
    const noFp = withPartner(config, P, (p) => {
      delete p.sftp.hostKeySha256;
    });
    expect(() => endpointFor(noFp, P)).to.throw(EndpointError, /hostKeySha256 is required/);
    expect(() => endpointFor(config, 'NOPE')).to.throw(EndpointError, /unknown partner "NOPE"/);
  });

  it('embedded: 127.0.0.1 with the port, key and fingerprint handed over in-process; a clear error without them', function () {
    const emb = withPartner(config, P, (p) => {
      p.sftp.host = 'embedded';
    });
    expect(() => endpointFor(emb, P)).to.throw(EndpointError, /embedded.*port.*host key fingerprint.*client key/);
    expect(() => endpointFor(emb, P, { embeddedPort: 4000 })).to.throw(EndpointError, /host key fingerprint, the client key/);
    const fp = sha256Fingerprint(randomBytes(32));
    const ep = endpointFor(emb, P, { embeddedPort: 4000, embeddedHostKeySha256: fp, embeddedPrivateKey: Buffer.from('k') });
    expect(ep).to.include({ host: '127.0.0.1', port: 4000, username: 'cmo' });
    expect(ep.hostKeySha256).to.deep.equal([fp]);
    expect(ep.privateKey!.toString()).to.equal('k');
  });
});

// --------------------------------------------------------------------------------------

describe('batch: cycles against a real OpenSSH sshd', function () {
  this.timeout(120_000);
  let sshd: TestSshd;
  let tmp: string;
  let dataDir: string;
  let db: Db;
  let archive: Archive;
  let config: Config;
  let fx: LedgerFixtures;
  let log: ReturnType<typeof captureLogger>;
  let pools: SftpPool[];
  let testNo = 0;

  before(async function () {
    const why = sshdUnavailableReason();
    if (why) {
      console.log(`      SKIPPED: no private OpenSSH sshd on this machine: ${why}`);
      this.skip();
    }
    sshd = await startSshd({ dirs: ['/inbox'] });
  });

  after(async function () {
    if (sshd) await sshd.dispose();
  });

  beforeEach(function () {
    testNo++;
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tlbridge-batch-'));
    config = writeConfig(tmp, {
      [P]: partnerYaml(P, { port: sshd.port, username: sshd.username, key: sshd.privateKeyPath, fp: sshd.hostKeySha256 }),
    });
    dataDir = config.dataDir;
    db = openLedger(path.join(dataDir, 'ledger.sqlite'));
    archive = new Archive(path.join(dataDir, 'archive'), db);
    fx = new LedgerFixtures(db, dataDir, `B${String(testNo).padStart(2, '0')}`);
    log = captureLogger();
    pools = [];
    // each test starts with an empty inbox on the server
    const inbox = path.join(sshd.root, 'inbox');
    for (const e of fs.readdirSync(inbox)) fs.rmSync(path.join(inbox, e), { recursive: true, force: true });
  });

  afterEach(async function () {
    sshd.thaw();
    if (!sshd.running) await sshd.start();
    for (const p of pools) await p.close({ abandon: true });
    db.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  const onServer = (remotePath: string): string => path.join(sshd.root, remotePath);
  const serverFiles = (): string[] => filesUnder(path.join(sshd.root, 'inbox'));
  const pool = (cfg: Config = config, over: Partial<SftpEndpoint> = {}): SftpPool => {
    const p = new SftpPool({ ...endpointFor(cfg, P), ...over }, cfg.partners[P]!.sftp.connections);
    pools.push(p);
    return p;
  };
  let defaultPool: SftpPool | undefined;
  beforeEach(() => (defaultPool = undefined));
  const cycle = (o: { cfg?: Config; pool?: SftpPool; signal?: AbortSignal } = {}): Promise<BatchCycleResult> => {
    const usePool = o.pool ?? (defaultPool ??= pool(o.cfg ?? config));
    return runBatchCycle({ db, config: o.cfg ?? config, archive, pool: usePool, partner: P, logger: log, ...(o.signal ? { signal: o.signal } : {}) });
  };
  const expectOnServer = (m: StagedFixture): void => {
    const f = onServer(`/inbox/${m.typeCode}/${m.fcn}.xml`);
    expect(fs.existsSync(f), `${f} on the server`).to.equal(true);
    expect(fs.readFileSync(f).equals(m.content), `${m.fcn}.xml has the exact bytes`).to.equal(true);
  };
  const batchRow = (id: number) =>
    db.prepare('SELECT * FROM batches WHERE id = ?').get(id) as { id: number; partner: string; started_at: string; finished_at: string | null; outcome: string | null; messages: number; archive_dir: string | null; error: string | null };
  const manifestOf = (dir: string): Manifest => JSON.parse(fs.readFileSync(path.join(dataDir, 'archive', dir, 'manifest.json'), 'utf8')) as Manifest;

  // ------------------------------------------------------------------------------------

  it('a batch lands under /inbox/<TYPE>/<fcn>.xml with the exact bytes, ledger SENT with transitions, archived with a manifest', async function () {
    const mp = fx.stageMany(3, { messageType: 'MATERIALS_PRODUCED', bytes: 1500 });
    const wo = fx.stageMany(2, { messageType: 'WORK_ORDER_MILESTONES', bytes: 70_000 }); // several transfer chunks
    const all = [...mp, ...wo];
    const r = await cycle();
    expect(r).to.include({ sent: 5, failed: 0, conflicts: 0, skipped: 0, held: 0, recovered: 0 });
    expect(r.error).to.equal(undefined);
    expect(r.batchId).to.be.a('number');

    // the server: exactly these files, exact bytes, no temp file
    expect(serverFiles()).to.deep.equal(all.map((m) => `${m.typeCode}/${m.fcn}.xml`).sort());
    for (const m of all) expectOnServer(m);
    expect(serverFiles().filter((f) => f.endsWith('.part'))).to.deep.equal([]);

    // the ledger
    for (const m of all) {
      const row = fx.row(m.id);
      expect(row.state).to.equal('SENT');
      expect(row.remote_path).to.equal(`/inbox/${m.typeCode}/${m.fcn}.xml`);
      expect(row.batch_id).to.equal(r.batchId);
      expect(row.sent_at).to.match(ISO_UTC);
      expect(row.attempts).to.equal(0);
      const t = fx.transitions(m.id);
      expect(t.map((x) => `${x.from_state}->${x.to_state}`)).to.deep.equal(['null->STAGED', 'STAGED->SENDING', 'SENDING->SENT']);
      for (const x of t) expect(x.at).to.match(ISO_UTC);
      expect(t[2]!.detail).to.contain(`/inbox/${m.typeCode}/${m.fcn}.xml`);
    }
    const b = batchRow(r.batchId!);
    expect(b).to.include({ partner: P, outcome: 'sent', messages: 5, error: null });
    expect(b.started_at).to.match(ISO_UTC);
    expect(b.finished_at).to.match(ISO_UTC);
    expect(b.archive_dir).to.match(new RegExp(`^\\d{4}/\\d{2}/\\d{2}/batch-${r.batchId}$`));

    // the archive: the sent XML files and a chained manifest listing them
    const man = manifestOf(b.archive_dir!);
    expect(man).to.include({ kind: 'batch', id: String(r.batchId), partner: P });
    expect(man.files.map((f) => f.path).sort()).to.deep.equal(all.map((m) => `${m.fcn}.xml`).sort());
    for (const m of all) {
      const f = man.files.find((x) => x.path === `${m.fcn}.xml`)!;
      expect(f).to.include({ sha256: m.sha256, bytes: m.content.length });
      expect(fs.readFileSync(path.join(dataDir, 'archive', b.archive_dir!, f.path)).equals(m.content)).to.equal(true);
    }
    const listed = (man.messages as { id: number; fcn: string; messageType: string; remotePath: string }[]).sort((a, b2) => a.id - b2.id);
    expect(listed).to.deep.equal(all.map((m) => ({ id: m.id, fcn: m.fcn, messageType: m.messageType, remotePath: `/inbox/${m.typeCode}/${m.fcn}.xml` })));
    expect(archive.verify()).to.deep.equal([]);

    // every transition was logged with the fields an operator filters on
    const sentLogs = log.entries.filter((e) => e.fields.to === 'SENT');
    expect(sentLogs).to.have.length(5);
    for (const e of sentLogs) {
      expect(e.fields).to.include.all.keys('messageId', 'fcn', 'partner', 'batchId', 'durationMs');
      expect(e.fields.batchId).to.equal(r.batchId);
    }
    expect(JSON.stringify(log.entries)).to.not.contain('PRIVATE KEY');
    // the lock is gone
    expect(partnerLockRow(db, P)).to.equal(undefined);
    // a further cycle finds nothing
    const again = await cycle();
    expect(again).to.include({ batchId: null, sent: 0 });
  });

  it('respects maxBatchMessages, oldest first, the rest in the next cycles; messages of an unconverted file never go', async function () {
    const cfg = withPartner(config, P, (p) => {
      p.maxBatchMessages = 3;
    });
    const msgs = fx.stageMany(7);
    const pendingFile = fx.file(P, 'MATERIALS_PRODUCED', 'RECEIVED');
    const invisible = fx.stage({ fileId: pendingFile });
    const p = pool(cfg);
    const sizes: number[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await cycle({ cfg, pool: p });
      expect(r.error).to.equal(undefined);
      sizes.push(r.sent);
      expect(batchRow(r.batchId!).messages).to.equal(r.sent);
      // oldest first: after cycle i exactly the first min(7, 3(i+1)) are SENT
      const n = Math.min(7, 3 * (i + 1));
      expect(msgs.map((m) => fx.row(m.id).state)).to.deep.equal(msgs.map((_, j) => (j < n ? 'SENT' : 'STAGED')));
      expect(serverFiles()).to.have.length(n);
    }
    expect(sizes).to.deep.equal([3, 3, 1]);
    const last = await cycle({ cfg, pool: p });
    expect(last).to.include({ batchId: null, sent: 0 });
    expect(fx.row(invisible.id).state).to.equal('STAGED');
    expect(fs.existsSync(onServer(`/inbox/MATERIALS_PRODUCED/${invisible.fcn}.xml`))).to.equal(false);
  });

  it('a wrong pinned host key: nothing uploaded, every message back to STAGED with both fingerprints in last_error', async function () {
    const wrong = sha256Fingerprint(randomBytes(32));
    const msgs = fx.stageMany(6);
    const r = await cycle({ pool: pool(config, { hostKeySha256: [wrong] }) });
    expect(r.sent).to.equal(0);
    expect(r.failed).to.equal(6);
    expect(r.error).to.contain(wrong).and.to.contain(sshd.hostKeySha256);
    expect(serverFiles()).to.deep.equal([]);
    expect(fs.readdirSync(path.join(sshd.root, 'inbox'))).to.deep.equal([]); // not even a folder
    for (const m of msgs) {
      const row = fx.row(m.id);
      expect(row.state).to.equal('STAGED');
      expect(row.last_error).to.contain(wrong).and.to.contain(sshd.hostKeySha256);
      expect(row.remote_path).to.equal(null);
      expect(fx.transitions(m.id).map((t) => t.to_state)).to.deep.equal(['STAGED', 'SENDING', 'STAGED']);
    }
    // the cycle stopped at the first connection failures: no more tries than connections
    const rows = msgs.map((m) => fx.row(m.id));
    expect(rows.reduce((n, row) => n + row.attempts, 0)).to.be.within(1, 4);
    expect(rows.filter((row) => row.last_error!.startsWith('not attempted:')).length).to.be.at.least(2);
    const b = batchRow(r.batchId!);
    expect(b).to.include({ outcome: 'failed', archive_dir: null });
    expect(b.error).to.contain(wrong);
    expect((db.prepare('SELECT count(*) AS n FROM manifests').get() as { n: number }).n).to.equal(0);
    expect(log.entries.some((e) => e.level === 'error' && String(e.fields.error).includes(wrong))).to.equal(true);

    // with the right key the same messages go, under the same numbers
    const ok = await cycle();
    expect(ok.sent).to.equal(6);
    for (const m of msgs) expectOnServer(m);
  });

  it('the server stopped mid-batch, then started again: every message delivered exactly once', async function () {
    const N = 400;
    const msgs = fx.stageMany(N, { bytes: 8000 });
    const p = pool();
    const dir = onServer('/inbox/MATERIALS_PRODUCED');
    const countFinal = () => (fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.xml')).length : 0);
    const running = cycle({ pool: p });
    await waitFor('the first uploads to land', () => countFinal() >= 25);
    await sshd.stop();
    const r1 = await running;
    expect(r1.error, 'the cycle reports the connection failure').to.be.a('string');
    expect(r1.sent).to.be.greaterThan(0).and.lessThan(N);
    expect(r1.sent + r1.failed).to.equal(N);
    expect(fx.countByState(P).SENDING ?? 0).to.equal(0);
    expect(batchRow(r1.batchId!).outcome).to.equal('partial');

    await sshd.start();
    let cycles = 0;
    while ((fx.countByState(P).STAGED ?? 0) > 0) {
      if (++cycles > 5) throw new Error('messages still STAGED after 5 cycles');
      const r = await cycle({ pool: p });
      expect(r.error).to.equal(undefined);
    }
    // each FileControlNumber exactly once on the server, exact bytes, no temp file, nothing else
    expect(serverFiles()).to.deep.equal(msgs.map((m) => `MATERIALS_PRODUCED/${m.fcn}.xml`).sort());
    for (const m of msgs) expectOnServer(m);
    // and exactly one SENT transition per message, all in state SENT
    const sentTransitions = db
      .prepare(`SELECT entity_id, count(*) AS n FROM transitions WHERE entity = 'message' AND to_state = 'SENT' GROUP BY entity_id`)
      .all() as { entity_id: number; n: number }[];
    expect(sentTransitions).to.have.length(N);
    expect(sentTransitions.every((t) => t.n === 1)).to.equal(true);
    expect(fx.countByState(P)).to.deep.equal({ SENT: N });
    // numbers were never re-allocated
    expect((db.prepare('SELECT count(*) AS n FROM messages').get() as { n: number }).n).to.equal(N);
    expect(archive.verify()).to.deep.equal([]);
    // every SENT message is in exactly one batch archive
    const archived = (db.prepare(`SELECT path FROM manifests WHERE kind = 'batch'`).all() as { path: string }[]).flatMap((row) =>
      manifestOf(path.dirname(row.path)).files.map((f) => f.path),
    );
    expect(archived.sort()).to.deep.equal(msgs.map((m) => `${m.fcn}.xml`).sort());
  });

  it('recovery: SENDING found on the server -> SENT without re-upload; absent -> uploaded again under the same number over a stale .part', async function () {
    const [found, absent, different] = fx.stageMany(3);
    const orphan = fx.openBatch(P, 3);
    for (const m of [found!, absent!, different!]) {
      db.prepare(`UPDATE messages SET state = 'SENDING', batch_id = ? WHERE id = ?`).run(orphan, m.id);
    }
    const mpDir = onServer('/inbox/MATERIALS_PRODUCED');
    fs.mkdirSync(mpDir, { recursive: true });
    // `found`: the rename happened before the crash
    const foundFile = path.join(mpDir, `${found!.fcn}.xml`);
    fs.writeFileSync(foundFile, found!.content);
    const old = new Date('2025-06-01T00:00:00Z');
    fs.utimesSync(foundFile, old, old);
    const foundIno = fs.statSync(foundFile).ino;
    // `absent`: the crash came during the write: only a stale, longer temp file
    fs.writeFileSync(path.join(mpDir, `${absent!.fcn}.xml.part`), randomBytes(absent!.content.length + 5000));
    // `different`: the server holds another file under its name
    const foreign = Buffer.from('<other>not ours</other>');
    fs.writeFileSync(path.join(mpDir, `${different!.fcn}.xml`), foreign);

    const r = await cycle();
    expect(r.recovered).to.equal(3);
    expect(r.sent).to.equal(1); // `absent`, re-uploaded
    expect(r.conflicts).to.equal(1); // `different`

    // found: SENT, not uploaded again (same inode, same mtime)
    const f = fx.row(found!.id);
    expect(f).to.include({ state: 'SENT', remote_path: `/inbox/MATERIALS_PRODUCED/${found!.fcn}.xml`, batch_id: orphan });
    const ft = fx.transitions(found!.id);
    expect(ft.at(-1)).to.include({ from_state: 'SENDING', to_state: 'SENT', detail: 'found on server after restart' });
    expect(fs.statSync(foundFile).ino).to.equal(foundIno);
    expect(fs.statSync(foundFile).mtime.getTime()).to.equal(old.getTime());

    // absent: back to STAGED, then uploaded under the SAME FileControlNumber, the .part replaced
    const a = fx.row(absent!.id);
    expect(a).to.include({ state: 'SENT', fcn: absent!.fcn, remote_path: `/inbox/MATERIALS_PRODUCED/${absent!.fcn}.xml`, batch_id: r.batchId, attempts: 1 });
    expect(fx.transitions(absent!.id).map((t) => `${t.from_state}->${t.to_state}`)).to.deep.equal([
      'null->STAGED',
      'SENDING->STAGED',
      'STAGED->SENDING',
      'SENDING->SENT',
    ]);
    expectOnServer(absent!);
    expect(fs.existsSync(path.join(mpDir, `${absent!.fcn}.xml.part`))).to.equal(false);

    // different: STAGED with the conflict, never overwritten, the operator told
    const d = fx.row(different!.id);
    expect(d.state).to.equal('STAGED');
    expect(d.last_error).to.contain('conflict');
    expect(fs.readFileSync(path.join(mpDir, `${different!.fcn}.xml`)).equals(foreign)).to.equal(true);
    expect(log.entries.some((e) => e.level === 'error' && e.fields.fcn === different!.fcn && /conflict/.test(e.msg))).to.equal(true);

    // the interrupted batch was finished and archived with what it delivered
    const ob = batchRow(orphan);
    expect(ob.outcome).to.equal('partial');
    expect(ob.finished_at).to.match(ISO_UTC);
    expect(manifestOf(ob.archive_dir!).files.map((x) => x.path)).to.deep.equal([`${found!.fcn}.xml`]);
    expect(manifestOf(batchRow(r.batchId!).archive_dir!).files.map((x) => x.path)).to.deep.equal([`${absent!.fcn}.xml`]);
    expect(serverFiles().filter((x) => x.endsWith('.part'))).to.deep.equal([]);
    // no number was allocated anew
    expect((db.prepare('SELECT group_concat(fcn) AS f FROM messages ORDER BY id').get() as { f: string }).f).to.equal(
      [found!, absent!, different!].map((m) => m.fcn).join(','),
    );
  });

  it('recovery: a batch interrupted after its messages were SENT is finished and archived; a missing outbox file does not block the partner', async function () {
    const orphan = fx.openBatch(P, 2);
    const [kept, gone] = fx.stageMany(2);
    for (const m of [kept!, gone!]) {
      db.prepare(`UPDATE messages SET state = 'SENT', batch_id = ?, sent_at = ?, remote_path = ? WHERE id = ?`).run(
        orphan,
        '2026-01-01T00:00:05.000Z',
        `/inbox/MATERIALS_PRODUCED/${m.fcn}.xml`,
        m.id,
      );
    }
    fs.rmSync(gone!.absPath);
    const fresh = fx.stage();
    const r = await cycle();
    expect(r.error).to.equal(undefined);
    expect(r.sent).to.equal(1);
    expectOnServer(fresh);
    const ob = batchRow(orphan);
    expect(ob.outcome).to.equal('sent');
    const man = manifestOf(ob.archive_dir!);
    expect(man.files.map((f) => f.path)).to.deep.equal([`${kept!.fcn}.xml`]);
    expect(man.recovered).to.equal(true);
    expect((man.messages as { fcn: string }[]).map((m) => m.fcn)).to.deep.equal([kept!.fcn, gone!.fcn]);
    expect((man.notArchived as { fcn: string; reason: string }[])[0]).to.include({ fcn: gone!.fcn });
    expect(log.entries.some((e) => e.level === 'error' && e.fields.fcn === gone!.fcn)).to.equal(true);
    expect(archive.verify()).to.deep.equal([]);
  });

  it('a stale .part of a STAGED message is overwritten; a same-size final file counts as delivered', async function () {
    const [stale, present] = fx.stageMany(2);
    const dir = onServer('/inbox/MATERIALS_PRODUCED');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, `${stale!.fcn}.xml.part`), Buffer.alloc(stale!.content.length * 3, 0x41));
    fs.writeFileSync(path.join(dir, `${present!.fcn}.xml`), present!.content);
    const r = await cycle();
    expect(r).to.include({ sent: 2, failed: 0, conflicts: 0 });
    expect(serverFiles()).to.deep.equal([`MATERIALS_PRODUCED/${stale!.fcn}.xml`, `MATERIALS_PRODUCED/${present!.fcn}.xml`].sort());
    expectOnServer(stale!);
    expectOnServer(present!);
    expect(fx.transitions(present!.id).at(-1)!.detail).to.contain('already present');
  });

  it('a reversal waits until its original is SENT; one whose original was REJECTED is not uploaded and reported once', async function () {
    // the reversal is older than its original: order alone would send it first
    const rev = fx.stage({ messageType: 'MATERIALS_PRODUCED_REVERSAL', originalRef: 'DOC-1' });
    // the same reference under another type, already SENT, must not count as the original
    fx.stage({ messageType: 'MATERIALS_ISSUED', referenceDoc: 'DOC-1', state: 'SENT' });
    const orig = fx.stage({ messageType: 'MATERIALS_PRODUCED', referenceDoc: 'DOC-1' });
    // an original this product never held (requireKnownOriginal: false): the reversal may go
    const revUnknown = fx.stage({ messageType: 'MATERIALS_PRODUCED_REVERSAL', originalRef: 'SENT-BEFORE-INSTALL' });
    // an original that was REJECTED: its reversal is never uploaded
    fx.stage({ messageType: 'MATERIALS_CONSUMED', referenceDoc: 'DOC-9', state: 'REJECTED' });
    const revRejected = fx.stage({ messageType: 'MATERIALS_CONSUMED_REVERSAL', originalRef: 'DOC-9' });

    const r1 = await cycle();
    expect(r1.sent).to.equal(2);
    expect(r1.held).to.equal(2);
    expect(fx.row(orig.id).state).to.equal('SENT');
    expect(fx.row(revUnknown.id).state).to.equal('SENT');
    expect(fx.row(rev.id)).to.include({ state: 'STAGED', last_error: null, attempts: 0 });
    expect(fs.existsSync(onServer(`/inbox/MATERIALS_PRODUCED_REVERSAL/${rev.fcn}.xml`))).to.equal(false);
    expect(fx.transitions(rev.id)).to.have.length(1); // never claimed
    const rj = fx.row(revRejected.id);
    expect(rj.state).to.equal('STAGED');
    expect(rj.last_error).to.contain('REJECTED').and.to.contain('DOC-9');
    expect(fs.existsSync(onServer(`/inbox/MATERIALS_CONSUMED_REVERSAL/${revRejected.fcn}.xml`))).to.equal(false);
    const reported = () => log.entries.filter((e) => e.level === 'error' && e.fields.fcn === revRejected.fcn).length;
    expect(reported()).to.equal(1);

    const r2 = await cycle();
    expect(r2.sent).to.equal(1);
    expect(fx.row(rev.id).state).to.equal('SENT');
    expectOnServer(rev);
    expect(fx.row(rev.id).sent_at! > fx.row(orig.id).sent_at!).to.equal(true);
    // the rejected one: still held, reported once only, its row untouched
    expect(fx.row(revRejected.id)).to.deep.equal(rj);
    expect(reported()).to.equal(1);
    expect(r2.held).to.equal(1);
  });

  it('a changed outbox file is never sent; the rest of the batch is', async function () {
    const [a, changed, c] = fx.stageMany(3);
    const tampered = Buffer.from(changed!.content);
    tampered[tampered.length - 10] = tampered[tampered.length - 10]! ^ 0x01; // same size, other bytes
    fs.writeFileSync(changed!.absPath, tampered);
    const r = await cycle();
    expect(r).to.include({ sent: 2, failed: 1 });
    expectOnServer(a!);
    expectOnServer(c!);
    expect(fs.existsSync(onServer(`/inbox/MATERIALS_PRODUCED/${changed!.fcn}.xml`))).to.equal(false);
    const row = fx.row(changed!.id);
    expect(row).to.include({ state: 'STAGED', attempts: 1 });
    expect(row.last_error).to.contain('changed since staging').and.to.contain(changed!.sha256).and.to.contain(sha256Hex(tampered));
    expect(log.entries.some((e) => e.level === 'error' && e.fields.fcn === changed!.fcn)).to.equal(true);
    expect(batchRow(r.batchId!).outcome).to.equal('partial');
    // and not in the next cycle either
    const r2 = await cycle();
    expect(r2).to.include({ sent: 0, failed: 1 });
    expect(serverFiles()).to.have.length(2);
  });

  // ---------------------------------------------------------------------------- lock

  it('lock: two concurrent cycles of one partner -> one is skipped, every message once', async function () {
    const msgs = fx.stageMany(40);
    const [r1, r2] = await Promise.all([cycle({ pool: pool() }), cycle({ pool: pool() })]);
    const skipped = [r1, r2].filter((r) => r.skipped === 1);
    const ran = [r1, r2].filter((r) => r.skipped === 0);
    expect(skipped).to.have.length(1);
    expect(ran).to.have.length(1);
    expect(skipped[0]).to.include({ batchId: null, sent: 0 });
    expect(skipped[0]!.lockedBy!.pid).to.equal(process.pid);
    expect(ran[0]!.sent).to.equal(40);
    expect(serverFiles()).to.have.length(40);
    for (const m of msgs) expectOnServer(m);
    expect(partnerLockRow(db, P)).to.equal(undefined);
  });

  it('lock: held by another live process -> skipped; left by a process killed with -9 -> taken over', async function () {
    const msgs = fx.stageMany(5);
    const script = path.join(tmp, 'hold-lock.mts');
    const url = (rel: string) => JSON.stringify(new URL(`file://${path.join(REPO, rel)}`).href);
    fs.writeFileSync(
      script,
      [
        `import { openLedger } from ${url('src/ledger/db.ts')};`,
        `import { tryAcquirePartnerLock } from ${url('src/ledger/partner-lock.ts')};`,
        `const db = openLedger(process.argv[2]);`,
        `const r = tryAcquirePartnerLock(db, process.argv[3]);`,
        `console.log(r.acquired ? 'locked' : 'busy');`,
        `setInterval(() => {}, 1000);`,
      ].join('\n'),
    );
    const child = spawn(process.execPath, ['--import', 'tsx', script, path.join(dataDir, 'ledger.sqlite'), P], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      await waitFor(`the child to take the lock (output: ${out})`, () => out.includes('locked') || out.includes('busy') || child.exitCode !== null, 30_000);
      expect(out.trim()).to.equal('locked');
      expect(partnerLockRow(db, P)!.pid).to.equal(child.pid);

      const r1 = await cycle();
      expect(r1).to.include({ skipped: 1, sent: 0, batchId: null });
      expect(r1.lockedBy!.pid).to.equal(child.pid);
      expect(serverFiles()).to.deep.equal([]);
      expect(fx.countByState(P)).to.deep.equal({ STAGED: 5 });
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    // the row is still there, its process is gone
    expect(partnerLockRow(db, P)!.pid).to.equal(child.pid);
    const r2 = await cycle();
    expect(r2).to.include({ skipped: 0, sent: 5 });
    for (const m of msgs) expectOnServer(m);
    expect(log.entries.some((e) => e.level === 'warn' && /stale partner lock/.test(e.msg) && e.fields.lockPid === child.pid)).to.equal(true);
    expect(partnerLockRow(db, P)).to.equal(undefined);
  });

  it('lock: a row of a dead pid, of a reused pid, or our own pid from an earlier process is taken over; a live holder is not', function () {
    const host = os.hostname();
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    const insert = (owner: string, pid: number) =>
      db.prepare('INSERT INTO partner_locks (partner, owner, pid, acquired_at) VALUES (?, ?, ?, ?)').run(P, owner, pid, '2026-01-01T00:00:00.000Z');
    const cases: [string, number][] = [
      [`${host}|${dead}|-|${randomUUID()}`, dead], // the process is gone
      [`${host}|1|not-its-start-time|${randomUUID()}`, 1], // pid 1 is alive but is another process than the one that locked
      [`${host}|${process.pid}|${processStartTime(process.pid) ?? '-'}|${randomUUID()}`, process.pid], // our pid, not held by us
    ];
    for (const [owner, pid] of cases) {
      insert(owner, pid);
      const r = tryAcquirePartnerLock(db, P);
      expect(r.acquired, owner).to.equal(true);
      if (!r.acquired) continue;
      expect(r.lock.tookOverFrom!.owner).to.equal(owner);
      expect(partnerLockRow(db, P)!.owner).to.equal(r.lock.owner);
      r.lock.release();
      expect(partnerLockRow(db, P)).to.equal(undefined);
    }
    // pid 1 with its real start time: a live holder, respected
    const start1 = processStartTime(1);
    if (start1) {
      insert(`${host}|1|${start1}|${randomUUID()}`, 1);
      const r = tryAcquirePartnerLock(db, P);
      expect(r.acquired).to.equal(false);
      if (!r.acquired) expect(r.heldBy.pid).to.equal(1);
      db.prepare('DELETE FROM partner_locks').run();
    }
    // held in this process: respected until released
    const a = tryAcquirePartnerLock(db, P);
    expect(a.acquired).to.equal(true);
    expect(tryAcquirePartnerLock(db, P).acquired).to.equal(false);
    if (a.acquired) a.lock.release();
    expect(tryAcquirePartnerLock(db, 'OTHER').acquired).to.equal(true); // per partner
  });

  // ---------------------------------------------------------------------------- scheduler

  it('scheduler: sends on the cron schedule; a failing partner backs off and never blocks the other; stop() ends the tasks', async function () {
    const BAD = 'BAD-PARTNER';
    const cfg = writeConfig(tmp, {
      [P]: partnerYaml(P, { port: sshd.port, username: sshd.username, key: sshd.privateKeyPath, fp: sshd.hostKeySha256, schedule: '* * * * * *' }),
      [BAD]: partnerYaml(BAD, { port: await freeClosedPort(), username: sshd.username, key: sshd.privateKeyPath, fp: sshd.hostKeySha256, schedule: '* * * * * *', timeoutMs: 2000 }),
    });
    const good = fx.stageMany(5);
    const bad = fx.stageMany(3, { partner: BAD });
    const s = startSchedulers({ db, config: cfg, archive, logger: log, graceMs: 2000 });
    try {
      await waitFor('the good partner to be sent', () => good.every((m) => fx.row(m.id).state === 'SENT'), 15_000);
      for (const m of good) expectOnServer(m);
      await waitFor('the bad partner to fail', () => bad.every((m) => fx.row(m.id).attempts >= 1), 15_000);
      for (const m of bad) {
        const row = fx.row(m.id);
        expect(row.state).to.equal('STAGED');
        expect(row.last_error).to.match(/ECONNREFUSED|connect/);
      }
      const st = s.state().find((x) => x.partner === BAD)!;
      expect(st.failures).to.be.greaterThan(0);
      expect(st.lastResult!.error).to.be.a('string');
      expect(s.state().find((x) => x.partner === P)!.failures).to.equal(0);
      expect(log.entries.some((e) => e.msg.includes('backing off') && e.fields.partner === BAD)).to.equal(true);
    } finally {
      const t0 = Date.now();
      await s.stop();
      expect(Date.now() - t0).to.be.lessThan(15_000);
    }
    // no more cycles after stop: no task is left to fire, and none can be started
    const late = fx.stage();
    expect(s.state().every((x) => x.nextRunAt === null && !x.running)).to.equal(true);
    expect([...cron.getTasks().values()].some((t) => t.name === `batch:${P}` || t.name === `batch:${BAD}`)).to.equal(false);
    let refused: unknown;
    await s.runNow(P).catch((e: unknown) => (refused = e));
    expect(String(refused)).to.contain('the schedulers are stopping');
    expect(fx.row(late.id).state).to.equal('STAGED');
    expect(fx.countByState(P).SENDING ?? 0).to.equal(0);
  });

  it('scheduler: stop() during a cycle against a hung server returns in bounded time; nothing stays SENDING', async function () {
    const cfg = writeConfig(tmp, {
      [P]: partnerYaml(P, { port: sshd.port, username: sshd.username, key: sshd.privateKeyPath, fp: sshd.hostKeySha256, schedule: '0 0 1 1 *', timeoutMs: 5000 }),
    });
    const msgs = fx.stageMany(20);
    const s = startSchedulers({ db, config: cfg, archive, logger: log, graceMs: 500 });
    sshd.freeze(); // connections open but nothing answers
    const inFlight = s.runNow(P);
    await waitFor('the batch to be claimed', () => fx.countByState(P).SENDING === 20, 5000);
    const t0 = Date.now();
    await s.stop();
    const took = Date.now() - t0;
    expect(took).to.be.lessThan(500 + 4000 + 1000);
    const r = await inFlight;
    expect(r.sent).to.equal(0);
    expect(fx.countByState(P)).to.deep.equal({ STAGED: 20 });
    sshd.thaw();
    for (const m of msgs) expect(fx.row(m.id).last_error).to.be.a('string');
    expect(serverFiles()).to.deep.equal([]);
  });
});
