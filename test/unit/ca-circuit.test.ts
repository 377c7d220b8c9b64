/**
 * Circuit behaviour over in-memory duplex streams: no sockets, real flow control.
 */
import { strict as assert } from 'node:assert';
import { Circuit, DEFAULT_CIRCUIT_OPTIONS } from '../../src/ca/server/circuit';
import type { CloseReason } from '../../src/ca/protocol/circuit-rules';
import { MapDirectory, SimplePv } from '../../src/ca/server/pv';
import { WriteError } from '../../src/ca/pv';
import {
  AlarmSeverity, AlarmStatus, Command, DBE_ALARM, DBE_LOG, DBE_PROPERTY, DBE_VALUE, DbrType, Eca,
} from '../../src/ca/protocol/constants';
import * as m from '../../src/ca/protocol/messages';
import { decodeDbr, encodeDbr } from '../../src/ca/protocol/dbr';
import { encodeMessage } from '../../src/ca/protocol/header';
import { valueElements } from '../../src/ca/protocol/types';
import { memoryLogger } from '../../src/log';
import { duplexPair } from '../helpers/duplex-pair';
import { ScriptedClient } from '../helpers/ca-client';

interface Rig {
  client: ScriptedClient;
  circuit: Circuit;
  pvs: Record<string, SimplePv>;
  log: string[];
}

function rig(opts: Partial<typeof DEFAULT_CIRCUIT_OPTIONS> = {}, autoRead = true, hwm = 16 * 1024): Rig {
  const pvs = {
    dbl: new SimplePv({ name: 'dbl', type: DbrType.DOUBLE, value: [1.25], metadata: { units: 'mm', precision: 2 } }),
    en: new SimplePv({ name: 'en', type: DbrType.ENUM, value: [0], metadata: { enumStrings: ['Off', 'On'] } }),
    wf: new SimplePv({ name: 'wf', type: DbrType.LONG, value: [1, 2, 3], maxCount: 10 }),
    ro: new SimplePv({ name: 'ro', type: DbrType.LONG, value: [5], rights: () => ({ read: true, write: false }) }),
    fail: new SimplePv({ name: 'fail', type: DbrType.LONG, value: [0], onWrite: () => { throw new WriteError(Eca.PUTFAIL, 'nope'); } }),
  };
  const dir = new MapDirectory();
  for (const pv of Object.values(pvs)) dir.add(pv);
  const [serverEnd, clientEnd] = duplexPair(hwm);
  const log = memoryLogger();
  const circuit = new Circuit(serverEnd, dir, log, '10.0.0.7', { ...DEFAULT_CIRCUIT_OPTIONS, ...opts });
  const client = new ScriptedClient(clientEnd, autoRead);
  return { client, circuit, pvs, log: log.lines };
}

async function connect(r: Rig, name: string, cid: number): Promise<number> {
  r.client.send(m.clientVersion(0, 13), m.clientNameMessage('alice'), m.hostNameMessage('opi1'), m.createChanRequest(name, cid));
  const reply = await r.client.waitFor((x) => x.command === Command.CREATE_CHAN && x.parameter1 === cid, 'CREATE_CHAN reply');
  return reply.parameter2;
}

