// Materials Produced Reversal (messages.md 1.3): lines restate the produced lines, expiry included.
import { materialsModule } from './materials.js';
import { producedLineExtra } from './materials-produced.js';

export const materialsProducedReversal = materialsModule({
  type: 'MATERIALS_PRODUCED_REVERSAL',
  event: 'Reversal',
  reversal: true,
  extra: producedLineExtra,
});
