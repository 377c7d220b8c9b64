/**
 * The EPICS database file language (.db), read the way EPICS base reads it
 * (modules/database/src/ioc/dbStatic/dbLex.l, dbYacc.y, dbLexRoutines.c),
 * and a loader that merges records from one or more files into one
 * LoadedDatabase. No record semantics here: field names and values are kept
 * as text, to be checked against record types by the database layer.
 *
 * The language, as the EPICS lexer and grammar define it:
 * - Top level: `record(TYPE, NAME) {...}` (`grecord` is the same), the body
 *   optional; `alias(NAME, ALIAS)`; `include FILE`; `path DIRS`;
 *   `addpath DIRS`. The .dbd statements (menu, recordtype, device, driver,
 *   link, registrar, function, variable, breaktable) are part of the same
 *   grammar and dbLoadRecords accepts them in a .db file; we parse them with
 *   the same rules and then ignore them with a warning, since record types,
 *   menus and device support are built into this IOC.
 * - Record body: `field(NAME, VALUE)`, `info(NAME, VALUE)`, `alias(ALIAS)`,
 *   `include FILE`.
 * - A string is a bareword `[a-zA-Z0-9_\-+:.\[\]<>;]+` or a double-quoted
 *   string with backslash escapes and no newline. Escapes are not
 *   translated in names (record names, types, file names).
 *   The keywords are reserved: an unquoted `field` is never a name.
 * - Field and info values are read as JSON (EPICS 7): a string in double or
 *   single quotes (escapes translated), a bare word `[a-zA-Z0-9_\-+.]+` (no
 *   ':'!), a number, null/true/false, or an object/array, which is kept as
 *   JSON text (JSON links, `info(Q:group, {...})`).
 * - `#` starts a comment to the end of the line, also inside JSON values.
 * - Macros are expanded line by line before lexing (see macros.ts).
 */
import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import {
  DbLoadError,
  DbLoadErrorCode,
  DbLoadWarning,
  SourcePosition,
  makeWarning,
  quoteForMessage,
} from './errors';
import { DbLexer, LexMode, Token, charForMessage, describeToken } from './lexer';
import { expandSource } from './macros';
import { EditableRecord, StagedDatabase } from './staging';

// ---------------------------------------------------------------------------
// AST

/** A name-like token: record type or name, field name, file name... */
export interface DbToken {
  /** The text; for a quoted token the text between the quotes, escapes untouched. */
  readonly value: string;
  readonly quoted: boolean;
  readonly pos: SourcePosition;
}

/**
 * string: quoted, escapes translated; bare: unquoted word; number, literal
 * (null/true/false): as written; object, array: JSON text.
 */
export type DbValueKind = 'string' | 'bare' | 'number' | 'literal' | 'object' | 'array';

/** A field or info value. `value` is what dbPutString would be given. */
export interface DbValue {
  readonly kind: DbValueKind;
  readonly value: string;
  readonly pos: SourcePosition;
}

export interface DbFieldItem {
  readonly kind: 'field';
  readonly name: DbToken;
  readonly value: DbValue;
  readonly pos: SourcePosition;
}

export interface DbInfoItem {
  readonly kind: 'info';
  readonly name: DbToken;
  readonly value: DbValue;
  readonly pos: SourcePosition;
}

/** `alias(ALIAS)` inside a record body. */
export interface DbRecordAliasItem {
  readonly kind: 'alias';
  readonly alias: DbToken;
  readonly pos: SourcePosition;
}

export interface DbIncludeStatement {
  readonly kind: 'include';
  readonly file: DbToken;
  readonly pos: SourcePosition;
}

export type DbRecordItem = DbFieldItem | DbInfoItem | DbRecordAliasItem | DbIncludeStatement;

export interface DbRecordStatement {
  readonly kind: 'record';
  readonly keyword: 'record' | 'grecord';
  readonly type: DbToken;
  readonly name: DbToken;
  /** False for `record(ai, x)` with no braces. */
  readonly hasBody: boolean;
  readonly items: readonly DbRecordItem[];
  readonly pos: SourcePosition;
}

/** Top-level `alias(RECORD, ALIAS)`. */
export interface DbAliasStatement {
  readonly kind: 'alias';
  readonly record: DbToken;
  readonly alias: DbToken;
  readonly pos: SourcePosition;
}

export interface DbPathStatement {
  readonly kind: 'path' | 'addpath';
  readonly path: DbToken;
  readonly pos: SourcePosition;
}

export type DbdKeyword =
  | 'menu' | 'recordtype' | 'device' | 'driver' | 'link'
  | 'registrar' | 'function' | 'variable' | 'breaktable';

/** A .dbd definition found in a .db file; its body is checked, then dropped. */
export interface DbDbdStatement {
  readonly kind: 'dbd';
  readonly keyword: DbdKeyword;
  readonly args: readonly DbToken[];
  readonly pos: SourcePosition;
}

export type DbStatement =
  | DbRecordStatement
  | DbAliasStatement
  | DbIncludeStatement
  | DbPathStatement
  | DbDbdStatement;

