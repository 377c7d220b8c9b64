/**
 * The pvAccess codec against bytes real pvxs peers exchanged (test/fixtures/
 * pva-captures.ts): every capture framed whole, byte by byte and at every
 * split; each message decoded to what the tools showed; our normative types
 * and replies encoded byte for byte as QSRV sends them; fast-check round
 * trips for types, values, bitsets and messages; arbitrary bytes give only
 * typed protocol errors.
 */
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { PVA_CAPTURES } from '../fixtures/pva-captures';
import { BitSet } from '../../src/pva/protocol/bitset';
import { PvaProtocolError } from '../../src/pva/protocol/errors';
import { Command, PvaFramer, SubCommand, type Frame } from '../../src/pva/protocol/header';
import { arrayOf, layoutOf, readType, scalar, struct, structArray, TypeCode, TypeRegistry, union, unionArray, writeType, type FieldDesc, type TypeCache } from '../../src/pva/protocol/introspection';
import * as m from '../../src/pva/protocol/messages';
import { ntEnum, ntNumeric, ntString, ntStringList } from '../../src/pva/protocol/nt';
import { emptyStruct, getField, readPartial, readValue, writePartial, writeValue, type PvData, type PvStruct } from '../../src/pva/protocol/pvdata';
import { parseRequest, processOption, selectionMask } from '../../src/pva/protocol/pvrequest';
import { Reader, readStatus, StatusType, Writer, writeStatus } from '../../src/pva/protocol/wire';

const hex = (s: string): Buffer => Buffer.from(s, 'hex');

function stream(name: string, dir: 'c2s' | 's2c'): Buffer {
  return Buffer.concat(PVA_CAPTURES[name].chunks.filter((c) => c.dir === dir).map((c) => hex(c.hex)));
}

function frames(buf: Buffer): Frame[] {
  return new PvaFramer({ maxPayload: 1 << 20 }).push(buf);
}

const summary = (fs: Frame[]): string[] => fs.map((f) => `${f.command}/${f.flags}/${f.control}/${f.size}/${f.payload.toString('hex')}`);

/** The frames of one direction of a capture with a given command. */
function messagesOf(name: string, dir: 'c2s' | 's2c', command: Command): Frame[] {
  return frames(stream(name, dir)).filter((f) => !f.control && f.command === command);
}

describe('pvAccess framing of captured exchanges', () => {
  for (const [name, capture] of Object.entries(PVA_CAPTURES)) {
    for (const dir of ['c2s', 's2c'] as const) {
      const bytes = stream(name, dir);
      const whole = summary(frames(bytes));
      it(`${capture.command} (${dir}): whole, byte by byte and at every split`, () => {
        assert.ok(whole.length > 0);
        const f = new PvaFramer({ maxPayload: 1 << 20 });
        const got: Frame[] = [];
        for (let i = 0; i < bytes.length; i++) got.push(...f.push(bytes.subarray(i, i + 1)));
        assert.deepEqual(summary(got), whole);
        assert.equal(f.pendingBytes, 0);
        for (let cut = 0; cut <= bytes.length; cut++) {
          const g = new PvaFramer({ maxPayload: 1 << 20 });
          assert.deepEqual(summary([...g.push(bytes.subarray(0, cut)), ...g.push(bytes.subarray(cut))]), whole, `split at ${cut}`);
        }
      });
    }
  }

  it('joins segmented messages and checks the size before buffering', () => {
    const payload = Buffer.from('0102030405060708', 'hex');
    const seg = (flags: number, p: Buffer): Buffer => Buffer.concat([Buffer.from([0xca, 2, flags, Command.ECHO, p.length, 0, 0, 0]), p]);
    const joined = frames(Buffer.concat([seg(0x10, payload.subarray(0, 3)), seg(0x30, payload.subarray(3, 5)), seg(0x20, payload.subarray(5))]));
    assert.equal(joined.length, 1);
    assert.deepEqual(joined[0].payload, payload);
    assert.throws(() => new PvaFramer({ maxPayload: 100 }).push(Buffer.from([0xca, 2, 0, 2, 0xff, 0xff, 0, 0])), (e: unknown) => e instanceof PvaProtocolError && e.code === 'PVA_ERR_TOO_LARGE');
    assert.throws(() => frames(Buffer.from([0x11, 2, 0, 2, 0, 0, 0, 0])), (e: unknown) => e instanceof PvaProtocolError && e.code === 'PVA_ERR_BAD_MAGIC');
    assert.throws(() => frames(seg(0x20, payload)), (e: unknown) => e instanceof PvaProtocolError && e.code === 'PVA_ERR_BAD_SEGMENT');
  });
});

