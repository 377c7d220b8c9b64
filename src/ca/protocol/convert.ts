/**
 * Conversions between the seven native DBR types, as an IOC performs them when a
 * client asks for a type other than the field's own.
 *
 * Follows the behaviour of EPICS base `modules/database/src/ioc/db/dbConvert.c`
 * and `dbFastLinkConv.c` (numeric casts, enum labels, string parsing) and
 * `libcom/src/cvtFast/cvtFast.c` (`cvtDoubleToString`: "%.*f" or "%.*e" by
 * magnitude). Written from the documented behaviour; no code is copied.
 *
 * Integers follow C casts on a two's complement machine: keep the low bits
 * (what Int16Array & co. do). FLOAT and DOUBLE follow x86-64: to an integer
 * through int32 (out of range and NaN are -2147483648), to FLOAT held to its
 * range (`realToNative`).
 */
import { DbrType, Eca, MAX_ENUM_STATES, type NativeType } from './constants';
import { CaProtocolError } from './errors';
import type { DbrValue } from './types';

/** The native types whose values are numbers. */
export type NumericType = Exclude<NativeType, DbrType.STRING>;

export interface ConvertOptions {
  /** Labels of an ENUM PV, used for ENUM <-> STRING. */
  enumStrings?: readonly string[];
  /**
   * Digits after the decimal point when FLOAT/DOUBLE becomes STRING (the
   * record's PREC). When absent (or negative / not a number) the shortest text
   * that reads back as the same value is used instead.
   */
  precision?: number;
  /** The DOUBLE values are an integer field's (ULONG, INT64): cast to an integer type as integers are (see castNumber). */
  integral?: boolean;
}

const NO_LABELS: readonly string[] = Object.freeze([]);

/**
 * A number cast to a numeric native type: SHORT i16, CHAR u8, ENUM u16 and
 * LONG i32 truncate toward zero and wrap (NaN and +-Infinity give 0); FLOAT
 * rounds to the nearest f32; DOUBLE is unchanged.
 */
export function toNativeNumber(v: number, to: NumericType): number {
  switch (to) {
    case DbrType.SHORT: return (v << 16) >> 16;
    case DbrType.CHAR: return v & 0xff;
    case DbrType.ENUM: return v & 0xffff;
    case DbrType.LONG: return v | 0;
    case DbrType.FLOAT: return Math.fround(v);
    default: return +v;
  }
}

const FLT_MAX = 3.4028234663852886e38;
const FLT_MIN = 1.1754943508222875e-38;

/**
 * A FLOAT or DOUBLE value cast to a numeric native type as a C cast does it on
 * x86-64 (what dbConvert.c and dbFastLinkConv.c do with a double field read as
 * another type): LONG truncates toward zero, and NaN or a value beyond the
 * int32 range is -2147483648 (cvttsd2si); SHORT, CHAR and ENUM take the low
 * bits of that LONG (3e9 is 0 as SHORT, 70000.7 is 4464); FLOAT goes through
 * epicsConvertDoubleToFloat, which holds a finite value to ±FLT_MAX and a
 * nonzero one to at least ±FLT_MIN (1e300 is 3.40282e+38, 1e-300 is
 * 1.17549e-38). DOUBLE is unchanged.
 */
export function realToNative(v: number, to: NumericType): number {
  switch (to) {
    case DbrType.LONG: case DbrType.SHORT: case DbrType.CHAR: case DbrType.ENUM:
      return toNativeNumber(cCastInt32(v), to);
    case DbrType.FLOAT:
      return doubleToFloat(v);
    default:
      return +v;
  }
}

/**
 * A display, alarm or control limit (kept as a double) in the GR/CTRL fields
 * of a DBR type, as dbAccess.c and db_access.c fill them (on x86-64): the cast
 * of `realToNative`, except that an alarm limit that is not finite is 0 in
 * the integer types (get_alarm checks finite()).
 */
