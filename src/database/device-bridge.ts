/**
 * What the bridges' device supports (systemd, queueserver, redis, journal)
 * have in common: their INP/OUT instrument link "@TARGET NAME" (a unit, a
 * manager's or a server's pv, then what to show or do), the records bound to
 * one target, each with what it shows or does, and how a value and the
 * device's alarm reach a record. Where the bridges report health to is the
 * HealthSink of ./device.
 */
import type { AlarmSeverity, AlarmStatus } from '../ca/protocol/constants';
import { ServiceIocError, type ErrorCode } from '../errors';
import type { DeviceBinding, DeviceRecord } from './device';
import type { FieldValue } from './recordtypes';

/** An alarm device support holds on a record. */
export interface DeviceAlarm {
  status: AlarmStatus;
  severity: AlarmSeverity;
}

/** An INP or OUT that device support cannot bind: loading stops at the record. */
export class DeviceLinkError extends ServiceIocError {
  constructor(code: ErrorCode, readonly link: string, detail: string) {
    super(code, `link "${link}": ${detail}`);
  }
}

/** "@TARGET NAME" split in two; `example` is shown when the link has another shape. */
export function parseLink(link: string, example: string): { target: string; name: string } {
  const m = /^@(\S+)\s+(\S+)\s*$/.exec(link.trim());
  if (!m) throw new DeviceLinkError('LINK_ERR_SYNTAX', link, `expected ${example}`);
  return { target: m[1], name: m[2] };
}

/** `name` as one of `names`, or the error that lists them. */
export function oneOf<T extends string>(link: string, name: string, names: readonly T[]): T {
  if (!(names as readonly string[]).includes(name)) throw new DeviceLinkError('LINK_ERR_UNKNOWN_NAME', link, `expected one of ${names.join(', ')}`);
  return name as T;
}

/** A link whose target is none of the configured ones (`table` is the configuration's, e.g. "[[redis]]"). */
export function unknownTarget(link: string, table: string, target: string, known: Iterable<string>): DeviceLinkError {
  const names = [...known];
  return new DeviceLinkError('LINK_ERR_UNKNOWN_TARGET', link, `no ${table} has pv = "${target}"${names.length ? `; configured: ${names.join(', ')}` : ''}`);
}

/** Cut a string to what the record holds (SIZV for lsi, 40 for stringin), on a character boundary. */
export function fitString(record: DeviceRecord, value: string): string {
  const size = record.recordType === 'lsi' ? Math.max(1, Number(record.field('SIZV'))) : 40;
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length <= size - 1) return value;
  // A multi-byte character cut in two decodes as U+FFFD: drop it.
  return bytes.subarray(0, size - 1).toString('utf8').replace(/\uFFFD$/, '');
}

/**
 * The records bound to one target: status records by what they show,
 * control records by what they do, and the value each was last shown.
 */
export class BoundRecords<S extends string, C extends string = never> {
  readonly status = new Map<DeviceRecord, S>();
  readonly controls = new Map<DeviceRecord, C>();
  private readonly last = new Map<DeviceRecord, FieldValue>();

  /** Bind a status record: `publish` shows it now and on every scan (a value that grows without news, like an age). */
  bindStatus(record: DeviceRecord, what: S, publish: (record: DeviceRecord) => void): DeviceBinding {
    this.status.set(record, what);
    publish(record);
    return {
      read: () => publish(record),
      close: () => {
        this.status.delete(record);
        this.last.delete(record);
      },
    };
  }

  /** Bind a control record: a write goes to `write` with the record's value as a number. */
  bindControl(record: DeviceRecord, what: C, write: (value: number) => Promise<void>): DeviceBinding {
    this.controls.set(record, what);
    return { write: (value) => write(Number(value)), close: () => this.controls.delete(record) };
  }

  /** The status records that show `what`. */
  showing(what: S): DeviceRecord[] {
    return [...this.status].filter(([, w]) => w === what).map(([r]) => r);
  }

  /**
   * Set the device's alarm on a record (undefined clears it) and show
   * `value`: not when it is undefined (the record keeps its last value), nor
   * when it is what the record last showed, unless `always`.
   */
  show(record: DeviceRecord, value: FieldValue | undefined, alarm: DeviceAlarm | undefined, always = false): void {
    if (value === undefined || (!always && this.last.has(record) && this.last.get(record) === value)) {
      record.setDeviceAlarm(alarm);
      return;
    }
    this.last.set(record, value);
    // Value and alarm in one processing: a client sees one event, never a state between.
    record.complete(typeof value === 'string' ? fitString(record, value) : value, alarm);
  }

  /**
   * A control that reads back (an Enable, an autostart switch): its records
   * show `value` with `alarm` (a stale read-back), in one processing.
   */
  readBack(what: C, value: FieldValue, alarm?: DeviceAlarm): void {
    for (const [r, w] of this.controls) {
      if (w !== what) continue;
      if (r.field('VAL') !== value) r.complete(value, alarm);
      else r.setDeviceAlarm(alarm);
    }
  }

  /** The highest severity (SEVR) among the status records that show one of `whats`; undefined when none does. */
  severity(whats: ReadonlySet<S>): number | undefined {
    let sev: number | undefined;
    for (const [r, w] of this.status) if (whats.has(w)) sev = Math.max(sev ?? 0, Number(r.field('SEVR')));
    return sev;
  }
}
