/**
 * Who else answers for our names: a CA client's UDP name search (SEARCH with
 * "don't reply" for unknown names, as libca sends it) for a few PV names, sent
 * where a client of this IOC would search, with a short deadline. Two servers
 * answering for one name is the misconfiguration a client notices only as
 * libca's "Identical process variable names on multiple servers" warning,
 * reading from whichever answered first.
 */
import * as dgram from 'node:dgram';
import * as os from 'node:os';
import { Command } from '../protocol/constants';
import { splitDatagram } from '../protocol/framer';
import { searchRequest, udpVersionMessage } from '../protocol/messages';
import { parseAddrList, type Env, type HostPort, type ServerConfig } from './config';
import { broadcastAddresses } from './server';

/** A server that answered a search for one of the names. */
export interface NameAnswer {
  /** host:port of its TCP listener, as a client would connect to it. */
  server: string;
  address: string;
  tcpPort: number;
  names: string[];
}

export interface NameProbeOptions {
  names: readonly string[];
  destinations: readonly HostPort[];
  /** How long to wait for answers; default 1 s. */
  timeoutMs?: number;
  /** Answers to leave out (this server's own). */
  ignore?: (address: string, tcpPort: number) => boolean;
}

/**
 * Where a client of this IOC searches: EPICS_CA_ADDR_LIST, and unless
 * EPICS_CA_AUTO_ADDR_LIST is NO, the broadcast address of each interface the
 * server serves on (all of them by default), at the server's UDP port.
 */
export function probeDestinations(env: Env, config: ServerConfig): HostPort[] {
  const out: HostPort[] = [];
  const list = env.EPICS_CA_ADDR_LIST?.trim();
  if (list) out.push(...parseAddrList(list, config.serverPort, 'EPICS_CA_ADDR_LIST'));
  const auto = !/^no$/i.test(env.EPICS_CA_AUTO_ADDR_LIST?.trim() ?? '');
  if (auto) {
    const hosts = config.interfaces.length && !config.interfaces.includes('0.0.0.0')
      ? config.interfaces.map(interfaceBroadcast)
      : broadcastAddresses();
    for (const host of hosts) out.push({ host, port: config.serverPort });
  }
  const seen = new Set<string>();
  return out.filter((d) => {
    const k = `${d.host}:${d.port}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** The broadcast address of the interface that has `address` (loopback and unknown addresses: the address itself). */
function interfaceBroadcast(address: string): string {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.family !== 'IPv4' || a.address !== address || a.internal) continue;
      const ip = a.address.split('.').map(Number);
      const mask = a.netmask.split('.').map(Number);
      return ip.map((b, i) => (b | (~mask[i] & 0xff)) & 0xff).join('.');
    }
  }
  return address;
}

/** Whether `address` is one of this host's own. */
export function isLocalAddress(address: string): boolean {
  if (address.startsWith('127.')) return true;
  return Object.values(os.networkInterfaces()).some((list) => (list ?? []).some((a) => a.address === address));
}

/** Search for `names` and collect who answers within the deadline. Never rejects: a send error just means no answer from there. */
export function probeNames(opts: NameProbeOptions): Promise<NameAnswer[]> {
  const timeoutMs = opts.timeoutMs ?? 1000;
  return new Promise((resolve) => {
    const answers = new Map<string, NameAnswer>();
    if (opts.names.length === 0 || opts.destinations.length === 0) return resolve([]);
    const sock = dgram.createSocket('udp4');
    const request = Buffer.concat([udpVersionMessage(0), ...opts.names.map((n, i) => searchRequest(n, i + 1))]);
    const send = (): void => {
      for (const d of opts.destinations) sock.send(request, d.port, d.host, () => undefined);
    };
    sock.on('error', () => undefined);
    sock.on('message', (data, rinfo) => {
      try {
        splitDatagram(data, (m) => {
          if (m.command !== Command.SEARCH) return;
          const name = opts.names[m.parameter2 - 1];
          if (name === undefined) return;
          // parameter1 is the server's address, or all ones for "the sender" (RSRV sends that).
          const address = m.parameter1 === 0xffffffff || m.parameter1 === 0
            ? rinfo.address
            : [24, 16, 8, 0].map((s) => (m.parameter1 >>> s) & 0xff).join('.');
          const tcpPort = m.dataType;
          if (opts.ignore?.(address, tcpPort)) return;
          const server = `${address}:${tcpPort}`;
          let a = answers.get(server);
          if (!a) answers.set(server, (a = { server, address, tcpPort, names: [] }));
          if (!a.names.includes(name)) a.names.push(name);
        });
      } catch {
        // not a CA reply
      }
    });
    sock.bind(0, () => {
      sock.setBroadcast(true);
      send();
      // UDP may drop a datagram: one more try before the deadline, as libca searches again.
      const again = setTimeout(send, timeoutMs / 3);
      setTimeout(() => {
        clearTimeout(again);
        sock.close();
        resolve([...answers.values()]);
      }, timeoutMs);
    });
  });
}
