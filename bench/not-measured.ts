// Figures of issue 13 that this bench does not measure yet: a row each, so the table shows
// the goal and that it is open, until their sections exist.
import type { Section, SummaryRow } from './report.js';

const OPEN: SummaryRow[] = [
  { section: 'acks', metric: 'poll-acks of 500 acks vs sftp -b get+rm', value: 'not measured yet', target: '<= 2.0x', verdict: 'SKIP' },
];

export const notMeasuredSection: Section = {
  name: 'open',
  title: 'Not measured yet',
  async run(ctx) {
    for (const r of OPEN) ctx.out(`  ${r.section}: ${r.metric}: not measured yet (goal ${r.target})`);
    return OPEN.map((r) => ({ ...r }));
  },
};
