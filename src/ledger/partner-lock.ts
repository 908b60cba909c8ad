// At most one batch cycle per partner at a time, across processes (product.md 4: the daemon
// and the `send-now` CLI share the ledger). The lock is a row in `partner_locks`, taken in an
// IMMEDIATE transaction (SQLite's single writer makes check-and-insert atomic across
// processes) and removed when the cycle ends.
//
// A row left behind by a holder that is gone (kill -9, crash, power loss) is taken over:
// - its pid no longer exists (process.kill(pid, 0) throws ESRCH);
// - its pid exists but is another process now (Linux: the process start time recorded in the
//   owner differs from /proc/<pid>/stat: the pid was reused after a restart);
// - its pid is ours, but this process does not hold that owner (a previous incarnation of the
//   daemon that had the same pid, typical in containers where the daemon is pid 1).
// A row of another host cannot be checked and is respected.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { nowIso, type Db } from './db.js';

export interface PartnerLockRow {
  partner: string;
  owner: string;
  pid: number;
  acquired_at: string;
}

export interface PartnerLock {
  readonly partner: string;
  readonly owner: string;
  readonly acquiredAt: string;
  /** the holder this lock replaced, when it took over a stale one */
  readonly tookOverFrom: PartnerLockRow | null;
  /** Removes the row if it is still ours; idempotent, never throws. */
  release(): void;
}

export type AcquireResult = { acquired: true; lock: PartnerLock } | { acquired: false; heldBy: PartnerLockRow };

/** Owners held by this process right now (lock rows that are live, not stale, for our pid). */
const heldHere = new Set<string>();

let ownStart: string | null | undefined;
function ownStartTime(): string | null {
  if (ownStart === undefined) ownStart = processStartTime(process.pid);
  return ownStart;
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot); null when unknown. */
function processStartTime(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19] ?? null; // fields after "pid (comm)": state is field 3 -> index 0, starttime is field 22 -> index 19
  } catch {
    return null;
  }
}

/** Whether a process with this pid exists (EPERM: it exists, owned by someone else). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

interface OwnerInfo {
  host: string;
  pid: number;
  start: string | null;
}

/** owner = "<host>|<pid>|<start time or ->|<uuid>" */
function makeOwner(): string {
  return `${os.hostname()}|${process.pid}|${ownStartTime() ?? '-'}|${randomUUID()}`;
}

function parseOwner(owner: string): OwnerInfo | null {
  const parts = owner.split('|');
  if (parts.length !== 4) return null;
  const pid = Number(parts[1]);
  if (!Number.isInteger(pid)) return null;
  return { host: parts[0]!, pid, start: parts[2] === '-' ? null : parts[2]! };
}

/** Why an existing lock row is stale (its holder is gone), or null when it must be respected. */
function staleReason(row: PartnerLockRow): string | null {
  const info = parseOwner(row.owner);
  if (info && info.host !== os.hostname()) return null; // another machine: cannot check
  if (row.pid === process.pid) {
    return heldHere.has(row.owner) ? null : `left by an earlier process with our pid ${row.pid}`;
  }
  if (!pidAlive(row.pid)) return `pid ${row.pid} is gone`;
  if (info?.start) {
    const now = processStartTime(row.pid);
    if (now !== null && now !== info.start) return `pid ${row.pid} is now another process`;
  }
  return null;
}

/**
 * Tries to take the partner's lock without waiting. Returns the lock, or who holds it.
 * Safe across processes: the check and the insert run in one IMMEDIATE transaction.
 */
export function tryAcquirePartnerLock(db: Db, partner: string): AcquireResult {
  const owner = makeOwner();
  const acquiredAt = nowIso();
  const result = db
    .transaction((): AcquireResult => {
      const row = db.prepare('SELECT partner, owner, pid, acquired_at FROM partner_locks WHERE partner = ?').get(partner) as PartnerLockRow | undefined;
      let tookOverFrom: PartnerLockRow | null = null;
      if (row) {
        if (staleReason(row) === null) return { acquired: false, heldBy: row };
        tookOverFrom = row;
        db.prepare('DELETE FROM partner_locks WHERE partner = ? AND owner = ?').run(partner, row.owner);
      }
      db.prepare('INSERT INTO partner_locks (partner, owner, pid, acquired_at) VALUES (?, ?, ?, ?)').run(partner, owner, process.pid, acquiredAt);
      return { acquired: true, lock: makeLock(db, partner, owner, acquiredAt, tookOverFrom) };
    })
    .immediate();
  if (result.acquired) heldHere.add(owner);
  return result;
}

/** Who holds the partner's lock now; null when nobody does or its holder is gone (stale). */
export function partnerLockHolder(db: Db, partner: string): PartnerLockRow | null {
  const row = db.prepare('SELECT partner, owner, pid, acquired_at FROM partner_locks WHERE partner = ?').get(partner) as PartnerLockRow | undefined;
  return row && staleReason(row) === null ? row : null;
}

/**
 * Waits until nobody holds the partner's lock (its row is gone, or stale), looking every
 * `everyMs`: SQLite tells no other process when a row goes, so this is a bounded poll of one
 * indexed row, never a spin. Resolves true when free, false after `timeoutMs` or when
 * `signal` aborts. Free is no promise: another cycle may take the lock first, so the caller
 * tries to acquire it and waits again when that fails.
 */
export async function waitForPartnerLock(db: Db, partner: string, opts: { timeoutMs: number; everyMs?: number; signal?: AbortSignal }): Promise<boolean> {
  const end = Date.now() + opts.timeoutMs;
  const every = opts.everyMs ?? 250;
  for (;;) {
    if (opts.signal?.aborted) return false;
    if (!partnerLockHolder(db, partner)) return true;
    const left = end - Date.now();
    if (left <= 0) return false;
    try {
      await sleep(Math.min(every, left), undefined, opts.signal ? { signal: opts.signal } : {});
    } catch {
      return false; // aborted
    }
  }
}

function makeLock(db: Db, partner: string, owner: string, acquiredAt: string, tookOverFrom: PartnerLockRow | null): PartnerLock {
  let released = false;
  return {
    partner,
    owner,
    acquiredAt,
    tookOverFrom,
    release(): void {
      if (released) return;
      released = true;
      try {
        db.prepare('DELETE FROM partner_locks WHERE partner = ? AND owner = ?').run(partner, owner);
      } catch {
        // the ledger is closed or busy beyond busy_timeout: the row stays; this process no
        // longer holds the owner, so its next cycle takes it over (and once this process has
        // ended, so does any other)
      } finally {
        heldHere.delete(owner);
      }
    },
  };
}
