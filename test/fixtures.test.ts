// Every flat file under fixtures/ through translateFile: the valid ones into messages that the
// real xmllint accepts against xsd/<CODE>.xsd, the invalid ones into errors naming the right
// line and field (messages.md 3 and 1.5).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { loadConfig, type Config } from '../src/config/load.js';
import type { InputError } from '../src/flatfile/errors.js';
import { translateFile, type TranslatedMessage, type TranslateResult } from '../src/intake/translate.js';
import { FIELD_NAMES, INVALID_DIR, VALID_DIR, DEFAULT_CONFIG, ROOT, fixtureFiles, isValidGtin, layoutOf } from './support/fixtures.js';

const XMLLINT = '/usr/bin/xmllint';
const NOW = new Date('2026-11-25T12:00:00Z');

interface Translated {
  result: TranslateResult;
  messages: TranslatedMessage[];
}

async function translate(config: Config, file: string, layout: string, nextFcn: () => string): Promise<Translated> {
  const l = config.layouts.get(layout);
  if (!l) throw new Error(`no layout ${layout}`);
  const messages: TranslatedMessage[] = [];
  const result = await translateFile(file, { config, layout: l, now: NOW, allocate: nextFcn, onMessage: (m) => void messages.push(m) });
  return { result, messages };
}

// --- tiny XML readers (the documents are ours and flat; entities are the five predefined ones)
const unescape = (s: string) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
/** Text of every element with this local name, in document order. */
function texts(xml: string, name: string): string[] {
  const re = new RegExp(`<(?:[A-Za-z_][\\w.-]*:)?${name}(?:\\s[^>]*)?>([^<]*)</`, 'g');
  return [...xml.matchAll(re)].map((m) => unescape(m[1]!));
}
function text(xml: string, name: string): string | undefined {
  return texts(xml, name)[0];
}
/** `type:code` of every ProductCode. */
function products(xml: string): string[] {
  return [...xml.matchAll(/<(?:\w+:)?ProductCode type="([^"]*)">([^<]*)</g)].map((m) => `${m[1]}:${m[2]}`);
}

// =====================================================================================
// Valid fixtures
// =====================================================================================

/** Every file of fixtures/valid with the message count it must give. */
const VALID: { file: string; type: string; messages: number }[] = [
  { file: 'work-order-milestones.erp-delimited.txt', type: 'WORK_ORDER_MILESTONES', messages: 3 },
  { file: 'materials-produced.erp-delimited.txt', type: 'MATERIALS_PRODUCED', messages: 3 },
  { file: 'materials-produced-reversal.erp-delimited.txt', type: 'MATERIALS_PRODUCED_REVERSAL', messages: 2 },
  { file: 'materials-issued.erp-delimited.txt', type: 'MATERIALS_ISSUED', messages: 3 },
  { file: 'materials-issued-reversal.erp-delimited.txt', type: 'MATERIALS_ISSUED_REVERSAL', messages: 2 },
  { file: 'materials-consumed.erp-delimited.txt', type: 'MATERIALS_CONSUMED', messages: 3 },
  { file: 'materials-consumed-reversal.erp-delimited.txt', type: 'MATERIALS_CONSUMED_REVERSAL', messages: 1 },
  { file: 'work-order-milestones.erp-fixed.txt', type: 'WORK_ORDER_MILESTONES', messages: 3 },
  { file: 'materials-produced.erp-fixed.txt', type: 'MATERIALS_PRODUCED', messages: 2 },
  { file: 'materials-produced-reversal.erp-fixed.txt', type: 'MATERIALS_PRODUCED_REVERSAL', messages: 2 },
  { file: 'materials-issued.erp-fixed.txt', type: 'MATERIALS_ISSUED', messages: 2 },
  { file: 'materials-issued-reversal.erp-fixed.txt', type: 'MATERIALS_ISSUED_REVERSAL', messages: 1 },
  { file: 'materials-consumed.erp-fixed.txt', type: 'MATERIALS_CONSUMED', messages: 2 },
  { file: 'materials-consumed-reversal.erp-fixed.txt', type: 'MATERIALS_CONSUMED_REVERSAL', messages: 1 },
];

