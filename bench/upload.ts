// Section "upload": 1,000 message-sized XML files (~1.5 KB) sent to a private OpenSSH sshd on
// 127.0.0.1 (test/support/sshd.ts: throwaway keys, chroot, internal-sftp), by tlbridge and by
// OpenSSH's own client, in the same run against the same server:
//
//  - tlbridge: the transport's upload protocol (src/transport: SftpPool with 4 connections,
//    one operation at a time each; per file mkdir -p check, write <name>.part, stat it, stat the
//    final name, posix-rename), connect and close included;
//  - tlbridge with 1 connection (the same, sequential: OpenSSH's shape);
//  - tlbridge's whole batch cycle (src/batch: ledger claim, sha256 check of each outbox file,
//    upload, one committed SENT transaction per message with synchronous=FULL, archive copy +
//    fsync + chained manifest): what a cron slot really costs;
//  - OpenSSH `sftp -b BATCH -i KEY -P PORT` with the host key pinned in a known_hosts file:
//    `put <file> <dir>/<name>.part` + `rename` per file (the same protocol), and plain `put`.
//
// Each variant runs 3 times into a fresh remote folder, interleaved; the median is reported.
// Every run is checked: 1,000 final files on the server with the exact bytes, no temp file.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Archive } from '../src/archive/archive.js';
import { runBatchCycle } from '../src/batch/cycle.js';
import { loadConfig } from '../src/config/load.js';
import { openLedger } from '../src/ledger/db.js';
import { SftpPool } from '../src/transport/pool.js';
import type { SftpEndpoint } from '../src/transport/endpoint.js';
import { LedgerFixtures } from '../test/support/ledger-fixtures.js';
import { startSshd, sshdUnavailableReason, type TestSshd } from '../test/support/sshd.js';
import { prng } from './generate.js';
import { fmtInt, fmtNum, fmtSecs, heading, type BenchContext, type Section, type SummaryRow } from './report.js';

const S = 'upload';
export const UPLOAD_FILES = 1000;
const FILE_BYTES = 1500;
const CONNECTIONS = 4;
const REPS = 3;
const TYPE = 'MATERIALS_PRODUCED';

interface Run {
  wallMs: number;
  ok: boolean;
  why?: string;
}

interface Variant {
  key: string;
  label: string;
  /** its name in the summary table */
  metric: string;
  detail: string;
  runs: Run[];
}

/** ~1.5 KB of a Materials Produced message, deterministic from the seed. */
function messageXml(fcn: string, rand: () => number): string {
  const n = (d: number) => Array.from({ length: d }, () => Math.floor(rand() * 10)).join('');
  const head =
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    '<TL_XML_MaterialsProduced xmlns="urn:tracelink:mapper:sl:materials_produced" xmlns:cmn="urn:tracelink:mapper:sl:commontypes">\n' +
    `  <ControlFileHeader><FileSenderNumber>0614141000005</FileSenderNumber><FileReceiverNumber>0312345000001</FileReceiverNumber>` +
    `<FileControlNumber>${fcn}</FileControlNumber><FileDate>2026-11-25</FileDate><FileTime>10:15:00Z</FileTime></ControlFileHeader>\n` +
    `  <MessageBody><MaterialsProducedHeaderRecord><ReferenceDocumentNumber>DOC-${n(8)}</ReferenceDocumentNumber>` +
    `<WorkOrderNumber>WO-${n(6)}</WorkOrderNumber><UsageIndicator>TEST</UsageIndicator></MaterialsProducedHeaderRecord>\n`;
  let lines = '';
  const tail = '  </MessageBody>\n</TL_XML_MaterialsProduced>\n';
  for (let i = 1; head.length + lines.length + tail.length < FILE_BYTES - 260; i++) {
    lines +=
      `    <MaterialsProducedLineItem><LineNumber>${i}</LineNumber><cmn:ProductCode type="GTIN-14">0${n(13)}</cmn:ProductCode>` +
      `<LotNumber>L${n(7)}</LotNumber><Quantity uom="EA">${n(4)}</Quantity><ExpirationDate>2028-0${1 + Math.floor(rand() * 9)}-1${Math.floor(rand() * 9)}</ExpirationDate></MaterialsProducedLineItem>\n`;
  }
  return head + lines + tail;
}

