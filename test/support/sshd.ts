// A real, private OpenSSH sshd for integration tests (libraries.md "OpenSSH sshd in tests").
//
// Everything lives in a fresh temp folder: host key, user key (its .pub is the
// AuthorizedKeysFile), sshd_config, pid file, and `root/`, which is "/" for the SFTP user
// (ChrootDirectory + ForceCommand internal-sftp), so remote paths are the product's `/inbox/...`.
// sshd runs in the foreground (-D -e) as our child; its log is captured. stop() kills the
// listener AND the per-connection session processes (otherwise established connections would
// survive a "server stopped"), and every sshd is killed when the test process exits.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  accessSync,
  chmodSync,
  constants as fsConstants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { delimiter, join } from 'node:path';
import { within } from './wait.js';

export interface TestSshd {
  host: '127.0.0.1';
  port: number;
  username: string;
  privateKeyPath: string;
  privateKey: Buffer; // throwaway ed25519 user key (no passphrase)
  hostKeySha256: string; // "SHA256:..." exactly as `ssh-keygen -lf hostkey.pub` prints it
  hostKeyPubPath: string;
  root: string; // local folder that is "/" for the SFTP user
  dir: string; // the temp folder holding everything
  stop(): Promise<void>; // kill it (listener and sessions), wait until the port is closed
  start(): Promise<void>; // start again on the same port with the same keys
  freeze(): void; // SIGSTOP listener and sessions: connections stay open but nothing answers
  thaw(): void; // SIGCONT
  dispose(): Promise<void>; // stop + remove the temp folder
  log(): string; // everything sshd logged so far (all starts)
  /** How the SFTP user is served from the next start() on (a restart lifts or brings a fault). */
  reconfigure(sftp: SftpRestrictions): void;
  readonly running: boolean;
}

/**
 * Faults of the SFTP service, as a `Match User` block forcing `internal-sftp` with options
 * (libraries.md: the test user is root, so chmod denies nothing).
 */
export interface SftpRestrictions {
  /** `-R`: every request that would change something is refused (permission denied) */
  readOnly?: boolean;
  /** `-P`: these requests are refused (names as `sftp-server -Q requests` lists them: write, rename, posix-rename, ...) */
  forbidden?: string[];
}

function matchBlock(user: string, r: SftpRestrictions): string[] {
  const args: string[] = [];
  if (r.readOnly) args.push('-R');
  if (r.forbidden?.length) {
    for (const q of r.forbidden) if (!/^[a-z-]+$/.test(q)) throw new Error(`bad sftp request name ${JSON.stringify(q)}`);
    args.push('-P', r.forbidden.join(','));
  }
  if (args.length === 0) return [];
  return [`Match User ${user}`, `  ForceCommand internal-sftp ${args.join(' ')}`];
}

const SSHD = '/usr/sbin/sshd';
const LOG_CAP = 2 * 1024 * 1024;

function onPath(cmd: string): string | null {
  for (const d of (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(delimiter)) {
    if (!d) continue;
    const p = join(d, cmd);
    try {
      accessSync(p, fsConstants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return null;
}

/** Why a private sshd cannot run here, or null when it can. */
export function sshdUnavailableReason(): string | null {
  if (process.platform !== 'linux') return `needs Linux (this is ${process.platform})`;
  if (!existsSync(SSHD)) return `${SSHD} is missing (apt-get install openssh-server)`;
  if (!onPath('ssh-keygen')) return 'ssh-keygen is missing (apt-get install openssh-client)';
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    return 'needs root (ChrootDirectory and a private sshd on a test port)';
  }
  return null;
}

export function sshdAvailable(): boolean {
  return sshdUnavailableReason() === null;
}

// ------------------------------------------------------------------ process bookkeeping

const live = new Set<Instance>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const inst of live) {
      inst.killNow();
      try {
        rmSync(inst.dir, { recursive: true, force: true });
      } catch {
        /* best effort */
      }
    }
  });
}

/** All descendants of `pid` (children first discovered via /proc/<pid>/stat ppid). */
function descendants(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
      // pid (comm) state ppid ... ; comm may contain spaces and parens: split after the last ')'.
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parentOf.set(Number(name), Number(rest[1]));
    } catch {
      /* process went away */
    }
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length) {
    const p = queue.shift()!;
    for (const [child, parent] of parentOf) {
      if (parent === p && !out.includes(child)) {
        out.push(child);
        queue.push(child);
      }
    }
  }
  return out;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* gone */
  }
}

