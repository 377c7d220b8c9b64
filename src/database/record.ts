/**
 * One record: its field store, its links, processing (dbProcess: disable
 * check, record support, alarms, monitors, forward link) and writes.
 * Processing follows dbProcess/recGbl in epics-base; what differs per record
 * type is the type's record support in recordtypes.ts.
 */
import { AlarmSeverity, AlarmStatus, DBE_ALARM, DBE_LOG, DBE_PROPERTY, DBE_VALUE, DbrType, Eca, type NativeType } from '../ca/protocol/constants';
import { convertValue, elementToNumber } from '../ca/protocol/convert';
import type { DbrValue, EpicsTimestamp } from '../ca/protocol/types';
import { epicsNow } from '../ca/protocol/timestamp';
import { WriteError, type ChangeListener } from '../ca/pv';
import type { DeviceBinding, DeviceRecord } from './device';
import { describeField, NO_ALARM_LIMITS, textPrecision, type FieldMeta } from './field-support';
import { isIntegralDouble, nativeTypeOfDbf, SCAN_PASSIVE, type DbfType, type FieldDef } from './fields';
import type { LinkProcess, LinkSeverity } from './links';
import { isNumericDbfType, putNumber, putText } from './put-convert';
import type { LinkedRecord } from './record-state';
import { raiseAlarm, type FieldValue, type RecordType } from './recordtypes';

export interface Alarm {
  status: AlarmStatus;
  severity: AlarmSeverity;
}

export type Client = { user: string; host: string; address: string };

/** Who processing started by the IOC itself (links, scans, PINI) acts as, for device support. */
export const IOC_CLIENT: Client = Object.freeze({ user: 'ioc', host: 'localhost', address: '' });

/** A link field's target once loaded: nothing, constants, device support's text, or a field of a record. */
export type ResolvedLink =
  | { readonly kind: 'none' }
  | { readonly kind: 'constant'; readonly values: readonly (number | string)[] }
  | { readonly kind: 'instrument'; readonly text: string }
  | {
    readonly kind: 'db'; readonly target: DbRecord; readonly def: FieldDef; readonly proc: LinkProcess; readonly ms: LinkSeverity;
    /** How the link field reads back: the name as written and both modifiers. */
    readonly text: string;
  };

/** A field's value as CA elements, for a link to carry to another field. */
export interface LinkValue {
  value: DbrValue;
  type: NativeType;
  enumStrings: readonly string[];
  enumText?: (index: number) => string;
  precision?: number;
  /** A DOUBLE that holds an integer field's value (ULONG, INT64, UINT64): cast as integers are. */
  integral?: boolean;
}

/** What a record needs of the database it is in. */
export interface RecordHost {
  /** Resolve a link field's text as loading does; throws an Error saying what is wrong. */
  resolveLink(rec: DbRecord, def: FieldDef, text: string): ResolvedLink;
  /** scanOnce: process the record soon, outside the current processing. */
  scanOnce(rec: DbRecord): void;
  /** The record's ASG changed: it is in another access security group (asChangeGroup). */
  groupChanged(rec: DbRecord): void;
  /** The record's SCAN or PHAS changed: it moves to the scan list they name now (scanDelete, scanAdd). */
  scanChanged(rec: DbRecord): void;
}

export interface ProcessOptions {
  /** VAL was changed before processing (a put, a device push). */
  changed?: boolean;
  time?: EpicsTimestamp;
  alarm?: Alarm;
  /** Who the write a processing output record makes is for. */
  client?: Client;
  /** False: device support pushed the value, do not ask it to read. */
  read?: boolean;
  /** True: processing started by device support itself, which is not asked to write. */
  noWrite?: boolean;
}

const NO_BINDING: DeviceBinding = {};
const NO_LINK: ResolvedLink = Object.freeze({ kind: 'none' });
const NO_STRINGS: readonly string[] = Object.freeze([]);
/** dbProcess: tries on an active record before it shows SCAN/INVALID. */
const MAX_LOCK = 10;

