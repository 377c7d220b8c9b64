/**
 * The one owner of the D-Bus connection to systemd. It connects (Hello),
 * installs its match rules, calls Subscribe(), and rebuilds all of that
 * whenever the connection drops or systemd gets a new bus owner (re-exec).
 * Every call has a timeout: a dependency that can hang will hang.
 *
 * It uses dbus-next's low-level message API only: its proxy objects leak
 * match rules and lose signals after a re-exec (see the reference notes).
 */
import { EventEmitter } from 'node:events';
import * as dbus from 'dbus-next';
import { ServiceIocError } from '../errors';
import type { Logger } from '../log';
import { MANAGER_IFACE, MANAGER_PATH, PROPERTIES_IFACE, SYSTEMD_SERVICE, UNIT_PATH_PREFIX } from './names';

export type BusKind = 'user' | 'system';

export interface SystemdBusOptions {
  kind: BusKind;
  /** Address for the user bus; default from the environment. */
  address?: string;
  callTimeoutMs: number;
  /** The first retry's delay; each failed attempt doubles it, up to maxReconnectDelayMs. */
  reconnectDelayMs: number;
  /** Default 5 minutes. */
  maxReconnectDelayMs?: number;
  log: Logger;
}

/** The longest wait between two attempts to reach systemd. */
export const MAX_RECONNECT_DELAY_MS = 5 * 60_000;

/** D-Bus errors that mean the bus works but nobody on it is systemd's manager. */
const NO_SYSTEMD_ERRORS = new Set(['org.freedesktop.DBus.Error.ServiceUnknown', 'org.freedesktop.DBus.Error.NameHasNoOwner']);

export type BusErrorCode = 'SYSTEMD_ERR_BUS_DISCONNECTED' | 'SYSTEMD_ERR_BUS_TIMEOUT' | 'SYSTEMD_ERR_BUS_CALL_FAILED';

/** A D-Bus call to systemd that did not succeed. */
export class BusError extends ServiceIocError {
  declare readonly code: BusErrorCode;
  constructor(code: BusErrorCode, message: string, readonly dbusName?: string) {
    super(code, message);
  }
}

/** The user bus address as libsystemd finds it. */
export function userBusAddress(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.DBUS_SESSION_BUS_ADDRESS) return env.DBUS_SESSION_BUS_ADDRESS;
  if (env.XDG_RUNTIME_DIR) return `unix:path=${env.XDG_RUNTIME_DIR}/bus`;
  return undefined;
}

const MATCH_RULES = [
  `type='signal',sender='${SYSTEMD_SERVICE}',interface='${MANAGER_IFACE}',path='${MANAGER_PATH}'`,
  `type='signal',sender='${SYSTEMD_SERVICE}',interface='${PROPERTIES_IFACE}',member='PropertiesChanged',path_namespace='${UNIT_PATH_PREFIX.slice(0, -1)}'`,
  `type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='${SYSTEMD_SERVICE}'`,
];

export interface BusSignal {
  path: string;
  iface: string;
  member: string;
  body: unknown[];
}

/** What the bridge needs of a bus connection (SystemdBus, or a fake in tests). */
export interface SystemdConnection {
  readonly isConnected: boolean;
  describe(): string;
  call(path: string, iface: string, member: string, signature: string, body: unknown[], timeoutMs?: number): Promise<unknown[]>;
  on(event: 'up', listener: () => void): this;
  on(event: 'down', listener: (reason: string) => void): this;
  on(event: 'signal', listener: (signal: BusSignal) => void): this;
  /** An attempt to reach systemd failed; the next is in `retryMs`. */
  on(event: 'failed', listener: (reason: string, retryMs: number) => void): this;
}

interface Pending {
  reject: (err: Error) => void;
}

