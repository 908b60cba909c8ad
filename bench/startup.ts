// Section "start-up": what every command pays before it does anything, `node bin/tlbridge.js
// --version` (the installed command), against a bare `node -e ''` start, once as installed
// (plain JavaScript from dist/ when its stamp matches src/, see bin/tlbridge.js) and once
// through tsx (TLBRIDGE_TSX=1, what a changed src/ falls back to). Each 7 times, interleaved;
// the median. INFO: the goal is on the figures that include it (send-now).
import { spawnSync } from 'node:child_process';
import { distIsCurrent } from '../bin/stamp.js';
import { fmtNum, fmtSecs, heading, median, type BenchContext, type Section, type SummaryRow } from './report.js';

const REPS = 7;

function timedRun(ctx: BenchContext, args: string[], env: NodeJS.ProcessEnv): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { cwd: ctx.repo, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited ${r.status}: ${String(r.stderr).trim().slice(-300)}`);
  return ms;
}

export const startupSection: Section = {
  name: 'start-up',
  title: 'Start-up',
  async run(ctx): Promise<SummaryRow[]> {
    for (const l of heading('Start-up: node bin/tlbridge.js --version vs node -e ""')) ctx.out(l);
    const current = distIsCurrent();
    ctx.out(`  dist/      ${current ? 'built from the src/ there is now: the installed command runs it' : 'missing or stale: the installed command runs src/ through tsx (npm run build)'}`);
    const plainEnv = { ...process.env, TLBRIDGE_TSX: undefined };
    const tsxEnv = { ...process.env, TLBRIDGE_TSX: '1' };
    const runs = { node: [] as number[], installed: [] as number[], tsx: [] as number[] };
    for (let i = 0; i < REPS; i++) {
      runs.node.push(timedRun(ctx, ['-e', ''], plainEnv));
      runs.installed.push(timedRun(ctx, ['bin/tlbridge.js', '--version'], plainEnv));
      runs.tsx.push(timedRun(ctx, ['bin/tlbridge.js', '--version'], tsxEnv));
    }
    const node = median(runs.node);
    const installed = median(runs.installed);
    const tsx = median(runs.tsx);
    const fmtRuns = (xs: number[]) => xs.map((x) => fmtNum(x / 1000, 2)).join(', ');
    ctx.out(`  node -e ""            median ${fmtSecs(node)} (${fmtRuns(runs.node)})`);
    ctx.out(`  tlbridge --version    median ${fmtSecs(installed)} (${fmtRuns(runs.installed)})`);
    ctx.out(`  the same through tsx  median ${fmtSecs(tsx)} (${fmtRuns(runs.tsx)})`);
    return [
      {
        section: 'start-up',
        metric: `tlbridge --version, as installed (${current ? 'dist/' : 'tsx: dist/ stale'}) vs node -e ""`,
        value: fmtSecs(installed),
        reference: fmtSecs(node),
        ratio: installed / node,
        verdict: 'INFO',
        numbers: { tlbridgeMs: installed, nodeMs: node, runsMs: runs.installed, nodeRunsMs: runs.node, fromDist: current ? 1 : 0 },
      },
      {
        section: 'start-up',
        metric: 'tlbridge --version through tsx (TLBRIDGE_TSX=1) vs node -e ""',
        value: fmtSecs(tsx),
        reference: fmtSecs(node),
        ratio: tsx / node,
        verdict: 'INFO',
        numbers: { tlbridgeMs: tsx, nodeMs: node, runsMs: runs.tsx },
      },
    ];
  },
};
