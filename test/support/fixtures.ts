// The flat-file fixtures under fixtures/ and the helpers that build them.
//
// The files under fixtures/ are committed; this module is how they were made, so that a
// fixed-width file can be changed without counting columns by hand. Regenerate them with
//   npx tsx test/support/fixtures.ts
// (it rewrites fixtures/valid/*.txt, fixtures/invalid/*.txt and both README.md files).
// The tests read the committed files; they only import the small helpers below.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const FIXTURES = path.join(ROOT, 'fixtures');
export const VALID_DIR = path.join(FIXTURES, 'valid');
export const INVALID_DIR = path.join(FIXTURES, 'invalid');
export const DEFAULT_CONFIG = path.join(ROOT, 'config', 'tlbridge.yaml');

/** The flat-file field names of messages.md 3, the only names an error may carry. */
export const FIELD_NAMES = [
  'MESSAGE_TYPE', 'PARTNER', 'CREATED', 'ERP_FILE_ID',
  'REFERENCE_DOC_NO', 'WORK_ORDER', 'DATE', 'TIME', 'DOC_TEXT', 'ORIGINAL_REFERENCE_DOC_NO', 'REASON',
  'PRODUCT_CODE_TYPE', 'PRODUCT_CODE', 'LOT', 'QTY', 'UOM', 'EXPIRY', 'PLANNED_QTY',
  'PO', 'PO_LINE', 'MILESTONE', 'PLANNED', 'ACTUAL', 'COUNT',
] as const;

/** `materials-produced.erp-fixed.txt` -> `erp-fixed` (the part before `.txt`). */
export function layoutOf(file: string): string {
  const m = /\.(erp-[a-z]+)\.txt$/.exec(path.basename(file));
  if (!m) throw new Error(`fixture name without a layout: ${file}`);
  return m[1]!;
}

/** The *.txt files of a fixture folder, sorted. */
export function fixtureFiles(dir: string): string[] {
  return fs.readdirSync(dir).filter((f) => f.endsWith('.txt')).sort();
}

// ---------------------------------------------------------------------------------------
// GS1 check digits and quantities
// ---------------------------------------------------------------------------------------

/** GS1 mod-10: weights 3,1,3,... from the rightmost digit of the body. */
export function gs1CheckDigit(body: string): number {
  let sum = 0;
  let w = 3;
  for (let i = body.length - 1; i >= 0; i--) {
    sum += Number(body[i]) * w;
    w = w === 3 ? 1 : 3;
  }
  return (10 - (sum % 10)) % 10;
}

/** A GTIN of body.length + 1 digits with its check digit. */
export function gtin(body: string): string {
  if (!/^\d{7}$|^\d{11,13}$/.test(body)) throw new Error(`GTIN body must have 7, 11, 12 or 13 digits: ${body}`);
  return body + gs1CheckDigit(body);
}

export function isValidGtin(code: string): boolean {
  return /^(\d{8}|\d{12,14})$/.test(code) && gs1CheckDigit(code.slice(0, -1)) === Number(code.at(-1));
}

/** `1200.5` -> `000000001200500` (15 digits, 3 implied decimals). */
export function qty15(q: string, width = 15): string {
  const m = /^(\d+)(?:\.(\d{1,3}))?$/.exec(q);
  if (!m) throw new Error(`not a quantity with at most 3 decimals: ${q}`);
  const digits = (m[1]! + (m[2] ?? '').padEnd(3, '0')).replace(/^0+(?=\d)/, '');
  if (digits.length > width) throw new Error(`quantity too long for ${width} columns: ${q}`);
  return digits.padStart(width, '0');
}

// ---------------------------------------------------------------------------------------
// erp-fixed columns (messages.md 3.2, 1-based, inclusive)
// ---------------------------------------------------------------------------------------

type Cols = Record<string, readonly [number, number]>;
export const FIXED_COLUMNS = {
  HDR: { MESSAGE_TYPE: [4, 33], PARTNER: [34, 53], CREATED: [54, 67], ERP_FILE_ID: [68, 87] },
  DOC: {
    REFERENCE_DOC_NO: [4, 38], WORK_ORDER: [39, 58], DATE: [59, 66], TIME: [67, 72], DOC_TEXT: [73, 97],
    ORIGINAL_REFERENCE_DOC_NO: [98, 132], REASON: [133, 212],
  },
  LIN: { PRODUCT_CODE_TYPE: [4, 10], PRODUCT_CODE: [11, 50], LOT: [51, 70], QTY: [71, 85], UOM: [86, 88], EXPIRY: [89, 96], PLANNED_QTY: [89, 103] },
  WO: {
    WORK_ORDER: [4, 23], PO: [24, 58], PO_LINE: [59, 64], PRODUCT_CODE_TYPE: [65, 71], PRODUCT_CODE: [72, 111], LOT: [112, 131],
    QTY: [132, 146], UOM: [147, 149],
  },
  MS: { MILESTONE: [4, 23], PLANNED: [24, 31], ACTUAL: [32, 39] },
  TRL: { COUNT: [4, 12] },
} as const satisfies Record<string, Cols>;

export type FixedRecord = keyof typeof FIXED_COLUMNS;

/**
 * One fixed-width line: each value left-aligned in its columns (numeric values are passed
 * already zero-padded), the rest spaces, padded to `width` characters (characters, not bytes:
 * `Müller` takes 6 columns). A value longer than its columns throws: a fixture never truncates
 * silently.
 */
export function fixedLine<R extends FixedRecord>(record: R, values: Partial<Record<keyof (typeof FIXED_COLUMNS)[R], string>>, width: number): string {
  const chars: string[] = Array.from({ length: width }, () => ' ');
  const code = record.padEnd(3, ' ');
  for (let i = 0; i < 3; i++) chars[i] = code[i]!;
  const cols = FIXED_COLUMNS[record] as Cols;
  for (const [name, value] of Object.entries(values) as [string, string | undefined][]) {
    if (value === undefined) continue;
    const c = cols[name];
    if (!c) throw new Error(`${record} has no field ${name}`);
    const [from, to] = c;
    const v = Array.from(value);
    if (v.length > to - from + 1) throw new Error(`${record}.${name} ${JSON.stringify(value)} is longer than columns ${from}-${to}`);
    if (to > width) throw new Error(`${record}.${name} ends at column ${to}, beyond the line width ${width}`);
    v.forEach((ch, i) => (chars[from - 1 + i] = ch));
  }
  return chars.join('');
}

// ---------------------------------------------------------------------------------------
// Message data, rendered into either layout
// ---------------------------------------------------------------------------------------

type CodeType = 'GTIN' | 'NDC' | 'INTERNAL';

interface Lin {
  type: CodeType;
  code: string;
  lot: string;
  qty: string;
  uom: string;
  /** EXPIRY (Produced) or PLANNED_QTY (Consumed) */
  extra?: string;
}

interface Doc {
  ref: string;
  wo: string;
  date: string;
  time?: string;
  text?: string;
  orig?: string;
  reason?: string;
  lines: Lin[];
}

interface Wo {
  wo: string;
  po: string;
  poLine: string;
  type: CodeType;
  code: string;
  lot?: string;
  qty: string;
  uom: string;
  ms: [string, string, string?][];
}

type MessageType =
  | 'WORK_ORDER_MILESTONES'
  | 'MATERIALS_PRODUCED'
  | 'MATERIALS_PRODUCED_REVERSAL'
  | 'MATERIALS_ISSUED'
  | 'MATERIALS_ISSUED_REVERSAL'
  | 'MATERIALS_CONSUMED'
  | 'MATERIALS_CONSUMED_REVERSAL';

