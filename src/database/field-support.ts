/**
 * What record support tells a client about a field other than VAL: the rset
 * routines get_units, get_precision, get_graphic_double, get_control_double
 * and get_alarm_double, as dbAccess.c's getOptions asks them, with recGbl.c's
 * defaults for the fields a routine does not name (recGblGetPrec,
 * recGblGetGraphicDouble, recGblGetControlDouble, recGblGetAlarmDouble).
 *
 * Each record type describes its routines as a `FieldSupportTable` (in
 * recordtypes.ts); `describeField` reads a field's metadata from it. A part
 * whose routine the type does not have is left out (undefined): dbAccess then
 * turns its option off and serves zeros over Channel Access, and QSRV does
 * not mark it over pvAccess.
 */
import type { DbfType, FieldDef } from './fields';
import type { RecordState } from './record-state';

export interface Limits {
  readonly high: number;
  readonly low: number;
}

export interface AlarmLimits {
  readonly upperAlarm: number;
  readonly upperWarning: number;
  readonly lowerWarning: number;
  readonly lowerAlarm: number;
}

/** A field's metadata; a part is undefined when record support does not provide it. */
export interface FieldMeta {
  readonly units?: string;
  /** Only for FLOAT and DOUBLE fields (dbAccess asks get_precision for no other type). */
  readonly precision?: number;
  readonly display?: Limits;
  readonly control?: Limits;
  readonly alarm?: AlarmLimits;
}

/** A limit: a field of the record (its value as a number), or a number. */
export type LimitSource = string | number;

/**
 * Limits for a set of fields: [high, low] from fields or numbers, or computed
 * from the record and the field's own range (recGbl's range of its type).
 */
export interface LimitRule {
  readonly fields: readonly string[];
  readonly limits: readonly [high: LimitSource, low: LimitSource] | ((rec: RecordState, range: Limits) => Limits);
}

export interface FieldSupportTable {
  /** get_units; absent when the type has none. */
  readonly units?: {
    /** Fields that show EGU: those of these DBF types, or these names, less `except`. */
    readonly egu?: { readonly types?: readonly DbfType[]; readonly fields?: readonly string[]; readonly except?: readonly string[] };
    /** Fields with units of their own. */
    readonly fixed?: Readonly<Record<string, string>>;
    /** Fields of any type whose units are those of what a link reads (seq LNKn): the link, or undefined. */
    readonly fromLink?: (field: string) => string | undefined;
  };
  /**
   * get_precision; absent when the type has none. Fields in `raw` give PREC as
   * it is, `fixed` ones their number, every other field PREC through
   * recGblGetPrec (0 for integers, 15 for a PREC outside 0..15).
   */
  readonly precision?: { readonly raw?: readonly string[]; readonly fixed?: Readonly<Record<string, number>> };
  /** get_graphic_double; absent when the type has none. Fields no rule names get their type's range. */
  readonly display?: readonly LimitRule[];
  /** get_control_double, the same way. */
  readonly control?: readonly LimitRule[];
  /** get_alarm_double: a field other than VAL has none of its own (NaN). */
  readonly alarm?: boolean;
  /**
   * calc/calcout: fields whose units, precision, display and alarm limits are
   * those of what an input link reads (dbGetUnits, dbGetPrecision...): the
   * link for a field, or undefined.
   */
  readonly linked?: (field: string) => string | undefined;
}

/** recGbl.c getMaxRangeValues: the range of a field type; 0..0 for types it does not list. */
export function typeRange(type: DbfType): Limits {
  switch (type) {
    case 'CHAR': return { high: 127, low: -128 };
    case 'UCHAR': return { high: 255, low: 0 };
    case 'SHORT': return { high: 32767, low: -32768 };
    case 'ENUM': case 'USHORT': return { high: 65535, low: 0 };
    case 'LONG': return { high: 2147483647, low: -2147483648 };
    case 'ULONG': return { high: 4294967295, low: 0 };
    case 'INT64': return { high: 2 ** 63, low: -(2 ** 63) };
    case 'UINT64': return { high: 2 ** 64, low: 0 };
    case 'FLOAT': return { high: 1e30, low: -1e30 };
    case 'DOUBLE': return { high: 1e300, low: -1e300 };
    default: return NO_LIMITS;
  }
}

