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
  const out = new ExpansionOutput();
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

/** A source file after per-line macro expansion. */
export interface ExpandedSource {
  readonly file: string;
  readonly text: string;
  /** Undefined/recursive/bad references, in order of `offset`. */
  readonly problems: readonly MacroProblem[];
  /**
   * References whose name took in a quote (`"$(P") {"` is `$(P)` to macLib,
   * and eats the string's closing quote): no fault by themselves, but the
   * explanation when the lexer then finds an unterminated string. By offset.
   */
  readonly hints?: readonly MacroProblem[];
  /**
   * The source line and column of the character at `offset` of `text`. Text
   * produced by a macro maps to the position of its `$`. At or past the end
   * of `text`: the position just after its last character.
   */
  positionAt(offset: number): SourcePosition;
}

/** A growable Int32Array. */
class IntBuffer {
  private data: Int32Array;
  length = 0;

  constructor(capacity = 64) {
    this.data = new Int32Array(capacity);
  }

  push(v: number): void {
    if (this.length === this.data.length) {
      const bigger = new Int32Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = v;
  }

  at(i: number): number {
    return this.data[i];
  }

  set(i: number, v: number): void {
    this.data[i] = v;
  }

  /** The contents, trimmed to their length. */
  toArray(): Int32Array {
    return this.data.length === this.length ? this.data : this.data.slice(0, this.length);
  }
}

/**
 * Maps offsets in expanded text back to source positions, compactly: one
 * number per source line (where it starts in the expanded text), plus, for
 * the few lines that macro expansion changed, a list of segments. A line
 * that expansion left alone maps 1:1, so most files need no segments.
 *
 * A segment is a run of expanded text starting at `out` that maps either to
 * consecutive source columns from `column` on (step 1: text copied from the
 * source) or entirely to `column` (step 0: text produced by the macro whose
 * `$` is there).
 */
class SourceMap {
  /** Expanded-text offset where source line i+1 starts. */
  private lineStarts: Int32Array = new Int32Array(0);
  private readonly lineStartsBuf = new IntBuffer(1024);
  /** Segments, four numbers each: out, line, column, step. */
  private readonly segs = new IntBuffer();
  private segCount = 0;
  /** Where the last lookup found its line, for in-order lookups. */
  private cursor = 0;

  constructor(private readonly file: string) {}

  /** The next source line (they come in order) starts at expanded offset `out`. */
  startLine(out: number): void {
    this.lineStartsBuf.push(out);
  }

  /** No more lines. */
  finish(): void {
    this.lineStarts = this.lineStartsBuf.toArray();
  }

  /**
   * `length` characters written at expanded offset `out` from source `line`:
   * with step 0 all from `column` (a macro's output), with step 1 from
   * consecutive columns starting there (copied). A single character fits
   * either kind of segment.
   */
  add(out: number, line: number, column: number, length: number, step: 0 | 1): void {
    if (length === 0) return;
    const segs = this.segs;
    const n = this.segCount;
    if (n > 0) {
      const b = (n - 1) * 4;
      const lastOut = segs.at(b), lastColumn = segs.at(b + 2), lastStep = segs.at(b + 3);
      // A segment of one character can still become either kind.
      const run = out - lastOut;
      if (segs.at(b + 1) === line) {
        if ((step === 0 || length === 1) && (lastStep === 0 || run === 1) && column === lastColumn) {
          segs.set(b + 3, 0);
          return;
        }
        if ((step === 1 || length === 1) && (lastStep === 1 || run === 1) && column === lastColumn + run) {
          segs.set(b + 3, 1);
          return;
        }
      }
    }
    segs.push(out);
    segs.push(line);
    segs.push(column);
    segs.push(length === 1 ? 1 : step);
    this.segCount++;
  }

  /** 0-based index of the line holding expanded offset `offset`. */
  private lineIndex(offset: number): number {
    const starts = this.lineStarts;
    let i = this.cursor;
    // Lookups mostly move forward a little: try that first.
    if (offset >= starts[i]) {
      for (let k = 0; k < 8 && i + 1 < starts.length && starts[i + 1] <= offset; k++) i++;
    }
    if (!(offset >= starts[i] && (i + 1 >= starts.length || starts[i + 1] > offset))) {
      let lo = 0, hi = starts.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (starts[mid] <= offset) lo = mid;
        else hi = mid - 1;
      }
      i = lo;
    }
    this.cursor = i;
    return i;
  }

  /** The line and column of expanded offset `offset` (inside the text). */
  position(offset: number): SourcePosition {
    const index = this.lineIndex(offset);
    const line = index + 1;
    if (this.segCount > 0) {
      // The last segment starting at or before offset, if it is on this line.
      const segs = this.segs;
      let lo = 0, hi = this.segCount - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (segs.at(mid * 4) <= offset) lo = mid;
        else hi = mid - 1;
      }
      const b = lo * 4;
      if (segs.at(b) <= offset && segs.at(b + 1) === line) {
        const step = segs.at(b + 3);
        return { file: this.file, line, column: segs.at(b + 2) + step * (offset - segs.at(b)) };
      }
    }
    return { file: this.file, line, column: offset - this.lineStarts[index] + 1 };
  }
}

class ExpandedText implements ExpandedSource {
  constructor(
    readonly file: string,
    readonly text: string,
    readonly problems: readonly MacroProblem[],
    private readonly map: SourceMap,
    readonly hints: readonly MacroProblem[] = [],
  ) {}

  positionAt(offset: number): SourcePosition {
    const { text, file } = this;
    if (offset < text.length) return this.map.position(offset);
    if (text.length === 0) return { file, line: 1, column: 1 };
    const last = this.map.position(text.length - 1);
    if (text.charCodeAt(text.length - 1) === 10) return { file, line: last.line + 1, column: 1 };
    return { file, line: last.line, column: last.column + 1 };
  }
}

