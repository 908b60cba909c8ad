// Materials Consumed Reversal (messages.md 1.3): lines restate the consumed lines, planned quantity included.
import { materialsModule } from './materials.js';
import { consumedLineExtra } from './materials-consumed.js';

export const materialsConsumedReversal = materialsModule({
  type: 'MATERIALS_CONSUMED_REVERSAL',
  event: 'Reversal',
  reversal: true,
  extra: consumedLineExtra,
});
