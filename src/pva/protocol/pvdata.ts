/**
 * pvData values on the wire: full serialization of any field, and the
 * partial form (a bitset of changed fields, then only those) used by GET,
 * PUT and MONITOR. Layout of each kind follows pvxs `src/dataencode.cpp`:
 * scalars in the message byte order, arrays as a Size then elements, union
 * as a selector Size (0xFF for empty) then the member, `any` as a type
 * description then the value, structure arrays with a 0/1 presence byte per
 * element.
 *
 * A structure value is flat: one slot per bit of its layout (sub-structure
 * slots stay undefined), so a bitset maps straight onto slots.
 */
import { BitSet } from './bitset';
import { PvaProtocolError } from './errors';
import { isArray, layoutOf, readType, scalarOf, TypeCode, writeType, type FieldDesc, type Layout, type TypeCache, type TypeRegistry } from './introspection';
import { NULL_SIZE, type Reader, type Writer } from './wire';

/** Any field's value: number (up to 32-bit ints, floats), bigint (64-bit ints), boolean, string, arrays, or the compound kinds below. */
export type PvData = number | bigint | boolean | string | ArrayLike<number> | BigInt64Array | BigUint64Array | readonly boolean[] | readonly string[] | PvStruct | PvUnion | PvAny | ReadonlyArray<PvStruct | PvUnion | null> | undefined;

export interface PvStruct {
  readonly layout: Layout;
  /** One slot per layout node; structure slots are unused. */
  readonly values: PvData[];
}

export interface PvUnion {
  /** Member index, or -1 for an empty union. */
  readonly selector: number;
  readonly value: PvData;
}

export interface PvAny {
  readonly type: FieldDesc | null;
  readonly value: PvData;
}

/** A structure value with every slot at its type's zero value. */
export function emptyStruct(desc: FieldDesc): PvStruct {
  const layout = layoutOf(desc);
  return { layout, values: layout.nodes.map((n) => zeroOf(n.desc)) };
}

export function zeroOf(desc: FieldDesc): PvData {
  if (isArray(desc)) {
    switch (scalarOf(desc.code)) {
      case TypeCode.STRING: case TypeCode.BOOL: case TypeCode.STRUCT: case TypeCode.UNION: case TypeCode.ANY: return [];
      default: return newNumberArray(scalarOf(desc.code), 0);
    }
  }
  switch (desc.code) {
    case TypeCode.STRUCT: return undefined;
    case TypeCode.UNION: return { selector: -1, value: undefined };
    case TypeCode.ANY: return { type: null, value: undefined };
    case TypeCode.BOOL: return false;
    case TypeCode.STRING: return '';
    case TypeCode.INT64: case TypeCode.UINT64: return 0n;
    default: return 0;
  }
}

/** Set a slot by dotted path (throws for a path the structure does not have). */
export function setField(s: PvStruct, path: string, value: PvData): void {
  const i = s.layout.byPath.get(path);
  if (i === undefined) throw new PvaProtocolError('PVA_ERR_BAD_VALUE', `no field "${path}"`);
  s.values[i] = value;
}

export function getField(s: PvStruct, path: string): PvData {
  const i = s.layout.byPath.get(path);
  return i === undefined ? undefined : s.values[i];
}

// ------------------------------------------------------------ arrays

type NumberArray = Int8Array | Int16Array | Int32Array | Uint8Array | Uint16Array | Uint32Array | Float32Array | Float64Array | BigInt64Array | BigUint64Array;

const WIDTH: Record<number, number> = {
  [TypeCode.BOOL]: 1, [TypeCode.INT8]: 1, [TypeCode.UINT8]: 1, [TypeCode.INT16]: 2, [TypeCode.UINT16]: 2,
  [TypeCode.INT32]: 4, [TypeCode.UINT32]: 4, [TypeCode.FLOAT32]: 4, [TypeCode.INT64]: 8, [TypeCode.UINT64]: 8, [TypeCode.FLOAT64]: 8,
};

