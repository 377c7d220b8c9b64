/**
 * Native type conversions, as an IOC's dbConvert/dbFastLinkConv perform them.
 * Expected values are worked out by hand (C casts, printf formats).
 */
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { DbrType, Eca, type NativeType } from '../../src/ca/protocol/constants';
import {
  castNumber, convertValue, enumIndexFromString, formatNumber, limitToNative, parseNumber, realToNative, toNativeNumber,
} from '../../src/ca/protocol/convert';
import { CaProtocolError } from '../../src/ca/protocol/errors';

const S = DbrType.STRING, I16 = DbrType.SHORT, F32 = DbrType.FLOAT, E16 = DbrType.ENUM;
const U8 = DbrType.CHAR, I32 = DbrType.LONG, F64 = DbrType.DOUBLE;
const ALL: NativeType[] = [S, I16, F32, E16, U8, I32, F64];

function expectNoConvert(fn: () => unknown, messagePart?: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CaProtocolError, `expected CaProtocolError, got ${String(e)}`);
    assert.equal(e.code, 'CA_ERR_NO_CONVERT');
    assert.equal(e.eca, Eca.NOCONVERT);
    if (messagePart !== undefined) assert.ok(e.message.includes(messagePart), e.message);
    return true;
  });
}

const LABELS = ['Off', 'On', ''];

