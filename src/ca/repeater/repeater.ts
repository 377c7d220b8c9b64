/**
 * The CA repeater's sockets: the repeater port, one connected UDP socket per
 * client (so that a client that has gone shows up as ECONNREFUSED, as in
 * caRepeater), and the bind test of a client's port. The rules are in
 * `RepeaterClients`.
 */
import * as dgram from 'node:dgram';
import * as os from 'node:os';
import { CA_REPEATER_PORT } from '../protocol/constants';
import { portFromEnv, type Env } from '../server/config';
import { ServiceIocError } from '../../errors';
import { createLogger, type Logger } from '../../log';
import { RepeaterClients, type RepeaterClientsOptions, type ClientLink, type Endpoint, type PortProbe, type RepeaterIo } from './clients';

export interface CaRepeaterOptions {
  /** UDP port; default EPICS_CA_REPEATER_PORT, else 5065. */
  port?: number;
  /** Address to bind; caRepeater binds every interface (0.0.0.0). */
  address?: string;
  log?: Logger;
  maxClients?: number;
  onChange?: RepeaterClientsOptions['onChange'];
}

/** Another process (a repeater, most likely) holds the port. */
export class RepeaterPortInUse extends ServiceIocError {
  constructor(readonly address: string, readonly port: number) {
    super('REPEATER_ERR_PORT_IN_USE', `UDP port ${port} on ${address} is in use: another CA repeater is running`);
  }
}

/** The repeater port from the environment, as caRepeater reads it. */
export function repeaterPortFromEnv(env: Env = process.env): number {
  return portFromEnv(env, CA_REPEATER_PORT, 'EPICS_CA_REPEATER_PORT');
}

/** This host's IPv4 addresses (what caRepeater's bind test to a sender's address accepts). */
function localAddresses(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4') out.add(a.address);
  }
  return out;
}

function closeQuietly(sock: dgram.Socket): void {
  try {
    sock.close();
  } catch {
    // already closed
  }
}

/** Bind the port on every interface, without SO_REUSEADDR: EADDRINUSE means a client still holds it. */
export function probeUdpPort(port: number): Promise<PortProbe> {
  return new Promise((resolve) => {
    const sock = dgram.createSocket({ type: 'udp4', reuseAddr: false });
    sock.once('error', (err: NodeJS.ErrnoException) => {
      closeQuietly(sock);
      resolve(err.code === 'EADDRINUSE' ? 'in-use' : { error: err.code ?? err.message });
    });
    sock.bind({ port, address: '0.0.0.0', exclusive: true }, () => sock.close(() => resolve('free')));
  });
}

const socketIo: RepeaterIo = {
  isLocalAddress: (address) => localAddresses().has(address),
  connect(client: Endpoint, onRefused: (reason: string) => void): ClientLink {
    const sock = dgram.createSocket('udp4');
    let open = true;
    // A datagram the client's port refused comes back as ECONNREFUSED on the
    // next receive (or send) on this connected socket.
    sock.on('error', (err: NodeJS.ErrnoException) => {
      if (open) onRefused(err.code ?? err.message);
    });
    // Node sends on a connected socket only once connect() has completed:
    // datagrams until then wait here.
    let waiting: Buffer[] | undefined = [];
    const transmit = (datagram: Buffer): void => sock.send(datagram, (err) => {
      if (err && open) onRefused((err as NodeJS.ErrnoException).code ?? err.message);
    });
    sock.connect(client.port, client.address, () => {
      const queued = waiting ?? [];
      waiting = undefined;
      if (open) for (const d of queued) transmit(d);
    });
    return {
      send(datagram) {
        if (!open) return;
        if (waiting) waiting.push(datagram);
        else transmit(datagram);
      },
      close() {
        if (!open) return;
        open = false;
        sock.close();
      },
    };
  },
  probePort: probeUdpPort,
};

export class CaRepeater {
  readonly port: number;
  readonly address: string;
  readonly clients: RepeaterClients;
  private readonly log: Logger;
  private sock: dgram.Socket | undefined;

  constructor(opts: CaRepeaterOptions = {}, io: RepeaterIo = socketIo) {
    this.port = opts.port ?? repeaterPortFromEnv();
    this.address = opts.address ?? '0.0.0.0';
    this.log = opts.log ?? createLogger('repeater');
    this.clients = new RepeaterClients({ io, log: this.log, maxClients: opts.maxClients, onChange: opts.onChange });
  }

  /** Bind the repeater port; rejects with RepeaterPortInUse when another process has it. */
  async start(): Promise<void> {
    if (this.sock) throw new Error('CA repeater already started');
    // No SO_REUSEADDR: a second repeater must fail to bind, as caRepeater's does.
    const sock = dgram.createSocket({ type: 'udp4', reuseAddr: false });
    await new Promise<void>((resolve, reject) => {
      sock.once('error', (err: NodeJS.ErrnoException) => {
        closeQuietly(sock);
        reject(err.code === 'EADDRINUSE' ? new RepeaterPortInUse(this.address, this.port) : err);
      });
      sock.bind({ port: this.port, address: this.address, exclusive: true }, () => {
        sock.removeAllListeners('error');
        resolve();
      });
    });
    sock.on('error', (err: NodeJS.ErrnoException) => {
      // caRepeater ignores ECONNREFUSED and ECONNRESET on its receive socket.
      if (err.code !== 'ECONNREFUSED' && err.code !== 'ECONNRESET') this.log.warn('repeater socket error', { reason: err.code ?? err.message });
    });
    sock.on('message', (data, rinfo) => {
      try {
        this.clients.datagram(data, { address: rinfo.address, port: rinfo.port });
      } catch (err) {
        // A bug must not stop the fan-out to everyone else.
        this.log.error('datagram not handled (a bug)', { from: `${rinfo.address}:${rinfo.port}`, reason: (err as Error).stack ?? String(err) });
      }
    });
    this.sock = sock;
    this.log.info('CA repeater running', { address: this.address, port: this.port });
  }

  async stop(): Promise<void> {
    const sock = this.sock;
    this.sock = undefined;
    this.clients.close();
    if (sock) await new Promise<void>((resolve) => sock.close(() => resolve()));
  }
}
