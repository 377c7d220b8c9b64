/**
 * The expression language of access security CALC conditions: the EPICS
 * calc syntax (postfix.c) for what rules use — numbers, inputs A..L,
 * arithmetic, comparisons, logic, the conditional operator and the common
 * functions. Compiled once when the .acf is read; evaluated on input changes.
 */
import { showCharacter } from '../text';

export type CalcFn = (inputs: readonly number[]) => number;

export class CalcError extends Error {}

type Tok = { t: 'num'; v: number } | { t: 'var'; i: number } | { t: 'op'; v: string } | { t: 'fn'; v: string } | { t: '('; } | { t: ')'; } | { t: ',' };

const FUNCS: Record<string, (...a: number[]) => number> = {
  ABS: Math.abs, SQRT: Math.sqrt, SQR: Math.sqrt, FLOOR: Math.floor, CEIL: Math.ceil, NINT: (x) => Math.sign(x) * Math.round(Math.abs(x)),
  MIN: (...a) => Math.min(...a), MAX: (...a) => Math.max(...a), EXP: Math.exp, LOG: Math.log10, LN: Math.log, LOGE: Math.log,
  ISNAN: (...a) => (a.some((x) => Number.isNaN(x)) ? 1 : 0), FINITE: (...a) => (a.every((x) => Number.isFinite(x)) ? 1 : 0),
};

const OPS = ['**', '>=', '<=', '==', '!=', '&&', '||', '>>', '<<', '?', ':', '+', '-', '*', '/', '%', '^', '<', '>', '=', '#', '!', '&', '|', '~'];

function tokenize(text: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) { i++; continue; }
    const num = /^(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?/.exec(text.slice(i));
    if (num) { out.push({ t: 'num', v: Number(num[0]) }); i += num[0].length; continue; }
    const word = /^[A-Za-z_]+/.exec(text.slice(i));
    if (word) {
      const w = word[0].toUpperCase();
      if (/^[A-L]$/.test(w)) out.push({ t: 'var', i: w.charCodeAt(0) - 65 });
      else if (w === 'AND') out.push({ t: 'op', v: '&&' });
      else if (w === 'OR') out.push({ t: 'op', v: '||' });
      else if (w === 'NOT') out.push({ t: 'op', v: '!' });
      else if (w === 'PI') out.push({ t: 'num', v: Math.PI });
      else if (FUNCS[w]) out.push({ t: 'fn', v: w });
      else throw new CalcError(`unknown name "${word[0]}" at position ${i + 1}`);
      i += word[0].length;
      continue;
    }
    if (c === '(') { out.push({ t: '(' }); i++; continue; }
    if (c === ')') { out.push({ t: ')' }); i++; continue; }
    if (c === ',') { out.push({ t: ',' }); i++; continue; }
    const op = OPS.find((o) => text.startsWith(o, i));
    if (!op) throw new CalcError(`unexpected ${showCharacter(c)} at position ${i + 1}`);
    out.push({ t: 'op', v: op });
    i += op.length;
  }
  return out;
}

/** Precedence climbing over the token list; returns a closure tree. */
class Parser {
  private p = 0;
  constructor(private readonly toks: Tok[]) {}

  parse(): CalcFn {
    const f = this.conditional();
    if (this.p < this.toks.length) throw new CalcError('unexpected text after the expression');
    return f;
  }

  private peekOp(...ops: string[]): string | undefined {
    const t = this.toks[this.p];
    return t && t.t === 'op' && ops.includes(t.v) ? t.v : undefined;
  }

  private conditional(): CalcFn {
    const cond = this.binary(0);
    if (!this.peekOp('?')) return cond;
    this.p++;
    const a = this.conditional();
    if (!this.peekOp(':')) throw new CalcError('expected ":" in a conditional');
    this.p++;
    const b = this.conditional();
    return (x) => (cond(x) !== 0 ? a(x) : b(x));
  }

