/**
 * The EPICS CALC expression language (libCom's postfix and calcPerform), for
 * calc and calcout records and access security CALC conditions: an infix
 * expression is compiled once to a postfix program, which is run on the
 * inputs A..L (and VAL, the previous result).
 *
 * What it takes, as postfix.c does: numbers (decimal, 0x hex, Inf, NaN),
 * inputs A..L, constants PI, D2R, R2D, RNDM, VAL; unary - ! ~ NOT and the
 * named functions (ABS, SQRT/SQR, EXP, LN/LOGE, LOG, FLOOR, CEIL, NINT,
 * the trigonometric ones, ISINF, ...), MAX/MIN/FINITE/ISNAN with any number
 * of arguments, ATAN2(a, b); binary operators by priority, lowest first:
 * `|| | OR XOR`, `&& & AND`, comparisons, `+ -`, `* / %`, `** ^`;
 * `c ? a : b`; `X := expr` assigns input X; `;` separates expressions, the
 * last one gives the result. Names are not case sensitive.
 */
import { showCharacter } from '../text';

export type CalcFn = (inputs: readonly number[]) => number;

export class CalcError extends Error {}

/** The inputs A..L. */
export const CALC_INPUTS = 12;

type Op =
  | { k: 'num'; v: number }
  | { k: 'arg'; i: number }
  | { k: 'val' }
  | { k: 'rndm' }
  | { k: 'un'; f: (x: number) => number }
  | { k: 'bin'; f: (x: number, y: number) => number }
  | { k: 'var'; f: (xs: number[]) => number; n: number }
  | { k: 'store'; i: number }
  | { k: 'if'; to: number }
  | { k: 'else'; to: number }
  | { k: 'end' };

const INT_MIN = -2147483648;

/** The 32-bit integer of a hex literal (0xFFFFFFFF is -1). */
const i32 = (x: number): number => x | 0;

/**
 * The integer a bit operator takes from a double, as calcPerform's
 * conversion comes out on x86-64 (checked on softIoc): a positive value
 * wraps modulo 2^32 (NaN and +Inf give 0), a negative one below INT_MIN
 * stops there.
 */
const d2i = (x: number): number => (x < INT_MIN ? INT_MIN : x | 0);

/** C's (int) of a double for %: NaN and anything out of range give INT_MIN. */
const cint = (x: number): number => (x >= -2147483648 && x < 2147483648 ? Math.trunc(x) | 0 : INT_MIN);

const UNARY: Record<string, (x: number) => number> = {
  ABS: Math.abs, ACOS: Math.acos, ASIN: Math.asin, ATAN: Math.atan, CEIL: Math.ceil, COS: Math.cos, COSH: Math.cosh,
  EXP: Math.exp, FLOOR: Math.floor, ISINF: (x) => (x === Infinity ? 1 : x === -Infinity ? -1 : 0), LN: Math.log, LOG: Math.log10,
  LOGE: Math.log, NINT: (x) => (x >= 0 ? Math.floor(x + 0.5) : Math.ceil(x - 0.5)), NOT: (x) => ~d2i(x), SIN: Math.sin,
  SINH: Math.sinh, SQR: Math.sqrt, SQRT: Math.sqrt, TAN: Math.tan, TANH: Math.tanh,
};

const VARARG: Record<string, (xs: number[]) => number> = {
  MAX: (xs) => xs.reduce((m, x) => (m < x || Number.isNaN(x) ? x : m)),
  MIN: (xs) => xs.reduce((m, x) => (m > x || Number.isNaN(x) ? x : m)),
  FINITE: (xs) => (xs.every((x) => Number.isFinite(x)) ? 1 : 0),
  ISNAN: (xs) => (xs.some((x) => Number.isNaN(x)) ? 1 : 0),
};

const CONSTANTS: Record<string, number> = { PI: Math.PI, D2R: Math.PI / 180, R2D: 180 / Math.PI, INF: Infinity, NAN: NaN };

