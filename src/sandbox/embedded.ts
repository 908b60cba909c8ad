// The embedded default (product.md 7): a partner whose sftp.host is `embedded` is played by
// the sandbox, started inside the daemon's process on a free 127.0.0.1 port. Its host key is
// handed over in-process (the only case without a configured fingerprint); the CLI commands
// that connect on their own (send-now, poll-acks) read the same facts from
// <dataDir>/sandbox/endpoint.json, which the daemon writes (0600) beside the sandbox's keys.
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/load.js';
import { dataPaths } from '../config/paths.js';
import type { Logger } from '../log.js';
import type { EmbeddedEndpointOptions } from '../transport/endpoint.js';
import { ensureClientKey } from './keys.js';
import { startSandbox, type Sandbox } from './server.js';

const ENDPOINT_FILE = 'endpoint.json';

export function embeddedPartner(config: Config): string | undefined {
  return Object.entries(config.partners).find(([, p]) => p.sftp.host === 'embedded')?.[0];
}

export function sandboxDir(config: Config): string {
  return dataPaths(config).sandbox;
}

export async function startEmbeddedSandbox(config: Config, logger: Logger): Promise<{ sandbox: Sandbox; endpoint: EmbeddedEndpointOptions } | undefined> {
  const partner = embeddedPartner(config);
  if (!partner) return undefined;
  const p = config.partners[partner]!;
  const dir = sandboxDir(config);
  fs.mkdirSync(dir, { recursive: true, mode: 0o750 });
  const client = ensureClientKey(dir);
  const sandbox = await startSandbox({
    dir,
    port: 0,
    messageTypes: config.messageTypes,
    namespaces: config.namespaces,
    receiverId: p.receiverId,
    senderId: config.sender.id,
    authorizedKeys: [client.publicKey],
    rejectRate: p.sandbox?.rejectRate ?? 0,
    ackDelaySeconds: p.sandbox?.ackDelaySeconds ?? 0,
    logger,
  });
  const endpoint: EmbeddedEndpointOptions = { embeddedPort: sandbox.port, embeddedHostKeySha256: sandbox.hostKeySha256, embeddedPrivateKey: client.privateKey };
  const file = path.join(dir, ENDPOINT_FILE);
  fs.writeFileSync(file, JSON.stringify({ partner, port: sandbox.port, hostKeySha256: sandbox.hostKeySha256, pid: process.pid }, null, 2) + '\n', { mode: 0o600 });
  logger.info('embedded sandbox partner listening', { partner, port: sandbox.port, hostKeySha256: sandbox.hostKeySha256, dir });
  return { sandbox, endpoint };
}

/** For a CLI command beside a running daemon: how to reach its embedded sandbox, if any. */
export function embeddedClientOptions(config: Config): EmbeddedEndpointOptions | undefined {
  if (!embeddedPartner(config)) return undefined;
  const dir = sandboxDir(config);
  try {
    const e = JSON.parse(fs.readFileSync(path.join(dir, ENDPOINT_FILE), 'utf8')) as { port: number; hostKeySha256: string; pid: number };
    process.kill(e.pid, 0); // the daemon that runs it is alive
    return { embeddedPort: e.port, embeddedHostKeySha256: e.hostKeySha256, embeddedPrivateKey: ensureClientKey(dir).privateKey };
  } catch {
    return undefined; // endpointFor then says what is missing: the daemon is not running
  }
}
