// The command line's own answers (product.md 4): --help on every command and sub-command
// (what it does, its options, an example; exit 0; no config read), --version, usage errors
// exit 2 with that command's help, and the README's reference is the help text itself.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { COMMANDS, CONFIG_OPTION, GROUPS } from '../src/cli/commands.js';
import { README_END, README_PATH, README_START, renderCommandReference } from '../src/cli/help-doc.js';
import { runCli } from './support/cli.js';
import { ROOT } from './support/fixtures.js';

const VERSION = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
// any config read would fail on this (exit 2): help and version must not get that far
const NO_CONFIG = path.join(ROOT, 'no-such-dir', 'tlbridge.yaml');
const longFlag = (flags: string) => flags.split(/[ ,]+/).find((f) => f.startsWith('--'))!;

describe('tlbridge --help, --version and usage errors', function () {
  let savedEnv: string | undefined;
  before(() => {
    savedEnv = process.env.TLBRIDGE_CONFIG;
    process.env.TLBRIDGE_CONFIG = NO_CONFIG;
  });
  after(() => {
    if (savedEnv === undefined) delete process.env.TLBRIDGE_CONFIG;
    else process.env.TLBRIDGE_CONFIG = savedEnv;
  });

  for (const spec of COMMANDS) {
    const words = spec.name.split(' ');
    it(`${spec.name} --help: exit 0, what it does, every option, an example; the config is not read`, async function () {
      // `tlbridge help status`, `tlbridge audit help verify`
      const helpCommand = [...words.slice(0, -1), 'help', words.at(-1)!];
      for (const argv of [[...words, '--help'], [...words, '-h', '--config', NO_CONFIG], helpCommand]) {
        const r = await runCli(argv);
        expect(r.code, argv.join(' ')).to.equal(0);
        expect(r.err, argv.join(' ')).to.deep.equal([]);
        const text = r.out.join('\n');
        expect(text).to.include(`Usage: tlbridge ${spec.name}`);
        expect(text).to.include(spec.summary);
        for (const o of [...(spec.options ?? []), CONFIG_OPTION]) expect(text, argv.join(' ')).to.include(o.flags);
        for (const a of spec.args ?? []) expect(text).to.include(a.name.replace(/[<>.]/g, ''));
        expect(text).to.match(/Example:\n {2}\$ tlbridge /);
        expect(text).to.include(`$ ${spec.example}`);
      }
    });

    it(`${spec.name} with an unknown option: exit 2, the error and the command's usage on stderr`, async function () {
      const r = await runCli([...words, '--bogus', '--config', NO_CONFIG]);
      expect(r.code).to.equal(2);
      expect(r.out).to.deep.equal([]);
      const err = r.err.join('\n');
      expect(err).to.include("unknown option '--bogus'");
      expect(err).to.include(`Usage: tlbridge ${spec.name}`);
      for (const o of spec.options ?? []) expect(err).to.include(longFlag(o.flags));
    });
  }

  it('the groups (audit) answer --help with their sub-commands and an example; alone they exit 2 with it', async function () {
    for (const g of GROUPS) {
      const r = await runCli([g.name, '--help']);
      expect(r.code).to.equal(0);
      const text = r.out.join('\n');
      expect(text).to.include(g.summary).and.include(`$ ${g.example}`);
      for (const c of COMMANDS.filter((c) => c.name.startsWith(`${g.name} `))) expect(text).to.include(c.name.split(' ')[1]);
      const alone = await runCli([g.name]);
      expect(alone.code).to.equal(2);
      expect(alone.err.join('\n')).to.include(`Usage: tlbridge ${g.name}`);
    }
  });

  it('tlbridge --help lists every command; `tlbridge` alone exits 2 with the same list', async function () {
    const r = await runCli(['--help']);
    expect(r.code).to.equal(0);
    const text = r.out.join('\n');
    for (const name of new Set(COMMANDS.map((c) => c.name.split(' ')[0]!))) expect(text).to.match(new RegExp(`^  ${name}\\b`, 'm'));
    const bare = await runCli([]);
    expect(bare.code).to.equal(2);
    expect(bare.err.join('\n')).to.include('Commands:');
  });

  it('--version (and -V) prints the bare version of package.json, exit 0', async function () {
    for (const flag of ['--version', '-V']) {
      const r = await runCli([flag]);
      expect(r).to.deep.equal({ code: 0, out: [VERSION], err: [] });
    }
  });

  it('an unknown command, a missing argument, an extra argument, a missing option value: exit 2 with the usage', async function () {
    const cases: Array<[string[], string, string]> = [
      [['bogus'], "unknown command 'bogus'", 'Usage: tlbridge <command>'],
      [['audit', 'check'], "unknown command 'check'", 'Usage: tlbridge audit'],
      [['resend', '--reason', 'x', '--config', NO_CONFIG], "missing required argument 'MESSAGE_ID'", 'Usage: tlbridge resend'],
      [['status', 'extra', '--config', NO_CONFIG], 'too many arguments', 'Usage: tlbridge status'],
      [['messages', '--state'], "option '--state <state>' argument missing", 'Usage: tlbridge messages'],
    ];
    for (const [argv, error, usage] of cases) {
      const r = await runCli(argv);
      expect(r.code, argv.join(' ')).to.equal(2);
      expect(r.err.join('\n'), argv.join(' ')).to.include(error).and.include(usage);
    }
  });

  it("the README's command reference is the help text of every command", function () {
    const readme = fs.readFileSync(README_PATH, 'utf8');
    const start = readme.indexOf(README_START);
    const end = readme.indexOf(README_END);
    expect(start, 'README command reference markers').to.be.greaterThan(-1);
    expect(end).to.be.greaterThan(start);
    const section = readme.slice(start + README_START.length, end).trim();
    expect(section, 'README.md is stale: run `npm run docs`').to.equal(renderCommandReference());
    for (const spec of COMMANDS) expect(section).to.include(`### \`tlbridge ${spec.name}\``);
  });

  it('the real binary: --version and status --help answer without a config, exit 0', function () {
    this.timeout(60_000);
    const env = { ...process.env, TLBRIDGE_CONFIG: NO_CONFIG };
    const v = spawnSync(process.execPath, ['bin/tlbridge.js', '--version'], { cwd: ROOT, env, encoding: 'utf8' });
    expect([v.status, v.stdout, v.stderr]).to.deep.equal([0, `${VERSION}\n`, '']);
    const h = spawnSync(process.execPath, ['bin/tlbridge.js', 'status', '--help'], { cwd: ROOT, env, encoding: 'utf8' });
    expect(h.status).to.equal(0);
    expect(h.stdout).to.include('--json').and.include('Example:');
    const bad = spawnSync(process.execPath, ['bin/tlbridge.js', 'convert', '--bogus', 'x'], { cwd: ROOT, env, encoding: 'utf8' });
    expect(bad.status).to.equal(2);
    expect(bad.stderr).to.include("unknown option '--bogus'").and.include('Usage: tlbridge convert');
  });
});
