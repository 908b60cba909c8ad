// The README's quick start, word for word, on a fresh clone (product.md 7, libraries.md "Tests
// that install the project again"): `git clone` (committed files only), the two commands of the
// README's Quick start block (`npm ci` with --prefer-offline so the first install's npm cache
// serves it, then `npm start`), one valid and one invalid fixture dropped into var/inbound/,
// `npx tlbridge status --json` until the valid file's messages are ACCEPTED by the embedded
// sandbox partner ACME-PHARMA and the invalid one waits in error/, the error report, the
// archive manifests, `npx tlbridge audit verify`, and a SIGTERM to the whole process group
// (npm, its shell, node) after which `npm start` exits 0 within 15 s with node gone.
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  cleanEnv,
  cloneRepo,
  filesUnder,
  Foreground,
  isDead,
  messagesInDelimitedFixture,
  quickStartCommands,
  readmeSection,
  repoTop,
  sectionCommandBlocks,
  runCmd,
  sleep,
  tail,
  type LogLine,
} from './support/quickstart.js';
import { within } from './support/wait.js';

const VALID = 'fixtures/valid/materials-produced.erp-delimited.txt';
const INVALID = 'fixtures/invalid/qty-zero.erp-delimited.txt';
const STOP_LIMIT_MS = 15_000;

interface StatusJson {
  files: Record<string, number>;
  messages: Record<string, number>;
  errorFiles: number;
  overdue: number;
  partners: { partner: string; lastError: string | null }[];
}

interface ManifestJson {
  kind: string;
  files: { path: string }[];
  file?: string;
  outcome?: string;
  messages?: unknown;
}

