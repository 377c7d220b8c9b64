/**
 * The per-type tables of record support for fields other than VAL
 * (recordtypes.ts) as field-support.ts reads them: units, precision, display,
 * control and alarm limits by field, recGbl's defaults, calc inputs that
 * follow their link, and the precision of a field's DBR_STRING text; then the
 * same through the database's field PVs and links.
 */
import { strict as assert } from 'node:assert';
import { DbrType } from '../../src/ca/protocol/constants';
import { decodeDbr, encodeDbr } from '../../src/ca/protocol/dbr';
import { describeField, textPrecision, typeRange, type FieldMeta } from '../../src/database/field-support';
import type { FieldDef } from '../../src/database/fields';
import type { RecordState } from '../../src/database/record-state';
import { RECORD_TYPES, type FieldValue, type RecordType } from '../../src/database/recordtypes';
import { buildDatabase, dbPv } from '../helpers/db-build';

function typeOf(name: string): RecordType {
  const t = RECORD_TYPES.get(name);
  assert.ok(t, `record type ${name}`);
  return t;
}

/** A record of `type` with these field values over the type's defaults. */
function recordOf(type: RecordType, values: Record<string, FieldValue>): RecordState {
  return { f: { ...type.defaults, ...values } };
}

function fieldOf(type: RecordType, name: string): FieldDef {
  const def = type.fields.get(name);
  assert.ok(def, `${type.name} has ${name}`);
  return def;
}

function meta(typeName: string, field: string, values: Record<string, FieldValue> = {}, link?: FieldMeta): FieldMeta {
  const type = typeOf(typeName);
  return describeField(type.fieldSupport, recordOf(type, values), fieldOf(type, field), () => link);
}

const NAN_ALARMS = { upperAlarm: NaN, upperWarning: NaN, lowerWarning: NaN, lowerAlarm: NaN };
const DOUBLE_RANGE = { high: 1e300, low: -1e300 };

