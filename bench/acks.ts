// Section "acks": 500 acks (messages.md 2, SUCCESS, ~1.3 KB each) in a partner's ackDir on a
// private OpenSSH sshd on 127.0.0.1 (test/support/sshd.ts), answering 500 SENT messages of the
// ledger (test/support/ledger-fixtures), read by the installed command against OpenSSH's own
// client on the same files and server:
//
//  - tlbridge: `node bin/tlbridge.js poll-acks --config C` as a child process, process start
//    included: list, download (capped), sha256, parse + XSD validation, archive (manifest in the
//    chain) + acks row + SENT -> ACCEPTED committed, then the delete on the server.
//  - OpenSSH `sftp -b BATCH -i KEY -P PORT`, host key pinned in a known_hosts file, one
//    connection: `get <ackDir>/<name> <local>` + `rm <ackDir>/<name>` per file.
//
// Each runs 3 times on a fresh copy of the 500 files in a folder of its own, interleaved; the
// medians make the figure. Every run is checked: tlbridge leaves 500 messages ACCEPTED, 500
// acks rows applied, 500 ack folders in the archive and ackDir empty; sftp -b got the 500 files
// with the exact bytes and left its folder empty.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../src/config/load.js';
import { openLedger } from '../src/ledger/db.js';
import { renderAck } from '../test/support/acks.js';
import { LedgerFixtures } from '../test/support/ledger-fixtures.js';
import { startSshd, sshdUnavailableReason, type TestSshd } from '../test/support/sshd.js';
import { distIsCurrent } from '../bin/stamp.js';
import { fmtInt, fmtNum, fmtSecs, heading, median, verdictAtMost, type BenchContext, type Section, type SummaryRow } from './report.js';

const S = 'acks';
export const ACK_FILES = 500;
const REPS = 3;
const TYPE = 'MATERIALS_PRODUCED';
/** tlbridge's time over sftp -b's, at most, process start included */
const RATIO_TARGET = 2.0;
const METRIC = `poll-acks of ${fmtInt(ACK_FILES)} acks vs sftp -b get+rm`;
const SENDER = '0614141000005';
const RECEIVER = '0312345000001';

function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Runs a child to its end: wall time (spawn to exit) in ms, exit code, and the start of its output. */
function timedRun(cmd: string, args: string[], cwd?: string): Promise<{ ms: number; code: number | null; out: string }> {
  const t0 = process.hrtime.bigint();
  const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TLBRIDGE_TSX: undefined } });
  const chunks: string[] = [];
  let kept = 0;
  const keep = (c: Buffer): void => {
    if (kept < 16384) chunks.push(c.toString());
    kept += c.length;
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, code, out: chunks.join('').trim() }));
  });
}

/** The 500 ack files (name -> bytes) of 500 SENT messages of a fresh ledger; the ledger is closed again. */
export function seed(ctx: Pick<BenchContext, 'tmp'>, sshd: TestSshd, name: string, ackDir: string): { cfgFile: string; ledger: string; acks: Map<string, Buffer> } {
  const base = path.join(ctx.tmp, `acks-${name}`);
  fs.mkdirSync(base, { recursive: true });
  const cfgFile = path.join(base, 'tlbridge.yaml');
  fs.writeFileSync(
    cfgFile,
    [
      `sender: { id: "${SENDER}" }`,
      'dataDir: ./var',
      'inbound: [{ path: ./drop }]',
      'partners:',
      '  ACME-PHARMA:',
      `    receiverId: "${RECEIVER}"`,
      '    usage: TEST',
      '    sftp:',
      '      host: 127.0.0.1',
      `      port: ${sshd.port}`,
      `      username: ${sshd.username}`,
      `      privateKeyFile: ${sshd.privateKeyPath}`,
      `      hostKeySha256: "${sshd.hostKeySha256}"`,
      `      ackDir: ${ackDir}`,
      '      ackAfterRead: delete',
    ].join('\n') + '\n',
  );
  const config = loadConfig(cfgFile);
  const ledger = path.join(config.dataDir, 'ledger.sqlite');
  const db = openLedger(ledger);
  try {
    const fx = new LedgerFixtures(db, config.dataDir, `A${name}`);
    const sent = fx.stageMany(ACK_FILES, { messageType: TYPE, state: 'SENT' });
    const acks = new Map<string, Buffer>();
    sent.forEach((m, i) => {
      const ackFcn = `ACK${name.toUpperCase()}${String(i + 1).padStart(6, '0')}`;
      acks.set(`${ackFcn}.xml`, Buffer.from(renderAck({ inputFcn: m.fcn, ackFcn, sender: RECEIVER, receiver: SENDER, inputSender: SENDER, inputReceiver: RECEIVER })));
    });
    return { cfgFile, ledger, acks };
  } finally {
    db.close();
  }
}

