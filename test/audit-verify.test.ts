// audit verify (product.md 3, 10) over a real flow (real intake, a real OpenSSH sshd, real acks,
// a real ledger and archive): what is missing, changed or has appeared is named, the chain is
// proved across pruning and a tampered pruning manifest is detected, every run is recorded; and
// the rules in force (config and XSD hashes) go into the chain at every start and reload.
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { pruneArchive } from '../src/archive/prune.js';
import { verifyArchive } from '../src/archive/verify.js';
import { reloadService, startService, type RunningService } from '../src/cli/run.js';
import { dataPaths } from '../src/config/paths.js';
import { lastVerifyRun } from '../src/ledger/verify-runs.js';
import type { AckEnv } from './support/acks.js';
import { makeEnv, type TestEnv } from './support/daemon-env.js';
import { ackAll, cliOf, goodFile, intake, messagesOf, sendNow, sshdAckEnvPerTest } from './support/retention-flow.js';

const sha = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

describe('audit verify (real sshd, real ledger and archive)', function () {
  this.timeout(60000);
  const envNow = sshdAckEnvPerTest();
  let env: AckEnv;
  beforeEach(() => {
    env = envNow();
  });
  const archiveDir = () => dataPaths(env.config).archive;
  const verify = () => cliOf(env)('audit', 'verify');

  /** two files sent and ACCEPTED, each in its own batch */
  async function flow() {
    const a = await intake(env, 'a.txt', goodFile('VA', 2));
    expect((await sendNow(env)).code).to.equal(0);
    await ackAll(env, messagesOf(env, a.fileId).map((m) => m.fcn));
    const b = await intake(env, 'b.txt', goodFile('VB', 1));
    expect((await sendNow(env)).code).to.equal(0);
    await ackAll(env, messagesOf(env, b.fileId).map((m) => m.fcn));
    return { a, b };
  }
  const dirOf = (fileId: number) => env.db.prepare('SELECT archive_dir FROM files WHERE id = ?').pluck().get(fileId) as string;

  it('names a removed, a changed and an added file, and records each run with its result', async () => {
    const { a, b } = await flow();
    const clean = await verify();
    expect(clean.code, clean.out.join('\n')).to.equal(0);
    expect(clean.out[0]).to.match(/^archive intact: \d+ manifests, \d+ files$/);
    const first = lastVerifyRun(env.db);
    expect(first).to.include({ ok: true, problems: 0 });

    const root = archiveDir();
    fs.rmSync(path.join(root, dirOf(a.fileId), 'a.txt'));
    fs.appendFileSync(path.join(root, dirOf(b.fileId), 'b.txt'), 'x');
    fs.writeFileSync(path.join(root, dirOf(b.fileId), 'extra.txt'), 'not archived by us');
    const r = await verify();
    expect(r.code).to.equal(1);
    expect(r.out).to.include(`missing: ${dirOf(a.fileId)}/a.txt`);
    expect(r.out.some((l) => l.startsWith(`changed: ${dirOf(b.fileId)}/b.txt (sha256 `))).to.equal(true);
    expect(r.out).to.include(`appeared: ${dirOf(b.fileId)}/extra.txt (in no manifest of the chain)`);
    expect(r.out).to.have.length(3);
    const last = lastVerifyRun(env.db)!;
    expect(last).to.include({ ok: false, problems: 3 });
    expect(last.finishedAt >= first!.finishedAt).to.equal(true);

    // chain-only (the report footer's check) hashes no files: only the manifests and links
    expect(verifyArchive(root, env.db, { chainOnly: true })).to.deep.equal([]);
    const mf = path.join(root, dirOf(b.fileId), 'manifest.json');
    fs.writeFileSync(mf, fs.readFileSync(mf, 'utf8').replace('"b.txt"', '"B.txt"'));
    expect(verifyArchive(root, env.db, { chainOnly: true })[0]).to.match(new RegExp(`^changed: ${dirOf(b.fileId)}/manifest.json \\(manifest sha256`));
  });

  it('proves the chain across pruning, and detects a pruning manifest that was changed (even with the ledger changed to match)', async () => {
    const { a } = await flow();
    const root = archiveDir();
    const r = pruneArchive(env.config, env.db, env.archive, { origin: 'cli', now: new Date(Date.now() + 3000 * 86_400_000) });
    expect(r.folders.length).to.be.greaterThan(3);
    // a manifest after the pruning one, so the chain goes on past it
    await intake(env, 'c.txt', goodFile('VC', 1));
    const ok = await verify();
    expect(ok.code, ok.out.join('\n')).to.equal(0);
    expect(ok.out[0]).to.match(new RegExp(`\\(${r.folders.length} pruned manifest\\(s\\), each named by a pruning manifest\\)$`));

    // an entry taken out of the pruning manifest: the manifest changed, its folder is missing
    const pmPath = path.join(root, r.manifest!);
    const original = fs.readFileSync(pmPath, 'utf8');
    const pm = JSON.parse(original) as { prunedManifests: { path: string; sha256: string }[] };
    const dropped = pm.prunedManifests.find((e) => e.path.includes(`intake-${a.fileId}/`))!;
    pm.prunedManifests = pm.prunedManifests.filter((e) => e !== dropped);
    const tampered = JSON.stringify(pm, null, 2) + '\n';
    fs.writeFileSync(pmPath, tampered);
    let problems = verifyArchive(root, env.db);
    expect(problems).to.include(`changed: ${r.manifest} (manifest sha256 ${sha(tampered)}, the chain recorded ${sha(original)})`);
    expect(problems.some((p) => p.startsWith(`missing: ${dropped.path} `))).to.equal(true);

    // the ledger's record changed to match too: the next manifest's link still names the original
    env.db.prepare('UPDATE manifests SET sha256 = ? WHERE path = ?').run(sha(tampered), r.manifest);
    problems = verifyArchive(root, env.db);
    expect(problems.some((p) => p.startsWith('chain broken: ') && p.includes(`but the one before it is ${sha(tampered)}`)), problems.join('\n')).to.equal(true);
    expect(problems.some((p) => p.startsWith(`missing: ${dropped.path} `))).to.equal(true);

    // put back: clean again, and the run recorded
    env.db.prepare('UPDATE manifests SET sha256 = ? WHERE path = ?').run(sha(original), r.manifest);
    fs.writeFileSync(pmPath, original);
    expect(verifyArchive(root, env.db)).to.deep.equal([]);
    const cli = await verify();
    expect(cli.code).to.equal(0);
    expect(lastVerifyRun(env.db)).to.include({ ok: true, problems: 0 });
  });
});

