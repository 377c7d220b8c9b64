/**
 * service-ioc against a real systemd 252 user manager and real units, seen
 * through real libca (pyepics): what an operator sees on a screen and what a
 * caput with wait does. Outside CI a missing dependency skips; in CI it fails.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserManager, basicUnits, checkRedis, checkUserManager, fixtureUnit, freeTcpPort, redisUnits } from '../helpers/systemd-harness';
import { startProcess, type Managed } from '../helpers/processes';
import { clientEnv, PyCa, REPO_ROOT, serverEnv, type Reply } from '../helpers/pyca';
import { checkPyepics, freeCaPorts, requireDependency } from '../helpers/system';
import { CLI_JS, iocSuiteHooks, makeTempDir, requireBuiltCli } from '../helpers/cli';

const P = 'sioc:';
const ECA_PUTFAIL = 160;

const SLOWSTART = `[Unit]
Description=Test unit with a visible activating phase

[Service]
Type=simple
ExecStartPre=/bin/sleep 0.3
ExecStart=/bin/sh -c 'exec sleep infinity'

[Install]
WantedBy=default.target
`;

/** One write restarts two units: the put-callback follows the links (as dbNotify). */
const STACK_DB = `record(dfanout, "$(P)stack:Restart") {
  field(DESC, "Restart slow and sleeper")
  field(OUTA, "$(P)slow:Restart PP") field(OUTB, "$(P)sleeper:Restart PP")
}
`;

function config(redisPort: number): string {
  return `[ioc]
prefix = "${P}"
db = ["stack.db"]

[[unit]]
name = "slowstart.service"
pv = "slow"

[[unit]]
name = "sleeper.service"
pv = "sleeper"

[[unit]]
name = "crasher.service"
pv = "crasher"

[[unit]]
name = "failing.service"
pv = "failing"
expect = "any"

[[unit]]
name = "worker@alpha.service"
pv = "worker"

[[unit]]
name = "missing.service"
pv = "missing"
expect = "any"

[[unit]]
name = "redis.service"
pv = "redis"
# port ${redisPort}
`;
}

