// What every message module provides: how its records map to a message, and how that
// message's MessageBody is rendered. The envelope is common and lives in ../xml/render.ts.
import type { ErrorList } from '../flatfile/errors.js';
import type { FlatRecord } from '../flatfile/records.js';
import type { MessageTypeInfo, MessageTypeName } from './registry.js';
import type { ProductCodeType } from './rules.js';

/** One message's records: its DOC (or WO) record and the LIN (or MS) records under it. */
export interface RecordGroup {
  head: FlatRecord;
  children: FlatRecord[];
}

export interface PartnerDefaults {
  customerNumber?: string;
  supplierNumber?: string;
  shipToNumber?: string;
}

export interface MapContext {
  partner: PartnerDefaults;
  errors: ErrorList;
}

export interface ProductCode {
  type: ProductCodeType;
  code: string;
}

/** The facts about a mapped message that the rules with history need (duplicates, reversals). */
export interface MessageKeys {
  referenceDocumentNumber: string;
  workOrderNumber: string;
  originalReferenceDocumentNumber?: string;
  /** per line: what a reversal line must match and how much it moves */
  lines: { product: ProductCode; lot: string; quantity: string; line: number }[];
}

export interface MappedMessage<B = unknown> {
  type: MessageTypeName;
  /** source line of the DOC or WO record */
  line: number;
  keys: MessageKeys;
  body: B;
}

export interface MessageModule<B = unknown> {
  type: MessageTypeName;
  headRole: 'DOC' | 'WO';
  childRole: 'LIN' | 'MS';
  /** Maps one record group, adding every problem to ctx.errors; undefined when it has any. */
  map(group: RecordGroup, ctx: MapContext): MappedMessage<B> | undefined;
  /** Adds the header record and lines to MessageBody, in schema order. */
  renderBody(messageBody: BodyBuilder, body: B, info: MessageTypeInfo): void;
}

/**
 * What a message module may do to an element: the part of xmlbuilder2's XMLBuilder that both
 * of src/xml/render.ts's paths provide (xmlbuilder2 itself, and the plain string writer).
 */
export interface BodyBuilder {
  ele(namespace: string | null, name: string): BodyBuilder;
  att(name: string, value: string): BodyBuilder;
  txt(content: string): BodyBuilder;
  up(): BodyBuilder;
  /** `<name>text</name>` as a child in this element's namespace, when the builder has a cheaper
   * way than ele/txt/up (the plain writer: no element object per leaf) */
  leaf?(name: string, text: string): void;
}

/** A child element in its parent's namespace. Naming the namespace spares xmlbuilder2 its
 * per-element lookup (about a fifth of rendering time, measured). */
export function child(parent: BodyBuilder, name: string): BodyBuilder {
  return parent.ele((parent as unknown as { node: { namespaceURI: string | null } }).node.namespaceURI, name);
}

/** Adds `<name>value</name>` when value is defined and not empty. */
export function el(parent: BodyBuilder, name: string, value: string | number | undefined): void {
  if (value === undefined || value === '') return;
  if (parent.leaf) parent.leaf(name, String(value));
  else child(parent, name).txt(String(value)).up();
}