export interface ParseDbOptions {
  /** File name used in positions and errors. */
  file: string;
  /** Raw macro values (as parseMacroDefinitions returns them). */
  macros?: ReadonlyMap<string, string>;
  /** Receives warnings (e.g. an undefined macro inside a comment). */
  onWarning?: (warning: DbLoadWarning) => void;
}

const DBD_KEYWORDS = new Set<string>([
  'menu', 'recordtype', 'device', 'driver', 'link', 'registrar', 'function', 'variable', 'breaktable',
]);

// ---------------------------------------------------------------------------
// Escapes

function hexValue(s: string): number {
  return parseInt(s, 16);
}

/**
 * Translate backslash escapes as epicsStrnRawFromEscaped (dbTranslateEscape)
 * does: \a \b \f \n \r \t \v \\ \' \" \0, \xH or \xHH, any other \c gives c.
 * We also decode \uHHHH, which the lexer admits in JSON strings.
 */
export function translateEscapes(s: string): string {
  if (!s.includes('\\')) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c !== '\\') {
      out += c;
      continue;
    }
    if (i + 1 >= s.length) break;
    const n = s[++i];
    switch (n) {
      case 'a': out += '\x07'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'v': out += '\v'; break;
      case '0': out += '\0'; break;
      case 'x': {
        let digits = '';
        while (digits.length < 2 && i + 1 < s.length && /[0-9a-fA-F]/.test(s[i + 1])) digits += s[++i];
        if (digits) out += String.fromCharCode(hexValue(digits));
        break;
      }
      case 'u': {
        const digits = s.slice(i + 1, i + 5);
        if (/^[0-9a-fA-F]{4}$/.test(digits)) {
          out += String.fromCharCode(hexValue(digits));
          i += 4;
        } else {
          out += 'u';
        }
        break;
      }
      default: out += n;
    }
  }
  return out;
}

/** A top-level string value as dbPutString gets it: a C string ends at NUL. */
function stringFieldValue(raw: string): string {
  const value = translateEscapes(raw);
  const nul = value.indexOf('\0');
  return nul >= 0 ? value.slice(0, nul) : value;
}

// ---------------------------------------------------------------------------
// Parser

const MAX_JSON_DEPTH = 64;

/** Texts up to this long are shared (see DbParser.share). */
const MAX_SHARED_LENGTH = 16;

class DbParser {
  /** Offset just after the last scalar value token, for error hints. */
  private lastValueEnd = -1;
  /** One string for each short text seen, see share(). */
  private readonly shared = new Map<string, string>();

  constructor(private readonly lex: DbLexer) {}

  /** Where a token starts in the source. */
  private pos(t: Token): SourcePosition {
    return this.lex.posAt(t.start);
  }

  private fail(t: Token, expected: string, code: DbLoadErrorCode = 'DB_ERR_SYNTAX', hint = ''): never {
    throw new DbLoadError(code, `${expected}, found ${describeToken(t)}${hint ? ` (${hint})` : ''}`, this.pos(t));
  }

  private expectPunct(ch: string, expected: string, mode: LexMode = 'initial'): void {
    if (!this.lex.takePunct(ch, mode)) this.fail(this.lex.next(mode), expected);
  }

  /**
   * The same text as `s`, as one string object for all its occurrences.
   * Record types, field names and many values repeat from record to record,
   * and a loaded database (and the records built from it) keeps them all.
   */
  private share(s: string): string {
    if (s.length > MAX_SHARED_LENGTH) return s;
    const known = this.shared.get(s);
    if (known !== undefined) return known;
    this.shared.set(s, s);
    return s;
  }

  /** A string token; `shared` for texts that repeat (see share()). */
  private expectString(expected: string, shared = false): DbToken {
    const t = this.lex.next('initial');
    if (t.kind !== 'string') this.fail(t, expected);
    return { value: shared ? this.share(t.text) : t.text, quoted: t.quoted, pos: this.pos(t) };
  }

  /** Parse the statements of a file, handing each to `take` as soon as it is complete. */
  parseDatabase(take: (s: DbStatement) => void): void {
    for (;;) {
      const t = this.lex.next('initial');
      if (t.kind === 'eof') return;
      if (t.kind === 'keyword') {
        switch (t.text) {
          case 'record':
          case 'grecord':
            take(this.parseRecord(t));
            continue;
          case 'alias':
            take(this.parseAlias(t));
            continue;
          case 'include':
            take(this.parseInclude(t));
            continue;
          case 'path':
          case 'addpath': {
            const pos = this.pos(t);
            take({ kind: t.text, path: this.expectString(`expected directory list after '${t.text}'`), pos });
            continue;
          }
          default:
            if (DBD_KEYWORDS.has(t.text)) {
              take(this.parseDbd(t));
              continue;
            }
        }
      }
      this.fail(t, 'expected record, grecord, alias, include, path or addpath');
    }
  }

  /** The items of a file included inside a record body. */
  parseRecordItemsToEnd(): DbRecordItem[] {
    const items: DbRecordItem[] = [];
    for (;;) {
      const t = this.lex.next('initial');
      if (t.kind === 'eof') return items;
      const item = this.parseRecordItem(t);
      if (!item) this.fail(t, 'expected field, info, alias or include in a file included in a record body');
      items.push(item);
    }
  }

