// The REAL daemon as a child process (`node bin/tlbridge.js run --config ...`), for end-to-end
// tests of product.md 5 (crash, kill -9, SIGTERM, a server that goes away): a temp folder with
// its own config, drop folder and data folder; the daemon's JSON log lines collected from its
// stdout; the ledger read through a fresh read-only connection on every look, so the test
// never holds a lock the daemon could trip over and always sees what is committed.
//
// Every child is SIGKILLed when the test process exits, whatever happened in between.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import type { TestSshd } from './sshd.js';
import { Waiters, within } from './wait.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = path.join(REPO, 'bin', 'tlbridge.js');
export const PARTNER = 'ACME-PHARMA';
/** node-cron 6 fields: every 2 seconds */
export const EVERY_2S = '*/2 * * * * *';
/** never in a test's life time */
export const NEVER = '0 0 1 1 *';

export const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------------------ inputs

/** An erp-delimited MATERIALS_PRODUCED file with one DOC (one message) per reference. */
export function producedFile(refs: readonly string[], erpFileId = `EXP-${refs[0] ?? 'EMPTY'}`): string {
  const lines = [`HDR|MATERIALS_PRODUCED|${PARTNER}|20261125101500|${erpFileId}`];
  refs.forEach((ref, i) => {
    lines.push(`DOC|${ref}|WO-${ref}|20261124|153000|e2e ${i}`);
    lines.push(`LIN|GTIN|00312345678906|LOT${i % 97}|${(i % 50) + 1}.5|EA|20281130`);
  });
  // TRL count: the records between HDR and TRL
  lines.push(`TRL|${lines.length - 1}`);
  return lines.join('\n') + '\n';
}

