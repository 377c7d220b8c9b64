/**
 * The interface the CA and PVA servers serve through, and what they tell of
 * the writes they carry: the record database implements it, device support
 * throws its WriteError, the put log reads its WriteAttempt.
 *
 * A server never looks inside a PV: it asks for a snapshot when it must
 * encode one, for the rights of a client when a channel is created or the
 * rights may have changed, and hands writes over already converted to the
 * PV's native type.
 */
import type { Eca, NativeType } from './protocol/constants';
import type { DbrSource, DbrValue } from './protocol/types';
import { ServiceIocError, type ErrorCode } from '../errors';

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
  /** The elements written; none for a write of count 0. */
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

/**
 * A write that did not happen: the ECA code goes back to the client (a PVA
 * client gets the message), the code says what failed.
 */
export class WriteError extends ServiceIocError {
  readonly eca: Eca;
  constructor(eca: Eca, message: string, code: ErrorCode = 'WRITE_ERR_FAILED') {
    super(code, message);
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
  /** A failure's code (docs/errors.md), when its error has one. */
  code?: ErrorCode;
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
  /** Rights of one client; called on channel creation and after the directory's `onRightsChanged` fires. */
  accessRights(client: ClientIdentity): AccessRights;
  /**
   * Carry out a write. The PV applies it before returning when it can (a read
   * made next sees it), or queues it behind writes still in progress; the
   * promise resolves when everything it started has finished, and rejects with
   * a WriteError.
   */
  write(request: WriteRequest): Promise<void>;
  /**
   * A client's value (`value`, of native type `from`, as it came) converted to
   * what `write` takes, by the PV's own rules; undefined when the server is to
   * convert it to `nativeType` itself (as it does for a PV without this).
   * @throws WriteError or CaProtocolError when the value cannot be written.
   */
  convertWrite?(value: DbrValue, from: NativeType): DbrValue | undefined;
  /**
   * Undefined when every write made so far has been applied; otherwise a promise
   * that resolves once they have been. The server holds a read back until then.
   */
  writesApplied?(): Promise<void> | undefined;
  /** Alarm acknowledgement; PVs without alarms may omit it (the server then answers ECA_NOCONVERT). */
  acknowledge?(request: AckRequest): Promise<void>;
  /** Change notifications with DBE_* masks; returns the function that unsubscribes. */
  subscribe(listener: ChangeListener): () => void;
}

/** Name lookup: the server asks it for every search and channel creation. */
export interface PvDirectory {
  lookup(name: string): ProcessVariable | undefined;
  /**
   * Fires when access rights may have changed for some clients of some PVs (new
   * rules, a record moved to another access security group). A server asks each
   * of its channels' PVs again and tells the clients whose rights changed: one
   * listener per connection, not per channel, since channels are many and such
   * changes rare. Returns the function that stops listening.
   */
  onRightsChanged?(listener: () => void): () => void;
  /**
   * Names that `lookup` serves for as long as the directory exists (a soft
   * IOC's record names). A server may answer searches for them without asking
   * `lookup`, on another thread; every other name is still asked of `lookup`.
   */
  servedNames?(): Iterable<string>;
}