describe('fixtures/valid', function () {
  let config: Config;
  const out = new Map<string, Translated>();
  let seq = 0;
  const nextFcn = () => `T${String(++seq).padStart(12, '0')}`;

  before(async function () {
    config = loadConfig(DEFAULT_CONFIG);
    for (const v of VALID) {
      const f = path.join(VALID_DIR, v.file);
      if (fs.existsSync(f)) out.set(v.file, await translate(config, f, layoutOf(v.file), nextFcn));
    }
  });

  const get = (file: string): Translated => {
    const t = out.get(file);
    if (!t) throw new Error(`${file} was not translated (missing from fixtures/valid?)`);
    return t;
  };
  /** the XML of the message whose ReferenceDocumentNumber (or WorkOrderNumber for milestones) is ref */
  const xmlOf = (file: string, ref: string): string => {
    const m = get(file).messages.find((x) => x.mapped.keys.referenceDocumentNumber === ref);
    if (!m) throw new Error(`${file} has no message ${ref}`);
    return m.xml;
  };

  it('the table covers every file in fixtures/valid, and every table entry exists', function () {
    expect(fixtureFiles(VALID_DIR)).to.have.members(VALID.map((v) => v.file));
    expect(fs.existsSync(path.join(VALID_DIR, 'README.md')), 'fixtures/valid/README.md').to.equal(true);
    const readme = fs.readFileSync(path.join(VALID_DIR, 'README.md'), 'utf8');
    for (const v of VALID) expect(readme, `README lists ${v.file}`).to.include(v.file);
  });

  it('covers all seven message types in erp-delimited, and milestones plus a reversal in erp-fixed', function () {
    const delimited = VALID.filter((v) => layoutOf(v.file) === 'erp-delimited').map((v) => v.type);
    expect(new Set(delimited).size).to.equal(7);
    const fixed = VALID.filter((v) => layoutOf(v.file) === 'erp-fixed').map((v) => v.type);
    expect(fixed.length).to.be.at.least(3);
    expect(fixed).to.include('WORK_ORDER_MILESTONES');
    expect(fixed.some((t) => t.endsWith('_REVERSAL'))).to.equal(true);
  });

  for (const v of VALID) {
    it(`${v.file}: no errors, ${v.messages} ${v.type} message(s)`, function () {
      const { result, messages } = get(v.file);
      expect(result.errors, JSON.stringify(result.errors, null, 1)).to.deep.equal([]);
      expect(result.header?.messageType).to.equal(v.type);
      expect(result.header?.partner).to.equal('ACME-PHARMA');
      expect(result.messages).to.equal(v.messages);
      expect(messages).to.have.length(v.messages);
      for (const m of messages) {
        expect(m.info.name).to.equal(v.type);
        expect(m.partner).to.equal('ACME-PHARMA');
        expect(text(m.xml, 'FileControlNumber')).to.equal(m.fileControlNumber);
        expect(text(m.xml, 'FileSenderNumber')).to.equal('0614141000005');
        expect(text(m.xml, 'FileReceiverNumber')).to.equal('0312345000001');
        expect(text(m.xml, 'FileDate')).to.equal('2026-11-25');
        expect(text(m.xml, 'FileTime')).to.equal('12:00:00Z');
      }
    });
  }

  it('every produced XML validates with xmllint --schema xsd/<CODE>.xsd (one call per message type)', function () {
    this.timeout(120_000);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlbridge-fixtures-'));
    try {
      const byCode = new Map<string, string[]>();
      for (const [, t] of out) {
        for (const m of t.messages) {
          const d = path.join(dir, m.info.code);
          fs.mkdirSync(d, { recursive: true });
          const f = path.join(d, `${m.fileControlNumber}.xml`);
          fs.writeFileSync(f, m.xml);
          byCode.set(m.info.code, [...(byCode.get(m.info.code) ?? []), f]);
        }
      }
      expect([...byCode.keys()].sort()).to.deep.equal([
        'MATERIALS_CONSUMED', 'MATERIALS_CONSUMED_REVERSAL', 'MATERIALS_ISSUED', 'MATERIALS_ISSUED_REVERSAL',
        'MATERIALS_PRODUCED', 'MATERIALS_PRODUCED_REVERSAL', 'WORK_ORDER_MILESTONES',
      ]);
      let total = 0;
      for (const [code, files] of byCode) {
        const xsd = path.join(ROOT, 'xsd', `${code}.xsd`);
        const r = spawnSync(XMLLINT, ['--noout', '--schema', xsd, ...files], { encoding: 'utf8' });
        expect(r.error, `running ${XMLLINT}`).to.equal(undefined);
        expect(r.status, `xmllint ${code}:\n${r.stderr}`).to.equal(0);
        for (const f of files) expect(r.stderr, `xmllint ${code}`).to.include(`${f} validates`);
        total += files.length;
      }
      expect(total).to.equal(VALID.reduce((n, v) => n + v.messages, 0));

      // the same call does reject a broken document (so a pass above means something)
      const [first] = byCode.get('MATERIALS_PRODUCED')!;
      const broken = path.join(dir, 'broken.xml');
      fs.writeFileSync(broken, fs.readFileSync(first!, 'utf8').replace(/<Quantity>[^<]*</, '<Quantity>0<'));
      const bad = spawnSync(XMLLINT, ['--noout', '--schema', path.join(ROOT, 'xsd', 'MATERIALS_PRODUCED.xsd'), broken], { encoding: 'utf8' });
      expect(bad.status).to.not.equal(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('every GTIN in the output is 14 digits with a correct GS1 check digit; every NDC is 10 or 11 digits', function () {
    let gtins = 0;
    for (const [, t] of out) {
      for (const m of t.messages) {
        for (const p of products(m.xml)) {
          const [type, code] = p.split(':') as [string, string];
          if (type === 'GTIN') {
            gtins++;
            expect(code, p).to.match(/^\d{14}$/);
            expect(isValidGtin(code), p).to.equal(true);
          } else if (type === 'NDC') expect(code, p).to.match(/^\d{10,11}$/);
          else expect(type).to.equal('INTERNAL');
        }
      }
    }
    expect(gtins).to.be.greaterThan(10);
  });

  it('LineNumber runs 1..n in every materials message', function () {
    for (const [file, t] of out) {
      if (file.startsWith('work-order-milestones')) continue;
      for (const m of t.messages) {
        const n = texts(m.xml, 'Quantity').length;
        expect(n, `${file} ${m.mapped.keys.referenceDocumentNumber}`).to.be.greaterThan(0);
        expect(texts(m.xml, 'LineNumber'), `${file} ${m.mapped.keys.referenceDocumentNumber}`).to.deep.equal(
          Array.from({ length: n }, (_, i) => String(i + 1)),
        );
      }
    }
  });

  describe('normalised values', function () {
    it('materials-produced.erp-delimited: dates, times, decimals, GTIN-13/12/8 padded to 14, NDC digits only', function () {
      const a = xmlOf('materials-produced.erp-delimited.txt', '4900012345');
      expect(text(a, 'DateOfProduction')).to.equal('2026-11-24'); // 20261124
      expect(text(a, 'TimeOfProduction')).to.equal('15:30:00'); // 153000
      expect(text(a, 'WorkOrderNumber')).to.equal('WO-100234');
      expect(products(a)).to.deep.equal(['GTIN:00312345678906', 'GTIN:10312345678903', 'GTIN:00312345678937']);
      expect(texts(a, 'Quantity')).to.deep.equal(['1200.5', '100', '40']);
      expect(texts(a, 'UnitOfMeasure')).to.deep.equal(['EA', 'EA', 'EA']);
      expect(texts(a, 'ExpirationDate')).to.deep.equal(['2028-11-30', '2028-11-30', '2028-11-30']);
      const b = xmlOf('materials-produced.erp-delimited.txt', '4900012346');
      expect(text(b, 'TimeOfProduction'), 'an empty TIME is left out').to.equal(undefined);
      expect(products(b)).to.deep.equal(['INTERNAL:BULK-ATV-20MG', 'GTIN:00031234567809']);
      expect(texts(b, 'Quantity')).to.deep.equal(['85.125', '500']);
      expect(texts(b, 'UnitOfMeasure')).to.deep.equal(['KGM', 'EA']);
      expect(texts(b, 'ExpirationDate'), 'no expiry on the bulk line').to.deep.equal(['2029-02-28']);
      const c = xmlOf('materials-produced.erp-delimited.txt', '4900012347');
      expect(text(c, 'TimeOfProduction')).to.equal('06:15:00');
      expect(products(c)).to.deep.equal(['NDC:50242004062', 'GTIN:00000096385074', 'NDC:0312345678']);
      expect(texts(c, 'Quantity')).to.deep.equal(['2400', '18', '12.25']);
      expect(texts(c, 'UnitOfMeasure')).to.deep.equal(['EA', 'EA', 'LTR']);
      expect(texts(c, 'ExpirationDate')).to.deep.equal(['2028-10-31', '2028-10-31', '2027-12-31']);
    });

    it('DOC_TEXT: a quoted `|` and a doubled quote are preserved, "Müller" survives', function () {
      expect(text(xmlOf('materials-produced.erp-delimited.txt', '4900012345'), 'DocumentText')).to.equal('Batch release|QA lot A');
      expect(text(xmlOf('materials-produced.erp-delimited.txt', '4900012346'), 'DocumentText')).to.equal('Müller Schicht 2');
      expect(text(xmlOf('materials-produced.erp-delimited.txt', '4900012347'), 'DocumentText')).to.equal('Line 3 "night" shift');
      expect(text(xmlOf('materials-consumed.erp-delimited.txt', '4900013003'), 'DocumentText')).to.equal('Schicht Müller');
    });

    it('materials-issued.erp-delimited (CRLF): no CR leaks into values, `&` and `<>` escaped, empty optionals left out', function () {
      const t = get('materials-issued.erp-delimited.txt');
      for (const m of t.messages) expect(m.xml).to.not.include('\r');
      const a = xmlOf('materials-issued.erp-delimited.txt', '4900011001');
      expect(text(a, 'DateOfIssue')).to.equal('2026-11-20');
      expect(text(a, 'TimeOfIssue')).to.equal('07:15:00');
      expect(products(a)).to.deep.equal([
        'INTERNAL:API-ATORVA-CA', 'INTERNAL:EXC-LACTOSE-MH', 'INTERNAL:EXC-MCC-PH102', 'GTIN:00614141000012', 'GTIN:00614141000029',
      ]);
      expect(texts(a, 'Quantity')).to.deep.equal(['12.5', '48.75', '30', '1500', '1500']);
      expect(texts(a, 'ExpirationDate')).to.deep.equal([]);
      const b = xmlOf('materials-issued.erp-delimited.txt', '4900011002');
      expect(b).to.include('R&amp;D scale-up &lt;pilot&gt;');
      expect(text(b, 'DocumentText')).to.equal('R&D scale-up <pilot>');
      expect(texts(b, 'UnitOfMeasure')).to.deep.equal(['KGM', 'LTR']);
      const c = xmlOf('materials-issued.erp-delimited.txt', '4900011003');
      expect(text(c, 'DocumentText')).to.equal(undefined);
      expect(text(c, 'TimeOfIssue')).to.equal(undefined);
      expect(texts(c, 'Quantity')).to.deep.equal(['0.875', '2500']);
      expect(products(c)).to.deep.equal(['INTERNAL:EXC-MGST', 'GTIN:00000040123455']);
    });

    it('materials-consumed.erp-delimited (BOM, blank lines): PlannedQuantity where given', function () {
      const a = xmlOf('materials-consumed.erp-delimited.txt', '4900013001');
      expect(text(a, 'DateOfConsumption')).to.equal('2026-11-24');
      expect(text(a, 'TimeOfConsumption')).to.equal('16:00:00');
      expect(texts(a, 'Quantity')).to.deep.equal(['12.375', '48.2', '29.9', '1488']);
      expect(texts(a, 'PlannedQuantity')).to.deep.equal(['12.5', '48.75', '30', '1500']);
      const b = xmlOf('materials-consumed.erp-delimited.txt', '4900013002');
      expect(texts(b, 'PlannedQuantity')).to.deep.equal(['20.5']);
      expect(texts(b, 'Quantity')).to.deep.equal(['3.25', '15']);
    });

    it('reversals carry the original document, the reason and the reversed lines', function () {
      const a = xmlOf('materials-produced-reversal.erp-delimited.txt', '4900012390');
      expect(text(a, 'DateOfReversal')).to.equal('2026-11-26');
      expect(text(a, 'TimeOfReversal')).to.equal('08:05:00');
      expect(text(a, 'OriginalReferenceDocumentNumber')).to.equal('4900012345');
      expect(text(a, 'ReversalReason')).to.equal('Label misprint found at final inspection; 200 bottles destroyed');
      expect(texts(a, 'ExpirationDate')).to.deep.equal(['2028-11-30']);
      const b = xmlOf('materials-issued-reversal.erp-delimited.txt', '4900011091');
      expect(text(b, 'OriginalReferenceDocumentNumber')).to.equal('4900011001');
      expect(text(b, 'ReversalReason'), 'an empty REASON is left out').to.equal(undefined);
      expect(text(b, 'DocumentText')).to.equal(undefined);
      const c = xmlOf('materials-consumed-reversal.erp-delimited.txt', '4900013090');
      expect(texts(c, 'PlannedQuantity')).to.deep.equal(['12.5']);
      expect(texts(c, 'Quantity')).to.deep.equal(['0.375']);
      const d = xmlOf('materials-produced-reversal.erp-fixed.txt', '4900022490');
      expect(text(d, 'DocumentText')).to.equal('Nachzählung');
      expect(text(d, 'ReversalReason')).to.equal('Count correction after reconciliation of line 2');
      expect(texts(d, 'Quantity')).to.deep.equal(['200.5']);
      const e = xmlOf('materials-issued-reversal.erp-fixed.txt', '4900022390');
      expect(text(e, 'OriginalReferenceDocumentNumber')).to.equal('4900022301');
      expect(text(e, 'ReversalReason')).to.equal('Damaged bottles returned to supplier');
    });

    it('erp-fixed: `000000001200500` = 1200.5, INT = INTERNAL, columns count characters ("Müller", "LOT-ZÜR-07")', function () {
      const a = xmlOf('materials-produced.erp-fixed.txt', '4900022401');
      expect(texts(a, 'Quantity')).to.deep.equal(['1200.5', '350', '12.25']);
      expect(text(a, 'DocumentText')).to.equal('Freigabe Müller Linie 2');
      expect(text(a, 'DateOfProduction')).to.equal('2026-11-24');
      expect(text(a, 'TimeOfProduction')).to.equal('15:30:00');
      expect(products(a)).to.deep.equal(['GTIN:00312345678913', 'GTIN:00312345678937', 'NDC:0312345678']);
      const b = xmlOf('materials-produced.erp-fixed.txt', '4900022402');
      expect(text(b, 'TimeOfProduction')).to.equal(undefined);
      expect(text(b, 'DocumentText')).to.equal(undefined);
      expect(texts(b, 'LotNumber')).to.deep.equal(['LOT-ZÜR-07', 'LOT-ZÜR-07']);
      expect(texts(b, 'Quantity')).to.deep.equal(['1200', '42.375']);
      expect(texts(b, 'UnitOfMeasure')).to.deep.equal(['EA', 'KGM']);
      expect(texts(b, 'ExpirationDate')).to.deep.equal(['2028-12-31']);
      expect(products(b)).to.deep.equal(['NDC:0312345678', 'INTERNAL:BULK-ATV-20MG']);
      const c = xmlOf('materials-consumed.erp-fixed.txt', '4900022501');
      expect(texts(c, 'Quantity')).to.deep.equal(['24.75', '96.5', '4740']);
      expect(texts(c, 'PlannedQuantity')).to.deep.equal(['25', '96.5', '5000']);
      expect(text(c, 'DocumentText')).to.equal('Consumption 2026F');
      const d = xmlOf('materials-issued.erp-fixed.txt', '4900022302');
      expect(texts(d, 'Quantity')).to.deep.equal(['1.25']);
      expect(text(d, 'DateOfIssue')).to.equal('2026-11-19');
    });

    it('work order milestones: header fields, milestone order, ActualDate only where given', function () {
      const a = xmlOf('work-order-milestones.erp-delimited.txt', 'WO-100234');
      expect(text(a, 'PurchaseOrderNumber')).to.equal('PO-4500098765');
      expect(text(a, 'PurchaseOrderLineNumber')).to.equal('10');
      expect(products(a)).to.deep.equal(['GTIN:00312345678906']);
      expect(text(a, 'LotNumber')).to.equal('LOT2026A');
      expect(text(a, 'Quantity')).to.equal('1200.5');
      expect(texts(a, 'MilestoneType')).to.deep.equal(['MATERIAL_READINESS', 'PRODUCTION', 'QUALITY', 'DELIVERY']);
      expect(texts(a, 'PlannedDate')).to.deep.equal(['2026-11-15', '2026-11-22', '2026-12-01', '2026-12-10']);
      expect(texts(a, 'ActualDate')).to.deep.equal(['2026-11-16', '2026-11-24']);
      const b = xmlOf('work-order-milestones.erp-delimited.txt', 'WO-100235');
      expect(text(b, 'LotNumber'), 'an empty LOT is left out').to.equal(undefined);
      expect(products(b)).to.deep.equal(['INTERNAL:BULK-ATV-20MG']);
      expect(text(b, 'UnitOfMeasure')).to.equal('KGM');
      const c = xmlOf('work-order-milestones.erp-delimited.txt', 'WO-100236');
      expect(products(c)).to.deep.equal(['NDC:50242004062']);
      const f = xmlOf('work-order-milestones.erp-fixed.txt', 'WO-200412');
      expect(text(f, 'PurchaseOrderLineNumber')).to.equal('1');
      expect(texts(f, 'MilestoneType')).to.deep.equal(['MATERIAL_READINESS', 'PRODUCTION', 'QUALITY', 'DELIVERY']);
      expect(texts(f, 'ActualDate')).to.deep.equal(['2026-11-20', '2026-11-25', '2026-11-30']);
      const g = xmlOf('work-order-milestones.erp-fixed.txt', 'WO-200411');
      expect(products(g)).to.deep.equal(['INTERNAL:EXC-BLEND-ATV']);
      expect(text(g, 'Quantity')).to.equal('250.5');
      expect(text(g, 'LotNumber')).to.equal(undefined);
      expect(texts(g, 'ActualDate')).to.deep.equal([]);
    });
  });

  it('each reversal fixture reverses documents of its base fixture (same product and lot, at most the original quantity)', function () {
    for (const v of VALID.filter((x) => x.type.endsWith('_REVERSAL'))) {
      const baseFile = v.file.replace('-reversal.', '.');
      const base = get(baseFile).messages;
      const reversed = new Map<string, number>(); // original ref|product|lot -> quantity reversed so far
      for (const m of get(v.file).messages) {
        const k = m.mapped.keys;
        const orig = base.find((b) => b.mapped.keys.referenceDocumentNumber === k.originalReferenceDocumentNumber);
        expect(orig, `${v.file}: ${k.referenceDocumentNumber} reverses ${k.originalReferenceDocumentNumber}, not in ${baseFile}`).to.not.equal(undefined);
        expect(k.workOrderNumber).to.equal(orig!.mapped.keys.workOrderNumber);
        for (const l of k.lines) {
          const o = orig!.mapped.keys.lines.find((x) => x.product.type === l.product.type && x.product.code === l.product.code && x.lot === l.lot);
          expect(o, `${v.file} line ${l.line}: ${l.product.code} ${l.lot} not in ${k.originalReferenceDocumentNumber}`).to.not.equal(undefined);
          const key = `${k.originalReferenceDocumentNumber}|${l.product.code}|${l.lot}`;
          const total = (reversed.get(key) ?? 0) + Number(l.quantity);
          reversed.set(key, total);
          expect(total, `${v.file} line ${l.line}`).to.be.at.most(Number(o!.quantity));
        }
      }
      expect(reversed.size, v.file).to.be.greaterThan(0);
    }
  });

  it('no two valid fixtures of the same message type share a reference document or an ERP file id', function () {
    const refs = new Set<string>();
    const ids = new Set<string>();
    for (const [file, t] of out) {
      const id = t.result.header!.erpFileId;
      expect(ids.has(id), `${file}: ERP file id ${id} reused`).to.equal(false);
      ids.add(id);
      for (const m of t.messages) {
        const key = `${m.info.name}|${m.mapped.keys.referenceDocumentNumber}`;
        expect(refs.has(key), `${file}: ${key} reused`).to.equal(false);
        refs.add(key);
      }
    }
  });
});

// =====================================================================================
// Invalid fixtures
// =====================================================================================

interface At {
  line: number | null;
  field: string | null;
}
interface InvalidCase {
  file: string;
  layout: 'erp-delimited' | 'erp-fixed';
  /** each must be among the reported errors */
  expect: At[];
  /** none of these may be reported (a correct record reported as wrong) */
  absent?: At[];
}

const D = 'erp-delimited' as const;
const F = 'erp-fixed' as const;
const at = (line: number | null, field: string | null = null): At => ({ line, field });
const FILE = at(null, null);

const INVALID: InvalidCase[] = [
  // trailer and file structure
  { file: 'trailer-count-wrong.erp-delimited.txt', layout: D, expect: [at(7, 'COUNT')] },
  { file: 'trailer-count-not-a-number.erp-delimited.txt', layout: D, expect: [at(7, 'COUNT')] },
  { file: 'trailer-missing-truncated.erp-delimited.txt', layout: D, expect: [FILE] },
  { file: 'concatenated-text-after-trailer.erp-delimited.txt', layout: D, expect: [at(8)] },
  { file: 'concatenated-second-header.erp-delimited.txt', layout: D, expect: [at(4)] },
  { file: 'empty-file.erp-delimited.txt', layout: D, expect: [FILE] },
  { file: 'blank-lines-only.erp-delimited.txt', layout: D, expect: [FILE] },
  { file: 'header-and-trailer-only.erp-delimited.txt', layout: D, expect: [FILE] },
  { file: 'binary-garbage.erp-delimited.txt', layout: D, expect: [at(1), FILE] },
  { file: 'wrong-encoding-latin1.erp-delimited.txt', layout: D, expect: [at(2)] },
  { file: 'control-character.erp-delimited.txt', layout: D, expect: [at(3)] },
  { file: 'line-too-long.erp-delimited.txt', layout: D, expect: [at(5)] },
  { file: 'unknown-record-type.erp-delimited.txt', layout: D, expect: [at(4)] },
  // an unreadable HDR is still the HDR: the DOC after it is not "before the HDR", and the TRL
  // count (5 records between lines 1 and 7) is right
  { file: 'header-too-many-fields.erp-delimited.txt', layout: D, expect: [at(1)], absent: [at(2), at(7, 'COUNT')] },
  { file: 'header-not-first.erp-delimited.txt', layout: D, expect: [at(1)] },
  { file: 'lin-before-doc.erp-delimited.txt', layout: D, expect: [at(2)] },
  { file: 'doc-without-lin.erp-delimited.txt', layout: D, expect: [at(5)] },
  { file: 'mixed-message-types.erp-delimited.txt', layout: D, expect: [at(5), at(6)] },
  { file: 'doc-too-many-fields.erp-delimited.txt', layout: D, expect: [at(2)] },
  { file: 'quote-unterminated.erp-delimited.txt', layout: D, expect: [at(2)] },
  { file: 'reference-doc-no-twice.erp-delimited.txt', layout: D, expect: [at(5, 'REFERENCE_DOC_NO')] },
  // header
  { file: 'partner-unknown.erp-delimited.txt', layout: D, expect: [at(1, 'PARTNER')] },
  { file: 'message-type-unknown.erp-delimited.txt', layout: D, expect: [at(1, 'MESSAGE_TYPE')] },
  { file: 'created-not-a-date-time.erp-delimited.txt', layout: D, expect: [at(1, 'CREATED')] },
  { file: 'created-wrong-format.erp-delimited.txt', layout: D, expect: [at(1, 'CREATED')] },
  { file: 'erp-file-id-missing.erp-delimited.txt', layout: D, expect: [at(1, 'ERP_FILE_ID')] },
  // DOC
  { file: 'date-february-30.erp-delimited.txt', layout: D, expect: [at(2, 'DATE')] },
  { file: 'date-month-00.erp-delimited.txt', layout: D, expect: [at(3, 'EXPIRY')] },
  { file: 'date-year-0000.erp-delimited.txt', layout: D, expect: [at(2, 'DATE')] },
  { file: 'date-non-digits.erp-delimited.txt', layout: D, expect: [at(2, 'DATE')] },
  { file: 'date-missing.erp-delimited.txt', layout: D, expect: [at(5, 'DATE')] },
  { file: 'time-hour-25.erp-delimited.txt', layout: D, expect: [at(2, 'TIME')] },
  { file: 'reference-doc-no-36-chars.erp-delimited.txt', layout: D, expect: [at(2, 'REFERENCE_DOC_NO')] },
  { file: 'doc-text-26-chars.erp-delimited.txt', layout: D, expect: [at(2, 'DOC_TEXT')] },
  { file: 'work-order-21-chars.erp-delimited.txt', layout: D, expect: [at(5, 'WORK_ORDER')] },
  { file: 'base-doc-with-original.erp-delimited.txt', layout: D, expect: [at(2, 'ORIGINAL_REFERENCE_DOC_NO')] },
  { file: 'reversal-original-missing.erp-delimited.txt', layout: D, expect: [at(2, 'ORIGINAL_REFERENCE_DOC_NO')] },
  { file: 'reversal-reason-81-chars.erp-delimited.txt', layout: D, expect: [at(2, 'REASON')] },
  // LIN
  { file: 'gtin-check-digit-wrong.erp-delimited.txt', layout: D, expect: [at(3, 'PRODUCT_CODE')] },
  { file: 'gtin-11-digits.erp-delimited.txt', layout: D, expect: [at(3, 'PRODUCT_CODE')] },
  { file: 'ndc-9-digits.erp-delimited.txt', layout: D, expect: [at(4, 'PRODUCT_CODE')] },
  { file: 'internal-code-41-chars.erp-delimited.txt', layout: D, expect: [at(6, 'PRODUCT_CODE')] },
  { file: 'product-code-type-unknown.erp-delimited.txt', layout: D, expect: [at(3, 'PRODUCT_CODE_TYPE')] },
  { file: 'lot-missing.erp-delimited.txt', layout: D, expect: [at(4, 'LOT')] },
  { file: 'lot-21-chars.erp-delimited.txt', layout: D, expect: [at(4, 'LOT')] },
  { file: 'qty-comma-decimal-separator.erp-delimited.txt', layout: D, expect: [at(6, 'QTY')] },
  { file: 'qty-zero.erp-delimited.txt', layout: D, expect: [at(3, 'QTY')] },
  { file: 'qty-four-decimals.erp-delimited.txt', layout: D, expect: [at(6, 'QTY')] },
  { file: 'qty-negative.erp-delimited.txt', layout: D, expect: [at(4, 'QTY')] },
  { file: 'uom-each-lowercase.erp-delimited.txt', layout: D, expect: [at(3, 'UOM')] },
  { file: 'issued-line-with-expiry.erp-delimited.txt', layout: D, expect: [at(3, 'EXPIRY')] },
  { file: 'consumed-planned-qty-not-a-number.erp-delimited.txt', layout: D, expect: [at(4, 'PLANNED_QTY')] },
  // Work Order Milestones
  { file: 'milestone-twice.erp-delimited.txt', layout: D, expect: [at(6, 'MILESTONE')] },
  { file: 'milestones-five.erp-delimited.txt', layout: D, expect: [at(2), at(7, 'MILESTONE')] },
  { file: 'milestone-type-unknown.erp-delimited.txt', layout: D, expect: [at(5, 'MILESTONE')] },
  { file: 'milestone-actual-not-a-date.erp-delimited.txt', layout: D, expect: [at(3, 'ACTUAL')] },
  { file: 'work-order-without-milestones.erp-delimited.txt', layout: D, expect: [at(6)] },
  { file: 'po-line-not-digits.erp-delimited.txt', layout: D, expect: [at(2, 'PO_LINE')] },
  // several problems: every one is reported
  {
    file: 'several-problems.erp-delimited.txt',
    layout: D,
    expect: [at(2, 'DATE'), at(3, 'PRODUCT_CODE'), at(4, 'QTY'), at(5), at(6, 'TIME'), at(7, 'UOM'), at(8, 'COUNT')],
  },
  // a problem in the HDR does not hide the records' problems: type and partner are known
  { file: 'several-problems-with-header.erp-delimited.txt', layout: D, expect: [at(1, 'CREATED'), at(2, 'DATE'), at(3, 'QTY')] },
  // erp-fixed
  { file: 'lin-cut-before-qty.erp-fixed.txt', layout: F, expect: [at(3, 'QTY'), at(3, 'UOM')] },
  { file: 'lin-cut-inside-qty.erp-fixed.txt', layout: F, expect: [at(4, 'QTY'), at(4, 'UOM')] },
  { file: 'qty-not-digits.erp-fixed.txt', layout: F, expect: [at(3, 'QTY')] },
  { file: 'unknown-record-type.erp-fixed.txt', layout: F, expect: [at(4)] },
  { file: 'trailer-count-wrong.erp-fixed.txt', layout: F, expect: [at(5, 'COUNT')] },
  { file: 'gtin-check-digit-wrong.erp-fixed.txt', layout: F, expect: [at(3, 'PRODUCT_CODE')] },
  { file: 'milestone-date-month-13.erp-fixed.txt', layout: F, expect: [at(3, 'PLANNED')] },
  { file: 'several-problems.erp-fixed.txt', layout: F, expect: [at(2, 'DATE'), at(3, 'UOM'), at(4, 'PRODUCT_CODE_TYPE'), at(5, 'COUNT')] },
];

const show = (errors: InputError[]) => errors.map((e) => `  ${e.line ?? '-'} ${e.field ?? '-'}: ${e.value ?? ''} ${e.message}`).join('\n');
const has = (errors: InputError[], a: At) => errors.some((e) => e.line === a.line && e.field === a.field);

describe('fixtures/invalid', function () {
  let config: Config;
  const out = new Map<string, Translated>();

  before(async function () {
    config = loadConfig(DEFAULT_CONFIG);
    let seq = 0;
    for (const c of INVALID) {
      const f = path.join(INVALID_DIR, c.file);
      if (fs.existsSync(f)) out.set(c.file, await translate(config, f, c.layout, () => `T${String(++seq).padStart(12, '0')}`));
    }
  });

  it('the table covers every file in fixtures/invalid, and every table entry exists', function () {
    const files = fixtureFiles(INVALID_DIR);
    const missing = files.filter((f) => !INVALID.some((c) => c.file === f));
    expect(missing, 'fixtures without a table entry').to.deep.equal([]);
    expect(INVALID.map((c) => c.file)).to.have.members(files);
    expect(new Set(INVALID.map((c) => c.file)).size, 'a file listed twice').to.equal(INVALID.length);
    expect(files.length).to.be.at.least(30);
    for (const c of INVALID) expect(layoutOf(c.file), c.file).to.equal(c.layout);
  });

  for (const c of INVALID) {
    it(`${c.file}: ${c.expect.map((a) => `line ${a.line ?? '-'} field ${a.field ?? '-'}`).join('; ')}`, function () {
      const t = out.get(c.file);
      expect(t, `${c.file} not translated`).to.not.equal(undefined);
      const { errors } = t!.result;
      expect(errors.length, `${c.file} reported no error`).to.be.greaterThan(0);
      for (const a of c.expect) expect(has(errors, a), `expected line ${a.line} field ${a.field} among:\n${show(errors)}`).to.equal(true);
      for (const a of c.absent ?? []) expect(has(errors, a), `line ${a.line} field ${a.field} is not a problem, but reported:\n${show(errors)}`).to.equal(false);
      // names only the fields of messages.md 3, and lines that exist
      const lines = fs.readFileSync(path.join(INVALID_DIR, c.file)).toString('latin1').split('\n').length;
      for (const e of errors) {
        if (e.field !== null) expect(FIELD_NAMES as readonly string[], `${c.file}: field of ${JSON.stringify(e)}`).to.include(e.field);
        if (e.line !== null) expect(e.line, `${c.file}: line of ${JSON.stringify(e)}`).to.be.within(1, lines);
        if (e.line === null) expect(e.field, `${c.file}: a whole-file problem names no field`).to.equal(null);
        expect(e.message).to.be.a('string').and.not.equal('');
      }
    });
  }

  it('reports a whole-file problem (line null) only for the files that have one', function () {
    // e.g. a file whose every document has a bad field holds messages: they are wrong, not absent
    const spurious = INVALID.filter((c) => !c.expect.some((a) => a.line === null))
      .map((c) => ({ file: c.file, whole: (out.get(c.file)?.result.errors ?? []).filter((e) => e.line === null).map((e) => e.message) }))
      .filter((x) => x.whole.length > 0);
    expect(spurious, JSON.stringify(spurious, null, 1)).to.deep.equal([]);
  });
});
