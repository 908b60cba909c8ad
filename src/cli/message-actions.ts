// `hold`, `release`, `cancel`, `confirm` (product.md 9): a message moved on an operator's
// word, through the state machine (ledger/message-states.ts), with the operator action in the
// ledger and the archive chain, all in one transaction. A held or cancelled message is never
// uploaded: a batch cycle only claims STAGED messages.
import type { Config } from '../config/load.js';
import type { Db } from '../ledger/db.js';
import type { MessageState } from '../ledger/ledger.js';
import { VISIBLE } from '../ledger/ledger.js';
import { moveMessage } from '../ledger/message-states.js';
import { UsageError, type Io } from './io.js';
import { actionDetail, actionText, findMessage, operatorCommand, Refused } from './operator-command.js';

export type MessageCommand = 'hold' | 'release' | 'cancel' | 'confirm';

interface Move {
  from: readonly MessageState[];
  to: MessageState;
  /** what the new state means, for the success line */
  meaning: string;
}

function moveOf(command: MessageCommand, opts: { accepted?: boolean; rejected?: boolean }): Move {
  switch (command) {
    case 'hold':
      return { from: ['STAGED'], to: 'HELD', meaning: 'it is not uploaded until released' };
    case 'release':
      return { from: ['HELD'], to: 'STAGED', meaning: 'the next batch cycle uploads it' };
    case 'cancel':
      return { from: ['STAGED', 'HELD'], to: 'CANCELLED', meaning: 'it is never uploaded (final)' };
    case 'confirm':
      if (opts.accepted === opts.rejected) throw new UsageError('confirm needs exactly one of --accepted and --rejected');
      return opts.accepted
        ? { from: ['SENT'], to: 'ACCEPTED', meaning: 'the partner accepted it (confirmed by an operator)' }
        : { from: ['SENT'], to: 'REJECTED', meaning: 'the partner rejected it (confirmed by an operator)' };
  }
}

export function messageAction(
  config: Config,
  command: MessageCommand,
  opts: { id?: string; reason?: string; accepted?: boolean; rejected?: boolean },
  io: Io,
): number {
  if (!opts.id) throw new UsageError(`${command} needs a MESSAGE_ID (the id shown by \`tlbridge messages\`)`);
  const id = opts.id;
  const move = moveOf(command, opts);
  return operatorCommand(config, command, opts.reason, io, (c) => {
    const m = findMessage(c.db, id);
    if (!m) throw new Refused(`no message ${id} (ids are shown by \`tlbridge messages\`)`);
    const from = m.state;
    if (!move.from.includes(from)) throw new Refused(`message ${m.id} (${m.fcn}) is ${from}; ${command} needs a ${move.from.join(' or ')} message`);
    const { action } = c.act(m.fcn, { messageId: String(m.id), partner: m.partner, from, to: move.to }, (a) => {
      const r = moveMessage(c.db, m.id, from, move.to, { detail: actionDetail(command, a, c.reason) });
      if (!r.moved) throw new Error(`message ${m.id} changed state during ${command} (it is ${r.now})`);
    });
    const reversals = move.to === 'CANCELLED' ? stagedReversalsOf(c.db, m) : [];
    const also = reversals.length
      ? `; its staged reversal(s) ${reversals.join(', ')} are never uploaded now (listed by status and status --check)`
      : '';
    return `${m.fcn} (message ${m.id}, ${m.partner} ${m.messageType}): ${from} -> ${move.to}; ${move.meaning}${also} (${actionText(action)})`;
  });
}

/** The STAGED reversals of message m (same partner, its type + _REVERSAL, naming its reference). */
function stagedReversalsOf(db: Db, m: { partner: string; messageType: string; referenceDoc: string }): string[] {
  return db
    .prepare(`SELECT m.fcn FROM messages m WHERE ${VISIBLE} AND m.state = 'STAGED' AND m.partner = ? AND m.message_type = ? AND m.original_ref = ? ORDER BY m.id`)
    .pluck()
    .all(m.partner, `${m.messageType}_REVERSAL`, m.referenceDoc) as string[];
}
