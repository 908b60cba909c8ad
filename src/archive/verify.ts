// stub: replaced at merge by the real module
import type { Db } from '../ledger/db.js';
import { Archive } from './archive.js';

/** Problems found in the archive under `root` ([] = intact). */
export function verifyArchive(root: string, db: Db, _opts?: { chainOnly?: boolean }): string[] {
  return new Archive(root, db).verify();
}
