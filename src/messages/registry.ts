// The seven outbound message types as data. Codes, transaction types, namespaces and schema
// paths live here and nowhere else, so a site can swap in TraceLink's official XSDs through
// the config's `messageTypes:` overrides (see resolveMessageTypes).
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const XSD_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../xsd');

export const MESSAGE_TYPE_NAMES = [
  'WORK_ORDER_MILESTONES',
  'MATERIALS_PRODUCED',
  'MATERIALS_PRODUCED_REVERSAL',
  'MATERIALS_ISSUED',
  'MATERIALS_ISSUED_REVERSAL',
  'MATERIALS_CONSUMED',
  'MATERIALS_CONSUMED_REVERSAL',
] as const;
export type MessageTypeName = (typeof MESSAGE_TYPE_NAMES)[number];

export type BaseMaterialsType = 'MATERIALS_PRODUCED' | 'MATERIALS_ISSUED' | 'MATERIALS_CONSUMED';

export interface MessageTypeInfo {
  /** built-in name, the key in config `messageTypes:` and in HDR records */
  name: MessageTypeName;
  /** message type code: the SFTP folder name and schema file stem */
  code: string;
  transactionType: string;
  version: string;
  rootElement: string;
  headerRecord: string;
  /** the repeated element (Milestone for Work Order Milestones) */
  lineElement: string;
  namespace: string;
  /** absolute path of the XSD */
  schema: string;
  /** for the three reversals: the message type they reverse */
  reverses?: BaseMaterialsType;
}

export const DEFAULT_NAMESPACES = {
  commontypes: 'urn:tracelink:mapper:sl:commontypes',
  ack: 'urn:tracelink:mapper:sl:processing_response',
};

type Row = [MessageTypeName, string, string, string, string, BaseMaterialsType?];
const ROWS: Row[] = [
  // name, transactionType, rootElement, headerRecord, lineElement, reverses
  ['WORK_ORDER_MILESTONES', 'WOMILESTONES', 'TL_XML_WorkOrderMilestones', 'WorkOrderMilestones_HeaderRecord', 'Milestone'],
  ['MATERIALS_PRODUCED', 'MATPRODUCED', 'TL_XML_MaterialsProduced', 'MaterialsProducedHeaderRecord', 'MaterialsProducedLineItem'],
  ['MATERIALS_PRODUCED_REVERSAL', 'MATPRODUCEDREV', 'TL_XML_MaterialsProducedReversal', 'MaterialsProducedReversal_HeaderRecord', 'MaterialsProducedReversal_LineItem', 'MATERIALS_PRODUCED'],
  ['MATERIALS_ISSUED', 'MATISSUED', 'TL_XML_MaterialsIssue', 'MaterialsIssue_HeaderRecord', 'MaterialsIssueLineItem'],
  ['MATERIALS_ISSUED_REVERSAL', 'MATISSUEDREV', 'TL_XML_MaterialsIssueReversal', 'MaterialsIssueReversal_HeaderRecord', 'MaterialsIssueReversal_LineItem', 'MATERIALS_ISSUED'],
  ['MATERIALS_CONSUMED', 'MATCONSUMED', 'TL_XML_MatConsumed', 'MaterialsConsumed_HeaderRecord', 'MaterialsConsumedLineItem'],
  ['MATERIALS_CONSUMED_REVERSAL', 'MATCONSUMEDREV', 'TL_XML_MatConsumedReversal', 'MaterialsConsumedReversal_HeaderRecord', 'MaterialsConsumedReversal_LineItem', 'MATERIALS_CONSUMED'],
];

export const BUILTIN_MESSAGE_TYPES: Readonly<Record<MessageTypeName, MessageTypeInfo>> = Object.fromEntries(
  ROWS.map(([name, transactionType, rootElement, headerRecord, lineElement, reverses]) => [
    name,
    {
      name,
      code: name,
      transactionType,
      version: '1.0',
      rootElement,
      headerRecord,
      lineElement,
      namespace: `urn:tracelink:mapper:sl:${name.toLowerCase()}`,
      schema: path.join(XSD_DIR, `${name}.xsd`),
      ...(reverses ? { reverses } : {}),
    },
  ]),
) as Record<MessageTypeName, MessageTypeInfo>;

export const ACK_SCHEMA = path.join(XSD_DIR, 'IE_PROCESSING_RESPONSE.xsd');

export type MessageTypeOverride = Partial<Pick<MessageTypeInfo, 'code' | 'transactionType' | 'version' | 'namespace' | 'schema'>>;

export function resolveMessageTypes(
  overrides: Partial<Record<MessageTypeName, MessageTypeOverride>> = {},
): Record<MessageTypeName, MessageTypeInfo> {
  const out = {} as Record<MessageTypeName, MessageTypeInfo>;
  for (const name of MESSAGE_TYPE_NAMES) out[name] = { ...BUILTIN_MESSAGE_TYPES[name], ...(overrides[name] ?? {}) };
  return out;
}

export function isMessageTypeName(s: string): s is MessageTypeName {
  return (MESSAGE_TYPE_NAMES as readonly string[]).includes(s);
}

/** The message type an HDR names: the built-in name or the site's configured code for it.
 * The raw value is input: it is compared, never used as a key. */
export function messageTypeNamed(types: Readonly<Record<MessageTypeName, MessageTypeInfo>>, raw: string): MessageTypeName | undefined {
  if (isMessageTypeName(raw)) return raw;
  return MESSAGE_TYPE_NAMES.find((n) => types[n].code === raw);
}
