// The archive (product.md 3): what was received, sent and acknowledged, each set in its own
// folder with a manifest, the manifests chained by sha256 in creation order so that any
// later change, removal or addition shows. The chain's order and head live in the ledger
// (table manifests), and each manifest is recorded in the same transaction as the ledger
// change it documents, so the archive and the ledger can never disagree after a crash.
//
// A crash at any instant (kill -9, power loss) never leaves a folder under archive/ outside
// the chain once the recovery (staging.ts recoverStaging) has run: the daemon runs it at
// start, every command when it opens the ledger (ledger/open.ts), so before any verify.
// add() goes (the names are crash points, util/crash-point.ts):
//   1. the files are copied into <dataDir>/archive-staging/<pid>.<uuid>/, outside archive/,
//      each fsynced                                                          archive-staged
//   2. BEGIN IMMEDIATE (a savepoint inside a caller's transaction); the manifest row first,
//      so from here to the commit this process holds the ledger's write lock and no recovery
//      elsewhere looks at its folder half-way; then manifest.json into the staging folder
//   3. a marker <pid>.<uuid>.placed naming the final folder; the folder renamed to
//      archive/YYYY/MM/DD/<kind>-<id>/, the parents fsynced                  archive-placed
//   4. the caller's ledger change, then the commit                    archive-before-commit
//   5. the marker removed (inside a caller's transaction: once that ended) archive-after-commit
// Recovery, under the write lock: a staging folder with a manifest.json belongs to a
// transaction that never committed (a committed one has left staging), and one without to a
// copy that never reached its transaction: both are removed (the latter only once its
// process is gone). A marker whose folder has its manifest row is removed; one without has
// its folder under archive/ removed first. Work that never committed is redone by its caller
// (the input is still in work/, the batch still open, the ack still on the server). A day
// folder YYYY/MM/DD may stay empty, which no check minds. archive-staging/ must be on the
// file system of archive/ (a rename); add() checks before it writes anything.
import fs from 'node:fs';
import path from 'node:path';
import type { Db } from '../ledger/db.js';
import { crashPoint } from '../util/crash-point.js';
import { copyFdDurable, copyFdDurableAsync, DIR_MODE, fsyncPath, fsyncPathAsync, mkdirAsync, writeFileDurable, writeFileDurableAsync } from '../util/durable-file.js';
import { sha256 } from '../util/sha256.js';
import { Prestage, type StagedCopy } from './prestage.js';
import { checkArchiveFileName, newStagingFolder, placeStaged, placeStagedMany, settlePlaced, stagingRootFor } from './staging.js';

export { Prestage, type StagedCopy };
import { verifyArchive } from './verify.js';

export type ArchiveKind = 'intake' | 'batch' | 'acks' | 'operator' | 'config' | 'prune';

export interface ArchiveInput {
  /** base name inside the folder */
  name: string;
  /** the content (small buffers), or `from`: a local file to copy, or `fd`: an open descriptor
   * to copy from position 0 (positional reads; the caller keeps it and closes it). Copies
   * stream in 1 MiB chunks, hashed in the same pass. */
  data?: Buffer | string;
  from?: string;
  fd?: number;
  /** a durable copy already written by this archive's Prestage (addMany only): moved, not copied */
  staged?: StagedCopy;
}

export interface ManifestFile {
  path: string;
  sha256: string;
  bytes: number;
}

export interface Manifest {
  kind: ArchiveKind;
  id: string;
  createdAt: string;
  previousManifestSha256: string | null;
  files: ManifestFile[];
  [extra: string]: unknown;
}

export interface ArchiveOptions {
  /** where folders are built before they join archive/; default <archive/..>/archive-staging */
  staging?: string;
}

export class Archive {
  readonly staging: string;
  private sameDevice = false;
  /** markers of folders placed inside a caller's transaction, removed once it has ended */
  private readonly unsettled = new Map<string, string | string[]>();

  constructor(
    readonly root: string,
    private readonly db: Db,
    opts: ArchiveOptions = {},
  ) {
    fs.mkdirSync(root, { recursive: true, mode: DIR_MODE });
    this.staging = opts.staging ?? stagingRootFor(root);
  }