describe('the rules in force in the chain (product.md 6)', function () {
  this.timeout(60000);
  let env: TestEnv;
  let svc: RunningService | undefined;

  type ConfigManifest = {
    kind: string;
    event: string;
    config: { path: string; sha256: string };
    schemas: { name: string; path: string; sha256: string }[];
    files: { path: string; sha256: string }[];
  };
  const configManifests = (): ConfigManifest[] =>
    (svc!.daemon.db.prepare(`SELECT path FROM manifests WHERE kind = 'config' ORDER BY seq`).pluck().all() as string[]).map(
      (p) => JSON.parse(fs.readFileSync(path.join(dataPaths(env.config).archive, p), 'utf8')) as ConfigManifest,
    );

  it('archives a config manifest (config and every XSD with sha256, and copies) at start and at each accepted reload; audit verify stays clean', async () => {
    env = makeEnv();
    try {
      await startAndReload();
    } finally {
      await svc?.daemon.stop();
      await svc?.sandbox?.close();
      env.dispose();
    }
  });

  async function startAndReload(): Promise<void> {
    svc = await startService(env.config, env.logger);
    let ms = configManifests();
    expect(ms).to.have.length(1);
    const start = ms[0]!;
    expect(start.event).to.equal('start');
    expect(start.config).to.deep.equal({ path: env.configPath, sha256: sha(fs.readFileSync(env.configPath)) });
    const names = start.schemas.map((s) => s.name);
    expect(names).to.include.members(['MATERIALS_PRODUCED', 'WORK_ORDER_MILESTONES', 'ack', 'commontypes']);
    for (const s of start.schemas) expect(s.sha256, s.name).to.equal(sha(fs.readFileSync(s.path)));
    expect(start.files.map((f) => f.path)).to.include.members(['config.yaml', 'MATERIALS_PRODUCED.xsd', 'ack.xsd']);
    expect(start.files.find((f) => f.path === 'config.yaml')!.sha256).to.equal(start.config.sha256);
    expect(env.logs.some((l) => l.msg === 'retention scheduled' && typeof l.fields?.nextRunAt === 'string'), 'the retention job is scheduled').to.equal(true);

    fs.appendFileSync(env.configPath, 'log: { level: debug }\n');
    expect(await reloadService(svc, env.logger)).to.equal(true);
    ms = configManifests();
    expect(ms.map((m) => m.event)).to.deep.equal(['start', 'reload']);
    expect(ms[1]!.config.sha256).to.equal(sha(fs.readFileSync(env.configPath)));
    expect(ms[1]!.config.sha256).to.not.equal(start.config.sha256);

    // a refused reload records nothing
    fs.appendFileSync(env.configPath, 'dataDir: ./elsewhere\n');
    expect(await reloadService(svc, env.logger)).to.equal(false);
    expect(configManifests()).to.have.length(2);
    expect(verifyArchive(dataPaths(env.config).archive, svc.daemon.db)).to.deep.equal([]);
  }
});
