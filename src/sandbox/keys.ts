// Keys of the sandbox (product.md 7): its ed25519 host key, kept under <dir>/hostkey (0600) and
// reused on later starts, so its fingerprint stays the same; the public keys it accepts
// (<dir>/authorized_keys lines, plus keys handed over in-process); and, for the embedded case,
// a client key generated at first start under <dir>/client_key (0600). Keys are never committed:
// they are made on the machine that runs the sandbox.
//
// Formats: ssh2 takes the OpenSSH private key format for ed25519 (its PEM/PKCS#8 parser does not
// cover ed25519), so keys are made with ssh2's own utils.generateKeyPairSync, which writes
// "-----BEGIN OPENSSH PRIVATE KEY-----" and an OpenSSH public key line.
import fs from 'node:fs';
import path from 'node:path';
import ssh2 from 'ssh2';
import type { ParsedKey } from 'ssh2';
import { sha256Fingerprint } from '../transport/fingerprint.js';

const { utils } = ssh2;

export const HOST_KEY_FILE = 'hostkey';
export const CLIENT_KEY_FILE = 'client_key';
export const AUTHORIZED_KEYS_FILE = 'authorized_keys';

export interface HostKey {
  /** OpenSSH private key text, as ssh2's Server takes it */
  privateKey: string;
  /** OpenSSH public key line: "ssh-ed25519 AAAA... comment" */
  publicKey: string;
  /** "SHA256:...", as `ssh-keygen -lf` prints it */
  fingerprint: string;
  /** absolute path of the private key file */
  file: string;
}

export interface ClientKey {
  /** OpenSSH private key, for SftpEndpoint.privateKey */
  privateKey: Buffer;
  /** OpenSSH public key line, for startSandbox's authorizedKeys */
  publicKey: string;
  file: string;
}

/** ssh2's parseKey, with its Error-or-array result narrowed to one key (or null). */
export function parseOneKey(data: string | Buffer): ParsedKey | null {
  let k: ParsedKey | ParsedKey[] | Error;
  try {
    k = utils.parseKey(data);
  } catch {
    return null;
  }
  if (k instanceof Error) return null;
  if (Array.isArray(k)) return k[0] ?? null;
  return k;
}

/** Writes `data` to `file` with `mode` through a temp name and a rename (never half a key). */
function writeAtomic(file: string, data: string, mode: number): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  fs.writeFileSync(tmp, data, { mode });
  fs.chmodSync(tmp, mode);
  fs.renameSync(tmp, file);
}

function loadOrCreateKey(file: string, comment: string): { privateKey: string; parsed: ParsedKey } {
  if (fs.existsSync(file)) {
    const text = fs.readFileSync(file, 'utf8');
    const parsed = parseOneKey(text);
    if (!parsed || !parsed.isPrivateKey()) throw new Error(`${file} is not an unencrypted OpenSSH private key; remove it to have a new one made`);
    return { privateKey: text, parsed };
  }
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o750 });
  // ssh2 1.17's generateKeyPairSync('ed25519') now and then (~0.5%, measured) writes a key its
  // own parseKey calls malformed: make another, and keep only one that reads back
  for (let attempt = 0; attempt < 20; attempt++) {
    const pair = utils.generateKeyPairSync('ed25519', { comment });
    const parsed = parseOneKey(pair.private);
    if (!parsed) continue;
    writeAtomic(file, pair.private, 0o600);
    writeAtomic(`${file}.pub`, pair.public.trim() + '\n', 0o644);
    return { privateKey: pair.private, parsed };
  }
  throw new Error(`ssh2 cannot read the keys it generates (${file})`);
}

function publicLine(k: ParsedKey, comment: string): string {
  return `${k.type} ${k.getPublicSSH().toString('base64')} ${comment}`;
}

/** The sandbox's host key: `<dir>/hostkey`, made at first start (0600), reused afterwards. */
export function loadOrCreateHostKey(dir: string): HostKey {
  const file = path.resolve(dir, HOST_KEY_FILE);
  const { privateKey, parsed } = loadOrCreateKey(file, 'tlbridge-sandbox-host');
  return {
    privateKey,
    publicKey: publicLine(parsed, 'tlbridge-sandbox-host'),
    fingerprint: sha256Fingerprint(parsed.getPublicSSH()),
    file,
  };
}

/**
 * The client key of the embedded case: `<dir>/client_key`, made at first start (0600), reused
 * afterwards. Hand `publicKey` to startSandbox (authorizedKeys) and `privateKey` to the client.
 */
export function ensureClientKey(dir: string): ClientKey {
  const file = path.resolve(dir, CLIENT_KEY_FILE);
  const { privateKey, parsed } = loadOrCreateKey(file, 'tlbridge-embedded-client');
  return { privateKey: Buffer.from(privateKey), publicKey: publicLine(parsed, 'tlbridge-embedded-client'), file };
}

/**
 * The public key blobs of OpenSSH authorized_keys text. Blank lines and # comments are skipped;
 * options before the key type (from="...",no-pty ...) are ignored; unreadable lines are returned
 * in `bad` (1-based line numbers).
 */
export function parseAuthorizedKeys(text: string): { keys: Buffer[]; bad: number[] } {
  const keys: Buffer[] = [];
  const bad: number[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const blob = publicKeyBlob(line);
    if (blob) keys.push(blob);
    else bad.push(i + 1);
  });
  return { keys, bad };
}

/**
 * The wire-format public key blob of: an OpenSSH public key line (options allowed in front), a
 * private key (its public half), or a blob itself. Null when it is none of these.
 */
export function publicKeyBlob(key: string | Buffer): Buffer | null {
  const direct = parseOneKey(key);
  if (direct) return direct.getPublicSSH();
  if (typeof key !== 'string' && key.includes(0)) return null; // binary and not a key blob
  // authorized_keys options come first; find the key type and parse from there
  const words = key.toString().trim().split(/\s+/);
  for (let i = 1; i < words.length - 1; i++) {
    if (!/^(ssh-|ecdsa-|sk-)/.test(words[i]!)) continue;
    const k = parseOneKey(words.slice(i).join(' '));
    if (k) return k.getPublicSSH();
  }
  return null;
}
