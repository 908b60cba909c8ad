// The shipped XSDs (xsd/) and the libxml2-wasm wrapper (src/xml/: schema.ts, untrusted.ts).
// Every instance is checked by our validator and, for the XSDs themselves, by the real xmllint
// (the benchmark validates with xmllint, so the schemas must load and agree there too).
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSchema, validateDoc, type XmlIssue } from '../src/xml/schema.js';
import { parseUntrusted } from '../src/xml/untrusted.js';
import { parseAck } from '../src/acks/parse.js';
import { diag } from 'libxml2-wasm';

const XSD_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../xsd');
const CMN = 'urn:tracelink:mapper:sl:commontypes';
const IE = 'urn:tracelink:mapper:sl:processing_response';
const xsdOf = (code: string): string => path.join(XSD_DIR, `${code}.xsd`);
const nsOf = (code: string): string => `urn:tracelink:mapper:sl:${code.toLowerCase()}`;

// ---------------------------------------------------------------------------------------------
// builders: an element tree as [name, content] pairs; undefined content = element omitted

type Node = [name: string, content: string | Node[] | undefined, attrs?: Record<string, string>];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function render(nodes: Node[], indent = '  '): string {
  let out = '';
  for (const [name, content, attrs] of nodes) {
    if (content === undefined) continue;
    const a = Object.entries(attrs ?? {}).map(([k, v]) => ` ${k}="${esc(v)}"`).join('');
    out +=
      typeof content === 'string'
        ? `${indent}<${name}${a}>${esc(content)}</${name}>\n`
        : `${indent}<${name}${a}>\n${render(content, indent + '  ')}${indent}</${name}>\n`;
  }
  return out;
}

function envelope(transactionType: string, over: Record<string, string> = {}): Node[] {
  const v = {
    Version: '1.0',
    FileSenderNumber: '0312345000001',
    FileReceiverNumber: '0614141000005',
    UsageIndicator: 'TEST',
    FileTransactionType: transactionType,
    FileControlNumber: 'C00000000042',
    FileDate: '2026-11-25',
    FileTime: '10:15:00Z',
    ...over,
  };
  return Object.entries(v).map(([k, x]): Node => [`cmn:${k}`, x]);
}

