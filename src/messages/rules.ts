// Rules of messages.md 1.5 that need no history: product codes and the like. Pure functions.
import { codePoints } from '../flatfile/fields.js';
import type { Parsed } from '../flatfile/values.js';

export const PRODUCT_CODE_TYPES = ['GTIN', 'NDC', 'INTERNAL'] as const;
export type ProductCodeType = (typeof PRODUCT_CODE_TYPES)[number];

/** The flat files' spelling of the product code type; the fixed layout abbreviates INTERNAL. */
export function parseProductCodeType(v: string): Parsed<ProductCodeType> {
  const t = v.toUpperCase() === 'INT' ? 'INTERNAL' : v.toUpperCase();
  if ((PRODUCT_CODE_TYPES as readonly string[]).includes(t)) return { ok: true, value: t as ProductCodeType };
  return { ok: false, reason: 'is not a product code type (GTIN, NDC or INTERNAL)' };
}

export function gs1CheckDigit(body: string): number {
  let sum = 0;
  // weights 3,1,3,... from the right of the body (the digit left of the check digit weighs 3)
  for (let i = body.length - 1, w = 3; i >= 0; i--, w = 4 - w) sum += (body.charCodeAt(i) - 48) * w;
  return (10 - (sum % 10)) % 10;
}

/** GTIN-8/12/13/14 with a valid GS1 check digit, normalised to 14 digits. */
export function normaliseGtin(v: string): Parsed {
  if (!/^\d+$/.test(v)) return { ok: false, reason: 'is not a GTIN (digits only)' };
  if (![8, 12, 13, 14].includes(v.length)) return { ok: false, reason: `is not a GTIN (${v.length} digits; 8, 12, 13 or 14 expected)` };
  const g = v.padStart(14, '0');
  const want = gs1CheckDigit(g.slice(0, 13));
  if (want !== Number(g[13])) return { ok: false, reason: `has a wrong GTIN check digit (expected ${want})` };
  return { ok: true, value: g };
}

/** NDC: 10 or 11 digits; dashes allowed in the flat file, digits only in the XML. */
export function normaliseNdc(v: string): Parsed {
  if (!/^\d[\d-]*\d$/.test(v) || v.includes('--')) return { ok: false, reason: 'is not an NDC (digits and single dashes only)' };
  const digits = v.replace(/-/g, '');
  if (digits.length !== 10 && digits.length !== 11) return { ok: false, reason: `is not an NDC (${digits.length} digits; 10 or 11 expected)` };
  return { ok: true, value: digits };
}

/** INTERNAL: 1..40 printable characters. */
export function normaliseInternal(v: string): Parsed {
  const n = codePoints(v);
  if (n > 40) return { ok: false, reason: `is ${n} characters long, at most 40 allowed for an INTERNAL code` };
  if (/[\p{C}]/u.test(v)) return { ok: false, reason: 'contains a non-printable character' };
  return { ok: true, value: v };
}

export function normaliseProductCode(type: ProductCodeType, v: string): Parsed {
  return type === 'GTIN' ? normaliseGtin(v) : type === 'NDC' ? normaliseNdc(v) : normaliseInternal(v);
}

/** UN/ECE Recommendation 20 codes are 2-3 upper-case letters or digits. */
export function checkUnitOfMeasure(v: string): Parsed {
  return /^[A-Z0-9]{2,3}$/.test(v) ? { ok: true, value: v } : { ok: false, reason: 'is not a UN/ECE Rec 20 unit code (2-3 letters or digits, e.g. EA, KGM)' };
}
