/**
 * The lexer of the .db language (dbLex.l), over macro-expanded text. It has
 * dbLex.l's two start conditions: `initial` for statements and names, `json`
 * for field and info values.
 *
 * Tokens carry offsets only; the parser asks for a source position when it
 * keeps one, so that most tokens cost no position lookup.
 */
import { DbLoadError, DbLoadErrorCode, DbLoadWarning, SourcePosition, makeWarning, quoteForMessage } from './errors';
import { ExpandedSource } from './macros';

export type LexMode = 'initial' | 'json';

export type TokenKind =
  | 'keyword'   // reserved word (initial mode)
  | 'string'    // bareword or "quoted" (initial mode)
  | 'punct'     // { } ( ) , and in json mode : [ ]
  | 'cdef'      // %... line (recordtype bodies only)
  | 'jliteral'  // null true false
  | 'jnumber'
  | 'jstring'   // "..." or '...' in json mode; text is the raw content
  | 'jbare'
  | 'eof';

export interface Token {
  readonly kind: TokenKind;
  /** Word, punctuation character, or raw string content. */
  readonly text: string;
  readonly quoted: boolean;
  /** Offsets in the expanded text. */
  readonly start: number;
  readonly end: number;
}

const KEYWORDS: ReadonlySet<string> = new Set([
  'include', 'path', 'addpath', 'menu', 'choice', 'recordtype', 'field', 'device',
  'driver', 'link', 'breaktable', 'record', 'grecord', 'alias', 'info', 'registrar',
  'function', 'variable',
]);

// Character classes of ASCII characters, as bits in a table by char code.
/** [a-zA-Z0-9_\-+:.[\]<>;]: a bareword in initial mode. */
const BARE = 1;
/** [a-zA-Z0-9_\-+.]: a bare word in json mode (no ':'). */
const JSON_BARE = 2;
/** Space, tab, CR, LF. */
const SPACE = 4;
/** Punctuation in initial mode: { } ( ) , */
const PUNCT = 8;
/** Punctuation in json mode: : , [ ] { } ( ) */
const JSON_PUNCT = 16;
const HEX_DIGIT = 32;

const CHAR_CLASS = new Uint8Array(128);
function classify(chars: string, bit: number): void {
  for (let i = 0; i < chars.length; i++) CHAR_CLASS[chars.charCodeAt(i)] |= bit;
}
const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
classify(`${ALNUM}_-+:.[]<>;`, BARE);
classify(`${ALNUM}_-+.`, JSON_BARE);
classify(' \t\r\n', SPACE);
classify('{}(),', PUNCT);
classify(':,[]{}()', JSON_PUNCT);
classify('0123456789abcdefABCDEF', HEX_DIGIT);

/** Whether char code `code` (NaN past the end of a string) is in class `cls`. */
function inClass(code: number, cls: number): boolean {
  return code < 128 && (CHAR_CLASS[code] & cls) !== 0;
}

const NEWLINE = 10;
const HASH = 35; // #

// dbLex.l's {number}: JSON numbers plus 1., .5, NaN, Infinity and hex.
const JSON_NUMBER = new RegExp(
  '^(?:' +
    [
      '[+-]?(?:[0-9]|[1-9][0-9]+)(?:\\.[0-9]+)?(?:[eE][+-]?[0-9]+)?',
      '[+-]?(?:[0-9]|[1-9][0-9]+)\\.(?:[eE][+-]?[0-9]+)?',
      '[+-]?\\.[0-9]+(?:[eE][+-]?[0-9]+)?',
      'NaN',
      '[+-]?Infinity',
      '[+-]?0[xX][0-9a-fA-F]+',
    ].join('|') +
    ')$',
);

function isPrintable(c: string): boolean {
  const code = c.charCodeAt(0);
  return code >= 0x20 && code !== 0x7f;
}

