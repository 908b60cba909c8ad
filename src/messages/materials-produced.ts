// Materials Produced (messages.md 1.2): lines may carry an ExpirationDate (LIN field EXPIRY).
import { el } from './types.js';
import { materialsModule, type LineExtra } from './materials.js';

export const producedLineExtra: LineExtra = {
  field: 'EXPIRY',
  read: (r) => ({ expirationDate: r.date('EXPIRY', false) }),
  render: (x, l) => el(x, 'ExpirationDate', l.expirationDate),
};

export const materialsProduced = materialsModule({
  type: 'MATERIALS_PRODUCED',
  event: 'Production',
  reversal: false,
  extra: producedLineExtra,
});