describe('field support: record support of fields other than VAL, by record type', () => {
  const AI = { EGU: 'mm', PREC: 3, HOPR: 100, LOPR: -5 };

  it('ai: alarm limit fields show EGU, PREC and HOPR/LOPR; other DOUBLE fields the range of a DOUBLE', () => {
    assert.deepEqual(meta('ai', 'HIHI', AI), {
      units: 'mm', precision: 3, display: { high: 100, low: -5 }, control: { high: 100, low: -5 }, alarm: NAN_ALARMS,
    });
    assert.deepEqual(meta('ai', 'HOPR', AI), { units: 'mm', precision: 3, display: DOUBLE_RANGE, control: DOUBLE_RANGE, alarm: NAN_ALARMS });
    assert.deepEqual(meta('ai', 'ESLO', AI).display, DOUBLE_RANGE);
    assert.equal(meta('ai', 'ESLO', AI).units, 'mm');
  });

  it('ai: ASLO, AOFF and SMOO have no units; integer and menu fields neither, nor a precision', () => {
    for (const f of ['ASLO', 'AOFF', 'SMOO']) assert.equal(meta('ai', f, AI).units, '', f);
    const prec = meta('ai', 'PREC', AI);
    assert.equal(prec.units, '');
    assert.equal(prec.precision, undefined, 'dbAccess asks no precision of a SHORT');
    assert.deepEqual(prec.display, { high: 32767, low: -32768 });
    assert.deepEqual(meta('ai', 'ROFF', AI).control, { high: 4294967295, low: 0 });
    assert.deepEqual(meta('ai', 'SCAN', AI).display, { high: 0, low: 0 }, 'recGbl has no range for a menu');
  });

  it('a PREC outside 0..15 is 15 for fields other than VAL (recGblGetPrec)', () => {
    assert.equal(meta('ai', 'HOPR', { PREC: -1 }).precision, 15);
    assert.equal(meta('ai', 'HOPR', { PREC: 20 }).precision, 15);
    assert.equal(meta('ai', 'HOPR', { PREC: 15 }).precision, 15);
    assert.equal(meta('ai', 'HOPR', { PREC: 0 }).precision, 0);
  });

  it('ao: control limits are DRVH/DRVL for the value fields; IVOV has display limits only from HOPR/LOPR', () => {
    const ao = { EGU: 'V', PREC: 2, HOPR: 10, LOPR: 0, DRVH: 8, DRVL: 1 };
    assert.deepEqual(meta('ao', 'HIGH', ao).control, { high: 8, low: 1 });
    assert.deepEqual(meta('ao', 'OVAL', ao).display, { high: 10, low: 0 });
    assert.deepEqual(meta('ao', 'IVOV', ao).display, { high: 10, low: 0 });
    assert.deepEqual(meta('ao', 'IVOV', ao).control, DOUBLE_RANGE);
  });

  it('longin: EGU on LONG fields, no precision; longout: DRVH/DRVL as control limits only when DRVH > DRVL', () => {
    const li = meta('longin', 'HYST', { EGU: 'cnt', HOPR: 1000 });
    assert.equal(li.units, 'cnt');
    assert.equal(li.precision, undefined);
    assert.deepEqual(li.display, { high: 2147483647, low: -2147483648 });
    assert.deepEqual(meta('longout', 'HIHI', { HOPR: 100, LOPR: 0, DRVH: 50, DRVL: 5 }).control, { high: 50, low: 5 });
    assert.deepEqual(meta('longout', 'HIHI', { HOPR: 100, LOPR: 0, DRVH: 0, DRVL: 0 }).control, { high: 100, low: 0 });
  });

  it('bo: HIGH is in seconds with precision 2 and control limits 0..100000, and no display limits', () => {
    assert.deepEqual(meta('bo', 'HIGH'), { units: 's', precision: 2, control: { high: 100000, low: 0 } });
    assert.deepEqual(meta('bo', 'RVAL'), { units: '', control: { high: 4294967295, low: 0 } });
  });

  it('bi, mbbi, mbbo, stringin, lsi: no routine, so nothing', () => {
    assert.deepEqual(meta('bi', 'RVAL'), {});
    assert.deepEqual(meta('mbbi', 'ZRVL'), {});
    assert.deepEqual(meta('mbbo', 'NOBT'), {});
    assert.deepEqual(meta('stringin', 'SCAN'), {});
    assert.deepEqual(meta('lsi', 'SIZV'), {});
  });

  it('waveform: units on HOPR/LOPR only, NORD 0..NELM, BUSY 0..1, NELM the ULONG range, no alarm limits', () => {
    const wf = { EGU: 'A', PREC: 2, HOPR: 9, NELM: 10 };
    assert.deepEqual(meta('waveform', 'HOPR', wf), { units: 'A', precision: 2, display: DOUBLE_RANGE, control: DOUBLE_RANGE });
    assert.deepEqual(meta('waveform', 'NELM', wf), { units: '', display: { high: 4294967295, low: 0 }, control: { high: 4294967295, low: 0 } });
    assert.deepEqual(meta('waveform', 'NORD', wf).display, { high: 10, low: 0 });
    assert.deepEqual(meta('waveform', 'BUSY', wf).control, { high: 1, low: 0 });
  });

  it('calc: an input with a constant link has no units, the record\'s PREC as it is, display 0..0, control the DOUBLE range', () => {
    assert.deepEqual(meta('calc', 'A', { PREC: -1, EGU: 's', HOPR: 50 }), {
      units: '', precision: -1, display: { high: 0, low: 0 }, control: DOUBLE_RANGE, alarm: NAN_ALARMS,
    });
    assert.deepEqual(meta('calc', 'HYST', { PREC: 4, EGU: 's' }).units, 's');
  });

  it('calc: an input linked to a field takes that field\'s units, precision, display and alarm limits; LA too', () => {
    const target: FieldMeta = {
      units: 'mm', precision: 3, display: { high: 100, low: -5 },
      alarm: { upperAlarm: 90, upperWarning: NaN, lowerWarning: NaN, lowerAlarm: NaN },
    };
    for (const f of ['A', 'LA']) {
      assert.deepEqual(meta('calc', f, { PREC: 1, EGU: 's' }, target), {
        units: 'mm', precision: 3, display: { high: 100, low: -5 }, control: DOUBLE_RANGE, alarm: target.alarm,
      }, f);
    }
    // A field without a precision of its own (an integer) reads as 0, dbGet's zeroed buffer.
    assert.equal(meta('calc', 'B', { PREC: 1 }, { units: 'cnt' }).precision, 0);
  });

  it('calcout: ODLY is in seconds, precision 2, display from 0, control 0..100000', () => {
    assert.deepEqual(meta('calcout', 'ODLY', { PREC: 1, EGU: 'x' }), {
      units: 's', precision: 2, display: { high: 1e300, low: 0 }, control: { high: 100000, low: 0 }, alarm: NAN_ALARMS,
    });
  });

  it('the range of each field type (getMaxRangeValues)', () => {
    assert.deepEqual(typeRange('CHAR'), { high: 127, low: -128 });
    assert.deepEqual(typeRange('UCHAR'), { high: 255, low: 0 });
    assert.deepEqual(typeRange('USHORT'), { high: 65535, low: 0 });
    assert.deepEqual(typeRange('FLOAT'), { high: 1e30, low: -1e30 });
    assert.deepEqual(typeRange('STRING'), { high: 0, low: 0 });
  });

  it('DBR_STRING precision: what get_precision gives, 6 without one, none for an integer field', () => {
    const ai = typeOf('ai');
    assert.equal(textPrecision(ai.fieldSupport, recordOf(ai, { PREC: 3 }), fieldOf(ai, 'HOPR')), 3);
    assert.equal(textPrecision(ai.fieldSupport, recordOf(ai, { PREC: -1 }), fieldOf(ai, 'HOPR')), 15);
    assert.ok(Number.isNaN(textPrecision(ai.fieldSupport, recordOf(ai, {}), fieldOf(ai, 'ROFF'))));
    const bo = typeOf('bo');
    assert.equal(textPrecision(bo.fieldSupport, recordOf(bo, {}), fieldOf(bo, 'HIGH')), 2);
    assert.equal(textPrecision({}, { f: {} }, { name: 'X', type: 'DOUBLE' }), 6);
  });
});

