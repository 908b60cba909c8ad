// SHA256 host-key fingerprints in OpenSSH's format, as `ssh-keygen -lf key.pub` prints them:
// "SHA256:" + base64 (no "=" padding) of sha256 over the raw public key blob (the wire format
// blob that SSH sends in KEXDH_REPLY and that ssh2's `hostVerifier` receives).
import { createHash } from 'node:crypto';

const FP_RE = /^SHA256:[A-Za-z0-9+/]{43}$/;

/** Fingerprint of a raw public key blob (what ssh2 hands to `hostVerifier`). */
export function sha256Fingerprint(keyBlob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '');
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