describe('pvAccess messages as pvxs sends them', () => {
  it('connection validation: the server offers anonymous and ca, the client answers ca with user and host', () => {
    const all = frames(stream('get', 's2c'));
    assert.equal(all[0].control, true);
    assert.equal(all[0].command, 2, 'SET_BYTE_ORDER first');
    const sv = m.decodeServerValidation(new Reader(all[1].payload, all[1].bigEndian));
    assert.deepEqual(sv, { bufferSize: 0x10000, registrySize: 0x7fff, authMethods: ['anonymous', 'ca'] });
    // Our encoding of the same is the same bytes.
    const ours = m.serverMessage(Command.CONNECTION_VALIDATION, false, (w) => m.encodeServerValidation(w, sv));
    assert.equal(ours.toString('hex'), hex(PVA_CAPTURES.get.chunks[0].hex).subarray(8).toString('hex'));
    assert.equal(m.setByteOrderMessage(false).toString('hex'), hex(PVA_CAPTURES.get.chunks[0].hex).subarray(0, 8).toString('hex'));

    const cv = messagesOf('get', 'c2s', Command.CONNECTION_VALIDATION)[0];
    const v = m.decodeClientValidation(new Reader(cv.payload, cv.bigEndian), new Map());
    assert.equal(v.authMethod, 'ca');
    assert.equal(getField(v.authValue as PvStruct, 'user'), '');
    assert.equal(getField(v.authValue as PvStruct, 'host'), '');
    const w = new Writer(false);
    m.encodeClientValidation(w, v);
    assert.deepEqual(w.take(), cv.payload);
    const validated = messagesOf('get', 's2c', Command.CONNECTION_VALIDATED)[0];
    assert.equal(readStatus(new Reader(validated.payload, false)).type, StatusType.OK);
  });

  it('search (big endian) and its reply', () => {
    const s = messagesOf('get', 'c2s', Command.SEARCH)[0];
    assert.equal(s.bigEndian, true);
    const req = m.decodeSearchRequest(new Reader(s.payload, true));
    assert.deepEqual(req.channels, [{ id: 0x12345678, name: 't:ai' }]);
    assert.deepEqual(req.protocols, ['tcp']);
    assert.equal(req.responseAddress, '0.0.0.0');
    const w = new Writer(true);
    m.encodeSearchRequest(w, req);
    assert.deepEqual(w.take(), s.payload);
    const r = messagesOf('get', 's2c', Command.SEARCH_RESPONSE)[0];
    const resp = m.decodeSearchResponse(new Reader(r.payload, r.bigEndian));
    assert.equal(resp.found, true);
    assert.deepEqual(resp.ids, [0x12345678]);
    assert.equal(resp.protocol, 'tcp');
    assert.equal(resp.sequence, req.sequence);
  });

  it('create channel and its reply', () => {
    const c = messagesOf('get', 'c2s', Command.CREATE_CHANNEL)[0];
    const req = m.decodeCreateChannelRequest(new Reader(c.payload, c.bigEndian));
    assert.deepEqual(req.channels, [{ cid: 0x12345678, name: 't:ai' }]);
    const w = new Writer(false);
    m.encodeCreateChannelRequest(w, req);
    assert.deepEqual(w.take(), c.payload);
    const r = messagesOf('get', 's2c', Command.CREATE_CHANNEL)[0];
    const resp = m.decodeCreateChannelResponse(new Reader(r.payload, false));
    assert.equal(resp.cid, 0x12345678);
    assert.equal(resp.status.type, StatusType.OK);
  });

  it('GET_FIELD: the type QSRV gives a longin is our NTScalar int32, byte for byte', () => {
    const r = messagesOf('info', 's2c', Command.GET_FIELD)[0];
    const reply = m.decodeGetFieldReply(new Reader(r.payload, false), new Map());
    assert.deepEqual(reply.type, ntNumeric(TypeCode.INT32, false));
    const w = new Writer(false);
    m.encodeGetFieldReply(w, reply);
    assert.deepEqual(w.take(), r.payload);
  });

  for (const [capture, desc, expect] of [
    ['get', ntNumeric(TypeCode.FLOAT64, false), { value: 3.5, 'display.units': 'degC', 'display.precision': 2, 'display.description': 'Temp', 'valueAlarm.highAlarmLimit': 50, 'alarm.message': 'UDF' }],
    ['wf', ntNumeric(TypeCode.FLOAT64, true), { value: Float64Array.from([1, 2, 3]), 'display.description': '', 'alarm.severity': 0 }],
    ['si', ntString(false), { value: 'abc def', 'display.description': '' }],
  ] as const) {
    it(`GET of ${PVA_CAPTURES[capture].command}: INIT reply type and the partial value decode to what pvxget shows`, () => {
      const replies = messagesOf(capture, 's2c', Command.GET);
      const init = m.decodeOpInitReply(new Reader(replies[0].payload, false), new Map(), true);
      assert.equal(init.subcmd, SubCommand.INIT);
      assert.deepEqual(init.type, desc);
      const data = m.decodeDataReply(new Reader(replies[1].payload, false), { withStatus: true, into: emptyStruct(desc), monitor: false, cache: new Map() });
      for (const [path, value] of Object.entries(expect)) assert.deepEqual(getField(data.value!, path), value, path);
      // Our encoder writes the same bytes for the same value and bitset.
      const w = new Writer(false);
      m.encodeDataReply(w, data);
      assert.deepEqual(w.take(), replies[1].payload);
    });
  }

  it('PUT of a double and of an enum index: bitset and value as pvxput sends them', () => {
    const put = messagesOf('put', 'c2s', Command.PUT);
    const exec = put.find((f) => f.payload[8] === 0)!;
    const r = new Reader(exec.payload, false);
    const head = m.decodeOpRequestHead(r);
    const value = emptyStruct(ntNumeric(TypeCode.FLOAT64, false));
    const changed = readPartial(r, value, new Map());
    assert.deepEqual(changed.toArray(), [1]);
    assert.equal(getField(value, 'value'), 42.5);
    const w = new Writer(false);
    m.encodePutExec(w, head, value, changed);
    assert.deepEqual(w.take(), exec.payload);

    const eput = messagesOf('enumput', 'c2s', Command.PUT).find((f) => f.payload[8] === 0)!;
    const er = new Reader(eput.payload, false);
    m.decodeOpRequestHead(er);
    const ev = emptyStruct(ntEnum());
    const ebits = readPartial(er, ev, new Map());
    assert.deepEqual(ebits.toArray(), [layoutOf(ntEnum()).byPath.get('value.index')]);
    assert.equal(getField(ev, 'value.index'), 1);
  });

  it('pipelined MONITOR: INIT with the window, start, updates with an overrun bitset, acks', () => {
    const c2s = messagesOf('mon', 'c2s', Command.MONITOR);
    const r0 = new Reader(c2s[0].payload, false);
    const head = m.decodeOpRequestHead(r0);
    assert.equal(head.subcmd, SubCommand.INIT | SubCommand.ACK);
    const init = m.decodeOpInitBody(r0, head, Command.MONITOR, new Map());
    assert.equal(init.nack, 4);
    const req = parseRequest(init.requestType, init.request);
    assert.equal(req.options.get('pipeline'), 'true');
    assert.equal(req.options.get('queueSize'), '4');
    assert.equal(c2s[1].payload[8], SubCommand.START_STOP | SubCommand.GET);
    const ack = new Reader(c2s[2].payload, false);
    assert.equal(m.decodeOpRequestHead(ack).subcmd, SubCommand.ACK);
    assert.equal(ack.u32(), 2);

    const s2c = messagesOf('mon', 's2c', Command.MONITOR);
    const desc = ntNumeric(TypeCode.FLOAT64, false);
    const values = s2c.slice(1).map((f) => m.decodeDataReply(new Reader(f.payload, false), { withStatus: false, into: emptyStruct(desc), monitor: true, cache: new Map() }));
    assert.deepEqual(values.map((d) => getField(d.value!, 'value')), [42.5, 7, 8]);
    for (const d of values) assert.ok(d.overrun?.isEmpty());
    // A later update carries only value and timeStamp.
    assert.deepEqual(values[1].changed!.toArray().filter((b) => b < 3), [1]);
  });

  it('RPC to the server channel (pvxlist): NTURI query op=channels, NTScalarArray of names', () => {
    const rpc = messagesOf('list', 'c2s', Command.RPC);
    const exec = new Reader(rpc[1].payload, false);
    m.decodeOpRequestHead(exec);
    const t = readType(exec, new Map());
    const args = readValue(exec, t!, new Map()) as PvStruct;
    assert.equal(getField(args, 'query.op'), 'channels');
    const reply = messagesOf('list', 's2c', Command.RPC)[1];
    const decoded = m.decodeRpcReply(new Reader(reply.payload, false), new Map());
    assert.deepEqual(decoded.type, ntStringList());
    assert.deepEqual(getField(decoded.value as PvStruct, 'value'), ['t:ai', 't:ao', 't:bo', 't:i64', 't:li', 't:lsi', 't:mbbi', 't:si', 't:wf', 't:wfc']);
    const w = new Writer(false);
    m.encodeRpcReply(w, decoded);
    assert.deepEqual(w.take(), reply.payload);
  });
});

