/**
 * Access security configuration files (.acf), as EPICS base's asLib reads
 * them (modules/libcom/src/as/asLib.y, asLib_lex.l, asLibRoutines.c):
 *
 *   UAG(ops) { alice, bob }
 *   HAG(consoles) { opi1, opi2 }
 *   ASG(SERVICE_CONTROL) {
 *     INPA("$(P)IOC:ControlsEnabled")
 *     RULE(1, READ)
 *     RULE(1, WRITE, TRAPWRITE) { UAG(ops) HAG(consoles) CALC("A=1") }
 *   }
 *
 * Every error names the file and line. An ASG that rules do not define is
 * created empty (no access), and DEFAULT always exists, as in asLib.
 */
import { CalcError, compileCalc, type CalcFn } from '../calc/calc';
import { expandMacros } from '../database/dbfile/macros';
import { ServiceIocError } from '../errors';
import { quoteValue, showCharacter } from '../text';

export enum Access {
  NONE = 0,
  READ = 1,
  WRITE = 2,
}

export interface Rule {
  level: number;
  access: Access;
  trapWrite: boolean;
  uags: string[];
  hags: string[];
  calc?: { text: string; fn: CalcFn; inputs: number[] };
  line: number;
  /** Line of each UAG(...)/HAG(...) reference, keyed "UAG:name", for messages. */
  refLines: Map<string, number>;
}

export interface Asg {
  name: string;
  /** INPA..INPL PV names (undefined where not given). */
  inputs: Array<string | undefined>;
  rules: Rule[];
  line: number;
}

export interface AcfConfig {
  uags: Map<string, Set<string>>;
  hags: Map<string, Set<string>>;
  asgs: Map<string, Asg>;
  warnings: string[];
}

/** What is wrong with an access security file (docs/errors.md). */
export type AcfErrorCode = 'ACF_ERR_SYNTAX' | 'ACF_ERR_MACRO' | 'ACF_ERR_EMPTY' | 'ACF_ERR_DUPLICATE' | 'ACF_ERR_UNDEFINED_GROUP' | 'ACF_ERR_BAD_CALC';

export class AcfError extends ServiceIocError {
  declare readonly code: AcfErrorCode;
  constructor(code: AcfErrorCode, readonly file: string, readonly line: number, readonly detail: string) {
    super(code, `${file}:${line}: ${detail}`);
  }
}

interface Token {
  kind: 'word' | 'string' | 'punct' | 'end';
  text: string;
  line: number;
}

const BARE = /[A-Za-z0-9_\-+:.[\]<>;]/;

function tokenize(text: string, file: string): Token[] {
  const out: Token[] = [];
  let line = 1;
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '\n') { line++; i++; continue; }
    if (/\s/.test(c)) { i++; continue; }
    if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++;
      continue;
    }
    if ('(){},'.includes(c)) { out.push({ kind: 'punct', text: c, line }); i++; continue; }
    if (c === '"') {
      let s = '';
      i++;
      // asLib_lex.l takes a quoted string as written: \" does not end it, and nothing is unescaped.
      while (i < text.length && text[i] !== '"') {
        if (text[i] === '\n') throw new AcfError('ACF_ERR_SYNTAX', file, line, 'a quoted string must end on its line');
        if (text[i] === '\\' && text[i + 1] === '"') s += text[i++];
        s += text[i++];
      }
      if (i >= text.length) throw new AcfError('ACF_ERR_SYNTAX', file, line, 'a quoted string is not closed');
      i++;
      out.push({ kind: 'string', text: s, line });
      continue;
    }
    if (BARE.test(c)) {
      let s = '';
      while (i < text.length && BARE.test(text[i])) s += text[i++];
      out.push({ kind: 'word', text: s, line });
      continue;
    }
    throw new AcfError('ACF_ERR_SYNTAX', file, line, `unexpected character ${showCharacter(c)}`);
  }
  out.push({ kind: 'end', text: 'end of file', line });
  return out;
}

class AcfParser {
  private p = 0;
  private readonly cfg: AcfConfig = { uags: new Map(), hags: new Map(), asgs: new Map(), warnings: [] };

  constructor(private readonly toks: Token[], private readonly file: string) {}

  private get tok(): Token {
    return this.toks[this.p];
  }

  private fail(detail: string, t: Token = this.tok, code: AcfErrorCode = 'ACF_ERR_SYNTAX'): never {
    throw new AcfError(code, this.file, t.line, detail);
  }

