// Writes that survive a power loss: the data is fsynced before the caller records it in the
// ledger, and a folder is fsynced after an entry is created in it (otherwise the name itself
// can be lost although the file's blocks were written).
import fs from 'node:fs';

/** The mode of every file tlbridge keeps (product.md 3, 6). */
export const FILE_MODE = 0o640;
export const DIR_MODE = 0o750;

export interface DurableWriteOptions {
  /** 'wx' (default): never replaces an existing file; 'w': replaces it */
  flag?: 'w' | 'wx';
  mode?: number;
}

export function writeFileDurable(file: string, data: Buffer | string, opts: DurableWriteOptions = {}): void {
  const mode = opts.mode ?? FILE_MODE;
  const fd = fs.openSync(file, opts.flag ?? 'wx', mode);
  try {
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fs.fsyncSync(fd);
    // the umask may narrow the mode, and a replaced file keeps its old one
    fs.fchmodSync(fd, mode);
  } finally {
    fs.closeSync(fd);
  }
}

/** fsync of a file or folder by path (a folder: after entries were created or renamed in it). */
export function fsyncPath(p: string): void {
  const fd = fs.openSync(p, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
