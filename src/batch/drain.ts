// `send-now` as product.md 4 has it: batch cycles one after another until what was uploadable
// when it started is gone, in the CLI (its own pool) and in the daemon (a request row, through
// the schedulers' runNow). The same loop either way, so both print the same summary.
//
// - The start set: the partner's uploadable messages when the drain starts. A cycle claims the
//   oldest first, so the start set goes before anything staged later; the drain ends once none
//   of it is STAGED any more. Messages staged meanwhile ride along in the last batch's room at
//   most: they are never chased (a daemon staging faster than we upload cannot keep us going).
// - It ends after a cycle with a failure (a connection error, a failed upload, a conflict):
//   running again at once would only repeat it; the daemon's backoff is for retries.
// - A cycle that made no progress on the start set ends it too (what is left became
//   unuploadable, e.g. a reversal whose original was cancelled meanwhile).
// - Another cycle of the partner holding its lock (the daemon's, or another send-now): the
//   drain waits for it, bounded, then goes on.
// - A partner paused meanwhile ends it before its next cycle (a cycle already running finishes).
import type { Db } from '../ledger/db.js';
import { VISIBLE } from '../ledger/ledger.js';
import { waitForPartnerLock } from '../ledger/partner-lock.js';
import { isPaused } from '../ledger/pauses.js';
import type { BatchCycleResult } from './cycle.js';
import { BatchQueries } from './queries.js';

/** How long, in all, a drain waits for other cycles of its partner (a daemon's, a CLI's). */
export const DEFAULT_LOCK_WAIT_MS = 15 * 60_000;

export interface DrainDeps {
  db: Db;
  partner: string;
  /** one batch cycle of the partner */
  cycle(): Promise<BatchCycleResult>;
  /** how long, in all, the drain waits for other cycles holding the partner's lock */
  lockWaitMs: number;
  /** aborted (a daemon stopping): no new cycle starts */
  signal?: AbortSignal;
  /** the drain starts waiting for the lock's holder */
  onWait?(holder: { pid: number; since: string }): void;
  /** the start set is known (before the first cycle) */
  onStart?(uploadable: number): void;
}

/** What a drain did, as JSON: the daemon stores it in the request row for the CLI to print. */
export interface DrainResult {
  partner: string;
  /** messages uploadable when the drain started */
  uploadable: number;
  /** every cycle that ran (not the ones skipped for the lock), in order */
  batches: BatchCycleResult[];
  sent: number;
  failed: number;
  conflicts: number;
  recovered: number;
  /** STAGED reversals held back at the end (their original is not SENT, or never will be) */
  heldReversals: number;
  /** HELD messages of the partner at the end: reported, not errors */
  held: number;
  /** messages of the start set still uploadable and STAGED at the end */
  left: number;
  /** who the drain waited for (another cycle held the partner's lock) */
  waitedFor: Array<{ pid: number; since: string }>;
  /** why it ended before the start set was gone without a failed cycle */
  stopped?: string;
  /** every uploadable message of the start set went, no cycle failed */
  ok: boolean;
}

export function cycleFailed(r: BatchCycleResult): boolean {
  return r.error !== undefined || r.failed > 0 || r.conflicts > 0;
}

/** Any number of rows: SQLite reads LIMIT -1 as no limit. */
const ALL = -1;

export async function drainPartner(deps: DrainDeps): Promise<DrainResult> {
  const { db, partner } = deps;
  const q = new BatchQueries(db);
  const start = new Set(q.claimable(partner, ALL).map((m) => m.id));
  deps.onStart?.(start.size);
  const stagedIds = db.prepare(`SELECT id FROM messages WHERE partner = ? AND state = 'STAGED'`).pluck();
  const stagedOfStart = (): number => {
    let n = 0;
    for (const id of stagedIds.iterate(partner) as Iterable<number>) if (start.has(id)) n++;
    return n;
  };
  const batches: BatchCycleResult[] = [];
  const waitedFor: DrainResult['waitedFor'] = [];
  let stopped: string | undefined;
  let remaining = start.size;
  const waitUntil = Date.now() + deps.lockWaitMs;
  for (;;) {
    if (deps.signal?.aborted) {
      stopped = 'stopped: the daemon is stopping';
      break;
    }
    if (isPaused(db, partner)) {
      stopped = 'the partner was paused';
      break;
    }
    const r = await deps.cycle();
    if (r.skipped) {
      const holder = r.lockedBy ?? { pid: 0, since: '?' };
      waitedFor.push(holder);
      deps.onWait?.(holder);
      const left = waitUntil - Date.now();
      const free = left > 0 && (await waitForPartnerLock(db, partner, { timeoutMs: left, ...(deps.signal ? { signal: deps.signal } : {}) }));
      if (!free) {
        stopped = deps.signal?.aborted
          ? 'stopped: the daemon is stopping'
          : `another batch cycle of this partner (pid ${holder.pid} since ${holder.since}) still held its lock after ${Math.round(deps.lockWaitMs / 1000)} s of waiting`;
        break;
      }
      continue;
    }
    batches.push(r);
    if (cycleFailed(r)) break;
    const now = stagedOfStart();
    const progressed = now < remaining;
    remaining = now;
    if (r.batchId === null || remaining === 0 || !progressed) break;
  }
  const leftIds = q.claimable(partner, ALL).filter((m) => start.has(m.id)).length;
  const sum = (k: 'sent' | 'failed' | 'conflicts' | 'recovered') => batches.reduce((n, b) => n + b[k], 0);
  const held = (db.prepare(`SELECT count(*) FROM messages m WHERE m.partner = ? AND m.state = 'HELD' AND ${VISIBLE}`).pluck().get(partner) as number) ?? 0;
  const result: DrainResult = {
    partner,
    uploadable: start.size,
    batches,
    sent: sum('sent'),
    failed: sum('failed'),
    conflicts: sum('conflicts'),
    recovered: sum('recovered'),
    heldReversals: q.heldReversals(partner).length,
    held,
    left: leftIds,
    waitedFor,
    ok: stopped === undefined && leftIds === 0 && !batches.some(cycleFailed),
  };
  if (stopped !== undefined) result.stopped = stopped;
  return result;
}

/** The summary the operator reads (the same whether the CLI or the daemon ran the cycles): one
 * line per batch; with more than one, a total line; the last line carries what is HELD and
 * why the drain ended early. */
export function drainLines(d: DrainResult): string[] {
  const lines: Array<{ text: string; error?: string | undefined }> = d.batches.map((r) => ({
    text: `${d.partner}: batch ${r.batchId ?? '-'}: ${r.sent} sent, ${r.failed} failed, ${r.conflicts} conflict(s), ${r.held} reversal(s) held, ${r.recovered} recovered`,
    error: r.error,
  }));
  if (d.batches.length !== 1) {
    lines.push({ text: `${d.partner}: ${d.sent} sent in ${d.batches.length} batch(es), ${d.failed} failed, ${d.conflicts} conflict(s); ${d.uploadable} were uploadable at the start` });
  }
  const notes: string[] = [];
  if (d.held) notes.push(`${d.held} HELD message(s) wait for release`);
  if (d.stopped !== undefined) notes.push(d.stopped);
  if (d.left && !d.batches.some(cycleFailed)) notes.push(`${d.left} message(s) uploadable at the start are still STAGED`);
  // HELD before a batch's error, as the summary always had it
  if (notes.length) lines.at(-1)!.text += `; ${notes.join('; ')}`;
  return lines.map((l) => (l.error ? `${l.text}; ${l.error}` : l.text));
}
