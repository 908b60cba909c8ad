// The DOC/LIN mapping shared by the six materials messages (Produced, Issue, Consumed and
// their Reversals). Each message module says what its event is called and what its lines
// carry beyond the common fields; everything else is the same shape (messages.md 1.2, 1.3).
import { FieldReader } from '../flatfile/fields.js';
import type { MessageTypeInfo, MessageTypeName } from './registry.js';
import { checkUnitOfMeasure, normaliseProductCode, parseProductCodeType } from './rules.js';
import { child, el, type BodyBuilder, type MapContext, type MappedMessage, type MessageModule, type ProductCode, type RecordGroup } from './types.js';

export interface MaterialsLine {
  lineNumber: number;
  product: ProductCode;
  lot: string;
  quantity: string;
  uom: string;
  /** Materials Produced (and its reversal) only */
  expirationDate?: string;
  /** Materials Consumed (and its reversal) only */
  plannedQuantity?: string;
  sourceLine: number;
}

export interface MaterialsBody {
  customerNumber?: string;
  supplierNumber?: string;
  shipToNumber?: string;
  eventDate: string;
  eventTime?: string;
  referenceDocumentNumber: string;
  originalReferenceDocumentNumber?: string;
  documentText?: string;
  reversalReason?: string;
  workOrderNumber: string;
  lines: MaterialsLine[];
}

/** What a line carries beyond the common fields, read from the LIN record's last field. */
export interface LineExtra {
  /** the flat-file field name (EXPIRY or PLANNED_QTY) */
  field: 'EXPIRY' | 'PLANNED_QTY';
  read(r: FieldReader): Pick<MaterialsLine, 'expirationDate' | 'plannedQuantity'>;
  render(line: BodyBuilder, l: MaterialsLine): void;
}

export interface MaterialsSpec {
  type: MessageTypeName;
  /** element name stem of the event date and time: DateOf<event>, TimeOf<event> */
  event: 'Production' | 'Issue' | 'Consumption' | 'Reversal';
  reversal: boolean;
  extra?: LineExtra;
}

export function materialsModule(spec: MaterialsSpec): MessageModule<MaterialsBody> {
  return {
    type: spec.type,
    headRole: 'DOC',
    childRole: 'LIN',
    map: (group, ctx) => mapMaterials(spec, group, ctx),
    renderBody: (mb, body, info) => renderMaterials(spec, mb, body, info),
  };
}

function mapMaterials(spec: MaterialsSpec, group: RecordGroup, ctx: MapContext): MappedMessage<MaterialsBody> | undefined {
  const before = ctx.errors.count;
  const d = new FieldReader(group.head, ctx.errors);
  const body: Partial<MaterialsBody> = {
    ...ctx.partner,
    referenceDocumentNumber: d.text('REFERENCE_DOC_NO', { required: true, max: 35 }),
    workOrderNumber: d.text('WORK_ORDER', { required: true, max: 20 }),
    eventDate: d.date('DATE', true),
    eventTime: d.time('TIME', false),
    documentText: d.text('DOC_TEXT', { max: 25 }),
  };
  if (spec.reversal) {
    body.originalReferenceDocumentNumber = d.text('ORIGINAL_REFERENCE_DOC_NO', { required: true, max: 35 });
    body.reversalReason = d.text('REASON', { max: 80 });
  } else {
    d.empty('ORIGINAL_REFERENCE_DOC_NO', `only reversals point at an original document, this is ${spec.type}`);
    d.empty('REASON', `only reversals carry a reason, this is ${spec.type}`);
  }
  if (group.children.length === 0) d.fail(null, null, `document ${JSON.stringify(d.raw('REFERENCE_DOC_NO'))} has no LIN record (at least one line is required)`);

  const lines: MaterialsLine[] = group.children.map((rec, i) => {
    const r = new FieldReader(rec, ctx.errors);
    const product = readProductCode(r);
    const lot = r.text('LOT', { required: true, max: 20 });
    const quantity = r.quantity('QTY', true);
    const uom = readUom(r);
    const extra = spec.extra ? spec.extra.read(r) : undefined;
    if (!spec.extra) {
      const given = ['EXPIRY', 'PLANNED_QTY'].find((n) => r.has(n));
      if (given) r.empty(given, `${spec.type} lines carry no expiry date or planned quantity`);
    }
    return { lineNumber: i + 1, product: product!, lot: lot!, quantity: quantity!, uom: uom!, ...extra, sourceLine: rec.line };
  });
  if (ctx.errors.count > before) return undefined;

  const b = body as MaterialsBody;
  b.lines = lines;
  return {
    type: spec.type,
    line: group.head.line,
    keys: {
      referenceDocumentNumber: b.referenceDocumentNumber,
      workOrderNumber: b.workOrderNumber,
      ...(b.originalReferenceDocumentNumber ? { originalReferenceDocumentNumber: b.originalReferenceDocumentNumber } : {}),
      lines: lines.map((l) => ({ product: l.product, lot: l.lot, quantity: l.quantity, line: l.sourceLine })),
    },
    body: b,
  };
}

export function readProductCode(r: FieldReader): ProductCode | undefined {
  const typeRaw = r.text('PRODUCT_CODE_TYPE', { required: true });
  const code = r.text('PRODUCT_CODE', { required: true });
  if (typeRaw === undefined) return undefined;
  const t = parseProductCodeType(typeRaw);
  if (!t.ok) return r.fail('PRODUCT_CODE_TYPE', typeRaw, t.reason);
  if (code === undefined) return undefined;
  const c = normaliseProductCode(t.value, code);
  if (!c.ok) return r.fail('PRODUCT_CODE', code, c.reason);
  return { type: t.value, code: c.value };
}

export function readUom(r: FieldReader): string | undefined {
  const uom = r.text('UOM', { required: true });
  if (uom === undefined) return undefined;
  const u = checkUnitOfMeasure(uom);
  return u.ok ? u.value : r.fail('UOM', uom, u.reason);
}

export function renderProductCode(parent: BodyBuilder, p: ProductCode): void {
  child(parent, 'ProductCode').att('type', p.type).txt(p.code).up();
}

function renderMaterials(spec: MaterialsSpec, mb: BodyBuilder, b: MaterialsBody, info: MessageTypeInfo): void {
  const h = child(mb, info.headerRecord);
  el(h, 'CustomerNumber', b.customerNumber);
  el(h, 'SupplierNumber', b.supplierNumber);
  el(h, 'ShipToNumber', b.shipToNumber);
  el(h, `DateOf${spec.event}`, b.eventDate);
  el(h, `TimeOf${spec.event}`, b.eventTime);
  el(h, 'ReferenceDocumentNumber', b.referenceDocumentNumber);
  el(h, 'OriginalReferenceDocumentNumber', b.originalReferenceDocumentNumber);
  el(h, 'DocumentText', b.documentText);
  el(h, 'ReversalReason', b.reversalReason);
  el(h, 'WorkOrderNumber', b.workOrderNumber);
  h.up();
  for (const l of b.lines) {
    const x = child(mb, info.lineElement);
    el(x, 'LineNumber', l.lineNumber);
    renderProductCode(x, l.product);
    el(x, 'LotNumber', l.lot);
    el(x, 'Quantity', l.quantity);
    el(x, 'UnitOfMeasure', l.uom);
    spec.extra?.render(x, l);
    x.up();
  }
}
