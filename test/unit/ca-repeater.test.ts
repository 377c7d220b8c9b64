/**
 * The CA repeater: its datagram rules and client list against a fake I/O
 * (registration, confirmation, fan-out, the sender left out, pruning, the
 * beacon address), then the real sockets on loopback and the command line.
 */
import { strict as assert } from 'node:assert';
import * as dgram from 'node:dgram';
import { Command } from '../../src/ca/protocol/constants';
import { beaconMessage } from '../../src/ca/protocol/messages';
import {
  ipv4ToU32, readRepeaterDatagram, repeaterConfirmMessage, repeaterNoopMessage, repeaterRegisterMessage, u32ToIpv4,
} from '../../src/ca/protocol/repeater';
import { RepeaterClients, type Endpoint, type PortProbe, type RepeaterIo } from '../../src/ca/repeater/clients';
import { CaRepeater, RepeaterPortInUse, repeaterPortFromEnv } from '../../src/ca/repeater/repeater';
import { memoryLogger } from '../../src/log';
import { requireBuiltCli, runCli } from '../helpers/cli';
import { freeCaPorts } from '../helpers/system';

const LOOPBACK = 0x7f000001;

interface FakeLink {
  to: Endpoint;
  sent: Buffer[];
  closed: boolean;
  refuse(reason?: string): void;
}

/** Links that record what they were sent; ports "held" by live clients; probes answered at once. */
class FakeIo implements RepeaterIo {
  readonly local = new Set(['192.0.2.7']);
  readonly held = new Set<number>();
  readonly links: FakeLink[] = [];
  probes: number[] = [];
  isLocalAddress(address: string): boolean {
    return this.local.has(address);
  }
  connect(to: Endpoint, onRefused: (reason: string) => void): { send(d: Buffer): void; close(): void } {
    const link: FakeLink = { to, sent: [], closed: false, refuse: (r = 'ECONNREFUSED') => onRefused(r) };
    this.links.push(link);
    return { send: (d) => { if (!link.closed) link.sent.push(d); }, close: () => { link.closed = true; } };
  }
  probePort(port: number): Promise<PortProbe> {
    this.probes.push(port);
    return Promise.resolve(this.held.has(port) ? 'in-use' : 'free');
  }
  /** The open link to `port`. */
  link(port: number): FakeLink {
    const l = this.links.find((x) => x.to.port === port && !x.closed);
    assert.ok(l, `no open link to port ${port}`);
    return l;
  }
  /** A client that holds its port, as a live libca does. */
  client(port: number, address = '127.0.0.1'): Endpoint {
    this.held.add(port);
    return { address, port };
  }
}

function commands(link: FakeLink): number[] {
  return link.sent.map((d) => d.readUInt16BE(0));
}

function setup(maxClients?: number): { io: FakeIo; clients: RepeaterClients; lines: string[] } {
  const io = new FakeIo();
  const log = memoryLogger();
  return { io, clients: new RepeaterClients({ io, log, maxClients }), lines: log.lines };
}

describe('CA repeater datagrams', () => {
  it('an empty datagram and a REPEATER_REGISTER header register their sender', () => {
    assert.deepEqual(readRepeaterDatagram(Buffer.alloc(0), LOOPBACK), { register: true });
    assert.deepEqual(readRepeaterDatagram(repeaterRegisterMessage(LOOPBACK), LOOPBACK), { register: true });
  });

  it('forwards what follows a REPEATER_REGISTER header, and short or unknown datagrams unchanged', () => {
    const beacon = beaconMessage(5064, 7, 0x0a000001);
    const r = readRepeaterDatagram(Buffer.concat([repeaterRegisterMessage(0), beacon]), LOOPBACK);
    assert.equal(r.register, true);
    assert.deepEqual(r.forward, beacon);
    const short = Buffer.from([1, 2, 3]);
    assert.equal(readRepeaterDatagram(short, LOOPBACK).forward, short);
    const search = Buffer.alloc(16);
    search.writeUInt16BE(Command.SEARCH, 0);
    assert.equal(readRepeaterDatagram(search, LOOPBACK).forward, search);
  });

  it('fills a beacon\'s zero address from its sender and keeps one the server set', () => {
    const zero = beaconMessage(5064, 3, 0);
    const out = readRepeaterDatagram(zero, ipv4ToU32('192.0.2.9')!).forward!;
    assert.equal(u32ToIpv4(out.readUInt32BE(12)), '192.0.2.9');
    assert.equal(zero.readUInt32BE(12), 0, 'the received buffer is not changed');
    assert.deepEqual([out.readUInt16BE(0), out.readUInt16BE(6), out.readUInt32BE(8)], [Command.RSRV_IS_UP, 5064, 3]);
    const set = beaconMessage(5064, 3, 0x0a000001);
    assert.equal(readRepeaterDatagram(set, ipv4ToU32('192.0.2.9')!).forward!.readUInt32BE(12), 0x0a000001);
  });

  it('REPEATER_CONFIRM carries the client address in p2; the no-op is an all-zero VERSION', () => {
    const c = repeaterConfirmMessage(ipv4ToU32('127.0.0.1')!);
    assert.deepEqual([c.length, c.readUInt16BE(0), c.readUInt32BE(12)], [16, Command.REPEATER_CONFIRM, LOOPBACK]);
    assert.deepEqual(repeaterNoopMessage(), Buffer.alloc(16));
    assert.equal(ipv4ToU32('256.0.0.1'), undefined);
    assert.equal(ipv4ToU32('::1'), undefined);
  });
});

