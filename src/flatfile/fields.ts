// Typed access to one record's fields. Every read that fails adds an error naming the line
// and field and returns undefined, so a message module can read all fields and report every
// problem of a record at once.
import type { FlatRecord } from './records.js';
import { inputError, type ErrorList } from './errors.js';
import { parseDate, parseDateTime, parseDecimal, parseInteger, parseTime, type Parsed } from './values.js';

/** Characters as a reader counts them (code points, not UTF-16 units), without an array of
 * them: every text field of every record is measured. */
export function codePoints(v: string): number {
  let n = v.length;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < v.length) {
      const d = v.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

export interface TextRule {
  required?: boolean;
  min?: number;
  max?: number;
}

export class FieldReader {
  constructor(
    readonly rec: FlatRecord,
    private readonly errors: ErrorList,
  ) {}

  get line(): number {
    return this.rec.line;
  }

  fail(field: string | null, value: string | null, message: string): undefined {
    this.errors.add(inputError(this.rec.line, field, value, message));
    return undefined;
  }

  private missing(name: string): undefined {
    const def = this.rec.defs.get(name);
    if (this.rec.length != null && def?.from != null && this.rec.length < def.from)
      return this.fail(name, null, `is missing: the line ends at column ${this.rec.length}, the field is in columns ${def.from}-${def.to}`);
    return this.fail(name, null, 'is required but empty');
  }

  /** The trimmed raw value, '' when absent. */
  raw(name: string): string {
    return this.rec.values.get(name) ?? '';
  }

  has(name: string): boolean {
    return this.raw(name) !== '';
  }

  text(name: string, rule: TextRule = {}): string | undefined {
    const v = this.raw(name);
    if (v === '') return rule.required ? this.missing(name) : undefined;
    const len = codePoints(v);
    if (rule.max != null && len > rule.max) return this.fail(name, v, `is ${len} characters long, at most ${rule.max} allowed`);
    if (rule.min != null && len < rule.min) return this.fail(name, v, `is ${len} characters long, at least ${rule.min} required`);
    return v;
  }

  /** A field that this message type does not carry must be empty. */
  empty(name: string, why: string): void {
    const v = this.raw(name);
    if (v !== '') this.fail(name, v, `must be empty: ${why}`);
  }

  private typed<T>(name: string, required: boolean, parse: (v: string) => Parsed<T>): T | undefined {
    const v = this.raw(name);
    if (v === '') return required ? this.missing(name) : undefined;
    if (this.rec.cut?.has(name)) {
      const def = this.rec.defs.get(name)!;
      return this.fail(name, v, `is cut short: the line ends at column ${this.rec.length}, the field runs to column ${def.to}`);
    }
    const r = parse(v);
    return r.ok ? r.value : this.fail(name, v, r.reason);
  }

  date(name: string, required: boolean): string | undefined {
    const fmt = this.rec.defs.get(name)?.format ?? this.rec.layout.dateFormat;
    return this.typed(name, required, (v) => parseDate(v, fmt));
  }

  time(name: string, required: boolean): string | undefined {
    const fmt = this.rec.defs.get(name)?.format ?? this.rec.layout.timeFormat;
    return this.typed(name, required, (v) => parseTime(v, fmt));
  }

  dateTime(name: string, required: boolean, timeZone: string): string | undefined {
    const fmt = this.rec.defs.get(name)?.format ?? `${this.rec.layout.dateFormat}${this.rec.layout.timeFormat}`;
    return this.typed(name, required, (v) => parseDateTime(v, fmt, timeZone));
  }

  /** A quantity: decimal > 0, at most 3 fraction digits and 15 digits in all (the XSD's limits). */
  quantity(name: string, required: boolean): string | undefined {
    const def = this.rec.defs.get(name);
    return this.typed(name, required, (v) => {
      const r = parseDecimal(v, { separator: this.rec.layout.decimalSeparator, impliedDecimals: def?.impliedDecimals });
      if (!r.ok) return r;
      const [i, f = ''] = r.value.split('.');
      if (f.length > 3) return { ok: false, reason: `has ${f.length} decimal places, at most 3 allowed` };
      if ((i! + f).replace(/^0+/, '').length > 15) return { ok: false, reason: 'has more than 15 significant digits' };
      if (/^[0.]+$/.test(r.value)) return { ok: false, reason: 'must be greater than zero' };
      return r;
    });
  }

  integer(name: string, required: boolean): number | undefined {
    return this.typed(name, required, parseInteger);
  }
}
