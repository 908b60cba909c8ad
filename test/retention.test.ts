// Retention (product.md 9): the pure rule, then a real flow (real intake, a real OpenSSH sshd,
// real acks, a real SQLite ledger and archive) pruned with the clock moved forward: only what may
// go goes, with its ledger rows and outbox files, audit verify clean before and after; legal
// hold and retentionDays 0 prune nothing; a prune interrupted after its commit is finished.
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { decideConfigPrune, decidePrune, type FolderFacts, type MessageFacts } from '../src/archive/prune-rules.js';
import { finishPendingRemovals, pruneArchive } from '../src/archive/prune.js';
import { verifyArchive } from '../src/archive/verify.js';
import { prune } from '../src/cli/prune.js';
import { recordRulesInForce } from '../src/archive/rules-record.js';
import { RETENTION_KEY, startRetention } from '../src/schedule/retention-job.js';
import { memoryLogger } from './support/memory-logger.js';
import { lastPruneRun } from '../src/ledger/prune-runs.js';
import type { Config } from '../src/config/load.js';
import { dataPaths } from '../src/config/paths.js';
import { PARTNER, renderAck, type AckEnv } from './support/acks.js';
import { ackAll, badFile, cliOf, goodFile, intake, messagesOf, sendNow, sshdAckEnvPerTest } from './support/retention-flow.js';

const DAY = 86_400_000;
const folder = (dir: string, createdAt: string, messageIds: number[], extra: Partial<FolderFacts> = {}): FolderFacts => ({
  dir,
  kind: 'batch',
  createdAt,
  intact: true,
  messageIds,
  ...extra,
});
const msg = (id: number, state: string, updatedAt: string, folders: string[] = []): MessageFacts => ({ id, state, updatedAt, folders });

