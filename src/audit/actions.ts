// The operator actions of a report's period (product.md 4, 10): who (the OS user and the login
// user behind it, as the commands record them), when, what, on which target, why, and the
// archive manifest that documents it.
import type { Db } from '../ledger/db.js';
import { operatorText } from '../ledger/operator.js';
import type { ReportFilters } from './rows.js';
import { filterSql } from './where.js';

export interface ActionRow {
  id: number;
  at: string;
  command: string;
  target: string;
  reason: string;
  osUser: string;
  loginUser: string | null;
  sudoUser: string | null;
  /** "alice (login bob, sudo from bob)" */
  by: string;
  /** the operator manifest's path under archive/, when it is in the chain */
  manifest: string | null;
}

/**
 * With a partner: the actions on that partner (pause, resume), on its messages (by
 * FileControlNumber or id), its acks and its files (error files by name).
 */
const OF_PARTNER = `(o.target = @partner
  OR EXISTS (SELECT 1 FROM messages m WHERE m.partner = @partner AND (m.fcn = o.target OR CAST(m.id AS TEXT) = o.target))
  OR EXISTS (SELECT 1 FROM acks a WHERE a.partner = @partner AND CAST(a.id AS TEXT) = o.target)
  OR EXISTS (SELECT 1 FROM files f WHERE f.partner = @partner AND f.name = o.target))`;

export function iterateActions(db: Db, f: ReportFilters): IterableIterator<ActionRow> {
  const w = filterSql(f, { at: 'o.at', partner: OF_PARTNER });
  const rows = db
    .prepare(
      `SELECT o.id, o.at, o.command, o.target, o.reason, o.os_user AS osUser, o.login_user AS loginUser, o.sudo_user AS sudoUser,
         (SELECT x.path FROM manifests x WHERE x.kind = 'operator' AND x.ref = CAST(o.id AS TEXT)) AS manifest
       FROM operator_actions o ${w.sql ? `WHERE ${w.sql}` : ''} ORDER BY o.id`,
    )
    .iterate(w.params) as IterableIterator<Omit<ActionRow, 'by'>>;
  return (function* () {
    for (const r of rows) yield { ...r, by: operatorText(r) };
  })();
}
