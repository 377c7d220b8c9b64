/**
 * Message framing, search answers and beacons: pure functions and injected clocks.
 */
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { MessageFramer, splitDatagram } from '../../src/ca/protocol/framer';
import { encodeMessage, readHeader, type Message } from '../../src/ca/protocol/header';
import { CaProtocolError } from '../../src/ca/protocol/errors';
import { Command, DBE_VALUE, DbrType } from '../../src/ca/protocol/constants';
import * as m from '../../src/ca/protocol/messages';
import { MAX_UDP_REPLY, packSearchReplies, scanSearchDatagram, servedCids } from '../../src/ca/server/search';
import { NameTable } from '../../src/ca/server/name-table';
import { MessageWriter } from '../../src/ca/protocol/writer';
import { encodeDbr, encodeDbrInto, paddedSize, dbrPayloadSize } from '../../src/ca/protocol/dbr';
import { BeaconEmitter } from '../../src/ca/server/beacon';
import { FakeScheduler } from '../helpers/fake-scheduler';
import { ConfigError, parseAddrList, serverConfigFromEnv } from '../../src/ca/server/config';

const fixtures: Buffer[] = [
  m.clientVersion(0, 13),
  m.createChanRequest('ioc:some:pv.VAL', 77),
  m.eventAddRequest(DbrType.TIME_DOUBLE, 0, 3, 9, DBE_VALUE),
  // an extended header: payload of 0x10000 bytes
  encodeMessage({ command: Command.WRITE, payloadSize: 0, dataType: DbrType.CHAR, dataCount: 0x10000, parameter1: 1, parameter2: 2 }, Buffer.alloc(0x10000, 7)),
  m.echoMessage(),
];
const stream = Buffer.concat(fixtures);

const EXAMPLE_SOURCE = {
  nativeType: DbrType.DOUBLE as const, value: [2.5], status: 3, severity: 1, timestamp: { secPastEpoch: 1000, nsec: 5 },
  metadata: {
    units: 'mm', precision: 3, upperDisplayLimit: 10, lowerDisplayLimit: -10, upperAlarmLimit: 9, upperWarningLimit: 8,
    lowerWarningLimit: -8, lowerAlarmLimit: -9, upperControlLimit: 10, lowerControlLimit: -10, enumStrings: [],
  },
  ackt: 0, acks: 0, className: 'ao',
};

function strip(msgs: Message[]): string[] {
  return msgs.map((x) => `${x.command}/${x.dataType}/${x.dataCount}/${x.parameter1}/${x.parameter2}/${x.payload.toString('hex').length}/${x.payload.subarray(0, 32).toString('hex')}`);
}

