/**
 * Another server answering for this IOC's names (the same configuration
 * running twice, or an old IOC still serving the names) is looked for when
 * the IOC starts and by `service-ioc check`: a CA name search for a few of its
 * own PVs, where its clients would search.
 */
import { serverConfigFromEnv, type Env } from '../ca/server/config';
import { isLocalAddress, probeDestinations, probeNames, type NameAnswer } from '../ca/server/name-probe';
import type { Logger } from '../log';
import type { IocConfig } from './config';

/** The names searched: a few that every configuration serves. */
export function probedNames(config: IocConfig): string[] {
  const P = config.prefix;
  const names = [`${P}IOC:Health`, `${P}IOC:Heartbeat`, `${P}IOC:BusConnected`];
  if (config.units[0]) names.push(`${P}${config.units[0].pv}:ActiveState`);
  return names;
}

/**
 * Servers other than this one (the one at `ownTcpPort` on this host, if it
 * runs) that answer for the names, within `timeoutMs`.
 */
export async function findOtherServers(config: IocConfig, env: Env = process.env, ownTcpPort?: number, timeoutMs = 1000): Promise<NameAnswer[]> {
  const destinations = probeDestinations(env, serverConfigFromEnv(env));
  return probeNames({
    names: probedNames(config),
    destinations,
    timeoutMs,
    ignore: (address, tcpPort) => ownTcpPort !== undefined && tcpPort === ownTcpPort && isLocalAddress(address),
  });
}

/** One line per other server: who answers for which names. */
export function describeOtherServer(a: NameAnswer): string {
  return `another Channel Access server, at ${a.server}, answers for ${a.names.join(', ')}: clients may connect to either`;
}

/** The warning the running IOC logs for each other server. */
export function warnOtherServers(answers: readonly NameAnswer[], log: Logger): void {
  for (const a of answers) log.warn('another Channel Access server answers for this IOC\'s PV names; clients may connect to either', { server: a.server, names: a.names.join(' ') });
}
