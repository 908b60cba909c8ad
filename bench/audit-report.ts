// Section "audit": `tlbridge audit report` over a ledger of 500,000 uploaded and acknowledged
// messages (bench/audit-ledger.ts, made with SQL in one transaction; 505,000 uploads with the
// resends), run as a child process: the CSV of every row, and the HTML (above 50,000 rows it
// holds the totals and points to the CSV). Wall time and peak RSS of each; a report that
// streams needs about the same memory for a year as for a day, so peak RSS stays near the
// CLI's own (shown as `help`).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openLedger } from '../src/ledger/db.js';
import { generateAuditLedger } from './audit-ledger.js';
import { runNodeMeasured, type Measured } from './measure.js';
import { fmtInt, fmtNum, fmtSecs, heading, MB, type BenchContext, type Section, type SummaryRow } from './report.js';

const S = 'audit';
export const AUDIT_MESSAGES = 500_000;
/** wall time of one report over the whole ledger, at most */
const TIME_TARGET_S = 30;
/** peak RSS of the report child, at most (MB = 10^6 bytes) */
const RSS_TARGET_MB = 300;

const CONFIG = `sender: { id: "0614141000005", controlNumberPrefix: "T" }
timezone: UTC
dataDir: ./var
inbound:
  - { path: ./var/inbound, layout: erp-delimited }
partners:
  ACME-PHARMA:
    receiverId: "0312345000001"
    usage: TEST
    sftp: { host: embedded }
`;

function rssMb(m: Measured): number | undefined {
  return m.peakRssKiB === undefined ? undefined : (m.peakRssKiB * 1024) / MB;
}

async function runSection(ctx: BenchContext): Promise<SummaryRow[]> {
  const rows: SummaryRow[] = [];
  for (const l of heading(`Audit report: ${fmtInt(AUDIT_MESSAGES)} messages, tlbridge audit report --format csv | html`)) ctx.out(l);
  const dir = path.join(ctx.tmp, 'audit');
  fs.mkdirSync(dir, { recursive: true });
  const configPath = path.join(dir, 'tlbridge.yaml');
  fs.writeFileSync(configPath, CONFIG);

  ctx.progress(`  generating a ledger of ${fmtInt(AUDIT_MESSAGES)} messages with SQL ...`);
  const t0 = performance.now();
  const db = openLedger(path.join(dir, 'var', 'ledger.sqlite'));
  let gen: ReturnType<typeof generateAuditLedger>;
  try {
    // a throwaway ledger: no fsync per page, no foreign key lookups while filling it
    db.pragma('synchronous = OFF');
    db.pragma('foreign_keys = OFF');
    gen = generateAuditLedger(db, AUDIT_MESSAGES);
  } finally {
    db.close();
  }
  const ledgerBytes = fs.statSync(path.join(dir, 'var', 'ledger.sqlite')).size;
  ctx.out(
    `  ledger      ${fmtInt(gen.messages)} messages, ${fmtInt(gen.uploads)} uploads in ${fmtInt(gen.batches)} batches, ${fmtInt(gen.rejected)} rejected; ` +
      `${fmtInt(ledgerBytes / MB)} MB, generated in ${fmtSecs(performance.now() - t0)}`,
  );

  const startup = await runNodeMeasured({ script: 'bin/tlbridge.js', args: ['help'], cwd: ctx.repo, method: ctx.rssMethod, tmpDir: ctx.tmp });
  const baseMb = rssMb(startup);
  ctx.out(`  startup     node bin/tlbridge.js help: wall ${fmtSecs(startup.wallMs)}, peak RSS ${baseMb === undefined ? 'n/a' : `${fmtInt(baseMb)} MB`}`);

  for (const format of ['csv', 'html'] as const) {
    const out = path.join(dir, `report.${format}`);
    ctx.progress(`  audit report --format ${format} ...`);
    const m = await runNodeMeasured({
      script: 'bin/tlbridge.js',
      args: ['audit', 'report', '--config', configPath, '--format', format, '--out', out],
      cwd: ctx.repo,
      method: ctx.rssMethod,
      tmpDir: ctx.tmp,
    });
    let why: string | undefined;
    if (m.exitCode !== 0) why = `exit code ${m.exitCode ?? `signal ${m.signal}`}: ${m.stderrTail.slice(-500)}`;
    else if (!fs.existsSync(out)) why = 'no output file';
    else if (format === 'csv') {
      const lines = countLines(out);
      if (lines !== gen.uploads + 1) why = `${fmtInt(lines)} CSV lines, ${fmtInt(gen.uploads + 1)} expected (header + one per upload)`;
    } else if (!fs.readFileSync(out, 'utf8').includes(`${gen.uploads} uploads: more than 50000`)) why = 'the HTML does not point to the CSV';
    const size = fs.existsSync(out) ? fs.statSync(out).size : 0;
    const mb = rssMb(m);
    ctx.out(`  ${format.padEnd(11)} ${m.command}`);
    if (why) {
      ctx.out(`  FAILED: ${why}`);
      rows.push({ section: S, metric: `report ${format}`, value: `failed: ${why.slice(0, 120)}`, verdict: 'FAIL' });
      continue;
    }
    const what = format === 'csv' ? `${fmtInt(gen.uploads / (m.wallMs / 1000))} rows/s` : 'totals only: above 50,000 rows the page points to the CSV';
    ctx.out(`              wall ${fmtSecs(m.wallMs)} (${what}), peak RSS ${mb === undefined ? 'n/a' : `${fmtInt(mb)} MB`}, output ${fmtNum(size / MB, 1)} MB`);
    // the machine may be shared: the load says how much of it this run had
    ctx.out(`              load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')} on ${os.availableParallelism()} CPUs`);
    rows.push({ section: S, metric: `report ${format}: wall`, value: fmtSecs(m.wallMs), target: `<= ${TIME_TARGET_S} s`, verdict: m.wallMs / 1000 <= TIME_TARGET_S ? 'PASS' : 'MISS' });
    rows.push({
      section: S,
      metric: `report ${format}: peak RSS`,
      value: mb === undefined ? 'n/a' : `${fmtInt(mb)} MB`,
      target: `<= ${RSS_TARGET_MB} MB`,
      verdict: mb === undefined ? 'FAIL' : mb <= RSS_TARGET_MB ? 'PASS' : 'MISS',
    });
    fs.rmSync(out, { force: true });
  }
  return rows;
}

/** Lines of a file, counted in chunks (the CSV is larger than is worth reading whole). */
function countLines(file: string): number {
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.alloc(1 << 20);
  let n = 0;
  try {
    for (let r; (r = fs.readSync(fd, buf, 0, buf.length, null)) > 0; ) for (let i = 0; i < r; i++) if (buf[i] === 0x0a) n++;
  } finally {
    fs.closeSync(fd);
  }
  return n;
}

export const auditReportSection: Section = { name: S, title: 'Audit report', run: runSection };
