// `tlbridge audit trace ID` (product.md 10): the whole life of every message matching a message
// id, a FileControlNumber or a reference document number, as text or `--json` (an array).
import type { Config } from '../config/load.js';
import { dataPaths } from '../config/paths.js';
import { openForCommand } from '../ledger/open.js';
import { traceMessages, type TraceMessage } from '../audit/trace.js';
import { EXIT, UsageError, type Io } from './io.js';

export function auditTrace(config: Config, o: { id: string; json: boolean }, io: Io): number {
  const id = o.id?.trim();
  if (!id) throw new UsageError('audit trace needs an ID: a message id, a FileControlNumber or a reference document number');
  const { db } = openForCommand(config, { create: false });
  try {
    const found = db.transaction(() => traceMessages(db, dataPaths(config).archive, id))();
    if (o.json) io.out(JSON.stringify(found, null, 2));
    else for (const [i, m] of found.entries()) io.out((i ? '\n' : '') + traceText(m));
    if (!found.length) {
      io.err(`tlbridge audit trace: no message matches ${JSON.stringify(id)} (a message id, FileControlNumber or reference document number)`);
      return EXIT.FAILED;
    }
    return EXIT.OK;
  } finally {
    db.close();
  }
}

const dash = (v: string | null | undefined) => (v === null || v === undefined || v === '' ? '-' : v);

/** The human text of one message's history (times are UTC, as recorded). */
export function traceText(m: TraceMessage): string {
  const out: string[] = [];
  out.push(`message ${m.id}: ${m.fileControlNumber}, ${m.messageType} for ${m.partner}, state ${m.state}`);
  out.push(`  reference document ${m.referenceDocumentNumber}, work order ${dash(m.workOrderNumber)}${m.originalReferenceDocumentNumber ? `, reverses ${m.originalReferenceDocumentNumber}` : ''}`);
  out.push(`  lots: ${m.lots.length ? m.lots.join('; ') : '-'}`);
  out.push(`  source: ${m.source.file}, line ${m.source.line} (file ${m.source.fileId}, sha256 ${m.source.sha256}, received ${m.source.receivedAt}, archived in ${dash(m.source.archiveDir)})`);
  out.push(`  XML: ${m.xml.path} (sha256 ${m.xml.sha256}, ${m.xml.bytes} bytes)`);
  const r = m.rulesInForce;
  if (r) {
    out.push(`  rules in force when staged: config manifest ${r.manifest} (${r.event ?? 'config'} at ${r.createdAt})`);
    out.push(`    config ${r.config ? `${r.config.path} sha256 ${r.config.sha256}` : '- (not named in the manifest)'}`);
    out.push(`    schema ${r.schema ? `${r.schema.name} ${r.schema.path} sha256 ${r.schema.sha256}` : `${m.messageType}: - (not named in the manifest)`}`);
  } else out.push('  rules in force when staged: - (no config manifest in the chain before it was staged)');
  out.push(`  transitions (${m.transitions.length}):`);
  for (const t of m.transitions) {
    const who = t.operator && !t.detail?.includes(`operator action ${t.operator.actionId}`) ? ` [operator action ${t.operator.actionId}: ${t.operator.command} by ${t.operator.by}]` : '';
    out.push(`    ${t.at}  ${t.from ?? '(new)'} -> ${t.to}${t.detail ? `  ${t.detail}` : ''}${who}`);
  }
  out.push(`  uploads (${m.uploads.length}):`);
  m.uploads.forEach((u, i) =>
    out.push(`    ${i + 1}. batch ${u.batchId} (started ${u.batchTime}), sent ${u.sentAt} to ${dash(u.remotePath)}; XML archived as ${dash(u.archivedXml)}`),
  );
  out.push(`  acks (${m.acks.length}):`);
  for (const a of m.acks) {
    const codes = a.errors.length ? a.errors.map((e) => `${e.code} (class ${e.class}${e.message ? `: ${e.message}` : ''})`).join('; ') : 'no error codes';
    out.push(`    ack ${a.id} ${dash(a.ackFileControlNumber)}: ${dash(a.status)} of ${dash(a.fileDate)} ${dash(a.fileTime)}, effect ${dash(a.effect)}, received ${a.receivedAt}; ${codes}`);
    out.push(`      ${a.remoteName} archived as ${dash(a.archivedPath)} (sha256 ${a.sha256})${a.note ? `; ${a.note}` : ''}`);
  }
  return out.join('\n');
}