function newNumberArray(code: number, n: number): NumberArray {
  switch (code) {
    case TypeCode.INT8: return new Int8Array(n);
    case TypeCode.UINT8: return new Uint8Array(n);
    case TypeCode.INT16: return new Int16Array(n);
    case TypeCode.UINT16: return new Uint16Array(n);
    case TypeCode.INT32: return new Int32Array(n);
    case TypeCode.UINT32: return new Uint32Array(n);
    case TypeCode.FLOAT32: return new Float32Array(n);
    case TypeCode.FLOAT64: return new Float64Array(n);
    case TypeCode.INT64: return new BigInt64Array(n);
    case TypeCode.UINT64: return new BigUint64Array(n);
    default: throw new PvaProtocolError('PVA_ERR_BAD_TYPE', `no numeric array of type 0x${code.toString(16)}`);
  }
}

const HOST_BIG_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 0;

function readNumberArray(r: Reader, code: number): NumberArray {
  const width = WIDTH[code];
  const n = r.count(width, 'array');
  const out = newNumberArray(code, n);
  const raw = r.bytes(n * width);
  const bytes = new Uint8Array(out.buffer);
  if (width === 1 || r.bigEndian === HOST_BIG_ENDIAN) {
    bytes.set(raw);
  } else {
    for (let i = 0; i < raw.length; i += width) for (let b = 0; b < width; b++) bytes[i + b] = raw[i + width - 1 - b];
  }
  return out;
}

function writeNumberArray(w: Writer, code: number, value: ArrayLike<number | bigint>): void {
  const width = WIDTH[code];
  const n = value.length;
  w.size(n);
  let typed: NumberArray;
  if (ArrayBuffer.isView(value) && value.constructor === newNumberArray(code, 0).constructor) {
    typed = value as NumberArray;
  } else {
    typed = newNumberArray(code, n);
    const big = code === TypeCode.INT64 || code === TypeCode.UINT64;
    for (let i = 0; i < n; i++) {
      const v = value[i];
      (typed as unknown as Array<number | bigint>)[i] = big ? BigInt.asIntN(64, toBigInt(v)) : Number(v);
    }
    if (code === TypeCode.UINT64) typed = BigUint64Array.from(typed as BigInt64Array, (v) => BigInt.asUintN(64, v));
  }
  const bytes = new Uint8Array(typed.buffer, typed.byteOffset, n * width);
  if (width === 1 || w.bigEndian === HOST_BIG_ENDIAN) {
    w.bytes(bytes);
    return;
  }
  w.ensure(bytes.length);
  for (let i = 0; i < bytes.length; i += width) for (let b = 0; b < width; b++) w.buf[w.offset + i + b] = bytes[i + width - 1 - b];
  w.offset += bytes.length;
}

function toBigInt(v: number | bigint | boolean | undefined): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'boolean') return v ? 1n : 0n;
  const n = Number(v ?? 0);
  return Number.isFinite(n) ? BigInt(Math.trunc(n)) : 0n;
}

function toNumber(v: PvData): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'string') return Number(v);
  return 0;
}

// ------------------------------------------------------------ full values

