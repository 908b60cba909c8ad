// The rules of messages.md 1.5 that need the ledger's history: duplicate documents, repeated
// Work Order Milestones updates, and reversals that must point at a live original and may
// not reverse more than it moved.
import type { Config } from '../config/load.js';
import { inputError, type InputError } from '../flatfile/errors.js';
import { lineKey, type Ledger } from '../ledger/ledger.js';
import type { MappedMessage } from '../messages/types.js';
import type { FileHeader } from './translate.js';

/** Quantities as integer thousandths: at most 3 decimals (the XSD's limit), never floats. */
export function milli(q: string): bigint {
  const [i, f = ''] = q.split('.');
  return BigInt(i!) * 1000n + BigInt(f.padEnd(3, '0').slice(0, 3));
}

export function fromMilli(v: bigint): string {
  const i = v / 1000n;
  const f = (v % 1000n).toString().padStart(3, '0').replace(/0+$/, '');
  return f ? `${i}.${f}` : `${i}`;
}

/** An earlier message in one of these states blocks nothing: REJECTED by the partner or
 * CANCELLED by an operator, it was never (validly) sent (messages.md 1.5). A HELD one is known. */
const NEVER_SENT = new Set(['REJECTED', 'CANCELLED']);

export function historyRules(ledger: Ledger, config: Config): (m: MappedMessage, h: FileHeader, bodyHash: string) => InputError[] {
  // reversals earlier in the same file count against the same original line
  const inFile = new Map<string, bigint>();
  return (m, h, bodyHash) => {
    const info = config.messageTypes[m.type];
    const k = m.keys;
    if (m.type === 'WORK_ORDER_MILESTONES') {
      const last = ledger.lastMilestones(h.partner, k.workOrderNumber);
      if (last && last.body_hash === bodyHash && !NEVER_SENT.has(last.state))
        return [
          {
            ...inputError(m.line, 'WORK_ORDER', k.workOrderNumber, `repeats the last update staged for this work order unchanged (file ${last.file}, received ${last.received_at}, FileControlNumber ${last.fcn})`),
            kind: 'duplicate',
            original: { file: last.file, receivedAt: last.received_at, fileControlNumber: last.fcn },
          },
        ];
      return [];
    }
    const errors: InputError[] = [];
    const dup = ledger.blockingDuplicate(h.partner, m.type, k.referenceDocumentNumber);
    if (dup)
      errors.push({
        ...inputError(m.line, 'REFERENCE_DOC_NO', k.referenceDocumentNumber, `was already received for ${h.partner} (file ${dup.file}, received ${dup.received_at}, FileControlNumber ${dup.fcn})`),
        kind: 'duplicate',
        original: { file: dup.file, receivedAt: dup.received_at, fileControlNumber: dup.fcn },
      });
    if (!info.reverses || !k.originalReferenceDocumentNumber) return errors;

    const origRef = k.originalReferenceDocumentNumber;
    const original = ledger.reversalOriginal(h.partner, info.reverses, origRef);
    if (!original) {
      if (config.reversals.requireKnownOriginal)
        errors.push({
          ...inputError(m.line, 'ORIGINAL_REFERENCE_DOC_NO', origRef, `points at no ${info.reverses} document sent to ${h.partner} (unknown, rejected or cancelled); set reversals.requireKnownOriginal: false for originals sent before tlbridge`),
          kind: 'rule',
        });
      return errors;
    }
    const origLines = ledger.messageLines(original.id);
    const available = new Map<string, bigint>();
    for (const l of origLines) {
      const key = lineKey(l.product_type, l.product_code, l.lot);
      available.set(key, (available.get(key) ?? 0n) + milli(l.quantity));
    }
    const already = ledger.reversedQuantities(h.partner, m.type, origRef);
    for (const l of k.lines) {
      const key = lineKey(l.product.type, l.product.code, l.lot);
      const orig = available.get(key);
      if (orig === undefined) {
        errors.push({
          ...inputError(l.line, 'LOT', l.lot, `with product ${l.product.code} matches no line of the original document ${origRef} (FileControlNumber ${original.fcn})`),
          kind: 'rule',
        });
        continue;
      }
      const fileKey = `${origRef}\u0000${key}`;
      const before = (already.get(key) ?? []).reduce((a, q) => a + milli(q), 0n) + (inFile.get(fileKey) ?? 0n);
      const total = before + milli(l.quantity);
      if (total > orig) {
        errors.push({
          ...inputError(l.line, 'QTY', l.quantity, `would reverse ${fromMilli(total)} in all of product ${l.product.code} lot ${l.lot}, more than the ${fromMilli(orig)} of the original document ${origRef}`),
          kind: 'rule',
        });
        continue;
      }
      inFile.set(fileKey, (inFile.get(fileKey) ?? 0n) + milli(l.quantity));
    }
    return errors;
  };
}

/** What the rules above read of the ledger for a message, and what a converted message adds
 * to it, as keys: a group of files converted before one commit (group.ts) must not hold a file
 * whose rules would read what an earlier file of the same group adds (its duplicate, its
 * original, its last milestones update), since that is not committed while the rules run. */
export function ruleKeys(m: MappedMessage, partner: string, config: Config): { reads: string[]; writes: string[] } {
  const k = m.keys;
  const doc = (type: string, ref: string) => `d\u0000${partner}\u0000${type}\u0000${ref}`;
  const reads = [doc(m.type, k.referenceDocumentNumber)];
  const writes = [doc(m.type, k.referenceDocumentNumber)];
  if (m.type === 'WORK_ORDER_MILESTONES') {
    const wo = `w\u0000${partner}\u0000${k.workOrderNumber}`;
    reads.push(wo);
    writes.push(wo);
  }
  const reverses = config.messageTypes[m.type].reverses;
  if (reverses && k.originalReferenceDocumentNumber) {
    const rev = `r\u0000${partner}\u0000${m.type}\u0000${k.originalReferenceDocumentNumber}`;
    reads.push(doc(reverses, k.originalReferenceDocumentNumber), rev);
    writes.push(rev);
  }
  return { reads, writes };
}
