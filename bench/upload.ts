// Section "send-now": 1,000 staged messages (~1.5 KB each, two batches of 500) sent to a private
// OpenSSH sshd on 127.0.0.1 (test/support/sshd.ts: throwaway keys, chroot, internal-sftp) by
// the installed command, against OpenSSH's own client on the same files and server:
//
//  - tlbridge: `node bin/tlbridge.js send-now --config C` as a child process, process start
//    included, until nothing is STAGED (one invocation once send-now drains every batch; before
//    that, one per batch, all counted). The config has maxBatchMessages 500 and 4 connections;
//    its ledger holds 1,000 STAGED messages and their outbox files (test/support/ledger-fixtures).
//    So the figure is the whole cycle: ledger claim, sha256 check of each outbox file, upload
//    (<name>.part, checks, posix-rename), SENT committed in groups, archive copy + fsync.
//  - OpenSSH `sftp -b BATCH -i KEY -P PORT`, host key pinned in a known_hosts file, one
//    connection: `put <outbox file> <dir>/<name>.part` + `rename` per file (the same protocol).
//
// Each runs 3 times into a fresh remote folder, interleaved; the medians make the figure.
// Every run is checked: 1,000 final files on the server with the exact bytes, no temp file.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../src/config/load.js';
import { openLedger } from '../src/ledger/db.js';
import { LedgerFixtures } from '../test/support/ledger-fixtures.js';
import { startSshd, sshdUnavailableReason, type TestSshd } from '../test/support/sshd.js';
import { fmtInt, fmtNum, fmtSecs, heading, median, verdictAtMost, type BenchContext, type Section, type SummaryRow } from './report.js';

const S = 'send-now';
export const UPLOAD_FILES = 1000;
const BATCH = 500;
const FILE_BYTES = 1500;
const CONNECTIONS = 4;
const REPS = 3;
/** send-now invocations at most per run (one per batch, before send-now drained them all) */
const MAX_INVOCATIONS = 4;
const TYPE = 'MATERIALS_PRODUCED';
/** tlbridge's time over sftp -b's, at most, process start included */
const RATIO_TARGET = 1.0;
const METRIC = `send-now ${fmtInt(UPLOAD_FILES)} staged messages (${UPLOAD_FILES / BATCH} batches) vs sftp -b put+rename`;

function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function opensshVersion(): string {
  const r = spawnSync('ssh', ['-V'], { encoding: 'utf8' });
  return `${r.stderr ?? ''}${r.stdout ?? ''}`.trim().split('\n')[0] ?? 'unknown';
}

/** The run's remote folder holds exactly the expected files with the exact bytes. */
function verify(local: string, expected: Map<string, Buffer>): string | undefined {
  if (!fs.existsSync(local)) return `the remote folder ${local} does not exist`;
  const found = fs.readdirSync(local).sort();
  const parts = found.filter((f) => f.endsWith('.part'));
  if (parts.length) return `${parts.length} temp file(s) left`;
  if (found.length !== expected.size) return `${found.length} files on the server, ${expected.size} expected`;
  for (const [n, data] of expected) {
    const p = path.join(local, n);
    if (!fs.existsSync(p)) return `${n} missing on the server`;
    if (!fs.readFileSync(p).equals(data)) return `${n} differs on the server`;
  }
  return undefined;
}

function run(cmd: string, args: string[], cwd?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TLBRIDGE_TSX: undefined } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      if (stdout.length < 8192) stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      if (stderr.length < 8192) stderr += c.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = process.hrtime.bigint();
  const r = await fn();
  return [Number(process.hrtime.bigint() - t0) / 1e6, r];
}

interface Staged {
  cfgFile: string;
  ledger: string;
  /** outbox file per message, by its remote name */
  files: Map<string, string>;
  contents: Map<string, Buffer>;
}

