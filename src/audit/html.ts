// `audit report` as one printable, self-contained HTML page (product.md 10): no external
// resource of any kind (inline CSS, no script, no font, no image), every value from the ledger
// escaped as text (lot numbers, file names and ack codes are partner or ERP input). A print
// stylesheet repeats the table headers on every page and numbers the pages. Above
// HTML_MAX_ROWS rows the page holds the totals and points to the CSV.
import type { ActionRow } from './actions.js';
import type { ReportInput } from './formats.js';
import type { ChainState, ReportMeta } from './meta.js';
import type { ReportRow, Totals } from './rows.js';
import type { ReportWriter } from './sink.js';

export const HTML_MAX_ROWS = 50_000;

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text for an element's content or a quoted attribute value. */
export function escapeHtml(v: unknown): string {
  return (v === null || v === undefined ? '' : String(v)).replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** Escaped text that may wrap after each `after` character (paths at '/', types at '_', times at 'T'). */
function breakable(v: string | null, after: string): string {
  return escapeHtml(v).split(after).join(`${escapeHtml(after)}<wbr>`);
}

const STYLE = `
  :root { color-scheme: light; }
  body { font: 13px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #111; background: #fff; margin: 24px; }
  h1 { font-size: 22px; margin: 0 0 8px; }
  h2 { font-size: 16px; margin: 24px 0 8px; border-bottom: 2px solid #333; padding-bottom: 2px; }
  dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0; }
  dl.meta dt { font-weight: 600; }
  dl.meta dd { margin: 0; }
  table { border-collapse: collapse; width: 100%; margin: 4px 0 12px; }
  th, td { border: 1px solid #999; padding: 3px 5px; text-align: left; vertical-align: top; }
  th { background: #e4e4e4; font-weight: 600; }
  td.num, th.num { text-align: right; }
  .mono { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 11px; }
  /* Paths may break anywhere (after a '/' first, see breakable), and 'anywhere' (unlike
     break-word) also lowers the column's minimum width: at 1280 px the uploads table fits the
     screen instead of running past its right edge. Times, ids and plain words stay whole. */
  .path { overflow-wrap: anywhere; }
  .hash { word-break: break-all; font-size: 10px; }
  table.totals, table.outcomes { width: auto; min-width: 40%; }
  table.rows { font-size: 11px; }
  .s-ACCEPTED { color: #0a5d0a; font-weight: 600; }
  .s-REJECTED { color: #a40000; font-weight: 600; }
  .ok { color: #0a5d0a; font-weight: 600; }
  .bad { color: #a40000; font-weight: 600; }
  .note { background: #fff6d6; border: 1px solid #c9a400; padding: 8px 12px; }
  footer { margin-top: 24px; border-top: 2px solid #333; padding-top: 8px; }
  @media print {
    body { margin: 0; font-size: 10px; }
    table.rows { font-size: 8px; }
    thead { display: table-header-group; }
    tfoot { display: table-footer-group; }
    tr { break-inside: avoid; page-break-inside: avoid; }
    h2 { break-after: avoid; page-break-after: avoid; }
  }
  @page {
    size: A4 landscape;
    margin: 12mm 10mm 14mm;
    @bottom-right { content: counter(page) " / " counter(pages); font-size: 9px; }
    @bottom-left { content: "tlbridge audit report"; font-size: 9px; }
  }
`;

const ROW_HEADINGS: Array<[string, (r: ReportRow) => string]> = [
  ['Batch', (r) => `<td class="num">${escapeHtml(r.batchId)}</td>`],
  ['Batch time (UTC)', (r) => `<td class="mono">${breakable(r.batchTime, 'T')}</td>`],
  ['Partner', (r) => `<td>${escapeHtml(r.partner)}</td>`],
  ['Message type', (r) => `<td>${breakable(r.messageType, '_')}</td>`],
  ['Reference document', (r) => `<td>${escapeHtml(r.referenceDocumentNumber)}</td>`],
  ['Work order', (r) => `<td>${escapeHtml(r.workOrderNumber)}</td>`],
  ['Lots', (r) => `<td>${escapeHtml(r.lots)}</td>`],
  ['FileControlNumber', (r) => `<td class="mono">${escapeHtml(r.fileControlNumber)}</td>`],
  ['Remote path', (r) => `<td class="mono path">${breakable(r.remotePath, '/')}</td>`],
  ['Ack', (r) => `<td>${escapeHtml(r.ackStatus)}</td>`],
  ['Ack error codes', (r) => `<td>${escapeHtml(r.ackErrorCodes)}</td>`],
  ['Ack time (UTC)', (r) => `<td class="mono">${breakable(r.ackTime, 'T')}</td>`],
  ['Source file', (r) => `<td class="path">${breakable(r.sourceFile, '_')}</td>`],
  ['Source sha256', (r) => `<td class="mono hash">${escapeHtml(r.sourceSha256)}</td>`],
  ['State now', (r) => `<td class="s-${escapeHtml(r.state)}">${escapeHtml(r.state)}</td>`],
];

function filtersText(m: ReportMeta): string {
  const f = m.filters;
  const bound = (b: { text: string; utc: string } | null, open: string) => (b ? `${escapeHtml(b.text)} (${escapeHtml(b.utc)})` : open);
  return `${bound(f.from, 'the beginning')} to ${bound(f.to, 'now')}, both inclusive; partner: ${f.partner ? escapeHtml(f.partner) : 'all'}`;
}

function heading(m: ReportMeta): string {
  return `<header>
<h1>tlbridge audit report</h1>
<dl class="meta">
<dt>Generated by</dt><dd>${escapeHtml(m.generatedBy.text)}</dd>
<dt>Generated at</dt><dd>${escapeHtml(m.generatedAt)} (UTC)</dd>
<dt>Period</dt><dd>${filtersText(m)}</dd>
<dt>tlbridge version</dt><dd>${escapeHtml(m.version)}</dd>
<dt>Timezone</dt><dd>${escapeHtml(m.timezone)} (the period's dates; times below are UTC)</dd>
</dl>
</header>
`;
}

function totalsSection(t: Totals): string {
  const states = Object.keys(t.byState).sort();
  const head = `<tr><th>Partner</th><th class="num">Messages</th><th class="num">Uploads</th>${states.map((s) => `<th class="num">${escapeHtml(s)}</th>`).join('')}</tr>`;
  const body = t.byPartner
    .map((p) => `<tr><td>${escapeHtml(p.partner)}</td><td class="num">${p.messages}</td><td class="num">${p.uploads}</td>${states.map((s) => `<td class="num">${p.byState[s] ?? 0}</td>`).join('')}</tr>`)
    .join('\n');
  const all = `<tr><th>All partners</th><th class="num">${t.messages}</th><th class="num">${t.uploads}</th>${states.map((s) => `<th class="num">${t.byState[s] ?? 0}</th>`).join('')}</tr>`;
  const outcome = states.map((s) => `<tr><td class="s-${escapeHtml(s)}">${escapeHtml(s)}</td><td class="num">${t.byState[s]}</td></tr>`).join('\n');
  return `<section id="totals">
<h2>Totals</h2>
<p>Messages uploaded in the period (a resent message counts once; its uploads each have a row), by partner and by their state now.</p>
<table class="totals"><thead>${head}</thead><tbody>
${body}
</tbody><tfoot>${all}</tfoot></table>
<table class="outcomes"><thead><tr><th>Outcome (state now)</th><th class="num">Messages</th></tr></thead><tbody>
${outcome || '<tr><td colspan="2">no uploads in the period</td></tr>'}
</tbody></table>
</section>
`;
}

function actionRow(a: ActionRow): string {
  return `<tr><td class="num">${a.id}</td><td class="mono">${escapeHtml(a.at)}</td><td>${escapeHtml(a.command)}</td><td class="mono">${escapeHtml(a.target)}</td><td>${escapeHtml(a.by)}</td><td>${escapeHtml(a.reason)}</td><td class="mono path">${breakable(a.manifest, '/')}</td></tr>\n`;
}

function footer(c: ChainState): string {
  const now = c.checkedNow.ok
    ? `<span class="ok">intact</span> (chain-only check at ${escapeHtml(c.checkedNow.at)}: ${c.manifests} manifests)`
    : `<span class="bad">NOT intact</span> (chain-only check at ${escapeHtml(c.checkedNow.at)})<ul>${c.checkedNow.problems.map((p) => `<li>${escapeHtml(p)}</li>`).join('')}</ul>`;
  const v = c.lastVerify;
  const last = v
    ? `${v.ok ? '<span class="ok">intact</span>' : `<span class="bad">NOT intact: ${v.problems} problem(s)</span>`}, run from ${escapeHtml(v.startedAt)} to ${escapeHtml(v.finishedAt)}`
    : 'none recorded (run <code>tlbridge audit verify</code>)';
  return `<footer>
<dl class="meta">
<dt>Chain head</dt><dd class="mono">${c.head ? `${escapeHtml(c.head)} (${escapeHtml(c.headPath)})` : 'nothing archived yet'}</dd>
<dt>Chain now</dt><dd>${now}</dd>
<dt>Last full audit verify</dt><dd>${last}</dd>
</dl>
</footer>
`;
}

export async function writeHtml(w: ReportWriter, input: ReportInput & { csvHint: string }): Promise<void> {
  const m = input.meta;
  await w.write(
    `<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<meta name="generator" content="tlbridge ${escapeHtml(m.version)}">\n` +
      `<title>tlbridge audit report ${escapeHtml(m.generatedAt)}</title>\n<style>${STYLE}</style>\n</head>\n<body>\n`,
  );
  await w.write(heading(m));
  await w.write(totalsSection(input.totals));
  await w.write('<section id="rows">\n<h2>Uploads</h2>\n');
  if (input.totals.uploads > HTML_MAX_ROWS) {
    await w.write(
      `<p class="note">${input.totals.uploads} uploads: more than ${HTML_MAX_ROWS}, too many for a page. The rows are in the CSV of the same period: ` +
        `<code>${escapeHtml(input.csvHint)}</code></p>\n`,
    );
  } else {
    await w.write(`<p>One row per upload, in batch order.</p>\n<table class="rows"><thead><tr>${ROW_HEADINGS.map(([h]) => `<th>${h}</th>`).join('')}</tr></thead><tbody>\n`);
    let n = 0;
    for (const r of input.rows()) {
      await w.write(`<tr>${ROW_HEADINGS.map(([, cell]) => cell(r)).join('')}</tr>\n`);
      n++;
      input.onRow?.();
    }
    if (!n) await w.write(`<tr><td colspan="${ROW_HEADINGS.length}">no uploads in the period</td></tr>\n`);
    await w.write('</tbody></table>\n');
  }
  await w.write('</section>\n<section id="actions">\n<h2>Operator actions</h2>\n');
  await w.write('<table class="actions"><thead><tr><th>#</th><th>Time (UTC)</th><th>Command</th><th>Target</th><th>By</th><th>Reason</th><th>Archived in</th></tr></thead><tbody>\n');
  let k = 0;
  for (const a of input.actions()) {
    await w.write(actionRow(a));
    k++;
  }
  if (!k) await w.write('<tr><td colspan="7">no operator actions in the period</td></tr>\n');
  await w.write('</tbody></table>\n</section>\n');
  await w.write(footer(m.chain));
  await w.write('</body>\n</html>\n');
}
