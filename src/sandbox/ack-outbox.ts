// Where the sandbox's acks go: their numbers (ACK + 12 digits, counter in <dir>/ack-counter.json),
// the ack folder, and the delayed ones waiting in <dir>/pending-acks/<due ms>-<ack fcn>.xml until
// they are due (a restart delivers what was pending). Every file is written under a dot-prefixed
// temp name and renamed into place, so the client never lists a half-written ack.
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../log.js';

export const ACK_FOLDER = ['outbox', 'IE_PROCESSING_RESPONSE'] as const;
export const ACK_COUNTER_FILE = 'ack-counter.json';
export const PENDING_DIR = 'pending-acks';

export class AckOutbox {
  readonly ackDir: string;
  private readonly pendingDir: string;
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;
  private ackSeq: number;

  constructor(
    private readonly dir: string,
    private readonly logger: Logger,
  ) {
    this.ackDir = path.join(dir, ...ACK_FOLDER);
    this.pendingDir = path.join(dir, PENDING_DIR);
    for (const d of [this.ackDir, this.pendingDir]) fs.mkdirSync(d, { recursive: true, mode: 0o750 });
    let last: unknown;
    try {
      last = (JSON.parse(fs.readFileSync(path.join(dir, ACK_COUNTER_FILE), 'utf8')) as { last?: unknown }).last;
    } catch {
      /* no counter yet */
    }
    this.ackSeq = typeof last === 'number' && Number.isSafeInteger(last) && last >= 0 ? last : 0;
    this.resumePending();
  }

  /** Stops the delay timers; pending acks stay in pending-acks/ for the next start. */
  close(): void {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  /** The next ack FileControlNumber; the counter is on disk before the number is used. */
  nextAckNumber(): string {
    this.ackSeq++;
    const file = path.join(this.dir, ACK_COUNTER_FILE);
    const tmp = path.join(this.dir, `.${ACK_COUNTER_FILE}.tmp`);
    fs.writeFileSync(tmp, JSON.stringify({ last: this.ackSeq }) + '\n', { mode: 0o640 });
    fs.renameSync(tmp, file);
    return `ACK${String(this.ackSeq).padStart(12, '0')}`;
  }

  /** Puts the ack into the ack folder now, or at `due` (ms since the epoch) when that is later. */
  send(ackFcn: string, xml: string, due: number, delayed: boolean): void {
    if (delayed) this.park(ackFcn, xml, due);
    else this.deliver(ackFcn, xml);
  }

  private deliver(ackFcn: string, xml: string): void {
    fs.mkdirSync(this.ackDir, { recursive: true, mode: 0o750 });
    const tmp = path.join(this.ackDir, `.${ackFcn}.xml.tmp`);
    fs.writeFileSync(tmp, xml, { mode: 0o640 });
    fs.renameSync(tmp, path.join(this.ackDir, `${ackFcn}.xml`));
  }

  private park(ackFcn: string, xml: string, due: number): void {
    const file = path.join(this.pendingDir, `${due}-${ackFcn}.xml`);
    const tmp = path.join(this.pendingDir, `.${ackFcn}.xml.tmp`);
    fs.mkdirSync(this.pendingDir, { recursive: true, mode: 0o750 });
    fs.writeFileSync(tmp, xml, { mode: 0o640 });
    fs.renameSync(tmp, file);
    this.schedule(file, ackFcn, due);
  }

  private schedule(file: string, ackFcn: string, due: number): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (this.closed) return;
      try {
        fs.mkdirSync(this.ackDir, { recursive: true, mode: 0o750 });
        fs.renameSync(file, path.join(this.ackDir, `${ackFcn}.xml`));
        this.logger.info('sandbox: delayed ack delivered', { ack: ackFcn });
      } catch (e) {
        this.logger.error('sandbox: could not deliver a delayed ack', { ack: ackFcn, error: (e as Error).message });
      }
    }, Math.max(0, due - Date.now()));
    this.timers.add(t);
  }

  private resumePending(): void {
    let names: string[];
    try {
      names = fs.readdirSync(this.pendingDir);
    } catch {
      return;
    }
    for (const n of names.sort()) {
      const m = /^(\d+)-(ACK\d+)\.xml$/.exec(n);
      if (m) this.schedule(path.join(this.pendingDir, n), m[2]!, Number(m[1]));
    }
  }
}