describe('MessageFramer', () => {
  const opts = { maxPayload: 1 << 20, requireAlignment: true };
  const whole = strip(new MessageFramer(opts).push(stream));

  it('decodes the fixtures given whole', () => {
    assert.equal(whole.length, fixtures.length);
    const ext = new MessageFramer(opts).push(fixtures[3])[0];
    assert.equal(ext.payloadSize, 0x10000);
    assert.equal(ext.dataCount, 0x10000);
  });

  it('decodes them byte by byte', () => {
    const f = new MessageFramer(opts);
    const got: Message[] = [];
    for (let i = 0; i < stream.length; i++) got.push(...f.push(stream.subarray(i, i + 1)));
    assert.deepEqual(strip(got), whole);
    assert.equal(f.pendingBytes, 0);
  });

  it('decodes them split at every point', () => {
    // Every split of the small messages, and a sample of splits inside the large one.
    const small = Buffer.concat([fixtures[0], fixtures[1], fixtures[2], fixtures[4]]);
    const expected = strip(new MessageFramer(opts).push(small));
    for (let cut = 0; cut <= small.length; cut++) {
      const f = new MessageFramer(opts);
      const got = [...f.push(small.subarray(0, cut)), ...f.push(small.subarray(cut))];
      assert.deepEqual(strip(got), expected, `split at ${cut}`);
    }
    for (let cut = 0; cut <= stream.length; cut += 997) {
      const f = new MessageFramer(opts);
      assert.deepEqual(strip([...f.push(stream.subarray(0, cut)), ...f.push(stream.subarray(cut))]), whole, `split at ${cut}`);
    }
  });

  it('decodes any chunking (property)', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: 4000 }), { maxLength: 40 }), (sizes) => {
      const f = new MessageFramer(opts);
      const got: Message[] = [];
      let at = 0;
      for (const n of sizes) {
        got.push(...f.push(stream.subarray(at, at + n)));
        at += n;
      }
      got.push(...f.push(stream.subarray(at)));
      assert.deepEqual(strip(got), whole);
    }), { numRuns: 200 });
  });

  it('refuses a misaligned TCP payload and an oversized one before buffering it', () => {
    const bad = Buffer.alloc(16);
    bad.writeUInt16BE(Command.CREATE_CHAN, 0);
    bad.writeUInt16BE(5, 2);
    assert.throws(() => new MessageFramer(opts).push(bad), (e: unknown) => e instanceof CaProtocolError && e.code === 'CA_ERR_MISALIGNED');
    const big = Buffer.alloc(24);
    big.writeUInt16BE(0xffff, 2);
    big.writeUInt32BE(2 << 20, 16);
    assert.throws(() => new MessageFramer(opts).push(big), (e: unknown) => e instanceof CaProtocolError && e.code === 'CA_ERR_TOO_LARGE');
  });

  it('next() hands out one message at a time, waits for the rest of a split one, and throws only at a bad header', () => {
    const f = new MessageFramer(opts);
    const bad = Buffer.alloc(16);
    bad.writeUInt16BE(Command.CREATE_CHAN, 0);
    bad.writeUInt16BE(5, 2);
    const echo = m.echoMessage();
    f.append(Buffer.concat([fixtures[0], fixtures[1].subarray(0, 20)]));
    assert.equal(f.next()?.command, Command.VERSION);
    assert.equal(f.next(), undefined, 'the CREATE_CHAN is not all there');
    f.append(Buffer.concat([fixtures[1].subarray(20), echo, bad]));
    assert.deepEqual([f.next()?.command, f.next()?.command], [Command.CREATE_CHAN, Command.ECHO]);
    assert.throws(() => f.next(), (e: unknown) => e instanceof CaProtocolError && e.code === 'CA_ERR_MISALIGNED');
  });

  it('arbitrary bytes yield messages or typed protocol errors only', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      try {
        new MessageFramer({ maxPayload: 16384, requireAlignment: true }).push(Buffer.from(bytes));
      } catch (e) {
        assert.ok(e instanceof CaProtocolError, String(e));
      }
      try {
        splitDatagram(Buffer.from(bytes), () => undefined);
      } catch (e) {
        assert.ok(e instanceof CaProtocolError, String(e));
      }
    }), { numRuns: 500 });
  });

  it('header encode and decode round-trip (property)', () => {
    fc.assert(fc.property(
      fc.record({
        command: fc.integer({ min: 0, max: 0xffff }), dataType: fc.integer({ min: 0, max: 0xffff }),
        dataCount: fc.integer({ min: 0, max: 0x1_0000_0 }), parameter1: fc.nat(), parameter2: fc.nat(),
        size: fc.integer({ min: 0, max: 300 }),
      }),
      (h) => {
        const payload = Buffer.alloc(h.size * 8, 1);
        const buf = encodeMessage({ ...h, payloadSize: payload.length }, payload);
        const back = readHeader(buf, 0)!;
        assert.deepEqual(
          [back.command, back.dataType, back.dataCount, back.parameter1, back.parameter2, back.payloadSize],
          [h.command, h.dataType, h.dataCount, h.parameter1 >>> 0, h.parameter2 >>> 0, payload.length],
        );
      },
    ));
  });
});

