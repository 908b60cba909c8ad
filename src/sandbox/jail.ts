// The sandbox's root jail: SFTP "/" is the sandbox folder, and no path may lead outside it.
//
// - Paths are resolved lexically against "/" (relative ones too: the session's working folder
//   is "/"); a ".." that would climb above "/" is refused, not clamped.
// - Only the exchange folders are visible: "/inbox/**" and "/outbox/**" (read and write). The
//   sandbox's own files beside them (host key, authorized_keys, client key, state) are not:
//   any other top-level name is refused, and "/" lists only inbox and outbox.
// - No symbolic link is followed: a path with a symlink anywhere under the root is refused
//   (the SFTP server offers no SYMLINK, so only a local user could have made one), and files
//   are opened with O_NOFOLLOW.
import fs from 'node:fs';
import path from 'node:path';

export const VISIBLE_TOP = ['inbox', 'outbox'] as const;

export class JailError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JailError';
  }
}

export interface Resolved {
  /** normalized server path, "/" + segments */
  virt: string;
  segments: string[];
  /** absolute local path */
  local: string;
}

export class Jail {
  /** the real (symlink-free) path of the sandbox folder */
  readonly root: string;

  constructor(dir: string) {
    this.root = fs.realpathSync(dir);
  }

  /** Normalizes a client path; throws JailError when it leaves "/" or holds a NUL. */
  normalize(p: string): string[] {
    if (p.includes('\0')) throw new JailError('path contains a NUL byte');
    const out: string[] = [];
    for (const seg of p.split('/')) {
      if (seg === '' || seg === '.') continue;
      if (seg === '..') {
        if (out.length === 0) throw new JailError(`path ${JSON.stringify(p)} leads outside the sandbox root`);
        out.pop();
        continue;
      }
      out.push(seg);
    }
    return out;
  }

  /**
   * A path the client may read (stat, open for reading, list): "/", or under a visible
   * top-level folder, with no symlink on the way.
   */
  readable(p: string): Resolved {
    const segments = this.normalize(p);
    if (segments.length > 0 && !(VISIBLE_TOP as readonly string[]).includes(segments[0]!)) {
      throw new JailError(`access to ${JSON.stringify('/' + segments.join('/'))} is not permitted (only /inbox and /outbox)`);
    }
    const local = path.join(this.root, ...segments);
    this.noSymlinks(segments);
    return { virt: '/' + segments.join('/'), segments, local };
  }

  /** A path the client may create, change or remove: strictly inside /inbox or /outbox. */
  writable(p: string): Resolved {
    const r = this.readable(p);
    if (r.segments.length < 2) throw new JailError(`${r.virt} cannot be changed`);
    return r;
  }

  private noSymlinks(segments: string[]): void {
    let cur = this.root;
    for (const seg of segments) {
      cur = path.join(cur, seg);
      let st: fs.Stats;
      try {
        st = fs.lstatSync(cur);
      } catch {
        return; // the rest does not exist (yet): nothing to follow
      }
      if (st.isSymbolicLink()) throw new JailError('symbolic links are not followed');
    }
  }
}