interface FileSpec {
  type: MessageType;
  created: string;
  erpFileId: string;
  partner?: string;
  docs?: Doc[];
  wos?: Wo[];
  /** blank lines after these group indexes (not counted by the TRL) */
  blankAfter?: number[];
}

interface WriteOpts {
  crlf?: boolean;
  bom?: boolean;
  /** no line end after the TRL */
  noFinalNewline?: boolean;
  /** fixed: trailing spaces removed from the records of these types (their last columns are optional) */
  trimRecords?: string[];
}

/** A delimited field: quoted when it holds the delimiter or a quote (`""` for a quote). */
function dq(v: string | undefined): string {
  if (v === undefined) return '';
  return /[|"]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

const isReversal = (t: MessageType) => t.endsWith('_REVERSAL');

export function delimitedLines(f: FileSpec): string[] {
  const out: string[] = [`HDR|${f.type}|${f.partner ?? 'ACME-PHARMA'}|${f.created}|${f.erpFileId}`];
  let records = 0;
  const groups = f.docs ?? f.wos ?? [];
  groups.forEach((g, gi) => {
    if ('ref' in g) {
      const doc = [g.ref, g.wo, g.date, g.time ?? '', dq(g.text)];
      if (isReversal(f.type)) doc.push(g.orig ?? '', dq(g.reason));
      out.push(`DOC|${doc.join('|')}`);
      for (const l of g.lines) out.push(`LIN|${l.type}|${l.code}|${dq(l.lot)}|${l.qty}|${l.uom}|${l.extra ?? ''}`);
      records += 1 + g.lines.length;
    } else {
      out.push(`WO|${g.wo}|${g.po}|${g.poLine}|${g.type}|${g.code}|${g.lot ?? ''}|${g.qty}|${g.uom}`);
      for (const [t, p, a] of g.ms) out.push(`MS|${t}|${p}|${a ?? ''}`);
      records += 1 + g.ms.length;
    }
    if (f.blankAfter?.includes(gi)) out.push('');
  });
  out.push(`TRL|${records}`);
  return out;
}

const fixedType = (t: CodeType) => (t === 'INTERNAL' ? 'INT' : t);

export function fixedLines(f: FileSpec): string[] {
  const out: string[] = [fixedLine('HDR', { MESSAGE_TYPE: f.type, PARTNER: f.partner ?? 'ACME-PHARMA', CREATED: f.created, ERP_FILE_ID: f.erpFileId }, 87)];
  let records = 0;
  const linWidth = f.type.startsWith('MATERIALS_PRODUCED') ? 96 : f.type.startsWith('MATERIALS_CONSUMED') ? 103 : 88;
  const groups = f.docs ?? f.wos ?? [];
  groups.forEach((g, gi) => {
    if ('ref' in g) {
      const rev = isReversal(f.type);
      out.push(
        fixedLine(
          'DOC',
          {
            REFERENCE_DOC_NO: g.ref, WORK_ORDER: g.wo, DATE: g.date, TIME: g.time, DOC_TEXT: g.text,
            ...(rev ? { ORIGINAL_REFERENCE_DOC_NO: g.orig, REASON: g.reason } : {}),
          },
          rev ? 212 : 97,
        ),
      );
      for (const l of g.lines) {
        const extra =
          l.extra === undefined ? {} : f.type.startsWith('MATERIALS_CONSUMED') ? { PLANNED_QTY: qty15(l.extra) } : { EXPIRY: l.extra };
        out.push(fixedLine('LIN', { PRODUCT_CODE_TYPE: fixedType(l.type), PRODUCT_CODE: l.code, LOT: l.lot, QTY: qty15(l.qty), UOM: l.uom, ...extra }, linWidth));
      }
      records += 1 + g.lines.length;
    } else {
      out.push(
        fixedLine(
          'WO',
          { WORK_ORDER: g.wo, PO: g.po, PO_LINE: g.poLine, PRODUCT_CODE_TYPE: fixedType(g.type), PRODUCT_CODE: g.code, LOT: g.lot, QTY: qty15(g.qty), UOM: g.uom },
          149,
        ),
      );
      for (const [t, p, a] of g.ms) out.push(fixedLine('MS', { MILESTONE: t, PLANNED: p, ACTUAL: a }, 39));
      records += 1 + g.ms.length;
    }
    if (f.blankAfter?.includes(gi)) out.push('');
  });
  out.push(fixedLine('TRL', { COUNT: String(records).padStart(9, '0') }, 12));
  return out;
}

export function fileText(lines: string[], o: WriteOpts = {}): Buffer {
  const eol = o.crlf ? '\r\n' : '\n';
  const trim = new Set(o.trimRecords ?? []);
  const text = lines.map((l) => (trim.has(l.slice(0, 3).trim()) ? l.trimEnd() : l)).join(eol) + (o.noFinalNewline ? '' : eol);
  const body = Buffer.from(text, 'utf8');
  return o.bom ? Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), body]) : body;
}

// ---------------------------------------------------------------------------------------
// Product master (finished goods of company prefix 0312345, components of 0614141)
// ---------------------------------------------------------------------------------------

const P = {
  atv30: gtin('0031234567890'), // 00312345678906 atorvastatin 20 mg, bottle of 30 (GTIN-14)
  atv30case: gtin('1031234567890'), // case of 12 bottles (GTIN-14, indicator 1)
  atv90: gtin('031234567893'), // bottle of 90 (GTIN-13 form: padded to 14 in the XML)
  atvBlister: gtin('03123456780'), // blister pack (GTIN-12 / UPC-A form)
  atvSample: gtin('9638507'), // physician sample (GTIN-8 form)
  atv30b: gtin('0031234567891'), // bottle of 30, second site (GTIN-14)
  hdpeBottle: gtin('0061414100001'), // 60 cc HDPE bottle (component, GTIN-14)
  crCap: gtin('061414100002'), // child-resistant cap (component, GTIN-13 form)
  leaflet: gtin('4012345'), // patient leaflet (component, GTIN-8 form)
  ndc10: '0312-3456-78', // oral solution, NDC 4-4-2
  ndc11: '50242-0040-62', // NDC 11-digit (5-4-2) billing form
};

// ---------------------------------------------------------------------------------------
// Valid files: erp-delimited (work orders WO-1002xx, documents 490001xxxx)
// ---------------------------------------------------------------------------------------

const D_MILESTONES: FileSpec = {
  type: 'WORK_ORDER_MILESTONES',
  created: '20261125060000',
  erpFileId: 'EXP-000480',
  wos: [
    {
      wo: 'WO-100234', po: 'PO-4500098765', poLine: '10', type: 'GTIN', code: P.atv30, lot: 'LOT2026A', qty: '1200.5', uom: 'EA',
      ms: [['MATERIAL_READINESS', '20261115', '20261116'], ['PRODUCTION', '20261122', '20261124'], ['QUALITY', '20261201'], ['DELIVERY', '20261210']],
    },
    {
      wo: 'WO-100235', po: 'PO-4500098765', poLine: '20', type: 'INTERNAL', code: 'BULK-ATV-20MG', qty: '90', uom: 'KGM',
      ms: [['MATERIAL_READINESS', '20261118', '20261118'], ['PRODUCTION', '20261124']],
    },
    {
      wo: 'WO-100236', po: 'PO-4500098790', poLine: '1', type: 'NDC', code: P.ndc11, lot: 'LOT2026C', qty: '2400', uom: 'EA',
      ms: [['PRODUCTION', '20261125', '20261125'], ['DELIVERY', '20261215']],
    },
  ],
};