  private parseInclude(t: Token): DbIncludeStatement {
    return { kind: 'include', file: this.expectString("expected file name after 'include'"), pos: this.pos(t) };
  }

  private parseRecord(t: Token): DbRecordStatement {
    const pos = this.pos(t);
    const keyword = t.text === 'grecord' ? 'grecord' : 'record';
    this.expectPunct('(', `expected '(' after '${keyword}'`);
    const type = this.expectString('expected record type', true);
    this.expectPunct(',', 'expected \',\' after record type');
    const name = this.expectString('expected record name');
    this.expectPunct(')', 'expected \')\' after record name');
    const open = this.lex.peek('initial');
    if (open.kind !== 'punct' || open.text !== '{') {
      return { kind: 'record', keyword, type, name, hasBody: false, items: [], pos };
    }
    this.lex.next('initial');
    const items: DbRecordItem[] = [];
    for (;;) {
      const it = this.lex.next('initial');
      if (it.kind === 'punct' && it.text === '}') break;
      if (it.kind === 'eof') {
        this.fail(it, `expected '}' to close the body of record ${quoteForMessage(name.value)} ` +
          `opened at line ${this.pos(open).line}`);
      }
      const item = this.parseRecordItem(it);
      if (!item) this.fail(it, "expected field, info, alias, include or '}' in record body");
      items.push(item);
    }
    return { kind: 'record', keyword, type, name, hasBody: true, items, pos };
  }

  private parseRecordItem(t: Token): DbRecordItem | null {
    if (t.kind !== 'keyword') return null;
    switch (t.text) {
      case 'field':
      case 'info': {
        const what = t.text;
        const pos = this.pos(t);
        this.expectPunct('(', `expected '(' after '${what}'`);
        const name = this.expectString(`expected ${what} name`, true);
        this.expectPunct(',', `expected ',' after ${what} name`);
        const value = this.parseValue(`expected ${what} value`);
        const close = this.lex.next('initial');
        if (close.kind !== 'punct' || close.text !== ')') {
          // `field(INP, a:b)`: EPICS 7 reads values as JSON, where a bare
          // word may only hold letters, digits and _ - + . ; the rest of the
          // word then shows up here.
          const glued = value.kind === 'bare' && close.kind === 'string' && close.start === this.lastValueEnd;
          this.fail(close, `expected ')' after ${what} value`, 'DB_ERR_SYNTAX',
            glued ? 'an unquoted value may only contain letters, digits and _ - + .' : '');
        }
        return what === 'field' ? { kind: 'field', name, value, pos } : { kind: 'info', name, value, pos };
      }
      case 'alias': {
        this.expectPunct('(', "expected '(' after 'alias'");
        const alias = this.expectString('expected alias name');
        this.expectPunct(')', "expected ')' after alias name");
        return { kind: 'alias', alias, pos: this.pos(t) };
      }
      case 'include':
        return this.parseInclude(t);
      default:
        return null;
    }
  }

  private parseAlias(t: Token): DbAliasStatement {
    this.expectPunct('(', "expected '(' after 'alias'");
    const record = this.expectString('expected record name');
    this.expectPunct(',', "expected ',' after record name");
    const alias = this.expectString('expected alias name');
    this.expectPunct(')', "expected ')' after alias name");
    return { kind: 'alias', record, alias, pos: this.pos(t) };
  }

  // -- values (read in the lexer's JSON mode, as dbYacc.y's json_value)

  private parseValue(expected: string): DbValue {
    const t = this.lex.next('json');
    this.lastValueEnd = t.end;
    switch (t.kind) {
      case 'jliteral':
        return { kind: 'literal', value: t.text, pos: this.pos(t) };
      case 'jnumber':
        return { kind: 'number', value: this.share(t.text), pos: this.pos(t) };
      case 'jbare':
        return { kind: 'bare', value: this.share(t.text), pos: this.pos(t) };
      case 'jstring':
        return { kind: 'string', value: this.share(stringFieldValue(t.text)), pos: this.pos(t) };
      case 'punct':
        if (t.text === '{') return { kind: 'object', value: this.parseJsonObject(t, 1), pos: this.pos(t) };
        if (t.text === '[') return { kind: 'array', value: this.parseJsonArray(t, 1), pos: this.pos(t) };
        break;
      default:
        break;
    }
    return this.fail(t, expected);
  }

  private parseJsonValue(t: Token, depth: number): string {
    switch (t.kind) {
      case 'jliteral':
      case 'jnumber':
        return t.text;
      case 'jbare':
        return JSON.stringify(t.text);
      case 'jstring':
        return JSON.stringify(translateEscapes(t.text));
      case 'punct':
        if (t.text === '{') return this.parseJsonObject(t, depth + 1);
        if (t.text === '[') return this.parseJsonArray(t, depth + 1);
        break;
      default:
        break;
    }
    return this.fail(t, 'expected JSON value', 'DB_ERR_BAD_JSON');
  }

