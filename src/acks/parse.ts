// Acknowledgments (messages.md 2): the Processing Response a partner sends back for each file.
// Pure: bytes in, a parsed ack or the reason it is refused out; nothing here touches the ledger
// or the server. Acks are untrusted input (product.md 6): parseUntrusted refuses a DOCTYPE
// before libxml2 sees the document and caps the size, and the document must be valid against
// the ack XSD (and have the ack root) before a single value is read from it.
import path from 'node:path';
import type { Config } from '../config/load.js';
import type { PartnerConfig } from '../config/schema.js';
import { ACK_SCHEMA } from '../messages/registry.js';
import { loadSchema, validateDoc, type XmlIssue } from '../xml/schema.js';
import { parseUntrusted, type XmlDoc } from '../xml/untrusted.js';

export type AckStatus = 'SUCCESS' | 'WARNING' | 'ERROR';

export interface AckError {
  code: string;
  /** 1 = required field or content error, 2 = duplicate or sequence error */
  class: number;
  message: string;
  /** ErrorPath, null when absent */
  path: string | null;
}

export interface ParsedAck {
  /** the ack's own FileControlNumber */
  ackFcn: string;
  sender: string;
  receiver: string;
  /** as in the ack: YYYY-MM-DD */
  fileDate: string;
  /** as in the ack: HH:MM:SSZ */
  fileTime: string;
  inputTransactionType: string;
  inputSender: string;
  inputReceiver: string;
  /** the FileControlNumber of the file this ack answers */
  inputFcn: string;
  status: AckStatus;
  errors: AckError[];
}

export type AckParseResult = { ok: true; ack: ParsedAck } | { ok: false; problem: string };

/** What an ack means for the message it answers (messages.md 2). */
export type AckClass = 'accepted' | 'rejected' | 'duplicate';

export interface AckParseOptions {
  /** the two namespace URIs (config `namespaces`) */
  namespaces: { ack: string; commontypes: string };
  /** refuse larger documents (the partner's sftp.maxAckBytes) */
  maxBytes: number;
  /** the ack XSD; default the shipped xsd/IE_PROCESSING_RESPONSE.xsd */
  schemaFile?: string;
}

/** The parse options of a configured partner. */
export function ackParseOptions(config: Pick<Config, 'namespaces' | 'schemas'>, partner: Pick<PartnerConfig, 'sftp'>): AckParseOptions {
  return {
    namespaces: { ack: config.namespaces.ack, commontypes: config.namespaces.commontypes },
    maxBytes: partner.sftp.maxAckBytes,
    schemaFile: config.schemas.ack,
  };
}

const MAX_ISSUES_IN_PROBLEM = 5;
const MAX_PROBLEM_CHARS = 2000;
const STATUSES: readonly AckStatus[] = ['SUCCESS', 'WARNING', 'ERROR'];

// XPaths use the prefixes bound here to the configured URIs, whatever prefixes the document uses.
const ROOT = '/ie:IEProcessingAckMessage';
const HEADER = `${ROOT}/ie:ControlFileHeader`;
const RESULTS = `${ROOT}/ie:MessageBody/ie:ProcessingResultsHeader`;
const ERRORS = `${ROOT}/ie:MessageBody/ie:ProcessingError`;

/**
 * Parses and validates an ack. Never throws for bad input: a document that is too large, not
 * UTF-8, has a DOCTYPE, is not well-formed, is not valid against the ack XSD or is not an
 * IEProcessingAckMessage gives `{ ok: false, problem }` with a one-line reason.
 */
export function parseAck(data: Buffer | string, opts: AckParseOptions): AckParseResult {
  const namespaces = { ie: opts.namespaces.ack, cmn: opts.namespaces.commontypes };
  const parsed = parseUntrusted(data, { maxBytes: opts.maxBytes, namespaces });
  if (!parsed.doc) {
    const refused = parsed.issues.length > 0 && parsed.issues[0]!.message.startsWith('document refused');
    return { ok: false, problem: problemText(refused ? '' : 'not well-formed XML: ', parsed.issues) };
  }
  const doc = parsed.doc;
  try {
    return readAck(doc, opts);
  } finally {
    doc.dispose(); // its WebAssembly memory, now rather than at some GC
  }
}