export function limitToNative(v: number, to: NumericType, alarm = false): number {
  return realToNative(alarm && to !== DbrType.FLOAT && to !== DbrType.DOUBLE && !Number.isFinite(v) ? 0 : v, to);
}

/** (epicsInt32) of a double as x86-64 computes it: out of range and NaN are INT_MIN. */
function cCastInt32(v: number): number {
  const t = Math.trunc(v);
  return t >= -2147483648 && t <= 2147483647 ? t : -2147483648;
}

/** libCom's epicsConvertDoubleToFloat. */
function doubleToFloat(v: number): number {
  if (v === 0 || !Number.isFinite(v)) return Math.fround(v);
  const a = Math.abs(v);
  if (a >= FLT_MAX) return v > 0 ? FLT_MAX : -FLT_MAX;
  if (a <= FLT_MIN) return v > 0 ? FLT_MIN : -FLT_MIN;
  return Math.fround(v);
}

const DECIMAL_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const HEX_RE = /^([+-]?)0[xX]([0-9a-fA-F]+)$/;
const SPECIAL_RE = /^([+-]?)(?:(inf(?:inity)?)|nan)$/i;

/**
 * Parse text as strtod/strtol would, but insisting that the whole (trimmed)
 * text is a number: decimal integers and floats, `0x` hex integers, `inf`,
 * `infinity` and `nan`. An empty string reads as 0.
 * @throws CaProtocolError CA_ERR_NO_CONVERT (ECA_NOCONVERT) for anything else.
 */
export function parseNumber(text: string): number {
  const s = text.trim();
  if (s === '') return 0;
  if (DECIMAL_RE.test(s)) return Number(s);
  const hex = HEX_RE.exec(s);
  if (hex !== null) {
    const n = parseInt(hex[2], 16);
    return hex[1] === '-' ? -n : n;
  }
  const special = SPECIAL_RE.exec(s);
  if (special !== null) {
    if (special[2] === undefined) return NaN;
    return special[1] === '-' ? -Infinity : Infinity;
  }
  throw new CaProtocolError('CA_ERR_NO_CONVERT', `"${text}" is not a number`, Eca.NOCONVERT);
}

const FLOAT_PREFIX_RE = /^[+-]?(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf(?:inity)?|nan)/i;

/**
 * The text of the number strtod would read at the start of `text` once its
 * leading blanks are skipped (decimal, `0x` hex integer, inf, infinity, nan),
 * or undefined when none starts it. `parseNumber` gives its value.
 */
export function realPrefix(text: string): string | undefined {
  const m = FLOAT_PREFIX_RE.exec(text.trimStart());
  return m ? m[0] : undefined;
}
const INTEGER_PREFIX_RE = /^[+-]?\d+/;
const INTEGER_RANGE: { readonly [T in NumericType]?: readonly [number, number] } = {
  [DbrType.SHORT]: [-0x8000, 0x7fff],
  [DbrType.LONG]: [-0x8000_0000, 0x7fff_ffff],
  [DbrType.CHAR]: [-0x80, 0x7f],
  [DbrType.ENUM]: [0, 0xffff],
};

/**
 * The number at the start of a string, as EPICS base converts a string for a
 * numeric read or a string put to a numeric field (dbConvert.c, parsing with
 * an end pointer): leading blanks are skipped, the longest number at the start
 * is taken and the text after it ignored ("12abc" is 12, "-7.5 mm" is -7.5,
 * "0.1.0" is 0.1); an integer type takes a decimal integer ("1e3" is 1, "0x1A"
 * is 0). An empty string is 0. Measured against softIoc 7.0.8.
 * @throws CaProtocolError CA_ERR_NO_CONVERT when no number starts the string,
 *   or an integer does not fit its type.
 */
