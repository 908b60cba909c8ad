// A FileControlNumber is never reused, even after the ledger is restored from a backup
// (product.md 6): the restored `sequences` row may stand below numbers already handed out, so at
// start it is raised past the highest number found in the outbox (outbox/<partner>/<FCN>.xml)
// and in the archive (a batch folder keeps <FCN>.xml). Only names of the exact shape
// prefix + 12 digits + ".xml" count; symlinks are never followed. Of the archive only the day
// folders from the ledger's last manifest on are read: what a restored ledger does not know was
// archived after its backup, and years of older folders would only slow every start.
import fs from 'node:fs';
import path from 'node:path';
import type { Db } from './db.js';

/** archive/YYYY/MM/DD/<kind>-<id>/<file>: the files sit four folders down */
const ARCHIVE_DEPTH = 4;

/** The sequence of `name` when it is `<prefix><12 digits>.xml`, else null. */
export function sequenceOfFileName(name: string, prefix: string): number | null {
  if (!name.startsWith(prefix) || !name.endsWith('.xml')) return null;
  const digits = name.slice(prefix.length, -'.xml'.length);
  return /^\d{12}$/.test(digits) ? Number(digits) : null;
}

function entries(dir: string): fs.Dirent[] {
  try {
    return fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
}

/** The highest sequence among the files `depth` folders below `dir` (0: in `dir` itself). */
function highestIn(dir: string, prefix: string, depth: number): number {
  let max = 0;
  for (const e of entries(dir)) {
    if (depth === 0) {
      if (e.isFile()) max = Math.max(max, sequenceOfFileName(e.name, prefix) ?? 0);
    } else if (e.isDirectory()) max = Math.max(max, highestIn(path.join(dir, e.name), prefix, depth - 1));
  }
  return max;
}

/** The highest sequence in archive day folders YYYY/MM/DD on or after `sinceDay` ("YYYY/MM/DD"; null: all). */
function highestInArchive(root: string, prefix: string, sinceDay: string | null, rel = '', level = 0): number {
  if (level === 3) return highestIn(path.join(root, rel), prefix, ARCHIVE_DEPTH - 3);
  let max = 0;
  for (const e of entries(path.join(root, rel))) {
    if (!e.isDirectory()) continue;
    const r = rel ? `${rel}/${e.name}` : e.name;
    // a folder whose whole range lies before sinceDay: "2025" < "2026/01/05".slice(0, 4)
    if (sinceDay !== null && r < sinceDay.slice(0, r.length)) continue;
    max = Math.max(max, highestInArchive(root, prefix, sinceDay, r, level + 1));
  }
  return max;
}

/** The highest FileControlNumber sequence used in the outbox and the archive (0 if none). */
export function highestUsedSequence(dirs: { outbox: string; archive: string }, prefix: string, sinceDay: string | null = null): number {
  return Math.max(highestIn(dirs.outbox, prefix, 1), highestInArchive(dirs.archive, prefix, sinceDay));
}

/** "YYYY/MM/DD" of the ledger's last manifest (the archive's folder of that day), null when there is none. */
export function lastArchiveDay(db: Db): string | null {
  const at = db.prepare('SELECT MAX(created_at) FROM manifests').pluck().get() as string | null;
  return at ? `${at.slice(0, 4)}/${at.slice(5, 7)}/${at.slice(8, 10)}` : null;
}

/** Raises the 'fcn' sequence to at least `used`; returns the value before when it was raised, else null. */
export function raiseSequence(db: Db, used: number): { from: number; to: number } | null {
  return db
    .transaction(() => {
      db.prepare(`INSERT OR IGNORE INTO sequences (name, value) VALUES ('fcn', 0)`).run();
      const { value } = db.prepare(`SELECT value FROM sequences WHERE name = 'fcn'`).get() as { value: number };
      if (value >= used) return null;
      db.prepare(`UPDATE sequences SET value = ? WHERE name = 'fcn'`).run(used);
      return { from: value, to: used };
    })
    .immediate();
}
