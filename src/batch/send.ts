// The upload of a cycle's claimed messages (product.md 5): each outbox file is checked against
// the sha256 recorded at staging, then uploaded through the partner's pool under
// <inboxDir>/<type code>/<fcn>.xml, over sftp.connections sessions with several uploads in
// flight on each (one upload at a time per session left each waiting for its round trips). Successes are made SENT in groups (one transaction, one
// fsync, per SENT_GROUP uploads or SENT_GROUP_MS, and at the end), so a crash loses at most the
// bookkeeping of the in-flight and not yet committed uploads, which recovery then settles from
// the server. A failure sends the message back to STAGED (same FileControlNumber); a
// connection failure stops the rest of the cycle quickly.
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import { HostKeyMismatchError, SftpTimeoutError, UploadConflictError } from '../transport/errors.js';
import type { Prestage } from '../archive/archive.js';
import { ARCHIVE_FROM_MEMORY_MAX } from './archive-batch.js';
import type { SftpSession } from '../transport/session.js';
import type { UploadJob, UploadResult } from '../transport/upload.js';
import { errText } from '../util/err-text.js';
import { msSince, outboxPathOf, remoteDirOf, remotePathOf, type CycleContext } from './context.js';
import type { BatchMessageRow } from './queries.js';
import { sha256 } from '../util/sha256.js';

/** Uploads in flight at once on each connection: their round trips overlap, and the requests
 * that one read of answers gives rise to leave in one write (SftpSession.uploadMany). */
export const UPLOADS_PER_CONNECTION = 8;

interface Job extends UploadJob {
  m: BatchMessageRow;
  /** performance.now() when its upload was prepared */
  t: number;
}

/**
 * Uploads the claimed messages over `sftp.connections` sessions, several in flight on each,
 * and pushes each one SENT onto `delivered`; returns the connection error that stopped it, if
 * any. A message not started is left SENDING (its `state` says so): the caller sends it back
 * to STAGED.
 */
export async function sendClaimed(
  ctx: CycleContext,
  batchId: number,
  messages: BatchMessageRow[],
  delivered: BatchMessageRow[],
  prestage?: Prestage,
): Promise<string | undefined> {
  let connectionError: string | undefined;
  const sent = new SentGroup(ctx, batchId, delivered, prestage);
  let next = 0;
  let states = new Map<number, string>();
  const stopped = (): boolean => connectionError !== undefined || ctx.aborted;
  // the next message to upload with its outbox file checked; one that fails the check, or that
  // an ack proved delivered meanwhile, is settled here and skipped. Their states are read
  // STATE_GROUP at a time, just before the first of them goes.
  const take = async (): Promise<Job | null> => {
    while (next < messages.length && !stopped()) {
      if (next % STATE_GROUP === 0) states = ctx.q.states(messages.slice(next, next + STATE_GROUP).map((m) => m.id));
      const m = messages[next++]!;
      const job = await prepare(ctx, batchId, m, states.get(m.id), delivered);
      if (job) return job;
    }
    return null;
  };
  const failed = (job: Job, s: SftpSession | undefined, e: unknown): void => {
    if (e instanceof UploadConflictError) return failMessage(ctx, job, errText(e), 'error', true);
    // connect failed (no session), the session died, a timeout or a host key mismatch:
    // the server is not usable now; stop starting uploads
    const connectionLevel = !s || s.closed || e instanceof HostKeyMismatchError || e instanceof SftpTimeoutError;
    const error = errText(e);
    if (connectionLevel && !stopped()) {
      connectionError = error;
      ctx.log.error('batch cycle: connection failed; the rest of the batch goes back to STAGED', { partner: ctx.partner, batchId, error });
    }
    failMessage(ctx, job, error, connectionLevel ? 'warn' : 'error');
  };
  const uploaded = (job: Job, res: UploadResult): void => {
    if (res.outcome !== 'already-present') ctx.deps.onUploaded?.(ctx.partner, job.data.length);
    const detail = res.outcome === 'already-present' ? `already present on the server with the same size: ${res.remotePath}` : `uploaded to ${res.remotePath}`;
    sent.add({ m: job.m, data: job.data, remotePath: res.remotePath, detail, outcome: res.outcome, t: job.t });
  };
  // one session per worker; its first message is taken before it connects, so a connection
  // that cannot be made fails that message (as an upload that failed)
  const worker = async (): Promise<void> => {
    let first = await take();
    if (!first) return;
    let used: SftpSession | undefined;
    try {
      await ctx.deps.pool.use((s) => {
        used = s;
        const feed = (): Job | null | Promise<Job | null> => {
          if (!first) return take();
          const j = first;
          first = null;
          return j;
        };
        return s.uploadMany(feed, UPLOADS_PER_CONNECTION, (job, r, e) => (r ? uploaded(job, r) : failed(job, s, e)));
      });
    } catch (e) {
      if (!first) throw e;
      failed(first, used, e);
    }
  };
  try {
    const workers = Array.from({ length: Math.max(1, Math.min(ctx.connections, messages.length)) }, worker);
    const settled = await Promise.allSettled(workers);
    for (const r of settled) if (r.status === 'rejected') throw r.reason;
  } finally {
    // the uploads done so far are SENT even when the cycle stops (connection error, abort, a throw)
    sent.flush();
  }
  return connectionError;
}

