// Materials Issue (messages.md 1.2): lines carry nothing beyond the common fields.
import { materialsModule } from './materials.js';

export const materialsIssued = materialsModule({ type: 'MATERIALS_ISSUED', event: 'Issue', reversal: false });
