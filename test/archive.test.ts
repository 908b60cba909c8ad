// The archive's add() against a real file system and a real SQLite ledger: streaming copies
// (from a path, from a descriptor), the staging folder outside archive/, and the recovery of
// what a kill -9 leaves at each named crash point (a real child process SIGKILLs itself
// there; product.md 5 and 10: "a crash at any instant never leaves an archive folder outside
// the chain"). Every check of the archive as a whole is the real `tlbridge audit verify`.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Archive } from '../src/archive/archive.js';
import { recoverStaging, stagingRootFor } from '../src/archive/staging.js';
import { openLedger, type Db } from '../src/ledger/db.js';
import { COPY_CHUNK_BYTES } from '../src/util/durable-file.js';
import { operatorCommand, Refused } from '../src/cli/operator-command.js';
import { runCli } from './support/cli.js';
import { makeEnv, type TestEnv } from './support/daemon-env.js';
import { REPO } from './support/daemon-process.js';

const CHILD = path.join(REPO, 'test', 'support', 'archive-crash-child.ts');
const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

describe('archive add(): streaming copies, staging, crash recovery (real files, real ledger)', function () {
  let env: TestEnv;
  let dataDir: string;
  let root: string;
  let staging: string;
  let db: Db | undefined;

  beforeEach(() => {
    env = makeEnv();
    dataDir = env.config.dataDir;
    root = path.join(dataDir, 'archive');
    staging = stagingRootFor(root);
  });
  afterEach(() => {
    if (db?.open) db.close();
    db = undefined;
    env.dispose();
  });

  const open = (): { db: Db; archive: Archive } => {
    db = openLedger(path.join(dataDir, 'ledger.sqlite'));
    return { db, archive: new Archive(root, db) };
  };
  const filesIn = (dir: string): string[] =>
    fs.existsSync(dir) ? (fs.readdirSync(dir, { recursive: true, withFileTypes: true }) as fs.Dirent[]).filter((d) => !d.isDirectory()).map((d) => path.relative(dir, path.join(d.parentPath, d.name))).sort() : [];
  const manifests = (d: Db): { kind: string; ref: string; path: string }[] => d.prepare('SELECT kind, ref, path FROM manifests ORDER BY seq').all() as { kind: string; ref: string; path: string }[];
  async function auditVerify(): Promise<{ code: number; text: string }> {
    const r = await runCli(['audit', 'verify', '--config', env.configPath]);
    return { code: r.code, text: [...r.out, ...r.err].join('\n') };
  }

  describe('streaming copies', function () {
    it('copies a file larger than the copy chunk from a path: same bytes, sha256 and size of the whole file', async () => {
      const big = Buffer.alloc(COPY_CHUNK_BYTES * 2 + COPY_CHUNK_BYTES / 2 + 17);
      for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >> 13)) & 0xff;
      const src = path.join(env.dir, 'big.bin');
      fs.writeFileSync(src, big);
      const { db, archive } = open();
      const { dir } = archive.add('intake', '7', [{ name: 'big.bin', from: src }]);
      const copy = fs.readFileSync(path.join(root, dir, 'big.bin'));
      expect(copy.equals(big), 'archived bytes').to.equal(true);
      const m = JSON.parse(fs.readFileSync(path.join(root, dir, 'manifest.json'), 'utf8')) as { files: { path: string; sha256: string; bytes: number }[] };
      expect(m.files).to.deep.equal([{ path: 'big.bin', sha256: sha(big), bytes: big.length }]);
      expect((fs.statSync(path.join(root, dir, 'big.bin')).mode & 0o777).toString(8)).to.equal('640');
      expect(manifests(db).map((r) => r.path)).to.deep.equal([`${dir}/manifest.json`]);
      expect(filesIn(staging), 'nothing left in staging').to.deep.equal([]);
      const v = await auditVerify();
      expect(v.code, v.text).to.equal(0);
    });

    it('copies from a descriptor whose position is not 0: the whole file from offset 0; the caller keeps the descriptor', async () => {
      const content = Buffer.from('HDR|x\n'.repeat(300_000)); // 1.8 MB: more than one chunk
      const src = path.join(env.dir, 'input.txt');
      fs.writeFileSync(src, content);
      const fd = fs.openSync(src, 'r');
      try {
        // move the descriptor's own position (a read without a position advances it)
        const head = Buffer.alloc(4096);
        expect(fs.readSync(fd, head, 0, head.length, null)).to.equal(4096);
        const { archive } = open();
        const { dir } = archive.add('intake', '8', [{ name: 'input.txt', fd }, { name: 'note.txt', data: 'small\n' }]);
        expect(fs.readFileSync(path.join(root, dir, 'input.txt')).equals(content), 'the whole file, not from the position').to.equal(true);
        const m = JSON.parse(fs.readFileSync(path.join(root, dir, 'manifest.json'), 'utf8')) as { files: { path: string; sha256: string; bytes: number }[] };
        expect(m.files).to.deep.equal([
          { path: 'input.txt', sha256: sha(content), bytes: content.length },
          { path: 'note.txt', sha256: sha('small\n'), bytes: 6 },
        ]);
        // still open, and its position untouched by the positional reads
        expect(fs.fstatSync(fd).size).to.equal(content.length);
        const next = Buffer.alloc(6);
        fs.readSync(fd, next, 0, 6, null);
        expect(next.toString()).to.equal(content.subarray(4096, 4102).toString());
      } finally {
        fs.closeSync(fd);
      }
      const v = await auditVerify();
      expect(v.code, v.text).to.equal(0);
    });
  });

  describe('staging and rollbacks (in this process)', function () {
    it('a ledger change that throws: no manifest row, nothing under archive/ or in staging, the chain intact', async () => {
      const { db, archive } = open();
      archive.add('intake', '1', [{ name: 'a.txt', data: 'a\n' }]);
      expect(() =>
        archive.add('intake', '2', [{ name: 'b.txt', data: 'b\n' }], {}, () => {
          throw new Error('the caller fails');
        }),
      ).to.throw('the caller fails');
      expect(manifests(db).map((r) => r.ref)).to.deep.equal(['1']);
      expect(filesIn(root).filter((f) => f.includes('intake-2')), 'the rolled-back folder').to.deep.equal([]);
      expect(filesIn(staging)).to.deep.equal([]);
      const v = await auditVerify();
      expect(v.code, v.text).to.equal(0);
    });

    it('inside a caller transaction that commits: the folder stays, its marker goes once the transaction ended', async () => {
      const { db, archive } = open();
      const { dir } = db.transaction(() => archive.add('operator', '5', [], { command: 'hold' })).immediate();
      expect(fs.existsSync(path.join(root, dir, 'manifest.json'))).to.equal(true);
      await Promise.resolve(); // the microtask that settles it
      expect(filesIn(staging)).to.deep.equal([]);
      const v = await auditVerify();
      expect(v.code, v.text).to.equal(0);
    });

    it('inside a caller transaction that rolls back after add() returned: the placed folder is removed', async () => {
      const { db, archive } = open();
      let dir = '';
      expect(() =>
        db
          .transaction(() => {
            dir = archive.add('acks', 'P-1', [{ name: 'ack.xml', data: '<a/>' }]).dir;
            throw new Error('later in the caller');
          })
          .immediate(),
      ).to.throw('later in the caller');
      await Promise.resolve();
      expect(manifests(db)).to.deep.equal([]);
      expect(fs.existsSync(path.join(root, dir)), 'the folder of a rolled-back transaction').to.equal(false);
      expect(filesIn(staging)).to.deep.equal([]);
      const v = await auditVerify();
      expect(v.code, v.text).to.equal(0);
    });

    it('inside a caller transaction, the ledger closed right after the commit: the next command settles the marker', async () => {
      const { db, archive } = open();
      db.transaction(() => archive.add('operator', '6', [], { command: 'cancel' })).immediate();
      db.close(); // as a command does, before any microtask runs
      await Promise.resolve();
      expect(filesIn(staging), 'the marker is left').to.have.length(1);
      const v = await auditVerify(); // opens the ledger: the recovery runs first
      expect(v.code, v.text).to.equal(0);
      expect(filesIn(staging)).to.deep.equal([]);
      expect(filesIn(root).filter((f) => f.includes('operator-6'))).to.have.length(1);
    });

    it('an operator command (its action archived inside its transaction, the ledger closed right after): nothing left in staging, committed or refused', async () => {
      open().db.close(); // the ledger exists: operator commands need one
      const io = { out: () => undefined, err: () => undefined };
      const ok = operatorCommand(env.config, 'hold', 'crash test', io, (c) => {
        c.act('msg-1', {}, () => undefined);
        return 'held';
      });
      expect(ok).to.equal(0);
      const refused = operatorCommand(env.config, 'hold', 'crash test', io, (c) => {
        c.act('msg-2', {}, () => undefined);
        throw new Refused('not in a state to hold');
      });
      expect(refused).to.equal(1);
      expect(filesIn(staging), 'markers left in staging').to.deep.equal([]);
      const { db } = open();
      expect(manifests(db).map((m) => m.kind)).to.deep.equal(['operator']);
      expect(filesIn(root).map((f) => path.basename(path.dirname(f)))).to.deep.equal(['operator-1']);
      const v = await auditVerify();
      expect(v.code, v.text).to.equal(0);
    });

    it('a folder already at the target that no manifest names (an older crash) is replaced, not merged', async () => {
      const { archive } = open();
      const day = new Date().toISOString().slice(0, 10).replace(/-/g, '/');
      const stale = path.join(root, day, 'intake-9');
      fs.mkdirSync(stale, { recursive: true });
      fs.writeFileSync(path.join(stale, 'left-over.txt'), 'x');
      fs.writeFileSync(path.join(stale, 'manifest.json'), '{}');
      const { dir } = archive.add('intake', '9', [{ name: 'in.txt', data: 'new\n' }]);
      expect(filesIn(path.join(root, dir))).to.deep.equal(['in.txt', 'manifest.json']);
      const v = await auditVerify();
      expect(v.code, v.text).to.equal(0);
    });

    it('a staging folder of a live process without a manifest is kept (a copy in progress); of a dead one, removed', () => {
      const { db } = open();
      fs.mkdirSync(path.join(staging, `${process.ppid}.live-copy`), { recursive: true });
      fs.writeFileSync(path.join(staging, `${process.ppid}.live-copy`, 'in.txt'), 'half');
      // a pid that no process has: above the kernel's pid_max
      fs.mkdirSync(path.join(staging, '99999999.dead-copy'));
      fs.writeFileSync(path.join(staging, '99999999.dead-copy', 'in.txt'), 'half');
      const r = recoverStaging(db, root);
      expect(r).to.deep.equal({ unplaced: [], removed: 1, kept: 1 });
      expect(fs.readdirSync(staging)).to.deep.equal([`${process.ppid}.live-copy`]);
    });
  });

  describe('copies written ahead (Prestage, a batch\'s XML during its upload)', function () {
    it('moves each durable copy into addMany\'s folder with its hash and size; discard() leaves nothing; audit verify passes', async () => {
      const { archive } = open();
      const pre = archive.prestage();
      const data = ['<a/>', '<b>two</b>', 'x'.repeat(5000)].map((t) => Buffer.from(t));
      data.forEach((d, i) => pre.add(`M${i}.xml`, d));
      expect(() => pre.add('manifest.json', Buffer.from('{}'))).to.throw(/bad archive file name/);
      const copies = await pre.settled();
      expect([...copies.keys()].sort()).to.deep.equal(['M0.xml', 'M1.xml', 'M2.xml']);
      const files = data.map((_, i) => ({ name: `M${i}.xml`, staged: copies.get(`M${i}.xml`)! }));
      const { dirs } = await archive.addMany('batch', [{ id: '7', files }]);
      pre.discard();
      data.forEach((d, i) => expect(fs.readFileSync(path.join(root, dirs[0]!, `M${i}.xml`)).equals(d)).to.equal(true));
      const manifest = JSON.parse(fs.readFileSync(path.join(root, dirs[0]!, 'manifest.json'), 'utf8')) as { files: { path: string; sha256: string; bytes: number }[] };
      expect(manifest.files).to.deep.equal(data.map((d, i) => ({ path: `M${i}.xml`, sha256: createHash('sha256').update(d).digest('hex'), bytes: d.length })));
      expect(filesIn(staging)).to.deep.equal([]);
      expect((await auditVerify()).code).to.equal(0);
    });

    it('a copy that fails makes settled() give none (the batch copies every file itself), and nothing throws', async () => {
      const { archive } = open();
      const pre = archive.prestage();
      pre.add('M0.xml', Buffer.from('<a/>'));
      await pre.settled();
      fs.rmSync(pre.dir, { recursive: true }); // its folder gone: the next writes fail
      pre.add('M1.xml', Buffer.from('<b/>'));
      expect((await pre.settled()).size).to.equal(0);
      pre.discard();
      expect(filesIn(staging)).to.deep.equal([]);
    });
  });

  describe('kill -9 at each crash point (a real child process), then the recovery', function () {
    this.timeout(60_000);
    // the caller's change (the probe row) and the manifest commit together or not at all
    const POINTS: { point: string; committed: boolean; placedAtKill: boolean }[] = [
      { point: 'archive-staged', committed: false, placedAtKill: false },
      { point: 'archive-placed', committed: false, placedAtKill: true },
      { point: 'archive-before-commit', committed: false, placedAtKill: true },
      { point: 'archive-after-commit', committed: true, placedAtKill: true },
    ];
    for (const nested of [false, true])
      for (const p of POINTS)
        it(`${p.point}${nested ? ' (inside a caller transaction)' : ''}: ${p.committed && !nested ? 'the folder in place and chained' : 'nothing of it in archive/, the chain as before'}, audit verify clean`, async () => {
          // inside a caller's transaction "after commit" is after the savepoint: the caller's
          // own commit has not happened
          const committed = p.committed && !nested;
          fs.mkdirSync(dataDir, { recursive: true });
          const r = spawnSync(process.execPath, ['--import', 'tsx', CHILD, dataDir, nested ? '1' : '0'], {
            cwd: REPO,
            env: { ...process.env, TLBRIDGE_CRASH_AT: `${p.point}:batch` },
            encoding: 'utf8',
            timeout: 30_000,
          });
          expect(r.signal, `the child died by SIGKILL at ${p.point}\n${r.stdout}${r.stderr}`).to.equal('SIGKILL');
          expect(r.stdout).to.not.include('survived');

          // what the kill left, before any recovery
          const batchFolder = (): string[] => filesIn(root).filter((f) => f.includes('/batch-2/'));
          expect(batchFolder().length > 0, 'the batch folder under archive/ at the kill').to.equal(p.placedAtKill);
          expect(fs.readdirSync(staging).length, 'something left in staging').to.be.above(0);

          const v = await auditVerify(); // the command recovers first
          expect(v.code, v.text).to.equal(0);

          const { db } = open();
          expect(manifests(db).map((m) => `${m.kind}-${m.ref}`)).to.deep.equal(committed ? ['intake-1', 'batch-2'] : ['intake-1']);
          const probe = db.prepare('SELECT what FROM crash_probe').all() as { what: string }[];
          expect(probe.map((x) => x.what), "the caller's change").to.deep.equal(committed ? ['batch 2'] : []);
          expect(batchFolder().map((f) => path.basename(f)).sort()).to.deep.equal(committed ? ['E000000000001.xml', 'manifest.json'] : []);
          expect(fs.readdirSync(staging), 'staging after the recovery').to.deep.equal([]);
          // and the archive goes on: the redone work archives under the same id
          if (!committed) new Archive(root, db).add('batch', '2', [{ name: 'E000000000001.xml', data: '<x/>\n' }]);
          const again = await auditVerify();
          expect(again.code, again.text).to.equal(0);
        });
  });
});
