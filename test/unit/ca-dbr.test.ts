/**
 * The DBR codec against the struct layouts of EPICS base db_access.h.
 *
 * Expected bytes below are written out by hand from the C structs (field order,
 * natural alignment, big-endian), not produced by the code under test.
 */
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { DbrType, Eca, type NativeType } from '../../src/ca/protocol/constants';
import { convertValue } from '../../src/ca/protocol/convert';
import {
  dbrFamily, dbrPayloadSize, decodeDbr, encodeDbr, isValidDbrType, paddedSize, valueTypeOf, zeroPayload,
  type DbrFamily,
} from '../../src/ca/protocol/dbr';
import { CaProtocolError } from '../../src/ca/protocol/errors';
import {
  EPICS_EPOCH_OFFSET, epicsNow, realtimeMs, epicsTimestampFromDate, epicsTimestampToIso, epicsTimestampToMs,
} from '../../src/ca/protocol/timestamp';
import type { DbrMetadata, DbrSource, DecodedDbr } from '../../src/ca/protocol/types';

/* ---------------------------------------------------------------- helpers */

/** Hex of the parts, spaces removed. */
function h(...parts: string[]): string {
  return parts.join('').replace(/\s+/g, '');
}
/** `n` zero bytes as hex. */
function zeros(n: number): string {
  return '00'.repeat(n);
}
/** An ASCII string NUL-padded to `slot` bytes, as hex. */
function cstr(s: string, slot: number): string {
  return Buffer.from(s, 'latin1').toString('hex') + zeros(slot - s.length);
}

function expectCaError(fn: () => unknown, code: string, eca?: Eca): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CaProtocolError, `expected CaProtocolError, got ${String(e)}`);
    assert.equal(e.code, code);
    if (eca !== undefined) assert.equal(e.eca, eca);
    return true;
  });
}

/** A number that is not (necessarily) a DbrType, as a peer may send it. */
const wire = (n: number): DbrType => n;

const ALL_TYPES: number[] = Array.from({ length: 39 }, (_, i) => i);

/**
 * sizeof each one-element struct (the reference table / db_access.c dbr_size[])
 * and the size of one more element (dbr_value_size[]).
 */
const STRUCT_SIZE: Record<number, [size: number, element: number]> = {
  [DbrType.STRING]: [40, 40], [DbrType.SHORT]: [2, 2], [DbrType.FLOAT]: [4, 4], [DbrType.ENUM]: [2, 2],
  [DbrType.CHAR]: [1, 1], [DbrType.LONG]: [4, 4], [DbrType.DOUBLE]: [8, 8],
  [DbrType.STS_STRING]: [44, 40], [DbrType.STS_SHORT]: [6, 2], [DbrType.STS_FLOAT]: [8, 4],
  [DbrType.STS_ENUM]: [6, 2], [DbrType.STS_CHAR]: [6, 1], [DbrType.STS_LONG]: [8, 4], [DbrType.STS_DOUBLE]: [16, 8],
  [DbrType.TIME_STRING]: [52, 40], [DbrType.TIME_SHORT]: [16, 2], [DbrType.TIME_FLOAT]: [16, 4],
  [DbrType.TIME_ENUM]: [16, 2], [DbrType.TIME_CHAR]: [16, 1], [DbrType.TIME_LONG]: [16, 4],
  [DbrType.TIME_DOUBLE]: [24, 8],
  [DbrType.GR_STRING]: [44, 40], [DbrType.GR_SHORT]: [26, 2], [DbrType.GR_FLOAT]: [44, 4],
  [DbrType.GR_ENUM]: [424, 2], [DbrType.GR_CHAR]: [20, 1], [DbrType.GR_LONG]: [40, 4], [DbrType.GR_DOUBLE]: [72, 8],
  [DbrType.CTRL_STRING]: [44, 40], [DbrType.CTRL_SHORT]: [30, 2], [DbrType.CTRL_FLOAT]: [52, 4],
  [DbrType.CTRL_ENUM]: [424, 2], [DbrType.CTRL_CHAR]: [22, 1], [DbrType.CTRL_LONG]: [48, 4],
  [DbrType.CTRL_DOUBLE]: [88, 8],
  [DbrType.PUT_ACKT]: [2, 2], [DbrType.PUT_ACKS]: [2, 2], [DbrType.STSACK_STRING]: [48, 40],
  [DbrType.CLASS_NAME]: [40, 40],
};

const S = DbrType.STRING, I16 = DbrType.SHORT, F32 = DbrType.FLOAT, E16 = DbrType.ENUM;
const U8 = DbrType.CHAR, I32 = DbrType.LONG, F64 = DbrType.DOUBLE;
const NATIVE_BY_COLUMN: NativeType[] = [S, I16, F32, E16, U8, I32, F64];

const METADATA: DbrMetadata = {
  units: 'mm',
  precision: 3,
  upperDisplayLimit: 100,
  lowerDisplayLimit: -100,
  upperAlarmLimit: 90,
  upperWarningLimit: 80,
  lowerWarningLimit: -80,
  lowerAlarmLimit: -90,
  upperControlLimit: 95,
  lowerControlLimit: -95,
  enumStrings: ['Off', 'On'],
};

