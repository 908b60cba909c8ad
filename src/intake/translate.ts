// The pure heart of intake: one flat file in, validated XML messages out. It streams: the
// file is read line by line, each message is mapped, rendered and XSD-validated as soon as
// its last record has been read, so memory is bounded by one message (plus a small chunk of
// rendered messages waiting for validation), never by the file.
// The file is the unit: the caller stages nothing unless the result has no errors.
import type { Config } from '../config/load.js';
import { ErrorList, inputError, type InputError } from '../flatfile/errors.js';
import { FieldReader } from '../flatfile/fields.js';
import type { Layout } from '../flatfile/layout.js';
import { isInputError, readLines, type LineSource } from '../flatfile/lines.js';
import { parseRecord, type FlatRecord } from '../flatfile/records.js';
import { MESSAGE_MODULES } from '../messages/index.js';
import { messageTypeNamed, type MessageTypeInfo, type MessageTypeName } from '../messages/registry.js';
import { own } from '../util/own.js';
import type { MappedMessage, MessageModule, RecordGroup } from '../messages/types.js';
import { envelopeTimes, renderMessage, type Envelope } from '../xml/render.js';
import type { XmlIssue, XsdSchema } from '../xml/schema.js';
import { validateInWorker, warmValidationWorker } from '../xml/validate-pool.js';
import { fieldForXsdIssue } from './xsd-fields.js';
import { sha256 } from '../util/sha256.js';
import { StringIndex } from '../util/string-index.js';

/** TraceLink refuses files over 300 MB (messages.md 1). */
const MAX_MESSAGE_BYTES = 300 * 1000 * 1000;
/** Rendered messages validated, then handed on, as a group: a small group keeps little alive long
 * enough to reach the old generation (peak RSS), and the event loop gets a turn between groups. */
const CHUNK_MESSAGES = 64;
const CHUNK_BYTES = 8 * 1024 * 1024;
/** chunks out in the validation worker at once: enough to keep it busy, few to hold */
const MAX_INFLIGHT = 2;
/** a number that can stand in for the ones still to come: nothing to escape in the header */
const PIPELINED_NUMBER = /^[A-Za-z0-9._-]{1,64}$/;

/** libxml2 on this thread, loaded only when a chunk is judged here: convert judges every chunk
 * in the worker, and libxml2-wasm with a compiled schema cost its main thread ~80 ms of CPU and
 * ~30 MB of RSS (measured) */
let schemaModule: typeof import('../xml/schema.js') | undefined;
async function inlineSchema(file: string): Promise<XsdSchema> {
  schemaModule ??= await import('../xml/schema.js');
  return schemaModule.loadSchema(file);
}

/** Same length, and where they differ both are digits: what a sequence number changes. */
function sameShape(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y && !(x >= 48 && x <= 57 && y >= 48 && y <= 57)) return false;
  }
  return true;
}

export interface FileHeader {
  messageType: MessageTypeName;
  partner: string;
  /** HDR CREATED, ISO-8601 UTC */
  created: string;
  erpFileId: string;
}

export interface TranslatedMessage {
  info: MessageTypeInfo;
  partner: string;
  mapped: MappedMessage;
  fileControlNumber: string;
  xml: string;
  /** sha256 of the MessageBody's content (envelope aside): identical Work Order Milestones updates
   * are duplicates. Computed when first read: convert never does, and the JSON and hash of every
   * body were ~6% of its converting thread (measured). */
  readonly bodyHash: string;
}

export interface TranslateOptions {
  config: Config;
  layout: Layout;
  /** an inbound folder may fix the message type and partner */
  fixed?: { messageType?: MessageTypeName; partner?: string };
  /** FileDate and FileTime of every message of this file */
  now?: Date;
  /** a new FileControlNumber; called only while the file has no error */
  allocate(): string;
  /** the rules that need history (duplicates, reversals), for every mapped message */
  check?(m: MappedMessage, header: FileHeader, bodyHash: string): InputError[];
  /** each validated message, in file order, only while the file has no error */
  onMessage(m: TranslatedMessage): void | Promise<void>;
  /** a stop (SIGTERM) abandons the conversion: translateFile rejects with an AbortError */
  signal?: AbortSignal;
  /** the size of each chunk read from the file (progress) */
  onBytesRead?(bytes: number): void;
  /** The caller XSD-validates the messages itself (intake's group path, in the validation worker
   * while the next files convert): each chunk is handed to this, then to onMessage, unvalidated,
   * numbered in file order. The caller stages nothing before its validation passed; a file that
   * fails it goes the one-file path, which judges it here. */
  validateLater?(batch: readonly TranslatedMessage[]): void | Promise<void>;
  /** The first chunk is validated in the worker too, awaited (convert: its worker was started
   * with the command). Otherwise it is judged on this thread, so that a small file never waits. */
  firstChunkInWorker?: boolean;
}

