// Progress of long work (product.md 4): on stderr while a terminal watches, never otherwise.
// `convert` of a large generated file runs for real, once under a pseudo-terminal made by
// script(1) and once piped.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { expect } from 'chai';
import { generateDelimited } from '../bench/generate.js';
import { formatBytes, NO_PROGRESS, startProgress } from '../src/cli/progress.js';
import { ROOT } from './support/fixtures.js';
import { makeAckEnv, PARTNER, type AckEnv } from './support/acks.js';
import { runCli } from './support/cli.js';
import { LedgerFixtures } from './support/ledger-fixtures.js';
import { startSshd, sshdUnavailableReason, type TestSshd } from './support/sshd.js';

const HAS_SCRIPT = spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0;
// cursor movement and line clearing, as a terminal gets them
const strip = (s: string) => s.replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1b[78]/g, '');

/** The environment without $TLBRIDGE_CONFIG: the repository's config/tlbridge.yaml. */
function defaultConfigEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.TLBRIDGE_CONFIG;
  return env;
}

/** A stream that says it is a terminal and keeps what was written to it. */
function fakeTerminal(): NodeJS.WriteStream & { text(): string } {
  const chunks: string[] = [];
  const s = new PassThrough() as unknown as NodeJS.WriteStream & { text(): string };
  Object.assign(s, { isTTY: true, columns: 120, rows: 40, text: () => chunks.join('') });
  s.on('data', (c: Buffer) => void chunks.push(c.toString('utf8')));
  return s;
}

describe('progress on a terminal (stderr only)', function () {
  it('is a no-op when the stream is not a terminal, when there is none, and for --json output', function () {
    const pipe = new PassThrough() as unknown as NodeJS.WriteStream;
    expect(startProgress({ total: 10, unit: 'bytes', stream: pipe })).to.equal(NO_PROGRESS);
    expect(startProgress({ total: 10, unit: 'bytes' })).to.equal(NO_PROGRESS);
    const tty = fakeTerminal();
    expect(startProgress({ total: 10, unit: 'files', stream: tty, json: true })).to.equal(NO_PROGRESS);
    expect(tty.text()).to.equal('');
  });

  it('on a terminal: label, bar, counts of the unit and the detail fields; stop() clears the line', function () {
    const tty = fakeTerminal();
    const p = startProgress({ total: 4, unit: 'files uploaded', label: 'ACME-PHARMA', stream: tty });
    p.increment(1);
    p.stop();
    p.stop(); // twice is harmless
    const first = strip(tty.text());
    expect(first).to.include('ACME-PHARMA [').and.include('0 of 4 files uploaded');

    const bytes = fakeTerminal();
    const b = startProgress({ total: 3 * 1024 * 1024, unit: 'bytes', label: 'big.txt', detail: '{messages} messages written', fields: { messages: 0 }, stream: bytes });
    b.stop();
    expect(strip(bytes.text())).to.include('big.txt [').and.include('0 B of 3.0 MB, 0 messages written');
    expect(bytes.text(), 'the line is cleared').to.include('\x1b[2K');
    expect(formatBytes(1023)).to.equal('1023 B');
    expect(formatBytes(250 * 1024 * 1024)).to.equal('250.0 MB');
  });

  describe('convert of a large file', function () {
    this.timeout(180_000);
    let tmp: string;
    let input: string;
    let messages: number;
    before(async function () {
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tlbridge-progress-'));
      input = path.join(tmp, 'big-export.txt');
      // several 1 MB reads, so the bar moves more than once
      messages = (await generateDelimited({ file: input, seed: 7, targetBytes: 3_000_000 })).messages;
    });
    after(() => fs.rmSync(tmp, { recursive: true, force: true }));

    const summary = () => `${input}: ${messages} MATERIALS_PRODUCED message(s) for ACME-PHARMA`;

    it('under a pseudo-terminal: progress with bytes read and messages written, then the summary', function () {
      if (!HAS_SCRIPT) this.skip(); // util-linux script(1) missing
      const out = path.join(tmp, 'tty');
      const cmd = `'${process.execPath}' bin/tlbridge.js convert '${input}' --out '${out}'`;
      const r = spawnSync('script', ['-qfec', cmd, '/dev/null'], { cwd: ROOT, encoding: 'utf8', env: defaultConfigEnv() });
      expect(r.status, r.stdout + r.stderr).to.equal(0);
      const text = strip(r.stdout);
      expect(text).to.match(/big-export\.txt \[.*\] \d+% [\d.]+ [KM]?B of 2\.9 MB, \d+ messages written/);
      // the bar moved: more than one distinct amount read was drawn
      const amounts = new Set([...text.matchAll(/% ([\d.]+ [KM]?B) of/g)].map((m) => m[1]));
      expect(amounts.size).to.be.greaterThan(1);
      expect(text).to.include(summary());
      expect(fs.readdirSync(out)).to.have.length(messages);
    });

    it('piped: no progress at all, stderr empty, stdout only the summary', function () {
      const out = path.join(tmp, 'piped');
      const r = spawnSync(process.execPath, ['bin/tlbridge.js', 'convert', input, '--out', out], { cwd: ROOT, encoding: 'utf8', env: defaultConfigEnv() });
      expect(r.status, r.stderr).to.equal(0);
      expect(r.stderr).to.equal('');
      expect(r.stdout.trim().split('\n')).to.have.length(1);
      expect(r.stdout).to.include(summary()).and.not.include('%').and.not.include('\x1b');
    });
  });

  describe('send-now against a real sshd', function () {
    this.timeout(60_000);
    let sshd: TestSshd | undefined;
    let env: AckEnv | undefined;
    before(async function () {
      const why = sshdUnavailableReason();
      if (why) {
        console.log(`      SKIPPED: no private OpenSSH sshd on this machine: ${why}`);
        this.skip();
      }
      sshd = await startSshd({ dirs: ['/inbox'] });
      env = makeAckEnv(sshd);
    });
    after(async function () {
      await env?.close();
      await sshd?.dispose();
    });

    it('on a terminal: files uploaded of the total staged, on stderr, cleared when done; piped: none', async function () {
      const fx = new LedgerFixtures(env!.db, env!.config.dataDir, 'P');
      for (let i = 0; i < 3; i++) fx.stage({ referenceDoc: `DOC-${i}` });
      const tty = fakeTerminal();
      const r = await runCli(['send-now', '--config', env!.configPath], { stderr: tty });
      expect(r.code, r.err.join('\n')).to.equal(0);
      expect(r.out).to.have.length(1);
      expect(r.out[0]).to.include(`${PARTNER}: batch`).and.include('3 sent');
      const drawn = strip(tty.text());
      expect(drawn).to.include(`${PARTNER} [`).and.include('0 of 3 files uploaded').and.include('3 of 3 files uploaded');
      expect(tty.text()).to.include('\x1b[2K');

      for (let i = 3; i < 5; i++) fx.stage({ referenceDoc: `DOC-${i}` });
      const pipe = new PassThrough() as unknown as NodeJS.WriteStream;
      let piped = '';
      pipe.on('data', (c: Buffer) => void (piped += c.toString('utf8')));
      const again = await runCli(['send-now', '--config', env!.configPath], { stderr: pipe });
      expect(again.code).to.equal(0);
      expect(again.out[0]).to.include('2 sent');
      expect(piped).to.equal('');
    });
  });
});