/** A DOUBLE PV holding 42.5, HIHI/MAJOR, stamped 0x12345678 s + 0x0abcdef0 ns. */
const SOURCE: DbrSource = {
  nativeType: DbrType.DOUBLE,
  value: [42.5],
  status: 3,
  severity: 2,
  timestamp: { secPastEpoch: 0x12345678, nsec: 0x0abcdef0 },
  metadata: METADATA,
  ackt: 1,
  acks: 2,
  className: 'ai',
};

/* Pieces of the expected structs for SOURCE. */
const ALARM = '0003 0002';
const STAMP = '12345678 0abcdef0';
const UNITS = cstr('mm', 8);
const PREC = '0003';
// 42.5 as each value type ("%.3f" for the string: PREC 3).
const V_STRING = cstr('42.500', 40);
const V_SHORT = '002a';
const V_FLOAT = '422a0000';
const V_ENUM = '002a';
const V_CHAR = '2a';
const V_LONG = '0000002a';
const V_DOUBLE = '4045400000000000';
// Limits 100, -100, 90, 80, -80, -90 (then control 95, -95) in each type.
const LIM_SHORT = '0064 ff9c 005a 0050 ffb0 ffa6';
const CTRL_LIM_SHORT = '005f ffa1';
const LIM_CHAR = '64 9c 5a 50 b0 a6'; // u8: -100 -> 156 etc.
const CTRL_LIM_CHAR = '5f a1';
const LIM_LONG = '00000064 ffffff9c 0000005a 00000050 ffffffb0 ffffffa6';
const CTRL_LIM_LONG = '0000005f ffffffa1';
const LIM_FLOAT = '42c80000 c2c80000 42b40000 42a00000 c2a00000 c2b40000';
const CTRL_LIM_FLOAT = '42be0000 c2be0000';
const LIM_DOUBLE = '4059000000000000 c059000000000000 4056800000000000 4054000000000000 '
  + 'c054000000000000 c056800000000000';
const CTRL_LIM_DOUBLE = '4057c00000000000 c057c00000000000';
const ENUM_STRS = h('0002', cstr('Off', 26), cstr('On', 26), zeros(26 * 14));

/** Every type's one-element struct for SOURCE, unpadded. */
const EXPECTED_HEX: Record<number, string> = {
  [DbrType.STRING]: V_STRING,
  [DbrType.SHORT]: V_SHORT,
  [DbrType.FLOAT]: V_FLOAT,
  [DbrType.ENUM]: V_ENUM,
  [DbrType.CHAR]: V_CHAR,
  [DbrType.LONG]: V_LONG,
  [DbrType.DOUBLE]: V_DOUBLE,

  [DbrType.STS_STRING]: h(ALARM, V_STRING),
  [DbrType.STS_SHORT]: h(ALARM, V_SHORT),
  [DbrType.STS_FLOAT]: h(ALARM, V_FLOAT),
  [DbrType.STS_ENUM]: h(ALARM, V_ENUM),
  [DbrType.STS_CHAR]: h(ALARM, '00', V_CHAR),
  [DbrType.STS_LONG]: h(ALARM, V_LONG),
  [DbrType.STS_DOUBLE]: h(ALARM, '00000000', V_DOUBLE),

  [DbrType.TIME_STRING]: h(ALARM, STAMP, V_STRING),
  [DbrType.TIME_SHORT]: h(ALARM, STAMP, '0000', V_SHORT),
  [DbrType.TIME_FLOAT]: h(ALARM, STAMP, V_FLOAT),
  [DbrType.TIME_ENUM]: h(ALARM, STAMP, '0000', V_ENUM),
  [DbrType.TIME_CHAR]: h(ALARM, STAMP, '0000', '00', V_CHAR),
  [DbrType.TIME_LONG]: h(ALARM, STAMP, V_LONG),
  [DbrType.TIME_DOUBLE]: h(ALARM, STAMP, '00000000', V_DOUBLE),

  [DbrType.GR_STRING]: h(ALARM, V_STRING),
  [DbrType.GR_SHORT]: h(ALARM, UNITS, LIM_SHORT, V_SHORT),
  [DbrType.GR_FLOAT]: h(ALARM, PREC, '0000', UNITS, LIM_FLOAT, V_FLOAT),
  [DbrType.GR_ENUM]: h(ALARM, ENUM_STRS, V_ENUM),
  [DbrType.GR_CHAR]: h(ALARM, UNITS, LIM_CHAR, '00', V_CHAR),
  [DbrType.GR_LONG]: h(ALARM, UNITS, LIM_LONG, V_LONG),
  [DbrType.GR_DOUBLE]: h(ALARM, PREC, '0000', UNITS, LIM_DOUBLE, V_DOUBLE),

  [DbrType.CTRL_STRING]: h(ALARM, V_STRING),
  [DbrType.CTRL_SHORT]: h(ALARM, UNITS, LIM_SHORT, CTRL_LIM_SHORT, V_SHORT),
  [DbrType.CTRL_FLOAT]: h(ALARM, PREC, '0000', UNITS, LIM_FLOAT, CTRL_LIM_FLOAT, V_FLOAT),
  [DbrType.CTRL_ENUM]: h(ALARM, ENUM_STRS, V_ENUM),
  [DbrType.CTRL_CHAR]: h(ALARM, UNITS, LIM_CHAR, CTRL_LIM_CHAR, '00', V_CHAR),
  [DbrType.CTRL_LONG]: h(ALARM, UNITS, LIM_LONG, CTRL_LIM_LONG, V_LONG),
  [DbrType.CTRL_DOUBLE]: h(ALARM, PREC, '0000', UNITS, LIM_DOUBLE, CTRL_LIM_DOUBLE, V_DOUBLE),

  [DbrType.PUT_ACKT]: V_ENUM,
  [DbrType.PUT_ACKS]: V_ENUM,
  [DbrType.STSACK_STRING]: h('0003 0002 0001 0002', V_STRING),
  [DbrType.CLASS_NAME]: cstr('ai', 40),
};

