// Unit tests of the pure flat-file layer: value parsers, record splitting, line reading.
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseDate, parseDateTime, parseDecimal, parseTime, zonedToUtc } from '../src/flatfile/values.js';
import { parseRecord, splitDelimited, type FlatRecord } from '../src/flatfile/records.js';
import { erpDelimited } from '../src/flatfile/layouts/erp-delimited.js';
import { erpFixed } from '../src/flatfile/layouts/erp-fixed.js';
import { ErrorList, isInputError, type InputError } from '../src/flatfile/errors.js';
import { codePoints, FieldReader } from '../src/flatfile/fields.js';
import { readLines } from '../src/flatfile/lines.js';
import { gs1CheckDigit, normaliseGtin, normaliseNdc } from '../src/messages/rules.js';

describe('flat-file values', () => {
  it('parses calendar dates and refuses impossible ones', () => {
    expect(parseDate('20261124', 'yyyyMMdd')).to.deep.equal({ ok: true, value: '2026-11-24' });
    expect(parseDate('24.11.2026', 'dd.MM.yyyy')).to.deep.equal({ ok: true, value: '2026-11-24' });
    expect(parseDate('20240229', 'yyyyMMdd').ok).to.equal(true);
    for (const bad of ['20250229', '20260230', '20261300', '20260001', '00001124', '2026112', '2026112a']) expect(parseDate(bad, 'yyyyMMdd').ok, bad).to.equal(false);
  });

  it('knows the leap years of the Gregorian calendar, and the days of each month', () => {
    for (const good of ['20000229', '20240229', '16000229', '20260131', '20260430', '20261231']) expect(parseDate(good, 'yyyyMMdd').ok, good).to.equal(true);
    for (const bad of ['19000229', '21000229', '20230229', '20260431', '20260631', '20260931', '20261131']) expect(parseDate(bad, 'yyyyMMdd').ok, bad).to.equal(false);
    expect(parseDate('20260431', 'yyyyMMdd')).to.deep.equal({ ok: false, reason: 'is not a calendar date (2026-04 has 30 days)' });
  });

  it('counts text lengths in characters (code points), not UTF-16 units', () => {
    expect(codePoints('')).to.equal(0);
    expect(codePoints('LOT-1')).to.equal(5);
    expect(codePoints('Chargé')).to.equal(6);
    expect(codePoints('a\u{1F600}b')).to.equal(3); // a surrogate pair is one character
    expect(codePoints('a\ud83d')).to.equal(2); // a lone surrogate counts as itself
    expect(codePoints('\udc00\ud83d')).to.equal(2);
    const rec = parseRecord(erpDelimited, 2, `DOC|4900000001|WO-1|20261124|101500|${'\u{1F600}'.repeat(80)}`) as FlatRecord;
    expect(new FieldReader(rec, new ErrorList()).text('DOC_TEXT', { max: 80 })).to.equal('\u{1F600}'.repeat(80));
    const errors = new ErrorList();
    expect(new FieldReader(rec, errors).text('DOC_TEXT', { max: 79 })).to.equal(undefined);
    expect(errors.report()[0]!.message).to.equal('is 80 characters long, at most 79 allowed');
  });

  it('parses times of day', () => {
    expect(parseTime('153000', 'HHmmss')).to.deep.equal({ ok: true, value: '15:30:00' });
    expect(parseTime('240000', 'HHmmss').ok).to.equal(false);
    expect(parseTime('125960', 'HHmmss').ok).to.equal(false);
  });

  it('turns a local date-time into UTC across DST', () => {
    expect(parseDateTime('20261125101500', 'yyyyMMddHHmmss', 'Europe/Berlin')).to.deep.equal({ ok: true, value: '2026-11-25T09:15:00.000Z' });
    expect(parseDateTime('20260701101500', 'yyyyMMddHHmmss', 'Europe/Berlin')).to.deep.equal({ ok: true, value: '2026-07-01T08:15:00.000Z' });
    expect(zonedToUtc(2026, 3, 29, 3, 30, 0, 'Europe/Berlin').toISOString()).to.equal('2026-03-29T01:30:00.000Z');
  });

  it('gives every wall time its zone offset around transitions, half- and quarter-hour zones included (offsets are cached by hour)', () => {
    const wallOf = (t: number, tz: string): number[] => {
      const f = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
      const v = new Map<string, number>(f.formatToParts(t).map((p) => [p.type, Number(p.value)]));
      return ['year', 'month', 'day', 'hour', 'minute', 'second'].map((k) => v.get(k)!);
    };
    const cases: [string, string][] = [
      ['Europe/Berlin', '2026-03-29T00:00:00Z'],
      ['Europe/Berlin', '2026-10-25T00:00:00Z'],
      ['Australia/Lord_Howe', '2026-04-04T14:00:00Z'], // a 30-minute DST shift
      ['America/St_Johns', '2026-11-01T02:00:00Z'],
      ['Asia/Kathmandu', '1985-12-31T18:00:00Z'], // +05:30 to +05:45
    ];
    for (const [tz, from] of cases) {
      const t0 = Date.parse(from);
      // every 5 minutes over 6 hours: each instant's wall time comes back to an instant with that wall time
      for (let t = t0; t < t0 + 6 * 3_600_000; t += 300_000) {
        const [y, mo, d, h, mi, s] = wallOf(t, tz) as [number, number, number, number, number, number];
        const back = zonedToUtc(y, mo, d, h, mi, s, tz).getTime();
        expect(wallOf(back, tz), `${tz} ${new Date(t).toISOString()}`).to.deep.equal([y, mo, d, h, mi, s]);
      }
    }
  });

  it('normalises decimals exactly, with the layout separator or implied decimals', () => {
    expect(parseDecimal('1200.50', { separator: '.' })).to.deep.equal({ ok: true, value: '1200.5' });
    expect(parseDecimal('0012', { separator: '.' })).to.deep.equal({ ok: true, value: '12' });
    expect(parseDecimal('12,5', { separator: ',' })).to.deep.equal({ ok: true, value: '12.5' });
    const wrongSep = parseDecimal('12,5', { separator: '.' });
    expect(wrongSep.ok).to.equal(false);
    expect(!wrongSep.ok && wrongSep.reason).to.contain('separator');
    expect(parseDecimal('000000001200500', { separator: '.', impliedDecimals: 3 })).to.deep.equal({ ok: true, value: '1200.5' });
    expect(parseDecimal('000000000000001', { separator: '.', impliedDecimals: 3 })).to.deep.equal({ ok: true, value: '0.001' });
    for (const bad of ['-1', '1e3', '1.2.3', '', '.5', '1.']) expect(parseDecimal(bad, { separator: '.' }).ok, bad).to.equal(false);
  });
});