export function writeValue(w: Writer, desc: FieldDesc, value: PvData, registry?: TypeRegistry): void {
  if (isArray(desc)) {
    writeArray(w, desc, value, registry);
    return;
  }
  switch (desc.code) {
    case TypeCode.BOOL: w.u8(value ? 1 : 0); return;
    case TypeCode.INT8: w.i8(clampInt(toNumber(value), -128, 127)); return;
    case TypeCode.UINT8: w.u8(toNumber(value)); return;
    case TypeCode.INT16: w.i16(clampInt(toNumber(value), -32768, 32767)); return;
    case TypeCode.UINT16: w.u16(toNumber(value)); return;
    case TypeCode.INT32: w.i32(toNumber(value)); return;
    case TypeCode.UINT32: w.u32(toNumber(value)); return;
    case TypeCode.INT64: w.i64(BigInt.asIntN(64, toBigInt(value as number | bigint))); return;
    case TypeCode.UINT64: w.u64(BigInt.asUintN(64, toBigInt(value as number | bigint))); return;
    case TypeCode.FLOAT32: w.f32(toNumber(value)); return;
    case TypeCode.FLOAT64: w.f64(toNumber(value)); return;
    case TypeCode.STRING: w.string(value === undefined ? '' : String(value)); return;
    case TypeCode.STRUCT: {
      const s = value as PvStruct | undefined;
      const layout = layoutOf(desc);
      for (let i = 1; i < layout.nodes.length; i++) {
        const node = layout.nodes[i];
        if (node.desc.code === TypeCode.STRUCT) continue;
        writeValue(w, node.desc, s ? s.values[i] : zeroOf(node.desc), registry);
      }
      return;
    }
    case TypeCode.UNION: {
      const u = (value as PvUnion | undefined) ?? { selector: -1, value: undefined };
      const members = desc.members ?? [];
      if (u.selector < 0) {
        w.size(NULL_SIZE);
        return;
      }
      if (u.selector >= members.length) throw new PvaProtocolError('PVA_ERR_BAD_SELECTOR', `union selector ${u.selector} outside ${members.length} members`);
      w.size(u.selector);
      writeValue(w, members[u.selector].type, u.value, registry);
      return;
    }
    case TypeCode.ANY: {
      const a = (value as PvAny | undefined) ?? { type: null, value: undefined };
      writeType(w, a.type, registry);
      if (a.type) writeValue(w, a.type, a.value, registry);
      return;
    }
    default:
      throw new PvaProtocolError('PVA_ERR_BAD_TYPE', `cannot write type 0x${desc.code.toString(16)}`);
  }
}

function clampInt(v: number, lo: number, hi: number): number {
  const n = Math.trunc(v);
  return Number.isFinite(n) ? ((n - lo) % (hi - lo + 1) + (hi - lo + 1)) % (hi - lo + 1) + lo : 0;
}

function writeArray(w: Writer, desc: FieldDesc, value: PvData, registry?: TypeRegistry): void {
  const code = scalarOf(desc.code);
  const arr = (value ?? []) as ArrayLike<unknown>;
  switch (code) {
    case TypeCode.STRING:
      w.size(arr.length);
      for (let i = 0; i < arr.length; i++) w.string(String(arr[i]));
      return;
    case TypeCode.BOOL:
      w.size(arr.length);
      for (let i = 0; i < arr.length; i++) w.u8(arr[i] ? 1 : 0);
      return;
    case TypeCode.STRUCT: case TypeCode.UNION: case TypeCode.ANY: {
      w.size(arr.length);
      const element = code === TypeCode.ANY ? { code: TypeCode.ANY } : desc.element!;
      for (let i = 0; i < arr.length; i++) {
        const el = arr[i] as PvData | null;
        if (el === null || el === undefined) {
          w.u8(0);
        } else {
          w.u8(1);
          writeValue(w, element, el, registry);
        }
      }
      return;
    }
    default:
      writeNumberArray(w, code, arr as ArrayLike<number>);
  }
}

export function readValue(r: Reader, desc: FieldDesc, cache: TypeCache, depth = 0): PvData {
  if (depth > 20) throw new PvaProtocolError('PVA_ERR_TOO_DEEP', 'value nested too deep');
  if (isArray(desc)) return readArray(r, desc, cache, depth);
  switch (desc.code) {
    case TypeCode.BOOL: return r.u8() !== 0;
    case TypeCode.INT8: return r.i8();
    case TypeCode.UINT8: return r.u8();
    case TypeCode.INT16: return r.i16();
    case TypeCode.UINT16: return r.u16();
    case TypeCode.INT32: return r.i32();
    case TypeCode.UINT32: return r.u32();
    case TypeCode.INT64: return r.i64();
    case TypeCode.UINT64: return r.u64();
    case TypeCode.FLOAT32: return r.f32();
    case TypeCode.FLOAT64: return r.f64();
    case TypeCode.STRING: return r.string();
    case TypeCode.STRUCT: {
      const s = emptyStruct(desc);
      const nodes = s.layout.nodes;
      for (let i = 1; i < nodes.length; i++) {
        if (nodes[i].desc.code !== TypeCode.STRUCT) s.values[i] = readValue(r, nodes[i].desc, cache, depth + 1);
      }
      return s;
    }
    case TypeCode.UNION: {
      const members = desc.members ?? [];
      const sel = r.size();
      if (sel === NULL_SIZE) return { selector: -1, value: undefined };
      if (sel >= members.length) throw new PvaProtocolError('PVA_ERR_BAD_SELECTOR', `union selector ${sel} outside ${members.length} members`);
      return { selector: sel, value: readValue(r, members[sel].type, cache, depth + 1) };
    }
    case TypeCode.ANY: {
      const type = readType(r, cache);
      return { type, value: type ? readValue(r, type, cache, depth + 1) : undefined };
    }
    default:
      throw new PvaProtocolError('PVA_ERR_BAD_TYPE', `cannot read type 0x${desc.code.toString(16)}`);
  }
}