describe('MessageWriter', () => {
  const header = fc.record({
    command: fc.integer({ min: 0, max: 0xffff }), dataType: fc.integer({ min: 0, max: 0xffff }),
    dataCount: fc.integer({ min: 0, max: 0x1_0000_0 }), parameter1: fc.nat(), parameter2: fc.nat(),
    size: fc.integer({ min: 0, max: 40 }).map((n) => n * 8),
  });

  it('writes the same bytes as encodeMessage, standard and extended headers, across buffer growth', () => {
    fc.assert(fc.property(fc.array(header, { minLength: 1, maxLength: 400 }), (hs) => {
      const w = new MessageWriter();
      const expected: Buffer[] = [];
      for (const h of hs) {
        const payload = Buffer.alloc(h.size, h.size & 0xff);
        w.message(h.command, h.dataType, h.dataCount, h.parameter1, h.parameter2, payload);
        expected.push(encodeMessage({ ...h, payloadSize: h.size }, payload));
      }
      assert.deepEqual(w.take(), Buffer.concat(expected));
      assert.equal(w.take(), undefined, 'nothing is handed out twice');
    }));
  });

  it('gives a DBR payload zeroed space in place, and takes it back on rewind', () => {
    const src = { ...EXAMPLE_SOURCE };
    const w = new MessageWriter();
    w.message(Command.ECHO, 0, 0, 0, 0);
    const mark = w.length;
    const size = paddedSize(dbrPayloadSize(DbrType.CTRL_DOUBLE, 1));
    const at = w.messageSpace(Command.READ_NOTIFY, DbrType.CTRL_DOUBLE, 1, 1, 7, size);
    encodeDbrInto(w.buffer, at, DbrType.CTRL_DOUBLE, 1, src);
    const out = w.take()!;
    assert.deepEqual(out.subarray(mark + 16), encodeDbr(DbrType.CTRL_DOUBLE, 1, src));
    w.message(Command.ECHO, 0, 0, 0, 0);
    const before = w.length;
    w.messageSpace(Command.READ_NOTIFY, DbrType.DOUBLE, 1, 1, 8, 8);
    w.rewind(before);
    assert.deepEqual(w.take(), m.echoMessage());
  });
});

/** The whole answer to a datagram, as the search thread gives it, when one `serves` check decides every name. */
function answerSearchDatagram(data: Buffer, serves: (name: string) => boolean, tcpPort: number): { replies: Buffer[]; searched: number; found: number; error?: string } {
  const scan = scanSearchDatagram(data);
  const cids = servedCids(scan, scan.askNames.map(serves));
  return { replies: packSearchReplies(cids, scan.sequence, tcpPort), searched: scan.searched, found: cids.length, error: scan.error };
}

