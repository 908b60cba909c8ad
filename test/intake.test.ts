// Intake against a real file system and a real SQLite ledger: stability, claiming, staging
// all-or-nothing, error/ reports, duplicates, reversal rules, crash recovery of work/.
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { Archive } from '../src/archive/archive.js';
import { startDaemon, type Daemon } from '../src/daemon.js';
import { processClaimed, type ClaimedFile, type IntakeDeps } from '../src/intake/intake.js';
import { openLedger, type Db } from '../src/ledger/db.js';
import { intakeAttempt, startIntakeAttempt } from '../src/ledger/intake-attempts.js';
import { Ledger } from '../src/ledger/ledger.js';
import { moveMessage } from '../src/ledger/message-states.js';
import { makeEnv, waitFor, type TestEnv } from './support/daemon-env.js';
import { VALID_DIR } from './support/fixtures.js';

const PRODUCED = fs.readFileSync(path.join(VALID_DIR, 'materials-produced.erp-delimited.txt'));
const PRODUCED_REV = fs.readFileSync(path.join(VALID_DIR, 'materials-produced-reversal.erp-delimited.txt'));

function producedFile(ref: string, lines = 1): string {
  const lin = Array.from({ length: lines }, (_, i) => `LIN|GTIN|00312345678906|LOT${i}|${i + 1}.5|EA|20281130`);
  return ['HDR|MATERIALS_PRODUCED|ACME-PHARMA|20261125101500|EXP-1', `DOC|${ref}|WO-1|20261124|153000|x`, ...lin, `TRL|${lines + 1}`].join('\n') + '\n';
}

