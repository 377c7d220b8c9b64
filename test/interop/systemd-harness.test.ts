/**
 * The systemd test harness (test/helpers/systemd-harness.ts) against a real
 * systemd 252 user manager: units start, crash and restart, fail, run as
 * template instances and as Type=notify (redis); the session bus can be
 * killed and brought back; stop() leaves nothing behind. Outside CI a missing
 * dependency (root, systemd, dbus-daemon, unshare, writable cgroups,
 * redis-server) skips; in CI (CI=true) it fails.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as dbus from 'dbus-next';
import {
  UserManager, basicUnits, checkJournald, checkRedis, checkUserManager, freeTcpPort, pidAlive, redisUnits,
} from '../helpers/systemd-harness';
import { requireDependency } from '../helpers/system';

/** Send one inline command to redis and read one reply line. */
function redisCommand(port: number, command: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let data = '';
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`no reply from redis on ${port}`)); }, timeoutMs);
    sock.on('connect', () => sock.write(`${command}\r\n`));
    sock.on('data', (d) => {
      data += d.toString();
      if (data.includes('\r\n')) {
        clearTimeout(timer);
        sock.end();
        resolve(data.trim());
      }
    });
    sock.on('error', (e) => { clearTimeout(timer); reject(e); });
  });
}

async function eventually(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('systemd user manager harness (real systemd)', function () {
  this.timeout(60000);
  let m: UserManager;
  let redisPort = 0;
  const redisMissing = checkRedis();
  /** Every pid the manager ran, to prove stop() ended them all. */
  const seen = new Set<number>();

  before(async function () {
    requireDependency(this, checkUserManager());
    const units = basicUnits();
    if (!redisMissing) {
      redisPort = await freeTcpPort();
      Object.assign(units, redisUnits(redisPort));
    }
    m = await UserManager.start({ units });
    console.log(`      (user manager ${m.name} ready in ${m.startMs} ms)`);
  });

  after(async () => {
    await m?.stop();
  });

  afterEach(() => {
    for (const p of m?.pids() ?? []) seen.add(p);
  });

  it('runs the manager in its own cgroup and mount namespace', async () => {
    assert.ok(m.pid > 0);
    const cgroup = fs.readFileSync(`/proc/${m.pid}/cgroup`, 'utf8');
    assert.match(cgroup, new RegExp(`:/${m.name}/init\\.scope$`, 'm'));
    assert.ok(!fs.existsSync('/run/systemd/system'), 'the systemd marker leaked into the host mount namespace');
    assert.notEqual(fs.readlinkSync(`/proc/${m.pid}/ns/mnt`), fs.readlinkSync('/proc/self/ns/mnt'));
    const state = await m.show('-.slice', ['ActiveState']);
    assert.equal(state.ActiveState, 'active');
    assert.ok(await m.onBus(), 'org.freedesktop.systemd1 is on the session bus');
  });

  it('starts a simple service whose MainPID is alive', async () => {
    const r = await m.systemctl('start', 'sleeper.service');
    assert.equal(r.code, 0, r.stderr);
    const s = await m.show('sleeper.service', ['ActiveState', 'SubState', 'MainPID']);
    assert.equal(s.ActiveState, 'active');
    assert.equal(s.SubState, 'running');
    const pid = Number(s.MainPID);
    assert.ok(pid > 0 && pidAlive(pid), `MainPID ${s.MainPID} is alive`);
    assert.ok(m.pids().includes(pid), 'the service runs inside the harness cgroup');
  });

  it('restarts a crashed service (NRestarts increments)', async () => {
    assert.equal((await m.systemctl('start', 'crasher.service')).code, 0);
    const before = await m.show('crasher.service', ['MainPID', 'NRestarts']);
    const pid = Number(before.MainPID);
    assert.ok(pid > 0);
    process.kill(pid, 'SIGKILL');
    await m.waitFor('crasher.service', 'NRestarts', String(Number(before.NRestarts) + 1));
    await m.waitFor('crasher.service', 'ActiveState', 'active');
    const after = await m.show('crasher.service', ['MainPID', 'Result']);
    assert.notEqual(Number(after.MainPID), pid);
    assert.ok(pidAlive(Number(after.MainPID)));
  });

  it('reports a failing start job as a non-zero systemctl exit', async () => {
    const r = await m.systemctl('start', 'failing.service');
    assert.notEqual(r.code, 0);
    const s = await m.show('failing.service', ['ActiveState', 'Result', 'ExecMainStatus']);
    assert.deepEqual(s, { ActiveState: 'failed', Result: 'exit-code', ExecMainStatus: '3' });
    assert.match(m.unitLog('failing.service'), /failing on purpose/);
    assert.equal((await m.systemctl('reset-failed', 'failing.service')).code, 0);
  });

  it('starts a template instance', async () => {
    const unit = 'worker@beamline-a.service';
    assert.equal((await m.systemctl('start', unit)).code, 0);
    const s = await m.show(unit, ['ActiveState', 'Id']);
    assert.deepEqual(s, { ActiveState: 'active', Id: unit });
    await eventually('the worker output', () => m.unitLog(unit).includes('worker beamline-a started'));
  });

  it('runs redis as Type=notify and it answers PING', async function () {
    requireDependency(this, redisMissing);
    // For Type=notify the start job ends only after READY=1.
    const r = await m.systemctl('start', 'redis.service');
    assert.equal(r.code, 0, `${r.stderr}\n${m.unitLog('redis.service')}`);
    const s = await m.show('redis.service', ['ActiveState', 'SubState', 'Type', 'MainPID']);
    assert.equal(s.ActiveState, 'active');
    assert.equal(s.SubState, 'running');
    assert.equal(s.Type, 'notify');
    assert.equal(await redisCommand(redisPort, 'PING'), '+PONG');
    // ExecStop (redis-cli shutdown nosave) ends it cleanly.
    assert.equal((await m.systemctl('stop', 'redis.service')).code, 0);
    const stopped = await m.show('redis.service', ['ActiveState', 'Result']);
    assert.deepEqual(stopped, { ActiveState: 'inactive', Result: 'success' });
    await assert.rejects(redisCommand(redisPort, 'PING'));
  });

  it('survives a session bus kill and reconnects when the bus is back', async () => {
    // A D-Bus client with busAddress sees the manager.
    const client = dbus.sessionBus({ busAddress: m.busAddress });
    client.on('error', () => { /* the bus is about to be killed */ });
    const mgr = (await client.getProxyObject('org.freedesktop.systemd1', '/org/freedesktop/systemd1')).getInterface('org.freedesktop.systemd1.Manager');
    assert.equal(await mgr.GetUnit('sleeper.service'), '/org/freedesktop/systemd1/unit/sleeper_2eservice');
    client.disconnect();

    const oldBus = await m.busPid();
    await m.killBus();
    assert.ok(!pidAlive(oldBus));
    assert.deepEqual(await m.show('dbus.service', ['ActiveState', 'Result']), { ActiveState: 'failed', Result: 'signal' });
    const down = await m.busctl('list');
    assert.notEqual(down.code, 0, 'the bus is down');
    // The manager keeps working over its private socket meanwhile.
    assert.equal((await m.systemctl('restart', 'sleeper.service')).code, 0);
    assert.equal((await m.show('sleeper.service', ['ActiveState'])).ActiveState, 'active');

    await m.startBus();
    assert.notEqual(await m.busPid(), oldBus);
    const r = await m.busctl('call', 'org.freedesktop.systemd1', '/org/freedesktop/systemd1', 'org.freedesktop.systemd1.Manager', 'GetUnit', 's', 'sleeper.service');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /sleeper_2eservice/);
  });

  it('with keepSocket, the next client connect brings the bus back', async () => {
    const oldBus = await m.busPid();
    await m.killBus({ keepSocket: true });
    await eventually('systemd on the socket-activated bus', () => m.onBus());
    assert.notEqual(await m.busPid(), oldBus);
  });

  it('stop() leaves no processes, cgroups, mounts or files', async () => {
    for (const p of m.pids()) seen.add(p);
    const { name, dir } = m;
    const t0 = Date.now();
    await m.stop();
    console.log(`      (stopped in ${Date.now() - t0} ms)`);
    assert.deepEqual(m.leftovers(), []);
    assert.deepEqual([...seen].filter(pidAlive), []);
    for (const h of ['/sys/fs/cgroup/systemd', '/sys/fs/cgroup/unified', '/sys/fs/cgroup']) {
      assert.ok(!fs.existsSync(`${h}/${name}`), `${h}/${name} is gone`);
    }
    assert.ok(!fs.existsSync(dir));
    assert.ok(!fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(name));
    await m.stop(); // idempotent
  });
});

