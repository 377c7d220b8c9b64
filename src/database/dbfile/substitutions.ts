/**
 * Substitution files (.substitutions, .template sets), read with the grammar
 * of dbLoadTemplate (modules/database/src/ioc/dbtemplate/dbLoadTemplate.y
 * and dbLoadTemplate_lex.l), which msi -S also understands:
 *
 *   global { SYS=bl1, AREA="front end" }
 *   file "motor.db" {
 *     { P=$(SYS):, M=m1 }          # a set of name=value definitions
 *     global { DLY=2 }             # globals may appear between sets
 *     { P=x:, M=m2 }
 *   }
 *   file motor.db {
 *     pattern { P, M }             # names once...
 *     { a:, m1 } { b:, m2 }        # ...then values by position
 *   }
 *
 * Each set becomes one dbLoadRecords(file, "globals,set") call; we return
 * them in order as SubstitutionSet. Definitions of a set override globals,
 * and a global applies to every set that follows it in the file, also after
 * the file block it was written in.
 *
 * Values are returned raw, the way macLib stores them and the way
 * dbLoadTemplate hands them to dbLoadRecords: a bare word as written, a
 * quoted value with its quotes (macLib removes them, and expands `$(...)`
 * in double quotes, when the value is used). So `{P="$(SYS):"}` refers to
 * the global SYS when the .db file is loaded with these macros. Pass the map
 * straight to loadDbFile(); resolveMacroValues() shows the final values.
 *
 * Deliberate differences from dbLoadTemplate:
 * - a single-quoted value keeps its single quotes (dbLoadTemplate rewraps it
 *   in double quotes, so `$(...)` inside would be expanded after all);
 * - an empty file is accepted (the grammar wants at least one block);
 * - an invalid character is an error (dbLoadTemplate reports it and goes on);
 * - file names are returned as written; EPICS also expands environment
 *   variables in them (macEnvExpand).
 */
import {
  DbLoadError,
  DbLoadWarning,
  SourcePosition,
  makeWarning,
  quoteForMessage,
} from './errors';

export interface SubstitutionSet {
  /** The template (.db) file named by the enclosing `file` block. */
  file: string;
  /** Raw macro values: globals so far, then this set's definitions. */
  macros: Map<string, string>;
  /** Position of the set's opening '{' in the substitution file. */
  line: number;
  column: number;
}

export interface ParseSubstitutionsOptions {
  /** Definitions that come before everything in the file (dbLoadTemplate's second argument). */
  macros?: ReadonlyMap<string, string>;
  onWarning?: (warning: DbLoadWarning) => void;
}

type SubTokenKind = 'word' | 'quote' | 'file' | 'pattern' | 'global' | 'punct' | 'eof';

interface SubToken {
  readonly kind: SubTokenKind;
  /** Word, punctuation, or the quoted text without its quotes. */
  readonly text: string;
  /** For 'quote': the quote character used. */
  readonly quote: string;
  readonly pos: SourcePosition;
}

const SUB_BAREWORD = /[a-zA-Z0-9_\-+:./\\[\]<>;]/;
const SUB_KEYWORDS: Record<string, SubTokenKind> = { file: 'file', pattern: 'pattern', global: 'global' };

class SubstitutionLexer {
  private offset = 0;
  private line = 1;
  private lineStart = 0;
  private peeked: SubToken | null = null;

  constructor(private readonly text: string, private readonly file: string) {}

  private pos(offset: number): SourcePosition {
    return { file: this.file, line: this.line, column: offset - this.lineStart + 1 };
  }

  peek(): SubToken {
    if (!this.peeked) this.peeked = this.scan();
    return this.peeked;
  }

  next(): SubToken {
    const t = this.peek();
    this.peeked = null;
    return t;
  }