describe('pvData types and values', () => {
  it('the type cache: 0xFD defines, 0xFE refers, an unknown id is a typed error', () => {
    const desc = ntEnum();
    const registry = new TypeRegistry();
    const w = new Writer(false);
    writeType(w, desc, registry);
    writeType(w, desc, registry);
    const bytes = w.take();
    assert.equal(bytes[0], 0xfd);
    const cache: TypeCache = new Map();
    const r = new Reader(bytes, false);
    assert.deepEqual(readType(r, cache), desc);
    const refAt = r.offset;
    assert.equal(bytes[refAt], 0xfe);
    assert.deepEqual(readType(r, cache), desc);
    assert.equal(r.remaining, 0);
    assert.throws(() => readType(new Reader(bytes.subarray(refAt), false), new Map()), (e: unknown) => e instanceof PvaProtocolError && e.code === 'PVA_ERR_BAD_CACHE');
  });

  it('sizes: one byte below 254, 0xFE and 32 bits above, 0xFF null', () => {
    for (const [n, len] of [[0, 1], [253, 1], [254, 5], [100000, 5]] as const) {
      const w = new Writer(true);
      w.size(n);
      assert.equal(w.offset, len);
      assert.equal(new Reader(w.take(), true).size(), n);
    }
    assert.equal(new Reader(Buffer.from([0xff]), false).size(), -1);
  });

  it('bitsets: whole words swapped in big endian, trailing zero bytes dropped', () => {
    const b = BitSet.of(0, 9, 63, 64, 70);
    for (const be of [false, true]) {
      const w = new Writer(be);
      b.write(w);
      const bytes = w.take();
      assert.equal(bytes[0], 9);
      assert.equal(bytes[be ? 8 : 1], 0x01, 'bit 0 in the first byte of the word in its byte order');
      assert.deepEqual(BitSet.read(new Reader(bytes, be)).toArray(), [0, 9, 63, 64, 70]);
    }
    const w = new Writer(false);
    new BitSet(100).write(w);
    assert.deepEqual(w.take(), Buffer.from([0]));
  });

  it('pvRequest: field selection gives a mask, record options are read, unknown fields are an error', () => {
    const layout = layoutOf(ntNumeric(TypeCode.FLOAT64, false));
    const mask = selectionMask(layout, ['value', 'alarm']);
    assert.ok(mask.get(0) && mask.get(1) && mask.get(layout.byPath.get('alarm.message')!));
    assert.ok(!mask.get(layout.byPath.get('timeStamp')!));
    assert.equal(selectionMask(layout, []).toArray().length, layout.nodes.length);
    assert.throws(() => selectionMask(layout, ['nonexist']), /Empty field selection/);
    assert.equal(processOption(new Map([['process', 'true']])), 'true');
    assert.equal(processOption(new Map()), 'passive');
    assert.deepEqual(processOption(new Map([['process', 'maybe']])), { invalid: 'maybe' });
  });

  it('status with and without message', () => {
    const w = new Writer(false);
    writeStatus(w, { type: StatusType.ERROR, message: 'no', callTree: '' });
    writeStatus(w, { type: StatusType.OK, message: '', callTree: '' });
    const r = new Reader(w.take(), false);
    assert.deepEqual(readStatus(r), { type: StatusType.ERROR, message: 'no', callTree: '' });
    assert.equal(readStatus(r).type, StatusType.OK);
    assert.throws(() => readStatus(new Reader(Buffer.from([7]), false)), PvaProtocolError);
  });
});

