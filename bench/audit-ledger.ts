// A ledger of `n` uploaded and acknowledged messages made directly with SQL, in one transaction
// (the bench's audit report section and the report's 50,000-row test): input files of 100
// messages, batches of 500, one lot per message, the transitions a real cycle writes (STAGED,
// SENDING with `batch <id>`, SENT, then ACCEPTED or REJECTED), one valid ack per message (every
// 10th an ERROR with two codes); every 100th message gets no ack for its first upload and is
// resent (SENT -> STAGED), so it has a second upload in a later batch, which is acknowledged.
// Times run forward from `start`, one second per batch.
import { createHash } from 'node:crypto';
import type { Db } from '../src/ledger/db.js';

export interface GeneratedLedger {
  messages: number;
  uploads: number;
  batches: number;
  accepted: number;
  rejected: number;
}

const PER_FILE = 100;
const PER_BATCH = 500;
const RESEND_EVERY = 100;

export function generateAuditLedger(db: Db, n: number, partner = 'ACME-PHARMA', start = Date.parse('2026-01-05T08:00:00.000Z')): GeneratedLedger {
  const iso = (ms: number) => new Date(ms).toISOString();
  const p = {
    file: db.prepare(
      `INSERT INTO files (name, inbound, layout, sha256, bytes, state, message_type, partner, messages, archive_dir, received_at, updated_at)
       VALUES (?, '/drop', 'erp-delimited', ?, 10000, 'CONVERTED', 'MATERIALS_PRODUCED', ?, ?, ?, ?, ?)`,
    ),
    message: db.prepare(
      `INSERT INTO messages (file_id, partner, message_type, type_code, fcn, reference_doc, work_order, body_hash, source_line,
         xml_path, xml_sha256, bytes, state, remote_path, batch_id, attempts, created_at, updated_at, sent_at)
       VALUES (?, ?, 'MATERIALS_PRODUCED', 'MATERIALS_PRODUCED', ?, ?, ?, ?, ?, ?, ?, 1500, ?, ?, ?, 1, ?, ?, ?)`,
    ),
    line: db.prepare(`INSERT INTO message_lines (message_id, line_no, product_type, product_code, lot, quantity) VALUES (?, 1, 'GTIN', '00312345678906', ?, '10')`),
    batch: db.prepare(`INSERT INTO batches (partner, started_at, finished_at, outcome, messages, archive_dir) VALUES (?, ?, ?, 'sent', ?, ?)`),
    transition: db.prepare(`INSERT INTO transitions (entity, entity_id, from_state, to_state, at, detail) VALUES ('message', ?, ?, ?, ?, ?)`),
    ack: db.prepare(
      `INSERT INTO acks (partner, remote_name, sha256, bytes, valid, ack_fcn, input_fcn, status, errors_json, file_date, file_time,
         message_id, effect, archive_dir, received_at)
       VALUES (?, ?, ?, 900, 1, ?, ?, ?, ?, '2026-01-05', '12:00:00Z', ?, ?, ?, ?)`,
    ),
  };
  const errors = JSON.stringify([
    { code: 'E1042', class: 1, message: 'LotNumber unknown to receiver', path: null },
    { code: 'E2001', class: 1, message: 'quantity out of range', path: '/MessageBody/Lot[1]' },
  ]);
  const hex = (s: string) => createHash('sha256').update(s).digest('hex');
  let uploads = 0;
  let rejected = 0;
  let batches = 0;
  let ackSeq = 0;
  type Up = { id: number; fcn: string; final: 'ACCEPTED' | 'REJECTED'; resend: boolean };
  const resent: Up[] = [];
  db.transaction(() => {
    let t = start;
    let fileId = 0;
    const ids: Up[] = [];
    for (let i = 0; i < n; i++) {
      const at = iso(t);
      if (i % PER_FILE === 0) {
        const name = `ERP_${String(i / PER_FILE + 1).padStart(6, '0')}.txt`;
        fileId = Number(p.file.run(name, hex(name), partner, Math.min(PER_FILE, n - i), `2026/01/05/intake-${i / PER_FILE + 1}`, at, at).lastInsertRowid);
      }
      const fcn = `B${String(i + 1).padStart(12, '0')}`;
      const bad = i % 10 === 9;
      const state = bad ? 'REJECTED' : 'ACCEPTED';
      const id = Number(
        p.message.run(fileId, partner, fcn, `49${String(i).padStart(8, '0')}`, `WO-${i % 5000}`, hex(fcn), (i % PER_FILE) * 2 + 2, `outbox/${partner}/${fcn}.xml`, hex(`x${fcn}`), state, `/inbox/MATERIALS_PRODUCED/${fcn}.xml`, null, at, at, at).lastInsertRowid,
      );
      p.line.run(id, `LOT${String(i % 997).padStart(4, '0')}`);
      p.transition.run(id, null, 'STAGED', at, null);
      const m: Up = { id, fcn, final: state, resend: i % RESEND_EVERY === RESEND_EVERY - 1 };
      ids.push(m);
      if (bad) rejected++;
      if (m.resend) resent.push(m);
      if (ids.length === PER_BATCH || i === n - 1) {
        t = uploadBatch(ids.splice(0), t);
        // the resends of this stretch go in a batch of their own
        if (resent.length >= PER_BATCH || i === n - 1) if (resent.length) t = uploadBatch(resent.splice(0), t, true);
      }
    }
  })();

  function uploadBatch(list: Up[], t: number, again = false): number {
    const at = iso(t);
    const sent = iso(t + 400);
    const acked = iso(t + 800);
    batches++;
    const bid = Number(p.batch.run(partner, at, sent, list.length, `2026/01/05/batch-${batches}`).lastInsertRowid);
    for (const m of list) {
      if (again) p.transition.run(m.id, 'SENT', 'STAGED', at, 'resend (generated)');
      p.transition.run(m.id, 'STAGED', 'SENDING', at, `batch ${bid}`);
      p.transition.run(m.id, 'SENDING', 'SENT', sent, `batch ${bid}: uploaded to /inbox/MATERIALS_PRODUCED/${m.fcn}.xml`);
      uploads++;
      // the first upload of a message to be resent is never answered
      if (m.resend && !again) continue;
      p.transition.run(m.id, 'SENT', m.final, acked, 'ack');
      const rej = m.final === 'REJECTED';
      const ackName = `ack-${++ackSeq}.xml`;
      p.ack.run(partner, ackName, hex(ackName), `A${String(ackSeq).padStart(12, '0')}`, m.fcn, rej ? 'ERROR' : 'SUCCESS', rej ? errors : '[]', m.id, rej ? 'rejected' : 'accepted', `2026/01/05/acks-${ackSeq}`, acked);
    }
    db.prepare('UPDATE messages SET batch_id = ? WHERE id IN (SELECT value FROM json_each(?))').run(bid, JSON.stringify(list.map((m) => m.id)));
    return t + 1000;
  }
  return { messages: n, uploads, batches, accepted: n - rejected, rejected };
}
