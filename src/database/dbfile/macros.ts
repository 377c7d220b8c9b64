/**
 * Macro definitions and expansion with the semantics of EPICS libCom macLib
 * (modules/libcom/src/macLib/macCore.c and macUtil.c), which dbLoadRecords
 * applies to every line of a .db file before the lexer sees it.
 *
 * What macLib does, and this module with it:
 * - `$(NAME)` and `${NAME}` are references; `$(NAME=default)` uses the default
 *   when NAME is undefined; `$(NAME,A=1,B=2)` defines A and B only while NAME
 *   is expanded. Names, defaults and scoped values may themselves contain
 *   references (`$($(X)_SUFFIX)`).
 * - Values are stored raw (quotes and backslashes included, as
 *   macParseDefns leaves them) and expanded when used. In the text being
 *   expanded ("level 0") quotes and backslashes are kept; inside macro
 *   values, names and defaults ("level 1" and deeper) they are removed.
 * - Nothing is expanded inside single quotes, and a backslash protects the
 *   next character (so `\$(A)` stays as written).
 * - Terminators (`=`, `,`, `)` or `}`) are recognised even inside quotes;
 *   only a backslash escapes them, except while macLib looks for the end of
 *   a default value, where a backslash protects nothing (see Sink).
 * - dbLoadRecords expands line by line, so a reference never spans lines.
 *
 * Where we differ from macLib, on purpose:
 * - An undefined or recursive reference is an error (macLib substitutes
 *   `$(NAME,undefined)` and dbLoadRecords merely warns). Inside the value of
 *   a scoped definition it is not an error at that point, exactly as macLib
 *   suppresses warnings there: the text `$(NAME)` is kept and fails only if
 *   that scoped macro is actually expanded.
 * - An unterminated reference (`$(A` at the end of the text) is an error;
 *   macLib reads it as `$(A)` (and can loop forever on `$(A,` at the very end).
 * - Values are not truncated at MAC_SIZE (256 characters).
 * - The environment is never consulted (dbLoadRecords does not either).
 */
import { DbLoadError, DbLoadErrorCode, SourcePosition } from './errors';

/** One definition from a "A=1,B=2" string; value null means "undefine A". */
export interface MacroPair {
  readonly name: string;
  readonly value: string | null;
}

/** Where the text being expanded starts, for error positions. */
export interface MacroLocation {
  readonly file: string;
  /** 1-based line of the first character of the text. */
  readonly line: number;
  /** 1-based column of the first character of the text (default 1). */
  readonly column?: number;
}

function isCSpace(c: string): boolean {
  // C isspace() in the "C" locale
  return c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\v' || c === '\f';
}

/**
 * Split "A=1, B = "two", C" into name/value pairs following macParseDefns:
 * white space around names, values, '=' and ',' is dropped; quotes and
 * backslashes protect ',', '=' and white space; quotes and escapes are removed
 * from names but kept in values (they are removed when the value is
 * expanded); a name with no '=' means "undefine"; `A=` defines A as "".
 */
