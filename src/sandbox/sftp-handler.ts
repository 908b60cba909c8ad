// The server side of one SFTP session of the sandbox, on ssh2's server-mode SFTP object
// (lib/protocol/SFTP.js). Only what a client needs for this exchange is served: REALPATH,
// STAT/LSTAT/FSTAT, MKDIR, OPEN (read; write/create/truncate/append/exclusive), READ, WRITE,
// CLOSE, OPENDIR/READDIR, REMOVE, RENAME (plain: replaces an existing file, product.md 7),
// SETSTAT/FSETSTAT (accepted, nothing changes). Everything else (RMDIR, READLINK, SYMLINK,
// EXTENDED, ...) has no listener, so ssh2 answers OP_UNSUPPORTED; the VERSION reply carries no
// extensions, so a client sees no posix-rename@openssh.com. Every path goes through the Jail.
//
// A file "arrives" when a rename puts it at a final name under /inbox (a name ending in .xml,
// not a dotfile: `<name>.xml.part` is a temp name), or when a handle opened for writing on such a
// name is closed (a plain `sftp put` without a temp name). `onArrival` is then called once.
import fs from 'node:fs';
import path from 'node:path';
import ssh2 from 'ssh2';
import type { Attributes, FileEntry, SFTPWrapper } from 'ssh2';
import type { Logger } from '../log.js';
import { Jail, JailError, VISIBLE_TOP, type Resolved } from './jail.js';

const { OPEN_MODE, STATUS_CODE } = ssh2.utils.sftp;

const MAX_READ = 256 * 1024;
const READDIR_BATCH = 64;

interface FileHandle {
  kind: 'file';
  fd: number;
  res: Resolved;
  writable: boolean;
}
interface DirHandle {
  kind: 'dir';
  res: Resolved;
  /** entries not sent yet; undefined before the first READDIR */
  names?: string[];
}
type Handle = FileHandle | DirHandle;

export interface SessionHooks {
  jail: Jail;
  logger: Logger;
  /** a file arrived at a final name under /inbox */
  onArrival(res: Resolved): void;
  /** files and folders open at once; an OPEN or OPENDIR past it fails */
  maxHandles: number;
  /** a WRITE past this offset fails */
  maxUploadBytes: number;
}

/** True for /inbox/.../<name>.xml that is not a dotfile. */
export function isArrivalPath(res: Resolved): boolean {
  const name = res.segments[res.segments.length - 1] ?? '';
  return res.segments[0] === 'inbox' && res.segments.length >= 2 && /\.xml$/i.test(name) && !name.startsWith('.');
}

