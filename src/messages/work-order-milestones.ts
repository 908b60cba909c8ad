// Work Order Milestones (messages.md 1.4): one WO record, then one to four MS records, each
// milestone type at most once.
import { FieldReader } from '../flatfile/fields.js';
import { readProductCode, readUom, renderProductCode } from './materials.js';
import { child, el, type MessageModule, type ProductCode } from './types.js';

export const MILESTONE_TYPES = ['MATERIAL_READINESS', 'PRODUCTION', 'QUALITY', 'DELIVERY'] as const;
export type MilestoneType = (typeof MILESTONE_TYPES)[number];

export interface Milestone {
  type: MilestoneType;
  plannedDate: string;
  actualDate?: string;
}

export interface WorkOrderMilestonesBody {
  workOrderNumber: string;
  purchaseOrderNumber: string;
  purchaseOrderLineNumber: string;
  product: ProductCode;
  lot?: string;
  quantity: string;
  uom: string;
  milestones: Milestone[];
}

export const workOrderMilestones: MessageModule<WorkOrderMilestonesBody> = {
  type: 'WORK_ORDER_MILESTONES',
  headRole: 'WO',
  childRole: 'MS',

  map(group, ctx) {
    const before = ctx.errors.count;
    const w = new FieldReader(group.head, ctx.errors);
    const workOrderNumber = w.text('WORK_ORDER', { required: true, max: 20 });
    const purchaseOrderNumber = w.text('PO', { required: true, max: 35 });
    const poLine = w.text('PO_LINE', { required: true });
    if (poLine !== undefined && !/^\d{1,6}$/.test(poLine)) w.fail('PO_LINE', poLine, 'is not a purchase order line number (1 to 6 digits)');
    const product = readProductCode(w);
    const lot = w.text('LOT', { max: 20 });
    const quantity = w.quantity('QTY', true);
    const uom = readUom(w);

    if (group.children.length === 0) w.fail(null, null, `work order ${JSON.stringify(w.raw('WORK_ORDER'))} has no MS record (one to four milestones are required)`);
    if (group.children.length > MILESTONE_TYPES.length)
      w.fail(null, null, `work order ${JSON.stringify(w.raw('WORK_ORDER'))} has ${group.children.length} MS records, at most 4 allowed`);
    const seen = new Map<string, number>();
    const milestones: Milestone[] = [];
    for (const rec of group.children) {
      const m = new FieldReader(rec, ctx.errors);
      const type = m.text('MILESTONE', { required: true });
      if (type !== undefined) {
        if (!(MILESTONE_TYPES as readonly string[]).includes(type)) m.fail('MILESTONE', type, `is not a milestone type (${MILESTONE_TYPES.join(', ')})`);
        else if (seen.has(type)) m.fail('MILESTONE', type, `appears twice for this work order (first on line ${seen.get(type)})`);
        else seen.set(type, rec.line);
      }
      const plannedDate = m.date('PLANNED', true);
      const actualDate = m.date('ACTUAL', false);
      milestones.push({ type: type as MilestoneType, plannedDate: plannedDate!, ...(actualDate ? { actualDate } : {}) });
    }
    if (ctx.errors.count > before) return undefined;

    const body: WorkOrderMilestonesBody = {
      workOrderNumber: workOrderNumber!,
      purchaseOrderNumber: purchaseOrderNumber!,
      purchaseOrderLineNumber: poLine!,
      product: product!,
      ...(lot ? { lot } : {}),
      quantity: quantity!,
      uom: uom!,
      milestones,
    };
    return {
      type: 'WORK_ORDER_MILESTONES',
      line: group.head.line,
      // messages.md 4: for Work Order Milestones the reference document number is the work order
      keys: { referenceDocumentNumber: body.workOrderNumber, workOrderNumber: body.workOrderNumber, lines: [] },
      body,
    };
  },

  renderBody(mb, b, info) {
    const h = child(mb, info.headerRecord);
    el(h, 'WorkOrderNumber', b.workOrderNumber);
    el(h, 'PurchaseOrderNumber', b.purchaseOrderNumber);
    el(h, 'PurchaseOrderLineNumber', b.purchaseOrderLineNumber);
    renderProductCode(h, b.product);
    el(h, 'LotNumber', b.lot);
    el(h, 'Quantity', b.quantity);
    el(h, 'UnitOfMeasure', b.uom);
    h.up();
    for (const m of b.milestones) {
      const x = child(mb, info.lineElement);
      el(x, 'MilestoneType', m.type);
      el(x, 'PlannedDate', m.plannedDate);
      el(x, 'ActualDate', m.actualDate);
      x.up();
    }
  },
};