export interface TranslateResult {
  header?: FileHeader;
  messages: number;
  errors: InputError[];
}

export async function translateFile(file: LineSource, opts: TranslateOptions): Promise<TranslateResult> {
  const { config, layout } = opts;
  const errors = new ErrorList();
  const times = envelopeTimes(opts.now ?? new Date());

  let nonBlank = 0;
  /** the first non-blank line was seen (the HDR, or whatever stood in its place) */
  let started = false;
  let groups = 0;
  /** after an unreadable line, LIN/MS records may belong to it: no orphan report then */
  let afterBrokenLine = false;
  let header: FileHeader | undefined;
  let module: MessageModule | undefined;
  let info: MessageTypeInfo | undefined;
  let envelopeBase: Omit<Envelope, 'fileControlNumber'> | undefined;
  let trl: FlatRecord | undefined;
  let afterTrlReported = false;
  let recordsBetween = 0;
  let group: RecordGroup | undefined;
  let orphanReported = false;
  let messages = 0;
  const seenRefs = new StringIndex();
  let chunk: TranslatedMessage[] = [];
  let chunkBytes = 0;

  // The first chunk is judged here, as it comes: a small file never waits for a worker. Once it
  // passed, the next chunks are validated in the worker thread (validate-pool.ts) while the
  // following messages are mapped and rendered. Those are rendered with a stand-in number (the
  // first chunk's last, which validated), and get their real one, allocate() in file order,
  // only once their chunk and everything before it validated: the same allocate()/onMessage
  // order as judging each chunk here, and the same reported error order (each chunk's schema
  // problems keep their place, errors.insertAt).
  let standIn: string | undefined;
  let standInMarker = '';
  const inflight: { batch: TranslatedMessage[]; at: number; late: number; result: Promise<XmlIssue[][] | undefined> }[] = [];
  /** schema problems of worker-validated chunks, inserted into `errors` behind later ones */
  let lateAdded = 0;

  const schemaIssues = (m: TranslatedMessage, issues: readonly XmlIssue[]) =>
    issues.map((issue) => inputError(m.mapped.line, fieldForXsdIssue(issue.message), null, `fails the ${m.info.code} schema: ${issue.message}`));

  const handOn = async (batch: TranslatedMessage[]) => {
    for (const m of batch) await opts.onMessage(m);
    // let timers and signal handlers run between chunks: a big file must not hold the
    // process deaf for seconds (a SIGTERM is answered within 15 s, product.md 5)
    await new Promise<void>((resolve) => setImmediate(resolve));
    opts.signal?.throwIfAborted();
  };

  const judgeHere = async (batch: readonly TranslatedMessage[]) => {
    const schema = await inlineSchema(batch[0]!.info.schema);
    return batch.map((m) => schema.validate(m.xml));
  };
  /** undefined when the worker failed: the chunk is judged here then */
  const inWorker = (batch: readonly TranslatedMessage[]) =>
    validateInWorker(
      batch[0]!.info.schema,
      batch.map((m) => m.xml),
    ).catch(() => undefined);

  const settleOldest = async () => {
    const c = inflight.shift()!;
    // a worker that failed leaves its chunk to be judged here
    const issues = (await c.result) ?? (await judgeHere(c.batch));
    const found: InputError[] = [];
    c.batch.forEach((m, i) => found.push(...schemaIssues(m, issues[i]!)));
    const at = c.at + lateAdded - c.late;
    const clean = at === 0 && found.length === 0;
    if (clean) {
      for (const m of c.batch) {
        const fcn = opts.allocate();
        const i = m.xml.indexOf(standInMarker);
        m.xml = m.xml.slice(0, i) + `<cmn:FileControlNumber>${fcn}</cmn:FileControlNumber>` + m.xml.slice(i + standInMarker.length);
        m.fileControlNumber = fcn;
        // a number of another shape than the stand-in's might not validate where it did
        if (!sameShape(fcn, standIn!)) found.push(...schemaIssues(m, (await judgeHere([m]))[0]!));
      }
    }
    errors.insertAt(at, found);
    lateAdded += found.length;
    if (clean && !found.length) await handOn(c.batch);
  };

  const flushChunk = async () => {
    if (!chunk.length) return;
    const batch = chunk;
    chunk = [];
    chunkBytes = 0;
    if (opts.validateLater) {
      if (errors.count) return;
      await opts.validateLater(batch);
      await handOn(batch);
      return;
    }
    if (standIn !== undefined) {
      inflight.push({ batch, at: errors.count, late: lateAdded, result: inWorker(batch) });
      while (inflight.length > MAX_INFLIGHT) await settleOldest();
      return;
    }
    const issues = (opts.firstChunkInWorker ? await inWorker(batch) : undefined) ?? (await judgeHere(batch));
    batch.forEach((m, i) => {
      for (const e of schemaIssues(m, issues[i]!)) errors.add(e);
    });
    if (errors.count) return;
    const last = batch[batch.length - 1]!.fileControlNumber;
    if (PIPELINED_NUMBER.test(last)) {
      standIn = last;
      standInMarker = `<cmn:FileControlNumber>${last}</cmn:FileControlNumber>`;
    }
    await handOn(batch);
  };

  const drain = async () => {
    while (inflight.length) await settleOldest();
  };

  const finishGroup = async () => {
    if (!group || !module || !info || !envelopeBase || !header) {
      group = undefined;
      return;
    }
    const g = group;
    group = undefined;
    const mapped = module.map(g, { partner: partnerDefaults(config, header.partner), errors });
    if (!mapped) return;
    messages++;
    const ref = mapped.keys.referenceDocumentNumber;
    let hash: string | undefined;
    const bodyHash = () => (hash ??= sha256(JSON.stringify(mapped.body)));
    // One document per reference within a file; Work Order Milestones may repeat a work order
    // as long as the update differs, so their key is the body.
    const dupKey = info.name === 'WORK_ORDER_MILESTONES' ? `${ref}\u0000${bodyHash()}` : ref;
    const first = seenRefs.setIfAbsent(dupKey, g.head.line);
    if (first !== undefined) {
      const field = info.name === 'WORK_ORDER_MILESTONES' ? 'WORK_ORDER' : 'REFERENCE_DOC_NO';
      errors.add(inputError(g.head.line, field, ref, `appears twice in this file (first on line ${first})`));
      return;
    }
    if (opts.check) for (const e of opts.check(mapped, header, bodyHash())) errors.add(e);
    const fileControlNumber = standIn ?? (errors.count ? 'UNASSIGNED' : opts.allocate());
    let xml: string;
    try {
      xml = renderMessage(info, config.namespaces.commontypes, { ...envelopeBase, fileControlNumber }, module, mapped.body);
    } catch (e) {
      errors.add(inputError(g.head.line, null, null, `cannot be rendered as XML: ${(e as Error).message}`));
      return;
    }
    if (xml.length > MAX_MESSAGE_BYTES) {
      errors.add(inputError(g.head.line, null, null, `makes a message of ${xml.length} bytes, over TraceLink's 300 MB limit`));
      return;
    }
    chunk.push({
      info,
      partner: header.partner,
      mapped,
      fileControlNumber,
      xml,
      get bodyHash() {
        return bodyHash();
      },
    });
    chunkBytes += xml.length;
    if (chunk.length >= CHUNK_MESSAGES || chunkBytes >= CHUNK_BYTES) await flushChunk();
  };

  for await (const batch of readLines(file, layout.encoding, config.maxLineBytes, opts.onBytesRead)) {
    opts.signal?.throwIfAborted();
    for (const item of batch) {
      if (!isInputError(item) && item.text.trim() === '') continue;
      nonBlank++;
      if (trl) {
        if (!afterTrlReported) errors.add(inputError(item.line ?? null, null, null, 'follows the TRL record (concatenated files?)'));
        afterTrlReported = true;
        continue;
      }
      const rec = isInputError(item) ? item : parseRecord(layout, item.line, item.text);
      // the first non-blank line stands where the HDR belongs, readable or not: the TRL count
      // covers every record after it
      const first = !started;
      started = true;
      if (isInputError(rec)) {
        errors.add(rec);
        if (!first) recordsBetween++;
        afterBrokenLine = true;
        continue;
      }
      if (rec.role === 'TRL') {
        await finishGroup();
        trl = rec;
        continue;
      }
      if (rec.role === 'HDR') {
        if (!first) {
          recordsBetween++;
          errors.add(inputError(rec.line, null, null, 'is a second HDR record (concatenated files? one file holds one message type for one partner)'));
          continue;
        }
        header = readHeader(rec, opts, errors);
        if (header) {
          module = MESSAGE_MODULES[header.messageType];
          info = config.messageTypes[header.messageType];
          const p = own(config.partners, header.partner)!;
          envelopeBase = { senderId: config.sender.id, receiverId: p.receiverId, usage: p.usage, ...times };
          // the schema compiled in the worker while the first chunk is converted here, not
          // after it (idle time of convert's main thread otherwise)
          if (opts.firstChunkInWorker) warmValidationWorker([info.schema]);
        }
        continue;
      }
      recordsBetween++;
      if (first) errors.add(inputError(rec.line, null, null, `is a ${rec.role} record, but a file must start with an HDR record`));
      switch (rec.role) {
        case 'DOC':
        case 'WO':
          await finishGroup();
          groups++;
          afterBrokenLine = false;
          if (module && rec.role !== module.headRole) {
            errors.add(inputError(rec.line, null, rec.role, `is not a record of a ${header!.messageType} file (one file holds one message type)`));
            afterBrokenLine = true;
          } else group = { head: rec, children: [] };
          break;
        case 'LIN':
        case 'MS':
          if (module && rec.role !== module.childRole) {
            errors.add(inputError(rec.line, null, rec.role, `is not a record of a ${header!.messageType} file (one file holds one message type)`));
          } else if (group) group.children.push(rec);
          else if (!orphanReported && !afterBrokenLine) {
            orphanReported = true;
            errors.add(inputError(rec.line, null, rec.role, `record comes before any ${module?.headRole ?? 'DOC or WO'} record it could belong to`));
          }
          break;
      }
    }
  }
  await finishGroup();

  if (nonBlank === 0) errors.add(inputError(null, null, null, 'is empty (no HDR record)'));
  else if (!trl) errors.add(inputError(null, null, null, 'has no TRL record (truncated file?)'));
  else {
    const r = new FieldReader(trl, errors);
    const count = r.integer('COUNT', true);
    if (count !== undefined && count !== recordsBetween)
      r.fail('COUNT', r.raw('COUNT'), `does not match the ${recordsBetween} records between HDR and TRL (truncated or concatenated file?)`);
  }
  if (header && groups === 0 && trl) errors.add(inputError(null, null, null, 'holds no message'));
  await flushChunk();
  await drain();
  return { ...(header ? { header } : {}), messages, errors: errors.report() };
}

