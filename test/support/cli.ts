// Runs a tlbridge command in-process and keeps what it printed.
import { main } from '../../src/cli/main.js';
import type { Io } from '../../src/cli/io.js';

export interface CliRun {
  code: number;
  out: string[];
  err: string[];
}

/** `streams.stderr`: a stream standing for the terminal behind stderr (progress is drawn there). */
export async function runCli(args: string[], streams: Pick<Io, 'stdout' | 'stderr'> = {}): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = { out: (l) => void out.push(l), err: (l) => void err.push(l), ...streams };
  const code = await main(args, io);
  return { code, out, err };
}
