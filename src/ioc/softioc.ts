/**
 * `service-ioc softioc`: serve records from .db files over Channel Access,
 * like EPICS base's `softIoc -d file.db`.
 */
import { CaServer } from '../ca/server/server';
import { serverConfigFromEnv } from '../ca/server/config';
import { Database, defaultRegistry, type DatabaseOptions } from '../database/database';
import type { DeviceRegistry } from '../database/device';
import type { Logger } from '../log';
import { loadAll, type LoadStep } from './load';
import { iocDeviceSupport } from './ioc-device';

export interface SoftIocOptions {
  steps: LoadStep[];
  registry?: DeviceRegistry;
  log: Logger;
  access?: DatabaseOptions['access'];
}

export interface RunningIoc {
  database: Database;
  server: CaServer;
  stop(): Promise<void>;
}

/** Load, build and serve. Throws (DbLoadError, ConfigError...) before anything listens. */
export async function startSoftIoc(opts: SoftIocOptions): Promise<RunningIoc> {
  const config = serverConfigFromEnv();
  const loaded = loadAll(opts.steps);
  for (const w of loaded.warnings) opts.log.warn(w.message);
  const database = Database.build(loaded, { registry: opts.registry ?? defaultRegistry().register(iocDeviceSupport()), log: opts.log.child('db'), access: opts.access });
  database.start();
  const server = new CaServer({ directory: database, config, log: opts.log.child('ca') });
  await server.start();
  let stopped = false;
  return {
    database,
    server,
    async stop() {
      if (stopped) return;
      stopped = true;
      database.stop();
      await server.stop();
    },
  };
}
