// Names the flat-file field behind an XSD complaint, so a schema error in a report points at
// the same field name as every other error (messages.md 3). null when no field applies.
import { own } from '../util/own.js';

const ELEMENT_FIELDS: Record<string, string> = {
  ReferenceDocumentNumber: 'REFERENCE_DOC_NO',
  OriginalReferenceDocumentNumber: 'ORIGINAL_REFERENCE_DOC_NO',
  WorkOrderNumber: 'WORK_ORDER',
  DocumentText: 'DOC_TEXT',
  ReversalReason: 'REASON',
  ProductCode: 'PRODUCT_CODE',
  LotNumber: 'LOT',
  Quantity: 'QTY',
  UnitOfMeasure: 'UOM',
  ExpirationDate: 'EXPIRY',
  PlannedQuantity: 'PLANNED_QTY',
  PurchaseOrderNumber: 'PO',
  PurchaseOrderLineNumber: 'PO_LINE',
  MilestoneType: 'MILESTONE',
  PlannedDate: 'PLANNED',
  ActualDate: 'ACTUAL',
};

export function fieldForXsdIssue(message: string): string | null {
  const m = /Element '(?:\{[^}]*\})?([A-Za-z_]+)'/.exec(message);
  if (!m) return null;
  const el = m[1]!;
  if (/^DateOf/.test(el)) return 'DATE';
  if (/^TimeOf/.test(el)) return 'TIME';
  return own(ELEMENT_FIELDS, el) ?? null;
}