export function charForMessage(c: string): string {
  if (!isPrintable(c)) return `0x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
  return c === "'" ? '"\'"' : `'${c}'`;
}

export function describeToken(t: Token): string {
  switch (t.kind) {
    case 'eof': return 'end of file';
    case 'punct': return `'${t.text}'`;
    case 'keyword': return `keyword '${t.text}'`;
    case 'string': return t.quoted ? `string ${quoteForMessage(t.text)}` : `'${t.text}'`;
    case 'jstring': return `string ${quoteForMessage(t.text)}`;
    case 'cdef': return `'%${t.text.slice(0, 20)}'`;
    default: return `'${t.text}'`;
  }
}

export class DbLexer {
  private readonly text: string;
  private offset = 0;
  private problemIndex = 0;
  /** A token looked at but not taken, and the mode it was read in. */
  private peeked: Token | null = null;
  private peekedMode: LexMode = 'initial';

  constructor(
    private readonly src: ExpandedSource,
    private readonly onWarning: ((w: DbLoadWarning) => void) | undefined,
  ) {
    this.text = src.text;
  }

  posAt(offset: number): SourcePosition {
    return this.src.positionAt(offset);
  }

  error(code: DbLoadErrorCode, detail: string, offset: number): DbLoadError {
    // A macro that failed to expand explains the damage better than the
    // damage itself (e.g. "invalid character '$'").
    this.throwProblemsBefore(offset + 1);
    return new DbLoadError(code, detail, this.posAt(offset));
  }

  peek(mode: LexMode): Token {
    if (this.peeked) {
      if (this.peekedMode !== mode) throw new Error('DbLexer: peeked token in another mode');
      return this.peeked;
    }
    const token = this.scan(mode);
    this.peeked = token;
    this.peekedMode = mode;
    return token;
  }

  next(mode: LexMode): Token {
    const token = this.peek(mode);
    this.peeked = null;
    return token;
  }

  /**
   * Take the next token if it is the punctuation character `ch` (one of
   * the mode's); the same as checking next(mode), without making a token.
   */
  takePunct(ch: string, mode: LexMode): boolean {
    if (this.peeked) {
      if (this.peeked.kind !== 'punct' || this.peeked.text !== ch) return false;
      this.next(mode);
      return true;
    }
    this.skipTrivia();
    const start = this.offset;
    if (this.text.charCodeAt(start) !== ch.charCodeAt(0)) return false;
    this.throwProblemsBefore(start + 1);
    this.offset = start + 1;
    return true;
  }

  private throwProblemsBefore(end: number): void {
    const problems = this.src.problems;
    if (this.problemIndex < problems.length && problems[this.problemIndex].offset < end) {
      const p = problems[this.problemIndex];
      throw new DbLoadError(p.code, p.detail, p.pos);
    }
  }

  /** Macro problems inside a comment are harmless: warn and forget them. */
  private forgiveProblemsIn(start: number, end: number): void {
    const problems = this.src.problems;
    while (this.problemIndex < problems.length && problems[this.problemIndex].offset < end) {
      const p = problems[this.problemIndex];
      if (p.offset < start) return; // not in this comment: let the next token report it
      this.onWarning?.(makeWarning('DB_WARN_MACRO_IN_COMMENT', `${p.detail} (in a comment)`, p.pos));
      this.problemIndex++;
    }
  }

  private skipTrivia(): void {
    const text = this.text;
    let i = this.offset;
    for (;;) {
      const code = text.charCodeAt(i);
      if (inClass(code, SPACE)) {
        i++;
      } else if (code === HASH) {
        let end = text.indexOf('\n', i);
        if (end < 0) end = text.length;
        this.forgiveProblemsIn(i, end);
        i = end;
      } else {
        break;
      }
    }
    this.offset = i;
  }

  private make(kind: TokenKind, text: string, start: number, end: number, quoted = false): Token {
    this.throwProblemsBefore(end);
    this.offset = end;
    return { kind, text, quoted, start, end };
  }

  private scan(mode: LexMode): Token {
    this.skipTrivia();
    const start = this.offset;
    if (start >= this.text.length) {
      this.throwProblemsBefore(Infinity);
      return { kind: 'eof', text: '', quoted: false, start, end: start };
    }
    return mode === 'initial' ? this.scanInitial(start) : this.scanJson(start);
  }

  /** The end of the run of characters of class `cls` from `start`. */
  private runEnd(start: number, cls: number): number {
    const text = this.text;
    let end = start + 1;
    while (inClass(text.charCodeAt(end), cls)) end++;
    return end;
  }

  private scanInitial(start: number): Token {
    const text = this.text;
    const code = text.charCodeAt(start);
    if (inClass(code, BARE)) {
      const end = this.runEnd(start, BARE);
      const word = text.slice(start, end);
      return this.make(KEYWORDS.has(word) ? 'keyword' : 'string', word, start, end);
    }
    const c = text[start];
    if (c === '"') {
      const end = this.scanQuoted(start, c, false);
      return this.make('string', text.slice(start + 1, end - 1), start, end, true);
    }
    if (c === '%') {
      let end = text.indexOf('\n', start);
      if (end < 0) end = text.length;
      return this.make('cdef', text.slice(start + 1, end), start, end);
    }
    if (inClass(code, PUNCT)) return this.make('punct', c, start, start + 1);
    throw this.error('DB_ERR_SYNTAX', `invalid character ${charForMessage(c)}`, start);
  }

  private scanJson(start: number): Token {
    const text = this.text;
    const code = text.charCodeAt(start);
    if (inClass(code, JSON_BARE)) {
      const end = this.runEnd(start, JSON_BARE);
      const word = text.slice(start, end);
      let kind: TokenKind = 'jbare';
      if (word === 'null' || word === 'true' || word === 'false') kind = 'jliteral';
      else if (JSON_NUMBER.test(word)) kind = 'jnumber';
      return this.make(kind, word, start, end);
    }
    const c = text[start];
    if (c === '"' || c === "'") {
      const end = this.scanQuoted(start, c, true);
      return this.make('jstring', text.slice(start + 1, end - 1), start, end, true);
    }
    if (inClass(code, JSON_PUNCT)) return this.make('punct', c, start, start + 1);
    throw this.error('DB_ERR_SYNTAX', `invalid character ${charForMessage(c)}`, start);
  }

  /**
   * Find the end (index after the closing quote) of a quoted string. JSON
   * strings (dbLex.l's jsonstr) are stricter: no control characters, and
   * only \xHH, \uHHHH and single-character escapes other than \1..\9.
   */
  private scanQuoted(start: number, quote: string, json: boolean): number {
    const text = this.text;
    const quoteCode = quote.charCodeAt(0);
    let i = start + 1;
    for (;;) {
      const code = text.charCodeAt(i);
      if (i >= text.length || code === NEWLINE) {
        // A macro reference that swallowed the closing quote (`"$(P"`) is the real fault.
        const hint = this.src.hints?.find((h) => h.offset >= start && h.offset <= i);
        if (hint) this.throwProblemsBefore(hint.offset);
        if (hint) throw new DbLoadError(hint.code, hint.detail, hint.pos);
        this.throwProblemsBefore(i + 1);
        throw this.error('DB_ERR_BAD_STRING',
          i >= text.length ? 'closing quote missing at end of file' : 'newline in string, closing quote missing',
          start);
      }
      if (code === quoteCode) return i + 1;
      if (code === 0x5c) { // backslash
        const n = text[i + 1];
        if (n === undefined || n === '\n') {
          this.throwProblemsBefore(i + 2);
          throw this.error('DB_ERR_BAD_STRING', 'newline in string, closing quote missing', start);
        }
        if (json) {
          const width = n === 'x' ? 2 : n === 'u' ? 4 : 0;
          for (let k = 0; k < width; k++) {
            if (!inClass(text.charCodeAt(i + 2 + k), HEX_DIGIT)) {
              throw this.error('DB_ERR_BAD_STRING',
                `bad escape '\\${n}' in JSON string: needs ${width} hex digits`, i);
            }
          }
          if (n >= '1' && n <= '9') {
            throw this.error('DB_ERR_BAD_STRING', `bad escape '\\${n}' in JSON string`, i);
          }
          i += 2 + width;
        } else {
          i += 2;
        }
        continue;
      }
      if (json && code < 0x20) {
        throw this.error('DB_ERR_BAD_STRING', `bad character ${charForMessage(text[i])} in JSON string`, i);
      }
      i++;
    }
  }
}
