/**
 * The data model the codec encodes from and decodes to: a PV's value with its
 * alarm, timestamp and metadata, independent of any wire layout.
 */
import type { NativeType } from './constants';

/** EPICS timestamp: seconds since 1990-01-01 00:00:00 UTC, and nanoseconds. */
export interface EpicsTimestamp {
  secPastEpoch: number;
  nsec: number;
}

/**
 * Element values in the PV's native type: strings for DBR_STRING, numbers for
 * every other type (the enum index for DBR_ENUM). Its length is the current
 * element count.
 */
export type DbrValue = readonly string[] | ArrayLike<number>;

/** Display, alarm and control metadata carried by the GR and CTRL types. */
export interface DbrMetadata {
  units: string;
  precision: number;
  upperDisplayLimit: number;
  lowerDisplayLimit: number;
  upperAlarmLimit: number;
  upperWarningLimit: number;
  lowerWarningLimit: number;
  lowerAlarmLimit: number;
  upperControlLimit: number;
  lowerControlLimit: number;
  /** Enum labels (at most 16); empty for non-enum PVs. */
  enumStrings: readonly string[];
}

/** Everything any DBR type can carry about a PV at one instant. */
export interface DbrSource {
  nativeType: NativeType;
  value: DbrValue;
  status: number;
  severity: number;
  timestamp: EpicsTimestamp;
  metadata: DbrMetadata;
  /** Alarm acknowledge transient flag and acknowledge severity (DBR_STSACK_STRING). */
  ackt: number;
  acks: number;
  /** Record type name, served as DBR_CLASS_NAME. */
  className: string;
  /**
   * The text of an ENUM value as DBR_STRING, when the PV has its own rule for
   * it (a record's get_enum_str); without it, the label or the decimal index.
   */
  enumText?: (index: number) => string;
  /**
   * The precision of a FLOAT/DOUBLE value's DBR_STRING text when it is not
   * `metadata.precision` (a record field other than VAL: what dbGet's
   * conversion uses); NaN for plain decimal text (an integer field served as
   * DOUBLE).
   */
  textPrecision?: number;
  /**
   * A DOUBLE value that is an integer field's (DBF_ULONG, DBF_INT64,
   * DBF_UINT64): read as an integer type it keeps its low bits, as an integer
   * cast does, where a true double would be cast through int32.
   */
  integral?: boolean;
  /**
   * A CHAR value that is a signed field's (DBF_CHAR, or a waveform of FTVL
   * CHAR): read as another type each element is an int8. DBR_CHAR itself is
   * unsigned and carries the same bytes either way.
   */
  signedChar?: boolean;
}

/** A DBR payload decoded back into its parts (fields absent from the type are undefined). */
export interface DecodedDbr {
  dbrType: number;
  /** The native type of the value part. */
  valueType: NativeType;
  value: number[] | string[];
  status?: number;
  severity?: number;
  timestamp?: EpicsTimestamp;
  /** Present for GR and CTRL types; fields a type does not carry are left at 0 / "" / []. */
  metadata?: DbrMetadata;
  ackt?: number;
  acks?: number;
}

export const EMPTY_METADATA: DbrMetadata = Object.freeze({
  units: '',
  precision: 0,
  upperDisplayLimit: 0,
  lowerDisplayLimit: 0,
  upperAlarmLimit: 0,
  upperWarningLimit: 0,
  lowerWarningLimit: 0,
  lowerAlarmLimit: 0,
  upperControlLimit: 0,
  lowerControlLimit: 0,
  enumStrings: Object.freeze([]) as readonly string[],
});

/** A plain array copy of a value's elements (typed arrays included). */
export function valueElements(value: DbrValue): Array<number | string> {
  return Array.from(value as ArrayLike<number | string>);
}