/** Messages whose state is checked in one query before they are uploaded. */
const STATE_GROUP = 64;

/** Outbox files up to this size (the ledger's byte count) are read synchronously. */
const SYNC_READ_MAX = 256 * 1024;

/** Uploads finished but not yet committed SENT: at most this many, and this old (checked as uploads finish; no timer). */
const SENT_GROUP = 64;
const SENT_GROUP_MS = 250;

interface Uploaded {
  m: BatchMessageRow;
  /** the bytes uploaded */
  data: Buffer;
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
    private readonly prestage?: Prestage,
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
      // its archive copy, written (and fsynced) while the rest of the batch uploads; a big
      // file is copied from the outbox at the end instead, so the batch never sits in memory
      if (this.prestage && u.data.length <= ARCHIVE_FROM_MEMORY_MAX) this.prestage.add(`${u.m.fcn}.xml`, u.data);
      this.ctx.log.info('message SENT', { ...this.ctx.fields(u.m), durationMs: msSince(u.t), from: 'SENDING', to: 'SENT', remotePath: u.remotePath, outcome: u.outcome });
    });
  }
}

/** SENDING -> STAGED with `error` as its last error. */
function failMessage(ctx: CycleContext, job: Pick<Job, 'm' | 't'>, error: string, level: 'warn' | 'error', conflict = false): void {
  const { m, t } = job;
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
}

/** The upload of one message with its outbox file read and checked; null when it is not to be
 * uploaded (settled here: a changed or unreadable file, or an ack proved it delivered). */
async function prepare(ctx: CycleContext, batchId: number, m: BatchMessageRow, now: string | undefined, delivered: BatchMessageRow[]): Promise<Job | null> {
  const t = performance.now();
  // the outbox file must be exactly what was staged
  let data: Buffer;
  const local = outboxPathOf(ctx.deps.config.dataDir, m);
  try {
    // a small file is read at once: cheaper than the thread pool's open/read/close round
    // trips, and too short to hold up the other uploads; a big one does not block the loop
    data = m.bytes <= SYNC_READ_MAX ? readFileSync(local) : await fs.readFile(local);
  } catch (e) {
    failMessage(ctx, { m, t }, `outbox file ${local} cannot be read (${(e as NodeJS.ErrnoException).code ?? errText(e)}); not sent`, 'error');
    return null;
  }
  const sha = sha256(data);
  if (sha !== m.xml_sha256.toLowerCase()) {
    failMessage(ctx, { m, t }, `outbox file ${local} changed since staging (sha256 ${sha}, ${data.length} bytes; the ledger has ${m.xml_sha256}, ${m.bytes} bytes); not sent`, 'error');
    return null;
  }

  // an ack may have proved an earlier copy since the claim (after a resend): the partner has
  // the file, so it is not uploaded again
  if (now === 'SENT' || now === 'ACCEPTED' || now === 'REJECTED') {
    const remotePath = remotePathOf(ctx.inboxDir, m);
    if (ctx.q.markSent(m.id, remotePath, `batch ${batchId}: an ack proved the upload already; not uploaded again`)) {
      m.state = now;
      m.remote_path = remotePath;
      delivered.push(m);
      ctx.result.sent++;
      ctx.log.info('message already delivered (an ack arrived); not uploaded again', { ...ctx.fields(m), state: now, remotePath });
    }
    return null;
  }
  return { m, t, data, dir: remoteDirOf(ctx.inboxDir, m), name: `${m.fcn}.xml` };
}
