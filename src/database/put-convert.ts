/**
 * A value a client writes to one element of a numeric record field, converted
 * to what the field stores, by the field's own type as dbPut converts it
 * (EPICS base dbFastLinkConv.c, with libCom's epicsParse* of epicsStdlib.c for
 * text). Measured against softIoc 7.0.8 on x86-64.
 *
 * Text: leading blanks are skipped and the number at the start taken, the rest
 * ignored; an empty string is 0. Integer fields read a decimal integer
 * ("1.9" is 1, "0x10" is 0) as strtol/strtoul do, then must fit the field:
 * signed types their range, unsigned types up to their maximum, where a
 * negative number counts from the top of unsigned long ("-1" is 65535 in a
 * USHORT, "-65536" and "70000" fail). A ULONG field reads text with a
 * fraction or exponent as a double and takes it when it is within
 * 0..4294967295 ("1e3" is 1000), else keeps the integer before it ("1e10" is
 * 1). DOUBLE and FLOAT fields fail a number that overflows or underflows
 * (strtod's ERANGE: "1e400", "1e-310"); a FLOAT field also one at or beyond
 * FLT_MAX, or positive and at most FLT_MIN.
 *
 * Numbers are C casts: integers keep their low bits (70000 in a USHORT is
 * 4464), FLOAT and DOUBLE go through int32 for the fields of up to 32 bits
 * (`castNumber`) and through int64 for ULONG.
 *
 * An array (a waveform's VAL) converts each element by the element type
 * (FTVL) by the same rules. Numbers never fail. Text stops at the first
 * element the type refuses: the put fails, and the elements before that one
 * are stored all the same (dbConvert's putString* loops store as they go and
 * return at the first parse error, and dbPut then skips put_array_info, so
 * NORD stays as it was and the record is neither processed nor posted).
 */
import { DbrType, Eca, type NativeType } from '../ca/protocol/constants';
import { castNumber, parseNumber, realPrefix, realToNative } from '../ca/protocol/convert';
import { WriteError } from '../ca/pv';
import type { DbfType } from './fields';

/** The field types this module converts to. */
export type NumericDbf = 'CHAR' | 'UCHAR' | 'SHORT' | 'USHORT' | 'LONG' | 'ULONG' | 'INT64' | 'UINT64' | 'FLOAT' | 'DOUBLE';

const NUMERIC: ReadonlySet<string> = new Set<NumericDbf>(['CHAR', 'UCHAR', 'SHORT', 'USHORT', 'LONG', 'ULONG', 'INT64', 'UINT64', 'FLOAT', 'DOUBLE']);

export function isNumericDbfType(t: DbfType): t is NumericDbf {
  return NUMERIC.has(t);
}

const SIGNED: { readonly [T in NumericDbf]?: readonly [bigint, bigint] } = {
  CHAR: [-0x80n, 0x7fn], SHORT: [-0x8000n, 0x7fffn], LONG: [-0x8000_0000n, 0x7fff_ffffn],
  INT64: [-(2n ** 63n), 2n ** 63n - 1n],
};
const UNSIGNED_BITS: { readonly [T in NumericDbf]?: number } = { UCHAR: 8, USHORT: 16, ULONG: 32, UINT64: 64 };
const ULONG_TOP = 2n ** 64n;
const UINT32_MAX = 4294967295;
const UINT32_MAX_N = 4294967295n;
const FLT_MAX = 3.4028234663852886e38;
const FLT_MIN = 1.1754943508222875e-38;
const DBL_MIN = 2.2250738585072014e-308;

function fail(field: string, text: string, why: string): WriteError {
  return new WriteError(Eca.PUTFAIL, `${field}: "${text}" ${why}`, 'WRITE_ERR_BAD_NUMBER');
}

interface IntegerText {
  /** The integer as strtol (signed) or strtoul (unsigned, negatives counted from 2^64) reads it. */
  value: bigint;
  /** Beyond long / unsigned long (ERANGE). */
  overflow: boolean;
  /** The character after the digits ('' at the end). */
  next: string;
}

/** strtol/strtoul in base 10 (base 0, as for UINT64, also takes 0x hex and 0 octal); undefined: no digits. */
function parseInteger(text: string, unsigned: boolean, anyBase: boolean): IntegerText | undefined {
  const m = (anyBase ? /^[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9]\d*)/ : /^[ \t\n\v\f\r]*([+-]?)(\d+)/).exec(text);
  if (!m) return undefined;
  const digits = m[2];
  let magnitude: bigint;
  if (/^0[xX]/.test(digits)) magnitude = BigInt(digits);
  else if (anyBase && digits.length > 1 && digits[0] === '0') magnitude = BigInt(`0o${digits.slice(1)}`);
  else magnitude = BigInt(digits);
  const negative = m[1] === '-';
  const next = text.charAt(m[0].length);
  if (unsigned) {
    if (magnitude >= ULONG_TOP) return { value: 0n, overflow: true, next };
    return { value: negative && magnitude !== 0n ? ULONG_TOP - magnitude : magnitude, overflow: false, next };
  }
  const value = negative ? -magnitude : magnitude;
  return { value, overflow: value < -(2n ** 63n) || value >= 2n ** 63n, next };
}