const D_PRODUCED: FileSpec = {
  type: 'MATERIALS_PRODUCED',
  created: '20261125101500',
  erpFileId: 'EXP-000481',
  docs: [
    {
      ref: '4900012345', wo: 'WO-100234', date: '20261124', time: '153000', text: 'Batch release|QA lot A',
      lines: [
        { type: 'GTIN', code: P.atv30, lot: 'LOT2026A', qty: '1200.5', uom: 'EA', extra: '20281130' },
        { type: 'GTIN', code: P.atv30case, lot: 'LOT2026A', qty: '100', uom: 'EA', extra: '20281130' },
        { type: 'GTIN', code: P.atv90, lot: 'LOT2026A', qty: '40', uom: 'EA', extra: '20281130' },
      ],
    },
    {
      ref: '4900012346', wo: 'WO-100235', date: '20261124', text: 'Müller Schicht 2',
      lines: [
        { type: 'INTERNAL', code: 'BULK-ATV-20MG', lot: 'LOT2026B', qty: '85.125', uom: 'KGM' },
        { type: 'GTIN', code: P.atvBlister, lot: 'LOT2026B', qty: '500', uom: 'EA', extra: '20290228' },
      ],
    },
    {
      ref: '4900012347', wo: 'WO-100236', date: '20261125', time: '061500', text: 'Line 3 "night" shift',
      lines: [
        { type: 'NDC', code: P.ndc11, lot: 'LOT2026C', qty: '2400', uom: 'EA', extra: '20281031' },
        { type: 'GTIN', code: P.atvSample, lot: 'LOT2026C', qty: '18', uom: 'EA', extra: '20281031' },
        { type: 'NDC', code: P.ndc10, lot: 'LOT2026C', qty: '12.25', uom: 'LTR', extra: '20271231' },
      ],
    },
  ],
};

const D_PRODUCED_REV: FileSpec = {
  type: 'MATERIALS_PRODUCED_REVERSAL',
  created: '20261126081000',
  erpFileId: 'EXP-000495',
  docs: [
    {
      ref: '4900012390', wo: 'WO-100234', date: '20261126', time: '080500', text: 'QA hold rework', orig: '4900012345',
      reason: 'Label misprint found at final inspection; 200 bottles destroyed',
      lines: [{ type: 'GTIN', code: P.atv30, lot: 'LOT2026A', qty: '200', uom: 'EA', extra: '20281130' }],
    },
    {
      ref: '4900012391', wo: 'WO-100235', date: '20261126', text: 'Bulk re-assay', orig: '4900012346', reason: 'Assay out of specification',
      lines: [
        { type: 'INTERNAL', code: 'BULK-ATV-20MG', lot: 'LOT2026B', qty: '85.125', uom: 'KGM' },
        { type: 'GTIN', code: P.atvBlister, lot: 'LOT2026B', qty: '120', uom: 'EA', extra: '20290228' },
      ],
    },
  ],
};

const D_ISSUED: FileSpec = {
  type: 'MATERIALS_ISSUED',
  created: '20261120070000',
  erpFileId: 'EXP-000470',
  docs: [
    {
      ref: '4900011001', wo: 'WO-100234', date: '20261120', time: '071500', text: 'Kitting line 1',
      lines: [
        { type: 'INTERNAL', code: 'API-ATORVA-CA', lot: 'RM26-0412', qty: '12.5', uom: 'KGM' },
        { type: 'INTERNAL', code: 'EXC-LACTOSE-MH', lot: 'RM26-0388', qty: '48.75', uom: 'KGM' },
        { type: 'INTERNAL', code: 'EXC-MCC-PH102', lot: 'RM26-0391', qty: '30', uom: 'KGM' },
        { type: 'GTIN', code: P.hdpeBottle, lot: 'PK26-1001', qty: '1500', uom: 'EA' },
        { type: 'GTIN', code: P.crCap, lot: 'PK26-1002', qty: '1500', uom: 'EA' },
      ],
    },
    {
      ref: '4900011002', wo: 'WO-100235', date: '20261120', time: '093000', text: 'R&D scale-up <pilot>',
      lines: [
        { type: 'INTERNAL', code: 'API-ATORVA-CA', lot: 'RM26-0413', qty: '3.25', uom: 'KGM' },
        { type: 'INTERNAL', code: 'SOLV-ETOH-96', lot: 'RM26-0500', qty: '20.5', uom: 'LTR' },
      ],
    },
    {
      ref: '4900011003', wo: 'WO-100236', date: '20261121',
      lines: [
        { type: 'INTERNAL', code: 'EXC-MGST', lot: 'RM26-0420', qty: '0.875', uom: 'KGM' },
        { type: 'GTIN', code: P.leaflet, lot: 'PK26-1010', qty: '2500', uom: 'EA' },
      ],
    },
  ],
};

const D_ISSUED_REV: FileSpec = {
  type: 'MATERIALS_ISSUED_REVERSAL',
  created: '20261121140000',
  erpFileId: 'EXP-000472',
  docs: [
    {
      ref: '4900011090', wo: 'WO-100235', date: '20261121', time: '134500', text: 'Return to stores', orig: '4900011002',
      reason: 'Excess solvent returned unopened',
      lines: [{ type: 'INTERNAL', code: 'SOLV-ETOH-96', lot: 'RM26-0500', qty: '5.5', uom: 'LTR' }],
    },
    {
      ref: '4900011091', wo: 'WO-100234', date: '20261121', orig: '4900011001',
      lines: [{ type: 'GTIN', code: P.crCap, lot: 'PK26-1002', qty: '100', uom: 'EA' }],
    },
  ],
};

const D_CONSUMED: FileSpec = {
  type: 'MATERIALS_CONSUMED',
  created: '20261125180000',
  erpFileId: 'EXP-000483',
  blankAfter: [0, 1],
  docs: [
    {
      ref: '4900013001', wo: 'WO-100234', date: '20261124', time: '160000', text: 'Batch 2026A consumption',
      lines: [
        { type: 'INTERNAL', code: 'API-ATORVA-CA', lot: 'RM26-0412', qty: '12.375', uom: 'KGM', extra: '12.5' },
        { type: 'INTERNAL', code: 'EXC-LACTOSE-MH', lot: 'RM26-0388', qty: '48.2', uom: 'KGM', extra: '48.75' },
        { type: 'INTERNAL', code: 'EXC-MCC-PH102', lot: 'RM26-0391', qty: '29.9', uom: 'KGM', extra: '30' },
        { type: 'GTIN', code: P.hdpeBottle, lot: 'PK26-1001', qty: '1488', uom: 'EA', extra: '1500' },
      ],
    },
    {
      ref: '4900013002', wo: 'WO-100235', date: '20261124',
      lines: [
        { type: 'INTERNAL', code: 'API-ATORVA-CA', lot: 'RM26-0413', qty: '3.25', uom: 'KGM' },
        { type: 'INTERNAL', code: 'SOLV-ETOH-96', lot: 'RM26-0500', qty: '15', uom: 'LTR', extra: '20.5' },
      ],
    },
    {
      ref: '4900013003', wo: 'WO-100236', date: '20261125', time: '070000', text: 'Schicht Müller',
      lines: [
        { type: 'INTERNAL', code: 'EXC-MGST', lot: 'RM26-0420', qty: '0.86', uom: 'KGM', extra: '0.875' },
        { type: 'GTIN', code: P.leaflet, lot: 'PK26-1010', qty: '2480', uom: 'EA', extra: '2500' },
      ],
    },
  ],
};

