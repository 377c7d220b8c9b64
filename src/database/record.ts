/**
 * One record: its field store, processing (alarms, monitors) and writes.
 * Processing follows dbProcess/recGbl in epics-base: disable check, the
 * record type's checkAlarms, recGblResetAlarms (with the ACKS/ACKT rules),
 * then monitors with the type's deadbands.
 */
import { AlarmSeverity, AlarmStatus, DBE_ALARM, DBE_LOG, DBE_PROPERTY, DBE_VALUE, Eca } from '../ca/protocol/constants';
import type { EpicsTimestamp } from '../ca/protocol/types';
import { epicsNow } from '../ca/protocol/timestamp';
import { WriteError, type ChangeListener } from '../ca/pv';
import type { DeviceBinding, DeviceRecord } from './device';
import { nativeTypeOfDbf, type FieldDef } from './fields';
import type { RecordState } from './record-state';
import { raiseAlarm, waveformElementDbf, type FieldValue, type RecordType } from './recordtypes';

export interface Alarm {
  status: AlarmStatus;
  severity: AlarmSeverity;
}

const NO_BINDING: DeviceBinding = {};

const SOFT_READ_DEFINES_VALUE = new Set(['ai', 'bi', 'mbbi', 'longin', 'waveform']);

export class DbRecord implements RecordState, DeviceRecord {
  readonly f: Record<string, FieldValue>;
  time: EpicsTimestamp = { secPastEpoch: 0, nsec: 0 };
  binding: DeviceBinding = NO_BINDING;
  /** Whether DTYP is a device support other than Soft Channel. */
  hardware = false;
  private deviceAlarm: Alarm | undefined;
  private listeners: Map<string, Set<ChangeListener>> | undefined;
  /** Writes to one record run one after another: the end of the queue. */
  private writeChain: Promise<void> = Promise.resolve();
  /** Writes made and not finished (queued, or device support still busy with one). */
  private writesInFlight = 0;
  /** Set while a write waits in the queue: resolves when the last queued one is applied. */
  private appliedBarrier: Promise<void> | undefined;

  constructor(readonly type: RecordType, readonly name: string) {
    this.f = Object.create(type.defaults) as Record<string, FieldValue>;
    this.f.NAME = name;
  }

  get recordType(): string {
    return this.type.name;
  }

  get kind(): 'input' | 'output' {
    return this.type.kind;
  }

  field(name: string): FieldValue {
    return this.f[name];
  }

  /** The definition of a field, or undefined. */
  fieldDef(name: string): FieldDef | undefined {
    return this.type.fields.get(name);
  }

  /** Size in characters (with NUL) of a string field; lsi/lso VAL uses SIZV. */
  stringSize(def: FieldDef): number {
    if (def.name === 'VAL' && (this.type.name === 'lsi' || this.type.name === 'lso')) return Math.max(1, this.f.SIZV as number);
    return def.size ?? 40;
  }

  // ------------------------------------------------------------ subscriptions

  subscribe(field: string, listener: ChangeListener): () => void {
    this.listeners ??= new Map();
    let set = this.listeners.get(field);
    if (!set) this.listeners.set(field, (set = new Set()));
    set.add(listener);
    return () => {
      set!.delete(listener);
      if (set!.size === 0) this.listeners?.delete(field);
    };
  }

  /** db_post_events for one field. */
  post(field: string, mask: number): void {
    const set = this.listeners?.get(field);
    if (!set) return;
    for (const l of [...set]) l(mask);
  }

  listenerCount(field: string): number {
    return this.listeners?.get(field)?.size ?? 0;
  }

  // ------------------------------------------------------------ processing

