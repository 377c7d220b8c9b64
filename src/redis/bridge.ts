/**
 * The redis bridge: serves each configured redis server's health and the
 * queueserver's keys in it to records through the `redis` device support:
 *
 *   field(DTYP, "redis") field(INP, "@redisdb UsedMemory")
 *
 * where `redisdb` is the server's `pv` in the configuration. Template:
 * db/redis.db. Other parts of the IOC (the queueserver bridge) ask it
 * whether a server is up through `state()`, `subscribe()` and `checked()`.
 */
import { AlarmSeverity, AlarmStatus } from '../ca/protocol/constants';
import type { DeviceBinding, DeviceRecord, DeviceSupport, HealthSink } from '../database/device';
import { BoundRecords, DeviceLinkError, oneOf, parseLink, unknownTarget, type DeviceAlarm } from '../database/device-bridge';
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
  readonly records = new BoundRecords<RedisPv>();
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

  /**
   * Resolves once what the server with this `pv` shows is current as of
   * `since` (performance.now()), records that follow its Connected through
   * CP links included (RedisWatcher.checked). At once for an unknown pv.
   */
  async checked(pv: string, since: number): Promise<void> {
    const w = this.servers.get(pv)?.watcher;
    if (!w) return;
    await w.checked(since);
    // CP links process their records in a later turn (Database.scanOnce, setImmediate): let those queued now run first.
    await new Promise<void>((resolve) => setImmediate(resolve));
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
    const { target, name } = parseLink(link, '"@PV NAME", e.g. "@redisdb UsedMemory"');
    const e = this.servers.get(target);
    if (!e) throw unknownTarget(link, '[[redis]]', target, this.servers.keys());
    if (record.kind === 'output') throw new DeviceLinkError('LINK_ERR_READ_ONLY', link, 'redis PVs are read-only');
    // LastSaveAge grows without any poll: its record is scanned.
    return e.records.bindStatus(record, oneOf(link, name, REDIS_PVS), (r) => this.publishRecord(e, r));
  }

  // ------------------------------------------------------------ values

  private valueOf(e: ServerEntry, name: RedisPv): { value?: FieldValue; alarm?: DeviceAlarm } {
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

  private publishRecord(e: ServerEntry, record: DeviceRecord): void {
    const name = e.records.status.get(record);
    if (name === undefined) return;
    const { value, alarm } = this.valueOf(e, name);
    e.records.show(record, value, OWN_PVS.has(name) ? undefined : alarm, name === 'LastSaveAge');
  }

  private publish(e: ServerEntry): void {
    for (const r of e.records.status.keys()) this.publishRecord(e, r);
    this.reportHealth(e);
    for (const l of this.listeners) l(e.config.pv);
  }

  /** A server's health: the highest severity among its Connected and Persistence records. */
  private reportHealth(e: ServerEntry): void {
    const health = this.opts.health;
    if (!health) return;
    const sev = e.records.severity(HEALTH_PVS);
    if (sev === undefined) return;
    const w = e.watcher;
    const text = w.connected ? persistenceWhy(w.readings) : `redis at ${w.address} is down: ${w.fault}`;
    health.set(`redis ${e.config.pv}`, sev, { text });
  }
}

function persistenceWhy(r: RedisReadings | undefined): string {
  return r?.Persistence.why ?? '';
}
