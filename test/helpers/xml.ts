/**
 * A small, strict XML 1.0 well-formedness parser for the generated .bob and
 * alarm files: elements, attributes, character data with the predefined
 * and numeric entities, CDATA, comments and processing instructions. No
 * DTDs (the files have none). Any violation is an XmlSyntaxError naming the
 * line and column; what Phoebus's DOM parser would refuse, this refuses.
 */

export interface XmlNode {
  name: string;
  attributes: Map<string, string>;
  children: XmlNode[];
  /** The element's own character data, concatenated (children's excluded). */
  text: string;
  line: number;
}

export class XmlSyntaxError extends Error {
  constructor(readonly line: number, readonly column: number, detail: string) {
    super(`${line}:${column}: ${detail}`);
    this.name = 'XmlSyntaxError';
  }
}

const NAME = /[A-Za-z_:][A-Za-z0-9_:.-]*/y;
const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
// eslint-disable-next-line no-control-regex
const BAD_CHAR = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/;

export function parseXml(source: string): XmlNode {
  const text = source.startsWith('\uFEFF') ? source.slice(1) : source;
  let pos = 0;

  const where = (at: number): [number, number] => {
    const before = text.slice(0, at);
    const line = before.split('\n').length;
    return [line, at - before.lastIndexOf('\n')];
  };
  const fail = (detail: string, at = pos): never => {
    const [line, column] = where(at);
    throw new XmlSyntaxError(line, column, detail);
  };
  const bad = BAD_CHAR.exec(text);
  if (bad) fail(`character U+${bad[0].charCodeAt(0).toString(16).padStart(4, '0')} is not allowed in XML`, bad.index);

  const startsWith = (s: string): boolean => text.startsWith(s, pos);
  const skipSpace = (): void => {
    while (pos < text.length && ' \t\r\n'.includes(text[pos])) pos++;
  };
  const name = (): string => {
    NAME.lastIndex = pos;
    const m = NAME.exec(text);
    if (!m) return fail(`expected a name, found ${JSON.stringify(text.slice(pos, pos + 10))}`);
    pos += m[0].length;
    return m[0];
  };
  const until = (end: string, what: string): string => {
    const i = text.indexOf(end, pos);
    if (i < 0) fail(`${what} is not closed by "${end}"`);
    const body = text.slice(pos, i);
    pos = i + end.length;
    return body;
  };
  /** Character data or an attribute value with its references replaced. */
  const decode = (raw: string, at: number): string => raw.replace(/&([^;&\s]*);?/g, (all: string, ref: string, offset: number) => {
    if (!all.endsWith(';')) fail('"&" must start an entity reference ending in ";"', at + offset);
    if (ref in PREDEFINED) return PREDEFINED[ref];
    const num = /^#(?:x([0-9A-Fa-f]+)|([0-9]+))$/.exec(ref);
    if (!num) return fail(`unknown entity "&${ref};"`, at + offset);
    const code = num[1] !== undefined ? parseInt(num[1], 16) : parseInt(num[2], 10);
    const c = code <= 0x10ffff ? String.fromCodePoint(code) : '\u0000';
    if (BAD_CHAR.test(c) || (code >= 0xd800 && code <= 0xdfff)) fail(`character reference &${ref}; is not an XML character`, at + offset);
    return c;
  });
  /** Comments and processing instructions, which may appear almost anywhere. */
  const misc = (): boolean => {
    if (startsWith('<!--')) {
      pos += 4;
      const body = until('-->', 'comment');
      if (body.includes('--') || body.endsWith('-')) fail('"--" inside a comment');
      return true;
    }
    if (startsWith('<?')) {
      pos += 2;
      const target = name();
      if (target.toLowerCase() === 'xml') fail('the XML declaration must come first');
      until('?>', 'processing instruction');
      return true;
    }
    return false;
  };

  const element = (): XmlNode => {
    const start = pos;
    pos++; // '<'
    const node: XmlNode = { name: name(), attributes: new Map(), children: [], text: '', line: where(start)[0] };
    for (;;) {
      const hadSpace = pos < text.length && ' \t\r\n'.includes(text[pos]);
      skipSpace();
      if (startsWith('/>')) {
        pos += 2;
        return node;
      }
      if (startsWith('>')) {
        pos++;
        break;
      }
      if (!hadSpace) fail(`expected whitespace, ">" or "/>" in <${node.name}>`);
      const attrAt = pos;
      const attr = name();
      skipSpace();
      if (!startsWith('=')) fail(`attribute ${attr} has no "="`);
      pos++;
      skipSpace();
      const quote = text[pos];
      if (quote !== '"' && quote !== "'") fail(`the value of attribute ${attr} must be quoted`);
      pos++;
      const valueAt = pos;
      const raw = until(quote, `attribute ${attr}`);
      if (raw.includes('<')) fail(`"<" in the value of attribute ${attr}`, valueAt);
      if (node.attributes.has(attr)) fail(`attribute ${attr} given twice`, attrAt);
      node.attributes.set(attr, decode(raw, valueAt).replace(/[\t\r\n]/g, ' '));
    }
    for (;;) {
      if (pos >= text.length) fail(`<${node.name}> (line ${node.line}) is not closed`);
      if (startsWith('</')) {
        pos += 2;
        const closeAt = pos;
        const closing = name();
        if (closing !== node.name) fail(`</${closing}> closes <${node.name}> (line ${node.line})`, closeAt);
        skipSpace();
        if (!startsWith('>')) fail(`expected ">" after </${closing}`);
        pos++;
        return node;
      }
      if (startsWith('<![CDATA[')) {
        pos += 9;
        node.text += until(']]>', 'CDATA section');
        continue;
      }
      if (startsWith('<!')) {
        if (!misc()) fail('unexpected "<!" (no DTDs here)');
        continue;
      }
      if (misc()) continue;
      if (startsWith('<')) {
        node.children.push(element());
        continue;
      }
      const next = text.indexOf('<', pos);
      const end = next < 0 ? text.length : next;
      const raw = text.slice(pos, end);
      if (raw.includes(']]>')) fail('"]]>" in character data', pos + raw.indexOf(']]>'));
      node.text += decode(raw, pos);
      pos = end;
    }
  };

  if (startsWith('<?xml')) {
    const decl = until('?>', 'XML declaration');
    if (!/^<\?xml\s+version\s*=\s*(["'])1\.[0-9]+\1(\s+encoding\s*=\s*(["'])[A-Za-z][A-Za-z0-9._-]*\3)?(\s+standalone\s*=\s*(["'])(yes|no)\5)?\s*$/.test(decl)) {
      fail('malformed XML declaration', 0);
    }
  }
  let root: XmlNode | undefined;
  for (;;) {
    skipSpace();
    if (pos >= text.length) break;
    if (misc()) continue;
    if (startsWith('<!')) fail('unexpected "<!" (no DTDs here)');
    if (!startsWith('<')) fail('text outside the root element');
    if (root) fail('a second root element');
    root = element();
  }
  if (!root) return fail('no root element');
  return root;
}

/** The children named `name`. */
export function childrenNamed(node: XmlNode, name: string): XmlNode[] {
  return node.children.filter((c) => c.name === name);
}

/** The text of the only child named `name`; undefined when there is none. */
export function childText(node: XmlNode, name: string): string | undefined {
  const c = childrenNamed(node, name);
  if (c.length > 1) throw new Error(`<${node.name}> (line ${node.line}) has ${c.length} <${name}>`);
  return c[0]?.text;
}