export function parseMacroPairs(text: string): MacroPair[] {
  type State = 'preName' | 'inName' | 'preValue' | 'inValue';
  const start: number[] = [];
  const end: number[] = [];
  const undefine: boolean[] = [false];
  let num = 0;
  let state: State = 'preName';
  let quote = '';

  const trimmedEnd = (from: number, to: number): number => {
    let e = to;
    while (e > from && isCSpace(text[e - 1])) e--;
    return e;
  };

  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === quote) quote = '';
    } else if (c === '"' || c === "'") {
      quote = c;
    }
    const escape = c === '\\' && i + 1 < text.length;

    // The C original is a switch whose cases fall through; `step` walks the
    // same chain of states for this one character.
    let step: State = state;
    for (;;) {
      if (step === 'preName') {
        if (!quote && !escape && (isCSpace(c) || c === ',')) break;
        start[num] = i;
        state = step = 'inName';
        continue;
      }
      if (step === 'inName') {
        if (quote || escape || (c !== '=' && c !== ',')) break;
        end[num] = trimmedEnd(start[num], i);
        num++;
        undefine[num] = false;
        state = 'preValue';
        if (c !== ',') break;
        undefine[num] = true;
        step = 'preValue';
        continue;
      }
      if (step === 'preValue') {
        if (!quote && !escape && isCSpace(c)) break;
        start[num] = i;
        state = step = 'inValue';
        continue;
      }
      // inValue
      if (quote || escape || c !== ',') break;
      end[num] = trimmedEnd(start[num], i);
      num++;
      undefine[num] = false;
      state = 'preName';
      break;
    }
    if (escape) i++;
  }

  // Tidy up from the state at the end of the string.
  const len = text.length;
  if (state === 'inName') {
    end[num] = trimmedEnd(start[num], len);
    num++;
    undefine[num] = true;
    start[num] = len;
    end[num] = len;
    num++;
  } else if (state === 'preValue') {
    start[num] = len;
    end[num] = len;
    num++;
  } else if (state === 'inValue') {
    end[num] = trimmedEnd(start[num], len);
    num++;
  }

  const pairs: MacroPair[] = [];
  for (let i = 0; i + 1 < num; i += 2) {
    const name = removeQuotesAndEscapes(text.slice(start[i], end[i]));
    const value = undefine[i + 1] ? null : text.slice(start[i + 1], end[i + 1]);
    pairs.push({ name, value });
  }
  return pairs;
}

/** What macParseDefns does to names: quotes and escapes go, the rest stays. */
function removeQuotesAndEscapes(s: string): string {
  let out = '';
  let quote = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quote) {
      if (c === quote) {
        quote = '';
        continue;
      }
    } else if (c === '"' || c === "'") {
      quote = c;
      continue;
    }
    if (c === '\\' && i + 1 < s.length) {
      out += s[++i];
      continue;
    }
    out += c;
  }
  return out;
}

/**
 * Definitions from "A=1,B=2" as a map of raw values, applied in order the way
 * macInstallMacros does: a later definition replaces an earlier one, and a
 * name without '=' removes the definition made so far.
 */
export function parseMacroDefinitions(text: string): Map<string, string> {
  const defs = new Map<string, string>();
  for (const { name, value } of parseMacroPairs(text)) {
    if (value === null) defs.delete(name);
    else defs.set(name, value);
  }
  return defs;
}

/**
 * Expand the macro references in `text` (as macExpandString does for one
 * line of a .db file). `defs` holds raw values. Throws DbLoadError
 * DB_ERR_UNDEFINED_MACRO / DB_ERR_RECURSIVE_MACRO / DB_ERR_BAD_MACRO at the
 * position of the offending `$` in `text`.
 */
export function expandMacros(
  text: string,
  defs: ReadonlyMap<string, string>,
  where: MacroLocation,
): string {
  const out = new ExpansionOutput(false);
  const expander = new MacroExpander(defs, 'strict', out);
  expander.expandTopLevel(text, out, (offset) => positionInText(text, offset, where));
  return out.text;
}

/**
 * The value each macro ends up with when referenced: quotes and escapes
 * removed, references expanded. Useful for showing substitution-file
 * definitions to a person; the loader itself wants the raw values.
 */
export function resolveMacroValues(
  defs: ReadonlyMap<string, string>,
  where: MacroLocation,
): Map<string, string> {
  const resolved = new Map<string, string>();
  for (const name of defs.keys()) {
    // `$(name)` names itself, so a problem points at the start of `where`.
    const ref = `$(${escapeMacroName(name)})`;
    resolved.set(name, expandMacros(ref, defs, where));
  }
  return resolved;
}

function escapeMacroName(name: string): string {
  return name.replace(/[\\$(){}=,'"]/g, (c) => `\\${c}`);
}

function positionInText(text: string, offset: number, where: MacroLocation): SourcePosition {
  let line = where.line;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text[i] === '\n') {
      line++;
      lineStart = i + 1;
    }
  }
  const firstColumn = line === where.line ? (where.column ?? 1) : 1;
  return { file: where.file, line, column: firstColumn + (offset - lineStart) };
}

