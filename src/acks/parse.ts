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
import { XmlElement } from 'libxml2-wasm';
import { ParsedDoc, parseUntrusted, type XmlDoc } from '../xml/untrusted.js';

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

// Where each value is, as child steps (namespace, local name) from the root, the namespaces being
// the configured URIs whatever prefixes the document uses. Read by walking the tree: one XPath
// evaluation through libxml2's WebAssembly costs more than the parse and the validation together.
type Step = readonly ['ie' | 'cmn', string];
const ROOT_NAME = 'IEProcessingAckMessage';
const HEADER: Step[] = [['ie', 'ControlFileHeader']];
const RESULTS: Step[] = [['ie', 'MessageBody'], ['ie', 'ProcessingResultsHeader']];
const ERRORS: Step[] = [['ie', 'MessageBody'], ['ie', 'ProcessingError']];

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
  const root = (doc as ParsedDoc).document.root;
  const uri = { ie: opts.namespaces.ack, cmn: opts.namespaces.commontypes };
  const is = (el: XmlElement, [ns, name]: Step): boolean => el.name === name && el.namespaceUri === uri[ns];
  if (!is(root, ['ie', ROOT_NAME])) {
    return { ok: false, problem: `not an acknowledgment: the root element is not IEProcessingAckMessage in namespace ${opts.namespaces.ack}` };
  }
  // the elements a path of child steps selects, in document order (as the XPath would)
  const select = (from: XmlElement[], steps: readonly Step[]): XmlElement[] =>
    steps.reduce((els, step) => els.flatMap((el) => childElements(el).filter((c) => is(c, step))), from);
  // the text of the first child of each name, of every element of `from` (each child read once)
  const fields = (from: XmlElement[], ns: Step[0]): Map<string, string> => {
    const out = new Map<string, string>();
    for (const el of from) for (const c of childElements(el)) if (c.namespaceUri === uri[ns] && !out.has(c.name)) out.set(c.name, c.content);
    return out;
  };
  const req = (from: Map<string, string>, name: string, what = name): string => {
    const v = from.get(name);
    if (v === undefined) throw new MissingValue(what);
    return v.trim();
  };
  const header = fields(select([root], HEADER), 'cmn');
  const results = fields(select([root], RESULTS), 'ie');
  try {
    const status = req(results, 'ProcessingStatus');
    if (!(STATUSES as readonly string[]).includes(status)) return { ok: false, problem: `ProcessingStatus "${clip(status, 40)}" is not SUCCESS, WARNING or ERROR` };
    const errors: AckError[] = [];
    let i = 0;
    for (const el of select([root], ERRORS)) {
      i++;
      const at = fields([el], 'ie');
      const cls = Number.parseInt(req(at, 'ErrorClass', `ProcessingError ${i} ErrorClass`), 10);
      if (!Number.isInteger(cls)) return { ok: false, problem: `ProcessingError ${i}: ErrorClass is not an integer` };
      const p = at.get('ErrorPath');
      errors.push({
        code: req(at, 'ErrorCode', `ProcessingError ${i} ErrorCode`),
        class: cls,
        message: req(at, 'ErrorMessage', `ProcessingError ${i} ErrorMessage`),
        path: p === undefined || p.trim() === '' ? null : p.trim(),
      });
    }
    const h = (name: string): string => req(header, name);
    const r = (name: string): string => req(results, name);
    return {
      ok: true,
      ack: {
        ackFcn: h('FileControlNumber'),
        sender: h('FileSenderNumber'),
        receiver: h('FileReceiverNumber'),
        fileDate: h('FileDate'),
        fileTime: h('FileTime'),
        inputTransactionType: r('InputFileTransactionType'),
        inputSender: r('InputFileSenderNumber'),
        inputReceiver: r('InputFileReceiverNumber'),
        inputFcn: r('InputFileControlNumber'),
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

function childElements(el: XmlElement): XmlElement[] {
  const out: XmlElement[] = [];
  for (let c = el.firstChild; c; c = c.next) if (c instanceof XmlElement) out.push(c);
  return out;
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
