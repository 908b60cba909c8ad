// What every message module provides: how its records map to a message, and how that
// message's MessageBody is rendered. The envelope is common and lives in ../xml/render.ts.
import type { XMLBuilder } from 'xmlbuilder2/lib/interfaces.js';
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
  renderBody(messageBody: XMLBuilder, body: B, info: MessageTypeInfo): void;
}

/** A child element in its parent's namespace. Naming the namespace spares xmlbuilder2 its
 * per-element lookup (about a fifth of rendering time, measured). */
export function child(parent: XMLBuilder, name: string): XMLBuilder {
  return parent.ele((parent.node as unknown as { namespaceURI: string | null }).namespaceURI, name);
}

/** Adds `<name>value</name>` when value is defined and not empty. */
export function el(parent: XMLBuilder, name: string, value: string | number | undefined): void {
  if (value === undefined || value === '') return;
  child(parent, name).txt(String(value)).up();
}