/** Binary operators: [priority, implementation]; every one is left-associative. */
const BINARY: Record<string, [number, (x: number, y: number) => number]> = {
  '||': [1, (x, y) => (x !== 0 || y !== 0 ? 1 : 0)],
  '|': [1, (x, y) => d2i(x) | d2i(y)],
  OR: [1, (x, y) => d2i(x) | d2i(y)],
  XOR: [1, (x, y) => d2i(x) ^ d2i(y)],
  '&&': [2, (x, y) => (x !== 0 && y !== 0 ? 1 : 0)],
  '&': [2, (x, y) => d2i(x) & d2i(y)],
  AND: [2, (x, y) => d2i(x) & d2i(y)],
  '<<': [2, (x, y) => d2i(x) << (d2i(y) & 31)],
  '>>': [2, (x, y) => d2i(x) >> (d2i(y) & 31)],
  '>>>': [2, (x, y) => d2i(x) >>> (d2i(y) & 31)],
  '=': [3, (x, y) => (x === y ? 1 : 0)],
  '==': [3, (x, y) => (x === y ? 1 : 0)],
  '!=': [3, (x, y) => (x !== y ? 1 : 0)],
  '#': [3, (x, y) => (x !== y ? 1 : 0)],
  '<': [3, (x, y) => (x < y ? 1 : 0)],
  '<=': [3, (x, y) => (x <= y ? 1 : 0)],
  '>': [3, (x, y) => (x > y ? 1 : 0)],
  '>=': [3, (x, y) => (x >= y ? 1 : 0)],
  '+': [4, (x, y) => x + y],
  '-': [4, (x, y) => x - y],
  '*': [5, (x, y) => x * y],
  '/': [5, (x, y) => x / y],
  '%': [5, (x, y) => (cint(y) === 0 ? NaN : cint(x) % cint(y))],
  '**': [6, (x, y) => x ** y],
  '^': [6, (x, y) => x ** y],
};

const SYMBOLS = ['>>>', ':=', '**', '>=', '<=', '==', '!=', '&&', '||', '>>', '<<',
  '?', ':', ';', ',', '(', ')', '+', '-', '*', '/', '%', '^', '<', '>', '=', '#', '!', '&', '|', '~'];

type Tok = { t: 'num'; v: number } | { t: 'name'; v: string; at: number } | { t: 'sym'; v: string; at: number };

const NUMBER = /^(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)/;

function tokenize(text: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') { i++; continue; }
    const num = NUMBER.exec(text.slice(i));
    if (num) {
      const s = num[0];
      out.push({ t: 'num', v: /^0[xX]/.test(s) ? i32(parseInt(s.slice(2), 16)) : Number(s) });
      i += s.length;
      continue;
    }
    const word = /^[A-Za-z][A-Za-z0-9_]*/.exec(text.slice(i));
    if (word) {
      out.push({ t: 'name', v: word[0].toUpperCase(), at: i });
      i += word[0].length;
      continue;
    }
    const sym = SYMBOLS.find((o) => text.startsWith(o, i));
    if (!sym) throw new CalcError(`unexpected ${showCharacter(c)} at position ${i + 1}`);
    out.push({ t: 'sym', v: sym, at: i });
    i += sym.length;
  }
  return out;
}

/** One entry of the operator stack while converting. */
type Pending =
  | { k: 'bin'; name: string; prio: number }
  | { k: 'un'; f: (x: number) => number }
  | { k: '('; fn?: string; args: number }
  | { k: '?'; at: number }
  | { k: ':'; at: number }
  | { k: 'store'; i: number };

/** A compiled expression. */
export interface CalcProgram {
  /** The inputs A..L (0..11) the expression reads. */
  readonly inputs: readonly number[];
  /** The inputs it assigns with `:=`. */
  readonly stores: readonly number[];
  /**
   * Run it on `args` (A..L; assignments change them) with `val` the previous
   * result; returns the result. Throws CalcError when the program cannot run
   * (calcPerform's failure: the record raises CALC/INVALID).
   */
  run(args: number[], val?: number): number;
}