export function serveSftp(sftp: SFTPWrapper, hooks: SessionHooks): void {
  const { jail, logger } = hooks;
  const handles = new Map<number, Handle>();
  let nextId = 1;

  const fail = (reqId: number, e: unknown, what: string): void => {
    const { code, message } = statusOf(e);
    if (code === STATUS_CODE.FAILURE) logger.debug(`sandbox sftp: ${what} failed`, { error: message });
    sftp.status(reqId, code, message);
  };
  const newHandle = (h: Handle): Buffer => {
    const id = nextId++;
    handles.set(id, h);
    const b = Buffer.alloc(4);
    b.writeUInt32BE(id, 0);
    return b;
  };
  const lookup = (b: Buffer): [number, Handle] | null => {
    if (b.length !== 4) return null;
    const id = b.readUInt32BE(0);
    const h = handles.get(id);
    return h ? [id, h] : null;
  };
  const badHandle = (reqId: number) => sftp.status(reqId, STATUS_CODE.FAILURE, 'invalid handle');
  // checked before anything is opened, so a refused OPEN leaves no descriptor behind
  const tooManyHandles = (reqId: number, p: string): boolean => {
    if (handles.size < hooks.maxHandles) return false;
    logger.warn(`sandbox sftp: open of ${p} refused: ${hooks.maxHandles} handles already open in this session (the handle limit)`, { path: p });
    sftp.status(reqId, STATUS_CODE.FAILURE, `too many open handles (limit ${hooks.maxHandles} per session)`);
    return true;
  };

  sftp.on('REALPATH', (reqId, p) => {
    try {
      const segments = jail.normalize(p);
      const virt = '/' + segments.join('/');
      sftp.name(reqId, [{ filename: virt, longname: virt, attrs: {} as Attributes }]);
    } catch (e) {
      fail(reqId, e, 'realpath');
    }
  });

  const statBy = (follow: boolean) => (reqId: number, p: string) => {
    try {
      const r = jail.readable(p);
      sftp.attrs(reqId, toAttrs(follow ? fs.statSync(r.local) : fs.lstatSync(r.local)));
    } catch (e) {
      fail(reqId, e, 'stat');
    }
  };
  sftp.on('STAT', statBy(true));
  sftp.on('LSTAT', statBy(false));

  sftp.on('FSTAT', (reqId, hb) => {
    const found = lookup(hb);
    if (!found) return badHandle(reqId);
    const h = found[1];
    try {
      sftp.attrs(reqId, toAttrs(h.kind === 'file' ? fs.fstatSync(h.fd) : fs.statSync(h.res.local)));
    } catch (e) {
      fail(reqId, e, 'fstat');
    }
  });

  sftp.on('SETSTAT', (reqId, p) => {
    try {
      fs.statSync(jail.readable(p).local); // exists and is in the jail; attributes are not changed
      sftp.status(reqId, STATUS_CODE.OK);
    } catch (e) {
      fail(reqId, e, 'setstat');
    }
  });
  sftp.on('FSETSTAT', (reqId, hb) => {
    if (!lookup(hb)) return badHandle(reqId);
    sftp.status(reqId, STATUS_CODE.OK);
  });

  sftp.on('MKDIR', (reqId, p) => {
    try {
      const r = jail.writable(p);
      fs.mkdirSync(r.local, { mode: 0o750 });
      sftp.status(reqId, STATUS_CODE.OK);
    } catch (e) {
      fail(reqId, e, 'mkdir');
    }
  });

  sftp.on('OPEN', (reqId, p, flags) => {
    if (tooManyHandles(reqId, p)) return;
    try {
      const wantsWrite = (flags & (OPEN_MODE.WRITE | OPEN_MODE.APPEND | OPEN_MODE.CREAT | OPEN_MODE.TRUNC)) !== 0;
      const r = wantsWrite ? jail.writable(p) : jail.readable(p);
      const c = fs.constants;
      let f = c.O_NOFOLLOW;
      if (wantsWrite) f |= flags & OPEN_MODE.READ ? c.O_RDWR : c.O_WRONLY;
      else f |= c.O_RDONLY;
      if (flags & OPEN_MODE.CREAT) f |= c.O_CREAT;
      if (flags & OPEN_MODE.TRUNC) f |= c.O_TRUNC;
      if (flags & OPEN_MODE.EXCL) f |= c.O_EXCL;
      if (flags & OPEN_MODE.APPEND) f |= c.O_APPEND;
      const fd = fs.openSync(r.local, f, 0o640);
      if (!fs.fstatSync(fd).isFile()) {
        fs.closeSync(fd);
        throw Object.assign(new Error(`${r.virt} is not a regular file`), { code: 'EISDIR' });
      }
      sftp.handle(reqId, newHandle({ kind: 'file', fd, res: r, writable: wantsWrite }));
    } catch (e) {
      fail(reqId, e, 'open');
    }
  });

  sftp.on('READ', (reqId, hb, offset, len) => {
    const found = lookup(hb);
    if (!found || found[1].kind !== 'file') return badHandle(reqId);
    try {
      const buf = Buffer.alloc(Math.min(len, MAX_READ));
      const n = fs.readSync(found[1].fd, buf, 0, buf.length, Number(offset));
      if (n === 0) sftp.status(reqId, STATUS_CODE.EOF);
      else sftp.data(reqId, buf.subarray(0, n));
    } catch (e) {
      fail(reqId, e, 'read');
    }
  });

  sftp.on('WRITE', (reqId, hb, offset, data) => {
    const found = lookup(hb);
    if (!found || found[1].kind !== 'file') return badHandle(reqId);
    const h = found[1];
    if (!h.writable) return sftp.status(reqId, STATUS_CODE.PERMISSION_DENIED, 'handle not open for writing');
    if (Number(offset) + data.length > hooks.maxUploadBytes) {
      logger.warn(`sandbox sftp: write to ${h.res.virt} refused: past the upload limit of ${hooks.maxUploadBytes} bytes`, { path: h.res.virt });
      return sftp.status(reqId, STATUS_CODE.FAILURE, `files over ${hooks.maxUploadBytes} bytes are refused`);
    }
    try {
      let done = 0;
      while (done < data.length) done += fs.writeSync(h.fd, data, done, data.length - done, Number(offset) + done);
      sftp.status(reqId, STATUS_CODE.OK);
    } catch (e) {
      fail(reqId, e, 'write');
    }
  });

  sftp.on('OPENDIR', (reqId, p) => {
    if (tooManyHandles(reqId, p)) return;
    try {
      const r = jail.readable(p);
      if (!fs.statSync(r.local).isDirectory()) throw Object.assign(new Error(`${r.virt} is not a directory`), { code: 'ENOTDIR' });
      sftp.handle(reqId, newHandle({ kind: 'dir', res: r }));
    } catch (e) {
      fail(reqId, e, 'opendir');
    }
  });

  sftp.on('READDIR', (reqId, hb) => {
    const found = lookup(hb);
    if (!found || found[1].kind !== 'dir') return badHandle(reqId);
    const h = found[1];
    try {
      if (!h.names) {
        let names = fs.readdirSync(h.res.local).sort();
        if (h.res.segments.length === 0) names = names.filter((n) => (VISIBLE_TOP as readonly string[]).includes(n));
        h.names = names;
      }
      const batch: FileEntry[] = [];
      while (h.names.length && batch.length < READDIR_BATCH) {
        const n = h.names.shift()!;
        let st: fs.Stats;
        try {
          st = fs.lstatSync(path.join(h.res.local, n));
        } catch {
          continue; // gone meanwhile
        }
        batch.push({ filename: n, longname: longname(n, st), attrs: toAttrs(st) });
      }
      if (batch.length === 0) sftp.status(reqId, STATUS_CODE.EOF);
      else sftp.name(reqId, batch);
    } catch (e) {
      fail(reqId, e, 'readdir');
    }
  });

  sftp.on('CLOSE', (reqId, hb) => {
    const found = lookup(hb);
    if (!found) return badHandle(reqId);
    const [id, h] = found;
    handles.delete(id);
    try {
      if (h.kind === 'file') fs.closeSync(h.fd);
      sftp.status(reqId, STATUS_CODE.OK);
    } catch (e) {
      fail(reqId, e, 'close');
      return;
    }
    if (h.kind === 'file' && h.writable && isArrivalPath(h.res)) hooks.onArrival(h.res);
  });

  sftp.on('REMOVE', (reqId, p) => {
    try {
      const r = jail.writable(p);
      if (fs.lstatSync(r.local).isDirectory()) throw Object.assign(new Error(`${r.virt} is a directory`), { code: 'EISDIR' });
      fs.unlinkSync(r.local);
      sftp.status(reqId, STATUS_CODE.OK);
    } catch (e) {
      fail(reqId, e, 'remove');
    }
  });

  sftp.on('RENAME', (reqId, from, to) => {
    let target: Resolved;
    try {
      const src = jail.writable(from);
      target = jail.writable(to);
      const st = fs.lstatSync(src.local);
      const existing = statOrNull(target.local);
      if (existing?.isDirectory()) throw Object.assign(new Error(`${target.virt} is a directory`), { code: 'EISDIR' });
      if (st.isDirectory() && existing) throw Object.assign(new Error(`${target.virt} exists`), { code: 'EEXIST' });
      fs.renameSync(src.local, target.local); // a plain rename replaces an existing file (product.md 7)
      sftp.status(reqId, STATUS_CODE.OK);
    } catch (e) {
      fail(reqId, e, 'rename');
      return;
    }
    if (isArrivalPath(target)) hooks.onArrival(target);
  });

  const cleanup = (): void => {
    for (const h of handles.values()) {
      if (h.kind === 'file') {
        try {
          fs.closeSync(h.fd);
        } catch {
          /* already closed */
        }
      }
    }
    handles.clear();
  };
  sftp.on('close', cleanup);
  // The client sent EOF (OpenSSH's sftp when it quits): close the channel, or its ssh would
  // wait for us for ever.
  sftp.on('end', () => {
    cleanup();
    sftp.end();
  });
}

