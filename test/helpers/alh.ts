/**
 * A line parser for ALH configuration files (.alhConfig), strict where ALH
 * (alConfig.c) is lenient: every line must be a GROUP, CHANNEL, a known
 * $option, a comment or blank; parents are looked up the way ALH does,
 * upwards from the group last defined, so groups must come depth-first.
 *
 * A force PV may be a formula (`$FORCEPV CALC mask value reset`, then
 * `$FORCEPV_CALC EXPR` and `$FORCEPV_CALC_A`..`_F` inputs). ALH reads the
 * expression as one word, and an input that atof() reads as a number other
 * than 0 as that constant: "25idc:svc:x" would be the constant 25, never the
 * PV. The parser refuses both, and `alhMask` says which mask ALH gives a
 * channel for given force PV values (force.c: the force mask when the value
 * is the force value, the channel's own mask on the reset value or, with
 * "NE", on any other).
 */
import { compile } from '../../src/calc/calc';

export interface AlhItem {
  name: string;
  alias?: string;
  command?: string;
  guidance?: string[];
  /** $FORCEPV name forceMask forceValue resetValue (alConfig.c; "NE": any value but forceValue); pv "CALC": a formula. */
  force?: { pv: string; mask: string; value: number; reset: number | 'NE'; calc?: AlhCalc };
  line: number;
}

/** A force PV formula: $FORCEPV_CALC and its inputs $FORCEPV_CALC_A..F (a PV name or a constant). */
export interface AlhCalc {
  expression?: string;
  inputs: Map<string, { pv: string } | { constant: number }>;
}

export interface AlhChannel extends AlhItem {
  mask?: string;
}

export interface AlhGroup extends AlhItem {
  parent: AlhGroup | undefined;
  groups: AlhGroup[];
  channels: AlhChannel[];
}

export class AlhSyntaxError extends Error {
  constructor(readonly line: number, detail: string) {
    super(`line ${line}: ${detail}`);
    this.name = 'AlhSyntaxError';
  }
}

/** Options this parser knows; ALH has more ($SEVRPV, $ACKPV, ...), unused here. */
const OPTIONS = new Set(['$ALIAS', '$COMMAND', '$GUIDANCE', '$FORCEPV', '$FORCEPV_CALC', ...'ABCDEF'.split('').map((l) => `$FORCEPV_CALC_${l}`)]);

/** What C's atof reads at the start of `word` (0 when nothing): ALH takes a CALC input with a value other than 0 as a constant. */
export function atofValue(word: string): number {
  const w = word.trimStart();
  if (/^[+-]?(inf|nan)/i.test(w)) return /^-/.test(w) ? -Infinity : Infinity;
  const hex = /^([+-]?)0[xX]([0-9a-fA-F]+)/.exec(w);
  if (hex) return (hex[1] === '-' ? -1 : 1) * parseInt(hex[2], 16);
  const m = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?/.exec(w);
  return m ? Number(m[0]) : 0;
}