describe('Circuit (in memory)', () => {
  it('sends VERSION on accept, then ACCESS_RIGHTS before the CREATE_CHAN reply', async () => {
    const r = rig();
    const sid = await connect(r, 'dbl', 7);
    const cmds = r.client.received.map((x) => x.command);
    assert.equal(cmds[0], Command.VERSION);
    assert.equal(r.client.received[0].dataCount, 13);
    const ar = cmds.indexOf(Command.ACCESS_RIGHTS);
    const cc = cmds.indexOf(Command.CREATE_CHAN);
    assert.ok(ar > 0 && ar < cc, `ACCESS_RIGHTS at ${ar} must precede CREATE_CHAN at ${cc}`);
    const create = r.client.received[cc];
    assert.equal(create.dataType, DbrType.DOUBLE);
    assert.equal(create.dataCount, 1);
    assert.equal(create.parameter1, 7);
    assert.ok(sid > 0);
    assert.equal(r.client.received[ar].parameter2, 3);
    assert.deepEqual({ ...r.circuit.identity }, { user: 'alice', host: 'opi1', address: '10.0.0.7' });
  });

  it('answers an unknown name with CREATE_CH_FAIL', async () => {
    const r = rig();
    r.client.send(m.clientVersion(), m.createChanRequest('nope', 3));
    const fail = await r.client.waitFor((x) => x.command === Command.CREATE_CH_FAIL, 'CREATE_CH_FAIL');
    assert.equal(fail.parameter1, 3);
  });

  it('serves several channels to one PV on one circuit', async () => {
    const r = rig();
    const a = await connect(r, 'dbl', 1);
    const b = await connect(r, 'dbl', 2);
    assert.notEqual(a, b);
    r.client.send(m.readNotifyRequest(DbrType.DOUBLE, 1, b, 99));
    const rep = await r.client.waitFor((x) => x.command === Command.READ_NOTIFY && x.parameter2 === 99);
    assert.equal(decodeDbr(DbrType.DOUBLE, 1, rep.payload).value[0], 1.25);
  });

  it('READ_NOTIFY converts to the requested type and reports the real count for count 0', async () => {
    const r = rig();
    const sid = await connect(r, 'wf', 1);
    r.client.send(m.readNotifyRequest(DbrType.TIME_DOUBLE, 0, sid, 5));
    const rep = await r.client.waitFor((x) => x.command === Command.READ_NOTIFY && x.parameter2 === 5);
    assert.equal(rep.parameter1, Eca.NORMAL);
    assert.equal(rep.dataCount, 3);
    assert.deepEqual(decodeDbr(DbrType.TIME_DOUBLE, 3, rep.payload).value, [1, 2, 3]);
    assert.equal(rep.payload.length % 8, 0);
  });

  it('READ_NOTIFY of an enum as a string gives the label', async () => {
    const r = rig();
    const sid = await connect(r, 'en', 1);
    r.pvs.en.setValue([1]);
    r.client.send(m.readNotifyRequest(DbrType.STRING, 1, sid, 6));
    const rep = await r.client.waitFor((x) => x.command === Command.READ_NOTIFY && x.parameter2 === 6);
    assert.deepEqual(decodeDbr(DbrType.STRING, 1, rep.payload).value, ['On']);
  });

  it('answers a count above the maximum with ECA_BADCOUNT and goes on', async () => {
    const r = rig();
    const sid = await connect(r, 'wf', 1);
    r.client.send(m.readNotifyRequest(DbrType.LONG, 11, sid, 8));
    const rep = await r.client.waitFor((x) => x.command === Command.READ_NOTIFY && x.parameter2 === 8);
    assert.equal(rep.parameter1, Eca.BADCOUNT);
    assert.ok(!r.circuit.isClosed, 'a bad count must not end the circuit');
  });

  it('takes a WRITE_NOTIFY of count 0 (RSRV passes it to dbPut), and refuses one above the maximum with ECA_BADCOUNT', async () => {
    const r = rig();
    const sid = await connect(r, 'wf', 1);
    r.client.send(m.writeRequest(true, DbrType.LONG, 0, sid, 70, Buffer.alloc(0)));
    const rep = await r.client.waitFor((x) => x.command === Command.WRITE_NOTIFY && x.parameter2 === 70);
    assert.equal(rep.parameter1, Eca.NORMAL);
    assert.deepEqual(valueElements(r.pvs.wf.snapshot().value), [1, 2, 3], 'a SimplePv keeps its value');
    r.client.send(m.writeRequest(true, DbrType.LONG, 11, sid, 71, Buffer.alloc(48)));
    const over = await r.client.waitFor((x) => x.command === Command.WRITE_NOTIFY && x.parameter2 === 71);
    assert.equal(over.parameter1, Eca.BADCOUNT);
    assert.ok(!r.circuit.isClosed);
  });

  it('ends the circuit, with no reply, on a READ_NOTIFY whose type is no DBR type (as RSRV)', async () => {
    const r = rig();
    const sid = await connect(r, 'wf', 1);
    const before = r.client.received.length;
    const closed = new Promise<CloseReason>((resolve) => r.circuit.onClose(resolve));
    r.client.send(m.readNotifyRequest(0xefef, 1, sid, 9));
    const reason = await closed;
    assert.equal(reason.kind, 'violation');
    assert.equal(reason.kind === 'violation' && reason.violation.rule, 'invalid-dbr-type');
    assert.equal(reason.kind === 'violation' && reason.violation.by, 'client');
    assert.equal(r.client.received.length, before, 'nothing was sent for the bad request');
    assert.ok(r.log.some((l) => /invalid-dbr-type/.test(l)), r.log.join('\n'));
  });

  it('WRITE_NOTIFY completes only when the write handler has finished', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => { release = resolve; });
    const slow = new SimplePv({ name: 'slow', type: DbrType.LONG, value: [0], onWrite: () => gate });
    const dir = new MapDirectory().add(slow);
    const [s, c] = duplexPair();
    new Circuit(s, dir, memoryLogger(), '127.0.0.1');
    const client = new ScriptedClient(c);
    client.send(m.clientVersion(), m.createChanRequest('slow', 1));
    const sid = (await client.waitFor((x) => x.command === Command.CREATE_CHAN)).parameter2;
    client.send(m.writeRequest(true, DbrType.LONG, 1, sid, 42, encodeDbr(DbrType.LONG, 1, { ...slow.snapshot(), value: [17] })));
    client.send(m.echoMessage());
    await client.waitFor((x) => x.command === Command.ECHO, 'ECHO after the write');
    assert.equal(client.of(Command.WRITE_NOTIFY).length, 0, 'no completion before the handler finished');
    release();
    const done = await client.waitFor((x) => x.command === Command.WRITE_NOTIFY && x.parameter2 === 42);
    assert.equal(done.parameter1, Eca.NORMAL);
    assert.deepEqual(valueElements(slow.snapshot().value), [17]);
  });

  it('a failing write: WRITE_NOTIFY carries the ECA code, WRITE gets an ERROR', async () => {
    const r = rig();
    const sid = await connect(r, 'fail', 1);
    const payload = encodeDbr(DbrType.LONG, 1, { ...r.pvs.fail.snapshot(), value: [3] });
    r.client.send(m.writeRequest(true, DbrType.LONG, 1, sid, 50, payload));
    const wn = await r.client.waitFor((x) => x.command === Command.WRITE_NOTIFY && x.parameter2 === 50);
    assert.equal(wn.parameter1, Eca.PUTFAIL);
    r.client.send(m.writeRequest(false, DbrType.LONG, 1, sid, 51, payload));
    const err = await r.client.waitFor((x) => x.command === Command.ERROR);
    assert.equal(err.parameter2, Eca.PUTFAIL);
    assert.equal(err.parameter1, 1, 'ERROR p1 is the client channel id');
    assert.equal(err.payload.readUInt16BE(0), Command.WRITE);
    assert.match(err.payload.subarray(16).toString('utf8'), /nope/);
  });

  it('a write without access is refused with ECA_NOWTACCESS and changes nothing', async () => {
    const r = rig();
    const sid = await connect(r, 'ro', 1);
    const ar = r.client.of(Command.ACCESS_RIGHTS).at(-1)!;
    assert.equal(ar.parameter2, 1, 'read only');
    r.client.send(m.writeRequest(true, DbrType.LONG, 1, sid, 60, encodeDbr(DbrType.LONG, 1, { ...r.pvs.ro.snapshot(), value: [9] })));
    const wn = await r.client.waitFor((x) => x.command === Command.WRITE_NOTIFY && x.parameter2 === 60);
    assert.equal(wn.parameter1, Eca.NOWTACCESS);
    assert.deepEqual(valueElements(r.pvs.ro.snapshot().value), [5]);
  });

  it('a string written to an enum must match a label or an index in range', async () => {
    const r = rig();
    const sid = await connect(r, 'en', 1);
    const str = (s: string): Buffer => encodeDbr(DbrType.STRING, 1, { ...r.pvs.en.snapshot(), nativeType: DbrType.STRING, value: [s] });
    r.client.send(m.writeRequest(true, DbrType.STRING, 1, sid, 1, str('On')));
    assert.equal((await r.client.waitFor((x) => x.command === Command.WRITE_NOTIFY && x.parameter2 === 1)).parameter1, Eca.NORMAL);
    assert.deepEqual(valueElements(r.pvs.en.snapshot().value), [1]);
    r.client.send(m.writeRequest(true, DbrType.STRING, 1, sid, 2, str('Maybe')));
    assert.equal((await r.client.waitFor((x) => x.command === Command.WRITE_NOTIFY && x.parameter2 === 2)).parameter1, Eca.PUTFAIL);
    assert.deepEqual(valueElements(r.pvs.en.snapshot().value), [1]);
  });

  it('EVENT_ADD sends the current value at once, then changes matching the mask', async () => {
    const r = rig();
    const sid = await connect(r, 'dbl', 1);
    r.client.send(m.eventAddRequest(DbrType.TIME_DOUBLE, 1, sid, 10, DBE_VALUE));
    r.client.send(m.eventAddRequest(DbrType.TIME_DOUBLE, 1, sid, 11, DBE_LOG | DBE_ALARM));
    r.client.send(m.eventAddRequest(DbrType.CTRL_DOUBLE, 1, sid, 12, DBE_PROPERTY));
    await r.client.waitFor((x) => x.command === Command.EVENT_ADD && x.parameter2 === 12);
    const count = (id: number): number => r.client.received.filter((x) => x.command === Command.EVENT_ADD && x.parameter2 === id).length;
    assert.deepEqual([count(10), count(11), count(12)], [1, 1, 1]);
    r.pvs.dbl.setAlarm(AlarmStatus.HIGH, AlarmSeverity.MINOR);
    r.pvs.dbl.setValue([2.5]);
    r.pvs.dbl.setMetadata({ units: 'um' });
    r.client.send(m.echoMessage());
    await r.client.waitFor((x) => x.command === Command.ECHO);
    assert.deepEqual([count(10), count(11), count(12)], [2, 3, 2]);
    const last = r.client.received.filter((x) => x.command === Command.EVENT_ADD && x.parameter2 === 11).at(-1)!;
    const d = decodeDbr(DbrType.TIME_DOUBLE, 1, last.payload);
    assert.deepEqual([d.value[0], d.status, d.severity], [2.5, AlarmStatus.HIGH, AlarmSeverity.MINOR]);
    const prop = r.client.received.filter((x) => x.command === Command.EVENT_ADD && x.parameter2 === 12).at(-1)!;
    assert.equal(decodeDbr(DbrType.CTRL_DOUBLE, 1, prop.payload).metadata?.units, 'um');
  });

  it('EVENT_CANCEL is answered with an empty EVENT_ADD, and nothing for it follows', async () => {
    const r = rig();
    const sid = await connect(r, 'dbl', 1);
    r.client.send(m.eventAddRequest(DbrType.DOUBLE, 1, sid, 20, DBE_VALUE));
    await r.client.waitFor((x) => x.command === Command.EVENT_ADD && x.parameter2 === 20);
    r.client.send(m.eventCancelRequest(DbrType.DOUBLE, 1, sid, 20));
    const cancel = await r.client.waitFor((x) => x.command === Command.EVENT_ADD && x.parameter2 === 20 && x.payloadSize === 0, 'cancel reply');
    assert.equal(cancel.parameter1, sid);
    assert.equal(cancel.dataType, DbrType.DOUBLE);
    r.pvs.dbl.setValue([9]);
    r.client.send(m.echoMessage());
    await r.client.waitFor((x) => x.command === Command.ECHO);
    const after = r.client.received.slice(r.client.received.indexOf(cancel) + 1);
    assert.equal(after.filter((x) => x.parameter2 === 20 && x.command === Command.EVENT_ADD).length, 0);
    assert.equal(r.pvs.dbl.subscriberCount, 0);
    r.client.send(m.eventCancelRequest(DbrType.DOUBLE, 1, sid, 20));
    const err = await r.client.waitFor((x) => x.command === Command.ERROR && x.parameter2 === Eca.BADMONID);
    assert.equal(err.payload.readUInt16BE(0), Command.EVENT_CANCEL);
  });

  it('a cancel while updates are held drops the held update before the cancel reply', async () => {
    const r = rig();
    const sid = await connect(r, 'dbl', 1);
    r.client.send(m.eventAddRequest(DbrType.DOUBLE, 1, sid, 21, DBE_VALUE), m.eventsOffRequest());
    await r.client.waitFor((x) => x.command === Command.EVENT_ADD && x.parameter2 === 21);
    r.client.send(m.echoMessage());
    await r.client.waitFor((x) => x.command === Command.ECHO);
    r.pvs.dbl.setValue([4]);
    r.client.send(m.eventCancelRequest(DbrType.DOUBLE, 1, sid, 21), m.eventsOnRequest(), m.echoMessage());
    await r.client.waitFor((x) => x.command === Command.EVENT_ADD && x.parameter2 === 21 && x.payloadSize === 0);
    const updates = r.client.received.filter((x) => x.command === Command.EVENT_ADD && x.parameter2 === 21 && x.payloadSize > 0);
    assert.equal(updates.length, 1, 'only the initial value; the held one was dropped with the subscription');
  });

  it('EVENTS_OFF holds an update until another replaces it (RSRV\'s flow control), and EVENTS_ON sends what is held', async () => {
    const r = rig();
    const sid = await connect(r, 'dbl', 1);
    r.client.send(m.eventAddRequest(DbrType.DOUBLE, 1, sid, 30, DBE_VALUE), m.eventsOffRequest(), m.echoMessage());
    await r.client.waitFor((x) => x.command === Command.ECHO);
    const updates = (): number[] => r.client.received.filter((x) => x.command === Command.EVENT_ADD && x.parameter2 === 30).map((x) => decodeDbr(DbrType.DOUBLE, 1, x.payload).value[0] as number);
    const initial = updates().length;
    r.pvs.dbl.setValue([1]);
    r.client.send(m.echoMessage());
    await r.client.waitFor((x) => x.command === Command.ECHO && r.client.of(Command.ECHO).length >= 2);
    assert.equal(updates().length, initial, 'one change while events are off is held');
    assert.equal(r.circuit.stats.heldUpdates, 1);
    // A change that replaces the held one drains what is held, newest values: libca, which
    // asks for EVENTS_ON only after a short read, is never left waiting on a silent server.
    for (let i = 2; i <= 50; i++) r.pvs.dbl.setValue([i]);
    r.client.send(m.echoMessage());
    await r.client.waitFor((x) => x.command === Command.ECHO && r.client.of(Command.ECHO).length >= 3);
    const off = updates().slice(initial);
    assert.deepEqual(off, off.filter((v) => v % 2 === 0), 'sent on each change that replaced a held one');
    assert.ok(off.length > 0 && off.length <= 25, `${off.length} of 50 changes sent, as RSRV's queue drains them`);
    assert.equal(off[off.length - 1], 50);
    r.pvs.dbl.setValue([51]);
    assert.equal(r.circuit.stats.heldUpdates, 1);
    r.client.send(m.eventsOnRequest());
    await r.client.waitFor((x) => x.command === Command.EVENT_ADD && x.parameter2 === 30 && decodeDbr(DbrType.DOUBLE, 1, x.payload).value[0] === 51);
  });

  it('a slow reader gets the newest value of each subscription once it reads, with bounded memory', async () => {
    const r = rig({ sendHighWater: 4096, drainTimeoutMs: 60_000 }, false, 1024);
    r.client.startReading();
    const sid = await connect(r, 'wf', 1);
    r.client.stream.pause();
    r.client.send(m.eventAddRequest(DbrType.LONG, 0, sid, 40, DBE_VALUE));
    await new Promise<void>((resolve) => setImmediate(resolve));
    for (let i = 0; i < 5000; i++) r.pvs.wf.setValue([i, i, i]);
    assert.equal(r.circuit.stats.heldUpdates, 1, 'one held update per subscription, not 5000 queued');
    const inStream = (r.client.stream as unknown as { readableLength: number }).readableLength;
    assert.ok(inStream < 64 * 1024, `bytes buffered towards the client stay bounded (${inStream})`);
    r.client.stream.resume();
    await r.client.waitFor((x) => x.command === Command.EVENT_ADD && x.parameter2 === 40 && decodeDbr(DbrType.LONG, 3, x.payload).value[0] === 4999, 'newest value');
    const seen = r.client.received.filter((x) => x.command === Command.EVENT_ADD && x.parameter2 === 40).length;
    assert.ok(seen < 5000, `intermediate values were dropped (${seen} updates)`);
  });

  it('closes a circuit that does not drain within the time limit, and logs why', async () => {
    const r = rig({ sendHighWater: 2048, drainTimeoutMs: 50 }, false, 512);
    r.client.startReading();
    const sid = await connect(r, 'wf', 1);
    r.client.stream.pause();
    r.client.send(m.eventAddRequest(DbrType.LONG, 0, sid, 41, DBE_VALUE));
    await new Promise<void>((resolve) => setImmediate(resolve));
    for (let i = 0; i < 500; i++) r.pvs.wf.setValue([i]);
    const closed = new Promise<CloseReason>((resolve) => r.circuit.onClose(resolve));
    assert.equal((await closed).kind, 'drain-timeout');
    assert.ok(r.log.some((l) => /did not drain/.test(l)));
    assert.equal(r.pvs.wf.subscriberCount, 0, 'subscriptions released');
  });

  it('CLEAR_CHANNEL echoes SID and CID and drops its subscriptions', async () => {
    const r = rig();
    const sid = await connect(r, 'dbl', 4);
    r.client.send(m.eventAddRequest(DbrType.DOUBLE, 1, sid, 50, DBE_VALUE));
    await r.client.waitFor((x) => x.command === Command.EVENT_ADD && x.parameter2 === 50);
    r.client.send(m.clearChannelRequest(sid, 4));
    const rep = await r.client.waitFor((x) => x.command === Command.CLEAR_CHANNEL);
    assert.deepEqual([rep.parameter1, rep.parameter2], [sid, 4]);
    assert.equal(r.pvs.dbl.subscriberCount, 0);
    r.client.send(m.readNotifyRequest(DbrType.DOUBLE, 1, sid, 1));
    const err = await r.client.waitFor((x) => x.command === Command.ERROR);
    assert.equal(err.parameter2, Eca.BADCHID);
  });

  it('a request for a cleared channel is refused, also once a new channel has its place in the table', async () => {
    const r = rig();
    const first = await connect(r, 'dbl', 4);
    r.client.send(m.clearChannelRequest(first, 4));
    await r.client.waitFor((x) => x.command === Command.CLEAR_CHANNEL);
    const second = await connect(r, 'wf', 5);
    assert.notEqual(second, first, 'a new channel gets a new sid');
    r.client.send(m.readNotifyRequest(DbrType.LONG, 1, first, 7), m.readNotifyRequest(DbrType.LONG, 1, second, 8));
    const err = await r.client.waitFor((x) => x.command === Command.ERROR);
    assert.equal(err.parameter2, Eca.BADCHID);
    const read = await r.client.waitFor((x) => x.command === Command.READ_NOTIFY && x.parameter2 === 8);
    assert.equal(read.parameter1, Eca.NORMAL);
    assert.equal(r.client.received.some((x) => x.command === Command.READ_NOTIFY && x.parameter2 === 7), false, 'no value for the cleared sid');
  });

  it('ECHO is echoed', async () => {
    const r = rig();
    r.client.send(m.clientVersion(), m.echoMessage());
    await r.client.waitFor((x) => x.command === Command.ECHO);
  });

  it('sends a new ACCESS_RIGHTS when the rights change', async () => {
    let allowed = false;
    const pv = new SimplePv({ name: 'guarded', type: DbrType.LONG, value: [0], rights: () => ({ read: true, write: allowed }) });
    const [s, c] = duplexPair();
    const directory = new MapDirectory().add(pv);
    new Circuit(s, directory, memoryLogger(), '127.0.0.1');
    const client = new ScriptedClient(c);
    client.send(m.clientVersion(), m.createChanRequest('guarded', 1));
    await client.waitFor((x) => x.command === Command.CREATE_CHAN);
    allowed = true;
    directory.rightsChanged();
    const ar = await client.waitFor((x) => x.command === Command.ACCESS_RIGHTS && x.parameter2 === 3);
    assert.equal(ar.parameter1, 1);
  });

  it('PUT_ACKS and PUT_ACKT acknowledge alarms', async () => {
    const r = rig();
    const sid = await connect(r, 'dbl', 1);
    r.pvs.dbl.setAlarm(AlarmStatus.HIHI, AlarmSeverity.MAJOR);
    const u16 = (v: number): Buffer => {
      const b = Buffer.alloc(8);
      b.writeUInt16BE(v, 0);
      return b;
    };
    r.client.send(m.readNotifyRequest(DbrType.STSACK_STRING, 1, sid, 1));
    let rep = await r.client.waitFor((x) => x.command === Command.READ_NOTIFY && x.parameter2 === 1);
    assert.deepEqual([rep.payload.readUInt16BE(4), rep.payload.readUInt16BE(6)], [1, AlarmSeverity.MAJOR], 'ackt 1, acks MAJOR');
    r.client.send(m.writeRequest(false, DbrType.PUT_ACKS, 1, sid, 0, u16(AlarmSeverity.MAJOR)), m.readNotifyRequest(DbrType.STSACK_STRING, 1, sid, 2));
    rep = await r.client.waitFor((x) => x.command === Command.READ_NOTIFY && x.parameter2 === 2);
    assert.equal(rep.payload.readUInt16BE(6), 0, 'acknowledged');
    r.client.send(m.writeRequest(false, DbrType.PUT_ACKT, 1, sid, 0, u16(0)), m.readNotifyRequest(DbrType.STSACK_STRING, 1, sid, 3));
    rep = await r.client.waitFor((x) => x.command === Command.READ_NOTIFY && x.parameter2 === 3);
    assert.equal(rep.payload.readUInt16BE(4), 0, 'ackt cleared');
  });
});

