// Drop-folder watching (product.md 5, libraries.md chokidar): chokidar for prompt pickup plus
// a periodic rescan, because watch events can be missed; our own stability check (size and
// mtime unchanged for stableMs), because awaitWriteFinish is not reliable; a claim by atomic
// rename into work/, so a file is processed once even if two events name it.
import fs from 'node:fs';
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { InboundConfig } from '../config/load.js';
import type { Logger } from '../log.js';
import { NotAnInputError } from './claim.js';
import { judgeEntry, scanDropFolder, type UnsafeEntry } from './drop-scan.js';
import { isIgnoredName } from './names.js';

export { isIgnoredName, unsafeName } from './names.js';

export interface ClaimedEntry {
  workPath: string;
  name: string;
  inbound: InboundConfig;
}

interface Candidate {
  inbound: InboundConfig;
  size: number;
  mtimeMs: number;
  since: number;
}

export interface WatcherOptions {
  inbound: InboundConfig[];
  workDir: string;
  rescanSeconds: number;
  logger: Logger;
  /** called with the files claimed so far, in claim order; the watcher waits for it before the
   * next call. `more()` hands over, in claim order, the files claimed since (while the call
   * runs, so that it can take them into its work); what it does not take comes in the next
   * call. At most maxBatch files per call, those of `more()` included. Resolves with what went
   * wrong per file (logged here), [] when nothing did. */
  onClaimed(claimed: ClaimedEntry[], more: () => ClaimedEntry[]): Promise<{ workPath: string; error: unknown }[]>;
  /** at most this many files per onClaimed call (default 1) */
  maxBatch?: number;
}

const DUE_SLACK_MS = 5;

export class DropFolderWatcher {
  private watchers: FSWatcher[] = [];
  private candidates = new Map<string, Candidate>();
  /** drop folders that could not be read at the last rescan: said once, and again when back */
  private unreadable = new Set<string>();
  /** never-opened entries already logged, by folder and shown name: logged again only after
   * they went away and came back */
  private reported = new Map<string, Set<string>>();
  private timer?: NodeJS.Timeout;
  /** the one-shot check at the moment the next candidate has been stable for stableMs */
  private dueTimer?: NodeJS.Timeout;
  private dueAt = Infinity;
  private rescanTimer?: NodeJS.Timeout;
  private queue: Promise<void> = Promise.resolve();
  private queued = 0;
  /** claimed, not handed over yet */
  private waiting: ClaimedEntry[] = [];
  private draining = false;
  private stopped = false;
  private seq = 0;

  constructor(private readonly opts: WatcherOptions) {}

  async start(): Promise<void> {
    fs.mkdirSync(this.opts.workDir, { recursive: true, mode: 0o750 });
    await this.watchAll();
    this.startTimers();
  }

  /** A reload (product.md 9): watches the new drop folders, with their new settings. A file
   * claimed already is finished as it started; a candidate of a folder no longer listed is
   * dropped (it stays where it is). */
  async update(inbound: InboundConfig[], rescanSeconds: number): Promise<void> {
    if (this.stopped) return;
    clearInterval(this.timer);
    clearInterval(this.rescanTimer);
    const old = this.watchers;
    this.watchers = [];
    await Promise.all(old.map((w) => w.close()));
    this.opts.inbound = inbound;
    this.opts.rescanSeconds = rescanSeconds;
    const byPath = new Map(inbound.map((ib) => [ib.path, ib]));
    for (const [p, c] of this.candidates) {
      const ib = byPath.get(c.inbound.path);
      if (ib) c.inbound = ib;
      else this.candidates.delete(p);
    }
    if (this.stopped) return;
    await this.watchAll();
    this.startTimers();
  }

  /** The files already in the drop folders are considered first, in one pass: their stableMs
   * clocks start together, so they are claimed together and converted as one group (left to
   * chokidar's initial events, one stat apart, a busy start could spread them past DUE_SLACK_MS:
   * the likely cause of a group split once in CI). A file that arrives before a watcher is
   * ready is in that watcher's initial events, and the periodic rescan catches any missed. */
  private async watchAll(): Promise<void> {
    for (const ib of this.opts.inbound) fs.mkdirSync(ib.path, { recursive: true, mode: 0o750 });
    this.rescan();
    for (const ib of this.opts.inbound) {
      const w = watch(ib.path, {
        depth: 0,
        followSymlinks: false,
        ignoreInitial: false,
        ignored: (p: string) => p !== ib.path && isIgnoredName(path.basename(p)),
      });
      w.on('add', (p) => this.consider(ib, p));
      w.on('change', (p) => this.consider(ib, p));
      w.on('error', (e) => this.opts.logger.error('watch error, the periodic rescan still picks files up', { inbound: ib.path, error: String(e) }));
      await new Promise<void>((resolve) => w.once('ready', () => resolve()));
      this.watchers.push(w);
    }
  }

  private startTimers(): void {
    this.rescanTimer = setInterval(() => this.rescan(), this.opts.rescanSeconds * 1000);
    const tick = Math.max(100, Math.min(500, ...this.opts.inbound.map((i) => i.stableMs / 4)));
    this.timer = setInterval(() => this.checkStable(), tick);
  }