describe('UDP search answers', () => {
  const serves = (name: string): boolean => name.startsWith('yes:');
  const datagram = (names: string[], seq = 4242): Buffer => {
    const version = encodeMessage({ command: Command.VERSION, payloadSize: 0, dataType: 0, dataCount: 13, parameter1: seq, parameter2: 0 });
    return Buffer.concat([version, ...names.map((n, i) => m.searchRequest(n, 100 + i, true))]);
  };

  it('answers served names only, after a VERSION echoing the sequence number', () => {
    const out = answerSearchDatagram(datagram(['yes:a', 'no:b', 'yes:c']), serves, 5099);
    assert.equal(out.searched, 3);
    assert.equal(out.replies.length, 1);
    const msgs: Message[] = [];
    splitDatagram(out.replies[0], (x) => msgs.push(x));
    assert.equal(msgs[0].command, Command.VERSION);
    assert.deepEqual([msgs[0].dataType, msgs[0].parameter1], [1, 4242]);
    assert.deepEqual(msgs.slice(1).map((x) => [x.command, x.dataType, x.payloadSize, x.parameter1, x.parameter2]),
      [[Command.SEARCH, 5099, 8, 0xffffffff, 100], [Command.SEARCH, 5099, 8, 0xffffffff, 102]]);
    assert.equal(msgs[1].payload.readUInt16BE(0), 13);
  });

  it('reads names as UTF-8, ASCII or not, and a client without sequence numbers gets a plain VERSION', () => {
    const asked: string[] = [];
    const version = encodeMessage({ command: Command.VERSION, payloadSize: 0, dataType: 0, dataCount: 10, parameter1: 0, parameter2: 0 });
    const d = Buffer.concat([version, m.searchRequest('yes:temp', 1, true), m.searchRequest('yes:Temperatur°C', 2, true)]);
    const out = answerSearchDatagram(d, (n) => asked.push(n) > 0, 5099);
    assert.deepEqual(asked, ['yes:temp', 'yes:Temperatur°C']);
    const msgs: Message[] = [];
    splitDatagram(out.replies[0], (x) => msgs.push(x));
    assert.deepEqual([msgs[0].command, msgs[0].dataType, msgs[0].parameter1], [Command.VERSION, 0, 0]);
    assert.deepEqual(msgs.slice(1).map((x) => x.parameter2), [1, 2]);
  });

  it('never answers NOT_FOUND, even when asked to reply', () => {
    const out = answerSearchDatagram(datagram(['no:1', 'no:2']), serves, 5099);
    assert.equal(out.replies.length, 0);
  });

  it('splits many answers into datagrams of at most 1024 bytes', () => {
    const names = Array.from({ length: 100 }, (_, i) => `yes:${i}`);
    const out = answerSearchDatagram(datagram(names), serves, 5099);
    let replies = 0;
    for (const d of out.replies) {
      assert.ok(d.length <= MAX_UDP_REPLY, `datagram of ${d.length} bytes`);
      const msgs: Message[] = [];
      splitDatagram(d, (x) => msgs.push(x));
      assert.equal(msgs[0].command, Command.VERSION);
      replies += msgs.length - 1;
    }
    assert.equal(replies, 100);
  });

  it('recognises the names of a table by their bytes and decodes only the others, in order', () => {
    const table = NameTable.fromNames(['yes:a', 'yes:Temperatur°C']);
    const out = scanSearchDatagram(datagram(['yes:a', 'other', 'yes:Temperatur°C', 'yes:a.DESC']), (b, s0, e) => table.has(b, s0, e));
    assert.deepEqual([out.cids, out.known], [[100, 101, 102, 103], [true, false, true, false]]);
    assert.deepEqual(out.askNames, ['other', 'yes:a.DESC']);
    assert.deepEqual(servedCids(out, [false, true]), [100, 102, 103], 'answers keep the datagram\'s order');
    assert.equal(out.searched, 4);
    assert.equal(out.sequence, 4242);
  });

  it('answers the valid searches before a truncated one', () => {
    const d = datagram(['yes:a', 'yes:b']);
    const out = answerSearchDatagram(d.subarray(0, d.length - 4), serves, 5099);
    assert.equal(out.found, 1);
    assert.match(out.error ?? '', /ends inside/);
  });
});

describe('Name table', () => {
  const bytes = (s: string): Buffer => Buffer.from(s, 'utf8');
  const has = (t: NameTable, name: string): boolean => {
    // Read in place from a larger buffer, as from a datagram.
    const b = Buffer.concat([bytes('xx'), bytes(name), Buffer.from([0, 7])]);
    return t.has(b, 2, 2 + bytes(name).length);
  };

  it('has exactly its names: not their prefixes, extensions or neighbours', () => {
    const names = Array.from({ length: 5000 }, (_, i) => `bench:ao${i}`);
    const t = NameTable.fromNames([...names, 'bench:ao1', 'Temperatur°C', '']);
    for (const n of names) assert.ok(has(t, n), n);
    assert.ok(has(t, 'Temperatur°C'));
    for (const n of ['bench:ao', 'bench:ao5000', 'bench:ao12345', 'bench:ao1.DESC', 'bench:a', '', 'Temperatur']) assert.ok(!has(t, n), n);
  });

  it('answers the same after a copy of its arrays (as another thread gets it)', () => {
    const p = NameTable.pack(['a', 'b:c', 'd']);
    const copy = NameTable.fromPacked({ bytes: Uint8Array.from(p.bytes), starts: Uint32Array.from(p.starts) });
    assert.deepEqual(['a', 'b:c', 'd', 'e', 'b'].map((n) => has(copy, n)), [true, true, true, false, false]);
  });

  it('agrees with a Set for any names (property)', () => {
    fc.assert(fc.property(fc.uniqueArray(fc.string({ minLength: 1, maxLength: 12 }), { maxLength: 60 }), fc.array(fc.string({ maxLength: 12 }), { maxLength: 30 }), (names, probes) => {
      const t = NameTable.fromNames(names);
      const set = new Set(names);
      for (const n of [...names, ...probes]) if (n !== '' && has(t, n) !== set.has(n)) return false;
      return true;
    }));
  });
});

