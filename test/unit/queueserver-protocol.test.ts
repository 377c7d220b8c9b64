/**
 * The queueserver bridge's pure parts: reply decoding, status readings,
 * console reassembly (at every split point), addresses from a unit's
 * environment, control requests, and the [[queueserver]] configuration.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { WriteError } from '../../src/ca/pv';
import { parseConfig } from '../../src/ioc/config';
import { buildServiceIoc } from '../../src/ioc/service-ioc';
import { memoryLogger } from '../../src/log';
import { controlAddressFromEnvironment } from '../../src/queueserver/address';
import { parseEnvironment } from '../../src/systemd/unit-environment';
import { controlRequest } from '../../src/queueserver/bridge';
import { ConsoleAssembler } from '../../src/queueserver/console';
import {
  EXIT_NONE, QsError, STATUS_READERS, UNKNOWN_STATE, decodeInfo, decodeReply, encodeMessage, encodeRequest, readAllowedCount, readLastExit,
  readLockInfo, readRunningPlan,
} from '../../src/queueserver/protocol';
import { decode as unpack, encode as pack } from '@msgpack/msgpack';
import { FakeSystemd } from '../helpers/fake-systemd';
import { idleStatus } from '../helpers/fake-re-manager';

const frame = (s: string | Buffer): Buffer[] => [Buffer.isBuffer(s) ? s : Buffer.from(s, 'utf8')];
const protocolError = (re: RegExp) => (e: unknown): boolean => e instanceof QsError && e.code === 'QS_ERR_PROTOCOL' && re.test(e.message);

describe('queueserver protocol', () => {
  it('encodes exactly {method, params}, with params {} when there are none', () => {
    assert.equal(encodeRequest('status').toString(), '{"method":"status","params":{}}');
    assert.deepEqual(JSON.parse(encodeRequest('queue_autostart', { enable: true }).toString()), { method: 'queue_autostart', params: { enable: true } });
    assert.throws(() => encodeRequest('queue_start', { user: 'op' }), /never sent/);
  });

  it('decodes a reply object and turns everything else into a typed protocol error', () => {
    assert.deepEqual(decodeReply(frame('{"success": true, "msg": ""}')), { success: true, msg: '' });
    assert.throws(() => decodeReply(frame(Buffer.from([0xff, 0xfe, 0x00]))), protocolError(/not UTF-8/));
    assert.throws(() => decodeReply(frame('{"x": NaN}')), protocolError(/NaN/));
    assert.throws(() => decodeReply(frame('{"x": -Infinity}')), protocolError(/NaN or Infinity/));
    assert.throws(() => decodeReply(frame('garbage')), protocolError(/not JSON/));
    assert.throws(() => decodeReply(frame('[1, 2]')), protocolError(/not a JSON object/));
    assert.throws(() => decodeReply(frame('null')), protocolError(/not a JSON object/));
    assert.throws(() => decodeReply([Buffer.from('{}'), Buffer.from('{}')]), protocolError(/2 frames/));
  });

  it('msgpack: the same {method, params} as one msgpack map, and replies decoded from msgpack maps', () => {
    assert.deepEqual(unpack(encodeRequest('queue_autostart', { enable: true }, 'msgpack')), { method: 'queue_autostart', params: { enable: true } });
    assert.deepEqual(unpack(encodeRequest('status', {}, 'msgpack')), { method: 'status', params: {} });
    // Python's msgpack packs float NaN as it is: a msgpack reply may carry it, a JSON one may not.
    const reply = decodeReply([Buffer.from(pack({ success: true, msg: '', items: [{ kwargs: { x: Number.NaN } }], blob: new Uint8Array([1, 2]) }))], 'msgpack');
    assert.equal(reply.success, true);
    assert.ok(Number.isNaN(((reply.items as Array<{ kwargs: { x: number } }>)[0]).kwargs.x));
    assert.throws(() => decodeReply([Buffer.from(pack([1, 2]))], 'msgpack'), protocolError(/not a msgpack map/));
    assert.throws(() => decodeReply([Buffer.from([0xc1])], 'msgpack'), protocolError(/not msgpack/));
    assert.throws(() => decodeReply(frame('{"success": true}'), 'msgpack'), protocolError(/reply is json, not msgpack: .* \(set encoding = "json"\)/));
    assert.throws(() => decodeReply([encodeMessage({ success: true }, 'msgpack')], 'json'), protocolError(/reply is msgpack, not json: .* \(set encoding = "msgpack"\)/));
    assert.deepEqual(decodeInfo([Buffer.from('QS_Console'), encodeMessage({ time: 1.5, msg: 'abc\n' }, 'msgpack')], 'msgpack'), { topic: 'QS_Console', text: 'abc\n' });
    assert.doesNotThrow(() => encodeRequest('plans_allowed', { user_group: 'primary' }), 'the lists take a user group');
    assert.throws(() => encodeRequest('queue_start', { user_group: 'primary' }), /never sent/);
  });

  it('msgpack: decode(encode(m)) is m, and arbitrary bytes give a dict or a QsError', () => {
    // -0 packs as the integer 0 (a status shows no negative zero).
    const value = fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null), fc.double({ noNaN: true }).filter((x) => !Object.is(x, -0)));
    const key = fc.string().filter((k) => k !== '__proto__');
    const dict = <T>(v: fc.Arbitrary<T>) => fc.dictionary(key, v, { noNullPrototype: true });
    fc.assert(fc.property(dict(fc.oneof(value, fc.array(value), dict(value))), (m) => {
      assert.deepEqual(decodeReply([encodeMessage(m, 'msgpack')], 'msgpack'), m);
    }));
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      try {
        const d = decodeReply([bytes], 'msgpack');
        return typeof d === 'object' && d !== null && !Array.isArray(d);
      } catch (err) {
        return err instanceof QsError && err.code === 'QS_ERR_PROTOCOL';
      }
    }));
  });

  it('lock_info and the allowed lists: user, note, time; counts of the dicts', () => {
    assert.deepEqual(readLockInfo({ success: true, lock_info: { environment: true, queue: false, user: 'op', note: null, time: 1.7e9, time_str: '' } }), {
      LockUser: { value: 'op' }, LockNote: { value: '' }, LockTime: { value: '2023-11-14T22:13:20Z' },
    });
    assert.match(String(readLockInfo({ success: true }).LockUser.fault), /missing "lock_info"/);
    assert.match(String(readLockInfo({ lock_info: { user: 3 } }).LockUser.fault), /lock_info\.user/);
    assert.deepEqual(readAllowedCount({ plans_allowed: { a: {}, b: {} } }, 'plans_allowed'), { value: 2 });
    assert.deepEqual(readAllowedCount({ devices_allowed: {} }, 'devices_allowed'), { value: 0 });
    assert.match(String(readAllowedCount({ devices_allowed: [1] }, 'devices_allowed').fault), /not a dict/);
  });

  it('arbitrary bytes give a dict or a QsError, nothing else', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      try {
        const d = decodeReply([bytes]);
        return typeof d === 'object' && d !== null && !Array.isArray(d);
      } catch (err) {
        return err instanceof QsError && err.code === 'QS_ERR_PROTOCOL';
      }
    }));
  });

  it('reads status fields; unknown states read as UNKNOWN_STATE, missing fields as faults', () => {
    const s = { ...idleStatus(), manager_state: 'executing_queue', re_state: 'running', running_item_uid: 'abc' };
    assert.deepEqual(STATUS_READERS.ManagerState(s), { value: 5 });
    assert.deepEqual(STATUS_READERS.REState(s), { value: 2 });
    assert.deepEqual(STATUS_READERS.REState({ re_state: null }), { value: 0 });
    assert.deepEqual(STATUS_READERS.Running(s), { value: 1 });
    assert.deepEqual(STATUS_READERS.Running({ running_item_uid: null }), { value: 0 });
    assert.deepEqual(STATUS_READERS.LoopMode({ plan_queue_mode: { loop: true } }), { value: 1 });
    assert.deepEqual(STATUS_READERS.ManagerState({ manager_state: 'napping' }), { value: UNKNOWN_STATE });
    assert.match(STATUS_READERS.QueueLength({}).fault ?? '', /missing "items_in_queue"/);
    assert.match(STATUS_READERS.LockedQueue({ lock: {} }).fault ?? '', /missing "lock.queue"/);
    assert.match(STATUS_READERS.QueueLength({ items_in_queue: -1 }).fault ?? '', /not a count/);
    assert.match(STATUS_READERS.EnvExists({ worker_environment_exists: 'yes' }).fault ?? '', /not a bool/);
  });

  it('reads RunningPlan from queue_get and LastExitStatus from history_get', () => {
    assert.deepEqual(readRunningPlan({ running_item: {} }), { value: '' });
    assert.deepEqual(readRunningPlan({ running_item: { name: 'count', item_uid: 'x' } }), { value: 'count' });
    assert.match(readRunningPlan({}).fault ?? '', /missing/);
    assert.deepEqual(readLastExit({ items: [] }), { value: EXIT_NONE });
    assert.deepEqual(readLastExit({ items: [{ result: { exit_status: 'completed' } }, { result: { exit_status: 'aborted' } }] }), { value: 3, raw: 'aborted' });
    assert.deepEqual(readLastExit({ items: [{ result: { exit_status: 'exploded' } }] }), { value: UNKNOWN_STATE, raw: 'exploded' });
    assert.match(readLastExit({ items: [{}] }).fault ?? '', /missing/);
  });

  it('decodes info messages', () => {
    assert.deepEqual(decodeInfo([Buffer.from('QS_Console'), Buffer.from('{"time": 1.5, "msg": "abc\\n"}')]), { topic: 'QS_Console', text: 'abc\n' });
    assert.deepEqual(decodeInfo([Buffer.from('QS_Info'), Buffer.from('{"time": 1.5, "msg": {"status": {"a": 1}}}')]), { topic: 'QS_Info', status: { a: 1 } });
    assert.throws(() => decodeInfo([Buffer.from('QS_Info'), Buffer.from('{"msg": 3}')]), QsError);
    assert.throws(() => decodeInfo([Buffer.from('QS_Info')]), QsError);
  });
});

describe('queueserver console reassembly', () => {
  const cases: Array<[string, string, string[]]> = [
    ['plain lines', 'one\ntwo\nthree', ['one', 'two']],
    ['a progress bar redrawn with \\r', 'load  10%\rload  50%\rload 100%\ndone\n', ['load 100%', 'done']],
    ['a shorter redraw keeps the tail, as a terminal does', 'abcdef\rxy\n', ['xycdef']],
    ['\\r\\n line ends', 'a\r\nb\r\n', ['a', 'b']],
    ['ESC[A rewrites the line above', 'bar1 0%\nbar2 0%\n\x1b[A\x1b[Abar1 9%\n\n', ['bar1 0%', 'bar2 0%', 'bar1 9%', 'bar2 0%']],
    ['colours and other sequences are dropped', '\x1b[31mred\x1b[0m text\n', ['red text']],
    ['ESC[K erases to the end of the line', 'abcdef\r\x1b[Kxy\n', ['xy']],
    ['bells and backspaces are dropped', 'a\x07b\x08c\n', ['abc']],
  ];
  for (const [what, input, lines] of cases) {
    it(`${what}, whole and split at every point`, () => {
      assert.deepEqual(new ConsoleAssembler().feed(input), lines);
      for (let i = 0; i <= input.length; i++) {
        const a = new ConsoleAssembler();
        assert.deepEqual([...a.feed(input.slice(0, i)), ...a.feed(input.slice(i))], lines, `split at ${i}`);
      }
      const a = new ConsoleAssembler();
      assert.deepEqual([...input].flatMap((c) => a.feed(c)), lines, 'character by character');
    });
  }

  it('any input and any split give the same lines, without control characters', () => {
    const alphabet = fc.constantFrom('a', 'b', ' ', '\n', '\r', '\x1b', '[', 'A', 'K', '2', ';', 'm', '\x07');
    fc.assert(fc.property(fc.array(alphabet, { maxLength: 60 }).map((a) => a.join('')), fc.nat(), (input, at) => {
      const whole = new ConsoleAssembler().feed(input);
      const cut = at % (input.length + 1);
      const a = new ConsoleAssembler();
      const split = [...a.feed(input.slice(0, cut)), ...a.feed(input.slice(cut))];
      assert.deepEqual(split, whole);
      // eslint-disable-next-line no-control-regex
      for (const line of whole) assert.doesNotMatch(line, /[\x00-\x1f]/);
    }));
  });

  it('keeps lines and the screen bounded', () => {
    const a = new ConsoleAssembler({ maxLines: 3, maxLineLength: 10 });
    assert.deepEqual(a.feed('x'.repeat(100) + '\n'), ['x'.repeat(10)]);
    a.feed('1\n2\n3\n4\n5\n');
    // Five lines up from the bottom of a three-line screen lands on its top line.
    assert.deepEqual(a.feed('\x1b[5Atop\n'), ['top']);
  });
});

describe('queueserver addresses from a unit', () => {
  it('prefers the manager setting, with * as localhost, then the client setting', () => {
    const env = (lines: string[]): Map<string, string> => parseEnvironment(lines);
    assert.equal(controlAddressFromEnvironment(env(['QSERVER_ZMQ_CONTROL_ADDRESS_FOR_SERVER=tcp://*:60616', 'QSERVER_ZMQ_CONTROL_ADDRESS=tcp://x:1'])), 'tcp://localhost:60616');
    assert.equal(controlAddressFromEnvironment(env(['QSERVER_ZMQ_CONTROL_ADDRESS=tcp://host:60617'])), 'tcp://host:60617');
    assert.equal(controlAddressFromEnvironment(env(['OTHER=1'])), undefined);
  });

  it('reads environment files as systemd does: comments, quotes, later lines win', () => {
    const env = parseEnvironment(['# comment', '', 'A=1', 'B="two words"', "C='x'", 'A=3', 'not an assignment']);
    assert.deepEqual([...env], [['A', '3'], ['B', 'two words'], ['C', 'x']]);
  });
});

describe('queueserver control requests', () => {
  it('maps each control PV to its method and params', () => {
    assert.deepEqual(controlRequest('QueueStart', 1), { method: 'queue_start', params: {} });
    assert.equal(controlRequest('QueueStart', 0), undefined, 'a button written 0 sends nothing');
    assert.deepEqual(controlRequest('REPause', 1), { method: 're_pause', params: { option: 'deferred' } });
    assert.deepEqual(controlRequest('REPause', 2), { method: 're_pause', params: { option: 'immediate' } });
    assert.equal(controlRequest('REPause', 0), undefined);
    assert.throws(() => controlRequest('REPause', 3), WriteError);
    assert.deepEqual(controlRequest('AutostartSet', 1), { method: 'queue_autostart', params: { enable: true } });
    assert.deepEqual(controlRequest('AutostartSet', 0), { method: 'queue_autostart', params: { enable: false } });
    assert.deepEqual(controlRequest('EnvDestroy', 1), { method: 'environment_destroy', params: {} });
  });
});

describe('queueserver configuration', () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qs-config-'));
    fs.writeFileSync(path.join(dir, 'lock.key'), 'sesame\n');
    fs.writeFileSync(path.join(dir, 'empty.key'), '\n');
    fs.writeFileSync(path.join(dir, 'server.key'), '#   ****  Generated on ...\nmetadata\ncurve\n    public-key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"\n');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = (): string => path.join(dir, 'ioc.toml');
  const base = '[ioc]\nprefix = "bl:"\n\n[[unit]]\nname = "queueserver.service"\npv = "qsunit"\n\n';

  it('reads managers with their defaults', () => {
    const c = parseConfig(`${base}[[queueserver]]\npv = "qs"\n\n[[queueserver]]\npv = "qs2"\nunit = "queueserver@b.service"\ncontrol_addr = "tcp://localhost:60616"\ninfo_addr = "tcp://localhost:60626"\npublic_key_file = "server.key"\nlock_key_file = "lock.key"\npoll_period = 0.5\ntimeout = 3\ncontrol = false\n`, file());
    const [a, b] = c.queueservers;
    assert.deepEqual({ ...a, lockKey: undefined }, { pv: 'qs', unit: undefined, controlAddr: undefined, infoAddr: undefined, publicKey: undefined, lockKey: undefined, encoding: undefined, userGroup: 'primary', redis: undefined, pollPeriod: 1, timeout: 2, control: true, line: 8 });
    assert.equal(b.controlAddr, 'tcp://localhost:60616');
    assert.equal(b.infoAddr, 'tcp://localhost:60626');
    assert.equal(b.unit, 'queueserver@b.service');
    assert.equal(b.publicKey, 'rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7');
    assert.equal(b.lockKey?.reveal(), 'sesame');
    assert.equal([b.pollPeriod, b.timeout, b.control].join(), '0.5,3,false');
    assert.ok(!JSON.stringify(c).includes('sesame') && !inspect(c, { depth: 9 }).includes('sesame'), 'the lock key never prints');
  });

  const bad: Array<[string, string, RegExp]> = [
    ['an unknown key', '[[queueserver]]\npv = "qs"\npoll = 1\n', /^.*ioc\.toml:10: \[\[queueserver\]\] #1: unknown key "poll"; expected one of pv, unit/],
    ['a missing pv', '[[queueserver]]\nunit = "qs.service"\n', /ioc\.toml:8: \[\[queueserver\]\] #1: missing key "pv"$/],
    ['a bad poll period', '[[queueserver]]\npv = "qs"\npoll_period = 0\n', /ioc\.toml:10: .*key "poll_period" must be a positive number of seconds/],
    ['a timeout that is text', '[[queueserver]]\npv = "qs"\ntimeout = "2"\n', /ioc\.toml:10: .*key "timeout" must be a positive number/],
    ['a bad address', '[[queueserver]]\npv = "qs"\ncontrol_addr = "localhost:60615"\n', /ioc\.toml:10: .*key "control_addr": "localhost:60615" is not a 0MQ address/],
    ['a bind address', '[[queueserver]]\npv = "qs"\ninfo_addr = "tcp://*:60625"\n', /ioc\.toml:10: .*key "info_addr"/],
    ['a port out of range', '[[queueserver]]\npv = "qs"\ncontrol_addr = "tcp://localhost:70000"\n', /ioc\.toml:10: .*port 70000 is outside/],
    ['a short public key', '[[queueserver]]\npv = "qs"\npublic_key = "abc"\n', /ioc\.toml:10: .*key "public_key" must hold a CurveZMQ public key/],
    ['both key forms', '[[queueserver]]\npv = "qs"\npublic_key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"\npublic_key_file = "server.key"\n', /ioc\.toml:11: .*not both/],
    ['a missing lock key file', '[[queueserver]]\npv = "qs"\nlock_key_file = "nope.key"\n', /ioc\.toml:10: .*key "lock_key_file": cannot read .*nope\.key: no such file or directory$/],
    ['an empty lock key file', '[[queueserver]]\npv = "qs"\nlock_key_file = "empty.key"\n', /ioc\.toml:10: .*the file is empty/],
    ['an unknown encoding', '[[queueserver]]\npv = "qs"\nencoding = "msgpak"\n', /ioc\.toml:10: .*key "encoding" must be "json" or "msgpack" \(the manager's --zmq-encoding\), not "msgpak"/],
    ['a redis no [[redis]] has', '[[queueserver]]\npv = "qs"\nredis = "qsredis"\n', /ioc\.toml:10: \[\[queueserver\]\] #1: key "redis": no \[\[redis\]\] has pv = "qsredis"$/],
    ['a duplicate pv', '[[queueserver]]\npv = "qs"\n[[queueserver]]\npv = "qs"\n', /ioc\.toml:11: \[\[queueserver\]\] #2: key "pv": "qs" is already used by the \[\[queueserver\]\] on line 9/],
    ['a unit\'s pv', '[[queueserver]]\npv = "qsunit"\n', /ioc\.toml:9: .*"qsunit" is already used by the \[\[unit\]\] on line 6/],
    ['a pv too long for DESC', '[[queueserver]]\npv = "abcdefghijklmnopqrstuvwxyz1"\n', /ioc\.toml:9: .*longer than 26/],
    ['a bad unit name', '[[queueserver]]\npv = "qs"\nunit = "qs"\n', /ioc\.toml:10: .*key "unit": "qs" is not a unit name/],
    ['control that is text', '[[queueserver]]\npv = "qs"\ncontrol = "yes"\n', /ioc\.toml:10: .*key "control" must be true or false/],
    ['the same address twice', '[[queueserver]]\npv = "a"\ncontrol_addr = "tcp://h:1"\n[[queueserver]]\npv = "b"\ncontrol_addr = "tcp://h:1"\n', /ioc\.toml:13: .*tcp:\/\/h:1 is already watched \(line 10\)/],
    ['a table instead of tables', '[queueserver]\npv = "qs"\n', /ioc\.toml:8: RE Managers are given as \[\[queueserver\]\] tables/],
  ];
  for (const [what, text, re] of bad) {
    it(`stops on ${what}, naming the line and the key`, () => {
      assert.throws(() => parseConfig(base + text, file()), (e: unknown) => re.test((e as Error).message) || assert.fail((e as Error).message));
    });
  }

  it('never shows the lock key in an error', () => {
    fs.writeFileSync(path.join(dir, 'lock2.key'), 'hunter2');
    try {
      parseConfig(`${base}[[queueserver]]\npv = "qs"\nlock_key_file = "lock2.key"\npoll_period = -1\n`, file());
      assert.fail('accepted');
    } catch (e) {
      assert.doesNotMatch((e as Error).message, /hunter2/);
    }
  });

  it('builds the templates for the longest pv: every DESC fits, every record bound', () => {
    const pv = 'abcdefghijklmnopqrstuvwxyz';
    const c = parseConfig(`[ioc]\nprefix = "bl:"\n[[queueserver]]\npv = "${pv}"\n`, file());
    const fake = new FakeSystemd();
    const ioc = buildServiceIoc(c, memoryLogger(), Object.assign(fake, { start: () => fake.up() }));
    const names = ioc.database.recordNames().filter((n) => n.startsWith(`bl:${pv}:`));
    assert.equal(names.length, 21 + 2 + 12 + 7, 'status, command status, controls, lock and lists, problem and what it depends on');
    for (const n of names) {
      const r = ioc.database.record(n)!;
      assert.equal(r.field('ASG'), r.kind === 'output' ? 'SERVICE_CONTROL' : 'SERVICE_STATUS', n);
      assert.ok(String(r.field('DESC')).startsWith(pv), n);
    }
    ioc.database.stop();
  });
});
