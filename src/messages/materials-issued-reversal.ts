// Materials Issue Reversal (messages.md 1.3).
import { materialsModule } from './materials.js';

export const materialsIssuedReversal = materialsModule({ type: 'MATERIALS_ISSUED_REVERSAL', event: 'Reversal', reversal: true });
