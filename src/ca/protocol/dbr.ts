/**
 * The DBR codec: the C structs of EPICS base `modules/ca/src/client/db_access.h`
 * (dbr_sts_*, dbr_time_*, dbr_gr_*, dbr_ctrl_*, dbr_stsack_string,
 * dbr_class_name_t, dbr_put_ack[ts]_t) as big-endian bytes, with the struct
 * padding ("RISC_pad") the C compilers put there. Sizes follow db_access.c
 * `dbr_size[]` / `dbr_value_size[]`: an array of n elements is the
 * one-element struct plus (n - 1) more elements, then zero-padded to 8 bytes on
 * the wire (caProto.h, "CA_MESSAGE_ALIGN").
 *
 * Pure: no sockets, timers or logging. Strings are UTF-8, NUL-padded, cut at a
 * character boundary so that at least one NUL remains in their slot.
 */
import {
  DbrType, Eca, MAX_ENUM_STATES, MAX_ENUM_STRING_SIZE, MAX_STRING_SIZE, MAX_UNITS_SIZE, type NativeType,
} from './constants';
import { castNumber, elementToNumber, elementToString, limitToNative, type NumericType } from './convert';
import { CaProtocolError } from './errors';
import type { DbrMetadata, DbrSource, DecodedDbr } from './types';

export type DbrFamily =
  | 'plain' | 'sts' | 'time' | 'gr' | 'ctrl' | 'put_ackt' | 'put_acks' | 'stsack' | 'class_name';

/** Where each part of one DBR type's struct lives; -1 = the type has no such part. */
export interface DbrLayout {
  readonly type: DbrType;
  readonly family: DbrFamily;
  readonly valueType: NativeType;
  /** sizeof the struct holding one element. */
  readonly size: number;
  readonly valueOffset: number;
  readonly elementSize: number;
  /** i16 status + i16 severity at 0 (u16 for STSACK_STRING). */
  readonly hasAlarm: boolean;
  /** u32 secPastEpoch, u32 nsec. */
  readonly stampOffset: number;
  /** i16 precision (GR/CTRL FLOAT and DOUBLE). */
  readonly precisionOffset: number;
  /** char units[8]. */
  readonly unitsOffset: number;
  /** First limit, each of the value type; 6 for GR, 8 for CTRL. */
  readonly limitsOffset: number;
  readonly limitCount: number;
  /** i16 no_str followed by char strs[16][26] (GR/CTRL ENUM). */
  readonly enumOffset: number;
}

/** Bytes per element of each native type, indexed by DbrType 0..6. */
const ELEMENT_SIZE: readonly number[] = [MAX_STRING_SIZE, 2, 4, 2, 1, 4, 8];

interface LayoutParts {
  stamp?: number; precision?: number; units?: number; limits?: number; limitCount?: number; enums?: number;
  alarm?: boolean;
}

function layout(
  type: DbrType, family: DbrFamily, valueType: NativeType, size: number, valueOffset: number, p: LayoutParts = {},
): DbrLayout {
  return Object.freeze({
    type, family, valueType, size, valueOffset,
    elementSize: ELEMENT_SIZE[valueType],
    hasAlarm: p.alarm ?? family !== 'plain',
    stampOffset: p.stamp ?? -1,
    precisionOffset: p.precision ?? -1,
    unitsOffset: p.units ?? -1,
    limitsOffset: p.limits ?? -1,
    limitCount: p.limitCount ?? 0,
    enumOffset: p.enums ?? -1,
  });
}

const T = DbrType;
const TIME = { stamp: 4 };
const GR_INT = { units: 4, limits: 12, limitCount: 6 };
const CTRL_INT = { units: 4, limits: 12, limitCount: 8 };
const GR_REAL = { precision: 4, units: 8, limits: 16, limitCount: 6 };
const CTRL_REAL = { precision: 4, units: 8, limits: 16, limitCount: 8 };
const ENUMS = { enums: 4 };

/**
 * Every DBR type's layout, indexed by type code. Sizes and offsets are those of
 * the db_access.h structs on a C ABI with natural alignment (what libca's
 * dbr_size[] table holds). GR_STRING and CTRL_STRING are dbr_sts_string.
 */
