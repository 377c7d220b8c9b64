/**
 * Database links as a .db file writes them (dbStaticLib's dbParseLink): empty,
 * a constant (a number, or a JSON array of them), an "@..." instrument string
 * for device support, or a link to a record of this IOC, `rec` or
 * `rec.FIELD`, followed by its process modifier (NPP, PP, CA, CP, CPP) and
 * its maximize-severity modifier (NMS, MS, MSS, MSI).
 */
export type LinkProcess = 'NPP' | 'PP' | 'CA' | 'CP' | 'CPP';
export type LinkSeverity = 'NMS' | 'MS' | 'MSS' | 'MSI';

export type ParsedLink =
  | { readonly kind: 'none' }
  | { readonly kind: 'constant'; readonly values: readonly (number | string)[] }
  | { readonly kind: 'instrument'; readonly text: string }
  | { readonly kind: 'pv'; readonly name: string; readonly record: string; readonly field: string; readonly proc: LinkProcess; readonly ms: LinkSeverity };

export class LinkSyntaxError extends Error {}

const PROCESS_WORDS: readonly LinkProcess[] = ['NPP', 'PP', 'CA', 'CPP', 'CP'];
const SEVERITY_WORDS: readonly LinkSeverity[] = ['NMS', 'MSS', 'MSI', 'MS'];

const NUMBER = /^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|0[xX][0-9a-fA-F]+|inf(?:inity)?|nan)$/i;

/** Parse the text of an INLINK, OUTLINK or FWDLINK field. */
export function parseLink(text: string): ParsedLink {
  const t = text.trim();
  if (t === '') return { kind: 'none' };
  if (t.startsWith('@')) return { kind: 'instrument', text: t };
  if (NUMBER.test(t)) return { kind: 'constant', values: [Number(t)] };
  if (t.startsWith('[')) {
    let arr: unknown;
    try {
      arr = JSON.parse(t);
    } catch {
      throw new LinkSyntaxError('expected a JSON array of constants');
    }
    if (!Array.isArray(arr) || !arr.every((x) => typeof x === 'number' || typeof x === 'string')) {
      throw new LinkSyntaxError('expected a JSON array of numbers or strings');
    }
    return { kind: 'constant', values: arr as (number | string)[] };
  }
  if (t.startsWith('{')) {
    const m = /^\{\s*"?const"?\s*:\s*(.*)\}$/s.exec(t);
    if (m) {
      try {
        const v = JSON.parse(m[1]) as unknown;
        if (typeof v === 'number' || typeof v === 'string') return { kind: 'constant', values: [v] };
        if (Array.isArray(v) && v.every((x) => typeof x === 'number' || typeof x === 'string')) return { kind: 'constant', values: v as (number | string)[] };
      } catch { /* falls through */ }
    }
    throw new LinkSyntaxError('JSON links other than {const: ...} are not supported');
  }
  const words = t.split(/\s+/);
  const name = words[0];
  let proc: LinkProcess = 'NPP';
  let ms: LinkSeverity = 'NMS';
  for (const w of words.slice(1)) {
    const p = PROCESS_WORDS.find((x) => x === w);
    const s = SEVERITY_WORDS.find((x) => x === w);
    if (p) proc = p;
    else if (s) ms = s;
    else throw new LinkSyntaxError(`unknown link modifier "${w}"; expected NPP, PP, CA, CP, CPP, NMS, MS, MSS or MSI`);
  }
  const dot = name.indexOf('.');
  const record = dot < 0 ? name : name.slice(0, dot);
  const field = dot < 0 ? 'VAL' : name.slice(dot + 1);
  return { kind: 'pv', name, record, field, proc, ms };
}

/** The text a link to a record reads back as (dbGetString): the name as written, then both modifiers. */
export function linkText(link: ParsedLink & { kind: 'pv' }): string {
  return `${link.name} ${link.proc} ${link.ms}`;
}
