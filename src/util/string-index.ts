// An exact set of strings with a number attached, for the in-file duplicate check of a
// conversion: a 250 MB input holds over a million references, and a JS Map of them costs
// ~100 bytes each; this keeps the UTF-8 bytes in one growing buffer and the slots in typed
// arrays, ~30 bytes per entry, with exact comparison (no false duplicates).
export class StringIndex {
  private slots = new Uint32Array(1 << 12); // offset + 1 into `bytes`, 0 = empty
  private values = new Uint32Array(1 << 12);
  private bytes = Buffer.allocUnsafe(1 << 16);
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
    const need = this.used + 4 + k.length;
    if (need > this.bytes.length) {
      const next = Buffer.allocUnsafe(Math.max(need, Math.floor(this.bytes.length * 1.5)));
      this.bytes.copy(next, 0, 0, this.used);
      this.bytes = next;
    }
    const at = this.used;
    this.bytes.writeUInt32LE(k.length, at);
    k.copy(this.bytes, at + 4);
    this.used = need;
    return at;
  }

  private find(k: Buffer, h: number): number {
    const mask = this.slots.length - 1;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const s = this.slots[i]!;
      if (s === 0) return i;
      const at = s - 1;
      const len = this.bytes.readUInt32LE(at);
      if (len === k.length && this.bytes.compare(k, 0, len, at + 4, at + 4 + len) === 0) return i;
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
      const at = s - 1;
      const len = this.bytes.readUInt32LE(at);
      let i = hash(this.bytes.subarray(at + 4, at + 4 + len)) & mask;
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
