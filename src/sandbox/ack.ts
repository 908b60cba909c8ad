// The IE_PROCESSING_RESPONSE the sandbox writes, exactly in the shape of messages.md 2: root
// ie:IEProcessingAckMessage, a five-child ControlFileHeader in cmn:, then MessageBody with
// ProcessingResultsHeader (the Input* echo and ProcessingStatus) and zero or more
// ProcessingError. Every element is namespace-qualified; the URIs come from the config.
import { create } from 'xmlbuilder2';
import { envelopeTimes } from '../xml/render.js';

export type AckStatus = 'SUCCESS' | 'WARNING' | 'ERROR';

export interface AckError {
  code: string;
  class: 1 | 2;
  message: string;
  path?: string;
}

export interface AckContent {
  /** the ack's own FileSenderNumber: the manufacturer (the partner's receiverId) */
  sender: string;
  /** the ack's FileReceiverNumber: the sender of the file it answers */
  receiver: string;
  /** the ack's own FileControlNumber */
  controlNumber: string;
  /** FileDate and FileTime, UTC */
  at: Date;
  input: {
    transactionType: string;
    sender: string;
    receiver: string;
    controlNumber: string;
  };
  status: AckStatus;
  errors: AckError[];
}

const XMLNS = 'http://www.w3.org/2000/xmlns/';

/** Control characters other than tab/newline cannot stand in XML 1.0: replaced by "?". */
export function xmlSafe(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\ufffe\uffff]/g, '?');
}

/** A value for a String1toN echo field: trimmed, XML-safe, cut to `max`, never empty. */
export function fitString(s: string | null | undefined, max: number, fallback = 'UNKNOWN'): string {
  const v = xmlSafe((s ?? '').trim()).slice(0, max);
  return v.length > 0 ? v : fallback.slice(0, max);
}

export function renderAck(ack: AckContent, ns: { commontypes: string; ack: string }): string {
  const root = create({ version: '1.0', encoding: 'UTF-8' })
    .ele(ns.ack, 'ie:IEProcessingAckMessage')
    .att(XMLNS, 'xmlns:ie', ns.ack)
    .att(XMLNS, 'xmlns:cmn', ns.commontypes);
  const { fileDate, fileTime } = envelopeTimes(ack.at);
  const h = root.ele(ns.ack, 'ie:ControlFileHeader');
  const cmn = (name: string, value: string) => h.ele(ns.commontypes, `cmn:${name}`).txt(value).up();
  cmn('FileSenderNumber', fitString(ack.sender, 20));
  cmn('FileReceiverNumber', fitString(ack.receiver, 20));
  cmn('FileControlNumber', fitString(ack.controlNumber, 20));
  cmn('FileDate', fileDate);
  cmn('FileTime', fileTime);
  const body = root.ele(ns.ack, 'ie:MessageBody');
  const r = body.ele(ns.ack, 'ie:ProcessingResultsHeader');
  const ie = (parent: typeof r, name: string, value: string) => parent.ele(ns.ack, `ie:${name}`).txt(value).up();
  ie(r, 'InputFileTransactionType', fitString(ack.input.transactionType, 30));
  ie(r, 'InputFileSenderNumber', fitString(ack.input.sender, 20));
  ie(r, 'InputFileReceiverNumber', fitString(ack.input.receiver, 20));
  ie(r, 'InputFileControlNumber', fitString(ack.input.controlNumber, 20));
  ie(r, 'ProcessingStatus', ack.status);
  for (const e of ack.errors) {
    const pe = body.ele(ns.ack, 'ie:ProcessingError');
    ie(pe, 'ErrorCode', fitString(e.code, 200, 'ERROR'));
    ie(pe, 'ErrorClass', String(e.class));
    ie(pe, 'ErrorMessage', xmlSafe(e.message));
    if (e.path) ie(pe, 'ErrorPath', xmlSafe(e.path));
  }
  return root.end({ prettyPrint: true, wellFormed: true }) + '\n';
}
