// The reference: libxml2's own command-line validator over the files tlbridge wrote.
// `xmllint --noout --schema XSD f1 f2 ...` compiles the schema once per invocation and prints
// "<file> validates" (stderr) for every valid file. The file list is split into chunks that fit
// comfortably in ARG_MAX and the invocations run one after another; the figure is the total
// wall time of all of them, as one xmllint process would do it with an unlimited command line.
import { spawn, spawnSync } from 'node:child_process';
import { xmllintVersion } from './machine.js';

export const XMLLINT_INSTALL_HINT = 'xmllint is missing: install it with `apt-get install -y libxml2-utils` (Debian/Ubuntu), then re-run `npm run bench`.';

export function haveXmllint(): boolean {
  return xmllintVersion() !== undefined;
}

/** bytes of argv per invocation: far below Linux's ARG_MAX (2 MiB typically, `getconf ARG_MAX`) */
function argBudget(): number {
  const r = spawnSync('getconf', ['ARG_MAX'], { encoding: 'utf8' });
  const max = Number(r.stdout?.trim());
  const argMax = Number.isFinite(max) && max > 0 ? max : 128 * 1024;
  // environment and pointers take their share of ARG_MAX too; keep to a quarter
  return Math.min(Math.floor(argMax / 4), 1024 * 1024);
}

export interface XmllintResult {
  files: number;
  validates: number;
  invocations: number;
  wallMs: number;
  /** every invocation exited 0 */
  allExitZero: boolean;
  /** the first few lines that were not "<file> validates" */
  problems: string[];
}

/** Validates `files` (names relative to `cwd`) against `xsd`, sequentially in ARG_MAX-sized chunks. */
export async function xmllintValidate(xsd: string, files: string[], cwd: string): Promise<XmllintResult> {
  const budget = argBudget();
  const chunks: string[][] = [];
  let cur: string[] = [];
  let curBytes = 0;
  for (const f of files) {
    const b = Buffer.byteLength(f) + 1 + 8; // the string, its NUL, its argv pointer
    if (cur.length && curBytes + b > budget) {
      chunks.push(cur);
      cur = [];
      curBytes = 0;
    }
    cur.push(f);
    curBytes += b;
  }
  if (cur.length) chunks.push(cur);

  let validates = 0;
  let allExitZero = true;
  const problems: string[] = [];
  let wallNs = 0n;
  for (const chunk of chunks) {
    const t0 = process.hrtime.bigint();
    const child = spawn('xmllint', ['--noout', '--schema', xsd, ...chunk], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let rest = '';
    const onData = (c: Buffer) => {
      const lines = (rest + c.toString('utf8')).split('\n');
      rest = lines.pop()!;
      for (const l of lines) {
        if (l.endsWith(' validates')) validates++;
        else if (l.trim() && problems.length < 20) problems.push(l);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const code = await new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (c) => resolve(c));
    });
    wallNs += process.hrtime.bigint() - t0;
    if (rest.endsWith(' validates')) validates++;
    else if (rest.trim() && problems.length < 20) problems.push(rest);
    if (code !== 0) allExitZero = false;
  }
  return { files: files.length, validates, invocations: chunks.length, wallMs: Number(wallNs) / 1e6, allExitZero, problems };
}