export function parseAlh(text: string): AlhGroup {
  const lines = text.split('\n');
  let main: AlhGroup | undefined;
  let current: AlhGroup | undefined;
  let context: AlhItem | undefined;
  const findParent = (name: string, line: number): AlhGroup => {
    for (let g = current; g; g = g.parent) if (g.name === name) return g;
    throw new AlhSyntaxError(line, `parent "${name}" is not the current group or one of its ancestors`);
  };
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    const line = lines[i].replace(/^[ \t]+/, '');
    if (line === '' || line.startsWith('#')) continue;
    const words = line.trim().split(/\s+/);
    const keyword = words[0];
    if (keyword === 'GROUP') {
      if (words.length !== 3) throw new AlhSyntaxError(n, 'GROUP takes a parent and a name');
      const [, parentName, name] = words;
      let parent: AlhGroup | undefined;
      if (parentName === 'NULL') {
        if (main) throw new AlhSyntaxError(n, 'a second main group (parent NULL)');
      } else {
        if (!main) throw new AlhSyntaxError(n, 'the first GROUP must have parent NULL');
        parent = findParent(parentName, n);
      }
      const g: AlhGroup = { name, parent, groups: [], channels: [], line: n };
      if (parent) parent.groups.push(g);
      else main = g;
      current = g;
      context = g;
    } else if (keyword === 'CHANNEL') {
      if (words.length !== 3 && words.length !== 4) throw new AlhSyntaxError(n, 'CHANNEL takes a parent, a PV name and an optional mask');
      const [, parentName, name, mask] = words;
      if (mask !== undefined && !/^[-C][-D][-A][-T][-L]$/.test(mask)) throw new AlhSyntaxError(n, `bad mask "${mask}"`);
      const parent = findParent(parentName, n);
      const c: AlhChannel = { name, mask, line: n };
      parent.channels.push(c);
      // ALH continues from the channel's group.
      current = parent;
      context = c;
    } else if (keyword.startsWith('$')) {
      if (!OPTIONS.has(keyword)) throw new AlhSyntaxError(n, `unknown option ${keyword}`);
      if (!context) throw new AlhSyntaxError(n, `${keyword} before any GROUP or CHANNEL`);
      const rest = line.slice(keyword.length).trim();
      if (keyword === '$ALIAS') {
        if (context.alias !== undefined) throw new AlhSyntaxError(n, '$ALIAS given twice');
        context.alias = rest;
      } else if (keyword === '$COMMAND') {
        context.command = rest;
      } else if (keyword === '$FORCEPV') {
        const [pv, mask, value, reset, extra] = rest.split(/\s+/);
        if (extra !== undefined || reset === undefined) throw new AlhSyntaxError(n, '$FORCEPV takes a PV, a mask, a force value and a reset value');
        if (!/^[-C][-D][-A][-T][-L]$/.test(mask)) throw new AlhSyntaxError(n, `bad force mask "${mask}"`);
        if (!/^-?\d+(\.\d+)?$/.test(value) || !(reset === 'NE' || /^-?\d+(\.\d+)?$/.test(reset))) throw new AlhSyntaxError(n, `bad force or reset value in "${rest}"`);
        if (context.force) throw new AlhSyntaxError(n, '$FORCEPV given twice (ALH keeps the first)');
        context.force = { pv, mask, value: Number(value), reset: reset === 'NE' ? 'NE' : Number(reset), ...(pv === 'CALC' ? { calc: { inputs: new Map() } } : {}) };
      } else if (keyword.startsWith('$FORCEPV_CALC')) {
        const calc = context.force?.calc;
        if (!calc) throw new AlhSyntaxError(n, `${keyword} without a $FORCEPV CALC before it`);
        const words = rest.split(/\s+/);
        if (rest === '' || words.length !== 1) throw new AlhSyntaxError(n, `${keyword} takes one word (ALH reads no further): "${rest}"`);
        if (keyword === '$FORCEPV_CALC') {
          try {
            compile(rest);
          } catch (err) {
            throw new AlhSyntaxError(n, `$FORCEPV_CALC "${rest}" is not a CALC expression: ${(err as Error).message}`);
          }
          calc.expression = rest;
        } else {
          const letter = keyword.slice(-1);
          if (calc.inputs.has(letter)) throw new AlhSyntaxError(n, `${keyword} given twice (ALH keeps the first)`);
          const number = atofValue(rest);
          if (number !== 0 && !/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(rest)) {
            throw new AlhSyntaxError(n, `${keyword} ${rest}: ALH reads this name as the number ${number} (atof), not as a PV`);
          }
          calc.inputs.set(letter, /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(rest) ? { constant: Number(rest) } : { pv: rest });
        }
      } else if (rest !== '') {
        context.guidance = [rest]; // $GUIDANCE url
      } else {
        const text: string[] = [];
        for (i++; ; i++) {
          if (i >= lines.length) throw new AlhSyntaxError(n, '$GUIDANCE without $END');
          const g = lines[i].replace(/^[ \t]+/, '');
          if (g.startsWith('$')) {
            if (!/^\$(END|End)/.test(g)) throw new AlhSyntaxError(i + 1, `"${g}" inside $GUIDANCE ends it without $END`);
            break;
          }
          text.push(g);
        }
        context.guidance = text;
      }
    } else {
      throw new AlhSyntaxError(n, `not an ALH line: ${line}`);
    }
  }
  if (!main) throw new AlhSyntaxError(lines.length, 'no GROUP');
  for (const c of alhChannels(main)) {
    const calc = c.force?.calc;
    if (!calc) continue;
    if (calc.expression === undefined) throw new AlhSyntaxError(c.line, `${c.name}: $FORCEPV CALC without $FORCEPV_CALC`);
    for (const l of compile(calc.expression).inputs.map((i) => String.fromCharCode(65 + i))) {
      if (!calc.inputs.has(l)) throw new AlhSyntaxError(c.line, `${c.name}: $FORCEPV_CALC ${calc.expression} uses ${l} and there is no $FORCEPV_CALC_${l}`);
    }
  }
  return main;
}

/** The PVs a channel's force PV reads (its PV, or a formula's inputs). */
export function alhForcePvs(c: AlhItem): string[] {
  if (!c.force) return [];
  if (!c.force.calc) return [c.force.pv];
  return [...c.force.calc.inputs.values()].flatMap((i) => ('pv' in i ? [i.pv] : []));
}

/**
 * The mask ALH gives `c` once its force PV (or every input of its formula)
 * has the value in `values`: the force mask on the force value, else the
 * channel's own mask with "NE" or on the reset value. Undefined when a value
 * is missing (ALH waits), or when the value is neither with a reset value
 * (ALH keeps the mask it had).
 */
export function alhMask(c: AlhChannel, values: ReadonlyMap<string, number>): string | undefined {
  const own = c.mask ?? '-----';
  const f = c.force;
  if (!f) return own;
  let v: number | undefined;
  if (f.calc) {
    const inputs = new Array<number>(12).fill(0);
    for (const [letter, input] of f.calc.inputs) {
      const x = 'pv' in input ? values.get(input.pv) : input.constant;
      if (x === undefined) return undefined;
      inputs[letter.charCodeAt(0) - 65] = x;
    }
    v = compile(f.calc.expression as string).run(inputs);
  } else {
    v = values.get(f.pv);
  }
  if (v === undefined) return undefined;
  // force.c compares a formula's result as floats.
  const same = (a: number, b: number): boolean => (f.calc ? Math.fround(a) === Math.fround(b) : a === b);
  if (same(v, f.value)) return f.mask;
  if (f.reset === 'NE' || same(v, f.reset)) return own;
  return undefined;
}

/** Whether ALH counts and shows `c`'s alarms under `mask` (no D), and logs them (no L). */
export function alhMaskMeans(mask: string): { raises: boolean; logs: boolean } {
  return { raises: mask[1] !== 'D', logs: mask[4] !== 'L' };
}

/** Every channel below the group, depth-first. */
export function alhChannels(g: AlhGroup): AlhChannel[] {
  return [...g.channels, ...g.groups.flatMap(alhChannels)];
}