/** Compile an expression; throws CalcError saying what is wrong, as postfix() refuses it. */
export function compile(text: string): CalcProgram {
  const toks = tokenize(text);
  const prog: Op[] = [];
  const stack: Pending[] = [];
  const inputs = new Set<number>();
  const stores = new Set<number>();
  let expectOperand = true;
  let depth = 0; // values on the run-time stack, to find bad programs
  let exprs = 0;
  const push = (op: Op, effect: number): void => {
    prog.push(op);
    depth += effect;
    if (depth < 0) throw new CalcError('too few operands');
  };
  const emit = (p: Pending): void => {
    if (p.k === 'bin') push({ k: 'bin', f: BINARY[p.name][1] }, -1);
    else if (p.k === 'un') push({ k: 'un', f: p.f }, 0);
    else if (p.k === 'store') push({ k: 'store', i: p.i }, -1);
    else if (p.k === ':') {
      const elseOp = prog[p.at] as { k: 'else'; to: number };
      elseOp.to = prog.length;
      push({ k: 'end' }, 0);
    } else throw new CalcError(p.k === '(' ? 'unbalanced "("' : 'conditional "?" without ":"');
  };
  /** Pop operators of priority >= prio (binary and unary ones) to the program. */
  const popTo = (prio: number): void => {
    for (;;) {
      const top = stack[stack.length - 1];
      if (!top) return;
      const p = top.k === 'bin' ? top.prio : top.k === 'un' ? 7 : -1;
      if (p < prio) return;
      emit(stack.pop()!);
    }
  };
  /** Close the expression part up to an open "(" or the bottom: everything, conditionals too. */
  const popAll = (): void => {
    for (;;) {
      const top = stack[stack.length - 1];
      if (!top || top.k === '(') return;
      if (top.k === '?') throw new CalcError('conditional "?" without ":"');
      emit(stack.pop()!);
    }
  };
  for (let n = 0; n < toks.length; n++) {
    const tok = toks[n];
    if (expectOperand) {
      if (tok.t === 'num') { push({ k: 'num', v: tok.v }, 1); expectOperand = false; continue; }
      if (tok.t === 'name') {
        const w = tok.v;
        if (/^[A-L]$/.test(w)) {
          const i = w.charCodeAt(0) - 65;
          if (toks[n + 1]?.t === 'sym' && toks[n + 1].v === ':=') {
            if (stack.length > 0 || prog.length > exprs) throw new CalcError(`"${w} :=" may only start an expression`);
            stack.push({ k: 'store', i });
            stores.add(i);
            n++;
            continue;
          }
          inputs.add(i);
          push({ k: 'arg', i }, 1);
          expectOperand = false;
          continue;
        }
        if (w === 'VAL') { push({ k: 'val' }, 1); expectOperand = false; continue; }
        if (w === 'RNDM') { push({ k: 'rndm' }, 1); expectOperand = false; continue; }
        if (w in CONSTANTS) { push({ k: 'num', v: CONSTANTS[w] }, 1); expectOperand = false; continue; }
        if (w in UNARY) { stack.push({ k: 'un', f: UNARY[w] }); continue; }
        if (w in VARARG || w === 'ATAN2') {
          const next = toks[n + 1];
          if (!(next?.t === 'sym' && next.v === '(')) throw new CalcError(`expected "(" after ${w}`);
          stack.push({ k: '(', fn: w, args: 1 });
          n++;
          continue;
        }
        throw new CalcError(`unknown name "${w}" at position ${tok.at + 1}`);
      }
      switch (tok.v) {
        case '-': stack.push({ k: 'un', f: (x) => -x }); continue;
        case '!': stack.push({ k: 'un', f: (x) => (x === 0 ? 1 : 0) }); continue;
        case '~': stack.push({ k: 'un', f: (x) => ~d2i(x) }); continue;
        case '(': stack.push({ k: '(', args: 1 }); continue;
        default: throw new CalcError(`expected a number, an input A-L, a function or "(" at position ${tok.at + 1}, found "${tok.v}"`);
      }
    }
    // An operator is expected.
    if (tok.t !== 'sym') {
      if (tok.t === 'name' && tok.v in BINARY) {
        popTo(BINARY[tok.v][0]);
        stack.push({ k: 'bin', name: tok.v, prio: BINARY[tok.v][0] });
        expectOperand = true;
        continue;
      }
      throw new CalcError(`expected an operator at position ${tok.t === 'name' ? tok.at + 1 : '?'}`);
    }
    const s = tok.v;
    if (s in BINARY) {
      popTo(BINARY[s][0]);
      stack.push({ k: 'bin', name: s, prio: BINARY[s][0] });
      expectOperand = true;
      continue;
    }
    if (s === ')' || s === ',') {
      popAll();
      const open = stack[stack.length - 1];
      if (!open) throw new CalcError(s === ')' ? 'unbalanced ")"' : `"," outside a function's arguments at position ${tok.at + 1}`);
      const paren = open as Pending & { k: '(' };
      if (s === ',') {
        if (!paren.fn) throw new CalcError(`"," outside a function's arguments at position ${tok.at + 1}`);
        paren.args++;
        expectOperand = true;
        continue;
      }
      stack.pop();
      if (paren.fn === 'ATAN2') {
        if (paren.args !== 2) throw new CalcError('ATAN2 takes two arguments');
        push({ k: 'bin', f: (x, y) => Math.atan2(y, x) }, -1);
      } else if (paren.fn) {
        push({ k: 'var', f: VARARG[paren.fn], n: paren.args }, 1 - paren.args);
      }
      continue;
    }
    if (s === '?') {
      // The condition ends here; an enclosing conditional's branch goes on.
      popTo(0);
      const at = prog.length;
      push({ k: 'if', to: -1 }, -1);
      stack.push({ k: '?', at });
      expectOperand = true;
      continue;
    }
    if (s === ':') {
      // Close the "then" part: everything down to its "?".
      for (;;) {
        const top = stack[stack.length - 1];
        if (!top || top.k === '(') throw new CalcError('":" without "?"');
        if (top.k === '?') break;
        emit(stack.pop()!);
      }
      const q = stack.pop() as Pending & { k: '?' };
      const at = prog.length;
      push({ k: 'else', to: -1 }, -1);
      (prog[q.at] as { k: 'if'; to: number }).to = prog.length;
      stack.push({ k: ':', at });
      expectOperand = true;
      continue;
    }
    if (s === ';') {
      popAll();
      if (stack.length) throw new CalcError('unbalanced "("');
      // Only an assignment may come before ";": the value of any other expression would be lost.
      if (depth !== 0) throw new CalcError('an expression before ";" must be an assignment X := ...');
      exprs = prog.length;
      expectOperand = true;
      continue;
    }
    throw new CalcError(`unexpected "${s}" at position ${tok.at + 1}`);
  }
  if (toks.length === 0) throw new CalcError('the expression is empty');
  if (expectOperand) throw new CalcError('the expression ends too early');
  popAll();
  if (stack.length) throw new CalcError('unbalanced "("');
  if (depth !== 1) throw new CalcError('the last expression must give a value');
  const code = prog;
  return {
    inputs: [...inputs].sort((a, b) => a - b),
    stores: [...stores].sort((a, b) => a - b),
    run: (args, val = 0) => perform(code, args, val),
  };
}

