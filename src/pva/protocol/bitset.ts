/**
 * BitSet as pvData serializes it: a Size with the number of bytes (trailing
 * zero bytes dropped), then whole 64-bit words in the message byte order,
 * then the remaining bytes one by one (pvDataCPP BitSet::serialize, pvxs
 * BitMask). Bit n is bit n%8 of byte n/8 in little-endian word order.
 */
import type { Reader, Writer } from './wire';

export class BitSet {
  private bytes: Uint8Array;

  constructor(bits = 0) {
    this.bytes = new Uint8Array(Math.max(1, Math.ceil(bits / 8)));
  }

  static of(...bits: number[]): BitSet {
    const b = new BitSet();
    for (const n of bits) b.set(n);
    return b;
  }

  private grow(byte: number): void {
    if (byte < this.bytes.length) return;
    const next = new Uint8Array(Math.max(byte + 1, this.bytes.length * 2));
    next.set(this.bytes);
    this.bytes = next;
  }

  set(bit: number): this {
    const byte = bit >>> 3;
    this.grow(byte);
    this.bytes[byte] |= 1 << (bit & 7);
    return this;
  }

  clear(bit: number): this {
    const byte = bit >>> 3;
    if (byte < this.bytes.length) this.bytes[byte] &= ~(1 << (bit & 7));
    return this;
  }

  get(bit: number): boolean {
    const byte = bit >>> 3;
    return byte < this.bytes.length && (this.bytes[byte] & (1 << (bit & 7))) !== 0;
  }

  /** The first set bit at or after `from`, or -1. */
  nextSet(from: number): number {
    for (let byte = from >>> 3; byte < this.bytes.length; byte++) {
      const v = this.bytes[byte];
      if (v === 0) continue;
      for (let bit = byte === from >>> 3 ? from & 7 : 0; bit < 8; bit++) if (v & (1 << bit)) return byte * 8 + bit;
    }
    return -1;
  }

  isEmpty(): boolean {
    return this.nextSet(0) < 0;
  }

  or(other: BitSet): this {
    other.bytes.forEach((v, i) => {
      if (!v) return;
      this.grow(i);
      this.bytes[i] |= v;
    });
    return this;
  }

  clone(): BitSet {
    const b = new BitSet();
    b.bytes = this.bytes.slice();
    return b;
  }

  /** Set bits in ascending order. */
  toArray(): number[] {
    const out: number[] = [];
    for (let n = this.nextSet(0); n >= 0; n = this.nextSet(n + 1)) out.push(n);
    return out;
  }

  private usedBytes(): number {
    let n = this.bytes.length;
    while (n > 0 && this.bytes[n - 1] === 0) n--;
    return n;
  }

  write(w: Writer): void {
    const n = this.usedBytes();
    w.size(n);
    const words = n >>> 3;
    for (let word = 0; word < words; word++) {
      for (let i = 0; i < 8; i++) w.u8(this.bytes[word * 8 + (w.bigEndian ? 7 - i : i)]);
    }
    for (let i = words * 8; i < n; i++) w.u8(this.bytes[i]);
  }

  static read(r: Reader): BitSet {
    const n = r.count(1, 'bitset');
    const b = new BitSet(n * 8);
    const raw = r.bytes(n);
    const words = n >>> 3;
    for (let word = 0; word < words; word++) {
      for (let i = 0; i < 8; i++) b.bytes[word * 8 + i] = raw[word * 8 + (r.bigEndian ? 7 - i : i)];
    }
    for (let i = words * 8; i < n; i++) b.bytes[i] = raw[i];
    return b;
  }

  equals(other: BitSet): boolean {
    const n = Math.max(this.bytes.length, other.bytes.length);
    for (let i = 0; i < n; i++) if ((this.bytes[i] ?? 0) !== (other.bytes[i] ?? 0)) return false;
    return true;
  }
}