  /**
   * After '{'. Keys are written as JSON strings; a trailing comma is
   * accepted and dropped (dbYacc.y json_members).
   */
  private parseJsonObject(open: Token, depth: number): string {
    this.checkDepth(open, depth);
    const members: string[] = [];
    let t = this.lex.next('json');
    if (t.kind === 'punct' && t.text === '}') return '{}';
    for (;;) {
      let key: string;
      if (t.kind === 'jstring') key = JSON.stringify(translateEscapes(t.text));
      else if (t.kind === 'jbare') key = JSON.stringify(t.text);
      else return this.fail(t, "expected JSON object key or '}'", 'DB_ERR_BAD_JSON');
      const colon = this.lex.next('json');
      if (colon.kind !== 'punct' || colon.text !== ':') this.fail(colon, "expected ':' after JSON object key", 'DB_ERR_BAD_JSON');
      members.push(`${key}:${this.parseJsonValue(this.lex.next('json'), depth)}`);
      const sep = this.lex.next('json');
      if (sep.kind === 'punct' && sep.text === '}') break;
      if (sep.kind !== 'punct' || sep.text !== ',') this.fail(sep, "expected ',' or '}' in JSON object", 'DB_ERR_BAD_JSON');
      t = this.lex.next('json');
      if (t.kind === 'punct' && t.text === '}') break;
    }
    return `{${members.join(',')}}`;
  }

  /**
   * After '['. A trailing comma is kept, as dbYacc.y does, so that a link
   * parser can tell a one-element const list from a PV name.
   */
  private parseJsonArray(open: Token, depth: number): string {
    this.checkDepth(open, depth);
    const elements: string[] = [];
    let t = this.lex.next('json');
    if (t.kind === 'punct' && t.text === ']') return '[]';
    for (;;) {
      elements.push(this.parseJsonValue(t, depth));
      const sep = this.lex.next('json');
      if (sep.kind === 'punct' && sep.text === ']') return `[${elements.join(',')}]`;
      if (sep.kind !== 'punct' || sep.text !== ',') this.fail(sep, "expected ',' or ']' in JSON array", 'DB_ERR_BAD_JSON');
      t = this.lex.next('json');
      if (t.kind === 'punct' && t.text === ']') return `[${elements.join(',')},]`;
    }
  }

  private checkDepth(open: Token, depth: number): void {
    if (depth > MAX_JSON_DEPTH) {
      throw new DbLoadError('DB_ERR_BAD_JSON', `JSON value nested more than ${MAX_JSON_DEPTH} levels deep`, this.pos(open));
    }
  }

  // -- .dbd definitions: checked with dbYacc.y's rules, kept only as a note

  private parseArgs(keyword: string, min: number, max: number): DbToken[] {
    this.expectPunct('(', `expected '(' after '${keyword}'`);
    const args: DbToken[] = [];
    for (;;) {
      args.push(this.expectString(`expected argument ${args.length + 1} of ${keyword}()`));
      const t = this.lex.next('initial');
      if (t.kind === 'punct' && t.text === ',' && args.length < max) continue;
      if (t.kind === 'punct' && t.text === ')' && args.length >= min) return args;
      const want = args.length < min ? "','" : args.length < max ? "',' or ')'" : "')'";
      this.fail(t, `expected ${want} in ${keyword}()`);
    }
  }

  private parseDbd(t: Token): DbDbdStatement {
    const keyword = t.text as DbdKeyword;
    let args: DbToken[];
    switch (keyword) {
      case 'device': args = this.parseArgs(keyword, 4, 4); break;
      case 'link': args = this.parseArgs(keyword, 2, 2); break;
      case 'variable': args = this.parseArgs(keyword, 1, 2); break;
      case 'driver':
      case 'registrar':
      case 'function':
        args = this.parseArgs(keyword, 1, 1);
        break;
      case 'menu':
        args = this.parseArgs(keyword, 1, 1);
        this.parseMenuBody();
        break;
      case 'recordtype':
        args = this.parseArgs(keyword, 1, 1);
        this.parseRecordtypeBody();
        break;
      case 'breaktable':
        args = this.parseArgs(keyword, 1, 1);
        this.parseBreaktableBody();
        break;
    }
    return { kind: 'dbd', keyword, args, pos: this.pos(t) };
  }

  private parseMenuBody(): void {
    this.expectPunct('{', "expected '{' after menu name");
    let count = 0;
    for (;;) {
      const t = this.lex.next('initial');
      if (t.kind === 'keyword' && t.text === 'choice') {
        this.parseArgs('choice', 2, 2);
      } else if (t.kind === 'keyword' && t.text === 'include') {
        this.parseInclude(t);
      } else if (t.kind === 'punct' && t.text === '}' && count > 0) {
        return;
      } else {
        this.fail(t, count > 0 ? "expected choice, include or '}' in menu" : 'expected choice or include in menu');
      }
      count++;
    }
  }

