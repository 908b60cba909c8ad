// Splits one decoded line into a record: its role (HDR, DOC, ...) and its raw field values,
// trimmed, by name. Typing and meaning are the message modules' business.
import { slotNames, type FieldDef, type Layout, type RecordRole } from './layout.js';
import { inputError, type InputError } from './errors.js';

export interface FlatRecord {
  role: RecordRole;
  line: number;
  /** raw values by field name; absent when the line has no such field */
  values: Map<string, string>;
  /** fixed layouts: fields the line ends inside of (a numeric field cut short is an error) */
  cut?: Set<string>;
  /** fixed layouts: the line's length in characters */
  length?: number;
  layout: Layout;
  defs: Map<string, FieldDef>;
}

interface CompiledRecord {
  role: RecordRole;
  fields: FieldDef[];
  /** each field's slot names (slotNames), split once: per record it cost ~1.5 us (measured) */
  slots: string[][];
  /** the highest field position (delimited) */
  maxPosition: number;
  defs: Map<string, FieldDef>;
}
interface CompiledLayout {
  byCode: Map<string, CompiledRecord>;
}
const compiled = new WeakMap<Layout, CompiledLayout>();

function compile(layout: Layout): CompiledLayout {
  let c = compiled.get(layout);
  if (c) return c;
  const byCode = new Map<string, CompiledRecord>();
  for (const [role, def] of Object.entries(layout.records) as [RecordRole, NonNullable<Layout['records'][RecordRole]>][]) {
    const fields = def.fields.map((f, i) => ({ ...f, position: f.position ?? i + 1 }));
    const slots = fields.map(slotNames);
    const defs = new Map<string, FieldDef>();
    fields.forEach((f, i) => {
      for (const n of slots[i]!) defs.set(n, f);
    });
    const maxPosition = Math.max(0, ...fields.map((f) => f.position));
    byCode.set((def.code ?? role).trim(), { role, fields, slots, maxPosition, defs });
  }
  c = { byCode };
  compiled.set(layout, c);
  return c;
}

/** Splits a delimited line, honouring quotes ("a|b" and "" for a quote inside quotes). */
export function splitDelimited(text: string, delimiter: string, quote: string): string[] | string {
  if (!quote || !text.includes(quote)) return text.split(delimiter);
  const out: string[] = [];
  let i = 0;
  for (;;) {
    // skip blanks before an opening quote
    let j = i;
    while (text[j] === ' ') j++;
    if (text[j] === quote) {
      let val = '';
      j++;
      for (;;) {
        const q = text.indexOf(quote, j);
        if (q < 0) return `has an unterminated quoted field starting at column ${i + 1}`;
        val += text.slice(j, q);
        if (text[q + 1] === quote) {
          val += quote;
          j = q + 2;
          continue;
        }
        j = q + 1;
        break;
      }
      while (text[j] === ' ') j++;
      out.push(val);
      if (j >= text.length) return out;
      if (!text.startsWith(delimiter, j)) return `has text after a closing quote at column ${j + 1}`;
      i = j + delimiter.length;
    } else {
      const d = text.indexOf(delimiter, i);
      if (d < 0) {
        out.push(text.slice(i));
        return out;
      }
      out.push(text.slice(i, d));
      i = d + delimiter.length;
    }
  }
}

const SURROGATE = /[\uD800-\uDFFF]/;

export function parseRecord(layout: Layout, line: number, text: string): FlatRecord | InputError {
  const c = compile(layout);
  const values = new Map<string, string>();
  if (layout.kind === 'delimited') {
    const parts = splitDelimited(text, layout.delimiter, layout.quote);
    if (typeof parts === 'string') return inputError(line, null, null, parts);
    const code = parts[0]!.trim();
    const rec = c.byCode.get(code);
    if (!rec) return unknownRecord(line, code, c);
    const max = rec.maxPosition;
    if (parts.length - 1 > max)
      return inputError(line, null, null, `has ${parts.length - 1} fields after the record type ${code}, at most ${max} expected`);
    for (let i = 0; i < rec.fields.length; i++) {
      const v = parts[rec.fields[i]!.position!];
      if (v === undefined) continue;
      const t = v.trim();
      for (const n of rec.slots[i]!) values.set(n, t);
    }
    return { role: rec.role, line, values, layout, defs: rec.defs };
  }
  // Columns count characters, not UTF-16 units: only split into code points when needed.
  const chars: string[] | string = SURROGATE.test(text) ? Array.from(text) : text;
  const slice = (from: number, to: number) =>
    typeof chars === 'string' ? chars.slice(from - 1, to) : chars.slice(from - 1, to).join('');
  const code = slice(layout.recordType.from, layout.recordType.to).trim();
  const rec = c.byCode.get(code);
  if (!rec) return unknownRecord(line, code, c);
  const cut = new Set<string>();
  for (let i = 0; i < rec.fields.length; i++) {
    const f = rec.fields[i]!;
    const from = f.from!, to = f.to!;
    if (chars.length < from) continue;
    if (chars.length < to) for (const n of rec.slots[i]!) cut.add(n);
    const v = slice(from, to).trim();
    for (const n of rec.slots[i]!) values.set(n, v);
  }
  return { role: rec.role, line, values, cut, length: chars.length, layout, defs: rec.defs };
}

function unknownRecord(line: number, code: string, c: CompiledLayout): InputError {
  const known = [...c.byCode.keys()].join(', ');
  return inputError(line, null, code, `is not a known record type (expected one of ${known})`);
}
