/**
 * The pvAccess server: TCP connections, the UDP search responder and
 * beacons, serving whatever a PvDirectory names (the same seam the CA
 * server uses). This file owns the sockets; `PvaConnection` owns the
 * protocol of one client.
 */
import * as crypto from 'node:crypto';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import type { HostPort } from '../../ca/server/config';
import type { ProcessVariable, PvDirectory, WriteAudit } from '../../ca/pv';
import { ConnectionAdmission, type DescriptorPool } from '../../ca/server/admission';
import { warningBurst, type BurstLog } from '../../ca/server/burst';
import { listenOnEach } from '../../ca/server/listen';
import { realScheduler, type Scheduler } from '../../ca/server/scheduler';
import { broadcastAddresses, defaultMaxCircuits } from '../../ca/server/server';
import type { Logger } from '../../log';
import { createLogger } from '../../log';
import { Command, Flag, PvaFramer } from '../protocol/header';
import { encodeBeacon, serverMessage } from '../protocol/messages';
import { pvaConfigFromEnv, type PvaServerConfig } from './config';
import { PvaConnection, type PvaConnectionOptions } from './connection';
import type { MetadataParts } from './normative';
import { answerSearch, decodeSearch } from './search';

export interface PvaServerOptions {
  directory: PvDirectory;
  /** Defaults to the EPICS environment of this process. */
  config?: PvaServerConfig;
  log?: Logger;
  /** The record's DESC, for display.description. */
  describe?: (pv: ProcessVariable) => string;
  /** Every PV name, for the `server` channel (pvxlist). */
  listNames?: () => string[];
  /** The PV's database field type (DBF_ name without the prefix), where it says more than the CA type. */
  dbfType?: (pv: ProcessVariable) => string | undefined;
  /** Which metadata the PV's record support gives, where the PV is a field other than VAL. */
  metadataParts?: (pv: ProcessVariable) => MetadataParts | undefined;
  /** Called once per write attempt (the put log). */
  audit?: WriteAudit;
  /** Monitor queue depth per subscription (pvxs default 4) and the most a client may ask for. */
  defaultQueueSize?: number;
  maxQueueSize?: number;
  /** Connections served at once; default: what the process's file limit leaves room for. */
  maxConnections?: number;
  /** A client that has not validated its connection within this long is closed. */
  handshakeTimeoutMs?: number;
  /** Channels one connection may hold. */
  maxChannels?: number;
  scheduler?: Scheduler;
  /** The other servers of the process, whose silent connections are closed too when descriptors run out. */
  descriptors?: DescriptorPool;
}

/**
 * The search socket's receive buffer: a client that looks for thousands of
 * names sends its searches in a burst, and while the event loop is busy with
 * the channels already found the kernel must hold them (the default 208 KiB
 * overflowed with 10,000 names, and each lost search costs the client a
 * retry period). The kernel caps it at net.core.rmem_max.
 */
const UDP_RECEIVE_BUFFER = 4 * 1024 * 1024;
/** Replies in flight beyond which new ones are dropped (a search flood must not queue memory). */
const MAX_UDP_IN_FLIGHT = 512;
/** pvxs: ten beacons 15 s apart, then one every 180 s. */
const BEACON_BURST = 10;
const BEACON_LONG_PERIOD_S = 180;

export class PvaServer {
  readonly config: PvaServerConfig;
  /** This server's identity in search replies and beacons. */
  readonly guid = crypto.randomBytes(12);
  private readonly log: Logger;
  private readonly tcpServers: net.Server[] = [];
  /** One search socket per interface, all on the same port; a search is answered from the socket it came in on. */
  private readonly udpSockets: dgram.Socket[] = [];
  private beaconSocket: dgram.Socket | undefined;
  private beaconTimer: NodeJS.Timeout | undefined;
  private beaconCount = 0;
  /** The connections open, oldest first, and the cap on them. */
  private readonly admission: ConnectionAdmission<PvaConnection>;
  private readonly scheduler: Scheduler;
  private readonly channelLimitLog: BurstLog;
  private udpInFlight = 0;
  private _tcpPort = 0;
  private _udpPort = 0;
  private started = false;
  readonly counters = {
    searches: 0, searchHits: 0, udpDropped: 0, connectionsOpened: 0, protocolErrors: 0,
    /** Refused at the cap, every connection open having validated. */
    connectionsRefused: 0,
    /** Closed before the client validated: timed out, closed to make room, or gone. */
    silentConnectionsClosed: 0,
    acceptErrors: 0,
  };

