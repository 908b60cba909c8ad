// Recovery (product.md 5): a message still SENDING belongs to a cycle that ended abruptly (crash,
// kill -9, power loss). Its final file on the server decides: present with the ledger's size ->
// SENT ("found on server after restart"); absent -> STAGED, uploaded again under the SAME name
// and FileControlNumber (the upload replaces a stale temp file). Batches such a cycle left
// unfinished are finished and archived with what they delivered.
import { errText } from '../util/err-text.js';
import { finishBatch } from './archive-batch.js';
import { msSince, remotePathOf, type CycleContext } from './context.js';
import { forEachLimit } from './limit.js';
import { batchOutcome } from './queries.js';

/**
 * Settles what an earlier cycle left behind: each message still SENDING is looked up on the
 * server (present with the ledger's size -> SENT, else back to STAGED), then each batch whose
 * messages are all settled is archived and finished with what it delivered.
 */
export async function recoverSending(ctx: CycleContext): Promise<void> {
  const sending = ctx.q.sending(ctx.partner);
  if (sending.length) {
    ctx.log.warn('recovery: messages left SENDING by an earlier cycle; checking the server', {
      partner: ctx.partner,
      messages: sending.length,
    });
    await ctx.q.loadAckApply(sending.map((m) => m.id));
    await forEachLimit(sending, ctx.connections, async (m) => {
      if (ctx.aborted) return;
      const t = performance.now();
      const remote = remotePathOf(ctx.inboxDir, m);
      const st = await ctx.deps.pool.use((s) => s.stat(remote));
      const fields = { ...ctx.fields(m), durationMs: msSince(t) };
      if (st && st.type === 'file' && st.size === m.bytes) {
        if (ctx.q.markSent(m.id, remote, 'found on server after restart')) {
          ctx.result.recovered++;
          ctx.log.info('message SENT: found on server after restart', { ...fields, from: 'SENDING', to: 'SENT', remotePath: remote });
        }
        return;
      }
      const why = st
        ? `recovery: ${remote} is on the server with ${st.size} bytes (${st.type}), ours has ${m.bytes}; back to STAGED, the upload will not overwrite it`
        : 'recovery: not found on server after restart; back to STAGED, to be uploaded again under the same name';
      if (ctx.q.markStaged(m.id, why, true)) {
        ctx.result.recovered++;
        (st ? ctx.log.error : ctx.log.warn).call(ctx.log, 'message back to STAGED (recovery)', {
          ...fields,
          from: 'SENDING',
          to: 'STAGED',
          error: why,
        });
      }
    });
    if (ctx.aborted) return;
  }
  // batches whose cycle ended abruptly: finish them with what they delivered
  for (const b of ctx.q.openBatches(ctx.partner)) {
    if (ctx.q.sendingInBatch(b.id) > 0) continue; // not settled yet (aborted above)
    const delivered = ctx.q.deliveredInBatch(b.id);
    const outcome = batchOutcome(delivered.length, b.messages);
    try {
      await finishBatch(ctx, b.id, delivered, outcome, `interrupted: the cycle that started it at ${b.started_at} ended abruptly; finished by recovery`, true);
    } catch (e) {
      // (disk full, ...) the batch stays open and is tried again next cycle; it must not
      // keep this partner from sending
      ctx.log.error('recovery: could not archive an interrupted batch; will retry', { partner: ctx.partner, batchId: b.id, error: errText(e) });
      continue;
    }
    ctx.log.warn('recovery: finished an interrupted batch', {
      partner: ctx.partner,
      batchId: b.id,
      messages: b.messages,
      sent: delivered.length,
      outcome,
    });
  }
}