  /** Archives a set of files under archive/YYYY/MM/DD/<kind>-<id>/ and chains its manifest.
   * `inTransaction` runs inside the same ledger transaction that records the manifest: put
   * the ledger change that the archive documents there. Returns the folder, relative to root. */
  add<T = void>(
    kind: ArchiveKind,
    id: string,
    files: ArchiveInput[],
    extra: Record<string, unknown> = {},
    inTransaction?: (dir: string) => T,
  ): { dir: string; manifestSha256: string; result: T } {
    if (!/^[A-Za-z0-9._-]+$/.test(id)) throw new Error(`archive id must be a plain name: ${JSON.stringify(id)}`);
    for (const f of files)
      checkArchiveFileName(f.name);
    this.settle();
    const createdAt = new Date().toISOString();
    const dir = `${createdAt.slice(0, 4)}/${createdAt.slice(5, 7)}/${createdAt.slice(8, 10)}/${kind}-${id}`;
    const staged = newStagingFolder(this.staging);
    let marker: string | undefined;
    let out: { dir: string; manifestSha256: string; result: T };
    const nested = this.db.inTransaction;
    try {
      this.checkSameDevice();
      // written all first, fsynced after: on a batch of hundreds, each fsync finds most of the
      // journal work done by the ones before it
      const listed = files.map((f) => stageFile(staged, f, files.length > 1));
      if (files.length > 1) for (const f of listed) fsyncPath(path.join(staged, f.path));
      crashPoint('archive-staged', kind);
      out = this.db
        .transaction(() => {
          const prev = this.db.prepare('SELECT sha256 FROM manifests ORDER BY seq DESC LIMIT 1').get() as { sha256: string } | undefined;
          const manifest: Manifest = { kind, id, createdAt, previousManifestSha256: prev?.sha256 ?? null, files: listed, ...extra };
          const text = JSON.stringify(manifest, null, 2) + '\n';
          const manifestSha256 = sha256(text);
          this.db
            .prepare('INSERT INTO manifests (kind, ref, path, sha256, created_at) VALUES (?, ?, ?, ?, ?)')
            .run(kind, id, `${dir}/manifest.json`, manifestSha256, createdAt);
          writeFileDurable(path.join(staged, 'manifest.json'), text);
          fsyncPath(staged);
          marker = placeStaged(staged, this.root, dir);
          crashPoint('archive-placed', kind);
          const result = inTransaction ? inTransaction(dir) : (undefined as T);
          crashPoint('archive-before-commit', kind);
          return { dir, manifestSha256, result };
        })
        .immediate();
    } catch (e) {
      // rolled back: nothing of it may stay, in staging or (placed already) in archive/
      try {
        fs.rmSync(staged, { recursive: true, force: true });
        if (marker) settlePlaced(this.db, this.root, marker, dir);
      } catch {
        /* the recovery at the next start removes it */
      }
      throw e;
    }
    crashPoint('archive-after-commit', kind);
    if (nested) {
      // committed only when the caller's transaction is: settled once that has ended
      this.unsettled.set(marker!, dir);
      queueMicrotask(() => this.settle());
    } else fs.rmSync(marker!, { force: true });
    return out;
  }

