// `--since` / `--until` as an operator types them (product.md 4): an ISO date or date-time.
// Without an offset it is wall-clock time in the configuration's timezone (the operator's,
// and the ERP's); with `Z` or +hh:mm it is that instant. A bound covers the whole of its last
// unit: `--until 2026-12-02` runs to the end of that day, `--until 2026-12-02T14:05` to the
// end of that minute; `--since` starts at the beginning of it. The result is ISO-8601 UTC, as
// the ledger stores its times, so it compares as text.
import { zonedToUtc } from '../flatfile/values.js';
import { UsageError } from './io.js';

const FORM = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;

/** The first (`since`) or last (`until`) millisecond the text names, as ISO-8601 UTC. */
export function parseTimeBound(flag: string, text: string, timeZone: string, edge: 'since' | 'until'): string {
  const bad = () => new UsageError(`${flag} ${JSON.stringify(text)}: not an ISO date or date-time (2026-12-02, 2026-12-02T14:02, 2026-12-02T14:02:00Z)`);
  const m = FORM.exec(text.trim());
  if (!m) throw bad();
  const [y, mo, d, h, mi, s] = [1, 2, 3, 4, 5, 6].map((i) => (m[i] === undefined ? undefined : Number(m[i])));
  const ms = m[7] === undefined ? undefined : Number(m[7].padEnd(3, '0'));
  const offset = m[8];
  // the calendar checks Date.UTC does not: 2026-02-30 would roll over into March
  const day = new Date(Date.UTC(y!, mo! - 1, d!));
  if (day.getUTCMonth() !== mo! - 1 || day.getUTCDate() !== d || (h ?? 0) > 23 || (mi ?? 0) > 59 || (s ?? 0) > 59) throw bad();

  let start: number;
  if (offset) {
    const sign = offset[0] === '-' ? -1 : 1;
    const digits = offset.toUpperCase() === 'Z' ? '0000' : offset.slice(1).replace(':', '');
    const offMs = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2))) * 60_000;
    start = Date.UTC(y!, mo! - 1, d!, h ?? 0, mi ?? 0, s ?? 0, ms ?? 0) - offMs;
  } else {
    start = zonedToUtc(y!, mo!, d!, h ?? 0, mi ?? 0, s ?? 0, timeZone).getTime() + (ms ?? 0);
  }
  if (edge === 'since') return new Date(start).toISOString();
  // the end of the last unit given; a day's end in the zone (23 or 25 hours on a DST day)
  let next: number;
  if (h === undefined) next = zonedToUtc(y!, mo!, d! + 1, 0, 0, 0, timeZone).getTime();
  else if (s === undefined) next = start + 60_000;
  else if (ms === undefined) next = start + 1000;
  else next = start + 1;
  return new Date(next - 1).toISOString();
}