/**
 * Expand every line of `text` separately, as dbLoadRecords does (it reads
 * with fgets and calls macExpandString per line). Problems are not thrown
 * here: an undefined macro inside a `#` comment is harmless, and only the
 * lexer knows what is a comment. Lines without a `$` are copied as they are
 * (level 0 leaves text without references unchanged), in one piece up to
 * the next line that has one.
 */
export function expandSource(text: string, defs: ReadonlyMap<string, string>, file: string): ExpandedSource {
  const map = new SourceMap(file);
  const out = new ExpansionOutput(map);
  const expander = new MacroExpander(defs, 'collect', out);
  const pieces: string[] = [];
  /** Source text up to here is in `pieces` or expanded. */
  let copied = 0;
  /** Expanded length minus source length, so far. */
  let delta = 0;
  let nextDollar = text.indexOf('$');
  let lineNo = 1;
  let lineStart = 0;
  for (;;) {
    let nl = text.indexOf('\n', lineStart);
    if (nl < 0) nl = text.length;
    map.startLine(lineStart + delta);
    if (nextDollar >= 0 && nextDollar < nl) {
      pieces.push(text.slice(copied, lineStart));
      const line = text.slice(lineStart, nl);
      const thisLine = lineNo;
      out.startLine(thisLine, lineStart + delta);
      expander.expandTopLevel(line, out, (offset) => ({ file, line: thisLine, column: offset + 1 }));
      pieces.push(out.text);
      delta += out.text.length - line.length;
      // The newline, copied with the lines that follow, is still this line's.
      if (nl < text.length) map.add(nl + delta, thisLine, line.length + 1, 1, 1);
      copied = nl;
      nextDollar = text.indexOf('$', nl);
    }
    if (nl >= text.length) break;
    lineStart = nl + 1;
    lineNo++;
  }
  map.finish();
  let expanded = text;
  if (pieces.length > 0) {
    pieces.push(text.slice(copied));
    expanded = pieces.join('');
  }
  return new ExpandedText(file, expanded, expander.problems, map, expander.hints);
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

/**
 * Whether trans() must look at a character on its own: quotes, `$`,
 * backslash, and the characters that may end a part of a reference.
 */
function isSpecial(code: number): boolean {
  switch (code) {
    case 0x22: // "
    case 0x27: // '
    case 0x24: // $
    case 0x5c: // backslash
    case 0x3d: // =
    case 0x2c: // ,
    case 0x29: // )
    case 0x7d: // }
      return true;
    default:
      return false;
  }
}

/**
 * Expanded text; for a whole file also where each piece came from. One
 * ExpansionOutput holds one line at a time there.
 */
class ExpansionOutput {
  text = '';
  /** Source line being expanded (tracking only). */
  private line = 1;
  /** Offset of text[0] in the whole expanded file (tracking only). */
  private base = 0;

  constructor(private readonly map: SourceMap | null = null) {}

  /** Start on source line `line`, whose expansion starts at `base`. */
  startLine(line: number, base: number): void {
    this.text = '';
    this.line = line;
    this.base = base;
  }

  /** Offset in the whole expanded file where the next character goes. */
  get offset(): number {
    return this.base + this.text.length;
  }

  /** Append `s`, every character of which came from source column offset+1. */
  push(s: string, offset: number): void {
    this.map?.add(this.offset, this.line, offset + 1, s.length, 0);
    this.text += s;
  }

  /** Append `s`, copied from the source from column offset+1 on. */
  copy(s: string, offset: number): void {
    this.map?.add(this.offset, this.line, offset + 1, s.length, 1);
    this.text += s;
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
  /** References with a quote in their name, in 'collect' mode (see ExpandedSource.hints). */
  readonly hints: MacroProblem[] = [];

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
    for (; r < src.length; r++) {
      // Characters that need no thought are copied a run at a time.
      let end = r;
      while (end < src.length && !isSpecial(src.charCodeAt(end))) end++;
      if (end > r) {
        if (sink.out) {
          if (sink.anchor >= 0) sink.out.push(src.slice(r, end), sink.anchor);
          else sink.out.copy(src.slice(r, end), r);
        }
        r = end - 1;
        continue;
      }
      const c = src[r];
      if (term.includes(c)) break;
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
    const nameOut = new ExpansionOutput();
    let r = this.trans(src, dollar + 2, level + 1, nameTerm, evaluating ? { out: nameOut, anchor } : scanOnly, ctx);
    const name = nameOut.text;
    if (evaluating && ctx.mode === 'collect' && level === 0) {
      const quote = src.slice(dollar + 2, r).search(/["']/);
      if (quote >= 0) {
        this.hints.push({
          code: 'DB_ERR_BAD_MACRO',
          detail: `unterminated macro reference ${JSON.stringify(src.slice(dollar, dollar + 2 + quote))}: missing '${close}' before the quote`,
          pos: ctx.where(anchor),
          offset: this.main.offset,
        });
      }
    }

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
        const subName = new ExpansionOutput();
        r = this.trans(src, r + 1, level + 1, nameTerm, evaluating ? { out: subName, anchor } : scanOnly, scopedCtx);
        if (src[r] === '=') {
          const subValue = new ExpansionOutput();
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
      this.problems.push({ code, detail, pos, offset: this.main.offset });
    }
    sink.out.push(replacement, anchor);
  }
}

function describeChain(chain: readonly string[], name: string): string {
  if (chain.length === 0) return '';
  const path = [...chain, name].map((n) => `'${n}'`).join(' -> ');
  return ` (expanding ${path})`;
}