/** epicsParseDouble with an end pointer: the number at the start, refused when strtod reports ERANGE. */
function parseDouble(field: string, text: string): number {
  const prefix = realPrefix(text);
  if (prefix === undefined) throw fail(field, text, 'is not a number');
  const v = parseNumber(prefix);
  if (!/^[+-]?(?:inf|nan)/i.test(prefix)) {
    if (!Number.isFinite(v)) throw fail(field, text, 'is too large for a double');
    const mantissa = prefix.replace(/^[+-]?(0[xX])?/, '').split(/[eE]/)[0];
    if ((v !== 0 && Math.abs(v) < DBL_MIN) || (v === 0 && /[1-9a-fA-F]/.test(mantissa))) {
      throw fail(field, text, 'is too small for a double');
    }
  }
  return v;
}

/** What a refused element of an array write leaves stored (see `putTextElements`). */
interface Refusal {
  error: WriteError;
  /** The number the field's buffer holds for that element all the same (a ULONG's "1e400" is 1), if any. */
  stored: number | undefined;
}

/**
 * Text written to a numeric field of type `dbf` (named `field` in errors), as
 * the number it stores; `current` is the field's value now (kept in the one
 * case dbPut leaves the field as it is: a ULONG written "-.5" or "nan").
 * @throws WriteError ECA_PUTFAIL (WRITE_ERR_BAD_NUMBER) when the text is no
 *   number the field takes.
 */
export function putText(dbf: NumericDbf, field: string, text: string, current: number): number {
  const v = textElement(dbf, field, text, current);
  if (typeof v !== 'number') throw v.error;
  return v;
}

/** The elements an array write of text stores, and the error that ends it early (see the module comment). */
export interface TextElements {
  /** The numbers stored, from the first element: all of them, or those before the refused one (and it, when it leaves one). */
  values: number[];
  /** ECA_PUTFAIL (WRITE_ERR_BAD_NUMBER): the put fails. */
  error?: WriteError;
}

/**
 * Text elements written to an array of `dbf` elements, converted one by one
 * as `putText` converts one; `current` is the array now (a ULONG element
 * written "nan" keeps what it holds, 0 beyond it).
 */
export function putTextElements(dbf: NumericDbf, field: string, texts: readonly string[], current: ArrayLike<number>): TextElements {
  const values: number[] = [];
  for (let i = 0; i < texts.length; i++) {
    const v = textElement(dbf, `${field}[${i}]`, texts[i], i < current.length ? current[i] : 0);
    if (typeof v !== 'number') {
      if (v.stored !== undefined) values.push(v.stored);
      return { values, error: v.error };
    }
    values.push(v);
  }
  return { values };
}

/** Numbers of native type `from` written to an array of `dbf` elements: each one a C cast (`putNumber`). */
export function putNumberElements(dbf: NumericDbf, values: ArrayLike<number>, from: Exclude<NativeType, DbrType.STRING>): Float64Array {
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = putNumber(dbf, values[i], from);
  return out;
}

function textElement(dbf: NumericDbf, field: string, text: string, current: number): number | Refusal {
  try {
    return textNumber(dbf, field, text, current);
  } catch (err) {
    if (err instanceof PartialText) return { error: err.error, stored: err.stored };
    if (err instanceof WriteError) return { error: err, stored: undefined };
    throw err;
  }
}

/** A ULONG's integer stored before the double read after it failed. */
class PartialText {
  constructor(readonly error: WriteError, readonly stored: number) {}
}

function textNumber(dbf: NumericDbf, field: string, text: string, current: number): number {
  if (text === '') return 0;
  if (dbf === 'DOUBLE') return parseDouble(field, text);
  if (dbf === 'FLOAT') {
    const v = parseDouble(field, text);
    const a = Math.abs(v);
    if (v > 0 && a <= FLT_MIN) throw fail(field, text, 'is too small for a float');
    if (Number.isFinite(v) && a >= FLT_MAX) throw fail(field, text, 'is too large for a float');
    return Math.fround(v);
  }
  const range = SIGNED[dbf];
  const bits = UNSIGNED_BITS[dbf] ?? 64;
  const r = parseInteger(text, range === undefined, dbf === 'UINT64');
  if (dbf === 'ULONG' && (r === undefined || (!r.overflow && (r.next === '.' || r.next === 'e' || r.next === 'E')))) {
    // Read again as a double, so that 1.0e3 is 1000 (dbFastLinkConv cvt_st_ul); when
    // that fails, the integer read first is in the field already ("1e400" is 1).
    let d: number;
    try {
      d = parseDouble(field, text);
    } catch (err) {
      const fits = r !== undefined && (r.value <= UINT32_MAX_N || r.value > ULONG_TOP - 1n - UINT32_MAX_N);
      if (fits && err instanceof WriteError) throw new PartialText(err, Number(BigInt.asUintN(32, r.value)));
      throw err;
    }
    if (d >= 0 && d <= UINT32_MAX) return Math.trunc(d);
    if (r === undefined) return current;
  }
  if (r === undefined) throw fail(field, text, 'is not a number');
  if (r.overflow) throw fail(field, text, `is beyond the range of a ${dbf} field`);
  if (range) {
    if (r.value < range[0] || r.value > range[1]) throw fail(field, text, `is beyond the range of a ${dbf} field (${range[0]}..${range[1]})`);
    return Number(r.value);
  }
  const max = (1n << BigInt(bits)) - 1n;
  // epicsParseUInt8/16/32: beyond the type but not within its size of the top of unsigned long.
  if (r.value > max && r.value <= ULONG_TOP - 1n - max) throw fail(field, text, `is beyond the range of a ${dbf} field (0..${max})`);
  return Number(BigInt.asUintN(bits, r.value));
}