/** A data dir of its own with 1,000 STAGED messages and their outbox files; the ledger is closed again. */
function stage(ctx: BenchContext, sshd: TestSshd, name: string, inboxDir: string): Staged {
  const base = path.join(ctx.tmp, `send-now-${name}`);
  fs.mkdirSync(base, { recursive: true });
  const cfgFile = path.join(base, 'tlbridge.yaml');
  fs.writeFileSync(
    cfgFile,
    [
      'sender: { id: "0614141000005" }',
      'dataDir: ./var',
      'inbound: [{ path: ./drop }]',
      'partners:',
      '  ACME-PHARMA:',
      '    receiverId: "0312345000001"',
      '    usage: TEST',
      `    maxBatchMessages: ${BATCH}`,
      '    sftp:',
      '      host: 127.0.0.1',
      `      port: ${sshd.port}`,
      `      username: ${sshd.username}`,
      `      privateKeyFile: ${sshd.privateKeyPath}`,
      `      hostKeySha256: "${sshd.hostKeySha256}"`,
      `      inboxDir: ${inboxDir}`,
      `      connections: ${CONNECTIONS}`,
    ].join('\n') + '\n',
  );
  const config = loadConfig(cfgFile);
  const ledger = path.join(config.dataDir, 'ledger.sqlite');
  const db = openLedger(ledger);
  try {
    const fx = new LedgerFixtures(db, config.dataDir, `N${name}`);
    const staged = fx.stageMany(UPLOAD_FILES, { messageType: TYPE, bytes: FILE_BYTES });
    const files = new Map<string, string>();
    const contents = new Map<string, Buffer>();
    for (const m of staged) {
      files.set(`${m.fcn}.xml`, path.join(config.dataDir, m.xmlPath));
      contents.set(`${m.fcn}.xml`, m.content);
    }
    return { cfgFile, ledger, files, contents };
  } finally {
    db.close();
  }
}

function stagedLeft(ledger: string): number {
  const db = openLedger(ledger);
  try {
    return (db.prepare(`SELECT count(*) AS n FROM messages WHERE state = 'STAGED'`).get() as { n: number }).n;
  } finally {
    db.close();
  }
}

export function sendNowSkipped(why: string): { lines: string[]; rows: SummaryRow[] } {
  return {
    lines: heading(`send-now: skipped (${why})`),
    rows: [{ section: S, metric: METRIC, value: `skipped (${why})`, target: `<= ${fmtNum(RATIO_TARGET, 1)}x`, verdict: 'SKIP' }],
  };
}

