/**
 * A block parser for MEDM .adl files, after MEDM's own reader (parse.c in
 * epics-extensions/medm): `name { key=value ... }` nested, names and
 * values bare or in double quotes (no escapes, no newline inside), and
 * list items such as the colour map's `ffffff,`.
 */

export type AdlEntry =
  | { kind: 'pair'; key: string; value: string; quoted: boolean; line: number }
  | { kind: 'block'; block: AdlBlock }
  | { kind: 'item'; value: string; line: number };

export interface AdlBlock {
  name: string;
  entries: AdlEntry[];
  line: number;
}

export class AdlSyntaxError extends Error {
  constructor(readonly line: number, detail: string) {
    super(`line ${line}: ${detail}`);
    this.name = 'AdlSyntaxError';
  }
}

interface Token {
  kind: 'word' | 'string' | '{' | '}' | '=' | ',';
  text: string;
  line: number;
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let line = 1;
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '\n') {
      line++;
      i++;
    } else if (c === ' ' || c === '\t' || c === '\r') {
      i++;
    } else if (c === '{' || c === '}' || c === '=' || c === ',') {
      tokens.push({ kind: c, text: c, line });
      i++;
    } else if (c === '"') {
      const end = text.indexOf('"', i + 1);
      const nl = text.indexOf('\n', i + 1);
      if (end < 0 || (nl >= 0 && nl < end)) throw new AdlSyntaxError(line, 'a string is not closed on its line');
      tokens.push({ kind: 'string', text: text.slice(i + 1, end), line });
      i = end + 1;
    } else {
      let j = i;
      while (j < text.length && !' \t\r\n{}=,"'.includes(text[j])) j++;
      tokens.push({ kind: 'word', text: text.slice(i, j), line });
      i = j;
    }
  }
  return tokens;
}

/** The file's top-level blocks, in order. */
export function parseAdl(text: string): AdlBlock[] {
  const tokens = tokenize(text);
  let i = 0;
  const peek = (): Token | undefined => tokens[i];
  const fail = (detail: string): never => {
    throw new AdlSyntaxError(peek()?.line ?? tokens[tokens.length - 1]?.line ?? 1, detail);
  };
  const take = (kind: Token['kind']): Token => {
    const t = peek();
    if (!t || t.kind !== kind) return fail(`expected ${kind}, found ${t ? JSON.stringify(t.text) : 'the end'}`);
    i++;
    return t;
  };
  const isName = (t: Token | undefined): t is Token => t !== undefined && (t.kind === 'word' || t.kind === 'string');

  const block = (): AdlBlock => {
    const name = peek();
    if (!isName(name)) return fail('expected a block name');
    i++;
    take('{');
    const b: AdlBlock = { name: name.text, entries: [], line: name.line };
    for (;;) {
      const t = peek();
      if (!t) return fail(`block "${b.name}" (line ${b.line}) is not closed`);
      if (t.kind === '}') {
        i++;
        return b;
      }
      if (t.kind !== 'word' && t.kind !== 'string') return fail(`unexpected ${JSON.stringify(t.text)} in block "${b.name}"`);
      const next = tokens[i + 1];
      if (next?.kind === '{') {
        b.entries.push({ kind: 'block', block: block() });
      } else if (next?.kind === '=') {
        i += 2;
        const v = peek();
        if (!isName(v)) return fail(`key ${t.text} has no value`);
        i++;
        b.entries.push({ kind: 'pair', key: t.text, value: v.text, quoted: v.kind === 'string', line: t.line });
      } else {
        i++;
        if (peek()?.kind === ',') i++;
        b.entries.push({ kind: 'item', value: t.text, line: t.line });
      }
    }
  };

  const blocks: AdlBlock[] = [];
  while (peek()) blocks.push(block());
  return blocks;
}

/** The value of the only `key=` in the block. */
export function adlValue(b: AdlBlock, key: string): string | undefined {
  const pairs = b.entries.filter((e): e is Extract<AdlEntry, { kind: 'pair' }> => e.kind === 'pair' && e.key === key);
  if (pairs.length > 1) throw new Error(`block "${b.name}" (line ${b.line}) has ${pairs.length} "${key}="`);
  return pairs[0]?.value;
}

/** The nested blocks named `name`. */
export function adlBlocks(b: AdlBlock, name: string): AdlBlock[] {
  return b.entries.flatMap((e) => (e.kind === 'block' && e.block.name === name ? [e.block] : []));
}