/**
 * A number of native type `from` (what a client sent, or a PV's native type)
 * stored into a field of type `dbf`: a C cast on x86-64. `integral`: the
 * DOUBLE is an integer field's value (a link from a ULONG, INT64 or UINT64
 * field), converted as C converts that integer type.
 */
export function putNumber(dbf: NumericDbf, v: number, from: Exclude<NativeType, DbrType.STRING>, integral = false): number {
  if (integral && from === DbrType.DOUBLE) return putInteger(dbf, v);
  const real = from === DbrType.FLOAT || from === DbrType.DOUBLE;
  const x = from === DbrType.FLOAT ? Math.fround(v) : v;
  switch (dbf) {
    case 'DOUBLE': return castNumber(x, from, DbrType.DOUBLE);
    // A FLOAT to a FLOAT is a copy (a subnormal stays); a DOUBLE goes through epicsConvertDoubleToFloat.
    case 'FLOAT': return from === DbrType.FLOAT ? x : real ? realToNative(x, DbrType.FLOAT) : Math.fround(castNumber(x, from, DbrType.LONG));
    case 'ULONG': return real ? int64Bits(x, 32) : castNumber(x, from, DbrType.LONG) >>> 0;
    case 'INT64': return real ? int64Of(x) : castNumber(x, from, DbrType.LONG);
    case 'UINT64': return real ? uint64Of(x) : Number(BigInt.asUintN(64, BigInt(castNumber(x, from, DbrType.LONG))));
    default: {
      const l = castNumber(x, from, DbrType.LONG);
      switch (dbf) {
        case 'CHAR': return (l << 24) >> 24;
        case 'UCHAR': return l & 0xff;
        case 'SHORT': return (l << 16) >> 16;
        case 'USHORT': return l & 0xffff;
        default: return l;
      }
    }
  }
}

/**
 * A whole number from an integer field stored into a field of type `dbf`:
 * C's integer conversions keep the low bits (an epicsUInt32 of 4294967295 is
 * -1 as an epicsInt32 and 65535 as an epicsUInt16), and a float or double
 * takes the nearest value.
 */
function putInteger(dbf: NumericDbf, v: number): number {
  const i = BigInt(Number.isFinite(v) ? Math.trunc(v) : 0);
  switch (dbf) {
    case 'DOUBLE': return Number(i);
    case 'FLOAT': return Math.fround(Number(i));
    case 'INT64': return Number(BigInt.asIntN(64, i));
    case 'UINT64': return Number(BigInt.asUintN(64, i));
    case 'ULONG': return Number(BigInt.asUintN(32, i));
    default: return putNumber(dbf, Number(BigInt.asIntN(32, i)), DbrType.LONG);
  }
}

/** (int64) of a double on x86-64 (cvttsd2si): out of range and NaN are INT64_MIN. */
function int64Of(v: number): number {
  const t = Math.trunc(v);
  return t >= -(2 ** 63) && t < 2 ** 63 ? t : -(2 ** 63);
}

/**
 * (uint64) of a double as gcc compiles it for x86-64: below 2^63 (NaN too)
 * the int64 cast taken as unsigned (-1 is 2^64 - 1, NaN and -inf 2^63), from
 * 2^63 up the int64 cast of x - 2^63 with its top bit flipped (2^64 and inf are 0).
 */
function uint64Of(v: number): number {
  if (!(v >= 2 ** 63)) return Number(BigInt.asUintN(64, BigInt(int64Of(v))));
  return Number(BigInt.asUintN(64, BigInt(int64Of(v - 2 ** 63)) ^ (1n << 63n)));
}

/** The low `bits` of (int64) of a double: what (epicsUInt32) of a double is on x86-64. */
function int64Bits(v: number, bits: number): number {
  return Number(BigInt.asUintN(bits, BigInt(int64Of(v))));
}