export const sendNowSection: Section = {
  name: S,
  title: 'send-now',
  async run(ctx: BenchContext): Promise<SummaryRow[]> {
    const why = !ctx.opts.upload
      ? '--no-upload'
      : (sshdUnavailableReason() ?? (onPath('sftp') ? null : 'the OpenSSH sftp client is missing (apt-get install -y openssh-client)'));
    if (why) {
      const s = sendNowSkipped(why);
      for (const l of s.lines) ctx.out(l);
      return s.rows;
    }
    for (const l of heading(`send-now: ${METRIC}`)) ctx.out(l);
    ctx.progress('  starting a private sshd ...');
    const sshd: TestSshd = await startSshd({ dirs: ['/inbox'] });
    try {
      ctx.out(`  server      private OpenSSH sshd on 127.0.0.1:${sshd.port} (internal-sftp, chroot), ${opensshVersion()}`);
      ctx.out(`  method      each ${REPS} times into a fresh remote folder, interleaved; median; every run checked`);
      const knownHosts = path.join(ctx.tmp, 'send-now-known_hosts');
      fs.writeFileSync(knownHosts, `[127.0.0.1]:${sshd.port} ${fs.readFileSync(sshd.hostKeyPubPath, 'utf8').trim()}\n`);
      const sftpArgs = (batch: string) => [
        '-q', '-b', batch, '-i', sshd.privateKeyPath, '-P', String(sshd.port),
        '-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR',
        `${sshd.username}@127.0.0.1`,
      ];

      const tl: number[] = [];
      const ref: number[] = [];
      const invocations: number[] = [];
      for (let rep = 1; rep <= REPS; rep++) {
        // tlbridge: the installed command, until nothing is STAGED
        const inbox = `/inbox/TL_${rep}`;
        fs.mkdirSync(path.join(sshd.root, inbox), { recursive: true });
        const st = stage(ctx, sshd, `tl${rep}`, inbox);
        ctx.progress(`  run ${rep}/${REPS}: tlbridge send-now ...`);
        let ms = 0;
        let n = 0;
        let left = UPLOAD_FILES;
        while (left > 0 && n < MAX_INVOCATIONS) {
          const [t, r] = await timed(() => run(process.execPath, ['bin/tlbridge.js', 'send-now', '--config', st.cfgFile], ctx.repo));
          ms += t;
          n++;
          if (r.code !== 0) throw new Error(`send-now exited ${r.code}: ${(r.stdout + r.stderr).trim().split('\n').slice(-3).join(' | ')}`);
          ctx.out(`  run ${rep}      send-now #${n}: ${fmtSecs(t)}: ${r.stdout.trim().split('\n').join(' | ')}`);
          left = stagedLeft(st.ledger);
        }
        const bad = left ? `${left} messages still STAGED after ${n} send-now runs` : verify(path.join(sshd.root, inbox, TYPE), st.contents);
        if (bad) throw new Error(`tlbridge run ${rep}: ${bad}`);
        tl.push(ms);
        invocations.push(n);

        // OpenSSH on the same files
        const refInbox = `/inbox/REF_${rep}/${TYPE}`;
        const batch = path.join(ctx.tmp, `send-now-ref-${rep}.sftp`);
        const lines = [`mkdir /inbox/REF_${rep}`, `mkdir ${refInbox}`];
        for (const [name, file] of st.files) lines.push(`put ${file} ${refInbox}/${name}.part`, `rename ${refInbox}/${name}.part ${refInbox}/${name}`);
        fs.writeFileSync(batch, lines.join('\n') + '\n');
        ctx.progress(`  run ${rep}/${REPS}: sftp -b put+rename ...`);
        const [t, r] = await timed(() => run('sftp', sftpArgs(batch)));
        if (r.code !== 0) throw new Error(`sftp -b exited ${r.code}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
        const refBad = verify(path.join(sshd.root, refInbox), st.contents);
        if (refBad) throw new Error(`sftp -b run ${rep}: ${refBad}`);
        ref.push(t);
        ctx.out(`  run ${rep}      tlbridge ${fmtSecs(ms)} (${n} send-now run(s)), sftp -b ${fmtSecs(t)}`);
      }
      const tMs = median(tl);
      const rMs = median(ref);
      const ratio = tMs / rMs;
      const verdict = verdictAtMost(ratio, RATIO_TARGET);
      ctx.out(`  median      tlbridge ${fmtSecs(tMs)} (${fmtInt(UPLOAD_FILES / (tMs / 1000))} files/s), sftp -b ${fmtSecs(rMs)} (${fmtInt(UPLOAD_FILES / (rMs / 1000))} files/s)`);
      ctx.out(`  ratio       ${fmtNum(ratio, 2)} (goal <= ${fmtNum(RATIO_TARGET, 1)}): ${verdict}`);
      return [
        {
          section: S,
          metric: METRIC + (Math.max(...invocations) > 1 ? ` (${Math.max(...invocations)} send-now runs, one per batch)` : ''),
          value: fmtSecs(tMs),
          reference: fmtSecs(rMs),
          ratio,
          target: `<= ${fmtNum(RATIO_TARGET, 1)}x`,
          verdict,
          numbers: { tlbridgeMs: tMs, sftpMs: rMs, tlbridgeRunsMs: tl, sftpRunsMs: ref, sendNowInvocations: invocations, files: UPLOAD_FILES, connections: CONNECTIONS },
        },
      ];
    } finally {
      await sshd.dispose();
    }
  },
};
