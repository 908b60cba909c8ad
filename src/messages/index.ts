// Where each message type is mapped and rendered: one module per type.
import type { MessageTypeName } from './registry.js';
import type { MessageModule } from './types.js';
import { workOrderMilestones } from './work-order-milestones.js';
import { materialsProduced } from './materials-produced.js';
import { materialsProducedReversal } from './materials-produced-reversal.js';
import { materialsIssued } from './materials-issued.js';
import { materialsIssuedReversal } from './materials-issued-reversal.js';
import { materialsConsumed } from './materials-consumed.js';
import { materialsConsumedReversal } from './materials-consumed-reversal.js';

export const MESSAGE_MODULES: Readonly<Record<MessageTypeName, MessageModule<any>>> = {
  WORK_ORDER_MILESTONES: workOrderMilestones,
  MATERIALS_PRODUCED: materialsProduced,
  MATERIALS_PRODUCED_REVERSAL: materialsProducedReversal,
  MATERIALS_ISSUED: materialsIssued,
  MATERIALS_ISSUED_REVERSAL: materialsIssuedReversal,
  MATERIALS_CONSUMED: materialsConsumed,
  MATERIALS_CONSUMED_REVERSAL: materialsConsumedReversal,
};
