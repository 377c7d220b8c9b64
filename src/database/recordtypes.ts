/**
 * The record types service-ioc supports: their fields and the parts of their
 * record support that clients can see (alarms, monitors, metadata), after the
 * rset routines in epics-base modules/database/src/std/rec/*.c.
 */
import { AlarmSeverity, AlarmStatus, DbrType, type NativeType } from '../ca/protocol/constants';
import { EMPTY_METADATA, type DbrMetadata } from '../ca/protocol/types';
import {
  menuAlarmSevr, menuAlarmStat, menuConvert, menuFtype, menuIvoa, menuOmsl, menuPini, menuPost, menuPriority, menuScan, menuYesNo,
  nativeTypeOfDbf, type DbfType, type FieldDef,
} from './fields';
import { CALC_INPUTS, CalcError, compile, type CalcProgram } from '../calc/calc';
import { typeRange, type FieldSupportTable, type LimitRule } from './field-support';
import type { LinkedRecord, RecordState } from './record-state';

export type RecordKind = 'input' | 'output';

export interface RecordType {
  readonly name: string;
  readonly kind: RecordKind;
  readonly fields: ReadonlyMap<string, FieldDef>;
  /** Field values every new record starts from (the prototype of its field store). */
  readonly defaults: Readonly<Record<string, FieldValue>>;
  /** DBR type and largest count of VAL for one record. */
  valueType(rec: RecordState): NativeType;
  /** The DBF type VAL is served as, where record support changes it (an mbbo without states: USHORT). */
  valueDbf?(rec: RecordState): DbfType;
  valueCount(rec: RecordState): number;
  /** Metadata served with VAL (GR/CTRL types). */
  metadata(rec: RecordState): DbrMetadata;
  /** How record support describes the other fields (units, precision, limits). */
  readonly fieldSupport: FieldSupportTable;
  /** Set NSTA/NSEV from VAL (the record's checkAlarms). */
  checkAlarms(rec: RecordState): void;
  /** DBE_VALUE / DBE_LOG bits for a processed VAL (deadbands), updating MLST/ALST. */
  valueMask(rec: RecordState, changed: boolean): number;
  /** An ENUM VAL as DBR_STRING (the rset get_enum_str), for the types that have one. */
  enumString?(rec: RecordState, index: number): string;
  /** VAL is an array (waveform): .db text gives it as a JSON array, NORD follows its length. */
  readonly arrayValue?: boolean;
  /** The DBF type of an array VAL's elements (a waveform's FTVL), by which a write converts each element. */
  elementDbf?(rec: RecordState): DbfType;
  /** Size in characters (with the NUL) of a string VAL whose size the record sets (lsi/lso: SIZV). */
  valueSize?(rec: RecordState): number;
  /** How the record gets its value and drives its outputs when it processes. */
  readonly support: RecordSupport;
  /** A VAL written by a client, held to the record's limits (DRVH/DRVL). */
  clamp?(rec: RecordState, value: FieldValue): FieldValue;
  /**
   * Links whose constant value a record starts with (recGblInitConstantLink):
   * [link field, field it sets]. SDIS sets DISA for every type.
   */
  readonly constantLinks: readonly (readonly [string, string])[];
  /**
   * A field was given a value (in the .db file or by a put): the record's
   * special() for it. Throws an Error saying why the value cannot be used.
   */
  special?(rec: RecordState, field: string): void;
  /** The end of init_record, once links have set their constants: fields that start from VAL (ao OVAL). */
  initRecord?(rec: RecordState): void;
}

/**
 * The steps of record support's process() that differ per type, for Soft
 * Channel (device support other than it reads and writes by itself).
 */
export interface RecordSupport {
  /** Before alarms: read the record's input links (INP, DOL closed_loop, INPA..INPL) and compute VAL. */
  read?(rec: LinkedRecord): void;
  /**
   * After alarms: drive the output links. A result of 0 or more makes the
   * processing asynchronous: `delayed` runs after that many seconds (calcout
   * ODLY; a seq's DLYn, 0 included, as its callbacks), and processing ends
   * after it, unless it returns another delay to wait for first (the seq's
   * next link group).
   */
  write?(rec: LinkedRecord): number | undefined;
  delayed?(rec: LinkedRecord): number | undefined;
  /**
   * Monitors for fields other than VAL (calc A..L, calcout OVAL, ao OVAL);
   * `mask` is what VAL was posted with (0: not posted).
   */
  monitor?(rec: LinkedRecord, mask: number): void;
}

export type FieldValue = number | string | ArrayLike<number> | readonly string[];

const sevr = menuAlarmSevr;
/** DBE_VALUE | DBE_LOG. */
const DBE_VALUE_LOG = 3;

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
  f('UDF', 'UCHAR', { initial: '1', process: true }),
  f('UDFS', 'MENU', { menu: sevr, initial: 'INVALID' }),
  f('PACT', 'UCHAR', { readOnly: true }),
  f('PUTF', 'UCHAR', { readOnly: true }),
  f('LCNT', 'UCHAR', { readOnly: true }),
  f('TPRO', 'UCHAR'),
  f('PRIO', 'MENU', { menu: menuPriority }),
  f('FLNK', 'FWDLINK'),
  f('RTYP', 'STRING', { size: 40, readOnly: true }),
];

/** Alarm severity fields: a write processes a passive record (pp(TRUE)), which takes the new alarm. */
const ALARM_SEVERITIES = (prefix: string[], property = false): FieldDef[] => prefix.map((p) => f(p, 'MENU', { menu: sevr, property, process: true }));

function analogFields(valType: DbfType, output: boolean): FieldDef[] {
  const lim = valType;
  return [
    f('VAL', valType, { process: true }),
    f(output ? 'OUT' : 'INP', output ? 'OUTLINK' : 'INLINK'),
    f('EGU', 'STRING', { size: 16, property: true }),
    f('HOPR', lim, { property: true }), f('LOPR', lim, { property: true }),
    f('HIHI', lim, { property: true, process: true }), f('LOLO', lim, { property: true, process: true }),
    f('HIGH', lim, { property: true, process: true }), f('LOW', lim, { property: true, process: true }),
    // Metadata fields (prop(YES)) in ai and ao, not in longin and longout.
    ...ALARM_SEVERITIES(['HHSV', 'LLSV', 'HSV', 'LSV'], valType === 'DOUBLE'),
    f('HYST', lim), f('ADEL', lim), f('MDEL', lim),
    f('LALM', lim, { readOnly: true }), f('ALST', lim, { readOnly: true }), f('MLST', lim, { readOnly: true }),
    ...(valType === 'DOUBLE' ? [
      f('PREC', 'SHORT', { property: true }), f('RVAL', 'LONG', { process: true }), f('ORAW', 'LONG', { readOnly: true }),
      ...(output ? [] : [f('SMOO', 'DOUBLE')]), f('AOFF', 'DOUBLE', { process: true }), f('ASLO', 'DOUBLE', { initial: '1', process: true }),
      // Raw-to-engineering conversion (stored; Soft Channel device support does not convert).
      f('LINR', 'MENU', { menu: menuConvert, process: true }), f('EGUF', 'DOUBLE', { process: true }), f('EGUL', 'DOUBLE', { process: true }),
      f('ESLO', 'DOUBLE', { initial: '1', process: true }), f('EOFF', 'DOUBLE', { process: true }), f('ROFF', 'ULONG', { process: true }),
    ] : []),
    ...(output ? [
      f('DRVH', lim, { property: true, process: true }), f('DRVL', lim, { property: true, process: true }),
      f('DOL', 'INLINK'), f('OMSL', 'MENU', { menu: menuOmsl }),
      f('IVOA', 'MENU', { menu: menuIvoa }), f('IVOV', lim),
      ...(valType === 'DOUBLE' ? [f('OROC', 'DOUBLE'), f('OVAL', 'DOUBLE', { readOnly: true }), f('PVAL', 'DOUBLE', { readOnly: true }), f('OMOD', 'UCHAR', { readOnly: true })] : []),
    ] : []),
  ];
}

