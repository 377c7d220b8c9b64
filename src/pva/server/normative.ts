/**
 * How a ProcessVariable is served over pvAccess: the normative type QSRV
 * would give its record (pvxs `ioc/singlesource.cpp`, `ioc/iocsource.cpp`),
 * the fields QSRV marks as present, and the conversion of a client's PUT
 * back into the PV's native CA type.
 *
 * QSRV marks only what record support provides: precision for floating
 * point values, alarm limits for records with alarm limits (not waveforms),
 * units for record types whose support has get_units (the ones with EGU;
 * not bi/mbbi/string records, for any of their fields),
 * `display.form.index` for VAL only. For a field other than VAL, the IOC
 * says which of these its record support gives (`MetadataParts`); QSRV marks
 * the display limits, and precision with them, when get_graphic_double
 * answers, the control and alarm limits when get_control_double and
 * get_alarm_double do. A monitor update marks what changed:
 * value and timeStamp for DBE_VALUE, alarm and timeStamp for DBE_ALARM,
 * the display/control/valueAlarm parts for DBE_PROPERTY.
 */
import { DbrType, type NativeType } from '../../ca/protocol/constants';
import type { DbrSource, DbrValue } from '../../ca/protocol/types';
import type { ProcessVariable } from '../../ca/pv';
import { BitSet } from '../protocol/bitset';
import { layoutOf, TypeCode, type FieldDesc, type Layout } from '../protocol/introspection';
import { FORM_CHOICES, ntAlarmMessage, ntAlarmStatus, ntEnum, ntNumeric, ntString, POSIX_TIME_AT_EPICS_EPOCH } from '../protocol/nt';
import { emptyStruct, type PvData, type PvStruct } from '../protocol/pvdata';

export type ShapeKind = 'number' | 'string' | 'enum';

/** Which parts of a channel's structure a change touches. */
export interface Parts {
  value: boolean;
  alarm: boolean;
  property: boolean;
  /** display.form: in a whole structure only (QSRV leaves it out of property updates). */
  form?: boolean;
}

export const ALL_PARTS: Parts = { value: true, alarm: true, property: true, form: true };

/** Which metadata record support gives for a field (each an rset routine that answers for it). */
export interface MetadataParts {
  units: boolean;
  /** get_precision, for a FLOAT or DOUBLE field. */
  precision: boolean;
  display: boolean;
  control: boolean;
  valueAlarm: boolean;
}

/**
 * Record types whose record support has get_units (those with an EGU field),
 * for every field; they are also the ones with display and control limits.
 */
const HAS_UNITS = new Set(['ai', 'ao', 'longin', 'longout', 'int64in', 'int64out', 'waveform', 'aai', 'aao', 'subArray', 'calc', 'calcout', 'dfanout', 'seq']);
/** Record types whose VAL has no alarm limits (no get_alarm_double). */
const NO_ALARM_LIMITS = new Set(['waveform', 'stringin', 'stringout', 'lsi', 'lso', 'aai', 'aao', 'subArray', 'mbbo', 'fanout']);

const VALUE_CODE: Partial<Record<number, TypeCode>> = {
  [DbrType.SHORT]: TypeCode.INT16,
  [DbrType.FLOAT]: TypeCode.FLOAT32,
  [DbrType.CHAR]: TypeCode.INT8,
  [DbrType.LONG]: TypeCode.INT32,
  [DbrType.DOUBLE]: TypeCode.FLOAT64,
};

/**
 * A field's database type, where it says more than its CA type: QSRV serves
 * DBF_ULONG as uint32, DBF_UCHAR as uint8 and DBF_INT64/DBF_UINT64 as
 * int64/uint64, where CA has only DOUBLE and CHAR for them.
 */