  /**
   * Process the record after VAL (or the alarm inputs) changed: alarms,
   * timestamp, monitors. `changed` says whether VAL is a new value.
   */
  process(changed: boolean, opts: { time?: EpicsTimestamp; alarm?: Alarm } = {}): void {
    const r = this.f;
    r.NSTA = AlarmStatus.NO_ALARM;
    r.NSEV = AlarmSeverity.NO_ALARM;
    if (r.DISA === r.DISV) {
      // dbProcess: a disabled record only reports DISABLE with severity DISS.
      raiseAlarm(this, AlarmStatus.DISABLE, r.DISS as number);
      const alarmMask = this.resetAlarms();
      if (alarmMask) this.post('VAL', alarmMask);
      return;
    }
    // Device support's alarm first, as its read raises it before the record's checkAlarms
    // (aiRecord.c process: readValue, then checkAlarms): of two alarms of one severity,
    // the first raised is the one shown, so a lost source reads COMM, not the state alarm.
    if (this.deviceAlarm) raiseAlarm(this, this.deviceAlarm.status, this.deviceAlarm.severity);
    if (opts.alarm) raiseAlarm(this, opts.alarm.status, opts.alarm.severity);
    this.type.checkAlarms(this);
    this.time = opts.time ?? epicsNow();
    const mask = this.resetAlarms() | this.type.valueMask(this, changed);
    if (mask) this.post('VAL', mask);
  }

  /**
   * Process a Soft Channel record on a scan, PINI or PROC. Its read of an
   * empty or constant INP defines the value of an ai, bi, mbbi, longin or
   * waveform, and an ao's value is defined unless NaN (devAiSoft.c and
   * friends, aoRecord.c convert): UDF is cleared. Other types keep UDF.
   */
  processSoft(): void {
    const t = this.type.name;
    if (SOFT_READ_DEFINES_VALUE.has(t) || (t === 'ao' && !Number.isNaN(this.f.VAL))) this.f.UDF = 0;
    this.process(false);
  }

  /** recGblResetAlarms: make NSTA/NSEV current; returns DBE_ALARM if they changed. */
  private resetAlarms(): number {
    const r = this.f;
    const stat = r.NSTA as number, sevr = r.NSEV as number;
    const changedStat = stat !== r.STAT, changedSevr = sevr !== r.SEVR;
    r.STAT = stat;
    r.SEVR = sevr;
    r.NSTA = 0;
    r.NSEV = 0;
    if (changedSevr) this.post('SEVR', DBE_VALUE | DBE_LOG);
    if (changedStat) this.post('STAT', DBE_VALUE | DBE_LOG);
    if (!(changedSevr || changedStat)) return 0;
    // ACKS follows a new severity unless transient alarms need no acknowledgement and it is lower.
    if (!r.ACKT || sevr >= (r.ACKS as number)) {
      r.ACKS = sevr;
      this.post('ACKS', DBE_VALUE);
    }
    return DBE_ALARM;
  }

  /** Device support: a new value for an input record. */
  update(value: FieldValue, opts: { time?: EpicsTimestamp; alarm?: Alarm } = {}): void {
    const changed = !sameValue(this.f.VAL, value);
    this.storeValue(value);
    this.process(changed, opts);
  }

  setDeviceAlarm(alarm: Alarm | undefined): void {
    const same = alarm === this.deviceAlarm || (alarm && this.deviceAlarm && alarm.status === this.deviceAlarm.status && alarm.severity === this.deviceAlarm.severity);
    if (same) return;
    this.deviceAlarm = alarm;
    this.process(false);
  }

  setField(name: string, value: FieldValue): void {
    if (sameValue(this.f[name], value)) return;
    this.f[name] = value;
    this.post(name, DBE_VALUE | DBE_LOG);
    if (this.type.fields.get(name)?.property) this.post('VAL', DBE_PROPERTY);
  }

  /** Set VAL without processing; clears UDF (a value is defined now). */
  storeValue(value: FieldValue): void {
    const r = this.f;
    if (this.type.name === 'waveform') {
      const arr = value as ArrayLike<number>;
      r.VAL = value;
      if (r.NORD !== arr.length) {
        r.NORD = arr.length;
        this.post('NORD', DBE_VALUE | DBE_LOG);
      }
    } else {
      r.VAL = value;
    }
    r.UDF = 0;
  }

  // ------------------------------------------------------------ writes

