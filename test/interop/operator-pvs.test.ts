/**
 * What an operator reads beyond a unit's state, from `service-ioc run`
 * against a real systemd user manager that logs to a real systemd-journald
 * (the harness's), through real libca (pyepics): a unit's resources as its
 * processes in /proc show them (this manager's cgroup v1 accounting reports
 * [not set]), its journal lines, why a start failed, and the iocStats client
 * and channel counts as the server sees them.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserManager, basicUnits, checkJournald, checkUserManager } from '../helpers/systemd-harness';
import { startProcess, type Managed } from '../helpers/processes';
import { clientEnv, PyCa, serverEnv } from '../helpers/pyca';
import { checkPyepics, freeCaPorts, requireDependency } from '../helpers/system';
import { pvaClientEnv } from '../helpers/pvxs';
import { checkPvxsBundle, epicsBin } from '../helpers/shared';
import { CLI_JS, iocSuiteHooks, makeTempDir, requireBuiltCli } from '../helpers/cli';

const P = 'ops:';
const ECA_PUTFAIL = 160;

// Two processes and 3 threads of its own: python with a thread, and a shell.
const TALKER = `[Unit]
Description=Test unit that talks and holds memory
[Service]
Type=simple
ExecStart=/bin/sh -c 'for i in $(seq 1 25); do echo "talk $i"; done; exec python3 -c "import threading, time; b = bytearray(64 << 20); threading.Thread(target=time.sleep, args=(3600,)).start(); print(len(b) >> 20, flush=True); time.sleep(3600)"'
`;

describe('operator PVs: resources, journal, iocStats (real systemd, journald, libca)', function () {
  this.timeout(60000);
  let manager: UserManager | undefined;
  let ioc: Managed | undefined;
  let ca: PyCa | undefined;
  let dir: string | undefined;
  let cfg = '';
  let caEnv: NodeJS.ProcessEnv = {};

  before(async function () {
    requireDependency(this, checkUserManager() ?? checkJournald() ?? checkPyepics());
    requireBuiltCli();
    manager = await UserManager.start({ units: { ...basicUnits(), 'talker.service': TALKER }, journal: true });
    assert.equal((await manager.systemctl('start', 'talker.service')).code, 0);
    dir = makeTempDir('sioc-ops-');
    cfg = path.join(dir, 'ioc.toml');
    fs.writeFileSync(cfg, `[ioc]\nprefix = "${P}"\nresource_period = 1\n\n[journal]\ndirectory = "${manager.journalDir}"\n\n`
      + '[[unit]]\nname = "talker.service"\npv = "talker"\n\n[[unit]]\nname = "failing.service"\npv = "failing"\nexpect = "any"\n\n'
      + '[[unit]]\nname = "sleeper.service"\npv = "sleeper"\nexpect = "any"\n');
    const ports = await freeCaPorts();
    ioc = startProcess(process.execPath, [CLI_JS, 'run', '-c', cfg], { ...serverEnv(ports.server, ports.repeater), ...manager.env, SERVICE_IOC_LOG: 'info' });
    await ioc.waitLine(/CA on port \d+/, 20000);
    caEnv = clientEnv(ports.server, ports.repeater);
    ca = await PyCa.start(caEnv);
    await waitPv('IOC:BusConnected', (r) => r.value === 1);
  });

  iocSuiteHooks(() => ioc, () => [ca, ioc, manager], () => dir);

  /** A long string monitored as VAL$: its bytes up to the NUL. */
  const text = (v: unknown): string => (Array.isArray(v) ? Buffer.from(v as number[]).toString('utf8').replace(/\0.*$/s, '') : String(v));

  /** Every channel name this client opened (pyepics keeps one channel per name). */
  const opened = new Set<string>();

  async function get(pv: string, extra: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    opened.add(P + pv);
    const r = await ca!.request('get', { pv: P + pv, ...extra });
    assert.ok(r.result, `get ${pv}: ${JSON.stringify(r)}`);
    return r.result as Record<string, unknown>;
  }

  async function waitPv(pv: string, check: (r: Record<string, unknown>) => boolean, timeoutMs = 15000): Promise<Record<string, unknown>> {
    opened.add(P + pv);
    return ca!.waitFor(P + pv, check, timeoutMs);
  }

  /** Sum of a field of /proc/PID/status over the unit's processes, as `ps` would add them up. */
  async function procSum(unit: string, field: string): Promise<number> {
    const cg = (await manager!.show(unit, ['ControlGroup'])).ControlGroup;
    const procs = fs.readFileSync(path.join(manager!.cgroups[0].slice(0, manager!.cgroups[0].indexOf(manager!.name)), cg, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean);
    let sum = 0;
    for (const p of procs) sum += Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(fs.readFileSync(`/proc/${p}/status`, 'utf8'))![1]);
    return sum;
  }

  it('a running unit\'s memory and tasks are its processes\' own (systemd says [not set] here)', async () => {
    assert.equal((await manager!.show('talker.service', ['MemoryCurrent'])).MemoryCurrent, '[not set]');
    // python has allocated its 64 MiB once it prints 64.
    await waitPv('talker:LogLast.VAL$', (r) => /: 64$/.test(text(r.value)));
    const mem = await waitPv('talker:MemoryCurrent', (r) => Number(r.value) > 64);
    const rssMiB = (await procSum('talker.service', 'VmRSS')) / 1024;
    assert.ok(Math.abs(Number(mem.value) - rssMiB) < 8, `MemoryCurrent ${mem.value} MiB, the processes' VmRSS ${rssMiB} MiB`);
    assert.equal(mem.severity, 0);
    const tasks = await waitPv('talker:TasksCurrent', (r) => Number(r.value) === 2);
    assert.equal(tasks.value, await procSum('talker.service', 'Threads'));
    const cpu = await waitPv('talker:CPUUsage', (r) => r.severity === 0);
    assert.ok(Number(cpu.value) >= 0 && Number(cpu.value) < 50, `an idle unit's CPUUsage ${cpu.value}%`);
    const stopped = await waitPv('sleeper:MemoryCurrent', () => true);
    assert.deepEqual([stopped.value, stopped.severity], [0, 0], 'a stopped unit uses nothing');
  });

  it('a unit that stops shows no memory, tasks or CPU from its state change on, not from the next poll', async () => {
    // Another IOC on the same units that polls resources once an hour: once at the start, and
    // not again within this test, so the zeros after the stop come from the stop itself.
    assert.equal((await manager!.systemctl('start', 'sleeper.service')).code, 0);
    const hourlyCfg = path.join(dir!, 'hourly.toml');
    fs.writeFileSync(hourlyCfg, '[ioc]\nprefix = "hourly:"\nresource_period = 3600\n\n[[unit]]\nname = "sleeper.service"\npv = "sleeper"\nexpect = "any"\n');
    const ports = await freeCaPorts();
    const hourly = startProcess(process.execPath, [CLI_JS, 'run', '-c', hourlyCfg], { ...serverEnv(ports.server, ports.repeater), ...manager!.env });
    let client: PyCa | undefined;
    try {
      await hourly.waitLine(/CA on port \d+/, 20000);
      client = await PyCa.start(clientEnv(ports.server, ports.repeater));
      // The poll at the start: sleep is one task, with some memory.
      await client.waitFor('hourly:sleeper:TasksCurrent', (r) => r.value === 1 && r.severity === 0);
      const mem = await client.waitFor('hourly:sleeper:MemoryCurrent', (r) => r.severity === 0);
      assert.ok(Number(mem.value) > 0, `a running sleep uses some memory: ${mem.value} MiB`);
      assert.equal((await manager!.systemctl('stop', 'sleeper.service')).code, 0);
      for (const what of ['TasksCurrent', 'MemoryCurrent', 'CPUUsage']) {
        const r = await client.waitFor(`hourly:sleeper:${what}`, (x) => x.value === 0);
        assert.equal(r.severity, 0, `${what} of a stopped unit is NO_ALARM`);
      }
    } finally {
      await client?.stop();
      await hourly.stop();
    }
  });

  it('LogTail holds the unit\'s last 20 journal lines, LogLast the newest', async () => {
    const tail = String((await get('talker:LogTail.VAL$', { as_string: true })).value).split('\n');
    assert.equal(tail.length, 20);
    assert.match(tail[19], /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d sh\[\d+\]: 64$/);
    assert.match(tail[18], /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d sh\[\d+\]: talk 25$/);
    assert.match(tail[0], /: talk 7$/);
    assert.match(String((await get('talker:LogLast.VAL$', { as_string: true })).value), /: 64$/);
  });

  it('after a failed start, Message holds the unit\'s last error lines from the journal', async () => {
    const r = await ca!.request('put', { pv: `${P}failing:Start`, value: 1, wait: true, timeout: 30, poll: 0 });
    opened.add(`${P}failing:Start`);
    assert.equal(r.status, ECA_PUTFAIL, JSON.stringify(r));
    const msg = String((await get('failing:Message.VAL$', { as_string: true })).value);
    // The manager's own line is certain to be there; the unit's stdout line reaches the
    // journal through its stream, and may come after the job has ended.
    assert.match(msg, /^Start failing\.service: job ended "failed": .*status=3/);
    await waitPv('failing:LogTail.VAL$', (x) => /failing on purpose/.test(text(x.value)));
    const last = await waitPv('failing:LogLast.VAL$', (x) => /Failed to start failing\.service/.test(text(x.value)));
    assert.equal(last.severity, 0);
  });

  it('CA_CLNT_CNT and CA_CONN_CNT count the clients and channels the server has', async () => {
    await get('IOC:CA_CLNT_CNT');
    const one = await waitPv('IOC:CA_CONN_CNT', (x) => x.value === opened.size);
    assert.equal(one.value, opened.size);
    assert.equal((await waitPv('IOC:CA_CLNT_CNT', (x) => x.value === 1)).value, 1);
    const other = await PyCa.start(caEnv);
    try {
      for (const pv of ['IOC:HEARTBEAT', 'IOC:UPTIME', 'talker:ActiveState']) assert.equal((await other.request('connect', { pv: P + pv })).connected, true);
      await waitPv('IOC:CA_CLNT_CNT', (x) => x.value === 2);
      await waitPv('IOC:CA_CONN_CNT', (x) => x.value === opened.size + 3);
    } finally {
      await other.stop();
    }
    await waitPv('IOC:CA_CLNT_CNT', (x) => x.value === 1);
    await waitPv('IOC:CA_CONN_CNT', (x) => x.value === opened.size);
  });

  it('PVA_CLNT_CNT and PVA_CONN_CNT count pvAccess clients and channels; the CA counts leave them out, as iocStats\'s do', async function () {
    requireDependency(this, checkPvxsBundle());
    const ports = await ioc!.waitLine(/PVA on TCP port (\d+) and UDP port (\d+)/);
    assert.equal((await waitPv('IOC:PVA_CLNT_CNT', () => true)).value, 0, 'no PVA client yet');
    // One pvxmonitor is one PVA client; with two PVs, two channels on it.
    const mon = startProcess(path.join(epicsBin()!, 'pvxmonitor'), [`${P}IOC:HEARTBEAT`, `${P}talker:ActiveState`],
      pvaClientEnv({ tcp: Number(ports[1]), udp: Number(ports[2]) }));
    try {
      await mon.waitLine(new RegExp(`^${P}IOC:HEARTBEAT$`), 10000);
      await mon.waitLine(new RegExp(`^${P}talker:ActiveState$`), 10000);
      await waitPv('IOC:PVA_CLNT_CNT', (x) => x.value === 1);
      await waitPv('IOC:PVA_CONN_CNT', (x) => x.value === 2);
      // The CA counts are this one CA client and the channels it opened, nothing of pvxmonitor's.
      await waitPv('IOC:CA_CLNT_CNT', (x) => x.value === 1);
      await waitPv('IOC:CA_CONN_CNT', (x) => x.value === opened.size);
    } finally {
      await mon.stop();
    }
    await waitPv('IOC:PVA_CLNT_CNT', (x) => x.value === 0);
    await waitPv('IOC:PVA_CONN_CNT', (x) => x.value === 0);
  });

  it('iocStats process facts match the IOC process', async () => {
    const pid = ioc!.proc.pid!;
    assert.equal((await get('IOC:PROCESS_ID')).value, pid);
    assert.equal((await get('IOC:PARENT_ID')).value, process.pid);
    const script = (await get('IOC:ST_SCRIPT', { as_string: true })).value;
    assert.equal(script, cfg);
    const maxFd = Number(/^Max open files\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/limits`, 'utf8'))![1]);
    assert.equal((await get('IOC:FD_MAX')).value, maxFd);
  });
});
