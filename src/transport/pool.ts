// A small pool of SFTP sessions: at most `size` connections, each doing one operation at a time
// (ssh2-sftp-client must not run concurrent operations on one client, libraries.md).
// Sessions are connected lazily, reused while alive, discarded when they errored/closed/timed
// out, and closed after sitting idle for `idleMs`. The pool does not retry: callers retry with
// backoff (backoff.ts), so a dead server is never spun on.
import type { SftpEndpoint } from './endpoint.js';
import { SftpError } from './errors.js';
import { SftpSession } from './session.js';

export interface SftpPoolOptions {
  idleMs?: number; // close sessions idle this long; default 60000; 0 = never
}

export interface SftpPoolStats {
  open: number; // sessions connected or connecting
  busy: number; // sessions lent out
  idle: number;
  waiting: number; // callers waiting for a session
  connects: number; // successful connects so far
  peakOpen: number; // highest `open` seen
}

interface Waiter {
  resolve: () => void;
  reject: (e: Error) => void;
}

export class SftpPool {
  private readonly ep: SftpEndpoint;
  private readonly size: number;
  private readonly idleMs: number;
  private readonly idle: { s: SftpSession; since: number }[] = [];
  private readonly waiters: Waiter[] = [];
  private openCount = 0;
  private busyCount = 0;
  private connects = 0;
  private peakOpen = 0;
  private closedFlag = false;
  private reaper: NodeJS.Timeout | undefined;
  private readonly closing = new Set<Promise<void>>();
  private readonly lent = new Set<SftpSession>();
  /** sessions whose handshake runs: an abandon closes them too (a frozen server holds it) */
  private readonly connecting = new Set<SftpSession>();
  /** connects started by warm() that no caller has claimed yet */
  private readonly early: Promise<SftpSession>[] = [];

  constructor(ep: SftpEndpoint, size: number, opts: SftpPoolOptions = {}) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`pool size must be an integer >= 1, got ${size}`);
    this.ep = ep;
    this.size = size;
    this.idleMs = opts.idleMs ?? 60_000;
  }

  get stats(): SftpPoolStats {
    return {
      open: this.openCount,
      busy: this.busyCount,
      idle: this.idle.length,
      waiting: this.waiters.length,
      connects: this.connects,
      peakOpen: this.peakOpen,
    };
  }

  /** Borrows a live session (connecting lazily), runs `fn`, returns the session afterwards. */
  async use<T>(fn: (s: SftpSession) => Promise<T>): Promise<T> {
    const s = await this.acquire();
    this.lent.add(s);
    try {
      return await fn(s);
    } finally {
      this.lent.delete(s);
      this.release(s);
    }
  }

  /**
   * Starts connecting up to `n` sessions now (within the pool's size), for callers about to
   * come: their handshakes overlap what the caller does meanwhile (send-now: the ledger's
   * claim). The first acquire()s take these connects over, a failure included (it is theirs to
   * report, not tried again); one nobody claimed joins the idle sessions, or, failed, is forgotten.
   */
  warm(n: number): void {
    while (this.early.length < n && this.openCount < this.size && !this.closedFlag) {
      this.openCount++;
      this.peakOpen = Math.max(this.peakOpen, this.openCount);
      const p = this.connect();
      this.early.push(p);
      const unclaimed = (): boolean => {
        const i = this.early.indexOf(p);
        if (i < 0) return false;
        this.early.splice(i, 1);
        return true;
      };
      p.then(
        (s) => {
          if (!unclaimed()) return;
          this.connects++;
          if (this.closedFlag) return this.discard(s);
          this.idle.push({ s, since: Date.now() });
          this.scheduleReap();
          this.wakeOne();
        },
        () => {
          if (!unclaimed()) return;
          this.openCount--;
          this.wakeOne();
        },
      );
    }
  }

  /**
   * Closes idle sessions now and busy ones when they come back; pending callers are rejected.
   * With `abandon` (shutdown), busy sessions are closed too, so their in-flight operations fail
   * at once instead of finishing (safe for uploads: only the temp name can be left behind), and
   * so are the connects still in their handshake (a frozen server would hold them for timeoutMs).
   */
  async close(opts: { abandon?: boolean } = {}): Promise<void> {
    this.closedFlag = true;
    if (this.reaper) clearTimeout(this.reaper);
    this.reaper = undefined;
    for (const w of this.waiters.splice(0)) w.reject(this.closedError());
    for (const { s } of this.idle.splice(0)) this.discard(s);
    if (opts.abandon) for (const s of [...this.lent, ...this.connecting]) void s.close();
    await Promise.all([...this.closing]);
  }

  private connect(): Promise<SftpSession> {
    let mine: SftpSession | undefined;
    return SftpSession.connect(this.ep, (s) => {
      mine = s;
      this.connecting.add(s);
    }).finally(() => {
      if (mine) this.connecting.delete(mine);
    });
  }

  private async acquire(): Promise<SftpSession> {
    for (;;) {
      if (this.closedFlag) throw this.closedError();
      while (this.idle.length) {
        const { s } = this.idle.pop()!; // most recently used first: the likeliest to be alive
        if (s.closed) {
          this.discard(s);
          continue;
        }
        this.busyCount++;
        return s;
      }
      const early = this.early.shift();
      if (early || this.openCount < this.size) {
        if (!early) {
          this.openCount++;
          this.peakOpen = Math.max(this.peakOpen, this.openCount);
        }
        this.busyCount++;
        let s: SftpSession;
        try {
          s = await (early ?? this.connect());
        } catch (e) {
          this.openCount--;
          this.busyCount--;
          this.wakeOne();
          throw e;
        }
        this.connects++;
        if (this.closedFlag) {
          this.busyCount--;
          this.discard(s);
          throw this.closedError();
        }
        return s;
      }
      await new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    }
  }

  private release(s: SftpSession): void {
    this.busyCount--;
    if (s.closed || this.closedFlag) {
      this.discard(s);
    } else {
      this.idle.push({ s, since: Date.now() });
      this.scheduleReap();
    }
    this.wakeOne();
  }

  private discard(s: SftpSession): void {
    this.openCount--;
    const p = s.close().finally(() => this.closing.delete(p));
    this.closing.add(p);
  }

  private wakeOne(): void {
    const w = this.waiters.shift();
    if (w) w.resolve();
  }

  private scheduleReap(): void {
    if (this.reaper || this.idleMs <= 0 || this.closedFlag) return;
    this.reaper = setTimeout(() => {
      this.reaper = undefined;
      const now = Date.now();
      for (let i = this.idle.length - 1; i >= 0; i--) {
        const entry = this.idle[i]!;
        if (entry.s.closed || now - entry.since >= this.idleMs) {
          this.idle.splice(i, 1);
          this.discard(entry.s);
        }
      }
      if (this.idle.length) this.scheduleReap();
    }, Math.max(50, Math.floor(this.idleMs / 2)));
    this.reaper.unref();
  }

  private closedError(): SftpError {
    const who = this.ep.label ?? `${this.ep.username}@${this.ep.host}:${this.ep.port}`;
    return new SftpError(`sftp ${who}: pool is closed`, 'ERR_POOL_CLOSED');
  }
}
