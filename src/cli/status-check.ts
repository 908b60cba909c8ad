// `tlbridge status --check [--json]` (product.md 9), for monitoring in the Nagios/Icinga
// plugin habit: the first line says OK or how many problems, then one line per problem
// instance (at most 50); exit 0 healthy, 1 problems. --json prints the Health that /healthz serves.
import type { Config } from '../config/load.js';
import { openForCommand } from '../ledger/open.js';
import { checkHealth, type Health } from '../monitor/health.js';
import { EXIT, type Io } from './io.js';

export const MAX_PROBLEM_LINES = 50;

export function checkLines(h: Health): string[] {
  if (h.healthy) return ['TLBRIDGE OK'];
  const n = h.problems.length;
  const lines = [`TLBRIDGE PROBLEM: ${n} problem(s)`, ...h.problems.slice(0, MAX_PROBLEM_LINES).map((p) => `${p.kind}: ${p.message.replace(/\s+/g, ' ')}`)];
  if (n > MAX_PROBLEM_LINES) lines.push(`... and ${n - MAX_PROBLEM_LINES} more`);
  return lines;
}

export function statusCheck(config: Config, opts: { json: boolean }, io: Io): number {
  const { db } = openForCommand(config, { create: false });
  try {
    const h = checkHealth(config, db);
    if (opts.json) io.out(JSON.stringify(h));
    else for (const l of checkLines(h)) io.out(l);
    return h.healthy ? EXIT.OK : EXIT.FAILED;
  } finally {
    db.close();
  }
}
