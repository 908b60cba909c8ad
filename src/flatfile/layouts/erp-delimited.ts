// messages.md 3.1: pipe-separated, record type first.
import type { Layout } from '../layout.js';

export const erpDelimited: Layout = {
  name: 'erp-delimited',
  kind: 'delimited',
  encoding: 'utf-8',
  decimalSeparator: '.',
  delimiter: '|',
  quote: '"',
  recordType: { from: 1, to: 3 },
  dateFormat: 'yyyyMMdd',
  timeFormat: 'HHmmss',
  records: {
    HDR: { fields: [{ name: 'MESSAGE_TYPE' }, { name: 'PARTNER' }, { name: 'CREATED', format: 'yyyyMMddHHmmss' }, { name: 'ERP_FILE_ID' }] },
    DOC: {
      fields: [
        { name: 'REFERENCE_DOC_NO' },
        { name: 'WORK_ORDER' },
        { name: 'DATE' },
        { name: 'TIME' },
        { name: 'DOC_TEXT' },
        { name: 'ORIGINAL_REFERENCE_DOC_NO' },
        { name: 'REASON' },
      ],
    },
    LIN: {
      fields: [
        { name: 'PRODUCT_CODE_TYPE' },
        { name: 'PRODUCT_CODE' },
        { name: 'LOT' },
        { name: 'QTY' },
        { name: 'UOM' },
        { name: 'EXPIRY|PLANNED_QTY' },
      ],
    },
    WO: {
      fields: [
        { name: 'WORK_ORDER' },
        { name: 'PO' },
        { name: 'PO_LINE' },
        { name: 'PRODUCT_CODE_TYPE' },
        { name: 'PRODUCT_CODE' },
        { name: 'LOT' },
        { name: 'QTY' },
        { name: 'UOM' },
      ],
    },
    MS: { fields: [{ name: 'MILESTONE' }, { name: 'PLANNED' }, { name: 'ACTUAL' }] },
    TRL: { fields: [{ name: 'COUNT' }] },
  },
};
