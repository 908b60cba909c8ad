// The sandbox's judgement rules (see processor.ts for their order): pure functions from what
// arrived to AckErrors, with the error codes and limits they use.
import { createHash } from 'node:crypto';
import type { MessageTypeInfo } from '../messages/registry.js';
import type { XmlDoc } from '../xml/untrusted.js';
import type { AckError } from './ack.js';

/** TraceLink refuses files over 300 MB (messages.md 1); so does the sandbox. */
export const MAX_FILE_BYTES = 300 * 1000 * 1000;
/** More XSD issues than this are summed up in one last ProcessingError. */
export const MAX_XSD_ERRORS = 50;

export const ERROR_CODES = {
  malformed: 'XML_MALFORMED',
  unknownType: 'UNKNOWN_MESSAGE_TYPE',
  xsd: 'XSD_INVALID',
  envelope: 'ENVELOPE_MISMATCH',
  duplicate: 'DUPLICATE_FILE',
  rejected: 'REJECTED_BY_SANDBOX',
} as const;

const HEADER = '/*/*[local-name()="ControlFileHeader"]';

export interface Envelope {
  sender: string | null;
  receiver: string | null;
  transactionType: string | null;
  controlNumber: string | null;
}

/** The ControlFileHeader fields the judgement looks at, null where missing. */
export function readEnvelope(doc: XmlDoc): Envelope {
  const get = (name: string) => doc.text(`${HEADER}/cmn:${name}`);
  return {
    sender: get('FileSenderNumber'),
    receiver: get('FileReceiverNumber'),
    transactionType: get('FileTransactionType'),
    controlNumber: get('FileControlNumber'),
  };
}


/** ENVELOPE_MISMATCH problems: receiver, expected sender, transaction type of the folder, file name. */
export function envelopeProblems(
env: Envelope | null,
info: MessageTypeInfo | null,
name: string,
expected: { receiverId: string; senderId?: string },
): AckError[] {
  const out: AckError[] = [];
  const problem = (field: string, message: string) =>
    out.push({ code: ERROR_CODES.envelope, class: 1, message, path: `ControlFileHeader/${field}` });
  const shown = (v: string | null) => (v === null ? 'missing' : JSON.stringify(v));
  if (env?.receiver !== expected.receiverId) {
    problem('FileReceiverNumber', `FileReceiverNumber ${shown(env?.receiver ?? null)} is not this receiver: expected ${JSON.stringify(expected.receiverId)}`);
  }
  if (expected.senderId !== undefined && env?.sender !== expected.senderId) {
    problem('FileSenderNumber', `FileSenderNumber ${shown(env?.sender ?? null)} is not the expected sender ${JSON.stringify(expected.senderId)}`);
  }
  if (info && env?.transactionType !== info.transactionType) {
    problem(
      'FileTransactionType',
      `FileTransactionType ${shown(env?.transactionType ?? null)} does not match the folder ${info.code} (expects ${JSON.stringify(info.transactionType)})`,
    );
  }
  const fcn = env?.controlNumber ?? null;
  if (!fcn) problem('FileControlNumber', 'FileControlNumber is missing');
  else if (name !== `${fcn}.xml`) problem('FileControlNumber', `the file name ${JSON.stringify(name)} is not <FileControlNumber>.xml (${fcn}.xml)`);
  return out;
}

export function issueText(i: { line: number | null; message: string }): string {
  return i.line === null ? i.message : `line ${i.line}: ${i.message}`;
}

export function tooBig(size: number, limit: number = MAX_FILE_BYTES): AckError {
  return { code: ERROR_CODES.malformed, class: 1, message: `file of ${size} bytes exceeds the limit of ${limit} bytes` };
}

/** Deterministic: the same FileControlNumber always gets the same answer; rate 1 rejects all, 0 none. */
export function rejects(fcn: string, rate: number): boolean {
  if (!(rate > 0)) return false;
  if (rate >= 1) return true;
  const h = createHash('sha256').update(fcn).digest().readUInt32BE(0);
  return h / 0x1_0000_0000 < rate;
}
