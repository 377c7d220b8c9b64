/**
 * A line parser for ALH configuration files (.alhConfig), strict where ALH
 * (alConfig.c) is lenient: every line must be a GROUP, CHANNEL, a known
 * $option, a comment or blank; parents are looked up the way ALH does,
 * upwards from the group last defined, so groups must come depth-first.
 */

export interface AlhItem {
  name: string;
  alias?: string;
  command?: string;
  guidance?: string[];
  /** $FORCEPV name forceMask forceValue resetValue (alConfig.c; "NE": any value but forceValue). */
  force?: { pv: string; mask: string; value: number; reset: number | 'NE' };
  line: number;
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
const OPTIONS = new Set(['$ALIAS', '$COMMAND', '$GUIDANCE', '$FORCEPV']);

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
        context.force = { pv, mask, value: Number(value), reset: reset === 'NE' ? 'NE' : Number(reset) };
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
  return main;
}

/** Every channel below the group, depth-first. */
export function alhChannels(g: AlhGroup): AlhChannel[] {
  return [...g.channels, ...g.groups.flatMap(alhChannels)];
}
