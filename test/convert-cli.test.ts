// `tlbridge convert` (product.md 4): in-process through main(), plus one run of the real binary.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { DEFAULT_CONFIG, INVALID_DIR, ROOT, VALID_DIR, fixtureFiles, layoutOf } from './support/fixtures.js';
import { runCli, type CliRun as Run } from './support/cli.js';

const run = runCli;

const fcnName = (n: number) => `C${String(n).padStart(12, '0')}.xml`;

describe('tlbridge convert', function () {
  let tmp: string;

  beforeEach(function () {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tlbridge-convert-'));
  });
  afterEach(function () {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('converts a valid file into C000000000001.xml ... and prints a summary', async function () {
    const file = path.join(VALID_DIR, 'materials-produced.erp-delimited.txt');
    const r = await run(['convert', file, '--out', tmp, '--config', DEFAULT_CONFIG]);
    expect(r.err).to.deep.equal([]);
    expect(r.code).to.equal(0);
    expect(fs.readdirSync(tmp).sort()).to.deep.equal([fcnName(1), fcnName(2), fcnName(3)]);
    expect(r.out).to.have.length(1);
    expect(r.out[0]).to.include(file).and.include('3 MATERIALS_PRODUCED message(s)').and.include('ACME-PHARMA').and.include('EXP-000481');
    expect(r.out[0]).to.include(fcnName(1));
    for (let i = 1; i <= 3; i++) {
      const xml = fs.readFileSync(path.join(tmp, fcnName(i)), 'utf8');
      expect(xml).to.include(`<cmn:FileControlNumber>${fcnName(i).slice(0, -4)}</cmn:FileControlNumber>`);
      expect(xml).to.match(/^<\?xml version="1.0" encoding="UTF-8"\?>/);
    }
    // file order: the first document of the file is the first message
    expect(fs.readFileSync(path.join(tmp, fcnName(1)), 'utf8')).to.include('<ReferenceDocumentNumber>4900012345<');
    expect(fs.readFileSync(path.join(tmp, fcnName(3)), 'utf8')).to.include('<ReferenceDocumentNumber>4900012347<');
  });

  it('converts an erp-fixed file with --layout erp-fixed', async function () {
    const r = await run(['convert', path.join(VALID_DIR, 'work-order-milestones.erp-fixed.txt'), '--layout', 'erp-fixed', '--out', tmp, '--config', DEFAULT_CONFIG]);
    expect(r.err).to.deep.equal([]);
    expect(r.code).to.equal(0);
    expect(fs.readdirSync(tmp).sort()).to.deep.equal([fcnName(1), fcnName(2), fcnName(3)]);
    expect(r.out.join('\n')).to.include('3 WORK_ORDER_MILESTONES message(s)');
  });

  it('converting again into the same folder never overwrites: new names, older files byte-identical', async function () {
    const file = path.join(VALID_DIR, 'materials-issued.erp-delimited.txt');
    const first = await run(['convert', file, '--out', tmp, '--config', DEFAULT_CONFIG]);
    expect(first.code).to.equal(0);
    const before = new Map(fs.readdirSync(tmp).map((f) => [f, fs.readFileSync(path.join(tmp, f))]));
    expect([...before.keys()].sort()).to.deep.equal([fcnName(1), fcnName(2), fcnName(3)]);
    // a foreign file that happens to carry the next name is stepped over, not replaced
    const foreign = path.join(tmp, fcnName(5));
    fs.writeFileSync(foreign, 'not ours\n');

    const second = await run(['convert', file, '--out', tmp, '--config', DEFAULT_CONFIG]);
    expect(second.err).to.deep.equal([]);
    expect(second.code).to.equal(0);
    expect(fs.readdirSync(tmp).sort()).to.deep.equal([1, 2, 3, 4, 5, 6, 7].map(fcnName));
    for (const [f, bytes] of before) expect(fs.readFileSync(path.join(tmp, f)).equals(bytes), `${f} changed`).to.equal(true);
    expect(fs.readFileSync(foreign, 'utf8')).to.equal('not ours\n');
    for (const n of [4, 6, 7]) {
      const xml = fs.readFileSync(path.join(tmp, fcnName(n)), 'utf8');
      expect(xml).to.include(`<cmn:FileControlNumber>${fcnName(n).slice(0, -4)}</cmn:FileControlNumber>`);
    }
    expect(second.out.join('\n')).to.include(fcnName(4)).and.include(fcnName(7));
  });

  describe('every invalid fixture: exit 1, each problem on stderr, nothing written', function () {
    const files = fixtureFiles(INVALID_DIR);
    it('has invalid fixtures to run', function () {
      expect(files.length).to.be.at.least(30);
    });
    for (const f of files) {
      it(f, async function () {
        const file = path.join(INVALID_DIR, f);
        const r = await run(['convert', file, '--layout', layoutOf(f), '--out', tmp, '--config', DEFAULT_CONFIG]);
        expect(r.code, r.err.join('\n')).to.equal(1);
        expect(r.err.length).to.be.greaterThan(0);
        for (const line of r.err) {
          expect(line.startsWith(`${file}: `), line).to.equal(true);
          expect(line.slice(file.length + 2), line).to.match(/^(line \d+(, field [A-Z_]+)?|file): \S/);
        }
        expect(r.out.join('\n')).to.include(`${file}: FAILED`).and.include('nothing written');
        expect(fs.readdirSync(tmp), 'no .xml or .part file may be left').to.deep.equal([]);
      });
    }
  });

  it('a missing input file is reported (exit 1 or 2, naming the file), not a crash', async function () {
    const missing = path.join(tmp, 'no-such-file.txt');
    let r: Run;
    try {
      r = await run(['convert', missing, '--out', tmp, '--config', DEFAULT_CONFIG]);
    } catch (e) {
      expect.fail(`main() threw instead of reporting: ${(e as Error).message}`);
    }
    expect([1, 2]).to.include(r.code);
    expect(r.err.join('\n')).to.include(missing);
    expect(fs.readdirSync(tmp)).to.deep.equal([]);
  });

  it('--layout nope: exit 2, nothing written', async function () {
    const r = await run(['convert', path.join(VALID_DIR, 'materials-produced.erp-delimited.txt'), '--layout', 'nope', '--out', tmp, '--config', DEFAULT_CONFIG]);
    expect(r.code).to.equal(2);
    expect(r.err.join('\n')).to.include('nope');
    expect(fs.readdirSync(tmp)).to.deep.equal([]);
  });

  it('a missing config: exit 2, nothing written', async function () {
    const cfg = path.join(tmp, 'absent', 'tlbridge.yaml');
    const r = await run(['convert', path.join(VALID_DIR, 'materials-produced.erp-delimited.txt'), '--out', path.join(tmp, 'out'), '--config', cfg]);
    expect(r.code).to.equal(2);
    expect(r.err.join('\n')).to.include(cfg);
    expect(fs.existsSync(path.join(tmp, 'out'))).to.equal(false);
  });

  it('an unknown option: exit 2', async function () {
    const r = await run(['convert', path.join(VALID_DIR, 'materials-produced.erp-delimited.txt'), '--bogus', '--out', tmp, '--config', DEFAULT_CONFIG]);
    expect(r.code).to.equal(2);
    expect(fs.readdirSync(tmp)).to.deep.equal([]);
  });

  it('the real binary: node bin/tlbridge.js convert fixtures/valid/<file> --out DIR exits 0', function () {
    this.timeout(60_000);
    const env = { ...process.env };
    delete env.TLBRIDGE_CONFIG;
    const r = spawnSync(process.execPath, ['bin/tlbridge.js', 'convert', 'fixtures/valid/materials-produced.erp-delimited.txt', '--out', tmp], {
      cwd: ROOT,
      env,
      encoding: 'utf8',
      timeout: 55_000,
    });
    expect(r.error).to.equal(undefined);
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.include('3 MATERIALS_PRODUCED message(s)');
    expect(fs.readdirSync(tmp).sort()).to.deep.equal([fcnName(1), fcnName(2), fcnName(3)]);
  });
});
