/**
 * Field types, menus and how each field type is served over Channel Access,
 * following EPICS base's dbFldTypes.h, the menu*.dbd files and
 * dbAccess.c's mapping of DBF types to DBR types.
 */
import { DbrType, type NativeType } from '../ca/protocol/constants';

export type DbfType =
  | 'STRING' | 'CHAR' | 'UCHAR' | 'SHORT' | 'USHORT' | 'LONG' | 'ULONG' | 'INT64' | 'UINT64'
  | 'FLOAT' | 'DOUBLE' | 'ENUM' | 'MENU' | 'DEVICE' | 'INLINK' | 'OUTLINK' | 'FWDLINK' | 'NOACCESS';

export interface FieldDef {
  readonly name: string;
  readonly type: DbfType;
  /** Characters (including the NUL) for STRING fields. */
  readonly size?: number;
  /** Menu choices for MENU fields. */
  readonly menu?: readonly string[];
  /** Initial value as .db text would give it ('' for none). */
  readonly initial?: string;
  /** Not writable over CA (SPC_NOMOD in EPICS). */
  readonly readOnly?: boolean;
  /** A put to this field processes the record (pp(TRUE)). */
  readonly process?: boolean;
  /**
   * A metadata field (prop(YES) in the .dbd): a write to it posts
   * DBE_PROPERTY to every monitor of the record.
   */
  readonly property?: boolean;
  /** A write to it posts DBE_PROPERTY to VAL's monitors only (mbbi/mbbo special() for the state strings). */
  readonly valueProperty?: boolean;
}

/** The DBR type a field of this DBF type is served as (dbAccess.c dbDBRnewToDBRold). */
export function nativeTypeOfDbf(t: DbfType): NativeType {
  switch (t) {
    case 'STRING': case 'INLINK': case 'OUTLINK': case 'FWDLINK': case 'NOACCESS': return DbrType.STRING;
    case 'CHAR': case 'UCHAR': return DbrType.CHAR;
    case 'SHORT': return DbrType.SHORT;
    case 'USHORT': case 'LONG': return DbrType.LONG;
    case 'ULONG': case 'INT64': case 'UINT64': case 'DOUBLE': return DbrType.DOUBLE;
    case 'FLOAT': return DbrType.FLOAT;
    case 'ENUM': case 'MENU': case 'DEVICE': return DbrType.ENUM;
  }
}

/** An integer field type served as DOUBLE (its values are whole numbers held in a double). */
export function isIntegralDouble(t: DbfType): boolean {
  return t === 'ULONG' || t === 'INT64' || t === 'UINT64';
}

export function isNumericDbf(t: DbfType): boolean {
  return nativeTypeOfDbf(t) !== DbrType.STRING && t !== 'ENUM' && t !== 'MENU' && t !== 'DEVICE';
}

// Menus (choices in the order of their .dbd definitions).
export const menuScan = ['Passive', 'Event', 'I/O Intr', '10 second', '5 second', '2 second', '1 second', '.5 second', '.2 second', '.1 second'] as const;
export const menuAlarmSevr = ['NO_ALARM', 'MINOR', 'MAJOR', 'INVALID'] as const;
export const menuAlarmStat = [
  'NO_ALARM', 'READ', 'WRITE', 'HIHI', 'HIGH', 'LOLO', 'LOW', 'STATE', 'COS', 'COMM', 'TIMEOUT', 'HWLIMIT',
  'CALC', 'SCAN', 'LINK', 'SOFT', 'BAD_SUB', 'UDF', 'DISABLE', 'SIMM', 'READ_ACCESS', 'WRITE_ACCESS',
] as const;
export const menuYesNo = ['NO', 'YES'] as const;
export const menuPini = ['NO', 'YES', 'RUN', 'RUNNING', 'PAUSE', 'PAUSED'] as const;
export const menuPriority = ['LOW', 'MEDIUM', 'HIGH'] as const;
export const menuFtype = ['STRING', 'CHAR', 'UCHAR', 'SHORT', 'USHORT', 'LONG', 'ULONG', 'INT64', 'UINT64', 'FLOAT', 'DOUBLE', 'ENUM'] as const;
export const menuOmsl = ['supervisory', 'closed_loop'] as const;
export const menuIvoa = ['Continue normally', "Don't drive outputs", 'Set output to IVOV'] as const;
export const menuPost = ['On Change', 'Always'] as const;
export const menuConvert = [
  'NO CONVERSION', 'SLOPE', 'LINEAR', 'typeKdegF', 'typeKdegC', 'typeJdegF', 'typeJdegC', 'typeEdegF(ixe only)', 'typeEdegC(ixe only)',
  'typeTdegF', 'typeTdegC', 'typeRdegF', 'typeRdegC', 'typeSdegF', 'typeSdegC',
] as const;

/** Seconds between scans for the periodic SCAN choices, by menu index. */
export const SCAN_PERIODS: Readonly<Record<number, number>> = { 3: 10, 4: 5, 5: 2, 6: 1, 7: 0.5, 8: 0.2, 9: 0.1 };
export const SCAN_IO_INTR = 2;
export const SCAN_PASSIVE = 0;