  private parseRecordtypeBody(): void {
    this.expectPunct('{', "expected '{' after recordtype name");
    for (;;) {
      const t = this.lex.next('initial');
      if (t.kind === 'punct' && t.text === '}') return;
      if (t.kind === 'cdef') continue;
      if (t.kind === 'keyword' && t.text === 'include') {
        this.parseInclude(t);
        continue;
      }
      if (t.kind === 'keyword' && t.text === 'field') {
        this.parseArgs('field', 2, 2);
        this.expectPunct('{', "expected '{' after field(name, type)");
        let items = 0;
        for (;;) {
          const it = this.lex.next('initial');
          if (it.kind === 'punct' && it.text === '}' && items > 0) break;
          if (it.kind === 'string' || (it.kind === 'keyword' && it.text === 'menu')) {
            this.parseArgs(it.text, 1, 1);
            items++;
            continue;
          }
          this.fail(it, items > 0 ? "expected field attribute or '}'" : 'expected field attribute');
        }
        continue;
      }
      this.fail(t, "expected field, %-line, include or '}' in recordtype");
    }
  }

  private parseBreaktableBody(): void {
    this.expectPunct('{', "expected '{' after breaktable name");
    let count = 0;
    for (;;) {
      const t = this.lex.next('initial');
      if (t.kind === 'string') {
        count++;
        continue;
      }
      if (t.kind === 'punct' && t.text === ',' && count > 0) {
        const v = this.lex.next('initial');
        if (v.kind !== 'string') this.fail(v, "expected breaktable value after ','");
        count++;
        continue;
      }
      if (t.kind === 'punct' && t.text === '}' && count > 0) return;
      this.fail(t, count > 0 ? "expected breaktable value or '}'" : 'expected breaktable value');
    }
  }
}

/** Strip a UTF-8 byte order mark. */
function withoutBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

function makeLexer(text: string, opts: ParseDbOptions): DbLexer {
  const expanded = expandSource(withoutBom(text), opts.macros ?? new Map(), opts.file);
  return new DbLexer(expanded, opts.onWarning);
}

/**
 * Parse the text of a .db file. Macros are always expanded (as
 * dbLoadRecords does, even with no definitions), so `$(X)` with X undefined
 * is a DbLoadError unless it sits in a comment. Includes are not followed:
 * loadDbFile / mergeInto do that.
 */
export function parseDbText(text: string, opts: ParseDbOptions): DbStatement[] {
  const statements: DbStatement[] = [];
  parseDbStatements(text, opts, (s) => statements.push(s));
  return statements;
}

/** Parse the text of a .db file, handing each statement to `take` as soon as it is complete. */
function parseDbStatements(text: string, opts: ParseDbOptions, take: (s: DbStatement) => void): void {
  new DbParser(makeLexer(text, opts)).parseDatabase(take);
}

/** Parse a file included inside a record body: a list of record items. */
function parseDbRecordItems(text: string, opts: ParseDbOptions): DbRecordItem[] {
  return new DbParser(makeLexer(text, opts)).parseRecordItemsToEnd();
}

// ---------------------------------------------------------------------------
// Loading into a database

/** A field value and where it was set (the value's position). */
export interface FieldDefinition {
  readonly value: string;
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

export interface RecordDefinition {
  readonly name: string;
  readonly type: string;
  /** Field name (as written; EPICS field names are case-sensitive) to value. */
  readonly fields: ReadonlyMap<string, FieldDefinition>;
  readonly info: ReadonlyMap<string, string>;
  /** Alias names, in the order they were defined. */
  readonly aliases: readonly string[];
  /** Where the record was first defined (its `record` keyword). */
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

export interface LoadedDatabase {
  /** Records by name, in definition order. */
  readonly records: Map<string, RecordDefinition>;
  /** Alias name to record name. */
  readonly aliases: Map<string, string>;
  /** What EPICS would have printed as warnings while loading. */
  readonly warnings: DbLoadWarning[];
}

export function createDatabase(): LoadedDatabase {
  return { records: new Map(), aliases: new Map(), warnings: [] };
}

export interface MergeOptions {
  /** Raw macro values, applied to included files as well. */
  macros?: ReadonlyMap<string, string>;
  /**
   * Directories searched for `include` files before the including file's own
   * directory; `path` and `addpath` statements replace / extend the list.
   */
  includePath?: string[];
  /** Reads a file as text; default fs.readFileSync(p, 'utf8'). */
  readFile?: (p: string) => string;
  /** dbRecordsOnceOnly: defining a record or alias twice is an error. */
  recordsOnceOnly?: boolean;
}

export interface LoadDbOptions extends MergeOptions {
  /** Load into this database instead of a new one (several -d files). */
  into?: LoadedDatabase;
}

const MAX_INCLUDE_DEPTH = 32;

function defaultReadFile(p: string): string {
  return fs.readFileSync(p, 'utf8');
}

function isMissingFileError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return true;
  const code = (err as { code?: unknown }).code;
  return code === undefined || code === 'ENOENT' || code === 'ENOTDIR';
}

/**
 * dbAddPath: entries separated by ':', white space around them dropped, an
 * empty entry means the current directory. Relative entries are taken
 * relative to `baseDir` (EPICS uses the process's working directory).
 */
function splitPathList(list: string, baseDir: string): string[] {
  if (list.trim() === '') return [];
  return list.split(':').map((entry) => {
    const dir = entry.trim() === '' ? '.' : entry.trim();
    return nodePath.resolve(baseDir, dir);
  });
}

/**
 * Whether a record name is printable ASCII without any character that
 * validateName has to warn about or refuse (most names are).
 */
function isPlainName(name: string): boolean {
  const first = name.charCodeAt(0);
  if (first === 0x2d || first === 0x2b || first === 0x5b || first === 0x7b) return false; // - + [ {
  for (let i = 0; i < name.length; i++) {
    const code = name.charCodeAt(i);
    if (code <= 0x20 || code >= 0x7f) return false;
    if (code === 0x22 || code === 0x27 || code === 0x2e || code === 0x24) return false; // " ' . $
  }
  return true;
}

/** Applies statements to a (staged) database, following includes. */
class DatabaseMerger {
  private searchPath: string[];
  private readonly readFile: (p: string) => string;
  /** Resolved paths of the files being read, outermost first. */
  private readonly includeStack: string[] = [];
  /** Where warnings go now (see mergeText). */
  private warnings: DbLoadWarning[];

