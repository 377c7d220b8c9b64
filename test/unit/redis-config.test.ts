/**
 * [[redis]] tables and what is read from INFO and the queueserver's keys,
 * without a server: addresses as the queueserver writes them, errors that
 * name the line and the key, INFO fields, lock_info.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigFileError, parseConfig } from '../../src/ioc/config';
import { formatRedisAddress, parseRedisAddress, queueserverKey } from '../../src/redis/config';
import { parseInfo, readInfo, readLockInfo } from '../../src/redis/protocol';

describe('[[redis]] configuration', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'redis-config-'));
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  const parse = (body: string, extra = ''): ReturnType<typeof parseConfig> =>
    parseConfig(`[ioc]\nprefix = "bl:"\n${extra}\n[[redis]]\n${body}\n`, path.join(tmp, 'ioc.toml'));
  const fails = (body: string, re: RegExp, extra = ''): void => {
    assert.throws(() => parse(body, extra), (err: unknown) => {
      assert.ok(err instanceof ConfigFileError, String(err));
      assert.match(err.message, re);
      return true;
    });
  };

  it('addr is host[:port][/db] as the queueserver writes it; the defaults are the queueserver\'s', () => {
    assert.deepEqual(parseRedisAddress('localhost'), { host: 'localhost', port: 6379, db: 0 });
    assert.deepEqual(parseRedisAddress('redis.beamline:6380'), { host: 'redis.beamline', port: 6380, db: 0 });
    assert.deepEqual(parseRedisAddress('127.0.0.1:6379/3'), { host: '127.0.0.1', port: 6379, db: 3 });
    assert.deepEqual(parseRedisAddress('[::1]:6379'), { host: '::1', port: 6379, db: 0 });
    assert.equal(formatRedisAddress({ host: '::1', port: 6379, db: 2 }), '[::1]:6379/2');
    assert.match(String(parseRedisAddress('redis://localhost')), /not host\[:port\]\[\/db\]/);
    assert.match(String(parseRedisAddress('localhost:0')), /outside 1\.\.65535/);
    const [r] = parse('pv = "rdb"').redis;
    assert.deepEqual(r.addr, { host: 'localhost', port: 6379, db: 0 });
    assert.equal(r.namePrefix, 'qs_default');
    assert.equal(r.pollPeriod, 1);
    assert.equal(r.timeout, 2);
    assert.equal(r.password, undefined);
  });

  it('the queueserver\'s keys are <name_prefix>_<name>, or the name alone for an empty prefix', () => {
    assert.equal(queueserverKey('qs_default', 'plan_queue'), 'qs_default_plan_queue');
    assert.equal(queueserverKey('bl25', 'lock_info'), 'bl25_lock_info');
    assert.equal(queueserverKey('', 'plan_history'), 'plan_history');
  });

  it('reads the password from password_file (its first line) and never shows it', () => {
    fs.writeFileSync(path.join(tmp, 'pass'), 'hunter2\nsecond line\n');
    const [r] = parse('pv = "rdb"\npassword_file = "pass"').redis;
    assert.equal(r.password?.reveal(), 'hunter2');
    assert.equal(JSON.stringify(r).includes('hunter2'), false);
    assert.equal(String(r.password), '(secret)');
  });

  it('errors name the line and the key', () => {
    fails('pv = "rdb"\naddr = "redis://x"', /ioc\.toml:6: \[\[redis\]\] #1: key "addr": "redis:\/\/x" is not host\[:port\]\[\/db\]/);
    fails('pv = "rdb"\nadr = "x"', /ioc\.toml:6: \[\[redis\]\] #1: unknown key "adr"; expected one of pv, addr, unit/);
    fails('pv = "rdb"\ntimeout = 0', /:6: .*key "timeout" must be a positive number of seconds/);
    fails('pv = "rdb"\npoll_period = 2147484', /:6: .*key "poll_period" must be a positive number of seconds, at most 2147483\.647 .*not 2147484/);
    fails('pv = "rdb"\npassword_file = "missing"', /:6: .*key "password_file": cannot read .*missing: no such file or directory$/);
    fails('addr = "x"', /:4: \[\[redis\]\] #1: missing key "pv"/);
    fails('pv = "rdb"\nunit = "not a unit"', /key "unit": "not a unit" is not a unit name/);
    fails('pv = "qs"', /:7: .*key "pv": "qs" is already used by the \[\[queueserver\]\] on line 3/, '[[queueserver]]\npv = "qs"\n');
    fails('pv = "redis"', /key "pv": "redis" is already used by the \[\[unit\]\] on line 5/, '[[unit]]\nname = "redis.service"\npv = "redis"\n');
    fs.writeFileSync(path.join(tmp, 'empty'), '\n');
    fails('pv = "rdb"\npassword_file = "empty"', /key "password_file": .*empty is empty/);
    assert.throws(() => parseConfig('[ioc]\nprefix = "bl:"\n[[redis]]\npv = "a"\n[[redis]]\npv = "b"\n', path.join(tmp, 'x.toml')), /\[\[redis\]\] #2: key "addr": localhost:6379 is already watched \(line 3\)/);
  });
});

describe('redis INFO and the queueserver keys', () => {
  const info = [
    '# Server', 'redis_version:7.0.15', 'redis_mode:standalone', '',
    '# Clients', 'connected_clients:4', '',
    '# Memory', 'used_memory:2097152', 'used_memory_human:2.00M', '',
    '# Persistence', 'rdb_last_save_time:1700000000', 'rdb_last_bgsave_status:ok', 'aof_enabled:0', 'aof_last_write_status:ok', '',
  ].join('\r\n');

  it('reads version, memory in MiB, clients, last save time and persistence', () => {
    const r = readInfo(parseInfo(info));
    assert.deepEqual(r.Version, { value: '7.0.15' });
    assert.deepEqual(r.UsedMemory, { value: 2 });
    assert.deepEqual(r.ConnectedClients, { value: 4 });
    assert.deepEqual(r.LastSaveTime, { value: 1700000000 });
    assert.deepEqual(r.Persistence, { value: 1 });
  });

  it('persistence fails on a failed RDB save, and on a failed AOF write only with AOF on', () => {
    const p = (text: string) => readInfo(parseInfo(text)).Persistence;
    assert.deepEqual(p(info.replace('rdb_last_bgsave_status:ok', 'rdb_last_bgsave_status:err')), { value: 0, why: 'last RDB save: err' });
    assert.deepEqual(p(info.replace('aof_last_write_status:ok', 'aof_last_write_status:err')), { value: 1 });
    assert.deepEqual(p(info.replace('aof_enabled:0', 'aof_enabled:1').replace('aof_last_write_status:ok', 'aof_last_write_status:err')), { value: 0, why: 'last AOF write: err' });
    assert.match(String(p('# Server\nredis_version:1').fault), /no rdb_last_bgsave_status/);
  });

  it('a missing or non-numeric field is that PV\'s fault only', () => {
    const r = readInfo(parseInfo(info.replace('used_memory:2097152', 'used_memory:lots').replace('connected_clients:4\r\n', '')));
    assert.match(String(r.UsedMemory.fault), /used_memory is "lots", not a number/);
    assert.match(String(r.ConnectedClients.fault), /no connected_clients/);
    assert.deepEqual(r.Version, { value: '7.0.15' });
  });

  it('lock_info: no key is unlocked; environment or queue locked is Locked; anything else is a fault', () => {
    assert.deepEqual(readLockInfo(null), { value: 0 });
    assert.deepEqual(readLockInfo('{"environment": false, "queue": false, "user": null}'), { value: 0 });
    assert.deepEqual(readLockInfo('{"environment": true, "queue": false, "user": "op", "lock_key": "k"}'), { value: 1 });
    assert.deepEqual(readLockInfo('{"queue": true}'), { value: 1 });
    assert.match(String(readLockInfo('not json').fault), /not JSON/);
    assert.match(String(readLockInfo('[1]').fault), /not a JSON object/);
    assert.match(String(readLockInfo('{"queue": "yes"}').fault), /queue is not a bool/);
  });
});