/** `n` references `<prefix>-0000 ...` */
export function refs(prefix: string, n: number, from = 0): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}-${String(from + i).padStart(5, '0')}`);
}

// ------------------------------------------------------------------------------ the ledger

export interface MessageRow {
  id: number;
  file_id: number;
  fcn: string;
  reference_doc: string;
  type_code: string;
  state: string;
  remote_path: string | null;
  batch_id: number | null;
  last_error: string | null;
  xml_path: string;
  bytes: number;
}

export interface FileRow {
  id: number;
  name: string;
  state: string;
  messages: number;
  work_path: string | null;
}

/** Runs `fn` on a fresh read-only connection to the ledger; undefined while there is no ledger. */
export function readLedger<T>(file: string, fn: (db: Database.Database) => T): T | undefined {
  if (!fs.existsSync(file)) return undefined;
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch (e) {
    // a WAL database whose -shm is gone (clean close) cannot always be opened read-only
    const code = (e as { code?: string }).code ?? '';
    if (!/^SQLITE_(READONLY|CANTOPEN)/.test(code)) throw e;
    db = new Database(file, { fileMustExist: true });
  }
  try {
    db.pragma('busy_timeout = 5000');
    return fn(db);
  } finally {
    db.close();
  }
}

// ------------------------------------------------------------------------------ the process

export interface LogLine {
  level: string;
  message: string;
  timestamp?: string;
  [k: string]: unknown;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** from the signal (kill/terminate) to the exit; from the start otherwise */
  ms: number;
}

const live = new Set<ChildProcess>();
let hookInstalled = false;
function installExitHook(): void {
  if (hookInstalled) return;
  hookInstalled = true;
  process.on('exit', () => {
    for (const c of live) {
      try {
        c.kill('SIGKILL');
      } catch {
        /* gone */
      }
    }
  });
}

export class DaemonProcess {
  readonly child: ChildProcess;
  readonly logs: LogLine[] = [];
  /** stdout lines that are not JSON, and everything on stderr */
  readonly other: string[] = [];
  readonly startedAt = Date.now();
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null; at: number } | null = null;
  private readonly exitPromise: Promise<void>;
  private readonly waiters = new Waiters();
  private buf = '';

  constructor(configPath: string, env: NodeJS.ProcessEnv = {}) {
    this.child = spawn(process.execPath, [BIN, 'run', '--config', configPath], {
      cwd: REPO,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    live.add(this.child);
    installExitHook();
    this.child.stdout!.setEncoding('utf8');
    this.child.stdout!.on('data', (s: string) => {
      this.buf += s;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl);
        this.buf = this.buf.slice(nl + 1);
        if (!line.trim()) continue;
        try {
          this.logs.push(JSON.parse(line) as LogLine);
        } catch {
          this.other.push(line);
        }
      }
      this.waiters.notify();
    });
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (s: string) => this.other.push(...s.split('\n').filter((l) => l.trim())));
    this.exitPromise = new Promise<void>((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal, at: Date.now() };
        live.delete(this.child);
        resolve();
        this.waiters.notify();
      });
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.exitInfo === null;
  }

  /** The first log line matching, or undefined. */
  find(match: string | RegExp | ((l: LogLine) => boolean)): LogLine | undefined {
    return this.logs.find(matcher(match));
  }

  count(match: string | RegExp | ((l: LogLine) => boolean)): number {
    return this.logs.filter(matcher(match)).length;
  }

  /** Waits for a log line matching `match` (a message substring, a RegExp on the message, or a predicate). */
  waitForLog(match: string | RegExp | ((l: LogLine) => boolean), timeoutMs = 20_000, from = 0): Promise<LogLine> {
    const m = matcher(match);
    let next = from; // each line is looked at once
    return this.waiters.until(
      () => {
        for (; next < this.logs.length; next++) if (m(this.logs[next]!)) return this.logs[next]!;
        if (!this.running) throw new Error(`the daemon exited (${JSON.stringify(this.exitInfo)}) before logging ${String(match)}\n${this.tail()}`);
        return undefined;
      },
      timeoutMs,
      () => new Error(`timed out after ${timeoutMs} ms waiting for log ${String(match)}\n${this.tail()}`),
    );
  }

  /** Resolves once the daemon says it is running (recovery done, watcher and schedulers up). */
  ready(timeoutMs = 30_000): Promise<LogLine> {
    return this.waitForLog((l) => l.message === 'tlbridge running', timeoutMs);
  }

  /** Waits for the exit (at most timeoutMs; null if it did not exit by then). */
  async waitExit(timeoutMs: number, since = this.startedAt): Promise<Exit | null> {
    await within(this.exitPromise, timeoutMs);
    const e = this.exitInfo;
    return e ? { code: e.code, signal: e.signal, ms: e.at - since } : null;
  }

  /** kill -9: nothing runs after it in the daemon. */
  async kill9(): Promise<Exit> {
    const t = Date.now();
    this.child.kill('SIGKILL');
    const e = await this.waitExit(10_000, t);
    if (!e) throw new Error(`the daemon (pid ${this.pid}) did not die after SIGKILL`);
    return e;
  }

  /**
   * SIGTERM and the time until it exits. Returns null for the exit if it did not exit within
   * `timeoutMs` (it is then SIGKILLed so nothing lingers).
   */
  async terminate(timeoutMs = 20_000): Promise<Exit | null> {
    if (!this.running) return this.waitExit(0);
    const t = Date.now();
    this.child.kill('SIGTERM');
    const e = await this.waitExit(timeoutMs, t);
    if (!e) {
      this.child.kill('SIGKILL');
      await this.waitExit(10_000);
    }
    return e;
  }

  /** For failure messages: the last log lines and anything on stderr. */
  tail(n = 25): string {
    const lines = this.logs.slice(-n).map((l) => JSON.stringify(l));
    return [...lines, ...this.other.slice(-n).map((l) => `[other] ${l}`)].join('\n');
  }
}

function matcher(match: string | RegExp | ((l: LogLine) => boolean)): (l: LogLine) => boolean {
  if (typeof match === 'function') return match;
  if (typeof match === 'string') return (l) => typeof l.message === 'string' && l.message.includes(match);
  return (l) => typeof l.message === 'string' && match.test(l.message);
}

// ------------------------------------------------------------------------------ the environment

export interface E2eOptions {
  sshd: TestSshd;
  /** the pinned fingerprint(s); default the sshd's real one */
  hostKeySha256?: string;
  schedule?: string;
  maxBatchMessages?: number;
  connections?: number;
  timeoutMs?: number;
  stableMs?: number;
}

/** A temp folder with tlbridge.yaml, var/ (dataDir), var/inbound (the drop folder) and stage/. */
export class E2eEnv {
  readonly dir: string;
  readonly configPath: string;
  readonly dataDir: string;
  readonly inbound: string;
  readonly ledgerPath: string;
  private readonly stage: string;
  private seq = 0;
  readonly processes: DaemonProcess[] = [];

  constructor(readonly opts: E2eOptions) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlbridge-e2e-'));
    this.configPath = path.join(this.dir, 'tlbridge.yaml');
    this.dataDir = path.join(this.dir, 'var');
    this.inbound = path.join(this.dataDir, 'inbound');
    this.ledgerPath = path.join(this.dataDir, 'ledger.sqlite');
    this.stage = path.join(this.dir, 'stage');
    fs.mkdirSync(this.stage, { recursive: true });
    fs.mkdirSync(this.inbound, { recursive: true });
    this.writeConfig();
  }

  writeConfig(change: Partial<Omit<E2eOptions, 'sshd'>> = {}): void {
    const o = { ...this.opts, ...change };
    const s = o.sshd;
    const yaml = `sender: { id: "0614141000005", controlNumberPrefix: "E" }
