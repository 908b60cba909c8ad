// A layout describes how one ERP's flat file is laid out. Layouts are data: the two built-in
// ones live in ./layouts/, a site adds its own under `layouts:` in the config.

export const RECORD_ROLES = ['HDR', 'DOC', 'LIN', 'WO', 'MS', 'TRL'] as const;
export type RecordRole = (typeof RECORD_ROLES)[number];

export const ENCODINGS = ['utf-8', 'latin1', 'windows-1252'] as const;
export type Encoding = (typeof ENCODINGS)[number];

export interface FieldDef {
  /** The field name used in error reports (messages.md 3). `A|B` is one slot that means A
   * or B depending on the message type (the last LIN field: EXPIRY or PLANNED_QTY). */
  name: string;
  /** delimited: 1-based position after the record type; defaults to the order in the list */
  position?: number;
  /** fixed: 1-based inclusive columns, counted in characters after decoding */
  from?: number;
  to?: number;
  /** dates and times: yyyy MM dd HH mm ss, e.g. yyyyMMdd or dd.MM.yyyy */
  format?: string;
  /** decimals: the value is an integer with this many implied decimal places */
  impliedDecimals?: number;
}

export interface RecordDef {
  /** the record type as it stands in the file; defaults to the role name */
  code?: string;
  fields: FieldDef[];
}

export interface Layout {
  name: string;
  kind: 'delimited' | 'fixed';
  encoding: Encoding;
  decimalSeparator: '.' | ',';
  /** delimited only */
  delimiter: string;
  quote: string;
  /** fixed only: where the record type stands */
  recordType: { from: number; to: number };
  dateFormat: string;
  timeFormat: string;
  records: Partial<Record<RecordRole, RecordDef>>;
}

/** The slot names of a field definition (`EXPIRY|PLANNED_QTY` has two). */
export function slotNames(f: FieldDef): string[] {
  return f.name.split('|');
}