  private describe(t: Token): string {
    return t.kind === 'end' ? 'the end of the file' : quoteValue(t.text);
  }

  private punct(c: string, what: string): void {
    if (this.tok.kind !== 'punct' || this.tok.text !== c) this.fail(`expected "${c}" ${what}, found ${this.describe(this.tok)}`);
    this.p++;
  }

  private isPunct(c: string): boolean {
    return this.tok.kind === 'punct' && this.tok.text === c;
  }

  private name(what: string): string {
    const t = this.tok;
    if (t.kind !== 'word' && t.kind !== 'string') this.fail(`expected ${what}, found ${this.describe(t)}`);
    this.p++;
    return t.text;
  }

  parse(): AcfConfig {
    // asLib's grammar needs at least one UAG, HAG or ASG; an empty file would leave every PV unreadable.
    if (this.toks.length === 1) this.fail('the file defines no UAG, HAG or ASG: with it no PV could be read or written; give at least ASG(DEFAULT) { RULE(1, READ) }', this.tok, 'ACF_ERR_EMPTY');
    while (this.tok.kind !== 'end') {
      const t = this.tok;
      if (t.kind !== 'word') this.fail(`expected UAG, HAG or ASG, found ${this.describe(t)}`);
      const kw = t.text.toUpperCase();
      this.p++;
      if (kw === 'UAG' || kw === 'HAG') this.group(kw, t);
      else if (kw === 'ASG') this.asg(t);
      else this.fail(`expected UAG, HAG or ASG, found ${quoteValue(t.text)}`, t);
    }
    if (!this.cfg.asgs.has('DEFAULT')) this.cfg.asgs.set('DEFAULT', { name: 'DEFAULT', inputs: [], rules: [], line: 0 });
    this.checkReferences();
    return this.cfg;
  }

  private group(kind: 'UAG' | 'HAG', at: Token): void {
    this.punct('(', `after ${kind}`);
    const name = this.name(`the ${kind} name`);
    this.punct(')', `after the ${kind} name`);
    const map = kind === 'UAG' ? this.cfg.uags : this.cfg.hags;
    if (map.has(name)) this.fail(`${kind} ${quoteValue(name)} is defined twice`, at, 'ACF_ERR_DUPLICATE');
    const members = new Set<string>();
    map.set(name, members);
    if (!this.isPunct('{')) return;
    this.p++;
    while (!this.isPunct('}')) {
      const m = this.name(kind === 'UAG' ? 'a user name' : 'a host name');
      // asLib compares host names lower-cased.
      members.add(kind === 'HAG' ? m.toLowerCase() : m);
      if (this.isPunct(',')) this.p++;
      else if (!this.isPunct('}')) this.fail(`expected "," or "}" in the ${kind} list, found ${this.describe(this.tok)}`);
    }
    this.p++;
  }

  private asg(at: Token): void {
    this.punct('(', 'after ASG');
    const name = this.name('the ASG name');
    this.punct(')', 'after the ASG name');
    // asAsgAdd: a DEFAULT given first without a body may be given again; any other repeat is an error.
    const existing = this.cfg.asgs.get(name);
    const emptyDefault = name === 'DEFAULT' && existing !== undefined && existing.rules.length === 0 && !existing.inputs.some(Boolean);
    if (existing && !emptyDefault) this.fail(`ASG ${quoteValue(name)} is defined twice`, at, 'ACF_ERR_DUPLICATE');
    const asg: Asg = existing ?? { name, inputs: [], rules: [], line: at.line };
    this.cfg.asgs.set(name, asg);
    if (!this.isPunct('{')) return;
    this.p++;
    while (!this.isPunct('}')) {
      const t = this.tok;
      if (t.kind !== 'word') this.fail(`expected INPA..INPL or RULE in ASG ${quoteValue(name)}, found ${this.describe(t)}`);
      const kw = t.text.toUpperCase();
      this.p++;
      const inp = /^INP([A-L])$/.exec(kw);
      if (inp) {
        this.punct('(', `after ${kw}`);
        asg.inputs[inp[1].charCodeAt(0) - 65] = this.name('a PV name');
        this.punct(')', 'after the PV name');
      } else if (kw === 'RULE') {
        asg.rules.push(this.rule(t));
      } else {
        this.fail(`expected INPA..INPL or RULE in ASG ${quoteValue(name)}, found ${quoteValue(t.text)}`, t);
      }
    }
    this.p++;
  }

