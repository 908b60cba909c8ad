// `tlbridge dismiss ERROR_FILE|ACK_ID|MESSAGE_ID --reason T` (product.md 9): an error file
// (it stays in error/ and the archive), an unmatched or invalid ack or an ack of a HELD or
// CANCELLED message, or a REJECTED message no longer needs attention: status --check leaves
// it out from now on. A bare number that names both an ack and a message needing attention
// is refused as ambiguous; `ack:N` and `message:N` say which.
import path from 'node:path';
import type { Config } from '../config/load.js';
import { dataPaths } from '../config/paths.js';
import type { Db } from '../ledger/db.js';
import { ACK_NEEDS_ATTENTION, addDismissal, isDismissed, type DismissalKind } from '../ledger/dismissals.js';
import { UsageError, type Io } from './io.js';
import { actionText, findMessage, operatorCommand, Refused } from './operator-command.js';
import { errorFileNames } from '../monitor/status.js';

interface Subject {
  kind: DismissalKind;
  subject: string;
  partner: string | null;
  what: string;
}

function ackSubject(db: Db, id: string): Subject | null {
  if (!/^\d+$/.test(id)) return null;
  const a = db.prepare(`SELECT a.id, a.partner, a.remote_name AS name, a.effect FROM acks a WHERE a.id = ? AND ${ACK_NEEDS_ATTENTION}`).get(Number(id)) as
    | { id: number; partner: string; name: string; effect: string | null }
    | undefined;
  return a ? { kind: 'ack', subject: String(a.id), partner: a.partner, what: `ack ${a.id} (${a.partner} ${a.name}, ${a.effect ?? 'invalid'})` } : null;
}

function messageSubject(db: Db, id: string): Subject | null {
  const m = findMessage(db, id);
  return m && m.state === 'REJECTED' ? { kind: 'message', subject: String(m.id), partner: m.partner, what: `REJECTED message ${m.id} (${m.fcn})` } : null;
}

function resolve(config: Config, db: Db, target: string): Subject {
  const prefixed = /^(ack|message):(.+)$/.exec(target);
  if (prefixed) {
    const s = prefixed[1] === 'ack' ? ackSubject(db, prefixed[2]!) : messageSubject(db, prefixed[2]!);
    if (!s) throw new Refused(`${target}: no ${prefixed[1] === 'ack' ? 'ack needing attention' : 'REJECTED message'} with that id`);
    return s;
  }
  // an error file by its name, or by a path to it in error/
  const name = path.resolve(path.dirname(path.resolve(target))) === path.resolve(dataPaths(config).error) ? path.basename(target) : target;
  if (errorFileNames(config).includes(name)) return { kind: 'error_file', subject: name, partner: null, what: `error file ${name}` };
  const ack = ackSubject(db, target);
  const msg = messageSubject(db, target);
  if (ack && msg) throw new Refused(`${target} is both ${ack.what} and ${msg.what}; say ack:${target} or message:${target}`);
  const s = ack ?? msg;
  if (!s) throw new Refused(`${target} is no error file in error/, no ack needing attention and no REJECTED message`);
  return s;
}

export function dismiss(config: Config, opts: { target?: string; reason?: string }, io: Io): number {
  if (!opts.target) throw new UsageError('dismiss needs an ERROR_FILE (its name in error/), an ACK_ID or a MESSAGE_ID');
  const target = opts.target;
  return operatorCommand(config, 'dismiss', opts.reason, io, (c) => {
    const s = resolve(config, c.db, target);
    if (isDismissed(c.db, s.kind, s.subject)) throw new Refused(`${s.what} is dismissed already`);
    const { action } = c.act(s.subject, { dismissedKind: s.kind, partner: s.partner }, (a) => {
      addDismissal(c.db, { kind: s.kind, subject: s.subject, operatorActionId: a.id, at: a.at });
    });
    return `${s.what}: dismissed; status --check no longer reports it (${actionText(action)})`;
  });
}
