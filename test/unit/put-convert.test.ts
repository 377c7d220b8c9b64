/**
 * Writes to numeric fields converted by the field's own type (dbPut's
 * conversions). Expected values are what softIoc 7.0.8 stores for the same
 * caput (text) or DBR_LONG/DBR_DOUBLE put (numbers), on x86-64.
 */
import { strict as assert } from 'node:assert';
import { DbrType, Eca } from '../../src/ca/protocol/constants';
import { WriteError } from '../../src/ca/pv';
import { putNumber, putNumberElements, putText, putTextElements, type NumericDbf } from '../../src/database/put-convert';

function refused(dbf: NumericDbf, text: string): void {
  assert.throws(() => putText(dbf, 'r.F', text, 7), (e: unknown) => {
    assert.ok(e instanceof WriteError, String(e));
    assert.equal(e.eca, Eca.PUTFAIL);
    assert.equal(e.code, 'WRITE_ERR_BAD_NUMBER');
    assert.ok(e.message.startsWith(`r.F: "${text}"`), e.message);
    return true;
  }, `${dbf} "${text}" should fail`);
}

describe('writes to numeric fields by the field\'s type', () => {
  it('USHORT: a decimal integer at the start, up to 65535; a negative one counts from the top', () => {
    const cases: [string, number][] = [
      ['5', 5], ['65535', 65535], ['-1', 65535], ['-65535', 1], ['1.5', 1], ['0x10', 0], [' 12abc', 12], ['1e3', 1], ['', 0], ['-0', 0],
    ];
    for (const [text, v] of cases) assert.equal(putText('USHORT', 'r.F', text, 7), v, text);
    for (const text of ['70000', '65536', '-65536', 'abc', ' ', '99999999999999999999999']) refused('USHORT', text);
  });

  it('UCHAR, SHORT, LONG and CHAR: their ranges', () => {
    assert.equal(putText('UCHAR', 'r.F', '255', 0), 255);
    assert.equal(putText('UCHAR', 'r.F', '-1', 0), 255);
    assert.equal(putText('UCHAR', 'r.F', '-255', 0), 1);
    refused('UCHAR', '256');
    refused('UCHAR', '-256');
    assert.equal(putText('SHORT', 'r.F', '-32768', 0), -32768);
    refused('SHORT', '32768');
    refused('SHORT', '-32769');
    assert.equal(putText('LONG', 'r.F', '2147483647', 0), 2147483647);
    assert.equal(putText('LONG', 'r.F', '1e3', 0), 1);
    refused('LONG', '2147483648');
    refused('LONG', '-2147483649');
    assert.equal(putText('CHAR', 'r.F', '-128', 0), -128);
    refused('CHAR', '128');
  });

  it('ULONG: a fraction or exponent read as a double when it fits 0..4294967295, else the integer before it', () => {
    const cases: [string, number][] = [
      ['4294967295', 4294967295], ['-1', 4294967295], ['1e3', 1000], ['1.5', 1], ['.5', 0], ['-.5', 7], ['1e10', 1],
      [' 12abc', 12], ['0x10', 0], ['-4294967295', 1], ['4.294967295e9', 4294967295], ['4.294967296e9', 4], ['5e9', 5],
      ['2.5e0', 2], ['nan', 7], ['inf', 7],
    ];
    for (const [text, v] of cases) assert.equal(putText('ULONG', 'r.F', text, 7), v, text);
    refused('ULONG', '4294967296');
    refused('ULONG', 'abc');
  });

  it('DOUBLE and FLOAT: strtod\'s overflow and underflow fail', () => {
    assert.equal(putText('DOUBLE', 'r.F', 'inf', 0), Infinity);
    assert.equal(putText('DOUBLE', 'r.F', '0x10', 0), 16);
    assert.equal(putText('DOUBLE', 'r.F', ' 7x', 0), 7);
    assert.equal(putText('DOUBLE', 'r.F', '1e308', 0), 1e308);
    assert.equal(putText('DOUBLE', 'r.F', '0e-999', 0), 0);
    for (const text of ['1e400', '1e-310', '-1e-310', '1e-400', 'x']) refused('DOUBLE', text);
    assert.equal(putText('FLOAT', 'r.F', '0.1', 0), Math.fround(0.1));
    assert.equal(putText('FLOAT', 'r.F', '-1e-40', 0), Math.fround(-1e-40));
    for (const text of ['1e39', '3.4028234663852886e38', '1e-40']) refused('FLOAT', text);
  });

  it('numbers are C casts: integers keep their low bits, doubles go through int32 (int64 for ULONG)', () => {
    assert.equal(putNumber('USHORT', 70000, DbrType.LONG), 4464);
    assert.equal(putNumber('USHORT', -1, DbrType.LONG), 65535);
    assert.equal(putNumber('USHORT', 70000.9, DbrType.DOUBLE), 4464);
    assert.equal(putNumber('USHORT', 3e9, DbrType.DOUBLE), 0);
    assert.equal(putNumber('SHORT', 40000, DbrType.LONG), -25536);
    assert.equal(putNumber('UCHAR', 300, DbrType.SHORT), 44);
    assert.equal(putNumber('CHAR', 200, DbrType.CHAR), -56);
    assert.equal(putNumber('LONG', 3e9, DbrType.DOUBLE), -2147483648);
    assert.equal(putNumber('LONG', NaN, DbrType.DOUBLE), -2147483648);
    assert.equal(putNumber('ULONG', -1, DbrType.LONG), 4294967295);
    assert.equal(putNumber('ULONG', -1.5, DbrType.DOUBLE), 4294967295);
    assert.equal(putNumber('ULONG', 5e9, DbrType.DOUBLE), 705032704);
    assert.equal(putNumber('ULONG', 1e20, DbrType.DOUBLE), 0);
    assert.equal(putNumber('DOUBLE', 0.1, DbrType.FLOAT), Math.fround(0.1));
    assert.equal(putNumber('FLOAT', 1e300, DbrType.DOUBLE), 3.4028234663852886e38);
    // A value already of the field's type stays as it is.
    for (const [dbf, v, from] of [['USHORT', 65535, DbrType.LONG], ['ULONG', 4294967295, DbrType.DOUBLE], ['CHAR', -5, DbrType.CHAR]] as const) {
      assert.equal(putNumber(dbf, v, from), v);
    }
  });

  it('UINT64 takes a double as x86-64 casts it; a FLOAT written to a FLOAT is a copy', () => {
    assert.equal(putNumber('UINT64', -1, DbrType.DOUBLE), 2 ** 64 - 1);
    assert.equal(putNumber('UINT64', -3e9, DbrType.DOUBLE), 2 ** 64 - 3e9);
    assert.equal(putNumber('UINT64', 2 ** 63, DbrType.DOUBLE), 2 ** 63);
    for (const v of [NaN, -Infinity, -(2 ** 63) - 4096]) assert.equal(putNumber('UINT64', v, DbrType.DOUBLE), 2 ** 63, String(v));
    for (const v of [Infinity, 2 ** 64, 1e40]) assert.equal(putNumber('UINT64', v, DbrType.DOUBLE), 0, String(v));
    assert.equal(putNumber('FLOAT', Math.fround(1e-40), DbrType.FLOAT), Math.fround(1e-40));
    assert.equal(putNumber('FLOAT', 1e-40, DbrType.DOUBLE), 1.1754943508222875e-38);
  });
});

