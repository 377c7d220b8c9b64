/**
 * The circuit's protocol core without I/O: requests decoded with named
 * fields, the rules table, and violations that say who broke which rule.
 */
import { strict as assert } from 'node:assert';
import { Command, DBE_ALARM, DBE_VALUE, DbrType, Eca, SEARCH_DO_REPLY } from '../../src/ca/protocol/constants';
import { CircuitCore, type Inbound } from '../../src/ca/protocol/circuit-core';
import { checkRequest, describeCloseReason, REQUEST_RULES, type ChannelTable } from '../../src/ca/protocol/circuit-rules';
import { decodeRequest } from '../../src/ca/protocol/requests';
import { encodeMessage } from '../../src/ca/protocol/header';
import { MessageFramer } from '../../src/ca/protocol/framer';
import * as m from '../../src/ca/protocol/messages';

function one(bytes: Buffer): ReturnType<typeof decodeRequest> {
  const [msg] = new MessageFramer({ maxPayload: 1 << 20, requireAlignment: true }).push(bytes);
  return decodeRequest(msg);
}

class Table implements ChannelTable {
  readonly sids = new Set<number>();
  readonly subs = new Map<number, number>();
  hasChannel(sid: number): boolean {
    return this.sids.has(sid);
  }
  hasSubscription(sid: number, id: number): boolean {
    return this.subs.get(id) === sid;
  }
  get channelCount(): number {
    return this.sids.size;
  }
}

function drain(core: CircuitCore, bytes: Buffer): Inbound[] {
  const out: Inbound[] = [];
  const q = core.receive(bytes);
  for (let x = q.next(); x; x = q.next()) out.push(x);
  return out;
}

describe('CA requests (decoded without I/O)', () => {
  it('names every field a request carries', () => {
    assert.deepEqual(
      (({ header: _h, ...r }) => r)(one(m.readNotifyRequest(DbrType.TIME_DOUBLE, 3, 17, 99))),
      { kind: 'read', notify: true, sid: 17, ioid: 99, dbrType: DbrType.TIME_DOUBLE, count: 3 },
    );
    const w = one(m.writeRequest(false, DbrType.LONG, 1, 5, 6, Buffer.alloc(8)));
    assert.equal(w.kind, 'write');
    assert.ok(w.kind === 'write' && !w.notify && w.sid === 5 && w.ioid === 6 && w.payload.length === 8);
    const e = one(m.eventAddRequest(DbrType.DOUBLE, 0, 3, 41, DBE_VALUE | DBE_ALARM));
    assert.ok(e.kind === 'eventAdd' && e.sid === 3 && e.subscriptionId === 41 && e.mask === (DBE_VALUE | DBE_ALARM) && e.count === 0);
    const c = one(m.createChanRequest('a:b', 12, 13));
    assert.ok(c.kind === 'createChannel' && c.cid === 12 && c.name === 'a:b' && c.minorVersion === 13);
    const s = one(m.searchRequest('x', 0x1234, true));
    assert.ok(s.kind === 'search' && s.searchId === 0x1234 && s.replyWanted && s.name === 'x');
    const x = one(m.eventCancelRequest(DbrType.DOUBLE, 1, 3, 41));
    assert.ok(x.kind === 'eventCancel' && x.sid === 3 && x.subscriptionId === 41);
    const cl = one(m.clearChannelRequest(8, 9));
    assert.ok(cl.kind === 'clearChannel' && cl.sid === 8 && cl.cid === 9);
    const v = one(m.clientVersion(20, 13));
    assert.ok(v.kind === 'version' && v.priority === 20 && v.minorVersion === 13);
  });

  it('a reply code sent to a server is a typed protocol error', () => {
    const bytes = encodeMessage({ command: Command.ACCESS_RIGHTS, payloadSize: 0, dataType: 0, dataCount: 0, parameter1: 0, parameter2: 0 });
    assert.throws(() => one(bytes), (e: unknown) => (e as { code?: string }).code === 'CA_ERR_BAD_COMMAND');
  });
});

