/**
 * The systemd bridge against an in-memory systemd: unit PVs follow signals,
 * control writes complete with their jobs, bus loss shows as INVALID/COMM.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Eca } from '../../src/ca/protocol/constants';
import { WriteError } from '../../src/ca/pv';
import { parseConfig } from '../../src/ioc/config';
import { buildServiceIoc } from '../../src/ioc/service-ioc';
import { escapeBusLabel, unescapeBusLabel, unitPath } from '../../src/systemd/names';
import { JobTracker } from '../../src/systemd/jobs';
import { memoryLogger } from '../../src/log';
import { FakeSystemd } from '../helpers/fake-systemd';
import { pvProbe } from '../helpers/pv-probe';


describe('systemd names', () => {
  it('escapes unit names into object paths as bus-label.c does', () => {
    assert.equal(escapeBusLabel('redis.service'), 'redis_2eservice');
    assert.equal(escapeBusLabel('queueserver@a.service'), 'queueserver_40a_2eservice');
    assert.equal(escapeBusLabel('1x.service'), '_31x_2eservice');
    assert.equal(unitPath('redis.service'), '/org/freedesktop/systemd1/unit/redis_2eservice');
    for (const n of ['redis.service', 'queueserver@25idc.service', '9-a_b:c.service']) assert.equal(unescapeBusLabel(escapeBusLabel(n)), n);
  });
});

describe('JobTracker', () => {
  it('matches a JobRemoved that arrives before the method reply', async () => {
    const t = new JobTracker();
    t.jobRemoved({ path: '/job/1', unit: 'a.service', result: 'done' });
    const o = await t.wait('/job/1', 1000, () => new Error('timeout'));
    assert.equal(o.result, 'done');
  });

  it('matches a JobRemoved that arrives after, and ignores other jobs', async () => {
    const t = new JobTracker();
    const p = t.wait('/job/2', 1000, () => new Error('timeout'));
    t.jobRemoved({ path: '/job/3', unit: 'b.service', result: 'failed' });
    t.jobRemoved({ path: '/job/2', unit: 'a.service', result: 'canceled' });
    assert.equal((await p).result, 'canceled');
  });

  it('fails a wait that runs out of time, and still reports the job when it ends', async () => {
    const t = new JobTracker();
    await assert.rejects(t.wait('/job/4', 10, () => new Error('job too slow')), /job too slow/);
    assert.equal(t.waiting, 1, 'the job is still followed');
    const later = t.ended('/job/4');
    t.jobRemoved({ path: '/job/4', unit: 'a.service', result: 'failed' });
    assert.equal((await later).result, 'failed');
    assert.equal(t.waiting, 0);
  });
});

describe('configuration', () => {
  const good = '[ioc]\nprefix = "100id:bluesky:"\n\n[[unit]]\nname = "redis.service"\npv = "redis"\n\n[[unit]]\nname = "queueserver@25idc.service"\npv = "qs"\nexpect = "any"\ncontrol = false\n';

  it('reads units with their defaults', () => {
    const c = parseConfig(good, 'ioc.toml');
    assert.equal(c.prefix, '100id:bluesky:');
    assert.equal(c.bus, 'user');
    assert.deepEqual(c.units.map((u) => [u.name, u.pv, u.expect, u.control, u.line]), [
      ['redis.service', 'redis', 'active', true, 4],
      ['queueserver@25idc.service', 'qs', 'any', false, 8],
    ]);
  });

  const bad: Array<[string, string, RegExp]> = [
    ['unknown key', good.replace('pv = "qs"', 'pv = "qs"\nexpct = "any"'), /^ioc\.toml:11: \[\[unit\]\] #2: unknown key "expct"; expected one of name, pv, expect, control$/],
    ['wrong type', good.replace('control = false', 'control = "no"'), /^ioc\.toml:12: \[\[unit\]\] #2: key "control" must be true or false$/],
    ['duplicate pv', good.replace('pv = "qs"', 'pv = "redis"'), /^ioc\.toml:10: \[\[unit\]\] #2: key "pv": "redis" is already used by the unit on line 6$/],
    ['bad expect', good.replace('expect = "any"', 'expect = "up"'), /^ioc\.toml:11: .*key "expect" must be "active" or "any", not "up"/],
    ['bad unit name', good.replace('redis.service', 'redis'), /^ioc\.toml:5: \[\[unit\]\] #1: key "name": "redis" is not a unit name/],
    ['unknown ioc key', good.replace('[ioc]\n', '[ioc]\nprefx = "a"\n'), /^ioc\.toml:2: \[ioc\]: unknown key "prefx"/],
    ['missing prefix', '[ioc]\nbus = "user"\n', /^ioc\.toml:1: \[ioc\]: missing key "prefix"$/],
    ['not TOML', '[ioc]\nprefix = \n', /^ioc\.toml:2: not valid TOML/],
    ['bad bus', good.replace('[ioc]\n', '[ioc]\nbus = "session"\n'), /^ioc\.toml:2: key "bus" must be "user" or "system"/],
    ['bad put log size', `${good}[putlog]\nmax_size_mb = 0\n`, /^ioc\.toml:14: key "max_size_mb" must be a number of megabytes from 0\.001 to 1000000, not 0$/],
    ['bad put log keep', `${good}[putlog]\nkeep = 1.5\n`, /^ioc\.toml:14: key "keep" must be a whole number of rotated files from 0 to 100, not 1\.5$/],
  ];
  for (const [what, text, re] of bad) {
    it(`stops on ${what}, naming the line and the key`, () => {
      assert.throws(() => parseConfig(text, 'ioc.toml'), (e: unknown) => re.test((e as Error).message) || assert.fail((e as Error).message));
    });
  }
});

describe('systemd bridge (in-memory systemd)', () => {
  let fake: FakeSystemd;
  let ioc: ReturnType<typeof buildServiceIoc>;
  const { pv, value, alarm, put, until } = pvProbe(() => ioc!.database, 'bl:');

  beforeEach(async () => {
    fake = new FakeSystemd();
    fake.addUnit('redis.service', { ActiveState: 'active', SubState: 'running', MainPID: 42, UnitFileState: 'enabled', ActiveEnterTimestamp: BigInt(Date.now() - 5000) * 1000n });
    fake.addUnit('worker.service');
    const config = parseConfig('[ioc]\nprefix = "bl:"\n[[unit]]\nname = "redis.service"\npv = "redis"\n[[unit]]\nname = "worker.service"\npv = "worker"\nexpect = "any"\n[[unit]]\nname = "ghost.service"\npv = "ghost"\n', 'test.toml');
    ioc = buildServiceIoc(config, memoryLogger(), Object.assign(fake, { start: () => fake.up() }));
    ioc.database.start();
    ioc.bus.start();
    await until('IOC:BusConnected', () => value('IOC:BusConnected') === 1);
    await until('ghost:LoadState', () => value('ghost:LoadState') === 'not-found');
  });

  afterEach(() => ioc.database.stop());

  it('publishes each unit as read after connecting', () => {
    assert.equal(value('redis:ActiveState'), 1);
    assert.deepEqual(alarm('redis:ActiveState'), ['NO_ALARM', 'NO_ALARM']);
    assert.equal(value('redis:Running'), 1);
    assert.equal(value('redis:MainPID'), 42);
    assert.equal(value('redis:SubState'), 'running');
    assert.equal(value('redis:UnitFileState'), 'enabled');
    assert.equal(value('redis:Enable'), 1, 'Enable reads back from UnitFileState');
    assert.ok((value('redis:Uptime') as number) >= 4);
    assert.match(String(value('redis:ActiveSince')), /^\d{4}-\d\d-\d\dT/);
    assert.equal(value('worker:ActiveState'), 0);
    assert.deepEqual(alarm('worker:ActiveState'), ['NO_ALARM', 'NO_ALARM'], 'inactive is fine with expect = "any"');
  });

  it('control records are defined from the start: buttons at 0, Enable as UnitFileState says, all NO_ALARM', () => {
    for (const unit of ['redis', 'worker', 'ghost']) {
      for (const button of ['Start', 'Stop', 'Restart', 'ResetFailed']) {
        assert.deepEqual([value(`${unit}:${button}`), ...alarm(`${unit}:${button}`)], [0, 'NO_ALARM', 'NO_ALARM'], `${unit}:${button}`);
      }
    }
    assert.deepEqual([value('redis:Enable'), ...alarm('redis:Enable')], [1, 'NO_ALARM', 'NO_ALARM'], 'enabled');
    assert.deepEqual([value('worker:Enable'), ...alarm('worker:Enable')], [0, 'NO_ALARM', 'NO_ALARM'], 'disabled');
    assert.deepEqual([value('ghost:Enable'), ...alarm('ghost:Enable')], [0, 'NO_ALARM', 'NO_ALARM'], 'a missing unit has no unit file');
  });

  it('before systemd is reached the controls are NO_ALARM; Enable follows UnitFileState once it is read', async () => {
    const later = new FakeSystemd();
    later.addUnit('redis.service', { UnitFileState: 'enabled' });
    const config = parseConfig('[ioc]\nprefix = "late:"\n[[unit]]\nname = "redis.service"\npv = "redis"\n', 'test.toml');
    const own = buildServiceIoc(config, memoryLogger(), Object.assign(later, { start: () => later.up() }));
    const probe = pvProbe(() => own.database, 'late:');
    own.database.start();
    try {
      assert.equal(probe.value('IOC:BusConnected'), 0, 'not connected yet');
      assert.deepEqual([probe.value('redis:Start'), ...probe.alarm('redis:Start')], [0, 'NO_ALARM', 'NO_ALARM']);
      assert.deepEqual([probe.value('redis:Enable'), ...probe.alarm('redis:Enable')], [0, 'NO_ALARM', 'NO_ALARM']);
      assert.equal(probe.alarm('redis:UnitFileState')[1], 'INVALID', 'the unit is not known yet');
      own.bus.start();
      await probe.until('redis:Enable', () => probe.value('redis:Enable') === 1);
      assert.deepEqual(probe.alarm('redis:Enable'), ['NO_ALARM', 'NO_ALARM']);
      assert.equal(probe.value('redis:UnitFileState'), 'enabled');
    } finally {
      own.database.stop();
    }
  });

  it('a missing unit makes every status PV of that unit INVALID', () => {
    for (const f of ['LoadState', 'ActiveState', 'SubState', 'MainPID', 'Running']) {
      assert.equal(alarm(`ghost:${f}`)[1], 'INVALID', f);
    }
    assert.deepEqual(alarm('IOC:Health'), ['STATE', 'INVALID']);
    assert.equal(value('IOC:Health'), 0);
  });

  it('follows PropertiesChanged: a crash shows failed, MAJOR, with its Result', async () => {
    fake.set('redis.service', { ActiveState: 'failed', SubState: 'failed', Result: 'signal', MainPID: 0, NRestarts: 1 });
    await until('redis:ActiveState', () => value('redis:ActiveState') === 4);
    assert.deepEqual(alarm('redis:ActiveState'), ['STATE', 'MAJOR']);
    assert.equal(value('redis:Result'), 'signal');
    assert.equal(value('redis:NRestarts'), 1);
    assert.equal(value('redis:Running'), 0);
    assert.equal(value('redis:Uptime'), 0);
  });

  it('a Service change is shown as signalled, without re-reading the interface for ExecStart and the like', () => {
    const reads = fake.calls.length;
    fake.set('redis.service', { MainPID: 0, NRestarts: 3 });
    assert.equal(value('redis:MainPID'), 0, 'shown at once, from the signal');
    assert.equal(value('redis:NRestarts'), 3);
    assert.deepEqual(fake.calls.slice(reads).filter((c) => c.startsWith('GetAll')), []);
  });

  it('a property the bridge shows that systemd only invalidates is read back', async () => {
    const reads = fake.calls.length;
    fake.set('redis.service', { Result: 'exit-code', MainPID: 0 }, ['Result']);
    assert.equal(value('redis:Result'), 'success', 'not published half-read');
    await until('redis:Result', () => value('redis:Result') === 'exit-code');
    assert.equal(value('redis:MainPID'), 0);
    assert.equal(fake.calls.slice(reads).filter((c) => c.startsWith('GetAll')).length, 1);
  });

  it('Start completes when the job ends, going activating -> active', async () => {
    const states: number[] = [];
    pv('worker:ActiveState').subscribe(() => states.push(value('worker:ActiveState') as number));
    await put('worker:Start', 1);
    assert.equal(value('worker:ActiveState'), 1);
    assert.deepEqual(states, [2, 1]);
    assert.equal(value('worker:JobResult'), 'done');
    assert.equal(value('worker:Busy'), 0);
    assert.ok(fake.calls.includes('StartUnit("worker.service","replace")'));
  });

  it('a JobRemoved that beats the method reply still completes the put', async () => {
    fake.jobEndsBeforeReply = true;
    await put('worker:Start', 1);
    assert.equal(value('worker:JobResult'), 'done');
  });

  it('Busy is 1 while the job runs', async () => {
    fake.holdJobs = true;
    const done = put('worker:Restart', 1);
    await until('worker:Busy', () => value('worker:Busy') === 1);
    await fake.jobHeld();
    assert.equal(value('worker:Busy'), 1);
    fake.release();
    await done;
    assert.equal(value('worker:Busy'), 0);
  });

  /** This IOC rebuilt from `toml` (prefix bl:) over a new fake systemd with `units`; resolves once `ready` holds. */
  async function rebuild(toml: string, units: Record<string, Parameters<FakeSystemd['addUnit']>[1]>, ready: [string, () => boolean]): Promise<void> {
    ioc.database.stop();
    fake = new FakeSystemd();
    for (const [name, unit] of Object.entries(units)) fake.addUnit(name, unit);
    ioc = buildServiceIoc(parseConfig(`[ioc]\nprefix = "bl:"\n${toml}`, 'test.toml'), memoryLogger(), Object.assign(fake, { start: () => fake.up() }));
    ioc.database.start();
    ioc.bus.start();
    await until(ready[0], ready[1]);
  }

  /** This IOC rebuilt with job_timeout = 0.05 s and one unit, worker.service, seen idle. */
  function rebuildWithShortJobTimeout(unit?: Parameters<FakeSystemd['addUnit']>[1]): Promise<void> {
    return rebuild('job_timeout = 0.05\n[[unit]]\nname = "worker.service"\npv = "worker"\nexpect = "any"\n', { 'worker.service': unit },
      ['worker:ActiveState', () => alarm('worker:ActiveState')[1] === 'NO_ALARM']);
  }

  it('a failure and a recovery are one event each on the unit PV and on Health, value and alarm together', async () => {
    await rebuild('[[unit]]\nname = "redis.service"\npv = "redis"\n', { 'redis.service': { ActiveState: 'active', SubState: 'running', MainPID: 42 } },
      ['IOC:Health', () => value('IOC:Health') === 1]);
    const seen: string[] = [];
    const watch = (name: string): (() => void) => pv(name).subscribe(() => {
      const [stat, sevr] = alarm(name);
      seen.push(`${name} ${value(name)} ${stat} ${sevr}`);
    });
    const offs = [watch('redis:ActiveState'), watch('IOC:Health')];
    try {
      fake.set('redis.service', { ActiveState: 'failed', SubState: 'failed', Result: 'signal', MainPID: 0 });
      await until('IOC:Health', () => value('IOC:Health') === 0);
      assert.deepEqual(seen, ['redis:ActiveState 4 STATE MAJOR', 'IOC:Health 0 STATE MAJOR']);
      seen.length = 0;
      fake.set('redis.service', { ActiveState: 'active', SubState: 'running', Result: 'success', MainPID: 43 });
      await until('IOC:Health', () => value('IOC:Health') === 1);
      assert.deepEqual(seen, ['redis:ActiveState 1 NO_ALARM NO_ALARM', 'IOC:Health 1 NO_ALARM NO_ALARM']);
    } finally {
      for (const off of offs) off();
    }
  });

  it('a job that outlives job_timeout fails the put, and Busy and JobResult follow it to its real end', async () => {
    await rebuildWithShortJobTimeout();
    fake.holdJobs = true;
    await assert.rejects(put('worker:Start', 1), (e: unknown) => e instanceof WriteError && e.eca === Eca.PUTFAIL && /did not end within/.test(e.message));
    assert.equal(value('worker:Busy'), 1, 'the job still runs');
    assert.equal(value('worker:JobResult'), '');
    assert.match(String(value('worker:Message')), /Start worker\.service: the job did not end within .*Busy stays 1 until systemd ends it/);
    await fake.jobHeld();
    fake.release();
    await until('worker:Busy', () => value('worker:Busy') === 0);
    assert.equal(value('worker:JobResult'), 'done');
    assert.equal(value('worker:ActiveState'), 1);
    assert.equal(value('worker:Message'), '');
  });

  it('a job that outlives job_timeout and then fails shows "failed" when it ends', async () => {
    await rebuildWithShortJobTimeout({ failsToStart: true });
    fake.holdJobs = true;
    await assert.rejects(put('worker:Restart', 1), /did not end within/);
    assert.equal(value('worker:Busy'), 1);
    await fake.jobHeld();
    fake.release();
    await until('worker:JobResult', () => value('worker:JobResult') === 'failed');
    assert.equal(value('worker:Busy'), 0);
    assert.match(String(value('worker:Message')), /Restart worker\.service: job ended "failed"/);
  });

  it('a failed start job fails the put with ECA_PUTFAIL and says why', async () => {
    fake.units.get('worker.service')!.failsToStart = true;
    await assert.rejects(put('worker:Start', 1), (e: unknown) => e instanceof WriteError && e.eca === Eca.PUTFAIL);
    assert.equal(value('worker:JobResult'), 'failed');
    assert.match(String(value('worker:Message')), /Start worker\.service: job ended "failed"/);
    assert.equal(value('worker:ActiveState'), 4);
  });

  it('losing the bus makes unit PVs INVALID/COMM and BusConnected 0 (MAJOR); writes fail at once; it all comes back', async () => {
    fake.down();
    assert.equal(value('IOC:BusConnected'), 0);
    assert.deepEqual(alarm('IOC:BusConnected'), ['STATE', 'MAJOR']);
    assert.deepEqual(alarm('redis:ActiveState'), ['COMM', 'INVALID']);
    assert.deepEqual(alarm('redis:MainPID'), ['COMM', 'INVALID']);
    assert.deepEqual([value('redis:Enable'), ...alarm('redis:Enable')], [1, 'COMM', 'INVALID'], 'Enable still shows enabled, as stale');
    assert.equal(alarm('IOC:Health')[1], 'INVALID');
    await assert.rejects(put('redis:Restart', 1), (e: unknown) => e instanceof WriteError && /not connected/.test(e.message));
    assert.match(String(value('redis:Message')), /not connected to the fake bus/);
    fake.up();
    await until('redis:ActiveState', () => alarm('redis:ActiveState')[1] === 'NO_ALARM');
    assert.equal(value('IOC:BusConnected'), 1);
    await until('redis:Enable', () => alarm('redis:Enable')[1] === 'NO_ALARM');
    assert.equal(value('redis:Enable'), 1);
  });

  it('Enable and disable change the unit file state, read back', async () => {
    await put('worker:Enable', 1);
    await until('worker:UnitFileState', () => value('worker:UnitFileState') === 'enabled');
    assert.equal(value('worker:Enable'), 1);
    await put('worker:Enable', 0);
    await until('worker:UnitFileState', () => value('worker:UnitFileState') === 'disabled');
    assert.equal(value('worker:Enable'), 0);
  });

  it('Health is 1 only when every unit is as expected, with the highest severity', async () => {
    fake.addUnit('ghost.service', { ActiveState: 'active', SubState: 'running' });
    fake.signal('/org/freedesktop/systemd1', 'org.freedesktop.systemd1.Manager', 'Reloading', [false]);
    await until('IOC:Health', () => value('IOC:Health') === 1);
    assert.deepEqual(alarm('IOC:Health'), ['NO_ALARM', 'NO_ALARM']);
    fake.set('redis.service', { ActiveState: 'activating' });
    await until('IOC:Health', () => value('IOC:Health') === 0);
    assert.equal(alarm('IOC:Health')[1], 'MINOR');
    fake.set('worker.service', { ActiveState: 'failed' });
    await until('IOC:Health', () => alarm('IOC:Health')[1] === 'MAJOR');
  });

  it('a stringin or lsi bound to ActiveState shows the state\'s name; a number record cannot take a text property', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'service-ioc-text-'));
    try {
      fs.writeFileSync(path.join(dir, 'text.db'), [
        'record(stringin, "$(P)redis:StateName") { field(DTYP, "systemd") field(INP, "@redis.service ActiveState") field(SCAN, "I/O Intr") }',
        'record(lsi, "$(P)worker:StateName") { field(DTYP, "systemd") field(INP, "@worker.service ActiveState") field(SCAN, "I/O Intr") field(SIZV, "40") }',
        'record(stringin, "$(P)redis:PidText") { field(DTYP, "systemd") field(INP, "@redis.service MainPID") field(SCAN, "I/O Intr") }',
        '',
      ].join('\n'));
      ioc.database.stop();
      fake = new FakeSystemd();
      fake.addUnit('redis.service', { ActiveState: 'active', SubState: 'running', MainPID: 42 });
      fake.addUnit('worker.service');
      const config = parseConfig('[ioc]\nprefix = "bl:"\ndb = ["text.db"]\n', path.join(dir, 'test.toml'));
      ioc = buildServiceIoc(config, memoryLogger(), Object.assign(fake, { start: () => fake.up() }));
      ioc.database.start();
      ioc.bus.start();
      await until('redis:StateName', () => value('redis:StateName') === 'active');
      await until('worker:StateName', () => value('worker:StateName') === 'inactive');
      assert.equal(value('redis:PidText'), '42');
      fake.set('redis.service', { ActiveState: 'failed' });
      await until('redis:StateName', () => value('redis:StateName') === 'failed');

      fs.writeFileSync(path.join(dir, 'bad.db'), 'record(ai, "$(P)redis:Sub") { field(DTYP, "systemd") field(INP, "@redis.service SubState") }\n');
      const bad = parseConfig('[ioc]\nprefix = "bl:"\ndb = ["bad.db"]\n', path.join(dir, 'test.toml'));
      assert.throws(() => buildServiceIoc(bad, memoryLogger(), new FakeSystemd()), /bad\.db:1.*SubState is text: show it in a stringin or lsi record \(this one is ai\)/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