  private rule(at: Token): Rule {
    this.punct('(', 'after RULE');
    const levelTok = this.tok;
    const level = Number(this.name('the access security level (0 or 1)'));
    if (!Number.isInteger(level) || level < 0) this.fail(`expected a level 0 or 1, found ${quoteValue(levelTok.text)}`, levelTok);
    this.punct(',', 'after the level');
    const accTok = this.tok;
    const accText = this.name('NONE, READ or WRITE').toUpperCase();
    const access = ({ NONE: Access.NONE, READ: Access.READ, WRITE: Access.WRITE } as Record<string, Access>)[accText];
    if (access === undefined) this.fail(`expected NONE, READ or WRITE, found ${quoteValue(accTok.text)}`, accTok);
    let trapWrite = false;
    if (this.isPunct(',')) {
      this.p++;
      const trapTok = this.tok;
      const trap = this.name('TRAPWRITE or NOTRAPWRITE').toUpperCase();
      if (trap !== 'TRAPWRITE' && trap !== 'NOTRAPWRITE') this.fail(`expected TRAPWRITE or NOTRAPWRITE, found ${quoteValue(trapTok.text)}`, trapTok);
      trapWrite = trap === 'TRAPWRITE';
    }
    this.punct(')', 'to close RULE(');
    const rule: Rule = { level, access, trapWrite, uags: [], hags: [], line: at.line, refLines: new Map() };
    if (!this.isPunct('{')) return rule;
    this.p++;
    while (!this.isPunct('}')) {
      const t = this.tok;
      const kw = t.kind === 'word' ? t.text.toUpperCase() : '';
      if (kw !== 'UAG' && kw !== 'HAG' && kw !== 'CALC') this.fail(`expected UAG, HAG or CALC in a RULE, found ${this.describe(t)}`);
      this.p++;
      this.punct('(', `after ${kw}`);
      if (kw === 'CALC') {
        const exprTok = this.tok;
        const text = this.name('a quoted CALC expression');
        try {
          rule.calc = { text, ...compileCalc(text) };
        } catch (err) {
          if (err instanceof CalcError) this.fail(`CALC(${quoteValue(text)}): ${err.message}`, exprTok, 'ACF_ERR_BAD_CALC');
          throw err;
        }
      } else {
        for (;;) {
          const nameTok = this.tok;
          const groupName = this.name(`a ${kw} name`);
          (kw === 'UAG' ? rule.uags : rule.hags).push(groupName);
          rule.refLines.set(`${kw}:${groupName}`, nameTok.line);
          if (!this.isPunct(',')) break;
          this.p++;
        }
      }
      this.punct(')', `to close ${kw}(`);
    }
    this.p++;
    return rule;
  }

  private checkReferences(): void {
    for (const asg of this.cfg.asgs.values()) {
      for (const r of asg.rules) {
        for (const u of r.uags) if (!this.cfg.uags.has(u)) throw new AcfError('ACF_ERR_UNDEFINED_GROUP', this.file, r.refLines.get(`UAG:${u}`) ?? r.line, `RULE in ASG ${quoteValue(asg.name)} names UAG ${quoteValue(u)}, which is not defined`);
        for (const h of r.hags) if (!this.cfg.hags.has(h)) throw new AcfError('ACF_ERR_UNDEFINED_GROUP', this.file, r.refLines.get(`HAG:${h}`) ?? r.line, `RULE in ASG ${quoteValue(asg.name)} names HAG ${quoteValue(h)}, which is not defined`);
        if (r.calc && !r.calc.inputs.some((i) => asg.inputs[i])) {
          this.cfg.warnings.push(`${this.file}:${r.line}: CALC(${quoteValue(r.calc.text)}) uses no input of ASG ${quoteValue(asg.name)} (INPA..INPL), so it is never evaluated and the rule never applies`);
        }
      }
    }
  }
}

/** Parse .acf text (after applying `macros`, as asInitFile with asSubstitutions does). */
export function parseAcf(text: string, file: string, macros?: ReadonlyMap<string, string>): AcfConfig {
  let source = text;
  if (macros && macros.size > 0) {
    try {
      source = expandMacros(text, macros, { file, line: 1 });
    } catch (err) {
      const e = err as { line?: number; message: string };
      throw new AcfError('ACF_ERR_MACRO', file, e.line ?? 0, e.message.replace(/^[^:]*:\d+:\d+: /, ''));
    }
  }
  return new AcfParser(tokenize(source, file), file).parse();
}