const LAYOUTS: readonly DbrLayout[] = [
  layout(T.STRING, 'plain', T.STRING, 40, 0),
  layout(T.SHORT, 'plain', T.SHORT, 2, 0),
  layout(T.FLOAT, 'plain', T.FLOAT, 4, 0),
  layout(T.ENUM, 'plain', T.ENUM, 2, 0),
  layout(T.CHAR, 'plain', T.CHAR, 1, 0),
  layout(T.LONG, 'plain', T.LONG, 4, 0),
  layout(T.DOUBLE, 'plain', T.DOUBLE, 8, 0),

  layout(T.STS_STRING, 'sts', T.STRING, 44, 4),
  layout(T.STS_SHORT, 'sts', T.SHORT, 6, 4),
  layout(T.STS_FLOAT, 'sts', T.FLOAT, 8, 4),
  layout(T.STS_ENUM, 'sts', T.ENUM, 6, 4),
  layout(T.STS_CHAR, 'sts', T.CHAR, 6, 5), // RISC_pad u8 at 4
  layout(T.STS_LONG, 'sts', T.LONG, 8, 4),
  layout(T.STS_DOUBLE, 'sts', T.DOUBLE, 16, 8), // RISC_pad i32 at 4

  layout(T.TIME_STRING, 'time', T.STRING, 52, 12, TIME),
  layout(T.TIME_SHORT, 'time', T.SHORT, 16, 14, TIME), // RISC_pad i16 at 12
  layout(T.TIME_FLOAT, 'time', T.FLOAT, 16, 12, TIME),
  layout(T.TIME_ENUM, 'time', T.ENUM, 16, 14, TIME), // RISC_pad i16 at 12
  layout(T.TIME_CHAR, 'time', T.CHAR, 16, 15, TIME), // RISC_pad0 i16 at 12, RISC_pad1 u8 at 14
  layout(T.TIME_LONG, 'time', T.LONG, 16, 12, TIME),
  layout(T.TIME_DOUBLE, 'time', T.DOUBLE, 24, 16, TIME), // RISC_pad i32 at 12

  layout(T.GR_STRING, 'gr', T.STRING, 44, 4),
  layout(T.GR_SHORT, 'gr', T.SHORT, 26, 24, GR_INT),
  layout(T.GR_FLOAT, 'gr', T.FLOAT, 44, 40, GR_REAL), // RISC_pad0 i16 at 6
  layout(T.GR_ENUM, 'gr', T.ENUM, 424, 422, ENUMS),
  layout(T.GR_CHAR, 'gr', T.CHAR, 20, 19, GR_INT), // RISC_pad u8 at 18
  layout(T.GR_LONG, 'gr', T.LONG, 40, 36, GR_INT),
  layout(T.GR_DOUBLE, 'gr', T.DOUBLE, 72, 64, GR_REAL), // RISC_pad0 i16 at 6

  layout(T.CTRL_STRING, 'ctrl', T.STRING, 44, 4),
  layout(T.CTRL_SHORT, 'ctrl', T.SHORT, 30, 28, CTRL_INT),
  layout(T.CTRL_FLOAT, 'ctrl', T.FLOAT, 52, 48, CTRL_REAL),
  layout(T.CTRL_ENUM, 'ctrl', T.ENUM, 424, 422, ENUMS),
  layout(T.CTRL_CHAR, 'ctrl', T.CHAR, 22, 21, CTRL_INT), // RISC_pad u8 at 20
  layout(T.CTRL_LONG, 'ctrl', T.LONG, 48, 44, CTRL_INT),
  layout(T.CTRL_DOUBLE, 'ctrl', T.DOUBLE, 88, 80, CTRL_REAL),

  layout(T.PUT_ACKT, 'put_ackt', T.ENUM, 2, 0, { alarm: false }),
  layout(T.PUT_ACKS, 'put_acks', T.ENUM, 2, 0, { alarm: false }),
  layout(T.STSACK_STRING, 'stsack', T.STRING, 48, 8), // u16 status, severity, ackt, acks
  layout(T.CLASS_NAME, 'class_name', T.STRING, 40, 0, { alarm: false }),
];

/** Whether `t` is a DBR type code (0..38). */
export function isValidDbrType(t: number): boolean {
  return Number.isInteger(t) && t >= 0 && t < LAYOUTS.length;
}

/**
 * The layout of a DBR type.
 * @throws CaProtocolError CA_ERR_BAD_TYPE (ECA_BADTYPE) for a code outside 0..38.
 */
export function dbrLayout(dbrType: number): DbrLayout {
  if (!isValidDbrType(dbrType)) {
    throw new CaProtocolError('CA_ERR_BAD_TYPE', `DBR type ${dbrType} is not in 0..38`, Eca.BADTYPE);
  }
  return LAYOUTS[dbrType];
}

/**
 * The native type of a DBR type's value part. PUT_ACKT/PUT_ACKS (u16 on the
 * wire) report ENUM; STSACK_STRING and CLASS_NAME report STRING.
 */