describe('systemd user manager harness with a real systemd-journald', function () {
  this.timeout(60000);
  let m: UserManager | undefined;

  before(async function () {
    requireDependency(this, checkUserManager() ?? checkJournald());
    m = await UserManager.start({ units: basicUnits(), journal: true });
  });

  after(async () => {
    await m?.stop();
  });

  interface Entry { MESSAGE?: string; _SYSTEMD_USER_UNIT?: string; USER_UNIT?: string; PRIORITY?: string }
  async function entries(unit: string): Promise<Entry[]> {
    const r = await m!.journalctl('--output=json', `--user-unit=${unit}`);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Entry);
  }

  it('journald runs only in the manager\'s mount namespace', () => {
    assert.ok(fs.existsSync(`/proc/${m!.pid}/root/run/systemd/journal/stdout`));
    assert.ok(!fs.existsSync('/run/systemd/journal/stdout'), 'no journal socket on the host');
    assert.match(fs.readFileSync(`/proc/${m!.pid}/cgroup`, 'utf8'), /\.slice\/user@\d+\.service\/init\.scope$/m);
  });

  it('a unit\'s output and the manager\'s messages about it are in the journal under the user unit', async () => {
    const r = await m!.systemctl('start', 'failing.service');
    assert.notEqual(r.code, 0);
    await eventually('the failure in the journal', async () => (await entries('failing.service')).some((e) => /Failed with result 'exit-code'/.test(e.MESSAGE ?? '')));
    const all = await entries('failing.service');
    const own = all.find((e) => e.MESSAGE === 'failing on purpose');
    assert.ok(own, JSON.stringify(all));
    assert.equal(own._SYSTEMD_USER_UNIT, 'failing.service');
    const manager = all.find((e) => /Main process exited, code=exited, status=3/.test(e.MESSAGE ?? ''));
    assert.ok(manager, JSON.stringify(all));
    assert.equal(manager.USER_UNIT, 'failing.service');
    assert.ok(!all.some((e) => /sleeper/.test(e.MESSAGE ?? '')), 'only this unit\'s lines');
  });

  it('stop() leaves no journald, cgroups or mounts', async () => {
    const pids = m!.pids();
    assert.ok(pids.length >= 3, `manager, bus and journald: ${pids.join(' ')}`);
    await m!.stop();
    assert.deepEqual(m!.leftovers(), []);
    assert.deepEqual(pids.filter(pidAlive), []);
  });
});