export const NO_LIMITS: Limits = Object.freeze({ high: 0, low: 0 });
export const NO_ALARM_LIMITS: AlarmLimits = Object.freeze({ upperAlarm: NaN, upperWarning: NaN, lowerWarning: NaN, lowerAlarm: NaN });

export function isFloatDbf(type: DbfType): boolean {
  return type === 'FLOAT' || type === 'DOUBLE';
}

function isIntegerDbf(type: DbfType): boolean {
  return ['CHAR', 'UCHAR', 'SHORT', 'USHORT', 'LONG', 'ULONG', 'INT64', 'UINT64'].includes(type);
}

/** recGblGetPrec: integers have none, a floating point field at most 15 digits. */
function clampPrecision(type: DbfType, prec: number): number {
  if (isIntegerDbf(type)) return 0;
  if (isFloatDbf(type) && (prec < 0 || prec > 15)) return 15;
  return prec;
}

function numberOf(rec: RecordState, source: LimitSource): number {
  return typeof source === 'number' ? source : Number(rec.f[source]);
}

function limitsBy(rules: readonly LimitRule[], rec: RecordState, def: FieldDef): Limits {
  const range = typeRange(def.type);
  const rule = rules.find((r) => r.fields.includes(def.name));
  if (!rule) return range;
  const l = rule.limits;
  if (typeof l === 'function') return l(rec, range);
  return { high: numberOf(rec, l[0]), low: numberOf(rec, l[1]) };
}

/** The PREC a record's get_precision gives for a field (any type; the precision of its DBR_STRING text). */
function precisionBy(table: NonNullable<FieldSupportTable['precision']>, rec: RecordState, def: FieldDef): number {
  const fixed = table.fixed?.[def.name];
  if (fixed !== undefined) return fixed;
  const prec = Number(rec.f.PREC ?? 0);
  return table.raw?.includes(def.name) ? prec : clampPrecision(def.type, prec);
}

/** Follows a calc input link to the metadata of the field it reads; undefined for a constant or empty link. */
export type LinkMeta = (link: string) => FieldMeta | undefined;

/** The metadata record support gives `def` (a field other than VAL) of `rec`. */
export function describeField(table: FieldSupportTable, rec: RecordState, def: FieldDef, linkMeta?: LinkMeta): FieldMeta {
  const name = def.name;
  const link = table.linked?.(name);
  const target = link === undefined ? undefined : linkMeta?.(link);
  const float = isFloatDbf(def.type);
  const out: { -readonly [K in keyof FieldMeta]: FieldMeta[K] } = {};
  if (table.units) {
    const u = table.units;
    const fixed = u.fixed?.[name];
    const unitsLink = u.fromLink?.(name);
    if (fixed !== undefined) out.units = fixed;
    else if (unitsLink !== undefined) out.units = linkMeta?.(unitsLink)?.units ?? '';
    else if (link !== undefined) out.units = float ? (target?.units ?? '') : '';
    else {
      const e = u.egu;
      const shows = e !== undefined && !(e.except ?? []).includes(name)
        && ((e.types ?? []).includes(def.type) || (e.fields ?? []).includes(name));
      out.units = shows ? String(rec.f.EGU ?? '') : '';
    }
  }
  if (table.precision && float) {
    // dbGetPrecision of a constant link fails: the field keeps PREC as it is.
    out.precision = link !== undefined ? (target ? target.precision ?? 0 : Number(rec.f.PREC ?? 0)) : precisionBy(table.precision, rec, def);
  }
  if (table.display) out.display = link !== undefined ? (target?.display ?? NO_LIMITS) : limitsBy(table.display, rec, def);
  if (table.control) out.control = limitsBy(table.control, rec, def);
  if (table.alarm) out.alarm = link !== undefined ? (target?.alarm ?? NO_ALARM_LIMITS) : NO_ALARM_LIMITS;
  return out;
}

/**
 * The precision of a field's DBR_STRING text (dbFastLinkConv.c cvt_d_st and
 * cvt_f_st: what get_precision gives, 6 when the type has none), for FLOAT
 * and DOUBLE fields; NaN (plain decimal text) for any other.
 */
export function textPrecision(table: FieldSupportTable, rec: RecordState, def: FieldDef, linkMeta?: LinkMeta): number {
  if (!isFloatDbf(def.type)) return NaN;
  if (!table.precision) return 6;
  return describeField({ precision: table.precision, linked: table.linked }, rec, def, linkMeta).precision ?? 6;
}