function perform(code: readonly Op[], args: number[], val: number): number {
  const st: number[] = [];
  for (let pc = 0; pc < code.length; pc++) {
    const op = code[pc];
    switch (op.k) {
      case 'num': st.push(op.v); break;
      case 'arg': st.push(args[op.i] ?? 0); break;
      case 'val': st.push(val); break;
      case 'rndm': st.push(Math.random()); break;
      case 'un': st.push(op.f(st.pop()!)); break;
      case 'bin': { const y = st.pop()!; st.push(op.f(st.pop()!, y)); break; }
      case 'var': st.push(op.f(st.splice(st.length - op.n, op.n))); break;
      case 'store': args[op.i] = st.pop()!; break;
      case 'if': if (st.pop() === 0) pc = op.to - 1; break;
      case 'else': pc = op.to - 1; break;
      case 'end': break;
    }
  }
  if (st.length !== 1) throw new CalcError(st.length === 0 ? 'the expression gives no value' : 'the expression leaves more than one value');
  return st[0];
}

/** Compile for a caller that only evaluates (access security): the function of A..L and the inputs it reads. */
export function compileCalc(text: string): { fn: CalcFn; inputs: number[] } {
  const p = compile(text);
  return { fn: (inputs) => p.run([...inputs]), inputs: [...p.inputs] };
}
