/**
 * service-ioc behind the CA gateway (epics-extensions/ca-gateway 2.2, from
 * the EPICS bundle), with the shipped ioc/gateway.pvlist and
 * ioc/gateway.access, against a real systemd user manager and real units.
 * The gateway's client side is on service-ioc's port, its server side on
 * another loopback port, and every client here (pyepics, the bundle's caget
 * and caput) uses only the gateway's port: what a console on another subnet
 * sees. Consoles are told apart by host name (`unshare --uts`), since libca
 * sends gethostname() and the gateway's rules name hosts, and users by the
 * account a client runs as (`setpriv`), since libca sends the name of its
 * real user id.
 *
 * Outside CI a missing bundle, gateway, pyepics, systemd, unshare or setpriv skips the
 * suite; in CI (CI=true) it fails.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { UserManager, basicUnits, checkUserManager, run } from '../helpers/systemd-harness';
import { startProcess, type Managed } from '../helpers/processes';
import { clientEnv, PyCa, PYCA_SCRIPT, REPO_ROOT, serverEnv, type Reply } from '../helpers/pyca';
import { checkPyepics, freeCaPorts, requireDependency, SYSTEM_PYTHON } from '../helpers/system';
import { checkEpicsBundle, epicsBin } from '../helpers/shared';
import { CLI_JS, makeTempDir, removeTempDir, requireBuiltCli } from '../helpers/cli';

/** The prefix of the shipped example configuration, the one ioc/gateway.pvlist names. */
const P = '100id:bluesky:';
/** A host name in HAG(consoles) of ioc/gateway.access, and one that is not. */
const CONSOLE = 'opi1';
const ELSEWHERE = 'office7';
/**
 * Two accounts every Debian system has: the first is added to UAG(operators),
 * the second is not. libca sends the name of its real user id
 * (osiGetUserName: getpwuid(getuid())), not $USER or $LOGNAME, so a client
 * runs as another user under setpriv.
 */
const OPERATOR_USER = 'daemon';
const OTHER_USER = 'nobody';
/** What pyepics raises when libca refuses a put for lack of write access (ECA_NOWTACCESS). */
const DENIED = /CASeverityException: +put returned 'Write access denied'/;
const ACTIVE_STATES = ['inactive', 'active', 'activating', 'deactivating', 'failed', 'reloading', 'maintenance', 'refreshing'];

const SLOWSTART = `[Unit]
Description=Test unit with a visible activating phase

[Service]
Type=simple
ExecStartPre=/bin/sleep 0.3
ExecStart=/bin/sh -c 'exec sleep infinity'
`;

function checkGateway(): string | undefined {
  const bin = epicsBin()!;
  if (!fs.existsSync(path.join(bin, 'gateway'))) return `no CA gateway in ${bin}`;
  return undefined;
}

function checkUsers(): string | undefined {
  for (const user of [OPERATOR_USER, OTHER_USER]) if (spawnSync('id', ['-u', user]).status !== 0) return `no user ${user} here`;
  if (spawnSync('sh', ['-c', 'command -v setpriv']).status !== 0) return 'setpriv is not installed (util-linux)';
  return undefined;
}

function checkUts(): string | undefined {
  if (process.getuid?.() !== 0) return 'clients from other host names (unshare --uts) need root';
  const r = spawnSync('unshare', ['--uts', 'sh', '-c', `hostname ${CONSOLE} && hostname`], { encoding: 'utf8', timeout: 10000 });
  if (r.error || r.status !== 0 || r.stdout.trim() !== CONSOLE) return `unshare --uts does not work here: ${r.error?.message ?? r.stderr}`;
  return undefined;
}

/** PATH without the bundle's bin/, so that no libca here starts a caRepeater of its own that would outlive the test. */
function pathWithoutBundle(): string {
  const bin = epicsBin();
  return (process.env.PATH ?? '/usr/bin:/bin').split(':').filter((d) => d && path.resolve(d) !== bin).join(':');
}

