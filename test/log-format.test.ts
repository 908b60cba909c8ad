// log.format (product.md 2): JSON lines for journald, readable lines for an operator at a
// terminal, `auto` choosing by whether stdout is a terminal; secrets redacted in both. The
// daemon itself is run twice: piped (JSON) and under a pseudo-terminal made by script(1) (text).
import { spawn, spawnSync } from 'node:child_process';
import { expect } from 'chai';
import { createLogger, flushLogger, formatTextLine, resolveLogFormat } from '../src/log.js';
import { withFields } from './support/memory-logger.js';
import { loadConfig } from '../src/config/load.js';
import { makeEnv, type TestEnv } from './support/daemon-env.js';
import { BIN, REPO } from './support/daemon-process.js';
import { runCli } from './support/cli.js';
import fs from 'node:fs';

const TEXT_LINE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z (error|warn |info |debug) \S/;
const HAS_SCRIPT = spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0;

/** What createLogger writes to stdout while `fn` logs. */
async function captureStdout(fn: () => void): Promise<string[]> {
  const lines: string[] = [];
  const orig = process.stdout.write;
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    lines.push(String(chunk));
    (rest.find((r) => typeof r === 'function') as (() => void) | undefined)?.();
    return true;
  }) as typeof process.stdout.write;
  try {
    fn();
    await flushLogger();
  } finally {
    process.stdout.write = orig;
  }
  return lines.join('').split('\n').filter((l) => l.trim());
}

/** Runs `tlbridge run` until its start line, stops it the way its caller would, returns stdout. */
function runDaemon(configPath: string, tty: boolean): Promise<{ code: number | null; out: string }> {
  const cmd = [process.execPath, BIN, 'run', '--config', configPath];
  const quoted = cmd.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  // script(1) gives the daemon a pseudo-terminal as stdout; Ctrl-C typed into it is a SIGINT.
  // `exec`: script runs the command under $SHELL -c, and a dash that stays as the parent dies of
  // that same SIGINT (exit 130) even though the daemon stopped cleanly (seen in CI, SHELL unset).
  const child = tty ? spawn('script', ['-qfec', `exec ${quoted}`, '/dev/null'], { cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'] }) : spawn(cmd[0]!, cmd.slice(1), { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let stopped = false;
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d.toString('utf8');
      if (!stopped && out.includes('tlbridge running')) {
        stopped = true;
        if (tty) child.stdin!.write('\x03');
        else child.kill('SIGTERM');
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (d: Buffer) => void (out += d.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
  });
}

describe('log.format: JSON lines, or readable lines on a terminal', function () {
  it('formatTextLine: time, level, message, then the fields as key=value (quoted when not one plain word)', function () {
    const line = formatTextLine({ timestamp: '2026-12-02T13:02:07.123Z', level: 'info', message: 'batch sent', partner: 'ACME-PHARMA', messages: 3, note: 'two words', error: { message: 'x' } });
    expect(line).to.equal('2026-12-02T13:02:07.123Z info  batch sent partner=ACME-PHARMA messages=3 note="two words" error={"message":"x"}');
  });

  it('auto is text on a terminal and JSON otherwise; json and text are what they say', function () {
    expect(resolveLogFormat('auto', true)).to.equal('text');
    expect(resolveLogFormat('auto', false)).to.equal('json');
    expect(resolveLogFormat('json', true)).to.equal('json');
    expect(resolveLogFormat('text', false)).to.equal('text');
  });

  it('createLogger(level, "text") writes readable lines, at its level, with secrets redacted', async function () {
    const lines = await captureStdout(() => {
      const log = withFields(createLogger('info', 'text'), { partner: 'ACME-PHARMA' });
      log.debug('hidden');
      log.info('batch sent', { messages: 3, passphrase: 'secret!' });
      log.error('upload failed', { error: new Error('ECONNRESET'), sftp: { password: 'hunter2' } });
    });
    expect(lines).to.have.length(2);
    for (const l of lines) expect(l).to.match(TEXT_LINE);
    expect(lines[0]).to.match(/ info {2}batch sent partner=ACME-PHARMA messages=3 passphrase=\[redacted\]$/);
    expect(lines[1]).to.include('error upload failed').and.include('ECONNRESET').and.include('"password":"[redacted]"');
    expect(lines.join('\n')).to.not.include('secret!').and.not.include('hunter2');
  });

  it('the config: log.format defaults to auto; anything but auto, json, text is refused by key path', async function () {
    const env = makeEnv();
    try {
      expect(env.config.log.format).to.equal('auto');
      const raw = fs.readFileSync(env.configPath, 'utf8');
      fs.writeFileSync(env.configPath, `${raw}log: { level: debug, format: text }\n`);
      expect(loadConfig(env.configPath).log).to.deep.equal({ level: 'debug', format: 'text' });
      fs.writeFileSync(env.configPath, `${raw}log: { format: xml }\n`);
      const r = await runCli(['check-config', '--config', env.configPath]);
      expect(r.code).to.equal(2);
      expect(r.err.join('\n')).to.include('log.format');
    } finally {
      env.dispose();
    }
  });

  describe('the daemon (`tlbridge run`, log.format auto)', function () {
    this.timeout(60_000);
    let env: TestEnv;
    before(() => {
      env = makeEnv();
    });
    after(() => env?.dispose());

    it('piped (journald): every stdout line is a JSON object', async function () {
      const r = await runDaemon(env.configPath, false);
      expect(r.code, r.out).to.equal(0);
      const lines = r.out.split('\n').filter((l) => l.trim());
      expect(lines.length).to.be.greaterThan(2);
      const parsed = lines.map((l) => JSON.parse(l) as { level: string; message: string; timestamp: string });
      expect(parsed.map((p) => p.message)).to.include('tlbridge running').and.include('stopped');
      for (const p of parsed) expect(p.timestamp).to.match(/Z$/);
    });

    it('under a pseudo-terminal: readable lines, no JSON', async function () {
      if (!HAS_SCRIPT) this.skip(); // util-linux script(1) missing
      const r = await runDaemon(env.configPath, true);
      expect(r.code, r.out).to.equal(0);
      // the terminal echoes the Ctrl-C as ^C before the next line
      const lines = r.out
        .split(/\r?\n/)
        .map((l) => l.replace(/^\^C/, ''))
        .filter((l) => l.trim());
      expect(lines.length).to.be.greaterThan(2);
      for (const l of lines) {
        expect(l, l).to.match(TEXT_LINE);
        expect(l.trim().startsWith('{'), l).to.equal(false);
      }
      expect(lines.some((l) => / info {2}tlbridge running config=/.test(l))).to.equal(true);
      expect(lines.some((l) => / info {2}stopping signal=SIGINT/.test(l))).to.equal(true);
      expect(lines.some((l) => / info {2}stopped /.test(l))).to.equal(true);
    });
  });
});
