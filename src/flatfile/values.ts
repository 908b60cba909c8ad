// Pure parsers for the typed values of a flat file. Each returns the normalised value or a
// reason (the text after `"value" ` in an error report).

export type Parsed<T = string> = { ok: true; value: T } | { ok: false; reason: string };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const fail = (reason: string): Parsed<never> => ({ ok: false, reason });

interface CompiledFormat {
  re: RegExp;
  groups: string[];
}
const formatCache = new Map<string, CompiledFormat>();

/** Compiles a date/time format of yyyy MM dd HH mm ss tokens (anything else is literal). */
function compileFormat(format: string): CompiledFormat {
  let c = formatCache.get(format);
  if (c) return c;
  const groups: string[] = [];
  const src = format.replace(/yyyy|MM|dd|HH|mm|ss|[^yMdHms]+/g, (tok) => {
    if (/^(yyyy|MM|dd|HH|mm|ss)$/.test(tok)) {
      groups.push(tok);
      return tok === 'yyyy' ? '(\\d{4})' : '(\\d{2})';
    }
    return tok.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  });
  c = { re: new RegExp(`^${src}$`), groups };
  formatCache.set(format, c);
  return c;
}

export function isValidFormat(format: string, need: ('yyyy' | 'MM' | 'dd' | 'HH' | 'mm' | 'ss')[]): boolean {
  if (/[yMdHms]/.test(format.replace(/yyyy|MM|dd|HH|mm|ss/g, ''))) return false;
  const { groups } = compileFormat(format);
  return need.every((t) => groups.filter((g) => g === t).length === 1);
}

type Parts = Partial<Record<'yyyy' | 'MM' | 'dd' | 'HH' | 'mm' | 'ss', number>>;

function match(value: string, format: string): Parts | null {
  const { re, groups } = compileFormat(format);
  const m = re.exec(value);
  if (!m) return null;
  const parts: Parts = {};
  groups.forEach((g, i) => (parts[g as keyof Parts] = Number(m[i + 1])));
  return parts;
}

const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** m 1-12; proleptic Gregorian, as Date.UTC counts */
function daysInMonth(y: number, m: number): number {
  if (m === 2 && y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0)) return 29;
  return DAYS[m - 1]!;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

function checkDate(p: Parts): string | null {
  const y = p.yyyy!, m = p.MM!, d = p.dd!;
  if (y === 0) return 'is not a calendar date (year 0000)';
  if (m < 1 || m > 12) return 'is not a calendar date (month must be 01-12)';
  if (d < 1 || d > daysInMonth(y, m)) return `is not a calendar date (${pad(y, 4)}-${pad(m)} has ${daysInMonth(y, m)} days)`;
  return null;
}

function checkTime(p: Parts): string | null {
  if ((p.HH ?? 0) > 23 || (p.mm ?? 0) > 59 || (p.ss ?? 0) > 59) return 'is not a valid time of day';
  return null;
}

/** A calendar date in `format`, normalised to YYYY-MM-DD. */
export function parseDate(value: string, format: string): Parsed {
  const p = match(value, format);
  if (!p) return fail(`is not a date in the form ${format}`);
  const bad = checkDate(p);
  return bad ? fail(bad) : ok(`${pad(p.yyyy!, 4)}-${pad(p.MM!)}-${pad(p.dd!)}`);
}

/** A time of day in `format`, normalised to HH:MM:SS (site-local, no zone). */
export function parseTime(value: string, format: string): Parsed {
  const p = match(value, format);
  if (!p) return fail(`is not a time in the form ${format}`);
  const bad = checkTime(p);
  return bad ? fail(bad) : ok(`${pad(p.HH ?? 0)}:${pad(p.mm ?? 0)}:${pad(p.ss ?? 0)}`);
}

/** A local date-time in `format` and IANA `timeZone`, normalised to ISO-8601 UTC. */
export function parseDateTime(value: string, format: string, timeZone: string): Parsed {
  const p = match(value, format);
  if (!p) return fail(`is not a date and time in the form ${format}`);
  const bad = checkDate(p) ?? checkTime(p);
  if (bad) return fail(bad);
  // a format may leave out the seconds (or the time): they count as zero
  return ok(zonedToUtc(p.yyyy!, p.MM!, p.dd!, p.HH ?? 0, p.mm ?? 0, p.ss ?? 0, timeZone).toISOString());
}

