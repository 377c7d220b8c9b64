/**
 * PVA server settings from the environment, as pvxs reads them
 * (`src/config.cpp` server::Config::fromDefs): of the names given for a
 * setting the first one that is set wins, even when it is set to nothing
 * (so an empty EPICS_PVAS_BEACON_ADDR_LIST hides EPICS_PVA_ADDR_LIST).
 *
 *   EPICS_PVAS_SERVER_PORT           or EPICS_PVA_SERVER_PORT     TCP port, default 5075 (0: any free port)
 *   EPICS_PVAS_BROADCAST_PORT        or EPICS_PVA_BROADCAST_PORT  UDP search port, default 5076
 *   EPICS_PVAS_INTF_ADDR_LIST        (no fallback)                interfaces to bind (TCP and searches), default all
 *   EPICS_PVAS_BEACON_ADDR_LIST      or EPICS_PVA_ADDR_LIST       beacon destinations (default port: the UDP port)
 *   EPICS_PVAS_AUTO_BEACON_ADDR_LIST or EPICS_PVA_AUTO_ADDR_LIST  add interface broadcasts, default YES
 *   EPICS_PVAS_IGNORE_ADDR_LIST      (no fallback)                senders whose searches are ignored
 *
 * pvxs logs a value it cannot parse and keeps the default; service-ioc
 * refuses to start with the variable's name instead (ConfigError), as it
 * does for the CA variables. An empty port or YES/NO keeps the default.
 */
import { ConfigError, parseAddrList, type Env, type HostPort } from '../../ca/server/config';

export const PVA_SERVER_PORT = 5075;
export const PVA_BROADCAST_PORT = 5076;

export interface PvaServerConfig {
  /** TCP port (0: any free port). */
  serverPort: number;
  /** UDP port searches arrive on (0: any free port). */
  broadcastPort: number;
  /** Interfaces to serve on; empty means all. */
  interfaces: string[];
  beaconAddrList: HostPort[];
  autoBeaconAddrList: boolean;
  /** Seconds between beacons after the first burst (pvxs: 15 s for 10 beacons, then 180 s). */
  beaconPeriod: number;
  ignoreAddrs: string[];
  /** Largest message accepted from a client, in bytes. */
  maxMessageBytes: number;
}

/** The first of `names` that is set (to anything, even nothing), as pvxs's PickOne chooses. */
function pick(env: Env, ...names: string[]): { name: string; value: string } | undefined {
  for (const name of names) {
    const value = env[name];
    if (value !== undefined) return { name, value: value.trim() };
  }
  return undefined;
}

function port(env: Env, fallback: number, ...names: string[]): number {
  const v = pick(env, ...names);
  if (!v || v.value === '') return fallback;
  const n = Number(v.value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new ConfigError(v.name, `expected a port number 0..65535, got "${v.value}"`);
  return n;
}

function yesNo(env: Env, fallback: boolean, ...names: string[]): boolean {
  const v = pick(env, ...names);
  if (!v || v.value === '') return fallback;
  if (/^(yes|1)$/i.test(v.value)) return true;
  if (/^(no|0)$/i.test(v.value)) return false;
  throw new ConfigError(v.name, `expected YES or NO, got "${v.value}"`);
}

function hosts(env: Env, ...names: string[]): string[] {
  const v = pick(env, ...names);
  if (!v || v.value === '') return [];
  return parseAddrList(v.value, 1, v.name).map((h) => h.host).filter((h) => h !== '0.0.0.0');
}

export function pvaConfigFromEnv(env: Env = process.env): PvaServerConfig {
  const serverPort = port(env, PVA_SERVER_PORT, 'EPICS_PVAS_SERVER_PORT', 'EPICS_PVA_SERVER_PORT');
  const broadcastPort = port(env, PVA_BROADCAST_PORT, 'EPICS_PVAS_BROADCAST_PORT', 'EPICS_PVA_BROADCAST_PORT');
  const beacons = pick(env, 'EPICS_PVAS_BEACON_ADDR_LIST', 'EPICS_PVA_ADDR_LIST');
  return {
    serverPort,
    broadcastPort,
    interfaces: hosts(env, 'EPICS_PVAS_INTF_ADDR_LIST'),
    beaconAddrList: beacons && beacons.value !== '' ? parseAddrList(beacons.value, broadcastPort || PVA_BROADCAST_PORT, beacons.name) : [],
    autoBeaconAddrList: yesNo(env, true, 'EPICS_PVAS_AUTO_BEACON_ADDR_LIST', 'EPICS_PVA_AUTO_ADDR_LIST'),
    beaconPeriod: 15,
    ignoreAddrs: hosts(env, 'EPICS_PVAS_IGNORE_ADDR_LIST'),
    maxMessageBytes: 64 * 1024 * 1024,
  };
}
