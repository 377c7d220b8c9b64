/**
 * The record types service-ioc supports: their fields and the parts of their
 * record support that clients can see (alarms, monitors, metadata), after the
 * rset routines in epics-base modules/database/src/std/rec/*.c.
 */
import { AlarmSeverity, AlarmStatus, DbrType, type NativeType } from '../ca/protocol/constants';
import { EMPTY_METADATA, type DbrMetadata } from '../ca/protocol/types';
import {
  menuAlarmSevr, menuAlarmStat, menuFtype, menuIvoa, menuOmsl, menuPini, menuPost, menuPriority, menuScan, menuYesNo,
  nativeTypeOfDbf, type DbfType, type FieldDef,
} from './fields';
import type { RecordState } from './record-state';

export type RecordKind = 'input' | 'output';

export interface RecordType {
  readonly name: string;
  readonly kind: RecordKind;
  readonly fields: ReadonlyMap<string, FieldDef>;
  /** Field values every new record starts from (the prototype of its field store). */
  readonly defaults: Readonly<Record<string, FieldValue>>;
  /** DBR type and largest count of VAL for one record. */
  valueType(rec: RecordState): NativeType;
  valueCount(rec: RecordState): number;
  /** Metadata served with VAL (GR/CTRL types). */
  metadata(rec: RecordState): DbrMetadata;
  /** Set NSTA/NSEV from VAL (the record's checkAlarms). */
  checkAlarms(rec: RecordState): void;
  /** DBE_VALUE / DBE_LOG bits for a processed VAL (deadbands), updating MLST/ALST. */
  valueMask(rec: RecordState, changed: boolean): number;
  /** An ENUM VAL as DBR_STRING (the rset get_enum_str), for the types that have one. */
  enumString?(rec: RecordState, index: number): string;
}

export type FieldValue = number | string | ArrayLike<number> | readonly string[];

const sevr = menuAlarmSevr;

function f(name: string, type: DbfType, extra: Partial<FieldDef> = {}): FieldDef {
  return { name, type, ...extra };
}

/** dbCommon.dbd: fields every record has. */
const COMMON: FieldDef[] = [
  f('NAME', 'STRING', { size: 61, readOnly: true }),
  f('DESC', 'STRING', { size: 41 }),
  f('ASG', 'STRING', { size: 29 }),
  f('SCAN', 'MENU', { menu: menuScan }),
  f('PINI', 'MENU', { menu: menuPini }),
  f('PHAS', 'SHORT'),
  f('EVNT', 'STRING', { size: 40 }),
  f('TSE', 'SHORT'),
  f('TSEL', 'INLINK'),
  f('DTYP', 'DEVICE', { readOnly: true }),
  f('DISV', 'SHORT', { initial: '1' }),
  f('DISA', 'SHORT'),
  f('SDIS', 'INLINK'),
  f('DISS', 'MENU', { menu: sevr }),
  f('PROC', 'UCHAR', { process: true }),
  f('STAT', 'MENU', { menu: menuAlarmStat, readOnly: true, initial: 'UDF' }),
  f('SEVR', 'MENU', { menu: sevr, readOnly: true, initial: 'INVALID' }),
  f('NSTA', 'MENU', { menu: menuAlarmStat, readOnly: true }),
  f('NSEV', 'MENU', { menu: sevr, readOnly: true }),
  f('ACKS', 'MENU', { menu: sevr, readOnly: true }),
  f('ACKT', 'MENU', { menu: menuYesNo, initial: 'YES' }),
  f('UDF', 'UCHAR', { initial: '1' }),
  f('UDFS', 'MENU', { menu: sevr, initial: 'INVALID' }),
  f('PACT', 'UCHAR', { readOnly: true }),
  f('PUTF', 'UCHAR', { readOnly: true }),
  f('LCNT', 'UCHAR', { readOnly: true }),
  f('TPRO', 'UCHAR'),
  f('PRIO', 'MENU', { menu: menuPriority }),
  f('FLNK', 'FWDLINK'),
  f('RTYP', 'STRING', { size: 40, readOnly: true }),
];

const ALARM_SEVERITIES = (prefix: string[]): FieldDef[] => prefix.map((p) => f(p, 'MENU', { menu: sevr, property: false }));