// ---------------------------------------------------------------------------
// Expansion of a whole source file, for the .db lexer.

/** A macro problem left in the expanded text for the lexer to judge. */
export interface MacroProblem {
  readonly code: DbLoadErrorCode;
  readonly detail: string;
  readonly pos: SourcePosition;
  /** Offset in the expanded text where the problem's text starts. */
  readonly offset: number;
}

/**
 * A source file after per-line macro expansion, with the source position of
 * every character of the expanded text.
 */
export interface ExpandedSource {
  readonly file: string;
  readonly text: string;
  /** 1-based source line of each character of `text`. */
  readonly lines: Int32Array;
  /** 1-based source column of each character of `text`. */
  readonly columns: Int32Array;
  /** Undefined/recursive/bad references, in order of `offset`. */
  readonly problems: readonly MacroProblem[];
}

/**
 * Expand every line of `text` separately, as dbLoadRecords does (it reads
 * with fgets and calls macExpandString per line). Problems are not thrown
 * here: an undefined macro inside a `#` comment is harmless, and only the
 * lexer knows what is a comment. Text produced by a macro maps to the
 * position of its `$`.
 */
export function expandSource(text: string, defs: ReadonlyMap<string, string>, file: string): ExpandedSource {
  const out = new ExpansionOutput(true);
  const expander = new MacroExpander(defs, 'collect', out);
  let lineNo = 1;
  let lineStart = 0;
  while (lineStart <= text.length) {
    let nl = text.indexOf('\n', lineStart);
    if (nl < 0) nl = text.length;
    const line = text.slice(lineStart, nl);
    const thisLine = lineNo;
    out.setLine(thisLine);
    if (line.includes('$')) {
      expander.expandTopLevel(line, out, (offset) => ({ file, line: thisLine, column: offset + 1 }));
    } else {
      out.pushVerbatim(line); // level 0 copies text without references unchanged
    }
    if (nl < text.length) {
      out.push('\n', line.length);
    }
    lineStart = nl + 1;
    lineNo++;
  }
  return {
    file,
    text: out.text,
    lines: out.lineOf?.toArray() ?? new Int32Array(0),
    columns: out.columnOf?.toArray() ?? new Int32Array(0),
    problems: expander.problems,
  };
}

// ---------------------------------------------------------------------------
// The engine: a transcription of macLib's trans()/refer() pair into a
// recursive scanner over indices, with errors instead of error text.

/**
 * strict: throw at the first problem.
 * collect: write `$(NAME)` and record the problem (used for whole files).
 * suppress: write `$(NAME)` silently (scoped values, as macLib does).
 */
type ProblemMode = 'strict' | 'collect' | 'suppress';

interface MacroEntry {
  readonly name: string;
  readonly raw: string;
}

/** A growable Int32Array (a plain number[] per character costs a lot of GC). */
class IntBuffer {
  private data = new Int32Array(1024);
  length = 0;

  push(v: number): void {
    if (this.length === this.data.length) {
      const bigger = new Int32Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = v;
  }

  toArray(): Int32Array {
    return this.data.slice(0, this.length);
  }
}

/** Expanded text plus, when tracking, the source column of every character. */
class ExpansionOutput {
  text = '';
  /** Source line and column of each character; only when tracking. */
  readonly lineOf: IntBuffer | null;
  readonly columnOf: IntBuffer | null;
  private line = 1;

  constructor(track: boolean) {
    this.lineOf = track ? new IntBuffer() : null;
    this.columnOf = track ? new IntBuffer() : null;
  }

  setLine(line: number): void {
    this.line = line;
  }

  /** Append `s`, copied unchanged from the start of the current line. */
  pushVerbatim(s: string): void {
    this.text += s;
    if (this.lineOf && this.columnOf) {
      for (let i = 0; i < s.length; i++) {
        this.lineOf.push(this.line);
        this.columnOf.push(i + 1);
      }
    }
  }

