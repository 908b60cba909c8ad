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
});
