/**
 * pvData introspection: field descriptions, their wire form and the per
 * connection type cache.
 *
 * A description is one type code byte; structures and unions add an id and
 * named members, arrays of structures/unions add the element description.
 * Codes follow pvxs `src/dataencode.cpp` and the pvAccess specification:
 * 0xFF is "no type", 0xFD id+description defines a cache entry, 0xFE id
 * refers to one defined earlier on the same connection (in that direction).
 *
 * A structure is numbered depth first for bitsets: bit 0 is the structure
 * itself, then each member in order, sub-structures before their members.
 * `layoutOf` computes that numbering once per description.
 */
import { PvaProtocolError } from './errors';
import type { Reader, Writer } from './wire';

export enum TypeCode {
  BOOL = 0x00,
  INT8 = 0x20, INT16 = 0x21, INT32 = 0x22, INT64 = 0x23,
  UINT8 = 0x24, UINT16 = 0x25, UINT32 = 0x26, UINT64 = 0x27,
  FLOAT32 = 0x42, FLOAT64 = 0x43,
  STRING = 0x60,
  STRUCT = 0x80, UNION = 0x81, ANY = 0x82,
}

/** Variable-size array of the code it is or-ed with (bounded and fixed arrays are deprecated). */
export const ARRAY_FLAG = 0x08;
const FIXED_OR_BOUNDED = 0x10;
const NULL_TYPE = 0xff;
const CACHE_DEFINE = 0xfd;
const CACHE_REFER = 0xfe;
export const MAX_TYPE_DEPTH = 20;

export interface Member {
  readonly name: string;
  readonly type: FieldDesc;
}

export interface FieldDesc {
  /** Type code, with ARRAY_FLAG for arrays. */
  readonly code: number;
  /** Structure or union id ("" when none); undefined for other codes. */
  readonly id?: string;
  /** Members of a structure or union. */
  readonly members?: readonly Member[];
  /** Element of a structure or union array. */
  readonly element?: FieldDesc;
}

const SCALAR_CODES = new Set<number>([
  TypeCode.BOOL, TypeCode.INT8, TypeCode.INT16, TypeCode.INT32, TypeCode.INT64,
  TypeCode.UINT8, TypeCode.UINT16, TypeCode.UINT32, TypeCode.UINT64,
  TypeCode.FLOAT32, TypeCode.FLOAT64, TypeCode.STRING, TypeCode.ANY,
]);

export const isArray = (d: FieldDesc): boolean => (d.code & ARRAY_FLAG) !== 0;
export const scalarOf = (code: number): number => code & ~ARRAY_FLAG;

// ------------------------------------------------------------ building

export const scalar = (code: TypeCode): FieldDesc => ({ code });
export const arrayOf = (code: TypeCode): FieldDesc => ({ code: code | ARRAY_FLAG });

export function struct(id: string, fields: ReadonlyArray<readonly [string, FieldDesc]>): FieldDesc {
  return { code: TypeCode.STRUCT, id, members: fields.map(([name, type]) => ({ name, type })) };
}

export function union(id: string, fields: ReadonlyArray<readonly [string, FieldDesc]>): FieldDesc {
  return { code: TypeCode.UNION, id, members: fields.map(([name, type]) => ({ name, type })) };
}

export function structArray(element: FieldDesc): FieldDesc {
  return { code: TypeCode.STRUCT | ARRAY_FLAG, element };
}

export function unionArray(element: FieldDesc): FieldDesc {
  return { code: TypeCode.UNION | ARRAY_FLAG, element };
}

// ------------------------------------------------------------ wire form

/**
 * Descriptions this side has sent on one connection, by id. Sending a
 * description again as 0xFE id saves bytes for repeated types (monitors of
 * many channels of one record type).
 */
export class TypeRegistry {
  private readonly ids = new Map<FieldDesc, number>();
  private next = 1;

  constructor(private readonly limit = 0x7fff) {}

  /** The id of a description already sent, or a new one to define now (undefined when full). */
  lookup(desc: FieldDesc): { id: number; known: boolean } | undefined {
    const id = this.ids.get(desc);
    if (id !== undefined) return { id, known: true };
    if (this.next > this.limit) return undefined;
    const fresh = this.next++;
    this.ids.set(desc, fresh);
    return { id: fresh, known: false };
  }
}

/** Descriptions a peer defined with 0xFD, to resolve its 0xFE references. */
export type TypeCache = Map<number, FieldDesc>;

export function writeType(w: Writer, desc: FieldDesc | null, registry?: TypeRegistry): void {
  if (desc === null) {
    w.u8(NULL_TYPE);
    return;
  }
  if (registry && (desc.code === TypeCode.STRUCT || desc.code === TypeCode.UNION)) {
    const entry = registry.lookup(desc);
    if (entry?.known) {
      w.u8(CACHE_REFER).u16(entry.id);
      return;
    }
    if (entry) w.u8(CACHE_DEFINE).u16(entry.id);
  }
  w.u8(desc.code);
  if (desc.code === (TypeCode.STRUCT | ARRAY_FLAG) || desc.code === (TypeCode.UNION | ARRAY_FLAG)) {
    writeType(w, desc.element!);
    return;
  }
  if (desc.code === TypeCode.STRUCT || desc.code === TypeCode.UNION) {
    w.string(desc.id ?? '');
    const members = desc.members ?? [];
    w.size(members.length);
    for (const m of members) {
      w.string(m.name);
      writeType(w, m.type);
    }
  }
}