function binaryFields(output: boolean): FieldDef[] {
  return [
    f('VAL', 'ENUM', { process: true }),
    f(output ? 'OUT' : 'INP', output ? 'OUTLINK' : 'INLINK'),
    f('ZNAM', 'STRING', { size: 26, property: true, process: true }), f('ONAM', 'STRING', { size: 26, property: true, process: true }),
    ...ALARM_SEVERITIES(['ZSV', 'OSV', 'COSV']),
    f('RVAL', 'ULONG', { process: true }), f('ORAW', 'ULONG', { readOnly: true }), f('MASK', 'ULONG'),
    f('LALM', 'USHORT', { readOnly: true }), f('MLST', 'USHORT', { readOnly: true }),
    ...(output ? [f('DOL', 'INLINK'), f('OMSL', 'MENU', { menu: menuOmsl }), f('HIGH', 'DOUBLE'), f('IVOA', 'MENU', { menu: menuIvoa }), f('IVOV', 'USHORT')] : []),
  ];
}

export const MBB_PREFIXES = ['ZR', 'ON', 'TW', 'TH', 'FR', 'FV', 'SX', 'SV', 'EI', 'NI', 'TE', 'EL', 'TV', 'TT', 'FT', 'FF'] as const;

function multiBitFields(output: boolean): FieldDef[] {
  return [
    f('VAL', 'ENUM', { process: true }),
    f(output ? 'OUT' : 'INP', output ? 'OUTLINK' : 'INLINK'),
    ...MBB_PREFIXES.map((p) => f(`${p}ST`, 'STRING', { size: 26, valueProperty: true, process: true })),
    ...MBB_PREFIXES.map((p) => f(`${p}VL`, 'ULONG', { process: true })),
    ...ALARM_SEVERITIES(MBB_PREFIXES.map((p) => `${p}SV`)),
    ...ALARM_SEVERITIES(['UNSV', 'COSV']),
    f('NOBT', 'USHORT'), f('RVAL', 'ULONG', { process: true }), f('ORAW', 'ULONG', { readOnly: true }), f('MASK', 'ULONG'), f('SHFT', 'USHORT'),
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

/** Post `field` with `mask` and DBE_VALUE|DBE_LOG when it is not `last` (what was posted last, RVAL's ORAW), which then takes it. */
function postChanged(rec: LinkedRecord, field: string, last: string, mask: number): void {
  const r = rec.f;
  if (r[field] === r[last]) return;
  rec.post(field, mask | DBE_VALUE_LOG);
  r[last] = r[field];
}

/** The metadata of a VAL whose record support gives no alarm limits: NaN (recGblGetAlarmDouble). */
const NAN_ALARM_LIMITS = { upperAlarmLimit: NaN, upperWarningLimit: NaN, lowerWarningLimit: NaN, lowerAlarmLimit: NaN } as const;

/** `rawAlarmLimits`: int64in/int64out's get_alarm_double, which gives the limits whatever their severities. */
function analogMetadata(rec: RecordState, output: boolean, integer: boolean, rawAlarmLimits = false): DbrMetadata {
  const r = rec.f;
  const hopr = r.HOPR as number, lopr = r.LOPR as number;
  const control = !output ? { high: hopr, low: lopr } : integer ? driveOrDisplay(rec) : { high: r.DRVH as number, low: r.DRVL as number };
  return {
    units: r.EGU as string,
    precision: integer ? 0 : (r.PREC as number),
    upperDisplayLimit: hopr, lowerDisplayLimit: lopr,
    // A limit whose severity is NO_ALARM is no limit: served as NaN (aiRecord.c get_alarm_double).
    upperAlarmLimit: r.HHSV || rawAlarmLimits ? (r.HIHI as number) : NaN, upperWarningLimit: r.HSV || rawAlarmLimits ? (r.HIGH as number) : NaN,
    lowerWarningLimit: r.LSV || rawAlarmLimits ? (r.LOW as number) : NaN, lowerAlarmLimit: r.LLSV || rawAlarmLimits ? (r.LOLO as number) : NaN,
    // aoRecord.c get_control_double serves DRVH/DRVL as they are (0..0 when unset);
    // longoutRecord.c only when DRVH > DRVL, else HOPR/LOPR.
    upperControlLimit: control.high,
    lowerControlLimit: control.low,
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

/**
 * Whether an mbbi/mbbo has states (mbbiRecord.c init_common, SDEF): a
 * state string or a state value (ZRVL..FFVL) other than 0.
 */
export function multiBitDefined(rec: RecordState): boolean {
  return MBB_PREFIXES.some((p) => rec.f[`${p}ST`] !== '' || rec.f[`${p}VL`] !== 0);
}

/**
 * mbboRecord.c convert: RVAL is the state's value (ZRVL..FFVL), or VAL itself
 * for a record without states, shifted by SHFT. A state beyond the 16 has
 * no value: SOFT/INVALID, RVAL kept.
 */
function multiBitConvert(rec: RecordState): void {
  const r = rec.f;
  const val = r.VAL as number;
  let rval: number;
  if (multiBitDefined(rec)) {
    if (val > 15) {
      raiseAlarm(rec, AlarmStatus.SOFT, AlarmSeverity.INVALID);
      return;
    }
    rval = r[`${MBB_PREFIXES[val]}VL`] as number;
  } else rval = val;
  const shft = r.SHFT as number;
  r.RVAL = shft > 0 ? (rval * 2 ** shft) % 2 ** 32 : rval;
}

/**
 * mbboRecord.c process: VAL from DOL when OMSL is closed_loop, converted to
 * RVAL unless the value is undefined; an INVALID record with IVOA "Set
 * output to IVOV" takes IVOV, converted too; OUT is written from VAL. RVAL
 * is posted when it changed.
 */
const multiBitOutput: RecordSupport = {
  read: (rec) => {
    const r = rec.f;
    if (r.OMSL === 1 && !rec.linkIsConstant('DOL')) {
      if (!rec.readLink('DOL', 'VAL')) return;
    } else if (r.UDF) return;
    r.UDF = 0;
    multiBitConvert(rec);
  },
  write: (rec) => {
    const r = rec.f;
    if ((r.NSEV as number) >= AlarmSeverity.INVALID && r.IVOA !== 0) {
      if (r.IVOA !== 2) return undefined;
      r.VAL = r.IVOV;
      multiBitConvert(rec);
    }
    rec.writeLink('OUT', 'VAL');
    return undefined;
  },
  monitor: (rec, valMask) => postChanged(rec, 'RVAL', 'ORAW', valMask),
};

function enumMetadata(labels: readonly string[]): DbrMetadata {
  return { ...EMPTY_METADATA, enumStrings: labels };
}

// ------------------------------------------------------------------ field support (rset get_units ... get_alarm_double)

/** The fields whose display and control limits are the VAL's (the alarm limits and the last values). */
const VALUE_LIKE = ['VAL', 'HIHI', 'HIGH', 'LOW', 'LOLO', 'LALM', 'ALST', 'MLST'] as const;
const HOPR_LOPR = ['HOPR', 'LOPR'] as const;

/** aiRecord.c: EGU for DOUBLE fields but the raw conversion ones, limits HOPR/LOPR. */
const AI_SUPPORT: FieldSupportTable = {
  units: { egu: { types: ['DOUBLE'], except: ['ASLO', 'AOFF', 'SMOO'] } },
  precision: { raw: ['VAL'] },
  display: [{ fields: [...VALUE_LIKE, 'SVAL'], limits: HOPR_LOPR }],
  control: [{ fields: [...VALUE_LIKE, 'SVAL'], limits: HOPR_LOPR }],
  alarm: true,
};

/** aoRecord.c: control limits are DRVH/DRVL; IVOV shows the display limits only. */
const AO_SUPPORT: FieldSupportTable = {
  units: { egu: { types: ['DOUBLE'], except: ['ASLO', 'AOFF'] } },
  precision: { raw: ['VAL', 'OVAL', 'PVAL'] },
  display: [{ fields: [...VALUE_LIKE, 'OVAL', 'PVAL', 'IVOV'], limits: HOPR_LOPR }],
  control: [{ fields: [...VALUE_LIKE, 'OVAL', 'PVAL'], limits: ['DRVH', 'DRVL'] }],
  alarm: true,
};

/** longinRecord.c: EGU for LONG fields, no get_precision. */
const LONGIN_SUPPORT: FieldSupportTable = {
  units: { egu: { types: ['LONG'] } },
  display: [{ fields: [...VALUE_LIKE, 'SVAL'], limits: HOPR_LOPR }],
  control: [{ fields: [...VALUE_LIKE, 'SVAL'], limits: HOPR_LOPR }],
  alarm: true,
};

/** longoutRecord.c: control limits DRVH/DRVL when DRVH > DRVL, else HOPR/LOPR. */
const LONGOUT_SUPPORT: FieldSupportTable = {
  units: { egu: { types: ['LONG'] } },
  display: [{ fields: VALUE_LIKE, limits: HOPR_LOPR }],
  control: [{ fields: VALUE_LIKE, limits: (rec) => driveOrDisplay(rec) }],
  alarm: true,
};

/** longin/longout's field support; int64inRecord.c and int64outRecord.c have the same, with EGU for the INT64 fields. */
function integerSupport(output: boolean, int64: boolean): FieldSupportTable {
  const table = output ? LONGOUT_SUPPORT : LONGIN_SUPPORT;
  return int64 ? { ...table, units: { egu: { types: ['INT64'] } } } : table;
}

function driveOrDisplay(rec: RecordState): { high: number; low: number } {
  const drvh = rec.f.DRVH as number, drvl = rec.f.DRVL as number;
  return drvh > drvl ? { high: drvh, low: drvl } : { high: rec.f.HOPR as number, low: rec.f.LOPR as number };
}

/** boRecord.c: HIGH (seconds) has its own units, precision and control limits (boHIGHprecision, boHIGHlimit). */
const BO_SUPPORT: FieldSupportTable = {
  units: { fixed: { HIGH: 's' } },
  precision: { fixed: { HIGH: 2 } },
  control: [{ fields: ['HIGH'], limits: [100000, 0] }],
};

/** bi, mbbi, mbbo, stringin/out, lsi/lso: no get_units, get_precision or limits. */
const NO_SUPPORT: FieldSupportTable = {};

/** waveformRecord.c: EGU for VAL, HOPR and LOPR; BUSY 0..1, NORD 0..NELM. */
const WAVEFORM_SUPPORT: FieldSupportTable = {
  units: { egu: { fields: ['HOPR', 'LOPR'] } },
  precision: { raw: ['VAL'] },
  display: [{ fields: ['VAL'], limits: HOPR_LOPR }, { fields: ['BUSY'], limits: [1, 0] }, { fields: ['NORD'], limits: ['NELM', 0] }],
  control: [{ fields: ['VAL'], limits: HOPR_LOPR }, { fields: ['BUSY'], limits: [1, 0] }, { fields: ['NORD'], limits: ['NELM', 0] }],
};

/** calc A..L and LA..LL: described by what INPA..INPL read. */
function calcInputLink(field: string): string | undefined {
  const m = /^L?([A-L])$/.exec(field);
  return m ? `INP${m[1]}` : undefined;
}

/** calcRecord.c. */
const CALC_SUPPORT: FieldSupportTable = {
  units: { egu: { types: ['DOUBLE'] } },
  precision: { raw: ['VAL'] },
  display: [{ fields: VALUE_LIKE, limits: HOPR_LOPR }],
  control: [{ fields: VALUE_LIKE, limits: HOPR_LOPR }],
  alarm: true,
  linked: calcInputLink,
};

/** calcoutRecord.c: as calc, and ODLY in seconds (calcoutODLYprecision, calcoutODLYlimit). */
const ODLY_DISPLAY: LimitRule = { fields: ['ODLY'], limits: (_rec, range) => ({ high: range.high, low: 0 }) };
const CALCOUT_SUPPORT: FieldSupportTable = {
  ...CALC_SUPPORT,
  units: { ...CALC_SUPPORT.units, fixed: { ODLY: 's' } },
  precision: { raw: ['VAL'], fixed: { ODLY: 2 } },
  display: [...CALC_SUPPORT.display!, ODLY_DISPLAY],
  control: [...CALC_SUPPORT.control!, { fields: ['ODLY'], limits: [100000, 0] }],
};

// ------------------------------------------------------------------ the types

function defaultsOf(fields: FieldDef[]): Record<string, FieldValue> {
  const d: Record<string, FieldValue> = {};
  for (const def of fields) d[def.name] = initialValue(def);
  return d;
}

type TypeParts = Omit<RecordType, 'name' | 'kind' | 'fields' | 'defaults' | 'support' | 'constantLinks'> & Partial<Pick<RecordType, 'support' | 'constantLinks'>>;

function makeType(name: string, kind: RecordKind, specific: FieldDef[], parts: TypeParts): RecordType {
  const all = [...COMMON, ...specific];
  const fields = new Map(all.map((d) => [d.name, d]));
  const defaults = defaultsOf(all);
  defaults.RTYP = name;
  const support = parts.support ?? (kind === 'input' ? softInput(false) : softOutput);
  const constantLinks = parts.constantLinks ?? (kind === 'input' ? [['INP', 'VAL']] : fields.has('DOL') ? [['DOL', 'VAL']] : []);
  // Not frozen: a frozen prototype would make its properties read-only in every record.
  return { name, kind, fields, defaults, ...parts, support, constantLinks };
}

// ------------------------------------------------------------------ record support (soft channel)

/**
 * An input record reads INP into VAL (devAiSoft.c and friends). A link to a
 * record defines the value when the read works; with an empty or constant
 * INP, `definesValue` types (ai, bi, mbbi, longin, waveform) are defined by
 * processing all the same, the others keep UDF.
 */
function softInput(definesValue: boolean): RecordSupport {
  return {
    read: (rec) => {
      const linked = !rec.linkIsConstant('INP');
      if (rec.readLink('INP', 'VAL') && (linked || definesValue)) rec.f.UDF = 0;
    },
  };
}

/**
 * An output record takes VAL from DOL when OMSL is closed_loop (aoRecord.c
 * fetch_value), then writes VAL to OUT, unless it is INVALID and IVOA says
 * otherwise.
 */
const softOutput: RecordSupport = {
  read: (rec) => {
    const r = rec.f;
    if (r.OMSL === 1 && !rec.linkIsConstant('DOL') && rec.readLink('DOL', 'VAL')) r.UDF = 0;
  },
  write: (rec) => {
    if (invalidOutput(rec, 'VAL')) rec.writeLink('OUT', 'VAL');
    return undefined;
  },
};

/** IVOA: whether an output is driven; "Set output to IVOV" sets `field` first. */
function invalidOutput(rec: LinkedRecord, field: string): boolean {
  const r = rec.f;
  if ((r.NSEV as number) < AlarmSeverity.INVALID) return true;
  if (r.IVOA === 1) return false;
  if (r.IVOA === 2) r[field] = r.IVOV;
  return true;
}

/** DRVH/DRVL, when DRVH > DRVL (aoRecord.c convert, longoutRecord.c). */
function driveLimits(rec: RecordState, value: FieldValue): FieldValue {
  const drvh = rec.f.DRVH as number, drvl = rec.f.DRVL as number;
  let v = value as number;
  if (drvh > drvl) v = Math.min(drvh, Math.max(drvl, v));
  return v;
}

/** menuConvert choices: 1 SLOPE and 2 LINEAR scale by ESLO and EOFF; from 3 on, breakpoint tables. */
const LINR_SLOPE = 1, LINR_LINEAR = 2;

/**
 * aoRecord.c convert: RVAL from OVAL through LINR (SLOPE and LINEAR: EOFF and
 * ESLO; Soft Channel sets no ESLO from EGUF/EGUL), AOFF, ASLO and ROFF,
 * rounded to a 32-bit integer. A breakpoint table (LINR from typeKdegF on) is
 * not loaded in a soft IOC: the conversion fails with SOFT/MAJOR and RVAL
 * stays, as softIoc does.
 */
function analogRaw(rec: RecordState): void {
  const r = rec.f;
  let v = r.OVAL as number;
  const linr = r.LINR as number;
  if (linr === LINR_SLOPE || linr === LINR_LINEAR) {
    const eslo = r.ESLO as number;
    v = eslo === 0 ? 0 : (v - (r.EOFF as number)) / eslo;
  } else if (linr > LINR_LINEAR) {
    raiseAlarm(rec, AlarmStatus.SOFT, AlarmSeverity.MAJOR);
    return;
  }
  v -= r.AOFF as number;
  const aslo = r.ASLO as number;
  if (aslo !== 0) v /= aslo;
  v -= r.ROFF as number;
  if (v >= 0) r.RVAL = v >= 0x7fffffff - 0.5 ? 0x7fffffff : Math.trunc(v + 0.5);
  else r.RVAL = v > 0.5 - 0x80000000 ? Math.trunc(v - 0.5) : -0x80000000;
}

/**
 * aoRecord.c convert: the value, held to DRVH/DRVL, becomes VAL; OVAL moves
 * toward it by at most OROC (when OROC is not 0) each time the record
 * processes; OMOD says whether OVAL moved.
 */
function analogConvert(rec: RecordState, target: number): void {
  const r = rec.f;
  const value = driveLimits(rec, target) as number;
  r.VAL = value;
  r.PVAL = value;
  const oroc = r.OROC as number, oval = r.OVAL as number;
  let out = value;
  if (oroc !== 0) {
    const diff = value - oval;
    if (diff < 0) {
      if (oroc < -diff) out = oval - oroc;
    } else if (oroc < diff) out = oval + oroc;
  }
  r.OMOD = oval !== out ? 1 : 0;
  r.OVAL = out;
  analogRaw(rec);
}

/**
 * aoRecord.c process: VAL from DOL when OMSL is closed_loop (a value put to
 * VAL meanwhile is dropped), converted (DRVH/DRVL, OROC into OVAL); OUT is
 * written from OVAL. An INVALID record with IVOA "Set output to IVOV" takes
 * IVOV as its new value, converted the same way. The value is defined unless
 * it is NaN.
 */
const analogOutput: RecordSupport = {
  read: (rec) => {
    const r = rec.f;
    let ok = true;
    if (r.OMSL === 1 && !rec.linkIsConstant('DOL')) {
      r.VAL = r.PVAL;
      ok = rec.readLink('DOL', 'VAL');
    }
    if (ok) analogConvert(rec, r.VAL as number);
    r.UDF = Number.isNaN(r.VAL) ? 1 : 0;
  },
  write: (rec) => {
    const r = rec.f;
    if ((r.NSEV as number) >= AlarmSeverity.INVALID && r.IVOA !== 0) {
      if (r.IVOA !== 2) return undefined;
      analogConvert(rec, r.IVOV as number);
    }
    rec.writeLink('OUT', 'OVAL');
    return undefined;
  },
  // aoRecord.c monitor: OVAL with VAL's events, or on its own when it moved; RVAL when it changed.
  monitor: (rec, valMask) => {
    const r = rec.f;
    const mask = valMask | (r.OMOD ? DBE_VALUE_LOG : 0);
    if (!mask) return;
    r.OMOD = 0;
    rec.post('OVAL', mask);
    postChanged(rec, 'RVAL', 'ORAW', mask);
  },
};

/** aoRecord.c init_record: OVAL and PVAL start at VAL. */
function analogOutputInit(rec: RecordState): void {
  rec.f.OVAL = rec.f.VAL;
  rec.f.PVAL = rec.f.VAL;
}

const scalar = (t: NativeType): Pick<RecordType, 'valueType' | 'valueCount'> => ({ valueType: () => t, valueCount: () => 1 });

/**
 * ai/ao (DOUBLE), longin/longout (LONG) and int64in/int64out (INT64, which
 * Channel Access serves as DBR_DOUBLE, as dbDBRnewToDBRold maps it).
 */
function analogType(name: string, output: boolean, integer: boolean, int64 = false): RecordType {
  const valType: DbfType = int64 ? 'INT64' : integer ? 'LONG' : 'DOUBLE';
  return makeType(name, output ? 'output' : 'input', analogFields(valType, output), {
    ...scalar(nativeTypeOfDbf(valType)),
    fieldSupport: integer ? integerSupport(output, int64) : (output ? AO_SUPPORT : AI_SUPPORT),
    support: output ? (integer ? { ...softOutput, read: (rec) => { softOutput.read!(rec); rec.f.VAL = driveLimits(rec, rec.f.VAL); } } : analogOutput) : softInput(true),
    ...(output ? { clamp: driveLimits } : {}),
    ...(output && !integer ? { initRecord: analogOutputInit } : {}),
    metadata: (rec) => analogMetadata(rec, output, integer, int64),
    checkAlarms: limitAlarms,
    valueMask: analogMask,
  });
}

function binaryType(name: string, output: boolean): RecordType {
  return makeType(name, output ? 'output' : 'input', binaryFields(output), {
    ...scalar(DbrType.ENUM),
    fieldSupport: output ? BO_SUPPORT : NO_SUPPORT,
    support: output ? softOutput : softInput(true),
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
    // mbboRecord.c cvt_dbaddr: an mbbo without states serves VAL as DBF_USHORT, a number.
    // An mbbi stays an ENUM, with no strings.
    valueType: output ? (rec) => (multiBitDefined(rec) ? DbrType.ENUM : DbrType.LONG) : () => DbrType.ENUM,
    ...(output ? { valueDbf: (rec: RecordState): DbfType => (multiBitDefined(rec) ? 'ENUM' : 'USHORT') } : {}),
    valueCount: () => 1,
    fieldSupport: NO_SUPPORT,
    support: output ? multiBitOutput : softInput(true),
    // mbboRecord.c init_record: RVAL from the initial VAL.
    ...(output ? { initRecord: (rec: RecordState) => { multiBitConvert(rec); rec.f.ORAW = rec.f.RVAL; } } : {}),
    metadata: (rec) => enumMetadata(multiBitLabels(rec)),
    checkAlarms: (rec) => {
      const r = rec.f;
      if (r.UDF) return raiseAlarm(rec, AlarmStatus.UDF, r.UDFS as number);
      const val = r.VAL as number;
      if (val > 15) raiseAlarm(rec, AlarmStatus.STATE, r.UNSV as number);
      else raiseAlarm(rec, AlarmStatus.STATE, r[`${MBB_PREFIXES[val]}SV`] as number);
      if (val !== r.LALM) raiseAlarm(rec, AlarmStatus.COS, r.COSV as number);
      r.LALM = val;
    },
    valueMask: changedMask,
    // mbbiRecord.c / mbboRecord.c get_enum_str: a state's string, empty if it has none
    // (a record without states too); beyond the 16 states, "Illegal Value".
    enumString: (rec, index) => (index < MBB_PREFIXES.length ? rec.f[`${MBB_PREFIXES[index]}ST`] as string : 'Illegal Value'),
  });
}

function stringType(name: string, output: boolean): RecordType {
  return makeType(name, output ? 'output' : 'input', stringFields(output), {
    ...scalar(DbrType.STRING),
    fieldSupport: NO_SUPPORT,
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
    fieldSupport: NO_SUPPORT,
    valueSize: (rec) => Math.max(1, rec.f.SIZV as number),
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
  arrayValue: true,
  elementDbf: waveformElementDbf,
  support: softInput(true),
  fieldSupport: WAVEFORM_SUPPORT,
  metadata: (rec) => ({
    ...EMPTY_METADATA,
    units: rec.f.EGU as string, precision: rec.f.PREC as number,
    upperDisplayLimit: rec.f.HOPR as number, lowerDisplayLimit: rec.f.LOPR as number,
    upperControlLimit: rec.f.HOPR as number, lowerControlLimit: rec.f.LOPR as number,
    // No get_alarm_double in waveformRecord.c: recGblGetAlarmDouble serves NaN.
    ...NAN_ALARM_LIMITS,
  }),
  checkAlarms: udfOnly,
  valueMask: postMask,
});

// ------------------------------------------------------------------ calc and calcout

/** Input letters A..L. */
export const CALC_LETTERS = Array.from({ length: CALC_INPUTS }, (_, i) => String.fromCharCode(65 + i));

const programs = new Map<string, CalcProgram>();

/** The compiled program of an expression (compiled once per text); throws CalcError. */
export function calcProgram(text: string): CalcProgram {
  let p = programs.get(text);
  if (!p) {
    p = compile(text);
    programs.set(text, p);
  }
  return p;
}

const menuCalcoutOopt = ['Every Time', 'On Change', 'When Zero', 'When Non-zero', 'Transition To Zero', 'Transition To Non-zero'] as const;
const menuCalcoutDopt = ['Use CALC', 'Use OCAL'] as const;
const menuCalcoutInav = ['Ext PV NC', 'Ext PV OK', 'Local PV', 'Constant'] as const;

/** calc, calcout and dfanout: EGU, PREC, display limits, alarm limits and severities, deadbands, last values (DOUBLE). */
function doubleValueFields(): FieldDef[] {
  return [
    f('EGU', 'STRING', { size: 16, property: true }), f('PREC', 'SHORT', { property: true }),
    f('HOPR', 'DOUBLE', { property: true }), f('LOPR', 'DOUBLE', { property: true }),
    f('HIHI', 'DOUBLE', { property: true, process: true }), f('LOLO', 'DOUBLE', { property: true, process: true }),
    f('HIGH', 'DOUBLE', { property: true, process: true }), f('LOW', 'DOUBLE', { property: true, process: true }),
    ...ALARM_SEVERITIES(['HHSV', 'LLSV', 'HSV', 'LSV'], true),
    f('HYST', 'DOUBLE'), f('ADEL', 'DOUBLE'), f('MDEL', 'DOUBLE'),
    f('LALM', 'DOUBLE', { readOnly: true }), f('ALST', 'DOUBLE', { readOnly: true }), f('MLST', 'DOUBLE', { readOnly: true }),
  ];
}

function calcFields(out: boolean): FieldDef[] {
  return [
    f('VAL', 'DOUBLE'),
    f('CALC', 'STRING', { size: 80, process: true, initial: '0' }),
    f('RPCL', 'NOACCESS', { readOnly: true, initial: '0' }),
    ...CALC_LETTERS.map((l) => f(`INP${l}`, 'INLINK')),
    ...CALC_LETTERS.map((l) => f(l, 'DOUBLE', { process: true })),
    ...CALC_LETTERS.map((l) => f(`L${l}`, 'DOUBLE', { readOnly: true })),
    ...doubleValueFields(),
    ...(out ? [
      f('OUT', 'OUTLINK'),
      f('OOPT', 'MENU', { menu: menuCalcoutOopt }), f('DOPT', 'MENU', { menu: menuCalcoutDopt }),
      f('OCAL', 'STRING', { size: 80, process: true, initial: '0' }),
      f('ORPC', 'NOACCESS', { readOnly: true, initial: '0' }),
      f('OVAL', 'DOUBLE', { readOnly: true }), f('POVL', 'DOUBLE', { readOnly: true }), f('PVAL', 'DOUBLE', { readOnly: true }),
      f('ODLY', 'DOUBLE'), f('DLYA', 'USHORT', { readOnly: true }),
      f('OEVT', 'STRING', { size: 40 }),
      f('IVOA', 'MENU', { menu: menuIvoa }), f('IVOV', 'DOUBLE'),
      f('OUTV', 'MENU', { menu: menuCalcoutInav, readOnly: true }),
    ] : []),
  ];
}

/** calcRecord.c fetch_values and calcPerform: the inputs A..L through INPA..INPL, then CALC into VAL. */
function calcRead(rec: LinkedRecord): void {
  const r = rec.f;
  let ok = true;
  for (const l of CALC_LETTERS) ok = rec.readLink(`INP${l}`, l) && ok;
  if (!ok) return;
  runCalc(rec, r.RPCL as string, 'VAL');
}

/** Run an expression on A..L into `into`; an assignment changes its input. A failure raises CALC/INVALID. */
function runCalc(rec: LinkedRecord, text: string, into: string): void {
  const r = rec.f;
  const args = CALC_LETTERS.map((l) => r[l] as number);
  try {
    r[into] = calcProgram(text).run(args, r[into] as number);
  } catch (err) {
    if (!(err instanceof CalcError)) throw err;
    raiseAlarm(rec, AlarmStatus.CALC, AlarmSeverity.INVALID);
    return;
  }
  for (const i of calcProgram(text).stores) r[CALC_LETTERS[i]] = args[i];
  r.UDF = Number.isNaN(r[into]) ? 1 : 0;
}

/** calcRecord.c monitor: an input that changed is posted (LA..LL hold the last posted). */
function calcMonitor(rec: LinkedRecord): void {
  const r = rec.f;
  for (const l of CALC_LETTERS) {
    const v = r[l] as number, last = r[`L${l}`] as number;
    if (v !== last && !(Number.isNaN(v) && Number.isNaN(last))) {
      r[`L${l}`] = v;
      rec.post(l, DBE_VALUE_LOG);
    }
  }
}


/** calcoutRecord.c execOutput: OVAL from VAL or OCAL, then OUT unless IVOA says otherwise. */
function calcoutExec(rec: LinkedRecord): void {
  const r = rec.f;
  if (r.DOPT === 0) r.OVAL = r.VAL;
  else runCalc(rec, r.ORPC as string, 'OVAL');
  if (r.UDF) raiseAlarm(rec, AlarmStatus.UDF, r.UDFS as number);
  if (invalidOutput(rec, 'OVAL')) rec.writeLink('OUT', 'OVAL');
}

const calcSupport: RecordSupport = { read: calcRead, monitor: calcMonitor };

const calcoutSupport: RecordSupport = {
  read: calcRead,
  write: (rec) => {
    const r = rec.f;
    const val = r.VAL as number, pval = r.PVAL as number;
    let doOutput: boolean;
    switch (r.OOPT) {
      case 0: doOutput = true; break;
      case 1: doOutput = !(Math.abs(pval - val) <= (r.MDEL as number)); break;
      case 2: doOutput = val === 0; break;
      case 3: doOutput = val !== 0; break;
      case 4: doOutput = pval !== 0 && val === 0; break;
      case 5: doOutput = pval === 0 && val !== 0; break;
      default: doOutput = false;
    }
    r.PVAL = val;
    if (!doOutput) return undefined;
    if ((r.ODLY as number) > 0) {
      r.DLYA = 1;
      rec.post('DLYA', DBE_VALUE_LOG & 1);
      return r.ODLY as number;
    }
    calcoutExec(rec);
    return undefined;
  },
  delayed: (rec) => {
    rec.f.DLYA = 0;
    rec.post('DLYA', 1);
    calcoutExec(rec);
    return undefined;
  },
  monitor: (rec) => {
    calcMonitor(rec);
    const r = rec.f;
    if (r.OVAL !== r.POVL && !(Number.isNaN(r.OVAL) && Number.isNaN(r.POVL))) {
      r.POVL = r.OVAL;
      rec.post('OVAL', DBE_VALUE_LOG);
    }
  },
};

/**
 * calcRecord.c special: a new CALC (OCAL) is compiled into RPCL (ORPC). A
 * refused expression stays in CALC and leaves no program: processing then
 * raises CALC/INVALID, as softIoc does.
 */
function calcSpecial(rec: RecordState, field: string): void {
  if (field !== 'CALC' && field !== 'OCAL') return;
  const text = rec.f[field] as string;
  rec.f[field === 'CALC' ? 'RPCL' : 'ORPC'] = text;
  calcProgram(text);
}

function calcType(name: string, out: boolean): RecordType {
  return makeType(name, out ? 'output' : 'input', calcFields(out), {
    ...scalar(DbrType.DOUBLE),
    fieldSupport: out ? CALCOUT_SUPPORT : CALC_SUPPORT,
    metadata: (rec) => analogMetadata(rec, false, false),
    checkAlarms: limitAlarms,
    valueMask: analogMask,
    support: out ? calcoutSupport : calcSupport,
    constantLinks: CALC_LETTERS.map((l) => [`INP${l}`, l] as const),
    special: calcSpecial,
  });
}

// ------------------------------------------------------------------ fanout and dfanout

/** fanoutSELM and dfanoutSELM: which links a processing drives. */
const menuSelm = ['All', 'Specified', 'Mask'] as const;
const SELM_ALL = 0, SELM_SPECIFIED = 1, SELM_MASK = 2;
/** fanout's forward links LNK0..LNKF. */
const FANOUT_LINKS = Array.from({ length: 16 }, (_, i) => `LNK${i.toString(16).toUpperCase()}`);
/** dfanout's output links OUTA..OUTH. */
const DFANOUT_LINKS = Array.from({ length: 8 }, (_, i) => `OUT${String.fromCharCode(65 + i)}`);

function fanoutFields(): FieldDef[] {
  return [
    f('VAL', 'LONG', { process: true }),
    f('SELM', 'MENU', { menu: menuSelm }), f('SELN', 'USHORT', { initial: '1' }), f('SELL', 'INLINK'),
    f('OFFS', 'SHORT'), f('SHFT', 'SHORT', { initial: '-1' }),
    ...FANOUT_LINKS.map((name) => f(name, 'FWDLINK')),
  ];
}

function dfanoutFields(): FieldDef[] {
  return [
    f('VAL', 'DOUBLE', { process: true }),
    f('SELM', 'MENU', { menu: menuSelm }), f('SELN', 'USHORT', { initial: '1' }), f('SELL', 'INLINK'),
    ...DFANOUT_LINKS.map((name) => f(name, 'OUTLINK')),
    f('DOL', 'INLINK'), f('OMSL', 'MENU', { menu: menuOmsl }),
    ...doubleValueFields(),
  ];
}

/**
 * fanout and seq: the links (or link groups) SELM picks, as a bit mask: All
 * 16; Specified, number SELN + OFFS; Mask, SELN's bits shifted right by SHFT
 * (left when negative). A number beyond 15, a shift beyond 15 or an unknown
 * SELM raises SOFT/INVALID and picks none (undefined).
 */
function selectedLinks(rec: RecordState): number | undefined {
  const r = rec.f;
  const seln = r.SELN as number;
  if (r.SELM === SELM_ALL) return 0xffff;
  if (r.SELM === SELM_SPECIFIED) {
    const n = seln + (r.OFFS as number);
    if (n >= 0 && n < 16) return 1 << n;
  } else if (r.SELM === SELM_MASK) {
    const shft = r.SHFT as number;
    if (shft >= -15 && shft <= 15) return (shft >= 0 ? seln >> shft : seln << -shft) & 0xffff;
  }
  raiseAlarm(rec, AlarmStatus.SOFT, AlarmSeverity.INVALID);
  return undefined;
}

/** SELN before SELL was read, to post SELN when the read changed it (fanoutRecord.c). */
const selnBefore = new WeakMap<RecordState, number>();

/**
 * fanoutRecord.c process: SELN from SELL, then the forward links SELM picks
 * (selectedLinks) are processed in order (dbScanFwdLink: a passive target
 * only). VAL is only posted with an alarm change; SELN when the read changed
 * it.
 */
const fanoutSupport: RecordSupport = {
  read: (rec) => {
    selnBefore.set(rec, rec.f.SELN as number);
    rec.readLink('SELL', 'SELN');
  },
  write: (rec) => {
    const links = selectedLinks(rec);
    if (links !== undefined) {
      for (let i = 0; i < FANOUT_LINKS.length; i++) if (links & (1 << i)) rec.processLink(FANOUT_LINKS[i]);
    }
    rec.f.UDF = 0;
    return undefined;
  },
  monitor: (rec, mask) => {
    if (rec.f.SELN !== selnBefore.get(rec)) rec.post('SELN', mask | DBE_VALUE_LOG);
  },
};

/**
 * dfanoutRecord.c process: VAL from DOL when OMSL is closed_loop (defined
 * unless NaN), SELN from SELL, the limit alarms, then VAL is written as a
 * DOUBLE to the output links SELM picks: All of OUTA..OUTH; Specified, the
 * SELN-th (none for 0; beyond OUTH SOFT/INVALID); Mask, those of SELN's
 * bits. It is written whatever its alarm (no IVOA).
 */
const dfanoutSupport: RecordSupport = {
  read: (rec) => {
    const r = rec.f;
    if (r.OMSL === 1 && !rec.linkIsConstant('DOL') && rec.readLink('DOL', 'VAL')) r.UDF = Number.isNaN(r.VAL) ? 1 : 0;
    rec.readLink('SELL', 'SELN');
  },
  write: (rec) => {
    const r = rec.f;
    const seln = r.SELN as number;
    switch (r.SELM) {
      case SELM_ALL:
        for (const link of DFANOUT_LINKS) rec.writeLink(link, 'VAL');
        break;
      case SELM_SPECIFIED:
        if (seln > DFANOUT_LINKS.length) raiseAlarm(rec, AlarmStatus.SOFT, AlarmSeverity.INVALID);
        else if (seln > 0) rec.writeLink(DFANOUT_LINKS[seln - 1], 'VAL');
        break;
      case SELM_MASK:
        for (let i = 0; i < DFANOUT_LINKS.length; i++) if (seln & (1 << i)) rec.writeLink(DFANOUT_LINKS[i], 'VAL');
        break;
      default:
        raiseAlarm(rec, AlarmStatus.SOFT, AlarmSeverity.INVALID);
    }
    return undefined;
  },
};

/** dfanoutRecord.c: EGU for DOUBLE fields; control limits HOPR/LOPR for VAL and the last values only. */
const DFANOUT_SUPPORT: FieldSupportTable = {
  units: { egu: { types: ['DOUBLE'] } },
  precision: { raw: ['VAL'] },
  display: [{ fields: VALUE_LIKE, limits: HOPR_LOPR }],
  control: [{ fields: ['VAL', 'LALM', 'ALST', 'MLST'], limits: HOPR_LOPR }],
  alarm: true,
};

/** fanoutRecord.c has no get_graphic/control/alarm_double: zero limits, and NaN alarm limits. */
const FANOUT_METADATA: DbrMetadata = Object.freeze({ ...EMPTY_METADATA, ...NAN_ALARM_LIMITS });

// ------------------------------------------------------------------ seq

/** The names of seq's 16 link groups (DLYn, DOLn, DOn, LNKn). */
const SEQ_GROUPS = Array.from({ length: 16 }, (_, i) => i.toString(16).toUpperCase());
const SEQ_DELAYS = SEQ_GROUPS.map((g) => `DLY${g}`);

function seqFields(): FieldDef[] {
  return [
    f('VAL', 'LONG', { process: true }),
    f('SELM', 'MENU', { menu: menuSelm }), f('SELN', 'USHORT', { initial: '1' }), f('SELL', 'INLINK'),
    f('OFFS', 'SHORT'), f('SHFT', 'SHORT', { initial: '-1' }), f('OLDN', 'USHORT'), f('PREC', 'SHORT'),
    ...SEQ_GROUPS.flatMap((g) => [f(`DLY${g}`, 'DOUBLE'), f(`DOL${g}`, 'INLINK'), f(`DO${g}`, 'DOUBLE'), f(`LNK${g}`, 'OUTLINK')]),
  ];
}

/** The link groups a seq's processing in progress goes through, and where it is. */
const seqRuns = new WeakMap<RecordState, { groups: string[]; next: number }>();

/** A seq group's delay as callbackRequestDelayed takes it: none unless positive. */
function seqDelay(rec: RecordState, group: string): number {
  const d = rec.f[`DLY${group}`] as number;
  return d > 0 ? d : 0;
}

/**
 * seqRecord.c: SELN from SELL (unless SELM is All), then the link groups SELM
 * picks (selectedLinks) that have a DOLn or an LNKn are carried out in order:
 * after DLYn seconds (the callback task even for none), DOn from DOLn, then
 * DOn to LNKn, DOn posted when it changed. The record stays active until the
 * last group is done (a put waits for it). VAL is posted with an alarm
 * change only, SELN when it is not OLDN.
 */
const seqSupport: RecordSupport = {
  read: (rec) => {
    if (rec.f.SELM !== SELM_ALL) rec.readLink('SELL', 'SELN');
  },
  write: (rec) => {
    const mask = selectedLinks(rec);
    if (mask === undefined) return undefined;
    const groups = SEQ_GROUPS.filter((g, i) => (mask & (1 << i)) !== 0 && !(rec.linkIsConstant(`LNK${g}`) && rec.linkIsConstant(`DOL${g}`)));
    if (groups.length === 0) return undefined;
    seqRuns.set(rec, { groups, next: 0 });
    return seqDelay(rec, groups[0]);
  },
  delayed: (rec) => {
    const run = seqRuns.get(rec);
    if (!run) return undefined;
    const g = run.groups[run.next++];
    const before = rec.f[`DO${g}`];
    rec.readLink(`DOL${g}`, `DO${g}`);
    rec.writeLink(`LNK${g}`, `DO${g}`);
    if (rec.f[`DO${g}`] !== before) rec.post(`DO${g}`, DBE_VALUE_LOG);
    if (run.next < run.groups.length) return seqDelay(rec, run.groups[run.next]);
    seqRuns.delete(rec);
    return undefined;
  },
  monitor: (rec, mask) => postChanged(rec, 'SELN', 'OLDN', mask),
};

/**
 * seqRecord.c's get_units ... get_alarm_double, as softIoc 7.0.8 answers:
 * they count field offsets from DLY1, not DLY0, so group 0 has nothing of its
 * own (DLY0 and DO0 are plain DOUBLE fields with PREC), DLY1..DLYF are
 * seconds (precision seqDLYprecision 2, control 0..seqDLYlimit 100000,
 * display 10..0 as the code sets the lower limit twice), and DOn for n >= 1
 * is described by DOL(n-1), one group before its own.
 */
const SEQ_TIMED = SEQ_DELAYS.slice(1);
/** The DOL one group before a field of group 1..F (the group seqRecord.c's offsets give it). */
function seqGroupBefore(prefix: string): (field: string) => string | undefined {
  const re = new RegExp(`^${prefix}([1-9A-F])$`);
  return (field) => {
    const m = re.exec(field);
    return m ? `DOL${SEQ_GROUPS[parseInt(m[1], 16) - 1]}` : undefined;
  };
}
const SEQ_SUPPORT: FieldSupportTable = {
  // Offsets 0 and 1 of a group (DLYn, DOLn) are "seconds", 2 and 3 (DOn, LNKn) the units of the DOL before.
  units: { fixed: Object.fromEntries([...SEQ_TIMED, ...SEQ_GROUPS.slice(1).map((g) => `DOL${g}`)].map((n) => [n, 's'])), fromLink: seqGroupBefore('LNK') },
  precision: { fixed: Object.fromEntries(SEQ_TIMED.map((n) => [n, 2])) },
  display: [{ fields: SEQ_TIMED, limits: [0, 10] }],
  control: [{ fields: SEQ_TIMED, limits: [100000, 0] }],
  alarm: true,
  linked: seqGroupBefore('DO'),
};

/** A seq's VAL (LONG): no units, its type's range for display and control (recGbl), no alarm limits. */
const LONG_RANGE = typeRange('LONG');
const SEQ_METADATA: DbrMetadata = Object.freeze({
  ...EMPTY_METADATA, ...NAN_ALARM_LIMITS,
  upperDisplayLimit: LONG_RANGE.high, lowerDisplayLimit: LONG_RANGE.low, upperControlLimit: LONG_RANGE.high, lowerControlLimit: LONG_RANGE.low,
});

const seq = makeType('seq', 'output', seqFields(), {
  ...scalar(DbrType.LONG),
  fieldSupport: SEQ_SUPPORT,
  metadata: () => SEQ_METADATA,
  checkAlarms: () => undefined,
  valueMask: () => 0,
  support: seqSupport,
  constantLinks: [['SELL', 'SELN'], ...SEQ_GROUPS.map((g) => [`DOL${g}`, `DO${g}`] as const)],
  initRecord: (rec) => {
    rec.f.OLDN = rec.f.SELN;
  },
});

const fanout = makeType('fanout', 'output', fanoutFields(), {
  ...scalar(DbrType.LONG),
  fieldSupport: NO_SUPPORT,
  metadata: () => FANOUT_METADATA,
  // No alarm check: a processed fanout is defined (UDF cleared) and raises only what its links do.
  checkAlarms: () => undefined,
  valueMask: () => 0,
  support: fanoutSupport,
  constantLinks: [['SELL', 'SELN']],
});

const dfanout = makeType('dfanout', 'output', dfanoutFields(), {
  ...scalar(DbrType.DOUBLE),
  fieldSupport: DFANOUT_SUPPORT,
  metadata: (rec) => analogMetadata(rec, false, false),
  checkAlarms: limitAlarms,
  valueMask: analogMask,
  support: dfanoutSupport,
  constantLinks: [['SELL', 'SELN'], ['DOL', 'VAL']],
});

export const RECORD_TYPES: ReadonlyMap<string, RecordType> = new Map([
  ['ai', analogType('ai', false, false)],
  ['ao', analogType('ao', true, false)],
  ['longin', analogType('longin', false, true)],
  ['longout', analogType('longout', true, true)],
  ['int64in', analogType('int64in', false, true, true)],
  ['int64out', analogType('int64out', true, true, true)],
  ['bi', binaryType('bi', false)],
  ['bo', binaryType('bo', true)],
  ['mbbi', multiBitType('mbbi', false)],
  ['mbbo', multiBitType('mbbo', true)],
  ['stringin', stringType('stringin', false)],
  ['stringout', stringType('stringout', true)],
  ['lsi', longStringType('lsi', false)],
  ['lso', longStringType('lso', true)],
  ['waveform', waveform],
  ['calc', calcType('calc', false)],
  ['calcout', calcType('calcout', true)],
  ['fanout', fanout],
  ['dfanout', dfanout],
  ['seq', seq],
]);
