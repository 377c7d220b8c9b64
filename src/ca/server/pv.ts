/**
 * PVs for tools and tests: `SimplePv`, a self-contained in-memory PV, and
 * `MapDirectory`, a directory backed by a Map. The interface they implement
 * is in ../pv.ts.
 */
import { DBE_ALARM, DBE_LOG, DBE_PROPERTY, DBE_VALUE, type NativeType } from '../protocol/constants';
import type { DbrMetadata, DbrSource, DbrValue, EpicsTimestamp } from '../protocol/types';
import { EMPTY_METADATA } from '../protocol/types';
import { epicsNow } from '../protocol/timestamp';
import type { AccessRights, AckRequest, ChangeListener, ClientIdentity, ProcessVariable, PvDirectory, WriteRequest } from '../pv';

/** A directory backed by a Map; enough for tools and tests. */
export class MapDirectory implements PvDirectory {
  private readonly pvs = new Map<string, ProcessVariable>();
  private readonly rightsListeners = new Set<() => void>();

  add(pv: ProcessVariable): this {
    this.pvs.set(pv.name, pv);
    return this;
  }

  lookup(name: string): ProcessVariable | undefined {
    return this.pvs.get(name);
  }

  get size(): number {
    return this.pvs.size;
  }

  /** Tell the servers that access rights may have changed. */
  rightsChanged(): void {
    for (const l of [...this.rightsListeners]) l();
  }

  onRightsChanged(listener: () => void): () => void {
    this.rightsListeners.add(listener);
    return () => this.rightsListeners.delete(listener);
  }
}

export interface SimplePvOptions {
  name: string;
  type: NativeType;
  value: DbrValue;
  maxCount?: number;
  metadata?: Partial<DbrMetadata>;
  rights?: (client: ClientIdentity) => AccessRights;
  /** Called before a write is applied; throw WriteError to refuse it. May be async. */
  onWrite?: (value: DbrValue, request: WriteRequest) => void | Promise<void>;
  className?: string;
}

/**
 * An in-memory PV. Writes replace the value (after `onWrite`, if given) and
 * post VALUE|LOG; `setAlarm` posts ALARM; `setMetadata` posts PROPERTY.
 */
export class SimplePv implements ProcessVariable {
  readonly name: string;
  readonly nativeType: NativeType;
  readonly maxCount: number;
  private value: DbrValue;
  private status = 0;
  private severity = 0;
  private ackt = 1;
  private acks = 0;
  private timestamp: EpicsTimestamp;
  private metadata: DbrMetadata;
  private readonly listeners = new Set<ChangeListener>();
  private readonly rightsFn: (client: ClientIdentity) => AccessRights;
  private readonly onWrite?: SimplePvOptions['onWrite'];
  private readonly className: string;

  constructor(opts: SimplePvOptions) {
    this.name = opts.name;
    this.nativeType = opts.type;
    this.value = opts.value;
    this.maxCount = opts.maxCount ?? Math.max(1, opts.value.length);
    this.metadata = { ...EMPTY_METADATA, ...opts.metadata };
    this.timestamp = epicsNow();
    this.rightsFn = opts.rights ?? (() => ({ read: true, write: true }));
    this.onWrite = opts.onWrite;
    this.className = opts.className ?? 'simple';
  }

  snapshot(): DbrSource {
    return {
      nativeType: this.nativeType,
      value: this.value,
      status: this.status,
      severity: this.severity,
      timestamp: this.timestamp,
      metadata: this.metadata,
      ackt: this.ackt,
      acks: this.acks,
      className: this.className,
    };
  }

  accessRights(client: ClientIdentity): AccessRights {
    return this.rightsFn(client);
  }

  write(request: WriteRequest): Promise<void> {
    // Applied before returning unless `onWrite` is asynchronous, so that a read made
    // right after the write sees it.
    let check: void | Promise<void>;
    try {
      check = this.onWrite?.(request.value, request);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    // A write of no elements (count 0) changes nothing.
    const apply = (): void => { if (request.value.length > 0) this.setValue(request.value); };
    if (check instanceof Promise) return check.then(apply);
    apply();
    return Promise.resolve();
  }

  async acknowledge(request: AckRequest): Promise<void> {
    const before = this.acks;
    if (request.field === 'ackt') {
      this.ackt = request.value ? 1 : 0;
      if (!this.ackt && this.acks > this.severity) this.acks = this.severity;
    } else if (request.value >= this.acks) {
      this.acks = 0;
    }
    // An acknowledgement that changes nothing posts nothing (as in RSRV).
    if (this.acks !== before) this.post(DBE_ALARM);
  }

  /** Replace the value (length = new current count) and post VALUE|LOG. */
  setValue(value: DbrValue): void {
    this.value = value;
    this.timestamp = epicsNow();
    this.post(DBE_VALUE | DBE_LOG);
  }

  setAlarm(status: number, severity: number): void {
    if (status === this.status && severity === this.severity) return;
    this.status = status;
    this.severity = severity;
    if (!this.ackt || severity >= this.acks) this.acks = severity;
    this.post(DBE_ALARM);
  }

  setMetadata(metadata: Partial<DbrMetadata>): void {
    this.metadata = { ...this.metadata, ...metadata };
    this.post(DBE_PROPERTY);
  }

  subscribe(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get subscriberCount(): number {
    return this.listeners.size;
  }

  private post(mask: number): void {
    for (const l of [...this.listeners]) l(mask);
  }
}

