/**
 * The redis bridge against a real redis-server (Debian's), started by the
 * test on a free loopback port: what an operator sees through the [[redis]]
 * PVs as the queueserver's keys change, a save fails, the server hangs
 * (SIGSTOP) and comes back, restarts, and asks for a password. Without
 * redis-server the suite skips; in CI (CI=true) it fails.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createClient } from '@redis/client';
import { parseConfig } from '../../src/ioc/config';
import { buildServiceIoc } from '../../src/ioc/service-ioc';
import { createLogger } from '../../src/log';
import { FakeReManager } from '../helpers/fake-re-manager';
import { FakeSystemd } from '../helpers/fake-systemd';
import { startProcess, type Managed } from '../helpers/processes';
import { pvProbe } from '../helpers/pv-probe';
import { REDIS_SERVER, checkRedis, freeTcpPort } from '../helpers/systemd-harness';
import { requireDependency } from '../helpers/system';

/** A redis-server child process on 127.0.0.1. */
class RedisServer {
  private constructor(readonly port: number, readonly dir: string, readonly proc: Managed, private readonly password?: string) {}

  static async start(opts: { port?: number; dir: string; password?: string }): Promise<RedisServer> {
    const port = opts.port ?? await freeTcpPort();
    // Protected configs (dir) may be set over a local connection: the persistence test moves the dump directory.
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', opts.dir, '--daemonize', 'no', '--enable-protected-configs', 'local'];
    if (opts.password) args.push('--requirepass', opts.password);
    const proc = startProcess(REDIS_SERVER, args, process.env);
    await proc.waitLine(/Ready to accept connections/, 15000);
    return new RedisServer(port, opts.dir, proc, opts.password);
  }

  /** Run commands on a connection of the test's own. */
  async command(...cmds: string[][]): Promise<unknown[]> {
    const c = createClient({ socket: { host: '127.0.0.1', port: this.port, reconnectStrategy: false }, ...(this.password ? { password: this.password } : {}) });
    c.on('error', () => undefined);
    await c.connect();
    try {
      const out: unknown[] = [];
      for (const cmd of cmds) out.push(await c.sendCommand(cmd));
      return out;
    } finally {
      c.destroy();
    }
  }

  signal(sig: NodeJS.Signals): void {
    this.proc.proc.kill(sig);
  }

  async stop(): Promise<void> {
    this.signal('SIGCONT');
    await this.proc.stop();
  }
}