const DBF_CODE: Partial<Record<string, TypeCode>> = {
  CHAR: TypeCode.INT8, UCHAR: TypeCode.UINT8, SHORT: TypeCode.INT16, USHORT: TypeCode.UINT16,
  LONG: TypeCode.INT32, ULONG: TypeCode.UINT32, INT64: TypeCode.INT64, UINT64: TypeCode.UINT64,
  FLOAT: TypeCode.FLOAT32, DOUBLE: TypeCode.FLOAT64,
};

/** Slots of one channel's structure, resolved once per shape. */
interface Slots {
  value: number;
  index: number;
  choices: number;
  severity: number;
  status: number;
  message: number;
  seconds: number;
  nanoseconds: number;
  userTag: number;
  description: number;
  units: number;
  precision: number;
  formIndex: number;
  formChoices: number;
  displayLow: number;
  displayHigh: number;
  controlLow: number;
  controlHigh: number;
  lowAlarm: number;
  lowWarning: number;
  highWarning: number;
  highAlarm: number;
}

function slots(layout: Layout): Slots {
  const at = (p: string): number => layout.byPath.get(p) ?? -1;
  return {
    value: at('value'), index: at('value.index'), choices: at('value.choices'),
    severity: at('alarm.severity'), status: at('alarm.status'), message: at('alarm.message'),
    seconds: at('timeStamp.secondsPastEpoch'), nanoseconds: at('timeStamp.nanoseconds'), userTag: at('timeStamp.userTag'),
    description: at('display.description'), units: at('display.units'), precision: at('display.precision'),
    formIndex: at('display.form.index'), formChoices: at('display.form.choices'),
    displayLow: at('display.limitLow'), displayHigh: at('display.limitHigh'),
    controlLow: at('control.limitLow'), controlHigh: at('control.limitHigh'),
    lowAlarm: at('valueAlarm.lowAlarmLimit'), lowWarning: at('valueAlarm.lowWarningLimit'),
    highWarning: at('valueAlarm.highWarningLimit'), highAlarm: at('valueAlarm.highAlarmLimit'),
  };
}

/** The served form of one PV: its type and how to fill it from a snapshot. */
export class ChannelShape {
  readonly kind: ShapeKind;
  readonly desc: FieldDesc;
  readonly layout: Layout;
  readonly array: boolean;
  private readonly s: Slots;
  private readonly isVal: boolean;
  /** `REC.FIELD$`: a string as characters, which QSRV serves up to and including its NUL. */
  private readonly longString: boolean;
  private readonly hasUnits: boolean;
  /** display limits: record types with get_graphic_double (an lsi's VAL$ has none). */
  private readonly hasLimits: boolean;
  /** control limits: get_control_double. */
  private readonly hasControl: boolean;
  private readonly hasPrecision: boolean;
  private readonly hasAlarmLimits: boolean;
  private readonly integer: boolean;
  /** The value's type code (numbers only). */
  private readonly code: TypeCode | undefined;

  /**
   * `dbf` is the field's database type (DBF_ without the prefix; the element
   * type for an array), when the PV has one.
   */
  constructor(readonly pv: ProcessVariable, className: string, dbf?: string, parts?: MetadataParts) {
    const dot = pv.name.lastIndexOf('.');
    // REC.VAL$ (a long string as characters) is VAL to QSRV.
    this.isVal = dot < 0 || pv.name.slice(dot + 1).replace(/\$$/, '') === 'VAL';
    this.longString = pv.name.endsWith('$') && pv.nativeType === DbrType.CHAR;
    this.array = pv.maxCount > 1 && pv.nativeType !== DbrType.ENUM;
    if (pv.nativeType === DbrType.ENUM && !this.array) {
      this.kind = 'enum';
      this.desc = ntEnum();
    } else if (pv.nativeType === DbrType.STRING) {
      this.kind = 'string';
      this.desc = ntString(this.array);
    } else {
      this.kind = 'number';
      const code = (dbf === undefined ? undefined : DBF_CODE[dbf])
        ?? (pv.nativeType === DbrType.ENUM ? TypeCode.UINT16 : (VALUE_CODE[pv.nativeType] ?? TypeCode.FLOAT64));
      this.desc = ntNumeric(code, this.array);
      this.code = code;
    }
    this.layout = layoutOf(this.desc);
    this.s = slots(this.layout);
    const floating = this.code === TypeCode.FLOAT64 || this.code === TypeCode.FLOAT32;
    this.integer = !floating;
    if (parts) {
      this.hasUnits = parts.units;
      this.hasLimits = parts.display;
      this.hasControl = parts.control;
      // QSRV fills display.precision only together with the display limits.
      this.hasPrecision = parts.precision && parts.display;
      this.hasAlarmLimits = parts.valueAlarm;
    } else {
      this.hasUnits = HAS_UNITS.has(className);
      // The same record types have get_graphic_double and get_control_double.
      this.hasLimits = this.hasUnits;
      this.hasControl = this.hasUnits;
      this.hasPrecision = floating;
      this.hasAlarmLimits = !NO_ALARM_LIMITS.has(className);
    }
  }

