// Helpers for the tests that run tlbridge the way an operator does (test/quickstart.test.ts)
// or that run the daemon wired exactly like `tlbridge run` (test/parity.test.ts):
//   - a fresh `git clone` of the repository (committed files only) and `npm ci` in it;
//   - the README's quick start commands, read from the README itself;
//   - `npm start` as a child in its own process group, its JSON log lines collected, the
//     processes of its group listed from /proc, and its exit measured;
//   - `npx tlbridge ...` in the clone;
//   - the daemon in-process as src/cli/run.ts wires it (embedded sandbox first, batch
//     schedulers and ack pollers as services, the sandbox closed last).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startService } from '../../src/cli/run.js';
import type { Config } from '../../src/config/load.js';
import type { Daemon } from '../../src/daemon.js';
import type { Logger } from '../../src/log.js';
import { Waiters } from './wait.js';

export const HERE = path.dirname(fileURLToPath(import.meta.url));

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------ the repository

/** The top of the git work tree this test file lives in (`git rev-parse --show-toplevel`). */
export function repoTop(): string {
  const r = spawnSync('git', ['rev-parse', '--show-toplevel'], { cwd: HERE, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`git rev-parse --show-toplevel failed: ${(r.stderr ?? '').trim()}`);
  return r.stdout.trim();
}

/** `git clone` of the repository into `dest` (which must not exist): committed files only.
 * TLBRIDGE_QUICKSTART_REPO clones another repository instead (to try a fix on a scratch copy). */
export function cloneRepo(dest: string): void {
  const source = process.env.TLBRIDGE_QUICKSTART_REPO || repoTop();
  const r = spawnSync('git', ['clone', '--quiet', '--no-hardlinks', source, dest], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`git clone failed (exit ${r.status}): ${(r.stderr ?? '').trim()}`);
}

/** npm settings an outer npm passes down that a user's own shell would have too (where the
 * cache is: `npm ci --prefer-offline` depends on it; which registry and config files; which
 * Node's headers native modules build against, as .ci/run sets for its Node 24 run). */
const KEPT_NPM_VARS = new Set(['npm_config_cache', 'npm_config_userconfig', 'npm_config_globalconfig', 'npm_config_registry', 'npm_config_nodedir']);

/**
 * The environment of an operator's shell: this process's environment without what an outer
 * `npm test`/npx would leak into the clone's commands (npm_*, e.g. npm_config_local_prefix
 * pointing at this checkout; the cache location is kept), tlbridge settings (TLBRIDGE_*) or a
 * loader (NODE_OPTIONS).
 */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (KEPT_NPM_VARS.has(k.toLowerCase())) {
      env[k] = v;
      continue;
    }
    if (/^(npm_|tlbridge_)/i.test(k) || k === 'NODE_OPTIONS' || k === 'INIT_CWD') continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

// ------------------------------------------------------------------ the README

/** The text of the README section whose `## ` heading is `heading` (up to the next `## `). */
export function readmeSection(readme: string, heading: string): string {
  const lines = readme.split(/\r?\n/);
  const start = lines.findIndex((l) => l.trim().toLowerCase() === `## ${heading}`.toLowerCase());
  if (start < 0) throw new Error(`README has no "## ${heading}" section`);
  const rest = lines.slice(start + 1);
  const end = rest.findIndex((l) => /^##\s/.test(l));
  return (end < 0 ? rest : rest.slice(0, end)).join('\n');
}

/** The commands of every fenced code block of a README section, block by block: one per
 * non-empty line that is not a comment, with a leading `$ ` prompt and a trailing `# comment`
 * removed. */
export function sectionCommandBlocks(readme: string, heading: string): string[][] {
  const section = readmeSection(readme, heading);
  const blocks: string[][] = [];
  for (const m of section.matchAll(/```[^\n]*\n([\s\S]*?)```/g)) {
    blocks.push(
      m[1]!
        .split('\n')
        .map((l) => l.trim().replace(/^\$\s+/, '').replace(/\s+#.*$/, ''))
        .filter((l) => l !== '' && !l.startsWith('#')),
    );
  }
  return blocks;
}

/** The commands of the first fenced code block of the README's "Quick start" section. */
export function quickStartCommands(readme: string): string[] {
  const first = sectionCommandBlocks(readme, 'Quick start')[0];
  if (!first) throw new Error('the README\'s "Quick start" section has no fenced code block');
  return first;
}

// ------------------------------------------------------------------ child processes

export interface CmdResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs a command to its end (no shell), collecting its output; rejects only when it cannot start or outlives timeoutMs. */
export function runCmd(cmd: string, args: string[], opts: { cwd: string; timeoutMs: number; env?: NodeJS.ProcessEnv }): Promise<CmdResult> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => {
      killGroup(child.pid, 'SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')} did not finish within ${opts.timeoutMs} ms\n${tail(stdout + stderr)}`));
    }, opts.timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

export function tail(text: string, lines = 40): string {
  return text.split('\n').slice(-lines).join('\n');
}

function killGroup(pid: number | undefined, sig: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, sig);
  } catch {
    /* gone */
  }
}

interface ProcInfo {
  pid: number;
  ppid: number;
  pgrp: number;
  state: string;
  /** argv joined with spaces ('' for a zombie) */
  cmdline: string;
  argv: string[];
}

/** One process from /proc, or null when it is gone. */
export function procInfo(pid: number): ProcInfo | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    // pid (comm) state ppid pgrp ...: comm may hold spaces and parens, split after the last ')'
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    let argv: string[] = [];
    try {
      argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').filter((a) => a !== '');
    } catch {
      /* a zombie has none */
    }
    return { pid, state: rest[0]!, ppid: Number(rest[1]), pgrp: Number(rest[2]), cmdline: argv.join(' '), argv };
  } catch {
    return null;
  }
}

/** Every live process whose process group is `pgid`. */
export function processGroup(pgid: number): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const p = procInfo(Number(name));
    if (p && p.pgrp === pgid) out.push(p);
  }
  return out;
}

/** Gone, or a zombie (dead, not yet reaped). */
export function isDead(pid: number): boolean {
  const p = procInfo(pid);
  return p === null || p.state === 'Z' || p.state === 'X';
}

export interface LogLine {
  level?: string;
  message?: string;
  timestamp?: string;
  [k: string]: unknown;
}

/** `npm start` (or any long-running command) as the leader of its own process group. */
export class Foreground {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly logs: LogLine[] = [];
  /** stdout lines that are not JSON (npm's banner) */
  readonly otherLines: string[] = [];
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  /** all of stdout and stderr read (every holder of the pipes is gone) */
  readonly closed: Promise<void>;
  private exit: { code: number | null; signal: NodeJS.Signals | null; at: number } | null = null;
  private readonly waiters = new Waiters();
  private partial = '';

  constructor(cmd: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv }) {
    this.child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? cleanEnv(), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    if (this.child.pid === undefined) throw new Error(`${cmd} did not start`);
    this.pid = this.child.pid;
    this.child.stdout!.on('data', (d: Buffer) => this.onStdout(d.toString('utf8')));
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString('utf8')));
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exit = { code, signal, at: Date.now() };
        resolve(this.exit);
        this.waiters.notify();
      });
    });
    this.closed = new Promise((resolve) => this.child.once('close', () => resolve()));
  }

  get running(): boolean {
    return this.exit === null;
  }

  private onStdout(text: string): void {
    const parts = (this.partial + text).split('\n');
    this.partial = parts.pop() ?? '';
    for (const line of parts) {
      const t = line.trim();
      if (!t) continue;
      if (t.startsWith('{')) {
        try {
          this.logs.push(JSON.parse(t) as LogLine);
          continue;
        } catch {
          /* not JSON after all */
        }
      }
      this.otherLines.push(t);
    }
    this.waiters.notify();
  }

  /** Resolves with the first log line `pred` accepts; rejects if the process exits or time runs out. */
  waitForLog(what: string, pred: (l: LogLine) => boolean, timeoutMs: number): Promise<LogLine> {
    let next = 0; // each line is looked at once
    return this.waiters.until(
      () => {
        for (; next < this.logs.length; next++) if (pred(this.logs[next]!)) return this.logs[next]!;
        if (!this.running) throw new Error(`exited (${JSON.stringify(this.exit)}) before logging ${what}\n${this.transcript()}`);
        return undefined;
      },
      timeoutMs,
      () => new Error(`no log line ${what} within ${timeoutMs} ms\n${this.transcript()}`),
    );
  }

  /** The live (not zombie) processes of the group right now, leader included. */
  group(): ProcInfo[] {
    return processGroup(this.pid).filter((p) => !isDead(p.pid));
  }

  /** Sends `sig` to the whole process group (what a terminal or a service manager does). */
  signalGroup(sig: NodeJS.Signals): void {
    process.kill(-this.pid, sig);
  }

  /** SIGKILL to the group, if anything of it is left (cleanup). */
  killAll(): void {
    killGroup(this.pid, 'SIGKILL');
  }

  transcript(lines = 60): string {
    const out = this.logs.map((l) => JSON.stringify(l));
    return `--- stdout (last ${lines} lines) ---\n${tail([...this.otherLines, ...out].join('\n'), lines)}\n--- stderr ---\n${tail(this.stderr, lines)}`;
  }
}

// ------------------------------------------------------------------ files

/** Every file under `dir` (recursively), as paths relative to it with `/`, sorted. */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(path.join(d, e.name), r);
      else out.push(r);
    }
  };
  walk(dir, '');
  return out.sort();
}

/** How many messages a delimited fixture holds: one per DOC record (materials) or WO record (milestones). */
export function messagesInDelimitedFixture(file: string): number {
  return fs
    .readFileSync(file, 'utf8')
    .split(/\r?\n/)
    .filter((l) => l.startsWith('DOC|') || l.startsWith('WO|')).length;
}

/** FileDate and FileTime (any namespace prefix) replaced by a placeholder: the only two
 * elements of a message that depend on when it was made. */
export function normaliseFileDateTime(xml: string): string {
  return xml.replace(/<((?:[A-Za-z_][\w.-]*:)?)(FileDate|FileTime)>[^<]*<\/\1\2>/g, '<$1$2>(normalised)</$1$2>');
}

// ------------------------------------------------------------------ the daemon, as `tlbridge run` wires it

export interface InProcessDaemon {
  daemon: Daemon;
  /** set when the configuration has an embedded partner */
  sandboxDir: string | undefined;
  /** stops like run.ts after its signal: the daemon (bounded), then the sandbox */
  stop(): Promise<void>;
}

/**
 * The daemon exactly as `tlbridge run` starts it (src/cli/run.ts startService), without the
 * signal wait.
 */
export async function startLikeRun(config: Config, logger: Logger): Promise<InProcessDaemon> {
  const { daemon, sandbox } = await startService(config, logger);
  let stopping: Promise<void> | null = null;
  return {
    daemon,
    sandboxDir: sandbox?.dir,
    stop() {
      stopping ??= (async () => {
        await daemon.stop();
        await sandbox?.close();
      })();
      return stopping;
    },
  };
}

/** A logger that keeps every line in memory. */
export function memoryLogger(): Logger & { lines: { level: string; msg: string; fields: Record<string, unknown> }[] } {
  const lines: { level: string; msg: string; fields: Record<string, unknown> }[] = [];
  const at = (level: string) => (msg: string, fields?: Record<string, unknown>) => void lines.push({ level, msg, fields: { ...(fields ?? {}) } });
  return { lines, error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') };
}
