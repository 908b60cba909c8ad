// The plain JavaScript build (scripts/build-js.mjs) that bin/tlbridge.js runs when it is current:
// code in dist/ finds its worker boots and the libxml2-wasm preload by relative URL, so every
// plain .mjs file of src/ must be there too, or a worker of the installed command fails to start.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { DIST, distIsCurrent, SRC } from '../bin/stamp.js';

function mjsUnder(dir: string, out: string[] = []): string[] {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) mjsUnder(p, out);
    else if (e.name.endsWith('.mjs')) out.push(p);
  }
  return out;
}

describe('the dist/ build', function () {
  this.timeout(120_000);
  it('is current after npm ci and carries every plain .mjs file of src/ byte for byte', () => {
    if (!distIsCurrent()) {
      const r = spawnSync(process.execPath, ['scripts/build-js.mjs'], { cwd: path.join(SRC, '..'), encoding: 'utf8' });
      expect(r.status, r.stderr).to.equal(0);
    }
    expect(distIsCurrent()).to.equal(true);
    const plain = mjsUnder(SRC);
    expect(plain.map((f) => path.relative(SRC, f))).to.include.members(['sandbox/examine-boot.mjs', 'xml/preload.mjs']);
    for (const f of plain) {
      const copy = path.join(DIST, path.relative(SRC, f));
      expect(fs.existsSync(copy), copy).to.equal(true);
      expect(fs.readFileSync(copy).equals(fs.readFileSync(f)), copy).to.equal(true);
    }
  });
});