  private scan(): SubToken {
    const text = this.text;
    // white space, newlines and # comments
    while (this.offset < text.length) {
      const c = text[this.offset];
      if (c === '\n') {
        this.offset++;
        this.line++;
        this.lineStart = this.offset;
      } else if (c === ' ' || c === '\t' || c === '\r') {
        this.offset++;
      } else if (c === '#') {
        const nl = text.indexOf('\n', this.offset);
        this.offset = nl < 0 ? text.length : nl;
      } else {
        break;
      }
    }
    const start = this.offset;
    const pos = this.pos(start);
    if (start >= text.length) return { kind: 'eof', text: '', quote: '', pos };
    const c = text[start];
    if (SUB_BAREWORD.test(c)) {
      let end = start + 1;
      while (end < text.length && SUB_BAREWORD.test(text[end])) end++;
      const word = text.slice(start, end);
      this.offset = end;
      return { kind: SUB_KEYWORDS[word] ?? 'word', text: word, quote: '', pos };
    }
    if (c === '"' || c === "'") {
      let i = start + 1;
      for (;;) {
        if (i >= text.length || text[i] === '\n') {
          throw new DbLoadError('DB_ERR_BAD_STRING',
            i >= text.length ? 'closing quote missing at end of file' : 'newline in string, closing quote missing', pos);
        }
        if (text[i] === c) break;
        if (text[i] === '\\') {
          if (i + 1 >= text.length || text[i + 1] === '\n') {
            throw new DbLoadError('DB_ERR_BAD_STRING', 'newline in string, closing quote missing', pos);
          }
          i += 2;
        } else {
          i++;
        }
      }
      this.offset = i + 1;
      return { kind: 'quote', text: text.slice(start + 1, i), quote: c, pos };
    }
    if ('={},'.includes(c)) {
      this.offset = start + 1;
      return { kind: 'punct', text: c, quote: '', pos };
    }
    const shown = c.charCodeAt(0) < 0x20 ? `0x${c.charCodeAt(0).toString(16).padStart(2, '0')}` : `'${c}'`;
    throw new DbLoadError('DB_ERR_SYNTAX', `invalid character ${shown}`, pos);
  }
}

function describe(t: SubToken): string {
  switch (t.kind) {
    case 'eof': return 'end of file';
    case 'punct': return `'${t.text}'`;
    case 'quote': return `string ${quoteForMessage(t.text)}`;
    case 'word': return `'${t.text}'`;
    default: return `keyword '${t.text}'`;
  }
}

function isPunct(t: SubToken, ch: string): boolean {
  return t.kind === 'punct' && t.text === ch;
}

/** The raw macro value for a WORD or QUOTE token. */
function rawValue(t: SubToken): string {
  return t.kind === 'quote' ? `${t.quote}${t.text}${t.quote}` : t.text;
}

class SubstitutionParser {
  private readonly globals: Map<string, string>;
  private readonly sets: SubstitutionSet[] = [];

  constructor(
    private readonly lex: SubstitutionLexer,
    private readonly opts: ParseSubstitutionsOptions,
  ) {
    this.globals = new Map(opts.macros ?? []);
  }

  private fail(t: SubToken, expected: string): never {
    throw new DbLoadError('DB_ERR_SYNTAX', `${expected}, found ${describe(t)}`, t.pos);
  }

  private expectPunct(ch: string, expected: string): SubToken {
    const t = this.lex.next();
    if (!isPunct(t, ch)) this.fail(t, expected);
    return t;
  }

  parse(): SubstitutionSet[] {
    for (;;) {
      const t = this.lex.next();
      if (t.kind === 'eof') return this.sets;
      if (t.kind === 'global') this.parseGlobal();
      else if (t.kind === 'file') this.parseFileBlock();
      else this.fail(t, "expected 'file' or 'global'");
    }
  }

  /** After 'global': `{ NAME=VALUE ... }`; the definitions stay for the rest of the file. */
  private parseGlobal(): void {
    this.expectPunct('{', "expected '{' after 'global'");
    for (const [name, value] of this.parseDefinitions()) this.globals.set(name, value);
  }