describe('retention rule (pure)', () => {
  const cutoff = '2020-01-01T00:00:00.000Z';
  const old = '2019-06-01T00:00:00.000Z';
  const young = '2020-06-01T00:00:00.000Z';

  it('prunes an old folder whose messages are all final and old, with its messages', () => {
    const d = decidePrune({ cutoff, folders: [folder('b1', old, [1, 2])], messages: new Map([[1, msg(1, 'ACCEPTED', old)], [2, msg(2, 'REJECTED', old)]]) });
    expect(d.folders.map((f) => f.dir)).to.deep.equal(['b1']);
    expect(d.messageIds).to.deep.equal([1, 2]);
  });

  it('keeps a folder naming a non-final message, one changed after the cutoff, a young one, a changed manifest', () => {
    const d = decidePrune({
      cutoff,
      folders: [folder('sent', old, [1]), folder('late', old, [2]), folder('young', young, []), folder('tampered', old, [], { intact: false })],
      messages: new Map([[1, msg(1, 'SENT', old)], [2, msg(2, 'ACCEPTED', young)]]),
    });
    expect(d.folders).to.deep.equal([]);
    expect(d.messageIds).to.deep.equal([]);
    expect(d.kept.get('sent')).to.match(/SENT/);
    expect(d.kept.get('late')).to.match(/after the cutoff/);
    expect(d.kept.get('tampered')).to.match(/changed/);
  });

  it('an undismissed error file keeps its intake; a dismissed one or one gone from error/ goes by age', () => {
    const d = decidePrune({
      cutoff,
      folders: [
        folder('i1', old, [], { kind: 'intake', errorFile: { inErrorDir: true, dismissed: false } }),
        folder('i2', old, [], { kind: 'intake', errorFile: { inErrorDir: true, dismissed: true } }),
        folder('i3', old, [], { kind: 'intake', errorFile: { inErrorDir: false, dismissed: false } }),
      ],
      messages: new Map(),
    });
    expect(d.folders.map((f) => f.dir)).to.deep.equal(['i2', 'i3']);
    expect(d.kept.get('i1')).to.match(/error\//);
  });

  it('a message goes only with every folder naming it: a young ack folder keeps its intake and batch, and that keeps their other messages', () => {
    const d = decidePrune({
      cutoff,
      folders: [folder('intake', old, [1, 2], { kind: 'intake' }), folder('batch', old, [1, 2]), folder('ack2', old, [2], { kind: 'acks' })],
      messages: new Map([
        [1, msg(1, 'ACCEPTED', old, ['intake', 'late-ack'])],
        [2, msg(2, 'ACCEPTED', old, ['intake', 'ack2'])],
      ]),
    });
    expect(d.folders).to.deep.equal([]);
    expect(d.kept.get('intake')).to.match(/late-ack/);
  });

  it('a message the ledger no longer has (an earlier prune) holds nothing back; unmatched acks go by age', () => {
    const d = decidePrune({ cutoff, folders: [folder('ack', old, [99], { kind: 'acks' }), folder('unmatched', old, [], { kind: 'acks' })], messages: new Map() });
    expect(d.folders.map((f) => f.dir)).to.deep.equal(['ack', 'unmatched']);
    expect(d.messageIds).to.deep.equal([]);
  });

  it("the newest row of a table stays with its folders (its id must not come back), and with it what names the same messages", () => {
    const d = decidePrune({
      cutoff,
      folders: [folder('intake', old, [1], { kind: 'intake', newestRow: 'files' }), folder('batch', old, [1]), folder('b2', old, [2])],
      messages: new Map([
        [1, msg(1, 'ACCEPTED', old, ['intake'])],
        [2, msg(2, 'ACCEPTED', old)],
      ]),
    });
    expect(d.folders.map((f) => f.dir)).to.deep.equal(['b2']);
    expect(d.kept.get('intake')).to.match(/newest files row/);
    expect(d.kept.get('batch')).to.match(/message 1 is also named by intake/);
    const m = decidePrune({ cutoff, folders: [folder('b', old, [7])], messages: new Map([[7, { ...msg(7, 'CANCELLED', old), newest: true }]]) });
    expect(m.folders).to.deep.equal([]);
  });

  it('a config manifest goes once the next took over before the cutoff and no kept message is older than that', () => {
    const c = (dir: string, createdAt: string) => ({ dir, createdAt, intact: true });
    const configs = [c('c1', '2019-01-01T00:00:00.000Z'), c('c2', '2019-03-01T00:00:00.000Z'), c('c3', young)];
    expect(decideConfigPrune(configs, cutoff, null).map((x) => x.dir)).to.deep.equal(['c1']);
    expect(decideConfigPrune(configs, cutoff, '2019-02-01T00:00:00.000Z').map((x) => x.dir)).to.deep.equal([]);
    expect(decideConfigPrune([c('only', '2010-01-01T00:00:00.000Z')], cutoff, null)).to.deep.equal([]);
  });
});

describe('retention against a real flow (real sshd, real ledger and archive)', function () {
  this.timeout(60000);
  const envNow = sshdAckEnvPerTest();
  let env: AckEnv;
  beforeEach(() => {
    env = envNow();
  });

  const count = (sql: string, ...args: unknown[]) => env.db.prepare(sql).pluck().get(...args) as number;
  const later = (days: number) => new Date(Date.now() + days * DAY);
  const withArchive = (archive: Partial<Config['archive']>): Config => ({ ...env.config, archive: { ...env.config.archive, ...archive } });

  const invalidAck = async () => {
    const n = Date.now();
    env.put(`ACK-bad-${n}.xml`, `<not an ack ${n}`);
    await env.poll();
  };

  /** A: two messages sent in batch 1 and ACCEPTED; B: one message sent in batch 2, no ack
   * (SENT); C: rejected, in error/, not dismissed; D: rejected and dismissed; an unmatched ack. */
  async function flow() {
    const a = await intake(env, 'a.txt', goodFile('RA', 2));
    expect(a.state).to.equal('CONVERTED');
    expect((await sendNow(env)).code).to.equal(0);
    const am = messagesOf(env, a.fileId);
    await ackAll(env, am.map((m) => m.fcn));
    env.put('ACK-unknown.xml', renderAck({ inputFcn: 'T999999999999', status: 'SUCCESS', ackFcn: 'A99' }));
    await env.poll();
    const b = await intake(env, 'b.txt', goodFile('RB', 1));
    expect((await sendNow(env)).code).to.equal(0);
    const c = await intake(env, 'c.txt', badFile('RC'));
    const dd = await intake(env, 'd.txt', badFile('RD'));
    expect([c.state, dd.state]).to.deep.equal(['FAILED', 'FAILED']);
    const dismissed = await cliOf(env)('dismiss', 'd.txt', '--reason', 'known bad export');
    expect(dismissed.code, dismissed.err.join('\n')).to.equal(0);
    // the newest rows of files, messages and acks stay (their ids must not come back): E (STAGED)
    // and an invalid ack come last
    const e = await intake(env, 'e.txt', goodFile('RE', 1));
    expect(e.state).to.equal('CONVERTED');
    await invalidAck();
    expect(messagesOf(env, a.fileId).map((m) => m.state)).to.deep.equal(['ACCEPTED', 'ACCEPTED']);
    expect(messagesOf(env, b.fileId).map((m) => m.state)).to.deep.equal(['SENT']);
    return { a, b, c, d: dd, am, bm: messagesOf(env, b.fileId) };
  }

  it('with the clock moved past the retention period prunes only what may go, with ledger rows and outbox files; audit verify clean before and after', async () => {
    const f = await flow();
    const d = dataPaths(env.config);
    const verify = cliOf(env)('audit', 'verify');
    expect((await verify).code, (await verify).out.join('\n')).to.equal(0);
    const before = env.manifests();
    const outboxA = f.am.map((m) => path.join(d.outbox, PARTNER, `${m.fcn}.xml`));
    for (const p of outboxA) expect(fs.existsSync(p), p).to.equal(true);

    // not yet old enough: nothing goes
    expect(pruneArchive(env.config, env.db, env.archive, { origin: 'cli', now: later(2000) }).folders).to.deep.equal([]);

    // a dry run names what would go and changes nothing
    const io = { lines: [] as string[], out(l: string) { this.lines.push(l); }, err(l: string) { this.lines.push(l); } };
    expect(prune(env.config, { dryRun: true, now: later(3000) }, io)).to.equal(0);
    expect(io.lines[0]).to.match(/^prune \(dry run\): cutoff \S+: would remove 7 folder\(s\), 2 message\(s\), 2 outbox file\(s\), 1 error file\(s\), \d+ bytes$/);
    expect(env.manifests()).to.equal(before);
    expect(count('SELECT COUNT(*) FROM messages')).to.equal(4);

    const r = pruneArchive(env.config, env.db, env.archive, { origin: 'cli', now: later(3000) });
    // intake A, batch 1, the two acks of A, the unmatched ack, intake D (dismissed); the
    // operator action (dismiss of D) names no message and goes by age too
    expect(r.folders.map((x) => x.kind).sort()).to.deep.equal(['acks', 'acks', 'acks', 'batch', 'intake', 'intake', 'operator']);
    const kinds = r.folders.map((x) => `${x.kind}:${path.basename(x.path)}`);
    expect(kinds).to.include(`intake:intake-${f.a.fileId}`);
    expect(kinds).to.include(`intake:intake-${f.d.fileId}`);
    expect(kinds).to.not.include(`intake:intake-${f.b.fileId}`);
    expect(kinds).to.not.include(`intake:intake-${f.c.fileId}`);
    expect(r.messages).to.equal(2);
    expect(r.outboxFiles).to.equal(2);
    expect(r.bytes).to.be.greaterThan(0);
    expect(r.kept.map((k) => k.why).join('\n'))
      .to.match(/SENT/)
      .and.match(/still in error\/ and not dismissed/)
      .and.match(/newest acks row/);

    // the ledger rows and outbox files of A went; B's and C's stay
    expect(count('SELECT COUNT(*) FROM messages WHERE file_id = ?', f.a.fileId)).to.equal(0);
    expect(count('SELECT COUNT(*) FROM files WHERE id IN (?, ?)', f.a.fileId, f.d.fileId)).to.equal(0);
    expect(count('SELECT COUNT(*) FROM acks'), 'only the newest (invalid) ack row stays').to.equal(1);
    expect(count(`SELECT COUNT(*) FROM transitions WHERE entity = 'message' AND entity_id IN (?, ?)`, f.am[0]!.id, f.am[1]!.id)).to.equal(0);
    expect(count('SELECT COUNT(*) FROM batches WHERE archive_dir IS NOT NULL')).to.equal(1);
    expect(count('SELECT COUNT(*) FROM messages WHERE file_id = ?', f.b.fileId)).to.equal(1);
    for (const p of outboxA) expect(fs.existsSync(p), p).to.equal(false);
    expect(fs.existsSync(path.join(d.outbox, PARTNER, `${f.bm[0]!.fcn}.xml`))).to.equal(true);
    expect(fs.existsSync(path.join(d.error, 'd.txt'))).to.equal(false);
    expect(fs.existsSync(path.join(d.error, 'c.txt'))).to.equal(true);
    for (const x of r.folders) expect(fs.existsSync(path.join(d.archive, x.path)), x.path).to.equal(false);

    // the pruning manifest is in the chain and names every removed manifest with its hash
    expect(r.manifest).to.match(/\/prune-\d+\/manifest\.json$/);
    const pm = JSON.parse(fs.readFileSync(path.join(d.archive, r.manifest!), 'utf8')) as { kind: string; prunedManifests: { path: string; sha256: string }[] };
    expect(pm.kind).to.equal('prune');
    expect(pm.prunedManifests.map((e) => path.dirname(e.path)).sort()).to.deep.equal(r.folders.map((x) => x.path).sort());
    for (const e of pm.prunedManifests) expect(count('SELECT COUNT(*) FROM manifests WHERE path = ? AND sha256 = ?', e.path, e.sha256)).to.equal(1);
    const run = env.db.prepare('SELECT outcome, folders, messages, outbox_files, removed_at FROM prune_runs ORDER BY id DESC LIMIT 1').get() as Record<string, unknown>;
    expect(run).to.include({ outcome: 'ok', folders: r.folders.length, messages: 2, outbox_files: 2 });
    expect(run.removed_at).to.be.a('string');

    const after = await cliOf(env)('audit', 'verify');
    expect(after.code, after.out.join('\n')).to.equal(0);
    expect(after.out[0]).to.match(new RegExp(`\\(${r.folders.length} pruned manifest\\(s\\)`));

    // a second run finds nothing more; B goes once its ack came
    expect(pruneArchive(env.config, env.db, env.archive, { origin: 'cli', now: later(3000) }).folders).to.deep.equal([]);
    await ackAll(env, [f.bm[0]!.fcn]);
    expect((await sendNow(env)).code).to.equal(0); // E, in a newer batch
    await invalidAck();
    const r2 = pruneArchive(env.config, env.db, env.archive, { origin: 'cli', now: later(3000) });
    expect(r2.messages, JSON.stringify(r2.kept)).to.equal(1);
    expect(verifyArchive(d.archive, env.db)).to.deep.equal([]);
  });

  it('the daemon job: key retention on the shared runner at archive.pruneAt, rescheduled by a reload, suspended under legal hold', async () => {
    await flow();
    const logger = memoryLogger();
    const job = startRetention({ db: env.db, archive: env.archive, config: env.config, logger });
    try {
      expect(job.runner.keys).to.deep.equal([RETENTION_KEY]);
      expect(job.runner.cronOf(RETENTION_KEY)).to.equal('30 3 * * *');
      const r = await job.runNow();
      expect(r.error).to.equal(undefined);
      expect(r.report!.folders, 'nothing is old enough today').to.deep.equal([]);
      expect(lastPruneRun(env.db)).to.include({ origin: 'daemon', outcome: 'ok', folders: 0 });
      job.reload(withArchive({ pruneAt: '15 4 * * *', legalHold: true }));
      expect(job.runner.cronOf(RETENTION_KEY)).to.equal('15 4 * * *');
      expect((await job.runNow()).report!.suspended).to.match(/legalHold/);
      expect(logger.entries.some((e) => e.message === 'retention suspended: archive.legalHold is true: pruning is suspended, nothing is removed')).to.equal(true);
    } finally {
      await job.stop();
    }
  });

  it('an old config manifest goes once a later one took over and no kept message was staged under it; the latest stays', async () => {
    const first = recordRulesInForce(env.archive, env.config, 'start');
    const second = recordRulesInForce(env.archive, env.config, 'reload');
    const r = pruneArchive(env.config, env.db, env.archive, { origin: 'cli', now: later(3000) });
    expect(r.folders).to.deep.equal([{ path: first, kind: 'config' }]);
    expect(fs.existsSync(path.join(dataPaths(env.config).archive, second, 'manifest.json'))).to.equal(true);
    expect(verifyArchive(dataPaths(env.config).archive, env.db)).to.deep.equal([]);
  });

  it('legalHold and retentionDays 0 prune nothing, and say so', async () => {
    await flow();
    const before = env.manifests();
    const hold = pruneArchive(withArchive({ legalHold: true }), env.db, env.archive, { origin: 'daemon', now: later(9000) });
    expect(hold.suspended).to.match(/legalHold/);
    expect(hold.folders).to.deep.equal([]);
    const keep = pruneArchive(withArchive({ retentionDays: 0 }), env.db, env.archive, { origin: 'daemon', now: later(9000) });
    expect(keep.suspended).to.match(/retentionDays is 0/);
    expect(env.manifests()).to.equal(before);
    expect(count('SELECT COUNT(*) FROM messages')).to.equal(4);
    expect(count(`SELECT COUNT(*) FROM prune_runs WHERE outcome = 'suspended'`)).to.equal(2);

    fs.appendFileSync(env.configPath, 'archive: { legalHold: true }\n');
    const r = await cliOf(env)('prune');
    expect(r.code).to.equal(0);
    expect(r.out).to.deep.equal(['prune: archive.legalHold is true: pruning is suspended, nothing is removed']);
  });

  it('a prune committed but interrupted before its folders were deleted is finished at the next start or prune; audit verify is clean meanwhile', async () => {
    const f = await flow();
    const d = dataPaths(env.config);
    const intakeA = env.db.prepare('SELECT archive_dir FROM files WHERE id = ?').pluck().get(f.a.fileId) as string;
    const saved = fs.mkdtempSync(path.join(env.dir, 'saved-'));
    fs.cpSync(path.join(d.archive, intakeA), saved, { recursive: true });
    const r = pruneArchive(env.config, env.db, env.archive, { origin: 'cli', now: later(3000) });
    expect(r.folders.map((x) => x.path)).to.include(intakeA);
    // as if the process died between the commit and the deletion: the folder is back, the run not marked
    fs.cpSync(saved, path.join(d.archive, intakeA), { recursive: true });
    env.db.prepare('UPDATE prune_runs SET removed_at = NULL').run();
    expect(verifyArchive(d.archive, env.db)).to.deep.equal([]);
    // under legal hold nothing is deleted, not even this
    pruneArchive(withArchive({ legalHold: true }), env.db, env.archive, { origin: 'cli', now: later(3000) });
    expect(fs.existsSync(path.join(d.archive, intakeA))).to.equal(true);
    // a pruning manifest changed meanwhile deletes nothing and says so
    const pm = path.join(d.archive, r.manifest!);
    const text = fs.readFileSync(pm, 'utf8');
    fs.writeFileSync(pm, text.replace('"kind": "prune"', '"kind": "prune" '));
    const refused = finishPendingRemovals(env.config, env.db);
    expect(refused.finished).to.equal(0);
    expect(refused.failed[0]).to.match(/differs from the chain's record; nothing removed/);
    expect(fs.existsSync(path.join(d.archive, intakeA))).to.equal(true);
    fs.writeFileSync(pm, text);
    expect(finishPendingRemovals(env.config, env.db)).to.deep.equal({ finished: 1, failed: [] });
    expect(fs.existsSync(path.join(d.archive, intakeA))).to.equal(false);
    expect(verifyArchive(d.archive, env.db)).to.deep.equal([]);

    // once the run is finished, a pruned folder put back is named
    fs.cpSync(saved, path.join(d.archive, intakeA), { recursive: true });
    const problems = verifyArchive(d.archive, env.db);
    expect(problems.length).to.be.greaterThan(0);
    expect(problems.every((p) => p.startsWith(`appeared: ${intakeA}/`)), problems.join('\n')).to.equal(true);
  });
});
