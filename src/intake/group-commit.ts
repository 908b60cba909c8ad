// The commit half of intake's group commit (group.ts converts, this makes durable and commits):
// the group's small files' XSD judgement awaited, every outbox file and archive copy durable,
// then ONE transaction of all their manifests, messages and CONVERTED states, and only then
// their work/ copies removed (product.md 5). A file that fails its judgement, or every file of a
// group whose commit fails, is undone and handed back for the one-file path.
import fs from 'node:fs';
import { clearIntakeAttempt } from '../ledger/intake-attempts.js';
import type { FcnAllocator, NewMessage } from '../ledger/ledger.js';
import { fsyncAll, fsyncPathAsync, type DurableWrites } from '../util/durable-file.js';
import type { Claim, FileFacts } from './claim.js';
import type { GroupValidation } from './group-validation.js';
import type { ClaimedFile, IntakeDeps, IntakeOutcome } from './intake.js';
import { archiveNameFor } from './names.js';

export type GroupResult = { c: ClaimedFile; outcome: IntakeOutcome } | { c: ClaimedFile; error: unknown };

/** A converted file waiting for its group's commit. */
export interface Pending {
  k: Claim;
  count: number;
  facts: FileFacts;
  /** messages not inserted yet: they go into the group's transaction */
  rest: NewMessage[];
  xml: string[];
  /** the file's bytes, when it was read whole at the claim: archived from memory */
  data?: Buffer;
}

/** What a converted group hands to its commit. */
export interface ToCommit {
  pending: Pending[];
  xmlWrites: DurableWrites;
  /** the XSD judgement of the group's small files, in the validation worker */
  validation: GroupValidation;
  /** folders whose entries the commit makes durable (see durableCommit) */
  folders: Set<string>;
  drops: Set<string>;
}

export interface Committed {
  committed: GroupResult[];
  /** for the one-file path */
  later: ClaimedFile[];
}

export async function commitGroup(deps: IntakeDeps, conv: ToCommit, allocator: FcnAllocator): Promise<Committed> {
  const { ledger } = deps;
  const { xmlWrites, folders, drops } = conv;
  let pending = conv.pending;
  const later: ClaimedFile[] = [];
  let committed: GroupResult[] = [];
  try {
    const invalid = await conv.validation.invalidFiles();
    if (invalid.size) {
      // not staged: the one-file path converts it again and reports what its schema says
      await xmlWrites.settled().catch(() => undefined);
      for (const p of pending.filter((q) => invalid.has(q.k.row.id))) {
        undoFile(deps, p);
        later.push(p.k.c);
      }
      pending = pending.filter((q) => !invalid.has(q.k.row.id));
    }
    await durableCommit(deps, pending, allocator, xmlWrites, folders, drops);
    committed = afterCommit(deps, pending);
  } catch (e) {
    if (pending.length && ledger.file(pending[0]!.k.row.id)?.state !== 'RECEIVED') throw e; // committed: nothing to undo
    deps.logger.warn('the group commit of intake failed; its files are converted one by one', { files: pending.length, error: (e as Error).stack ?? String(e) });
    // the group's commit failed: each of its files goes the one-file path, which counts and reports
    await xmlWrites.settled().catch(() => undefined);
    for (const p of pending) undoFile(deps, p);
    later.unshift(...pending.map((p) => p.k.c));
  } finally {
    for (const p of conv.pending) fs.closeSync(p.k.fd);
  }
  return { committed, later };
}

/** Nothing of a converted file that leaves the group stays: its message rows and outbox files
 * (its writes have ended: the caller settled them first). */
function undoFile(deps: IntakeDeps, p: Pending): void {
  for (const x of deps.ledger.dropMessagesOfFile(p.k.row.id)) fs.rmSync(x, { force: true });
  for (const x of p.xml) fs.rmSync(x, { force: true });
}

/**
 * Every outbox file of the group durable, then the one transaction of all their outcomes.
 *
 * The claims' renames (drop folder -> work/, watcher.ts) have no fsync of their own: the
 * group's durability point covers them. A kill -9 never undoes a rename that returned (the
 * kernel keeps it), so only a power loss or an OS crash can lose one, and then the rename is
 * lost whole (one journal transaction) or kept whole. Lost after a commit of the claims
 * (RECEIVED rows) only: the input is back in its drop folder and is claimed anew under a new
 * work/ path; the old row names a path that never comes back and is never resumed (startup
 * resumes what it finds in work/): nothing lost, nothing doubled. Lost after the commit of the
 * outcome, it would bring back an input already CONVERTED: a second intake of it (a DUPLICATE
 * in error/ beside the sent one). So the drop folders and work/ are fsynced with the group's
 * other files before that commit: two fsyncs per group instead of one per file.
 */
async function durableCommit(deps: IntakeDeps, pending: Pending[], allocator: FcnAllocator, xmlWrites: DurableWrites, folders: Set<string>, drops: Set<string>): Promise<void> {
  const { ledger, archive } = deps;
  await xmlWrites.settled();
  if (!pending.length) {
    allocator.release();
    return;
  }
  await Promise.all([fsyncAll([...folders]), ...[...drops].map(claimedFrom)]);
  const items = pending.map((p) => {
    const stored = archiveNameFor(p.k.c.name);
    const extra = { fileId: p.k.row.id, file: p.k.c.name, ...(stored !== p.k.c.name ? { storedAs: stored } : {}), sha256: p.k.sha256, outcome: 'CONVERTED', messages: p.count, ...p.facts };
    return { id: String(p.k.row.id), files: [p.data ? { name: stored, data: p.data } : { name: stored, fd: p.k.fd }], extra };
  });
  await archive.addMany('intake', items, (dirs) => {
    pending.forEach((p, i) => {
      ledger.insertMessages(p.rest);
      clearIntakeAttempt(ledger.db, p.k.c.workPath);
      ledger.finishFile(p.k.row.id, 'CONVERTED', { ...p.facts, messages: p.count, archiveDir: dirs[i]!, detail: `${p.count} message(s) staged` });
    });
    allocator.release();
  });
}

/** fsync of a drop folder files were claimed from; one that is gone took the rename's old entry with it. */
async function claimedFrom(drop: string): Promise<void> {
  await fsyncPathAsync(drop).catch((e: unknown) => {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  });
}

function afterCommit(deps: IntakeDeps, pending: Pending[]): GroupResult[] {
  const { ledger, logger } = deps;
  // committed: now the work/ copies go, and with them the claim's paths (one commit for all)
  for (const p of pending) fs.rmSync(p.k.c.workPath, { force: true });
  ledger.db.transaction(() => {
    for (const p of pending) ledger.clearWorkPath(p.k.row.id);
  })();
  return pending.map((p) => {
    logger.info('file converted', { ...p.k.log, bytes: p.k.bytes, inbound: p.k.c.inbound.path, state: 'CONVERTED', messages: p.count, messageType: p.facts.messageType, partner: p.facts.partner, durationMs: Date.now() - p.k.startedAt, group: pending.length });
    return { c: p.k.c, outcome: { fileId: p.k.row.id, state: 'CONVERTED' as const, messages: p.count, errors: [] } };
  });
}