  constructor(private readonly opts: PvaServerOptions) {
    this.config = opts.config ?? pvaConfigFromEnv();
    this.log = opts.log ?? createLogger('pva');
    this.scheduler = opts.scheduler ?? realScheduler;
    this.admission = new ConnectionAdmission<PvaConnection>({
      max: opts.maxConnections ?? defaultMaxCircuits(),
      noun: 'connection',
      isSilent: (c) => c.isSilent,
      closeSilent: (c) => c.close('closed to make room: no connection validation yet'),
      scheduler: this.scheduler,
      log: this.log,
      descriptors: opts.descriptors,
    });
    this.channelLimitLog = warningBurst(this.scheduler, this.log, 'channel limit reached');
  }

  /** Connections served at once, at most. */
  get maxConnections(): number {
    return this.admission.max;
  }

  get tcpPort(): number {
    return this._tcpPort;
  }

  get udpPort(): number {
    return this._udpPort;
  }

  get connectionCount(): number {
    return this.admission.open.size;
  }

  /** Channels open on all connections. */
  get channelCount(): number {
    let n = 0;
    for (const c of this.admission.open) n += c.channelCount;
    return n;
  }

  async start(): Promise<void> {
    if (this.started) throw new Error('PVA server already started');
    this.started = true;
    const hosts = this.config.interfaces.length ? this.config.interfaces : ['0.0.0.0'];
    await this.listenTcp(hosts);
    await this.bindUdp(hosts);
    await this.startBeacons();
    this.log.info('serving pvAccess', { tcpPort: this._tcpPort, udpPort: this._udpPort, interfaces: hosts.join(' ') });
  }

  async stop(): Promise<void> {
    if (this.beaconTimer) clearTimeout(this.beaconTimer);
    this.beaconTimer = undefined;
    this.admission.stop();
    this.channelLimitLog.stop();
    for (const c of [...this.admission.open]) c.close('server shutting down');
    const closing: Promise<void>[] = this.tcpServers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
    for (const sock of [...this.udpSockets, this.beaconSocket]) {
      if (sock) closing.push(new Promise<void>((resolve) => sock.close(() => resolve())));
    }
    this.udpSockets.length = 0;
    this.beaconSocket = undefined;
    this.tcpServers.length = 0;
    await Promise.all(closing);
  }

  /** Tell every client with a channel to `pv` that it is gone. */
  disconnectPv(pv: ProcessVariable): void {
    for (const c of this.admission.open) c.disconnectPv(pv);
  }

  /** Serve one client over any duplex stream (sockets, and tests directly). */
  attach(stream: Duplex, address: string): PvaConnection {
    const options: PvaConnectionOptions = {
      directory: this.opts.directory,
      log: this.log.child('conn'),
      address,
      guid: this.guid,
      tcpPort: this._tcpPort,
      describe: this.opts.describe,
      listNames: this.opts.listNames,
      dbfType: this.opts.dbfType,
      metadataParts: this.opts.metadataParts,
      audit: this.opts.audit,
      maxMessageBytes: this.config.maxMessageBytes,
      defaultQueueSize: this.opts.defaultQueueSize ?? 4,
      maxQueueSize: this.opts.maxQueueSize ?? 1000,
      handshakeTimeoutMs: this.opts.handshakeTimeoutMs,
      scheduler: this.scheduler,
      maxChannels: this.opts.maxChannels,
      onLimit: (text) => this.channelLimitLog.hit(text),
    };
    const conn = new PvaConnection(stream, options);
    this.admission.open.add(conn);
    this.counters.connectionsOpened++;
    conn.onClose((reason) => {
      this.admission.open.delete(conn);
      if (reason.startsWith('protocol error')) this.counters.protocolErrors++;
      if (conn.isSilent) this.counters.silentConnectionsClosed++;
    });
    return conn;
  }

  private async listenTcp(hosts: string[]): Promise<void> {
    const listening = await listenOnEach(hosts, this.config.serverPort, {
      accept: (socket) => this.accept(socket),
      acceptFailed: (err) => {
        this.counters.acceptErrors++;
        this.admission.acceptFailed(err);
      },
      log: this.log,
    });
    this.tcpServers.push(...listening.servers);
    this._tcpPort = listening.port;
  }