/** [from, to, input, expected, precision?]: at least one row for each of the 49 pairs. */
type Row = [NativeType, NativeType, (string | number)[], (string | number)[], number?];
const TABLE: Row[] = [
  // SHORT ->
  [I16, S, [-2, 7, 32767], ['-2', '7', '32767']],
  [I16, I16, [-32768, 32767], [-32768, 32767]],
  [I16, F32, [-2, 7], [-2, 7]],
  [I16, E16, [-2, 7], [65534, 7]],
  [I16, U8, [-2, 7, 300], [254, 7, 44]],
  [I16, I32, [-32768, 7], [-32768, 7]],
  [I16, F64, [-32768, 7], [-32768, 7]],
  // FLOAT -> (100000.5 and 3.4028234663852886e38 = FLT_MAX are exact f32 values)
  [F32, S, [-1.5, 100000.5, 3.4028234663852886e38], ['-1.50', '100000.50', '3.40e+38'], 2],
  [F32, S, [0.1, -0.25, 16777216], ['0.1', '-0.25', '16777216']],
  [F32, F32, [-1.5, 100000.5], [-1.5, 100000.5]],
  [F32, I16, [-1.5, 100000.5, 3.4028234663852886e38], [-1, -31072, 0]],
  [F32, E16, [-1.5, 100000.5], [65535, 34464]],
  [F32, U8, [-1.5, 100000.5, 255.9], [255, 160, 255]],
  // FLOAT and DOUBLE to an integer type go through int32, as x86-64 casts them: beyond it is -2147483648.
  [F32, I32, [-1.5, 100000.5, 3e9], [-1, 100000, -2147483648]],
  [F32, F64, [-1.5, 0.1], [-1.5, 0.10000000149011612]],
  // ENUM ->
  [E16, S, [0, 1, 2, 5, 65535], ['Off', 'On', '2', '5', '65535']],
  [E16, I16, [0, 5, 65535], [0, 5, -1]],
  [E16, F32, [0, 65535], [0, 65535]],
  [E16, E16, [0, 65535], [0, 65535]],
  [E16, U8, [1, 65535, 256], [1, 255, 0]],
  [E16, I32, [1, 65535], [1, 65535]],
  [E16, F64, [1, 65535], [1, 65535]],
  // CHAR ->
  [U8, S, [0, 200, 255], ['0', '200', '255']],
  [U8, I16, [0, 200, 255], [0, 200, 255]],
  [U8, F32, [0, 255], [0, 255]],
  [U8, E16, [0, 255], [0, 255]],
  [U8, U8, [0, 255], [0, 255]],
  [U8, I32, [0, 255], [0, 255]],
  [U8, F64, [0, 255], [0, 255]],
  // LONG ->
  [I32, S, [-1, 70000, 2147483647, -2147483648], ['-1', '70000', '2147483647', '-2147483648']],
  [I32, I16, [-1, 70000, 2147483647], [-1, 4464, -1]],
  [I32, F32, [-1, 70000, 2147483647, 16777217], [-1, 70000, 2147483648, 16777216]],
  [I32, E16, [-1, 70000, 2147483647], [65535, 4464, 65535]],
  [I32, U8, [-1, 70000, 2147483647], [255, 112, 255]],
  [I32, I32, [-2147483648, 2147483647], [-2147483648, 2147483647]],
  [I32, F64, [-2147483648, 2147483647], [-2147483648, 2147483647]],
  // DOUBLE ->
  [F64, S, [3.14159, -2.5, 1e-5, 1.5e20, 0], ['3.14', '-2.50', '0.00', ' 1.50e+20', '0.00'], 2],
  [F64, S, [0.1, 1e21, -0, 123456789.125], ['0.1', '1e+21', '0', '123456789.125']],
  [F64, S, [NaN, Infinity, -Infinity], ['nan', '       inf', '      -inf'], 3],
  [F64, S, [NaN, Infinity, -Infinity], ['NaN', 'Inf', '-Inf']],
  [F64, I16, [1.9, -1.9, 32767, 32768, -32769, 65541, NaN, Infinity, -Infinity, 3e9], [1, -1, 32767, -32768, 32767, 5, 0, 0, 0, 0]],
  // epicsConvertDoubleToFloat: held to ±FLT_MAX and, when not zero, to at least ±FLT_MIN.
  [F64, F32, [0.1, 1e39, -1e39, 1e-50, -1e-300, 0, Infinity, NaN], [0.10000000149011612, 3.4028234663852886e38, -3.4028234663852886e38, 1.1754943508222875e-38, -1.1754943508222875e-38, 0, Infinity, NaN]],
  [F64, E16, [-1, 65536, 70000, 3.99, 3e9], [65535, 0, 4464, 3, 0]],
  [F64, U8, [-1, 256, 255.9, 300, -0.5, 1e10], [255, 0, 255, 44, 0, 0]],
  [F64, I32, [2147483648, -2147483649, 4294967303, 1e10, -7.9, 3e9, NaN], [-2147483648, -2147483648, -2147483648, -2147483648, -7, -2147483648, -2147483648]],
  [F64, F64, [0.1, -0, 1e308], [0.1, -0, 1e308]],
  // STRING ->
  [S, S, ['', 'abc', 'x'.repeat(50)], ['', 'abc', 'x'.repeat(50)]],
  // A string is read as the number it starts with, integers in decimal (softIoc 7.0.8, dbConvert.c).
  [S, I16, ['12', ' -7 ', '0x10', '1.9', '', '1e3', '+5', '12abc', '1,5', '32767'], [12, -7, 0, 1, 0, 1, 5, 12, 1, 32767]],
  [S, U8, ['127', '-1', '0xff', '-128'], [127, 255, 0, 128]],
  [S, I32, ['0x7fffffff', '-0x10', '3e9', '-2147483648', '40000'], [0, 0, 3, -2147483648, 40000]],
  [S, F32, ['0.1', 'inf', '-Infinity', 'NaN', '1e39'], [0.10000000149011612, Infinity, -Infinity, NaN, Infinity]],
  [S, F64, ['0.1', '+.5', '1.', '-2.5e-3', '0X1f', '\t42\n', '1E+2'], [0.1, 0.5, 1, -0.0025, 31, 42, 100]],
  [S, F64, ['12abc', '1.2.3', '0.1.0', '0x', '0x1g', '1e', '-7.5 mm', '1,5'], [12, 1.2, 0.1, 0, 1, 1, -7.5, 1]],
  [S, E16, ['On', 'Off', '1', '15', '0', ' 2 '], [1, 0, 1, 15, 0, 2]],
];

