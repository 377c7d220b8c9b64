/**
 * `npm run demo`: the whole stack on one machine, with nothing installed
 * system-wide. A private dbus-daemon and `systemd --user` (the harness the
 * tests use) run redis-server and a queueserver stand-in as real units;
 * service-ioc watches them and serves their PVs over Channel Access, and
 * `service-ioc repeater` hands its beacons to the CA clients of this host
 * (unless a CA repeater already runs here). The screens and alarm
 * configurations for it go to a folder. Ctrl-C stops everything and leaves
 * nothing behind.
 *
 * usage: node build/demo/demo.js [--out DIR]   (CA port: EPICS_CAS_SERVER_PORT, default 5064)
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { UserManager, checkRedis, checkUserManager, fixtureUnit, freeTcpPort } from '../test/helpers/systemd-harness';
import { startProcess, type Managed } from '../test/helpers/processes';
import { checkPyepics, SYSTEM_PYTHON } from '../test/helpers/system';
import { serverConfigFromEnv } from '../src/ca/server/config';

const ROOT = path.resolve(__dirname, '../..');
const CLI = path.join(ROOT, 'dist/cli.js');
const STANDIN = path.join(ROOT, 'build/test/fixtures/re-manager-standin.js');
const PREFIX = 'demo:';

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

async function preferred(port: number): Promise<number> {
  return (await portFree(port)) ? port : freeTcpPort();
}

function say(line: string): void {
  process.stdout.write(line + '\n');
}

function units(redisPort: number, control: number, info: number): Record<string, string> {
  return {
    'redis.service': fixtureUnit('redis.service'),
    'redis.service.d/port.conf': `[Service]\nEnvironment=REDIS_PORT=${redisPort}\n`,
    'queueserver.service': [
      '[Unit]', 'Description=bluesky-queueserver RE Manager (stand-in)', 'Requires=redis.service', 'After=redis.service', '',
      '[Service]', 'Type=simple',
      `Environment=QSERVER_ZMQ_CONTROL_ADDRESS_FOR_SERVER=tcp://*:${control}`,
      `Environment=QSERVER_ZMQ_INFO_ADDRESS_FOR_SERVER=tcp://*:${info}`,
      `ExecStart=${process.execPath} ${STANDIN}`,
      'Restart=on-failure', '',
      '[Install]', 'WantedBy=default.target', '',
    ].join('\n'),
  };
}

function config(out: string, control: number, info: number, redisPort: number): string {
  return `# The demo's configuration (written by npm run demo).
[ioc]
prefix = "${PREFIX}"
db = ["${path.join(ROOT, 'ioc/legacy.db')}"]

[[unit]]
name = "redis.service"
pv = "redis"

[[unit]]
name = "queueserver.service"
pv = "queueserver"

[[queueserver]]
pv = "qs"
unit = "queueserver.service"
control_addr = "tcp://localhost:${control}"
info_addr = "tcp://localhost:${info}"
poll_period = 1.0
redis = "qsredis"

[[redis]]
pv = "qsredis"
addr = "localhost:${redisPort}"
unit = "redis.service"

[putlog]
file = "${path.join(out, 'puts.jsonl')}"
`;
}

async function main(): Promise<void> {
  const outArg = process.argv.indexOf('--out');
  const out = path.resolve(outArg > 0 ? process.argv[outArg + 1] : path.join(ROOT, 'demo-out'));
  const missing = checkUserManager() ?? checkRedis();
  if (missing) {
    process.stderr.write(`demo: cannot run here: ${missing}\n`);
    process.exit(1);
  }
  for (const f of [CLI, STANDIN]) {
    if (!fs.existsSync(f)) {
      process.stderr.write(`demo: ${f} is missing: run npm run build && npm run build:test first\n`);
      process.exit(1);
    }
  }
  fs.mkdirSync(out, { recursive: true });
  const redisPort = await preferred(6379);
  const control = await preferred(60615);
  const info = await preferred(60625);

  let manager: UserManager | undefined;
  let ioc: Managed | undefined;
  let repeater: Managed | undefined;
  let stopping = false;
  const stop = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    say('demo: stopping service-ioc, its repeater and the user manager ...');
    await ioc?.stop();
    await repeater?.stop();
    await manager?.stop();
    const left = manager?.leftovers() ?? [];
    say(left.length ? `demo: left behind: ${left.join(', ')}` : 'demo: stopped; no processes, cgroups or temporary files left');
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));

  try {
    say('demo: starting a private dbus-daemon and systemd --user ...');
    manager = await UserManager.start({ units: units(redisPort, control, info) });
    const started = await manager.systemctl('start', 'redis.service', 'queueserver.service');
    if (started.code !== 0) throw new Error(`starting the units failed: ${started.stderr.trim()}`);
    const cfg = path.join(out, 'service-ioc.toml');
    fs.writeFileSync(cfg, config(out, control, info, redisPort));
    const env = { ...process.env, ...manager.env, SERVICE_IOC_LOG: process.env.SERVICE_IOC_LOG ?? 'warn' };
    // The repeater takes the port the IOC sends its beacons to, on the interface it serves.
    const serving = serverConfigFromEnv(env);
    const repeaterArgs = ['repeater', '--port', String(serving.beaconPort), ...(serving.interfaces.length === 1 ? ['--address', serving.interfaces[0]] : [])];
    repeater = startProcess(process.execPath, [CLI, ...repeaterArgs], env);
    const said = await repeater.waitLine(/^service-ioc repeater: /, 10000);
    if (/in use/.test(said[0])) {
      repeater = undefined;
      say(`demo: a CA repeater already runs on UDP port ${serving.beaconPort}; the demo uses that one`);
    } else {
      say(`demo: CA repeater on UDP port ${serving.beaconPort}`);
    }
    ioc = startProcess(process.execPath, [CLI, 'run', '-c', cfg], env);
    ioc.proc.stderr?.on('data', (d: Buffer) => process.stderr.write(d));
    const ready = await ioc.waitLine(/CA on port (\d+)/, 30000);
    for (const [cmd, dir] of [['screens', 'screens'], ['alarms', 'alarms']]) {
      try {
        execFileSync(process.execPath, [CLI, cmd, '-c', cfg, '-o', path.join(out, dir)], { stdio: 'pipe' });
      } catch (err) {
        say(`demo: ${cmd} not written: ${(err as Error).message.split('\n')[0]}`);
      }
    }
    const pvs = execFileSync(process.execPath, [CLI, 'check', '-c', cfg], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n');
    say('');
    say(`service-ioc is serving ${pvs.length} PVs on CA port ${ready[1]}, among them:`);
    for (const pv of pvs.filter((p) => /IOC:Health|:ActiveState|:Running$|:Start$|qs:ManagerState|qs:Connected|_state$/.test(p))) say(`  ${pv}`);
    say('');
    // The one-liners name the interpreter checked here and carry the CA
    // environment they need, so they work pasted as they are.
    const caEnv = `EPICS_CA_ADDR_LIST=127.0.0.1 EPICS_CA_AUTO_ADDR_LIST=NO${ready[1] === '5064' ? '' : ` EPICS_CA_SERVER_PORT=${ready[1]}`}`;
    const noPyepics = checkPyepics();
    if (noPyepics === undefined) {
      say(`Watch them from another terminal (pyepics, found in ${SYSTEM_PYTHON}):`);
      say(`  ${caEnv} ${SYSTEM_PYTHON} -c "import epics, time; [epics.camonitor(p) for p in ('${PREFIX}IOC:Health', '${PREFIX}redis:ActiveState', '${PREFIX}qs:ManagerState')]; time.sleep(3600)"`);
      say(`  ${caEnv} ${SYSTEM_PYTHON} -c "import epics; print(epics.caput('${PREFIX}redis:Restart', 1, wait=True))"`);
    } else {
      say(`No pyepics one-liners: ${noPyepics} (Debian package python3-pyepics).`);
      say(`With EPICS base's tools: ${caEnv} camonitor ${PREFIX}IOC:Health ${PREFIX}redis:ActiveState`);
    }
    say(`Screens, alarm configurations, the configuration and the put log are in ${out}`);
    say('demo ready; Ctrl-C stops everything.');
  } catch (err) {
    process.stderr.write(`demo: ${(err as Error).message}\n`);
    await stop(1);
  }
}

void main();