const D_CONSUMED_REV: FileSpec = {
  type: 'MATERIALS_CONSUMED_REVERSAL',
  created: '20261126100000',
  erpFileId: 'EXP-000499',
  docs: [
    {
      ref: '4900013090', wo: 'WO-100234', date: '20261126', time: '094500', text: 'Weighing correction', orig: '4900013001',
      reason: 'Scale calibration error, API over-reported',
      lines: [{ type: 'INTERNAL', code: 'API-ATORVA-CA', lot: 'RM26-0412', qty: '0.375', uom: 'KGM', extra: '12.5' }],
    },
  ],
};

// ---------------------------------------------------------------------------------------
// Valid files: erp-fixed (work orders WO-2004xx, documents 490002xxxx)
// ---------------------------------------------------------------------------------------

const F_MILESTONES: FileSpec = {
  type: 'WORK_ORDER_MILESTONES',
  created: '20261125061500',
  erpFileId: 'FIX-20261125-01',
  wos: [
    {
      wo: 'WO-200410', po: 'PO-4500099001', poLine: '10', type: 'GTIN', code: P.atv30b, lot: 'LOT2026F', qty: '5000', uom: 'EA',
      ms: [['MATERIAL_READINESS', '20261110', '20261112'], ['PRODUCTION', '20261120', '20261121'], ['QUALITY', '20261128']],
    },
    {
      wo: 'WO-200411', po: 'PO-4500099001', poLine: '20', type: 'INTERNAL', code: 'EXC-BLEND-ATV', qty: '250.5', uom: 'KGM',
      ms: [['PRODUCTION', '20261126']],
    },
    {
      wo: 'WO-200412', po: 'PO-4500099002', poLine: '1', type: 'NDC', code: P.ndc10, lot: 'LOT2026G', qty: '1200', uom: 'EA',
      ms: [['MATERIAL_READINESS', '20261120', '20261120'], ['PRODUCTION', '20261124', '20261125'], ['QUALITY', '20261201', '20261130'], ['DELIVERY', '20261205']],
    },
  ],
};

const F_PRODUCED: FileSpec = {
  type: 'MATERIALS_PRODUCED',
  created: '20261125103000',
  erpFileId: 'FIX-20261125-02',
  docs: [
    {
      ref: '4900022401', wo: 'WO-200410', date: '20261124', time: '153000', text: 'Freigabe Müller Linie 2',
      lines: [
        { type: 'GTIN', code: P.atv30b, lot: 'LOT2026F', qty: '1200.5', uom: 'EA', extra: '20281130' },
        { type: 'GTIN', code: P.atv90, lot: 'LOT2026F', qty: '350', uom: 'EA', extra: '20281130' },
        { type: 'NDC', code: P.ndc10, lot: 'LOT2026F', qty: '12.25', uom: 'EA', extra: '20281130' },
      ],
    },
    {
      ref: '4900022402', wo: 'WO-200412', date: '20261125',
      lines: [
        { type: 'NDC', code: P.ndc10, lot: 'LOT-ZÜR-07', qty: '1200', uom: 'EA', extra: '20281231' },
        { type: 'INTERNAL', code: 'BULK-ATV-20MG', lot: 'LOT-ZÜR-07', qty: '42.375', uom: 'KGM' },
      ],
    },
  ],
};

const F_PRODUCED_REV: FileSpec = {
  type: 'MATERIALS_PRODUCED_REVERSAL',
  created: '20261126090000',
  erpFileId: 'FIX-20261126-01',
  docs: [
    {
      ref: '4900022490', wo: 'WO-200410', date: '20261126', time: '084500', text: 'Nachzählung', orig: '4900022401',
      reason: 'Count correction after reconciliation of line 2',
      lines: [{ type: 'GTIN', code: P.atv30b, lot: 'LOT2026F', qty: '200.5', uom: 'EA', extra: '20281130' }],
    },
    {
      ref: '4900022491', wo: 'WO-200412', date: '20261126', orig: '4900022402',
      lines: [{ type: 'NDC', code: P.ndc10, lot: 'LOT-ZÜR-07', qty: '100', uom: 'EA', extra: '20281231' }],
    },
  ],
};

const F_ISSUED: FileSpec = {
  type: 'MATERIALS_ISSUED',
  created: '20261118055000',
  erpFileId: 'FIX-20261118-01',
  docs: [
    {
      ref: '4900022301', wo: 'WO-200410', date: '20261118', time: '060000', text: 'Kitting',
      lines: [
        { type: 'INTERNAL', code: 'API-ATORVA-CA', lot: 'RM26-0601', qty: '25', uom: 'KGM' },
        { type: 'INTERNAL', code: 'EXC-LACTOSE-MH', lot: 'RM26-0602', qty: '96.5', uom: 'KGM' },
        { type: 'GTIN', code: P.hdpeBottle, lot: 'PK26-2001', qty: '5000', uom: 'EA' },
      ],
    },
    {
      ref: '4900022302', wo: 'WO-200411', date: '20261119',
      lines: [{ type: 'INTERNAL', code: 'EXC-MGST', lot: 'RM26-0603', qty: '1.25', uom: 'KGM' }],
    },
  ],
};

const F_ISSUED_REV: FileSpec = {
  type: 'MATERIALS_ISSUED_REVERSAL',
  created: '20261119120000',
  erpFileId: 'FIX-20261119-01',
  docs: [
    {
      ref: '4900022390', wo: 'WO-200410', date: '20261119', time: '113000', text: 'Return to supplier', orig: '4900022301',
      reason: 'Damaged bottles returned to supplier',
      lines: [{ type: 'GTIN', code: P.hdpeBottle, lot: 'PK26-2001', qty: '250', uom: 'EA' }],
    },
  ],
};

const F_CONSUMED: FileSpec = {
  type: 'MATERIALS_CONSUMED',
  created: '20261126180000',
  erpFileId: 'FIX-20261126-02',
  docs: [
    {
      ref: '4900022501', wo: 'WO-200410', date: '20261124', time: '170000', text: 'Consumption 2026F',
      lines: [
        { type: 'INTERNAL', code: 'API-ATORVA-CA', lot: 'RM26-0601', qty: '24.75', uom: 'KGM', extra: '25' },
        { type: 'INTERNAL', code: 'EXC-LACTOSE-MH', lot: 'RM26-0602', qty: '96.5', uom: 'KGM', extra: '96.5' },
        { type: 'GTIN', code: P.hdpeBottle, lot: 'PK26-2001', qty: '4740', uom: 'EA', extra: '5000' },
      ],
    },
    {
      ref: '4900022502', wo: 'WO-200411', date: '20261126',
      lines: [{ type: 'INTERNAL', code: 'EXC-MGST', lot: 'RM26-0603', qty: '1.2', uom: 'KGM' }],
    },
  ],
};