  /**
   * A write from a client (already converted to the field's CA type; one
   * element for scalars). Resolves when everything it started has finished.
   *
   * Writes take effect in the order they are made. A record that is not busy
   * applies a write at once, before `put` returns, so a read that follows sees
   * it (dbPutField stores the field and processes the record in the caller's
   * thread). A record whose device support is still carrying out an earlier
   * write (PACT in EPICS terms) queues the new one behind it.
   */
  put(def: FieldDef, value: FieldValue, client: { user: string; host: string; address: string }): Promise<void> {
    if (this.writesInFlight === 0) {
      let pending: Promise<void> | undefined;
      try {
        pending = this.applyPut(def, value, client);
      } catch (err) {
        return Promise.reject(err as Error);
      }
      return pending ? this.holdWrite(pending) : Promise.resolve();
    }
    let markApplied: () => void = () => undefined;
    const applied = new Promise<void>((resolve) => { markApplied = resolve; });
    this.appliedBarrier = applied;
    const run = this.writeChain.then(() => {
      if (this.appliedBarrier === applied) this.appliedBarrier = undefined;
      markApplied();
      return this.applyPut(def, value, client);
    });
    return this.holdWrite(run);
  }

  /**
   * Undefined when every write made so far has been applied; otherwise a
   * promise that resolves once the last queued one has been.
   */
  writesApplied(): Promise<void> | undefined {
    return this.appliedBarrier;
  }

  private holdWrite(run: Promise<void>): Promise<void> {
    this.writesInFlight++;
    const settle = (): void => {
      this.writesInFlight--;
    };
    this.writeChain = run.then(settle, settle);
    return run;
  }

  /** Apply one write now; returns the device support's completion, if it has one to wait for. */
  private applyPut(def: FieldDef, value: FieldValue, client: { user: string; host: string; address: string }): Promise<void> | undefined {
    if (def.name === 'VAL') return this.putValue(value, client);
    if (def.name === 'PROC') {
      if (this.binding.read) {
        this.binding.read();
        this.process(false);
      } else {
        this.processSoft();
      }
      return undefined;
    }
    this.setField(def.name, value);
    if (def.process) this.process(false);
    else if (def.name === 'DISA' || def.name === 'DISV' || def.name === 'DISS') this.process(false);
    return undefined;
  }

  private putValue(value: FieldValue, client: { user: string; host: string; address: string }): Promise<void> | undefined {
    const v = this.clampValue(value);
    const changed = !sameValue(this.f.VAL, v);
    // dbPut stores VAL before the record processes: a read made while device
    // support is busy with the write sees the value written.
    this.storeValue(v);
    if (this.type.kind !== 'output' || !this.binding.write) {
      this.process(changed);
      return undefined;
    }
    let started: Promise<void>;
    try {
      started = this.binding.write(v, client);
    } catch (err) {
      started = Promise.reject(err as Error);
    }
    return started.then(() => this.process(changed), (err: unknown) => {
      // dbPutNotify reports the failure to the client; the record shows WRITE/INVALID.
      this.process(changed, { alarm: { status: AlarmStatus.WRITE, severity: AlarmSeverity.INVALID } });
      if (err instanceof WriteError) throw err;
      throw new WriteError(Eca.PUTFAIL, (err as Error).message);
    });
  }

  /**
   * DRVH/DRVL for ao and longout. A bo or mbbo takes any state number, as
   * dbPut stores it: a state without a name or beyond the 16 of an mbbo is
   * shown as such and raises the state alarm its record support gives it.
   */
  private clampValue(value: FieldValue): FieldValue {
    const r = this.f;
    switch (this.type.name) {
      case 'ao': case 'longout': {
        const drvh = r.DRVH as number, drvl = r.DRVL as number;
        let v = value as number;
        if (drvh > drvl) v = Math.min(drvh, Math.max(drvl, v));
        return v;
      }
      default:
        return value;
    }
  }

  /** The DBR type of VAL (waveforms: from FTVL). */
  valueNativeType(): number {
    if (this.type.name === 'waveform') return nativeTypeOfDbf(waveformElementDbf(this));
    return this.type.valueType(this);
  }
}

export function sameValue(a: FieldValue | undefined, b: FieldValue): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null) return false;
  const x = a as ArrayLike<unknown>, y = b as ArrayLike<unknown>;
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i] && !(Number.isNaN(x[i]) && Number.isNaN(y[i]))) return false;
  return true;
}

