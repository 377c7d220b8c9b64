/**
 * The redis bridge: serves each configured redis server's health and the
 * queueserver's keys in it to records through the `redis` device support:
 *
 *   field(DTYP, "redis") field(INP, "@redisdb UsedMemory")
 *
 * where `redisdb` is the server's `pv` in the configuration. Template:
 * db/redis.db. Other parts of the IOC (the queueserver bridge) ask it
 * whether a server is up through `state()` and `subscribe()`.
 */
import { AlarmSeverity, AlarmStatus } from '../ca/protocol/constants';
import type { DeviceBinding, DeviceRecord, DeviceSupport } from '../database/device';
import type { FieldValue } from '../database/recordtypes';
import type { Logger } from '../log';
import type { RedisConfig } from './config';
import type { Reading } from './protocol';
import { RedisWatcher, type RedisReadings } from './watcher';

/** What a record can show of a redis server (INP "@pv Name"). */
export const REDIS_PVS = [
  'Connected', 'Message', 'PingTime', 'Version', 'UsedMemory', 'Persistence', 'LastSaveAge', 'ConnectedClients',
  'QueueLength', 'HistoryLength', 'Locked',
] as const;
export type RedisPv = (typeof REDIS_PVS)[number];

/** PVs about the IOC's side of the connection: no COMM alarm while the server does not answer. */
const OWN_PVS: ReadonlySet<RedisPv> = new Set(['Connected', 'Message']);
/** The records whose severity is the server's health. */
const HEALTH_PVS: ReadonlySet<RedisPv> = new Set(['Connected', 'Persistence']);

const COMM_ALARM = { status: AlarmStatus.COMM, severity: AlarmSeverity.INVALID };
const READ_ALARM = { status: AlarmStatus.READ, severity: AlarmSeverity.INVALID };

/** The IOC-wide health, as the bridges report to it. */
export interface HealthSink {
  set(source: string, severity: number, cause?: { text: string }): void;
}

/** A server's state as others see it. */
export interface RedisState {
  /** undefined before the first poll. */
  connected: boolean | undefined;
  /** Why it is not usable ("" when it is). */
  reason: string;
  address: string;
}

export interface RedisBridgeOptions {
  servers: readonly RedisConfig[];
  log: Logger;
  health?: HealthSink;
}

class ServerEntry {
  readonly records = new Map<DeviceRecord, RedisPv>();
  readonly last = new Map<DeviceRecord, FieldValue>();
  watcher!: RedisWatcher;
  polledOnce = false;
  constructor(readonly config: RedisConfig) {}
}

export class RedisBridge {
  private readonly servers = new Map<string, ServerEntry>();
  private readonly listeners = new Set<(pv: string) => void>();

  constructor(private readonly opts: RedisBridgeOptions) {
    for (const config of opts.servers) {
      const e = new ServerEntry(config);
      e.watcher = new RedisWatcher({
        config,
        log: opts.log,
        changed: () => {
          e.polledOnce = true;
          this.publish(e);
        },
      });
      this.servers.set(config.pv, e);
    }
  }

  start(): void {
    for (const e of this.servers.values()) e.watcher.start();
  }

  stop(): void {
    for (const e of this.servers.values()) e.watcher.stop();
  }

  /** The watcher of the server with this `pv` (tests, benchmarks). */
  watcher(pv: string): RedisWatcher | undefined {
    return this.servers.get(pv)?.watcher;
  }

  /** Whether the server with this `pv` is up, and why not; undefined for an unknown pv. */
  state(pv: string): RedisState | undefined {
    const e = this.servers.get(pv);
    if (!e) return undefined;
    const w = e.watcher;
    return { connected: e.polledOnce ? w.connected : undefined, reason: w.connected ? '' : w.fault, address: w.address };
  }