  /** A fresh value of this shape (every slot at its zero). */
  empty(): PvStruct {
    return emptyStruct(this.desc);
  }

  /**
   * Write the parts of `snap` named by `parts` into `into` and mark them in
   * `changed`. `description` is the record's DESC.
   */
  fill(into: PvStruct, changed: BitSet, snap: DbrSource, description: string, parts: Parts): void {
    const v = into.values;
    const s = this.s;
    const mark = (slot: number, value: PvData): void => {
      if (slot < 0) return;
      v[slot] = value;
      changed.set(slot);
    };
    if (parts.value) {
      if (this.kind === 'enum') mark(s.index, Number(elementAt(snap.value, 0) ?? 0));
      else if (this.longString) mark(s.value, throughNul(snap.value as ArrayLike<number>));
      else if (this.array) mark(s.value, arrayValue(snap.value, this.kind, this.code));
      else if (this.kind === 'string') mark(s.value, String(elementAt(snap.value, 0) ?? ''));
      else mark(s.value, Number(elementAt(snap.value, 0) ?? 0));
    }
    if (parts.value || parts.alarm) {
      mark(s.seconds, BigInt(snap.timestamp.secPastEpoch + POSIX_TIME_AT_EPICS_EPOCH));
      mark(s.nanoseconds, snap.timestamp.nsec);
      mark(s.userTag, 0);
    }
    if (parts.alarm) {
      mark(s.severity, snap.severity);
      mark(s.status, ntAlarmStatus(snap.status));
      mark(s.message, ntAlarmMessage(snap.status));
    }
    if (parts.property) {
      const m = snap.metadata;
      mark(s.description, description);
      if (this.kind === 'enum') {
        mark(s.choices, [...m.enumStrings]);
        return;
      }
      if (this.hasUnits) mark(s.units, m.units);
      if (this.kind === 'string') return;
      if (this.hasPrecision) mark(s.precision, m.precision);
      if (parts.form) {
        if (this.isVal) mark(s.formIndex, 0);
        mark(s.formChoices, [...FORM_CHOICES]);
      }
      if (this.hasLimits) {
        mark(s.displayLow, m.lowerDisplayLimit);
        mark(s.displayHigh, m.upperDisplayLimit);
      }
      if (this.hasControl) {
        mark(s.controlLow, m.lowerControlLimit);
        mark(s.controlHigh, m.upperControlLimit);
      }
      if (this.hasAlarmLimits) {
        // A field other than VAL has the alarm limits its record support gives (NaN, or
        // what a calc input reads); an integer field shows NaN as QSRV's cast does: 0,
        // and for a 64-bit field the x86-64 integer indefinite 0x8000000000000000.
        const nan = this.code === TypeCode.INT64 ? -(2 ** 63) : this.code === TypeCode.UINT64 ? 2 ** 63 : 0;
        const limit = (x: number): number => (this.isVal || !this.integer ? x : Number.isNaN(x) ? nan : x);
        mark(s.lowAlarm, limit(m.lowerAlarmLimit));
        mark(s.lowWarning, limit(m.lowerWarningLimit));
        mark(s.highWarning, limit(m.upperWarningLimit));
        mark(s.highAlarm, limit(m.upperAlarmLimit));
      }
    }
  }

