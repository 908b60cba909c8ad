// What an operator said no longer needs attention (`dismiss`, product.md 9): an error file
// (by its name in error/, the file stays), an ack (by id), a REJECTED message (by id).
// status --check leaves dismissed ones out; retention asks whether an error file is dismissed.
import type { Db } from './db.js';

/** Acks (alias a) that need attention until dismissed: unmatched, invalid, or for a HELD or
 * CANCELLED message (effect 'alert', needs_attention = 1). */
export const ACK_NEEDS_ATTENTION = `(a.valid = 0 OR a.effect IN ('unmatched', 'invalid', 'alert') OR a.needs_attention = 1)`;

export type DismissalKind = 'error_file' | 'ack' | 'message';

export interface Dismissal {
  kind: DismissalKind;
  subject: string;
  operatorActionId: number;
  at: string;
}

export function isDismissed(db: Db, kind: DismissalKind, subject: string): boolean {
  return db.prepare('SELECT 1 FROM dismissals WHERE kind = ? AND subject = ?').get(kind, subject) !== undefined;
}

export function isErrorFileDismissed(db: Db, name: string): boolean {
  return isDismissed(db, 'error_file', name);
}

/** Every dismissed subject of a kind, for filtering many at once. */
export function dismissedSubjects(db: Db, kind: DismissalKind): Set<string> {
  return new Set(db.prepare('SELECT subject FROM dismissals WHERE kind = ?').pluck().all(kind) as string[]);
}

/** false: it was dismissed already (nothing changed) */
export function addDismissal(db: Db, d: Dismissal): boolean {
  return (
    db
      .prepare('INSERT INTO dismissals (kind, subject, operator_action_id, at) VALUES (?, ?, ?, ?) ON CONFLICT (kind, subject) DO NOTHING')
      .run(d.kind, d.subject, d.operatorActionId, d.at).changes === 1
  );
}