  /** Stops taking new files; resolves when the file in progress (if any) is done. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.dueTimer);
    clearInterval(this.timer);
    clearInterval(this.rescanTimer);
    await Promise.all(this.watchers.map((w) => w.close()));
    await this.queue;
  }

  get backlog(): number {
    return this.queued + this.candidates.size;
  }

  rescan(): void {
    for (const ib of this.opts.inbound) {
      let scan: ReturnType<typeof scanDropFolder>;
      try {
        scan = scanDropFolder(ib.path);
      } catch (e) {
        if (!this.unreadable.has(ib.path)) {
          this.unreadable.add(ib.path);
          this.opts.logger.error('cannot read drop folder; files are picked up again once it is back (said once)', { inbound: ib.path, error: (e as Error).message });
        }
        continue;
      }
      if (this.unreadable.delete(ib.path)) this.opts.logger.info('drop folder readable again; picking up files', { inbound: ib.path });
      const seen = new Set<string>();
      for (const u of scan.unsafe) {
        seen.add(u.shown);
        this.reportOnce(u);
      }
      // an entry that went away is forgotten: if it comes back, it is logged again
      const known = this.reported.get(ib.path);
      if (known) for (const n of known) if (!seen.has(n)) known.delete(n);
      for (const f of scan.files) this.consider(ib, f.path);
    }
  }

  private consider(inbound: InboundConfig, p: string): void {
    if (this.stopped || this.candidates.has(p)) return;
    // chokidar names are strings: one that was not UTF-8 is mangled, its lstat fails, and the
    // rescan (which reads names as bytes) reports it
    const r = judgeEntry(path.dirname(p), Buffer.from(path.basename(p), 'utf8'));
    if (!r) return;
    if ('unsafe' in r) {
      this.reportOnce(r.unsafe);
      return;
    }
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p);
    } catch {
      return; // gone already
    }
    const since = Date.now();
    this.candidates.set(p, { inbound, size: st.size, mtimeMs: st.mtimeMs, since });
    this.arm(since + inbound.stableMs);
  }

  private reportOnce(u: UnsafeEntry): void {
    let known = this.reported.get(u.folder);
    if (!known) this.reported.set(u.folder, (known = new Set()));
    if (known.has(u.shown)) return;
    known.add(u.shown);
    this.opts.logger.warn(`drop folder entry never opened: ${u.reason}; it stays where it is (rename or remove it)`, { inbound: u.folder, name: u.shown });
  }

  /** A check once the first candidate is due: the time beyond stableMs is what a tick adds
   * (up to 125 ms with the interval alone). A few ms late on purpose: files dropped together
   * are claimed together, and converted as one group. */
  private arm(at: number): void {
    if (this.stopped || at >= this.dueAt) return;
    clearTimeout(this.dueTimer);
    this.dueAt = at;
    this.dueTimer = setTimeout(
      () => {
        this.dueAt = Infinity;
        this.checkStable();
        let next = Infinity;
        for (const c of this.candidates.values()) next = Math.min(next, c.since + c.inbound.stableMs);
        if (next < Infinity) this.arm(next);
      },
      Math.max(0, at - Date.now()) + DUE_SLACK_MS,
    );
  }

  /** Claims the candidates unchanged for stableMs. One not due yet is not looked at: a change
   * in between shows in its size or mtime when it is due, and its clock starts again. */
  private checkStable(): void {
    const now = Date.now();
    for (const [p, c] of this.candidates) {
      if (now - c.since < c.inbound.stableMs) continue;
      let st: fs.Stats;
      try {
        st = fs.lstatSync(p);
      } catch {
        this.candidates.delete(p);
        continue;
      }
      if (!st.isFile()) {
        this.candidates.delete(p);
        continue;
      }
      if (st.size !== c.size || st.mtimeMs !== c.mtimeMs) {
        c.size = st.size;
        c.mtimeMs = st.mtimeMs;
        c.since = now;
        continue;
      }
      this.candidates.delete(p);
      this.claim(p, c.inbound);
    }
  }

  private claim(p: string, inbound: InboundConfig): void {
    if (this.stopped) return;
    const name = path.basename(p);
    const stamp = new Date().toISOString().replace(/[-:.]/g, '');
    const workPath = path.join(this.opts.workDir, `${stamp}-${process.pid}-${++this.seq}--${name}`);
    try {
      fs.renameSync(p, workPath); // atomic within one file system: nobody else can claim it now
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') this.opts.logger.error('cannot claim file', { path: p, error: (e as Error).message });
      return;
    }
    this.queued++;
    this.waiting.push({ workPath, name, inbound });
    if (!this.draining) {
      this.draining = true;
      this.queue = this.queue.then(() => this.drain());
    }
  }

  /** Hands the claimed files over, as many as have gathered each time, until none wait. */
  private async drain(): Promise<void> {
    try {
      const max = Math.max(1, this.opts.maxBatch ?? 1);
      while (this.waiting.length) {
        const handed = this.waiting.splice(0, max);
        const more = (): ClaimedEntry[] => {
          const extra = this.waiting.splice(0, Math.max(0, max - handed.length));
          handed.push(...extra);
          return extra;
        };
        let failures: { workPath: string; error: unknown }[];
        try {
          failures = await this.opts.onClaimed(handed.slice(), more);
        } catch (e) {
          failures = handed.map((c) => ({ workPath: c.workPath, error: e }));
        }
        for (const f of failures) this.logFailure(f.workPath, f.error);
        this.queued -= handed.length;
      }
    } finally {
      this.draining = false;
    }
  }

  private logFailure(workPath: string, e: unknown): void {
    if (e instanceof NotAnInputError) this.opts.logger.warn('claimed entry was no regular file: put back, never opened', { workPath, error: e.message });
    else if ((e as Error).name === 'AbortError') this.opts.logger.warn('conversion abandoned by the stop; the file stays in work/ and is converted at the next start', { workPath });
    else this.opts.logger.error('intake failed; the file stays in work/ and is retried at the next start', { workPath, error: (e as Error).stack ?? String(e) });
  }
}

/** The original name of a file under work/ (its claim prefix removed). */
export function nameFromWorkPath(workPath: string): string {
  const base = path.basename(workPath);
  const i = base.indexOf('--');
  return i >= 0 ? base.slice(i + 2) : base;
}