/** The file's header. Message type and partner are kept whenever they are valid, even if
 * another HDR field is not, so that every record of the file is still checked. */
function readHeader(rec: FlatRecord, opts: TranslateOptions, errors: ErrorList): FileHeader | undefined {
  const { config } = opts;
  const r = new FieldReader(rec, errors);
  let messageType: MessageTypeName | undefined = opts.fixed?.messageType;
  const typeRaw = r.text('MESSAGE_TYPE', { required: !opts.fixed?.messageType });
  if (typeRaw !== undefined) {
    // the HDR may name the built-in type or the site's configured code for it
    const named = messageTypeNamed(config.messageTypes, typeRaw);
    if (!named) {
      r.fail('MESSAGE_TYPE', typeRaw, 'is not a message type this product sends');
      messageType = undefined;
    } else if (opts.fixed?.messageType && opts.fixed.messageType !== named) {
      r.fail('MESSAGE_TYPE', typeRaw, `does not match the drop folder's message type ${opts.fixed.messageType}`);
    } else messageType = named;
  }
  let partner: string | undefined = opts.fixed?.partner;
  const partnerRaw = r.text('PARTNER', { required: !opts.fixed?.partner, max: 20 });
  if (partnerRaw !== undefined) {
    if (!own(config.partners, partnerRaw)) {
      r.fail('PARTNER', partnerRaw, `is not a configured partner (${Object.keys(config.partners).join(', ')})`);
      partner = undefined;
    } else if (opts.fixed?.partner && opts.fixed.partner !== partnerRaw) {
      r.fail('PARTNER', partnerRaw, `does not match the drop folder's partner ${opts.fixed.partner}`);
    } else partner = partnerRaw;
  } else if (r.raw('PARTNER') !== '') partner = undefined; // present but too long
  const created = r.dateTime('CREATED', true, config.timezone);
  const erpFileId = r.text('ERP_FILE_ID', { required: true, max: 20 });
  if (!messageType || !partner) return undefined;
  return { messageType, partner, created: created ?? '', erpFileId: erpFileId ?? '' };
}

function partnerDefaults(config: Config, partner: string) {
  const d = own(config.partners, partner)!.defaults;
  return {
    ...(d.customerNumber ? { customerNumber: d.customerNumber } : {}),
    ...(d.supplierNumber ? { supplierNumber: d.supplierNumber } : {}),
    ...(d.shipToNumber ? { shipToNumber: d.shipToNumber } : {}),
  };
}
