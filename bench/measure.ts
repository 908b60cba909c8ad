// Runs a command as a child process and measures its wall time and peak RSS.
//
// Peak RSS, by the first method that works here:
//  - `time`:    GNU `/usr/bin/time -f %M -o FILE CMD...` (the kernel's ru_maxrss of the waited-for
//               child, in KiB), written to a file so it never mixes with the child's stderr;
//  - `wrapper`: no usable /usr/bin/time: the node command is run through bench/rss-wrapper.ts,
//               which runs the CLI in-process and prints process.resourceUsage().maxRSS (KiB)
//               to stderr at exit.
// Wall time is measured around the spawn in this process (process.hrtime), for both methods.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export type RssMethod = 'time' | 'wrapper';

const TIME_BIN = '/usr/bin/time';
const WRAPPER = fileURLToPath(new URL('./rss-wrapper.ts', import.meta.url));
export const RSS_MARKER = '__TLBRIDGE_BENCH_MAXRSS_KIB__=';

export function describeRssMethod(m: RssMethod): string {
  return m === 'time'
    ? `GNU ${TIME_BIN} -f %M (ru_maxrss of the child, KiB)`
    : `bench/rss-wrapper.ts in the child: process.resourceUsage().maxRSS at exit (KiB)`;
}

/** GNU time with -f/-o support, checked by running it, not just by its presence. */
export function detectRssMethod(): RssMethod {
  if (!fs.existsSync(TIME_BIN)) return 'wrapper';
  const probe = path.join(os.tmpdir(), `tlbridge-bench-time-probe-${process.pid}`);
  try {
    const r = spawnSync(TIME_BIN, ['-f', '%M', '-o', probe, process.execPath, '-e', ''], { encoding: 'utf8' });
    if (r.status !== 0) return 'wrapper';
    const kib = Number(fs.readFileSync(probe, 'utf8').trim().split('\n').at(-1));
    return Number.isFinite(kib) && kib > 0 ? 'time' : 'wrapper';
  } catch {
    return 'wrapper';
  } finally {
    fs.rmSync(probe, { force: true });
  }
}

export interface Measured {
  command: string;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  wallMs: number;
  /** peak RSS in KiB; undefined when it could not be read (e.g. the child was killed) */
  peakRssKiB?: number;
  stdoutTail: string;
  stderrTail: string;
}

const TAIL_BYTES = 16 * 1024;

function tailCollector() {
  let s = '';
  return {
    push(chunk: Buffer) {
      s += chunk.toString('utf8');
      if (s.length > 2 * TAIL_BYTES) s = s.slice(-TAIL_BYTES);
    },
    get text() {
      return s.slice(-TAIL_BYTES);
    },
  };
}

/**
 * Runs `node <script> <args...>` in `cwd`, measuring wall time and peak RSS with `method`.
 * For `wrapper`, `script` is replaced by the wrapper, which runs the tlbridge CLI itself.
 */
export async function runNodeMeasured(opts: { script: string; args: string[]; cwd: string; method: RssMethod; tmpDir: string }): Promise<Measured> {
  const rssFile = path.join(opts.tmpDir, `rss-${process.pid}-${Date.now()}.txt`);
  let cmd: string;
  let argv: string[];
  if (opts.method === 'time') {
    cmd = TIME_BIN;
    argv = ['-f', '%M', '-o', rssFile, process.execPath, opts.script, ...opts.args];
  } else {
    cmd = process.execPath;
    argv = ['--import', 'tsx', WRAPPER, ...opts.args];
  }
  const shown = [opts.method === 'time' ? `${TIME_BIN} -f %M` : '', 'node', opts.method === 'time' ? opts.script : `--import tsx ${path.relative(opts.cwd, WRAPPER)}`, ...opts.args]
    .filter(Boolean)
    .join(' ');

  const out = tailCollector();
  const err = tailCollector();
  const t0 = process.hrtime.bigint();
  const child = spawn(cmd, argv, { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.stderr.on('data', (c: Buffer) => err.push(c));
  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal }));
  });
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;

  let peakRssKiB: number | undefined;
  let stderrTail = err.text;
  if (opts.method === 'time') {
    try {
      // GNU time writes "Command exited with non-zero status N" before the %M line on failure
      const last = fs.readFileSync(rssFile, 'utf8').trim().split('\n').at(-1);
      const n = Number(last);
      if (Number.isFinite(n) && n > 0) peakRssKiB = n;
    } catch {
      /* no figure */
    }
    fs.rmSync(rssFile, { force: true });
  } else {
    const lines = stderrTail.split('\n');
    const i = lines.findLastIndex((l) => l.startsWith(RSS_MARKER));
    if (i >= 0) {
      peakRssKiB = Number(lines[i]!.slice(RSS_MARKER.length));
      lines.splice(i, 1);
      stderrTail = lines.join('\n');
    }
  }
  return { command: shown, exitCode: code, signal, wallMs, ...(peakRssKiB !== undefined ? { peakRssKiB } : {}), stdoutTail: out.text, stderrTail };
}

/** Dirty + Writeback of /proc/meminfo, in KiB; undefined off Linux */
function dirtyKiB(): number | undefined {
  try {
    const text = fs.readFileSync('/proc/meminfo', 'utf8');
    let sum = 0;
    for (const m of text.matchAll(/^(Dirty|Writeback):\s+(\d+) kB$/gm)) sum += Number(m[2]);
    return sum;
  } catch {
    return undefined;
  }
}

export interface Settled {
  ms: number;
  /** Dirty + Writeback when the barrier ended, KiB */
  dirtyKiB?: number;
}

/**
 * A barrier before a timed run: the page cache's writeback left by earlier work (the previous
 * run's 20,000 files, another section) is done before the clock starts, so it is not charged
 * to whoever runs next. `sync`, then wait until the kernel's Dirty + Writeback is small (other
 * work on a shared machine keeps dirtying pages: after `maxMs` the run goes on anyway).
 */
export async function settleDisk(opts: { belowKiB?: number; maxMs?: number } = {}): Promise<Settled> {
  const below = opts.belowKiB ?? 8 * 1024;
  const maxMs = opts.maxMs ?? 60_000;
  const t0 = performance.now();
  let d = dirtyKiB();
  for (;;) {
    spawnSync('sync', { stdio: 'ignore' });
    d = dirtyKiB();
    if (d === undefined || d < below || performance.now() - t0 > maxMs) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  return { ms: performance.now() - t0, ...(d !== undefined ? { dirtyKiB: d } : {}) };
}