  /** Definitions up to and including '}': `NAME=VALUE`, commas optional. */
  private parseDefinitions(): Map<string, string> {
    const defs = new Map<string, string>();
    let t = this.lex.next();
    if (isPunct(t, '}')) return defs;
    for (;;) {
      if (t.kind !== 'word') this.fail(t, "expected macro name or '}'");
      const name = t.text;
      this.expectPunct('=', `expected '=' after macro name '${name}'`);
      const v = this.lex.next();
      if (v.kind !== 'word' && v.kind !== 'quote') this.fail(v, `expected value for macro '${name}'`);
      defs.set(name, rawValue(v));
      t = this.lex.next();
      while (isPunct(t, ',')) t = this.lex.next();
      if (isPunct(t, '}')) return defs;
    }
  }

  private emit(templateFile: string, open: SubToken, locals: ReadonlyMap<string, string>): void {
    const macros = new Map(this.globals);
    for (const [name, value] of locals) macros.set(name, value);
    this.sets.push({ file: templateFile, macros, line: open.pos.line, column: open.pos.column });
  }

  private parseFileBlock(): void {
    const nameTok = this.lex.next();
    if (nameTok.kind !== 'word' && nameTok.kind !== 'quote') this.fail(nameTok, "expected template file name after 'file'");
    const templateFile = nameTok.text;
    this.expectPunct('{', 'expected \'{\' after template file name');

    const first = this.lex.peek();
    if (first.kind === 'pattern') {
      this.lex.next();
      this.parsePatternBlock(templateFile);
      return;
    }
    for (;;) {
      const t = this.lex.next();
      if (isPunct(t, '}')) return;
      if (t.kind === 'global') {
        this.parseGlobal();
        continue;
      }
      const open = this.openSet(t, "expected '{', 'global' or '}' in file block");
      this.emit(templateFile, open, this.parseDefinitions());
    }
  }

  /**
   * A set's '{', possibly after the deprecated name dbLoadTemplate still
   * accepts with a warning (`name { ... }`).
   */
  private openSet(t: SubToken, expected: string): SubToken {
    if (isPunct(t, '{')) return t;
    if (t.kind === 'word' && isPunct(this.lex.peek(), '{')) {
      this.opts.onWarning?.(makeWarning('DB_WARN_SUBST_DEPRECATED',
        `deprecated syntax: '${t.text}' before '{' is extraneous and should be removed`, t.pos));
      return this.lex.next();
    }
    return this.fail(t, expected);
  }

  private parsePatternBlock(templateFile: string): void {
    this.expectPunct('{', "expected '{' after 'pattern'");
    const names: string[] = [];
    let t = this.lex.next();
    while (!isPunct(t, '}')) {
      if (t.kind === 'word') names.push(t.text);
      else if (!(isPunct(t, ',') && names.length > 0)) this.fail(t, "expected macro name or '}' in pattern");
      t = this.lex.next();
    }
    for (;;) {
      t = this.lex.next();
      if (isPunct(t, '}')) return;
      if (t.kind === 'global') {
        this.parseGlobal();
        continue;
      }
      const open = this.openSet(t, "expected '{', 'global' or '}' after pattern");
      const locals = new Map<string, string>();
      let count = 0;
      let v = this.lex.next();
      while (!isPunct(v, '}')) {
        if (v.kind === 'word' || v.kind === 'quote') {
          if (count < names.length) {
            locals.set(names[count], rawValue(v));
          } else {
            this.opts.onWarning?.(makeWarning('DB_WARN_SUBST_TOO_MANY',
              `too many values: the pattern has ${names.length} names, value ${quoteForMessage(v.text)} ignored`, v.pos));
          }
          count++;
        } else if (!(isPunct(v, ',') && count > 0)) {
          this.fail(v, "expected value or '}' in pattern values");
        }
        v = this.lex.next();
      }
      this.emit(templateFile, open, locals);
    }
  }
}

/**
 * Parse a substitution file into the dbLoadRecords calls it stands for, in
 * order. `file` is the substitution file's name, for error positions.
 */
export function parseSubstitutions(
  text: string,
  file: string,
  opts: ParseSubstitutionsOptions = {},
): SubstitutionSet[] {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  return new SubstitutionParser(new SubstitutionLexer(body, file), opts).parse();
}