/** Read a description (null for 0xFF), resolving and filling the peer's cache. */
export function readType(r: Reader, cache: TypeCache, depth = 0): FieldDesc | null {
  if (depth > MAX_TYPE_DEPTH) throw new PvaProtocolError('PVA_ERR_TOO_DEEP', `type nested deeper than ${MAX_TYPE_DEPTH}`);
  const code = r.u8();
  if (code === NULL_TYPE) return null;
  if (code === CACHE_DEFINE) {
    const id = r.u16();
    const desc = readType(r, cache, depth + 1);
    if (desc === null) throw new PvaProtocolError('PVA_ERR_BAD_CACHE', `type cache entry ${id} defined as no type`);
    cache.set(id, desc);
    return desc;
  }
  if (code === CACHE_REFER) {
    const id = r.u16();
    const desc = cache.get(id);
    if (!desc) throw new PvaProtocolError('PVA_ERR_BAD_CACHE', `type cache entry ${id} was never defined`);
    return desc;
  }
  if (code & FIXED_OR_BOUNDED) throw new PvaProtocolError('PVA_ERR_BAD_TYPE', `type code 0x${code.toString(16)}: fixed and bounded arrays are not supported`);
  if (code === (TypeCode.STRUCT | ARRAY_FLAG) || code === (TypeCode.UNION | ARRAY_FLAG)) {
    const element = readType(r, cache, depth + 1);
    if (!element || element.code !== scalarOf(code)) throw new PvaProtocolError('PVA_ERR_BAD_TYPE', `array of type 0x${code.toString(16)} with an element of another kind`);
    return { code, element };
  }
  if (code === TypeCode.STRUCT || code === TypeCode.UNION) {
    const id = r.string();
    const n = r.count(2, 'member list');
    const members: Member[] = [];
    const names = new Set<string>();
    for (let i = 0; i < n; i++) {
      const name = r.string();
      const type = readType(r, cache, depth + 1);
      if (!type) throw new PvaProtocolError('PVA_ERR_BAD_TYPE', `member "${name}" has no type`);
      if (names.has(name)) throw new PvaProtocolError('PVA_ERR_BAD_TYPE', `member "${name}" appears twice`);
      names.add(name);
      members.push({ name, type });
    }
    return { code, id, members };
  }
  if (!SCALAR_CODES.has(scalarOf(code))) throw new PvaProtocolError('PVA_ERR_BAD_TYPE', `unknown type code 0x${code.toString(16)}`);
  return { code };
}

// ------------------------------------------------------------ layout

export interface LayoutNode {
  /** Dotted path from the top ("" for the top itself). */
  readonly path: string;
  readonly desc: FieldDesc;
  /** Bit number. */
  readonly offset: number;
  /** Nodes in this subtree, itself included. */
  readonly size: number;
}

export interface Layout {
  readonly desc: FieldDesc;
  readonly nodes: readonly LayoutNode[];
  /** Bit number by dotted path. */
  readonly byPath: ReadonlyMap<string, number>;
}

const layouts = new WeakMap<FieldDesc, Layout>();

/** The bit numbering of a structure description (computed once per description object). */
export function layoutOf(desc: FieldDesc): Layout {
  const cached = layouts.get(desc);
  if (cached) return cached;
  if (desc.code !== TypeCode.STRUCT) throw new PvaProtocolError('PVA_ERR_BAD_TYPE', 'only a structure has a bit layout');
  const nodes: LayoutNode[] = [];
  const visit = (d: FieldDesc, path: string): number => {
    const index = nodes.length;
    const node = { path, desc: d, offset: index, size: 1 };
    nodes.push(node);
    if (d.code === TypeCode.STRUCT) {
      for (const m of d.members ?? []) visit(m.type, path ? `${path}.${m.name}` : m.name);
      node.size = nodes.length - index;
    }
    return index;
  };
  visit(desc, '');
  const byPath = new Map<string, number>();
  for (const n of nodes) byPath.set(n.path, n.offset);
  const layout: Layout = { desc, nodes, byPath };
  layouts.set(desc, layout);
  return layout;
}

/** The member description at a dotted path, or undefined. */
export function memberAt(desc: FieldDesc, path: string): FieldDesc | undefined {
  let cur: FieldDesc | undefined = desc;
  for (const part of path.split('.')) {
    if (part === '') continue;
    cur = cur?.members?.find((m) => m.name === part)?.type;
    if (!cur) return undefined;
  }
  return cur;
}

/** Render a description like pvxinfo does (for messages and tests). */
export function typeToString(desc: FieldDesc | null, indent = ''): string {
  if (!desc) return `${indent}(null)`;
  const names: Record<number, string> = {
    [TypeCode.BOOL]: 'bool', [TypeCode.INT8]: 'int8_t', [TypeCode.INT16]: 'int16_t', [TypeCode.INT32]: 'int32_t', [TypeCode.INT64]: 'int64_t',
    [TypeCode.UINT8]: 'uint8_t', [TypeCode.UINT16]: 'uint16_t', [TypeCode.UINT32]: 'uint32_t', [TypeCode.UINT64]: 'uint64_t',
    [TypeCode.FLOAT32]: 'float', [TypeCode.FLOAT64]: 'double', [TypeCode.STRING]: 'string', [TypeCode.ANY]: 'any',
  };
  const base = scalarOf(desc.code);
  if (base === TypeCode.STRUCT || base === TypeCode.UNION) {
    const d = isArray(desc) ? desc.element! : desc;
    const kw = base === TypeCode.STRUCT ? 'struct' : 'union';
    const lines = [`${kw}${d.id ? ` "${d.id}"` : ''} {`];
    for (const m of d.members ?? []) lines.push(`${typeToString(m.type, `${indent}    `).trimStart().replace(/^/, `${indent}    `)} ${m.name}`);
    lines.push(`${indent}}${isArray(desc) ? '[]' : ''}`);
    return lines.join('\n');
  }
  return `${names[base] ?? `0x${base.toString(16)}`}${isArray(desc) ? '[]' : ''}`;
}
