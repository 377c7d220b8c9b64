/**
 * A circuit's channels by server id (sid), the id the server gives a channel
 * at CREATE_CHAN and the client quotes in every request on it.
 *
 * A sid is a slot number and a generation: the low 20 bits are the slot + 1,
 * the bits above count how often the slot was reused. Looking a channel up is
 * an array index and one compare, where a Map of 10,000 ids costs a hash and
 * a probe per request. A slot freed by CLEAR_CHANNEL is taken again with the
 * next generation, so a request still in flight for the cleared channel
 * names no channel rather than the slot's new one (it would take 4096
 * reuses of one slot for a sid to come back). The first sids are 1, 2, 3...
 */

/** Slots a table holds: the channels one circuit may have at most. */
export const SID_TABLE_CAPACITY = (1 << 20) - 1;

const SLOT_BITS = 20;
const SLOT_MASK = (1 << SLOT_BITS) - 1;
const GENERATIONS = 1 << (32 - SLOT_BITS);

export class SidTable<T extends { readonly sid: number }> {
  private readonly slots: Array<T | undefined> = [];
  private readonly generations: number[] = [];
  /** Freed slots, the last freed taken first. */
  private readonly free: number[] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Make an entry with a new sid and keep it. Throws when every slot is taken. */
  add(make: (sid: number) => T): T {
    let slot = this.free.pop();
    if (slot === undefined) {
      if (this.slots.length >= SID_TABLE_CAPACITY) throw new RangeError(`a circuit holds at most ${SID_TABLE_CAPACITY} channels`);
      slot = this.slots.length;
      this.slots.push(undefined);
      this.generations.push(0);
    }
    const sid = (this.generations[slot] * (SLOT_MASK + 1) + slot + 1) >>> 0;
    const entry = make(sid);
    this.slots[slot] = entry;
    this.count++;
    return entry;
  }

  get(sid: number): T | undefined {
    const entry = this.slots[(sid & SLOT_MASK) - 1];
    return entry !== undefined && entry.sid === sid ? entry : undefined;
  }

  has(sid: number): boolean {
    return this.get(sid) !== undefined;
  }

  /** Forget the entry of `sid`; its slot is reused with the next generation. */
  delete(sid: number): boolean {
    const slot = (sid & SLOT_MASK) - 1;
    const entry = this.slots[slot];
    if (entry === undefined || entry.sid !== sid) return false;
    this.slots[slot] = undefined;
    this.generations[slot] = (this.generations[slot] + 1) % GENERATIONS;
    this.free.push(slot);
    this.count--;
    return true;
  }

  /** Every entry, in slot order. */
  *values(): IterableIterator<T> {
    for (const entry of this.slots) if (entry !== undefined) yield entry;
  }
}