  constructor(private readonly db: StagedDatabase, private readonly opts: MergeOptions) {
    this.searchPath = (opts.includePath ?? []).map((d) => nodePath.resolve(d));
    this.readFile = opts.readFile ?? defaultReadFile;
    this.warnings = db.warnings;
  }

  private warn(w: DbLoadWarning): void {
    this.warnings.push(w);
  }

  private parseOptions(file: string): ParseDbOptions {
    return { file, macros: this.opts.macros, onWarning: (w) => this.warn(w) };
  }

  mergeFile(file: string, statements: readonly DbStatement[]): void {
    this.includeStack.push(nodePath.resolve(file));
    try {
      for (const s of statements) this.apply(s);
    } finally {
      this.includeStack.pop();
    }
  }

  /**
   * Parse and merge a file. Each statement is merged as soon as it is
   * parsed, so that a big file is never held as statements, but the outcome
   * is that of parsing the whole file first and then merging: an error in
   * the file's syntax wins over a merge error before it, and the file's
   * parse warnings come before the warnings of merging it.
   */
  mergeText(file: string, text: string): void {
    const outer = this.warnings;
    const parseWarnings: DbLoadWarning[] = [];
    const mergeWarnings: DbLoadWarning[] = [];
    let failed = false;
    let failure: unknown;
    this.warnings = mergeWarnings;
    this.includeStack.push(nodePath.resolve(file));
    try {
      const opts: ParseDbOptions = { file, macros: this.opts.macros, onWarning: (w) => parseWarnings.push(w) };
      parseDbStatements(text, opts, (s) => {
        if (failed) return;
        try {
          this.apply(s);
        } catch (err) {
          failed = true;
          failure = err;
        }
      });
    } finally {
      this.includeStack.pop();
      this.warnings = outer;
    }
    if (failed) throw failure;
    for (const w of parseWarnings) outer.push(w);
    for (const w of mergeWarnings) outer.push(w);
  }

  private apply(s: DbStatement): void {
    switch (s.kind) {
      case 'record': this.applyRecord(s); break;
      case 'alias': this.applyAlias(s); break;
      case 'include': {
        const inc = this.readInclude(s);
        this.mergeText(inc.path, inc.text);
        break;
      }
      case 'path':
        this.searchPath = splitPathList(s.path.value, nodePath.dirname(s.pos.file));
        if (this.searchPath.length === 0) this.searchPath = [nodePath.dirname(nodePath.resolve(s.pos.file))];
        break;
      case 'addpath':
        this.searchPath.push(...splitPathList(s.path.value, nodePath.dirname(s.pos.file)));
        break;
      case 'dbd':
        this.warn(makeWarning('DB_WARN_DBD_IGNORED',
          `${s.keyword}(${s.args.map((a) => a.value).join(', ')}) ignored: this IOC's record types, ` +
          'menus and device support are built in; a .db file here may only define records', s.pos));
        break;
    }
  }

  /** The real record for a record or alias name. */
  private find(name: string): RecordDefinition | undefined {
    const direct = this.db.record(name);
    if (direct) return direct;
    const target = this.db.aliasTarget(name);
    return target === undefined ? undefined : this.db.record(target);
  }

