// The durable writes of the libuv pool (src/util/durable-file.ts), on a real file system: bytes,
// modes whatever the umask, the hash of a copy, and every failure a rejection (never a throw
// out of an fs callback, which would end the daemon).
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { COPY_CHUNK_BYTES, copyFdDurableAsync, fsyncAll, fsyncPathAsync, mkdirAsync, writeFileDurable, writeFileDurableAsync } from '../src/util/durable-file.js';

describe('durable writes in the libuv pool', () => {
  let dir: string;
  let umask: number;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlbridge-durable-'));
    umask = process.umask(0o077); // the unit's UMask
  });
  afterEach(() => {
    process.umask(umask);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const modeOf = (p: string) => fs.statSync(p).mode & 0o777;

  it('writes the bytes 0640 whatever the umask, never over an existing file unless told', async () => {
    const f = path.join(dir, 'a.xml');
    await writeFileDurableAsync(f, 'héllo');
    expect(fs.readFileSync(f, 'utf8')).to.equal('héllo');
    expect(modeOf(f)).to.equal(0o640);
    let err: NodeJS.ErrnoException | undefined;
    await writeFileDurableAsync(f, 'other').catch((e: NodeJS.ErrnoException) => (err = e));
    expect(err?.code).to.equal('EEXIST');
    expect(fs.readFileSync(f, 'utf8')).to.equal('héllo');
    await writeFileDurableAsync(f, Buffer.from(''), { flag: 'w' });
    expect(fs.statSync(f).size).to.equal(0);
  });

  it('written in one synchronous write (O_SYNC), the file is 0640 whatever the umask, also replaced or empty, in the pool and on the thread', async () => {
    const a = path.join(dir, 'a.json');
    const b = path.join(dir, 'b.json');
    writeFileDurable(a, '{"x":1}\n');
    await writeFileDurableAsync(b, Buffer.alloc(0));
    for (const [f, bytes] of [
      [a, 8],
      [b, 0],
    ] as const) {
      expect(fs.statSync(f).size, f).to.equal(bytes);
      expect(modeOf(f), f).to.equal(0o640);
    }
    fs.chmodSync(a, 0o600);
    fs.chmodSync(b, 0o600);
    writeFileDurable(a, '', { flag: 'w' });
    await writeFileDurableAsync(b, 'replaced', { flag: 'w' });
    expect([modeOf(a), fs.readFileSync(a, 'utf8'), modeOf(b), fs.readFileSync(b, 'utf8')]).to.deep.equal([0o640, '', 0o640, 'replaced']);
    expect(() => writeFileDurable(a, 'again')).to.throw(/EEXIST/);
  });

  it('copies a descriptor whole from position 0, several chunks, with its sha256 and size', async () => {
    const src = path.join(dir, 'src.bin');
    const data = Buffer.alloc(COPY_CHUNK_BYTES * 2 + 123);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
    fs.writeFileSync(src, data);
    const fd = fs.openSync(src, 'r');
    try {
      fs.readSync(fd, Buffer.alloc(10), 0, 10, null); // its own position moved: not used
      const to = path.join(dir, 'copy.bin');
      const r = await copyFdDurableAsync(fd, to);
      expect(r).to.deep.equal({ sha256: createHash('sha256').update(data).digest('hex'), bytes: data.length });
      expect(fs.readFileSync(to).equals(data)).to.equal(true);
      expect(modeOf(to)).to.equal(0o640);
    } finally {
      fs.closeSync(fd);
    }
  });

  it('rejects, and throws nothing out of a callback, when the source descriptor is bad or a path is missing', async () => {
    const fd = 2 ** 30; // no such descriptor: fstat in the copy fails inside the open callback
    const errs: string[] = [];
    await copyFdDurableAsync(fd, path.join(dir, 'never.bin')).catch((e: NodeJS.ErrnoException) => errs.push(e.code ?? e.message));
    await fsyncPathAsync(path.join(dir, 'missing')).catch((e: NodeJS.ErrnoException) => errs.push(e.code ?? e.message));
    await writeFileDurableAsync(path.join(dir, 'no', 'such', 'dir.xml'), 'x').catch((e: NodeJS.ErrnoException) => errs.push(e.code ?? e.message));
    await fsyncAll([dir, path.join(dir, 'gone')]).catch((e: NodeJS.ErrnoException) => errs.push(e.code ?? e.message));
    expect(errs).to.deep.equal(['EBADF', 'ENOENT', 'ENOENT', 'ENOENT']);
  });

  it('makes a folder 0750 whatever the umask, and refuses one that exists', async () => {
    const d = path.join(dir, 'f');
    await mkdirAsync(d);
    expect(modeOf(d)).to.equal(0o750);
    let err: NodeJS.ErrnoException | undefined;
    await mkdirAsync(d).catch((e: NodeJS.ErrnoException) => (err = e));
    expect(err?.code).to.equal('EEXIST');
    await fsyncPathAsync(d);
  });
});
