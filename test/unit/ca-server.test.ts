/**
 * The CA server's sockets on loopback: name search over UDP (including a
 * flood of garbage and of searches), the TCP fallback port, and shutdown.
 */
import { strict as assert } from 'node:assert';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { CaServer } from '../../src/ca/server/server';
import { MapDirectory, SimplePv } from '../../src/ca/server/pv';
import type { PvDirectory } from '../../src/ca/pv';
import { serverConfigFromEnv } from '../../src/ca/server/config';
import { Command, DbrType } from '../../src/ca/protocol/constants';
import { encodeMessage, type Message } from '../../src/ca/protocol/header';
import { MessageFramer, splitDatagram } from '../../src/ca/protocol/framer';
import * as m from '../../src/ca/protocol/messages';
import { memoryLogger } from '../../src/log';
import { freeCaPorts } from '../helpers/system';

function search(names: string[], seq: number): Buffer {
  const version = encodeMessage({ command: Command.VERSION, payloadSize: 0, dataType: 0, dataCount: 13, parameter1: seq, parameter2: 0 });
  return Buffer.concat([version, ...names.map((n, i) => m.searchRequest(n, i + 1, true))]);
}

describe('CA server sockets (loopback)', () => {
  let server: CaServer;
  let port: number;
  let client: dgram.Socket;
  const replies: Message[][] = [];

  before(async () => {
    port = (await freeCaPorts()).server;
    const dir = new MapDirectory().add(new SimplePv({ name: 'here', type: DbrType.LONG, value: [1] }));
    const config = { ...serverConfigFromEnv({ EPICS_CAS_SERVER_PORT: String(port), EPICS_CAS_INTF_ADDR_LIST: '127.0.0.1', EPICS_CAS_AUTO_BEACON_ADDR_LIST: 'NO' }) };
    server = new CaServer({ directory: dir, config, log: memoryLogger() });
    await server.start();
    client = dgram.createSocket('udp4');
    client.on('message', (d) => {
      const msgs: Message[] = [];
      splitDatagram(d, (x) => msgs.push(x));
      replies.push(msgs);
    });
    await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', () => resolve()));
  });

  after(async () => {
    client.close();
    await server.stop();
  });

  const reply = (seq: number): Promise<Message[]> => new Promise((resolve) => {
    const check = (): void => {
      const r = replies.find((msgs) => msgs[0]?.parameter1 === seq);
      if (r) resolve(r);
      else setImmediate(check);
    };
    check();
  });

  /** A server of `directory` on free ports of the addresses `intf`, and a client UDP socket; both closed after `fn`. */
  async function withServer(directory: PvDirectory, intf: string, fn: (server: CaServer, udpPort: number, sock: dgram.Socket) => Promise<void>): Promise<void> {
    const ports = await freeCaPorts();
    const config = serverConfigFromEnv({ EPICS_CAS_SERVER_PORT: String(ports.server), EPICS_CAS_INTF_ADDR_LIST: intf, EPICS_CAS_AUTO_BEACON_ADDR_LIST: 'NO' });
    const server = new CaServer({ directory, config, log: memoryLogger() });
    await server.start();
    const sock = dgram.createSocket('udp4');
    try {
      await fn(server, ports.server, sock);
    } finally {
      sock.close();
      await server.stop();
    }
  }

  it('answers a search for a served name with the TCP port', async () => {
    client.send(search(['nothere', 'here'], 77), port, '127.0.0.1');
    const r = await reply(77);
    assert.equal(r[0].command, Command.VERSION);
    assert.equal(r.length, 2);
    assert.deepEqual([r[1].command, r[1].dataType, r[1].parameter2], [Command.SEARCH, server.tcpPort, 2]);
  });

  it('survives a flood of garbage and searches, and still answers', async () => {
    const junk = Buffer.alloc(64, 0xff);
    for (let i = 0; i < 3000; i++) {
      client.send(i % 2 ? junk : search(['nothere'], 1000 + i), port, '127.0.0.1');
    }
    // UDP may drop datagrams under a flood; a client searches again until answered, and so do we.
    const again = setInterval(() => client.send(search(['here'], 5), port, '127.0.0.1'), 50);
    const r = await reply(5).finally(() => clearInterval(again));
    assert.equal(r[1].parameter2, 1);
    assert.ok(server.counters.searches >= 1, 'searches counted');
    const s = net.connect(server.tcpPort, '127.0.0.1');
    await new Promise<void>((resolve) => s.once('data', () => resolve()));
    s.destroy();
  });

  it('serves several circuits from one client at once (one per priority, as libca opens them)', async () => {
    const open = async (priority: number): Promise<{ sock: net.Socket; got: Message[] }> => {
      const sock = net.connect(server.tcpPort, '127.0.0.1');
      const got: Message[] = [];
      const framer = new MessageFramer({ maxPayload: 1 << 16, requireAlignment: true });
      sock.on('data', (d: Buffer) => got.push(...framer.push(d)));
      await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
      sock.write(Buffer.concat([m.clientVersion(priority), m.clientNameMessage('alice'), m.hostNameMessage('opi1'), m.createChanRequest('here', 7)]));
      return { sock, got };
    };
    const a = await open(0);
    const b = await open(10);
    const reply = async (c: { got: Message[] }): Promise<Message> => {
      for (;;) {
        const r = c.got.find((x) => x.command === Command.CREATE_CHAN);
        if (r) return r;
        await new Promise((res) => setImmediate(res));
      }
    };
    const [ra, rb] = await Promise.all([reply(a), reply(b)]);
    assert.deepEqual([ra.parameter1, rb.parameter1], [7, 7], 'each circuit answers its own channel');
    assert.ok(server.circuitCount >= 2);
    a.sock.destroy();
    b.sock.destroy();
  });

  it('answers a directory\'s fixed names on its search thread and asks lookup about every other name', async () => {
    const asked: string[] = [];
    const pv = (name: string): SimplePv => new SimplePv({ name, type: DbrType.LONG, value: [1] });
    const served = new Map(['fixed:a', 'fixed:b', 'fixed:a.DESC', 'later:c'].map((n) => [n, pv(n)]));
    const dir: PvDirectory = {
      lookup: (name) => {
        asked.push(name);
        return served.get(name);
      },
      servedNames: () => ['fixed:a', 'fixed:b'],
    };
    await withServer(dir, '127.0.0.1', async (other, udpPort, sock) => {
      // One reply for the datagram, its answers in the order of the names (as RSRV).
      const reply = new Promise<number[]>((resolve) => sock.once('message', (d) => {
        const cids: number[] = [];
        splitDatagram(d, (x) => {
          if (x.command === Command.SEARCH) cids.push(x.parameter2);
        });
        resolve(cids);
      }));
      await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', () => resolve()));
      sock.send(search(['fixed:a', 'fixed:a.DESC', 'nothere', 'fixed:b', 'later:c'], 31), udpPort, '127.0.0.1');
      assert.deepEqual(await reply, [1, 2, 4, 5]);
      // A datagram that waits for lookup holds back the replies to those after it.
      const sequences: number[] = [];
      const both = new Promise<void>((resolve) => sock.on('message', (d) => {
        splitDatagram(d, (x) => {
          if (x.command === Command.VERSION) sequences.push(x.parameter1);
        });
        if (sequences.length === 2) resolve();
      }));
      sock.send(search(['later:c'], 41), udpPort, '127.0.0.1');
      sock.send(search(['fixed:b'], 42), udpPort, '127.0.0.1');
      await both;
      assert.deepEqual(sequences, [41, 42]);
      assert.deepEqual(asked, ['fixed:a.DESC', 'nothere', 'later:c', 'later:c'], 'the fixed names were answered without a lookup');
      assert.deepEqual([other.counters.searches, other.counters.searchHits], [7, 6]);
    });
  });

  it('answers searches on every address of EPICS_CAS_INTF_ADDR_LIST, each from the address searched', async () => {
    await withServer(new MapDirectory().add(new SimplePv({ name: 'both', type: DbrType.LONG, value: [1] })), '127.0.0.1 127.0.0.2', async (_other, udpPort, sock) => {
      await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', () => resolve()));
      const from: string[] = [];
      const two = new Promise<void>((resolve) => sock.on('message', (_d, rinfo) => {
        from.push(`${rinfo.address}:${rinfo.port}`);
        if (from.length === 2) resolve();
      }));
      sock.send(search(['both'], 51), udpPort, '127.0.0.1');
      sock.send(search(['both'], 52), udpPort, '127.0.0.2');
      await two;
      assert.deepEqual(from.sort(), [`127.0.0.1:${udpPort}`, `127.0.0.2:${udpPort}`]);
    });
  });

  it('shares its UDP search port with another server on the host', async () => {
    const config = serverConfigFromEnv({ EPICS_CAS_SERVER_PORT: String(port), EPICS_CAS_INTF_ADDR_LIST: '127.0.0.1', EPICS_CAS_AUTO_BEACON_ADDR_LIST: 'NO' });
    const second = new CaServer({ directory: new MapDirectory().add(new SimplePv({ name: 'second', type: DbrType.LONG, value: [2] })), config, log: memoryLogger() });
    await second.start();
    try {
      assert.equal(second.udpPort, port, 'both bound the same UDP port');
      assert.notEqual(second.tcpPort, server.tcpPort, 'the TCP port cannot be shared: the second falls back');
      // A unicast search reaches the last socket bound (the second server), which answers for its own PVs.
      const again = setInterval(() => client.send(search(['second'], 11), port, '127.0.0.1'), 50);
      const r = await reply(11).finally(() => clearInterval(again));
      assert.equal(r[1].dataType, second.tcpPort);
    } finally {
      await second.stop();
    }
  });

  it('falls back to an ephemeral TCP port when the port is taken, and advertises it', async () => {
    const ports = await freeCaPorts();
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(ports.server, '127.0.0.1', () => resolve()));
    const config = serverConfigFromEnv({ EPICS_CAS_SERVER_PORT: String(ports.server), EPICS_CAS_INTF_ADDR_LIST: '127.0.0.1', EPICS_CAS_AUTO_BEACON_ADDR_LIST: 'NO' });
    const lines: string[] = [];
    const other = new CaServer({ directory: new MapDirectory().add(new SimplePv({ name: 'x', type: DbrType.LONG, value: [1] })), config, log: memoryLogger(lines) });
    await other.start();
    try {
      assert.notEqual(other.tcpPort, ports.server);
      assert.equal(other.udpPort, ports.server);
      assert.ok(lines.some((l) => /ephemeral/.test(l)));
      const sock = dgram.createSocket('udp4');
      const got = new Promise<Message[]>((resolve) => sock.on('message', (d) => {
        const msgs: Message[] = [];
        splitDatagram(d, (x) => msgs.push(x));
        resolve(msgs);
      }));
      await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', () => resolve()));
      sock.send(search(['x'], 9), ports.server, '127.0.0.1');
      const r = await got;
      assert.equal(r[1].dataType, other.tcpPort);
      sock.close();
    } finally {
      await other.stop();
      blocker.close();
    }
  });
});