function readAck(doc: XmlDoc, opts: AckParseOptions): AckParseResult {
  const schemaFile = opts.schemaFile ?? ACK_SCHEMA;
  const issues = validateDoc(loadSchema(schemaFile), doc);
  if (issues.length > 0) return { ok: false, problem: problemText(`not valid against the ack XSD ${path.basename(schemaFile)}: `, issues) };
  // The XSD also declares the common-types elements globally: a document whose root is one of
  // them would pass validation, so the root is checked by name too.
  if (doc.count(ROOT) !== 1) {
    return { ok: false, problem: `not an acknowledgment: the root element is not IEProcessingAckMessage in namespace ${opts.namespaces.ack}` };
  }

  const req = (xpath: string, what: string): string => {
    const v = doc.text(xpath);
    if (v === null) throw new MissingValue(what);
    return v.trim();
  };
  try {
    const status = req(`${RESULTS}/ie:ProcessingStatus`, 'ProcessingStatus');
    if (!(STATUSES as readonly string[]).includes(status)) return { ok: false, problem: `ProcessingStatus "${clip(status, 40)}" is not SUCCESS, WARNING or ERROR` };
    const errors: AckError[] = [];
    const n = doc.count(ERRORS);
    for (let i = 1; i <= n; i++) {
      const at = `${ERRORS}[${i}]`;
      const cls = Number.parseInt(req(`${at}/ie:ErrorClass`, `ProcessingError ${i} ErrorClass`), 10);
      if (!Number.isInteger(cls)) return { ok: false, problem: `ProcessingError ${i}: ErrorClass is not an integer` };
      const p = doc.text(`${at}/ie:ErrorPath`);
      errors.push({
        code: req(`${at}/ie:ErrorCode`, `ProcessingError ${i} ErrorCode`),
        class: cls,
        message: req(`${at}/ie:ErrorMessage`, `ProcessingError ${i} ErrorMessage`),
        path: p === null || p.trim() === '' ? null : p.trim(),
      });
    }
    return {
      ok: true,
      ack: {
        ackFcn: req(`${HEADER}/cmn:FileControlNumber`, 'FileControlNumber'),
        sender: req(`${HEADER}/cmn:FileSenderNumber`, 'FileSenderNumber'),
        receiver: req(`${HEADER}/cmn:FileReceiverNumber`, 'FileReceiverNumber'),
        fileDate: req(`${HEADER}/cmn:FileDate`, 'FileDate'),
        fileTime: req(`${HEADER}/cmn:FileTime`, 'FileTime'),
        inputTransactionType: req(`${RESULTS}/ie:InputFileTransactionType`, 'InputFileTransactionType'),
        inputSender: req(`${RESULTS}/ie:InputFileSenderNumber`, 'InputFileSenderNumber'),
        inputReceiver: req(`${RESULTS}/ie:InputFileReceiverNumber`, 'InputFileReceiverNumber'),
        inputFcn: req(`${RESULTS}/ie:InputFileControlNumber`, 'InputFileControlNumber'),
        status: status as AckStatus,
        errors,
      },
    };
  } catch (e) {
    // only with a site's own XSD that makes a field optional: ours requires every one
    if (e instanceof MissingValue) return { ok: false, problem: `${e.message} is missing` };
    throw e;
  }
}

class MissingValue extends Error {}

/**
 * SUCCESS or WARNING: accepted (warnings kept). ERROR: rejected, except a duplicate report: an
 * ERROR whose errors are all class 2 with a code in the partner's duplicateErrorCodes (an ERROR
 * without any error is a rejection).
 */
export function classify(ack: Pick<ParsedAck, 'status' | 'errors'>, partner: Pick<PartnerConfig, 'duplicateErrorCodes'>): AckClass {
  if (ack.status === 'SUCCESS' || ack.status === 'WARNING') return 'accepted';
  const codes = new Set(partner.duplicateErrorCodes);
  if (ack.errors.length > 0 && ack.errors.every((e) => e.class === 2 && codes.has(e.code))) return 'duplicate';
  return 'rejected';
}

/**
 * The instant an ack was written (FileDate + FileTime, UTC), in ms since the epoch; what
 * decides between two acks of one message. A time without a zone counts as UTC (the shipped
 * XSD requires the Z). null when it cannot be read as a date and time.
 */
export function ackInstant(fileDate: string | null, fileTime: string | null): number | null {
  if (!fileDate || !fileTime) return null;
  const zoned = /(Z|[+-]\d{2}:?\d{2})$/.test(fileTime);
  const ms = Date.parse(`${fileDate}T${zoned ? fileTime : `${fileTime}Z`}`);
  return Number.isFinite(ms) ? ms : null;
}

/** One line summarising an ack's errors, for messages.last_error and transition details. */
export function errorSummary(errors: readonly AckError[], max = MAX_PROBLEM_CHARS): string {
  const text = errors.map((e) => `${e.code} (class ${e.class}${e.path ? `, ${e.path}` : ''}): ${oneLine(e.message)}`).join('; ');
  return clip(text, max);
}

function problemText(prefix: string, issues: XmlIssue[]): string {
  const shown = issues.slice(0, MAX_ISSUES_IN_PROBLEM).map((i) => (i.line === null ? i.message : `line ${i.line}: ${i.message}`));
  const more = issues.length > MAX_ISSUES_IN_PROBLEM ? ` (and ${issues.length - MAX_ISSUES_IN_PROBLEM} more)` : '';
  return clip(`${prefix}${shown.join('; ') || 'unknown problem'}${more}`, MAX_PROBLEM_CHARS);
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

function clip(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}