const F_CONSUMED_REV: FileSpec = {
  type: 'MATERIALS_CONSUMED_REVERSAL',
  created: '20261127080000',
  erpFileId: 'FIX-20261127-01',
  docs: [
    {
      ref: '4900022590', wo: 'WO-200410', date: '20261127', time: '075500', orig: '4900022501', reason: 'Spillage recorded twice',
      lines: [{ type: 'INTERNAL', code: 'API-ATORVA-CA', lot: 'RM26-0601', qty: '0.75', uom: 'KGM', extra: '25' }],
    },
  ],
};

interface ValidFile {
  file: string;
  spec: FileSpec;
  opts?: WriteOpts;
  notes: string;
}

const kebab = (t: MessageType) => t.toLowerCase().replace(/_/g, '-');

const VALID: ValidFile[] = [
  { file: 'd', spec: D_MILESTONES, notes: 'three work orders; milestones with and without ACTUAL; GTIN-14, INTERNAL (no lot), NDC 11' },
  { file: 'd', spec: D_PRODUCED, notes: 'quoted `|` and `""` in DOC_TEXT, "Müller", GTIN-14/13/12/8, NDC 10 and 11 with dashes, INTERNAL, decimals, expiry dates' },
  { file: 'd', spec: D_PRODUCED_REV, notes: 'reverses 4900012345 (200 of 1200.5) and 4900012346 (all of the bulk, 120 of 500 blisters)' },
  { file: 'd', spec: D_ISSUED, opts: { crlf: true }, notes: 'CRLF line ends; `&` and `<>` in DOC_TEXT; KGM/LTR/EA; empty TIME and DOC_TEXT' },
  { file: 'd', spec: D_ISSUED_REV, notes: 'reverses 4900011002 (5.5 of 20.5 LTR) and 4900011001 (100 of 1500 caps, no reason)' },
  { file: 'd', spec: D_CONSUMED, opts: { bom: true }, notes: 'UTF-8 BOM; blank lines between documents (not counted); PLANNED_QTY present and absent; "Müller"' },
  { file: 'd', spec: D_CONSUMED_REV, notes: 'reverses 0.375 KGM of 4900013001 line 1' },
  { file: 'f', spec: F_MILESTONES, opts: { bom: true, trimRecords: ['HDR', 'MS'] }, notes: 'UTF-8 BOM; four milestones, QUALITY without ACTUAL; product type `INT`; HDR and MS lines without trailing spaces' },
  { file: 'f', spec: F_PRODUCED, notes: '`000000001200500` = 1200.5; "Müller" in DOC_TEXT and "LOT-ZÜR-07" before QTY (columns count characters)' },
  { file: 'f', spec: F_PRODUCED_REV, notes: 'reverses 4900022401 (200.5 of 1200.5) and 4900022402 (100 of 1200)' },
  { file: 'f', spec: F_ISSUED, opts: { noFinalNewline: true }, notes: 'no line end after the TRL' },
  { file: 'f', spec: F_ISSUED_REV, opts: { trimRecords: ['HDR', 'DOC', 'TRL'] }, notes: 'reverses 250 of 5000 bottles of 4900022301; HDR and DOC lines end after their last value (no trailing spaces)' },
  { file: 'f', spec: F_CONSUMED, opts: { crlf: true }, notes: 'CRLF line ends; 15-column PLANNED_QTY' },
  { file: 'f', spec: F_CONSUMED_REV, notes: 'reverses 0.75 KGM of 4900022501 line 1; no DOC_TEXT' },
].map((v) => ({ ...v, file: `${kebab(v.spec.type)}.${v.file === 'd' ? 'erp-delimited' : 'erp-fixed'}.txt` }));

// ---------------------------------------------------------------------------------------
// Invalid files: one problem class each (the test holds the expected line and field)
// ---------------------------------------------------------------------------------------

interface InvalidFile {
  file: string;
  content: string[] | Buffer;
  opts?: WriteOpts;
  problem: string;
}

const HDR = (type = 'MATERIALS_PRODUCED', partner = 'ACME-PHARMA', created = '20261125101500', id = 'EXP-900001') =>
  `HDR|${type}|${partner}|${created}|${id}`;

/** A small valid Materials Produced file, 7 lines, for variants with one thing wrong. */
function producedBase(): string[] {
  return [
    HDR(),
    'DOC|4900019001|WO-100301|20261124|153000|Batch release',
    `LIN|GTIN|${P.atv30}|LOT2026X|100|EA|20281130`,
    `LIN|NDC|${P.ndc10}|LOT2026X|50|EA|20281130`,
    'DOC|4900019002|WO-100302|20261124||',
    'LIN|INTERNAL|BULK-ATV-20MG|LOT2026Y|12.5|KGM|',
    'TRL|5',
  ];
}
/** producedBase with line n (1-based) replaced. */
function producedWith(changes: Record<number, string>): string[] {
  const l = producedBase();
  for (const [n, v] of Object.entries(changes)) l[Number(n) - 1] = v;
  return l;
}

function milestonesBase(): string[] {
  return [
    HDR('WORK_ORDER_MILESTONES', 'ACME-PHARMA', '20261125060000', 'EXP-900100'),
    `WO|WO-100401|PO-4500098800|10|GTIN|${P.atv30}|LOT2026M|1200|EA`,
    'MS|MATERIAL_READINESS|20261115|20261116',
    'MS|PRODUCTION|20261122|',
    'MS|QUALITY|20261201|',
    'TRL|4',
  ];
}

/** 1 KiB of deterministic pseudo-random bytes (xorshift32), a NUL first and some line feeds. */
function garbage(): Buffer {
  let x = 0x2545f491;
  const b = Buffer.alloc(1024);
  for (let i = 0; i < b.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b[i] = x & 0xff;
  }
  b[0] = 0x00;
  b[1] = 0x01;
  for (let i = 100; i < b.length; i += 100) b[i] = 0x0a;
  return b;
}

function fixedProducedBase(): string[] {
  return fixedLines({
    type: 'MATERIALS_PRODUCED',
    created: '20261125103000',
    erpFileId: 'FIX-900001',
    docs: [
      {
        ref: '4900029001', wo: 'WO-200501', date: '20261124', time: '153000', text: 'Batch release',
        lines: [
          { type: 'GTIN', code: P.atv30b, lot: 'LOT2026Z', qty: '1200.5', uom: 'EA', extra: '20281130' },
          { type: 'INTERNAL', code: 'BULK-ATV-20MG', lot: 'LOT2026Z', qty: '42.375', uom: 'KGM' },
        ],
      },
    ],
  });
}

const L = (n: number, ch = 'X') => ch.repeat(n);