describe('product code rules', () => {
  it('checks GS1 check digits and pads GTINs to 14', () => {
    expect(gs1CheckDigit('0031234567890')).to.equal(6);
    expect(normaliseGtin('00312345678906')).to.deep.equal({ ok: true, value: '00312345678906' });
    expect(normaliseGtin('312345678906')).to.deep.equal({ ok: true, value: '00312345678906' });
    expect(normaliseGtin('96385074')).to.deep.equal({ ok: true, value: '00000096385074' });
    expect(normaliseGtin('00312345678907').ok).to.equal(false);
    expect(normaliseGtin('12345678901').ok).to.equal(false);
  });

  it('keeps NDC digits only and checks the length', () => {
    expect(normaliseNdc('0312-3456-78')).to.deep.equal({ ok: true, value: '0312345678' });
    expect(normaliseNdc('12345-6789-01')).to.deep.equal({ ok: true, value: '12345678901' });
    expect(normaliseNdc('1234-5678-9').ok).to.equal(false);
    expect(normaliseNdc('1234--56789').ok).to.equal(false);
  });
});

describe('records', () => {
  const rec = (r: FlatRecord | InputError): FlatRecord => {
    if (isInputError(r)) throw new Error(r.message);
    return r;
  };

  it('splits quoted delimited fields', () => {
    expect(splitDelimited('DOC|"a|b"|"say ""hi"""|x', '|', '"')).to.deep.equal(['DOC', 'a|b', 'say "hi"', 'x']);
    expect(splitDelimited('DOC|"open', '|', '"')).to.be.a('string').that.contains('unterminated');
  });

  it('names delimited fields, the shared last LIN slot under both names', () => {
    const r = rec(parseRecord(erpDelimited, 3, 'LIN|GTIN|00312345678906|LOT1| 12.5 |EA|20281130'));
    expect(r.role).to.equal('LIN');
    expect(r.values.get('QTY')).to.equal('12.5');
    expect(r.values.get('EXPIRY')).to.equal('20281130');
    expect(r.values.get('PLANNED_QTY')).to.equal('20281130');
  });

  it('refuses unknown record types and too many fields, naming the line', () => {
    const u = parseRecord(erpDelimited, 7, 'XYZ|1');
    expect(isInputError(u) && u.line).to.equal(7);
    const m = parseRecord(erpDelimited, 8, 'TRL|1|2');
    expect(isInputError(m) && m.message).to.contain('at most 1');
  });

  it('cuts fixed columns by characters, not bytes, and notes cut fields', () => {
    const line = 'LIN' + 'GTIN'.padEnd(7) + '00312345678906'.padEnd(40) + 'LÖT-Ä1'.padEnd(20) + '000000001200500' + 'EA ' + '20281130';
    const r = rec(parseRecord(erpFixed, 2, line));
    expect(r.values.get('LOT')).to.equal('LÖT-Ä1');
    expect(r.values.get('QTY')).to.equal('000000001200500');
    expect(r.values.get('UOM')).to.equal('EA');
    expect(r.values.get('EXPIRY')).to.equal('20281130');
    expect(r.cut?.has('PLANNED_QTY')).to.equal(true);
    const short = rec(parseRecord(erpFixed, 2, line.slice(0, 78)));
    expect(short.cut?.has('QTY')).to.equal(true);
  });
});