  /** add() for several folders of one kind at once (intake's group commit), with the slow part
   * out of the write lock and off the event loop: the folders are built inside ONE staging
   * folder of this call, each with its files and its manifest.json (chained in the order given
   * from the chain's head as read before), everything fsynced in the libuv pool, several at a
   * time; then ONE transaction checks that the head is still the one the manifests chain from
   * (else it rewrites them, fsynced one by one: another writer came between), records the
   * manifests, places every folder (one marker naming them all) and runs `inTransaction` with
   * their folders, in the order given. The same crash points, in the same order, each reached
   * once for the whole set; all of it commits, or none.
   *
   * Why manifests may be written before the transaction here: recovery (staging.ts) takes a
   * staging folder holding a manifest.json for a rolled-back transaction, but it looks only at
   * the top level, where this call's folder holds item folders, no manifest: it is kept while
   * this process lives and removed once it is gone, like any copy that never reached its
   * transaction. Placement still happens under the write lock, before the commit, with its
   * marker at the top level, so everything recovery reasons about is unchanged. Not inside a
   * caller's transaction: the writes are awaited. */
  async addMany<T = void>(
    kind: ArchiveKind,
    items: { id: string; files: ArchiveInput[]; extra?: Record<string, unknown> }[],
    inTransaction?: (dirs: string[]) => T,
  ): Promise<{ dirs: string[]; result: T }> {
    if (this.db.inTransaction) throw new Error('addMany must not run inside a transaction (it awaits its fsyncs)');
    for (const it of items) {
      if (!/^[A-Za-z0-9._-]+$/.test(it.id)) throw new Error(`archive id must be a plain name: ${JSON.stringify(it.id)}`);
      for (const f of it.files)
        checkArchiveFileName(f.name);
    }
    this.settle();
    const createdAt = new Date().toISOString();
    const day = `${createdAt.slice(0, 4)}/${createdAt.slice(5, 7)}/${createdAt.slice(8, 10)}`;
    const dirs = items.map((it) => `${day}/${kind}-${it.id}`);
    const group = newStagingFolder(this.staging);
    // named by position: two items may share an id only if they share a folder, which add() forbids too
    const folders = items.map((_, i) => path.join(group, String(i)));
    let marker: string | undefined;
    let result: T;
    try {
      this.checkSameDevice();
      await mapLimit(items, STAGE_CONCURRENCY, async (_, i) => {
        await mkdirAsync(folders[i]!, DIR_MODE);
      });
      // the files of all the folders, several at a time: a batch is one folder of hundreds of
      // files, whose fsyncs one after another were most of its archive time
      const all = items.flatMap((it, i) => it.files.map((f) => ({ i, f })));
      const staged = await mapLimit(all, STAGE_CONCURRENCY, ({ i, f }) => stageFileAsync(this.staging, folders[i]!, f));
      const listed: ManifestFile[][] = items.map(() => []);
      all.forEach(({ i }, k) => listed[i]!.push(staged[k]!));
      const chain = (head: string | null): string[] =>
        items.map((it, i) => {
          const manifest: Manifest = { kind, id: it.id, createdAt, previousManifestSha256: head, files: listed[i]!, ...(it.extra ?? {}) };
          const text = JSON.stringify(manifest, null, 2) + '\n';
          head = sha256(text);
          return text;
        });
      const head = (): string | null => (this.db.prepare('SELECT sha256 FROM manifests ORDER BY seq DESC LIMIT 1').get() as { sha256: string } | undefined)?.sha256 ?? null;
      const readHead = head();
      let texts = chain(readHead);
      // each manifest durable, then its folder (the entries of its files and manifest)
      await mapLimit(items, STAGE_CONCURRENCY, async (_, i) => {
        await writeFileDurableAsync(path.join(folders[i]!, 'manifest.json'), texts[i]!);
        await fsyncPathAsync(folders[i]!);
      });
      crashPoint('archive-staged', kind);
      result = this.db
        .transaction(() => {
          const now = head();
          if (now !== readHead) {
            // another manifest joined the chain since: these chain from it instead
            texts = chain(now);
            texts.forEach((text, i) => {
              writeFileDurable(path.join(folders[i]!, 'manifest.json'), text, { flag: 'w' });
              fsyncPath(folders[i]!);
            });
          }
          const insert = this.db.prepare('INSERT INTO manifests (kind, ref, path, sha256, created_at) VALUES (?, ?, ?, ?, ?)');
          items.forEach((it, i) => insert.run(kind, it.id, `${dirs[i]}/manifest.json`, sha256(texts[i]!), createdAt));
          marker = placeStagedMany(
            folders.map((folder, i) => ({ staged: folder, dir: dirs[i]! })),
            this.root,
            group,
          );
          crashPoint('archive-placed', kind);
          const r = inTransaction ? inTransaction(dirs) : (undefined as T);
          crashPoint('archive-before-commit', kind);
          return r;
        })
        .immediate();
    } catch (e) {
      try {
        fs.rmSync(group, { recursive: true, force: true });
        if (marker) settlePlaced(this.db, this.root, marker, dirs);
      } catch {
        /* the recovery at the next start removes it */
      }
      throw e;
    }
    crashPoint('archive-after-commit', kind);
    fs.rmSync(marker!, { force: true });
    // empty now; if a crash leaves it, the recovery removes it once this process is gone
    fs.rmSync(group, { recursive: true, force: true });
    return { dirs, result };
  }

  /** A folder of the staging area for copies written ahead of an addMany (a batch's XML while
   * the rest of the batch uploads), passed to it as `staged` inputs. */
  prestage(): Prestage {
    // the folder first: it makes the staging root on a fresh install, which the device check stats
    const dir = newStagingFolder(this.staging);
    try {
      this.checkSameDevice();
    } catch (e) {
      fs.rmSync(dir, { recursive: true, force: true });
      throw e;
    }
    return new Prestage(dir);
  }

