// An exact set of strings with a number attached, for the in-file duplicate check of a
// conversion: a 250 MB input holds over a million references, and a JS Map of them costs
// ~100 bytes each; this keeps each key's bytes in pages and the slots in typed arrays, with
// exact comparison (no false duplicates).
// The bytes live in fixed 1 MiB pages that are never copied: one growing buffer held the old and
// the new copy at once at every growth, ~2x the keys' size at the peak of a big conversion.
// A key is stored in a canonical, self-delimiting encoding (the same key always gives the same
// bytes, two keys never do), so keys compare as bytes: a key of 1..127 ASCII digits (an ERP
// document number, the usual reference) as one byte 0x80 | length and two digits a byte; any
// other key as its UTF-8 after one byte of length (0..126), or 0x7F and a 4-byte length. A
// 10-digit reference takes 6 bytes instead of 14 (1.5 million of them: 12 MB less peak RSS).
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
    const k = encode(key);
    const i = this.find(k, hash(k));
    return this.slots[i] ? this.values[i] : undefined;
  }

  /** Stores `key` with `value` unless present; returns the value already stored, if any. */
  setIfAbsent(key: string, value: number): number | undefined {
    const k = encode(key);
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
    const size = k.length;
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
    k.copy(page, off);
    this.used = at + size;
    return at;
  }

  /** the encoded key stored at `at`, as a view into its page */
  private keyAt(at: number): Buffer {
    const page = this.pages[Math.floor(at / PAGE)]!;
    const off = at & (PAGE - 1);
    return page.subarray(off, off + encodedSize(page, off));
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

const DIGITS = 0x80;
const LONG = 0x7f;
const MAX_DIGITS = 127;

/** `key` in the stored encoding (see the top of this file) */
function encode(key: string): Buffer {
  const n = key.length;
  let digits = n > 0 && n <= MAX_DIGITS;
  for (let i = 0; digits && i < n; i++) {
    const c = key.charCodeAt(i);
    digits = c >= 48 && c <= 57;
  }
  if (digits) {
    const b = Buffer.allocUnsafe(1 + ((n + 1) >> 1));
    b[0] = DIGITS | n;
    for (let i = 0, j = 1; i < n; i += 2, j++) b[j] = ((key.charCodeAt(i) - 48) << 4) | (i + 1 < n ? key.charCodeAt(i + 1) - 48 : 0);
    return b;
  }
  const len = Buffer.byteLength(key, 'utf8');
  if (len < LONG) {
    const b = Buffer.allocUnsafe(1 + len);
    b[0] = len;
    b.write(key, 1, 'utf8');
    return b;
  }
  const b = Buffer.allocUnsafe(5 + len);
  b[0] = LONG;
  b.writeUInt32LE(len, 1);
  b.write(key, 5, 'utf8');
  return b;
}

/** the size of the encoded key at `off` */
function encodedSize(page: Buffer, off: number): number {
  const h = page[off]!;
  if (h & DIGITS) return 1 + (((h & ~DIGITS) + 1) >> 1);
  return h === LONG ? 5 + page.readUInt32LE(off + 1) : 1 + h;
}

/** FNV-1a, 32 bits: spreads short ids well; collisions only cost a comparison. */
function hash(b: Buffer): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  return h >>> 0;
}