function analogFields(valType: DbfType, output: boolean): FieldDef[] {
  const lim = valType;
  return [
    f('VAL', valType, { process: true }),
    f(output ? 'OUT' : 'INP', output ? 'OUTLINK' : 'INLINK'),
    f('EGU', 'STRING', { size: 16, property: true }),
    f('HOPR', lim, { property: true }), f('LOPR', lim, { property: true }),
    f('HIHI', lim, { property: true }), f('LOLO', lim, { property: true }),
    f('HIGH', lim, { property: true }), f('LOW', lim, { property: true }),
    ...ALARM_SEVERITIES(['HHSV', 'LLSV', 'HSV', 'LSV']),
    f('HYST', lim), f('ADEL', lim), f('MDEL', lim),
    f('LALM', lim, { readOnly: true }), f('ALST', lim, { readOnly: true }), f('MLST', lim, { readOnly: true }),
    ...(valType === 'DOUBLE' ? [f('PREC', 'SHORT', { property: true }), f('RVAL', 'LONG'), f('ORAW', 'LONG', { readOnly: true }), f('SMOO', 'DOUBLE'), f('AOFF', 'DOUBLE'), f('ASLO', 'DOUBLE', { initial: '1' })] : []),
    ...(output ? [
      f('DRVH', lim, { property: true }), f('DRVL', lim, { property: true }),
      f('DOL', 'INLINK'), f('OMSL', 'MENU', { menu: menuOmsl }),
      f('IVOA', 'MENU', { menu: menuIvoa }), f('IVOV', lim),
      ...(valType === 'DOUBLE' ? [f('OROC', 'DOUBLE'), f('OVAL', 'DOUBLE', { readOnly: true })] : []),
    ] : []),
  ];
}

function binaryFields(output: boolean): FieldDef[] {
  return [
    f('VAL', 'ENUM', { process: true }),
    f(output ? 'OUT' : 'INP', output ? 'OUTLINK' : 'INLINK'),
    f('ZNAM', 'STRING', { size: 26, property: true }), f('ONAM', 'STRING', { size: 26, property: true }),
    ...ALARM_SEVERITIES(['ZSV', 'OSV', 'COSV']),
    f('RVAL', 'ULONG'), f('ORAW', 'ULONG', { readOnly: true }), f('MASK', 'ULONG'),
    f('LALM', 'USHORT', { readOnly: true }), f('MLST', 'USHORT', { readOnly: true }),
    ...(output ? [f('DOL', 'INLINK'), f('OMSL', 'MENU', { menu: menuOmsl }), f('HIGH', 'DOUBLE'), f('IVOA', 'MENU', { menu: menuIvoa }), f('IVOV', 'USHORT')] : []),
  ];
}

export const MBB_PREFIXES = ['ZR', 'ON', 'TW', 'TH', 'FR', 'FV', 'SX', 'SV', 'EI', 'NI', 'TE', 'EL', 'TV', 'TT', 'FT', 'FF'] as const;

function multiBitFields(output: boolean): FieldDef[] {
  return [
    f('VAL', 'ENUM', { process: true }),
    f(output ? 'OUT' : 'INP', output ? 'OUTLINK' : 'INLINK'),
    ...MBB_PREFIXES.map((p) => f(`${p}ST`, 'STRING', { size: 26, property: true })),
    ...MBB_PREFIXES.map((p) => f(`${p}VL`, 'ULONG')),
    ...ALARM_SEVERITIES(MBB_PREFIXES.map((p) => `${p}SV`)),
    ...ALARM_SEVERITIES(['UNSV', 'COSV']),
    f('NOBT', 'USHORT'), f('RVAL', 'ULONG'), f('ORAW', 'ULONG', { readOnly: true }), f('MASK', 'ULONG'), f('SHFT', 'USHORT'),
    f('LALM', 'USHORT', { readOnly: true }), f('MLST', 'USHORT', { readOnly: true }),
    ...(output ? [f('DOL', 'INLINK'), f('OMSL', 'MENU', { menu: menuOmsl }), f('IVOA', 'MENU', { menu: menuIvoa }), f('IVOV', 'USHORT')] : []),
  ];
}

function stringFields(output: boolean): FieldDef[] {
  return [
    f('VAL', 'STRING', { size: 40, process: true }),
    f('OVAL', 'STRING', { size: 40, readOnly: true }),
    f(output ? 'OUT' : 'INP', output ? 'OUTLINK' : 'INLINK'),
    f('MPST', 'MENU', { menu: menuPost }), f('APST', 'MENU', { menu: menuPost }),
    ...(output ? [f('DOL', 'INLINK'), f('OMSL', 'MENU', { menu: menuOmsl }), f('IVOA', 'MENU', { menu: menuIvoa }), f('IVOV', 'STRING', { size: 40 })] : []),
  ];
}