  /** dbRecordNameValidate plus dbCreateRecord's length limit (NAME is 61 bytes). */
  private validateName(tok: DbToken, what: 'record' | 'alias'): void {
    const name = tok.value;
    if (name === '') {
      throw new DbLoadError('DB_ERR_BAD_RECORD_NAME', `${what} name can't be empty`, tok.pos);
    }
    const plain = isPlainName(name);
    for (let i = 0; i < name.length && !plain; i++) {
      const c = name[i];
      if (i === 0 && '-+[{'.includes(c)) {
        this.warn(makeWarning('DB_WARN_RECORD_NAME',
          `${what} name ${quoteForMessage(name)} should not begin with '${c}'`, tok.pos));
      }
      // dbRecordNameValidate lists tab among the bad characters, but tests
      // for control characters first and so only warns about it; we reject
      // it, as a name with a tab is no usable PV name.
      if (c.charCodeAt(0) < 0x20 && c !== '\t') {
        this.warn(makeWarning('DB_WARN_RECORD_NAME',
          `${what} name ${quoteForMessage(name)} contains non-printable ${charForMessage(c)}`, tok.pos));
      } else if (' \t"\'.$'.includes(c)) {
        throw new DbLoadError('DB_ERR_BAD_RECORD_NAME',
          `bad character ${charForMessage(c)} in ${what} name ${quoteForMessage(name)}`, tok.pos);
      }
    }
    const bytes = plain ? name.length : Buffer.byteLength(name, 'utf8');
    if (bytes > 60) {
      throw new DbLoadError('DB_ERR_BAD_RECORD_NAME',
        `${what} name ${quoteForMessage(name)} is ${bytes} bytes long; at most 60 are allowed`, tok.pos);
    }
  }

  private applyRecord(s: DbRecordStatement): void {
    this.validateName(s.name, 'record');
    const name = s.name.value;
    const type = s.type.value;
    if (type === '') {
      throw new DbLoadError('DB_ERR_BAD_RECORD_TYPE', `record type of ${quoteForMessage(name)} can't be empty`, s.type.pos);
    }

    // record("*", NAME) adds to an existing record (dbRecordHead).
    if (type === '*') {
      const rec = this.find(name);
      if (!rec) {
        throw new DbLoadError('DB_ERR_RECORD_NOT_FOUND',
          `record ${quoteForMessage(name)} not found; record("*", ...) can only add to an existing record`, s.name.pos);
      }
      this.applyItems(this.db.editable(rec), s.items);
      return;
    }

    // record("#", NAME) deletes a record, and its body is ignored.
    if (type === '#') {
      const rec = this.find(name);
      if (rec) {
        this.db.deleteRecord(rec);
      } else {
        this.warn(makeWarning('DB_WARN_DELETE_MISSING', `record ${quoteForMessage(name)} not found, can't delete`, s.name.pos));
      }
      return;
    }

    // Defining a record again with the same type adds to it; a different
    // type is an error (dbRecordHead). A name that is an alias refers to
    // the aliased record, as dbFindRecord resolves it.
    const found = this.find(name);
    let rec: EditableRecord;
    if (found) {
      if (found.type !== type) {
        throw new DbLoadError('DB_ERR_RECORD_TYPE_CHANGE',
          `record ${quoteForMessage(name)} already exists as type '${found.type}' ` +
          `(${found.file}:${found.line}:${found.column}), can't load it as type '${type}'`, s.type.pos);
      }
      if (this.opts.recordsOnceOnly) {
        throw new DbLoadError('DB_ERR_DUPLICATE_RECORD',
          `record ${quoteForMessage(name)} is already defined (${found.file}:${found.line}:${found.column}) ` +
          'and records may be defined only once: use record("*", NAME) to add fields to it', s.name.pos);
      }
      rec = this.db.editable(found);
    } else {
      rec = this.db.createRecord(name, type, s.pos, s.items.length);
    }
    this.applyItems(rec, s.items);
  }

  private applyItems(rec: EditableRecord, items: readonly DbRecordItem[]): void {
    for (const item of items) {
      switch (item.kind) {
        case 'field': {
          const field = item.name.value;
          if (field === '') {
            throw new DbLoadError('DB_ERR_BAD_FIELD', `field name can't be empty (record ${quoteForMessage(rec.name)})`, item.name.pos);
          }
          if (field === 'NAME') {
            throw new DbLoadError('DB_ERR_BAD_FIELD', `can't set the NAME field of record ${quoteForMessage(rec.name)}`, item.name.pos);
          }
          this.db.setField(rec, field, item.value.value, item.value.pos);
          break;
        }
        case 'info':
          if (item.name.value === '') {
            throw new DbLoadError('DB_ERR_BAD_INFO', `info item name can't be empty (record ${quoteForMessage(rec.name)})`, item.name.pos);
          }
          this.db.setInfo(rec, item.name.value, item.value.value);
          break;
        case 'alias':
          this.validateName(item.alias, 'alias');
          this.createAlias(rec, item.alias);
          break;
        case 'include': {
          const inc = this.readInclude(item);
          this.includeStack.push(nodePath.resolve(inc.path));
          try {
            this.applyItems(rec, parseDbRecordItems(inc.text, this.parseOptions(inc.path)));
          } finally {
            this.includeStack.pop();
          }
          break;
        }
      }
    }
  }

