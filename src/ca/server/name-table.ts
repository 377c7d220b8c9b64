/**
 * A fixed set of PV names kept as bytes, that answers "is this one of them?"
 * for a name read in place from a datagram: no string is made and no Map is
 * consulted, so a search datagram of dozens of names costs a hash and a byte
 * compare per name. The names are packed into plain typed arrays
 * (`NameTable.pack`) that another thread builds its table from
 * (`NameTable.fromPacked`).
 *
 * Names are stored as their UTF-8 bytes, which is what a client sends.
 */

export interface PackedNames {
  /** Every name's bytes, back to back. */
  bytes: Uint8Array;
  /** Where name i starts in `bytes`; one more entry, the end of the last. */
  starts: Uint32Array;
}

export class NameTable {
  /** Open addressing: slot -> name index + 1, 0 for empty. */
  private readonly slots: Int32Array;
  private readonly mask: number;

  private constructor(private readonly bytes: Uint8Array, private readonly starts: Uint32Array) {
    const count = starts.length - 1;
    let capacity = 16;
    while (capacity < count * 2) capacity *= 2;
    this.slots = new Int32Array(capacity);
    this.mask = capacity - 1;
    for (let i = 0; i < count; i++) this.insert(i);
  }

  static fromNames(names: Iterable<string>): NameTable {
    return NameTable.fromPacked(NameTable.pack(names));
  }

  /**
   * The names' bytes back to back, written into one buffer (no buffer per
   * name): what another thread builds its table from. A name given twice is
   * kept twice, which `has` does not mind.
   */
  static pack(names: Iterable<string>): PackedNames {
    const list: string[] = [];
    let room = 0;
    for (const n of names) {
      if (n === '') continue;
      list.push(n);
      room += n.length * 3; // the most UTF-8 bytes a UTF-16 code unit takes
    }
    const starts = new Uint32Array(list.length + 1);
    const bytes = Buffer.allocUnsafeSlow(room);
    let at = 0;
    for (let i = 0; i < list.length; i++) {
      const name = list[i];
      starts[i] = at;
      // PV names are ASCII: copied char by char; any other is encoded whole.
      let k = 0;
      for (; k < name.length; k++) {
        const c = name.charCodeAt(k);
        if (c >= 0x80) break;
        bytes[at + k] = c;
      }
      at += k === name.length ? k : bytes.write(name, at, 'utf8');
    }
    starts[list.length] = at;
    return { bytes: bytes.subarray(0, at), starts };
  }

  static fromPacked(p: PackedNames): NameTable {
    return new NameTable(p.bytes, p.starts);
  }

  /** Whether `buf[start, end)` is exactly one of the names. */
  has(buf: Uint8Array, start: number, end: number): boolean {
    const length = end - start;
    for (let slot = hashBytes(buf, start, end) & this.mask; ; slot = (slot + 1) & this.mask) {
      const entry = this.slots[slot];
      if (entry === 0) return false;
      const i = entry - 1;
      const from = this.starts[i];
      if (this.starts[i + 1] - from === length && sameBytes(this.bytes, from, buf, start, length)) return true;
    }
  }

  private insert(i: number): void {
    const from = this.starts[i];
    for (let slot = hashBytes(this.bytes, from, this.starts[i + 1]) & this.mask; ; slot = (slot + 1) & this.mask) {
      if (this.slots[slot] === 0) {
        this.slots[slot] = i + 1;
        return;
      }
    }
  }
}

/** 32-bit FNV-1a of `buf[start, end)`. */
function hashBytes(buf: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ buf[i], 0x01000193);
  return h >>> 0;
}

function sameBytes(a: Uint8Array, aFrom: number, b: Uint8Array, bFrom: number, length: number): boolean {
  for (let k = 0; k < length; k++) if (a[aFrom + k] !== b[bFrom + k]) return false;
  return true;
}