function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function opensshVersion(): string {
  const r = spawnSync('ssh', ['-V'], { encoding: 'utf8' });
  return `${r.stderr ?? ''}${r.stdout ?? ''}`.trim().split('\n')[0] ?? 'unknown';
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** The run's remote folder holds exactly the expected files with the exact bytes. */
function verify(local: string, names: string[], contents: Map<string, Buffer>): string | undefined {
  if (!fs.existsSync(local)) return 'the remote folder does not exist';
  const found = fs.readdirSync(local).sort();
  const parts = found.filter((f) => f.endsWith('.part'));
  if (parts.length) return `${parts.length} temp file(s) left`;
  if (found.length !== names.length) return `${found.length} files on the server, ${names.length} expected`;
  for (const n of names) {
    const p = path.join(local, n);
    if (!fs.existsSync(p)) return `${n} missing on the server`;
    if (!fs.readFileSync(p).equals(contents.get(n)!)) return `${n} differs on the server`;
  }
  return undefined;
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

function runSftp(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('sftp', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => {
      if (stderr.length < 8192) stderr += c.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

export function uploadSkipped(why: string): { lines: string[]; rows: SummaryRow[] } {
  return {
    lines: heading(`SFTP upload: skipped (${why})`),
    rows: [{ section: S, metric: 'tlbridge vs sftp -b', value: `skipped (${why})`, verdict: 'SKIP' }],
  };
}

export const uploadSection: Section = {
  name: S,
  title: 'SFTP upload',
  async run(ctx: BenchContext): Promise<SummaryRow[]> {
    const why = sshdUnavailableReason() ?? (onPath('sftp') ? null : 'the OpenSSH sftp client is missing (apt-get install -y openssh-client)');
    if (why) {
      const s = uploadSkipped(why);
      for (const l of s.lines) ctx.out(l);
      return s.rows;
    }
    for (const l of heading(`SFTP upload: ${fmtInt(UPLOAD_FILES)} messages (~${fmtNum(FILE_BYTES / 1000, 1)} KB), tlbridge vs OpenSSH sftp -b`)) ctx.out(l);

    // the files
    const src = path.join(ctx.tmp, 'upload-src');
    fs.mkdirSync(src, { recursive: true });
    const rand = prng(ctx.opts.seed + 2);
    const names: string[] = [];
    const contents = new Map<string, Buffer>();
    let total = 0;
    for (let i = 1; i <= UPLOAD_FILES; i++) {
      const fcn = `B${String(i).padStart(12, '0')}`;
      const name = `${fcn}.xml`;
      const data = Buffer.from(messageXml(fcn, rand));
      fs.writeFileSync(path.join(src, name), data);
      names.push(name);
      contents.set(name, data);
      total += data.length;
    }
    ctx.out(`  files       ${fmtInt(UPLOAD_FILES)} XML files, ${fmtInt(total / UPLOAD_FILES)} bytes on average (${fmtNum(total / 1e6, 2)} MB in all)`);

    ctx.progress('  starting a private sshd ...');
    const sshd: TestSshd = await startSshd({ dirs: ['/inbox'] });
    const rows: SummaryRow[] = [];
    try {
      ctx.out(`  server      private OpenSSH sshd on 127.0.0.1:${sshd.port} (internal-sftp, chroot), ${opensshVersion()}`);
      ctx.out(`  method      each variant ${REPS} times into a fresh remote folder, interleaved; median; every run checked`);
      ctx.out('              (1,000 final files with the exact bytes, no temp file); connect and disconnect included');
      const knownHosts = path.join(ctx.tmp, 'upload-known_hosts');
      fs.writeFileSync(knownHosts, `[127.0.0.1]:${sshd.port} ${fs.readFileSync(sshd.hostKeyPubPath, 'utf8').trim()}\n`);
      const sftpArgs = (batch: string) => [
        '-q',
        '-b',
        batch,
        '-i',
        sshd.privateKeyPath,
        '-P',
        String(sshd.port),
        '-o',
        'StrictHostKeyChecking=yes',
        '-o',
        `UserKnownHostsFile=${knownHosts}`,
        '-o',
        'BatchMode=yes',
        '-o',
        'LogLevel=ERROR',
        `${sshd.username}@127.0.0.1`,
      ];
      const ep: SftpEndpoint = {
        host: '127.0.0.1',
        port: sshd.port,
        username: sshd.username,
        privateKey: sshd.privateKey,
        hostKeySha256: [sshd.hostKeySha256],
        timeoutMs: 30_000,
        tempSuffix: '.part',
        label: 'bench',
      };

      const tlbridge = (connections: number) => async (dir: string) => {
        const pool = new SftpPool(ep, connections);
        try {
          let next = 0;
          await Promise.all(
            Array.from({ length: connections }, async () => {
              while (next < names.length) {
                const name = names[next++]!;
                const data = await fs.promises.readFile(path.join(src, name));
                await pool.use((s) => s.upload(data, dir, name));
              }
            }),
          );
        } finally {
          await pool.close();
        }
      };

      const openssh = (withRename: boolean) => async (dir: string) => {
        const batch = path.join(ctx.tmp, `upload-${path.basename(dir)}.sftp`);
        const lines = [`mkdir ${dir}`];
        for (const n of names) {
          if (withRename) lines.push(`put ${path.join(src, n)} ${dir}/${n}.part`, `rename ${dir}/${n}.part ${dir}/${n}`);
          else lines.push(`put ${path.join(src, n)} ${dir}/${n}`);
        }
        fs.writeFileSync(batch, lines.join('\n') + '\n');
        const r = await runSftp(sftpArgs(batch));
        if (r.code !== 0) throw new Error(`sftp -b exited ${r.code}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
      };

      // the whole batch cycle: its own ledger, archive and outbox (files made by the fixtures helper, same size)
      let cycleRun = 0;
      const cycleContents = new Map<string, Buffer>();
      const batchCycle = async (dir: string): Promise<{ fn: () => Promise<void>; names: string[] }> => {
        const base = path.join(ctx.tmp, `upload-cycle-${++cycleRun}`);
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
            `    maxBatchMessages: ${UPLOAD_FILES}`,
            '    sftp:',
            '      host: 127.0.0.1',
            `      port: ${sshd.port}`,
            `      username: ${sshd.username}`,
            `      privateKeyFile: ${sshd.privateKeyPath}`,
            `      hostKeySha256: "${sshd.hostKeySha256}"`,
            `      inboxDir: ${path.posix.dirname(dir)}`,
            `      connections: ${CONNECTIONS}`,
          ].join('\n') + '\n',
        );
        const config = loadConfig(cfgFile);
        const db = openLedger(path.join(config.dataDir, 'ledger.sqlite'));
        const archive = new Archive(path.join(config.dataDir, 'archive'), db);
        const fx = new LedgerFixtures(db, config.dataDir, `C${cycleRun}`);
        const staged = fx.stageMany(UPLOAD_FILES, { messageType: path.posix.basename(dir), bytes: FILE_BYTES });
        for (const m of staged) cycleContents.set(`${m.fcn}.xml`, m.content);
        return {
          names: staged.map((m) => `${m.fcn}.xml`),
          fn: async () => {
            const pool = new SftpPool(ep, CONNECTIONS);
            try {
              const r = await runBatchCycle({ db, config, archive, pool, partner: 'ACME-PHARMA' });
              if (r.error || r.sent !== UPLOAD_FILES) throw new Error(`batch cycle: ${r.sent} sent, ${r.failed} failed, ${r.conflicts} conflicts${r.error ? `: ${r.error}` : ''}`);
            } finally {
              await pool.close();
              db.close();
            }
          },
        };
      };

      const variants: Variant[] = [
        { key: 'tl4', label: 'tlbridge', metric: `tlbridge ${CONNECTIONS} conn, put .part + rename`, detail: `SftpPool, ${CONNECTIONS} connections: put <name>.part + posix-rename (+ 3 stat checks) per file`, runs: [] },
        { key: 'sftpRename', label: 'OpenSSH', metric: 'sftp -b, put .part + rename', detail: 'sftp -b, 1 connection: put <name>.part + rename per file', runs: [] },
        { key: 'sftpPut', label: 'OpenSSH', metric: 'sftp -b, plain put', detail: 'sftp -b, 1 connection: plain put per file', runs: [] },
        { key: 'tl1', label: 'tlbridge', metric: 'tlbridge 1 conn, put .part + rename', detail: 'the same protocol over 1 connection', runs: [] },
        { key: 'cycle', label: 'tlbridge', metric: `tlbridge batch cycle, ${CONNECTIONS} conn`, detail: `runBatchCycle, ${CONNECTIONS} connections: + ledger (a commit per SENT), sha256 check, archive (fsync)`, runs: [] },
      ];
      for (let rep = 1; rep <= REPS; rep++) {
        for (const v of variants) {
          const dir = `/inbox/${v.key.toUpperCase()}_${rep}`;
          const local = path.join(sshd.root, dir);
          ctx.progress(`  run ${rep}/${REPS}: ${v.metric} ...`);
          let run: Run;
          try {
            let fn: () => Promise<void>;
            let expected = names;
            let expectContents = contents;
            if (v.key === 'cycle') {
              const prepared = await batchCycle(`/inbox/CYCLE_${rep}/${TYPE}`);
              fn = prepared.fn;
              expected = prepared.names;
              expectContents = cycleContents;
            } else if (v.key === 'tl4' || v.key === 'tl1') {
              const go = tlbridge(v.key === 'tl4' ? CONNECTIONS : 1);
              fn = () => go(dir);
            } else {
              const go = openssh(v.key === 'sftpRename');
              fn = () => go(dir);
            }
            const wallMs = await timed(fn);
            const check = verify(v.key === 'cycle' ? path.join(sshd.root, `/inbox/CYCLE_${rep}/${TYPE}`) : local, expected, expectContents);
            run = { wallMs, ok: !check, ...(check ? { why: check } : {}) };
          } catch (e) {
            run = { wallMs: NaN, ok: false, why: (e as Error).message };
          }
          v.runs.push(run);
        }
      }

      const fig = new Map<string, number>();
      for (const v of variants) {
        const bad = v.runs.find((r) => !r.ok);
        if (bad) {
          ctx.out(`  ${v.label.padEnd(10)}  ${v.detail}`);
          ctx.out(`              FAILED: ${bad.why}`);
          rows.push({ section: S, metric: v.metric, value: `failed: ${bad.why}`, verdict: 'FAIL' });
          continue;
        }
        const ms = median(v.runs.map((r) => r.wallMs));
        fig.set(v.key, ms);
        ctx.out(`  ${v.label.padEnd(10)}  ${v.detail}`);
        ctx.out(`              wall ${fmtSecs(ms)}, ${fmtInt(UPLOAD_FILES / (ms / 1000))} files/s (runs: ${v.runs.map((r) => fmtSecs(r.wallMs)).join(', ')})`);
        rows.push({ section: S, metric: v.metric, value: `${fmtSecs(ms)}, ${fmtInt(UPLOAD_FILES / (ms / 1000))} files/s`, verdict: 'INFO' });
      }
      const ratio = (a: string, b: string, label: string) => {
        const x = fig.get(a);
        const y = fig.get(b);
        if (x === undefined || y === undefined) return;
        ctx.out(`  ratio       ${label} = ${fmtNum(x / y, 2)} (time; < 1 means tlbridge is faster)`);
        rows.push({ section: S, metric: `time ratio ${label}`, value: fmtNum(x / y, 2), verdict: 'INFO' });
      };
      ratio('tl4', 'sftpRename', 'tlbridge(4) / sftp -b put+rename');
      ratio('tl4', 'sftpPut', 'tlbridge(4) / sftp -b plain put');
      ratio('tl1', 'sftpRename', 'tlbridge(1) / sftp -b put+rename');
      ratio('cycle', 'sftpRename', 'batch cycle(4) / sftp -b put+rename');
    } finally {
      await sshd.dispose();
      fs.rmSync(src, { recursive: true, force: true });
    }
    return rows;
  },
};