// ------------------------------------------------------------ property tests

const SCALARS = [TypeCode.BOOL, TypeCode.INT8, TypeCode.INT16, TypeCode.INT32, TypeCode.INT64, TypeCode.UINT8, TypeCode.UINT16, TypeCode.UINT32, TypeCode.UINT64, TypeCode.FLOAT32, TypeCode.FLOAT64, TypeCode.STRING];
const name = fc.stringMatching(/^[a-z][a-zA-Z0-9_]{0,8}$/);

function members(tie: (k: string) => fc.Arbitrary<FieldDesc>): fc.Arbitrary<Array<readonly [string, FieldDesc]>> {
  return fc.uniqueArray(fc.tuple(name, tie('field')), { maxLength: 4, selector: ([n]) => n }).map((a) => a.map(([n, d]) => [n, d] as const));
}

const descArb: fc.Arbitrary<FieldDesc> = fc.letrec<{ field: FieldDesc; struct: FieldDesc }>((tie) => ({
  field: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(...SCALARS).map((c) => scalar(c)),
    fc.constantFrom(...SCALARS).map((c) => arrayOf(c)),
    fc.constant(scalar(TypeCode.ANY)),
    tie('struct'),
    fc.tuple(fc.string({ maxLength: 6 }), members(tie as (k: string) => fc.Arbitrary<FieldDesc>)).map(([id, ms]) => union(id, ms)),
    tie('struct').map((s) => structArray(s)),
    fc.tuple(fc.string({ maxLength: 6 }), members(tie as (k: string) => fc.Arbitrary<FieldDesc>)).map(([id, ms]) => unionArray(union(id, ms))),
  ),
  struct: fc.tuple(fc.string({ maxLength: 6 }), members(tie as (k: string) => fc.Arbitrary<FieldDesc>)).map(([id, ms]) => struct(id, ms)),
})).struct;

