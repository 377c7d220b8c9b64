/**
 * Device support, the EPICS way: a record's DTYP names a registered device
 * support, and its INP or OUT (an "@..." instrument string for non-soft
 * supports) tells that support what to bind to.
 */
import type { AlarmSeverity, AlarmStatus } from '../ca/protocol/constants';
import type { EpicsTimestamp } from '../ca/protocol/types';
import type { FieldValue } from './recordtypes';

/** What device support may do to its record. */
export interface DeviceRecord {
  readonly name: string;
  readonly recordType: string;
  readonly kind: 'input' | 'output';
  /** Push a new value (input records), processing the record: alarms, monitors. */
  update(value: FieldValue, opts?: { time?: EpicsTimestamp; alarm?: { status: AlarmStatus; severity: AlarmSeverity } }): void;
  /**
   * Set or clear (undefined) an alarm the device holds until it clears it, e.g.
   * COMM/INVALID while a connection is down. The record is processed.
   */
  setDeviceAlarm(alarm: { status: AlarmStatus; severity: AlarmSeverity } | undefined): void;
  /**
   * A read's outcome at once: the alarm the device now holds (undefined: none)
   * and the value it read. The record is processed once and posts one event,
   * as a record whose read_ai returned both would: never the new alarm with the
   * old value, or the other way round.
   */
  complete(value: FieldValue, alarm: { status: AlarmStatus; severity: AlarmSeverity } | undefined): void;
  /** Read a field (e.g. the record's own configuration). */
  field(name: string): FieldValue;
  /** Set a non-VAL field and post it (e.g. NORD). */
  setField(name: string, value: FieldValue): void;
}

/** A device support's hold on one record. */
export interface DeviceBinding {
  /**
   * Output records: carry out a write of `value`. Resolve when done; reject
   * with an Error (or a WriteError with an ECA code) when it failed.
   */
  write?(value: FieldValue, context: { user: string; host: string; address: string }): Promise<void>;
  /** Called by periodic scans (SCAN = "1 second" etc.) and on PROC writes. */
  read?(): void;
  /** Release whatever the binding holds. */
  close?(): void;
}

export interface DeviceSupport {
  /** The DTYP string, e.g. "Soft Channel", "systemd". */
  readonly dtyp: string;
  /** Record types this support can serve. */
  readonly recordTypes: readonly string[];
  /**
   * Bind a record. `link` is its INP or OUT text. Throw an Error whose message
   * says what is wrong with `link`: loading stops with the record's position.
   */
  bind(record: DeviceRecord, link: string): DeviceBinding;
}

/** What is wrong with a watched source, in an operator's words. */
export interface HealthCause {
  text: string;
  /** The source whose fault this one follows from, e.g. "redis qsredis". */
  causedBy?: string;
}

/**
 * Where device support reports the health of what it watches (a unit, a
 * manager, a redis server): the IOC's health records, wired by the IOC.
 */
export interface HealthSink {
  /** The severity of one source (0 = as expected), and what is wrong. */
  set(source: string, severity: number, cause?: HealthCause): void;
}

/** DTYP name → support. */
export class DeviceRegistry {
  private readonly supports = new Map<string, DeviceSupport>();

  register(support: DeviceSupport): this {
    this.supports.set(support.dtyp, support);
    return this;
  }

  get(dtyp: string): DeviceSupport | undefined {
    return this.supports.get(dtyp);
  }

  names(): string[] {
    return [...this.supports.keys()];
  }
}

/** "Soft Channel": the record just holds its value; a constant INP sets it at start. */
export const SOFT_CHANNEL: DeviceSupport = {
  dtyp: 'Soft Channel',
  recordTypes: ['ai', 'ao', 'bi', 'bo', 'mbbi', 'mbbo', 'longin', 'longout', 'int64in', 'int64out', 'stringin', 'stringout', 'lsi', 'lso', 'waveform', 'calc', 'calcout', 'fanout', 'dfanout', 'seq'],
  bind: () => ({}),
};