timezone: UTC
dataDir: ./var
inbound:
  - { path: ./var/inbound, layout: erp-delimited, stableMs: ${o.stableMs ?? 200} }
rescanSeconds: 1
log: { level: info }
partners:
  ${PARTNER}:
    receiverId: "0312345000001"
    usage: TEST
    schedule: "${o.schedule ?? EVERY_2S}"
    ackPoll: "${NEVER}"
    maxBatchMessages: ${o.maxBatchMessages ?? 500}
    sftp:
      host: 127.0.0.1
      port: ${s.port}
      username: ${s.username}
      privateKeyFile: ${s.privateKeyPath}
      hostKeySha256: "${o.hostKeySha256 ?? s.hostKeySha256}"
      inboxDir: /inbox
      ackDir: /outbox/IE_PROCESSING_RESPONSE
      tempSuffix: .part
      timeoutMs: ${o.timeoutMs ?? 3000}
      connections: ${o.connections ?? 2}
`;
    fs.writeFileSync(this.configPath, yaml);
  }

  /** Starts `tlbridge run` on this config. */
  start(): DaemonProcess {
    const p = new DaemonProcess(this.configPath);
    this.processes.push(p);
    return p;
  }

  /** Drops a complete file: written beside, then renamed into the drop folder (as an ERP export should). */
  drop(name: string, content: string): string {
    const tmp = path.join(this.stage, `${++this.seq}-${name}`);
    fs.writeFileSync(tmp, content);
    const target = path.join(this.inbound, name);
    fs.renameSync(tmp, target);
    return target;
  }

  ledger<T>(fn: (db: Database.Database) => T): T | undefined {
    return readLedger(this.ledgerPath, fn);
  }

  messages(): MessageRow[] {
    return this.ledger((db) => db.prepare('SELECT * FROM messages ORDER BY id').all() as MessageRow[]) ?? [];
  }

  files(): FileRow[] {
    return this.ledger((db) => db.prepare('SELECT * FROM files ORDER BY id').all() as FileRow[]) ?? [];
  }

  /** Message counts by state (only states present). */
  messageStates(): Record<string, number> {
    const rows = this.ledger((db) => db.prepare('SELECT state, count(*) AS n FROM messages GROUP BY state').all() as { state: string; n: number }[]) ?? [];
    return Object.fromEntries(rows.map((r) => [r.state, r.n]));
  }

  /** Polls `cond` (on a fresh read-only ledger connection each time) until it returns a truthy value. */
  async waitLedger<T>(what: string, cond: (db: Database.Database) => T | undefined | false | null, timeoutMs = 30_000, everyMs = 50): Promise<T> {
    const end = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
      try {
        const v = this.ledger(cond);
        if (v) return v;
      } catch (e) {
        last = e; // e.g. the ledger is being created
      }
      if (Date.now() > end) {
        const dead = this.processes.filter((p) => !p.running).length;
        const tail = this.processes.at(-1)?.tail() ?? '';
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; states ${JSON.stringify(safe(() => this.messageStates()))}${last ? `; last error ${String(last)}` : ''}; ${dead} daemon(s) exited\n${tail}`);
      }
      await delay(everyMs);
    }
  }

  /** Every file under a data folder (work, outbox, error, archive), relative, sorted. */
  filesUnder(sub: string): string[] {
    return filesUnder(path.join(this.dataDir, sub));
  }

  /** `node bin/tlbridge.js <args> --config <this config>` synchronously. */
  cli(args: string[]): { code: number | null; stdout: string; stderr: string } {
    const r = spawnSync(process.execPath, [BIN, ...args, '--config', this.configPath], { cwd: REPO, encoding: 'utf8', timeout: 60_000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  /** Kills whatever is still running (SIGKILL) and removes the folder. */
  async dispose(): Promise<void> {
    for (const p of this.processes) if (p.running) await p.kill9().catch(() => undefined);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

function safe<T>(fn: () => T): T | string {
  try {
    return fn();
  } catch (e) {
    return String(e);
  }
}

/** Every file (not folder) under a local folder, relative, sorted; [] when it does not exist. */
export function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true, withFileTypes: true }) as fs.Dirent[])
    .filter((d) => d.isFile())
    .map((d) => path.relative(dir, path.join(d.parentPath, d.name)))
    .sort();
}

