/**
 * Server settings from the EPICS environment variables, as RSRV reads them
 * (modules/database/src/ioc/rsrv/caservertask.c, online_notify.c), with the
 * CAS-specific variable taking precedence over the CA one.
 */
import { ServiceIocError } from '../../errors';
import { CA_REPEATER_PORT, CA_SERVER_PORT } from '../protocol/constants';

export interface HostPort {
  host: string;
  port: number;
}

export interface ServerConfig {
  /** UDP search port, and the preferred TCP port. */
  serverPort: number;
  /** Where beacons go. */
  beaconPort: number;
  beaconAddrList: HostPort[];
  autoBeaconAddrList: boolean;
  /** Longest interval between beacons, in seconds. */
  beaconPeriod: number;
  /** Interfaces to serve on; empty means all. */
  interfaces: string[];
  /** Senders whose UDP is ignored. */
  ignoreAddrs: string[];
  /** Largest array payload in bytes (EPICS_CA_MAX_ARRAY_BYTES). */
  maxArrayBytes: number;
}

export type Env = Record<string, string | undefined>;

/** An EPICS_CA_* or EPICS_PVA* variable whose value cannot be used. */
export class ConfigError extends ServiceIocError {
  constructor(readonly variable: string, message: string) {
    super('ENV_ERR_BAD_VALUE', `${variable}: ${message}`);
  }
}

function pick(env: Env, ...names: string[]): { name: string; value: string } | undefined {
  for (const name of names) {
    const value = env[name];
    if (value !== undefined && value.trim() !== '') return { name, value: value.trim() };
  }
  return undefined;
}

/** The first of `names` that is set, as a port number; `fallback` when none is. */
export function portFromEnv(env: Env, fallback: number, ...names: string[]): number {
  const v = pick(env, ...names);
  if (!v) return fallback;
  const n = Number(v.value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new ConfigError(v.name, `expected a port number 1..65535, got "${v.value}"`);
  return n;
}

function yesNo(env: Env, fallback: boolean, ...names: string[]): boolean {
  const v = pick(env, ...names);
  if (!v) return fallback;
  // EPICS treats anything starting with n/N as NO (envGetConfigParam + epicsStrCaseCmp "no").
  return !/^no$/i.test(v.value);
}

/** Parse "host[:port] host[:port] ..." with a default port. */
export function parseAddrList(text: string, defaultPort: number, variable = 'address list'): HostPort[] {
  const out: HostPort[] = [];
  for (const item of text.split(/\s+/).filter(Boolean)) {
    const m = /^([^:]+)(?::(\d+))?$/.exec(item);
    if (!m) throw new ConfigError(variable, `cannot parse "${item}" as host[:port]`);
    const p = m[2] === undefined ? defaultPort : Number(m[2]);
    if (p < 1 || p > 65535) throw new ConfigError(variable, `port out of range in "${item}"`);
    out.push({ host: m[1], port: p });
  }
  return out;
}

export function serverConfigFromEnv(env: Env = process.env): ServerConfig {
  const serverPort = portFromEnv(env, CA_SERVER_PORT, 'EPICS_CAS_SERVER_PORT', 'EPICS_CA_SERVER_PORT');
  const beaconPort = portFromEnv(env, CA_REPEATER_PORT, 'EPICS_CAS_BEACON_PORT', 'EPICS_CA_REPEATER_PORT');
  const list = pick(env, 'EPICS_CAS_BEACON_ADDR_LIST', 'EPICS_CA_ADDR_LIST');
  const beaconAddrList = list ? parseAddrList(list.value, beaconPort, list.name) : [];
  const autoBeaconAddrList = yesNo(env, true, 'EPICS_CAS_AUTO_BEACON_ADDR_LIST', 'EPICS_CA_AUTO_ADDR_LIST');
  const periodVar = pick(env, 'EPICS_CAS_BEACON_PERIOD', 'EPICS_CA_BEACON_PERIOD');
  let beaconPeriod = 15;
  if (periodVar) {
    beaconPeriod = Number(periodVar.value);
    if (!Number.isFinite(beaconPeriod) || beaconPeriod <= 0) {
      throw new ConfigError(periodVar.name, `expected a positive number of seconds, got "${periodVar.value}"`);
    }
  }
  const intf = pick(env, 'EPICS_CAS_INTF_ADDR_LIST');
  const interfaces = intf ? parseAddrList(intf.value, serverPort, intf.name).map((a) => a.host) : [];
  const ignore = pick(env, 'EPICS_CAS_IGNORE_ADDR_LIST');
  const ignoreAddrs = ignore ? parseAddrList(ignore.value, 1, ignore.name).map((a) => a.host) : [];
  const mab = pick(env, 'EPICS_CA_MAX_ARRAY_BYTES');
  let maxArrayBytes = 16384;
  if (mab) {
    const n = Number(mab.value);
    if (!Number.isInteger(n) || n <= 0) throw new ConfigError(mab.name, `expected a byte count, got "${mab.value}"`);
    // libca and RSRV never use less than 16384 bytes.
    maxArrayBytes = Math.max(16384, n);
  }
  return { serverPort, beaconPort, beaconAddrList, autoBeaconAddrList, beaconPeriod, interfaces, ignoreAddrs, maxArrayBytes };
}
