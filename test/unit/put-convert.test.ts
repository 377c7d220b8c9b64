/**
 * Writes to numeric fields converted by the field's own type (dbPut's
 * conversions). Expected values are what softIoc 7.0.8 stores for the same
 * caput (text) or DBR_LONG/DBR_DOUBLE put (numbers), on x86-64.
 */
import { strict as assert } from 'node:assert';
import { DbrType, Eca } from '../../src/ca/protocol/constants';
import { WriteError } from '../../src/ca/pv';
import { putNumber, putText, type NumericDbf } from '../../src/database/put-convert';

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
});