describe('CA circuit rules (table)', () => {
  it('has a row for every request kind, and only requests naming a channel need one', () => {
    for (const [kind, rule] of Object.entries(REQUEST_RULES)) {
      const namesChannel = ['read', 'write', 'eventAdd', 'eventCancel', 'clearChannel'].includes(kind);
      assert.equal(rule.needsChannel, namesChannel, kind);
    }
  });

  it('an unknown sid is refused with ECA_BADCHID; the circuit goes on', () => {
    const v = checkRequest(one(m.readNotifyRequest(DbrType.LONG, 1, 4, 1)), 'open', new Table(), { maxChannels: 10 });
    assert.deepEqual([v?.by, v?.rule, v?.action, v?.eca], ['client', 'unknown-channel', 'refuse', Eca.BADCHID]);
  });

  it('a DBR type beyond 38 ends the circuit, for reads, writes and subscriptions', () => {
    const t = new Table();
    t.sids.add(1);
    for (const bytes of [
      m.readNotifyRequest(0xefef, 1, 1, 1),
      m.writeRequest(true, 0xefef, 1, 1, 1, Buffer.alloc(8)),
      m.eventAddRequest(39, 1, 1, 1, DBE_VALUE),
    ]) {
      const v = checkRequest(one(bytes), 'open', t, { maxChannels: 10 });
      assert.deepEqual([v?.rule, v?.action], ['invalid-dbr-type', 'close']);
    }
  });

  it('cancelling a subscription of another channel is ECA_BADMONID', () => {
    const t = new Table();
    t.sids.add(1).add(2);
    t.subs.set(41, 2);
    const v = checkRequest(one(m.eventCancelRequest(DbrType.LONG, 1, 1, 41)), 'open', t, { maxChannels: 10 });
    assert.deepEqual([v?.rule, v?.eca], ['unknown-subscription', Eca.BADMONID]);
    assert.equal(checkRequest(one(m.eventCancelRequest(DbrType.LONG, 1, 2, 41)), 'open', t, { maxChannels: 10 }), undefined);
  });

  it('the channel cap refuses CREATE_CHAN once reached', () => {
    const t = new Table();
    t.sids.add(1).add(2);
    const v = checkRequest(one(m.createChanRequest('x', 3)), 'open', t, { maxChannels: 2 });
    assert.deepEqual([v?.rule, v?.action], ['too-many-channels', 'refuse']);
  });

  it('nothing is taken once the circuit is closing', () => {
    const v = checkRequest(one(m.echoMessage()), 'closing', new Table(), { maxChannels: 2 });
    assert.deepEqual([v?.rule, v?.action], ['request-while-closing', 'ignore']);
  });
});

describe('CA circuit core', () => {
  it('moves from handshake to open with the first request, and keeps arrival order', () => {
    const core = new CircuitCore(new Table(), { maxPayload: 16448, maxChannels: 10 });
    assert.equal(core.state, 'handshake');
    const got = drain(core, Buffer.concat([m.clientVersion(), m.createChanRequest('a', 1), m.echoMessage()]));
    assert.deepEqual(got.map((x) => x.kind), ['version', 'createChannel', 'echo']);
    assert.equal(core.state, 'open');
  });

  it('a framing error is a client violation that closes, after the requests before it', () => {
    const core = new CircuitCore(new Table(), { maxPayload: 64, maxChannels: 10 });
    const huge = Buffer.alloc(24);
    huge.writeUInt16BE(Command.WRITE, 0);
    huge.writeUInt16BE(0xffff, 2);
    huge.writeUInt32BE(1 << 20, 16);
    const got = drain(core, Buffer.concat([m.clientVersion(), huge]));
    // RSRV's camessage carries out the requests of a buffer up to the bad header.
    assert.deepEqual(got.map((x) => x.kind), ['version', 'violation']);
    const last = got[got.length - 1];
    assert.ok(last.kind === 'violation' && last.violation.by === 'client' && last.violation.action === 'close');
    assert.equal(core.state, 'closing');
    assert.deepEqual(drain(core, m.echoMessage()), [], 'nothing after the close');
  });

  it('checks each request in its turn, so a channel created earlier in the chunk counts', () => {
    const t = new Table();
    const core = new CircuitCore(t, { maxPayload: 16448, maxChannels: 1 });
    const q = core.receive(Buffer.concat([m.createChanRequest('a', 1), m.createChanRequest('b', 2)]));
    const first = q.next();
    assert.ok(first?.kind === 'createChannel');
    t.sids.add(1); // the server opened the first channel
    const second = q.next();
    assert.ok(second?.kind === 'violation' && second.violation.rule === 'too-many-channels');
  });

  it('describes close reasons for the log', () => {
    assert.match(describeCloseReason({ kind: 'handshake-timeout', afterMs: 10000 }), /no request within 10000 ms/);
    assert.match(describeCloseReason({ kind: 'drain-timeout', afterMs: 50 }), /read nothing for 50 ms/);
    const v = checkRequest(one(m.readNotifyRequest(0xefef, 1, 1, 1)), 'open', Object.assign(new Table(), {}), { maxChannels: 1 });
    assert.ok(v);
    assert.match(describeCloseReason({ kind: 'violation', violation: v }), /the client broke the rule/);
    assert.equal(SEARCH_DO_REPLY, 10);
  });
});