  /**
   * The value a PUT carries, as the elements of the served type, or
   * undefined when the PUT marks no value: strings for a string PV, the
   * index of an enum, numbers otherwise. An array longer than the PV's
   * largest count keeps its first elements (dbPut cuts what QSRV hands it to
   * the field's size). `type` is the CA type those elements are exact in,
   * what the PV's `convertWrite` takes them as: FLOAT for float32, DOUBLE
   * for the other number types up to 32 bits; undefined for int64 and
   * uint64, which are the field's own elements already (only an INT64 or
   * UINT64 field is served so) and which a double may not hold exactly: a
   * C cast of the double nearest to 2^64 - 1 would store 0, where QSRV
   * stores the number as it came. Throws Error with a client-facing message.
   */
  putValue(value: PvStruct, changed: BitSet): { value: DbrValue; type: NativeType | undefined } | undefined {
    const s = this.s;
    const marked = (slot: number): boolean => {
      // A slot is marked when it, or a structure containing it, is.
      for (const node of this.layout.nodes) {
        if (node.offset > slot) break;
        if (changed.get(node.offset) && slot < node.offset + node.size) return true;
      }
      return false;
    };
    if (this.kind === 'enum') {
      if (!marked(s.index)) return undefined;
      return { value: [Number(value.values[s.index])], type: DbrType.ENUM };
    }
    if (!marked(s.value)) return undefined;
    const raw = value.values[s.value];
    const type = this.kind === 'string' ? DbrType.STRING
      : this.code === TypeCode.FLOAT32 ? DbrType.FLOAT
      : this.code === TypeCode.INT64 || this.code === TypeCode.UINT64 ? undefined : DbrType.DOUBLE;
    if (this.array) {
      const elements = raw as ArrayLike<string | number>;
      const count = Math.min(elements.length, this.pv.maxCount);
      if (this.kind === 'string') return { value: Array.from({ length: count }, (_, i) => String(elements[i])), type };
      return { value: Float64Array.from({ length: count }, (_, i) => Number(elements[i])), type };
    }
    if (this.kind === 'string') return { value: [String(raw)], type };
    return { value: [Number(raw)], type };
  }
}

function elementAt(value: DbrValue, i: number): string | number | undefined {
  return (value as ArrayLike<string | number>)[i];
}

/** The characters of a long string up to and including the first NUL (all of them when there is none). */
function throughNul(chars: ArrayLike<number>): PvData {
  const bytes = Uint8Array.from(chars);
  const nul = bytes.indexOf(0);
  return nul < 0 ? bytes : bytes.subarray(0, nul + 1);
}

const UINT64_MAX = 2n ** 64n - 1n;

function arrayValue(value: DbrValue, kind: ShapeKind, code: TypeCode | undefined): PvData {
  if (kind === 'string') return Array.from(value as ArrayLike<string>, String);
  // A UINT64 element is held as a double: 2^64 - 1 is held as 2^64, which is served as 2^64 - 1.
  if (code === TypeCode.UINT64) return BigUint64Array.from(value as ArrayLike<number>, (v) => (v >= 2 ** 64 ? UINT64_MAX : Number.isFinite(v) && v > 0 ? BigInt(Math.trunc(v)) : 0n));
  return value as ArrayLike<number>;
}

/** The whole structure of a PV now, with QSRV's marks: a GET reply or a monitor's first update. */
export function fullValue(shape: ChannelShape, snap: DbrSource, description: string): { value: PvStruct; changed: BitSet } {
  const value = shape.empty();
  const changed = new BitSet(shape.layout.nodes.length);
  shape.fill(value, changed, snap, description, ALL_PARTS);
  return { value, changed };
}
