// `npm run bench [-- options]`: performance figures of tlbridge, printed as a report on stdout
// (progress goes to stderr). Not part of `npm test`.
//
//   --messages N   messages in the throughput file (default 100000)
//   --no-big       skip the big-input memory check
//   --big-mb N     size of the big input in MB (default 250)
//   --seed N       generator seed (default 20261125)
//   --keep         keep the temp dir
//   --rss-method time|wrapper   force a peak-RSS method (default: time if GNU /usr/bin/time works)
//   --no-upload    skip the SFTP upload figures (tlbridge vs OpenSSH sftp -b)
//
// Exit code: 0 when every measurement ran (PASS or MISS alike), 1 when one failed or xmllint is missing,
// 2 on a bad command line.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { auditReportSection } from './audit-report.js';
import { conversionSection } from './convert.js';
import { formatMachine, machineInfo } from './machine.js';
import { describeRssMethod, detectRssMethod, type RssMethod } from './measure.js';
import { heading, summaryTable, type BenchContext, type BenchOptions, type Section, type SummaryRow } from './report.js';
import { uploadSection, uploadSkipped } from './upload.js';
import { haveXmllint, XMLLINT_INSTALL_HINT } from './xmllint.js';

/** The report's sections, in order. */
const SECTIONS: Section[] = [conversionSection, uploadSection, auditReportSection];

const USAGE = 'usage: npm run bench -- [--messages N] [--no-big] [--big-mb N] [--seed N] [--keep] [--rss-method time|wrapper] [--no-upload]';

function positiveInt(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, not ${JSON.stringify(v)}`);
  return n;
}

function parseOptions(argv: string[]): BenchOptions & { rssMethod?: RssMethod; upload: boolean } {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      messages: { type: 'string' },
      'no-big': { type: 'boolean' },
      'big-mb': { type: 'string' },
      seed: { type: 'string' },
      keep: { type: 'boolean' },
      'rss-method': { type: 'string' },
      'no-upload': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const m = values['rss-method'];
  if (m !== undefined && m !== 'time' && m !== 'wrapper') throw new Error(`--rss-method must be time or wrapper, not ${JSON.stringify(m)}`);
  return {
    messages: positiveInt('messages', values.messages, 100_000),
    big: !values['no-big'],
    bigMb: positiveInt('big-mb', values['big-mb'], 250),
    seed: positiveInt('seed', values.seed, 20261125),
    keep: values.keep ?? false,
    upload: !values['no-upload'],
    ...(m ? { rssMethod: m } : {}),
  };
}

async function main(): Promise<number> {
  let opts: ReturnType<typeof parseOptions>;
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (e) {
    console.error(`bench: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (!haveXmllint()) {
    console.error(XMLLINT_INSTALL_HINT);
    return 1;
  }

  const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tlbridge-bench-'));
  const cleanup = () => {
    if (!opts.keep) fs.rmSync(tmp, { recursive: true, force: true });
  };
  // Ctrl-C reaches the child too (same process group); remove what we generated
  const onSignal = (sig: NodeJS.Signals) => {
    process.stderr.write(`\nbench: ${sig}, removing ${tmp}\n`);
    cleanup();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const rssMethod = opts.rssMethod ?? detectRssMethod();
  const machine = machineInfo();
  const ctx: BenchContext = {
    opts,
    repo,
    tmp,
    machine,
    rssMethod,
    out: (line = '') => process.stdout.write(line + '\n'),
    progress: (line) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line.trim()}\n`),
  };

  const t0 = performance.now();
  ctx.out('tlbridge bench');
  ctx.out('==============');
  for (const l of formatMachine(machine)) ctx.out(l);
  ctx.out(`peak RSS ${describeRssMethod(rssMethod)}`);
  ctx.out(`temp     ${tmp}`);
  ctx.out(`options  --messages ${opts.messages} ${opts.big ? `--big-mb ${opts.bigMb}` : '--no-big'} --seed ${opts.seed}${opts.upload ? '' : ' --no-upload'}`);

  const rows: SummaryRow[] = [];
  try {
    for (const s of SECTIONS) {
      if (s === uploadSection && !opts.upload) {
        const skipped = uploadSkipped('--no-upload');
        for (const l of skipped.lines) ctx.out(l);
        rows.push(...skipped.rows);
        continue;
      }
      try {
        rows.push(...(await s.run(ctx)));
      } catch (e) {
        ctx.out(`  ${s.title}: ERROR ${(e as Error).stack ?? e}`);
        rows.push({ section: s.name, metric: 'run', value: `error: ${(e as Error).message}`, verdict: 'FAIL' });
      }
    }
  } finally {
    cleanup();
  }

  for (const l of heading('Summary')) ctx.out(l);
  for (const l of summaryTable(rows)) ctx.out(l);
  ctx.out('');
  ctx.out(`bench took ${((performance.now() - t0) / 1000).toFixed(1)} s${opts.keep ? `; temp dir kept: ${tmp}` : ''}`);
  return rows.some((r) => r.verdict === 'FAIL') ? 1 : 0;
}

process.exitCode = await main();