function statOrNull(p: string): fs.Stats | null {
  try {
    return fs.lstatSync(p);
  } catch {
    return null;
  }
}

function toAttrs(st: fs.Stats): Attributes {
  return {
    mode: st.mode,
    uid: st.uid,
    gid: st.gid,
    size: st.size,
    atime: Math.floor(st.atimeMs / 1000),
    mtime: Math.floor(st.mtimeMs / 1000),
  };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `ls -l` style, as OpenSSH sends it (ssh2-sftp-client's list() reads the type from its first character). */
function longname(name: string, st: fs.Stats): string {
  const type = st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : st.isFile() ? '-' : '?';
  const bits = 'rwxrwxrwx';
  let perms = '';
  for (let i = 0; i < 9; i++) perms += st.mode & (1 << (8 - i)) ? bits[i] : '-';
  const d = st.mtime;
  const when = `${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}`;
  return `${type}${perms}    1 sandbox  sandbox  ${String(st.size).padStart(8, ' ')} ${when} ${name}`;
}

function statusOf(e: unknown): { code: number; message: string } {
  if (e instanceof JailError) return { code: STATUS_CODE.PERMISSION_DENIED, message: e.message };
  const code = (e as NodeJS.ErrnoException | null)?.code;
  switch (code) {
    case 'ENOENT':
      return { code: STATUS_CODE.NO_SUCH_FILE, message: 'No such file' };
    case 'EACCES':
    case 'EPERM':
      return { code: STATUS_CODE.PERMISSION_DENIED, message: 'Permission denied' };
    case 'ELOOP':
      return { code: STATUS_CODE.PERMISSION_DENIED, message: 'symbolic links are not followed' };
    case 'EEXIST':
      return { code: STATUS_CODE.FAILURE, message: 'File exists' };
    case 'EISDIR':
    case 'ENOTDIR':
    case 'ENOTEMPTY':
      return { code: STATUS_CODE.FAILURE, message: (e as Error).message };
    default:
      return { code: STATUS_CODE.FAILURE, message: 'Failure' };
  }
}