const INVALID: InvalidFile[] = [
  // --- trailer and file structure
  { file: 'trailer-count-wrong.erp-delimited.txt', content: producedWith({ 7: 'TRL|4' }), problem: 'TRL says 4 records, there are 5' },
  { file: 'trailer-count-not-a-number.erp-delimited.txt', content: producedWith({ 7: 'TRL|five' }), problem: 'TRL COUNT is not a number' },
  { file: 'trailer-missing-truncated.erp-delimited.txt', content: producedBase().slice(0, 4), problem: 'file cut after line 4: no TRL' },
  {
    file: 'concatenated-text-after-trailer.erp-delimited.txt',
    content: [...producedBase(), HDR('MATERIALS_PRODUCED', 'ACME-PHARMA', '20261125111500', 'EXP-900002'), 'DOC|4900019003|WO-100303|20261125||', `LIN|GTIN|${P.atv30}|LOT2026W|10|EA|`, 'TRL|2'],
    problem: 'two complete files concatenated: records after the first TRL',
  },
  {
    file: 'concatenated-second-header.erp-delimited.txt',
    content: [
      ...producedBase().slice(0, 3),
      HDR('MATERIALS_PRODUCED', 'ACME-PHARMA', '20261125111500', 'EXP-900002'),
      'DOC|4900019003|WO-100303|20261125||',
      `LIN|GTIN|${P.atv30}|LOT2026W|10|EA|`,
      'TRL|5',
    ],
    problem: 'the first file lost its TRL: a second HDR on line 4 (the count matches the records between)',
  },
  { file: 'empty-file.erp-delimited.txt', content: Buffer.alloc(0), problem: '0 bytes' },
  { file: 'blank-lines-only.erp-delimited.txt', content: Buffer.from('\n\n   \n\r\n\t\n\n'), problem: 'only blank lines' },
  { file: 'header-and-trailer-only.erp-delimited.txt', content: [HDR(), 'TRL|0'], problem: 'no DOC at all' },
  { file: 'binary-garbage.erp-delimited.txt', content: garbage(), problem: 'random bytes with NULs' },
  {
    file: 'wrong-encoding-latin1.erp-delimited.txt',
    content: Buffer.from(fileText(producedWith({ 2: 'DOC|4900019001|WO-100301|20261124|153000|Schicht M\u00fcller' })).toString('utf8'), 'latin1'),
    problem: 'line 2 written in latin1 (0xFC for ü) in a utf-8 layout',
  },
  { file: 'control-character.erp-delimited.txt', content: producedWith({ 3: `LIN|GTIN|${P.atv30}|LOT\u00072026X|100|EA|20281130` }), problem: 'a BEL (0x07) inside the lot on line 3' },
  { file: 'line-too-long.erp-delimited.txt', content: producedWith({ 5: `DOC|4900019002|WO-100302|20261124||${L(70000)}` }), problem: 'line 5 is 70 kB, over maxLineBytes (65536)' },
  { file: 'unknown-record-type.erp-delimited.txt', content: [...producedBase().slice(0, 3), 'XYZ|4900019001|something', ...producedBase().slice(3, 6), 'TRL|6'], problem: 'XYZ record on line 4' },
  {
    file: 'header-too-many-fields.erp-delimited.txt',
    content: producedWith({ 1: `${HDR()}|2026-11-25` }),
    problem: 'HDR with a fifth field; the rest of the file is fine (the TRL count is right)',
  },
  { file: 'header-not-first.erp-delimited.txt', content: [...producedBase().slice(1, 6), 'TRL|4'], problem: 'the file starts with a DOC' },
  { file: 'lin-before-doc.erp-delimited.txt', content: [HDR(), `LIN|GTIN|${P.atv30}|LOT2026X|100|EA|20281130`, ...producedBase().slice(1, 6), 'TRL|6'], problem: 'a LIN on line 2 before any DOC' },
  { file: 'doc-without-lin.erp-delimited.txt', content: [...producedBase().slice(0, 4), 'DOC|4900019005|WO-100305|20261124||', ...producedBase().slice(4, 6), 'TRL|6'], problem: 'DOC on line 5 has no LIN' },
  {
    file: 'mixed-message-types.erp-delimited.txt',
    content: [
      ...producedBase().slice(0, 4),
      `WO|WO-100301|PO-4500098800|10|GTIN|${P.atv30}|LOT2026X|150|EA`,
      'MS|PRODUCTION|20261124|20261124',
      ...producedBase().slice(4, 6),
      'TRL|7',
    ],
    problem: 'WO and MS records (lines 5 and 6) inside a MATERIALS_PRODUCED file',
  },
  { file: 'doc-too-many-fields.erp-delimited.txt', content: producedWith({ 2: 'DOC|4900019001|WO-100301|20261124|153000|Batch release|||extra' }), problem: 'DOC with 8 fields' },
  { file: 'quote-unterminated.erp-delimited.txt', content: producedWith({ 2: 'DOC|4900019001|WO-100301|20261124|153000|"Batch release|QA' }), problem: 'an opening quote that never closes on line 2' },
  { file: 'reference-doc-no-twice.erp-delimited.txt', content: producedWith({ 5: 'DOC|4900019001|WO-100302|20261124||' }), problem: 'DOC 4900019001 on lines 2 and 5' },
  // --- header
  { file: 'partner-unknown.erp-delimited.txt', content: producedWith({ 1: HDR('MATERIALS_PRODUCED', 'GLOBEX-PHARMA') }), problem: 'PARTNER GLOBEX-PHARMA is not configured' },
  { file: 'message-type-unknown.erp-delimited.txt', content: producedWith({ 1: HDR('MATERIALS_SHIPPED') }), problem: 'MESSAGE_TYPE MATERIALS_SHIPPED' },
  { file: 'created-not-a-date-time.erp-delimited.txt', content: producedWith({ 1: HDR('MATERIALS_PRODUCED', 'ACME-PHARMA', '20261325101500') }), problem: 'CREATED with month 13' },
  { file: 'created-wrong-format.erp-delimited.txt', content: producedWith({ 1: HDR('MATERIALS_PRODUCED', 'ACME-PHARMA', '2026-11-25T10:15') }), problem: 'CREATED as ISO text' },
  { file: 'erp-file-id-missing.erp-delimited.txt', content: producedWith({ 1: 'HDR|MATERIALS_PRODUCED|ACME-PHARMA|20261125101500|' }), problem: 'empty ERP_FILE_ID' },
  // --- DOC fields
  { file: 'date-february-30.erp-delimited.txt', content: producedWith({ 2: 'DOC|4900019001|WO-100301|20260230|153000|Batch release' }), problem: 'DATE 20260230' },
  { file: 'date-month-00.erp-delimited.txt', content: producedWith({ 3: `LIN|GTIN|${P.atv30}|LOT2026X|100|EA|20280015` }), problem: 'EXPIRY with month 00' },
  { file: 'date-year-0000.erp-delimited.txt', content: producedWith({ 2: 'DOC|4900019001|WO-100301|00001124|153000|Batch release' }), problem: 'DATE in year 0000' },
  { file: 'date-non-digits.erp-delimited.txt', content: producedWith({ 2: 'DOC|4900019001|WO-100301|24.11.26|153000|Batch release' }), problem: 'DATE 24.11.26' },
  { file: 'date-missing.erp-delimited.txt', content: producedWith({ 5: 'DOC|4900019002|WO-100302|||' }), problem: 'empty DATE (required)' },
  { file: 'time-hour-25.erp-delimited.txt', content: producedWith({ 2: 'DOC|4900019001|WO-100301|20261124|250000|Batch release' }), problem: 'TIME 250000' },
  { file: 'reference-doc-no-36-chars.erp-delimited.txt', content: producedWith({ 2: `DOC|${L(26, '4')}0123456789|WO-100301|20261124|153000|Batch release` }), problem: 'REFERENCE_DOC_NO of 36 characters' },
  { file: 'doc-text-26-chars.erp-delimited.txt', content: producedWith({ 2: 'DOC|4900019001|WO-100301|20261124|153000|Batch release, QA lot A-26' }), problem: 'DOC_TEXT of 26 characters' },
  { file: 'work-order-21-chars.erp-delimited.txt', content: producedWith({ 5: `DOC|4900019002|WO-${L(18, '1')}|20261124||` }), problem: 'WORK_ORDER of 21 characters' },
  {
    file: 'base-doc-with-original.erp-delimited.txt',
    content: producedWith({ 2: 'DOC|4900019001|WO-100301|20261124|153000|Batch release|4900012345|' }),
    problem: 'a MATERIALS_PRODUCED DOC carries ORIGINAL_REFERENCE_DOC_NO',
  },
  {
    file: 'reversal-original-missing.erp-delimited.txt',
    content: [
      HDR('MATERIALS_PRODUCED_REVERSAL', 'ACME-PHARMA', '20261126081000', 'EXP-900200'),
      'DOC|4900019090|WO-100301|20261126|080500|QA hold||Label misprint',
      `LIN|GTIN|${P.atv30}|LOT2026X|20|EA|20281130`,
      'TRL|2',
    ],
    problem: 'reversal DOC with an empty ORIGINAL_REFERENCE_DOC_NO',
  },
  {
    file: 'reversal-reason-81-chars.erp-delimited.txt',
    content: [
      HDR('MATERIALS_ISSUED_REVERSAL', 'ACME-PHARMA', '20261121140000', 'EXP-900201'),
      `DOC|4900019091|WO-100235|20261121|134500|Return to stores|4900011002|${L(81, 'r')}`,
      'LIN|INTERNAL|SOLV-ETOH-96|RM26-0500|5.5|LTR|',
      'TRL|2',
    ],
    problem: 'REASON of 81 characters',
  },
  // --- LIN fields
  { file: 'gtin-check-digit-wrong.erp-delimited.txt', content: producedWith({ 3: 'LIN|GTIN|00312345678907|LOT2026X|100|EA|20281130' }), problem: 'GTIN 00312345678907 (check digit is 6)' },
  { file: 'gtin-11-digits.erp-delimited.txt', content: producedWith({ 3: 'LIN|GTIN|03123456789|LOT2026X|100|EA|20281130' }), problem: 'GTIN of 11 digits' },
  { file: 'ndc-9-digits.erp-delimited.txt', content: producedWith({ 4: 'LIN|NDC|0312-345-67|LOT2026X|50|EA|20281130' }), problem: 'NDC of 9 digits' },
  { file: 'internal-code-41-chars.erp-delimited.txt', content: producedWith({ 6: `LIN|INTERNAL|BULK-${L(36, 'A')}|LOT2026Y|12.5|KGM|` }), problem: 'INTERNAL code of 41 characters' },
  { file: 'product-code-type-unknown.erp-delimited.txt', content: producedWith({ 3: `LIN|UPC|${P.atv30}|LOT2026X|100|EA|20281130` }), problem: 'PRODUCT_CODE_TYPE UPC' },
  { file: 'lot-missing.erp-delimited.txt', content: producedWith({ 4: `LIN|NDC|${P.ndc10}||50|EA|20281130` }), problem: 'empty LOT' },
  { file: 'lot-21-chars.erp-delimited.txt', content: producedWith({ 4: `LIN|NDC|${P.ndc10}|LOT2026X-0000000000-1|50|EA|20281130` }), problem: 'LOT of 21 characters' },
  { file: 'qty-comma-decimal-separator.erp-delimited.txt', content: producedWith({ 6: 'LIN|INTERNAL|BULK-ATV-20MG|LOT2026Y|12,5|KGM|' }), problem: 'QTY 12,5' },
  { file: 'qty-zero.erp-delimited.txt', content: producedWith({ 3: `LIN|GTIN|${P.atv30}|LOT2026X|0|EA|20281130` }), problem: 'QTY 0' },
  { file: 'qty-four-decimals.erp-delimited.txt', content: producedWith({ 6: 'LIN|INTERNAL|BULK-ATV-20MG|LOT2026Y|12.5005|KGM|' }), problem: 'QTY with 4 decimals' },
  { file: 'qty-negative.erp-delimited.txt', content: producedWith({ 4: `LIN|NDC|${P.ndc10}|LOT2026X|-50|EA|20281130` }), problem: 'QTY -50' },
  { file: 'uom-each-lowercase.erp-delimited.txt', content: producedWith({ 3: `LIN|GTIN|${P.atv30}|LOT2026X|100|each|20281130` }), problem: 'UOM "each"' },
  {
    file: 'issued-line-with-expiry.erp-delimited.txt',
    content: [
      HDR('MATERIALS_ISSUED', 'ACME-PHARMA', '20261120070000', 'EXP-900300'),
      'DOC|4900019101|WO-100234|20261120|071500|Kitting line 1',
      'LIN|INTERNAL|API-ATORVA-CA|RM26-0412|12.5|KGM|20281130',
      'TRL|2',
    ],
    problem: 'a MATERIALS_ISSUED line carries a value in the EXPIRY/PLANNED_QTY slot',
  },
  {
    file: 'consumed-planned-qty-not-a-number.erp-delimited.txt',
    content: [
      HDR('MATERIALS_CONSUMED', 'ACME-PHARMA', '20261125180000', 'EXP-900301'),
      'DOC|4900019201|WO-100234|20261124|160000|',
      'LIN|INTERNAL|API-ATORVA-CA|RM26-0412|12.375|KGM|12.5',
      'LIN|INTERNAL|EXC-LACTOSE-MH|RM26-0388|48.2|KGM|n/a',
      'TRL|3',
    ],
    problem: 'PLANNED_QTY "n/a"',
  },
  // --- Work Order Milestones
  { file: 'milestone-twice.erp-delimited.txt', content: [...milestonesBase().slice(0, 5), 'MS|PRODUCTION|20261123|', 'TRL|5'], problem: 'PRODUCTION on lines 4 and 6' },
  {
    file: 'milestones-five.erp-delimited.txt',
    content: [...milestonesBase().slice(0, 5), 'MS|DELIVERY|20261210|', 'MS|DELIVERY|20261212|', 'TRL|6'],
    problem: 'five MS records (DELIVERY twice)',
  },
  { file: 'milestone-type-unknown.erp-delimited.txt', content: milestonesBase().map((l, i) => (i === 4 ? 'MS|PACKAGING|20261201|' : l)), problem: 'MILESTONE PACKAGING' },
  { file: 'milestone-actual-not-a-date.erp-delimited.txt', content: milestonesBase().map((l, i) => (i === 2 ? 'MS|MATERIAL_READINESS|20261115|20261131' : l)), problem: 'ACTUAL 20261131' },
  { file: 'work-order-without-milestones.erp-delimited.txt', content: [...milestonesBase().slice(0, 5), `WO|WO-100402|PO-4500098800|20|INTERNAL|BULK-ATV-20MG||90|KGM`, 'TRL|5'], problem: 'WO on line 6 has no MS' },
  { file: 'po-line-not-digits.erp-delimited.txt', content: milestonesBase().map((l, i) => (i === 1 ? `WO|WO-100401|PO-4500098800|10a|GTIN|${P.atv30}|LOT2026M|1200|EA` : l)), problem: 'PO_LINE 10a' },
  // --- several problems at once: every one must be reported
  {
    file: 'several-problems.erp-delimited.txt',
    content: [
      HDR(),
      'DOC|4900019001|WO-100301|20261131|153000|Batch release',
      `LIN|GTIN|00312345678900|LOT2026X|100|EA|20281130`,
      `LIN|NDC|${P.ndc10}|LOT2026X|12,5|EA|20281130`,
      'ABC|unexpected',
      'DOC|4900019002|WO-100302|20261124|246000|',
      'LIN|INTERNAL|BULK-ATV-20MG|LOT2026Y|12.5|kg|',
      'TRL|7',
    ],
    problem: 'bad DATE (2), bad GTIN (3), comma QTY (4), unknown record (5), bad TIME (6), bad UOM (7), TRL count (8)',
  },
  {
    file: 'several-problems-with-header.erp-delimited.txt',
    content: [
      HDR('MATERIALS_PRODUCED', 'ACME-PHARMA', '20261125991500'),
      'DOC|4900019001|WO-100301|20260229|153000|Batch release',
      `LIN|GTIN|${P.atv30}|LOT2026X|0|EA|20281130`,
      'TRL|2',
    ],
    problem: 'bad CREATED (1) and, under the known type and partner, bad DATE (2) and QTY (3)',
  },
  // --- erp-fixed
  {
    file: 'lin-cut-before-qty.erp-fixed.txt',
    content: fixedProducedBase().map((l, i) => (i === 2 ? l.slice(0, 60).trimEnd() : l)),
    problem: 'LIN on line 3 ends inside LOT (column 58): QTY and UOM missing',
  },
  {
    file: 'lin-cut-inside-qty.erp-fixed.txt',
    content: fixedProducedBase().map((l, i) => (i === 3 ? l.slice(0, 80) : l)),
    problem: 'LIN on line 4 ends at column 80, inside QTY (71-85)',
  },
  {
    file: 'qty-not-digits.erp-fixed.txt',
    content: fixedProducedBase().map((l, i) => (i === 2 ? l.slice(0, 70) + '000000001200.50' + l.slice(85) : l)),
    problem: 'QTY with a decimal point in an implied-decimals field',
  },
  {
    file: 'unknown-record-type.erp-fixed.txt',
    content: (() => {
      const b = fixedProducedBase();
      return [...b.slice(0, 3), 'LNI' + b[3]!.slice(3), b[4]!];
    })(),
    problem: 'record type LNI on line 4',
  },
  {
    file: 'trailer-count-wrong.erp-fixed.txt',
    content: fixedProducedBase().map((l, i, a) => (i === a.length - 1 ? fixedLine('TRL', { COUNT: '000000004' }, 12) : l)),
    problem: 'TRL count 4, there are 3',
  },
  {
    file: 'gtin-check-digit-wrong.erp-fixed.txt',
    content: fixedProducedBase().map((l, i) => (i === 2 ? l.replace(P.atv30b, P.atv30b.slice(0, 13) + ((Number(P.atv30b[13]) + 1) % 10)) : l)),
    problem: 'GTIN check digit off by one on line 3',
  },
  {
    file: 'milestone-date-month-13.erp-fixed.txt',
    content: fixedLines({
      type: 'WORK_ORDER_MILESTONES',
      created: '20261125061500',
      erpFileId: 'FIX-900100',
      wos: [{ wo: 'WO-200501', po: 'PO-4500099101', poLine: '10', type: 'GTIN', code: P.atv30b, lot: 'LOT2026Z', qty: '100', uom: 'EA', ms: [['PRODUCTION', '20261320']] }],
    }),
    problem: 'PLANNED 20261320',
  },
  {
    file: 'several-problems.erp-fixed.txt',
    content: (() => {
      const b = fixedProducedBase();
      const doc = b[1]!.slice(0, 58) + '20260931' + b[1]!.slice(66); // DATE: September has 30 days
      const lin = b[2]!.slice(0, 85) + 'ea ' + b[2]!.slice(88); // UOM
      const lin2 = b[3]!.slice(0, 3) + 'UPC    ' + b[3]!.slice(10); // PRODUCT_CODE_TYPE
      return [b[0]!, doc, lin, lin2, fixedLine('TRL', { COUNT: '000000009' }, 12)];
    })(),
    problem: 'DATE (2), UOM (3), PRODUCT_CODE_TYPE (4), TRL count (5)',
  },
];

