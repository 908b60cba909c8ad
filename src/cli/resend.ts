// `tlbridge resend MESSAGE_ID --reason TEXT` (product.md 1, 4): a SENT message back to
// STAGED, so the next batch cycle uploads it again under the same name and FileControlNumber;
// its XML file is not touched, so the resend is byte-identical. The state change, its
// transition, the operator action (who, time, reason) and an `operator` archive manifest in the
// chain commit together, or none of them does (operator-command.ts).
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/load.js';
import { moveMessage } from '../ledger/message-states.js';
import { sha256 } from '../util/sha256.js';
import { UsageError, type Io } from './io.js';
import { actionDetail, actionText, findMessage, operatorCommand, Refused } from './operator-command.js';

export function resend(config: Config, opts: { id?: string; reason?: string }, io: Io): number {
  const id = opts.id;
  if (!id) throw new UsageError('resend needs a MESSAGE_ID (the id shown by `tlbridge messages`)');
  return operatorCommand(config, 'resend', opts.reason, io, (c) => {
    const m = findMessage(c.db, id);
    if (!m) throw new Refused(`no message ${id} (ids are shown by \`tlbridge messages\`)`);
    if (m.state !== 'SENT') throw new Refused(`message ${m.id} (${m.fcn}) is ${m.state}; only a SENT message (uploaded, no ack yet) can be resent`);
    // byte-identical or nothing: refuse if the staged XML was altered since staging
    const row = c.db.prepare('SELECT xml_path, xml_sha256 FROM messages WHERE id = ?').get(m.id) as { xml_path: string; xml_sha256: string };
    const xml = path.isAbsolute(row.xml_path) ? row.xml_path : path.join(config.dataDir, row.xml_path);
    if (fs.existsSync(xml)) {
      const actual = sha256(fs.readFileSync(xml));
      if (actual !== row.xml_sha256) throw new Refused(`message ${m.id} (${m.fcn}): ${xml} changed since staging (sha256 ${actual}, staged ${row.xml_sha256}); a resend must be byte-identical`);
    }
    const { action } = c.act(m.fcn, { messageId: String(m.id), partner: m.partner, from: 'SENT', to: 'STAGED' }, (a) => {
      const r = moveMessage(c.db, m.id, 'SENT', 'STAGED', { detail: actionDetail('resend', a, c.reason), set: { clearOverdue: true } });
      if (!r.moved) throw new Error(`message ${m.id} changed state during the resend (it is ${r.now})`);
    });
    return (
      `${m.fcn} (message ${m.id}, ${m.partner} ${m.messageType}): SENT -> STAGED; the next batch uploads it again under the same name and FileControlNumber ` +
      `(${actionText(action)})`
    );
  });
}