function longStringFields(output: boolean): FieldDef[] {
  return [
    f('VAL', 'STRING', { process: true }),
    f('SIZV', 'USHORT', { initial: '41', readOnly: true }),
    f('LEN', 'ULONG', { readOnly: true }),
    f(output ? 'OUT' : 'INP', output ? 'OUTLINK' : 'INLINK'),
    f('MPST', 'MENU', { menu: menuPost }), f('APST', 'MENU', { menu: menuPost }),
    ...(output ? [f('DOL', 'INLINK'), f('OMSL', 'MENU', { menu: menuOmsl })] : []),
  ];
}

function waveformFields(): FieldDef[] {
  return [
    f('VAL', 'DOUBLE', { process: true }),
    f('INP', 'INLINK'),
    f('NELM', 'ULONG', { initial: '1', readOnly: true }),
    f('FTVL', 'MENU', { menu: menuFtype, readOnly: true, initial: 'STRING' }),
    f('NORD', 'ULONG', { readOnly: true }),
    f('EGU', 'STRING', { size: 16, property: true }), f('HOPR', 'DOUBLE', { property: true }), f('LOPR', 'DOUBLE', { property: true }),
    f('PREC', 'SHORT', { property: true }),
    f('MPST', 'MENU', { menu: menuPost }), f('APST', 'MENU', { menu: menuPost }), f('BUSY', 'SHORT'),
  ];
}

/** Initial stored value for a field (menus store their index, numbers are numbers). */
export function initialValue(def: FieldDef): FieldValue {
  const text = def.initial ?? '';
  if (def.type === 'MENU') {
    const i = text === '' ? 0 : def.menu!.indexOf(text);
    return i < 0 ? 0 : i;
  }
  if (nativeTypeOfDbf(def.type) === DbrType.STRING) return text;
  return text === '' ? 0 : Number(text);
}

// ------------------------------------------------------------------ alarm and monitor helpers

/** recGblSetSevr: raise the pending alarm if this one is more severe. */
export function raiseAlarm(rec: RecordState, stat: number, sev: number): void {
  if (sev > (rec.f.NSEV as number)) {
    rec.f.NSEV = sev;
    rec.f.NSTA = stat;
  }
}

/** recGblCheckDeadband: whether `value` moved more than `deadband` from `last`. */
export function outsideDeadband(last: number, value: number, deadband: number): boolean {
  if (Number.isNaN(last) !== Number.isNaN(value)) return true;
  if (Number.isNaN(value)) return false;
  if (!Number.isFinite(last) || !Number.isFinite(value)) return last !== value;
  return !(Math.abs(last - value) <= deadband);
}

/** Limit alarms with hysteresis, as aiRecord.c / longinRecord.c checkAlarms. */
function limitAlarms(rec: RecordState): void {
  const r = rec.f;
  if (r.UDF) {
    raiseAlarm(rec, AlarmStatus.UDF, r.UDFS as number);
    return;
  }
  const val = r.VAL as number;
  const hyst = r.HYST as number;
  const lalm = r.LALM as number;
  const hihi = r.HIHI as number, lolo = r.LOLO as number, high = r.HIGH as number, low = r.LOW as number;
  const hhsv = r.HHSV as number, llsv = r.LLSV as number, hsv = r.HSV as number, lsv = r.LSV as number;
  if (hhsv && (val >= hihi || (lalm === hihi && val >= hihi - hyst))) {
    raiseAlarm(rec, AlarmStatus.HIHI, hhsv);
    if (r.NSEV === hhsv) r.LALM = hihi;
    return;
  }
  if (llsv && (val <= lolo || (lalm === lolo && val <= lolo + hyst))) {
    raiseAlarm(rec, AlarmStatus.LOLO, llsv);
    if (r.NSEV === llsv) r.LALM = lolo;
    return;
  }
  if (hsv && (val >= high || (lalm === high && val >= high - hyst))) {
    raiseAlarm(rec, AlarmStatus.HIGH, hsv);
    if (r.NSEV === hsv) r.LALM = high;
    return;
  }
  if (lsv && (val <= low || (lalm === low && val <= low + hyst))) {
    raiseAlarm(rec, AlarmStatus.LOW, lsv);
    if (r.NSEV === lsv) r.LALM = low;
    return;
  }
  r.LALM = val;
}

function analogMask(rec: RecordState): number {
  const r = rec.f;
  const val = r.VAL as number;
  let mask = 0;
  if (outsideDeadband(r.MLST as number, val, r.MDEL as number)) {
    mask |= 1;
    r.MLST = val;
  }
  if (outsideDeadband(r.ALST as number, val, r.ADEL as number)) {
    mask |= 2;
    r.ALST = val;
  }
  return mask;
}

