// Where an archive folder is built before it joins the chain, and the recovery of what a crash
// left half-way (the design is in archive.ts's header). The staging folder is a sibling of
// archive/ (<dataDir>/archive-staging/), never inside it: `audit verify` walks everything under
// archive/, and a half-built folder there would show as "appeared".
//
//   <pid>.<uuid>/          a folder being built: its files, then (inside the transaction) its
//                          manifest.json; renamed into archive/ before the commit
//   <pid>.<uuid>.placed    written just before that rename: the folder's path under archive/
//                          (one per line when several folders are placed in one transaction,
//                          addMany), so a recovery can remove a placed folder whose transaction
//                          never committed; removed once the commit is known
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Db } from '../ledger/db.js';
import { DIR_MODE, fsyncPath, writeFileDurable } from '../util/durable-file.js';

const PLACED = '.placed';
/** archive/YYYY/MM/DD/<kind>-<id>: the only shape a marker may name */
const ARCHIVE_DIR = /^\d{4}\/\d{2}\/\d{2}\/[A-Za-z0-9._-]+$/;

/** A file name an archive folder may hold: a plain name, not its manifest, not hidden. */
export function checkArchiveFileName(name: string): void {
  if (name.includes('/') || name === 'manifest.json' || name.startsWith('.')) throw new Error(`bad archive file name ${JSON.stringify(name)}`);
}

export function stagingRootFor(archiveRoot: string): string {
  return path.join(path.dirname(path.resolve(archiveRoot)), 'archive-staging');
}

/** Creates the folders of `rel` under `root` that are missing (0750), each made durable. */
export function mkdirs(root: string, rel: string): void {
  let cur = root;
  for (const part of rel.split('/')) {
    cur = path.join(cur, part);
    if (fs.existsSync(cur)) continue;
    try {
      fs.mkdirSync(cur, { mode: DIR_MODE });
    } catch (e) {
      // another process made it in the meantime
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      continue;
    }
    fs.chmodSync(cur, DIR_MODE);
    fsyncPath(path.dirname(cur));
  }
}

/** A new, empty staging folder owned by this process. */
export function newStagingFolder(stagingRoot: string): string {
  if (!fs.existsSync(stagingRoot)) mkdirs(path.dirname(stagingRoot), path.basename(stagingRoot));
  const p = path.join(stagingRoot, `${process.pid}.${randomUUID()}`);
  fs.mkdirSync(p, { mode: DIR_MODE });
  fs.chmodSync(p, DIR_MODE);
  return p;
}

/**
 * Moves the staged folder to archive/<dir>. Runs inside the transaction that inserted the
 * manifest row for `dir` (so no other row names it, and a folder already there is a leftover
 * in no manifest: it is replaced). Returns the marker, to remove once the commit is known.
 */
export function placeStaged(staged: string, archiveRoot: string, dir: string): string {
  return placeStagedMany([{ staged, dir }], archiveRoot);
}

/** placeStaged for several folders of one staging root in one transaction: one marker names
 * them all (a line each), and every folder touched is fsynced once, not once per folder.
 * `group`: the folders sit inside this folder of the staging root (Archive.addMany), and the
 * marker beside it, at the top level where recovery looks. */
export function placeStagedMany(folders: { staged: string; dir: string }[], archiveRoot: string, group?: string): string {
  const from = group ?? path.dirname(folders[0]!.staged);
  const stagingRoot = group ? path.dirname(group) : from;
  const marker = `${group ?? folders[0]!.staged}${PLACED}`;
  writeFileDurable(marker, folders.map((f) => f.dir).join('\n'), { flag: 'w' });
  fsyncPath(stagingRoot);
  const parents = new Set<string>();
  const made = new Set<string>();
  for (const { staged, dir } of folders) {
    const day = path.posix.dirname(dir);
    // a group's folders share their day: its folders are looked for once, not once per folder
    if (!made.has(day)) mkdirs(archiveRoot, day);
    made.add(day);
    const target = path.join(archiveRoot, dir);
    try {
      fs.renameSync(staged, target);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
      fs.rmSync(target, { recursive: true, force: true });
      fs.renameSync(staged, target);
    }
    parents.add(path.dirname(target));
  }
  for (const p of parents) fsyncPath(p);
  fsyncPath(from);
  return marker;
}

/** The folders a marker names (one per line), only those of the shape archive/ uses. */
export function markerDirs(text: string): string[] {
  return text.split('\n').filter((d) => ARCHIVE_DIR.test(d));
}

export interface StagingRecovery {
  /** placed folders whose transaction never committed, removed from archive/ (relative paths) */
  unplaced: string[];
  /** staging folders removed (their transaction never committed, or never began) */
  removed: number;
  /** staging folders of a live process, left alone */
  kept: number;
}

/**
 * Finishes what interrupted archive writes left: call once before the archive is used or
 * verified (the daemon at start, every command when it opens the ledger). Cheap when there is
 * nothing to do (one readdir). Runs under the ledger's write lock, so no other process is
 * between its manifest insert and its commit while this looks: what it finds is final.
 */
export function recoverStaging(db: Db, archiveRoot: string, stagingRoot = stagingRootFor(archiveRoot)): StagingRecovery {
  const res: StagingRecovery = { unplaced: [], removed: 0, kept: 0 };
  if (!listStaging(stagingRoot).length) return res;
  // inside a caller's transaction its own uncommitted rows would count as committed
  if (db.inTransaction) throw new Error('recoverStaging must not run inside a transaction');
  const committed = db.prepare('SELECT 1 FROM manifests WHERE path = ?');
  db.transaction(() => {
    for (const name of listStaging(stagingRoot)) {
      const p = path.join(stagingRoot, name);
      if (name.endsWith(PLACED)) {
        for (const dir of markerDirs(fs.readFileSync(p, 'utf8')))
          if (!committed.get(`${dir}/manifest.json`)) {
            fs.rmSync(path.join(archiveRoot, dir), { recursive: true, force: true });
            res.unplaced.push(dir);
          }
        fs.rmSync(p, { force: true });
      } else if (!ownerAlive(name)) {
        // the folder leaves staging before the commit: one still here never committed. Its
        // owner being alive, it may still be preparing it (addMany writes the manifests before
        // its transaction), and it removes its own on a rollback: left to it.
        fs.rmSync(p, { recursive: true, force: true });
        res.removed++;
      } else res.kept++;
    }
    fsyncPath(stagingRoot);
  }).immediate();
  return res;
}

/** After the commit (or the rollback) of a placed folder: remove its marker, or the folder. */
export function settlePlaced(db: Db, archiveRoot: string, marker: string, dirs: string | string[]): void {
  const committed = db.prepare('SELECT 1 FROM manifests WHERE path = ?');
  for (const dir of typeof dirs === 'string' ? [dirs] : dirs)
    if (!committed.get(`${dir}/manifest.json`)) fs.rmSync(path.join(archiveRoot, dir), { recursive: true, force: true });
  fs.rmSync(marker, { force: true });
}

function listStaging(stagingRoot: string): string[] {
  try {
    return fs.readdirSync(stagingRoot).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

/** Whether the process that named a staging folder <pid>.<uuid> still runs. This process's
 * own folders are never in progress here: add() is synchronous, and so is the recovery. */
function ownerAlive(name: string): boolean {
  const pid = Number(/^(\d+)\./.exec(name)?.[1]);
  if (!pid || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