describe('line reader', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tlbridge-lines-'));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  async function lines(content: Buffer, encoding: 'utf-8' | 'latin1' = 'utf-8', max = 100) {
    const f = path.join(tmp, `f${Math.random()}`);
    fs.writeFileSync(f, content);
    const out = [];
    for await (const b of readLines(f, encoding, max)) out.push(...b);
    return out;
  }

  it('strips a BOM and CR, numbers lines, keeps the last line without LF', async () => {
    const got = await lines(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('a\r\nb\n\nc')]));
    expect(got).to.deep.equal([
      { line: 1, text: 'a' },
      { line: 2, text: 'b' },
      { line: 3, text: '' },
      { line: 4, text: 'c' },
    ]);
  });

  it('reports bad UTF-8, control characters and overlong lines by line, and reads on', async () => {
    const got = await lines(Buffer.concat([Buffer.from('ok\n'), Buffer.from([0x4d, 0xfc, 0x6c, 0x0a]), Buffer.from('a\u0000b\n' + 'x'.repeat(150) + '\nend\n')]));
    expect(got.map((g) => ('text' in g ? g.text : `E${g.line}`))).to.deep.equal(['ok', 'E2', 'E3', 'E4', 'end']);
  });

  it('decodes latin1 when the layout says so', async () => {
    const got = await lines(Buffer.from([0x4d, 0xfc, 0x6c, 0x0a]), 'latin1');
    expect(got).to.deep.equal([{ line: 1, text: 'Mül' }]);
  });

  it('never buffers an overlong line across chunks', async () => {
    const big = Buffer.alloc(3 * 1024 * 1024, 0x41);
    const got = await lines(Buffer.concat([Buffer.from('a\n'), big, Buffer.from('\nb\n')]), 'utf-8', 1024);
    expect(got.length).to.equal(3);
    expect(isInputError(got[1]!) && got[1]!.message).to.contain('maxLineBytes');
  });

  it('reads a descriptor from position 0 and leaves it open, also when the reader stops early', async () => {
    const f = path.join(tmp, 'by-fd');
    fs.writeFileSync(f, 'one\n' + 'x'.repeat(3 * 1024 * 1024) + '\nlast\n');
    const fd = fs.openSync(f, 'r');
    try {
      fs.readSync(fd, Buffer.alloc(2)); // the descriptor's own offset does not matter
      const all = [];
      for await (const b of readLines({ fd }, 'utf-8', 8 * 1024 * 1024)) all.push(...b);
      expect(all.map((l) => ('text' in l ? l.text.length : -1))).to.deep.equal([3, 3 * 1024 * 1024, 4]);
      // a conversion that throws mid-file (a full disk) stops the reader: the descriptor stays
      // the caller's, to be read again (archive, error/) and closed once
      const read = async (stopEarly: boolean) => {
        const out = [];
        for await (const b of readLines({ fd }, 'utf-8', 8 * 1024 * 1024)) {
          out.push(...b);
          if (stopEarly) break;
        }
        return out;
      };
      await read(true);
      expect(await read(false)).to.deep.equal(all);
      expect(fs.fstatSync(fd).size).to.be.above(3 * 1024 * 1024);
    } finally {
      fs.closeSync(fd);
    }
  });
});
