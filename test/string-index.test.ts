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
});