// ------------------------------------------------------------------------------ the server side

/**
 * Counts, per name, how often a file APPEARS in a server folder (inotify IN_CREATE /
 * IN_MOVED_TO through fs.watch 'rename' events on a name that exists afterwards). A listing
 * shows at most one file per name; this shows whether the same name was written twice (a
 * second upload renamed over the first, or removed and put again).
 */
export class ArrivalCounter {
  readonly arrivals = new Map<string, number>();
  readonly events: { name: string; at: number }[] = [];
  private readonly watcher: fs.FSWatcher;
  private readonly present = new Set<string>();

  constructor(readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    for (const f of fs.readdirSync(dir)) this.present.add(f);
    this.watcher = fs.watch(dir, { persistent: false }, (event, name) => {
      if (event !== 'rename' || !name) return;
      const now = fs.existsSync(path.join(dir, name));
      const was = this.present.has(name);
      if (now) {
        // appeared, or replaced (a rename over an existing name also reports 'rename')
        this.present.add(name);
        this.arrivals.set(name, (this.arrivals.get(name) ?? 0) + 1);
        this.events.push({ name, at: Date.now() });
      } else if (was) this.present.delete(name);
    });
  }

  /** arrivals of final names only (not temp files) */
  finalArrivals(suffix = '.xml'): Map<string, number> {
    return new Map([...this.arrivals].filter(([n]) => n.endsWith(suffix)));
  }

  close(): void {
    this.watcher.close();
  }
}

/** `xmllint --noout --schema <xsd> files...` in chunks; the failures' output, '' when all are valid. */
export function xmllintAll(xsd: string, files: string[]): string {
  const problems: string[] = [];
  for (let i = 0; i < files.length; i += 200) {
    const chunk = files.slice(i, i + 200);
    const r = spawnSync('xmllint', ['--noout', '--schema', xsd, ...chunk], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    if (r.error) return `xmllint: ${r.error.message}`;
    if (r.status !== 0) problems.push((r.stderr || '').split('\n').filter((l) => !/ validates$/.test(l)).join('\n'));
  }
  return problems.join('\n');
}