function changedMask(_rec: RecordState, changed: boolean): number {
  return changed ? 3 : 0;
}

/** MPST/APST: "On Change" (0) or "Always" (1). */
function postMask(rec: RecordState, changed: boolean): number {
  return (changed || rec.f.MPST === 1 ? 1 : 0) | (changed || rec.f.APST === 1 ? 2 : 0);
}

function udfOnly(rec: RecordState): void {
  if (rec.f.UDF) raiseAlarm(rec, AlarmStatus.UDF, rec.f.UDFS as number);
}

function analogMetadata(rec: RecordState, output: boolean, integer: boolean): DbrMetadata {
  const r = rec.f;
  const hopr = r.HOPR as number, lopr = r.LOPR as number;
  const drvh = output ? (r.DRVH as number) : 0, drvl = output ? (r.DRVL as number) : 0;
  return {
    units: r.EGU as string,
    precision: integer ? 0 : (r.PREC as number),
    upperDisplayLimit: hopr, lowerDisplayLimit: lopr,
    // A limit whose severity is NO_ALARM is no limit: served as NaN (aiRecord.c get_alarm_double).
    upperAlarmLimit: r.HHSV ? (r.HIHI as number) : NaN, upperWarningLimit: r.HSV ? (r.HIGH as number) : NaN,
    lowerWarningLimit: r.LSV ? (r.LOW as number) : NaN, lowerAlarmLimit: r.LLSV ? (r.LOLO as number) : NaN,
    // ao serves DRVH/DRVL as control limits when set (aoRecord.c get_control_double), else HOPR/LOPR.
    upperControlLimit: output && drvh > drvl ? drvh : hopr,
    lowerControlLimit: output && drvh > drvl ? drvl : lopr,
    enumStrings: EMPTY_METADATA.enumStrings,
  };
}

/** State labels of an mbbi/mbbo: none when every xxST is empty (mbbiRecord.c get_enum_strs). */
export function multiBitLabels(rec: RecordState): string[] {
  const labels = MBB_PREFIXES.map((p) => rec.f[`${p}ST`] as string);
  let last = labels.length;
  while (last > 0 && labels[last - 1] === '') last--;
  return labels.slice(0, last);
}

function enumMetadata(labels: readonly string[]): DbrMetadata {
  return { ...EMPTY_METADATA, enumStrings: labels };
}

// ------------------------------------------------------------------ the types

function defaultsOf(fields: FieldDef[]): Record<string, FieldValue> {
  const d: Record<string, FieldValue> = {};
  for (const def of fields) d[def.name] = initialValue(def);
  return d;
}

function makeType(name: string, kind: RecordKind, specific: FieldDef[], parts: Omit<RecordType, 'name' | 'kind' | 'fields' | 'defaults'>): RecordType {
  const all = [...COMMON, ...specific];
  const fields = new Map(all.map((d) => [d.name, d]));
  const defaults = defaultsOf(all);
  defaults.RTYP = name;
  // Not frozen: a frozen prototype would make its properties read-only in every record.
  return { name, kind, fields, defaults, ...parts };
}

const scalar = (t: NativeType): Pick<RecordType, 'valueType' | 'valueCount'> => ({ valueType: () => t, valueCount: () => 1 });

function analogType(name: string, output: boolean, integer: boolean): RecordType {
  return makeType(name, output ? 'output' : 'input', analogFields(integer ? 'LONG' : 'DOUBLE', output), {
    ...scalar(integer ? DbrType.LONG : DbrType.DOUBLE),
    metadata: (rec) => analogMetadata(rec, output, integer),
    checkAlarms: limitAlarms,
    valueMask: analogMask,
  });
}

function binaryType(name: string, output: boolean): RecordType {
  return makeType(name, output ? 'output' : 'input', binaryFields(output), {
    ...scalar(DbrType.ENUM),
    metadata: (rec) => enumMetadata([rec.f.ZNAM as string, rec.f.ONAM as string]),
    checkAlarms: (rec) => {
      const r = rec.f;
      if (r.UDF) return raiseAlarm(rec, AlarmStatus.UDF, r.UDFS as number);
      const val = r.VAL as number;
      raiseAlarm(rec, AlarmStatus.STATE, (val === 0 ? r.ZSV : r.OSV) as number);
      if (val !== r.LALM) raiseAlarm(rec, AlarmStatus.COS, r.COSV as number);
      r.LALM = val;
    },
    valueMask: changedMask,
    // boRecord.c / biRecord.c get_enum_str: any other state has no name.
    enumString: (rec, index) => (index === 0 ? rec.f.ZNAM : index === 1 ? rec.f.ONAM : 'Illegal_Value') as string,
  });
}

