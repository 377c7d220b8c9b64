/**
 * The Channel Access server: a UDP search responder, TCP circuits and
 * beacons, serving whatever a PvDirectory names. This file owns the sockets;
 * the protocol lives in `../protocol` and in `Circuit`.
 */
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import * as os from 'node:os';
import type { Logger } from '../../log';
import { createLogger } from '../../log';
import * as fs from 'node:fs';
import type { Duplex } from 'node:stream';
import { BeaconEmitter } from './beacon';
import { ConnectionAdmission, type DescriptorPool } from './admission';
import { warningBurst, type BurstLog } from './burst';
import { Circuit, DEFAULT_CIRCUIT_OPTIONS, type CircuitOptions } from './circuit';
import { listenOnEach } from './listen';
import { realScheduler, type Scheduler } from './scheduler';
import { serverConfigFromEnv, type HostPort, type ServerConfig } from './config';
import type { ProcessVariable, PvDirectory } from '../pv';
import { SearchThread } from './search-thread';

export interface CaServerOptions {
  directory: PvDirectory;
  /** Defaults to the EPICS environment variables of this process. */
  config?: ServerConfig;
  log?: Logger;
  circuit?: Partial<CircuitOptions>;
  /** Circuits served at once; default: what the process's file limit leaves room for. */
  maxCircuits?: number;
  scheduler?: Scheduler;
  /** The other servers of the process, whose silent connections are closed too when descriptors run out. */
  descriptors?: DescriptorPool;
}

/** UDP replies in flight beyond which new ones are dropped (a search flood must not queue memory). */
const MAX_UDP_IN_FLIGHT = 512;

export class CaServer {
  readonly config: ServerConfig;
  private readonly log: Logger;
  private readonly directory: PvDirectory;
  private readonly circuitOpts: CircuitOptions;
  private readonly tcpServers: net.Server[] = [];
  private search: SearchThread | undefined;
  private beaconSocket: dgram.Socket | undefined;
  private beacons: BeaconEmitter | undefined;
  private _tcpPort = 0;
  private _udpPort = 0;
  private started = false;
  private readonly scheduler: Scheduler;
  /** The circuits open, oldest first, and the cap on them. */
  private readonly admission: ConnectionAdmission<Circuit>;
  private readonly channelLimitLog: BurstLog;
  /** Counters an operator or a benchmark can read. */
  readonly counters = new CaServerCounters(() => this.search);

  constructor(opts: CaServerOptions) {
    this.directory = opts.directory;
    this.config = opts.config ?? serverConfigFromEnv();
    this.log = opts.log ?? createLogger('ca');
    this.scheduler = opts.scheduler ?? realScheduler;
    this.admission = new ConnectionAdmission<Circuit>({
      max: opts.maxCircuits ?? defaultMaxCircuits(),
      noun: 'circuit',
      isSilent: (c) => c.isSilent,
      closeSilent: (c) => c.close({ kind: 'handshake-timeout', afterMs: 0 }),
      scheduler: this.scheduler,
      log: this.log,
      descriptors: opts.descriptors,
    });
    this.circuitOpts = {
      ...DEFAULT_CIRCUIT_OPTIONS, maxArrayBytes: this.config.maxArrayBytes, ...opts.circuit,
      scheduler: this.scheduler,
      onLimit: (text) => this.channelLimitLog.hit(text),
    };
    this.channelLimitLog = warningBurst(this.scheduler, this.log, 'channel limit reached');
  }

  get tcpPort(): number {
    return this._tcpPort;
  }

  get udpPort(): number {
    return this._udpPort;
  }

  /** Circuits served at once, at most. */
  get maxCircuits(): number {
    return this.admission.max;
  }

  get circuitCount(): number {
    return this.admission.open.size;
  }

  /** Channels open on every circuit (what rsrv's casStatsFetch counts). */
  get channelCount(): number {
    let n = 0;
    for (const c of this.admission.open) n += c.stats.channels;
    return n;
  }

  /** Bind every socket and start beacons. Resolves once searches will be answered. */
  async start(): Promise<void> {
    if (this.started) throw new Error('CA server already started');
    this.started = true;
    const hosts = this.config.interfaces.length ? this.config.interfaces : ['0.0.0.0'];
    // The search socket is bound first, and answers once the TCP port is known: a
    // client that finds the TCP port open can search at once.
    await this.bindUdp(hosts);
    try {
      await this.listenTcp(hosts);
    } catch (err) {
      await this.search?.stop();
      throw err;
    }
    this.search?.serve(this._tcpPort);
    await this.startBeacons();
    this.log.info('serving Channel Access', { tcpPort: this._tcpPort, udpPort: this._udpPort, interfaces: hosts.join(' ') });
  }

  /** Close every circuit and socket. */
  async stop(): Promise<void> {
    this.beacons?.stop();
    this.admission.stop();
    this.channelLimitLog.stop();
    for (const c of [...this.admission.open]) c.close({ kind: 'server-stopped' });
    const closing: Promise<void>[] = this.tcpServers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
    // The search thread's counters stay readable after it stops.
    if (this.search) closing.push(this.search.stop());
    const beacons = this.beaconSocket;
    if (beacons) closing.push(new Promise<void>((resolve) => beacons.close(() => resolve())));
    this.beaconSocket = undefined;
    this.tcpServers.length = 0;
    await Promise.all(closing);
  }

