/**
 * The interface the CA server serves through. The record database implements
 * it; `SimplePv` below is a self-contained in-memory PV for tools and tests.
 *
 * The server never looks inside a PV: it asks for a snapshot when it must
 * encode one, for the rights of a client when a channel is created or the
 * rights may have changed, and hands writes over already converted to the
 * PV's native type.
 */
import { DBE_ALARM, DBE_LOG, DBE_PROPERTY, DBE_VALUE, Eca, type NativeType } from '../protocol/constants';
import type { DbrMetadata, DbrSource, DbrValue, EpicsTimestamp } from '../protocol/types';
import { EMPTY_METADATA } from '../protocol/types';
import { epicsTimestampFromDate } from '../protocol/timestamp';

/** Who is asking: what access security decides on. */
export interface ClientIdentity {
  /** CLIENT_NAME as sent by the client (its login name). */
  user: string;
  /** HOST_NAME as sent by the client. */
  host: string;
  /** Peer IP address of the circuit. */
  address: string;
}

export interface AccessRights {
  read: boolean;
  write: boolean;
  /** The rule granting write asks for writes to be logged (TRAPWRITE); default true. */
  trapWrite?: boolean;
}

/** A write, converted to the PV's native type, with who made it. */
export interface WriteRequest {
  value: DbrValue;
  client: ClientIdentity;
  /** True for WRITE_NOTIFY (the client waits for completion). */
  notify: boolean;
}

/** Alarm acknowledgement writes (DBR_PUT_ACKT / DBR_PUT_ACKS). */
export interface AckRequest {
  field: 'ackt' | 'acks';
  value: number;
  client: ClientIdentity;
}

/** A write that did not happen: the ECA code goes back to the client. */
export class WriteError extends Error {
  readonly eca: Eca;
  constructor(eca: Eca, message: string) {
    super(message);
    this.name = 'WriteError';
    this.eca = eca;
  }
}

/** One write attempt, as the put log records it. */
export interface WriteAttempt {
  /** The channel's PV name. */
  pv: string;
  client: ClientIdentity;
  /** The PV before the write (undefined when it could not be read). */
  old: DbrSource | undefined;
  /** The value written, in the PV's native type (undefined when it could not be decoded). */
  value: DbrValue | undefined;
  outcome: 'done' | 'denied' | 'failed';
  reason?: string;
  /** The access rule that allowed the write asked for it to be logged (TRAPWRITE). */
  trapWrite: boolean;
}

/** Told of every write attempt a server sees (the put log). */
export type WriteAudit = (attempt: WriteAttempt) => void;

export type ChangeListener = (mask: number) => void;

/** Anything that can be served over CA. */
export interface ProcessVariable {
  readonly name: string;
  readonly nativeType: NativeType;
  /** Largest element count (the CREATE_CHAN reply's count). */
  readonly maxCount: number;
  /** Value, alarm, time and metadata now. Called synchronously inside change listeners. */
  snapshot(): DbrSource;
  /** Rights of one client; called on channel creation and after `onRightsChanged` fires. */
  accessRights(client: ClientIdentity): AccessRights;
  /**
   * Carry out a write. The PV applies it before returning when it can (a read
   * made next sees it), or queues it behind writes still in progress; the
   * promise resolves when everything it started has finished, and rejects with
   * a WriteError.
   */
  write(request: WriteRequest): Promise<void>;
  /**
   * Undefined when every write made so far has been applied; otherwise a promise
   * that resolves once they have been. The server holds a read back until then.
   */
  writesApplied?(): Promise<void> | undefined;
  /** Alarm acknowledgement; PVs without alarms may omit it (the server then answers ECA_NOCONVERT). */
  acknowledge?(request: AckRequest): Promise<void>;
  /** Change notifications with DBE_* masks; returns the function that unsubscribes. */
  subscribe(listener: ChangeListener): () => void;
  /** Fires when access rights may have changed for some clients. */
  onRightsChanged?(listener: () => void): () => void;
}

/** Name lookup: the server asks it for every search and channel creation. */
export interface PvDirectory {
  lookup(name: string): ProcessVariable | undefined;
}

/** A directory backed by a Map; enough for tools and tests. */
export class MapDirectory implements PvDirectory {
  private readonly pvs = new Map<string, ProcessVariable>();

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
  private readonly rightsListeners = new Set<() => void>();
  private readonly rightsFn: (client: ClientIdentity) => AccessRights;
  private readonly onWrite?: SimplePvOptions['onWrite'];
  private readonly className: string;

  constructor(opts: SimplePvOptions) {
    this.name = opts.name;
    this.nativeType = opts.type;
    this.value = opts.value;
    this.maxCount = opts.maxCount ?? Math.max(1, opts.value.length);
    this.metadata = { ...EMPTY_METADATA, ...opts.metadata };
    this.timestamp = epicsTimestampFromDate(Date.now());
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
    if (check instanceof Promise) return check.then(() => this.setValue(request.value));
    this.setValue(request.value);
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
    this.timestamp = epicsTimestampFromDate(Date.now());
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

  /** Tell subscribers the access rights may have changed. */
  rightsChanged(): void {
    for (const l of [...this.rightsListeners]) l();
  }

  subscribe(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onRightsChanged(listener: () => void): () => void {
    this.rightsListeners.add(listener);
    return () => this.rightsListeners.delete(listener);
  }

  get subscriberCount(): number {
    return this.listeners.size;
  }

  private post(mask: number): void {
    for (const l of [...this.listeners]) l(mask);
  }
}

