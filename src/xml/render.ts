// Renders one message: the envelope common to all seven (messages.md 1.1) around the
// MessageBody that the message's own module fills in.
import { createRequire } from 'node:module';
import type { MessageTypeInfo } from '../messages/registry.js';
import type { BodyBuilder, MessageModule } from '../messages/types.js';
import { NOT_PLAIN, NotPlain, plainDocument, plainText, resumeDocument } from './plain-writer.js';

export interface Envelope {
  senderId: string;
  receiverId: string;
  usage: 'TEST' | 'PRODUCTION';
  fileControlNumber: string;
  /** YYYY-MM-DD, UTC, set once at staging */
  fileDate: string;
  /** HH:MM:SSZ, UTC, set once at staging */
  fileTime: string;
}

const XMLNS = 'http://www.w3.org/2000/xmlns/';

/** xmlbuilder2, loaded at the first message that needs it: its ~100 modules took ~30 ms of every
 * start (measured, convert), and most runs render every message on the plain path */
let xmlbuilder2: typeof import('xmlbuilder2') | undefined;
function loadXmlbuilder2(): typeof import('xmlbuilder2') {
  return (xmlbuilder2 ??= createRequire(import.meta.url)('xmlbuilder2') as typeof import('xmlbuilder2'));
}

export function envelopeTimes(at: Date): Pick<Envelope, 'fileDate' | 'fileTime'> {
  const iso = at.toISOString();
  return { fileDate: iso.slice(0, 10), fileTime: `${iso.slice(11, 19)}Z` };
}

/** The header's cmn: children, in schema order. */
function headerFields(info: MessageTypeInfo, env: Envelope): [string, string][] {
  return [
    ['Version', info.version],
    ['FileSenderNumber', env.senderId],
    ['FileReceiverNumber', env.receiverId],
    ['UsageIndicator', env.usage],
    ['FileTransactionType', info.transactionType],
    ['FileControlNumber', env.fileControlNumber],
    ['FileDate', env.fileDate],
    ['FileTime', env.fileTime],
  ];
}

/**
 * One message as XML text. The plain string writer takes it when nothing needs escaping or
 * checking (the common case, several times cheaper); otherwise xmlbuilder2 renders it. Both
 * give the same bytes (test/render.test.ts).
 */
export function renderMessage<B>(info: MessageTypeInfo, commonTypesNs: string, env: Envelope, module: MessageModule<B>, body: B): string {
  try {
    return renderPlain(info, commonTypesNs, env, module, body);
  } catch (e) {
    if (!(e instanceof NotPlain)) throw e;
    return renderWithXmlbuilder2(info, commonTypesNs, env, module, body);
  }
}

export function renderPlain<B>(info: MessageTypeInfo, commonTypesNs: string, env: Envelope, module: MessageModule<B>, body: B): string {
  const t = envelopeTemplate(info, commonTypesNs, env);
  const fcn = env.fileControlNumber !== '' ? plainText(env.fileControlNumber) : undefined;
  if (!t || fcn === undefined) throw NOT_PLAIN;
  const doc = resumeDocument([t.head, fcn, t.tail], info.namespace, info.rootElement, 'MessageBody');
  module.renderBody(doc.body, body, info);
  return doc.end() + '\n';
}

/** A file's envelope written once: its messages differ only in their FileControlNumber. */
interface EnvelopeParts {
  /** up to the FileControlNumber's text */
  head: string;
  /** from after it to `<MessageBody` */
  tail: string;
}
interface EnvelopeTemplate {
  info: MessageTypeInfo;
  commonTypesNs: string;
  env: Envelope;
  /** null: not plain, xmlbuilder2 renders */
  parts: EnvelopeParts | null;
}
/** The stand-in for the number while the envelope is written: a Latin-1 character, so that the
 * envelope's text, and every message joined from it, stays a one-byte string in V8 (a
 * two-byte stand-in made them all two-byte: slower to encode, write and collect, measured). */
const FCN_SLOT = '\u00a4';
let lastTemplate: EnvelopeTemplate | undefined;

/** every field but the number, whichever the Envelope has: a field added later cannot go stale here */
function sameEnvelope(t: EnvelopeTemplate, info: MessageTypeInfo, ns: string, env: Envelope): boolean {
  if (t.info !== info || t.commonTypesNs !== ns) return false;
  for (const k of Object.keys(env) as (keyof Envelope)[]) if (k !== 'fileControlNumber' && t.env[k] !== env[k]) return false;
  return true;
}

function envelopeTemplate(info: MessageTypeInfo, commonTypesNs: string, env: Envelope): EnvelopeParts | null {
  if (lastTemplate && sameEnvelope(lastTemplate, info, commonTypesNs, env)) return lastTemplate.parts;
  const parts = writeEnvelope(info, commonTypesNs, env);
  lastTemplate = { info, commonTypesNs, env: { ...env }, parts };
  return parts;
}

function writeEnvelope(info: MessageTypeInfo, commonTypesNs: string, env: Envelope): EnvelopeParts | null {
  try {
    const doc = plainDocument(info.namespace, info.rootElement, 'cmn', commonTypesNs);
    const h = doc.root.ele(info.namespace, 'ControlFileHeader');
    for (const [name, value] of headerFields(info, { ...env, fileControlNumber: FCN_SLOT })) h.prefixed(`cmn:${name}`, value);
    h.up();
    doc.root.ele(info.namespace, 'MessageBody');
    const parts = doc.written().split(FCN_SLOT);
    // the stand-in found elsewhere too (in an identifier): no template, xmlbuilder2 renders
    return parts.length === 2 ? { head: parts[0]!, tail: parts[1]! } : null;
  } catch (e) {
    if (!(e instanceof NotPlain)) throw e;
    return null;
  }
}

export function renderWithXmlbuilder2<B>(info: MessageTypeInfo, commonTypesNs: string, env: Envelope, module: MessageModule<B>, body: B): string {
  const root = loadXmlbuilder2()
    .create({ version: '1.0', encoding: 'UTF-8' })
    .ele(info.namespace, info.rootElement)
    .att(XMLNS, 'xmlns:cmn', commonTypesNs);
  const h = root.ele(info.namespace, 'ControlFileHeader');
  for (const [name, value] of headerFields(info, env)) h.ele(commonTypesNs, `cmn:${name}`).txt(value).up();
  module.renderBody(root.ele(info.namespace, 'MessageBody') as BodyBuilder, body, info);
  // wellFormed: xmlbuilder2 would otherwise let control characters through (its #116)
  return root.end({ prettyPrint: true, wellFormed: true }) + '\n';
}
