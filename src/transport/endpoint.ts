// The SFTP endpoint of a configured partner: what SftpSession/SftpPool need to connect.
// Secret files (key, password, passphrase) are read here, at the last moment, and their
// content never goes into an error message or a log line; errors name the config key and the
// file path only. `host: embedded` is the in-process sandbox (product.md 7): it listens on
// 127.0.0.1 and hands its port, host key fingerprint and client key over inside the process.
import fs from 'node:fs';
import type { Config } from '../config/load.js';
import { normalizeFingerprint } from './fingerprint.js';
import type { SftpEndpoint } from './sftp.js';

export interface EmbeddedEndpointOptions {
  /** the sandbox's host key fingerprint ("SHA256:..."), handed over in-process */
  embeddedHostKeySha256?: string;
  /** the port the sandbox listens on (127.0.0.1) */
  embeddedPort?: number;
  /** the client key the sandbox accepts */
  embeddedPrivateKey?: Buffer;
  /** the user name the sandbox expects; default: the partner's sftp.username, else "tlbridge" */
  embeddedUsername?: string;
}

export const EMBEDDED_HOST = 'embedded';
export const EMBEDDED_DEFAULT_USERNAME = 'tlbridge';

export class EndpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EndpointError';
  }
}

/** The endpoint of `partnerCode`. Throws EndpointError (naming keys and paths, never secrets). */
export function endpointFor(config: Config, partnerCode: string, opts: EmbeddedEndpointOptions = {}): SftpEndpoint {
  const partner = Object.prototype.hasOwnProperty.call(config.partners, partnerCode) ? config.partners[partnerCode] : undefined;
  if (!partner) {
    const known = Object.keys(config.partners);
    throw new EndpointError(`unknown partner "${partnerCode}" (configured: ${known.length ? known.join(', ') : 'none'})`);
  }
  const s = partner.sftp;
  const at = `partners.${partnerCode}.sftp`;
  const common = { timeoutMs: s.timeoutMs, tempSuffix: s.tempSuffix, label: partnerCode };

  if (s.host === EMBEDDED_HOST) {
    const missing: string[] = [];
    if (opts.embeddedPort === undefined) missing.push('its port');
    if (!opts.embeddedHostKeySha256) missing.push('its host key fingerprint');
    if (!opts.embeddedPrivateKey) missing.push('the client key');
    if (missing.length) {
      throw new EndpointError(
        `${at}.host is "embedded", but the in-process sandbox has not handed over ${missing.join(', ')}; ` +
          'start the sandbox first and pass what it reports (embeddedPort, embeddedHostKeySha256, embeddedPrivateKey)',
      );
    }
    const port = opts.embeddedPort!;
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new EndpointError(`${at}: the embedded sandbox port ${port} is not 1..65535`);
    const fp = normalizeFingerprint(opts.embeddedHostKeySha256!);
    if (!fp) throw new EndpointError(`${at}: the embedded sandbox host key fingerprint is not a SHA256:... fingerprint`);
    return {
      host: '127.0.0.1',
      port,
      username: opts.embeddedUsername ?? s.username ?? EMBEDDED_DEFAULT_USERNAME,
      privateKey: opts.embeddedPrivateKey!,
      hostKeySha256: [fp],
      ...common,
    };
  }

  if (!s.username) throw new EndpointError(`${at}.username is required`);
  if (!s.hostKeySha256 || s.hostKeySha256.length === 0) {
    // product.md 6: no silent trust-on-first-use
    throw new EndpointError(`${at}.hostKeySha256 is required (the server host key fingerprint, as ssh-keygen -lf prints it)`);
  }
  if (!s.privateKeyFile && !s.passwordFile) throw new EndpointError(`${at}: privateKeyFile or passwordFile is required`);
  const ep: SftpEndpoint = {
    host: s.host,
    port: s.port,
    username: s.username,
    hostKeySha256: [...s.hostKeySha256],
    ...common,
  };
  if (s.privateKeyFile) ep.privateKey = readSecret(`${at}.privateKeyFile`, s.privateKeyFile);
  if (s.passwordFile) ep.password = secretText(readSecret(`${at}.passwordFile`, s.passwordFile));
  if (s.passphraseFile) ep.passphrase = secretText(readSecret(`${at}.passphraseFile`, s.passphraseFile));
  return ep;
}

function readSecret(key: string, file: string): Buffer {
  let data: Buffer;
  try {
    data = fs.readFileSync(file);
  } catch (e) {
    // the code (ENOENT, EACCES, ...) and the path only: never anything read
    throw new EndpointError(`${key}: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? 'read error'})`);
  }
  if (data.length === 0) throw new EndpointError(`${key}: ${file} is empty`);
  return data;
}

/** A password or passphrase file: its text without the line break an editor adds at the end. */
function secretText(data: Buffer): string {
  return data.toString('utf8').replace(/\r?\n$/, '');
}
