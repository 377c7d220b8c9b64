/**
 * Requests take effect in the order they arrived on a circuit (RSRV's rule):
 * over in-memory streams, against real records, with timers from a fake
 * clock.
 */
import { strict as assert } from 'node:assert';
import { Circuit, DEFAULT_CIRCUIT_OPTIONS, type CircuitOptions } from '../../src/ca/server/circuit';
import type { CloseReason } from '../../src/ca/protocol/circuit-rules';
import { MapDirectory, SimplePv } from '../../src/ca/server/pv';
import type { PvDirectory } from '../../src/ca/pv';
import { AlarmSeverity, AlarmStatus, Command, DbrType, Eca, SEARCH_DO_REPLY } from '../../src/ca/protocol/constants';
import { decodeDbr } from '../../src/ca/protocol/dbr';
import { encodeMessage, encodeCString } from '../../src/ca/protocol/header';
import * as m from '../../src/ca/protocol/messages';
import { Database, defaultRegistry } from '../../src/database/database';
import { createDatabase, mergeInto, parseDbText } from '../../src/database/dbfile/parser';
import type { DeviceSupport } from '../../src/database/device';
import { memoryLogger } from '../../src/log';
import { duplexPair } from '../helpers/duplex-pair';
import { ScriptedClient } from '../helpers/ca-client';
import { FakeScheduler } from '../helpers/fake-scheduler';

/** A device support whose writes finish only when the test says so, and which records their order. */
class GatedDevice implements DeviceSupport {
  readonly dtyp = 'gated';
  readonly recordTypes = ['ao', 'longout'];
  readonly seen: number[] = [];
  private gates: Array<() => void> = [];
  bind(): { write: (v: unknown) => Promise<void> } {
    return {
      write: (v) => {
        this.seen.push(Number(v));
        return new Promise<void>((resolve) => this.gates.push(resolve));
      },
    };
  }
  /** Let the oldest write in progress finish. */
  release(): void {
    this.gates.shift()?.();
  }
  get waiting(): number {
    return this.gates.length;
  }
}

function database(device: GatedDevice): Database {
  const loaded = createDatabase();
  mergeInto(loaded, parseDbText(`
    record(ao, "soft") { field(PREC, "1") }
    record(longout, "slow") { field(DTYP, "gated") field(OUT, "@x") }
    record(ai, "other") { field(VAL, "5") }
  `, { file: 'order.db' }));
  const db = Database.build(loaded, { registry: defaultRegistry().register(device) });
  db.start();
  return db;
}

interface Rig {
  client: ScriptedClient;
  circuit: Circuit;
  log: string[];
}

function rig(directory: PvDirectory, opts: Partial<CircuitOptions> = {}): Rig {
  const [serverEnd, clientEnd] = duplexPair();
  const log = memoryLogger();
  const circuit = new Circuit(serverEnd, directory, log, '127.0.0.1', { ...DEFAULT_CIRCUIT_OPTIONS, ...opts });
  return { client: new ScriptedClient(clientEnd), circuit, log: log.lines };
}

async function open(r: Rig, name: string, cid: number): Promise<number> {
  r.client.send(m.createChanRequest(name, cid));
  return (await r.client.waitFor((x) => x.command === Command.CREATE_CHAN && x.parameter1 === cid, `channel ${name}`)).parameter2;
}

/** A circuit to the gated record `slow` of a fresh database: the device, the database, the rig and the channel's sid. */
async function slowChannel(): Promise<{ device: GatedDevice; db: Database; r: Rig; sid: number }> {
  const device = new GatedDevice();
  const db = database(device);
  const r = rig(db);
  r.client.send(m.clientVersion());
  return { device, db, r, sid: await open(r, 'slow', 1) };
}

function long(v: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeInt32BE(v, 0);
  return b;
}

function dbl(v: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(v, 0);
  return b;
}

const readValue = (payload: Buffer, type: DbrType = DbrType.DOUBLE): unknown => decodeDbr(type, 1, payload).value[0];