export function place(dir: string, acks: Map<string, Buffer>): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const [n, data] of acks) fs.writeFileSync(path.join(dir, n), data);
}

/** What the poll must have left: every message ACCEPTED by its ack, every ack archived, ackDir empty. */
function verifyTl(ledger: string, archiveRoot: string, serverDir: string): string | undefined {
  const left = fs.readdirSync(serverDir);
  if (left.length) return `${left.length} file(s) left in ackDir`;
  const db = openLedger(ledger);
  try {
    const n = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
    const accepted = n(`SELECT count(*) AS n FROM messages WHERE state = 'ACCEPTED'`);
    if (accepted !== ACK_FILES) return `${accepted} messages ACCEPTED, ${ACK_FILES} expected`;
    const applied = n(`SELECT count(*) AS n FROM acks WHERE valid = 1 AND effect = 'accepted' AND message_id IS NOT NULL`);
    if (applied !== ACK_FILES) return `${applied} acks applied, ${ACK_FILES} expected`;
    const moves = n(`SELECT count(*) AS n FROM transitions WHERE entity = 'message' AND from_state = 'SENT' AND to_state = 'ACCEPTED'`);
    if (moves !== ACK_FILES) return `${moves} SENT -> ACCEPTED transitions, ${ACK_FILES} expected`;
    const manifests = n(`SELECT count(*) AS n FROM manifests WHERE kind = 'acks'`);
    if (manifests !== ACK_FILES) return `${manifests} ack manifests, ${ACK_FILES} expected`;
    const dirs = db.prepare(`SELECT archive_dir FROM acks`).pluck().all() as string[];
    const missing = dirs.filter((d) => !fs.existsSync(path.join(archiveRoot, d, 'ack.xml')) || !fs.existsSync(path.join(archiveRoot, d, 'manifest.json')));
    if (missing.length) return `${missing.length} ack folder(s) missing in the archive`;
  } finally {
    db.close();
  }
  return undefined;
}

function verifyRef(local: string, serverDir: string, acks: Map<string, Buffer>): string | undefined {
  const left = fs.readdirSync(serverDir);
  if (left.length) return `${left.length} file(s) left on the server`;
  for (const [n, data] of acks) {
    const p = path.join(local, n);
    if (!fs.existsSync(p)) return `${n} not fetched`;
    if (!fs.readFileSync(p).equals(data)) return `${n} differs`;
  }
  return undefined;
}

