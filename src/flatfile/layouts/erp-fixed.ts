// messages.md 3.2: fixed-width columns, 1-based and inclusive, record type in 1-3.
import type { Layout } from '../layout.js';

export const erpFixed: Layout = {
  name: 'erp-fixed',
  kind: 'fixed',
  encoding: 'utf-8',
  decimalSeparator: '.',
  delimiter: '',
  quote: '',
  recordType: { from: 1, to: 3 },
  dateFormat: 'yyyyMMdd',
  timeFormat: 'HHmmss',
  records: {
    HDR: {
      fields: [
        { name: 'MESSAGE_TYPE', from: 4, to: 33 },
        { name: 'PARTNER', from: 34, to: 53 },
        { name: 'CREATED', from: 54, to: 67, format: 'yyyyMMddHHmmss' },
        { name: 'ERP_FILE_ID', from: 68, to: 87 },
      ],
    },
    DOC: {
      fields: [
        { name: 'REFERENCE_DOC_NO', from: 4, to: 38 },
        { name: 'WORK_ORDER', from: 39, to: 58 },
        { name: 'DATE', from: 59, to: 66 },
        { name: 'TIME', from: 67, to: 72 },
        { name: 'DOC_TEXT', from: 73, to: 97 },
        { name: 'ORIGINAL_REFERENCE_DOC_NO', from: 98, to: 132 },
        { name: 'REASON', from: 133, to: 212 },
      ],
    },
    LIN: {
      fields: [
        { name: 'PRODUCT_CODE_TYPE', from: 4, to: 10 },
        { name: 'PRODUCT_CODE', from: 11, to: 50 },
        { name: 'LOT', from: 51, to: 70 },
        { name: 'QTY', from: 71, to: 85, impliedDecimals: 3 },
        { name: 'UOM', from: 86, to: 88 },
        // Produced carries an 8-column expiry date, Consumed a 15-column planned quantity.
        { name: 'EXPIRY', from: 89, to: 96 },
        { name: 'PLANNED_QTY', from: 89, to: 103, impliedDecimals: 3 },
      ],
    },
    WO: {
      fields: [
        { name: 'WORK_ORDER', from: 4, to: 23 },
        { name: 'PO', from: 24, to: 58 },
        { name: 'PO_LINE', from: 59, to: 64 },
        { name: 'PRODUCT_CODE_TYPE', from: 65, to: 71 },
        { name: 'PRODUCT_CODE', from: 72, to: 111 },
        { name: 'LOT', from: 112, to: 131 },
        { name: 'QTY', from: 132, to: 146, impliedDecimals: 3 },
        { name: 'UOM', from: 147, to: 149 },
      ],
    },
    MS: {
      fields: [
        { name: 'MILESTONE', from: 4, to: 23 },
        { name: 'PLANNED', from: 24, to: 31 },
        { name: 'ACTUAL', from: 32, to: 39 },
      ],
    },
    TRL: { fields: [{ name: 'COUNT', from: 4, to: 12 }] },
  },
};