describe('intake (real files, real ledger)', function () {
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

  const fileStates = () => daemon!.db.prepare('SELECT name, state, messages FROM files ORDER BY id').all() as { name: string; state: string; messages: number }[];
  const stagedCount = () => (daemon!.db.prepare(`SELECT count(*) AS n FROM messages m JOIN files f ON f.id = m.file_id WHERE f.state = 'CONVERTED' AND m.state = 'STAGED'`).get() as { n: number }).n;

  it('picks up files present before start, stages their messages and archives the input', async () => {
    fs.mkdirSync(env.inbound, { recursive: true });
    fs.writeFileSync(path.join(env.inbound, 'produced.txt'), PRODUCED);
    daemon = await startDaemon(env.config, env.logger);
    const rows = await waitFor('conversion', () => fileStates().find((f) => f.state !== 'RECEIVED') && fileStates());
    expect(rows).to.deep.equal([{ name: 'produced.txt', state: 'CONVERTED', messages: 3 }]);
    expect(stagedCount()).to.equal(3);
    const outbox = fs.readdirSync(path.join(env.config.dataDir, 'outbox', 'ACME-PHARMA')).sort();
    expect(outbox).to.deep.equal(['T000000000001.xml', 'T000000000002.xml', 'T000000000003.xml']);
    expect(fs.readdirSync(env.inbound)).to.deep.equal([]);
    expect(fs.readdirSync(path.join(env.config.dataDir, 'work'))).to.deep.equal([]);
    expect(daemon.archive.verify()).to.deep.equal([]);
    const manifests = daemon.db.prepare('SELECT kind, path FROM manifests').all() as { kind: string; path: string }[];
    expect(manifests.map((m) => m.kind)).to.deep.equal(['intake']);
    const archived = path.join(env.config.dataDir, 'archive', path.dirname(manifests[0]!.path), 'produced.txt');
    expect(fs.readFileSync(archived).equals(PRODUCED)).to.equal(true);
    expect(fs.statSync(archived).mode & 0o777).to.equal(0o640);
  });

  it('never reads a slowly written file half-way, and ignores temp names, dotfiles and symlinks', async () => {
    daemon = await startDaemon(env.config, env.logger);
    fs.writeFileSync(path.join(env.inbound, 'upload.part'), PRODUCED);
    fs.writeFileSync(path.join(env.inbound, '.hidden'), PRODUCED);
    fs.writeFileSync(path.join(env.inbound, 'x.tmp'), PRODUCED);
    fs.symlinkSync(path.join(VALID_DIR, 'materials-issued.erp-delimited.txt'), path.join(env.inbound, 'link.txt'));
    // a writer that pauses between pieces for less than stableMs (300 ms), for 2.5 s in all
    const text = producedFile('SLOW-1', 20);
    const target = path.join(env.inbound, 'slow.txt');
    const step = Math.ceil(text.length / 12);
    for (let i = 0; i < text.length; i += step) {
      fs.appendFileSync(target, text.slice(i, i + step));
      await new Promise((r) => setTimeout(r, 200)); // the writer's own pace, not a wait for the daemon
      expect(fileStates().length, 'claimed while still being written').to.equal(0);
    }
    const rows = await waitFor('slow file converted', () => fileStates().find((f) => f.state !== 'RECEIVED') && fileStates());
    expect(rows).to.deep.equal([{ name: 'slow.txt', state: 'CONVERTED', messages: 1 }]);
    // a rescan (called directly, not waited for) finds nothing to claim: no candidate at all
    daemon.watcher.rescan();
    expect(daemon.watcher.backlog).to.equal(0);
    expect(fileStates().length).to.equal(1);
    expect(fs.readdirSync(env.inbound).sort()).to.deep.equal(['.hidden', 'link.txt', 'upload.part', 'x.tmp']);
    expect(env.logs.some((l) => l.msg.includes('symbolic link'))).to.equal(true);
  });

  it('processes two thousand files dropped at once, each exactly once', async function () {
    this.timeout(240000);
    daemon = await startDaemon(env.config, env.logger);
    const stage = path.join(env.dir, 'stage');
    fs.mkdirSync(stage);
    for (let i = 0; i < 2000; i++) fs.writeFileSync(path.join(stage, `f${i}.txt`), producedFile(`REF-${i}`));
    for (let i = 0; i < 2000; i++) fs.renameSync(path.join(stage, `f${i}.txt`), path.join(env.inbound, `f${i}.txt`));
    await waitFor('all converted', () => (daemon!.db.prepare(`SELECT count(*) AS n FROM files WHERE state = 'CONVERTED'`).get() as { n: number }).n === 2000, 220000);
    expect((daemon.db.prepare('SELECT count(*) AS n FROM files').get() as { n: number }).n).to.equal(2000);
    expect(stagedCount()).to.equal(2000);
    expect((daemon.db.prepare('SELECT count(DISTINCT fcn) AS n FROM messages').get() as { n: number }).n).to.equal(2000);
    // numbers reserved in blocks but not handed out go back: no gaps between files
    expect((daemon.db.prepare('SELECT max(fcn) AS m FROM messages').get() as { m: string }).m).to.equal('T000000002000');
  });

  it('puts a bad file into error/ with both reports and stages nothing of it', async () => {
    daemon = await startDaemon(env.config, env.logger);
    const bad = producedFile('GOOD-1').replace('1.5|EA', '1,5|EA').replace('TRL|2', 'TRL|7');
    fs.writeFileSync(path.join(env.inbound, 'bad.txt'), bad);
    await waitFor('failed', () => fileStates().find((f) => f.state === 'FAILED'));
    const errDir = path.join(env.config.dataDir, 'error');
    expect(fs.readdirSync(errDir).sort()).to.deep.equal(['bad.txt', 'bad.txt.error.json', 'bad.txt.error.txt']);
    expect(fs.readFileSync(path.join(errDir, 'bad.txt'), 'utf8')).to.equal(bad);
    const txt = fs.readFileSync(path.join(errDir, 'bad.txt.error.txt'), 'utf8');
    expect(txt).to.contain('line 3, field QTY: "1,5" is not a decimal number');
    expect(txt).to.contain('line 4, field COUNT');
    const json = JSON.parse(fs.readFileSync(path.join(errDir, 'bad.txt.error.json'), 'utf8'));
    expect(json).to.include({ file: 'bad.txt', reason: 'invalid' });
    expect(json.sha256).to.match(/^[0-9a-f]{64}$/);
    expect(json.errors[0]).to.deep.equal({ line: 3, field: 'QTY', value: '1,5', message: 'is not a decimal number (the decimal separator is ".")', original: null });
    expect((daemon.db.prepare('SELECT count(*) AS n FROM messages').get() as { n: number }).n).to.equal(0);
    const outbox = path.join(env.config.dataDir, 'outbox', 'ACME-PHARMA');
    expect(fs.existsSync(outbox) ? fs.readdirSync(outbox) : []).to.deep.equal([]);
  });

  it('rejects a re-dropped file and a re-sent document as duplicates naming the original', async () => {
    daemon = await startDaemon(env.config, env.logger);
    fs.writeFileSync(path.join(env.inbound, 'a.txt'), producedFile('DOC-7'));
    await waitFor('first', () => fileStates().find((f) => f.state === 'CONVERTED'));
    fs.writeFileSync(path.join(env.inbound, 'a-again.txt'), producedFile('DOC-7'));
    await waitFor('same content', () => fileStates().find((f) => f.name === 'a-again.txt' && f.state === 'DUPLICATE'));
    fs.writeFileSync(path.join(env.inbound, 'b.txt'), producedFile('DOC-7', 2));
    await waitFor('same document', () => fileStates().find((f) => f.name === 'b.txt' && f.state === 'DUPLICATE'));
    const json = JSON.parse(fs.readFileSync(path.join(env.config.dataDir, 'error', 'b.txt.error.json'), 'utf8'));
    expect(json.reason).to.equal('duplicate');
    expect(json.errors[0]).to.include({ line: 2, field: 'REFERENCE_DOC_NO', value: 'DOC-7' });
    expect(json.errors[0].original).to.deep.include({ file: 'a.txt', fileControlNumber: 'T000000000001' });
    expect(stagedCount()).to.equal(1);
  });

  it('checks reversals against their original: unknown original and over-reversal are rejected', async () => {
    daemon = await startDaemon(env.config, env.logger);
    fs.writeFileSync(path.join(env.inbound, 'rev-first.txt'), PRODUCED_REV);
    await waitFor('reversal without original', () => fileStates().find((f) => f.name === 'rev-first.txt' && f.state === 'FAILED'));
    const json = JSON.parse(fs.readFileSync(path.join(env.config.dataDir, 'error', 'rev-first.txt.error.json'), 'utf8'));
    expect(json.reason).to.equal('rule');
    expect(json.errors.every((e: { field: string }) => e.field === 'ORIGINAL_REFERENCE_DOC_NO')).to.equal(true);

    fs.writeFileSync(path.join(env.inbound, 'orig.txt'), PRODUCED);
    await waitFor('original', () => fileStates().find((f) => f.name === 'orig.txt' && f.state === 'CONVERTED'));
    fs.writeFileSync(path.join(env.inbound, 'rev.txt'), PRODUCED_REV);
    await waitFor('reversal', () => fileStates().find((f) => f.name === 'rev.txt' && f.state === 'CONVERTED'));
    // the same quantities again, under new document numbers: now more than the original
    const again = PRODUCED_REV.toString('utf8').replace(/^DOC\|([^|]+)/gm, 'DOC|$1X');
    fs.writeFileSync(path.join(env.inbound, 'rev-again.txt'), again);
    await waitFor('over-reversal', () => fileStates().find((f) => f.name === 'rev-again.txt' && f.state === 'FAILED'));
    const j2 = JSON.parse(fs.readFileSync(path.join(env.config.dataDir, 'error', 'rev-again.txt.error.json'), 'utf8'));
    expect(j2.reason).to.equal('rule');
    expect(j2.errors.some((e: { field: string; message: string }) => e.field === 'QTY' && e.message.includes('more than'))).to.equal(true);
  });

  it('resumes a file left in work/ by a crash: staged once, no orphan outbox files', async () => {
    daemon = await startDaemon(env.config, env.logger);
    fs.writeFileSync(path.join(env.inbound, 'one.txt'), producedFile('ONE'));
    await waitFor('first', () => fileStates().find((f) => f.state === 'CONVERTED'));
    // simulate a kill -9 mid-conversion: a claimed file with its RECEIVED row, some outbox
    // XML of it on disk and an orphan outbox file whose row never committed
    const workPath = path.join(env.config.dataDir, 'work', '20261125T000000000Z-1-1--crash.txt');
    fs.writeFileSync(workPath, producedFile('CRASH', 3));
    daemon.ledger.insertFile({ name: 'crash.txt', inbound: env.config.inbound[0]!.path, layout: 'erp-delimited', sha256: 'x', bytes: 1, workPath });
    fs.writeFileSync(path.join(env.config.dataDir, 'outbox', 'ACME-PHARMA', 'T000000099999.xml'), '<half');
    await daemon.stop();
    daemon = await startDaemon(env.config, env.logger);
    const rows = fileStates();
    expect(rows.map((r) => [r.name, r.state, r.messages])).to.deep.equal([
      ['one.txt', 'CONVERTED', 1],
      ['crash.txt', 'CONVERTED', 1],
    ]);
    expect(fs.readdirSync(path.join(env.config.dataDir, 'work'))).to.deep.equal([]);
    expect(fs.existsSync(path.join(env.config.dataDir, 'outbox', 'ACME-PHARMA', 'T000000099999.xml'))).to.equal(false);
    expect(stagedCount()).to.equal(2);
    expect(daemon.archive.verify()).to.deep.equal([]);
  });
});