describe('CA repeater client list', () => {
  it('registers a local client once per port and confirms every registration with its address', () => {
    const { io, clients } = setup();
    const a = io.client(40001);
    clients.datagram(Buffer.alloc(0), a);
    clients.datagram(repeaterRegisterMessage(LOOPBACK), a);
    assert.deepEqual(clients.list(), [a]);
    const sent = io.link(40001).sent;
    assert.deepEqual(sent.map((d) => [d.readUInt16BE(0), d.readUInt32BE(12)]), [[Command.REPEATER_CONFIRM, LOOPBACK], [Command.REPEATER_CONFIRM, LOOPBACK]]);
    // libca alternates loopback and the host's own address: still one client.
    clients.datagram(Buffer.alloc(0), { address: '192.0.2.7', port: 40001 });
    assert.equal(clients.size, 1);
    assert.equal(io.links.length, 1);
  });

  it('accepts the host\'s own addresses and ignores other hosts', () => {
    const { io, clients } = setup();
    clients.datagram(Buffer.alloc(0), io.client(40002, '192.0.2.7'));
    clients.datagram(Buffer.alloc(0), io.client(40003, '198.51.100.1'));
    assert.deepEqual(clients.list(), [{ address: '192.0.2.7', port: 40002 }]);
    assert.equal(clients.counters.refusedRemote, 1);
    const confirm = io.link(40002).sent[0];
    assert.equal(u32ToIpv4(confirm.readUInt32BE(12)), '192.0.2.7');
  });

  it('fans every other datagram out to all clients but the sender', async () => {
    const { io, clients } = setup();
    const [a, b, c] = [io.client(40011), io.client(40012), io.client(40013)];
    for (const x of [a, b, c]) clients.datagram(Buffer.alloc(0), x);
    await clients.settled();
    for (const l of io.links) l.sent.length = 0;

    const beacon = beaconMessage(5064, 1, 0x0a000001);
    clients.datagram(beacon, { address: '127.0.0.1', port: 50000 });
    for (const p of [40011, 40012, 40013]) assert.deepEqual(io.link(p).sent, [beacon], `client ${p}`);

    const fromB = beaconMessage(5064, 2, 0x0a000001);
    clients.datagram(fromB, b);
    assert.deepEqual(io.link(40011).sent.at(-1), fromB);
    assert.deepEqual(io.link(40013).sent.at(-1), fromB);
    assert.equal(io.link(40012).sent.length, 1, 'not reflected back to the sender');

    // Same port, another address: not the sender.
    clients.datagram(fromB, { address: '192.0.2.7', port: 40012 });
    assert.equal(io.link(40012).sent.length, 2);
  });

  it('hands a beacon on with the sender\'s address where the server left it zero', () => {
    const { io, clients } = setup();
    clients.datagram(Buffer.alloc(0), io.client(40021));
    clients.datagram(beaconMessage(5064, 9, 0), { address: '192.0.2.7', port: 51000 });
    const got = io.link(40021).sent.at(-1)!;
    assert.equal(got.readUInt16BE(0), Command.RSRV_IS_UP);
    assert.equal(u32ToIpv4(got.readUInt32BE(12)), '192.0.2.7');
  });

  it('a new registration sends the others a no-op and drops every client whose port is free', async () => {
    const { io, clients, lines } = setup();
    const [a, b] = [io.client(40031), io.client(40032)];
    clients.datagram(Buffer.alloc(0), a);
    clients.datagram(Buffer.alloc(0), b);
    await clients.settled();
    assert.deepEqual(commands(io.link(40031)), [Command.REPEATER_CONFIRM, Command.VERSION], 'a got the no-op when b registered');
    assert.deepEqual(commands(io.link(40032)), [Command.REPEATER_CONFIRM]);

    io.held.delete(40031); // a exits without a word
    const aLink = io.link(40031);
    clients.datagram(Buffer.alloc(0), io.client(40033));
    await clients.settled();
    assert.deepEqual(clients.list().map((x) => x.port), [40032, 40033]);
    assert.equal(aLink.closed, true);
    assert.ok(lines.some((l) => /client dropped client=127\.0\.0\.1:40031 why="its port is closed"/.test(l)), lines.join('\n'));
  });

  it('a refused datagram drops the client only when the bind test finds its port free', async () => {
    const { io, clients } = setup();
    for (const p of [40041, 40042]) clients.datagram(Buffer.alloc(0), io.client(p));
    await clients.settled();
    io.probes = [];

    io.link(40041).refuse(); // a spurious refusal: the client still holds its port
    await clients.settled();
    assert.deepEqual(io.probes, [40041]);
    assert.equal(clients.size, 2);

    io.held.delete(40042);
    const link = io.link(40042);
    link.refuse();
    link.refuse(); // one bind test at a time
    await clients.settled();
    assert.deepEqual(io.probes, [40041, 40042]);
    assert.deepEqual(clients.list().map((x) => x.port), [40041]);
    assert.equal(link.closed, true);
    clients.datagram(beaconMessage(5064, 1), { address: '127.0.0.1', port: 50000 });
    assert.equal(link.sent.filter((d) => d.readUInt16BE(0) === Command.RSRV_IS_UP).length, 0, 'nothing sent after the drop');
  });

  it('a failed bind test drops the client, as caRepeater does', async () => {
    const io = new FakeIo();
    io.probePort = () => Promise.resolve({ error: 'EACCES' });
    const log = memoryLogger();
    const clients = new RepeaterClients({ io, log });
    clients.datagram(Buffer.alloc(0), io.client(40051));
    await clients.settled();
    assert.equal(clients.size, 0);
    assert.ok(log.lines.some((l) => /bind test failed: EACCES/.test(l)));
  });

  it('keeps at most maxClients, says so once, and takes new ones again when some have gone', async () => {
    const { io, clients, lines } = setup(2);
    for (const p of [40061, 40062, 40063, 40064]) clients.datagram(Buffer.alloc(0), io.client(p));
    await clients.settled();
    assert.deepEqual(clients.list().map((x) => x.port), [40061, 40062]);
    assert.equal(clients.counters.refusedFull, 2);
    assert.equal(lines.filter((l) => /the most this repeater keeps/.test(l)).length, 1);
    assert.equal(io.links.length, 2, 'a refused client gets no socket');

    io.held.delete(40061);
    clients.datagram(Buffer.alloc(0), io.client(40065)); // the check this triggers makes room
    await clients.settled();
    clients.datagram(Buffer.alloc(0), io.client(40065));
    assert.deepEqual(clients.list().map((x) => x.port), [40062, 40065]);
    assert.ok(lines.some((l) => /room for new clients again/.test(l)));
  });

  it('close() closes every link', () => {
    const { io, clients } = setup();
    clients.datagram(Buffer.alloc(0), io.client(40071));
    clients.close();
    assert.equal(clients.size, 0);
    assert.ok(io.links.every((l) => l.closed));
  });
});

