// SHA256 host-key fingerprints in OpenSSH's format, as `ssh-keygen -lf key.pub` prints them:
// "SHA256:" + base64 (no "=" padding) of sha256 over the raw public key blob (the wire format
// blob that SSH sends in KEXDH_REPLY and that ssh2's `hostVerifier` receives).
import { createHash } from 'node:crypto';

const FP_RE = /^SHA256:[A-Za-z0-9+/]{43}$/;

/** Fingerprint of a raw public key blob (what ssh2 hands to `hostVerifier`). */
export function sha256Fingerprint(keyBlob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '');
}

/** Fingerprint of an OpenSSH public key line: `ssh-ed25519 AAAA... comment`. */
export function fingerprintOfPublicKeyLine(line: string): string {
  const parts = line.trim().split(/\s+/);
  // Options may precede the key type in authorized_keys lines; find the first base64 blob
  // that decodes to a blob starting with a length-prefixed key type.
  for (const part of parts) {
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(part) || part.length < 20) continue;
    const blob = Buffer.from(part, 'base64');
    if (blob.length < 4) continue;
    const typeLen = blob.readUInt32BE(0);
    if (typeLen > 0 && typeLen < 64 && 4 + typeLen <= blob.length) {
      const type = blob.subarray(4, 4 + typeLen).toString('latin1');
      if (/^[a-z0-9@.-]+$/i.test(type)) return sha256Fingerprint(blob);
    }
  }
  throw new Error('not an OpenSSH public key line');
}

/**
 * Canonical form of a configured fingerprint: trims, accepts a lower-case "sha256:" prefix and
 * trailing "=" padding. Returns null when it is not a SHA256 fingerprint at all.
 */
export function normalizeFingerprint(fp: string): string | null {
  let s = fp.trim();
  if (/^sha256:/i.test(s)) s = 'SHA256:' + s.slice(7);
  s = s.replace(/=+$/, '');
  return FP_RE.test(s) ? s : null;
}