export function valueTypeOf(dbrType: DbrType): NativeType {
  return dbrLayout(dbrType).valueType;
}

export function dbrFamily(dbrType: DbrType): DbrFamily {
  return dbrLayout(dbrType).family;
}

/** Element counts below 1 (and non-numbers) mean one element, as in dbr_size_n(). */
function elementCount(count: number): number {
  return count >= 1 ? Math.floor(count) : 1;
}

/** Unpadded bytes of `count` elements of `dbrType` (db_access.h dbr_size_n). */
export function dbrPayloadSize(dbrType: DbrType, count: number): number {
  const l = dbrLayout(dbrType);
  return l.size + (elementCount(count) - 1) * l.elementSize;
}

/** `n` rounded up to a multiple of 8 (CA payload alignment). */
export function paddedSize(n: number): number {
  return Math.ceil(n / 8) * 8;
}

/** A zero-filled, padded payload of `count` elements (the reply to a failed read). */
export function zeroPayload(dbrType: DbrType, count: number): Buffer {
  return Buffer.alloc(paddedSize(dbrPayloadSize(dbrType, count)));
}

/* ------------------------------------------------------------------ encode */

/**
 * Write `s` into a `slot`-byte field that `buf` holds zeroed: at most slot - 1
 * bytes of UTF-8 so a NUL always follows, never half a character.
 */
function writeCString(buf: Buffer, offset: number, s: string, slot: number): void {
  const max = slot - 1;
  const n = s.length < max ? s.length : max;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) {
      // Buffer#write stops before a character that would not fit whole.
      buf.write(s, offset, max, 'utf8');
      return;
    }
    buf[offset + i] = c;
  }
}

/** Write a number already cast to a numeric type (integers are written by their low bits). */
function writeNumber(view: DataView, offset: number, type: NumericType, v: number): void {
  switch (type) {
    case DbrType.SHORT:
    case DbrType.ENUM:
      view.setUint16(offset, v & 0xffff);
      return;
    case DbrType.CHAR:
      view.setUint8(offset, v & 0xff);
      return;
    case DbrType.LONG:
      view.setInt32(offset, v | 0);
      return;
    case DbrType.FLOAT:
      view.setFloat32(offset, v);
      return;
    default:
      view.setFloat64(offset, v);
  }
}

/*
 * The DataView of the buffer last encoded into. A turn's replies go into one
 * output buffer, so one view serves them all; DataView's setters compile to
 * plain stores, several times faster than Buffer's write methods with their
 * argument checks. (It keeps that one buffer alive until the next is used.)
 */
let lastBuffer: Buffer | undefined;
let lastView: DataView = new DataView(new ArrayBuffer(0));

