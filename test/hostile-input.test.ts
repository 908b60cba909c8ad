// Nothing dropped into a drop folder can stop the daemon (product.md 6, 9): the name rules as
// pure functions, then a hostile corpus dropped into the REAL running daemon (a child process,
// real file system, real ledger), a kill -9 and a restart, and what must hold afterwards.
import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { archiveNameFor, errorNameFor, isIgnoredName, judgeName, MAX_NAME_BYTES, showName } from '../src/intake/names.js';
import { scanDropFolder } from '../src/intake/drop-scan.js';
import { makeEnv, type TestEnv } from './support/daemon-env.js';
import { BIN, DaemonProcess, type LogLine, filesUnder, producedFile, readLedger, REPO } from './support/daemon-process.js';

const reasonOf = (raw: Buffer | string) => {
  const v = judgeName(typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw);
  return v.usable ? null : v.reason;
};

describe('input names: which entries intake may open', () => {
  it('usable: plain names, spaces, non-ASCII letters, names the archive uses itself', () => {
    for (const n of ['a.txt', 'Produced 2026-12-01.txt', 'Lieferung-Müller.txt', '生産.txt', 'manifest.json', 'constructor'])
      expect(reasonOf(n), n).to.equal(null);
  });

  it('never opened: separators, C0, DEL, C1, bidi and other format characters, line separators', () => {
    const cases: [string, RegExp][] = [
      ['a\\b.txt', /path separator/],
      ['a\x01.txt', /control character \(U\+0001\)/],
      ['a\nb.txt', /control character \(U\+000A\)/],
      ['a\x7f.txt', /control character \(U\+007F\)/],
      ['a\u0085.txt', /C1 control character \(U\+0085\)/],
      ['invoice\u202Etxt.exe', /format character .*U\+202E/],
      ['a\u2066b.txt', /format character .*U\+2066/],
      ['a\u200Bb.txt', /format character .*U\+200B/],
      ['\uFEFFa.txt', /format character .*U\+FEFF/],
      ['a\u00ADb.txt', /format character .*U\+00AD/],
      ['a\u2028b.txt', /U\+2028/],
    ];
    for (const [n, re] of cases) expect(reasonOf(n), JSON.stringify(n)).to.match(re);
  });

  it('never opened: names that are not UTF-8, and names too long to claim', () => {
    expect(reasonOf(Buffer.from([0x62, 0xff, 0x2e, 0x74, 0x78, 0x74]))).to.equal('is not valid UTF-8');
    expect(reasonOf(Buffer.from([0xc3, 0x28]))).to.equal('is not valid UTF-8');
    expect(reasonOf('é'.repeat(MAX_NAME_BYTES / 2))).to.equal(null);
    expect(reasonOf('é'.repeat(MAX_NAME_BYTES / 2) + 'x')).to.match(/longer than 180 bytes/);
  });

  it('shows a name printable and unambiguous: escapes for unsafe characters and bytes, backslash doubled', () => {
    expect(showName('invoice\u202Etxt.exe')).to.equal('invoice\\u{202E}txt.exe');
    expect(showName(Buffer.from([0x62, 0xff, 0x2e, 0x74]))).to.equal('b\\xFF.t');
    expect(showName('a\\u{41}')).to.equal('a\\\\u{41}');
    expect(showName('a\x00b')).to.equal('a\\u{0}b');
    expect(showName('Müller.txt')).to.equal('Müller.txt');
  });

  it('ignored, not counted: dotfiles and temp names; archive-reserved names stored under another name', () => {
    expect(['.x', '.manifest.json', 'a.tmp', 'b.PART'].map(isIgnoredName)).to.deep.equal([true, true, true, true]);
    expect(isIgnoredName('manifest.json')).to.equal(false);
    expect(archiveNameFor('manifest.json')).to.equal('input-manifest.json');
    expect(archiveNameFor('.hidden.txt')).to.equal('input-hidden.txt');
    expect(archiveNameFor('a.txt')).to.equal('a.txt');
    expect(archiveNameFor('manifest.json.error.json')).to.equal('manifest.json.error.json');
    // error/ hides dotfiles and the reports from status: such inputs get a name it counts
    expect(errorNameFor('x.error.json')).to.equal('x.error.json.input');
    expect(errorNameFor('.x.error.txt')).to.equal('input-x.error.txt.input');
    expect(errorNameFor('manifest.json')).to.equal('manifest.json');
  });
});

const BIDI = 'invoice\u202Etxt.exe';
const NOT_UTF8 = Buffer.from([0x62, 0x61, 0x64, 0xff, 0x2e, 0x74, 0x78, 0x74]); // "bad\xFF.txt"
const PARTNER = 'ACME-PHARMA';