export function parseNumberPrefix(text: string, to: NumericType): number {
  if (text === '') return 0;
  const s = text.trimStart();
  const range = INTEGER_RANGE[to];
  const m = (range ? INTEGER_PREFIX_RE : FLOAT_PREFIX_RE).exec(s);
  if (!m) throw new CaProtocolError('CA_ERR_NO_CONVERT', `"${text}" does not start with a number`, Eca.NOCONVERT);
  if (!range) return parseNumber(m[0]);
  const n = Number(m[0]);
  if (n < range[0] || n > range[1]) {
    throw new CaProtocolError('CA_ERR_NO_CONVERT', `"${text}" is outside ${range[0]}..${range[1]}`, Eca.NOCONVERT);
  }
  return n;
}

/**
 * The enum index a string names: an exact (non-empty) label first, else a
 * decimal integer below max(label count, 16).
 * @throws CaProtocolError CA_ERR_NO_CONVERT (ECA_NOCONVERT) otherwise.
 */
export function enumIndexFromString(s: string, enumStrings: readonly string[]): number {
  if (s !== '') {
    const i = enumStrings.indexOf(s);
    if (i >= 0) return i;
  }
  const t = s.trim();
  if (/^\+?\d+$/.test(t)) {
    const n = Number(t);
    if (n < Math.max(enumStrings.length, MAX_ENUM_STATES)) return n;
  }
  const states = enumStrings.length === 0
    ? 'no states are defined'
    : enumStrings.map((l) => JSON.stringify(l)).join(', ');
  throw new CaProtocolError(
    'CA_ERR_NO_CONVERT', `"${s}" is not one of the states (${states}) nor an index in range`, Eca.NOCONVERT);
}

/** The label for an enum index, or its decimal text when it has no (non-empty) label. */
export function enumIndexToString(index: number, enumStrings: readonly string[]): string {
  const i = index & 0xffff;
  const label = i < enumStrings.length ? enumStrings[i] : undefined;
  return label !== undefined && label !== '' ? label : String(i);
}

/**
 * A number of native type `type` as text. Integer types give decimal text.
 * FLOAT/DOUBLE with a `precision` follow libCom's cvtFloatToString /
 * cvtDoubleToString, as dbGet and dbPut use them (measured against softIoc
 * 7.0.8): the precision is taken as an unsigned 16-bit number (PREC -1 is
 * 65535). Up to 8 digits and |v| <= 1e7: the integer part and the fraction
 * scaled by 10^digits, truncated after one more digit, then rounded half up
 * (2.5 with 0 digits is "3", 0.125 with 2 is "0.13", 1e-5 with 2 is "0.00",
 * -0.0001 with 0 is "-0", -0 is "0"). Otherwise, when the digits are more than
 * 8 or |v| beyond 1e16 (1e8 for FLOAT) or v is not finite: "%*.*e" with at
 * most 17 digits (12 for FLOAT) in a field digits+7 wide (digits+6 for FLOAT),
 * padded with blanks on the left; else (1e7 < |v| <= 1e16, or NaN with few
 * digits) "%.*f" with at most 3 digits. NaN and infinities print as C does:
 * "nan", "inf", "-inf". Without a precision (undefined or NaN) they give the
 * shortest text that parses back to the same f64 (DOUBLE) or f32 (FLOAT)
 * value, as `String(v)` writes it.
 */
export function formatNumber(v: number, type: NativeType, precision?: number): string {
  switch (type) {
    case DbrType.FLOAT:
      return formatFloating(Math.fround(v), true, precision);
    case DbrType.DOUBLE:
      return formatFloating(+v, false, precision);
    case DbrType.STRING:
      return String(v);
    default:
      return String(toNativeNumber(v, type));
  }
}

const FRACTION_SCALE = [1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000];