/** Let every promise callback and nextTick run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('CA request order (in memory, real records)', () => {
  it('a READ_NOTIFY after a WRITE in the same packet sees the write', async () => {
    const r = rig(database(new GatedDevice()));
    r.client.send(m.clientVersion());
    const sid = await open(r, 'soft', 1);
    for (let i = 1; i <= 50; i++) {
      r.client.send(Buffer.concat([m.writeRequest(false, DbrType.DOUBLE, 1, sid, 0, dbl(i)), m.readNotifyRequest(DbrType.DOUBLE, 1, sid, 1000 + i)]));
      const rep = await r.client.waitFor((x) => x.command === Command.READ_NOTIFY && x.parameter2 === 1000 + i);
      assert.equal(readValue(rep.payload), i, `read ${i} sees the write before it`);
    }
  });

  it('WRITE_NOTIFY 1, WRITE_NOTIFY 2, WRITE 3 reach device support as 1, 2, 3 and the record ends at 3', async () => {
    const { device, db, r, sid } = await slowChannel();
    r.client.send(Buffer.concat([
      m.writeRequest(true, DbrType.LONG, 1, sid, 11, long(1)),
      m.writeRequest(true, DbrType.LONG, 1, sid, 12, long(2)),
      m.writeRequest(false, DbrType.LONG, 1, sid, 13, long(3)),
    ]));
    await settle();
    assert.deepEqual(device.seen, [1], 'the second write waits for the first');
    for (let n = 0; n < 3; n++) {
      device.release();
      await settle();
    }
    assert.deepEqual(device.seen, [1, 2, 3]);
    const replies = r.client.of(Command.WRITE_NOTIFY).map((x) => [x.parameter2, x.parameter1]);
    assert.deepEqual(replies, [[11, Eca.NORMAL], [12, Eca.NORMAL]], 'put-callbacks complete in order');
    assert.equal(db.lookup('slow')!.snapshot().value[0], 3);
  });

  it('a put waiting for its device does not hold up reads of other PVs, and a read of it sees the value written', async () => {
    const device = new GatedDevice();
    const r = rig(database(device));
    r.client.send(m.clientVersion());
    const slow = await open(r, 'slow', 1);
    const other = await open(r, 'other', 2);
    r.client.send(Buffer.concat([
      m.writeRequest(true, DbrType.LONG, 1, slow, 21, long(7)),
      m.readNotifyRequest(DbrType.DOUBLE, 1, other, 22),
      m.readNotifyRequest(DbrType.LONG, 1, slow, 23),
    ]));
    const otherRead = await r.client.waitFor((x) => x.command === Command.READ_NOTIFY && x.parameter2 === 22);
    assert.equal(readValue(otherRead.payload), 5);
    const slowRead = await r.client.waitFor((x) => x.command === Command.READ_NOTIFY && x.parameter2 === 23);
    assert.equal(readValue(slowRead.payload, DbrType.LONG), 7, 'the value is stored before device support finishes (dbPut)');
    assert.equal(r.client.of(Command.WRITE_NOTIFY).length, 0, 'the put-callback is still in progress');
    device.release();
    const done = await r.client.waitFor((x) => x.command === Command.WRITE_NOTIFY && x.parameter2 === 21);
    assert.equal(done.parameter1, Eca.NORMAL);
  });

  it('a write queued behind one in progress is applied in turn; a read after it waits for it', async () => {
    const { device, r, sid } = await slowChannel();
    r.client.send(Buffer.concat([
      m.writeRequest(true, DbrType.LONG, 1, sid, 31, long(1)),
      m.writeRequest(false, DbrType.LONG, 1, sid, 0, long(2)),
      m.readNotifyRequest(DbrType.LONG, 1, sid, 33),
    ]));
    await settle();
    assert.equal(r.client.of(Command.READ_NOTIFY).length, 0, 'the read waits for the queued write');
    device.release();
    const rep = await r.client.waitFor((x) => x.command === Command.READ_NOTIFY && x.parameter2 === 33);
    assert.equal(readValue(rep.payload, DbrType.LONG), 2, 'the read sees the write made before it');
    device.release();
  });

  it('a write of no elements queued behind others keeps the value they leave, and its LINK/INVALID alarm comes with its own processing', async () => {
    const { device, db, r, sid } = await slowChannel();
    r.client.send(Buffer.concat([
      m.writeRequest(true, DbrType.LONG, 1, sid, 41, long(1)),
      m.writeRequest(false, DbrType.LONG, 1, sid, 0, long(2)),
      m.writeRequest(true, DbrType.LONG, 0, sid, 43, Buffer.alloc(0)),
    ]));
    await settle();
    const sevr = (): unknown => db.lookup('slow.SEVR')!.snapshot().value[0];
    device.release();
    await r.client.waitFor((x) => x.command === Command.WRITE_NOTIFY && x.parameter2 === 41);
    assert.equal(sevr(), AlarmSeverity.NO_ALARM, 'the first write ends without the later write\'s alarm');
    device.release();
    await settle();
    device.release();
    const done = await r.client.waitFor((x) => x.command === Command.WRITE_NOTIFY && x.parameter2 === 43);
    assert.equal(done.parameter1, Eca.NORMAL);
    assert.deepEqual(device.seen, [1, 2, 2], 'the empty write processes the record with the value the write before it left');
    assert.equal(db.lookup('slow')!.snapshot().value[0], 2);
    assert.deepEqual([db.lookup('slow.STAT')!.snapshot().value[0], sevr()], [AlarmStatus.LINK, AlarmSeverity.INVALID]);
  });

  it('an in-memory PV applies a WRITE before the READ behind it, too', async () => {
    const pv = new SimplePv({ name: 'x', type: DbrType.LONG, value: [0] });
    const r = rig(new MapDirectory().add(pv));
    r.client.send(m.clientVersion());
    const sid = await open(r, 'x', 1);
    r.client.send(Buffer.concat([m.writeRequest(false, DbrType.LONG, 1, sid, 0, long(43)), m.readNotifyRequest(DbrType.LONG, 1, sid, 2)]));
    const rep = await r.client.waitFor((x) => x.command === Command.READ_NOTIFY && x.parameter2 === 2);
    assert.equal(readValue(rep.payload, DbrType.LONG), 43);
  });
});

describe('CA circuit limits and timers (fake clock)', () => {
  const dir = (): MapDirectory => new MapDirectory().add(new SimplePv({ name: 'x', type: DbrType.LONG, value: [1] }));

  it('a connection that sends nothing within the handshake timeout is closed; one that speaks is kept', async () => {
    const clock = new FakeScheduler();
    const silent = rig(dir(), { scheduler: clock, handshakeTimeoutMs: 10_000 });
    const talking = rig(dir(), { scheduler: clock, handshakeTimeoutMs: 10_000 });
    const reason = new Promise<CloseReason>((resolve) => silent.circuit.onClose(resolve));
    talking.client.send(m.clientVersion());
    await settle();
    clock.advanceTo(9_999);
    assert.ok(!silent.circuit.isClosed);
    clock.advanceTo(10_000);
    assert.deepEqual(await reason, { kind: 'handshake-timeout', afterMs: 10_000 });
    clock.advanceTo(1_000_000);
    assert.ok(!talking.circuit.isClosed, 'a client that sent its VERSION stays');
  });

  it('a circuit that cannot drain is closed when the drain timeout runs out on the clock', async () => {
    const clock = new FakeScheduler();
    const pv = new SimplePv({ name: 'w', type: DbrType.LONG, value: [0], maxCount: 1000 });
    const [serverEnd, clientEnd] = duplexPair(512);
    const circuit = new Circuit(serverEnd, new MapDirectory().add(pv), memoryLogger(), '127.0.0.1', {
      ...DEFAULT_CIRCUIT_OPTIONS, scheduler: clock, sendHighWater: 1024, drainTimeoutMs: 30_000,
    });
    const client = new ScriptedClient(clientEnd);
    client.send(m.clientVersion());
    const sid = (await (async () => {
      client.send(m.createChanRequest('w', 1));
      return client.waitFor((x) => x.command === Command.CREATE_CHAN);
    })()).parameter2;
    client.stream.pause();
    client.send(m.eventAddRequest(DbrType.LONG, 0, sid, 1, 1));
    await settle();
    for (let i = 0; i < 200; i++) pv.setValue(new Array(1000).fill(i));
    assert.ok(!circuit.isClosed);
    const reason = new Promise<CloseReason>((resolve) => circuit.onClose(resolve));
    clock.advanceTo(30_000);
    assert.deepEqual(await reason, { kind: 'drain-timeout', afterMs: 30_000 });
  });

  it('caps channels per circuit: CREATE_CH_FAIL beyond it, and one report of the cap', async () => {
    const limits: string[] = [];
    const r = rig(dir(), { maxChannels: 2, onLimit: (t) => limits.push(t) });
    r.client.send(m.clientVersion(), m.createChanRequest('x', 1), m.createChanRequest('x', 2), m.createChanRequest('x', 3));
    const fail = await r.client.waitFor((x) => x.command === Command.CREATE_CH_FAIL);
    assert.equal(fail.parameter1, 3);
    assert.equal(r.client.of(Command.CREATE_CHAN).length, 2);
    assert.equal(limits.length, 1);
    assert.match(limits[0], /limit of 2 channels/);
  });
});

describe('CA search over a circuit', () => {
  const dir = new MapDirectory().add(new SimplePv({ name: 'ival', type: DbrType.LONG, value: [42] }));
  const search = (name: string, reply: boolean, id: number): Buffer => encodeMessage(
    { command: Command.SEARCH, payloadSize: 0, dataType: reply ? SEARCH_DO_REPLY : 5, dataCount: 13, parameter1: id, parameter2: id },
    encodeCString(name),
  );

  it('answers a served name with the TCP port the server gave the circuit', async () => {
    const r = rig(dir, { tcpPort: 5099 });
    r.client.send(m.clientVersion(), search('ival', true, 0x1234));
    const rep = await r.client.waitFor((x) => x.command === Command.SEARCH);
    assert.deepEqual([rep.dataType, rep.parameter2], [5099, 0x1234]);
  });

  it('answers a missing name with NOT_FOUND when the client asks for a reply, and not otherwise', async () => {
    const r = rig(dir, { tcpPort: 5099 });
    r.client.send(m.clientVersion(), search('invalid', false, 1), search('invalid', true, 0x12345678), m.echoMessage());
    await r.client.waitFor((x) => x.command === Command.ECHO);
    const nf = r.client.of(Command.NOT_FOUND);
    assert.equal(nf.length, 1);
    assert.deepEqual([nf[0].dataType, nf[0].dataCount, nf[0].parameter1, nf[0].parameter2], [SEARCH_DO_REPLY, 13, 0x12345678, 0x12345678]);
  });
});
