import { expect } from 'chai';
import { StringIndex } from '../src/util/string-index.js';

describe('StringIndex', () => {
  it('stores exact strings through many growths and reports the first value of a repeat', () => {
    const idx = new StringIndex();
    for (let i = 0; i < 50000; i++) expect(idx.setIfAbsent(`REF-${i}`, i + 1)).to.equal(undefined);
    expect(idx.size).to.equal(50000);
    expect(idx.setIfAbsent('REF-123', 9)).to.equal(124);
    expect(idx.get('REF-49999')).to.equal(50000);
    expect(idx.get('REF-50000')).to.equal(undefined);
    // same length, same bytes but one: never confused
    expect(idx.get('REF-1234x')).to.equal(undefined);
    expect(idx.setIfAbsent('Müller\u0000WO', 7)).to.equal(undefined);
    expect(idx.get('Müller\u0000WO')).to.equal(7);
    expect(idx.get('Muller\u0000WO')).to.equal(undefined);
  });

  it('keeps keys exact across its 1 MiB pages, a key longer than a page included', () => {
    const idx = new StringIndex();
    // ~40 bytes each: the entries fill several pages, ending close to page boundaries
    const n = 120_000;
    for (let i = 0; i < n; i++) expect(idx.setIfAbsent(`${'x'.repeat(i % 29)}PAGE-${i}`, i + 1)).to.equal(undefined);
    const huge = 'H'.repeat((1 << 20) + 10);
    expect(idx.setIfAbsent(huge, 42)).to.equal(undefined);
    expect(idx.setIfAbsent('after-the-huge-one', 43)).to.equal(undefined);
    for (let i = 0; i < n; i += 997) expect(idx.get(`${'x'.repeat(i % 29)}PAGE-${i}`)).to.equal(i + 1);
    expect(idx.get(`${'x'.repeat(n % 29)}PAGE-${n}`)).to.equal(undefined);
    expect(idx.get(huge)).to.equal(42);
    expect(idx.get(huge.slice(1) + 'h')).to.equal(undefined);
    expect(idx.get('after-the-huge-one')).to.equal(43);
    expect(idx.size).to.equal(n + 2);
  });

  it('keeps the entries of its small first page when it grows it, whatever the first key', () => {
    for (const first of ['a', 'K'.repeat(5000), 'L'.repeat((1 << 20) - 4)]) {
      const idx = new StringIndex();
      expect(idx.setIfAbsent(first, 1)).to.equal(undefined);
      for (let i = 0; i < 3000; i++) expect(idx.setIfAbsent(`SMALL-${i}`, i + 2)).to.equal(undefined);
      expect(idx.get(first)).to.equal(1);
      for (let i = 0; i < 3000; i++) expect(idx.get(`SMALL-${i}`)).to.equal(i + 2);
    }
  });

  it('never confuses digit-only keys of other lengths, leading zeros or a stray character', () => {
    const idx = new StringIndex();
    const keys = ['0', '00', '000', '1', '01', '10', '4900000000', '490000000', '49000000000', '4900000000 ', '490000000O', '٤٩', '7'.repeat(126), '7'.repeat(127), '7'.repeat(128), '7'.repeat(300), 'x'.repeat(126), 'x'.repeat(127), 'x'.repeat(128), ''];
    keys.forEach((k, i) => expect(idx.setIfAbsent(k, i + 1), k).to.equal(undefined));
    keys.forEach((k, i) => expect(idx.get(k), k).to.equal(i + 1));
    expect(idx.get('0000')).to.equal(undefined);
    expect(idx.get('4900000001')).to.equal(undefined);
    expect(idx.get('7'.repeat(125))).to.equal(undefined);
    expect(idx.setIfAbsent('4900000000', 99)).to.equal(7);
    // a million 10-digit references (the bench's shape) through growths and pages
    const big = new StringIndex();
    let repeats = 0;
    for (let i = 0; i < 1_000_000; i++) if (big.setIfAbsent(String(4900000000 + i * 7), i + 1) !== undefined) repeats++;
    expect(repeats).to.equal(0);
    for (let i = 0; i < 1_000_000; i += 9973) expect(big.setIfAbsent(String(4900000000 + i * 7), 0)).to.equal(i + 1);
    expect(big.get(String(4900000000 + 3))).to.equal(undefined);
    expect(big.size).to.equal(1_000_000);
  });
});