function formatFloating(v: number, isFloat32: boolean, precision: number | undefined): string {
  if (precision === undefined || precision !== precision) {
    if (v !== v) return 'NaN';
    if (v === Infinity) return 'Inf';
    if (v === -Infinity) return '-Inf';
    return isFloat32 ? shortestFloat32(v) : String(v);
  }
  let digits = Math.trunc(precision) & 0xffff;
  const fast = isFloat32 ? 1e7 : 10000000.0;
  if (v !== v || digits > 8 || v > fast || v < -fast) {
    const expLimit = isFloat32 ? 1e8 : 1e16;
    const beyond = isFloat32 ? v >= expLimit || v <= -expLimit : v > expLimit || v < -expLimit;
    if (digits > 8 || beyond) {
      digits = Math.min(digits, isFloat32 ? 12 : 17);
      return exponentialC(v, digits).padStart(digits + (isFloat32 ? 6 : 7), ' ');
    }
    return fixedPrintf(v, Math.min(digits, 3));
  }
  const f = isFloat32 ? Math.fround : (x: number): number => x;
  let out = '';
  let a = v;
  if (a < 0) { out = '-'; a = -a; }
  let whole = Math.trunc(a);
  const rest = f(a - whole);
  const scale = FRACTION_SCALE[digits];
  let fraction = Math.trunc(f(f(rest * scale) * 10));
  fraction = Math.trunc((fraction + 5) / 10);
  if (fraction >= scale) { whole++; fraction -= scale; }
  out += String(whole);
  if (digits > 0) out += '.' + String(fraction).padStart(digits, '0');
  return out;
}

/** C's "%.*f" (glibc: exact value, ties to even), with "nan"/"inf" as C prints them. */
function fixedPrintf(v: number, digits: number): string {
  if (v !== v) return 'nan';
  if (v === Infinity) return 'inf';
  if (v === -Infinity) return '-inf';
  const sign = v < 0 || Object.is(v, -0) ? '-' : '';
  return sign + fixedC(Math.abs(v), digits);
}

/** C's "%.*e" (glibc), with "nan"/"inf" as C prints them. */
function exponentialC(v: number, digits: number): string {
  if (v !== v) return 'nan';
  if (v === Infinity) return 'inf';
  if (v === -Infinity) return '-inf';
  const sign = v < 0 || Object.is(v, -0) ? '-' : '';
  return sign + exponentialAbs(Math.abs(v), digits);
}

/** Shortest decimal text whose nearest f32 is `v` (at most 9 significant digits). */
function shortestFloat32(v: number): string {
  for (let digits = 1; digits < 9; digits++) {
    const candidate = Number(v.toPrecision(digits));
    if (Math.fround(candidate) === v) return String(candidate);
  }
  return String(Number(v.toPrecision(9)));
}

/*
 * JavaScript's toFixed/toExponential round an exact tie away from zero, while
 * C's printf (glibc) rounds it to even: 0.125 with 2 digits is "0.13" in JS but
 * "0.12" in C. Ties are rare (the value must be exactly representable), so check
 * for them only when the next digit is a 5.
 */

function fixedC(abs: number, digits: number): string {
  const rounded = abs.toFixed(digits);
  // A tie means abs * 10^digits * 2 is an odd integer. Below 2^53 that product
  // is then exact in f64 too, so anything else there cannot be a tie.
  const twice = abs * 10 ** digits * 2;
  if (twice < 9007199254740992 && (twice % 2 !== 1)) return rounded;
  const longer = abs.toFixed(digits + 1);
  if (longer.charCodeAt(longer.length - 1) !== 0x35 /* 5 */ || !isExactDecimal(abs, longer)) return rounded;
  let truncated = longer.slice(0, -1);
  if (truncated.endsWith('.')) truncated = truncated.slice(0, -1);
  return isEvenDigit(truncated.charCodeAt(truncated.length - 1)) ? truncated : rounded;
}

function exponentialAbs(abs: number, digits: number): string {
  let rounded = abs.toExponential(digits);
  const longer = abs.toExponential(digits + 1);
  const e = longer.indexOf('e');
  if (longer.charCodeAt(e - 1) === 0x35 /* 5 */ && isExactDecimal(abs, longer)) {
    let mantissa = longer.slice(0, e - 1);
    if (mantissa.endsWith('.')) mantissa = mantissa.slice(0, -1);
    if (isEvenDigit(mantissa.charCodeAt(mantissa.length - 1))) rounded = mantissa + longer.slice(e);
  }
  // C prints at least two exponent digits: 1.5e+20, 1.0e-05.
  const x = rounded.indexOf('e');
  return rounded.length - x === 3 ? `${rounded.slice(0, x + 2)}0${rounded.slice(x + 2)}` : rounded;
}

