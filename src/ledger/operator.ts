// Commands that change state on an operator's word (resend, reprocess; later hold, release,
// cancel) record who, when and why in the ledger AND in the archive chain, in the same
// transaction as the change itself (product.md 4).
import type { Archive } from '../archive/archive.js';
import type { Ledger } from './ledger.js';

export interface OperatorAction {
  id: number;
  at: string;
  osUser: string;
  dir: string;
}

export function withOperatorAction<T>(
  ledger: Ledger,
  archive: Archive,
  action: { command: string; target: string; reason: string; extra?: Record<string, unknown> },
  change: (a: Omit<OperatorAction, 'dir'>) => T,
): { action: OperatorAction; result: T } {
  const db = ledger.db;
  return db
    .transaction(() => {
      ledger.recordOperatorAction(action.command, action.target, action.reason);
      const row = db.prepare('SELECT id, at, os_user FROM operator_actions WHERE id = last_insert_rowid()').get() as { id: number; at: string; os_user: string };
      const a = { id: row.id, at: row.at, osUser: row.os_user };
      const { dir, result } = archive.add(
        'operator',
        String(a.id),
        [],
        { command: action.command, target: action.target, reason: action.reason, osUser: a.osUser, at: a.at, ...action.extra },
        () => change(a),
      );
      return { action: { ...a, dir }, result };
    })
    .immediate();
}
