// `tlbridge sandbox [--port N] [--dir D] [--reject-rate R] [--ack-delay S]` (product.md 4, 7):
// the sandbox SFTP server standalone, for rehearsing a site's ERP exports before going live.
// Defaults: port 2222, dir var/sandbox (relative to the current folder), reject rate and ack
// delay from the first partner's `sandbox:` settings (else 0). The manufacturer's id is the
// first partner's receiverId, the expected sender the config's sender.id. It prints its host
// key fingerprint (what a client pins as hostKeySha256) and its folders, logs one line per
// judged file, and runs until SIGTERM or SIGINT, then exits 0. Its limits (connections, login
// time, handles, upload size: src/sandbox/limits.ts) are the defaults, printed at start.
import path from 'node:path';
import type { Config } from '../config/load.js';
import { EXIT, UsageError, type Io } from './io.js';
import type { LogFields, Logger, LogLevel } from '../log.js';
import { AUTHORIZED_KEYS_FILE, parseAuthorizedKeys } from '../sandbox/keys.js';
import { describeLimits } from '../sandbox/limits.js';
import { startSandbox } from '../sandbox/server.js';
import fs from 'node:fs';

export const SANDBOX_DEFAULT_PORT = 2222;
export const SANDBOX_DEFAULT_DIR = 'var/sandbox';

export interface SandboxCliOptions {
  port?: string;
  dir?: string;
  rejectRate?: string;
  ackDelay?: string;
  /** tests: stop when this settles instead of waiting for a signal */
  until?: Promise<unknown>;
}

function number(flag: string, v: string, ok: (n: number) => boolean, what: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || !ok(n)) throw new UsageError(`${flag} ${JSON.stringify(v)}: must be ${what}`);
  return n;
}

/** Human-readable lines on the command's output (one per judged file), not JSON. */
function ioLogger(io: Io, level: string): Logger {
  const order: LogLevel[] = ['error', 'warn', 'info', 'debug'];
  const max = Math.max(0, order.indexOf(level as LogLevel));
  const at =
    (l: LogLevel) =>
    (msg: string, fields?: LogFields): void => {
      if (order.indexOf(l) > max) return;
      const extra = fields && Object.keys(fields).length ? ` ${JSON.stringify(fields)}` : '';
      (l === 'error' || l === 'warn' ? io.err : io.out)(`${new Date().toISOString()} ${l} ${msg}${extra}`);
    };
  return { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') };
}

export async function sandbox(config: Config, opts: SandboxCliOptions, io: Io): Promise<number> {
  const port = opts.port === undefined ? SANDBOX_DEFAULT_PORT : number('--port', opts.port, (n) => Number.isInteger(n) && n >= 0 && n <= 65535, 'a port number 0..65535');
  const dir = path.resolve(opts.dir ?? SANDBOX_DEFAULT_DIR);
  const [partnerCode, partner] = Object.entries(config.partners)[0] ?? [];
  if (!partner) {
    io.err('tlbridge sandbox: the configuration has no partner, so there is no manufacturer id (receiverId) to play');
    return EXIT.USAGE;
  }
  const rejectRate =
    opts.rejectRate === undefined ? (partner.sandbox?.rejectRate ?? 0) : number('--reject-rate', opts.rejectRate, (n) => n >= 0 && n <= 1, 'a number from 0 to 1');
  const ackDelaySeconds =
    opts.ackDelay === undefined ? (partner.sandbox?.ackDelaySeconds ?? 0) : number('--ack-delay', opts.ackDelay, (n) => n >= 0, 'a number of seconds >= 0');

  const sb = await startSandbox({
    dir,
    port,
    rejectRate,
    ackDelaySeconds,
    messageTypes: config.messageTypes,
    namespaces: config.namespaces,
    receiverId: partner.receiverId,
    senderId: config.sender.id,
    logger: ioLogger(io, config.log.level),
  });

  const keysFile = path.join(dir, AUTHORIZED_KEYS_FILE);
  let keyCount = 0;
  try {
    keyCount = parseAuthorizedKeys(fs.readFileSync(keysFile, 'utf8')).keys.length;
  } catch {
    /* none yet */
  }
  io.out(`tlbridge sandbox: SFTP on 127.0.0.1:${sb.port}, playing ${partnerCode} (receiver id ${partner.receiverId}), expecting sender ${config.sender.id}`);
  io.out(`host key fingerprint: ${sb.hostKeySha256}`);
  io.out(`host key: ${sb.hostPublicKey}`);
  io.out(`folder: ${dir}`);
  for (const t of Object.values(config.messageTypes)) io.out(`  inbox: /inbox/${t.code}/`);
  io.out(`  acks:  /outbox/IE_PROCESSING_RESPONSE/`);
  io.out(
    `authorized keys: ${keysFile} (${keyCount} key${keyCount === 1 ? '' : 's'}${keyCount ? '' : ': add an OpenSSH public key line to log in; it is read at every login'})`,
  );
  io.out(`reject rate: ${rejectRate}, ack delay: ${ackDelaySeconds} s`);
  io.out(describeLimits(sb.limits));

  // the handlers go in before the line that invites a signal: a SIGTERM that arrives between
  // the two would otherwise meet the default disposition and kill the process (exit by signal)
  const handlers: Array<[NodeJS.Signals, () => void]> = [];
  const stopped = new Promise<void>((resolve) => {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) {
      const h = () => resolve();
      handlers.push([sig, h]);
      process.once(sig, h);
    }
    opts.until?.then(
      () => resolve(),
      () => resolve(),
    );
  });
  io.out('stop with Ctrl-C (SIGINT) or SIGTERM');
  await stopped;
  for (const [sig, h] of handlers) process.off(sig, h);
  await sb.close();
  io.out('tlbridge sandbox: stopped');
  return EXIT.OK;
}
