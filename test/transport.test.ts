// Transport (src/transport/*) against a real OpenSSH sshd (test/support/sshd.ts) and against the
// project's sandbox (an ssh2 server without SFTP extensions), plus unit tests of backoff,
// fingerprints and the download byte limit. CI installs openssh-server, so the sshd suite runs
// there; it is skipped (with the reason printed) only where a private sshd cannot run.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, watch, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import ssh2 from 'ssh2';
import { loadConfig } from '../src/config/load.js';
import { ensureClientKey, publicKeyBlob } from '../src/sandbox/keys.js';
import { startSandbox } from '../src/sandbox/server.js';
import { backoffDelay, sleep } from '../src/transport/backoff.js';
import type { SftpEndpoint } from '../src/transport/endpoint.js';
import { DownloadTooLargeError, HostKeyMismatchError, SftpError, SftpTimeoutError, UploadConflictError } from '../src/transport/errors.js';
import { normalizeFingerprint, sha256Fingerprint } from '../src/transport/fingerprint.js';
import { SftpPool } from '../src/transport/pool.js';
import { SftpSession } from '../src/transport/session.js';
import { ByteLimit, ByteLimitExceededError } from '../src/transport/streams.js';
import { startSshd, sshdUnavailableReason, type TestSshd } from './support/sshd.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    expect(e).to.be.instanceOf(Error);
    return e as Error;
  }
  throw new Error('expected a rejection, but it resolved');
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();
}

function haveSshKeygen(): boolean {
  return spawnSync('ssh-keygen', ['-?'], { stdio: 'ignore' }).error === undefined;
}

/** The fingerprint of an OpenSSH public key line, the way the sandbox computes its own. */
function fingerprintOfLine(line: string): string {
  const blob = publicKeyBlob(line);
  if (!blob) throw new Error(`not an OpenSSH public key line: ${line}`);
  return sha256Fingerprint(blob);
}

/** Resolves once `name` exists in the local folder `dir` (inotify, no polling), or `orEnd` settles. */
function whenCreated(dir: string, name: string, orEnd: Promise<unknown>): Promise<void> {
  mkdirSync(dir, { recursive: true });
  return new Promise<void>((resolve) => {
    const w = watch(dir);
    const done = (): void => {
      w.close();
      resolve();
    };
    w.on('change', () => {
      if (existsSync(join(dir, name))) done();
    });
    if (existsSync(join(dir, name))) done();
    orEnd.then(done, done);
  });
}

// ------------------------------------------------------------------------------------ sshd

/**
 * uploadMany on one session, 8 in flight: 30 files (one past the window of outstanding writes),
 * one already present with the same size, one with another size (a conflict); every outcome
 * reported for its own file, the bytes exact, no temp left, the session usable afterwards.
 */
async function checkUploadMany(s: SftpSession, local: (remote: string) => string, remoteDir: string): Promise<void> {
  const jobs = Array.from({ length: 30 }, (_, i) => ({
    data: i === 7 ? randomBytes(300_000) : Buffer.from(`<doc n="${i}">${'x'.repeat(i * 50)}</doc>`),
    dir: remoteDir,
    name: `C${String(900 + i).padStart(12, '0')}.xml`,
  }));
  mkdirSync(local(remoteDir), { recursive: true });
  writeFileSync(join(local(remoteDir), jobs[3]!.name), jobs[3]!.data); // same size: already there
  writeFileSync(join(local(remoteDir), jobs[4]!.name), 'other'); // another size: a conflict
  const outcomes = new Map<string, string>();
  let next = 0;
  let inFlight = 0;
  let peak = 0;
  await s.uploadMany(
    () => {
      if (next >= jobs.length) return null;
      peak = Math.max(peak, ++inFlight);
      return jobs[next++]!;
    },
    8,
    (job, r, e) => {
      inFlight--;
      outcomes.set(job.name, r ? r.outcome : e instanceof UploadConflictError ? 'conflict' : `error: ${String(e)}`);
    },
  );
  expect(peak).to.equal(8);
  expect(jobs.map((j) => outcomes.get(j.name))).to.deep.equal(jobs.map((_, i) => (i === 3 ? 'already-present' : i === 4 ? 'conflict' : 'uploaded')));
  for (const [i, j] of jobs.entries()) {
    expect(readFileSync(join(local(remoteDir), j.name)).equals(i === 4 ? Buffer.from('other') : j.data), j.name).to.equal(true);
  }
  expect(filesUnder(local(remoteDir))).to.deep.equal(jobs.map((j) => j.name).sort());
  expect(s.closed).to.equal(false);
  expect((await s.upload(Buffer.from('after'), remoteDir, 'AFTER.xml')).outcome).to.equal('uploaded');
}