describe('Beacons', () => {
  it('count up by exactly one and back off from 0.02 s to the period', () => {
    const sched = new FakeScheduler();
    const sent: Array<{ at: number; counter: number; port: number; to: string }> = [];
    const b = new BeaconEmitter({
      tcpPort: 5064, period: 1, scheduler: sched,
      destinations: [{ host: '127.0.0.1', port: 5065 }, { host: '10.1.255.255', port: 5065 }],
      send: (d, to) => sent.push({ at: sched.now, counter: d.readUInt32BE(8), port: d.readUInt16BE(6), to: to.host }),
    });
    b.start();
    sched.advanceTo(5000);
    b.stop();
    const first = sent.filter((s) => s.to === '127.0.0.1');
    assert.deepEqual(first.map((s) => s.counter), first.map((_, i) => i), 'counter +1 per round, from 0');
    assert.equal(first[0].at, 0, 'the first beacon goes out at start-up');
    const gaps = first.slice(1).map((s, i) => Math.round(s.at - first[i].at));
    assert.deepEqual(gaps.slice(0, 7), [20, 40, 80, 160, 320, 640, 1000]);
    assert.ok(gaps.slice(6).every((g) => g === 1000));
    assert.ok(sent.every((s) => s.port === 5064));
    assert.equal(sent.filter((s) => s.to === '10.1.255.255').length, first.length);
    const n = sent.length;
    sched.advanceTo(10000);
    assert.equal(sent.length, n, 'nothing after stop');
  });
});

describe('Server configuration from the environment', () => {
  it('prefers the CAS variables and falls back to the CA ones', () => {
    const c = serverConfigFromEnv({ EPICS_CA_SERVER_PORT: '6064', EPICS_CAS_SERVER_PORT: '7064', EPICS_CA_REPEATER_PORT: '6065', EPICS_CA_BEACON_PERIOD: '3' });
    assert.deepEqual([c.serverPort, c.beaconPort, c.beaconPeriod], [7064, 6065, 3]);
    const d = serverConfigFromEnv({});
    assert.deepEqual([d.serverPort, d.beaconPort, d.beaconPeriod, d.autoBeaconAddrList, d.maxArrayBytes], [5064, 5065, 15, true, 16384]);
  });

  it('reads address lists with optional ports, and NO for the automatic list', () => {
    const c = serverConfigFromEnv({ EPICS_CAS_BEACON_ADDR_LIST: '10.0.0.255 127.0.0.1:6000', EPICS_CAS_AUTO_BEACON_ADDR_LIST: 'NO', EPICS_CAS_BEACON_PORT: '5999', EPICS_CAS_INTF_ADDR_LIST: '127.0.0.1', EPICS_CAS_IGNORE_ADDR_LIST: '10.9.9.9' });
    assert.deepEqual(c.beaconAddrList, [{ host: '10.0.0.255', port: 5999 }, { host: '127.0.0.1', port: 6000 }]);
    assert.equal(c.autoBeaconAddrList, false);
    assert.deepEqual(c.interfaces, ['127.0.0.1']);
    assert.deepEqual(c.ignoreAddrs, ['10.9.9.9']);
  });

  it('names the variable in errors', () => {
    assert.throws(() => serverConfigFromEnv({ EPICS_CAS_SERVER_PORT: 'abc' }), (e: unknown) => e instanceof ConfigError && /EPICS_CAS_SERVER_PORT/.test(e.message));
    assert.throws(() => parseAddrList('a:b:c', 1, 'X'), /X: cannot parse/);
  });
});
