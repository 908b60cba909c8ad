// The end of a batch (product.md 5): the XML of every message actually SENT goes into the
// archive with a manifest, and the batch row is finished in the same transaction. Most copies
// are written and fsynced during the upload (send.ts, Archive.prestage) and only moved here;
// the others are fsynced several at a time (Archive.addMany with one folder): on a batch of
// hundreds the fsyncs one after another were most of the batch's time.
import { readFileSync } from 'node:fs';
import type { ArchiveInput, StagedCopy } from '../archive/archive.js';
import { errText } from '../util/err-text.js';
import { outboxPathOf, remotePathOf, type CycleContext } from './context.js';
import type { BatchMessageRow, BatchOutcome } from './queries.js';
import { sha256 } from '../util/sha256.js';

/** Outbox files up to this size are archived from the bytes read for the check, or from the copy
 * send.ts wrote ahead from the bytes it uploaded; bigger ones are copied from the outbox file. */
export const ARCHIVE_FROM_MEMORY_MAX = 256 * 1024;

/**
 * Finishes the batch row with `outcome`; when messages were delivered, first archives their XML
 * with a manifest chained into the archive, in the same transaction that finishes the row.
 */
export async function finishBatch(
  ctx: CycleContext,
  batchId: number,
  delivered: BatchMessageRow[],
  outcome: BatchOutcome,
  error: string | null,
  recovered: boolean,
  prestaged: ReadonlyMap<string, StagedCopy> = new Map(),
): Promise<void> {
  if (delivered.length === 0) {
    ctx.q.finishBatch(batchId, outcome, null, error);
    return;
  }
  // the XML as sent: the outbox file, checked against the sha256 recorded at staging (it was
  // checked before the upload too); one that is gone or changed since is named, not copied
  // A small file's bytes, read for the check, are what the archive writes (not read a second
  // time); a big one is copied from the file in chunks, so the batch never sits in memory.
  const files: ArchiveInput[] = [];
  const notArchived: { fcn: string; reason: string }[] = [];
  // A message whose copy send.ts wrote ahead (Prestage, the bytes it uploaded, checked against
  // the ledger's sha256 before the upload) is archived from that copy: moved, not read again.
  for (const m of delivered) {
    const copy = prestaged.get(`${m.fcn}.xml`);
    if (copy && copy.sha256 === m.xml_sha256.toLowerCase()) {
      files.push({ name: `${m.fcn}.xml`, staged: copy });
      continue;
    }
    const from = outboxPathOf(ctx.deps.config.dataDir, m);
    let reason: string | undefined;
    let data: Buffer | undefined;
    try {
      data = readFileSync(from);
      const sha = sha256(data);
      if (sha !== m.xml_sha256.toLowerCase()) reason = `the outbox file changed after it was sent (sha256 ${sha}, staged ${m.xml_sha256})`;
    } catch (e) {
      reason = `the outbox file cannot be read (${(e as NodeJS.ErrnoException).code ?? errText(e)})`;
    }
    if (reason) {
      notArchived.push({ fcn: m.fcn, reason });
      ctx.log.error('batch archive: a sent message cannot be archived', { ...ctx.fields(m), batchId, error: reason });
    } else files.push(data!.length <= ARCHIVE_FROM_MEMORY_MAX ? { name: `${m.fcn}.xml`, data: data! } : { name: `${m.fcn}.xml`, from });
  }
  const extra = {
    partner: ctx.partner,
    ...(recovered ? { recovered: true } : {}),
    ...(notArchived.length ? { notArchived } : {}),
    messages: delivered.map((m) => ({
      id: m.id,
      fcn: m.fcn,
      messageType: m.message_type,
      remotePath: m.remote_path ?? remotePathOf(ctx.inboxDir, m),
    })),
  };
  await ctx.deps.archive.addMany('batch', [{ id: String(batchId), files, extra }], ([dir]) => ctx.q.finishBatch(batchId, outcome, dir!, error));
}
