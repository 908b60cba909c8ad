// A small real flow for the retention and audit verify tests: real intake of flat files (intake
// manifests, error/ files), send-now to a real OpenSSH sshd (batch manifests), acks put on the
// server and polled (ack manifests), dismiss through the command line.
import fs from 'node:fs';
import path from 'node:path';
import { dataPaths } from '../../src/config/paths.js';
import { processClaimed, type IntakeOutcome } from '../../src/intake/intake.js';
import { Ledger } from '../../src/ledger/ledger.js';
import { nullLogger } from '../../src/log.js';
import { ACK_DIR, clearServer, makeAckEnv, PARTNER, renderAck, type AckEnv } from './acks.js';
import { useSharedSshd } from './shared-sshd.js';
import { runCli, type CliRun } from './cli.js';
import { producedFile, refs } from './daemon-process.js';

export const cliOf = (env: AckEnv) => (...args: string[]): Promise<CliRun> => runCli([...args, '--config', env.configPath]);

/** One file through the real intake, as the watcher hands it over after the claim. */
export async function intake(env: AckEnv, name: string, content: string): Promise<IntakeOutcome> {
  const work = dataPaths(env.config).work;
  fs.mkdirSync(work, { recursive: true });
  const workPath = path.join(work, name);
  fs.writeFileSync(workPath, content);
  return processClaimed({ config: env.config, ledger: new Ledger(env.db), archive: env.archive, logger: nullLogger }, { workPath, name, inbound: env.config.inbound[0]! });
}

export const goodFile = (prefix: string, n: number): string => producedFile(refs(prefix, n), `EXP-${prefix}`);
/** a quantity that is no number: FAILED, into error/ */
export const badFile = (prefix: string): string => producedFile(refs(prefix, 1), `EXP-${prefix}`).replace('|1.5|EA|', '|one|EA|');

export interface MessageOf {
  id: number;
  fcn: string;
  state: string;
}

export function messagesOf(env: AckEnv, fileId: number): MessageOf[] {
  return env.db.prepare('SELECT id, fcn, state FROM messages WHERE file_id = ? ORDER BY id').all(fileId) as MessageOf[];
}

/** SUCCESS acks for `fcns` on the server, then one poll. */
export async function ackAll(env: AckEnv, fcns: string[], status = 'SUCCESS'): Promise<void> {
  for (const fcn of fcns) env.put(`ACK-${fcn}.xml`, renderAck({ inputFcn: fcn, status, ackFcn: `A${fcn.slice(1)}` }));
  await env.poll();
}

export async function sendNow(env: AckEnv): Promise<CliRun> {
  return cliOf(env)('send-now', '--partner', PARTNER);
}

/** The mocha hooks of a suite against one real sshd (skipped without one), each test with a
 * fresh ack env (empty server folders, a new data folder). Returns the current env. */
export function sshdAckEnvPerTest(): () => AckEnv {
  const shared = useSharedSshd(['/inbox', ACK_DIR]);
  let env: AckEnv | undefined;
  beforeEach(() => {
    const sshd = shared();
    clearServer(sshd);
    const inbox = path.join(sshd.root, 'inbox');
    for (const e of fs.readdirSync(inbox)) fs.rmSync(path.join(inbox, e), { recursive: true, force: true });
    env = makeAckEnv(sshd);
  });
  afterEach(async () => {
    await env?.close();
    env = undefined;
  });
  return () => env!;
}
