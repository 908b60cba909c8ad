// A FileControlNumber is never reused, even after the ledger is restored from a backup
// (product.md 6): the restored `sequences` row may stand below numbers already handed out, so at
// start it is raised past the highest number found in the outbox (outbox/<partner>/<FCN>.xml)
// and in the archive (a batch folder keeps <FCN>.xml). Only names of the exact shape
// prefix + 12 digits + ".xml" count; symlinks are never followed.
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

/** The highest FileControlNumber sequence used in the outbox and the archive (0 if none). */
export function highestUsedSequence(dirs: { outbox: string; archive: string }, prefix: string): number {
  return Math.max(highestIn(dirs.outbox, prefix, 1), highestIn(dirs.archive, prefix, ARCHIVE_DEPTH));
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