function readArray(r: Reader, desc: FieldDesc, cache: TypeCache, depth: number): PvData {
  const code = scalarOf(desc.code);
  switch (code) {
    case TypeCode.STRING: {
      const n = r.count(1, 'string array');
      const out: string[] = new Array<string>(n);
      for (let i = 0; i < n; i++) out[i] = r.string();
      return out;
    }
    case TypeCode.BOOL: {
      const n = r.count(1, 'bool array');
      const out: boolean[] = new Array<boolean>(n);
      for (let i = 0; i < n; i++) out[i] = r.u8() !== 0;
      return out;
    }
    case TypeCode.STRUCT: case TypeCode.UNION: case TypeCode.ANY: {
      const n = r.count(1, 'compound array');
      const element = code === TypeCode.ANY ? { code: TypeCode.ANY } : desc.element!;
      const out: Array<PvStruct | PvUnion | PvAny | null> = [];
      for (let i = 0; i < n; i++) {
        const present = r.u8();
        out.push(present ? (readValue(r, element, cache, depth + 1) as PvStruct | PvUnion | PvAny) : null);
      }
      return out as PvData;
    }
    default:
      return readNumberArray(r, code);
  }
}

// ------------------------------------------------------------ partial values

/**
 * Write the bitset and the fields it marks. A marked sub-structure carries
 * all of its members; bits inside it are not looked at.
 */
export function writePartial(w: Writer, s: PvStruct, changed: BitSet, registry?: TypeRegistry): void {
  changed.write(w);
  const nodes = s.layout.nodes;
  for (let bit = changed.nextSet(0); bit >= 0 && bit < nodes.length;) {
    const node = nodes[bit];
    if (node.desc.code === TypeCode.STRUCT) {
      for (let i = bit + 1; i < bit + node.size; i++) {
        if (nodes[i].desc.code !== TypeCode.STRUCT) writeValue(w, nodes[i].desc, s.values[i], registry);
      }
    } else {
      writeValue(w, node.desc, s.values[bit], registry);
    }
    bit = changed.nextSet(bit + node.size);
  }
}

/** Read a bitset and the fields it marks into `into`; returns the bitset (bits past the layout ignored). */
export function readPartial(r: Reader, into: PvStruct, cache: TypeCache): BitSet {
  const changed = BitSet.read(r);
  const nodes = into.layout.nodes;
  for (let bit = changed.nextSet(0); bit >= 0 && bit < nodes.length;) {
    const node = nodes[bit];
    if (node.desc.code === TypeCode.STRUCT) {
      for (let i = bit + 1; i < bit + node.size; i++) {
        if (nodes[i].desc.code !== TypeCode.STRUCT) into.values[i] = readValue(r, nodes[i].desc, cache);
      }
    } else {
      into.values[bit] = readValue(r, node.desc, cache);
    }
    bit = changed.nextSet(bit + node.size);
  }
  return changed;
}

/** The leaf bits a bitset covers (a marked structure covers all its members). */
export function expandBits(layout: Layout, bits: BitSet): BitSet {
  const out = new BitSet(layout.nodes.length);
  for (let bit = bits.nextSet(0); bit >= 0 && bit < layout.nodes.length; bit = bits.nextSet(bit + 1)) {
    const node = layout.nodes[bit];
    for (let i = bit; i < bit + node.size; i++) out.set(i);
  }
  return out;
}

