// Intake's group commit (src/intake/group.ts) by direct calls on a real ledger, archive and
// files: several claimed files, one commit for the plain ones; a bad file ends in error/ alone
// with its report; a file that depends on an earlier one of the same group (same content, its
// original, the same document) is judged after that one's commit, exactly as one by one.
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { Archive } from '../src/archive/archive.js';
import { newStagingFolder, placeStagedMany, recoverStaging } from '../src/archive/staging.js';
import { readSmall, SMALL_INPUT_BYTES } from '../src/intake/claim.js';
import { processClaimedGroup, type GroupResult } from '../src/intake/group.js';
import type { ClaimedFile, IntakeDeps } from '../src/intake/intake.js';
import { openLedger, type Db } from '../src/ledger/db.js';
import { Ledger } from '../src/ledger/ledger.js';
import { sha256 } from '../src/util/sha256.js';
import { makeEnv, type TestEnv } from './support/daemon-env.js';
import { xmllintAll } from './support/daemon-process.js';
import { strictWorkOrderXsd, VALID_DIR } from './support/fixtures.js';

const PRODUCED = fs.readFileSync(path.join(VALID_DIR, 'materials-produced.erp-delimited.txt'), 'utf8');
const PRODUCED_REV = fs.readFileSync(path.join(VALID_DIR, 'materials-produced-reversal.erp-delimited.txt'), 'utf8');

function producedFile(ref: string): string {
  return ['HDR|MATERIALS_PRODUCED|ACME-PHARMA|20261125101500|EXP-1', `DOC|${ref}|WO-1|20261124|153000|x`, 'LIN|GTIN|00312345678906|LOT1|1.5|EA|20281130', 'TRL|2'].join('\n') + '\n';
}