describe('Circuit robustness', () => {
  const hostile: Array<[string, Buffer]> = [
    ['a misaligned payload', Buffer.concat([encodeMessage({ command: Command.CREATE_CHAN, payloadSize: 0, dataType: 0, dataCount: 0, parameter1: 1, parameter2: 13 }, Buffer.from('abc'))])],
    ['an oversized payload', (() => { const b = Buffer.alloc(24); b.writeUInt16BE(Command.WRITE, 0); b.writeUInt16BE(0xffff, 2); b.writeUInt32BE(1 << 30, 16); return b; })()],
    ['an unknown command', encodeMessage({ command: 999, payloadSize: 0, dataType: 0, dataCount: 0, parameter1: 0, parameter2: 0 })],
  ];
  for (const [what, bytes] of hostile) {
    it(`closes the circuit on ${what}, with the reason logged`, async () => {
      const r = rig();
      r.client.send(m.clientVersion(), bytes);
      const reason = await new Promise<CloseReason>((resolve) => r.circuit.onClose(resolve));
      assert.equal(reason.kind, 'violation');
      assert.equal(reason.kind === 'violation' && reason.violation.by, 'client');
      assert.ok(r.log.some((l) => /closing circuit after a protocol violation/.test(l)), r.log.join('\n'));
    });
  }

  it('a request arriving one byte at a time is answered once complete', async () => {
    const r = rig();
    const bytes = Buffer.concat([m.clientVersion(), m.createChanRequest('dbl', 1)]);
    for (let i = 0; i < bytes.length; i++) {
      assert.equal(r.client.of(Command.CREATE_CHAN).length, 0, `no reply after ${i} bytes`);
      r.client.send(bytes.subarray(i, i + 1));
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    await r.client.waitFor((x) => x.command === Command.CREATE_CHAN);
  });

  it('a circuit that ends inside a message closes quietly', async () => {
    const r = rig();
    r.client.send(m.clientVersion(), m.createChanRequest('dbl', 1).subarray(0, 10));
    r.client.stream.end();
    const reason = await new Promise<CloseReason>((resolve) => r.circuit.onClose(resolve));
    assert.equal(reason.kind, 'client-closed');
  });

  it('a write with a payload too short for its count is refused with an ECA code, not a crash', async () => {
    const r = rig();
    const sid = await connect(r, 'wf', 1);
    r.client.send(m.writeRequest(true, DbrType.LONG, 5, sid, 70, Buffer.alloc(8)));
    const wn = await r.client.waitFor((x) => x.command === Command.WRITE_NOTIFY && x.parameter2 === 70);
    assert.notEqual(wn.parameter1, Eca.NORMAL);
    assert.ok(!r.circuit.isClosed);
  });
});
