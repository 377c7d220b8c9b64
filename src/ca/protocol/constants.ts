/**
 * Channel Access protocol numbers: commands, DBR type codes, ECA status codes,
 * event masks and alarm enumerations.
 *
 * Values follow EPICS base `modules/ca/src/client/caProto.h`, `db_access.h`,
 * `caerr.h` and `menuAlarmStat.dbd` / `menuAlarmSevr.dbd`.
 */

/** Minor protocol version this server speaks (CA 4.13). */
export const CA_MINOR_VERSION = 13;
/** Default search (server) port and beacon (repeater) port. */
export const CA_SERVER_PORT = 5064;
export const CA_REPEATER_PORT = 5065;

/** Bytes in a standard header, and in an extended one (minor >= 9). */
export const HEADER_SIZE = 16;
export const EXTENDED_HEADER_SIZE = 24;

/** Message command codes (caProto.h CA_PROTO_*). */
export enum Command {
  VERSION = 0,
  EVENT_ADD = 1,
  EVENT_CANCEL = 2,
  READ = 3,
  WRITE = 4,
  SNAPSHOT = 5,
  SEARCH = 6,
  BUILD = 7,
  EVENTS_OFF = 8,
  EVENTS_ON = 9,
  READ_SYNC = 10,
  ERROR = 11,
  CLEAR_CHANNEL = 12,
  RSRV_IS_UP = 13,
  NOT_FOUND = 14,
  READ_NOTIFY = 15,
  READ_BUILD = 16,
  REPEATER_CONFIRM = 17,
  CREATE_CHAN = 18,
  WRITE_NOTIFY = 19,
  CLIENT_NAME = 20,
  HOST_NAME = 21,
  ACCESS_RIGHTS = 22,
  ECHO = 23,
  REPEATER_REGISTER = 24,
  SIGNAL = 25,
  CREATE_CH_FAIL = 26,
  SERVER_DISCONN = 27,
}

/** Search reply flag in the dtype field of a SEARCH request (DOREPLY / DONTREPLY). */
export const SEARCH_DO_REPLY = 10;
export const SEARCH_DONT_REPLY = 5;
/** In a UDP VERSION header: the p1 field carries a sequence number. */
export const VERSION_SEQUENCE_VALID = 1;

/** DBR type codes (db_access.h). */
export enum DbrType {
  STRING = 0, SHORT = 1, FLOAT = 2, ENUM = 3, CHAR = 4, LONG = 5, DOUBLE = 6,
  STS_STRING = 7, STS_SHORT = 8, STS_FLOAT = 9, STS_ENUM = 10, STS_CHAR = 11, STS_LONG = 12, STS_DOUBLE = 13,
  TIME_STRING = 14, TIME_SHORT = 15, TIME_FLOAT = 16, TIME_ENUM = 17, TIME_CHAR = 18, TIME_LONG = 19, TIME_DOUBLE = 20,
  GR_STRING = 21, GR_SHORT = 22, GR_FLOAT = 23, GR_ENUM = 24, GR_CHAR = 25, GR_LONG = 26, GR_DOUBLE = 27,
  CTRL_STRING = 28, CTRL_SHORT = 29, CTRL_FLOAT = 30, CTRL_ENUM = 31, CTRL_CHAR = 32, CTRL_LONG = 33, CTRL_DOUBLE = 34,
  PUT_ACKT = 35,
  PUT_ACKS = 36,
  STSACK_STRING = 37,
  CLASS_NAME = 38,
}

/** The seven native (plain) types a PV can have. */
export type NativeType =
  | DbrType.STRING | DbrType.SHORT | DbrType.FLOAT | DbrType.ENUM
  | DbrType.CHAR | DbrType.LONG | DbrType.DOUBLE;

export const LAST_DBR_TYPE = DbrType.CLASS_NAME;

/** Byte widths fixed by the protocol. */
export const MAX_STRING_SIZE = 40;
export const MAX_UNITS_SIZE = 8;
export const MAX_ENUM_STRING_SIZE = 26;
export const MAX_ENUM_STATES = 16;

/** Event masks (caeventmask.h DBE_*). */
export const DBE_VALUE = 1;
export const DBE_LOG = 2;
export const DBE_ARCHIVE = DBE_LOG;
export const DBE_ALARM = 4;
export const DBE_PROPERTY = 8;

/** Access rights bits in ACCESS_RIGHTS p2. */
export const ACCESS_READ = 1;
export const ACCESS_WRITE = 2;

/** ECA status codes, `(number << 3) | severity` (caerr.h). */
export enum Eca {
  NORMAL = 1,
  ALLOCMEM = 48,
  TOLARGE = 72,
  TIMEOUT = 80,
  BADTYPE = 114,
  INTERNAL = 142,
  GETFAIL = 152,
  PUTFAIL = 160,
  BADCOUNT = 176,
  BADSTR = 186,
  DISCONN = 192,
  BADCHID = 410,
  BADMONID = 242,
  PUTCBINPROG = 362,
  NORDACCESS = 368,
  NOWTACCESS = 376,
  NOCONVERT = 400,
  UNAVAILINSERV = 432,
}

/** Alarm severities (menuAlarmSevr). */
export enum AlarmSeverity {
  NO_ALARM = 0,
  MINOR = 1,
  MAJOR = 2,
  INVALID = 3,
}

/** Alarm status values (menuAlarmStat). */
export enum AlarmStatus {
  NO_ALARM = 0, READ = 1, WRITE = 2, HIHI = 3, HIGH = 4, LOLO = 5, LOW = 6, STATE = 7,
  COS = 8, COMM = 9, TIMEOUT = 10, HWLIMIT = 11, CALC = 12, SCAN = 13, LINK = 14,
  SOFT = 15, BAD_SUB = 16, UDF = 17, DISABLE = 18, SIMM = 19, READ_ACCESS = 20,
  WRITE_ACCESS = 21,
}

/** Human-readable text for an ECA code, as libca's ca_message() words it. */
export function ecaMessage(code: number): string {
  switch (code) {
    case Eca.NORMAL: return 'Normal successful completion';
    case Eca.ALLOCMEM: return 'Unable to allocate additional dynamic memory';
    case Eca.TOLARGE: return 'The requested transfer is greater than available memory or EPICS_CA_MAX_ARRAY_BYTES';
    case Eca.TIMEOUT: return 'User specified timeout on IO operation expired';
    case Eca.BADTYPE: return 'The data type specifed is invalid';
    case Eca.INTERNAL: return 'Channel Access Internal Failure';
    case Eca.GETFAIL: return 'Channel read request failed';
    case Eca.PUTFAIL: return 'Channel write request failed';
    case Eca.BADCOUNT: return 'Invalid element count requested';
    case Eca.BADSTR: return 'Invalid string';
    case Eca.DISCONN: return 'Virtual circuit disconnect';
    case Eca.BADCHID: return 'Invalid channel identifier';
    case Eca.BADMONID: return 'Bad event subscription (monitor) identifier';
    case Eca.PUTCBINPROG: return 'Put callback timed out';
    case Eca.NORDACCESS: return 'Read access denied';
    case Eca.NOWTACCESS: return 'Write access denied';
    case Eca.NOCONVERT: return 'No reasonable data conversion between client and server types';
    case Eca.UNAVAILINSERV: return 'Requested feature is no longer supported';
    default: return `ECA status ${code}`;
  }
}