function valueArb(desc: FieldDesc, depth = 0): fc.Arbitrary<PvData> {
  const arr = (desc.code & 0x08) !== 0;
  const base = desc.code & ~0x08;
  const scalarOf = (code: number): fc.Arbitrary<PvData> => {
    switch (code) {
      case TypeCode.BOOL: return fc.boolean();
      case TypeCode.INT8: return fc.integer({ min: -128, max: 127 });
      case TypeCode.UINT8: return fc.integer({ min: 0, max: 255 });
      case TypeCode.INT16: return fc.integer({ min: -32768, max: 32767 });
      case TypeCode.UINT16: return fc.integer({ min: 0, max: 65535 });
      case TypeCode.INT32: return fc.integer();
      case TypeCode.UINT32: return fc.nat({ max: 0xffffffff });
      case TypeCode.INT64: return fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
      case TypeCode.UINT64: return fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
      case TypeCode.FLOAT32: return fc.float({ noNaN: true }).map((f) => Math.fround(f));
      case TypeCode.FLOAT64: return fc.double({ noNaN: true });
      case TypeCode.STRING: return fc.string({ maxLength: 10, unit: 'grapheme' });
      default: return fc.constant(undefined);
    }
  };
  if (arr) {
    if (base === TypeCode.STRUCT) return fc.array(fc.option(valueArb(desc.element!, depth + 1), { nil: null }), { maxLength: 2 }) as fc.Arbitrary<PvData>;
    if (base === TypeCode.UNION) return fc.array(fc.option(valueArb(desc.element!, depth + 1), { nil: null }), { maxLength: 2 }) as fc.Arbitrary<PvData>;
    if (base === TypeCode.ANY) return fc.constant([]);
    const el = scalarOf(base);
    const typed: Record<number, (a: PvData[]) => PvData> = {
      [TypeCode.INT8]: (a) => Int8Array.from(a as number[]), [TypeCode.UINT8]: (a) => Uint8Array.from(a as number[]),
      [TypeCode.INT16]: (a) => Int16Array.from(a as number[]), [TypeCode.UINT16]: (a) => Uint16Array.from(a as number[]),
      [TypeCode.INT32]: (a) => Int32Array.from(a as number[]), [TypeCode.UINT32]: (a) => Uint32Array.from(a as number[]),
      [TypeCode.INT64]: (a) => BigInt64Array.from(a as bigint[]), [TypeCode.UINT64]: (a) => BigUint64Array.from(a as bigint[]),
      [TypeCode.FLOAT32]: (a) => Float32Array.from(a as number[]), [TypeCode.FLOAT64]: (a) => Float64Array.from(a as number[]),
    };
    return fc.array(el, { maxLength: 4 }).map((a) => (typed[base] ? typed[base](a) : (a as PvData)));
  }
  if (base === TypeCode.STRUCT) {
    const layout = layoutOf(desc);
    const slots = layout.nodes.map((n, i) => (i === 0 || n.desc.code === TypeCode.STRUCT ? fc.constant(undefined) : valueArb(n.desc, depth + 1)));
    return fc.tuple(...slots).map((values) => ({ layout, values }) as PvStruct);
  }
  if (base === TypeCode.UNION) {
    const ms = desc.members ?? [];
    if (ms.length === 0) return fc.constant({ selector: -1, value: undefined });
    return fc.oneof(fc.constant({ selector: -1, value: undefined }), fc.nat({ max: ms.length - 1 }).chain((i) => valueArb(ms[i].type, depth + 1).map((v) => ({ selector: i, value: v }))));
  }
  if (base === TypeCode.ANY) {
    return fc.oneof(fc.constant({ type: null, value: undefined }), fc.constant({ type: scalar(TypeCode.INT32), value: 5 }));
  }
  return scalarOf(base);
}

