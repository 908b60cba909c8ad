// The config file's schema problems AND whatever parts of it are valid (product.md 2: every
// problem listed at once). A top-level key whose value fails is parsed again entry by entry
// (the drop folders, layouts, message types, partners), so one bad partner does not hide the
// layout, secret and XSD problems of the others: load.ts resolves what parsed here.
import type { z } from 'zod';
import { configSchema, type RawConfig } from './schema.js';

/** RawConfig with every part optional; an array keeps its indexes (undefined where an entry failed). */
export type PartialRawConfig = { [K in keyof RawConfig]?: RawConfig[K] extends Array<infer E> ? Array<E | undefined> : RawConfig[K] };

export interface PartialParse {
  /** the whole file is valid: `data` is a full RawConfig */
  complete: boolean;
  data: PartialRawConfig;
  /** by key path, as check-config prints them */
  problems: string[];
}

export function issueText(i: z.core.$ZodIssue): string {
  const key = i.path.map(String).join('.');
  const msg = i.code === 'unrecognized_keys' ? `unknown key(s) ${i.keys.join(', ')}` : i.message;
  return key ? `${key}: ${msg}` : msg;
}

/** The keys whose value is a record of independent entries. */
const RECORDS = new Set(['layouts', 'messageTypes', 'partners']);

export function parsePartial(js: unknown): PartialParse {
  const whole = configSchema.safeParse(js);
  if (whole.success) return { complete: true, data: whole.data as PartialRawConfig, problems: [] };
  const problems = whole.error.issues.map(issueText);
  const doc = isPlainObject(js) ? js : {};
  const data: Record<string, unknown> = {};
  const shape = configSchema.shape as Record<string, z.ZodType>;
  for (const key of Object.keys(shape)) {
    const schema = shape[key]!;
    const value = Object.hasOwn(doc, key) ? doc[key] : undefined;
    const r = schema.safeParse(value);
    if (r.success) data[key] = r.data;
    else if (key === 'inbound' && Array.isArray(value)) data[key] = value.map((el) => onlyEntry(schema.safeParse([el]), (d) => (d as unknown[])[0]));
    else if (RECORDS.has(key) && isPlainObject(value)) {
      // a record: each entry on its own (null prototype: the keys come from the file)
      const entries: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
      for (const [k, v] of Object.entries(value)) {
        const one = onlyEntry(schema.safeParse({ [k]: v }), (d) => (d as Record<string, unknown>)[k]);
        if (one !== undefined) entries[k] = one;
      }
      data[key] = entries;
    }
  }
  return { complete: false, data: data as PartialRawConfig, problems };
}

function onlyEntry<T>(r: { success: true; data: unknown } | { success: false }, pick: (d: unknown) => T): T | undefined {
  return r.success ? pick(r.data) : undefined;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
