/**
 * A small XML writer for the files service-ioc generates for operators
 * (Phoebus displays and alarm configurations): elements, attributes and
 * text, indented two spaces, text-only elements on one line, so the output
 * is stable byte for byte and easy to diff.
 */

export interface XmlElement {
  readonly name: string;
  readonly attributes: ReadonlyArray<readonly [string, string]>;
  readonly children: ReadonlyArray<XmlElement | string>;
}

/** Characters XML 1.0 cannot carry at all, even escaped. */
// eslint-disable-next-line no-control-regex
const NOT_XML = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/;

/** Text or an attribute value (always written in double quotes), escaped. */
export function escapeXml(text: string): string {
  if (NOT_XML.test(text)) throw new Error(`text cannot be written to XML: ${JSON.stringify(text)}`);
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

type Child = XmlElement | string | number | boolean | undefined | null | false;

/**
 * An element. `attributes` keep their order; undefined, null and false
 * children are left out, so optional parts can be written inline.
 */
export function el(name: string, attributes: Record<string, string | number> | null, ...children: Array<Child | Child[]>): XmlElement {
  const flat: Array<XmlElement | string> = [];
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    flat.push(typeof c === 'object' ? c : String(c));
  }
  return { name, attributes: Object.entries(attributes ?? {}).map(([k, v]) => [k, String(v)] as const), children: flat };
}

/** `<name>text</name>`. */
export function leaf(name: string, text: string | number | boolean): XmlElement {
  return el(name, null, String(text));
}

function renderElement(e: XmlElement, depth: number, out: string[]): void {
  const pad = '  '.repeat(depth);
  const attrs = e.attributes.map(([k, v]) => ` ${k}="${escapeXml(v)}"`).join('');
  if (e.children.length === 0) {
    out.push(`${pad}<${e.name}${attrs}/>`);
  } else if (e.children.every((c) => typeof c === 'string')) {
    out.push(`${pad}<${e.name}${attrs}>${e.children.map((c) => escapeXml(c as string)).join('')}</${e.name}>`);
  } else {
    if (e.children.some((c) => typeof c === 'string')) throw new Error(`<${e.name}> mixes text and elements`);
    out.push(`${pad}<${e.name}${attrs}>`);
    for (const c of e.children) renderElement(c as XmlElement, depth + 1, out);
    out.push(`${pad}</${e.name}>`);
  }
}

/** The whole document, with the XML declaration and a final newline. */
export function renderXmlDocument(root: XmlElement, comment?: string): string {
  const out = ['<?xml version="1.0" encoding="UTF-8"?>'];
  if (comment !== undefined) {
    if (comment.includes('--')) throw new Error('an XML comment cannot hold "--"');
    out.push(`<!-- ${comment} -->`);
  }
  renderElement(root, 0, out);
  return out.join('\n') + '\n';
}
