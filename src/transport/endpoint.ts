// The SFTP endpoint: what SftpSession/SftpPool need to connect, how it is made from a
// configured partner, when it is valid, and which of its parts are secret.
// Secret files (key, password, passphrase) are read here, at the last moment, and their
// content never goes into an error message or a log line; errors name the config key and the
// file path only. `host: embedded` is the in-process sandbox (product.md 7): it listens on
// 127.0.0.1 and hands its port, host key fingerprint and client key over inside the process.
import fs from 'node:fs';
import type SftpClient from 'ssh2-sftp-client';
import type { Config } from '../config/load.js';
import { SftpError } from './errors.js';
import { normalizeFingerprint } from './fingerprint.js';

export interface SftpEndpoint {
  host: string;
  port: number;
  username: string;
  privateKey?: Buffer;
  passphrase?: string;
  password?: string;
  hostKeySha256: string[]; // allowed fingerprints (a list allows rotation); must be non-empty
  timeoutMs: number; // connect AND every single operation
  tempSuffix: string; // e.g. ".part"
  label?: string; // partner name for error messages
}

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
const EMBEDDED_DEFAULT_USERNAME = 'tlbridge';

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

/** A key, password or passphrase file is small: a larger one is a wrong path (a device, a log). */
const MAX_SECRET_BYTES = 1024 * 1024;

function readSecret(key: string, file: string): Buffer {
  let data: Buffer;
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile()) throw new EndpointError(`${key}: ${file} is not a regular file`);
      if (st.size > MAX_SECRET_BYTES) throw new EndpointError(`${key}: ${file} is ${st.size} bytes, more than a secret file holds (${MAX_SECRET_BYTES})`);
      data = fs.readFileSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    if (e instanceof EndpointError) throw e;
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

/**
 * What ssh2 gets to connect: keepalives that notice a dead peer within about `timeoutMs`, no
 * keyboard-interactive, and `hostVerifier` for the pinned host key (without hostHash, ssh2
 * hands it the raw public key blob).
 */
export function connectOptions(ep: SftpEndpoint, hostVerifier: (key: Buffer) => boolean): SftpClient.ConnectOptions {
  const keepaliveInterval = Math.min(15_000, Math.max(1_000, Math.floor(ep.timeoutMs / 3)));
  const cfg: SftpClient.ConnectOptions = {
    host: ep.host,
    port: ep.port,
    username: ep.username,
    readyTimeout: ep.timeoutMs,
    keepaliveInterval,
    keepaliveCountMax: 3,
    tryKeyboard: false,
    hostVerifier,
  };
  if (ep.privateKey) cfg.privateKey = ep.privateKey;
  if (ep.passphrase !== undefined) cfg.passphrase = ep.passphrase;
  if (ep.password !== undefined) cfg.password = ep.password;
  return cfg;
}

/** The normalized allowed fingerprints; throws SftpError (ERR_CONFIG) naming every problem. */
export function checkEndpoint(ep: SftpEndpoint): string[] {
  const problems: string[] = [];
  if (!ep.host) problems.push('host is empty');
  if (!Number.isInteger(ep.port) || ep.port < 1 || ep.port > 65535) problems.push(`port ${ep.port} is not 1..65535`);
  if (!ep.username) problems.push('username is empty');
  if (!ep.privateKey && ep.password === undefined) problems.push('neither privateKey nor password given');
  if (!Number.isFinite(ep.timeoutMs) || ep.timeoutMs <= 0) problems.push('timeoutMs must be > 0');
  if (!ep.tempSuffix || ep.tempSuffix.includes('/')) problems.push('tempSuffix must be non-empty without "/"');
  const allowed: string[] = [];
  if (!Array.isArray(ep.hostKeySha256) || ep.hostKeySha256.length === 0) {
    problems.push('hostKeySha256 must list at least one fingerprint');
  } else {
    for (const fp of ep.hostKeySha256) {
      const n = typeof fp === 'string' ? normalizeFingerprint(fp) : null;
      if (n) allowed.push(n);
      else problems.push(`hostKeySha256 entry ${JSON.stringify(fp)} is not a SHA256:... fingerprint`);
    }
  }
  if (problems.length) {
    const who = ep.label ?? `${ep.username}@${ep.host}:${ep.port}`;
    throw new SftpError(`sftp ${who}: invalid endpoint: ${problems.join('; ')}`, 'ERR_CONFIG');
  }
  return allowed;
}

/** Replaces the endpoint's secrets (password, passphrase, key and its lines) in a message by "[redacted]". */
export function redactor(ep: SftpEndpoint): (msg: string) => string {
  const secrets = secretsOf(ep);
  return (msg) => {
    let out = msg;
    for (const s of secrets) if (out.includes(s)) out = out.split(s).join('[redacted]');
    return out;
  };
}

/** The texts an error message must never show (longest first, so a part never hides the whole). */
function secretsOf(ep: SftpEndpoint): string[] {
  const out: string[] = [];
  const add = (s: string | undefined): void => {
    if (s && s.length >= 4) out.push(s);
  };
  add(ep.password);
  add(ep.passphrase);
  if (ep.privateKey) {
    const text = ep.privateKey.toString('utf8');
    add(text.trim());
    for (const line of text.split(/\r?\n/)) if (line.trim().length >= 16) add(line.trim());
  }
  return out.sort((a, b) => b.length - a.length);
}