describe('pvData round trips (fast-check)', () => {
  it('readType(writeType(d)) equals d, with and without the cache, in both byte orders', () => {
    fc.assert(fc.property(descArb, fc.boolean(), fc.boolean(), (desc, be, cached) => {
      const w = new Writer(be);
      const registry = cached ? new TypeRegistry() : undefined;
      writeType(w, desc, registry);
      writeType(w, desc, registry);
      const r = new Reader(w.take(), be);
      const cache: TypeCache = new Map();
      assert.deepEqual(readType(r, cache), desc);
      assert.deepEqual(readType(r, cache), desc);
      assert.equal(r.remaining, 0);
    }), { numRuns: 300 });
  });

  it('readValue(writeValue(v)) equals v for any type', () => {
    fc.assert(fc.property(descArb.chain((d) => fc.tuple(fc.constant(d), valueArb(d), fc.boolean())), ([desc, value, be]) => {
      const w = new Writer(be);
      writeValue(w, desc, value);
      const r = new Reader(w.take(), be);
      const back = readValue(r, desc, new Map()) as PvStruct;
      assert.equal(r.remaining, 0);
      assert.deepEqual(back.values, (value as PvStruct).values);
    }), { numRuns: 300 });
  });

  it('partial values: the marked fields come back, the others stay as they were', () => {
    const desc = ntNumeric(TypeCode.FLOAT64, false);
    const layout = layoutOf(desc);
    fc.assert(fc.property(valueArb(desc), fc.uniqueArray(fc.nat({ max: layout.nodes.length - 1 })), fc.boolean(), (value, bits, be) => {
      const changed = BitSet.of(...bits);
      const w = new Writer(be);
      writePartial(w, value as PvStruct, changed);
      const into = emptyStruct(desc);
      const back = readPartial(new Reader(w.take(), be), into, new Map());
      assert.ok(back.equals(changed));
      const covered = new Set<number>();
      for (const b of bits) for (let i = b; i < b + layout.nodes[b].size; i++) covered.add(i);
      layout.nodes.forEach((n, i) => {
        if (n.desc.code === TypeCode.STRUCT) return;
        assert.deepEqual(into.values[i], covered.has(i) ? (value as PvStruct).values[i] : emptyStruct(desc).values[i], n.path);
      });
    }), { numRuns: 200 });
  });

  it('messages: search request and response, create channel, validation survive a round trip', () => {
    const ip = fc.tuple(fc.nat({ max: 255 }), fc.nat({ max: 255 }), fc.nat({ max: 255 }), fc.integer({ min: 1, max: 255 })).map((a) => a.join('.'));
    fc.assert(fc.property(
      fc.record({
        sequence: fc.nat({ max: 0xffffffff }), flags: fc.constantFrom(0, 1, 0x80, 0x81), responseAddress: ip, responsePort: fc.nat({ max: 65535 }),
        protocols: fc.array(fc.constantFrom('tcp', 'tls'), { maxLength: 2 }),
        channels: fc.array(fc.record({ id: fc.nat({ max: 0xffffffff }), name: fc.string({ minLength: 1, maxLength: 30 }) }), { maxLength: 5 }),
      }),
      fc.boolean(),
      (req, be) => {
        const w = new Writer(be);
        m.encodeSearchRequest(w, req);
        assert.deepEqual(m.decodeSearchRequest(new Reader(w.take(), be)), JSON.parse(JSON.stringify(req)));
        const resp = { guid: Buffer.alloc(12, 7), sequence: req.sequence, serverAddress: req.responseAddress, serverPort: req.responsePort, protocol: 'tcp', found: req.channels.length > 0, ids: req.channels.map((c) => c.id) };
        const w2 = new Writer(be);
        m.encodeSearchResponse(w2, resp);
        assert.deepEqual(m.decodeSearchResponse(new Reader(w2.take(), be)), resp);
        const cc = { channels: req.channels.map((c) => ({ cid: c.id, name: c.name })) };
        const w3 = new Writer(be);
        m.encodeCreateChannelRequest(w3, cc);
        assert.deepEqual(m.decodeCreateChannelRequest(new Reader(w3.take(), be)), JSON.parse(JSON.stringify(cc)));
      },
    ));
  });

  it('arbitrary bytes give values or typed protocol errors, never anything else', () => {
    const desc = ntNumeric(TypeCode.FLOAT64, true);
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (bytes, be) => {
      const buf = Buffer.from(bytes);
      for (const decode of [
        () => readType(new Reader(buf, be), new Map()),
        () => readValue(new Reader(buf, be), desc, new Map()),
        () => readPartial(new Reader(buf, be), emptyStruct(desc), new Map()),
        () => m.decodeSearchRequest(new Reader(buf, be)),
        () => m.decodeClientValidation(new Reader(buf, be), new Map()),
        () => new PvaFramer({ maxPayload: 1000 }).push(buf),
      ]) {
        try {
          decode();
        } catch (err) {
          if (!(err instanceof PvaProtocolError)) throw err;
        }
      }
    }), { numRuns: 500 });
  });
});