  private accept(socket: net.Socket): void {
    if (!this.admission.accept(socket, (s, address) => this.attach(s, address))) this.counters.connectionsRefused++;
  }

  /**
   * A search socket on each interface, as pvxs listens for searches on every
   * address of EPICS_PVAS_INTF_ADDR_LIST. With port 0 the first one picks a
   * free port and the others take the same.
   */
  private async bindUdp(hosts: string[]): Promise<void> {
    let port = this.config.broadcastPort;
    for (const host of hosts) {
      const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true, recvBufferSize: UDP_RECEIVE_BUFFER });
      sock.on('message', (data, rinfo) => this.onDatagram(sock, data, rinfo));
      sock.on('error', (err) => this.log.error('UDP socket error', { host, reason: err.message }));
      await new Promise<void>((resolve, reject) => {
        sock.once('error', reject);
        sock.bind({ port, address: host, exclusive: false }, () => {
          sock.off('error', reject);
          resolve();
        });
      });
      this.udpSockets.push(sock);
      port = sock.address().port;
    }
    this._udpPort = port;
  }

  private onDatagram(sock: dgram.Socket, data: Buffer, rinfo: dgram.RemoteInfo): void {
    if (this.config.ignoreAddrs.includes(rinfo.address)) return;
    let frames;
    try {
      frames = new PvaFramer({ maxPayload: 0x10000 }).push(data);
    } catch (err) {
      this.log.debug('malformed datagram', { from: `${rinfo.address}:${rinfo.port}`, reason: (err as Error).message });
      return;
    }
    for (const f of frames) {
      if (f.control || f.command !== Command.SEARCH || f.flags & Flag.SERVER) continue;
      const { request, error } = decodeSearch(f.payload, f.bigEndian);
      if (!request) {
        this.log.debug('malformed search', { from: `${rinfo.address}:${rinfo.port}`, reason: error });
        continue;
      }
      this.counters.searches += request.channels.length;
      // UDP replies are big endian, as pvxs sends them.
      const out = answerSearch(request, (name) => this.opts.directory.lookup(name) !== undefined || (name === 'server' && !!this.opts.listNames), this.guid, this._tcpPort, true);
      this.counters.searchHits += out.found;
      if (!out.reply || !this.udpSockets.includes(sock)) continue;
      if (this.udpInFlight >= MAX_UDP_IN_FLIGHT) {
        this.counters.udpDropped++;
        continue;
      }
      const to: HostPort = { host: request.responseAddress === '0.0.0.0' ? rinfo.address : request.responseAddress, port: request.responsePort || rinfo.port };
      this.udpInFlight++;
      sock.send(out.reply, to.port, to.host, () => {
        this.udpInFlight--;
      });
    }
  }

  private async startBeacons(): Promise<void> {
    const destinations: HostPort[] = [...this.config.beaconAddrList];
    if (this.config.autoBeaconAddrList) {
      for (const host of broadcastAddresses()) destinations.push({ host, port: this.config.broadcastPort || 5076 });
    }
    if (destinations.length === 0) return;
    const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    sock.on('error', (err) => this.log.warn('beacon socket error', { reason: err.message }));
    await new Promise<void>((resolve) => sock.bind(0, () => resolve()));
    sock.setBroadcast(true);
    this.beaconSocket = sock;
    let sequence = 0;
    const beat = (): void => {
      const datagram = serverMessage(Command.BEACON, true, (w) => encodeBeacon(w, {
        guid: this.guid, flags: 0, sequence: sequence++ & 0xff, changeCount: 0, serverAddress: '0.0.0.0', serverPort: this._tcpPort, protocol: 'tcp',
      }));
      for (const to of destinations) {
        sock.send(datagram, to.port, to.host, (err) => {
          if (err) this.log.debug('beacon not sent', { to: `${to.host}:${to.port}`, reason: err.message });
        });
      }
      this.beaconCount++;
      const period = this.beaconCount < BEACON_BURST ? this.config.beaconPeriod : BEACON_LONG_PERIOD_S;
      this.beaconTimer = setTimeout(beat, period * 1000);
      this.beaconTimer.unref();
    };
    beat();
  }
}