/** A UDP socket on loopback that collects what reaches it. */
async function udpClient(): Promise<{ sock: dgram.Socket; port: number; next(): Promise<Buffer>; close(): Promise<void> }> {
  const sock = dgram.createSocket('udp4');
  const queue: Buffer[] = [];
  const waiting: Array<(b: Buffer) => void> = [];
  sock.on('message', (m) => {
    const w = waiting.shift();
    if (w) w(m);
    else queue.push(m);
  });
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', () => resolve()));
  return {
    sock,
    port: sock.address().port,
    next: () => new Promise((resolve) => {
      const b = queue.shift();
      if (b) resolve(b);
      else waiting.push(resolve);
    }),
    close: () => new Promise((resolve) => sock.close(() => resolve())),
  };
}

describe('CA repeater on loopback', () => {
  let repeater: CaRepeater | undefined;
  afterEach(async () => {
    await repeater?.stop();
    repeater = undefined;
  });

  it('confirms a registration, forwards beacons, drops a client that has gone, and refuses a second instance', async () => {
    const { repeater: port } = await freeCaPorts();
    const changes: string[] = [];
    let onDrop: (() => void) | undefined;
    repeater = new CaRepeater({
      port, address: '127.0.0.1', log: memoryLogger(),
      onChange: (c) => {
        changes.push(`${c.kind} ${c.client.port}`);
        if (c.kind === 'dropped') onDrop?.();
      },
    });
    await repeater.start();
    await assert.rejects(new CaRepeater({ port, address: '127.0.0.1', log: memoryLogger() }).start(), RepeaterPortInUse);

    const a = await udpClient();
    const b = await udpClient();
    a.sock.send(Buffer.alloc(0), port, '127.0.0.1'); // libca registers with an empty datagram
    const confirm = await a.next();
    assert.deepEqual([confirm.readUInt16BE(0), confirm.readUInt32BE(12)], [Command.REPEATER_CONFIRM, LOOPBACK]);
    b.sock.send(repeaterRegisterMessage(LOOPBACK), port, '127.0.0.1');
    assert.equal((await b.next()).readUInt16BE(0), Command.REPEATER_CONFIRM);
    assert.deepEqual(await a.next(), repeaterNoopMessage(), 'a hears the no-op of b\'s registration');

    const server = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => server.bind(0, '127.0.0.1', () => resolve()));
    server.send(beaconMessage(5064, 0, 0), port, '127.0.0.1');
    for (const c of [a, b]) {
      const got = await c.next();
      assert.deepEqual([got.readUInt16BE(0), got.readUInt16BE(6), got.readUInt32BE(12)], [Command.RSRV_IS_UP, 5064, LOOPBACK]);
    }

    // a goes away: the next beacon is refused by its port (ECONNREFUSED), the bind test finds it free.
    const dropped = new Promise<void>((resolve) => { onDrop = resolve; });
    await a.close();
    server.send(beaconMessage(5064, 1, 0), port, '127.0.0.1');
    assert.equal((await b.next()).readUInt32BE(8), 1);
    await dropped;
    assert.deepEqual(repeater.clients.list(), [{ address: '127.0.0.1', port: b.port }]);
    assert.deepEqual(changes, [`registered ${a.port}`, `registered ${b.port}`, `dropped ${a.port}`]);
    await b.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('takes its port from EPICS_CA_REPEATER_PORT, else 5065', () => {
    assert.equal(repeaterPortFromEnv({}), 5065);
    assert.equal(repeaterPortFromEnv({ EPICS_CA_REPEATER_PORT: '6065' }), 6065);
    assert.throws(() => repeaterPortFromEnv({ EPICS_CA_REPEATER_PORT: 'x' }), /EPICS_CA_REPEATER_PORT: expected a port number/);
  });
});

describe('service-ioc repeater', function () {
  this.timeout(20000);
  before(() => requireBuiltCli());
  const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ PATH: process.env.PATH, HOME: process.env.HOME, ...extra });

  it('--help and -h print its usage', async () => {
    for (const flag of ['--help', '-h']) {
      const r = await runCli(['repeater', flag], env());
      assert.equal(r.code, 0);
      assert.match(r.stdout, /service-ioc repeater \[--port PORT\] \[--address ADDRESS\]/);
      assert.match(r.stdout, /EPICS_CA_REPEATER_PORT/);
    }
  });

  it('says so in one line and exits 0 when another repeater has the port', async () => {
    const { repeater: port } = await freeCaPorts();
    const holder = dgram.createSocket({ type: 'udp4', reuseAddr: false });
    await new Promise<void>((resolve) => holder.bind(port, '127.0.0.1', () => resolve()));
    try {
      for (const args of [['repeater', '--port', String(port)], ['repeater', '--address', '127.0.0.1']]) {
        const r = await runCli(args, env({ EPICS_CA_REPEATER_PORT: String(port) }));
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout, `service-ioc repeater: UDP port ${port} on ${args[2] === '127.0.0.1' ? '127.0.0.1' : '0.0.0.0'} is in use: another CA repeater is running; exiting\n`);
      }
    } finally {
      holder.close();
    }
  });

  it('refuses a port that is no port, as a usage error', async () => {
    const r = await runCli(['repeater', '--port', '70000'], env());
    assert.equal(r.code, 2);
    assert.match(r.stderr, /repeater: --port: expected a port number 1\.\.65535, got "70000"/);
    const e = await runCli(['repeater'], env({ EPICS_CA_REPEATER_PORT: 'abc' }));
    assert.equal(e.code, 1);
    assert.match(e.stderr, /EPICS_CA_REPEATER_PORT: expected a port number/);
  });
});