function isEvenDigit(code: number): boolean {
  return (code & 1) === 0; // '0' is 0x30
}

/** Whether `text` (toFixed/toExponential output of `abs`) is exactly `abs`, not just its rounding. */
function isExactDecimal(abs: number, text: string): boolean {
  const wanted = significantDigits(text);
  const exact = significantDigits(abs.toPrecision(100));
  if (!exact.startsWith(wanted)) return false;
  for (let i = wanted.length; i < exact.length; i++) {
    if (exact.charCodeAt(i) !== 0x30) return false;
  }
  return true;
}

function significantDigits(text: string): string {
  const e = text.indexOf('e');
  const body = e >= 0 ? text.slice(0, e) : text;
  return body.replace('.', '').replace(/^0+/, '');
}

/** One element converted to text (`from` is the element's native type). */
export function elementToString(
  e: string | number, from: NativeType, enumStrings: readonly string[], precision: number | undefined,
): string {
  if (from === DbrType.STRING) return typeof e === 'string' ? e : String(e);
  const v = typeof e === 'number' ? e : Number(e);
  if (from === DbrType.ENUM) return enumIndexToString(v, enumStrings);
  return formatNumber(v, from, precision);
}

/**
 * One element converted to a numeric type (`from` is the element's native type).
 * @throws CaProtocolError CA_ERR_NO_CONVERT for a string that is not a number or state.
 */
export function elementToNumber(
  e: string | number, from: NativeType, to: NumericType, enumStrings: readonly string[], integral = false,
): number {
  if (from === DbrType.STRING) {
    const s = typeof e === 'string' ? e : String(e);
    if (to === DbrType.ENUM) return enumIndexFromString(s, enumStrings);
    return toNativeNumber(parseNumberPrefix(s, to), to);
  }
  const v = typeof e === 'number' ? e : Number(e);
  return castNumber(v, from, to, integral);
}

/**
 * A number of native type `from` cast to `to`: from FLOAT or DOUBLE by
 * `realToNative`, unless `integral` says the DOUBLE holds an integer field's
 * value (DBF_ULONG, DBF_INT64 served as DOUBLE), which is cast as integers
 * are; from an integer type by keeping the low bits (`toNativeNumber`).
 */
export function castNumber(v: number, from: NumericType, to: NumericType, integral = false): number {
  // A float read as FLOAT or DOUBLE is copied (dbConvert's FLOAT to FLOAT is a copy,
  // a denormal stays one); only the integer types cast it.
  if (from === DbrType.FLOAT) return to === DbrType.FLOAT || to === DbrType.DOUBLE ? Math.fround(v) : realToNative(Math.fround(v), to);
  if (from === DbrType.DOUBLE && !integral) return realToNative(v, to);
  return from === to ? toNativeNumber(v, to) : toNativeNumber(toNativeNumber(v, from), to);
}

/**
 * Every element of `values` (of native type `from`) converted to `to`:
 * strings for STRING, numbers otherwise.
 * @throws CaProtocolError CA_ERR_NO_CONVERT when a string names no number or state.
 */
export function convertValue(
  values: DbrValue, from: NativeType, to: NativeType, opts: ConvertOptions = {},
): number[] | string[] {
  const enumStrings = opts.enumStrings ?? NO_LABELS;
  const n = values.length;
  if (to === DbrType.STRING) {
    const out = new Array<string>(n);
    for (let i = 0; i < n; i++) out[i] = elementToString(values[i], from, enumStrings, opts.precision);
    return out;
  }
  const out = new Array<number>(n);
  const integral = opts.integral === true;
  for (let i = 0; i < n; i++) out[i] = elementToNumber(values[i], from, to, enumStrings, integral);
  return out;
}
