// Paused partners (product.md 9): no batch cycle and no ack poll while paused, across
// restarts, so the pause is a ledger row that every slot and every CLI run asks about.
import type { Db } from './db.js';

export interface Pause {
  partner: string;
  pausedAt: string;
  pausedBy: string;
  reason: string;
}

const COLUMNS = 'partner, paused_at AS pausedAt, paused_by AS pausedBy, reason';

export function isPaused(db: Db, partner: string): boolean {
  return db.prepare('SELECT 1 FROM partner_pauses WHERE partner = ?').get(partner) !== undefined;
}

export function pauseOf(db: Db, partner: string): Pause | null {
  return (db.prepare(`SELECT ${COLUMNS} FROM partner_pauses WHERE partner = ?`).get(partner) as Pause | undefined) ?? null;
}

export function listPauses(db: Db): Pause[] {
  return db.prepare(`SELECT ${COLUMNS} FROM partner_pauses ORDER BY partner`).all() as Pause[];
}

/** false: already paused (nothing changed) */
export function addPause(db: Db, p: Pause): boolean {
  return (
    db.prepare('INSERT INTO partner_pauses (partner, paused_at, paused_by, reason) VALUES (?, ?, ?, ?) ON CONFLICT (partner) DO NOTHING').run(p.partner, p.pausedAt, p.pausedBy, p.reason)
      .changes === 1
  );
}

/** false: it was not paused */
export function removePause(db: Db, partner: string): boolean {
  return db.prepare('DELETE FROM partner_pauses WHERE partner = ?').run(partner).changes === 1;
}