  /** Append `s`, every character of which came from source column offset+1. */
  push(s: string, offset: number): void {
    this.text += s;
    if (this.lineOf && this.columnOf) {
      for (let i = 0; i < s.length; i++) {
        this.lineOf.push(this.line);
        this.columnOf.push(offset + 1);
      }
    }
  }
}

/** Where output goes while scanning: somewhere, or nowhere (scan only). */
interface Sink {
  /** Output buffer, or null while only looking for the end of a part. */
  readonly out: ExpansionOutput | null;
  /** Source offset all output maps to, or -1 to use each character's own offset. */
  readonly anchor: number;
  /**
   * macLib finds the end of a default value by translating it into a buffer
   * of zero capacity, and its escape handling only steps over the escaped
   * character when there is room to copy it. So while scanning a default a
   * backslash protects nothing: `$(A=x\)y)` ends at the first ')'. We do
   * the same, or the text after such a reference would differ.
   */
  readonly zeroCapacity?: boolean;
}

interface RefContext {
  readonly mode: ProblemMode;
  /** Names of the macros whose values are being expanded, outermost first. */
  readonly chain: readonly string[];
  /** Position of the top-level `$` (or of any offset in the top-level text). */
  readonly where: (offset: number) => SourcePosition;
}

class MacroExpander {
  private readonly base = new Map<string, MacroEntry>();
  /** Scoped definitions, innermost last. */
  private readonly scopes: Map<string, MacroEntry>[] = [];
  /** Entries whose values are being expanded right now (recursion guard). */
  private readonly active = new Set<MacroEntry>();
  /** Problems seen in 'collect' mode, with offsets into `main`. */
  readonly problems: MacroProblem[] = [];

  constructor(
    defs: ReadonlyMap<string, string>,
    private readonly mode: ProblemMode,
    /** The top-level output; problem offsets refer to it. */
    private readonly main: ExpansionOutput,
  ) {
    for (const [name, raw] of defs) this.base.set(name, { name, raw });
  }

  expandTopLevel(text: string, out: ExpansionOutput, where: (offset: number) => SourcePosition): void {
    const ctx: RefContext = { mode: this.mode, chain: [], where };
    this.trans(text, 0, 0, '', { out, anchor: -1 }, ctx);
  }

  private lookup(name: string): MacroEntry | undefined {
    for (let i = this.scopes.length - 1; i >= 0; i--) {
      const entry = this.scopes[i].get(name);
      if (entry) return entry;
    }
    return this.base.get(name);
  }

  /**
   * Copy `src` from `start` to the first character in `term` (or the end),
   * expanding references. Returns the index of that terminator (or
   * src.length). Level 0 keeps quotes and escapes; deeper levels drop them.
   */
  private trans(src: string, start: number, level: number, term: string, sink: Sink, ctx: RefContext): number {
    const discard = level > 0;
    let quote = '';
    let r = start;
    const emit = (s: string, offset: number): void => {
      if (sink.out) sink.out.push(s, sink.anchor >= 0 ? sink.anchor : offset);
    };
    for (; r < src.length && !term.includes(src[r]); r++) {
      const c = src[r];
      if (quote) {
        if (c === quote) {
          quote = '';
          if (discard) continue;
        }
      } else if (c === '"' || c === "'") {
        quote = c;
        if (discard) continue;
      }

      const isRef = c === '$' && (src[r + 1] === '(' || src[r + 1] === '{');
      if (isRef && quote !== "'") {
        const next = this.refer(src, r, level, sink, ctx);
        r = next - 1;
        continue;
      }
      if (c === '\\' && r + 1 < src.length) {
        if (sink.zeroCapacity) continue;
        if (!discard) emit('\\', r);
        emit(src[r + 1], r + 1);
        r++;
      } else {
        emit(c, r);
      }
    }
    return r;
  }