  /** Called with a server's pv whenever what it shows changes. */
  subscribe(listener: (pv: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // ------------------------------------------------------------ device support

  deviceSupport(): DeviceSupport {
    return {
      dtyp: 'redis',
      recordTypes: ['ai', 'longin', 'bi', 'stringin', 'lsi'],
      bind: (record, link) => this.bind(record, link),
    };
  }

  private bind(record: DeviceRecord, link: string): DeviceBinding {
    const m = /^@(\S+)\s+(\S+)\s*$/.exec(link.trim());
    if (!m) throw new Error(`link "${link}": expected "@PV NAME", e.g. "@redisdb UsedMemory"`);
    const [, pv, what] = m;
    const e = this.servers.get(pv);
    if (!e) {
      const known = [...this.servers.keys()];
      throw new Error(`link "${link}": no [[redis]] has pv = "${pv}"${known.length ? `; configured: ${known.join(', ')}` : ''}`);
    }
    if (record.kind === 'output') throw new Error(`link "${link}": redis PVs are read-only`);
    if (!(REDIS_PVS as readonly string[]).includes(what)) throw new Error(`link "${link}": expected one of ${REDIS_PVS.join(', ')}`);
    const name = what as RedisPv;
    e.records.set(record, name);
    this.publishRecord(e, record, name);
    return {
      // LastSaveAge grows without any poll: its record is scanned.
      read: () => this.publishRecord(e, record, name),
      close: () => e.records.delete(record),
    };
  }

  // ------------------------------------------------------------ values

  private valueOf(e: ServerEntry, name: RedisPv): { value?: FieldValue; alarm?: { status: AlarmStatus; severity: AlarmSeverity } } {
    const w = e.watcher;
    if (name === 'Connected') return { value: w.connected ? 1 : 0 };
    if (name === 'Message') return { value: w.connected ? persistenceWhy(w.readings) : w.fault };
    // Keep the last known value under the alarm.
    if (!w.connected) return { alarm: COMM_ALARM };
    const r = w.readings;
    if (!r) return { alarm: READ_ALARM };
    let reading: Reading;
    if (name === 'LastSaveAge') {
      const t = r.LastSaveTime;
      reading = t.fault !== undefined ? t : { value: Math.max(0, Date.now() / 1000 - (t.value as number)) };
    } else {
      reading = r[name];
    }
    if (reading.fault !== undefined) return { alarm: READ_ALARM };
    return { value: reading.value };
  }

  private publishRecord(e: ServerEntry, record: DeviceRecord, name: RedisPv): void {
    const { value, alarm } = this.valueOf(e, name);
    record.setDeviceAlarm(OWN_PVS.has(name) ? undefined : alarm);
    if (value === undefined) return;
    if (name !== 'LastSaveAge' && e.last.get(record) === value) return;
    e.last.set(record, value);
    record.update(typeof value === 'string' ? fitString(record, value) : value);
  }

  private publish(e: ServerEntry): void {
    for (const [r, name] of e.records) this.publishRecord(e, r, name);
    this.reportHealth(e);
    for (const l of this.listeners) l(e.config.pv);
  }

  /** A server's health: the highest severity among its Connected and Persistence records. */
  private reportHealth(e: ServerEntry): void {
    const health = this.opts.health;
    if (!health) return;
    let sev = -1;
    for (const [r, name] of e.records) if (HEALTH_PVS.has(name)) sev = Math.max(sev, r.field('SEVR') as number);
    const w = e.watcher;
    const text = w.connected ? persistenceWhy(w.readings) : `redis at ${w.address} is down: ${w.fault}`;
    if (sev >= 0) health.set(`redis ${e.config.pv}`, sev, { text });
  }
}

function persistenceWhy(r: RedisReadings | undefined): string {
  return r?.Persistence.why ?? '';
}

/** Cut a string to what the record holds (SIZV for lsi, 40 for stringin), on a character boundary. */
function fitString(record: DeviceRecord, value: string): string {
  const size = record.recordType === 'lsi' ? Math.max(1, Number(record.field('SIZV'))) : 40;
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length <= size - 1) return value;
  return bytes.subarray(0, size - 1).toString('utf8').replace(/\uFFFD$/, '');
}