  /** Tell every client with a channel to `pv` that it is gone. */
  disconnectPv(pv: ProcessVariable): void {
    for (const c of this.admission.open) c.disconnectPv(pv);
  }

  /** Serve a circuit over any duplex stream (used for sockets, and by tests directly). */
  attach(stream: Duplex, address: string): Circuit {
    const circuit = new Circuit(stream, this.directory, this.log.child('circuit'), address, { ...this.circuitOpts, tcpPort: this._tcpPort });
    this.admission.open.add(circuit);
    this.counters.circuitsOpened++;
    circuit.onClose((reason) => {
      this.admission.open.delete(circuit);
      if (reason.kind === 'violation') this.counters.protocolErrors++;
      if (reason.kind === 'handshake-timeout') this.counters.silentCircuitsClosed++;
    });
    return circuit;
  }

  private async listenTcp(hosts: string[]): Promise<void> {
    const listening = await listenOnEach(hosts, this.config.serverPort, {
      accept: (socket) => this.accept(socket), acceptFailed: (err) => this.acceptFailed(err), log: this.log,
    });
    this.tcpServers.push(...listening.servers);
    this._tcpPort = listening.port;
  }

  private accept(socket: net.Socket): void {
    if (!this.admission.accept(socket, (s, address) => this.attach(s, address))) this.counters.circuitsRefused++;
  }

  /** accept() failed: out of file descriptors, say (see `ConnectionAdmission.acceptFailed`). */
  private acceptFailed(err: NodeJS.ErrnoException): void {
    this.counters.acceptErrors++;
    this.admission.acceptFailed(err);
  }

  /** Searches are answered on a thread of their own (search-worker.ts says why). */
  private async bindUdp(hosts: readonly string[]): Promise<void> {
    this.search = await SearchThread.start({
      hosts, port: this.config.serverPort, ignoreAddrs: this.config.ignoreAddrs,
      names: this.directory.servedNames?.() ?? [],
      serves: (name) => this.directory.lookup(name) !== undefined,
      maxInFlight: MAX_UDP_IN_FLIGHT,
      log: this.log,
    });
    this._udpPort = this.search.port;
  }

  private async startBeacons(): Promise<void> {
    const destinations: HostPort[] = [...this.config.beaconAddrList];
    if (this.config.autoBeaconAddrList) {
      for (const host of broadcastAddresses()) destinations.push({ host, port: this.config.beaconPort });
    }
    const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    sock.on('error', (err) => this.log.warn('beacon socket error', { reason: err.message }));
    await new Promise<void>((resolve) => sock.bind(0, () => resolve()));
    sock.setBroadcast(true);
    this.beaconSocket = sock;
    this.beacons = new BeaconEmitter({
      tcpPort: this._tcpPort,
      period: this.config.beaconPeriod,
      destinations,
      send: (datagram, to) => sock.send(datagram, to.port, to.host, (err) => {
        if (err) this.log.debug('beacon not sent', { to: `${to.host}:${to.port}`, reason: err.message });
      }),
      scheduler: this.scheduler,
    });
    this.beacons.start();
  }
}

/** The server's counters; the search thread's are read from it when asked. */
export class CaServerCounters {
  circuitsOpened = 0;
  protocolErrors = 0;
  circuitsRefused = 0;
  silentCircuitsClosed = 0;
  acceptErrors = 0;

  constructor(private readonly search: () => SearchThread | undefined) {}

  /** Names searched for over UDP, and how many of them this server answered. */
  get searches(): number {
    return this.search()?.searches ?? 0;
  }

  get searchHits(): number {
    return this.search()?.hits ?? 0;
  }

  /** Search replies dropped because too many were queued. */
  get udpDropped(): number {
    return this.search()?.dropped ?? 0;
  }
}

/**
 * Circuits the process's open-file limit leaves room for: the soft limit of
 * /proc/self/limits less a tenth (at least 64) for everything else the IOC
 * opens (the bus, 0MQ sockets, files, UDP).
 */
export function defaultMaxCircuits(limitsText?: string): number {
  let text = limitsText;
  try {
    text ??= fs.readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return 4096;
  }
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(text);
  if (!m || m[1] === 'unlimited') return 65536;
  const soft = Number(m[1]);
  return Math.max(16, soft - Math.max(64, Math.floor(soft / 10)));
}

/** Broadcast addresses of every non-loopback IPv4 interface (loopback is skipped, as in RSRV). */
export function broadcastAddresses(): string[] {
  const out = new Set<string>();
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.family !== 'IPv4' || a.internal) continue;
      const ip = a.address.split('.').map(Number);
      const mask = a.netmask.split('.').map(Number);
      out.add(ip.map((b, i) => (b | (~mask[i] & 0xff)) & 0xff).join('.'));
    }
  }
  return [...out];
}
