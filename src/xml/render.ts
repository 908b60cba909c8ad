// Renders one message: the envelope common to all seven (messages.md 1.1) around the
// MessageBody that the message's own module fills in.
import { create } from 'xmlbuilder2';
import type { MessageTypeInfo } from '../messages/registry.js';
import type { MessageModule } from '../messages/types.js';

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

export function envelopeTimes(at: Date): Pick<Envelope, 'fileDate' | 'fileTime'> {
  const iso = at.toISOString();
  return { fileDate: iso.slice(0, 10), fileTime: `${iso.slice(11, 19)}Z` };
}

export function renderMessage<B>(info: MessageTypeInfo, commonTypesNs: string, env: Envelope, module: MessageModule<B>, body: B): string {
  const root = create({ version: '1.0', encoding: 'UTF-8' })
    .ele(info.namespace, info.rootElement)
    .att(XMLNS, 'xmlns:cmn', commonTypesNs);
  const h = root.ele(info.namespace, 'ControlFileHeader');
  const cmn = (name: string, value: string) => h.ele(commonTypesNs, `cmn:${name}`).txt(value).up();
  cmn('Version', info.version);
  cmn('FileSenderNumber', env.senderId);
  cmn('FileReceiverNumber', env.receiverId);
  cmn('UsageIndicator', env.usage);
  cmn('FileTransactionType', info.transactionType);
  cmn('FileControlNumber', env.fileControlNumber);
  cmn('FileDate', env.fileDate);
  cmn('FileTime', env.fileTime);
  module.renderBody(root.ele(info.namespace, 'MessageBody'), body, info);
  // wellFormed: xmlbuilder2 would otherwise let control characters through (its #116)
  return root.end({ prettyPrint: true, wellFormed: true }) + '\n';
}