describe('intake group commit (direct calls, real ledger and files)', function () {
  this.timeout(60000);
  let env: TestEnv;
  let db: Db;
  let archive: Archive;
  let deps: IntakeDeps;
  let seq = 0;
  let dataDir: string;

  beforeEach(() => {
    env = makeEnv();
    dataDir = env.config.dataDir;
    fs.mkdirSync(path.join(dataDir, 'work'), { recursive: true });
    db = openLedger(path.join(dataDir, 'ledger.sqlite'));
    archive = new Archive(path.join(dataDir, 'archive'), db);
    deps = { config: env.config, ledger: new Ledger(db), archive, logger: env.logger };
  });
  afterEach(() => {
    db.close();
    env.dispose();
  });

  const claimed = (name: string, content: string): ClaimedFile => {
    const workPath = path.join(dataDir, 'work', `20261202T000000000Z-1-${++seq}--${name}`);
    fs.writeFileSync(workPath, content);
    return { workPath, name, inbound: env.config.inbound[0]! };
  };
  const states = (rs: GroupResult[]) => rs.map((r) => [r.c.name, 'outcome' in r ? r.outcome.state : `error: ${String(r.error)}`]);
  const manifests = () => db.prepare('SELECT count(*) FROM manifests').pluck().get() as number;

  it('commits plain files together, each with its own archive folder, and leaves work/ empty', async () => {
    const files = Array.from({ length: 20 }, (_, i) => claimed(`f${i}.txt`, producedFile(`G-${i}`)));
    const before = manifests();
    const rs = await processClaimedGroup(deps, files);
    expect(states(rs)).to.deep.equal(files.map((f) => [f.name, 'CONVERTED']));
    expect(manifests() - before).to.equal(20);
    const rows = db.prepare('SELECT state, archive_dir, work_path FROM files ORDER BY id').all() as { state: string; archive_dir: string; work_path: string | null }[];
    expect(new Set(rows.map((r) => r.archive_dir)).size).to.equal(20);
    expect(rows.every((r) => r.state === 'CONVERTED' && r.work_path === null)).to.equal(true);
    expect(db.prepare(`SELECT count(*) FROM messages WHERE state = 'STAGED'`).pluck().get()).to.equal(20);
    // consecutive numbers, none lost
    const fcns = db.prepare('SELECT fcn FROM messages ORDER BY fcn').pluck().all() as string[];
    expect(fcns.map((f) => Number(f.slice(-12)))).to.deep.equal(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(fs.readdirSync(path.join(dataDir, 'work'))).to.deep.equal([]);
    expect(db.prepare('SELECT count(*) FROM intake_attempts').pluck().get()).to.equal(0);
    expect(archive.verify()).to.deep.equal([]);
    expect(recoverStaging(db, archive.root)).to.deep.equal({ unplaced: [], removed: 0, kept: 0 });
  });

  it('files claimed while a call runs join its pipeline through more(): each converted once, in claim order, the numbers consecutive', async () => {
    const names = Array.from({ length: 7 }, (_, i) => `m${i}.txt`);
    const files = names.map((n, i) => claimed(n, producedFile(`M-${i}`)));
    const waiting = files.slice(1);
    const asked: number[] = [];
    // two files after the first group, the rest after the second, then nothing
    const more = () => {
      const extra = asked.length === 0 ? waiting.splice(0, 2) : waiting.splice(0);
      asked.push(extra.length);
      return extra;
    };
    const rs = await processClaimedGroup(deps, files.slice(0, 1), undefined, more);
    expect(states(rs)).to.deep.equal(names.map((n) => [n, 'CONVERTED']));
    expect(asked.slice(0, 2)).to.deep.equal([2, 4]);
    expect(asked.slice(2).every((n) => n === 0)).to.equal(true);
    const fcns = db.prepare('SELECT fcn FROM messages ORDER BY id').pluck().all() as string[];
    expect(fcns.map((f) => Number(f.slice(-12)))).to.deep.equal(names.map((_, i) => i + 1));
    expect(fs.readdirSync(path.join(dataDir, 'work'))).to.deep.equal([]);
    expect(archive.verify()).to.deep.equal([]);
  });

  it('a small file (read whole at the claim) and one over SMALL_INPUT_BYTES (streamed from its descriptor) are both archived byte for byte under their ledger sha256', async () => {
    const docs = Array.from({ length: 900 }, (_, i) => [`DOC|BIG-${i}|WO-1|20261124|153000|x`, 'LIN|GTIN|00312345678906|LOT1|1.5|EA|20281130']).flat();
    const big = ['HDR|MATERIALS_PRODUCED|ACME-PHARMA|20261125101500|EXP-2', ...docs, `TRL|${docs.length}`].join('\n') + '\n';
    expect(Buffer.byteLength(big)).to.be.above(SMALL_INPUT_BYTES);
    const small = producedFile('S-1');
    const files = [claimed('small.txt', small), claimed('big.txt', big)];
    const rs = await processClaimedGroup(deps, files);
    expect(states(rs)).to.deep.equal([
      ['small.txt', 'CONVERTED'],
      ['big.txt', 'CONVERTED'],
    ]);
    const rows = db.prepare('SELECT name, sha256, bytes, archive_dir FROM files ORDER BY id').all() as { name: string; sha256: string; bytes: number; archive_dir: string }[];
    for (const [r, content] of [
      [rows[0]!, small],
      [rows[1]!, big],
    ] as const) {
      const copy = fs.readFileSync(path.join(archive.root, r.archive_dir, r.name));
      expect(copy.equals(Buffer.from(content)), r.name).to.equal(true);
      expect(r.sha256).to.equal(sha256(content));
      expect(r.bytes).to.equal(copy.length);
      expect(fs.statSync(path.join(archive.root, r.archive_dir, r.name)).mode & 0o777).to.equal(0o640);
    }
    expect(db.prepare(`SELECT count(*) FROM messages WHERE state = 'STAGED'`).pluck().get()).to.equal(901);
    expect(archive.verify()).to.deep.equal([]);
  });

  it('readSmall: one read of the whole file; nothing for a file over the limit or one that grew since its fstat', () => {
    const p = path.join(dataDir, 'work', 'r.txt');
    fs.writeFileSync(p, 'abc\n');
    const fd = fs.openSync(p, 'r');
    try {
      const st = fs.fstatSync(fd);
      expect(readSmall(fd, st)?.toString()).to.equal('abc\n');
      fs.appendFileSync(p, 'more');
      expect(readSmall(fd, st), 'grew after the fstat').to.equal(undefined);
      expect(readSmall(fd, fs.fstatSync(fd))?.toString()).to.equal('abc\nmore');
      expect(readSmall(fd, { ...st, size: SMALL_INPUT_BYTES + 1 } as fs.Stats), 'over the limit').to.equal(undefined);
    } finally {
      fs.closeSync(fd);
    }
    const e = path.join(dataDir, 'work', 'empty.txt');
    fs.writeFileSync(e, '');
    const efd = fs.openSync(e, 'r');
    try {
      expect(readSmall(efd, fs.fstatSync(efd))?.length).to.equal(0);
    } finally {
      fs.closeSync(efd);
    }
  });

  it('a small file whose message fails the XSD (judged in the validation worker) leaves the group: FAILED with the schema problem, nothing of it staged or left in outbox/', async () => {
    // a site XSD: work order numbers are WO- and digits only; the mapping accepts WO-X
    const xsdFile = strictWorkOrderXsd(path.join(dataDir, 'xsd'));
    const config = { ...env.config, messageTypes: { ...env.config.messageTypes, MATERIALS_PRODUCED: { ...env.config.messageTypes.MATERIALS_PRODUCED, schema: xsdFile } } };
    const files = [claimed('a.txt', producedFile('V-1')), claimed('bad.txt', producedFile('V-2').replace('|WO-1|', '|WO-X|')), claimed('c.txt', producedFile('V-3'))];
    const rs = await processClaimedGroup({ ...deps, config }, files);
    expect(states(rs).sort()).to.deep.equal([
      ['a.txt', 'CONVERTED'],
      ['bad.txt', 'FAILED'],
      ['c.txt', 'CONVERTED'],
    ]);
    const bad = rs.find((r) => r.c.name === 'bad.txt')!;
    expect('outcome' in bad && bad.outcome.errors.map((e) => e.message).join('\n')).to.match(/fails the .* schema/);
    expect(fs.readdirSync(path.join(dataDir, 'error')).sort()).to.deep.equal(['bad.txt', 'bad.txt.error.json', 'bad.txt.error.txt']);
    const staged = db.prepare(`SELECT xml_path FROM messages WHERE state = 'STAGED'`).pluck().all() as string[];
    expect(staged).to.have.length(2);
    const outbox = fs.readdirSync(path.join(dataDir, 'outbox', 'ACME-PHARMA')).map((f) => path.join(dataDir, 'outbox', 'ACME-PHARMA', f));
    expect(outbox.sort()).to.deep.equal(staged.sort());
    expect(xmllintAll(xsdFile, outbox)).to.equal('');
    expect(archive.verify()).to.deep.equal([]);
  });

  it('a bad file among good ones ends in error/ alone with its report; the others convert', async () => {
    const bad = producedFile('B-2').replace('1.5|EA', '1,5|EA');
    const files = [claimed('a.txt', producedFile('B-1')), claimed('bad.txt', bad), claimed('c.txt', producedFile('B-3'))];
    const rs = await processClaimedGroup(deps, files);
    expect(states(rs).sort()).to.deep.equal([
      ['a.txt', 'CONVERTED'],
      ['bad.txt', 'FAILED'],
      ['c.txt', 'CONVERTED'],
    ]);
    expect(fs.readdirSync(path.join(dataDir, 'error')).sort()).to.deep.equal(['bad.txt', 'bad.txt.error.json', 'bad.txt.error.txt']);
    expect(fs.readFileSync(path.join(dataDir, 'error', 'bad.txt'), 'utf8')).to.equal(bad);
    expect(db.prepare(`SELECT count(*) FROM messages`).pluck().get()).to.equal(2);
    // the bad file's messages and outbox files are gone: only the two good ones' XML remain
    expect(fs.readdirSync(path.join(dataDir, 'outbox', 'ACME-PHARMA'))).to.have.length(2);
    expect(fs.readdirSync(path.join(dataDir, 'work'))).to.deep.equal([]);
    expect(archive.verify()).to.deep.equal([]);
  });

  it('within one group: the same content twice is a duplicate, the same document twice too, and a reversal finds its original', async () => {
    const files = [
      claimed('orig.txt', PRODUCED),
      claimed('orig-again.txt', PRODUCED),
      claimed('rev.txt', PRODUCED_REV),
      claimed('one.txt', producedFile('D-1')),
      claimed('one-other-file.txt', producedFile('D-1').replace('EXP-1', 'EXP-2')),
    ];
    const rs = await processClaimedGroup(deps, files);
    expect(states(rs).sort()).to.deep.equal([
      ['one-other-file.txt', 'DUPLICATE'],
      ['one.txt', 'CONVERTED'],
      ['orig-again.txt', 'DUPLICATE'],
      ['orig.txt', 'CONVERTED'],
      ['rev.txt', 'CONVERTED'],
    ]);
    expect(fs.readdirSync(path.join(dataDir, 'work'))).to.deep.equal([]);
    expect(archive.verify()).to.deep.equal([]);
  });

  it('a group commit that fails leaves nothing of itself; its files are converted one by one', async () => {
    const files = Array.from({ length: 3 }, (_, i) => claimed(`f${i}.txt`, producedFile(`F-${i}`)));
    const real = archive.addMany.bind(archive);
    let failed = 0;
    archive.addMany = (async () => {
      failed++;
      throw new RangeError('the group commit fails once');
    }) as typeof archive.addMany;
    const rs = await processClaimedGroup(deps, files);
    archive.addMany = real;
    expect(failed).to.equal(1);
    expect(states(rs)).to.deep.equal(files.map((f) => [f.name, 'CONVERTED']));
    expect(db.prepare(`SELECT count(*) FROM messages`).pluck().get()).to.equal(3);
    expect(fs.readdirSync(path.join(dataDir, 'outbox', 'ACME-PHARMA'))).to.have.length(3);
    expect(env.logs.some((l) => l.msg.includes('group commit of intake failed'))).to.equal(true);
    expect(archive.verify()).to.deep.equal([]);
  });

  it('a crash after several folders were placed under one marker, before the commit: the recovery removes every one of them', () => {
    const dirs = ['2026/12/02/intake-901', '2026/12/02/intake-902'];
    const folders = dirs.map((dir) => {
      const staged = newStagingFolder(archive.staging);
      fs.writeFileSync(path.join(staged, 'in.txt'), 'x\n');
      fs.writeFileSync(path.join(staged, 'manifest.json'), '{}\n');
      return { staged, dir };
    });
    // placed, as inside addMany's transaction, but no manifest row ever committed
    placeStagedMany(folders, archive.root);
    for (const d of dirs) expect(fs.existsSync(path.join(archive.root, d))).to.equal(true);
    const r = recoverStaging(db, archive.root);
    expect(r.unplaced.sort()).to.deep.equal(dirs);
    for (const d of dirs) expect(fs.existsSync(path.join(archive.root, d))).to.equal(false);
    expect(fs.readdirSync(archive.staging)).to.deep.equal([]);
    expect(archive.verify()).to.deep.equal([]);
  });
});