export const acksSection: Section = {
  name: S,
  title: 'poll-acks',
  async run(ctx: BenchContext): Promise<SummaryRow[]> {
    const why = !ctx.opts.upload
      ? '--no-upload'
      : (sshdUnavailableReason() ?? (onPath('sftp') ? null : 'the OpenSSH sftp client is missing (apt-get install -y openssh-client)'));
    if (why) {
      ctx.out(`  acks: skipped (${why})`);
      return [{ section: S, metric: METRIC, value: `skipped (${why})`, target: `<= ${fmtNum(RATIO_TARGET, 1)}x`, verdict: 'SKIP' }];
    }
    for (const l of heading(`acks: ${METRIC}`)) ctx.out(l);
    ctx.progress('  starting a private sshd ...');
    const sshd: TestSshd = await startSshd({ dirs: ['/acks'] });
    try {
      const version = spawnSync('ssh', ['-V'], { encoding: 'utf8' });
      ctx.out(`  server      private OpenSSH sshd on 127.0.0.1:${sshd.port} (internal-sftp, chroot), ${`${version.stderr ?? ''}${version.stdout ?? ''}`.trim().split('\n')[0]}`);
      ctx.out(`  command     node bin/tlbridge.js poll-acks (${distIsCurrent() ? 'dist/, current' : 'dist/ NOT current: through tsx'})`);
      ctx.out(`  method      each ${REPS} times on a fresh copy of the files, interleaved; median; every run checked`);
      const knownHosts = path.join(ctx.tmp, 'acks-known_hosts');
      fs.writeFileSync(knownHosts, `[127.0.0.1]:${sshd.port} ${fs.readFileSync(sshd.hostKeyPubPath, 'utf8').trim()}\n`);
      const sftpArgs = (batch: string) => [
        '-q', '-b', batch, '-i', sshd.privateKeyPath, '-P', String(sshd.port),
        '-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR',
        `${sshd.username}@127.0.0.1`,
      ];

      const tl: number[] = [];
      const ref: number[] = [];
      for (let rep = 1; rep <= REPS; rep++) {
        // tlbridge: the installed command, one poll of the 500 acks
        const ackDir = `/acks/TL_${rep}`;
        const serverDir = path.join(sshd.root, ackDir);
        const st = seed(ctx, sshd, `t${rep}`, ackDir);
        place(serverDir, st.acks);
        ctx.progress(`  run ${rep}/${REPS}: tlbridge poll-acks ...`);
        const r = await timedRun(process.execPath, ['bin/tlbridge.js', 'poll-acks', '--config', st.cfgFile], ctx.repo);
        if (r.code !== 0) throw new Error(`poll-acks exited ${r.code}: ${r.out.split('\n').slice(-3).join(' | ')}`);
        const bad = verifyTl(st.ledger, path.join(path.dirname(st.ledger), 'archive'), serverDir);
        if (bad) throw new Error(`tlbridge run ${rep}: ${bad} (${r.out})`);
        tl.push(r.ms);

        // OpenSSH on the same files
        const refDir = `/acks/REF_${rep}`;
        place(path.join(sshd.root, refDir), st.acks);
        const local = path.join(ctx.tmp, `acks-ref-${rep}`);
        fs.mkdirSync(local, { recursive: true });
        const batch = path.join(ctx.tmp, `acks-ref-${rep}.sftp`);
        const lines: string[] = [];
        for (const n of st.acks.keys()) lines.push(`get ${refDir}/${n} ${path.join(local, n)}`, `rm ${refDir}/${n}`);
        fs.writeFileSync(batch, lines.join('\n') + '\n');
        ctx.progress(`  run ${rep}/${REPS}: sftp -b get+rm ...`);
        const rr = await timedRun('sftp', sftpArgs(batch));
        if (rr.code !== 0) throw new Error(`sftp -b exited ${rr.code}: ${rr.out.split('\n').slice(-3).join(' | ')}`);
        const refBad = verifyRef(local, path.join(sshd.root, refDir), st.acks);
        if (refBad) throw new Error(`sftp -b run ${rep}: ${refBad}`);
        ref.push(rr.ms);
        ctx.out(`  run ${rep}      tlbridge ${fmtSecs(r.ms)} (${r.out.split('\n').join(' | ')}), sftp -b ${fmtSecs(rr.ms)}`);
      }
      const tMs = median(tl);
      const rMs = median(ref);
      const ratio = tMs / rMs;
      const verdict = verdictAtMost(ratio, RATIO_TARGET);
      ctx.out(`  median      tlbridge ${fmtSecs(tMs)} (${fmtInt(ACK_FILES / (tMs / 1000))} acks/s), sftp -b ${fmtSecs(rMs)} (${fmtInt(ACK_FILES / (rMs / 1000))} files/s)`);
      ctx.out(`  ratio       ${fmtNum(ratio, 2)} (goal <= ${fmtNum(RATIO_TARGET, 1)}): ${verdict}`);
      return [
        {
          section: S,
          metric: METRIC,
          value: fmtSecs(tMs),
          reference: fmtSecs(rMs),
          ratio,
          target: `<= ${fmtNum(RATIO_TARGET, 1)}x`,
          verdict,
          numbers: { tlbridgeMs: tMs, sftpMs: rMs, tlbridgeRunsMs: tl, sftpRunsMs: ref, acks: ACK_FILES },
        },
      ];
    } finally {
      await sshd.dispose();
    }
  },
};