describe('field support through the database: field PVs and links', () => {
  const db = buildDatabase(`
record(ai, "t:ai") { field(EGU, "mm") field(PREC, "3") field(HOPR, "100") field(LOPR, "-5") field(HIHI, "90") field(HHSV, "MAJOR") field(ESLO, "2") }
record(calc, "t:lk") { field(INPA, "t:ai") field(INPB, "t:ai.HOPR") field(PREC, "1") }
record(waveform, "t:wf") { field(NELM, "10") field(FTVL, "DOUBLE") }
record(stringin, "t:str") { field(INP, "t:ai.HOPR") field(PINI, "YES") }
`, 'field-support.db');

  function asString(name: string): string {
    const snap = dbPv(db, name).snapshot();
    return String(decodeDbr(DbrType.STRING, 1, encodeDbr(DbrType.STRING, 1, snap)).value[0]);
  }

  it('ESLO is a field of ai; DOUBLE fields read as DBR_STRING with PREC, ULONG ones as integers', () => {
    assert.equal(asString('t:ai.ESLO'), '2.000');
    assert.equal(asString('t:ai.HOPR'), '100.000');
    assert.equal(asString('t:wf.NELM'), '10');
  });

  it('GR/CTRL metadata of a field PV, and of a calc input linked to a record and to a field', () => {
    const hihi = dbPv(db, 't:ai.HIHI').snapshot().metadata;
    assert.equal(hihi.units, 'mm');
    assert.equal(hihi.upperDisplayLimit, 100);
    assert.ok(Number.isNaN(hihi.upperAlarmLimit));
    const a = dbPv(db, 't:lk.A').snapshot().metadata;
    assert.deepEqual([a.units, a.precision, a.upperDisplayLimit, a.upperAlarmLimit, a.upperControlLimit], ['mm', 3, 100, 90, 1e300]);
    const b = dbPv(db, 't:lk.B').snapshot().metadata;
    assert.deepEqual([b.units, b.precision, b.upperDisplayLimit], ['mm', 3, 1e300]);
    assert.equal(asString('t:lk.A'), '0.000');
  });

  it('a link that reads a DOUBLE field into a string converts it with that field\'s precision', () => {
    assert.equal(asString('t:str'), '100.000');
  });
});
