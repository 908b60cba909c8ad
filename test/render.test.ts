// The two rendering paths of src/xml/render.ts give the same bytes: the plain string writer
// (taken when nothing needs escaping) and xmlbuilder2 (everything else). Every valid fixture,
// then the same messages with values that need escaping, that are refused, or that sit at the
// edge of what the plain writer takes.
import { expect } from 'chai';
import { loadConfig, type Config } from '../src/config/load.js';
import { translateFile, type TranslatedMessage } from '../src/intake/translate.js';
import { MESSAGE_MODULES } from '../src/messages/index.js';
import { renderMessage, renderPlain, renderWithXmlbuilder2, type Envelope } from '../src/xml/render.js';
import { isPlain, NotPlain } from '../src/xml/plain-writer.js';
import { DEFAULT_CONFIG, VALID_DIR, fixtureFiles, layoutOf } from './support/fixtures.js';
import path from 'node:path';

const ENV: Envelope = { senderId: '0614141000005', receiverId: '0312345000001', usage: 'TEST', fileControlNumber: 'C000000000007', fileDate: '2026-11-25', fileTime: '12:00:00Z' };

async function validMessages(config: Config): Promise<TranslatedMessage[]> {
  const all: TranslatedMessage[] = [];
  let n = 0;
  for (const file of fixtureFiles(VALID_DIR)) {
    const layout = config.layouts.get(layoutOf(file))!;
    const r = await translateFile(path.join(VALID_DIR, file), {
      config,
      layout,
      now: new Date('2026-11-25T12:00:00Z'),
      allocate: () => `C${String(++n).padStart(12, '0')}`,
      onMessage: (m) => void all.push(m),
    });
    expect(r.errors, file).to.deep.equal([]);
  }
  return all;
}

function both(config: Config, m: TranslatedMessage, env = ENV): { plain: string | NotPlain; xb: string } {
  const module = MESSAGE_MODULES[m.info.name];
  const ns = config.namespaces.commontypes;
  let plain: string | NotPlain;
  try {
    plain = renderPlain(m.info, ns, env, module, m.mapped.body);
  } catch (e) {
    if (!(e instanceof NotPlain)) throw e;
    plain = e;
  }
  return { plain, xb: renderWithXmlbuilder2(m.info, ns, env, module, m.mapped.body) };
}

/** Every string in the body, replaced by what `f` makes of it (a deep copy). */
function mapStrings(v: unknown, f: (s: string, key: string) => string, key = ''): unknown {
  if (typeof v === 'string') return f(v, key);
  if (Array.isArray(v)) return v.map((x) => mapStrings(x, f, key));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, mapStrings(x, f, k)]));
  return v;
}

