// translateFile judges a file's first chunk of messages inline, the next ones in the validation
// worker thread (src/xml/validate-pool.ts) while it renders on: the outcome must be the one of
// judging every chunk inline. A site XSD that refuses some work order numbers gives schema
// problems in chunks that are validated in the worker, among mapping problems found meanwhile.
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, type Config } from '../src/config/load.js';
import { formatInputError } from '../src/flatfile/errors.js';
import { translateFile, type TranslatedMessage } from '../src/intake/translate.js';
import { MESSAGE_MODULES } from '../src/messages/index.js';
import { envelopeTimes, renderMessage } from '../src/xml/render.js';
import { DEFAULT_CONFIG, strictWorkOrderXsd } from './support/fixtures.js';

const NOW = new Date('2026-11-25T12:00:00Z');

/** a MATERIALS_PRODUCED file of `n` messages; work order `WO-X<i>` and quantity `bad` where asked */
function flatFile(n: number, badWorkOrder: number[] = [], badQty: number[] = []): string {
  const lines = ['HDR|MATERIALS_PRODUCED|ACME-PHARMA|20261125101500|PIPE-1'];
  for (let i = 1; i <= n; i++) {
    lines.push(`DOC|${4900000000 + i}|${badWorkOrder.includes(i) ? `WO-X${i}` : `WO-${100000 + i}`}|20260719|052851|Run ${i}`);
    lines.push(`LIN|GTIN|00146211831986|LOT${i}|${badQty.includes(i) ? '1,5' : '968'}|EA|20271118`);
  }
  lines.push(`TRL|${2 * n}`);
  return lines.join('\n') + '\n';
}

describe('translate: chunks validated in the worker thread', function () {
  this.timeout(60_000);
  let tmp: string;
  let config: Config;
  before(function () {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tlbridge-pipe-'));
    config = loadConfig(DEFAULT_CONFIG);
  });
  after(function () {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  async function run(cfg: Config, text: string, allocate: () => string) {
    const file = path.join(tmp, `in-${Math.random().toString(36).slice(2)}.txt`);
    fs.writeFileSync(file, text);
    const out: TranslatedMessage[] = [];
    let allocated = 0;
    const r = await translateFile(file, {
      config: cfg,
      layout: cfg.layouts.get('erp-delimited')!,
      now: NOW,
      allocate: () => {
        allocated++;
        return allocate();
      },
      onMessage: (m) => void out.push(m),
    });
    return { ...r, out, allocated };
  }

  it('a clean file: every message once, in order, with its own number, the bytes render.ts gives', async function () {
    let n = 0;
    const r = await run(config, flatFile(300), () => `C${String(++n).padStart(12, '0')}`);
    expect(r.errors).to.deep.equal([]);
    expect(r.allocated).to.equal(300);
    expect(r.out.map((m) => m.fileControlNumber)).to.deep.equal(Array.from({ length: 300 }, (_, i) => `C${String(i + 1).padStart(12, '0')}`));
    const p = config.partners['ACME-PHARMA']!;
    for (const m of r.out) {
      const env = { senderId: config.sender.id, receiverId: p.receiverId, usage: p.usage, ...envelopeTimes(NOW), fileControlNumber: m.fileControlNumber };
      expect(m.xml).to.equal(renderMessage(m.info, config.namespaces.commontypes, env, MESSAGE_MODULES[m.info.name], m.mapped.body));
    }
  });

  it('numbers of another shape than the first chunk\'s (X64 -> X100) are validated as they are', async function () {
    let n = 0;
    const r = await run(config, flatFile(200), () => `X${++n}`);
    expect(r.errors).to.deep.equal([]);
    expect(r.out.map((m) => m.fileControlNumber)).to.deep.equal(Array.from({ length: 200 }, (_, i) => `X${i + 1}`));
    for (const m of r.out) expect(m.xml).to.include(`<cmn:FileControlNumber>${m.fileControlNumber}</cmn:FileControlNumber>`);
  });

  it('schema problems from the worker keep their place among the other problems; nothing after them is handed on', async function () {
    // a site XSD: work order numbers are WO- and digits only
    const xsdFile = strictWorkOrderXsd(path.join(tmp, 'xsd'));
    const cfg: Config = { ...config, messageTypes: { ...config.messageTypes, MATERIALS_PRODUCED: { ...config.messageTypes.MATERIALS_PRODUCED, schema: xsdFile } } };
    let n = 0;
    const r = await run(cfg, flatFile(400, [100, 150, 250, 390], [200, 300]), () => `C${String(++n).padStart(12, '0')}`);
    const lineOf = (i: number) => 2 * i; // DOC of message i
    expect(r.errors.map((e) => e.line)).to.deep.equal([lineOf(100), lineOf(150), lineOf(200) + 1, lineOf(250), lineOf(300) + 1, lineOf(390)]);
    expect(r.errors.map(formatInputError).join('\n')).to.match(/fails the .* schema/);
    // the first chunk was clean and handed on; the one holding message 100 and every later one not
    expect(r.out.map((m) => m.fileControlNumber)).to.deep.equal(Array.from({ length: 64 }, (_, i) => `C${String(i + 1).padStart(12, '0')}`));
    expect(r.allocated).to.equal(64);
  });
});