/** Arguments that run `cmd args` in a UTS namespace whose host name is `host`. */
function asHost(host: string, cmd: string, args: string[]): string[] {
  return ['--uts', '--', 'sh', '-c', 'hostname "$1" && shift && exec "$@"', 'sh', host, cmd, ...args];
}

describe('service-ioc behind the CA gateway (real gateway, systemd, libca)', function () {
  this.timeout(90000);
  let manager: UserManager | undefined;
  let ioc: Managed | undefined;
  let gateway: Managed | undefined;
  /** A client on a console (HAG consoles) and one elsewhere; both reach the IOC through the gateway only. */
  let consoleCa: PyCa | undefined;
  let officeCa: PyCa | undefined;
  let dir: string | undefined;
  let iocPutLog = '';
  let gatewayPutLog = '';
  let gatewayPort = 0;
  let caEnv: NodeJS.ProcessEnv = {};
  const me = os.userInfo().username;

  before(async function () {
    requireDependency(this, checkUserManager() ?? checkPyepics() ?? checkEpicsBundle() ?? checkGateway() ?? checkUts() ?? checkUsers());
    requireBuiltCli();
    manager = await UserManager.start({ units: { ...basicUnits(), 'slowstart.service': SLOWSTART } });
    assert.equal((await manager.systemctl('start', 'sleeper.service')).code, 0);
    dir = makeTempDir('sioc-gateway-');
    iocPutLog = path.join(dir, 'ioc-puts.jsonl');
    gatewayPutLog = path.join(dir, 'gateway-puts.log');
    // service-ioc's own rules: the gateway (this host, this user) may write what it lets through.
    fs.writeFileSync(path.join(dir, 'access.acf'), `UAG(gateways) { ${me} }\nHAG(gateways) { ${os.hostname()} }\n`
      + 'ASG(DEFAULT) {\n  RULE(1, READ)\n}\nASG(SERVICE_STATUS) {\n  RULE(1, READ)\n}\n'
      + 'ASG(SERVICE_CONTROL) {\n  RULE(1, READ)\n  RULE(1, WRITE, TRAPWRITE) {\n    UAG(gateways)\n    HAG(gateways)\n  }\n}\n');
    const cfg = path.join(dir, 'ioc.toml');
    fs.writeFileSync(cfg, `[ioc]\nprefix = "${P}"\n\n`
      + '[[unit]]\nname = "sleeper.service"\npv = "sleeper"\n\n'
      + '[[unit]]\nname = "slowstart.service"\npv = "slow"\nexpect = "any"\n\n'
      + `[access]\nfile = "access.acf"\n\n[putlog]\nfile = "${iocPutLog}"\nformat = "json"\n`);
    // The shipped gateway files; the operators' list names the user this test runs as.
    fs.copyFileSync(path.join(REPO_ROOT, 'ioc/gateway.pvlist'), path.join(dir, 'gateway.pvlist'));
    const access = fs.readFileSync(path.join(REPO_ROOT, 'ioc/gateway.access'), 'utf8');
    assert.match(access, /^UAG\(operators\) \{ [^}]* \}$/m);
    assert.match(access, new RegExp(`^HAG\\(consoles\\) \\{ [^}]*\\b${CONSOLE}\\b[^}]* \\}$`, 'm'));
    fs.writeFileSync(path.join(dir, 'gateway.access'), access.replace(/^UAG\(operators\) \{ ([^}]*) \}$/m, `UAG(operators) { $1, ${me}, ${OPERATOR_USER} }`));

    const iocPorts = await freeCaPorts();
    ioc = startProcess(process.execPath, [CLI_JS, 'run', '-c', cfg], { ...serverEnv(iocPorts.server, iocPorts.repeater), ...manager.env, SERVICE_IOC_LOG: 'info' });
    await ioc.waitLine(/CA on port \d+/, 20000);

    const gwPorts = await freeCaPorts();
    gatewayPort = gwPorts.server;
    // The command line of docs/deployment.md, on loopback: -cip/-cport where service-ioc
    // answers, -sip/-sport where the consoles look. Beacons go to the consoles' repeater port.
    gateway = startProcess(path.join(epicsBin()!, 'gateway'), [
      '-sip', '127.0.0.1', '-sport', String(gwPorts.server),
      '-cip', '127.0.0.1', '-cport', String(iocPorts.server),
      '-pvlist', 'gateway.pvlist', '-access', 'gateway.access', '-putlog', 'gateway-puts.log', '-home', dir,
    ], {
      PATH: pathWithoutBundle(),
      HOME: dir,
      EPICS_CA_REPEATER_PORT: String(iocPorts.repeater),
      EPICS_CAS_AUTO_BEACON_ADDR_LIST: 'NO',
      EPICS_CAS_BEACON_ADDR_LIST: '127.0.0.1',
      EPICS_CAS_BEACON_PORT: String(gwPorts.repeater),
    });
    await gateway.waitLine(/^Running as user \S+ on host \S+/, 10000);

    caEnv = clientEnv(gwPorts.server, gwPorts.repeater, { PATH: pathWithoutBundle() });
    consoleCa = await PyCa.startWith('unshare', asHost(CONSOLE, SYSTEM_PYTHON, [PYCA_SCRIPT]), caEnv);
    officeCa = await PyCa.startWith('unshare', asHost(ELSEWHERE, SYSTEM_PYTHON, [PYCA_SCRIPT]), caEnv);
    const bus = await consoleCa.request('connect', { pv: `${P}IOC:BusConnected`, timeout: 10 });
    assert.equal(bus.connected, true, 'IOC:BusConnected through the gateway');
    // The gateway grants the channel read access (gateway.pvlist gives each line its level).
    assert.equal(bus.read, true, 'IOC:BusConnected is readable through the gateway');
    await waitPv('IOC:BusConnected', (r) => r.value === 1);
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') {
      if (ioc) process.stderr.write(`IOC stderr:\n${ioc.stderr().slice(-3000)}\n`);
      if (gateway) process.stderr.write(`gateway output:\n${gateway.lines.slice(-40).join('\n')}\n${gateway.stderr().slice(-2000)}\n`);
    }
  });

  after(async () => {
    await consoleCa?.stop();
    await officeCa?.stop();
    await gateway?.stop();
    await ioc?.stop();
    await manager?.stop();
    removeTempDir(dir);
  });

  const get = (pv: string, extra: Record<string, unknown> = {}): Promise<Record<string, unknown>> => consoleCa!.getResult(P + pv, extra);
  /** Monitor a PV through the gateway until `check` holds for an event. */
  const waitPv = (pv: string, check: (r: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> => consoleCa!.waitFor(P + pv, check);

  /** A bundle tool (caget, caput) against the gateway, from host `host`. */
  function tool(host: string, name: string, args: string[]): ReturnType<typeof run> {
    return run('unshare', asHost(host, path.join(epicsBin()!, name), args), caEnv, 30000);
  }

  function putLogEntries(): Array<Record<string, unknown>> {
    if (!fs.existsSync(iocPutLog)) return [];
    return fs.readFileSync(iocPutLog, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  /**
   * The put log's entries once it holds at least `n`. service-ioc writes a client's
   * first write to a PV at once, and a further one within a second at the end of that
   * second (one line per burst); behind the gateway every console is that one client.
   */
  function putLogEntriesAtLeast(n: number, timeoutMs = 10000): Promise<Array<Record<string, unknown>>> {
    return new Promise((resolve, reject) => {
      const watcher = fs.watch(dir!);
      const finish = (entries?: Array<Record<string, unknown>>): void => {
        clearTimeout(timer);
        watcher.close();
        if (entries) resolve(entries);
        else reject(new Error(`the put log did not reach ${n} entries in ${timeoutMs} ms: ${JSON.stringify(putLogEntries())}`));
      };
      const check = (): void => {
        const entries = putLogEntries();
        if (entries.length >= n) finish(entries);
      };
      const timer = setTimeout(() => finish(), timeoutMs);
      watcher.on('change', check);
      check();
    });
  }

  it('clients reach the IOC through the gateway port only', async () => {
    const r = await consoleCa!.request('connect', { pv: `${P}sleeper:ActiveState`, timeout: 10 });
    assert.equal(r.connected, true);
    assert.match(String(r.host), new RegExp(`:${gatewayPort}$`), `served by the gateway: ${String(r.host)}`);
    // A name outside gateway.pvlist is not forwarded.
    const outside = await consoleCa!.request('connect', { pv: 'other:prefix:IOC:Heartbeat', timeout: 1 });
    assert.equal(outside.connected, false);
  });

  it('gets of every kind: a unit\'s ActiveState enum, numbers, strings, long strings, IOC: PVs', async () => {
    const shown = await manager!.show('sleeper.service', ['MainPID', 'SubState', 'NRestarts']);
    assert.equal((await get('sleeper:ActiveState', { as_string: true })).value, 'active');
    const ctrl = await get('sleeper:ActiveState', { ftype: 17 });
    assert.deepEqual([ctrl.value, ctrl.severity], [1, 0]);
    assert.equal((await get('sleeper:MainPID')).value, Number(shown.MainPID));
    assert.equal((await get('sleeper:NRestarts')).value, Number(shown.NRestarts));
    assert.equal((await get('sleeper:SubState')).value, shown.SubState);
    assert.equal((await get('sleeper:Running')).value, 1);
    assert.equal((await get('slow:LoadState')).value, 'loaded');
    assert.equal((await get('IOC:BusMessage.VAL$', { as_string: true })).value, `connected to the user bus (${manager!.busAddress})`);
    const version = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.match(String((await get('IOC:Version')).value), new RegExp(version.version.replace(/\./g, '\\.')));
    assert.ok(Number((await get('IOC:Uptime')).value) >= 0);
    assert.equal((await get('IOC:BusConnected', { as_string: true })).value, 'Connected');
  });

  it('enum strings through DBR_CTRL_ENUM (caget -d DBR_CTRL_ENUM through the gateway)', async () => {
    const r = await tool(ELSEWHERE, 'caget', ['-d', 'DBR_CTRL_ENUM', `${P}sleeper:ActiveState`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Native data type: DBF_ENUM/);
    assert.match(r.stdout, /Value: +active/);
    assert.match(r.stdout, new RegExp(`Enums: +\\( ?${ACTIVE_STATES.length}\\)`));
    const labels = [...r.stdout.matchAll(/^\s+\[\s*(\d+)\] (.*)$/gm)].map((m) => m[2].trim());
    assert.deepEqual(labels, ACTIVE_STATES);
  });

  let monitorTries = 0;
  it('a monitor through the gateway follows a stop and a start done with systemctl', async () => {
    const mid = `sleeper-active-${++monitorTries}`;
    assert.equal((await manager!.systemctl('start', 'sleeper.service')).code, 0);
    await consoleCa!.request('monitor', { pv: `${P}sleeper:ActiveState`, mid, mask: 5 });
    try {
      // systemctl returns when the job is done; the IOC learns of the state from a D-Bus
      // signal that may come a moment later, so the first event can still be inactive.
      await eventAfter(mid, 0, (e) => e.value === 1);
      // What the monitor has seen is counted before each command: its updates may arrive
      // before systemctl returns.
      let from = await eventCount(mid);
      assert.equal((await manager!.systemctl('stop', 'sleeper.service')).code, 0);
      let event = await eventAfter(mid, from, (e) => e.value === 0);
      assert.equal(event.severity, 2, 'inactive is MAJOR for a unit expected active');
      from = await eventCount(mid);
      assert.equal((await manager!.systemctl('start', 'sleeper.service')).code, 0);
      event = await eventAfter(mid, from, (e) => e.value === 1);
      assert.equal(event.severity, 0);
    } finally {
      await consoleCa!.request('unmonitor', { mid });
    }
  });

  async function eventCount(mid: string): Promise<number> {
    return ((await consoleCa!.request('events', { mid })).events as unknown[]).length;
  }

  /** The first event of monitor `mid` after its first `from` for which `check` holds. */
  async function eventAfter(mid: string, from: number, check: (e: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
    for (let seen = from + 1; ; seen++) {
      const events = (await consoleCa!.request('events', { mid, atleast: seen, timeout: 15 })).events as Array<Record<string, unknown>>;
      assert.ok(events.length >= seen, `no further event on ${mid} for 15 s: ${JSON.stringify(events.slice(from))}`);
      const match = events.slice(from).find(check);
      if (match) return match;
      seen = events.length;
    }
  }

  it('caput -c -w from a console: Restart completes through the gateway when the systemd job does', async () => {
    assert.equal((await manager!.systemctl('start', 'slowstart.service')).code, 0);
    const before = await manager!.show('slowstart.service', ['MainPID', 'InvocationID']);
    const r = await tool(CONSOLE, 'caput', ['-c', '-w', '20', `${P}slow:Restart`, '1']);
    assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
    assert.match(r.stdout, new RegExp(`^New : ${P}slow:Restart +`, 'm'));
    // caput returned once the put completed: the restart job has ended, the unit runs again.
    const after = await manager!.show('slowstart.service', ['ActiveState', 'MainPID', 'InvocationID']);
    assert.equal(after.ActiveState, 'active');
    assert.notEqual(after.InvocationID, before.InvocationID, 'a new invocation');
    assert.notEqual(after.MainPID, before.MainPID);
    assert.equal((await get('slow:JobResult')).value, 'done');
  });

  it('a write from a host outside HAG(consoles) is refused by the gateway, and never reaches the IOC', async () => {
    const before = putLogEntries().length;
    const c = await officeCa!.request('connect', { pv: `${P}sleeper:Stop`, timeout: 10 });
    assert.deepEqual([c.connected, c.read, c.write], [true, true, false], 'read-only for this host');
    const r: Reply = await officeCa!.request('put', { pv: `${P}sleeper:Stop`, value: 1, wait: true, timeout: 10 });
    assert.match(String(r.raised), DENIED, JSON.stringify(r));
    const t = await tool(ELSEWHERE, 'caput', ['-c', '-w', '10', `${P}sleeper:Stop`, '1']);
    assert.notEqual(t.code, 0);
    assert.match(t.stderr, /Write access denied/);
    assert.equal((await manager!.show('sleeper.service', ['ActiveState'])).ActiveState, 'active');
    // Status PVs are read-only for everyone, consoles too.
    const status = await consoleCa!.request('connect', { pv: `${P}sleeper:MainPID`, timeout: 10 });
    assert.deepEqual([status.read, status.write], [true, false]);
    assert.equal(putLogEntries().length, before, 'service-ioc saw no write attempt');
  });

  it('the put log: service-ioc records the gateway as the writer, the gateway\'s put log names the console', async () => {
    const before = putLogEntries().length;
    const r = await consoleCa!.request('put', { pv: `${P}sleeper:Restart`, value: 1, wait: true, timeout: 20 });
    assert.equal(r.status, 1, JSON.stringify(r));
    const entries = putLogEntries().slice(before);
    assert.equal(entries.length, 1, JSON.stringify(entries));
    const e = entries[0];
    // The gateway is service-ioc's client: its user and its host, not the console's.
    assert.deepEqual([e.pv, e.user, e.host, e.result], [`${P}sleeper:Restart`, me, os.hostname(), 'done']);
    assert.notEqual(e.host, CONSOLE);
    assert.equal(e.address, '127.0.0.1');
    // The gateway's own put log (TRAPWRITE in gateway.access) has the console's user@host.
    const gwLog = fs.readFileSync(gatewayPutLog, 'utf8');
    assert.match(gwLog, new RegExp(`^\\w{3} \\d\\d \\d\\d:\\d\\d:\\d\\d ${me}@${CONSOLE} ${P}sleeper:Restart\\b`, 'm'));
    assert.match(gwLog, new RegExp(`${me}@${CONSOLE} ${P}slow:Restart\\b`), 'the caput -c of the previous test');
    assert.doesNotMatch(gwLog, new RegExp(`@${ELSEWHERE} `), 'refused writes are not trapped');
  });

  /** pyca.py as `user` on host `host`, through the gateway (a copy of the script the user can read). */
  async function clientAs(user: string, host: string): Promise<PyCa> {
    const script = path.join(dir!, 'pyca.py');
    if (!fs.existsSync(script)) {
      fs.chmodSync(dir!, 0o755);
      fs.copyFileSync(PYCA_SCRIPT, script);
      fs.chmodSync(script, 0o644);
    }
    const gid = spawnSync('id', ['-g', user], { encoding: 'utf8' }).stdout.trim();
    return PyCa.startWith('unshare', asHost(host, 'setpriv', [
      `--reuid=${user}`, `--regid=${gid}`, '--init-groups', '--', 'sh', '-c', 'cd / && exec "$@"', 'sh', SYSTEM_PYTHON, script,
    ]), { ...caEnv, HOME: dir });
  }

  it('per-user rules: from a console, a user in UAG(operators) may press a button and another user may not', async () => {
    const operator = await clientAs(OPERATOR_USER, CONSOLE);
    const other = await clientAs(OTHER_USER, CONSOLE);
    try {
      assert.deepEqual((await operator.request('whoami', {})).user, OPERATOR_USER, 'libca names the uid\'s user');
      // slow:Restart, written through the gateway by the caput test before: service-ioc may log
      // this write at the end of that write's one-second burst window, not at once.
      const pv = `${P}slow:Restart`;
      const o = await operator.request('connect', { pv, timeout: 10 });
      const n = await other.request('connect', { pv, timeout: 10 });
      assert.deepEqual([o.connected, o.read, o.write], [true, true, true], `${OPERATOR_USER}@${CONSOLE} may write`);
      assert.deepEqual([n.connected, n.read, n.write], [true, true, false], `${OTHER_USER}@${CONSOLE} may only read`);

      const before = putLogEntries().length;
      const pid = (await manager!.show('slowstart.service', ['MainPID'])).MainPID;
      const refused: Reply = await other.request('put', { pv, value: 1, wait: true, timeout: 10 });
      assert.match(String(refused.raised), DENIED, JSON.stringify(refused));
      assert.equal(putLogEntries().length, before, 'the refused write never reached service-ioc');
      assert.equal((await manager!.show('slowstart.service', ['MainPID'])).MainPID, pid, 'no restart');

      const r = await operator.request('put', { pv, value: 1, wait: true, timeout: 20 });
      assert.equal(r.status, 1, JSON.stringify(r));
      assert.notEqual((await manager!.show('slowstart.service', ['MainPID'])).MainPID, pid, 'restarted');
      const entries = (await putLogEntriesAtLeast(before + 1)).slice(before);
      assert.equal(entries.length, 1, JSON.stringify(entries));
      // service-ioc sees the gateway's own user and host: the gateway does not forward its client's.
      assert.deepEqual([entries[0].pv, entries[0].user, entries[0].host, entries[0].result], [pv, me, os.hostname(), 'done']);
      const gwLog = fs.readFileSync(gatewayPutLog, 'utf8');
      assert.match(gwLog, new RegExp(`^\\w{3} \\d\\d \\d\\d:\\d\\d:\\d\\d ${OPERATOR_USER}@${CONSOLE} ${P}slow:Restart\\b`, 'm'));
      assert.doesNotMatch(gwLog, new RegExp(`${OTHER_USER}@`), 'refused writes are not trapped');
    } finally {
      await operator.stop();
      await other.stop();
    }
  });
});