function viewOf(buf: Buffer): DataView {
  if (buf !== lastBuffer) {
    lastBuffer = buf;
    lastView = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  return lastView;
}

const EMPTY_LABELS: readonly string[] = Object.freeze([]);

function writeValues(buf: Buffer, view: DataView, base: number, l: DbrLayout, count: number, src: DbrSource): void {
  const to = l.valueType;
  const offset = base + l.valueOffset;
  if (l.family === 'class_name') {
    // RSRV fills the first element only.
    writeCString(buf, offset, src.className, MAX_STRING_SIZE);
    return;
  }
  const values = src.value;
  const from = src.nativeType;
  const n = values.length < count ? values.length : count;
  if (from === DbrType.CHAR && to !== DbrType.CHAR && src.signedChar === true) {
    writeSignedChars(buf, view, offset, l, n, src);
    return;
  }
  if (to === DbrType.STRING) {
    const labels = src.metadata.enumStrings;
    const precision = src.textPrecision ?? src.metadata.precision;
    const enumText = from === DbrType.ENUM ? src.enumText : undefined;
    for (let i = 0; i < n; i++) {
      const text = enumText ? enumText(+values[i] & 0xffff) : elementToString(values[i], from, labels, precision);
      writeCString(buf, offset + i * MAX_STRING_SIZE, text, MAX_STRING_SIZE);
    }
    return;
  }
  const size = l.elementSize;
  if (from === to) {
    // Same type: writeNumber's casts are the conversion.
    for (let i = 0; i < n; i++) writeNumber(view, offset + i * size, to, +values[i]);
  } else {
    // Enum labels are needed only to read a string as an enum state.
    const labels = from === DbrType.STRING ? src.metadata.enumStrings : EMPTY_LABELS;
    const integral = src.integral === true;
    for (let i = 0; i < n; i++) writeNumber(view, offset + i * size, to, elementToNumber(values[i], from, to, labels, integral));
  }
}

/**
 * The elements of a signed CHAR field (DBF_CHAR, a waveform of FTVL CHAR) as
 * another type: each byte is an int8, as dbGet converts it, where DBR_CHAR on
 * the wire is unsigned (0xff reads as -1, not 255).
 */
function writeSignedChars(buf: Buffer, view: DataView, offset: number, l: DbrLayout, n: number, src: DbrSource): void {
  const to = l.valueType;
  const values = src.value;
  for (let i = 0; i < n; i++) {
    const v = (+values[i] << 24) >> 24;
    if (to === DbrType.STRING) writeCString(buf, offset + i * MAX_STRING_SIZE, String(v), MAX_STRING_SIZE);
    else writeNumber(view, offset + i * l.elementSize, to, castNumber(v, DbrType.LONG, to));
  }
}

function writeLimits(view: DataView, base: number, l: DbrLayout, m: DbrMetadata): void {
  const type = l.valueType as NumericType;
  const w = l.elementSize;
  let o = base + l.limitsOffset;
  // Order of db_access.h: upper_disp, lower_disp, upper_alarm, upper_warning,
  // lower_warning, lower_alarm[, upper_ctrl, lower_ctrl].
  writeNumber(view, o, type, limitToNative(m.upperDisplayLimit, type)); o += w;
  writeNumber(view, o, type, limitToNative(m.lowerDisplayLimit, type)); o += w;
  writeNumber(view, o, type, limitToNative(m.upperAlarmLimit, type, true)); o += w;
  writeNumber(view, o, type, limitToNative(m.upperWarningLimit, type, true)); o += w;
  writeNumber(view, o, type, limitToNative(m.lowerWarningLimit, type, true)); o += w;
  writeNumber(view, o, type, limitToNative(m.lowerAlarmLimit, type, true)); o += w;
  if (l.limitCount === 8) {
    writeNumber(view, o, type, limitToNative(m.upperControlLimit, type)); o += w;
    writeNumber(view, o, type, limitToNative(m.lowerControlLimit, type));
  }
}

/**
 * The payload of `count` (>= 1) elements of `dbrType` describing `src`, zero
 * padded to a multiple of 8. Values are converted from `src.nativeType` to the
 * type's value type (FLOAT/DOUBLE to STRING uses `src.metadata.precision`, ENUM
 * <-> STRING uses `src.metadata.enumStrings`); missing elements are zero/empty.
 * @throws CaProtocolError CA_ERR_BAD_TYPE for a type outside 0..38,
 *   CA_ERR_NO_CONVERT when a string value names no number or enum state.
 */
export function encodeDbr(dbrType: DbrType, count: number, src: DbrSource): Buffer {
  const buf = Buffer.alloc(paddedSize(dbrPayloadSize(dbrType, count)));
  encodeDbrInto(buf, 0, dbrType, count, src);
  return buf;
}

/**
 * `encodeDbr` into `buf` at `base`, where it holds at least the padded
 * payload's size of zero bytes (space in an output buffer, so that a reply
 * needs no buffer of its own).
 */
export function encodeDbrInto(buf: Buffer, base: number, dbrType: DbrType, count: number, src: DbrSource): void {
  const l = dbrLayout(dbrType);
  const n = elementCount(count);
  const view = viewOf(buf);

  if (l.hasAlarm) {
    view.setUint16(base, src.status & 0xffff);
    view.setUint16(base + 2, src.severity & 0xffff);
  }
  if (l.family === 'stsack') {
    view.setUint16(base + 4, src.ackt & 0xffff);
    view.setUint16(base + 6, src.acks & 0xffff);
  }
  if (l.stampOffset >= 0) {
    view.setUint32(base + l.stampOffset, src.timestamp.secPastEpoch >>> 0);
    view.setUint32(base + l.stampOffset + 4, src.timestamp.nsec >>> 0);
  }
  if (l.precisionOffset >= 0) view.setUint16(base + l.precisionOffset, src.metadata.precision & 0xffff);
  if (l.unitsOffset >= 0) writeCString(buf, base + l.unitsOffset, src.metadata.units, MAX_UNITS_SIZE);
  if (l.limitsOffset >= 0) writeLimits(view, base, l, src.metadata);
  if (l.enumOffset >= 0) {
    const labels = src.metadata.enumStrings;
    const noStr = labels.length < MAX_ENUM_STATES ? labels.length : MAX_ENUM_STATES;
    view.setUint16(base + l.enumOffset, noStr);
    for (let i = 0; i < noStr; i++) {
      writeCString(buf, base + l.enumOffset + 2 + i * MAX_ENUM_STRING_SIZE, labels[i], MAX_ENUM_STRING_SIZE);
    }
  }
  writeValues(buf, view, base, l, n, src);
}

/* ------------------------------------------------------------------ decode */

/** The text of a NUL-padded slot, up to its first NUL. */
function readCString(buf: Buffer, offset: number, slot: number): string {
  const limit = offset + slot;
  let end = offset;
  while (end < limit && buf[end] !== 0) end++;
  return end === offset ? '' : buf.toString('utf8', offset, end);
}

function readNumber(buf: Buffer, offset: number, type: NativeType): number {
  switch (type) {
    case DbrType.SHORT: return buf.readInt16BE(offset);
    case DbrType.ENUM: return buf.readUInt16BE(offset);
    case DbrType.CHAR: return buf[offset];
    case DbrType.LONG: return buf.readInt32BE(offset);
    case DbrType.FLOAT: return buf.readFloatBE(offset);
    default: return buf.readDoubleBE(offset);
  }
}

function readMetadata(buf: Buffer, l: DbrLayout): DbrMetadata {
  const type = l.valueType;
  const w = l.elementSize;
  const o = l.limitsOffset;
  const limit = (i: number): number => (o >= 0 && i < l.limitCount ? readNumber(buf, o + i * w, type) : 0);
  let enumStrings: string[] = [];
  if (l.enumOffset >= 0) {
    const noStr = Math.min(Math.max(buf.readInt16BE(l.enumOffset), 0), MAX_ENUM_STATES);
    enumStrings = new Array<string>(noStr);
    for (let i = 0; i < noStr; i++) {
      enumStrings[i] = readCString(buf, l.enumOffset + 2 + i * MAX_ENUM_STRING_SIZE, MAX_ENUM_STRING_SIZE);
    }
  }
  return {
    units: l.unitsOffset >= 0 ? readCString(buf, l.unitsOffset, MAX_UNITS_SIZE) : '',
    precision: l.precisionOffset >= 0 ? buf.readInt16BE(l.precisionOffset) : 0,
    upperDisplayLimit: limit(0),
    lowerDisplayLimit: limit(1),
    upperAlarmLimit: limit(2),
    upperWarningLimit: limit(3),
    lowerWarningLimit: limit(4),
    lowerAlarmLimit: limit(5),
    upperControlLimit: limit(6),
    lowerControlLimit: limit(7),
    enumStrings,
  };
}

/**
 * The parts of a payload holding `count` elements of `dbrType` (bytes past the
 * struct, such as padding, are ignored). Strings end at the first NUL of their
 * slot. Decodes any bytes of the right length; never throws anything but
 * CaProtocolError.
 * @throws CaProtocolError CA_ERR_BAD_TYPE (ECA_BADTYPE) for a type outside 0..38,
 *   CA_ERR_BAD_SIZE (ECA_BADCOUNT) when the payload is shorter than the struct.
 */
export function decodeDbr(dbrType: DbrType, count: number, payload: Buffer): DecodedDbr {
  const l = dbrLayout(dbrType);
  const n = elementCount(count);
  const need = l.size + (n - 1) * l.elementSize;
  if (!(payload.length >= need)) {
    throw new CaProtocolError('CA_ERR_BAD_SIZE',
      `DBR type ${dbrType} with ${count} elements needs ${need} bytes, payload has ${payload.length}`, Eca.BADCOUNT);
  }
  const type = l.valueType;
  let value: number[] | string[];
  if (type === DbrType.STRING) {
    const strings = new Array<string>(n);
    for (let i = 0; i < n; i++) strings[i] = readCString(payload, l.valueOffset + i * MAX_STRING_SIZE, MAX_STRING_SIZE);
    value = strings;
  } else {
    const numbers = new Array<number>(n);
    const w = l.elementSize;
    for (let i = 0; i < n; i++) numbers[i] = readNumber(payload, l.valueOffset + i * w, type);
    value = numbers;
  }

  const out: DecodedDbr = { dbrType, valueType: type, value };
  if (l.family === 'stsack') {
    out.status = payload.readUInt16BE(0);
    out.severity = payload.readUInt16BE(2);
    out.ackt = payload.readUInt16BE(4);
    out.acks = payload.readUInt16BE(6);
  } else if (l.hasAlarm) {
    out.status = payload.readInt16BE(0);
    out.severity = payload.readInt16BE(2);
  }
  if (l.stampOffset >= 0) {
    out.timestamp = {
      secPastEpoch: payload.readUInt32BE(l.stampOffset),
      nsec: payload.readUInt32BE(l.stampOffset + 4),
    };
  }
  if (l.family === 'gr' || l.family === 'ctrl') out.metadata = readMetadata(payload, l);
  return out;
}