describe('redis bridge against a real redis-server', function () {
  this.timeout(30000);
  const missing = checkRedis();
  let tmp: string;
  let servers: RedisServer[] = [];
  let ioc: ReturnType<typeof buildServiceIoc> | undefined;
  const lines: string[] = [];
  const log = createLogger('test', { level: 'debug', journal: false, write: (l) => lines.push(l) });

  const startIoc = (table: string): ReturnType<typeof buildServiceIoc> => {
    const config = parseConfig(`[ioc]\nprefix = "bl:"\n[[redis]]\npv = "rdb"\n${table}\n`, path.join(tmp, 'test.toml'));
    const bus = new FakeSystemd();
    ioc = buildServiceIoc(config, log, Object.assign(bus, { start: () => bus.up() }));
    ioc.database.start();
    ioc.redis.start();
    return ioc;
  };
  const fast = (s: RedisServer, extra = ''): string => `addr = "127.0.0.1:${s.port}"\npoll_period = 0.05\ntimeout = 0.5\n${extra}`;
  const startServer = async (opts: { port?: number; password?: string } = {}): Promise<RedisServer> => {
    const s = await RedisServer.start({ dir: tmp, ...opts });
    servers.push(s);
    return s;
  };

  const { value, alarm, until } = pvProbe(() => ioc!.database, 'bl:', () => `; log:\n${lines.slice(-20).join('\n')}`);
  const connected = (): Promise<void> => until('rdb:Connected', () => value('rdb:Connected') === 1);

  before(function () {
    requireDependency(this, missing);
  });

  beforeEach(() => {
    servers = [];
    lines.length = 0;
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'redis-test-'));
  });

  afterEach(async () => {
    ioc?.queueservers.stop();
    ioc?.redis.stop();
    ioc?.database.stop();
    ioc = undefined;
    await Promise.all(servers.map((s) => s.stop()));
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('shows the server and the queueserver keys under the default name prefix', async () => {
    const s = await startServer();
    await s.command(
      ['RPUSH', 'qs_default_plan_queue', '{"item_uid": "a"}', '{"item_uid": "b"}', '{"item_uid": "c"}'],
      ['RPUSH', 'qs_default_plan_history', '{"item_uid": "h"}'],
    );
    startIoc(fast(s));
    await connected();
    await until('rdb:QueueLength', () => value('rdb:QueueLength') === 3);
    assert.equal(value('rdb:HistoryLength'), 1);
    assert.equal(value('rdb:Locked'), 0, 'no lock_info key: unlocked');
    assert.match(String(value('rdb:Version')), /^\d+\.\d+\.\d+/);
    assert.ok(Number(value('rdb:UsedMemory')) > 0.1 && Number(value('rdb:UsedMemory')) < 1024, `UsedMemory ${value('rdb:UsedMemory')} MiB`);
    assert.ok(Number(value('rdb:ConnectedClients')) >= 1);
    assert.ok(Number(value('rdb:PingTime')) > 0);
    assert.equal(value('rdb:Persistence'), 1);
    assert.deepEqual(alarm('rdb:Persistence'), ['NO_ALARM', 'NO_ALARM']);
    assert.equal(value('rdb:Message'), '');
    // The queueserver locks: it writes lock_info as JSON.
    await s.command(['SET', 'qs_default_lock_info', JSON.stringify({ environment: false, queue: true, user: 'op', note: 'alignment', time: 1.7e9, lock_key: 'k' })]);
    await until('rdb:Locked', () => value('rdb:Locked') === 1);
    await s.command(['RPOP', 'qs_default_plan_queue'], ['RPUSH', 'qs_default_plan_history', '{"item_uid": "c"}']);
    await until('rdb:HistoryLength', () => value('rdb:HistoryLength') === 2 && value('rdb:QueueLength') === 2);
    assert.ok(Number(value('rdb:LastSaveAge')) >= 0);
  });

  it('reads the keys of another name_prefix and db, and a key of the wrong type is that PV\'s READ alarm', async () => {
    const s = await startServer();
    await s.command(['SELECT', '2'], ['RPUSH', 'bl25_plan_queue', 'x'], ['RPUSH', 'bl25_plan_history', 'h1', 'h2']);
    await s.command(['RPUSH', 'qs_default_plan_queue', 'a', 'b', 'c', 'd']);
    startIoc(`addr = "127.0.0.1:${s.port}/2"\nname_prefix = "bl25"\npoll_period = 0.05\ntimeout = 0.5`);
    await connected();
    await until('rdb:QueueLength', () => value('rdb:QueueLength') === 1);
    await until('rdb:HistoryLength', () => value('rdb:HistoryLength') === 2);
    await s.command(['SELECT', '2'], ['DEL', 'bl25_plan_history'], ['SET', 'bl25_plan_history', 'not a list']);
    await until('rdb:HistoryLength', () => alarm('rdb:HistoryLength')[0] === 'READ');
    assert.equal(value('rdb:HistoryLength'), 2, 'the last value stays under the alarm');
    assert.deepEqual(alarm('rdb:HistoryLength'), ['READ', 'INVALID']);
    assert.deepEqual(alarm('rdb:QueueLength'), ['NO_ALARM', 'NO_ALARM']);
    assert.equal(value('rdb:Connected'), 1, 'an error reply is not a lost server');
    assert.ok(lines.some((l) => /redis reports a problem.*HistoryLength: WRONGTYPE/.test(l)), lines.join('\n'));
  });

  it('Persistence turns MAJOR when a save fails, and OK again when one succeeds', async () => {
    const s = await startServer();
    // redis writes its dump in its working directory: take that away.
    const gone = fs.mkdtempSync(path.join(tmp, 'gone-'));
    await s.command(['CONFIG', 'SET', 'dir', gone]);
    fs.rmSync(gone, { recursive: true });
    startIoc(fast(s));
    await connected();
    await s.command(['BGSAVE']);
    await until('rdb:Persistence', () => value('rdb:Persistence') === 0);
    assert.deepEqual(alarm('rdb:Persistence'), ['STATE', 'MAJOR']);
    assert.match(String(value('rdb:Message')), /last RDB save: err/);
    assert.equal(ioc!.health.severity, 2, 'a failed save is MAJOR in IOC:Health');
    fs.mkdirSync(gone);
    await s.command(['CONFIG', 'SET', 'dir', gone], ['BGSAVE']);
    await until('rdb:Persistence', () => value('rdb:Persistence') === 1);
    assert.equal(value('rdb:Message'), '');
    await until('rdb:LastSaveAge', () => Number(value('rdb:LastSaveAge')) < 5);
  });

  it('a hung server (SIGSTOP) turns Connected 0 with an alarm, and it recovers by itself on SIGCONT', async () => {
    const s = await startServer();
    await s.command(['RPUSH', 'qs_default_plan_queue', 'a', 'b']);
    startIoc(fast(s));
    await connected();
    await until('rdb:QueueLength', () => value('rdb:QueueLength') === 2);
    assert.equal(ioc!.health.severity, 0);
    s.signal('SIGSTOP');
    await until('rdb:Connected', () => value('rdb:Connected') === 0);
    assert.deepEqual(alarm('rdb:Connected'), ['STATE', 'MAJOR']);
    await until('rdb:QueueLength', () => alarm('rdb:QueueLength')[0] === 'COMM');
    assert.equal(value('rdb:QueueLength'), 2, 'the last known value stays under the alarm');
    assert.deepEqual(alarm('rdb:UsedMemory'), ['COMM', 'INVALID']);
    assert.match(String(value('rdb:Message')), /no answer within 0\.5 s/);
    assert.equal(ioc!.health.severity, 3, 'INVALID: Persistence cannot be read');
    s.signal('SIGCONT');
    await until('rdb:Connected', () => value('rdb:Connected') === 1, 10000);
    await until('rdb:QueueLength', () => alarm('rdb:QueueLength')[0] === 'NO_ALARM');
    assert.equal(value('rdb:Message'), '');
    assert.equal(ioc!.health.severity, 0);
  });

  it('a manager that stops answering with its hung redis is shown so after it: its DepsUp is 0 by then, and Problem names redis', async () => {
    const s = await startServer();
    const f = await FakeReManager.start();
    try {
      // The manager's timeout is the shorter: alone, its loss would be seen first.
      startIoc(`${fast(s)}\n[[queueserver]]\npv = "qs"\ncontrol_addr = "${f.controlAddr}"\nredis = "rdb"\npoll_period = 0.05\ntimeout = 0.2\n`);
      ioc!.queueservers.start();
      await connected();
      await until('qs:DepsUp', () => value('qs:DepsUp') === 1);
      await until('qs:Connected', () => value('qs:Connected') === 1);
      let seen: { redis: number | string; depsUp: number | string } | undefined;
      const lost = until('qs:Connected', () => {
        if (value('qs:Connected') !== 0) return false;
        seen ??= { redis: value('rdb:Connected'), depsUp: value('qs:DepsUp') };
        return true;
      });
      // As the real manager does, the stand-in stops answering when its redis does.
      s.signal('SIGSTOP');
      f.hold();
      await lost;
      assert.deepEqual(seen, { redis: 0, depsUp: 0 }, 'when qs:Connected turned 0, redis was already shown down and DepsUp held the alarm back');
      assert.match(String(value('qs:Problem')), /^RE Manager not answering because redis rdb \(127\.0\.0\.1:\d+\) is down: .*no answer within 0\.5 s/);
      s.signal('SIGCONT');
      f.release();
      await until('rdb:Connected', () => value('rdb:Connected') === 1);
      await until('qs:DepsUp', () => value('qs:DepsUp') === 1);
      await until('qs:Connected', () => value('qs:Connected') === 1);
      assert.equal(value('qs:Problem'), '');

      // A manager that hangs alone (its redis answers) is shown not answering, its own alarm enabled.
      f.hold();
      await until('qs:Connected', () => value('qs:Connected') === 0);
      assert.equal(value('rdb:Connected'), 1);
      assert.equal(value('qs:DepsUp'), 1, 'its own alarm is enabled');
      assert.match(String(value('qs:Problem')), /^RE Manager not answering: /);
    } finally {
      f.release();
      await f.stop();
    }
  });

  it('a restarted server is found again; while it is down Connected is 0 and says why', async () => {
    const s = await startServer();
    startIoc(fast(s));
    await connected();
    const before = ioc!.redis.watcher('rdb')!.connections;
    await s.stop();
    servers = servers.filter((x) => x !== s);
    await until('rdb:Connected', () => value('rdb:Connected') === 0);
    await until('rdb:Message', () => /ECONNREFUSED|closed|ECONNRESET/.test(String(value('rdb:Message'))));
    const again = await startServer({ port: s.port });
    await again.command(['RPUSH', 'qs_default_plan_history', 'x', 'y', 'z']);
    await until('rdb:HistoryLength', () => value('rdb:HistoryLength') === 3, 10000);
    assert.equal(value('rdb:Connected'), 1);
    assert.ok(ioc!.redis.watcher('rdb')!.connections > before, 'a new connection');
    assert.ok(lines.some((l) => /redis not usable/.test(l)) && lines.some((l) => /redis answers/.test(l)));
  });

  it('authenticates with the password from password_file, and a wrong one is a fault that never shows the password', async () => {
    const s = await startServer({ password: 's3cret-pass' });
    fs.writeFileSync(path.join(tmp, 'redis.pass'), 's3cret-pass\n');
    startIoc(fast(s, 'password_file = "redis.pass"'));
    await connected();
    await until('rdb:Version', () => alarm('rdb:Version')[0] === 'NO_ALARM');
    ioc!.redis.stop();
    ioc!.database.stop();

    fs.writeFileSync(path.join(tmp, 'wrong.pass'), 'not-it\n');
    startIoc(fast(s, 'password_file = "wrong.pass"'));
    await until('rdb:Message', () => /WRONGPASS|invalid username-password/i.test(String(value('rdb:Message'))));
    assert.equal(value('rdb:Connected'), 0);

    ioc!.redis.stop();
    ioc!.database.stop();
    startIoc(fast(s));
    await until('rdb:Message', () => /NOAUTH|Authentication required/i.test(String(value('rdb:Message'))));
    assert.equal(value('rdb:Connected'), 0);
    assert.ok(!lines.some((l) => l.includes('s3cret-pass') || l.includes('not-it')), 'no password in the log');
  });
});