describe('transport: SFTP against a real OpenSSH sshd', function () {
  let sshd: TestSshd;
  let tmp: string;

  before(async function () {
    const why = sshdUnavailableReason();
    if (why) {
      console.log(`      SKIPPED: no private OpenSSH sshd on this machine: ${why}`);
      this.skip();
    }
    sshd = await startSshd({ dirs: ['/inbox', '/outbox/IE_PROCESSING_RESPONSE'] });
    tmp = mkdtempSync(join(tmpdir(), 'tlbridge-transport-'));
  });

  after(async function () {
    if (sshd) await sshd.dispose();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  afterEach(async function () {
    // A failed test must not leave the shared server frozen or stopped for the next one.
    if (sshd) {
      sshd.thaw();
      if (!sshd.running) await sshd.start();
    }
  });

  const endpoint = (over: Partial<SftpEndpoint> = {}): SftpEndpoint => ({
    host: sshd.host,
    port: sshd.port,
    username: sshd.username,
    privateKey: sshd.privateKey,
    hostKeySha256: [sshd.hostKeySha256],
    timeoutMs: 10_000,
    tempSuffix: '.part',
    label: 'ACME-PHARMA',
    ...over,
  });
  const onServer = (remotePath: string): string => join(sshd.root, remotePath);

  it('uploads to /inbox/<TYPE>/<name> with the exact bytes, leaves no temp file, uses posix-rename on OpenSSH', async function () {
    const s = await SftpSession.connect(endpoint());
    try {
      expect(s.supportsPosixRename).to.equal(true);
      // > 64 KiB so the transfer goes in several chunks
      const data = Buffer.concat([Buffer.from('<?xml version="1.0"?>\n<a>'), randomBytes(200_000), Buffer.from('</a>')]);
      const r = await s.upload(data, '/inbox/SHIPPING', 'C000000000001.xml');
      expect(r).to.deep.equal({ outcome: 'uploaded', remotePath: '/inbox/SHIPPING/C000000000001.xml' });
      expect(readFileSync(onServer('/inbox/SHIPPING/C000000000001.xml')).equals(data)).to.equal(true);
      expect(filesUnder(onServer('/inbox/SHIPPING'))).to.deep.equal(['C000000000001.xml']);
      // mkdir -p of a folder several levels deep, trailing slash tolerated
      const r2 = await s.upload(Buffer.from('x'), '/inbox/a/b/RECEIVING/', 'C000000000002.xml');
      expect(r2.remotePath).to.equal('/inbox/a/b/RECEIVING/C000000000002.xml');
      expect(readFileSync(onServer(r2.remotePath), 'utf8')).to.equal('x');
      expect(s.closed).to.equal(false);
    } finally {
      await s.close();
    }
    expect(s.closed).to.equal(true);
  });

  it('an upload bigger than the window of outstanding writes, and an empty one, arrive exact; the session stays usable', async function () {
    const s = await SftpSession.connect(endpoint());
    try {
      // 2.5 MB and an odd size: several refills of the 16 x 32 KiB window, a short last chunk
      const big = randomBytes(2_500_003);
      expect((await s.upload(big, '/inbox/WINDOW', 'C000000000101.xml')).outcome).to.equal('uploaded');
      expect(readFileSync(onServer('/inbox/WINDOW/C000000000101.xml')).equals(big)).to.equal(true);
      expect((await s.upload(Buffer.alloc(0), '/inbox/WINDOW', 'C000000000102.xml')).outcome).to.equal('uploaded');
      expect(readFileSync(onServer('/inbox/WINDOW/C000000000102.xml')).length).to.equal(0);
      // the final name's stat sent with the writes: a second upload of the same bytes finds it
      expect((await s.upload(big, '/inbox/WINDOW', 'C000000000101.xml')).outcome).to.equal('already-present');
      expect(filesUnder(onServer('/inbox/WINDOW')).sort()).to.deep.equal(['C000000000101.xml', 'C000000000102.xml']);
      expect(s.closed).to.equal(false);
    } finally {
      await s.close();
    }
  });

  it('uploadMany: several files in flight on one session, each outcome its own, all exact', async function () {
    const s = await SftpSession.connect(endpoint());
    try {
      await checkUploadMany(s, onServer, '/inbox/MANY');
    } finally {
      await s.close();
    }
  });

  it('refuses names that are not base names', async function () {
    const s = await SftpSession.connect(endpoint());
    try {
      for (const bad of ['../x.xml', 'a/b.xml', 'a\nb.xml', '..', '']) {
        const e = await rejection(s.upload(Buffer.from('x'), '/inbox/BAD', bad));
        expect(e).to.be.instanceOf(SftpError);
      }
      expect(existsSync(onServer('/inbox/BAD'))).to.equal(false);
    } finally {
      await s.close();
    }
  });

  it('overwrites a stale temp file left by a crash', async function () {
    mkdirSync(onServer('/inbox/RECEIPT'), { recursive: true });
    writeFileSync(onServer('/inbox/RECEIPT/C000000000010.xml.part'), randomBytes(10_000)); // longer than the new data
    const data = Buffer.from('<doc>fresh</doc>');
    const s = await SftpSession.connect(endpoint());
    try {
      const r = await s.upload(data, '/inbox/RECEIPT', 'C000000000010.xml');
      expect(r.outcome).to.equal('uploaded');
    } finally {
      await s.close();
    }
    expect(readFileSync(onServer('/inbox/RECEIPT/C000000000010.xml')).equals(data)).to.equal(true);
    expect(filesUnder(onServer('/inbox/RECEIPT'))).to.deep.equal(['C000000000010.xml']);
  });

  it("a final file already present with the same size is 'already-present' and the temp is removed", async function () {
    const data = Buffer.from('<doc>same</doc>');
    mkdirSync(onServer('/inbox/SAME'), { recursive: true });
    writeFileSync(onServer('/inbox/SAME/C000000000020.xml'), data);
    const s = await SftpSession.connect(endpoint());
    try {
      const r = await s.upload(data, '/inbox/SAME', 'C000000000020.xml');
      expect(r).to.deep.equal({ outcome: 'already-present', remotePath: '/inbox/SAME/C000000000020.xml' });
    } finally {
      await s.close();
    }
    expect(readFileSync(onServer('/inbox/SAME/C000000000020.xml')).equals(data)).to.equal(true);
    expect(filesUnder(onServer('/inbox/SAME'))).to.deep.equal(['C000000000020.xml']);
  });

  it('a final file with a different size is an UploadConflictError and stays untouched', async function () {
    const original = Buffer.from('<doc>the partner already has this one</doc>');
    mkdirSync(onServer('/inbox/CONFLICT'), { recursive: true });
    writeFileSync(onServer('/inbox/CONFLICT/C000000000030.xml'), original);
    const ours = Buffer.from('<doc>ours</doc>');
    const s = await SftpSession.connect(endpoint());
    try {
      const e = await rejection(s.upload(ours, '/inbox/CONFLICT', 'C000000000030.xml'));
      expect(e).to.be.instanceOf(UploadConflictError);
      const c = e as UploadConflictError;
      expect(c.remotePath).to.equal('/inbox/CONFLICT/C000000000030.xml');
      expect(c.localSize).to.equal(ours.length);
      expect(c.remoteSize).to.equal(original.length);
      expect(c.message).to.contain('/inbox/CONFLICT/C000000000030.xml');
      expect(s.closed).to.equal(false); // a conflict is not a transport failure
    } finally {
      await s.close();
    }
    expect(readFileSync(onServer('/inbox/CONFLICT/C000000000030.xml')).equals(original)).to.equal(true);
    expect(filesUnder(onServer('/inbox/CONFLICT'))).to.deep.equal(['C000000000030.xml']);
  });

  it('a wrong pinned host key is a HostKeyMismatchError showing both fingerprints, and nothing is uploaded', async function () {
    // A real, well-formed fingerprint that is not the server's: the user key's.
    const wrong = fingerprintOfLine(readFileSync(sshd.privateKeyPath + '.pub', 'utf8'));
    expect(wrong).to.not.equal(sshd.hostKeySha256);
    const e = await rejection(SftpSession.connect(endpoint({ hostKeySha256: [wrong] })));
    expect(e).to.be.instanceOf(HostKeyMismatchError);
    const m = e as HostKeyMismatchError;
    expect(m.expected).to.deep.equal([wrong]);
    expect(m.actual).to.equal(sshd.hostKeySha256);
    expect(m.message).to.contain(`expected one of [${wrong}]`);
    expect(m.message).to.contain(`got ${sshd.hostKeySha256}`);
    expect(m.message).to.not.contain('PRIVATE KEY');

    const pool = new SftpPool(endpoint({ hostKeySha256: [wrong] }), 2);
    try {
      const e2 = await rejection(pool.use((s) => s.upload(Buffer.from('x'), '/inbox/MISMATCH', 'C000000000040.xml')));
      expect(e2).to.be.instanceOf(HostKeyMismatchError);
      expect(pool.stats.open).to.equal(0);
    } finally {
      await pool.close();
    }
    expect(existsSync(onServer('/inbox/MISMATCH'))).to.equal(false);

    // A list allows rotation: the old (wrong) and the new (right) fingerprint.
    const s = await SftpSession.connect(endpoint({ hostKeySha256: [wrong, sshd.hostKeySha256] }));
    await s.close();
  });

  it('rejects an endpoint without any pinned fingerprint (no trust on first use)', async function () {
    const e = await rejection(SftpSession.connect(endpoint({ hostKeySha256: [] })));
    expect(e.message).to.match(/hostKeySha256/);
    const e2 = await rejection(SftpSession.connect(endpoint({ hostKeySha256: ['md5:aa:bb'] })));
    expect(e2.message).to.match(/not a SHA256/);
  });

  it('never shows secrets in errors (password, passphrase, key)', async function () {
    const password = 'Pw-very-secret-2718';
    const e1 = await rejection(SftpSession.connect(endpoint({ privateKey: undefined, password })));
    expect(e1).to.be.instanceOf(SftpError);
    expect(e1.message).to.not.contain(password);
    expect(e1.message).to.match(/authentication/i);

    const keyFile = join(tmp, 'encrypted_key');
    const passphrase = 'Pass-phrase-secret-3141';
    const r = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-f', keyFile]);
    expect(r.status).to.equal(0);
    const key = readFileSync(keyFile);
    const e2 = await rejection(SftpSession.connect(endpoint({ privateKey: key, passphrase: 'wrong-' + passphrase })));
    const e3 = await rejection(SftpSession.connect(endpoint({ privateKey: key })));
    for (const e of [e2, e3]) {
      expect(e.message).to.not.contain(passphrase);
      for (const line of key.toString('utf8').split('\n').filter((l) => l.length > 16)) {
        expect(e.message).to.not.contain(line);
      }
    }
  });

  it('stat, list, rename, remove', async function () {
    mkdirSync(onServer('/outbox/IE_PROCESSING_RESPONSE/sub'), { recursive: true });
    writeFileSync(onServer('/outbox/IE_PROCESSING_RESPONSE/ack-1.xml'), 'abc');
    const s = await SftpSession.connect(endpoint());
    try {
      expect(await s.stat('/outbox/IE_PROCESSING_RESPONSE/nope.xml')).to.equal(null);
      expect((await s.stat('/outbox/IE_PROCESSING_RESPONSE/ack-1.xml'))?.size).to.equal(3);
      const list = await s.list('/outbox/IE_PROCESSING_RESPONSE');
      const byName = new Map(list.map((e) => [e.name, e]));
      expect(byName.get('ack-1.xml')).to.include({ type: 'file', size: 3 });
      expect(byName.get('sub')?.type).to.equal('dir');
      expect(byName.get('ack-1.xml')!.modifyTime).to.be.greaterThan(0);
      await s.mkdirp('/outbox/done/2026');
      await s.rename('/outbox/IE_PROCESSING_RESPONSE/ack-1.xml', '/outbox/done/2026/ack-1.xml');
      expect(readFileSync(onServer('/outbox/done/2026/ack-1.xml'), 'utf8')).to.equal('abc');
      await s.remove('/outbox/done/2026/ack-1.xml');
      expect(existsSync(onServer('/outbox/done/2026/ack-1.xml'))).to.equal(false);
      const e = await rejection(s.remove('/outbox/done/2026/ack-1.xml'));
      expect(e).to.be.instanceOf(SftpError);
      await s.remove('/outbox/done/2026/ack-1.xml', { missingOk: true });
      const e2 = await rejection(s.list('/outbox/no-such-dir'));
      expect((e2 as SftpError).code).to.equal('ENOENT');
      expect(s.closed).to.equal(false);
    } finally {
      await s.close();
    }
  });

  it('download streams to a file and refuses a file larger than maxBytes', async function () {
    const ack = randomBytes(300_000);
    writeFileSync(onServer('/outbox/IE_PROCESSING_RESPONSE/ack-big.xml'), ack);
    const dest = join(tmp, 'ack-big.xml');
    const s = await SftpSession.connect(endpoint());
    try {
      expect(await s.download('/outbox/IE_PROCESSING_RESPONSE/ack-big.xml', dest, ack.length)).to.equal(ack.length);
      expect(readFileSync(dest).equals(ack)).to.equal(true);
      rmSync(dest);

      const e = await rejection(s.download('/outbox/IE_PROCESSING_RESPONSE/ack-big.xml', dest, ack.length - 1));
      expect(e).to.be.instanceOf(DownloadTooLargeError);
      expect((e as DownloadTooLargeError).size).to.equal(ack.length);
      expect(existsSync(dest)).to.equal(false);

      const e2 = await rejection(s.download('/outbox/IE_PROCESSING_RESPONSE/none.xml', dest, 1000));
      expect((e2 as SftpError).code).to.equal('ENOENT');
      expect(existsSync(dest)).to.equal(false);
      expect(s.closed).to.equal(false);
      // the session is still usable after refusals
      expect(await s.download('/outbox/IE_PROCESSING_RESPONSE/ack-big.xml', dest, 10_000_000)).to.equal(ack.length);
    } finally {
      await s.close();
    }
  });

  it('a frozen server: every operation and connect fail with SftpTimeoutError within timeoutMs, close() does not hang', async function () {
    const timeoutMs = 1500;
    const s = await SftpSession.connect(endpoint({ timeoutMs }));
    const s2 = await SftpSession.connect(endpoint({ timeoutMs }));
    sshd.freeze();
    try {
      let t0 = Date.now();
      const e = await rejection(s.stat('/inbox'));
      let took = Date.now() - t0;
      expect(e, e.message).to.be.instanceOf(SftpTimeoutError);
      expect(took).to.be.within(timeoutMs - 100, timeoutMs + 1500);
      expect(s.closed).to.equal(true);
      // a queued call on a timed-out session fails at once
      t0 = Date.now();
      await rejection(s.stat('/inbox'));
      expect(Date.now() - t0).to.be.lessThan(500);

      t0 = Date.now();
      const e2 = await rejection(s2.upload(randomBytes(500_000), '/inbox/FROZEN', 'C000000000050.xml'));
      took = Date.now() - t0;
      expect(e2).to.be.instanceOf(SftpTimeoutError);
      expect(took).to.be.lessThan(timeoutMs * 2 + 1500);

      t0 = Date.now();
      const e3 = await rejection(SftpSession.connect(endpoint({ timeoutMs })));
      took = Date.now() - t0;
      expect(e3).to.be.instanceOf(SftpTimeoutError);
      expect(took).to.be.lessThan(timeoutMs + 1500);

      t0 = Date.now();
      await s.close();
      await s2.close();
      expect(Date.now() - t0).to.be.lessThan(timeoutMs * 2 + 500);
    } finally {
      sshd.thaw();
    }
    const s3 = await SftpSession.connect(endpoint());
    await s3.close();
  });

  it('a pool discards a session that timed out and connects a new one', async function () {
    const pool = new SftpPool(endpoint({ timeoutMs: 1500 }), 1);
    try {
      await pool.use((s) => s.upload(Buffer.from('1'), '/inbox/POOLHANG', 'C000000000060.xml'));
      sshd.freeze();
      const e = await rejection(pool.use((s) => s.stat('/inbox')));
      expect(e).to.be.instanceOf(SftpTimeoutError);
      sshd.thaw();
      expect(pool.stats.open).to.equal(0);
      const r = await pool.use((s) => s.upload(Buffer.from('2'), '/inbox/POOLHANG', 'C000000000061.xml'));
      expect(r.outcome).to.equal('uploaded');
      expect(pool.stats.connects).to.equal(2);
    } finally {
      sshd.thaw();
      await pool.close();
    }
  });

  it('server stopped mid-batch: operations fail within timeoutMs (no hang); after start() the pool reconnects and the batch completes', async function () {
    const timeoutMs = 3000;
    const pool = new SftpPool(endpoint({ timeoutMs }), 3);
    const watched = await SftpSession.connect(endpoint({ timeoutMs }));
    const payload = (i: number): Buffer => Buffer.from(`<msg n="${i}">${'x'.repeat(20_000 + i)}</msg>`);
    const name = (i: number): string => `C${String(100 + i).padStart(12, '0')}.xml`;
    try {
      for (let i = 0; i < 3; i++) await pool.use((s) => s.upload(payload(i), '/inbox/MIDBATCH', name(i)));
      expect(pool.stats.connects).to.equal(1);

      // 30 uploads in flight; the server goes away under them once the first two are done.
      const batch = Array.from({ length: 30 }, (_, k) => k + 3);
      let done = 0;
      let twoDone!: () => void;
      const firstTwo = new Promise<void>((resolve) => (twoDone = resolve));
      const outcomes = batch.map((i) =>
        pool.use((s) => s.upload(payload(i), '/inbox/MIDBATCH', name(i))).then(
          () => {
            if (++done === 2) twoDone();
            return 'ok' as const;
          },
          (e: unknown) => e as Error,
        ),
      );
      await Promise.race([firstTwo, Promise.all(outcomes)]);
      expect(done, 'the first uploads of the batch went through').to.be.at.least(2);
      const stoppedAt = Date.now();
      await sshd.stop();
      const settled = await Promise.all(outcomes);
      const settledAfter = Date.now() - stoppedAt;
      const failed = batch.filter((_, k) => settled[k] !== 'ok');
      expect(failed.length, 'some uploads must have been cut off').to.be.greaterThan(0);
      for (const k of failed.map((i) => i - 3)) expect(settled[k]).to.be.instanceOf(SftpError);
      // each waiting call gets at most one failed connect (refused at once) after the drop
      expect(settledAfter).to.be.lessThan(timeoutMs + 2000);

      // the idle session notices the drop by itself (end/close events)
      const t0 = Date.now();
      while (!watched.closed && Date.now() - t0 < timeoutMs * 2) await sleep(20);
      expect(watched.closed).to.equal(true);
      const t1 = Date.now();
      await rejection(watched.stat('/inbox'));
      expect(Date.now() - t1).to.be.lessThan(timeoutMs + 500);

      // while the server is down, a call fails fast (connection refused), it does not hang
      const t2 = Date.now();
      const down = await rejection(pool.use((s) => s.stat('/inbox')));
      expect(down).to.be.instanceOf(SftpError);
      expect(Date.now() - t2).to.be.lessThan(timeoutMs + 500);

      await sshd.start();
      const connectsBefore = pool.stats.connects;
      for (const i of failed) {
        // what a batch cycle does: retry the same name with backoff
        for (let attempt = 0; ; attempt++) {
          try {
            const r = await pool.use((s) => s.upload(payload(i), '/inbox/MIDBATCH', name(i)));
            expect(r.outcome).to.be.oneOf(['uploaded', 'already-present']);
            break;
          } catch (e) {
            if (attempt >= 4) throw e;
            await sleep(backoffDelay(attempt, { baseMs: 100, maxMs: 1000 }));
          }
        }
      }
      expect(pool.stats.connects).to.be.greaterThan(connectsBefore);
      expect(pool.stats.open).to.be.at.most(3);
      const files = filesUnder(onServer('/inbox/MIDBATCH'));
      expect(files).to.deep.equal(Array.from({ length: 33 }, (_, i) => name(i)).sort());
      for (let i = 0; i < 33; i++) {
        expect(readFileSync(onServer(`/inbox/MIDBATCH/${name(i)}`)).equals(payload(i)), name(i)).to.equal(true);
      }
    } finally {
      await watched.close();
      await pool.close();
    }
  });

  it('pool.warm(): the connects it starts are taken over by the callers that come (no extra connection); a failed one is the caller\'s error', async function () {
    const pool = new SftpPool(endpoint(), 2);
    try {
      pool.warm(5);
      expect(pool.stats.open).to.equal(2);
      await Promise.all([1, 2, 3].map(() => pool.use((s) => s.stat('/inbox'))));
      expect(pool.stats.connects).to.equal(2);
      expect(pool.stats.peakOpen).to.equal(2);
      pool.warm(2); // full already: nothing more
      expect(pool.stats.open).to.equal(2);
    } finally {
      await pool.close();
    }
    // unclaimed: it joins the idle sessions
    const idle = new SftpPool(endpoint(), 2);
    try {
      idle.warm(1);
      for (let i = 0; i < 200 && idle.stats.idle !== 1; i++) await new Promise((r) => setTimeout(r, 25));
      expect(idle.stats.idle).to.equal(1);
      await idle.use((s) => s.stat('/inbox'));
      expect(idle.stats.connects).to.equal(1);
    } finally {
      await idle.close();
    }
    // a warm connect that fails: the caller that takes it over gets its error, not a second attempt
    const bad = new SftpPool(endpoint({ hostKeySha256: ['SHA256:' + 'A'.repeat(43)] }), 1);
    try {
      bad.warm(1);
      const e = await rejection(bad.use((s) => s.stat('/inbox')));
      expect(e).to.be.instanceOf(HostKeyMismatchError);
      expect(bad.stats.open).to.equal(0);
    } finally {
      await bad.close();
    }
  });

  it('pool.close({ abandon: true }) stops an in-flight upload at once (shutdown) and only a temp file can remain', async function () {
    const pool = new SftpPool(endpoint(), 2);
    const big = randomBytes(64 * 1024 * 1024);
    const p = pool.use((s) => s.upload(big, '/inbox/ABANDON', 'C000000000080.xml'));
    const outcome = p.then(
      () => 'finished',
      (e: Error) => e,
    );
    // the transfer has begun once the temp file exists on the server
    await whenCreated(onServer('/inbox/ABANDON'), 'C000000000080.xml.part', outcome);
    const t0 = Date.now();
    await pool.close({ abandon: true });
    const r = await outcome;
    expect(r, 'the upload must not have finished').to.be.instanceOf(SftpError);
    expect(Date.now() - t0).to.be.lessThan(3000);
    expect(existsSync(onServer('/inbox/ABANDON/C000000000080.xml'))).to.equal(false);
    const e = await rejection(pool.use((s) => s.stat('/inbox')));
    expect(e.message).to.match(/pool is closed/);
  });

  it('pool.close({ abandon: true }) fails the connects still in their handshake with a frozen server at once, not after timeoutMs', async function () {
    this.timeout(10_000); // far below timeoutMs: a connect left to time out fails this test
    const pool = new SftpPool(endpoint({ timeoutMs: 30_000 }), 2);
    sshd.freeze();
    try {
      const outcome = rejection(pool.use((s) => s.stat('/inbox')));
      pool.warm(2); // the second connection, started ahead by warm()
      expect(pool.stats.open).to.equal(2);
      await pool.close({ abandon: true });
      const e = await outcome;
      expect(e.message).to.match(/connect abandoned/);
      expect(pool.stats.open).to.equal(0);
    } finally {
      sshd.thaw();
    }
  });

  it('a pool of 4 uploads 50 files concurrently, all correct, never more than 4 connections', async function () {
    const accepted = (): number => (sshd.log().match(/Accepted publickey/g) ?? []).length;
    const acceptedBefore = accepted();
    const pool = new SftpPool(endpoint(), 4);
    let active = 0;
    let maxActive = 0;
    const sessions = new Set<SftpSession>();
    const data = Array.from({ length: 50 }, (_, i) => Buffer.concat([Buffer.from(`<m${i}>`), randomBytes(1000 + i * 97)]));
    const name = (i: number): string => `C${String(1000 + i).padStart(12, '0')}.xml`;
    try {
      const results = await Promise.all(
        data.map((d, i) =>
          pool.use(async (s) => {
            sessions.add(s);
            active++;
            maxActive = Math.max(maxActive, active);
            try {
              return await s.upload(d, '/inbox/PARALLEL', name(i));
            } finally {
              active--;
            }
          }),
        ),
      );
      expect(results.every((r) => r.outcome === 'uploaded')).to.equal(true);
      expect(maxActive).to.be.at.most(4);
      expect(maxActive).to.be.greaterThan(1); // it did run in parallel
      expect(sessions.size).to.be.at.most(4);
      expect(pool.stats.peakOpen).to.be.at.most(4);
      expect(pool.stats.connects).to.be.at.most(4);
    } finally {
      await pool.close();
    }
    // the server's own count of logins (sshd -e logs "Accepted publickey ..." per login)
    const logins = accepted() - acceptedBefore;
    if (accepted() > 0) expect(logins).to.be.within(1, 4);
    expect(filesUnder(onServer('/inbox/PARALLEL'))).to.deep.equal(data.map((_, i) => name(i)).sort());
    data.forEach((d, i) => expect(readFileSync(onServer(`/inbox/PARALLEL/${name(i)}`)).equals(d), name(i)).to.equal(true));
  });

  it('sha256Fingerprint of a key blob matches `ssh-keygen -lf` (host key and user key)', function () {
    expect(fingerprintOfLine(readFileSync(sshd.hostKeyPubPath, 'utf8'))).to.equal(sshd.hostKeySha256);
    const userPub = sshd.privateKeyPath + '.pub';
    const printed = spawnSync('ssh-keygen', ['-lf', userPub], { encoding: 'utf8' }).stdout.trim().split(/\s+/)[1];
    expect(printed).to.match(/^SHA256:/);
    expect(fingerprintOfLine(readFileSync(userPub, 'utf8'))).to.equal(printed);
    // ssh2's parsed key blob (what hostVerifier receives) gives the same fingerprint
    const parsed = ssh2.utils.parseKey(readFileSync(sshd.hostKeyPubPath));
    if (parsed instanceof Error) throw parsed;
    const key = Array.isArray(parsed) ? parsed[0] : parsed;
    expect(sha256Fingerprint(key.getPublicSSH())).to.equal(sshd.hostKeySha256);
  });
});

// ------------------------------------------------------------------------------------ sandbox

describe('transport: SFTP against the sandbox (an ssh2 server without SFTP extensions)', function () {
  let tmp: string;

  before(function () {
    tmp = mkdtempSync(join(tmpdir(), 'tlbridge-transport-sb-'));
  });

  after(function () {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('no posix-rename offered: plain rename is used and the upload protocol still holds', async function () {
    const config = loadConfig(join(REPO, 'config/tlbridge.yaml'));
    const dir = join(tmp, 'sandbox');
    mkdirSync(dir);
    const client = ensureClientKey(dir);
    const sb = await startSandbox({
      dir,
      port: 0,
      messageTypes: config.messageTypes,
      namespaces: config.namespaces,
      receiverId: Object.values(config.partners)[0]!.receiverId,
      authorizedKeys: [client.publicKey],
    });
    try {
      const s = await SftpSession.connect({
        host: '127.0.0.1',
        port: sb.port,
        username: 'tlbridge',
        privateKey: client.privateKey,
        hostKeySha256: [sb.hostKeySha256],
        timeoutMs: 10_000,
        tempSuffix: '.part',
        label: 'ACME-PHARMA',
      });
      try {
        // the server's VERSION reply announced no extensions: posix-rename is never tried
        expect(s.supportsPosixRename).to.equal(false);
        const data = Buffer.from('<doc>mini</doc>');
        expect(await s.upload(data, '/inbox/MINI', 'C000000000070.xml')).to.deep.equal({
          outcome: 'uploaded',
          remotePath: '/inbox/MINI/C000000000070.xml',
        });
        expect(readFileSync(join(dir, 'inbox/MINI/C000000000070.xml')).equals(data)).to.equal(true);
        expect((await s.upload(data, '/inbox/MINI', 'C000000000070.xml')).outcome).to.equal('already-present');
        const e = await rejection(s.upload(Buffer.from('<doc>other size</doc>'), '/inbox/MINI', 'C000000000070.xml'));
        expect(e).to.be.instanceOf(UploadConflictError);
        // never overwritten (the sandbox's plain rename would replace it), no temp left behind
        expect(readFileSync(join(dir, 'inbox/MINI/C000000000070.xml')).equals(data)).to.equal(true);
        expect(filesUnder(join(dir, 'inbox/MINI'))).to.deep.equal(['C000000000070.xml']);
        expect(s.supportsPosixRename).to.equal(false);
        expect(s.closed).to.equal(false);
        // several in flight: the sandbox serves the interleaved requests of many handles
        await checkUploadMany(s, (remote) => join(dir, remote), '/inbox/MANY');
      } finally {
        await s.close();
      }
    } finally {
      await sb.close();
    }
  });
});

// ------------------------------------------------------------------------------------ units

describe('transport: backoffDelay', function () {
  it('stays within [0, min(maxMs, baseMs * 2^attempt)) and returns whole milliseconds', function () {
    for (let attempt = 0; attempt < 20; attempt++) {
      const ceiling = Math.min(60_000, 500 * 2 ** attempt);
      for (const r of [0, 0.1, 0.5, 0.999999]) {
        const d = backoffDelay(attempt, { baseMs: 500, maxMs: 60_000, random: () => r });
        expect(d).to.be.at.least(0);
        expect(d).to.be.below(ceiling);
        expect(Number.isInteger(d)).to.equal(true);
      }
    }
    expect(backoffDelay(3, { random: () => 0 })).to.equal(0);
  });

  it('grows exponentially: the ceiling doubles per attempt', function () {
    const top = (a: number): number => backoffDelay(a, { baseMs: 100, maxMs: 1e9, random: () => 0.999999 });
    expect(top(0)).to.equal(99);
    expect(top(1)).to.equal(199);
    expect(top(2)).to.equal(399);
    expect(top(5)).to.equal(3199);
    const half = (a: number): number => backoffDelay(a, { baseMs: 100, maxMs: 1e9, random: () => 0.5 });
    for (let a = 0; a < 10; a++) expect(half(a + 1)).to.equal(2 * half(a));
  });

  it('is capped at maxMs, also for huge or odd attempts', function () {
    for (const a of [10, 30, 100, 5000, Number.MAX_SAFE_INTEGER, Infinity]) {
      const d = backoffDelay(a, { baseMs: 1000, maxMs: 30_000, random: () => 0.999999 });
      expect(d).to.be.below(30_000);
      expect(d).to.be.at.least(29_000);
    }
    expect(backoffDelay(-5, { baseMs: 100, random: () => 0.5 })).to.equal(50); // negative counts as 0
    expect(backoffDelay(Number.NaN, { baseMs: 100, random: () => 0.5 })).to.equal(50);
    expect(backoffDelay(1, { baseMs: 100, random: () => 1 })).to.be.below(200); // random() === 1 tolerated
  });

  it('uses full jitter by default (varies, within the default bounds)', function () {
    const seen = new Set<number>();
    for (let i = 0; i < 50; i++) {
      const d = backoffDelay(4);
      expect(d).to.be.within(0, 16_000);
      seen.add(d);
    }
    expect(seen.size).to.be.greaterThan(10);
    expect(backoffDelay(1000)).to.be.below(300_000);
  });

  it('sleep() resolves after the delay and rejects when aborted', async function () {
    const t0 = Date.now();
    await sleep(50);
    expect(Date.now() - t0).to.be.at.least(45);
    const ac = new AbortController();
    const p = sleep(10_000, ac.signal);
    ac.abort(new Error('SIGTERM'));
    const e = await rejection(p);
    expect(e.message).to.equal('SIGTERM');
    // a signal aborted before the call rejects at once too
    expect((await rejection(sleep(10_000, ac.signal))).message).to.equal('SIGTERM');
  });
});

describe('transport: fingerprints and byte limit', function () {
  it('normalizeFingerprint accepts the ssh-keygen form and tolerates padding / lower-case prefix', function () {
    const fp = 'SHA256:NllJHBh4XMrv9bs1gnpKolVgrSOweCvBUE96UR89xYs';
    expect(normalizeFingerprint(fp)).to.equal(fp);
    expect(normalizeFingerprint(` sha256:${fp.slice(7)}= `)).to.equal(fp);
    expect(normalizeFingerprint('MD5:12:34')).to.equal(null);
    expect(normalizeFingerprint('SHA256:short')).to.equal(null);
    expect(normalizeFingerprint('')).to.equal(null);
  });

  it('sha256Fingerprint is OpenSSH format: "SHA256:" + unpadded base64 of sha256(blob)', function () {
    // sha256("") = e3b0c442...; base64 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=
    expect(sha256Fingerprint(Buffer.alloc(0))).to.equal('SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU');
  });

  it('sha256Fingerprint of a fresh key matches `ssh-keygen -lf`', function () {
    if (!haveSshKeygen()) this.skip();
    const dir = mkdtempSync(join(tmpdir(), 'tlbridge-fp-'));
    try {
      for (const type of ['ed25519', 'ecdsa']) {
        const f = join(dir, type);
        expect(spawnSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-f', f]).status).to.equal(0);
        const printed = spawnSync('ssh-keygen', ['-lf', f + '.pub'], { encoding: 'utf8' }).stdout.trim().split(/\s+/)[1];
        expect(fingerprintOfLine(readFileSync(f + '.pub', 'utf8'))).to.equal(printed);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('ByteLimit passes up to maxBytes and fails the stream beyond (the streaming guard of download)', async function () {
    const chunks = [Buffer.alloc(400, 1), Buffer.alloc(400, 2), Buffer.alloc(400, 3)];
    const got: Buffer[] = [];
    const sink = (): Writable =>
      new Writable({
        write(c: Buffer, _e, cb) {
          got.push(c);
          cb();
        },
      });
    await pipeline(Readable.from(chunks), new ByteLimit(1200), sink());
    expect(Buffer.concat(got).length).to.equal(1200);
    got.length = 0;
    const e = await rejection(pipeline(Readable.from(chunks), new ByteLimit(1000), sink()));
    expect(e).to.be.instanceOf(ByteLimitExceededError);
    expect((e as ByteLimitExceededError).seen).to.equal(1200);
    expect(Buffer.concat(got).length).to.be.at.most(1000);
  });
});