describe('writes to arrays by the element type', () => {
  it('numbers: each element cast, none refused', () => {
    assert.deepEqual(Array.from(putNumberElements('USHORT', [70000, -1, 1.7, -2.5], DbrType.DOUBLE)), [4464, 65535, 1, 65534]);
    assert.deepEqual(Array.from(putNumberElements('ULONG', [-3e9, NaN, 4294967295], DbrType.DOUBLE)), [1294967296, 0, 4294967295]);
    assert.deepEqual(Array.from(putNumberElements('CHAR', [255, 128], DbrType.CHAR)), [-1, -128]);
    assert.deepEqual(Array.from(putNumberElements('FLOAT', [1e40], DbrType.DOUBLE)), [3.4028234663852886e38]);
  });

  it('text: each element parsed by the type; all taken', () => {
    assert.deepEqual(putTextElements('USHORT', 'r.VAL', ['3e9', '-3e9', '65535.9', '1e40'], []), { values: [3, 65533, 65535, 1] });
    assert.deepEqual(putTextElements('ULONG', 'r.VAL', ['nan', '-70000', '0.5', ''], [9, 9]), { values: [9, 4294897296, 0, 0] });
    // "nan" in a ULONG keeps the element's value, 0 beyond the array.
    assert.deepEqual(putTextElements('ULONG', 'r.VAL', ['1', 'nan', 'nan'], [5, 6]).values, [1, 6, 0]);
  });

  it('text: the first element refused ends the write with ECA_PUTFAIL, naming it; the elements before it are kept', () => {
    const out = putTextElements('USHORT', 'r.VAL', ['1', '2', '70000', '3'], []);
    assert.deepEqual(out.values, [1, 2]);
    assert.ok(out.error instanceof WriteError);
    assert.equal(out.error.eca, Eca.PUTFAIL);
    assert.ok(out.error.message.startsWith('r.VAL[2]: "70000"'), out.error.message);
    assert.deepEqual(putTextElements('DOUBLE', 'r.VAL', ['abc', '1'], []).values, []);
    assert.deepEqual(putTextElements('FLOAT', 'r.VAL', ['inf', '1e40'], []).values, [Infinity]);
  });

  it('text: a ULONG element that fails as a double after its integer part keeps that integer (as dbPut leaves it)', () => {
    const out = putTextElements('ULONG', 'r.VAL', ['inf', '-inf', '1e-40', '1e400'], [9, 9, 9, 9]);
    assert.deepEqual(out.values, [9, 9, 0, 1]);
    assert.ok(out.error instanceof WriteError);
    // An integer beyond 32 bits is refused before the double is read: nothing is kept of it.
    assert.deepEqual(putTextElements('ULONG', 'r.VAL', ['4294967296e400'], []).values, []);
    // The scalar rule is unchanged: the write fails.
    assert.throws(() => putText('ULONG', 'r.F', '1e400', 7), WriteError);
  });
});
