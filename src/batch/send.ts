// The upload of a cycle's claimed messages (product.md 5): each outbox file is checked against
// the sha256 recorded at staging, then uploaded through the partner's pool under
// <inboxDir>/<type code>/<fcn>.xml. Successes are made SENT in groups (one transaction, one
// fsync, per SENT_GROUP uploads or SENT_GROUP_MS, and at the end), so a crash loses at most the
// bookkeeping of the in-flight and not yet committed uploads, which recovery then settles from
// the server. A failure sends the message back to STAGED (same FileControlNumber); a
// connection failure stops the rest of the cycle quickly.
import { readFileSync } from 'node:fs';
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
  const sent = new SentGroup(ctx, batchId, delivered);
  try {
    await forEachLimit(messages, ctx.connections, async (m) => {
      const stop = await sendOne(ctx, batchId, m, delivered, sent, () => connectionError);
      if (stop !== undefined && connectionError === undefined) connectionError = stop;
    });
  } finally {
    // the uploads done so far are SENT even when the cycle stops (connection error, abort, a throw)
    sent.flush();
  }
  return connectionError;
}

/** Outbox files up to this size (the ledger's byte count) are read synchronously. */
const SYNC_READ_MAX = 256 * 1024;

/** Uploads finished but not yet committed SENT: at most this many, and this old (checked as uploads finish; no timer). */
const SENT_GROUP = 64;
const SENT_GROUP_MS = 250;

interface Uploaded {
  m: BatchMessageRow;
  remotePath: string;
  detail: string;
  outcome: string;
  t: number;
}

class SentGroup {
  private pending: Uploaded[] = [];
  private since = 0;

  constructor(
    private readonly ctx: CycleContext,
    private readonly batchId: number,
    private readonly delivered: BatchMessageRow[],
  ) {}

  add(u: Uploaded): void {
    if (!this.pending.length) this.since = performance.now();
    this.pending.push(u);
    if (this.pending.length >= SENT_GROUP || performance.now() - this.since >= SENT_GROUP_MS) this.flush();
  }

  /** One transaction for every pending upload, through markSent's state machine path. */
  flush(): void {
    const group = this.pending;
    if (!group.length) return;
    this.pending = [];
    const ok = this.ctx.q.markSentMany(group.map((u) => ({ id: u.m.id, remotePath: u.remotePath, detail: `batch ${this.batchId}: ${u.detail}` })));
    group.forEach((u, i) => {
      if (!ok[i]) return;
      u.m.state = 'SENT';
      u.m.remote_path = u.remotePath;
      this.delivered.push(u.m);
      this.ctx.result.sent++;
      this.ctx.log.info('message SENT', { ...this.ctx.fields(u.m), durationMs: msSince(u.t), from: 'SENDING', to: 'SENT', remotePath: u.remotePath, outcome: u.outcome });
    });
  }
}

/** One message; returns a connection error that must stop the cycle, if any. */
async function sendOne(
  ctx: CycleContext,
  batchId: number,
  m: BatchMessageRow,
  delivered: BatchMessageRow[],
  sent: SentGroup,
  stopped: () => string | undefined,
): Promise<string | undefined> {
  let connectionError: string | undefined;
  if (stopped() !== undefined || ctx.aborted) return undefined; // left SENDING: reset by the caller
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
    // a small file is read at once: cheaper than the thread pool's open/read/close round
    // trips, and too short to hold up the other uploads; a big one does not block the loop
    data = m.bytes <= SYNC_READ_MAX ? readFileSync(local) : await fs.readFile(local);
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
    sent.add({ m, remotePath: res.remotePath, detail, outcome: res.outcome, t });
  } catch (e) {
    if (e instanceof UploadConflictError) {
      fail(errText(e), 'error', true);
      return;
    }
    // connect failed (no session), the session died, a timeout or a host key mismatch:
    // the server is not usable now; stop starting uploads
    const connectionLevel = !used.s || used.s.closed || e instanceof HostKeyMismatchError || e instanceof SftpTimeoutError;
    const error = errText(e);
    if (connectionLevel && stopped() === undefined && !ctx.aborted) {
      connectionError = error;
      ctx.log.error('batch cycle: connection failed; the rest of the batch goes back to STAGED', {
        partner: ctx.partner,
        batchId,
        error,
      });
    }
    fail(error, connectionLevel ? 'warn' : 'error');
  }
  return connectionError;
}
