// Intake against a real file system and a real SQLite ledger: stability, claiming, staging
// all-or-nothing, error/ reports, duplicates, reversal rules, crash recovery of work/.
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { startDaemon, type Daemon } from '../src/daemon.js';
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