describe('reprocess (operator)', function () {
  this.timeout(60000);
  let env: TestEnv;
  let daemon: Daemon | undefined;
  beforeEach(() => (env = makeEnv()));
  afterEach(async () => {
    await daemon?.stop();
    env.dispose();
  });

  it('sends an error/ file through intake again, recording who, when and why', async () => {
    const { main } = await import('../src/cli/main.js');
    daemon = await startDaemon(env.config, env.logger);
    const state = (name: string) =>
      (daemon!.db.prepare('SELECT state FROM files WHERE name = ? ORDER BY id DESC LIMIT 1').get(name) as { state: string } | undefined)?.state;
    fs.writeFileSync(path.join(env.inbound, 'rev.txt'), PRODUCED_REV);
    await waitFor('reversal rejected', () => state('rev.txt') === 'FAILED');
    fs.writeFileSync(path.join(env.inbound, 'orig.txt'), PRODUCED);
    await waitFor('original converted', () => state('orig.txt') === 'CONVERTED');

    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (l: string) => out.push(l), err: (l: string) => err.push(l) };
    expect(await main(['reprocess', 'rev.txt', '--config', env.configPath], io)).to.equal(2); // no reason
    expect(await main(['reprocess', 'nope.txt', '--reason', 'x', '--config', env.configPath], io)).to.equal(1);
    const rc = await main(['reprocess', 'rev.txt', '--reason', 'original now staged', '--config', env.configPath], io);
    expect(rc, err.join('\n')).to.equal(0);
    expect(out.at(-1)).to.contain('CONVERTED');
    expect(state('rev.txt')).to.equal('CONVERTED');
    expect(fs.readdirSync(path.join(env.config.dataDir, 'error'))).to.deep.equal([]);
    const action = daemon.db.prepare('SELECT command, target, reason, os_user FROM operator_actions').get() as Record<string, string>;
    expect(action).to.include({ command: 'reprocess', target: 'rev.txt', reason: 'original now staged' });
    expect(action.os_user).to.be.a('string').and.not.equal('');
    const kinds = (daemon.db.prepare('SELECT kind FROM manifests ORDER BY seq').all() as { kind: string }[]).map((r) => r.kind);
    expect(kinds).to.deep.equal(['intake', 'intake', 'operator', 'intake']);
    expect(daemon.archive.verify()).to.deep.equal([]);
    const rows = daemon.db.prepare(`SELECT reprocess_of FROM files WHERE name = 'rev.txt' ORDER BY id`).all() as { reprocess_of: number | null }[];
    expect(rows[1]!.reprocess_of).to.equal(1);
  });
});

