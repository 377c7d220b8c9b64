/**
 * Unit resources (MemoryCurrent, TasksCurrent, CPUUsage) through the systemd
 * bridge and an in-memory systemd: systemd's accounting when it reports it,
 * else the processes of the unit's control group in /proc (here a cgroup
 * directory that holds this test's own pid, read like cgroupfs), else
 * INVALID with Message saying why.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseConfig } from '../../src/ioc/config';
import { buildServiceIoc } from '../../src/ioc/service-ioc';
import { CgroupProcReader, systemdCgroupRoot } from '../../src/systemd/cgroup-procs';
import { ResourceMonitor } from '../../src/systemd/resources';
import { SystemdBridge } from '../../src/systemd/bridge';
import { memoryLogger } from '../../src/log';
import { FakeSystemd } from '../helpers/fake-systemd';
import { pvProbe } from '../helpers/pv-probe';

const CONFIG = '[ioc]\nprefix = "bl:"\n[[unit]]\nname = "redis.service"\npv = "redis"\n[[unit]]\nname = "worker.service"\npv = "worker"\nexpect = "any"\n';

describe('unit resources (in-memory systemd)', () => {
  let fake: FakeSystemd;
  let root: string;
  let clock = 0;
  let ioc: ReturnType<typeof buildServiceIoc>;
  let bridge: SystemdBridge;
  const { value, alarm, until } = pvProbe(() => ioc.database, 'bl:');

  beforeEach(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'sioc-cgroup-'));
    fake = new FakeSystemd();
    fake.addUnit('redis.service', { ActiveState: 'active', SubState: 'running', MainPID: process.pid, ActiveEnterTimestamp: BigInt(Date.now()) * 1000n });
    fake.addUnit('worker.service');
    ioc = buildServiceIoc(parseConfig(CONFIG, 'test.toml'), memoryLogger(), Object.assign(fake, { start: () => fake.up() }));
    // The bridge the IOC built, with resources read from our cgroup directory and our clock.
    bridge = ioc.bridge;
    (bridge as unknown as { resources: ResourceMonitor }).resources = new ResourceMonitor({ bus: fake, reader: new CgroupProcReader(root), now: () => clock });
    ioc.database.start();
    ioc.bus.start();
    await until('redis:ActiveState', () => value('redis:ActiveState') === 1);
  });

  afterEach(() => {
    ioc.database.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });

  async function poll(seconds = 5): Promise<void> {
    clock += seconds;
    await bridge.pollResources();
  }

  it('uses systemd\'s accounting when it reports it: MiB, tasks, % of one core over the period', async () => {
    fake.polled.set('redis.service', { MemoryCurrent: 100n * 1048576n, TasksCurrent: 7n, CPUUsageNSec: 3_000_000_000n });
    await poll();
    assert.equal(value('redis:MemoryCurrent'), 100);
    assert.equal(value('redis:TasksCurrent'), 7);
    assert.deepEqual(alarm('redis:CPUUsage'), ['UDF', 'INVALID'], 'one sample is no rate yet');
    fake.polled.get('redis.service')!.CPUUsageNSec = 3_500_000_000n;
    await poll(5);
    assert.equal(value('redis:CPUUsage'), 10, '0.5 s of CPU in 5 s');
    for (const p of ['MemoryCurrent', 'TasksCurrent', 'CPUUsage']) assert.deepEqual(alarm(`redis:${p}`), ['NO_ALARM', 'NO_ALARM'], p);
    assert.equal(value('redis:Message'), '');
  });

  it('reads resources as soon as the units are read, not a period later', async () => {
    fake.polled.set('redis.service', { MemoryCurrent: 64n * 1048576n, TasksCurrent: 3n, CPUUsageNSec: 1_000_000_000n });
    bridge.start();
    try {
      await until('redis:MemoryCurrent', () => value('redis:MemoryCurrent') === 64);
      assert.equal(value('redis:TasksCurrent'), 3);
      fake.polled.get('redis.service')!.MemoryCurrent = 80n * 1048576n;
      fake.down();
      fake.up();
      await until('redis:MemoryCurrent', () => value('redis:MemoryCurrent') === 80);
    } finally {
      bridge.stop();
    }
  });

  it('without accounting, reads the processes of the unit\'s control group in /proc', async () => {
    fs.mkdirSync(path.join(root, 'app.slice/redis.service/sub'), { recursive: true });
    fs.writeFileSync(path.join(root, 'app.slice/redis.service/cgroup.procs'), `${process.pid}\n`);
    fs.writeFileSync(path.join(root, 'app.slice/redis.service/sub/cgroup.procs'), '');
    fake.polled.set('redis.service', { ControlGroup: '/app.slice/redis.service' });
    await poll();
    const status = fs.readFileSync('/proc/self/status', 'utf8');
    const rssMiB = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)![1]) / 1024;
    const mem = Number(value('redis:MemoryCurrent'));
    assert.ok(mem > rssMiB / 2 && mem < rssMiB * 2, `MemoryCurrent ${mem} MiB against VmRSS ${rssMiB} MiB`);
    assert.equal(value('redis:TasksCurrent'), Number(/^Threads:\s+(\d+)/m.exec(status)![1]));
    // Burn some CPU between two polls: the rate is what this process used.
    const cpu0 = process.cpuUsage();
    const t0 = Date.now();
    while (Date.now() - t0 < 200) { /* busy */ }
    const used = process.cpuUsage(cpu0);
    await poll(1);
    const pct = Number(value('redis:CPUUsage'));
    const expected = (used.user + used.system) / 1e4;
    assert.ok(Math.abs(pct - expected) <= 5, `CPUUsage ${pct}% against ${expected}% measured by the process (1 s period)`);
    assert.deepEqual(alarm('redis:MemoryCurrent'), ['NO_ALARM', 'NO_ALARM']);
  });

  it('neither source: INVALID, the last value kept, and Message says why', async () => {
    fake.polled.set('redis.service', { MemoryCurrent: 2n * 1048576n, TasksCurrent: 2n, CPUUsageNSec: 1n });
    await poll();
    assert.equal(value('redis:MemoryCurrent'), 2);
    fake.polled.set('redis.service', { ControlGroup: '/app.slice/gone.service' });
    await poll();
    for (const p of ['MemoryCurrent', 'TasksCurrent', 'CPUUsage']) assert.equal(alarm(`redis:${p}`)[1], 'INVALID', p);
    assert.deepEqual(alarm('redis:MemoryCurrent'), ['READ', 'INVALID']);
    assert.equal(value('redis:MemoryCurrent'), 2, 'the last value stays, flagged INVALID');
    assert.match(String(value('redis:Message')), /^MemoryCurrent unknown: systemd does not account it, and cannot read .*gone\.service\/cgroup\.procs: ENOENT$/);
    // Once systemd reports it again (it is asked again after a while), the alarm and the Message clear.
    fake.polled.set('redis.service', { MemoryCurrent: 1048576n, TasksCurrent: 1n, CPUUsageNSec: 1n });
    for (let i = 0; i < 13 && alarm('redis:MemoryCurrent')[1] !== 'NO_ALARM'; i++) await poll();
    assert.equal(value('redis:MemoryCurrent'), 1);
    assert.deepEqual(alarm('redis:MemoryCurrent'), ['NO_ALARM', 'NO_ALARM']);
    assert.equal(value('redis:Message'), '');
  });

  it('a stopped unit uses nothing: 0, no alarm', async () => {
    await poll();
    for (const p of ['MemoryCurrent', 'TasksCurrent', 'CPUUsage']) {
      assert.equal(value(`worker:${p}`), 0, p);
      assert.deepEqual(alarm(`worker:${p}`), ['NO_ALARM', 'NO_ALARM'], p);
    }
  });

  it('a unit that stops shows 0 at once, from the state change, without waiting for a poll', async () => {
    fake.polled.set('redis.service', { MemoryCurrent: 100n * 1048576n, TasksCurrent: 7n, CPUUsageNSec: 3_000_000_000n });
    await poll();
    fake.polled.get('redis.service')!.CPUUsageNSec = 3_500_000_000n;
    await poll(5);
    assert.deepEqual([value('redis:MemoryCurrent'), value('redis:TasksCurrent'), value('redis:CPUUsage')], [100, 7, 10]);
    fake.set('redis.service', { ActiveState: 'failed', SubState: 'failed' });
    for (const p of ['MemoryCurrent', 'TasksCurrent', 'CPUUsage']) {
      assert.equal(value(`redis:${p}`), 0, p);
      assert.deepEqual(alarm(`redis:${p}`), ['NO_ALARM', 'NO_ALARM'], p);
    }
  });

  it('a poll under way when the unit stops does not bring its figures back', async () => {
    fake.polled.set('redis.service', { MemoryCurrent: 100n * 1048576n, TasksCurrent: 7n, CPUUsageNSec: 3_000_000_000n });
    clock += 5;
    const polling = bridge.pollResources();
    // The stop is signalled while systemd's answers to the poll are still on their way.
    fake.set('redis.service', { ActiveState: 'inactive', SubState: 'dead' });
    await polling;
    assert.equal(value('redis:MemoryCurrent'), 0);
    assert.equal(value('redis:TasksCurrent'), 0);
  });

  it('asks systemd again only now and then once it accounts nothing of a unit', async () => {
    fs.mkdirSync(path.join(root, 'r'));
    fs.writeFileSync(path.join(root, 'r/cgroup.procs'), `${process.pid}\n`);
    fake.polled.set('redis.service', { ControlGroup: '/r' });
    await poll();
    const gets = (): number => fake.calls.filter((c) => c.startsWith('Get(') && c.includes('redis')).length;
    fake.calls.length = 0;
    for (let i = 0; i < 5; i++) await poll();
    assert.equal(gets(), 0, 'no D-Bus call while systemd is known not to account it and the control group is known');
  });

  it('finds systemd\'s cgroup tree in mountinfo: cgroup2, else the named v1 hierarchy', () => {
    const v2 = '30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n';
    const v1 = '31 23 0:27 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n32 23 0:28 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n';
    assert.equal(systemdCgroupRoot(v2), '/sys/fs/cgroup');
    assert.equal(systemdCgroupRoot(v1), '/sys/fs/cgroup/systemd');
    assert.equal(systemdCgroupRoot('33 23 0:29 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n'), undefined, 'a subtree cannot hold the full path');
  });
});