/* ------------------------------------------------------------------ tests */

describe('DBR codec', () => {
  describe('type table', () => {
    it('knows exactly the types 0..38', () => {
      for (const t of ALL_TYPES) assert.equal(isValidDbrType(t), true, `type ${t}`);
      for (const t of [-1, 39, 40, 1.5, NaN, Infinity, 65535]) assert.equal(isValidDbrType(t), false, `type ${t}`);
    });

    it('gives the value type and family of every type', () => {
      const families: DbrFamily[] = ['plain', 'sts', 'time', 'gr', 'ctrl'];
      for (let f = 0; f < 5; f++) {
        for (let c = 0; c < 7; c++) {
          const t = f * 7 + c;
          assert.equal(valueTypeOf(t), NATIVE_BY_COLUMN[c], `valueTypeOf(${t})`);
          assert.equal(dbrFamily(t), families[f], `dbrFamily(${t})`);
        }
      }
      assert.equal(valueTypeOf(DbrType.PUT_ACKT), DbrType.ENUM);
      assert.equal(valueTypeOf(DbrType.PUT_ACKS), DbrType.ENUM);
      assert.equal(valueTypeOf(DbrType.STSACK_STRING), DbrType.STRING);
      assert.equal(valueTypeOf(DbrType.CLASS_NAME), DbrType.STRING);
      assert.equal(dbrFamily(DbrType.PUT_ACKT), 'put_ackt');
      assert.equal(dbrFamily(DbrType.PUT_ACKS), 'put_acks');
      assert.equal(dbrFamily(DbrType.STSACK_STRING), 'stsack');
      assert.equal(dbrFamily(DbrType.CLASS_NAME), 'class_name');
      expectCaError(() => valueTypeOf(wire(39)), 'CA_ERR_BAD_TYPE', Eca.BADTYPE);
      expectCaError(() => dbrFamily(wire(-1)), 'CA_ERR_BAD_TYPE', Eca.BADTYPE);
    });

    it('sizes every type as the reference table, for 1 and 3 elements', () => {
      for (const t of ALL_TYPES) {
        const [size, element] = STRUCT_SIZE[t];
        assert.equal(dbrPayloadSize(t, 1), size, `size of type ${t}`);
        assert.equal(dbrPayloadSize(t, 0), size, `count 0 of type ${t} counts as 1`);
        assert.equal(dbrPayloadSize(t, 3), size + 2 * element, `3 elements of type ${t}`);
      }
      // A few by hand: TIME_DOUBLE[3] = 24 + 16, GR_ENUM[3] = 424 + 4, STS_STRING[3] = 44 + 80.
      assert.equal(dbrPayloadSize(DbrType.TIME_DOUBLE, 3), 40);
      assert.equal(dbrPayloadSize(DbrType.GR_ENUM, 3), 428);
      assert.equal(dbrPayloadSize(DbrType.STS_STRING, 3), 124);
      assert.equal(dbrPayloadSize(DbrType.TIME_CHAR, 3), 18);
      expectCaError(() => dbrPayloadSize(wire(39), 1), 'CA_ERR_BAD_TYPE', Eca.BADTYPE);
    });

    it('pads to multiples of 8', () => {
      const cases: [number, number][] = [[0, 0], [1, 8], [6, 8], [8, 8], [9, 16], [44, 48], [424, 424], [428, 432]];
      for (const [n, padded] of cases) assert.equal(paddedSize(n), padded, `paddedSize(${n})`);
    });

    it('gives zero-filled padded payloads for failed reads', () => {
      for (const t of ALL_TYPES) {
        for (const count of [1, 3]) {
          const z = zeroPayload(t, count);
          const [size, element] = STRUCT_SIZE[t];
          assert.equal(z.length, Math.ceil((size + (count - 1) * element) / 8) * 8);
          assert.ok(z.every((b) => b === 0));
        }
      }
    });
  });

  describe('byte layout of one element (db_access.h)', () => {
    for (const t of ALL_TYPES) {
      it(`${DbrType[t]} (${t})`, () => {
        const expected = EXPECTED_HEX[t];
        const [size] = STRUCT_SIZE[t];
        assert.equal(expected.length, size * 2, 'the hand-written fixture has the table size');
        const buf = encodeDbr(t, 1, SOURCE);
        assert.equal(buf.length, Math.ceil(size / 8) * 8, 'padded length');
        assert.equal(buf.subarray(0, size).toString('hex'), expected);
        assert.ok(buf.subarray(size).every((b) => b === 0), 'padding is zero');
      });
    }
  });

  describe('byte layout of arrays', () => {
    const src: DbrSource = { ...SOURCE, value: [1, -2, 0.5] };

    it('TIME_DOUBLE[3]: 24-byte struct + 2 doubles', () => {
      const buf = encodeDbr(DbrType.TIME_DOUBLE, 3, src);
      assert.equal(buf.toString('hex'),
        h(ALARM, STAMP, '00000000', '3ff0000000000000', 'c000000000000000', '3fe0000000000000'));
    });

    it('TIME_CHAR[3]: 18 bytes padded to 24', () => {
      const buf = encodeDbr(DbrType.TIME_CHAR, 3, src);
      // 1 -> 01, -2 -> fe (u8 wrap), 0.5 -> 00.
      assert.equal(buf.toString('hex'), h(ALARM, STAMP, '0000', '00', '01 fe 00', zeros(6)));
    });

    it('STS_SHORT[3]: status, severity, 3 x i16, padded to 16', () => {
      const buf = encodeDbr(DbrType.STS_SHORT, 3, src);
      assert.equal(buf.toString('hex'), h(ALARM, '0001 fffe 0000', zeros(6)));
    });

    it('CTRL_LONG[3]: metadata once, then the elements', () => {
      const buf = encodeDbr(DbrType.CTRL_LONG, 3, src);
      assert.equal(buf.toString('hex'),
        h(ALARM, UNITS, LIM_LONG, CTRL_LIM_LONG, '00000001 fffffffe 00000000', zeros(0)));
      assert.equal(buf.length, 56);
    });

    it('STS_STRING[3]: 40-byte slots', () => {
      const buf = encodeDbr(DbrType.STS_STRING, 3, src);
      assert.equal(buf.toString('hex'),
        h(ALARM, cstr('1.000', 40), cstr('-2.000', 40), cstr('0.500', 40), zeros(4)));
    });

    it('fills elements beyond the value with zeros / empty strings', () => {
      const one = { ...SOURCE, value: [7] };
      assert.equal(encodeDbr(DbrType.LONG, 3, one).toString('hex'), h('00000007 00000000 00000000', zeros(4)));
      const strings: DbrSource = { ...SOURCE, nativeType: DbrType.STRING, value: ['a'] };
      assert.equal(encodeDbr(DbrType.STRING, 2, strings).toString('hex'), h(cstr('a', 40), zeros(40)));
      const empty = { ...SOURCE, value: [] };
      assert.equal(encodeDbr(DbrType.TIME_SHORT, 2, empty).toString('hex'), h(ALARM, STAMP, '0000 0000 0000', zeros(6)));
    });

    it('writes at most `count` elements when the value is longer', () => {
      const long = { ...SOURCE, value: [1, 2, 3, 4, 5] };
      assert.equal(encodeDbr(DbrType.SHORT, 2, long).toString('hex'), h('0001 0002', zeros(4)));
    });

    it('puts the class name in the first slot of CLASS_NAME', () => {
      assert.equal(encodeDbr(DbrType.CLASS_NAME, 2, SOURCE).toString('hex'), h(cstr('ai', 40), zeros(40)));
    });
  });

  describe('values converted from the native type', () => {
    const enumSource: DbrSource = { ...SOURCE, nativeType: DbrType.ENUM, value: [1] };

    it('serves enum labels as strings (TIME_STRING, STSACK_STRING)', () => {
      assert.equal(encodeDbr(DbrType.TIME_STRING, 1, enumSource).toString('hex'),
        h(ALARM, STAMP, cstr('On', 40), zeros(4)));
      assert.equal(encodeDbr(DbrType.STSACK_STRING, 1, enumSource).toString('hex'),
        h('0003 0002 0001 0002', cstr('On', 40)));
    });

    it('serves a string PV as a number, and refuses text that is none', () => {
      const text: DbrSource = { ...SOURCE, nativeType: DbrType.STRING, value: ['-1.5e2'] };
      assert.equal(encodeDbr(DbrType.DOUBLE, 1, text).toString('hex'), 'c062c00000000000');
      // An integer type takes the decimal integer the text starts with: -1 (softIoc).
      assert.equal(encodeDbr(DbrType.SHORT, 1, text).toString('hex'), h('ffff', zeros(6)));
      const bad: DbrSource = { ...SOURCE, nativeType: DbrType.STRING, value: ['idle'] };
      expectCaError(() => encodeDbr(DbrType.TIME_DOUBLE, 1, bad), 'CA_ERR_NO_CONVERT', Eca.NOCONVERT);
    });

    it('wraps out-of-range values and status fields instead of throwing', () => {
      const wild: DbrSource = {
        ...SOURCE, nativeType: DbrType.LONG, value: [70000, -1], status: -1, severity: 65537,
        timestamp: { secPastEpoch: -1, nsec: 2 ** 32 + 5 },
      };
      assert.equal(encodeDbr(DbrType.TIME_SHORT, 2, wild).toString('hex'),
        h('ffff 0001', 'ffffffff 00000005', '0000', '1170 ffff', zeros(6)));
      assert.equal(encodeDbr(DbrType.STS_CHAR, 2, wild).toString('hex'), h('ffff 0001', '00', '70 ff', zeros(1)));
    });

    it('writes GR_ENUM labels even when the PV is not an enum', () => {
      const buf = encodeDbr(DbrType.GR_ENUM, 1, { ...SOURCE, value: [1] });
      assert.equal(buf.subarray(4, 6).toString('hex'), '0002');
      assert.equal(buf.subarray(422, 424).toString('hex'), '0001');
    });

    it('keeps at most 16 enum labels', () => {
      const labels = Array.from({ length: 20 }, (_, i) => `s${i}`);
      const src: DbrSource = { ...SOURCE, nativeType: DbrType.ENUM, value: [3], metadata: { ...METADATA, enumStrings: labels } };
      const buf = encodeDbr(DbrType.CTRL_ENUM, 1, src);
      assert.equal(buf.readInt16BE(4), 16);
      assert.equal(buf.subarray(6 + 15 * 26, 6 + 16 * 26).toString('hex'), cstr('s15', 26));
      assert.deepEqual(decodeDbr(DbrType.CTRL_ENUM, 1, buf).metadata?.enumStrings, labels.slice(0, 16));
    });

    it('writes NaN limits into integer types as 0 and into float types as NaN', () => {
      const nan: DbrSource = { ...SOURCE, metadata: { ...METADATA, upperDisplayLimit: NaN } };
      assert.equal(encodeDbr(DbrType.GR_SHORT, 1, nan).subarray(12, 14).toString('hex'), '0000');
      assert.ok(Number.isNaN(encodeDbr(DbrType.GR_FLOAT, 1, nan).readFloatBE(16)));
      assert.ok(Number.isNaN(encodeDbr(DbrType.GR_DOUBLE, 1, nan).readDoubleBE(16)));
    });

    it('rejects an unknown type', () => {
      expectCaError(() => encodeDbr(wire(39), 1, SOURCE), 'CA_ERR_BAD_TYPE', Eca.BADTYPE);
      expectCaError(() => encodeDbr(wire(-1), 1, SOURCE), 'CA_ERR_BAD_TYPE', Eca.BADTYPE);
    });
  });

  describe('strings', () => {
    const withText = (s: string): DbrSource => ({ ...SOURCE, nativeType: DbrType.STRING, value: [s] });

    it('cuts values to 39 bytes, leaving a NUL', () => {
      const buf = encodeDbr(DbrType.STRING, 1, withText('x'.repeat(50)));
      assert.equal(buf.toString('hex'), h('78'.repeat(39), '00'));
    });

    it('never cuts a UTF-8 character in half', () => {
      // 'é' is c3 a9: 19 fit in 39 bytes, the 20th would need bytes 38 and 39.
      const buf = encodeDbr(DbrType.STRING, 1, withText('é'.repeat(20)));
      assert.equal(buf.toString('hex'), h('c3a9'.repeat(19), '0000'));
      assert.deepEqual(decodeDbr(DbrType.STRING, 1, buf).value, ['é'.repeat(19)]);
      // '€' is e2 82 ac: 13 fit exactly in 39.
      const euro = encodeDbr(DbrType.STRING, 1, withText('€'.repeat(14)));
      assert.equal(euro.toString('hex'), h('e282ac'.repeat(13), '00'));
    });

    it('cuts units to 7 bytes and enum labels to 25', () => {
      const src: DbrSource = {
        ...SOURCE, nativeType: DbrType.ENUM, value: [0],
        metadata: { ...METADATA, units: 'furlongs', enumStrings: ['A'.repeat(30), 'µ'.repeat(13)] },
      };
      const gr = encodeDbr(DbrType.GR_LONG, 1, src);
      assert.equal(gr.subarray(4, 12).toString('hex'), h(cstr('furlong', 8)));
      const en = encodeDbr(DbrType.GR_ENUM, 1, src);
      assert.equal(en.subarray(6, 32).toString('hex'), h('41'.repeat(25), '00'));
      // 'µ' is c2 b5: 12 fit in 25 bytes.
      assert.equal(en.subarray(32, 58).toString('hex'), h('c2b5'.repeat(12), '0000'));
    });

    it('decodes a slot up to its first NUL, ignoring what follows', () => {
      const buf = Buffer.alloc(40, 0x41);
      buf[3] = 0;
      assert.deepEqual(decodeDbr(DbrType.STRING, 1, buf).value, ['AAA']);
      // No NUL at all: the whole 40-byte slot.
      assert.deepEqual(decodeDbr(DbrType.STRING, 1, Buffer.alloc(40, 0x42)).value, ['B'.repeat(40)]);
    });
  });

  describe('decode', () => {
    it('decodes the hand-written TIME_DOUBLE struct', () => {
      const d = decodeDbr(DbrType.TIME_DOUBLE, 1, Buffer.from(EXPECTED_HEX[DbrType.TIME_DOUBLE], 'hex'));
      assert.deepEqual(d, {
        dbrType: DbrType.TIME_DOUBLE, valueType: DbrType.DOUBLE, value: [42.5], status: 3, severity: 2,
        timestamp: { secPastEpoch: 0x12345678, nsec: 0x0abcdef0 },
      });
    });

    it('decodes the hand-written CTRL_FLOAT struct with its metadata', () => {
      const d = decodeDbr(DbrType.CTRL_FLOAT, 1, Buffer.from(EXPECTED_HEX[DbrType.CTRL_FLOAT], 'hex'));
      assert.deepEqual(d, {
        dbrType: DbrType.CTRL_FLOAT, valueType: DbrType.FLOAT, value: [42.5], status: 3, severity: 2,
        metadata: { ...METADATA, enumStrings: [] },
      });
    });

    it('decodes GR_ENUM labels and no units/limits', () => {
      const d = decodeDbr(DbrType.GR_ENUM, 1, Buffer.from(EXPECTED_HEX[DbrType.GR_ENUM], 'hex'));
      assert.deepEqual(d.metadata, {
        units: '', precision: 0, upperDisplayLimit: 0, lowerDisplayLimit: 0, upperAlarmLimit: 0,
        upperWarningLimit: 0, lowerWarningLimit: 0, lowerAlarmLimit: 0, upperControlLimit: 0,
        lowerControlLimit: 0, enumStrings: ['Off', 'On'],
      });
      assert.deepEqual(d.value, [42]);
    });

    it('decodes STSACK_STRING status fields as unsigned', () => {
      const d = decodeDbr(DbrType.STSACK_STRING, 1, Buffer.from(h('ffff 0003 0001 0002', cstr('On', 40)), 'hex'));
      assert.deepEqual(d, {
        dbrType: DbrType.STSACK_STRING, valueType: DbrType.STRING, value: ['On'],
        status: 0xffff, severity: 3, ackt: 1, acks: 2,
      });
    });

    it('decodes STS status fields as signed', () => {
      const d = decodeDbr(DbrType.STS_CHAR, 1, Buffer.from('fffe8001aaff', 'hex'));
      assert.deepEqual(d, { dbrType: DbrType.STS_CHAR, valueType: DbrType.CHAR, value: [255], status: -2, severity: -32767 });
    });

    it('decodes a PUT_ACKS write', () => {
      assert.deepEqual(decodeDbr(DbrType.PUT_ACKS, 1, Buffer.from('0002000000000000', 'hex')),
        { dbrType: DbrType.PUT_ACKS, valueType: DbrType.ENUM, value: [2] });
    });

    it('rejects payloads shorter than the struct', () => {
      for (const t of ALL_TYPES) {
        const [size, element] = STRUCT_SIZE[t];
        expectCaError(() => decodeDbr(t, 1, Buffer.alloc(size - 1)), 'CA_ERR_BAD_SIZE', Eca.BADCOUNT);
        expectCaError(() => decodeDbr(t, 4, Buffer.alloc(size + 3 * element - 1)), 'CA_ERR_BAD_SIZE', Eca.BADCOUNT);
        assert.doesNotThrow(() => decodeDbr(t, 4, Buffer.alloc(size + 3 * element)));
      }
    });

    it('rejects unknown types', () => {
      expectCaError(() => decodeDbr(wire(39), 1, Buffer.alloc(1024)), 'CA_ERR_BAD_TYPE', Eca.BADTYPE);
      expectCaError(() => decodeDbr(wire(0xffff), 1, Buffer.alloc(1024)), 'CA_ERR_BAD_TYPE', Eca.BADTYPE);
    });

    it('only ever throws CaProtocolError, whatever the bytes, type and count', () => {
      fc.assert(fc.property(
        fc.uint8Array({ maxLength: 600 }),
        fc.oneof(fc.integer({ min: -3, max: 45 }), fc.integer(), fc.double()),
        fc.oneof(fc.integer({ min: -2, max: 40 }), fc.integer(), fc.double()),
        (bytes, dbrType, count) => {
          try {
            const d = decodeDbr(dbrType, count, Buffer.from(bytes));
            assert.ok(isValidDbrType(dbrType));
            assert.ok(d.value.length >= 1);
          } catch (e) {
            if (!(e instanceof CaProtocolError)) throw e;
            assert.ok(e.code === 'CA_ERR_BAD_TYPE' || e.code === 'CA_ERR_BAD_SIZE', e.code);
          }
        }), { numRuns: 3000 });
    });

    it('decodes any bytes of sufficient length', () => {
      fc.assert(fc.property(
        fc.integer({ min: 0, max: 38 }), fc.integer({ min: 1, max: 8 }), fc.uint8Array({ minLength: 600, maxLength: 700 }),
        (dbrType, count, bytes) => {
          const d = decodeDbr(dbrType, count, Buffer.from(bytes));
          assert.equal(d.value.length, count);
        }), { numRuns: 1000 });
    });
  });

  describe('round trip decode(encode(x))', () => {
    const textArb = (maxBytes: number): fc.Arbitrary<string> =>
      fc.string({ unit: 'binary', maxLength: maxBytes }).filter((s) =>
        !s.includes('\0') && Buffer.byteLength(s, 'utf8') <= maxBytes && Buffer.from(s, 'utf8').toString('utf8') === s);

    function elementArb(type: NativeType): fc.Arbitrary<string | number> {
      switch (type) {
        case DbrType.STRING: return textArb(39);
        case DbrType.SHORT: return fc.integer({ min: -32768, max: 32767 });
        case DbrType.ENUM: return fc.integer({ min: 0, max: 65535 });
        case DbrType.CHAR: return fc.integer({ min: 0, max: 255 });
        case DbrType.LONG: return fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
        case DbrType.FLOAT: return fc.float();
        default: return fc.double();
      }
    }

    /**
     * Metadata representable in the GR/CTRL fields of a type with value type
     * `type` (a FLOAT limit below FLT_MIN is held to it, so those are left out).
     */
    function metadataArb(type: NativeType): fc.Arbitrary<DbrMetadata> {
      const limit = type === DbrType.STRING ? fc.constant(0)
        : type === DbrType.FLOAT ? fc.float().filter((x) => x === 0 || !(Math.abs(x) < 1.1754943508222875e-38))
          : (elementArb(type) as fc.Arbitrary<number>);
      return fc.record({
        units: textArb(7),
        precision: fc.integer({ min: -32768, max: 32767 }),
        upperDisplayLimit: limit, lowerDisplayLimit: limit, upperAlarmLimit: limit, upperWarningLimit: limit,
        lowerWarningLimit: limit, lowerAlarmLimit: limit, upperControlLimit: limit, lowerControlLimit: limit,
        enumStrings: fc.array(textArb(25), { maxLength: 16 }),
      });
    }

    const caseArb = fc.integer({ min: 0, max: 38 }).chain((dbrType) => {
      const type = valueTypeOf(dbrType);
      const family = dbrFamily(dbrType);
      const statusArb = family === 'stsack' ? fc.integer({ min: 0, max: 65535 }) : fc.integer({ min: -32768, max: 32767 });
      return fc.integer({ min: 1, max: 20 }).chain((count) => fc.record({
        dbrType: fc.constant(dbrType),
        count: fc.constant(count),
        value: fc.array(elementArb(type), { minLength: 0, maxLength: count }),
        status: statusArb,
        severity: statusArb,
        secPastEpoch: fc.integer({ min: 0, max: 0xffffffff }),
        nsec: fc.integer({ min: 0, max: 999999999 }),
        metadata: metadataArb(type),
        ackt: fc.integer({ min: 0, max: 65535 }),
        acks: fc.integer({ min: 0, max: 65535 }),
        className: textArb(39),
      }));
    });

    it('gives back every field the type carries', () => {
      fc.assert(fc.property(caseArb, (c) => {
        const type = valueTypeOf(c.dbrType);
        const family = dbrFamily(c.dbrType);
        const src: DbrSource = {
          nativeType: type, value: c.value as number[] | string[], status: c.status, severity: c.severity,
          timestamp: { secPastEpoch: c.secPastEpoch, nsec: c.nsec }, metadata: c.metadata,
          ackt: c.ackt, acks: c.acks, className: c.className,
        };
        const buf = encodeDbr(c.dbrType, c.count, src);
        assert.equal(buf.length % 8, 0);
        assert.ok(buf.length - dbrPayloadSize(c.dbrType, c.count) < 8);

        const empty = type === DbrType.STRING ? '' : 0;
        const value: (string | number)[] = family === 'class_name' ? [c.className] : [...c.value];
        while (value.length < c.count) value.push(empty);

        const expected: DecodedDbr = { dbrType: c.dbrType, valueType: type, value: value as number[] | string[] };
        if (family !== 'plain' && family !== 'put_ackt' && family !== 'put_acks' && family !== 'class_name') {
          expected.status = c.status;
          expected.severity = c.severity;
        }
        if (family === 'stsack') {
          expected.ackt = c.ackt;
          expected.acks = c.acks;
        }
        if (family === 'time') expected.timestamp = { secPastEpoch: c.secPastEpoch, nsec: c.nsec };
        if (family === 'gr' || family === 'ctrl') {
          const m = c.metadata;
          const numeric = type !== DbrType.STRING && type !== DbrType.ENUM;
          const real = type === DbrType.FLOAT || type === DbrType.DOUBLE;
          const ctrl = numeric && family === 'ctrl';
          expected.metadata = {
            units: numeric ? m.units : '',
            precision: real ? m.precision : 0,
            upperDisplayLimit: numeric ? m.upperDisplayLimit : 0,
            lowerDisplayLimit: numeric ? m.lowerDisplayLimit : 0,
            upperAlarmLimit: numeric ? m.upperAlarmLimit : 0,
            upperWarningLimit: numeric ? m.upperWarningLimit : 0,
            lowerWarningLimit: numeric ? m.lowerWarningLimit : 0,
            lowerAlarmLimit: numeric ? m.lowerAlarmLimit : 0,
            upperControlLimit: ctrl ? m.upperControlLimit : 0,
            lowerControlLimit: ctrl ? m.lowerControlLimit : 0,
            enumStrings: type === DbrType.ENUM ? [...m.enumStrings] : [],
          };
        }
        assert.deepStrictEqual(decodeDbr(c.dbrType, c.count, buf), expected);
      }), { numRuns: 3000 });
    });

    it('encodes from any native type as it encodes the converted value', () => {
      const nativeArb = fc.constantFrom<NativeType>(S, I16, F32, E16, U8, I32, F64);
      fc.assert(fc.property(
        fc.integer({ min: 0, max: 37 }), nativeArb, fc.integer({ min: 1, max: 6 }),
        fc.array(fc.oneof(fc.integer({ min: -100000, max: 100000 }), fc.double({ noNaN: false })), { maxLength: 6 }),
        fc.integer({ min: -1, max: 20 }),
        (dbrType, nativeType, count, numbers, precision) => {
          const to = valueTypeOf(dbrType);
          const labels = ['zero', 'one', 'two'];
          // A string PV holds text that parses; other PVs hold numbers.
          const value = nativeType === DbrType.STRING ? numbers.map((n) => String(n)) : numbers;
          const metadata = { ...METADATA, precision, enumStrings: labels };
          if (nativeType === DbrType.STRING && to === DbrType.ENUM) return; // most numbers are no state
          let converted: number[] | string[];
          try {
            // The encoder converts the elements it sends: the first `count`.
            converted = convertValue(value.slice(0, count), nativeType, to, { enumStrings: labels, precision });
          } catch (err) {
            // Text holding an integer its type cannot: the encoder refuses it the same way.
            assert.throws(() => encodeDbr(dbrType, count, { ...SOURCE, nativeType, value, metadata }), { message: (err as Error).message });
            return;
          }
          const direct = encodeDbr(dbrType, count, { ...SOURCE, nativeType, value, metadata });
          const viaConvert = encodeDbr(dbrType, count, { ...SOURCE, nativeType: to, value: converted, metadata });
          assert.equal(direct.toString('hex'), viaConvert.toString('hex'));
        }), { numRuns: 2000 });
    });
  });
});