// ---------------------------------------------------------------------------------------------
// Untrusted input (product.md 6), by direct calls of processClaimed on a real ledger, archive
// and file system. Where an "unexpected error" is needed, an Archive whose add() throws for
// chosen outcomes stands in for a bug: a real one cannot be produced once fixed.

class FaultyArchive extends Archive {
  /** throw on this many add() calls for these outcomes, with this error */
  faults: { outcome: string; left: number; error: () => Error } | undefined;
  override add<T = void>(...args: Parameters<Archive['add']>): { dir: string; manifestSha256: string; result: T } {
    const f = this.faults;
    if (f && args[3]?.outcome === f.outcome && f.left > 0) {
      f.left--;
      throw f.error();
    }
    return super.add(...args) as { dir: string; manifestSha256: string; result: T };
  }
}

describe('intake of untrusted input (direct calls, real ledger and files)', function () {
  this.timeout(60000);
  let env: TestEnv;
  let db: Db;
  let ledger: Ledger;
  let archive: FaultyArchive;
  let deps: IntakeDeps;
  let seq = 0;
  let dataDir: string;

  beforeEach(() => {
    env = makeEnv({ extraYaml: 'maxInputBytes: 4096' });
    dataDir = env.config.dataDir;
    fs.mkdirSync(path.join(dataDir, 'work'), { recursive: true });
    db = openLedger(path.join(dataDir, 'ledger.sqlite'));
    ledger = new Ledger(db);
    archive = new FaultyArchive(path.join(dataDir, 'archive'), db);
    deps = { config: env.config, ledger, archive, logger: env.logger };
  });
  afterEach(() => {
    db.close();
    env.dispose();
  });

  /** a file as the watcher leaves it after the claim */
  const claimed = (name: string, content: string | Buffer): ClaimedFile => {
    const workPath = path.join(dataDir, 'work', `20261202T000000000Z-1-${++seq}--${name}`);
    fs.writeFileSync(workPath, content);
    return { workPath, name, inbound: env.config.inbound[0]! };
  };
  const errorDir = () => path.join(dataDir, 'error');
  const report = (name: string) => JSON.parse(fs.readFileSync(path.join(errorDir(), `${name}.error.json`), 'utf8'));
  const manifestOf = (fileId: number) => {
    const row = db.prepare('SELECT archive_dir FROM files WHERE id = ?').get(fileId) as { archive_dir: string };
    return JSON.parse(fs.readFileSync(path.join(dataDir, 'archive', row.archive_dir, 'manifest.json'), 'utf8'));
  };

  it('an unexpected error twice sends the file to error/ with reason internal and the error text; intake goes on', async () => {
    archive.faults = { outcome: 'CONVERTED', left: 2, error: () => new TypeError('boom: a bug in intake') };
    const c = claimed('good.txt', producedFile('INT-1'));
    const out = await processClaimed(deps, c);
    expect(out.state).to.equal('FAILED');
    const r = report('good.txt');
    expect(r.reason).to.equal('internal');
    expect(r.errors[0].message).to.contain('boom: a bug in intake').and.contain('2 times');
    expect(fs.readFileSync(path.join(errorDir(), 'good.txt'), 'utf8')).to.equal(producedFile('INT-1'));
    expect(env.logs.filter((l) => l.msg === 'intake threw an unexpected error').map((l) => l.fields?.failures)).to.deep.equal([1, 2]);
    expect(fs.readdirSync(path.join(dataDir, 'work'))).to.deep.equal([]);
    expect(db.prepare('SELECT count(*) FROM intake_attempts').pluck().get()).to.equal(0);
    expect((db.prepare(`SELECT count(*) AS n FROM messages`).get() as { n: number }).n).to.equal(0);
    expect(archive.verify()).to.deep.equal([]);
    // the next file is converted as usual
    expect((await processClaimed(deps, claimed('next.txt', producedFile('INT-2')))).state).to.equal('CONVERTED');
  });

  it('a kill does not count against a file (only caught exceptions do); one failure is retried at once', async () => {
    const c = claimed('killed.txt', producedFile('KILL-1'));
    // two attempts that started and never ended: the process was killed during them
    startIntakeAttempt(db, c.workPath);
    startIntakeAttempt(db, c.workPath);
    archive.faults = { outcome: 'CONVERTED', left: 1, error: () => new RangeError('once') };
    const out = await processClaimed(deps, c);
    expect(out.state).to.equal('CONVERTED');
    expect(env.logs.filter((l) => l.msg === 'intake threw an unexpected error').map((l) => [l.fields?.attempt, l.fields?.failures])).to.deep.equal([[3, 1]]);
  });

  it('the machine failing (a full disk) is no failure of the file: it stays in work/, uncounted', async () => {
    const c = claimed('full.txt', producedFile('FULL-1'));
    archive.faults = { outcome: 'CONVERTED', left: 5, error: () => Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' }) };
    let thrown: unknown;
    await processClaimed(deps, c).catch((e) => (thrown = e));
    expect((thrown as NodeJS.ErrnoException).code).to.equal('ENOSPC');
    expect(intakeAttempt(db, c.workPath)).to.include({ started: 1, failed: 0 });
    expect(fs.existsSync(c.workPath)).to.equal(true);
    archive.faults = undefined;
    expect((await processClaimed(deps, c)).state).to.equal('CONVERTED');
  });

  it('a crash between the error/ reports and their commit never writes the report twice (no name.1)', async () => {
    const bad = producedFile('BAD-1').replace('1.5|EA', '1,5|EA');
    const c = claimed('bad.txt', bad);
    // the reports are written, then the commit fails the way a crash would leave it
    archive.faults = { outcome: 'FAILED', left: 1, error: () => Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }) };
    await processClaimed(deps, c).catch(() => undefined);
    expect(fs.readdirSync(errorDir()).sort()).to.deep.equal(['bad.txt', 'bad.txt.error.json', 'bad.txt.error.txt']);
    const out = await processClaimed(deps, c);
    expect(out.state).to.equal('FAILED');
    expect(fs.readdirSync(errorDir()).sort()).to.deep.equal(['bad.txt', 'bad.txt.error.json', 'bad.txt.error.txt']);
    expect(db.prepare('SELECT error_path FROM files WHERE id = ?').pluck().get(out.fileId)).to.equal(path.join(errorDir(), 'bad.txt'));
    // another file of the same name still gets its own name
    await processClaimed(deps, claimed('bad.txt', bad.replace('BAD-1', 'BAD-2')));
    expect(fs.readdirSync(errorDir()).filter((n) => !n.includes('.error.'))).to.deep.equal(['bad.txt', 'bad.txt.1']);
    expect(archive.verify()).to.deep.equal([]);
  });

  it('a name the archive uses itself (manifest.json) is converted and stored under another name, the original kept', async () => {
    const out = await processClaimed(deps, claimed('manifest.json', producedFile('MAN-1')));
    expect(out.state).to.equal('CONVERTED');
    const m = manifestOf(out.fileId);
    expect(m).to.include({ file: 'manifest.json', storedAs: 'input-manifest.json' });
    expect(m.files.map((f: { path: string }) => f.path)).to.deep.equal(['input-manifest.json']);
    // and a failing one: error/ keeps its name, the archive the other one
    const bad = await processClaimed(deps, claimed('manifest.json', 'not a flat file\n'));
    expect(bad.state).to.equal('FAILED');
    expect(fs.existsSync(path.join(errorDir(), 'manifest.json'))).to.equal(true);
    expect(manifestOf(bad.fileId).files.map((f: { path: string }) => f.path)).to.deep.equal(['input-manifest.json', 'input-manifest.json.error.json']);
    expect(archive.verify()).to.deep.equal([]);
  });

  for (const code of ['constructor', '__proto__', 'toString', 'hasOwnProperty'])
    it(`an HDR partner code ${code} is no configured partner: FAILED with a report`, async () => {
      const out = await processClaimed(deps, claimed(`${code}.txt`, producedFile('P-1').replace('|ACME-PHARMA|', `|${code}|`)));
      expect(out.state).to.equal('FAILED');
      expect(report(`${code}.txt`).errors[0]).to.include({ line: 1, field: 'PARTNER', value: code });
      expect(report(`${code}.txt`).errors[0].message).to.match(/^is not a configured partner/);
    });

  it('a file with more than one hard link is FAILED with a report, read from the claimed descriptor', async () => {
    const c = claimed('linked.txt', producedFile('LINK-1'));
    fs.linkSync(c.workPath, path.join(env.dir, 'other-name.txt'));
    const out = await processClaimed(deps, c);
    expect(out.state).to.equal('FAILED');
    expect(report('linked.txt')).to.include({ reason: 'invalid' });
    expect(report('linked.txt').errors[0].message).to.contain('2 hard links');
    expect(fs.readFileSync(path.join(errorDir(), 'linked.txt'), 'utf8')).to.equal(producedFile('LINK-1'));
  });

  it('a file over maxInputBytes is FAILED unread (too-large): hashed, moved to error/, not archived', async () => {
    const big = Buffer.alloc(5000, 'x');
    const out = await processClaimed(deps, claimed('big.txt', big));
    expect(out.state).to.equal('FAILED');
    const r = report('big.txt');
    expect(r).to.include({ reason: 'too-large', archived: false, sha256: createHash('sha256').update(big).digest('hex') });
    expect(r.errors[0].message).to.contain('over maxInputBytes (4096)');
    expect(fs.readFileSync(path.join(errorDir(), 'big.txt')).equals(big)).to.equal(true);
    const m = manifestOf(out.fileId);
    expect(m).to.include({ reason: 'too-large', archived: false, bytes: 5000 });
    expect(m.files.map((f: { path: string }) => f.path)).to.deep.equal(['big.txt.error.json']);
    expect(fs.readdirSync(path.join(dataDir, 'work'))).to.deep.equal([]);
    expect(archive.verify()).to.deep.equal([]);
  });

  it('a crash after a too-large outcome committed but before the move: the next attempt moves it, nothing lost', async () => {
    const c = claimed('big2.txt', Buffer.alloc(5000, 'y'));
    const out = await processClaimed(deps, c);
    // undo the move, as if the process died right after the commit
    fs.renameSync(path.join(errorDir(), 'big2.txt'), c.workPath);
    db.prepare('UPDATE files SET work_path = ? WHERE id = ?').run(c.workPath, out.fileId);
    expect((await processClaimed(deps, c)).state).to.equal('FAILED');
    expect(fs.statSync(path.join(errorDir(), 'big2.txt')).size).to.equal(5000);
    expect(fs.existsSync(c.workPath)).to.equal(false);
  });

  it('a claimed path that turned into a FIFO is never opened for reading and is put back', async () => {
    const workPath = path.join(dataDir, 'work', '20261202T000000000Z-1-99--pipe.txt');
    fs.mkdirSync(env.inbound, { recursive: true });
    execFileSync('mkfifo', [workPath]);
    let thrown: unknown;
    await processClaimed(deps, { workPath, name: 'pipe.txt', inbound: env.config.inbound[0]! }).catch((e) => (thrown = e));
    expect((thrown as Error).name).to.equal('NotAnInputError');
    expect(fs.lstatSync(path.join(env.inbound, 'pipe.txt')).isFIFO()).to.equal(true);
    expect(intakeAttempt(db, workPath)?.failed ?? 0).to.equal(0);
  });

  it('a byte-identical re-drop of a file whose messages were all CANCELLED (or REJECTED) is converted anew', async () => {
    const text = producedFile('CAN-1');
    const first = await processClaimed(deps, claimed('can.txt', text));
    const id = db.prepare('SELECT id FROM messages WHERE file_id = ?').pluck().get(first.fileId) as number;
    // while its message is live, the same bytes are a duplicate
    expect((await processClaimed(deps, claimed('can-again.txt', text))).state).to.equal('DUPLICATE');
    moveMessage(db, id, 'STAGED', 'CANCELLED');
    const again = await processClaimed(deps, claimed('can-third.txt', text));
    expect(again.state).to.equal('CONVERTED');
    const fcns = db.prepare(`SELECT fcn FROM messages WHERE reference_doc = 'CAN-1' ORDER BY id`).pluck().all();
    expect(fcns).to.have.length(2);
    expect(new Set(fcns).size).to.equal(2);
  });

  it('reversals: a HELD original is known, a CANCELLED one counts as never sent', async () => {
    const orig = await processClaimed(deps, claimed('orig.txt', PRODUCED));
    const ids = db.prepare('SELECT id FROM messages WHERE file_id = ? ORDER BY id').pluck().all(orig.fileId) as number[];
    for (const id of ids) moveMessage(db, id, 'STAGED', 'HELD');
    expect((await processClaimed(deps, claimed('rev.txt', PRODUCED_REV))).state).to.equal('CONVERTED');
    for (const id of ids) moveMessage(db, id, 'HELD', 'CANCELLED');
    const again = PRODUCED_REV.toString('utf8').replace(/^DOC\|([^|]+)/gm, 'DOC|$1Y');
    const out = await processClaimed(deps, claimed('rev2.txt', again));
    expect(out.state).to.equal('FAILED');
    expect(report('rev2.txt').errors.map((e: { field: string }) => e.field)).to.include('ORIGINAL_REFERENCE_DOC_NO');
    expect(report('rev2.txt').errors[0].message).to.contain('unknown, rejected or cancelled');
  });
});
