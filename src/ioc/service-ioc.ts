/**
 * `service-ioc run -c FILE.toml`: the IOC that watches the beamline's
 * services. It builds its records from db/ioc.db and, per unit, db/unit.db
 * (and db/unit-control.db), binds them to the systemd bridge, and serves
 * them over Channel Access and (unless [ioc] pva = false) pvAccess.
 */
import * as path from 'node:path';
import { DescriptorPool } from '../ca/server/admission';
import { CaServer } from '../ca/server/server';
import { serverConfigFromEnv } from '../ca/server/config';
import { Database, defaultRegistry } from '../database/database';
import type { Logger } from '../log';
import { SystemdBridge } from '../systemd/bridge';
import { SystemdBus, type SystemdConnection } from '../systemd/bus';
import { UnitEnvironment } from '../systemd/unit-environment';
import { QueueserverBridge } from '../queueserver/bridge';
import { RedisBridge } from '../redis/bridge';
import { checkConfigFiles, type IocConfig } from './config';
import { HealthAggregator } from './health';
import { iocDeviceSupport } from './ioc-device';
import { iocStatsDeviceSupport, SOFT_TIMESTAMP } from './iocstats-device';
import { JournalFollower } from '../journal/follower';
import { journalDeviceSupport, NO_JOURNAL } from '../journal/device';

/** Lines of a unit's journal LogTail shows. */
const LOG_TAIL_LINES = 20;
import { loadAll } from './load';
import { configSteps } from './databases';
import { ServiceNotifier } from './notify';
import { enforceAccessSecurity, type AccessSecurity } from '../access/access-security';
import { PutLog } from '../access/putlog';
import { findOtherServers, warnOtherServers } from './other-servers';
import type { PvaServer } from '../pva/server/server';
import { pvaPortsText, startPvaServing } from './pva';

/** A bus connection the IOC can start and stop (SystemdBus; a fake in tests). */
export type ManagedConnection = SystemdConnection & { start(): void; stop(): void };

export interface ServiceIoc {
  database: Database;
  putlog: PutLog;
  security: AccessSecurity | undefined;
  server: CaServer | undefined;
  /** Undefined when pvAccess is off ([ioc] pva = false). */
  pva: PvaServer | undefined;
  bus: ManagedConnection;
  bridge: SystemdBridge;
  queueservers: QueueserverBridge;
  redis: RedisBridge;
  health: HealthAggregator;
  journal: JournalFollower | undefined;
  /** Where the iocStats records find the CA and pvAccess servers once they run. */
  serverStats: { ca: CaServer | undefined; pva: PvaServer | undefined };
  stop(): Promise<void>;
}

/** Build the database (throws on any load error), without starting anything. */
export function buildServiceIoc(config: IocConfig, log: Logger, connection?: ManagedConnection): Omit<ServiceIoc, 'server' | 'pva' | 'stop' | 'security'> {
  checkConfigFiles(config);
  const health = new HealthAggregator();
  const putlog = new PutLog({ ...config.putlog, log: log.child('putlog') });
  const bus = connection ?? new SystemdBus({ kind: config.bus, callTimeoutMs: config.callTimeout * 1000, reconnectDelayMs: 1000, log: log.child('systemd') });
  const journal = config.journal.follow
    ? new JournalFollower({ scope: config.bus, directory: config.journal.directory, lines: LOG_TAIL_LINES, log: log.child('journal') })
    : undefined;
  const bridge = new SystemdBridge({
    bus, log: log.child('systemd'), jobTimeoutMs: config.jobTimeout * 1000, health, resourcePeriodMs: config.resourcePeriod * 1000, journal,
  });
  for (const u of config.units) bridge.watch(u.name);
  const redis = new RedisBridge({ servers: config.redis, log: log.child('redis'), health });
  const queueservers = new QueueserverBridge({ managers: config.queueservers, log: log.child('queueserver'), health, unitEnvironment: new UnitEnvironment(bus), redis });
  const startedAt = Date.now();
  // The servers come after the database; iocStats reads them through this.
  const serverStats: ServiceIoc['serverStats'] = { ca: undefined, pva: undefined };
  const stats = iocStatsDeviceSupport({
    startedAt,
    ca: () => (serverStats.ca ? { clients: serverStats.ca.circuitCount, channels: serverStats.ca.channelCount } : undefined),
    pva: () => (serverStats.pva ? { clients: serverStats.pva.connectionCount, channels: serverStats.pva.channelCount } : undefined),
    records: () => database.records.size,
    startupScript: path.resolve(config.file),
  });
  const registry = defaultRegistry().register(iocDeviceSupport(startedAt, health, putlog)).register(bridge.deviceSupport()).register(queueservers.deviceSupport())
    .register(redis.deviceSupport())
    .register(stats).register(SOFT_TIMESTAMP).register(journal ? journalDeviceSupport(journal) : NO_JOURNAL);
  const loaded = loadAll(configSteps(config));
  for (const w of loaded.warnings) log.warn(w.message);
  const database = Database.build(loaded, { registry, log: log.child('db') });
  return { database, bus, bridge, queueservers, redis, health, putlog, serverStats, journal };
}

export async function startServiceIoc(config: IocConfig, log: Logger, connection?: ManagedConnection): Promise<ServiceIoc> {
  const built = buildServiceIoc(config, log, connection);
  const notifier = new ServiceNotifier(log);
  const security = config.access
    ? await enforceAccessSecurity(built.database, { file: config.access.file, macros: config.access.macros, hostByAddress: config.access.hostByAddress, log: log.child('access') })
    : undefined;
  built.database.start();
  built.bus.start();
  built.redis.start();
  built.bridge.start();
  built.journal?.start();
  built.queueservers.start();
  // CA and pvAccess share the process's file descriptors.
  const descriptors = new DescriptorPool();
  const server = new CaServer({ directory: built.database, config: serverConfigFromEnv(), log: log.child('ca'), circuit: { audit: built.putlog.audit }, descriptors });
  await server.start();
  built.serverStats.ca = server;
  let pva: PvaServer | undefined;
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    notifier.stopping();
    security?.close();
    built.putlog.close();
    built.bridge.stop();
    built.journal?.stop();
    built.bus.stop();
    built.queueservers.stop();
    built.redis.stop();
    built.database.stop();
    await Promise.all([server.stop(), pva?.stop()]);
  };
  try {
    pva = config.pva ? await startPvaServing({ database: built.database, log: log.child('pva'), audit: built.putlog.audit, descriptors }) : undefined;
    built.serverStats.pva = pva;
  } catch (err) {
    await stop();
    throw err;
  }
  // In the background: the IOC serves meanwhile, and says so if its names are served twice.
  void findOtherServers(config, process.env, server.tcpPort).then((others) => warnOtherServers(others, log),
    (err: Error) => log.warn('could not search for other servers of this IOC\'s names', { reason: err.message }));
  notifier.ready(`serving ${built.database.records.size} PVs on CA port ${server.tcpPort}${pva ? `, ${pvaPortsText(pva)}` : ''}`);
  return { ...built, server, pva, security, stop };
}