// ------------------------------------------------------------------ helpers

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function probe(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = new Socket();
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
    sock.connect(port, '127.0.0.1');
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** OpenSSH refuses a ChrootDirectory unless every path component is root-owned and not group/world-writable. */
function chrootSafe(path: string): boolean {
  let p = path;
  for (;;) {
    try {
      const st = statSync(p);
      if (st.uid !== 0 || (st.mode & 0o022) !== 0) return false;
    } catch {
      return false;
    }
    if (p === '/') return true;
    p = p.slice(0, p.lastIndexOf('/')) || '/';
  }
}

function pickBase(): string {
  const candidates = [process.env.TLBRIDGE_TEST_SSHD_BASE, tmpdir(), '/run', '/var/lib', '/var/cache', '/root'];
  for (const c of candidates) {
    if (!c) continue;
    try {
      const real = realpathSync(c);
      if (chrootSafe(real)) return real;
    } catch {
      /* next */
    }
  }
  throw new Error('no root-owned, non-group/world-writable folder for the sshd chroot (set TLBRIDGE_TEST_SSHD_BASE)');
}

/** Drops config lines the installed sshd does not know (e.g. PerSourcePenalties before 9.8). */
function acceptedConfig(cfgPath: string, lines: string[], optional: Set<string>): string[] {
  let current = [...lines];
  for (let i = 0; i < 5; i++) {
    writeFileSync(cfgPath, current.join('\n') + '\n', { mode: 0o600 });
    const r = spawnSync(SSHD, ['-t', '-f', cfgPath], { encoding: 'utf8' });
    if (r.status === 0) return current;
    const bad = [...optional].filter((k) => new RegExp(`\\b${k}\\b`, 'i').test(r.stderr ?? ''));
    if (bad.length === 0) throw new Error(`sshd -t rejected the test config: ${(r.stderr ?? '').trim()}`);
    current = current.filter((l) => !bad.some((k) => l.startsWith(k + ' ')));
  }
  throw new Error('sshd -t kept rejecting the test config');
}

// ------------------------------------------------------------------ the instance

class Instance implements TestSshd {
  readonly host = '127.0.0.1' as const;
  readonly username: string;
  readonly privateKeyPath: string;
  readonly privateKey: Buffer;
  readonly hostKeySha256: string;
  readonly hostKeyPubPath: string;
  readonly root: string;
  readonly dir: string;
  readonly port: number;
  private readonly cfgPath: string;
  private baseLines: string[] = [];
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  private logText = '';
  private disposed = false;

  constructor(dir: string, port: number, dirs: string[], sftp: SftpRestrictions = {}) {
    this.dir = dir;
    this.port = port;
    this.username = userInfo().username;
    this.root = join(dir, 'root');
    mkdirSync(this.root, { mode: 0o755 });
    chmodSync(this.root, 0o755);
    for (const d of dirs) {
      const rel = d.replace(/^\/+/, '');
      if (!rel || rel.split('/').includes('..')) throw new Error(`bad test dir ${d}`);
      mkdirSync(join(this.root, rel), { recursive: true, mode: 0o755 });
    }
    const hostKey = join(dir, 'ssh_host_ed25519_key');
    this.hostKeyPubPath = hostKey + '.pub';
    this.privateKeyPath = join(dir, 'user_ed25519');
    run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'tlbridge-test-host', '-f', hostKey]);
    run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'tlbridge-test-user', '-f', this.privateKeyPath]);
    this.privateKey = readFileSync(this.privateKeyPath);
    // "256 SHA256:xxxx comment (ED25519)"
    const fp = run('ssh-keygen', ['-lf', this.hostKeyPubPath]).trim().split(/\s+/)[1] ?? '';
    if (!fp.startsWith('SHA256:')) throw new Error(`unexpected ssh-keygen -lf output: ${fp}`);
    this.hostKeySha256 = fp;

    this.cfgPath = join(dir, 'sshd_config');
    const lines = [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${this.privateKeyPath}.pub`,
      'StrictModes no',
      'UsePAM no',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PubkeyAuthentication yes',
      'PermitRootLogin prohibit-password',
      `AllowUsers ${this.username}`,
      'LogLevel INFO',
      'MaxStartups 100:30:200',
      'PerSourcePenalties no', // OpenSSH >= 9.8 would block 127.0.0.1 after failed handshakes
      'UseDNS no',
      'Subsystem sftp internal-sftp',
      `ChrootDirectory ${this.root}`,
      'ForceCommand internal-sftp',
    ];
    this.baseLines = acceptedConfig(this.cfgPath, lines, new Set(['PerSourcePenalties', 'UsePAM', 'KbdInteractiveAuthentication']));
    this.reconfigure(sftp);
  }

  reconfigure(sftp: SftpRestrictions): void {
    // a Match block must come last: every line after it would belong to it
    acceptedConfig(this.cfgPath, [...this.baseLines, ...matchBlock(this.username, sftp)], new Set());
  }

  get running(): boolean {
    return this.child !== null;
  }

  log(): string {
    return this.logText;
  }

  private append(chunk: Buffer): void {
    this.logText += chunk.toString('utf8');
    if (this.logText.length > LOG_CAP) this.logText = this.logText.slice(-LOG_CAP);
  }

  async start(): Promise<void> {
    if (this.disposed) throw new Error('sshd instance was disposed');
    if (this.child) return;
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    const logStart = this.logText.length;
    // setpriv --pdeathsig: the kernel kills sshd if this test process dies without running
    // its 'exit' handlers (SIGKILL, crash).
    const setpriv = onPath('setpriv');
    const [cmd, args] = setpriv
      ? [setpriv, ['--pdeathsig', 'SIGKILL', SSHD, '-D', '-e', '-f', this.cfgPath]]
      : [SSHD, ['-D', '-e', '-f', this.cfgPath]];
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    live.add(this);
    installExitHook();
    child.stdout!.on('data', (c: Buffer) => this.append(c));
    child.stderr!.on('data', (c: Buffer) => this.append(c));
    let exitInfo: string | null = null;
    this.exited = new Promise<void>((resolve) => {
      child.once('exit', (code, sig) => {
        exitInfo = `exit code ${code} signal ${sig}`;
        if (this.child === child) this.child = null;
        resolve();
      });
      child.once('error', (e) => {
        exitInfo = `spawn error ${e.message}`;
        if (this.child === child) this.child = null;
        resolve();
      });
    });
    const deadline = Date.now() + 15_000;
    const ready = `Server listening on 127.0.0.1 port ${this.port}`;
    for (;;) {
      if (exitInfo !== null) {
        throw new Error(`sshd did not start (${exitInfo}): ${this.logText.slice(logStart).trim()}`);
      }
      if (this.logText.slice(logStart).includes(ready)) return;
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(`sshd not listening on port ${this.port} after 15 s: ${this.logText.slice(logStart).trim()}`);
      }
      await sleep(20);
    }
  }

  /** Synchronous kill of the listener and all its session processes. */
  killNow(): void {
    const child = this.child;
    if (!child || child.pid === undefined) return;
    const pid = child.pid;
    signal(pid, 'SIGSTOP'); // no new forks while we collect the session processes
    const all = [...descendants(pid), pid];
    for (const p of all) signal(p, 'SIGKILL');
    for (const p of all) signal(p, 'SIGCONT');
  }

  async stop(): Promise<void> {
    if (this.child) {
      this.killNow();
      await within(this.exited, 10_000); // its timer does not keep the test process alive
      this.child = null;
    }
    live.delete(this);
    const deadline = Date.now() + 10_000;
    while (await probe(this.port)) {
      if (Date.now() > deadline) throw new Error(`port ${this.port} still accepts connections after stop`);
      await sleep(20);
    }
  }

  freeze(): void {
    const pid = this.child?.pid;
    if (pid === undefined) return;
    signal(pid, 'SIGSTOP');
    for (const p of descendants(pid)) signal(p, 'SIGSTOP');
  }

  thaw(): void {
    const pid = this.child?.pid;
    if (pid === undefined) return;
    for (const p of descendants(pid)) signal(p, 'SIGCONT');
    signal(pid, 'SIGCONT');
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    try {
      await this.stop();
    } finally {
      this.disposed = true;
      live.delete(this);
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

export async function startSshd(opts: { dirs?: string[]; sftp?: SftpRestrictions } = {}): Promise<TestSshd> {
  const why = sshdUnavailableReason();
  if (why) throw new Error(`cannot start a test sshd: ${why}`);
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 }); // privilege separation folder, needed by sshd -t too
  const dir = mkdtempSync(join(pickBase(), 'tlbridge-sshd-'));
  chmodSync(dir, 0o700);
  let inst: Instance | undefined;
  try {
    inst = new Instance(dir, await freePort(), opts.dirs ?? [], opts.sftp);
    await inst.start();
    return inst;
  } catch (e) {
    if (inst) await inst.dispose().catch(() => undefined);
    else rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}