function multiBitType(name: string, output: boolean): RecordType {
  return makeType(name, output ? 'output' : 'input', multiBitFields(output), {
    ...scalar(DbrType.ENUM),
    metadata: (rec) => enumMetadata(multiBitLabels(rec)),
    checkAlarms: (rec) => {
      const r = rec.f;
      if (r.UDF) return raiseAlarm(rec, AlarmStatus.UDF, r.UDFS as number);
      const val = r.VAL as number;
      if (val > 15) {
        // mbboRecord.c convert: with state strings defined, no raw value exists for such a state.
        if (output && multiBitLabels(rec).length > 0) raiseAlarm(rec, AlarmStatus.SOFT, AlarmSeverity.INVALID);
        raiseAlarm(rec, AlarmStatus.STATE, r.UNSV as number);
      } else raiseAlarm(rec, AlarmStatus.STATE, r[`${MBB_PREFIXES[val]}SV`] as number);
      if (val !== r.LALM) raiseAlarm(rec, AlarmStatus.COS, r.COSV as number);
      r.LALM = val;
    },
    valueMask: changedMask,
    // mbbiRecord.c / mbboRecord.c get_enum_str: a state's string, empty if it has none;
    // beyond the 16 states, "Illegal Value". A record with no strings at all shows its number.
    enumString: (rec, index) => {
      if (multiBitLabels(rec).length === 0) return String(index);
      return index < MBB_PREFIXES.length ? rec.f[`${MBB_PREFIXES[index]}ST`] as string : 'Illegal Value';
    },
  });
}

function stringType(name: string, output: boolean): RecordType {
  return makeType(name, output ? 'output' : 'input', stringFields(output), {
    ...scalar(DbrType.STRING),
    metadata: () => EMPTY_METADATA,
    // stringinRecord.c has no alarm check: processing it never raises UDF.
    checkAlarms: output ? udfOnly : () => undefined,
    valueMask: postMask,
  });
}

function longStringType(name: string, output: boolean): RecordType {
  // lsiRecord.c cvt_dbaddr: VAL is one DBR_STRING (SIZV characters); `VAL$` serves all of it.
  return makeType(name, output ? 'output' : 'input', longStringFields(output), {
    ...scalar(DbrType.STRING),
    metadata: () => EMPTY_METADATA,
    // lsiRecord.c has no alarm check either.
    checkAlarms: output ? udfOnly : () => undefined,
    valueMask: postMask,
  });
}

/** The DBF type of a waveform's elements, from FTVL. */
export function waveformElementDbf(rec: RecordState): DbfType {
  return menuFtype[rec.f.FTVL as number] as DbfType;
}

const waveform = makeType('waveform', 'input', waveformFields(), {
  valueType: (rec) => nativeTypeOfDbf(waveformElementDbf(rec)),
  valueCount: (rec) => Math.max(1, rec.f.NELM as number),
  metadata: (rec) => ({
    ...EMPTY_METADATA,
    units: rec.f.EGU as string, precision: rec.f.PREC as number,
    upperDisplayLimit: rec.f.HOPR as number, lowerDisplayLimit: rec.f.LOPR as number,
    upperControlLimit: rec.f.HOPR as number, lowerControlLimit: rec.f.LOPR as number,
    // No get_alarm_double in waveformRecord.c: recGblGetAlarmDouble serves NaN.
    upperAlarmLimit: NaN, upperWarningLimit: NaN, lowerWarningLimit: NaN, lowerAlarmLimit: NaN,
  }),
  checkAlarms: udfOnly,
  valueMask: postMask,
});

export const RECORD_TYPES: ReadonlyMap<string, RecordType> = new Map([
  ['ai', analogType('ai', false, false)],
  ['ao', analogType('ao', true, false)],
  ['longin', analogType('longin', false, true)],
  ['longout', analogType('longout', true, true)],
  ['bi', binaryType('bi', false)],
  ['bo', binaryType('bo', true)],
  ['mbbi', multiBitType('mbbi', false)],
  ['mbbo', multiBitType('mbbo', true)],
  ['stringin', stringType('stringin', false)],
  ['stringout', stringType('stringout', true)],
  ['lsi', longStringType('lsi', false)],
  ['lso', longStringType('lso', true)],
  ['waveform', waveform],
]);