describe('service-ioc with a real systemd user manager (libca client)', function () {
  this.timeout(60000);
  let manager: UserManager | undefined;
  let ioc: Managed | undefined;
  let ca: PyCa | undefined;
  let dir: string | undefined;

  before(async function () {
    requireDependency(this, checkUserManager() ?? checkRedis() ?? checkPyepics());
    requireBuiltCli();
    const redisPort = await freeTcpPort();
    manager = await UserManager.start({ units: { ...basicUnits(), ...redisUnits(redisPort), 'slowstart.service': SLOWSTART } });
    dir = makeTempDir('sioc-systemd-');
    const cfg = path.join(dir, 'ioc.toml');
    fs.writeFileSync(cfg, config(redisPort));
    fs.writeFileSync(path.join(dir, 'stack.db'), STACK_DB);
    const ports = await freeCaPorts();
    ioc = startProcess(process.execPath, [CLI_JS, 'run', '-c', cfg], { ...serverEnv(ports.server, ports.repeater), ...manager.env, SERVICE_IOC_LOG: 'info' });
    await ioc.waitLine(/CA on port \d+/, 20000);
    ca = await PyCa.start(clientEnv(ports.server, ports.repeater));
    // The bridge has read every unit once BusConnected is 1 and the missing unit shows not-found.
    await waitPv('IOC:BusConnected', (r) => r.value === 1);
    await waitPv('missing:LoadState', (r) => r.value === 'not-found');
  });

  iocSuiteHooks(() => ioc, () => [ca, ioc, manager], () => dir);

  const get = (pv: string, extra: Record<string, unknown> = {}): Promise<Record<string, unknown>> => ca!.getResult(P + pv, extra);
  /** Monitor a PV through libca until `check` holds (the IOC changes it on a systemd signal). */
  const waitPv = (pv: string, check: (r: Record<string, unknown>) => boolean, timeoutMs = 15000): Promise<Record<string, unknown>> => ca!.waitFor(P + pv, check, timeoutMs);

  async function put(pv: string, value: number | string): Promise<Reply> {
    return ca!.request('put', { pv: P + pv, value, wait: true, timeout: 30, poll: 0 });
  }

  it('control PVs are defined from the start: buttons 0 and Enable as UnitFileState, NO_ALARM, with a timestamp', async () => {
    // First in this suite: no control has been written yet. DBR_TIME_ENUM carries status, severity and time.
    const timeEnum = 17;
    /** 1990-01-01 in POSIX seconds: the time of a record never processed. */
    const EPICS_EPOCH_POSIX = 631152000;
    for (const unit of ['slow', 'sleeper', 'missing', 'redis']) {
      for (const control of ['Start', 'Stop', 'Restart', 'ResetFailed', 'Enable']) {
        const r = await get(`${unit}:${control}`, { ftype: timeEnum });
        const enabled = control === 'Enable' && (await get(`${unit}:UnitFileState`)).value === 'enabled' ? 1 : 0;
        assert.deepEqual([r.value, r.status, r.severity], [enabled, 0, 0], `${unit}:${control} ${JSON.stringify(r)}`);
        assert.ok((r.timestamp as number) > EPICS_EPOCH_POSIX, `${unit}:${control} has a timestamp`);
      }
    }
    assert.equal((await get('slow:UnitFileState')).value, 'disabled', 'Enable 0 above is read back, not left undefined');
  });

  it('Start with caput wait returns after the job; activating -> active, Running=1, MainPID as systemctl shows', async () => {
    const mid = 'slow-active';
    await ca!.request('monitor', { pv: `${P}slow:ActiveState`, mid, mask: 1 });
    const r = await put('slow:Start', 1);
    assert.equal(r.status, 1, `put-callback status ${JSON.stringify(r)}`);
    assert.ok((r.elapsed as number) >= 0.25, 'the put waited for ExecStartPre (0.3 s)');
    // The put completed when the job did: the unit is active now.
    const active = await get('slow:ActiveState', { as_string: true });
    assert.equal(active.value, 'active');
    const events = ((await ca!.request('events', { mid, atleast: 3 })).events as Array<{ value: number }>).map((e) => e.value);
    assert.deepEqual(events.slice(-2), [2, 1], `ActiveState went activating (2) then active (1): ${events.join(',')}`);
    await ca!.request('unmonitor', { mid });
    assert.equal((await get('slow:Running')).value, 1);
    const shown = await manager!.show('slowstart.service', ['MainPID']);
    assert.equal((await get('slow:MainPID')).value, Number(shown.MainPID));
    assert.ok(Number(shown.MainPID) > 0);
    assert.equal((await get('slow:JobResult')).value, 'done');
  });

  it('a dfanout restarts two units with one caput; its put-callback returns when both restart jobs have ended', async () => {
    const pids = async (): Promise<number[]> => [
      Number((await manager!.show('slowstart.service', ['MainPID'])).MainPID), Number((await manager!.show('sleeper.service', ['MainPID'])).MainPID),
    ];
    const before = await pids();
    const r = await put('stack:Restart', 1);
    assert.equal(r.status, 1, `put-callback status ${JSON.stringify(r)}`);
    // Returned when the jobs did: slowstart (its ExecStartPre sleeps) is already active again.
    for (const unit of ['slow', 'sleeper']) {
      assert.equal((await get(`${unit}:ActiveState`, { as_string: true })).value, 'active', unit);
      assert.equal((await get(`${unit}:JobResult`)).value, 'done', unit);
    }
    const after = await pids();
    assert.ok(after.every((pid, i) => pid > 0 && pid !== before[i]), `new main processes: ${before.join(',')} -> ${after.join(',')}`);
  });

  it('follows a start and a stop done with systemctl outside the IOC', async () => {
    assert.equal((await manager!.systemctl('start', 'sleeper.service')).code, 0);
    await waitPv('sleeper:ActiveState', (r) => r.value === 1 && r.severity === 0);
    assert.equal((await manager!.systemctl('stop', 'sleeper.service')).code, 0);
    const r = await waitPv('sleeper:ActiveState', (x) => x.value === 0);
    assert.equal(r.severity, 2, 'inactive is MAJOR for a unit expected active');
    assert.equal((await get('sleeper:Running')).value, 0);
  });

  it('kill -9 of the main process: failed/MAJOR is seen, Result signal, and Restart=on-failure counts NRestarts', async () => {
    assert.equal((await put('crasher:Start', 1)).status, 1);
    const before = Number((await get('crasher:NRestarts')).value);
    const pid = Number((await manager!.show('crasher.service', ['MainPID'])).MainPID);
    assert.ok(pid > 0);
    process.kill(pid, 'SIGKILL');
    await waitPv('crasher:NRestarts', (r) => Number(r.value) === before + 1);
    await waitPv('crasher:ActiveState', (r) => r.value === 1);
    const newPid = Number((await get('crasher:MainPID')).value);
    assert.notEqual(newPid, pid);
    assert.equal((await get('crasher:Result')).value, 'success', 'Result is reset by the successful restart');
  });

  it('a unit whose start job fails: the put fails with ECA_PUTFAIL, JobResult and Message say why', async () => {
    const r = await put('failing:Start', 1);
    assert.equal(r.status, ECA_PUTFAIL, JSON.stringify(r));
    assert.equal((await get('failing:JobResult')).value, 'failed');
    const msg = await get('failing:Message.VAL$', { as_string: true });
    assert.match(String(msg.value), /Start failing\.service: job ended "failed"/);
    const st = await waitPv('failing:ActiveState', (x) => x.value === 4);
    assert.equal(st.severity, 2, 'failed is MAJOR');
    assert.equal((await get('failing:Result')).value, 'exit-code');
    assert.equal((await get('failing:ExitCode')).value, 3);
    assert.equal((await put('failing:ResetFailed', 1)).status, 1);
    await waitPv('failing:ActiveState', (x) => x.value === 0 && x.severity === 0);
  });

  it('a missing unit: LoadState not-found, every status PV INVALID', async () => {
    for (const f of ['LoadState', 'ActiveState', 'SubState', 'MainPID']) {
      assert.equal((await get(`missing:${f}`, { ftype: 14 + (f === 'MainPID' ? 5 : f === 'ActiveState' ? 3 : 0) })).severity, 3, f);
    }
    const r = await put('missing:Start', 1);
    assert.equal(r.status, ECA_PUTFAIL);
  });

  it('a template instance runs and is followed', async () => {
    assert.equal((await put('worker:Start', 1)).status, 1);
    assert.equal((await get('worker:ActiveState', { as_string: true })).value, 'active');
    assert.equal((await get('worker:SubState')).value, 'running');
  });

  it('redis-server from Debian as a Type=notify unit: Start completes once redis is ready', async () => {
    assert.equal((await put('redis:Start', 1)).status, 1);
    assert.equal((await get('redis:ActiveState', { as_string: true })).value, 'active');
    assert.equal((await get('redis:MainPID')).value, Number((await manager!.show('redis.service', ['MainPID'])).MainPID));
  });

  it('enable and disable change UnitFileState, read back by Enable', async () => {
    assert.equal((await get('slow:UnitFileState')).value, 'disabled');
    assert.equal((await put('slow:Enable', 1)).status, 1);
    await waitPv('slow:UnitFileState', (r) => r.value === 'enabled');
    assert.equal((await manager!.systemctl('is-enabled', 'slowstart.service')).stdout.trim(), 'enabled');
    assert.equal((await get('slow:Enable')).value, 1);
    assert.equal((await put('slow:Enable', 0)).status, 1);
    await waitPv('slow:UnitFileState', (r) => r.value === 'disabled');
    assert.equal((await get('slow:Enable')).value, 0);
  });

  it('Health is 0 with the highest severity among the units, 1 with none', async () => {
    // sleeper is inactive but expected active (MAJOR); missing is INVALID.
    const h = await get('IOC:Health', { ftype: 17 });
    assert.equal(h.value, 0);
    assert.equal(h.severity, 3);
  });

  it('daemon-reload and daemon-reexec keep the PVs in sync', async () => {
    await manager!.writeUnit('sleeper.service.d/desc.conf', '[Unit]\nDescription=changed\n', false);
    assert.equal((await manager!.systemctl('daemon-reload')).code, 0);
    assert.equal((await manager!.systemctl('start', 'sleeper.service')).code, 0);
    await waitPv('sleeper:ActiveState', (r) => r.value === 1);
    assert.equal((await manager!.systemctl('daemon-reexec')).code, 0);
    assert.equal((await manager!.systemctl('stop', 'sleeper.service')).code, 0);
    await waitPv('sleeper:ActiveState', (r) => r.value === 0);
    assert.equal((await get('IOC:BusConnected')).value, 1);
  });

  it('the bus going away: BusConnected 0 (MAJOR), unit PVs INVALID/COMM, writes fail at once; back within 5 s', async () => {
    await manager!.killBus();
    await waitPv('IOC:BusConnected', (r) => r.value === 0 && r.severity === 2);
    const s = await get('slow:ActiveState', { ftype: 17 });
    assert.deepEqual([s.status, s.severity], [9, 3], 'COMM / INVALID');
    const r = await put('slow:Restart', 1);
    assert.equal(r.status, ECA_PUTFAIL);
    assert.ok((r.elapsed as number) < 2, 'refused at once');
    assert.match(String((await get('slow:Message.VAL$', { as_string: true })).value), /not connected/);
    const t0 = Date.now();
    await manager!.startBus();
    await waitPv('IOC:BusConnected', (x) => x.value === 1, 5000);
    await waitPv('slow:ActiveState', (x) => x.value === 1 && x.severity === 0, 5000);
    assert.ok(Date.now() - t0 < 5000, `recovered in ${Date.now() - t0} ms`);
  });

  it('check -c rejects a malformed configuration with the line and key', async () => {
    const bad = path.join(dir!, 'bad.toml');
    fs.writeFileSync(bad, `[ioc]\nprefix = "x:"\n[[unit]]\nname = "a.service"\npv = "a"\ncontrl = false\n`);
    const p = startProcess(process.execPath, [CLI_JS, 'check', '-c', bad], { PATH: process.env.PATH });
    const code = await new Promise<number | null>((resolve) => p.proc.on('exit', resolve));
    assert.equal(code, 1);
    assert.match(p.stderr(), /bad\.toml:6: \[\[unit\]\] #1: unknown key "contrl"/);
  });

  it('runs as the shipped Type=notify unit: ready once serving, kept alive by watchdog pings, stops cleanly', async () => {
    const ports = await freeCaPorts();
    const cfg = path.join(dir!, 'as-unit.toml');
    fs.writeFileSync(cfg, '[ioc]\nprefix = "asunit:"\n\n[[unit]]\nname = "sleeper.service"\npv = "sleeper"\n');
    // ioc/service-ioc.service as shipped, with this build as ExecStart and a short watchdog.
    const shipped = fs.readFileSync(path.join(REPO_ROOT, 'ioc/service-ioc.service'), 'utf8');
    const unit = shipped
      .replace(/^ExecStart=.*$/m, `ExecStart=${process.execPath} ${CLI_JS} run -c ${cfg}`)
      .replace(/^WatchdogSec=.*$/m, 'WatchdogSec=2')
      .replace(/^Environment=EPICS_CAS_SERVER_PORT=.*$/m,
        `Environment=EPICS_CAS_SERVER_PORT=${ports.server} EPICS_CAS_INTF_ADDR_LIST=127.0.0.1 EPICS_CAS_AUTO_BEACON_ADDR_LIST=NO EPICS_CAS_BEACON_ADDR_LIST=127.0.0.1 EPICS_CAS_BEACON_PORT=${ports.repeater}`);
    assert.match(unit, /^Type=notify$/m);
    await manager!.writeUnit('service-ioc.service', unit);
    // Type=notify: `systemctl start` returns only after READY=1, sent once CA is serving.
    const started = await manager!.systemctl('start', 'service-ioc.service');
    assert.equal(started.code, 0, started.stderr);
    const shown = await manager!.show('service-ioc.service', ['ActiveState', 'StatusText', 'WatchdogTimestampMonotonic', 'MainPID']);
    assert.equal(shown.ActiveState, 'active');
    assert.match(shown.StatusText, /serving \d+ PVs on CA port \d+/);
    // LimitNOFILE= in the shipped unit: room for tens of thousands of clients, not systemd's
    // 1024; a user manager can raise it no higher than its own hard limit (ours, here).
    const openFiles = (text: string): number[] => (/^Max open files\s+(\d+)\s+(\d+)/m.exec(text) ?? []).slice(1).map(Number);
    const ceiling = openFiles(fs.readFileSync('/proc/self/limits', 'utf8'))[1];
    assert.deepEqual(openFiles(fs.readFileSync(`/proc/${shown.MainPID}/limits`, 'utf8')), [Math.min(65536, ceiling), Math.min(65536, ceiling)]);
    const client = await PyCa.start(clientEnv(ports.server, ports.repeater));
    try {
      const r = await client.request('wait_value', { pv: 'asunit:IOC:BusConnected', value: 1, timeout: 10 });
      assert.equal(r.ok, true, 'the IOC in the unit found the user bus by itself');
    } finally {
      await client.stop();
    }
    // Two watchdog pings later (WatchdogSec=2 means one a second) it is still active.
    let last = shown.WatchdogTimestampMonotonic;
    for (let ping = 0; ping < 2; ping++) {
      last = await manager!.waitFor('service-ioc.service', 'WatchdogTimestampMonotonic', (v) => v !== last && v !== '0', 5000);
    }
    assert.equal((await manager!.show('service-ioc.service', ['ActiveState'])).ActiveState, 'active');
    assert.equal((await manager!.systemctl('stop', 'service-ioc.service')).code, 0);
    const after = await manager!.show('service-ioc.service', ['ActiveState', 'Result']);
    assert.deepEqual([after.ActiveState, after.Result], ['inactive', 'success']);
  });

  it('fixture units are the ones the harness checked', () => {
    assert.match(fixtureUnit('crasher.service'), /Restart=on-failure/);
  });
});
