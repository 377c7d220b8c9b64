/**
 * The repeater's client list: who has registered, what each datagram on the
 * repeater port becomes, and when a client is dropped. No sockets here: the
 * I/O comes in through `RepeaterIo`, so that tests drive it with a fake one.
 *
 * It follows EPICS base's caRepeater (modules/ca/src/client/repeater.cpp):
 * - a registration from loopback, or from an address of this host, adds the
 *   client (one per UDP port) and is confirmed with REPEATER_CONFIRM carrying
 *   the client's address; every other client then gets a no-op header, so that
 *   the port of one that has gone refuses it;
 * - every other datagram goes to every client but its sender;
 * - a client whose port refused a datagram, and every client when a new one
 *   registers, is checked by binding its port: if the bind succeeds nobody
 *   holds that port any more and the client is dropped (caRepeater's
 *   repeaterClient::verify; it also checks on every new registration because
 *   some kernels never report the refusal).
 */
import { ipv4ToU32, readRepeaterDatagram, repeaterConfirmMessage, repeaterNoopMessage } from '../protocol/repeater';
import type { Logger } from '../../log';

export interface Endpoint {
  address: string;
  port: number;
}

/** A datagram path to one client. */
export interface ClientLink {
  send(datagram: Buffer): void;
  close(): void;
}

/** Bind test result for a client's port. */
export type PortProbe = 'in-use' | 'free' | { error: string };

export interface RepeaterIo {
  /** Whether `address` is one of this host's addresses (caRepeater binds to it to find out). */
  isLocalAddress(address: string): boolean;
  /** Open a link to a client; `onRefused` is called whenever the client's port refuses a datagram or a send fails. */
  connect(client: Endpoint, onRefused: (reason: string) => void): ClientLink;
  /** Try to bind the client's UDP port on every interface. */
  probePort(port: number): Promise<PortProbe>;
}

export interface RepeaterClientsOptions {
  io: RepeaterIo;
  log: Logger;
  /** Clients kept at most (each holds a socket); further registrations are refused. */
  maxClients?: number;
  /** Told of every client added or dropped. */
  onChange?: (change: { kind: 'registered' | 'dropped'; client: Endpoint; why?: string }) => void;
}

export const DEFAULT_MAX_REPEATER_CLIENTS = 4096;

interface Client extends Endpoint {
  link: ClientLink;
  /** A bind test of its port is under way. */
  probing: boolean;
  removed: boolean;
}

function isLoopback(address: string): boolean {
  return /^127\./.test(address);
}

export class RepeaterClients {
  private readonly clients: Client[] = [];
  private readonly io: RepeaterIo;
  private readonly log: Logger;
  private readonly maxClients: number;
  private readonly onChange: RepeaterClientsOptions['onChange'];
  private full = false;
  private readonly probes = new Set<Promise<void>>();
  readonly counters = { registrations: 0, refusedRemote: 0, refusedFull: 0, forwarded: 0, dropped: 0 };

  constructor(opts: RepeaterClientsOptions) {
    this.io = opts.io;
    this.log = opts.log;
    this.maxClients = opts.maxClients ?? DEFAULT_MAX_REPEATER_CLIENTS;
    this.onChange = opts.onChange;
  }

  /** The registered clients, in registration order. */
  list(): Endpoint[] {
    return this.clients.map((c) => ({ address: c.address, port: c.port }));
  }

  get size(): number {
    return this.clients.length;
  }

  /** Handle one datagram received on the repeater port. */
  datagram(data: Buffer, from: Endpoint): void {
    const source = ipv4ToU32(from.address);
    if (source === undefined) return; // caRepeater takes IPv4 only
    const what = readRepeaterDatagram(data, source);
    if (what.register) this.register(from, source);
    if (what.forward) this.fanOut(from, what.forward);
  }

  /** Wait for the bind tests under way (tests use it; nothing else needs to). */
  async settled(): Promise<void> {
    while (this.probes.size) await Promise.all([...this.probes]);
  }

  /** Close every link. */
  close(): void {
    for (const c of this.clients.splice(0)) {
      c.removed = true;
      c.link.close();
    }
  }

  private register(from: Endpoint, source: number): void {
    if (!isLoopback(from.address) && !this.io.isLocalAddress(from.address)) {
      this.counters.refusedRemote++;
      this.log.debug('registration from an address of another host ignored', { from: `${from.address}:${from.port}` });
      return;
    }
    // caRepeater knows a client by its port alone: libca registers from
    // loopback and from the host's first interface address in turn.
    let client = this.clients.find((c) => c.port === from.port);
    const isNew = client === undefined;
    if (!client) {
      if (this.clients.length >= this.maxClients) {
        this.counters.refusedFull++;
        if (!this.full) this.log.warn(`${this.clients.length} clients registered, the most this repeater keeps: refusing new ones until some have gone`, { first: `${from.address}:${from.port}` });
        this.full = true;
        this.verifyAll();
        return;
      }
      const held: { client?: Client } = {};
      const link = this.io.connect({ address: from.address, port: from.port }, (reason) => {
        if (held.client) this.refused(held.client, reason);
      });
      client = { address: from.address, port: from.port, link, probing: false, removed: false };
      held.client = client;
      this.clients.push(client);
      this.counters.registrations++;
      this.log.debug('client registered', { client: `${from.address}:${from.port}`, clients: this.clients.length });
      this.onChange?.({ kind: 'registered', client: { address: from.address, port: from.port } });
    }
    client.link.send(repeaterConfirmMessage(source));
    this.fanOut(from, repeaterNoopMessage());
    if (isNew) this.verifyAll();
  }

  private fanOut(from: Endpoint, data: Buffer): void {
    for (const c of this.clients) {
      // Never back to the sender (caRepeater compares address and port).
      if (c.port === from.port && c.address === from.address) continue;
      this.counters.forwarded++;
      c.link.send(data);
    }
  }

  private refused(client: Client, reason: string): void {
    if (client.removed) return;
    this.log.debug('client port refused a datagram', { client: `${client.address}:${client.port}`, reason });
    this.verify(client);
  }

  private verifyAll(): void {
    for (const c of [...this.clients]) this.verify(c);
  }

  private verify(client: Client): void {
    if (client.probing || client.removed) return;
    client.probing = true;
    const p = this.io.probePort(client.port).then((result) => {
      client.probing = false;
      if (result === 'in-use') return;
      this.remove(client, result === 'free' ? 'its port is closed' : `bind test failed: ${result.error}`);
    }, (err: unknown) => {
      client.probing = false;
      this.remove(client, `bind test failed: ${(err as Error).message}`);
    }).finally(() => this.probes.delete(p));
    this.probes.add(p);
  }

  private remove(client: Client, why: string): void {
    const i = this.clients.indexOf(client);
    if (i < 0 || client.removed) return;
    this.clients.splice(i, 1);
    client.removed = true;
    client.link.close();
    this.counters.dropped++;
    this.log.debug('client dropped', { client: `${client.address}:${client.port}`, why, clients: this.clients.length });
    this.onChange?.({ kind: 'dropped', client: { address: client.address, port: client.port }, why });
    if (this.full && this.clients.length < this.maxClients) {
      this.full = false;
      this.log.info('room for new clients again', { clients: this.clients.length });
    }
  }
}
