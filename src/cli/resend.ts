// `tlbridge resend MESSAGE_ID --reason TEXT` (product.md 1, 4): a SENT message back to
// STAGED, so the next batch cycle uploads it again under the same name and FileControlNumber;
// its XML file is not touched, so the resend is byte-identical. The state change, its
// transition, the operator action (OS user, time, reason) and an `operator` archive manifest
// in the chain commit together, or none of them does.
import fs from 'node:fs';
import path from 'node:path';
import { Archive } from '../archive/archive.js';
import type { Config } from '../config/load.js';
import { dataPaths } from '../config/paths.js';
import { sha256 } from '../util/sha256.js';
import { Ledger, VISIBLE } from '../ledger/ledger.js';
import { moveMessage } from '../ledger/message-states.js';
import { withOperatorAction } from '../ledger/operator.js';
import { EXIT, UsageError, type Io } from './io.js';
import { openForCommand } from '../ledger/open.js';

interface Target {
  id: number;
  fcn: string;
  partner: string;
  message_type: string;
  state: string;
  xml_path: string;
  xml_sha256: string;
}

/** Thrown inside the transaction to roll it back with a message for the operator (exit 1). */
class Refused extends Error {}

export function resend(config: Config, opts: { id?: string; reason?: string }, io: Io): number {
  if (!opts.id) throw new UsageError('resend needs a MESSAGE_ID (the id shown by `tlbridge messages`)');
  const reason = opts.reason?.trim();
  if (!reason) throw new UsageError('resend needs --reason TEXT (it is recorded with your user name in the ledger and the archive)');

  const { db, exists } = openForCommand(config, { create: false });
  try {
    if (!exists) {
      io.err(`tlbridge resend: no message ${opts.id}: there is no ledger yet (${dataPaths(config).ledger})`);
      return EXIT.FAILED;
    }
    const ledger = new Ledger(db);
    const archive = new Archive(dataPaths(config).archive, db);
    const find = db.prepare(
      `SELECT m.id, m.fcn, m.partner, m.message_type, m.state, m.xml_path, m.xml_sha256 FROM messages m
       WHERE ${VISIBLE} AND (CAST(m.id AS TEXT) = ? OR m.fcn = ?) ORDER BY m.id LIMIT 1`,
    );

    let done: { m: Target; actionId: number; at: string; dir: string };
    try {
      // IMMEDIATE: the write lock is taken before the state is read, so a batch cycle or an
      // ack of the daemon cannot change the message between the check and the update
      done = db
        .transaction(() => {
          const m = find.get(opts.id, opts.id) as Target | undefined;
          if (!m) throw new Refused(`no message ${opts.id} (ids are shown by \`tlbridge messages\`)`);
          if (m.state !== 'SENT')
            throw new Refused(`message ${m.id} (${m.fcn}) is ${m.state}; only a SENT message (uploaded, no ack yet) can be resent`);
          // byte-identical or nothing: refuse if the staged XML was altered since staging
          const xml = path.isAbsolute(m.xml_path) ? m.xml_path : path.join(config.dataDir, m.xml_path);
          if (fs.existsSync(xml)) {
            const actual = sha256(fs.readFileSync(xml));
            if (actual !== m.xml_sha256) throw new Refused(`message ${m.id} (${m.fcn}): ${xml} changed since staging (sha256 ${actual}, staged ${m.xml_sha256}); a resend must be byte-identical`);
          }

          // nested: a savepoint of this transaction, so the check above and the change commit together
          const { action } = withOperatorAction(
            ledger,
            archive,
            { command: 'resend', target: m.fcn, reason, extra: { messageId: String(m.id), partner: m.partner, from: 'SENT', to: 'STAGED' } },
            (a) => {
              const r = moveMessage(db, m.id, 'SENT', 'STAGED', {
                detail: `resend by ${a.osUser} (operator action ${a.id}): ${reason}`,
                set: { clearOverdue: true },
              });
              if (!r.moved) throw new Error(`message ${m.id} changed state during the resend (it is ${r.now})`);
            },
          );
          return { m, actionId: action.id, at: action.at, dir: action.dir };
        })
        .immediate();
    } catch (e) {
      if (e instanceof Refused) {
        io.err(`tlbridge resend: ${e.message}`);
        return EXIT.FAILED;
      }
      throw e;
    }
    io.out(
      `${done.m.fcn} (message ${done.m.id}, ${done.m.partner} ${done.m.message_type}): SENT -> STAGED; the next batch uploads it again under the same name and FileControlNumber ` +
        `(operator action ${done.actionId} at ${done.at}, archived in ${done.dir})`,
    );
    return EXIT.OK;
  } finally {
    db.close();
  }
}