  /**
   * Expand the reference whose `$` is at src[dollar]. Returns the index just
   * after its closing bracket.
   */
  private refer(src: string, dollar: number, level: number, sink: Sink, ctx: RefContext): number {
    const close = src[dollar + 1] === '(' ? ')' : '}';
    const nameTerm = `=,${close}`;
    const valueTerm = `,${close}`;
    const anchor = sink.anchor >= 0 ? sink.anchor : dollar;
    const evaluating = sink.out !== null;
    const scanOnly: Sink = { out: null, anchor };
    const defaultScan: Sink = { out: null, anchor, zeroCapacity: true };

    // The name, which may itself contain references.
    const nameOut = new ExpansionOutput(false);
    let r = this.trans(src, dollar + 2, level + 1, nameTerm, evaluating ? { out: nameOut, anchor } : scanOnly, ctx);
    const name = nameOut.text;

    // A default value is only scanned now; it is expanded if needed.
    let defaultStart = -1;
    if (src[r] === '=') {
      defaultStart = r + 1;
      r = this.trans(src, r + 1, level + 1, valueTerm, defaultScan, ctx);
    }

    // Scoped definitions: expanded now, with problems suppressed (macLib
    // sets FLAG_SUPPRESS_WARNINGS for them), and visible only inside.
    let scope: Map<string, MacroEntry> | null = null;
    if (src[r] === ',' && evaluating) {
      scope = new Map();
      this.scopes.push(scope);
    }
    const scopedCtx: RefContext = { ...ctx, mode: 'suppress' };
    try {
      while (src[r] === ',') {
        const subName = new ExpansionOutput(false);
        r = this.trans(src, r + 1, level + 1, nameTerm, evaluating ? { out: subName, anchor } : scanOnly, scopedCtx);
        if (src[r] === '=') {
          const subValue = new ExpansionOutput(false);
          r = this.trans(src, r + 1, level + 1, valueTerm, evaluating ? { out: subValue, anchor } : scanOnly, scopedCtx);
          if (scope) {
            scope.set(subName.text, { name: subName.text, raw: subValue.text });
          }
        }
      }

      if (r >= src.length) {
        // Unterminated: macLib would read to the end of the line.
        if (evaluating) {
          this.problem(ctx, sink, anchor, 'DB_ERR_BAD_MACRO',
            `unterminated macro reference ${JSON.stringify(src.slice(dollar))}: missing '${close}'`,
            src.slice(dollar));
        }
        return src.length;
      }
      if (!evaluating) return r + 1;

      const entry = this.lookup(name);
      if (entry) {
        if (this.active.has(entry)) {
          this.problem(ctx, sink, anchor, 'DB_ERR_RECURSIVE_MACRO',
            `macro '${name}' is recursive${describeChain(ctx.chain, name)}`, `$(${name})`);
        } else {
          this.active.add(entry);
          try {
            const inner: RefContext = { ...ctx, chain: [...ctx.chain, name] };
            this.trans(entry.raw, 0, level + 1, '', { out: sink.out, anchor }, inner);
          } finally {
            this.active.delete(entry);
          }
        }
      } else if (defaultStart >= 0) {
        this.trans(src, defaultStart, level + 1, valueTerm, { out: sink.out, anchor }, ctx);
      } else {
        this.problem(ctx, sink, anchor, 'DB_ERR_UNDEFINED_MACRO',
          `undefined macro '${name}'${describeChain(ctx.chain, name)}`, `$(${name})`);
      }
      return r + 1;
    } finally {
      if (scope) this.scopes.pop();
    }
  }

  private problem(
    ctx: RefContext,
    sink: Sink,
    anchor: number,
    code: DbLoadErrorCode,
    detail: string,
    replacement: string,
  ): void {
    const pos = ctx.where(anchor);
    if (ctx.mode === 'strict') throw new DbLoadError(code, detail, pos);
    if (!sink.out) return;
    if (ctx.mode === 'collect') {
      this.problems.push({ code, detail, pos, offset: this.main.text.length });
    }
    sink.out.push(replacement, anchor);
  }
}

function describeChain(chain: readonly string[], name: string): string {
  if (chain.length === 0) return '';
  const path = [...chain, name].map((n) => `'${n}'`).join(' -> ');
  return ` (expanding ${path})`;
}
