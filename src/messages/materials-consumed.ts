// Materials Consumed (messages.md 1.2): lines may carry the work order's PlannedQuantity
// (LIN field PLANNED_QTY) so the receiver can compare.
import { el } from './types.js';
import { materialsModule, type LineExtra } from './materials.js';

export const consumedLineExtra: LineExtra = {
  field: 'PLANNED_QTY',
  read: (r) => ({ plannedQuantity: r.quantity('PLANNED_QTY', false) }),
  render: (x, l) => el(x, 'PlannedQuantity', l.plannedQuantity),
};

export const materialsConsumed = materialsModule({
  type: 'MATERIALS_CONSUMED',
  event: 'Consumption',
  reversal: false,
  extra: consumedLineExtra,
});
