// The shipped unit and the documented IP allow-list drop-in (product.md 8, systemd/README.md):
// `systemd-analyze verify` clean and the exposure scores of `systemd-analyze security
// --offline=true`, where systemd-analyze exists (skipped with the reason otherwise).
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO } from './support/daemon-process.js';

const UNIT = path.join(REPO, 'systemd', 'tlbridge.service');
const DROP_IN = path.join(REPO, 'systemd', 'tlbridge.service.d', 'ip-allow.conf.example');
const ANALYZE = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((p) => fs.existsSync(p));

function analyze(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(ANALYZE!, args, { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A root with the unit (and drop-in text, if any) under /etc/systemd/system. */
function root(dropIn?: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlbridge-unit-'));
  const sys = path.join(dir, 'etc', 'systemd', 'system');
  fs.mkdirSync(path.join(sys, 'tlbridge.service.d'), { recursive: true });
  fs.copyFileSync(UNIT, path.join(sys, 'tlbridge.service'));
  if (dropIn !== undefined) fs.writeFileSync(path.join(sys, 'tlbridge.service.d', 'ip-allow.conf'), dropIn);
  return dir;
}

function exposure(dropIn?: string): number {
  const dir = root(dropIn);
  try {
    const r = analyze(['security', '--offline=true', `--root=${dir}`, '--no-pager', 'tlbridge.service']);
    const m = /Overall exposure level for tlbridge\.service: (\d+\.\d)/.exec(r.stdout);
    if (!m) throw new Error(`no exposure level in the output:\n${r.stdout}\n${r.stderr}`);
    return Number(m[1]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('systemd unit (product.md 8)', function () {
  this.timeout(60000);
  before(function () {
    if (!ANALYZE) {
      console.log('    (skipped: systemd-analyze is not installed here)');
      this.skip();
    }
  });

  it('has ExecReload (SIGHUP), MemoryMax, TasksMax, PrivateMounts and UMask 0077', () => {
    const unit = fs.readFileSync(UNIT, 'utf8');
    for (const line of ['ExecReload=/bin/kill -HUP $MAINPID', 'PrivateMounts=yes', 'UMask=0077']) expect(unit.split('\n')).to.include(line);
    expect(unit).to.match(/^MemoryMax=\S+$/m);
    expect(unit).to.match(/^TasksMax=\d+$/m);
  });

  it('the unit, and the unit with the drop-in, pass systemd-analyze verify without a warning', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlbridge-verify-'));
    try {
      fs.copyFileSync(UNIT, path.join(dir, 'tlbridge.service'));
      let r = analyze(['verify', path.join(dir, 'tlbridge.service')]);
      expect(r.stderr.trim(), r.stderr).to.equal('');
      expect(r.status).to.equal(0);
      // verify reads drop-ins from the .d folder beside the unit
      fs.mkdirSync(path.join(dir, 'tlbridge.service.d'));
      fs.copyFileSync(DROP_IN, path.join(dir, 'tlbridge.service.d', 'ip-allow.conf'));
      r = analyze(['verify', path.join(dir, 'tlbridge.service')]);
      expect(r.stderr.trim(), r.stderr).to.equal('');
      expect(r.status).to.equal(0);
      // and it would complain about a broken drop-in (the check can fail)
      fs.writeFileSync(path.join(dir, 'tlbridge.service.d', 'ip-allow.conf'), '[Service]\nIPAddressAllow=nonsense\n');
      expect(analyze(['verify', path.join(dir, 'tlbridge.service')]).stderr).to.match(/invalid/i);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('scores 1.1 or lower alone, lower with the drop-in, and 0.9 with a localhost-only allow list', () => {
    const alone = exposure();
    const withDropIn = exposure(fs.readFileSync(DROP_IN, 'utf8'));
    const localOnly = exposure('[Service]\nIPAddressDeny=any\nIPAddressAllow=localhost\n');
    expect(alone).to.be.at.most(1.1);
    expect(withDropIn).to.be.below(alone);
    expect(withDropIn).to.be.at.most(1.0);
    expect(localOnly).to.be.at.most(0.9);
  });
});