  private static readonly LEVELS: string[][] = [
    ['||'], ['&&'], ['|'], ['&'], ['=', '==', '#', '!='], ['<', '>', '<=', '>='], ['<<', '>>'], ['+', '-'], ['*', '/', '%'], ['^', '**'],
  ];

  private binary(level: number): CalcFn {
    if (level >= Parser.LEVELS.length) return this.unary();
    let left = this.binary(level + 1);
    for (let op = this.peekOp(...Parser.LEVELS[level]); op; op = this.peekOp(...Parser.LEVELS[level])) {
      this.p++;
      const right = level === Parser.LEVELS.length - 1 ? this.binary(level) : this.binary(level + 1);
      const l = left;
      left = combine(op, l, right);
      if (level === Parser.LEVELS.length - 1) break; // power is right-associative
    }
    return left;
  }

  private unary(): CalcFn {
    const op = this.peekOp('-', '!', '~', '+');
    if (op) {
      this.p++;
      const f = this.unary();
      if (op === '-') return (x) => -f(x);
      if (op === '!') return (x) => (f(x) === 0 ? 1 : 0);
      if (op === '~') return (x) => ~f(x);
      return f;
    }
    return this.primary();
  }

  private primary(): CalcFn {
    const t = this.toks[this.p++];
    if (!t) throw new CalcError('the expression ends too early');
    if (t.t === 'num') return () => t.v;
    if (t.t === 'var') return (x) => x[t.i] ?? 0;
    if (t.t === '(') {
      const f = this.conditional();
      if (this.toks[this.p++]?.t !== ')') throw new CalcError('expected ")"');
      return f;
    }
    if (t.t === 'fn') {
      if (this.toks[this.p++]?.t !== '(') throw new CalcError(`expected "(" after ${t.v}`);
      const args: CalcFn[] = [this.conditional()];
      while (this.toks[this.p]?.t === ',') {
        this.p++;
        args.push(this.conditional());
      }
      if (this.toks[this.p++]?.t !== ')') throw new CalcError(`expected ")" to close ${t.v}(`);
      const fn = FUNCS[t.v];
      return (x) => fn(...args.map((a) => a(x)));
    }
    throw new CalcError('expected a number, an input A-L, a function or "("');
  }
}

function combine(op: string, l: CalcFn, r: CalcFn): CalcFn {
  switch (op) {
    case '||': return (x) => (l(x) !== 0 || r(x) !== 0 ? 1 : 0);
    case '&&': return (x) => (l(x) !== 0 && r(x) !== 0 ? 1 : 0);
    case '|': return (x) => l(x) | r(x);
    case '&': return (x) => l(x) & r(x);
    case '=': case '==': return (x) => (l(x) === r(x) ? 1 : 0);
    case '#': case '!=': return (x) => (l(x) !== r(x) ? 1 : 0);
    case '<': return (x) => (l(x) < r(x) ? 1 : 0);
    case '>': return (x) => (l(x) > r(x) ? 1 : 0);
    case '<=': return (x) => (l(x) <= r(x) ? 1 : 0);
    case '>=': return (x) => (l(x) >= r(x) ? 1 : 0);
    case '<<': return (x) => l(x) << r(x);
    case '>>': return (x) => l(x) >> r(x);
    case '+': return (x) => l(x) + r(x);
    case '-': return (x) => l(x) - r(x);
    case '*': return (x) => l(x) * r(x);
    case '/': return (x) => l(x) / r(x);
    case '%': return (x) => l(x) % r(x);
    default: return (x) => l(x) ** r(x);
  }
}

/** Compile a CALC expression; throws CalcError saying what is wrong. */
export function compileCalc(text: string): { fn: CalcFn; inputs: number[] } {
  const toks = tokenize(text);
  if (toks.length === 0) throw new CalcError('the expression is empty');
  const inputs = [...new Set(toks.filter((t): t is { t: 'var'; i: number } => t.t === 'var').map((t) => t.i))].sort();
  return { fn: new Parser(toks).parse(), inputs };
}