/**
 * What one client's put processes, as dbNotify follows it: the records that
 * PP links and forward links process (passive ones), from the put's own
 * record on and, when one of them finishes later (a device write), from its
 * end on. The put completes when every one of them has finished.
 */
class PutGroup {
  /** The group of the put being carried out now, if any. */
  static current: PutGroup | undefined;
  private pending = 0;
  private idle: (() => void) | undefined;

  /** Run `fn` with this group current. */
  static within<T>(group: PutGroup | undefined, fn: () => T): T {
    const outer = PutGroup.current;
    PutGroup.current = group;
    try {
      return fn();
    } finally {
      PutGroup.current = outer;
    }
  }

  /** Nothing is being waited for (right after the write: nothing it started goes on). */
  get empty(): boolean {
    return this.pending === 0;
  }

  /** A completion of something the put processed (its failure is that record's alarm, not the put's). */
  add(completion: Promise<void>): void {
    this.pending++;
    const settle = (): void => {
      if (--this.pending === 0) this.idle?.();
    };
    completion.then(settle, settle);
  }

  /** Resolves once `own` has and everything added has settled; rejects as `own` does. */
  after(own: Promise<void>): Promise<void> {
    return own.then(() => (this.pending === 0 ? undefined : new Promise<void>((resolve) => { this.idle = resolve; })));
  }
}

/**
 * A write whose value depends on the record as it is when the write is
 * applied (after the writes queued before it): called then, its result is
 * stored as a written value would be.
 */
export type PutValue = () => FieldValue;

/** recGblInheritSevr: the alarm a link's MS/MSS/MSI modifier passes on. */
function inheritSeverity(rec: DbRecord, ms: LinkSeverity, stat: number, sevr: number): void {
  switch (ms) {
    case 'NMS': return;
    case 'MSI': if (sevr < AlarmSeverity.INVALID) return; raiseAlarm(rec, AlarmStatus.LINK, sevr); return;
    case 'MS': raiseAlarm(rec, AlarmStatus.LINK, sevr); return;
    case 'MSS': raiseAlarm(rec, stat, sevr); return;
  }
}

function truncateBytes(s: string, max: number): string {
  if (Buffer.byteLength(s) <= max) return s;
  let out = Buffer.from(s).subarray(0, max).toString('utf8');
  while (Buffer.byteLength(out) > max) out = out.slice(0, -1);
  return out;
}

