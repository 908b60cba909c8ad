// An exact set of strings with a number attached, for the in-file duplicate check of a
// conversion: a 250 MB input holds over a million references, and a JS Map of them costs
// ~100 bytes each; this keeps the UTF-8 bytes in one growing buffer and the slots in typed
// arrays, ~30 bytes per entry, with exact comparison (no false duplicates).
// The bytes live in fixed 1 MiB pages that are never copied: one growing buffer held the old and
// the new copy at once at every growth, ~2x the keys' size at the peak of a big conversion.
const PAGE_BITS = 20;
const PAGE = 1 << PAGE_BITS;
/** the first page starts this small and doubles up to PAGE: most files hold a few keys, and a
 * fresh 1 MiB for each of a thousand one-document files was a good part of intake's GC time */
const FIRST_PAGE = 1 << 12;
/** the slots hold an address + 1 in a Uint32 */
const MAX_ADDRESS = 2 ** 32 - 2;

export class StringIndex {
  private slots = new Uint32Array(1 << 8); // address + 1 of the entry, 0 = empty
  private values = new Uint32Array(1 << 8);
  /** page p covers addresses p*PAGE ..; a key longer than a page gets pages of its own (the
   * indexes it spans beyond the first stay empty) */
  private pages: Buffer[] = [];
  /** the next free address */
  private used = 0;
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** The value stored for `key`, or undefined. */
  get(key: string): number | undefined {
    const k = Buffer.from(key, 'utf8');
    const i = this.find(k, hash(k));
    return this.slots[i] ? this.values[i] : undefined;
  }

  /** Stores `key` with `value` unless present; returns the value already stored, if any. */
  setIfAbsent(key: string, value: number): number | undefined {
    const k = Buffer.from(key, 'utf8');
    let i = this.find(k, hash(k));
    if (this.slots[i]) return this.values[i];
    // load factor up to 3/4: linear probing stays cheap there, and a million-entry file keeps
    // a table half the size (peak RSS of a 250 MB conversion)
    if ((this.count + 1) * 4 > this.slots.length * 3) {
      this.grow();
      i = this.find(k, hash(k));
    }
    this.slots[i] = this.append(k) + 1;
    this.values[i] = value;
    this.count++;
    return undefined;
  }

  private append(k: Buffer): number {
    const size = 4 + k.length;
    let at = this.used;
    let off = at & (PAGE - 1);
    if (off === 0 || off + size > PAGE || this.pages[Math.floor(at / PAGE)] === undefined) {
      // a fresh page: an entry never spans two (but for a key longer than a page, whose pages
      // are its own: the address after it lies in one never allocated)
      const p = Math.ceil(at / PAGE);
      at = p * PAGE;
      off = 0;
      const span = Math.ceil(size / PAGE);
      if (at + span * PAGE > MAX_ADDRESS) throw new Error('StringIndex: more than 4 GiB of keys');
      this.pages[p] = Buffer.allocUnsafe(span > 1 ? span * PAGE : p === 0 ? Math.max(FIRST_PAGE, size) : PAGE);
    }
    const p = Math.floor(at / PAGE);
    let page = this.pages[p]!;
    if (off + size > page.length) {
      // the first page, still small: doubled (off + size <= PAGE here), its entries copied once
      let n = page.length * 2;
      while (n < off + size) n *= 2;
      const bigger = Buffer.allocUnsafe(Math.min(n, PAGE));
      page.copy(bigger, 0, 0, off);
      this.pages[p] = page = bigger;
    }
    page.writeUInt32LE(k.length, off);
    k.copy(page, off + 4);
    this.used = at + size;
    return at;
  }

  /** the key stored at `at`, as a view into its page */
  private keyAt(at: number): Buffer {
    const page = this.pages[Math.floor(at / PAGE)]!;
    const off = at & (PAGE - 1);
    const len = page.readUInt32LE(off);
    return page.subarray(off + 4, off + 4 + len);
  }

  private find(k: Buffer, h: number): number {
    const mask = this.slots.length - 1;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const s = this.slots[i]!;
      if (s === 0) return i;
      if (this.keyAt(s - 1).equals(k)) return i;
    }
  }

  private grow(): void {
    const old = this.slots;
    const oldValues = this.values;
    this.slots = new Uint32Array(old.length * 2);
    this.values = new Uint32Array(old.length * 2);
    const mask = this.slots.length - 1;
    for (let j = 0; j < old.length; j++) {
      const s = old[j]!;
      if (!s) continue;
      let i = hash(this.keyAt(s - 1)) & mask;
      while (this.slots[i]) i = (i + 1) & mask;
      this.slots[i] = s;
      this.values[i] = oldValues[j]!;
    }
  }
}

/** FNV-1a, 32 bits: spreads short ids well; collisions only cost a comparison. */
function hash(b: Buffer): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  return h >>> 0;
}
