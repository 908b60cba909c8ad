// `npm run bench [-- options]`: performance figures of tlbridge, each against its reference
// measured in the same run. Prints one table on stdout (figure, tlbridge, reference, ratio,
// goal, result) under a line naming the machine; what each section did goes to stderr; all of
// it, with the raw numbers, to bench/results.json. Not part of `npm test`.
//
//   --messages N   messages of the conversion figure (default 20000)
//   --no-big       skip the big-input memory figure
//   --big-mb N     size of the big input in MB (default 250)
//   --seed N       generator seed (default 20261125)
//   --keep         keep the temp dir
//   --rss-method time|wrapper   force a peak-RSS method (default: time if GNU /usr/bin/time works)
//   --no-upload    skip the send-now figure (tlbridge vs OpenSSH sftp -b)
//   --results FILE where to write the results (default bench/results.json)
//
// Exit code: 0 when every measurement ran (PASS or MISS alike), 1 when one failed or xmllint is missing,
// 2 on a bad command line.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { acksSection } from './acks.js';
import { auditReportSection } from './audit-report.js';
import { conversionSection } from './convert.js';
import { machineInfo, machineLine } from './machine.js';
import { describeRssMethod, detectRssMethod, type RssMethod } from './measure.js';
import { summaryTable, type BenchContext, type BenchOptions, type Section, type SummaryRow } from './report.js';
import { startupSection } from './startup.js';
import { sendNowSection } from './upload.js';
import { intakeSection } from './intake.js';
import { haveXmllint, XMLLINT_INSTALL_HINT } from './xmllint.js';

/** The report's sections, in order. */
const SECTIONS: Section[] = [startupSection, conversionSection, intakeSection, sendNowSection, acksSection, auditReportSection];

const USAGE =
  'usage: npm run bench -- [--messages N] [--no-big] [--big-mb N] [--seed N] [--keep] [--rss-method time|wrapper] [--no-upload] [--only SECTION,...] [--results FILE]';

function positiveInt(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, not ${JSON.stringify(v)}`);
  return n;
}

function parseOptions(argv: string[], repo: string): BenchOptions & { rssMethod?: RssMethod; results: string; only?: string[] } {
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
      results: { type: 'string' },
      only: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const only = values.only === undefined ? undefined : values.only.split(',').map((x) => x.trim()).filter((x) => x !== '');
  const known = SECTIONS.map((x) => x.name);
  for (const name of only ?? []) if (!known.includes(name)) throw new Error(`--only: no section ${JSON.stringify(name)} (sections: ${known.join(', ')})`);
  const m = values['rss-method'];
  if (m !== undefined && m !== 'time' && m !== 'wrapper') throw new Error(`--rss-method must be time or wrapper, not ${JSON.stringify(m)}`);
  return {
    messages: positiveInt('messages', values.messages, 20_000),
    big: !values['no-big'],
    bigMb: positiveInt('big-mb', values['big-mb'], 250),
    seed: positiveInt('seed', values.seed, 20261125),
    keep: values.keep ?? false,
    upload: !values['no-upload'],
    results: path.resolve(values.results ?? path.join(repo, 'bench', 'results.json')),
    ...(only ? { only } : {}),
    ...(m ? { rssMethod: m } : {}),
  };
}

async function main(): Promise<number> {
  const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  let opts: ReturnType<typeof parseOptions>;
  try {
    opts = parseOptions(process.argv.slice(2), repo);
  } catch (e) {
    console.error(`bench: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (!haveXmllint()) {
    console.error(XMLLINT_INSTALL_HINT);
    return 1;
  }

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
  const details: string[] = [];
  const ctx: BenchContext = {
    opts,
    repo,
    tmp,
    machine,
    rssMethod,
    out: (line = '') => {
      details.push(line);
      process.stderr.write(line + '\n');
    },
    progress: (line) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line.trim()}\n`),
  };

  const t0 = performance.now();
  ctx.out(`peak RSS ${describeRssMethod(rssMethod)}`);
  ctx.out(`temp     ${tmp}`);
  const optionsLine = `--messages ${opts.messages} ${opts.big ? `--big-mb ${opts.bigMb}` : '--no-big'} --seed ${opts.seed}${opts.upload ? '' : ' --no-upload'}`;

  const rows: SummaryRow[] = [];
  try {
    for (const s of SECTIONS) {
      if (opts.only && !opts.only.includes(s.name)) continue;
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
  const tookS = (performance.now() - t0) / 1000;

  const out = (l = '') => process.stdout.write(l + '\n');
  out(`tlbridge bench, ${machine.date.slice(0, 16).replace('T', ' ')} UTC, options ${optionsLine}`);
  out(`machine: ${machineLine(machine)}`);
  out('');
  for (const l of summaryTable(rows)) out(l);
  out('');
  out(`ratio = tlbridge / reference, both measured in this run; the machine is shared, so single figures are noisy.`);
  out(`bench took ${tookS.toFixed(1)} s; details on stderr and in ${path.relative(process.cwd(), opts.results) || opts.results}${opts.keep ? `; temp dir kept: ${tmp}` : ''}`);

  const results = {
    machine,
    date: machine.date,
    node: machine.node,
    options: optionsLine,
    rssMethod,
    tookSeconds: Number(tookS.toFixed(1)),
    figures: rows,
    table: summaryTable(rows),
    details,
  };
  fs.mkdirSync(path.dirname(opts.results), { recursive: true });
  fs.writeFileSync(opts.results, JSON.stringify(results, null, 2) + '\n');
  return rows.some((r) => r.verdict === 'FAIL') ? 1 : 0;
}

process.exitCode = await main();
