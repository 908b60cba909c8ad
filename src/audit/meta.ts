// What every report says about itself (product.md 10): who generated it and when, the filters,
// the tlbridge version and timezone, and the state of the archive chain: its head, a chain-only
// check made now, and the last full `audit verify` recorded in the ledger.
import fs from 'node:fs';
import { verifyArchive } from '../archive/verify.js';
import type { Db } from '../ledger/db.js';
import { loginUser, operatorText, osUser, sudoUser } from '../ledger/operator.js';
import { lastVerifyRun, type VerifyRun } from '../ledger/verify-runs.js';

export interface ReportFiltersShown {
  /** as typed (a date or date-time), and the UTC instant it names */
  from: { text: string; utc: string } | null;
  to: { text: string; utc: string } | null;
  partner: string | null;
}

export interface ChainState {
  /** sha256 of the newest manifest, null when nothing is archived yet */
  head: string | null;
  headPath: string | null;
  manifests: number;
  /** the chain-only check made for this report */
  checkedNow: { at: string; ok: boolean; problems: string[] };
  /** the last full `audit verify`, null when none was recorded */
  lastVerify: VerifyRun | null;
}

export interface ReportMeta {
  generatedAt: string;
  generatedBy: { osUser: string; loginUser: string | null; sudoUser: string | null; text: string };
  filters: ReportFiltersShown;
  version: string;
  timezone: string;
  chain: ChainState;
}

/** The problems a report shows of a failed check; the count is always whole. */
const MAX_PROBLEMS_SHOWN = 20;

export function chainState(db: Db, archiveRoot: string): ChainState {
  const head = db.prepare('SELECT sha256, path FROM manifests ORDER BY seq DESC LIMIT 1').get() as { sha256: string; path: string } | undefined;
  const manifests = db.prepare('SELECT count(*) FROM manifests').pluck().get() as number;
  const at = new Date().toISOString();
  // nothing archived yet: no folder to check (and none is created by a read-only command)
  const problems = fs.existsSync(archiveRoot) ? verifyArchive(archiveRoot, db, { chainOnly: true }) : [];
  return {
    head: head?.sha256 ?? null,
    headPath: head?.path ?? null,
    manifests,
    checkedNow: { at, ok: problems.length === 0, problems: problems.slice(0, MAX_PROBLEMS_SHOWN).concat(problems.length > MAX_PROBLEMS_SHOWN ? [`... and ${problems.length - MAX_PROBLEMS_SHOWN} more`] : []) },
    lastVerify: lastVerifyRun(db),
  };
}

export function reportMeta(db: Db, o: { archiveRoot: string; filters: ReportFiltersShown; version: string; timezone: string }): ReportMeta {
  const who = { osUser: osUser(), loginUser: loginUser(), sudoUser: sudoUser() };
  return {
    generatedAt: new Date().toISOString(),
    generatedBy: { ...who, text: operatorText(who) },
    filters: o.filters,
    version: o.version,
    timezone: o.timezone,
    chain: chainState(db, o.archiveRoot),
  };
}
