/**
 * Interop: the CALC expression language (src/calc/calc.ts) against EPICS
 * libCom's own postfix() and calcPerform(), run through python3 ctypes on
 * Debian's libcom3.17.6 (test/interop/calc_oracle.py). Every expression of
 * the table is compiled and run by both; they must agree on whether it is
 * refused, on the result, on the inputs after the run (assignments) and on
 * which inputs it assigns. libCom 3.17.6 crashes on "1,2" and at times on
 * "1)" (refused here: a comma outside a function's arguments, a ")" with no
 * "("), so the table leaves them out.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { CalcError, compile } from '../../src/calc/calc';
import { inCI, SYSTEM_PYTHON } from '../helpers/system';

const ORACLE = path.resolve(__dirname, '../../../test/interop/calc_oracle.py');

interface Case { expr: string; args?: number[]; val?: number }
type OracleNumber = number | 'NaN' | 'Inf' | '-Inf';
type OracleResult =
  | { status: 0; perform: number; result: OracleNumber; args: OracleNumber[]; inputs: number; stores: number }
  | { status: number; error: string }
  | { status: 'crashed' };

const ARGS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];

const CASES: Case[] = [
  // literals and inputs
  { expr: '0' }, { expr: '1.5e3' }, { expr: '.5' }, { expr: '0x1F' }, { expr: '0xffffffff' }, { expr: 'INF' }, { expr: '-inf' }, { expr: 'NAN' },
  { expr: 'A+B+C+D+E+F+G+H+I+J+K+L', args: ARGS }, { expr: 'a*b', args: [3, 4] }, { expr: 'PI' }, { expr: 'D2R*180' }, { expr: 'R2D' },
  { expr: 'VAL', val: 7 }, { expr: 'VAL+A', args: [1], val: 2 },
  // arithmetic and priorities
  { expr: '1+2*3' }, { expr: '(1+2)*3' }, { expr: '2**3**2' }, { expr: '2^3^2' }, { expr: '-2**2' }, { expr: '-2^2' }, { expr: '--3' },
  { expr: '7/2' }, { expr: '1/0' }, { expr: '-1/0' }, { expr: '0/0' }, { expr: '7%3' }, { expr: '-7%3' }, { expr: '7.9%2.9' }, { expr: '5%0' },
  { expr: '1-2-3' }, { expr: '8/4/2' }, { expr: '2*-3' }, { expr: 'A-B*C', args: [10, 2, 3] },
  // comparisons and logic
  { expr: '1<2' }, { expr: '2<=2' }, { expr: '3>2' }, { expr: '2>=3' }, { expr: '1=1' }, { expr: '1==2' }, { expr: '1#2' }, { expr: '1!=1' },
  { expr: '1<2<3' }, { expr: '3>2>1' }, { expr: '1&&0' }, { expr: '0||2' }, { expr: '!0' }, { expr: '!5' }, { expr: '!1+1' },
  { expr: '1&&0|1' }, { expr: '1|0&&0' }, { expr: '1||0&&0' }, { expr: '1+1=2' }, { expr: 'A>1&&B<5', args: [2, 3] },
  { expr: '0/0=0/0' }, { expr: '0/0#0/0' },
  // bits
  { expr: '6&3' }, { expr: '6|3' }, { expr: '6 XOR 3' }, { expr: '6 AND 3' }, { expr: '6 OR 1' }, { expr: '~5' }, { expr: 'NOT 5' }, { expr: '~1&3' },
  { expr: '1<<4' }, { expr: '256>>2' }, { expr: '-16>>2' }, { expr: '5.7|0' }, { expr: '-5.7|0' }, { expr: '1<<3+1' },
  // functions
  { expr: 'ABS(-3)' }, { expr: 'ABS -3' }, { expr: 'SQRT(16)' }, { expr: 'SQR(2)' }, { expr: 'SQRT(-1)' }, { expr: 'EXP(1)' }, { expr: 'LN(10)' }, { expr: 'LOGE(2)' },
  { expr: 'LOG(1000)' }, { expr: 'FLOOR(-2.5)' }, { expr: 'CEIL(-2.5)' }, { expr: 'NINT(2.5)' }, { expr: 'NINT(-2.5)' }, { expr: 'NINT(2.4)' },
  { expr: 'SIN(PI/2)' }, { expr: 'COS(0)' }, { expr: 'TAN(1)' }, { expr: 'ASIN(1)' }, { expr: 'ACOS(0)' }, { expr: 'ATAN(1)' }, { expr: 'ATAN2(1,2)' },
  { expr: 'SINH(1)' }, { expr: 'COSH(1)' }, { expr: 'TANH(1)' }, { expr: 'sin(0)' },
  { expr: 'MAX(1,5,3)' }, { expr: 'MIN(4,2,8,6)' }, { expr: 'MAX(3)' }, { expr: 'MAX(1,0/0)' }, { expr: 'MIN(0/0,1)' }, { expr: 'MAX(A,B)', args: [-1, -2] },
  { expr: 'ISNAN(1,2)' }, { expr: 'ISNAN(1,0/0)' }, { expr: 'FINITE(1,2)' }, { expr: 'FINITE(1,1/0)' }, { expr: 'ISINF(1/0)' }, { expr: 'ISINF(-1/0)' }, { expr: 'ISINF(0/0)' },
  { expr: 'ABS(MIN(-1,-2))*2' }, { expr: 'MAX(1,2)+MIN(3,4)' },
  // conditional
  { expr: '1?2:3' }, { expr: '0?2:3' }, { expr: '1?2:3?4:5' }, { expr: '0?2:0?4:5' }, { expr: '1?0?6:7:8' }, { expr: 'A>1?A*2:A/2', args: [4] },
  { expr: 'A>1?A*2:A/2', args: [1] }, { expr: '(A?1:2)+10', args: [0] }, { expr: 'A<2147483647?A+1:1', args: [2147483647] },
  // assignment and several expressions
  { expr: 'A:=5;A+1' }, { expr: 'B:=A*2;C:=B+1;A+B+C', args: [1] }, { expr: 'A:=A+1;A', args: [4] }, { expr: 'L:=7;L' },
  // refused
  { expr: '' }, { expr: 'A+' }, { expr: '(1' }, { expr: 'MAX()' }, { expr: 'MAX(1,)' }, { expr: '+1' },
  { expr: '0?1' }, { expr: '1:2' }, { expr: 'A:=5' }, { expr: '1;2' }, { expr: 'A:=1;' }, { expr: 'M+1' }, { expr: 'FOO(1)' }, { expr: '1 2' },
  { expr: 'A B' }, { expr: '3>?4' }, { expr: '@' }, { expr: 'ATAN2(1)' }, { expr: '1+*2' }, { expr: 'SIN' }, { expr: '()' },
];

function oracleNumber(x: OracleNumber): number {
  return x === 'NaN' ? NaN : x === 'Inf' ? Infinity : x === '-Inf' ? -Infinity : x;
}

function sameNumber(a: number, b: number): boolean {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b);
  if (a === b) return true;
  return Math.abs(a - b) <= 1e-12 * Math.max(Math.abs(a), Math.abs(b));
}

function runOracle(): OracleResult[] | null {
  const run = spawnSync(SYSTEM_PYTHON, [ORACLE], { input: JSON.stringify(CASES), encoding: 'utf8', timeout: 60_000 });
  if (run.error || run.status === 3) {
    const reason = run.error ? run.error.message : run.stderr.trim();
    if (inCI()) throw new Error(`libCom oracle unavailable in CI (install libcom3.17.6 and python3): ${reason}`);
    return null;
  }
  if (run.status !== 0) throw new Error(`oracle failed (${String(run.status)}): ${run.stderr}`);
  return JSON.parse(run.stdout) as OracleResult[];
}

describe('interop: CALC expressions as libCom postfix and calcPerform', function () {
  let results: OracleResult[] = [];

  before(function () {
    const r = runOracle();
    if (!r) this.skip();
    results = r;
  });

  it('agrees on every expression of the table: refused or not, result, inputs after the run, inputs assigned', () => {
    const problems: string[] = [];
    CASES.forEach((c, i) => {
      const want = results[i];
      if (want.status === 'crashed') {
        problems.push(`${JSON.stringify(c.expr)}: libCom crashed on it; no oracle`);
        return;
      }
      let program;
      try {
        program = compile(c.expr);
      } catch (err) {
        if (!(err instanceof CalcError)) throw err;
        if (want.status === 0) problems.push(`${JSON.stringify(c.expr)}: refused (${err.message}), libCom takes it`);
        return;
      }
      if (want.status !== 0 || !('result' in want)) {
        problems.push(`${JSON.stringify(c.expr)}: taken, libCom refuses it (${'error' in want ? want.error : ''})`);
        return;
      }
      const args = [...(c.args ?? []), ...new Array<number>(12).fill(0)].slice(0, 12);
      let result: number;
      try {
        result = program.run(args, c.val ?? 0);
      } catch (err) {
        if (want.perform === 0) problems.push(`${JSON.stringify(c.expr)}: run failed (${(err as Error).message}), libCom gives ${String(want.result)}`);
        return;
      }
      if (want.perform !== 0) problems.push(`${JSON.stringify(c.expr)}: gives ${result}, libCom's calcPerform fails`);
      else if (!sameNumber(result, oracleNumber(want.result))) problems.push(`${JSON.stringify(c.expr)}: ${result}, libCom ${String(want.result)}`);
      want.args.forEach((a, k) => {
        if (!sameNumber(args[k], oracleNumber(a))) problems.push(`${JSON.stringify(c.expr)}: input ${String.fromCharCode(65 + k)} is ${args[k]} after the run, libCom ${String(a)}`);
      });
      const storesMask = program.stores.reduce((m, k) => m | (1 << k), 0);
      if (storesMask !== want.stores) problems.push(`${JSON.stringify(c.expr)}: assigns inputs ${storesMask}, libCom ${want.stores}`);
    });
    assert.deepEqual(problems, []);
  });
});