describe('README quick start', function () {
  it('the Quick start block is exactly `npm ci` then `npm start`, and names the config and the partner', function () {
    const readme = fs.readFileSync(path.join(repoTop(), 'README.md'), 'utf8');
    expect(quickStartCommands(readme)).to.deep.equal(['npm ci', 'npm start']);
    const section = readmeSection(readme, 'Quick start');
    // what the prose after the block promises, and that the repository keeps the promise
    expect(section, 'names the config npm start runs with').to.include('`config/tlbridge.yaml`');
    expect(section, 'names the embedded partner').to.include('`ACME-PHARMA`');
    const config = fs.readFileSync(path.join(repoTop(), 'config', 'tlbridge.yaml'), 'utf8');
    expect(config).to.match(/^\s+ACME-PHARMA:\s*$/m);
    expect(config).to.match(/^\s+host: embedded\b/m);
    expect(config).to.match(/^dataDir: \.\.\/var\b/m);
    const pkg = JSON.parse(fs.readFileSync(path.join(repoTop(), 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.start, 'package.json has a start script').to.be.a('string');
  });

  describe('on a fresh clone: npm ci, npm start, a valid and an invalid file, SIGTERM', function () {
    this.timeout(15 * 60 * 1000);
    let tmp: string;
    let clone: string;
    let daemon: Foreground | undefined;
    const timings: Record<string, number> = {};

    before(function () {
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tlbridge-quickstart-'));
      clone = path.join(tmp, 'tlbridge');
    });

    after(async function () {
      if (daemon?.running) {
        daemon.killAll();
        await within(daemon.exited, 5000);
      }
      if (process.env.TLBRIDGE_KEEP_QUICKSTART) console.log(`      kept the clone: ${clone}`);
      else fs.rmSync(tmp, { recursive: true, force: true });
      if (Object.keys(timings).length) console.log(`      timings (ms): ${JSON.stringify(timings)}`);
    });

    it('follows the README word for word and ends with exit code 0', async function () {
      const t = (name: string, since: number) => (timings[name] = Date.now() - since);

      // ---- git clone: committed files only
      let t0 = Date.now();
      cloneRepo(clone);
      t('clone', t0);
      expect(fs.existsSync(path.join(clone, 'node_modules')), 'a clone has no node_modules').to.equal(false);
      expect(fs.existsSync(path.join(clone, 'var')), 'a clone has no var/').to.equal(false);

      // ---- the commands, as the clone's README gives them
      const readme = fs.readFileSync(path.join(clone, 'README.md'), 'utf8');
      const commands = quickStartCommands(readme);
      expect(commands).to.deep.equal(['npm ci', 'npm start']);
      const [install, start] = commands.map((c) => c.split(/\s+/)) as [string[], string[]];
      const laterCommands = sectionCommandBlocks(readme, 'Quick start').slice(1).flat();

      // ---- npm ci (libraries.md: --prefer-offline, the first install's cache serves it)
      t0 = Date.now();
      const ci = await runCmd(install[0]!, [...install.slice(1), '--prefer-offline', '--no-audit', '--no-fund'], { cwd: clone, timeoutMs: 12 * 60 * 1000 });
      t('npm ci', t0);
      expect(ci.code, `npm ci exit code\n${tail(ci.stdout + ci.stderr)}`).to.equal(0);
      expect(fs.existsSync(path.join(clone, 'node_modules', 'better-sqlite3')), 'better-sqlite3 installed').to.equal(true);

      // ---- npm start, in its own process group, until it says it is running
      t0 = Date.now();
      daemon = new Foreground(start[0]!, start.slice(1), { cwd: clone, env: cleanEnv() });
      const d = daemon;
      await d.waitForLog('"tlbridge running"', (l) => l.message === 'tlbridge running', 60_000);
      t('npm start until running', t0);
      const running = d.logs.find((l) => l.message === 'tlbridge running')!;
      expect(running.config, 'the config it runs with').to.equal(path.join(clone, 'config', 'tlbridge.yaml'));
      expect(running.partners).to.deep.equal(['ACME-PHARMA']);
      expect(d.logs.some((l) => l.message === 'embedded sandbox partner listening' && l.partner === 'ACME-PHARMA'), 'embedded sandbox for ACME-PHARMA').to.equal(true);
      const inbound = path.join(clone, 'var', 'inbound');
      expect(fs.statSync(inbound).isDirectory(), 'var/inbound exists once the daemon runs').to.equal(true);

      // ---- the operator drops one valid and one invalid file
      const expectedMessages = messagesInDelimitedFixture(path.join(clone, VALID));
      expect(expectedMessages, `messages in ${VALID}`).to.equal(3);
      // with the README's own `cp` line when it has one for the file, else as an operator would
      t0 = Date.now();
      for (const fixture of [VALID, INVALID]) {
        const line = `cp ${fixture} var/inbound/`;
        if (laterCommands.includes(line)) {
          const r = await runCmd('sh', ['-c', line], { cwd: clone, timeoutMs: 30_000 });
          expect(r.code, `${line}: ${r.stderr}`).to.equal(0);
        } else {
          fs.copyFileSync(path.join(clone, fixture), path.join(inbound, path.basename(fixture)));
        }
      }

      // ---- npx tlbridge status --json until ACCEPTED = 3 and errorFiles = 1
      let last: StatusJson | undefined;
      let lastRaw = '';
      const deadline = Date.now() + 90_000;
      for (;;) {
        const r = await runCmd('npx', ['tlbridge', 'status', '--json'], { cwd: clone, timeoutMs: 60_000 });
        expect(r.code, `npx tlbridge status --json exit code\n${r.stderr}`).to.equal(0);
        lastRaw = r.stdout;
        last = JSON.parse(r.stdout.trim().split('\n').pop()!) as StatusJson;
        if (last.messages.ACCEPTED === expectedMessages && last.errorFiles === 1) break;
        if (!d.running) throw new Error(`npm start exited while waiting: ${JSON.stringify(await d.exited)}\n${d.transcript()}`);
        if (Date.now() > deadline) throw new Error(`status after 90 s: ${lastRaw}\n${d.transcript()}`);
        await sleep(2000);
      }
      t('drop until ACCEPTED', t0);
      expect(last.files).to.include({ CONVERTED: 1, FAILED: 1, RECEIVED: 0, DUPLICATE: 0 });
      expect(last.messages).to.include({ ACCEPTED: expectedMessages, STAGED: 0, SENDING: 0, SENT: 0, REJECTED: 0, HELD: 0 });
      expect(last.overdue).to.equal(0);
      expect(last.partners.find((p) => p.partner === 'ACME-PHARMA')?.lastError ?? null, 'no partner error').to.equal(null);

      // ---- the invalid file waits in error/ with a report naming the line and the field
      const errorDir = path.join(clone, 'var', 'error');
      expect(fs.existsSync(path.join(errorDir, 'qty-zero.erp-delimited.txt')), 'the input in error/').to.equal(true);
      const report = fs.readFileSync(path.join(errorDir, 'qty-zero.erp-delimited.txt.error.txt'), 'utf8');
      expect(report).to.match(/^line 3, field QTY: "0" .+$/m);
      expect(fs.readdirSync(path.join(clone, 'var', 'inbound')), 'var/inbound is empty again').to.deep.equal([]);

      // ---- archive manifests: both intakes, the batch, the acks
      const archive = path.join(clone, 'var', 'archive');
      const manifests = filesUnder(archive)
        .filter((f) => f.endsWith('/manifest.json'))
        .map((f) => JSON.parse(fs.readFileSync(path.join(archive, f), 'utf8')) as ManifestJson);
      const intakes = manifests.filter((m) => m.kind === 'intake');
      expect(intakes.map((m) => `${m.file} ${m.outcome}`).sort()).to.deep.equal([
        'materials-produced.erp-delimited.txt CONVERTED',
        'qty-zero.erp-delimited.txt FAILED',
      ]);
      const batchFiles = manifests.filter((m) => m.kind === 'batch').flatMap((m) => m.files.map((f) => f.path));
      expect(batchFiles, 'every sent message archived with its batch').to.have.length(expectedMessages);
      expect(manifests.filter((m) => m.kind === 'acks').flatMap((m) => m.files), 'acks archived').to.have.length(expectedMessages);

      // ---- the plain `npx tlbridge status` an operator reads says the same
      const human = await runCmd('npx', ['tlbridge', 'status'], { cwd: clone, timeoutMs: 60_000 });
      expect(human.code, `npx tlbridge status: ${human.stderr}`).to.equal(0);
      expect(human.stdout).to.match(new RegExp(`^messages .*\\bACCEPTED ${expectedMessages}\\b`, 'm'));
      expect(human.stdout).to.match(/\berror files 1\b/);

      // ---- npx tlbridge audit verify
      const audit = await runCmd('npx', ['tlbridge', 'audit', 'verify'], { cwd: clone, timeoutMs: 60_000 });
      expect(audit.code, `audit verify: ${audit.stdout}${audit.stderr}`).to.equal(0);

      // ---- SIGTERM to the group: npm, its shell, node
      const group = d.group();
      // node itself (argv[0] is node), not the `sh -c "node bin/tlbridge.js run"` npm runs it through
      const node = group.find((p) => /(^|\/)node$/.test(p.argv[0] ?? '') && p.argv[1] === 'bin/tlbridge.js' && p.argv[2] === 'run');
      expect(node, `the node process in the group: ${JSON.stringify(group)}`).to.not.equal(undefined);
      const sentAt = Date.now();
      d.signalGroup('SIGTERM');
      const exit = await within(d.exited, STOP_LIMIT_MS + 5000);
      const stopMs = exit ? exit.at - sentAt : null;
      timings['SIGTERM until npm start exited'] = stopMs ?? -1;
      // node itself is gone when npm start has exited (not left behind, still stopping, by its parent)
      const nodeGoneAtExit = isDead(node!.pid);
      const waitFrom = Date.now();
      while (!isDead(node!.pid) && Date.now() - waitFrom < 5000) await sleep(20);
      const nodeGoneAfterMs = isDead(node!.pid) ? Date.now() - sentAt : null;
      await within(d.closed, 2000); // the last log lines
      const logEnd = (m: string) => d.logs.find((l: LogLine) => l.message === m);
      const diagnosis =
        `npm start exit ${JSON.stringify(exit && { code: exit.code, signal: exit.signal })} after ${stopMs} ms; ` +
        `node (pid ${node!.pid}) gone when npm start exited: ${nodeGoneAtExit}, gone ${nodeGoneAfterMs ?? 'not'} ms after the signal; ` +
        `group was ${JSON.stringify(group.map((p) => ({ pid: p.pid, ppid: p.ppid, argv: p.argv })))}; ` +
        `daemon logged "stopping" at ${logEnd('stopping')?.timestamp ?? '-'}, "stopped" at ${logEnd('stopped')?.timestamp ?? '-'}\n${d.transcript(8)}`;
      const problems: string[] = [];
      if (!exit) problems.push(`npm start still running ${STOP_LIMIT_MS + 5000} ms after SIGTERM`);
      else {
        if (stopMs! > STOP_LIMIT_MS) problems.push(`npm start took ${stopMs} ms (> ${STOP_LIMIT_MS}) to exit`);
        if (exit.code !== 0) problems.push(`npm start exited with ${exit.code === null ? `signal ${exit.signal}` : `code ${exit.code}`}, not code 0`);
      }
      if (!nodeGoneAtExit) problems.push(`node (pid ${node!.pid}) was still alive when npm start exited`);
      if (!logEnd('stopped')) problems.push('the daemon never logged "stopped" (a clean stop)');
      expect(problems, diagnosis).to.deep.equal([]);
      expect(d.logs.filter((l) => l.level === 'error'), 'no error log lines').to.deep.equal([]);
      expect(d.group(), 'nothing of the group is left').to.deep.equal([]);
    });
  });
});
