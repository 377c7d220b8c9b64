/**
 * Normative types as QSRV serves records (pvxs `documentation/nt.rst`,
 * `ioc/singlesource.cpp`): NTScalar and NTScalarArray with display,
 * control and valueAlarm for numbers, a reduced display for strings, and
 * NTEnum. Descriptions are built once per shape and shared, so a layout
 * (bit numbering) is computed once per shape too.
 */
import { arrayOf, scalar, struct, TypeCode, type FieldDesc } from './introspection';

export const ALARM_T = struct('alarm_t', [
  ['severity', scalar(TypeCode.INT32)],
  ['status', scalar(TypeCode.INT32)],
  ['message', scalar(TypeCode.STRING)],
]);

export const TIME_T = struct('time_t', [
  ['secondsPastEpoch', scalar(TypeCode.INT64)],
  ['nanoseconds', scalar(TypeCode.INT32)],
  ['userTag', scalar(TypeCode.INT32)],
]);

export const ENUM_T = struct('enum_t', [
  ['index', scalar(TypeCode.INT32)],
  ['choices', arrayOf(TypeCode.STRING)],
]);

/** display.form choices, in QSRV's order (ioc/iocsource.cpp). */
export const FORM_CHOICES: readonly string[] = ['Default', 'String', 'Binary', 'Decimal', 'Hex', 'Exponential', 'Engineering'];

const cache = new Map<string, FieldDesc>();

function once(key: string, build: () => FieldDesc): FieldDesc {
  let d = cache.get(key);
  if (!d) cache.set(key, (d = build()));
  return d;
}

/** NTScalar (array: NTScalarArray) of a number type: value, alarm, timeStamp, display, control, valueAlarm. */
export function ntNumeric(code: TypeCode, array: boolean): FieldDesc {
  return once(`num:${code}:${array}`, () => {
    const v = scalar(code);
    return struct(array ? 'epics:nt/NTScalarArray:1.0' : 'epics:nt/NTScalar:1.0', [
      ['value', array ? arrayOf(code) : v],
      ['alarm', ALARM_T],
      ['timeStamp', TIME_T],
      ['display', struct('', [
        ['limitLow', v], ['limitHigh', v], ['description', scalar(TypeCode.STRING)], ['units', scalar(TypeCode.STRING)],
        ['precision', scalar(TypeCode.INT32)], ['form', ENUM_T],
      ])],
      ['control', struct('', [['limitLow', v], ['limitHigh', v], ['minStep', v]])],
      ['valueAlarm', struct('', [
        ['active', scalar(TypeCode.BOOL)],
        ['lowAlarmLimit', v], ['lowWarningLimit', v], ['highWarningLimit', v], ['highAlarmLimit', v],
        ['lowAlarmSeverity', scalar(TypeCode.INT32)], ['lowWarningSeverity', scalar(TypeCode.INT32)],
        ['highWarningSeverity', scalar(TypeCode.INT32)], ['highAlarmSeverity', scalar(TypeCode.INT32)],
        ['hysteresis', scalar(TypeCode.FLOAT64)],
      ])],
    ]);
  });
}

/** NTScalar (array: NTScalarArray) of strings: display has only description and units. */
export function ntString(array: boolean): FieldDesc {
  return once(`str:${array}`, () => struct(array ? 'epics:nt/NTScalarArray:1.0' : 'epics:nt/NTScalar:1.0', [
    ['value', array ? arrayOf(TypeCode.STRING) : scalar(TypeCode.STRING)],
    ['alarm', ALARM_T],
    ['timeStamp', TIME_T],
    ['display', struct('', [['description', scalar(TypeCode.STRING)], ['units', scalar(TypeCode.STRING)]])],
  ]));
}

/** NTEnum: value is enum_t {index, choices}. */
export function ntEnum(): FieldDesc {
  return once('enum', () => struct('epics:nt/NTEnum:1.0', [
    ['value', ENUM_T],
    ['alarm', ALARM_T],
    ['timeStamp', TIME_T],
    ['display', struct('', [['description', scalar(TypeCode.STRING)]])],
  ]));
}

/** The reply of the server's `server` RPC channel for op=channels (pvxs server.cpp). */
export function ntStringList(): FieldDesc {
  return once('list', () => struct('epics:nt/NTScalarArray:1.0', [
    ['value', arrayOf(TypeCode.STRING)],
    ['alarm', ALARM_T],
    ['timeStamp', TIME_T],
  ]));
}

/**
 * alarm.status from an EPICS alarm status (menuAlarmStat), as QSRV maps it
 * (ioc/iocsource.cpp getTimeAlarm): 0 none, 1 device, 2 driver, 3 record, 4 db, 6 undefined.
 */
const STATUS_CLASS: readonly number[] = [0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 1, 3, 3, 3, 3, 3, 2, 4, 4, 4, 4];

export function ntAlarmStatus(epicsStatus: number): number {
  return STATUS_CLASS[epicsStatus] ?? 6;
}

/** epicsAlarmConditionStrings: alarm.message when the record has no message of its own. */
export const ALARM_CONDITIONS: readonly string[] = [
  'NO_ALARM', 'READ', 'WRITE', 'HIHI', 'HIGH', 'LOLO', 'LOW', 'STATE', 'COS', 'COMM', 'TIMEOUT', 'HWLIMIT',
  'CALC', 'SCAN', 'LINK', 'SOFT', 'BAD_SUB', 'UDF', 'DISABLE', 'SIMM', 'READ_ACCESS', 'WRITE_ACCESS',
];

export function ntAlarmMessage(epicsStatus: number): string {
  return epicsStatus === 0 ? '' : (ALARM_CONDITIONS[epicsStatus] ?? '');
}

/** POSIX seconds at the EPICS epoch (timeStamp.secondsPastEpoch is POSIX time). */
export const POSIX_TIME_AT_EPICS_EPOCH = 631152000;