/** a complete message, the root in its namespace as default namespace, cmn prefixed */
function message(code: string, root: string, transactionType: string, body: Node[]): string {
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<${root} xmlns="${nsOf(code)}" xmlns:cmn="${CMN}">\n` +
    render([
      ['ControlFileHeader', envelope(transactionType)],
      ['MessageBody', body],
    ]) +
    `</${root}>\n`
  );
}

function line(n: number, extra: Node[] = [], product: Node = ['ProductCode', '00312345678906', { type: 'GTIN' }]): Node[] {
  return [
    ['LineNumber', String(n)],
    product,
    ['LotNumber', `LOT2026A${n}`],
    ['Quantity', '1200.5'],
    ['UnitOfMeasure', 'EA'],
    ...extra,
  ];
}

const PARTIES: Node[] = [
  ['CustomerNumber', 'CUST-1'],
  ['SupplierNumber', ''], // 0..80: empty allowed
  ['ShipToNumber', 'SHIP-9'],
];

const VALID: Record<string, string> = {
  MATERIALS_PRODUCED: message('MATERIALS_PRODUCED', 'TL_XML_MaterialsProduced', 'MATPRODUCED', [
    [
      'MaterialsProducedHeaderRecord',
      [
        ...PARTIES,
        ['DateOfProduction', '2026-11-24'],
        ['TimeOfProduction', '15:30:00'],
        ['ReferenceDocumentNumber', '4900012345'],
        ['DocumentText', 'Batch release'],
        ['WorkOrderNumber', 'WO-100234'],
      ],
    ],
    ['MaterialsProducedLineItem', line(1, [['ExpirationDate', '2028-11-30']])],
    ['MaterialsProducedLineItem', line(2)],
  ]),
  MATERIALS_ISSUED: message('MATERIALS_ISSUED', 'TL_XML_MaterialsIssue', 'MATISSUED', [
    [
      'MaterialsIssue_HeaderRecord',
      [
        ['DateOfIssue', '2026-11-24'],
        ['ReferenceDocumentNumber', '4900012346'],
        ['WorkOrderNumber', 'WO-100234'],
      ],
    ],
    ['MaterialsIssueLineItem', line(1)],
  ]),
  MATERIALS_CONSUMED: message('MATERIALS_CONSUMED', 'TL_XML_MatConsumed', 'MATCONSUMED', [
    [
      'MaterialsConsumed_HeaderRecord',
      [
        ...PARTIES,
        ['DateOfConsumption', '2026-11-24'],
        ['TimeOfConsumption', '08:00:00'],
        ['ReferenceDocumentNumber', '4900012347'],
        ['WorkOrderNumber', 'WO-100234'],
      ],
    ],
    ['MaterialsConsumedLineItem', line(1, [['PlannedQuantity', '1250']])],
    ['MaterialsConsumedLineItem', line(2)],
  ]),
  WORK_ORDER_MILESTONES: message('WORK_ORDER_MILESTONES', 'TL_XML_WorkOrderMilestones', 'WOMILESTONES', [
    [
      'WorkOrderMilestones_HeaderRecord',
      [
        ['WorkOrderNumber', 'WO-100234'],
        ['PurchaseOrderNumber', 'PO-4500001234'],
        ['PurchaseOrderLineNumber', '10'],
        ['ProductCode', '0312345678', { type: 'NDC' }],
        ['LotNumber', 'LOT2026A'],
        ['Quantity', '5000'],
        ['UnitOfMeasure', 'EA'],
      ],
    ],
    ['Milestone', [['MilestoneType', 'MATERIAL_READINESS'], ['PlannedDate', '2026-11-01'], ['ActualDate', '2026-11-02']]],
    ['Milestone', [['MilestoneType', 'PRODUCTION'], ['PlannedDate', '2026-11-20']]],
    ['Milestone', [['MilestoneType', 'QUALITY'], ['PlannedDate', '2026-11-27']]],
    ['Milestone', [['MilestoneType', 'DELIVERY'], ['PlannedDate', '2026-12-05']]],
  ]),
};

function reversal(code: string, root: string, tx: string, base: string, lineExtra: Node[]): string {
  return message(code, root, tx, [
    [
      `${base}Reversal_HeaderRecord`,
      [
        ...PARTIES,
        ['DateOfReversal', '2026-11-26'],
        ['TimeOfReversal', '09:45:10'],
        ['ReferenceDocumentNumber', '4900019999'],
        ['OriginalReferenceDocumentNumber', '4900012345'],
        ['DocumentText', 'Counted twice'],
        ['ReversalReason', 'Duplicate posting in ERP'],
        ['WorkOrderNumber', 'WO-100234'],
      ],
    ],
    [`${base}Reversal_LineItem`, line(1, lineExtra)],
    [`${base}Reversal_LineItem`, line(2, [], ['ProductCode', 'SKU-77', { type: 'INTERNAL' }])],
  ]);
}
VALID.MATERIALS_PRODUCED_REVERSAL = reversal('MATERIALS_PRODUCED_REVERSAL', 'TL_XML_MaterialsProducedReversal', 'MATPRODUCEDREV', 'MaterialsProduced', [
  ['ExpirationDate', '2028-11-30'],
]);
VALID.MATERIALS_ISSUED_REVERSAL = reversal('MATERIALS_ISSUED_REVERSAL', 'TL_XML_MaterialsIssueReversal', 'MATISSUEDREV', 'MaterialsIssue', []);
VALID.MATERIALS_CONSUMED_REVERSAL = reversal('MATERIALS_CONSUMED_REVERSAL', 'TL_XML_MatConsumedReversal', 'MATCONSUMEDREV', 'MaterialsConsumed', [
  ['PlannedQuantity', '0.001'],
]);

const CODES = [
  'WORK_ORDER_MILESTONES',
  'MATERIALS_PRODUCED',
  'MATERIALS_PRODUCED_REVERSAL',
  'MATERIALS_ISSUED',
  'MATERIALS_ISSUED_REVERSAL',
  'MATERIALS_CONSUMED',
  'MATERIALS_CONSUMED_REVERSAL',
];

/** replace exactly one occurrence (a typo in a test must not silently leave the document valid) */
function mutate(xml: string, from: string | RegExp, to: string): string {
  const count = typeof from === 'string' ? xml.split(from).length - 1 : (xml.match(new RegExp(from.source, 'g')) ?? []).length;
  if (count !== 1) throw new Error(`mutate: ${String(from)} occurs ${count} times`);
  return xml.replace(from, to);
}

// ---------------------------------------------------------------------------------------------
// xmllint

let tmp: string;
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tlbridge-xsd-test-'));
});
after(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

let tmpSeq = 0;
function xmllint(xsdFile: string, xml: string): { status: number | null; stderr: string } {
  const file = path.join(tmp, `doc-${++tmpSeq}.xml`);
  fs.writeFileSync(file, xml);
  const r = spawnSync('xmllint', ['--noout', '--nonet', '--schema', xsdFile, file], { encoding: 'utf8' });
  if (r.error) throw r.error;
  return { status: r.status, stderr: r.stderr };
}

function messages(issues: XmlIssue[]): string {
  return issues.map((i) => `${i.line ?? '-'}: ${i.message}`).join('\n');
}

// ---------------------------------------------------------------------------------------------

describe('xsd: the seven message schemas', () => {
  for (const code of CODES) {
    describe(code, () => {
      it('accepts the hand-written valid instance (libxml2-wasm)', () => {
        const issues = loadSchema(xsdOf(code)).validate(VALID[code]!);
        expect(issues, messages(issues)).to.deep.equal([]);
      });

      it('accepts it with xmllint too', () => {
        const r = xmllint(xsdOf(code), VALID[code]!);
        expect(r.status, r.stderr).to.equal(0);
      });

      it('puts the root in its own namespace and refuses it in another', () => {
        const xml = mutate(VALID[code]!, `xmlns="${nsOf(code)}"`, `xmlns="${nsOf(code)}_v2"`);
        const issues = loadSchema(xsdOf(code)).validate(xml);
        expect(messages(issues)).to.match(/No matching global declaration available for the validation root/);
        expect(xmllint(xsdOf(code), xml).status).to.not.equal(0);
      });
    });
  }

  it('types from the chameleon include take the message namespace (an unqualified LineNumber is refused)', () => {
    const xml = mutate(VALID.MATERIALS_ISSUED!, '<LineNumber>1</LineNumber>', '<LineNumber xmlns="">1</LineNumber>');
    const issues = loadSchema(xsdOf('MATERIALS_ISSUED')).validate(xml);
    expect(messages(issues)).to.match(/LineNumber/);
  });

  it('the ControlFileHeader children must be in the cmn namespace', () => {
    const xml = mutate(VALID.MATERIALS_ISSUED!, '<cmn:Version>1.0</cmn:Version>', '<Version>1.0</Version>');
    const issues = loadSchema(xsdOf('MATERIALS_ISSUED')).validate(xml);
    expect(messages(issues)).to.match(/Version/);
  });
});

const MP = VALID.MATERIALS_PRODUCED!;
const WOM = VALID.WORK_ORDER_MILESTONES!;
const NEGATIVE: Array<{ name: string; code: string; xml: () => string; expect: RegExp }> = [
    {
      name: 'missing WorkOrderNumber',
      code: 'MATERIALS_PRODUCED',
      xml: () => mutate(MP, /\s*<WorkOrderNumber>WO-100234<\/WorkOrderNumber>/, ''),
      expect: /Missing child element.*WorkOrderNumber/,
    },
    {
      name: 'missing WorkOrderNumber in a reversal header',
      code: 'MATERIALS_ISSUED_REVERSAL',
      xml: () => mutate(VALID.MATERIALS_ISSUED_REVERSAL!, /\s*<WorkOrderNumber>WO-100234<\/WorkOrderNumber>/, ''),
      expect: /Missing child element.*WorkOrderNumber/,
    },
    {
      name: 'missing OriginalReferenceDocumentNumber in a reversal',
      code: 'MATERIALS_CONSUMED_REVERSAL',
      xml: () => mutate(VALID.MATERIALS_CONSUMED_REVERSAL!, /\s*<OriginalReferenceDocumentNumber>[^<]*<\/OriginalReferenceDocumentNumber>/, ''),
      expect: /OriginalReferenceDocumentNumber/,
    },
    {
      name: 'Quantity 0',
      code: 'MATERIALS_PRODUCED',
      xml: () => mutate(MP, /(<LineNumber>1<\/LineNumber>[\s\S]*?)<Quantity>1200.5<\/Quantity>/, '$1<Quantity>0</Quantity>'),
      expect: /Quantity.*minExclusive/,
    },
    {
      name: 'negative Quantity',
      code: 'MATERIALS_ISSUED',
      xml: () => mutate(VALID.MATERIALS_ISSUED!, '<Quantity>1200.5</Quantity>', '<Quantity>-1</Quantity>'),
      expect: /Quantity.*minExclusive/,
    },
    {
      name: 'Quantity with 4 fraction digits',
      code: 'MATERIALS_ISSUED',
      xml: () => mutate(VALID.MATERIALS_ISSUED!, '<Quantity>1200.5</Quantity>', '<Quantity>1.2345</Quantity>'),
      expect: /Quantity.*fractionDigits/,
    },
    {
      name: 'Quantity with 16 digits',
      code: 'MATERIALS_ISSUED',
      xml: () => mutate(VALID.MATERIALS_ISSUED!, '<Quantity>1200.5</Quantity>', '<Quantity>1234567890123.456</Quantity>'),
      expect: /Quantity.*totalDigits/,
    },
    {
      name: 'PlannedQuantity with 4 fraction digits',
      code: 'MATERIALS_CONSUMED',
      xml: () => mutate(VALID.MATERIALS_CONSUMED!, '<PlannedQuantity>1250</PlannedQuantity>', '<PlannedQuantity>1.0001</PlannedQuantity>'),
      expect: /PlannedQuantity.*fractionDigits/,
    },
    {
      name: 'FileTime without Z',
      code: 'MATERIALS_PRODUCED',
      xml: () => mutate(MP, '<cmn:FileTime>10:15:00Z</cmn:FileTime>', '<cmn:FileTime>10:15:00</cmn:FileTime>'),
      expect: /FileTime/,
    },
    {
      name: 'FileTime with another zone',
      code: 'MATERIALS_PRODUCED',
      xml: () => mutate(MP, '<cmn:FileTime>10:15:00Z</cmn:FileTime>', '<cmn:FileTime>10:15:00+01:00</cmn:FileTime>'),
      expect: /FileTime/,
    },
    {
      name: 'event time with a zone',
      code: 'MATERIALS_PRODUCED',
      xml: () => mutate(MP, '<TimeOfProduction>15:30:00</TimeOfProduction>', '<TimeOfProduction>15:30:00Z</TimeOfProduction>'),
      expect: /TimeOfProduction/,
    },
    {
      name: 'event time with fractional seconds',
      code: 'MATERIALS_CONSUMED_REVERSAL',
      xml: () => mutate(VALID.MATERIALS_CONSUMED_REVERSAL!, '<TimeOfReversal>09:45:10</TimeOfReversal>', '<TimeOfReversal>09:45:10.5</TimeOfReversal>'),
      expect: /TimeOfReversal/,
    },
    {
      name: 'a date 2026-1-05',
      code: 'MATERIALS_PRODUCED',
      xml: () => mutate(MP, '<DateOfProduction>2026-11-24</DateOfProduction>', '<DateOfProduction>2026-1-05</DateOfProduction>'),
      expect: /DateOfProduction/,
    },
    {
      name: 'a date with a zone',
      code: 'MATERIALS_PRODUCED',
      xml: () => mutate(MP, '<ExpirationDate>2028-11-30</ExpirationDate>', '<ExpirationDate>2028-11-30Z</ExpirationDate>'),
      expect: /ExpirationDate/,
    },
    {
      name: 'a date that is not on the calendar (2026-02-30)',
      code: 'WORK_ORDER_MILESTONES',
      xml: () => mutate(WOM, '<PlannedDate>2026-11-20</PlannedDate>', '<PlannedDate>2026-02-30</PlannedDate>'),
      expect: /PlannedDate/,
    },
    {
      name: 'a FileDate 2026-1-05',
      code: 'MATERIALS_ISSUED',
      xml: () => mutate(VALID.MATERIALS_ISSUED!, '<cmn:FileDate>2026-11-25</cmn:FileDate>', '<cmn:FileDate>2026-1-05</cmn:FileDate>'),
      expect: /FileDate/,
    },
    {
      name: 'UsageIndicator DEV',
      code: 'MATERIALS_CONSUMED',
      xml: () => mutate(VALID.MATERIALS_CONSUMED!, '<cmn:UsageIndicator>TEST</cmn:UsageIndicator>', '<cmn:UsageIndicator>DEV</cmn:UsageIndicator>'),
      expect: /UsageIndicator.*enumeration/,
    },
    {
      name: 'ProductCode type EAN',
      code: 'MATERIALS_ISSUED',
      xml: () => mutate(VALID.MATERIALS_ISSUED!, 'type="GTIN"', 'type="EAN"'),
      expect: /ProductCode.*type/,
    },
    {
      name: 'ProductCode without type',
      code: 'WORK_ORDER_MILESTONES',
      xml: () => mutate(WOM, ' type="NDC"', ''),
      expect: /ProductCode.*type/,
    },
    {
      name: 'ReferenceDocumentNumber of 36 characters',
      code: 'MATERIALS_PRODUCED',
      xml: () => mutate(MP, '<ReferenceDocumentNumber>4900012345</ReferenceDocumentNumber>', `<ReferenceDocumentNumber>${'R'.repeat(36)}</ReferenceDocumentNumber>`),
      expect: /ReferenceDocumentNumber.*maxLength/,
    },
    {
      name: 'empty ReferenceDocumentNumber',
      code: 'MATERIALS_PRODUCED',
      xml: () => mutate(MP, '<ReferenceDocumentNumber>4900012345</ReferenceDocumentNumber>', '<ReferenceDocumentNumber></ReferenceDocumentNumber>'),
      expect: /ReferenceDocumentNumber.*minLength/,
    },
    {
      name: 'DocumentText of 26 characters',
      code: 'MATERIALS_PRODUCED',
      xml: () => mutate(MP, '<DocumentText>Batch release</DocumentText>', `<DocumentText>${'x'.repeat(26)}</DocumentText>`),
      expect: /DocumentText.*maxLength/,
    },
    {
      name: 'UnitOfMeasure in lower case',
      code: 'MATERIALS_ISSUED',
      xml: () => mutate(VALID.MATERIALS_ISSUED!, '<UnitOfMeasure>EA</UnitOfMeasure>', '<UnitOfMeasure>ea</UnitOfMeasure>'),
      expect: /UnitOfMeasure/,
    },
    {
      name: 'LineNumber 0',
      code: 'MATERIALS_ISSUED',
      xml: () => mutate(VALID.MATERIALS_ISSUED!, '<LineNumber>1</LineNumber>', '<LineNumber>0</LineNumber>'),
      expect: /LineNumber/,
    },
    {
      name: 'ExpirationDate on a Materials Issue line',
      code: 'MATERIALS_ISSUED',
      xml: () => mutate(VALID.MATERIALS_ISSUED!, '<UnitOfMeasure>EA</UnitOfMeasure>', '<UnitOfMeasure>EA</UnitOfMeasure><ExpirationDate>2028-11-30</ExpirationDate>'),
      expect: /ExpirationDate.*not expected/,
    },
    {
      name: 'header elements out of order',
      code: 'MATERIALS_ISSUED',
      xml: () =>
        mutate(
          VALID.MATERIALS_ISSUED!,
          /(<DateOfIssue>[^<]*<\/DateOfIssue>)(\s*)(<ReferenceDocumentNumber>[^<]*<\/ReferenceDocumentNumber>)/,
          '$3$2$1',
        ),
      expect: /ReferenceDocumentNumber.*not expected/,
    },
    {
      name: 'PurchaseOrderLineNumber of 7 digits',
      code: 'WORK_ORDER_MILESTONES',
      xml: () => mutate(WOM, '<PurchaseOrderLineNumber>10</PurchaseOrderLineNumber>', '<PurchaseOrderLineNumber>1234567</PurchaseOrderLineNumber>'),
      expect: /PurchaseOrderLineNumber/,
    },
    {
      name: 'MilestoneType not in the list',
      code: 'WORK_ORDER_MILESTONES',
      xml: () => mutate(WOM, '<MilestoneType>QUALITY</MilestoneType>', '<MilestoneType>SHIPPING</MilestoneType>'),
      expect: /MilestoneType.*enumeration/,
    },
    {
      name: 'the same MilestoneType twice',
      code: 'WORK_ORDER_MILESTONES',
      xml: () => mutate(WOM, '<MilestoneType>QUALITY</MilestoneType>', '<MilestoneType>PRODUCTION</MilestoneType>'),
      expect: /Duplicate key-sequence \['PRODUCTION'\]/,
    },
    {
      name: 'five milestones',
      code: 'WORK_ORDER_MILESTONES',
      xml: () => {
        const m = /<Milestone>[\s\S]*?<\/Milestone>\n/.exec(WOM)![0];
        return mutate(WOM, '  </MessageBody>', `  ${m}  </MessageBody>`);
      },
      expect: /Milestone.*not expected/,
    },
    {
      name: 'no milestone at all',
      code: 'WORK_ORDER_MILESTONES',
      xml: () => WOM.replace(/\s*<Milestone>[\s\S]*?<\/Milestone>/g, ''),
      expect: /Missing child element.*Milestone/,
    },
    {
      name: 'no lines at all (MessageBody with the header record only)',
      code: 'MATERIALS_PRODUCED',
      xml: () => MP.replace(/\s*<MaterialsProducedLineItem>[\s\S]*?<\/MaterialsProducedLineItem>/g, ''),
      expect: /Missing child element.*MaterialsProducedLineItem/,
    },
    {
      name: 'wrong namespace (a Materials Issue against the Materials Produced schema)',
      code: 'MATERIALS_PRODUCED',
      xml: () => VALID.MATERIALS_ISSUED!,
      expect: /No matching global declaration available for the validation root/,
    },
    {
      name: 'a ControlFileHeader child missing (FileControlNumber)',
      code: 'MATERIALS_PRODUCED_REVERSAL',
      xml: () => mutate(VALID.MATERIALS_PRODUCED_REVERSAL!, /\s*<cmn:FileControlNumber>[^<]*<\/cmn:FileControlNumber>/, ''),
      expect: /FileControlNumber/,
    },
];

describe('xsd: negative cases, each refused by our validator and by xmllint', () => {
  for (const c of NEGATIVE) {
    it(`${c.code}: ${c.name}`, () => {
      const xml = c.xml();
      expect(xml).to.not.equal(VALID[c.code]);
      const issues = loadSchema(xsdOf(c.code)).validate(xml);
      expect(issues, 'our validator accepted it').to.not.be.empty;
      expect(messages(issues)).to.match(c.expect);
      for (const i of issues) expect(i.line === null || i.line > 0).to.equal(true);
      expect(xmllint(xsdOf(c.code), xml).status, 'xmllint accepted it').to.not.equal(0);
    });
  }

  it('boundaries: ReferenceDocumentNumber of 35, DocumentText of 25, PO line of 6 digits, 15 digits with 3 decimals are valid', () => {
    const mp = mutate(
      mutate(MP, '<ReferenceDocumentNumber>4900012345</ReferenceDocumentNumber>', `<ReferenceDocumentNumber>${'R'.repeat(35)}</ReferenceDocumentNumber>`),
      '<DocumentText>Batch release</DocumentText>',
      `<DocumentText>${'x'.repeat(25)}</DocumentText>`,
    );
    const mpQty = mutate(mp, /<Quantity>1200.5<\/Quantity>(\s*<UnitOfMeasure>EA<\/UnitOfMeasure>\s*<ExpirationDate>)/, '<Quantity>999999999999.999</Quantity>$1');
    expect(messages(loadSchema(xsdOf('MATERIALS_PRODUCED')).validate(mpQty))).to.equal('');
    const wom = mutate(WOM, '<PurchaseOrderLineNumber>10</PurchaseOrderLineNumber>', '<PurchaseOrderLineNumber>000010</PurchaseOrderLineNumber>');
    expect(messages(loadSchema(xsdOf('WORK_ORDER_MILESTONES')).validate(wom))).to.equal('');
  });
});

// ---------------------------------------------------------------------------------------------

const ACK_EXAMPLE = `<?xml version="1.0" encoding="UTF-8"?>
<ie:IEProcessingAckMessage xmlns:ie="urn:tracelink:mapper:sl:processing_response"
                           xmlns:cmn="urn:tracelink:mapper:sl:commontypes">
  <ie:ControlFileHeader>
    <cmn:FileSenderNumber>0312345000001</cmn:FileSenderNumber>
    <cmn:FileReceiverNumber>0614141000005</cmn:FileReceiverNumber>
    <cmn:FileControlNumber>ACK000000123</cmn:FileControlNumber>
    <cmn:FileDate>2026-11-25</cmn:FileDate>
    <cmn:FileTime>12:00:00Z</cmn:FileTime>
  </ie:ControlFileHeader>
  <ie:MessageBody>
    <ie:ProcessingResultsHeader>
      <ie:InputFileTransactionType>MATPRODUCED</ie:InputFileTransactionType>
      <ie:InputFileSenderNumber>0614141000005</ie:InputFileSenderNumber>
      <ie:InputFileReceiverNumber>0312345000001</ie:InputFileReceiverNumber>
      <ie:InputFileControlNumber>C00000000042</ie:InputFileControlNumber>
      <ie:ProcessingStatus>ERROR</ie:ProcessingStatus>
    </ie:ProcessingResultsHeader>
    <ie:ProcessingError>
      <ie:ErrorCode>E1042</ie:ErrorCode>
      <ie:ErrorClass>1</ie:ErrorClass>
      <ie:ErrorMessage>LotNumber unknown to receiver</ie:ErrorMessage>
    </ie:ProcessingError>
  </ie:MessageBody>
</ie:IEProcessingAckMessage>
`;

describe('acknowledgments: parseUntrusted + validateDoc against IE_PROCESSING_RESPONSE.xsd', () => {
  const ACK_XSD = xsdOf('IE_PROCESSING_RESPONSE');
  const NS = { ie: IE, cmn: CMN };
  const OPTS = { maxBytes: 1024 * 1024, namespaces: NS };
  const RH = '/ie:IEProcessingAckMessage/ie:MessageBody/ie:ProcessingResultsHeader';
  const ERR = '/ie:IEProcessingAckMessage/ie:MessageBody/ie:ProcessingError';

  it('the example of messages.md section 2 is valid, and its fields can be read', () => {
    const { doc, issues } = parseUntrusted(Buffer.from(ACK_EXAMPLE, 'utf8'), OPTS);
    expect(issues).to.deep.equal([]);
    expect(doc).to.not.equal(null);
    expect(validateDoc(loadSchema(ACK_XSD), doc!)).to.deep.equal([]);
    expect(doc!.text(`${RH}/ie:ProcessingStatus`)).to.equal('ERROR');
    expect(doc!.text(`${RH}/ie:InputFileControlNumber`)).to.equal('C00000000042');
    expect(doc!.text('/ie:IEProcessingAckMessage/ie:ControlFileHeader/cmn:FileControlNumber')).to.equal('ACK000000123');
    expect(doc!.count(ERR)).to.equal(1);
    expect(doc!.texts(`${ERR}/ie:ErrorCode`)).to.deep.equal(['E1042']);
    expect(doc!.texts(`${ERR}/ie:ErrorClass`)).to.deep.equal(['1']);
    expect(doc!.texts(`${ERR}/ie:ErrorMessage`)).to.deep.equal(['LotNumber unknown to receiver']);
    expect(doc!.text(`${ERR}/ie:ErrorPath`)).to.equal(null);
    expect(doc!.texts(`${ERR}/ie:ErrorPath`)).to.deep.equal([]);
  });

  it('the example is valid for xmllint too', () => {
    const r = xmllint(ACK_XSD, ACK_EXAMPLE);
    expect(r.status, r.stderr).to.equal(0);
  });

  it('reads several errors in document order, with an ErrorPath, from a string as well', () => {
    const xml = mutate(
      ACK_EXAMPLE,
      '    </ie:ProcessingError>\n',
      '    </ie:ProcessingError>\n    <ie:ProcessingError><ie:ErrorCode>DUPLICATE_FILE</ie:ErrorCode><ie:ErrorClass>2</ie:ErrorClass>' +
        '<ie:ErrorMessage>potential duplicate</ie:ErrorMessage><ie:ErrorPath>/x/y</ie:ErrorPath></ie:ProcessingError>\n',
    );
    const { doc } = parseUntrusted(xml, OPTS);
    expect(validateDoc(loadSchema(ACK_XSD), doc!)).to.deep.equal([]);
    expect(doc!.count(ERR)).to.equal(2);
    expect(doc!.texts(`${ERR}/ie:ErrorCode`)).to.deep.equal(['E1042', 'DUPLICATE_FILE']);
    expect(doc!.texts(`${ERR}/ie:ErrorClass`)).to.deep.equal(['1', '2']);
    expect(doc!.texts(`${ERR}/ie:ErrorPath`)).to.deep.equal(['/x/y']);
  });

  it('a SUCCESS ack without errors is valid; an unknown status or error class is not', () => {
    const ok = ACK_EXAMPLE.replace('ERROR</ie:ProcessingStatus>', 'SUCCESS</ie:ProcessingStatus>').replace(/\s*<ie:ProcessingError>[\s\S]*<\/ie:ProcessingError>/, '');
    const schema = loadSchema(ACK_XSD);
    expect(validateDoc(schema, parseUntrusted(ok, OPTS).doc!)).to.deep.equal([]);
    const badStatus = mutate(ACK_EXAMPLE, 'ERROR</ie:ProcessingStatus>', 'FAILED</ie:ProcessingStatus>');
    expect(messages(validateDoc(schema, parseUntrusted(badStatus, OPTS).doc!))).to.match(/ProcessingStatus/);
    const badClass = mutate(ACK_EXAMPLE, '<ie:ErrorClass>1</ie:ErrorClass>', '<ie:ErrorClass>3</ie:ErrorClass>');
    expect(messages(validateDoc(schema, parseUntrusted(badClass, OPTS).doc!))).to.match(/ErrorClass/);
  });

  it('an ack with a Version in its ControlFileHeader (not part of the ack) is invalid', () => {
    const xml = mutate(ACK_EXAMPLE, '<cmn:FileSenderNumber>', '<cmn:Version>1.0</cmn:Version><cmn:FileSenderNumber>');
    const issues = validateDoc(loadSchema(ACK_XSD), parseUntrusted(xml, OPTS).doc!);
    expect(messages(issues)).to.match(/Version/);
  });

  it('an outbound message parsed as untrusted is not a valid ack', () => {
    const { doc } = parseUntrusted(VALID.MATERIALS_PRODUCED!, OPTS);
    expect(doc).to.not.equal(null);
    expect(messages(validateDoc(loadSchema(ACK_XSD), doc!))).to.match(/No matching global declaration/);
  });

  describe('refusals before libxml2 sees the document', () => {
    const XXE =
      '<?xml version="1.0"?>\n<!DOCTYPE ie:IEProcessingAckMessage [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n' +
      ACK_EXAMPLE.replace(/^<\?xml[^>]*>\n/, '').replace('LotNumber unknown to receiver', '&xxe;');

    function expectNoLeak(issues: XmlIssue[]): void {
      const all = JSON.stringify(issues);
      expect(all).to.not.match(/root:|daemon:|nologin/); // /etc/passwd content
      expect(all).to.not.contain('/etc/passwd'); // nor the payload itself
    }

    it('a DOCTYPE with an external entity (XXE) is refused without its content appearing anywhere', () => {
      expect(fs.existsSync('/etc/passwd'), 'precondition: the payload target exists').to.equal(true);
      for (const input of [XXE, Buffer.from(XXE, 'utf8')]) {
        const { doc, issues } = parseUntrusted(input, OPTS);
        expect(doc).to.equal(null);
        expect(issues).to.have.length(1);
        expect(issues[0]!.message).to.match(/DOCTYPE/);
        expectNoLeak(issues);
      }
    });

    it('the DOCTYPE check is case-insensitive and finds it after comments or a BOM', () => {
      for (const x of [
        XXE.replace('<!DOCTYPE', '<!doctype'),
        XXE.replace('<?xml version="1.0"?>\n', '<!-- hi -->\n'),
        '\ufeff' + XXE.replace('<?xml version="1.0"?>\n', ''),
      ]) {
        const { doc, issues } = parseUntrusted(Buffer.from(x, 'utf8'), OPTS);
        expect(doc).to.equal(null);
        expect(messages(issues)).to.match(/DOCTYPE/);
        expectNoLeak(issues);
      }
    });

    it('a UTF-16 encoded DOCTYPE does not slip through', () => {
      const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(XXE.replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-16"?>'), 'utf16le')]);
      const { doc, issues } = parseUntrusted(utf16, OPTS);
      expect(doc).to.equal(null);
      expect(issues).to.not.be.empty;
      expectNoLeak(issues);
    });

    it('is read as strict UTF-8 whatever encoding it declares: a declared ISO-8859-1 changes nothing', () => {
      const declared = ACK_EXAMPLE.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"').replace('LotNumber unknown', 'Lot M\u00fcller unknown');
      const { doc, issues } = parseUntrusted(Buffer.from(declared, 'utf8'), OPTS);
      expect(issues).to.deep.equal([]);
      expect(doc!.text(`${ERR}/ie:ErrorMessage`)).to.equal('Lot M\u00fcller unknown to receiver');
      doc!.dispose();
      const latin1 = Buffer.from(declared, 'latin1'); // the same text really in ISO-8859-1: not UTF-8, refused
      expect(messages(parseUntrusted(latin1, OPTS).issues)).to.match(/not valid UTF-8/);
    });

    it('an internal entity expansion bomb is refused (it needs a DOCTYPE)', () => {
      const bomb = '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><a>&b;</a>';
      const { doc, issues } = parseUntrusted(bomb, OPTS);
      expect(doc).to.equal(null);
      expect(messages(issues)).to.match(/DOCTYPE/);
    });

    it('an oversized document is refused (bytes, not characters)', () => {
      const size = Buffer.byteLength(ACK_EXAMPLE);
      const over = parseUntrusted(Buffer.from(ACK_EXAMPLE), { ...OPTS, maxBytes: size - 1 });
      expect(over.doc).to.equal(null);
      expect(messages(over.issues)).to.match(new RegExp(`${size} bytes.*${size - 1}`));
      expect(parseUntrusted(ACK_EXAMPLE, { ...OPTS, maxBytes: size }).doc).to.not.equal(null);
      const multiByte = ACK_EXAMPLE.replace('LotNumber unknown', 'Lot \u00e9\u00e9\u00e9 unknown'); // 3 chars, 6 bytes
      expect(parseUntrusted(multiByte, { ...OPTS, maxBytes: multiByte.length }).doc).to.equal(null);
    });
  });

  describe('documents that are not well-formed give issues, never a throw', () => {
    const broken: Array<[string, string | Buffer]> = [
      ['unclosed element', ACK_EXAMPLE.replace('</ie:MessageBody>', '')],
      ['mismatched tags', '<a>\n<b></c>\n</a>'],
      ['undeclared prefix', '<x:a/>'],
      ['empty input', ''],
      ['text only', 'not xml at all'],
      ['invalid UTF-8', Buffer.from([0x3c, 0x61, 0x3e, 0xff, 0xfe, 0x3c, 0x2f, 0x61, 0x3e])],
      ['two roots', '<a/><b/>'],
    ];
    for (const [name, input] of broken) {
      it(name, () => {
        const r = parseUntrusted(input, OPTS);
        expect(r.doc).to.equal(null);
        expect(r.issues).to.not.be.empty;
        for (const i of r.issues) {
          expect(i.message).to.be.a('string').and.not.equal('');
          expect(i.message).to.not.match(/\n/);
        }
      });
    }

    it('reports the line of the error', () => {
      const { issues } = parseUntrusted('<a>\n<b>\n</c>\n</a>', OPTS);
      expect(issues[0]!.line).to.equal(3);
    });
  });
});

describe('validator: loadSchema and validate', () => {
  it('caches by absolute path', () => {
    const a = loadSchema(xsdOf('MATERIALS_PRODUCED'));
    const rel = path.relative(process.cwd(), xsdOf('MATERIALS_PRODUCED'));
    expect(loadSchema(rel)).to.equal(a);
    expect(a.file).to.equal(xsdOf('MATERIALS_PRODUCED'));
  });

  it('a not-well-formed document gives its parse errors with a line, no throw', () => {
    const xml = VALID.MATERIALS_ISSUED!.replace('</MessageBody>', '</MessageBodyX>');
    const issues = loadSchema(xsdOf('MATERIALS_ISSUED')).validate(xml);
    expect(issues).to.not.be.empty;
    expect(issues[0]!.line).to.be.a('number');
    expect(messages(issues)).to.match(/MessageBody/);
  });

  it('every issue is one trimmed line with a positive line number', () => {
    const xml = VALID.MATERIALS_PRODUCED!.replace('<Quantity>1200.5</Quantity>', '<Quantity>0</Quantity>');
    const issues = loadSchema(xsdOf('MATERIALS_PRODUCED')).validate(xml);
    expect(issues).to.have.length.greaterThan(0);
    for (const i of issues) {
      expect(i.message).to.equal(i.message.trim());
      expect(i.message).to.not.match(/[\r\n]/);
      expect(i.line).to.be.a('number').greaterThan(0);
    }
    const qtyLine = xml.split('\n').findIndex((l) => l.includes('<Quantity>0</Quantity>')) + 1;
    expect(issues.map((i) => i.line)).to.include(qtyLine);
  });

  it('compiles each schema once and keeps it: it still validates after its files are gone', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'kept-'));
    for (const f of ['MATERIALS_ISSUED.xsd', 'shared-types.xsd', 'commontypes.xsd']) fs.copyFileSync(path.join(XSD_DIR, f), path.join(dir, f));
    const s = loadSchema(path.join(dir, 'MATERIALS_ISSUED.xsd'));
    fs.rmSync(dir, { recursive: true });
    expect(s.validate(VALID.MATERIALS_ISSUED!)).to.deep.equal([]);
    // the chameleon include (shared-types.xsd) and the import (commontypes.xsd) are in the compiled schema
    expect(messages(s.validate(VALID.MATERIALS_ISSUED!.replace('type="GTIN"', 'type="EAN"')))).to.match(/EAN/);
    expect(messages(s.validate(VALID.MATERIALS_ISSUED!.replace('<cmn:UsageIndicator>TEST', '<cmn:UsageIndicator>DEV')))).to.match(/UsageIndicator/);
  });

  it('reports the real line past line 65535', () => {
    const schema = loadSchema(xsdOf('MATERIALS_PRODUCED'));
    const bad = MP.replace('<cmn:UsageIndicator>TEST', `${'\n'.repeat(70_000)}<cmn:UsageIndicator>DEV`);
    const badLine = bad.split('\n').findIndex((l) => l.includes('>DEV<')) + 1;
    expect(badLine).to.be.greaterThan(70_000);
    expect(schema.validate(bad).map((i) => i.line)).to.deep.equal([badLine]);
  });

  it('leaves no parsed document alive in WebAssembly memory (validate, parseUntrusted + dispose, parseAck)', () => {
    const schema = loadSchema(xsdOf('MATERIALS_CONSUMED'));
    const ackSchema = loadSchema(xsdOf('IE_PROCESSING_RESPONSE'));
    const ackOpts = { maxBytes: 1e6, namespaces: { ack: IE, commontypes: CMN } };
    diag.configure({ enabled: true });
    try {
      for (let i = 0; i < 50; i++) {
        expect(schema.validate(VALID.MATERIALS_CONSUMED!)).to.deep.equal([]);
        expect(schema.validate(VALID.MATERIALS_CONSUMED!.replace('<cmn:UsageIndicator>TEST', '<cmn:UsageIndicator>DEV'))).to.have.length(1);
        expect(schema.validate(VALID.MATERIALS_CONSUMED!.replace('</MessageBody>', '</MessageBodyX>'))).to.not.be.empty;
        const { doc } = parseUntrusted(ACK_EXAMPLE, { maxBytes: 1e6, namespaces: { ie: IE } });
        expect(validateDoc(ackSchema, doc!)).to.deep.equal([]);
        doc!.dispose();
        expect(parseUntrusted('<a><b></a>', { maxBytes: 1e6, namespaces: {} }).doc).to.equal(null);
        expect(parseAck(ACK_EXAMPLE, ackOpts).ok).to.equal(true);
        expect(parseAck(ACK_EXAMPLE.replace('ERROR</ie:ProcessingStatus>', 'FAILED</ie:ProcessingStatus>'), ackOpts).ok).to.equal(false);
      }
      const live = (diag.report() as Record<string, { instances: unknown[] }>).XmlDocument?.instances ?? [];
      expect(live, 'XmlDocuments parsed in this test and never disposed').to.have.length(0);
    } finally {
      diag.configure({ enabled: false });
    }
  });

  it('a disposed document cannot be read any more (no use after free)', () => {
    const { doc } = parseUntrusted(ACK_EXAMPLE, { maxBytes: 1e6, namespaces: { ie: IE } });
    expect(doc!.count('/ie:IEProcessingAckMessage')).to.equal(1);
    doc!.dispose();
    doc!.dispose(); // idempotent
    expect(() => doc!.count('/ie:IEProcessingAckMessage')).to.throw(/disposed/);
    expect(() => validateDoc(loadSchema(xsdOf('IE_PROCESSING_RESPONSE')), doc!)).to.throw(/disposed/);
  });

  it('validates the same schema many times with stable results', () => {
    const schema = loadSchema(xsdOf('MATERIALS_CONSUMED'));
    const bad = VALID.MATERIALS_CONSUMED!.replace('<cmn:UsageIndicator>TEST', '<cmn:UsageIndicator>DEV');
    for (let i = 0; i < 200; i++) {
      expect(schema.validate(VALID.MATERIALS_CONSUMED!)).to.have.length(0);
      expect(schema.validate(bad)).to.have.length(1);
    }
  });

  describe('broken schemas fail at load, naming the file', () => {
    it('a missing file', () => {
      const f = path.join(tmp, 'nope.xsd');
      expect(() => loadSchema(f)).to.throw(Error, f);
    });

    it('an XSD that is not well-formed', () => {
      const f = path.join(tmp, 'broken-xml.xsd');
      fs.writeFileSync(f, '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">');
      expect(() => loadSchema(f)).to.throw(Error, f);
    });

    it('an XSD that does not compile (unknown type)', () => {
      const f = path.join(tmp, 'bad-type.xsd');
      fs.writeFileSync(f, '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"><xs:element name="a" type="nope"/></xs:schema>');
      expect(() => loadSchema(f)).to.throw(Error, f);
      // and the library is still usable afterwards
      expect(loadSchema(xsdOf('MATERIALS_ISSUED')).validate(VALID.MATERIALS_ISSUED!)).to.deep.equal([]);
    });

    it('an XSD whose xs:include target is missing names the missing file', () => {
      const dir = fs.mkdtempSync(path.join(tmp, 'inc-'));
      const f = path.join(dir, 'X.xsd');
      fs.copyFileSync(xsdOf('MATERIALS_ISSUED'), f);
      fs.copyFileSync(path.join(XSD_DIR, 'commontypes.xsd'), path.join(dir, 'commontypes.xsd'));
      expect(() => loadSchema(f)).to.throw(Error, /X\.xsd.*shared-types\.xsd/);
    });

    it('a copied schema set works from another folder (includes resolve against the XSD, not the cwd)', () => {
      const dir = fs.mkdtempSync(path.join(tmp, 'copy-'));
      for (const f of ['MATERIALS_ISSUED.xsd', 'shared-types.xsd', 'commontypes.xsd']) fs.copyFileSync(path.join(XSD_DIR, f), path.join(dir, f));
      const s = loadSchema(path.join(dir, 'MATERIALS_ISSUED.xsd'));
      expect(s.validate(VALID.MATERIALS_ISSUED!)).to.deep.equal([]);
      expect(s.validate(VALID.MATERIALS_ISSUED!.replace('type="GTIN"', 'type="EAN"'))).to.have.length(1);
    });
  });

  it('every shipped XSD loads (libxml2-wasm) and compiles with xmllint', () => {
    const files = fs.readdirSync(XSD_DIR).filter((f) => f.endsWith('.xsd') && f !== 'shared-types.xsd' && f !== 'commontypes.xsd');
    expect(files.sort()).to.deep.equal([...CODES, 'IE_PROCESSING_RESPONSE'].map((c) => `${c}.xsd`).sort());
    for (const f of files) {
      expect(loadSchema(path.join(XSD_DIR, f)).file).to.equal(path.join(XSD_DIR, f));
      const r = xmllint(path.join(XSD_DIR, f), '<probe/>');
      expect(r.stderr).to.not.match(/failed to compile|parser error/);
    }
  });
});