/** Writes every fixture file and both READMEs. */
export function writeFixtures(): void {
  fs.mkdirSync(VALID_DIR, { recursive: true });
  fs.mkdirSync(INVALID_DIR, { recursive: true });
  const names = new Set<string>();
  for (const v of VALID) {
    const lines = layoutOf(v.file) === 'erp-fixed' ? fixedLines(v.spec) : delimitedLines(v.spec);
    fs.writeFileSync(path.join(VALID_DIR, v.file), fileText(lines, v.opts));
    names.add(v.file);
  }
  const rows = VALID.map((v) => {
    const groups = (v.spec.docs ?? v.spec.wos ?? []).length;
    return `| \`${v.file}\` | ${v.spec.erpFileId} | ${groups} | ${v.notes.replace(/\|/g, '\\|')} |`;
  });
  fs.writeFileSync(
    path.join(VALID_DIR, 'README.md'),
    [
      '# Valid flat files',
      '',
      'One file per message type and layout, partner ACME-PHARMA. Each converts without a',
      'problem; `test/fixtures.test.ts` checks the message count and validates every XML with',
      '`xmllint --schema xsd/<CODE>.xsd`. Generated by `npx tsx test/support/fixtures.ts`',
      '(edit the data there, not the files). Every GTIN has a correct GS1 check digit; the',
      'reversals reverse documents of the base file of the same layout (same product and lot,',
      'at most the original quantity). The two layouts use different document and work order',
      'numbers (delimited 490001xxxx / WO-1002xx, fixed 490002xxxx / WO-2004xx).',
      '',
      '| file | ERP file id | messages | what it exercises |',
      '|---|---|---|---|',
      ...rows,
      '',
    ].join('\n'),
  );
  for (const inv of INVALID) {
    if (names.has(inv.file)) throw new Error(`duplicate fixture name ${inv.file}`);
    names.add(inv.file);
    fs.writeFileSync(path.join(INVALID_DIR, inv.file), Buffer.isBuffer(inv.content) ? inv.content : fileText(inv.content, inv.opts));
  }
  fs.writeFileSync(
    path.join(INVALID_DIR, 'README.md'),
    [
      '# Invalid flat files',
      '',
      'Each file has one class of problem (the `several-problems*` files have several); the',
      'expected line and field of every problem are in `test/fixtures.test.ts`. Generated by',
      '`npx tsx test/support/fixtures.ts`.',
      '',
      '| file | problem |',
      '|---|---|',
      ...INVALID.map((i) => `| \`${i.file}\` | ${i.problem.replace(/\|/g, '\\|')} |`),
      '',
    ].join('\n'),
  );
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  writeFixtures();
  console.log(`wrote ${VALID.length} valid and ${INVALID.length} invalid fixtures under ${FIXTURES}`);
}

/** A site's stricter copy of the shipped XSDs under `dir` (work order numbers WO- and digits
 * only, which the mapping accepts): the path of its MATERIALS_PRODUCED.xsd, to put in a config. */
export function strictWorkOrderXsd(dir: string): string {
  fs.cpSync(path.join(ROOT, 'xsd'), dir, { recursive: true });
  const file = path.join(dir, 'MATERIALS_PRODUCED.xsd');
  const xsd = fs.readFileSync(file, 'utf8');
  const strict = xsd.replace(
    '<xs:element name="WorkOrderNumber" type="tns:String1to20"/>',
    '<xs:element name="WorkOrderNumber"><xs:simpleType><xs:restriction base="xs:string"><xs:pattern value="WO-[0-9]+"/></xs:restriction></xs:simpleType></xs:element>',
  );
  if (strict === xsd) throw new Error(`${file}: the WorkOrderNumber element to restrict is not there any more`);
  fs.writeFileSync(file, strict);
  return file;
}
