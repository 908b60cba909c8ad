// The upload of a cycle's claimed messages (product.md 5): each outbox file is checked against
// the sha256 recorded at staging, then uploaded through the partner's pool under
// <inboxDir>/<type code>/<fcn>.xml. Each success is SENT at once in its own small transaction,
// so a crash loses at most the in-flight uploads' bookkeeping, which recovery then settles from
// the server. A failure sends the message back to STAGED (same FileControlNumber); a
// connection failure stops the rest of the cycle quickly.
import fs from 'node:fs/promises';
import { HostKeyMismatchError, SftpTimeoutError, UploadConflictError } from '../transport/errors.js';
import type { SftpSession } from '../transport/session.js';
import { errText } from '../util/err-text.js';
import { msSince, outboxPathOf, remoteDirOf, remotePathOf, type CycleContext } from './context.js';
import { forEachLimit } from './limit.js';
import type { BatchMessageRow } from './queries.js';
import { sha256 } from '../util/sha256.js';

/**
 * Uploads the claimed messages, `sftp.connections` at a time, and pushes each one SENT onto
 * `delivered`; returns the connection error that stopped it, if any. A message not started is
 * left SENDING (its `state` says so): the caller sends it back to STAGED.
 */
export async function sendClaimed(ctx: CycleContext, batchId: number, messages: BatchMessageRow[], delivered: BatchMessageRow[]): Promise<string | undefined> {
  let connectionError: string | undefined;
  await forEachLimit(messages, ctx.connections, async (m) => {
    if (connectionError !== undefined || ctx.aborted) return; // left SENDING: reset by the caller
    const t = performance.now();
    const fail = (error: string, level: 'warn' | 'error', conflict = false): void => {
      if (!ctx.q.markStaged(m.id, error, true)) return;
      m.state = 'STAGED';
      if (conflict) ctx.result.conflicts++;
      else ctx.result.failed++;
      ctx.log[level](conflict ? 'upload conflict: message back to STAGED; the operator must resolve it' : 'message back to STAGED', {
        ...ctx.fields(m),
        durationMs: msSince(t),
        from: 'SENDING',
        to: 'STAGED',
        error,
      });
    };

    // the outbox file must be exactly what was staged
    let data: Buffer;
    const local = outboxPathOf(ctx.deps.config.dataDir, m);
    try {
      data = await fs.readFile(local);
    } catch (e) {
      fail(`outbox file ${local} cannot be read (${(e as NodeJS.ErrnoException).code ?? errText(e)}); not sent`, 'error');
      return;
    }
    const sha = sha256(data);
    if (sha !== m.xml_sha256.toLowerCase()) {
      fail(`outbox file ${local} changed since staging (sha256 ${sha}, ${data.length} bytes; the ledger has ${m.xml_sha256}, ${m.bytes} bytes); not sent`, 'error');
      return;
    }

    // an ack may have proved an earlier copy since the claim (after a resend): the partner has
    // the file, so it is not uploaded again
    const now = ctx.q.message(m.id)?.state;
    if (now === 'SENT' || now === 'ACCEPTED' || now === 'REJECTED') {
      const remotePath = remotePathOf(ctx.inboxDir, m);
      if (ctx.q.markSent(m.id, remotePath, `batch ${batchId}: an ack proved the upload already; not uploaded again`)) {
        m.state = now;
        m.remote_path = remotePath;
        delivered.push(m);
        ctx.result.sent++;
        ctx.log.info('message already delivered (an ack arrived); not uploaded again', { ...ctx.fields(m), state: now, remotePath });
      }
      return;
    }

    const used: { s?: SftpSession } = {};
    try {
      const res = await ctx.deps.pool.use((s) => {
        used.s = s;
        return s.upload(data, remoteDirOf(ctx.inboxDir, m), `${m.fcn}.xml`);
      });
      if (res.outcome !== 'already-present') ctx.deps.onUploaded?.(ctx.partner, data.length);
      const detail = res.outcome === 'already-present' ? `already present on the server with the same size: ${res.remotePath}` : `uploaded to ${res.remotePath}`;
      if (ctx.q.markSent(m.id, res.remotePath, `batch ${batchId}: ${detail}`)) {
        m.state = 'SENT';
        m.remote_path = res.remotePath;
        delivered.push(m);
        ctx.result.sent++;
        ctx.log.info('message SENT', { ...ctx.fields(m), durationMs: msSince(t), from: 'SENDING', to: 'SENT', remotePath: res.remotePath, outcome: res.outcome });
      }
    } catch (e) {
      if (e instanceof UploadConflictError) {
        fail(errText(e), 'error', true);
        return;
      }
      // connect failed (no session), the session died, a timeout or a host key mismatch:
      // the server is not usable now; stop starting uploads
      const connectionLevel = !used.s || used.s.closed || e instanceof HostKeyMismatchError || e instanceof SftpTimeoutError;
      const error = errText(e);
      if (connectionLevel && connectionError === undefined && !ctx.aborted) {
        connectionError = error;
        ctx.log.error('batch cycle: connection failed; the rest of the batch goes back to STAGED', {
          partner: ctx.partner,
          batchId,
          error,
        });
      }
      fail(error, connectionLevel ? 'warn' : 'error');
    }
  });
  return connectionError;
}
