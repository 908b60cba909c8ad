// The period and partner of a report as SQL (pure): the rows (bounded on the batch time) and the
// operator actions (bounded on the action's time) take the same filters, each on its own columns.
import type { ReportFilters } from './rows.js';

export interface FilterSql {
  /** the conditions joined with AND; '' when there is none */
  sql: string;
  /** named parameters for them (@from, @to, @partner) */
  params: Record<string, string>;
}

/**
 * `at` is the time column the bounds apply to (ISO-8601 UTC text compares as time, both ends
 * inclusive); `partner` the condition that holds @partner when a partner is given.
 */
export function filterSql(f: ReportFilters, on: { at: string; partner: string }): FilterSql {
  const parts: string[] = [];
  const params: Record<string, string> = {};
  if (f.from) {
    parts.push(`${on.at} >= @from`);
    params.from = f.from;
  }
  if (f.to) {
    parts.push(`${on.at} <= @to`);
    params.to = f.to;
  }
  if (f.partner) {
    parts.push(on.partner);
    params.partner = f.partner;
  }
  return { sql: parts.join(' AND '), params };
}