/**
 * Events: 'up' (connected and subscribed; re-read everything now), 'down'
 * (reason), 'signal' (BusSignal), 'failed' (reason, retryMs: an attempt to
 * connect failed). Every failed attempt is a warning with its reason; the
 * attempts slow down (1 s, 2 s, 4 s, ... up to 5 min) and the one that
 * succeeds says so.
 */
export class SystemdBus extends EventEmitter implements SystemdConnection {
  private bus: dbus.MessageBus | undefined;
  private connected = false;
  private stopped = false;
  private retry: NodeJS.Timeout | undefined;
  private readonly pending = new Set<Pending>();
  private generation = 0;
  /** Attempts that failed since the last connection. */
  private failures = 0;
  private lastReason = '';

  constructor(private readonly opts: SystemdBusOptions) {
    super();
  }

  get isConnected(): boolean {
    return this.connected;
  }

  describe(): string {
    return this.opts.kind === 'system' ? 'the system bus' : `the user bus (${this.opts.address ?? userBusAddress() ?? 'no address'})`;
  }

  start(): void {
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    this.drop('stopped');
  }

  private connect(): void {
    if (this.stopped) return;
    const generation = ++this.generation;
    let bus: dbus.MessageBus;
    try {
      if (this.opts.kind === 'system') bus = dbus.systemBus();
      else {
        const address = this.opts.address ?? userBusAddress();
        if (!address) throw new Error('no user bus: neither DBUS_SESSION_BUS_ADDRESS nor XDG_RUNTIME_DIR is set');
        bus = dbus.sessionBus({ busAddress: address });
      }
    } catch (err) {
      this.scheduleReconnect((err as Error).message);
      return;
    }
    this.bus = bus;
    // Hello can hang too (a socket nobody reads).
    const hello = setTimeout(() => {
      if (generation === this.generation && !this.connected) this.lost(`no answer from ${this.describe()} within ${this.opts.callTimeoutMs} ms`);
    }, this.opts.callTimeoutMs);
    hello.unref();
    bus.on('error', (err: Error) => {
      if (generation === this.generation) this.lost(`bus error: ${err.message}`);
    });
    // dbus-next does not surface the end of its stream on the bus object.
    const conn = (bus as unknown as { _connection?: EventEmitter })._connection;
    conn?.on('end', () => {
      if (generation === this.generation) this.lost('the bus closed the connection');
    });
    bus.on('message', (msg: dbus.Message) => this.onMessage(msg));
    bus.on('connect', () => {
      clearTimeout(hello);
      if (generation !== this.generation) return;
      void this.setUp(generation);
    });
  }

  private async setUp(generation: number): Promise<void> {
    try {
      for (const rule of MATCH_RULES) {
        await this.rawCall('org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus', 'AddMatch', 's', [rule]);
      }
      await this.subscribe();
      if (generation !== this.generation) return;
      this.connected = true;
      if (this.failures > 0) this.opts.log.info('reconnected to systemd', { bus: this.describe(), failedAttempts: this.failures });
      else this.opts.log.info('connected to systemd', { bus: this.describe() });
      this.failures = 0;
      this.lastReason = '';
      this.emit('up');
    } catch (err) {
      if (generation !== this.generation) return;
      const e = err as Error;
      this.lost(err instanceof BusError && err.dbusName && NO_SYSTEMD_ERRORS.has(err.dbusName)
        ? `the bus answers, but systemd's manager (${SYSTEMD_SERVICE}) is not on it (${e.message})`
        : `setting up the connection failed: ${e.message}`);
    }
  }

  private async subscribe(): Promise<void> {
    try {
      await this.rawCall(SYSTEMD_SERVICE, MANAGER_PATH, MANAGER_IFACE, 'Subscribe', '', []);
    } catch (err) {
      if (err instanceof BusError && err.dbusName === 'org.freedesktop.systemd1.AlreadySubscribed') return;
      throw err;
    }
  }

