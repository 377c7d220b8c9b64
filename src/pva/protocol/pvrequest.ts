/**
 * The pvRequest a client sends with every operation: `field(...)` selects
 * parts of the channel's structure, `record[...]` carries options such as
 * `process`, `block`, `queueSize` and `pipeline`.
 *
 *     struct { struct { struct {} value; struct {} alarm } field;
 *              struct { struct { string process } _options } record }
 *
 * As in pvxs (`src/pvrequest.cpp`), the reply type stays the channel's full
 * type; the selection becomes a mask of the bits that may be sent. A
 * selection that names nothing the type has is an error.
 */
import { BitSet } from './bitset';
import { PvaProtocolError } from './errors';
import { layoutOf, TypeCode, type FieldDesc, type Layout } from './introspection';
import { getField, type PvAny, type PvData, type PvStruct, type PvUnion } from './pvdata';

export interface ParsedRequest {
  /** Selected dotted paths ([] = everything). */
  fields: string[];
  /** record._options, as strings. */
  options: Map<string, string>;
}

const EMPTY: ParsedRequest = { fields: [], options: new Map() };

/** Read the selection and options out of a decoded pvRequest (null type: everything, no options). */
export function parseRequest(type: FieldDesc | null, value: PvData): ParsedRequest {
  if (!type || type.code !== TypeCode.STRUCT) return EMPTY;
  const s = value as PvStruct;
  const fields: string[] = [];
  const fieldDesc = type.members?.find((m) => m.name === 'field')?.type;
  if (fieldDesc?.code === TypeCode.STRUCT) {
    const walk = (d: FieldDesc, prefix: string): void => {
      for (const m of d.members ?? []) {
        const path = prefix ? `${prefix}.${m.name}` : m.name;
        if (m.type.code === TypeCode.STRUCT && (m.type.members?.length ?? 0) > 0) walk(m.type, path);
        else fields.push(path);
      }
    };
    walk(fieldDesc, '');
  }
  const options = new Map<string, string>();
  const layout = layoutOf(type);
  const prefix = 'record._options.';
  for (const node of layout.nodes) {
    if (!node.path.startsWith(prefix) || node.desc.code === TypeCode.STRUCT) continue;
    const text = optionText(getField(s, node.path));
    if (text !== undefined) options.set(node.path.slice(prefix.length), text);
  }
  return { fields, options };
}

function optionText(v: PvData): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (typeof v === 'object' && v !== null && 'selector' in v) return optionText((v as PvUnion).value);
  if (typeof v === 'object' && v !== null && 'type' in v && !('layout' in v)) return optionText((v as PvAny).value);
  return undefined;
}

/**
 * The bits of `layout` a selection allows: each selected node with all it
 * contains and the structures containing it. Throws when nothing matched.
 */
export function selectionMask(layout: Layout, fields: readonly string[]): BitSet {
  const mask = new BitSet(layout.nodes.length);
  if (fields.length === 0) {
    for (let i = 0; i < layout.nodes.length; i++) mask.set(i);
    return mask;
  }
  let matched = 0;
  for (const path of fields) {
    const bit = layout.byPath.get(path);
    if (bit === undefined) continue;
    matched++;
    const node = layout.nodes[bit];
    for (let i = bit; i < bit + node.size; i++) mask.set(i);
    // Parents: every prefix of the path.
    const parts = path.split('.');
    mask.set(0);
    for (let n = 1; n < parts.length; n++) {
      const p = layout.byPath.get(parts.slice(0, n).join('.'));
      if (p !== undefined) mask.set(p);
    }
  }
  if (matched === 0) throw new PvaProtocolError('PVA_ERR_BAD_REQUEST', `Empty field selection: none of ${fields.join(', ')} is a field of this channel`);
  return mask;
}

/** `record._options.process`: true/false, or "passive" (the default: process when the field says so). */
export type ProcessOption = 'true' | 'false' | 'passive';

export function processOption(options: ReadonlyMap<string, string>): ProcessOption | { invalid: string } {
  const v = options.get('process');
  if (v === undefined || v === 'passive') return 'passive';
  if (/^(true|1|yes)$/i.test(v)) return 'true';
  if (/^(false|0|no)$/i.test(v)) return 'false';
  return { invalid: v };
}
