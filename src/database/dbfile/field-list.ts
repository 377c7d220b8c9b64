/**
 * The fields of a loaded record. A loaded database keeps every field value
 * of every record until the records are built, so this is a ReadonlyMap
 * kept in one flat array rather than a Map of one object per field: a tenth
 * of a million records hold half a million fields.
 */
import type { SourcePosition } from './errors';
import type { FieldDefinition } from './parser';

/** Array slots per field: name, value, file, line, column. */
const SLOTS = 5;

export class FieldList implements ReadonlyMap<string, FieldDefinition> {
  /** The fields, SLOTS slots each, then perhaps room for more. */
  private data: (string | number)[];
  /** Slots in use. */
  private used = 0;

  /** Room is made at once for `expected` fields; more can be added. */
  constructor(expected = 0) {
    this.data = new Array<string | number>(expected * SLOTS);
  }

  get size(): number {
    return this.used / SLOTS;
  }

  /** Set a field's value, given at `where`; a field set before keeps its place, as in a Map. */
  set(name: string, value: string, where: SourcePosition): this {
    let i = this.indexOf(name);
    if (i < 0) {
      i = this.used;
      if (i + SLOTS > this.data.length) {
        // Just the room needed: most records get all their fields at once.
        const bigger = new Array<string | number>(i + SLOTS);
        for (let k = 0; k < i; k++) bigger[k] = this.data[k];
        this.data = bigger;
      }
      this.data[i] = name;
      this.used += SLOTS;
    }
    const data = this.data;
    data[i + 1] = value;
    data[i + 2] = where.file;
    data[i + 3] = where.line;
    data[i + 4] = where.column;
    return this;
  }

  get(name: string): FieldDefinition | undefined {
    const i = this.indexOf(name);
    return i < 0 ? undefined : this.definitionAt(i);
  }

  has(name: string): boolean {
    return this.indexOf(name) >= 0;
  }

  forEach(callback: (value: FieldDefinition, key: string, map: ReadonlyMap<string, FieldDefinition>) => void, thisArg?: unknown): void {
    for (let i = 0; i < this.used; i += SLOTS) {
      callback.call(thisArg, this.definitionAt(i), this.data[i] as string, this);
    }
  }

  entries(): MapIterator<[string, FieldDefinition]> {
    const entries: [string, FieldDefinition][] = [];
    for (let i = 0; i < this.used; i += SLOTS) entries.push([this.data[i] as string, this.definitionAt(i)]);
    return entries.values();
  }

  keys(): MapIterator<string> {
    const keys: string[] = [];
    for (let i = 0; i < this.used; i += SLOTS) keys.push(this.data[i] as string);
    return keys.values();
  }

  values(): MapIterator<FieldDefinition> {
    const values: FieldDefinition[] = [];
    for (let i = 0; i < this.used; i += SLOTS) values.push(this.definitionAt(i));
    return values.values();
  }

  [Symbol.iterator](): MapIterator<[string, FieldDefinition]> {
    return this.entries();
  }

  /** A FieldList holding the same fields as `fields`, in the same order. */
  static from(fields: ReadonlyMap<string, FieldDefinition>): FieldList {
    const list = new FieldList(fields.size);
    fields.forEach((field, name) => list.set(name, field.value, field));
    return list;
  }

  private indexOf(name: string): number {
    const data = this.data;
    for (let i = 0; i < this.used; i += SLOTS) {
      if (data[i] === name) return i;
    }
    return -1;
  }

  private definitionAt(i: number): FieldDefinition {
    const data = this.data;
    return {
      value: data[i + 1] as string,
      file: data[i + 2] as string,
      line: data[i + 3] as number,
      column: data[i + 4] as number,
    };
  }
}
