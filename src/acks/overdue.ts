// Overdue acks (product.md 1): a SENT message with no ack after its partner's
// ackDeadlineMinutes is overdue. That is a flag, not a state: `status` and `messages` compute it
// from sent_at; here it is logged once per message (warn), and messages.overdue_logged_at
// remembers that it was (a resend clears it, so a resent message can be overdue again).
import type { Config } from '../config/load.js';
import { DEFAULT_ACK_DEADLINE_MINUTES } from '../config/schema.js';
import { nowIso, type Db } from '../ledger/db.js';
import { VISIBLE } from '../ledger/ledger.js';
import type { Logger } from '../log.js';


export interface OverdueMessage {
  messageId: number;
  fcn: string;
  partner: string;
  sentAt: string;
  deadlineMinutes: number;
}

/** Pure: sent at `sentAt`, is it older than `deadlineMinutes` at `now`? An unreadable sentAt is not overdue. */
export function isOverdue(sentAt: string | Date, deadlineMinutes: number, now: Date): boolean {
  const sent = typeof sentAt === 'string' ? Date.parse(sentAt) : sentAt.getTime();
  if (!Number.isFinite(sent) || !Number.isFinite(deadlineMinutes)) return false;
  return now.getTime() - sent > deadlineMinutes * 60_000;
}

/** The partner's deadline; the schema's default for messages of a partner no longer configured. */
export function deadlineMinutesOf(config: Pick<Config, 'partners'>, partner: string): number {
  const p = Object.prototype.hasOwnProperty.call(config.partners, partner) ? config.partners[partner] : undefined;
  return p?.ackDeadlineMinutes ?? DEFAULT_ACK_DEADLINE_MINUTES;
}

/** SENT before this instant and still no ack: overdue (product.md 1). */
export function overdueCutoff(config: Pick<Config, 'partners'>, partner: string, now: Date): string {
  return new Date(now.getTime() - deadlineMinutesOf(config, partner) * 60_000).toISOString();
}

/**
 * Logs (warn, once) every SENT message past its partner's deadline that was not logged yet and
 * sets its overdue_logged_at. `opts.partner` limits it to one partner (the ack scheduler runs
 * it per partner); without it every partner with SENT messages is checked. Safe beside another
 * process doing the same: each flag is set by a guarded UPDATE, and only the process whose
 * UPDATE changed the row logs it. Returns the messages flagged now.
 */
export function flagOverdue(db: Db, config: Pick<Config, 'partners'>, logger: Logger, now: Date = new Date(), opts: { partner?: string } = {}): OverdueMessage[] {
  const partners = opts.partner
    ? [opts.partner]
    : (db.prepare(`SELECT DISTINCT partner FROM messages WHERE state = 'SENT' AND overdue_logged_at IS NULL`).all() as { partner: string }[]).map((r) => r.partner);
  const find = db.prepare(
    `SELECT m.id, m.fcn, m.partner, COALESCE(m.sent_at, m.updated_at) AS sent_at FROM messages m
     WHERE m.partner = ? AND m.state = 'SENT' AND m.overdue_logged_at IS NULL AND COALESCE(m.sent_at, m.updated_at) < ? AND ${VISIBLE}
     ORDER BY m.id`,
  );
  const mark = db.prepare(`UPDATE messages SET overdue_logged_at = ? WHERE id = ? AND state = 'SENT' AND overdue_logged_at IS NULL`);
  const flagged: OverdueMessage[] = [];
  const at = nowIso();
  db.transaction(() => {
    for (const partner of partners) {
      const deadline = deadlineMinutesOf(config, partner);
      const cutoff = new Date(now.getTime() - deadline * 60_000).toISOString();
      for (const r of find.all(partner, cutoff) as { id: number; fcn: string; partner: string; sent_at: string }[]) {
        // the SQL compares ISO text; the pure rule has the last word (a sent_at in another format)
        if (!isOverdue(r.sent_at, deadline, now)) continue;
        if (mark.run(at, r.id).changes === 1) flagged.push({ messageId: r.id, fcn: r.fcn, partner: r.partner, sentAt: r.sent_at, deadlineMinutes: deadline });
      }
    }
  }).immediate();
  for (const m of flagged) {
    logger.warn('ack overdue: no ack for a SENT message within the partner deadline', {
      messageId: m.messageId,
      fcn: m.fcn,
      partner: m.partner,
      sentAt: m.sentAt,
      deadlineMinutes: m.deadlineMinutes,
    });
  }
  return flagged;
}