describe('EPICS timestamps', () => {
  it('counts from 1990-01-01 UTC', () => {
    assert.equal(EPICS_EPOCH_OFFSET, Date.UTC(1990, 0, 1) / 1000);
    assert.deepEqual(epicsTimestampFromDate(Date.UTC(1990, 0, 1)), { secPastEpoch: 0, nsec: 0 });
    // 2024-05-01T12:00:00.250Z: 1714564800 POSIX seconds.
    assert.deepEqual(epicsTimestampFromDate(1714564800250), { secPastEpoch: 1714564800 - 631152000, nsec: 250000000 });
  });

  it('keeps sub-millisecond fractions as nanoseconds', () => {
    assert.deepEqual(epicsTimestampFromDate(Date.UTC(2000, 0, 1) + 1.5), {
      secPastEpoch: 946684800 - 631152000, nsec: 1500000,
    });
  });

  it('clamps times the wire format cannot carry', () => {
    assert.deepEqual(epicsTimestampFromDate(0), { secPastEpoch: 0, nsec: 0 });
    assert.deepEqual(epicsTimestampFromDate(NaN), { secPastEpoch: 0, nsec: 0 });
    assert.deepEqual(epicsTimestampFromDate((631152000 + 2 ** 32) * 1000), { secPastEpoch: 0xffffffff, nsec: 999999999 });
  });

  it('converts back to milliseconds and ISO text', () => {
    const ts = { secPastEpoch: 1714564800 - 631152000, nsec: 123456789 };
    // f64 has ~0.2 us resolution at this magnitude.
    assert.ok(Math.abs(epicsTimestampToMs(ts) - 1714564800123 - 0.456789) < 1e-3);
    assert.equal(epicsTimestampToIso(ts), '2024-05-01T12:00:00.123456789Z');
    assert.equal(epicsTimestampToIso({ secPastEpoch: 0, nsec: 0 }), '1990-01-01T00:00:00.000000000Z');
    assert.equal(epicsTimestampToIso({ secPastEpoch: 0, nsec: 1500000000 }), '1990-01-01T00:00:01.500000000Z');
  });

  it('round-trips whole milliseconds', () => {
    fc.assert(fc.property(fc.integer({ min: 631152000000, max: 4000000000000 }), (ms) => {
      const ts = epicsTimestampFromDate(ms);
      assert.ok(ts.nsec >= 0 && ts.nsec < 1e9 && ts.nsec % 1e6 === 0);
      assert.equal(epicsTimestampToMs(ts), ms);
      assert.equal(epicsTimestampToIso(ts), `${new Date(ms).toISOString().slice(0, 23)}000000Z`);
    }));
  });

  it('reads the injected clock', () => {
    assert.deepEqual(epicsNow(() => 631152001002), { secPastEpoch: 1, nsec: 2000000 });
    const now = epicsNow();
    assert.ok(Math.abs(epicsTimestampToMs(now) - Date.now()) < 5000);
  });

  it('reads the wall clock to the microsecond, within the millisecond Date.now gives, never backwards between two settings of it', () => {
    let previous = 0;
    const fractions = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const before = Date.now();
      const t = realtimeMs();
      const after = Date.now();
      assert.ok(t >= before && t < after + 1, `${t} within [${before}, ${after + 1})`);
      assert.ok(t >= previous, `${t} after ${previous}`);
      previous = t;
      fractions.add(epicsNow().nsec % 1e6);
    }
    assert.ok(fractions.size > 100, `sub-millisecond parts seen: ${fractions.size}`);
  });
});