  /** createAlias() in dbLexRoutines.c. */
  private createAlias(rec: RecordDefinition, tok: DbToken): void {
    const alias = tok.value;
    if (this.db.record(alias)) {
      throw new DbLoadError('DB_ERR_ALIAS_CONFLICT',
        `alias ${quoteForMessage(alias)} for record ${quoteForMessage(rec.name)} is already a record name`, tok.pos);
    }
    const target = this.db.aliasTarget(alias);
    if (target !== undefined) {
      if (target !== rec.name) {
        throw new DbLoadError('DB_ERR_ALIAS_CONFLICT',
          `alias ${quoteForMessage(alias)} for record ${quoteForMessage(rec.name)} already aliases ${quoteForMessage(target)}`, tok.pos);
      }
      if (this.opts.recordsOnceOnly) {
        throw new DbLoadError('DB_ERR_ALIAS_CONFLICT',
          `alias ${quoteForMessage(alias)} is already defined and records may be defined only once`, tok.pos);
      }
      return;
    }
    this.db.addAlias(alias, this.db.editable(rec));
  }

  private applyAlias(s: DbAliasStatement): void {
    this.validateName(s.alias, 'alias');
    this.validateName(s.record, 'record');
    const rec = this.find(s.record.value);
    if (!rec) {
      throw new DbLoadError('DB_ERR_RECORD_NOT_FOUND',
        `alias ${quoteForMessage(s.alias.value)} names an unknown record ${quoteForMessage(s.record.value)}`, s.record.pos);
    }
    this.createAlias(rec, s.alias);
  }

  /**
   * Find an include file: an absolute name as is; otherwise each directory
   * of the search path, then the including file's directory.
   */
  private readInclude(s: DbIncludeStatement): { path: string; text: string } {
    const name = s.file.value;
    if (name === '') {
      throw new DbLoadError('DB_ERR_INCLUDE_NOT_FOUND', "include file name can't be empty", s.file.pos);
    }
    if (this.includeStack.length >= MAX_INCLUDE_DEPTH) {
      throw new DbLoadError('DB_ERR_INCLUDE_CYCLE', `includes nested more than ${MAX_INCLUDE_DEPTH} deep`, s.file.pos);
    }
    const candidates: string[] = [];
    if (nodePath.isAbsolute(name)) {
      candidates.push(name);
    } else {
      for (const dir of this.searchPath) candidates.push(nodePath.join(dir, name));
      candidates.push(nodePath.join(nodePath.dirname(s.pos.file), name));
    }
    const tried: string[] = [];
    for (const candidate of candidates) {
      if (tried.includes(candidate)) continue;
      tried.push(candidate);
      let text: string;
      try {
        text = this.readFile(candidate);
      } catch (err) {
        if (isMissingFileError(err)) continue;
        throw new DbLoadError('DB_ERR_INCLUDE_NOT_FOUND',
          `can't read include file ${quoteForMessage(candidate)}: ${(err as Error).message}`, s.file.pos);
      }
      if (this.includeStack.includes(nodePath.resolve(candidate))) {
        throw new DbLoadError('DB_ERR_INCLUDE_CYCLE',
          `file ${quoteForMessage(candidate)} includes itself`, s.file.pos);
      }
      return { path: candidate, text: withoutBom(text) };
    }
    throw new DbLoadError('DB_ERR_INCLUDE_NOT_FOUND',
      `include file ${quoteForMessage(name)} not found (tried ${tried.join(', ')})`, s.file.pos);
  }
}

/**
 * Merge parsed statements into `db`, following includes (relative to each
 * statement's file). All or nothing: when an error is thrown, `db` is left
 * as it was.
 */
export function mergeInto(db: LoadedDatabase, statements: readonly DbStatement[], opts: MergeOptions = {}): void {
  const staged = new StagedDatabase(db);
  const file = statements.length > 0 ? statements[0].pos.file : '<none>';
  try {
    new DatabaseMerger(staged, opts).mergeFile(file, statements);
  } catch (err) {
    staged.abandon();
    throw err;
  }
  staged.commit();
}

/**
 * Read, expand, parse and merge a .db file (dbLoadRecords). A name without
 * '/' is looked for in opts.includePath first, then as given. All or
 * nothing, like mergeInto.
 */
export function loadDbFile(path: string, opts: LoadDbOptions = {}): LoadedDatabase {
  const readFile = opts.readFile ?? defaultReadFile;
  const candidates: string[] = [];
  if (!path.includes('/') && !nodePath.isAbsolute(path)) {
    for (const dir of opts.includePath ?? []) candidates.push(nodePath.join(dir, path));
  }
  candidates.push(path);

  let found: { path: string; text: string } | null = null;
  let lastError: unknown = null;
  for (const candidate of candidates) {
    try {
      found = { path: candidate, text: withoutBom(readFile(candidate)) };
      break;
    } catch (err) {
      lastError = err;
      if (!isMissingFileError(err)) break;
    }
  }
  if (!found) {
    const reason = lastError instanceof Error ? lastError.message : 'not found';
    throw new DbLoadError('DB_ERR_FILE_NOT_FOUND', `can't open database file: ${reason}`, { file: path, line: 0, column: 0 });
  }

  const db = opts.into ?? createDatabase();
  const staged = new StagedDatabase(db);
  try {
    new DatabaseMerger(staged, { ...opts, readFile }).mergeText(found.path, found.text);
  } catch (err) {
    staged.abandon();
    throw err;
  }
  staged.commit();
  return db;
}