  /** Markers of folders placed inside transactions that have ended since: the folder stays if
   * its manifest committed, else it goes. Runs by itself once the caller's code returns, and at
   * the next add(); a command that closes the ledger right after its transaction calls it
   * first (otherwise the next recovery does it). Does nothing while a transaction is open. */
  settle(): void {
    if (!this.unsettled.size || !this.db.open || this.db.inTransaction) return;
    for (const [marker, dir] of this.unsettled) {
      this.unsettled.delete(marker);
      try {
        settlePlaced(this.db, this.root, marker, dir);
      } catch {
        /* left to the recovery at the next start; a committed folder stays either way */
      }
    }
  }

  /** A rename cannot cross file systems: refuse before anything is written, not after. */
  private checkSameDevice(): void {
    if (this.sameDevice) return;
    const a = fs.statSync(this.root).dev;
    const b = fs.statSync(this.staging).dev;
    if (a !== b) throw new Error(`${this.staging} and ${this.root} must be on the same file system (archive folders are renamed from one to the other)`);
    this.sameDevice = true;
  }

  /** Recomputes every hash and the chain (verify.ts). Returns one line per difference; [] = intact. */
  verify(): string[] {
    return verifyArchive(this.root, this.db);
  }
}

/** Copies one input into the staging folder; its manifest entry. */
function stageFile(staged: string, f: ArchiveInput, deferSync = false): ManifestFile {
  const dest = path.join(staged, f.name);
  if (f.staged) throw new Error(`archive file ${JSON.stringify(f.name)}: staged copies are for addMany`);
  if (f.data !== undefined) {
    writeFileDurable(dest, f.data, { deferSync });
    return { path: f.name, sha256: sha256(f.data), bytes: Buffer.byteLength(f.data) };
  }
  if (f.fd !== undefined) return { path: f.name, ...copyFdDurable(f.fd, dest, { deferSync }) };
  if (f.from === undefined) throw new Error(`archive file ${JSON.stringify(f.name)} has no data, from or fd`);
  const fd = fs.openSync(f.from, 'r');
  try {
    return { path: f.name, ...copyFdDurable(fd, dest, { deferSync }) };
  } finally {
    fs.closeSync(fd);
  }
}

/** How many of addMany's files (and folders) are staged at once (each copy holds up to 1 MiB). */
const STAGE_CONCURRENCY = 8;

/** stageFile in the libuv pool; the file is durable when it resolves (its entry once its folder is fsynced). */
async function stageFileAsync(stagingRoot: string, staged: string, f: ArchiveInput): Promise<ManifestFile> {
  const dest = path.join(staged, f.name);
  if (f.staged) {
    // a Prestage copy, already durable: moved within the staging area (at once: a rename
    // costs less than a round trip through the libuv pool)
    if (path.dirname(path.dirname(f.staged.path)) !== stagingRoot) throw new Error(`archive file ${JSON.stringify(f.name)}: ${f.staged.path} is not a staged copy of this archive`);
    fs.renameSync(f.staged.path, dest);
    return { path: f.name, sha256: f.staged.sha256, bytes: f.staged.bytes };
  }
  if (f.data !== undefined) {
    await writeFileDurableAsync(dest, f.data);
    return { path: f.name, sha256: sha256(f.data), bytes: Buffer.byteLength(f.data) };
  }
  if (f.fd !== undefined) return { path: f.name, ...(await copyFdDurableAsync(f.fd, dest)) };
  if (f.from === undefined) throw new Error(`archive file ${JSON.stringify(f.name)} has no data, from or fd`);
  const h = await fs.promises.open(f.from, 'r');
  try {
    return { path: f.name, ...(await copyFdDurableAsync(h.fd, dest)) };
  } finally {
    await h.close();
  }
}

/** fn over items, at most `limit` at a time; the results in the items' order. Every call has
 * ended when it settles (a failure is thrown only then: nothing is left writing). */
async function mapLimit<I, O>(items: readonly I[], limit: number, fn: (item: I, i: number) => Promise<O>): Promise<O[]> {
  const out: O[] = new Array<O>(items.length);
  let next = 0;
  let failure: { e: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (next < items.length && !failure) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!, i);
      } catch (e) {
        failure ??= { e };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.e;
  return out;
}
