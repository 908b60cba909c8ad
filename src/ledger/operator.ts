// Commands that change state on an operator's word (resend, reprocess, hold, release, cancel,
// confirm, dismiss, pause, resume) record who, when and why in the ledger AND in the archive
// chain, in the same transaction as the change itself (product.md 4). "Who" is the OS user
// and the person behind it: the login user of the session (/proc/self/loginuid survives su
// and sudo) and SUDO_USER when set.
import fs from 'node:fs';
import os from 'node:os';
import type { Archive } from '../archive/archive.js';
import { nowIso } from './db.js';
import type { Ledger } from './ledger.js';

export interface OperatorAction {
  id: number;
  at: string;
  osUser: string;
  /** the login user behind the OS user (loginuid), null when unknown (no audit session) */
  loginUser: string | null;
  /** SUDO_USER, when the command ran under sudo */
  sudoUser: string | null;
  dir: string;
}

/** loginuid 4294967295 means "not set" (a daemon, a container without audit). */
const UNSET_LOGINUID = '4294967295';

/** The login user of this process: /proc/self/loginuid mapped to a name through /etc/passwd
 * when it is there, else the bare uid; null when the kernel has none. */
export function loginUser(): string | null {
  let uid: string;
  try {
    uid = fs.readFileSync('/proc/self/loginuid', 'utf8').trim();
  } catch {
    return null;
  }
  if (!/^\d+$/.test(uid) || uid === UNSET_LOGINUID) return null;
  return userName(uid) ?? uid;
}

function userName(uid: string): string | null {
  if (String(process.getuid?.()) === uid) {
    try {
      return os.userInfo().username;
    } catch {
      /* fall through to passwd */
    }
  }
  try {
    // bounded: a passwd file is small, and only the first 1 MiB is looked at
    const passwd = fs.readFileSync('/etc/passwd', 'utf8').slice(0, 1 << 20);
    for (const line of passwd.split('\n')) {
      const f = line.split(':');
      if (f.length >= 3 && f[2] === uid && f[0]) return f[0];
    }
  } catch {
    /* no passwd to read */
  }
  return null;
}

export function sudoUser(): string | null {
  const v = process.env.SUDO_USER?.trim();
  return v ? v : null;
}

/** "alice (login bob, sudo from bob)": how an action's people are shown wherever it is shown. */
export function operatorText(a: { osUser: string; loginUser: string | null; sudoUser: string | null }): string {
  const more = [a.loginUser && a.loginUser !== a.osUser ? `login ${a.loginUser}` : null, a.sudoUser ? `sudo from ${a.sudoUser}` : null].filter(Boolean);
  return more.length ? `${a.osUser} (${more.join(', ')})` : a.osUser;
}

/** Keys an operator manifest holds of its own (archive.ts's and this module's): a command's
 * extra fields never take them, or a dismiss's `kind` would turn the manifest's 'operator'
 * into 'message' and the record of who did what would no longer say it was an operator's. */
const OWN_MANIFEST_KEYS = new Set(['kind', 'id', 'createdAt', 'previousManifestSha256', 'files', 'command', 'target', 'reason', 'osUser', 'loginUser', 'sudoUser', 'at']);

/** The extra fields of an operator manifest, refused when one would overwrite the manifest's own. */
export function operatorManifestExtra(extra: Record<string, unknown> | undefined): Record<string, unknown> {
  const clash = Object.keys(extra ?? {}).filter((k) => OWN_MANIFEST_KEYS.has(k));
  if (clash.length) throw new Error(`operator manifest: extra field(s) ${clash.join(', ')} would overwrite the manifest's own`);
  return extra ?? {};
}

export function withOperatorAction<T>(
  ledger: Ledger,
  archive: Archive,
  action: { command: string; target: string; reason: string; extra?: Record<string, unknown> },
  change: (a: Omit<OperatorAction, 'dir'>) => T,
): { action: OperatorAction; result: T } {
  const db = ledger.db;
  return db
    .transaction(() => {
      const extra = operatorManifestExtra(action.extra);
      const who = { osUser: osUser(), loginUser: loginUser(), sudoUser: sudoUser() };
      const at = nowIso();
      const id = Number(
        db
          .prepare('INSERT INTO operator_actions (at, os_user, login_user, sudo_user, command, target, reason) VALUES (?, ?, ?, ?, ?, ?, ?)')
          .run(at, who.osUser, who.loginUser, who.sudoUser, action.command, action.target, action.reason).lastInsertRowid,
      );
      const a = { id, at, ...who };
      const { dir, result } = archive.add(
        'operator',
        String(a.id),
        [],
        { ...extra, command: action.command, target: action.target, reason: action.reason, ...who, at: a.at },
        () => change(a),
      );
      return { action: { ...a, dir }, result };
    })
    .immediate();
}

/** The effective user running the command. */
export function osUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return String(process.getuid?.() ?? 'unknown');
  }
}