describe('a hostile corpus dropped into the running daemon', function () {
  this.timeout(240_000);
  let env: TestEnv;
  const procs: DaemonProcess[] = [];

  beforeEach(() => {
    env = makeEnv({ stableMs: 200, extraYaml: 'maxInputBytes: 6000000' });
    fs.mkdirSync(env.inbound, { recursive: true });
  });
  afterEach(async () => {
    for (const p of procs) if (p.running) await p.kill9();
    procs.length = 0;
    env.dispose();
  });

  const dataDir = () => env.config.dataDir;
  const ledgerPath = () => path.join(dataDir(), 'ledger.sqlite');
  const start = () => {
    const p = new DaemonProcess(env.configPath);
    procs.push(p);
    return p;
  };
  const cli = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args, '--config', env.configPath], { cwd: REPO, encoding: 'utf8', timeout: 60_000 });
  const files = () => readLedger(ledgerPath(), (db) => db.prepare('SELECT name, state FROM files ORDER BY id').all() as { name: string; state: string }[]) ?? [];
  const drop = (name: string | Buffer, content: string | Buffer) => {
    // written beside, then renamed in, as an ERP export does
    const tmp = path.join(env.dir, `stage-${Math.random().toString(36).slice(2)}`);
    fs.writeFileSync(tmp, content);
    fs.renameSync(tmp, typeof name === 'string' ? path.join(env.inbound, name) : Buffer.concat([Buffer.from(env.inbound + '/'), name]));
  };

  it('ends every regular file in error/ with its report or converted, leaves the rest in place, counted, and stays up across a kill -9', async () => {
    const d1 = start();
    await d1.ready();

    // regular files with usable names: each must end with an outcome
    drop('manifest.json', producedFile(['H-MAN-1']));
    drop('constructor.txt', producedFile(['H-C-1']).replace(`|${PARTNER}|`, '|constructor|'));
    drop('proto.txt', producedFile(['H-P-1']).replace(`|${PARTNER}|`, '|__proto__|'));
    drop('tostring.txt', producedFile(['H-T-1']).replace(`|${PARTNER}|`, '|toString|'));
    drop('nul.txt', producedFile(['H-N-1']).replace('e2e 0', 'e2e\u0000\u00000'));
    drop('long.txt', producedFile(['H-L-1']).replace('e2e 0', 'x'.repeat(5 * 1024 * 1024)));
    drop('cr.txt', producedFile(['H-CR-1']).replace(/\n/g, '\r'));
    drop('big.txt', Buffer.alloc(6_100_000, 'z'));
    const outside = path.join(env.dir, 'second-link.txt');
    fs.writeFileSync(outside, producedFile(['H-HL-1']));
    fs.linkSync(outside, path.join(env.inbound, 'linked.txt'));
    // entries section 9 never opens
    execFileSync('mkfifo', [path.join(env.inbound, 'pipe.txt')]);
    fs.mkdirSync(path.join(env.inbound, 'folder.txt'));
    fs.symlinkSync(outside, path.join(env.inbound, 'link.txt'));
    drop(BIDI, producedFile(['H-B-1']));
    drop(NOT_UTF8, producedFile(['H-U-1']));
    drop('.hidden', producedFile(['H-H-1'])); // ignored, not counted

    const regular = ['manifest.json', 'constructor.txt', 'proto.txt', 'tostring.txt', 'nul.txt', 'long.txt', 'cr.txt', 'big.txt', 'linked.txt'];
    await waitUntil('every regular file ended', () => files().filter((f) => f.state !== 'RECEIVED').length === regular.length, 120_000, d1);
    expect(d1.running).to.equal(true);
    const never = ['pipe.txt', 'folder.txt', 'link.txt', showName(BIDI), showName(NOT_UTF8)];
    const neverOpened = (n: string) => (l: LogLine) => l.message.startsWith('drop folder entry never opened') && l.name === n;
    // a folder and a non-UTF-8 name are seen by the periodic rescan only (chokidar reports neither)
    for (const n of never) await d1.waitForLog(neverOpened(n));
    // said once: a folder made now is reported by a later rescan, which passes the others again
    fs.mkdirSync(path.join(env.inbound, 'folder-2.txt'));
    await d1.waitForLog(neverOpened('folder-2.txt'));
    for (const n of never) expect(d1.count(neverOpened(n)), n).to.equal(1);
    fs.rmdirSync(path.join(env.inbound, 'folder-2.txt'));

    // a kill -9 and a start over what it left, plus two files a crashed run left in work/:
    // one claimed right before the kill (no row yet), one whose intake already failed twice
    await d1.kill9();
    const work = path.join(dataDir(), 'work');
    fs.writeFileSync(path.join(work, '20261202T000000000Z-1-1--manifest.json'), producedFile(['H-W-1']));
    const stuck = path.join(work, '20261202T000000000Z-1-2--stuck.txt');
    fs.writeFileSync(stuck, producedFile(['H-W-2']));
    const db = new Database(ledgerPath());
    db.prepare(`INSERT INTO intake_attempts (work_path, started, failed, last_error, updated_at) VALUES (?, 2, 2, 'TypeError: boom', '2026-12-02T00:00:00Z')`).run(stuck);
    db.close();

    const d2 = start();
    await d2.ready();
    await waitUntil('the files left in work/ ended', () => files().filter((f) => f.state !== 'RECEIVED').length === regular.length + 2, 60_000, d2);

    const byName = new Map(files().map((f) => [f.name, f.state]));
    expect(byName.get('stuck.txt')).to.equal('FAILED');
    expect(files().filter((f) => f.name === 'manifest.json').map((f) => f.state)).to.deep.equal(['CONVERTED', 'CONVERTED']);
    const errorDir = path.join(dataDir(), 'error');
    const failed = ['constructor.txt', 'proto.txt', 'tostring.txt', 'nul.txt', 'long.txt', 'cr.txt', 'big.txt', 'linked.txt', 'stuck.txt'];
    const reasons = Object.fromEntries(failed.map((n) => [n, JSON.parse(fs.readFileSync(path.join(errorDir, `${n}.error.json`), 'utf8')).reason]));
    expect(reasons).to.deep.equal({
      'constructor.txt': 'invalid',
      'proto.txt': 'invalid',
      'tostring.txt': 'invalid',
      'nul.txt': 'invalid',
      'long.txt': 'invalid',
      'cr.txt': 'invalid',
      'big.txt': 'too-large',
      'linked.txt': 'invalid',
      'stuck.txt': 'internal',
    });
    for (const n of failed) {
      expect(fs.existsSync(path.join(errorDir, n)), n).to.equal(true);
      expect(fs.readFileSync(path.join(errorDir, `${n}.error.txt`), 'utf8').trim(), n).to.not.equal('');
    }
    expect(fs.readFileSync(path.join(errorDir, 'cr.txt.error.txt'), 'utf8')).to.contain('CR-only');
    expect(fs.readFileSync(path.join(errorDir, 'long.txt.error.txt'), 'utf8')).to.contain('maxLineBytes');
    expect(fs.readFileSync(path.join(errorDir, 'stuck.txt.error.txt'), 'utf8')).to.contain('TypeError: boom');

    // the never-opened entries are where they were, and counted
    const left = scanDropFolder(env.inbound);
    expect(left.files).to.deep.equal([]);
    expect(left.unsafe.map((u) => u.shown).sort()).to.deep.equal([...never].sort());
    expect(fs.lstatSync(path.join(env.inbound, 'pipe.txt')).isFIFO()).to.equal(true);
    expect(filesUnder(work)).to.deep.equal([]);
    const status = cli('status', '--json');
    expect(status.status, status.stderr).to.equal(0);
    expect(JSON.parse(status.stdout).unsafeInputs).to.equal(5);
    expect(cli('status').stdout).to.contain('5 drop-folder entries are never opened');
    const check = cli('status', '--check', '--json');
    const problems = JSON.parse(check.stdout).problems as { kind: string; subject: string }[];
    expect(problems.filter((p) => p.kind === 'unsafe-input').map((p) => p.subject).sort()).to.deep.equal([...never].sort());
    const verify = cli('audit', 'verify');
    expect(verify.status, verify.stdout + verify.stderr).to.equal(0);

    // and a good file dropped now is staged
    drop('good.txt', producedFile(['H-GOOD-1']));
    await waitUntil('the good file staged', () =>
      readLedger(ledgerPath(), (x) => x.prepare(`SELECT count(*) FROM messages m JOIN files f ON f.id = m.file_id WHERE f.name = 'good.txt' AND f.state = 'CONVERTED' AND m.state = 'STAGED'`).pluck().get() === 1),
    60_000, d2);
    expect(d2.running).to.equal(true);
    // every hostile input was handled by a rule, none by the internal fallback
    for (const d of [d1, d2]) expect(d.count('intake threw an unexpected error'), d.tail()).to.equal(0);
    const exit = await d2.terminate();
    expect(exit?.code).to.equal(0);
  });
});

/** Polls a condition on the ledger until it holds; fails early when the daemon exits. */
async function waitUntil(what: string, cond: () => boolean | undefined, timeoutMs: number, d: DaemonProcess): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    let ok: boolean | undefined;
    try {
      ok = cond();
    } catch {
      ok = false; // the ledger is being created
    }
    if (ok) return;
    if (!d.running) throw new Error(`the daemon exited while waiting for ${what}\n${d.tail()}`);
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${d.tail()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