describe('render: the plain writer and xmlbuilder2 give the same bytes', function () {
  let config: Config;
  let messages: TranslatedMessage[];
  before(async function () {
    config = loadConfig(DEFAULT_CONFIG);
    messages = await validMessages(config);
  });

  it('every valid fixture of every message type takes the plain path, byte for byte as xmlbuilder2 writes it', function () {
    expect(new Set(messages.map((m) => m.info.name)).size).to.equal(Object.keys(MESSAGE_MODULES).length);
    let plainTaken = 0;
    for (const m of messages) {
      const { plain, xb } = both(config, m);
      if (typeof plain === 'string') {
        plainTaken++;
        expect(plain, `${m.fileControlNumber} (${m.info.name})`).to.equal(xb);
      }
      expect(m.xml, 'translateFile rendered it the same way').to.equal(renderMessage(m.info, config.namespaces.commontypes, { ...ENV, fileControlNumber: m.fileControlNumber, fileDate: '2026-11-25', fileTime: '12:00:00Z' }, MESSAGE_MODULES[m.info.name], m.mapped.body));
    }
    // the fixtures hold a few values with '&' (they take xmlbuilder2's path), most do not
    expect(plainTaken).to.be.greaterThan(messages.length / 2);
  });

  for (const [label, value] of [
    ['markup characters', `R&D <scale> "up" 'x' >`],
    ['text that looks like entities', '&amp; &#38; &#x26; &lt &Auml; & ;'],
    ['non-ASCII letters', 'Chargé de lot ÄÖÜ ß 製造'],
    ['an astral character', 'lot \u{1F600}'],
    ['a tab and a line feed', 'a\tb\nc'],
    ['DEL and C1 controls', 'a\u007fb\u0085c'],
  ] as const) {
    it(`text with ${label}: renderMessage gives xmlbuilder2's bytes`, function () {
      for (const m of messages) {
        const body = mapStrings(m.mapped.body, (s, k) => (k === 'type' ? s : `${s}${value}`));
        const module = MESSAGE_MODULES[m.info.name];
        const ns = config.namespaces.commontypes;
        const expected = renderWithXmlbuilder2(m.info, ns, ENV, module, body);
        expect(renderMessage(m.info, ns, ENV, module, body)).to.equal(expected);
      }
    });
  }

  it('a control character is refused with xmlbuilder2 own error, on either path', function () {
    const m = messages[0]!;
    const body = mapStrings(m.mapped.body, (s, k) => (k === 'referenceDocumentNumber' || k === 'workOrderNumber' ? `${s}\u0001` : s));
    const module = MESSAGE_MODULES[m.info.name];
    const ns = config.namespaces.commontypes;
    let xbError: Error | undefined;
    try {
      renderWithXmlbuilder2(m.info, ns, ENV, module, body);
    } catch (e) {
      xbError = e as Error;
    }
    expect(xbError, 'xmlbuilder2 refuses it').to.be.instanceOf(Error);
    expect(() => renderMessage(m.info, ns, ENV, module, body)).to.throw(xbError!.message);
  });

  it('an envelope value with markup is escaped as xmlbuilder2 does; a namespace URI with one takes xmlbuilder2', function () {
    const m = messages[0]!;
    const env = { ...ENV, senderId: 'A&B' };
    const r1 = both(config, m, env);
    expect(r1.plain).to.be.a('string').and.to.equal(r1.xb);
    expect(r1.xb).to.include('A&amp;B');
    const module = MESSAGE_MODULES[m.info.name];
    expect(() => renderPlain(m.info, 'urn:x&y', ENV, module, m.mapped.body)).to.throw(NotPlain);
    expect(renderMessage(m.info, 'urn:x&y', ENV, module, m.mapped.body)).to.equal(renderWithXmlbuilder2(m.info, 'urn:x&y', ENV, module, m.mapped.body));
  });

  it('text with markup or entity-like text takes the plain path and escapes it as xmlbuilder2 does', function () {
    const m = messages.find((x) => x.info.name === 'MATERIALS_PRODUCED')!;
    const body = mapStrings(m.mapped.body, (s, k) => (k === 'documentText' ? `R&D <x> &amp; &#38; &#x26; "q"` : s));
    const { plain, xb } = both(config, { ...m, mapped: { ...m.mapped, body } });
    expect(plain).to.be.a('string').and.to.equal(xb);
    expect(xb).to.include('<DocumentText>R&amp;D &lt;x&gt; &amp; &#38; &amp;#x26; "q"</DocumentText>');
  });

  it('the envelope written once per file: each message its own number, a changed envelope its own header, the stand-in character in a value no harm', function () {
    const m = messages[0]!;
    const envs: Envelope[] = [
      ENV,
      { ...ENV, fileControlNumber: 'C000000000008' },
      { ...ENV, receiverId: '0399999000009', fileTime: '12:00:01Z' },
      { ...ENV, senderId: 'S\u00a4S', fileControlNumber: 'X\u00a4Y' },
      { ...ENV, fileControlNumber: 'C&1' },
      ENV,
    ];
    for (const env of envs) {
      const { plain, xb } = both(config, m, env);
      // the stand-in in the envelope itself leaves the message to xmlbuilder2, with the same bytes
      if (env.senderId.includes('\u00a4')) expect(plain).to.be.instanceOf(NotPlain);
      else expect(plain, JSON.stringify(env)).to.be.a('string').and.to.equal(xb);
      expect(renderMessage(m.info, config.namespaces.commontypes, env, MESSAGE_MODULES[m.info.name], m.mapped.body)).to.equal(xb);
      expect(xb).to.include(`<cmn:FileControlNumber>${env.fileControlNumber.replace('&', '&amp;')}</cmn:FileControlNumber>`);
      expect(xb).to.include(`<cmn:FileReceiverNumber>${env.receiverId}</cmn:FileReceiverNumber>`);
    }
    expect(() => renderPlain(m.info, config.namespaces.commontypes, { ...ENV, fileControlNumber: '' }, MESSAGE_MODULES[m.info.name], m.mapped.body)).to.throw(NotPlain);
  });

  it('isPlain (attribute values): what the plain writer leaves to xmlbuilder2', function () {
    expect(['', 'LOT-1/2', 'Chargé', "O'Neil"].every(isPlain)).to.equal(true);
    expect(['&', '<', '>', '"', '\t', '\u0000', '\u007f', '\ud83d', '\uffff'].some(isPlain)).to.equal(false);
  });
});
