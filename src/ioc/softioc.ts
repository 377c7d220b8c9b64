/**
 * `service-ioc softioc`: serve records from .db files over Channel Access
 * and pvAccess, like EPICS base's `softIoc -d file.db` (pvxs's softIocPVX
 * for PVA).
 */
import { DescriptorPool } from '../ca/server/admission';
import { CaServer } from '../ca/server/server';
import { serverConfigFromEnv } from '../ca/server/config';
import { Database, defaultRegistry } from '../database/database';
import type { DeviceRegistry } from '../database/device';
import { enforceAccessSecurity, type AccessSecurity } from '../access/access-security';
import { PutLog } from '../access/putlog';
import type { Logger } from '../log';
import { loadAll, type LoadStep } from './load';
import { iocDeviceSupport } from './ioc-device';
import type { PvaServer } from '../pva/server/server';
import { startPvaServing } from './pva';

export interface SoftIocOptions {
  steps: LoadStep[];
  registry?: DeviceRegistry;
  log: Logger;
  /** Access security file, with the macros given before it (-m ... -a FILE.acf). */
  acf?: { file: string; macros: ReadonlyMap<string, string> };
  /** Serve over pvAccess too (default true). */
  pva?: boolean;
}

export interface RunningIoc {
  database: Database;
  server: CaServer;
  /** Undefined when pvAccess is off. */
  pva: PvaServer | undefined;
  security: AccessSecurity | undefined;
  stop(): Promise<void>;
}

/** Load, build and serve. Throws (DbLoadError, ConfigError...) before anything listens. */
export async function startSoftIoc(opts: SoftIocOptions): Promise<RunningIoc> {
  const config = serverConfigFromEnv();
  const loaded = loadAll(opts.steps);
  for (const w of loaded.warnings) opts.log.warn(w.message);
  const database = Database.build(loaded, { registry: opts.registry ?? defaultRegistry().register(iocDeviceSupport()), log: opts.log.child('db') });
  const security = opts.acf
    ? await enforceAccessSecurity(database, { file: opts.acf.file, macros: opts.acf.macros, log: opts.log.child('access') })
    : undefined;
  // With access security, writes are logged caPutLog-style to the journal (see PutLog for which).
  const putlog = security ? new PutLog({ format: 'json', log: opts.log.child('putlog') }) : undefined;
  database.start();
  // CA and pvAccess share the process's file descriptors.
  const descriptors = new DescriptorPool();
  const server = new CaServer({ directory: database, config, log: opts.log.child('ca'), circuit: { audit: putlog?.audit }, descriptors });
  await server.start();
  let pva: PvaServer | undefined;
  try {
    pva = opts.pva === false ? undefined : await startPvaServing({ database, log: opts.log.child('pva'), audit: putlog?.audit, descriptors });
  } catch (err) {
    security?.close();
    putlog?.close();
    database.stop();
    await server.stop();
    throw err;
  }
  let stopped = false;
  return {
    database,
    server,
    pva,
    security,
    async stop() {
      if (stopped) return;
      stopped = true;
      security?.close();
      putlog?.close();
      database.stop();
      await Promise.all([server.stop(), pva?.stop()]);
    },
  };
}