export class DbRecord implements LinkedRecord, DeviceRecord {
  readonly f: Record<string, FieldValue>;
  time: EpicsTimestamp = { secPastEpoch: 0, nsec: 0 };
  binding: DeviceBinding = NO_BINDING;
  /** Whether DTYP is a device support other than Soft Channel. */
  hardware = false;
  /** The database the record is in, for links written at run time and CP scans. */
  host: RecordHost | undefined;
  private readonly links = new Map<string, ResolvedLink>();
  private readonly linkWatches = new Map<string, () => void>();
  private deviceAlarm: Alarm | undefined;
  /** Set while device support's read runs inside processing: its update() only stores. */
  private inDeviceRead = false;
  private pushedChange = false;
  /** Set while device support carries out a write: the record is active until it ends. */
  private writeBusy = false;
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
    if (def.name === 'VAL' && this.type.valueSize) return this.type.valueSize(this);
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
    if (field === 'ASG') this.host?.groupChanged(this);
    const set = this.listeners?.get(field);
    if (!set) return;
    for (const l of [...set]) l(mask);
  }

  /**
   * A property field (EGU, PREC, HOPR...) was written: DBE_PROPERTY to every
   * monitor of the record, whichever field it watches, as dbPut's
   * db_post_events with no field does (a field's metadata can follow EGU and
   * PREC too).
   */
  postProperty(): void {
    if (!this.listeners) return;
    for (const set of [...this.listeners.values()]) {
      for (const l of [...set]) l(DBE_PROPERTY);
    }
  }

  listenerCount(field: string): number {
    return this.listeners?.get(field)?.size ?? 0;
  }

  // ------------------------------------------------------------ links

  /** The resolved link held by a link field (INP, OUT, DOL, FLNK, SDIS, INPA...). */
  link(name: string): ResolvedLink {
    return this.links.get(name) ?? NO_LINK;
  }

  /**
   * The metadata record support gives a field other than VAL (units,
   * precision, limits: field-support.ts). A calc input (A..L) is described by
   * the field its link reads.
   */
  fieldMeta(def: FieldDef): FieldMeta {
    return this.describe(def, 0);
  }

  /** The precision of a field's DBR_STRING text (NaN for a field that is not FLOAT or DOUBLE). */
  fieldTextPrecision(def: FieldDef): number {
    return textPrecision(this.type.fieldSupport, this, def, (link) => this.linkMeta(link, 0));
  }

  private describe(def: FieldDef, depth: number): FieldMeta {
    return describeField(this.type.fieldSupport, this, def, (link) => this.linkMeta(link, depth));
  }

  /** What an input link reads, described as dbGetUnits, dbGetPrecision... see it; undefined for no record. */
  private linkMeta(name: string, depth: number): FieldMeta | undefined {
    const l = this.link(name);
    // Links that lead back to themselves end here, as if they led nowhere.
    if (l.kind !== 'db' || depth > 16) return undefined;
    const t = l.target;
    if (l.def.name !== 'VAL') return t.describe(l.def, depth + 1);
    const m = t.type.metadata(t);
    return {
      units: m.units, precision: m.precision,
      display: { high: m.upperDisplayLimit, low: m.lowerDisplayLimit },
      alarm: t.type.fieldSupport.alarm
        ? { upperAlarm: m.upperAlarmLimit, upperWarning: m.upperWarningLimit, lowerWarning: m.lowerWarningLimit, lowerAlarm: m.lowerAlarmLimit }
        : NO_ALARM_LIMITS,
    };
  }

  /** Install a resolved link, (re)starting its CP/CPP monitor. */
  setLink(name: string, link: ResolvedLink): void {
    this.linkWatches.get(name)?.();
    this.linkWatches.delete(name);
    this.links.set(name, link);
    if (link.kind === 'db' && (link.proc === 'CP' || link.proc === 'CPP')) {
      const target = link.target;
      const stop = target.subscribe(link.def.name, (mask) => {
        // dbCa: a CP link's monitor (DBE_VALUE|DBE_ALARM) processes its record, a CPP link only a passive one.
        if (!(mask & (DBE_VALUE | DBE_ALARM))) return;
        if (link.proc === 'CP' || this.f.SCAN === SCAN_PASSIVE) this.host?.scanOnce(this);
      });
      this.linkWatches.set(name, stop);
    }
  }

  linkIsConstant(name: string): boolean {
    const l = this.link(name);
    return l.kind === 'none' || l.kind === 'constant';
  }

  /**
   * dbGetLink into one of this record's fields: a link to a record processes
   * it first when the link is PP and the target is passive, then reads the
   * target field and raises the alarm its MS/MSS/MSI modifier asks for.
   * Constant and empty links leave the field as it is. False when the read
   * failed (the record then has LINK/INVALID).
   */
  readLink(name: string, into: string): boolean {
    const l = this.link(name);
    if (l.kind !== 'db') return true;
    const src = l.target;
    if (l.proc === 'PP' && src.f.SCAN === SCAN_PASSIVE) processLinked(src, { client: IOC_CLIENT });
    inheritSeverity(this, l.ms, src.f.STAT as number, src.f.SEVR as number);
    try {
      this.storeConverted(this.type.fields.get(into)!, src.fieldElements(l.def));
    } catch {
      raiseAlarm(this, AlarmStatus.LINK, AlarmSeverity.INVALID);
      return false;
    }
    return true;
  }

  /** A number read through a link (SDIS, calc inputs); undefined when the link is not to a record. */
  readLinkNumber(name: string): number | undefined {
    const l = this.link(name);
    if (l.kind !== 'db') return undefined;
    const src = l.target;
    if (l.proc === 'PP' && src.f.SCAN === SCAN_PASSIVE) processLinked(src, { client: IOC_CLIENT });
    inheritSeverity(this, l.ms, src.f.STAT as number, src.f.SEVR as number);
    const e = src.fieldElements(l.def);
    try {
      return elementToNumber(e.value[0] ?? 0, e.type, DbrType.DOUBLE, e.enumStrings);
    } catch {
      raiseAlarm(this, AlarmStatus.LINK, AlarmSeverity.INVALID);
      return undefined;
    }
  }

  /**
   * dbPutLink of one of this record's fields: the target field takes the
   * value as dbPut stores it, and a PP link (or a link to PROC) then
   * processes the target if it is passive and not already active.
   */
  writeLink(name: string, from: string): void {
    const l = this.link(name);
    if (l.kind !== 'db') return;
    const dst = l.target;
    try {
      dst.storeConverted(l.def, this.fieldElements(this.type.fields.get(from)!));
    } catch {
      raiseAlarm(this, AlarmStatus.LINK, AlarmSeverity.INVALID);
      return;
    }
    dst.postStored(l.def);
    // dbDbPutValue: the target inherits this record's pending alarm as the link's MS modifier says.
    inheritSeverity(dst, l.ms, this.f.NSTA as number, this.f.NSEV as number);
    if (l.def.name === 'PROC' || (l.proc === 'PP' && dst.f.SCAN === SCAN_PASSIVE)) processLinked(dst, { client: IOC_CLIENT, changed: true });
    else if (l.proc === 'CA' && l.def.process && dst.f.SCAN === SCAN_PASSIVE) processLinked(dst, { client: IOC_CLIENT, changed: true });
  }

  /** dbScanFwdLink: a forward link (FLNK, a fanout's LNKn) processes its target when that is passive. */
  processLink(name: string): void {
    const l = this.link(name);
    if (l.kind === 'db' && l.target.f.SCAN === SCAN_PASSIVE) processLinked(l.target, { client: IOC_CLIENT });
  }

  /** A field's value as CA elements of its native type, with what converting them needs. */
  fieldElements(def: FieldDef): LinkValue {
    const v = this.f[def.name];
    if (def.name === 'VAL') {
      const type = this.valueNativeType();
      const value: DbrValue = typeof v === 'object' ? (v as DbrValue) : type === DbrType.STRING ? [String(v)] : [v as number];
      const enumString = this.type.enumString;
      const enumStrings = type === DbrType.ENUM ? this.type.metadata(this).enumStrings : NO_STRINGS;
      const integral = type === DbrType.DOUBLE && isIntegralDouble(this.type.elementDbf?.(this) ?? def.type);
      return { value, type, enumStrings, enumText: enumString ? (i) => enumString(this, i) : undefined, precision: this.f.PREC as number | undefined, integral };
    }
    const type = nativeTypeOfDbf(def.type);
    const value: DbrValue = typeof v === 'object' ? (v as DbrValue) : type === DbrType.STRING ? [String(v)] : [v as number];
    return { value, type, enumStrings: def.menu ?? NO_STRINGS, precision: this.fieldTextPrecision(def), integral: isIntegralDouble(def.type) };
  }

  /** The DBF type a field holds now: the field's own, but VAL of an mbbo without states is a USHORT, not its ENUM. */
  fieldDbf(def: FieldDef): DbfType {
    return (def.name === 'VAL' ? this.type.valueDbf?.(this) : undefined) ?? def.type;
  }

  /** Store a value read from another field into one of this record's (dbPut's conversions), without posting it. */
  storeConverted(def: FieldDef, src: LinkValue): void {
    const isVal = def.name === 'VAL';
    const to = isVal ? this.valueNativeType() : nativeTypeOfDbf(def.type);
    const toLabels = isVal ? (to === DbrType.ENUM ? this.type.metadata(this).enumStrings : NO_STRINGS) : def.menu ?? NO_STRINGS;
    const dbf = this.fieldDbf(def);
    if (isNumericDbfType(dbf) && nativeTypeOfDbf(dbf) === to && !(isVal && this.type.valueCount(this) > 1)) {
      // One number, converted by the field's own type as dbPut converts it (70000 is 4464 in a USHORT).
      const e = src.value[0];
      const v = src.type === DbrType.STRING
        ? putText(dbf, `${this.name}.${def.name}`, String(e ?? ''), Number(this.f[def.name]))
        : putNumber(dbf, Number(e ?? 0), src.type, src.integral);
      if (isVal) this.storeValue(v);
      else this.f[def.name] = v;
      return;
    }
    let elements: DbrValue;
    if (to === DbrType.STRING && src.type === DbrType.ENUM && src.enumText) {
      elements = Array.from(src.value as ArrayLike<number>, (i) => src.enumText!(i));
    } else {
      elements = convertValue(src.value, src.type, to, { enumStrings: to === DbrType.STRING ? src.enumStrings : toLabels, precision: src.precision, integral: src.integral });
    }
    if (isVal && this.type.valueCount(this) > 1) {
      const n = Math.min(elements.length, this.type.valueCount(this));
      this.storeValue(to === DbrType.STRING ? Array.from(elements as readonly string[]).slice(0, n) : Float64Array.from((elements as ArrayLike<number>)).subarray(0, n));
      return;
    }
    let one: FieldValue = elements[0] ?? (to === DbrType.STRING ? '' : 0);
    if (def.type === 'MENU' && typeof one === 'number' && (one < 0 || one >= (def.menu?.length ?? 0))) throw new Error(`${one} is not a choice of ${def.name}`);
    if (typeof one === 'string') one = truncateBytes(one, this.stringSize(def) - 1);
    if (isVal) this.storeValue(one);
    else this.f[def.name] = one;
  }

  /**
   * After dbPut stored a field: a new SCAN or PHAS moves the record to its
   * scan list (SPC_SCAN); then the field's monitor (a value field that
   * processes the record is posted by processing).
   */
  postStored(def: FieldDef): void {
    if (def.name === 'SCAN' || def.name === 'PHAS') this.host?.scanChanged(this);
    if (def.name === 'VAL' && def.process) return;
    this.post(def.name, DBE_VALUE | DBE_LOG);
    if (def.property) this.postProperty();
    else if (def.valueProperty) this.post('VAL', DBE_PROPERTY);
  }

  // ------------------------------------------------------------ processing

  /**
   * dbProcess: process the record once. A record already active (PACT) is not
   * processed again: links that loop back to it end there. A disabled record
   * (DISA = DISV, after reading SDIS) only shows DISABLE with severity DISS and
   * drives no output. Otherwise its record support runs: read (soft-channel
   * INP, DOL closed_loop, calc inputs), alarms, output (OUT, or the device
   * write), timestamp, monitors, then the forward link. Returns the device's
   * completion when device support is carrying out a write.
   */
  dbProcess(opts: ProcessOptions = {}): Promise<void> | undefined {
    const r = this.f;
    if (r.PACT) {
      this.activeAgain();
      return undefined;
    }
    r.LCNT = 0;
    const sdis = this.readLinkNumber('SDIS');
    if (sdis !== undefined) r.DISA = Math.trunc(sdis);
    // NSTA/NSEV are not cleared here: an output link's MS modifier may have raised one already.
    if (r.DISA === r.DISV) {
      this.disabled();
      return undefined;
    }
    r.PACT = 1;
    let changed = opts.changed ?? false;
    const before = r.VAL;
    const support = this.type.support;
    if (this.binding.read && opts.read !== false) {
      this.inDeviceRead = true;
      try {
        this.binding.read();
      } finally {
        this.inDeviceRead = false;
      }
      changed ||= this.pushedChange;
      this.pushedChange = false;
    } else if (!this.hardware || this.type.kind === 'output') {
      support.read?.(this);
    }
    if (!sameValue(before, r.VAL)) changed = true;
    if (this.type.kind === 'output' && this.hardware && this.binding.write && !opts.noWrite) {
      return this.deviceWrite(changed, opts);
    }
    if (this.deviceAlarm) raiseAlarm(this, this.deviceAlarm.status, this.deviceAlarm.severity);
    if (opts.alarm) raiseAlarm(this, opts.alarm.status, opts.alarm.severity);
    this.type.checkAlarms(this);
    // The timestamp is taken before the output, as calcout's events during it carry it.
    this.time = opts.time ?? epicsNow();
    const delay = this.hardware ? undefined : support.write?.(this);
    if (delay !== undefined && delay >= 0) {
      // calcout ODLY, a seq's groups: the record stays active until the delayed output
      // is written; a put that processed it waits for that (as dbNotify for an asynchronous record).
      const group = PutGroup.current;
      let written: (() => void) | undefined;
      group?.add(new Promise<void>((resolve) => { written = resolve; }));
      const after = (seconds: number): void => {
        setTimeout(() => {
          this.time = epicsNow();
          const next = PutGroup.within(group, () => support.delayed?.(this));
          if (next !== undefined && next >= 0) return after(next);
          PutGroup.within(group, () => this.finish(changed, undefined));
          written?.();
        }, seconds * 1000).unref();
      };
      after(delay);
      return undefined;
    }
    this.finish(changed, opts.time);
    return undefined;
  }

  /** The end of processing: timestamp, alarms and monitors, forward link, PACT cleared. */
  private finish(changed: boolean, time: EpicsTimestamp | undefined): void {
    this.time = time ?? epicsNow();
    const mask = this.resetAlarms() | this.type.valueMask(this, changed);
    if (mask) this.post('VAL', mask);
    this.type.support.monitor?.(this, mask);
    this.processLink('FLNK');
    this.f.PACT = 0;
  }

  /** An output record's device support carries out the write; processing ends when it has. */
  private deviceWrite(changedBefore: boolean, opts: ProcessOptions): Promise<void> {
    let changed = changedBefore;
    const v = this.f.VAL;
    let started: Promise<void>;
    try {
      started = this.binding.write!(v, opts.client ?? IOC_CLIENT);
    } catch (err) {
      started = Promise.reject(err as Error);
    }
    this.writeBusy = true;
    // What this record's end processes (its FLNK) belongs to the put that started it.
    const group = PutGroup.current;
    const end = (alarm: Alarm | undefined): void => {
      this.writeBusy = false;
      // A value device support pushed meanwhile is posted now.
      changed ||= this.pushedChange;
      this.pushedChange = false;
      if (this.deviceAlarm) raiseAlarm(this, this.deviceAlarm.status, this.deviceAlarm.severity);
      if (alarm) raiseAlarm(this, alarm.status, alarm.severity);
      this.type.checkAlarms(this);
      PutGroup.within(group, () => this.finish(changed, opts.time));
    };
    return started.then(() => end(undefined), (err: unknown) => {
      // dbPutNotify reports the failure to the client; the record shows WRITE/INVALID.
      end({ status: AlarmStatus.WRITE, severity: AlarmSeverity.INVALID });
      if (err instanceof WriteError) throw err;
      throw new WriteError(Eca.PUTFAIL, (err as Error).message);
    });
  }

  /** dbProcess on an active record: after MAX_LOCK tries in a row, SCAN/INVALID. */
  private activeAgain(): void {
    const r = this.f;
    const lcnt = r.LCNT as number;
    r.LCNT = Math.min(255, lcnt + 1);
    if (r.STAT === AlarmStatus.SCAN || lcnt < MAX_LOCK || (r.SEVR as number) >= AlarmSeverity.INVALID) return;
    r.NSTA = AlarmStatus.NO_ALARM;
    r.NSEV = AlarmSeverity.NO_ALARM;
    raiseAlarm(this, AlarmStatus.SCAN, AlarmSeverity.INVALID);
    this.post('VAL', this.resetAlarms() | DBE_VALUE | DBE_LOG);
  }

  /** dbProcess on a disabled record: STAT DISABLE, SEVR DISS, posted once. */
  private disabled(): void {
    const r = this.f;
    r.NSTA = AlarmStatus.NO_ALARM;
    r.NSEV = AlarmSeverity.NO_ALARM;
    if (r.STAT === AlarmStatus.DISABLE) return;
    r.STAT = AlarmStatus.DISABLE;
    r.SEVR = r.DISS;
    this.post('STAT', DBE_VALUE);
    this.post('SEVR', DBE_VALUE);
    this.post('VAL', DBE_VALUE | DBE_ALARM);
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

  /**
   * Device support: a new value, and the record is processed (an I/O Intr
   * scan). Pushed during the device's own read, or while it carries out a
   * write, it is stored and shown when that processing ends.
   */
  update(value: FieldValue, opts: { time?: EpicsTimestamp; alarm?: Alarm } = {}): void {
    const changed = !sameValue(this.f.VAL, value);
    this.storeValue(value);
    if (this.inDeviceRead || this.writeBusy) {
      this.pushedChange ||= changed;
      if (opts.alarm) raiseAlarm(this, opts.alarm.status, opts.alarm.severity);
      return;
    }
    void this.dbProcess({ changed, time: opts.time, alarm: opts.alarm, read: false, noWrite: true });
  }

  complete(value: FieldValue, alarm: Alarm | undefined): void {
    // update() processes the record, and processing raises the device's alarm.
    this.deviceAlarm = alarm;
    this.update(value);
  }

  setDeviceAlarm(alarm: Alarm | undefined): void {
    const same = alarm === this.deviceAlarm || (alarm && this.deviceAlarm && alarm.status === this.deviceAlarm.status && alarm.severity === this.deviceAlarm.severity);
    if (same) return;
    this.deviceAlarm = alarm;
    if (this.inDeviceRead || this.writeBusy) return;
    void this.dbProcess({ read: false, noWrite: true });
  }

  setField(name: string, value: FieldValue): void {
    if (sameValue(this.f[name], value)) return;
    this.f[name] = value;
    this.post(name, DBE_VALUE | DBE_LOG);
    const def = this.type.fields.get(name);
    if (def?.property) this.postProperty();
    else if (def?.valueProperty) this.post('VAL', DBE_PROPERTY);
  }

  /**
   * What a refused write of text to an array VAL leaves (dbPut's conversion
   * stores elements until the one it refuses, then skips put_array_info):
   * the first of `values` replace the elements within NORD; NORD stays, and
   * nothing is posted or processed.
   */
  keepRefusedElements(values: readonly number[]): void {
    const now = this.f.VAL as ArrayLike<number>;
    const n = Math.min(values.length, now.length);
    if (n === 0) return;
    const next = Float64Array.from(now);
    for (let i = 0; i < n; i++) next[i] = values[i];
    this.f.VAL = next;
  }

  /** Set VAL without processing; clears UDF (a value is defined now). */
  storeValue(value: FieldValue): void {
    const r = this.f;
    if (this.type.arrayValue) {
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
   * write (PACT in EPICS terms) queues the new one behind it. As with
   * dbPutNotify, the promise resolves once the records the write processed
   * through PP and forward links (a dfanout's outputs, an FLNK) have finished
   * too; only this record's writes queue behind its own.
   */
  put(def: FieldDef, value: FieldValue | PutValue, client: Client): Promise<void> {
    const group = new PutGroup();
    if (this.writesInFlight === 0) {
      let pending: Promise<void> | undefined;
      try {
        pending = PutGroup.within(group, () => this.applyPut(def, value, client));
      } catch (err) {
        return Promise.reject(err as Error);
      }
      // The common case, a write that finished at once and started nothing that goes on: no waiting to set up.
      if (!pending && group.empty) return Promise.resolve();
      return group.after(pending ? this.holdWrite(pending) : Promise.resolve());
    }
    let markApplied: () => void = () => undefined;
    const applied = new Promise<void>((resolve) => { markApplied = resolve; });
    this.appliedBarrier = applied;
    const run = this.writeChain.then(() => {
      if (this.appliedBarrier === applied) this.appliedBarrier = undefined;
      markApplied();
      return PutGroup.within(group, () => this.applyPut(def, value, client));
    });
    return group.after(this.holdWrite(run));
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

  /**
   * dbPutField, applied now: PROC processes the record; a link field is
   * resolved again; any other field is stored, and a field that processes
   * (VAL) processes a passive record. Returns the device support's
   * completion, if it has one to wait for.
   */
  private applyPut(def: FieldDef, written: FieldValue | PutValue, client: Client): Promise<void> | undefined {
    const value = typeof written === 'function' ? written() : written;
    if (def.name === 'PROC') {
      this.f.PROC = value;
      return this.dbProcess({ client });
    }
    if (def.type === 'INLINK' || def.type === 'OUTLINK' || def.type === 'FWDLINK') {
      this.putLinkField(def, String(value));
      return undefined;
    }
    if (def.name === 'VAL') {
      const v = this.type.clamp ? this.type.clamp(this, value) : value;
      const changed = !sameValue(this.f.VAL, v);
      // dbPut stores VAL before the record processes: a read made while device
      // support is busy with the write sees the value written.
      this.storeValue(v);
      // dbPutField processes a passive record only for a field with pp(TRUE): a calc's VAL
      // has none, so the value written is only stored, and dbPut posts it.
      if (!def.process) {
        this.postStored(def);
        return undefined;
      }
      // A record that is not passive takes the value when it is next scanned; dbPut posts no monitor for it.
      if (this.f.SCAN === SCAN_PASSIVE) return this.dbProcess({ client, changed });
      return undefined;
    }
    this.f[def.name] = value;
    this.postStored(def);
    if (this.type.special) {
      // dbPut: the field keeps what was written even when its special processing refuses it;
      // the put fails and the record is not processed.
      try {
        this.type.special(this, def.name);
      } catch (err) {
        throw new WriteError(Eca.PUTFAIL, `${this.name}.${def.name}: ${(err as Error).message}`);
      }
    }
    if (def.process && this.f.SCAN === SCAN_PASSIVE) return this.dbProcess({ client });
    return undefined;
  }

  /**
   * A write to a link field: refused when device support owns the link (it
   * cannot bind again), else resolved as at load time and put in place.
   */
  private putLinkField(def: FieldDef, text: string): void {
    const deviceLink = this.type.kind === 'output' ? 'OUT' : 'INP';
    if (this.hardware && def.name === deviceLink) {
      throw new WriteError(Eca.PUTFAIL, `${this.name}.${def.name}: device support "${String(this.f.DTYP)}" cannot change its link`);
    }
    if (!this.host) throw new WriteError(Eca.PUTFAIL, `${this.name}.${def.name}: links cannot be changed here`);
    let link: ResolvedLink;
    try {
      link = this.host.resolveLink(this, def, text);
    } catch (err) {
      throw new WriteError(Eca.PUTFAIL, `${this.name}.${def.name}: ${(err as Error).message}`);
    }
    this.f[def.name] = link.kind === 'db' ? link.text : text.trim();
    this.setLink(def.name, link);
    this.post(def.name, DBE_VALUE | DBE_LOG);
  }

  /** The DBR type of VAL (waveforms: from FTVL). */
  valueNativeType(): number {
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

/**
 * Process a record a link names (dbScanPassive, dbDbPutValue). A client's put
 * being carried out waits for it (dbNotifyAdd); a device write that fails is
 * that record's WRITE/INVALID alarm.
 */
function processLinked(target: DbRecord, opts: ProcessOptions): void {
  const completion = target.dbProcess(opts);
  if (!completion) return;
  const settled = completion.catch(() => undefined);
  PutGroup.current?.add(settled);
}
