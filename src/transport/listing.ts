/**
 * The chunked folder listing acks use (raw READDIR, product.md 6): at most `max` entries are kept,
 * so a folder holding a million names never sits in memory at once. Kept apart from session.ts,
 * which owns the connection; this module only walks one directory handle.
 */
import type { SFTPWrapper } from 'ssh2';
import type { RemoteEntry, RemoteEntryType } from './session.js';

export function listType(t: string): RemoteEntryType {
  return t === '-' ? 'file' : t === 'd' ? 'dir' : 'other';
}

/** At most `max` entries of `dir`, in the server's order, no `.` and `..`; `more`: there were more. */
export function readdirCapped(sftp: SFTPWrapper, dir: string, max: number, touch: () => void): Promise<{ entries: RemoteEntry[]; more: boolean }> {
  return new Promise((resolve, reject) => {
    sftp.opendir(dir, (err, handle) => {
      if (err) return reject(err);
      const entries: RemoteEntry[] = [];
      const finish = (fail: unknown, more: boolean): void => sftp.close(handle, () => (fail ? reject(fail) : resolve({ entries, more })));
      const next = (): void =>
        sftp.readdir(handle, (e, list) => {
          touch();
          // ssh2 ends a listing with a status error of code 1 (SSH_FX_EOF); an empty chunk ends it too
          if (e) return (e as { code?: unknown }).code === 1 ? finish(null, false) : finish(e, false);
          if (!list || list.length === 0) return finish(null, false);
          for (const it of list) {
            if (it.filename === '.' || it.filename === '..') continue;
            if (entries.length >= max) return finish(null, true);
            // as ssh2-sftp-client's list(): the type from the long name, the time in ms
            entries.push({ name: it.filename, size: it.attrs.size, modifyTime: it.attrs.mtime * 1000, type: listType(it.longname.slice(0, 1)) });
          }
          next();
        });
      next();
    });
  });
}