const offsetFormatters = new Map<string, Intl.DateTimeFormat>();
function exactOffsetMs(instant: number, timeZone: string): number {
  let f = offsetFormatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
    });
    offsetFormatters.set(timeZone, f);
  }
  const v: Record<string, number> = {};
  for (const part of f.formatToParts(instant)) if (part.type !== 'literal') v[part.type] = Number(part.value);
  return Date.UTC(v.year!, v.month! - 1, v.day!, v.hour!, v.minute!, v.second!) - Math.floor(instant / 1000) * 1000;
}

const HOUR_MS = 3_600_000;
/** offsets by zone and UTC hour: formatToParts costs tens of microseconds, and the times of a
 * file fall in a few hours. An hour whose first and last second have the same offset has it
 * throughout (no zone changes its offset twice within an hour); one with a transition inside is
 * never cached. Bounded: a file of times spread over many years refills it. */
const hourOffsets = new Map<string, Map<number, number>>();
const HOURS_KEPT = 4096;
function offsetMs(instant: number, timeZone: string): number {
  const hour = Math.floor(instant / HOUR_MS);
  let zone = hourOffsets.get(timeZone);
  const known = zone?.get(hour);
  if (known !== undefined) return known;
  const start = exactOffsetMs(hour * HOUR_MS, timeZone);
  if (exactOffsetMs(hour * HOUR_MS + HOUR_MS - 1000, timeZone) !== start) return exactOffsetMs(instant, timeZone);
  if (!zone) hourOffsets.set(timeZone, (zone = new Map()));
  if (zone.size >= HOURS_KEPT) zone.clear();
  zone.set(hour, start);
  return start;
}

/** Wall-clock time in a zone to an instant (two passes settle DST transitions). */
export function zonedToUtc(y: number, mo: number, d: number, h: number, mi: number, s: number, timeZone: string): Date {
  const wall = Date.UTC(y, mo - 1, d, h, mi, s);
  let t = wall - offsetMs(wall, timeZone);
  t = wall - offsetMs(t, timeZone);
  return new Date(t);
}

/** zones already judged (a new Intl.DateTimeFormat per call was ~20 us of every file's intake);
 * bounded, as a zone may come from a file */
const zoneValidity = new Map<string, boolean>();
export function isValidTimeZone(tz: string): boolean {
  let ok = zoneValidity.get(tz);
  if (ok === undefined) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: tz });
      ok = true;
    } catch {
      ok = false;
    }
    if (zoneValidity.size >= 256) zoneValidity.clear();
    zoneValidity.set(tz, ok);
  }
  return ok;
}

export interface DecimalOptions {
  separator: '.' | ',';
  impliedDecimals?: number;
}

/** A non-negative decimal, normalised to canonical form (no leading zeros, no trailing
 * fraction zeros, `.` separator). Kept as a string: quantities are never rounded. */
export function parseDecimal(value: string, opts: DecimalOptions): Parsed {
  let intPart: string;
  let frac: string;
  if (opts.impliedDecimals != null && opts.impliedDecimals > 0) {
    if (!/^\d+$/.test(value)) return fail(`is not a number of digits with ${opts.impliedDecimals} implied decimals`);
    const n = opts.impliedDecimals;
    const padded = value.padStart(n + 1, '0');
    intPart = padded.slice(0, -n);
    frac = padded.slice(-n);
  } else {
    const sep = opts.separator;
    const other = sep === '.' ? ',' : '.';
    const i = value.indexOf(sep);
    intPart = i < 0 ? value : value.slice(0, i);
    frac = i < 0 ? '' : value.slice(i + 1);
    if (!/^\d+$/.test(intPart) || (i >= 0 && !/^\d+$/.test(frac))) {
      if (value.includes(other)) return fail(`is not a decimal number (the decimal separator is "${sep}")`);
      return fail('is not a decimal number');
    }
  }
  intPart = intPart.replace(/^0+(?=\d)/, '');
  frac = frac.replace(/0+$/, '');
  return ok(frac ? `${intPart}.${frac}` : intPart);
}

export function parseInteger(value: string): Parsed<number> {
  if (!/^\d{1,15}$/.test(value)) return fail('is not a whole number');
  return ok(Number(value));
}