describe('native type conversions', () => {
  it('has a table row for each of the 49 pairs', () => {
    for (const from of ALL) {
      for (const to of ALL) {
        assert.ok(TABLE.some(([f, t]) => f === from && t === to), `${DbrType[from]} -> ${DbrType[to]}`);
      }
    }
  });

  for (const [from, to, input, expected, precision] of TABLE) {
    const p = precision === undefined ? '' : ` (precision ${precision})`;
    it(`${DbrType[from]} -> ${DbrType[to]}: ${JSON.stringify(input)}${p}`, () => {
      const values = (from === S ? input.map(String) : input.map(Number)) as string[] | number[];
      const out = convertValue(values, from, to, { enumStrings: LABELS, precision });
      assert.deepStrictEqual(out, expected);
    });
  }

  it('returns an empty array for an empty value', () => {
    assert.deepStrictEqual(convertValue([], F64, S, {}), []);
    assert.deepStrictEqual(convertValue([], S, I32), []);
  });

  it('accepts typed arrays as values', () => {
    assert.deepStrictEqual(convertValue(new Float64Array([1.5, -2]), F64, I16, {}), [1, -2]);
    assert.deepStrictEqual(convertValue(new Uint8Array([72, 105]), U8, S, {}), ['72', '105']);
  });

  describe('numbers to numbers are C casts on x86-64', () => {
    // Integers keep their low bits (typed arrays); FLOAT and DOUBLE go through int32
    // (cvttsd2si: -2147483648 when out of range or NaN), or to FLOAT held to its range.
    const viaInt32 = (v: number): number => {
      const t = Math.trunc(v);
      return t >= -(2 ** 31) && t < 2 ** 31 ? t | 0 : -(2 ** 31);
    };
    const toFloat = (v: number): number => {
      if (v === 0 || !Number.isFinite(v)) return Math.fround(v);
      const a = Math.min(Math.max(Math.abs(v), 1.1754943508222875e-38), 3.4028234663852886e38);
      return Math.fround(v < 0 ? -a : a);
    };
    const oracle: [NativeType, (v: number) => number][] = [
      [I16, (v) => Int16Array.of(viaInt32(v))[0]],
      [U8, (v) => Uint8Array.of(viaInt32(v))[0]],
      [E16, (v) => Uint16Array.of(viaInt32(v))[0]],
      [I32, (v) => viaInt32(v)],
      [F32, toFloat],
    ];
    for (const [to, cast] of oracle) {
      it(`DOUBLE -> ${DbrType[to]}`, () => {
        fc.assert(fc.property(fc.oneof(fc.double(), fc.integer({ min: -(2 ** 40), max: 2 ** 40 })), (v) => {
          assert.ok(Object.is(convertValue([v], F64, to, {})[0], cast(v)), `${v}`);
          assert.ok(Object.is(realToNative(v, to as Exclude<NativeType, DbrType.STRING>), cast(v)), `${v}`);
        }), { numRuns: 2000 });
      });
    }

    it('LONG -> SHORT, CHAR and ENUM keep the low bits', () => {
      fc.assert(fc.property(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), (v) => {
        assert.equal(toNativeNumber(v, I16), Int16Array.of(v)[0]);
        assert.deepStrictEqual(convertValue([v], I32, U8), [Uint8Array.of(v)[0]]);
        assert.deepStrictEqual(convertValue([v], I32, E16), [Uint16Array.of(v)[0]]);
      }));
    });

    it('an integer field served as DOUBLE is cast as an integer (DBF_ULONG read as LONG or SHORT)', () => {
      // softIoc: an mbbo RVAL of 3000000000 reads as -1294967296 (DBR_LONG) and 24064 (DBR_SHORT).
      assert.equal(castNumber(3e9, F64, I32, true), -1294967296);
      assert.equal(castNumber(3e9, F64, I16, true), 24064);
      assert.equal(castNumber(4294967295, F64, I32, true), -1);
      assert.equal(castNumber(3e9, F64, I32), -2147483648);
    });
  });

  it('GR/CTRL limits in LONG, SHORT, CHAR and FLOAT as softIoc fills them (a DOUBLE field\'s ±1e300 included)', () => {
    // caget -d DBR_CTRL_LONG / _SHORT / _FLOAT of ai fields with these limits, softIoc 7.0.8 on x86-64.
    const cases: [number, number, number, number][] = [
      // limit, LONG, SHORT, FLOAT
      [1e300, -2147483648, 0, 3.4028234663852886e38],
      [-1e300, -2147483648, 0, -3.4028234663852886e38],
      [3e9, -2147483648, 0, 3e9],
      [-2147483648.5, -2147483648, 0, Math.fround(-2147483648.5)],
      [2147483647.9, 2147483647, -1, Math.fround(2147483647.9)],
      [70000.7, 70000, 4464, Math.fround(70000.7)],
      [1e-300, 0, 0, 1.1754943508222875e-38],
      [-1e-41, 0, 0, -1.1754943508222875e-38],
      [NaN, -2147483648, 0, NaN],
    ];
    for (const [v, long, short, float] of cases) {
      assert.equal(limitToNative(v, I32), long, `${v} as LONG`);
      assert.equal(limitToNative(v, I16), short, `${v} as SHORT`);
      assert.ok(Object.is(limitToNative(v, F32), float), `${v} as FLOAT: ${limitToNative(v, F32)}`);
      assert.ok(Object.is(limitToNative(v, F64), v), `${v} as DOUBLE`);
    }
    // An alarm limit that is not finite is 0 in the integer types; a finite one is cast as the others.
    assert.equal(limitToNative(NaN, I32, true), 0);
    assert.equal(limitToNative(-Infinity, I16, true), 0);
    assert.equal(limitToNative(5e9, I32, true), -2147483648);
    assert.ok(Object.is(limitToNative(-0, F32), -0));
    assert.equal(limitToNative(Infinity, F32), Infinity);
  });

  describe('numbers to strings', () => {
    // What softIoc 7.0.8 gives for caget -s of an ao with PREC 0, 2, 5, 9, -1 and 20.
    const SOFTIOC: [number, string[]][] = [
      [2.5, ['3', '2.50', '2.50000', ' 2.500000000e+00', ' 2.50000000000000000e+00']],
      [0.125, ['0', '0.13', '0.12500', ' 1.250000000e-01', ' 1.25000000000000000e-01']],
      [1e-5, ['0', '0.00', '0.00001', ' 1.000000000e-05', ' 1.00000000000000008e-05']],
      [-0, ['0', '0.00', '0.00000', '-0.000000000e+00', '-0.00000000000000000e+00']],
      [-0.0001, ['-0', '-0.00', '-0.00010', '-1.000000000e-04', '-1.00000000000000005e-04']],
      [1234567.891, ['1234568', '1234567.89', '1234567.89100', ' 1.234567891e+06', ' 1.23456789100000006e+06']],
      [9999999.99, ['10000000', '9999999.99', '9999999.99000', ' 9.999999990e+06', ' 9.99999999000000022e+06']],
      [10000000.5, ['10000000', '10000000.50', '10000000.500', ' 1.000000050e+07', ' 1.00000005000000000e+07']],
      [12345678.123456, ['12345678', '12345678.12', '12345678.123', ' 1.234567812e+07', ' 1.23456781234559994e+07']],
      [1e16, ['10000000000000000', '10000000000000000.00', '10000000000000000.000', ' 1.000000000e+16', ' 1.00000000000000000e+16']],
      [1.5e16, ['  2e+16', ' 1.50e+16', ' 1.50000e+16', ' 1.500000000e+16', ' 1.50000000000000000e+16']],
      [-1e17, [' -1e+17', '-1.00e+17', '-1.00000e+17', '-1.000000000e+17', '-1.00000000000000000e+17']],
      [NaN, ['nan', 'nan', 'nan', '             nan', '                     nan']],
      [Infinity, ['    inf', '      inf', '         inf', '             inf', '                     inf']],
      [-Infinity, ['   -inf', '     -inf', '        -inf', '            -inf', '                    -inf']],
      [0.145, ['0', '0.14', '0.14500', ' 1.450000000e-01', ' 1.44999999999999990e-01']],
      [0.0049999, ['0', '0.00', '0.00500', ' 4.999900000e-03', ' 4.99989999999999983e-03']],
      [-2.5, ['-3', '-2.50', '-2.50000', '-2.500000000e+00', '-2.50000000000000000e+00']],
      [1e300, [' 1e+300', '1.00e+300', '1.00000e+300', '1.000000000e+300', '1.00000000000000005e+300']],
      [-1e-300, ['-0', '-0.00', '-0.00000', '-1.000000000e-300', '-1.00000000000000003e-300']],
      [0.99999, ['1', '1.00', '0.99999', ' 9.999900000e-01', ' 9.99990000000000046e-01']],
    ];

    it('formats DOUBLE as cvtDoubleToString does (softIoc caget -s)', () => {
      for (const [v, texts] of SOFTIOC) {
        [0, 2, 5, 9, -1].forEach((p, i) => assert.equal(formatNumber(v, F64, p), texts[i], `${v} with precision ${p}`));
        assert.equal(formatNumber(v, F64, 20), texts[4], `${v} with precision 20`);
      }
    });

    it('formats FLOAT from its f32 value', () => {
      assert.equal(formatNumber(0.1, F32), '0.1');
      assert.equal(formatNumber(Math.fround(3.14159), F32), '3.14159');
      assert.equal(formatNumber(16777217, F32), '16777216');
      assert.equal(formatNumber(0.1, F32, 2), '0.10');
      assert.equal(formatNumber(2.5, F32, 0), '3');
      assert.equal(formatNumber(0.1, F32, 10), '1.0000000149e-01');
      assert.equal(formatNumber(1e39, F32, 2), '     inf');
    });

    it('formats integer types as decimal after the cast', () => {
      assert.equal(formatNumber(-5, I16), '-5');
      assert.equal(formatNumber(70000, I16), '4464');
      assert.equal(formatNumber(-1, U8), '255');
      assert.equal(formatNumber(3, E16), '3');
      assert.equal(formatNumber(2 ** 31, I32), '-2147483648');
    });

    it('treats an absent precision as "shortest round trip"', () => {
      assert.equal(formatNumber(0.1 + 0.2, F64), '0.30000000000000004');
      fc.assert(fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (v) => {
        assert.equal(Number(convertValue([v], F64, S)[0]), v === 0 ? 0 : v);
      }));
      fc.assert(fc.property(fc.float({ noNaN: true, noDefaultInfinity: true }), (v) => {
        const text = convertValue([v], F32, S)[0] as string;
        assert.equal(Math.fround(Number(text)), v === 0 ? 0 : v);
        assert.ok(text.replace(/^-|e.*$|\./g, '').replace(/^0+|0+$/g, '').length <= 9, text);
      }));
    });

    it('round-trips integers through text', () => {
      fc.assert(fc.property(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), (v) => {
        assert.deepStrictEqual(convertValue(convertValue([v], I32, S), S, I32), [v]);
      }));
    });
  });

  describe('strings to numbers', () => {
    it('refuses text that is not a number', () => {
      // No number at the start, as softIoc refuses them.
      for (const bad of ['abc', '--1', 'in f', '.', 'e5', '+', 'x1', ' ']) {
        expectNoConvert(() => convertValue([bad], S, F64), `"${bad}"`);
        expectNoConvert(() => convertValue([bad], S, I16));
      }
      // An integer that does not fit its type (softIoc: a failed read).
      expectNoConvert(() => convertValue(['40000'], S, I16));
      expectNoConvert(() => convertValue(['255'], S, U8));
      expectNoConvert(() => convertValue(['inf'], S, I32));
    });

    it('parses like strtod, whole text only', () => {
      assert.equal(parseNumber(''), 0);
      assert.equal(parseNumber('   '), 0);
      assert.equal(parseNumber('-0x1A'), -26);
      assert.equal(parseNumber('INF'), Infinity);
      assert.ok(Number.isNaN(parseNumber('nan')));
      assert.equal(parseNumber('1e400'), Infinity);
    });

    it('round-trips doubles through their shortest text', () => {
      fc.assert(fc.property(fc.double(), (v) => {
        const back = convertValue([String(v)], S, F64)[0];
        assert.ok(Object.is(back, v === 0 ? 0 : v), `${v} -> ${String(back)}`); // String(-0) is "0"
      }));
    });
  });

  describe('enums and strings', () => {
    it('matches a label before reading a number', () => {
      assert.equal(enumIndexFromString('0', ['1', '0']), 1);
      assert.equal(enumIndexFromString('1', ['1', '0']), 0);
      assert.equal(enumIndexFromString('5', ['1', '0']), 5);
    });

    it('accepts indexes up to 15 (or the label count, if larger)', () => {
      assert.equal(enumIndexFromString('15', []), 15);
      expectNoConvert(() => enumIndexFromString('16', ['Off', 'On']), '"16" is not one of the states');
      const many = Array.from({ length: 20 }, (_, i) => `s${i}`);
      assert.equal(enumIndexFromString('19', many), 19);
      expectNoConvert(() => enumIndexFromString('20', many));
    });

    it('refuses unknown states, case differences and non-integers', () => {
      for (const bad of ['Maybe', 'on', 'OFF', '1.0', '-1', '0x1', '', ' ']) {
        expectNoConvert(() => convertValue([bad], S, E16, { enumStrings: ['Off', 'On'] }), 'is not one of the states');
      }
    });

    it('names the states in the error', () => {
      expectNoConvert(() => enumIndexFromString('Maybe', ['Off', 'On']), '"Off", "On"');
    });

    it('does not match an empty label with an empty string', () => {
      expectNoConvert(() => enumIndexFromString('', ['Off', '']));
    });

    it('round-trips labelled indexes through text', () => {
      fc.assert(fc.property(
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 25 }), { minLength: 1, maxLength: 16 }),
        fc.nat(),
        (labels, k) => {
          const i = k % labels.length;
          const text = convertValue([i], E16, S, { enumStrings: labels });
          assert.deepStrictEqual(text, [labels[i]]);
          assert.deepStrictEqual(convertValue(text, S, E16, { enumStrings: labels }), [i]);
        }));
    });

    it('gives unlabelled indexes as decimal text', () => {
      assert.deepStrictEqual(convertValue([3, 1], E16, S, { enumStrings: ['a', 'b'] }), ['3', 'b']);
      assert.deepStrictEqual(convertValue([0], E16, S, {}), ['0']);
    });
  });
});