  private onMessage(msg: dbus.Message): void {
    if (msg.type !== dbus.MessageType.SIGNAL) return;
    const signal: BusSignal = { path: msg.path ?? '', iface: msg.interface ?? '', member: msg.member ?? '', body: msg.body as unknown[] };
    if (signal.member === 'NameOwnerChanged' && signal.body[0] === SYSTEMD_SERVICE) {
      const newOwner = String(signal.body[2] ?? '');
      // systemd re-executed (or came up): its subscription list is new, subscribe again.
      if (newOwner !== '' && this.connected) {
        this.subscribe().then(() => this.emit('up'), (err: Error) => this.opts.log.warn('Subscribe after a new systemd owner failed', { reason: err.message }));
      }
      return;
    }
    this.emit('signal', signal);
  }

  private lost(reason: string): void {
    const was = this.connected;
    this.drop(reason);
    this.scheduleReconnect(reason, was ? 'lost the connection to systemd' : 'cannot reach systemd');
  }

  private drop(reason: string): void {
    this.generation++;
    const was = this.connected;
    this.connected = false;
    const bus = this.bus;
    this.bus = undefined;
    for (const p of [...this.pending]) p.reject(new BusError('SYSTEMD_ERR_BUS_DISCONNECTED', `not connected to ${this.describe()}: ${reason}`));
    this.pending.clear();
    try {
      bus?.disconnect();
    } catch {
      // already gone
    }
    if (was) this.emit('down', reason);
  }

  /** Why the last attempt to reach systemd failed ('' while connected). */
  get reason(): string {
    return this.lastReason;
  }

  private scheduleReconnect(reason: string, what = 'cannot reach systemd'): void {
    if (this.stopped || this.retry) return;
    this.failures++;
    this.lastReason = reason;
    const max = this.opts.maxReconnectDelayMs ?? MAX_RECONNECT_DELAY_MS;
    const delayMs = Math.min(max, this.opts.reconnectDelayMs * 2 ** Math.min(this.failures - 1, 30));
    this.opts.log.warn(what, { bus: this.describe(), reason, attempt: this.failures, retryInS: delayMs / 1000 });
    this.emit('failed', reason, delayMs);
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.connect();
    }, delayMs);
    this.retry.unref();
  }

  /** Call a method of systemd's manager or a unit; rejects with BusError. */
  call(path: string, iface: string, member: string, signature: string, body: unknown[], timeoutMs = this.opts.callTimeoutMs): Promise<unknown[]> {
    if (!this.connected) return Promise.reject(new BusError('SYSTEMD_ERR_BUS_DISCONNECTED', `not connected to ${this.describe()}`));
    return this.rawCall(SYSTEMD_SERVICE, path, iface, member, signature, body, timeoutMs);
  }

  private rawCall(destination: string, path: string, iface: string, member: string, signature: string, body: unknown[], timeoutMs = this.opts.callTimeoutMs): Promise<unknown[]> {
    const bus = this.bus;
    if (!bus) return Promise.reject(new BusError('SYSTEMD_ERR_BUS_DISCONNECTED', `not connected to ${this.describe()}`));
    return new Promise<unknown[]>((resolve, reject) => {
      const entry: Pending = { reject: (e) => finish(() => reject(e)) };
      let done = false;
      const timer = setTimeout(() => finish(() => reject(new BusError('SYSTEMD_ERR_BUS_TIMEOUT', `${member} got no answer within ${timeoutMs} ms`))), timeoutMs);
      const finish = (f: () => void): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.pending.delete(entry);
        f();
      };
      this.pending.add(entry);
      const message = new dbus.Message({ destination, path, interface: iface, member, signature, body });
      bus.call(message).then(
        (reply) => finish(() => resolve((reply?.body ?? []) as unknown[])),
        (err: unknown) => {
          const e = err as { type?: string; text?: string; message?: string };
          finish(() => reject(new BusError('SYSTEMD_ERR_BUS_CALL_FAILED', `${member}: ${e.text ?? e.message ?? String(err)}`, e.type)));
        },
      );
    });
  }
}
