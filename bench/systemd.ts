/**
 * systemd bridge benchmarks against a real systemd user manager and libca:
 *  - unit state change (main process killed) -> CA monitor update at a client;
 *    compared with a 1 s poll and with what an ExecStopPost caput hook costs;
 *  - Start put (caput wait) -> unit active, against `systemctl --user start`;
 *  - IOC CPU with 200 units watched, idle and during a burst of 200 restarts.
 * Prints figures; asserts nothing.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { UserManager, fixtureUnit } from '../test/helpers/systemd-harness';
import { startProcess, type Managed } from '../test/helpers/processes';
import { clientEnv, serverEnv } from '../test/helpers/pyca';
import { freeCaPorts, SYSTEM_PYTHON } from '../test/helpers/system';
import { CLI_JS, makeTempDir, removeTempDir } from '../test/helpers/cli';
import type { Figure } from './ca';

const PY_DIR = path.resolve(__dirname, '../../bench/py');

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

const ms = (s: number): string => `${(s * 1000).toFixed(1)} ms`;

function cpuSeconds(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, clock ticks (100/s)
}

async function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const t0 = process.hrtime.bigint();
  await new Promise<void>((resolve, reject) => {
    const p = spawn(cmd, args, { env, stdio: 'ignore' });
    p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}`))));
  });
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

function pythonJson(script: string, args: string[], env: NodeJS.ProcessEnv): Promise<Record<string, number[]>> {
  return new Promise((resolve, reject) => {
    const p = spawn(SYSTEM_PYTHON, [path.join(PY_DIR, script), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    p.on('close', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      if (last.startsWith('{')) resolve(JSON.parse(last) as Record<string, number[]>);
      else reject(new Error(`${script} exited ${code}`));
    });
  });
}

const UNITS = 200;

function config(): string {
  let s = '[ioc]\nprefix = "bench:"\n\n[[unit]]\nname = "crasher.service"\npv = "crasher"\n\n[[unit]]\nname = "sleeper.service"\npv = "sleeper"\n';
  for (let i = 1; i <= UNITS; i++) s += `\n[[unit]]\nname = "worker@${i}.service"\npv = "w${i}"\ncontrol = false\n`;
  return s;
}

export async function benchSystemd(): Promise<Figure[]> {
  const figures: Figure[] = [];
  // No start limit: the benchmark crashes it 40 times.
  const crasher = fixtureUnit('crasher.service').replace('[Unit]', '[Unit]\nStartLimitIntervalSec=0');
  const manager = await UserManager.start({ journal: true, units: { 'crasher.service': crasher, 'sleeper.service': fixtureUnit('sleeper.service'), 'worker@.service': fixtureUnit('worker@.service') } });
  const dir = makeTempDir('sioc-bench-');
  let ioc: Managed | undefined;
  let monitor: Managed | undefined;
  try {
    const cfg = path.join(dir, 'bench.toml');
    fs.writeFileSync(cfg, config());
    const ports = await freeCaPorts();
    const cenv = { ...clientEnv(ports.server, ports.repeater), PYTHONUNBUFFERED: '1' };
    const workers = Array.from({ length: UNITS }, (_, i) => `worker@${i + 1}.service`);
    await manager.systemctl('start', 'crasher.service', ...workers);
    ioc = startProcess(process.execPath, [CLI_JS, 'run', '-c', cfg], { ...serverEnv(ports.server, ports.repeater), ...manager.env, SERVICE_IOC_LOG: 'warn' });
    await ioc.waitLine(/CA on port/, 30000);
    const iocPid = ioc.proc.pid!;

    // 1. kill -9 -> monitor update at the client
    monitor = startProcess(SYSTEM_PYTHON, [path.join(PY_DIR, 'monitor_times.py'), 'bench:crasher:MainPID'], cenv);
    await monitor.waitLine(/"ready"/, 20000);
    const latencies: number[] = [];
    // The first kill lands while the IOC is still reading 200 units' journals: it
    // warms up and is not counted.
    for (let i = -1; i < 40; i++) {
      const pid = Number((await manager.waitFor('crasher.service', 'MainPID', (v) => Number(v) > 0)));
      await manager.waitFor('crasher.service', 'ActiveState', 'active');
      const from = monitor.lines.length;
      const t0 = Date.now() / 1000;
      process.kill(pid, 'SIGKILL');
      const m = await monitor.waitLine(/"value": 0[,}]/, 10000, from);
      if (i >= 0) latencies.push(JSON.parse(m.input!).t - t0);
    }
    figures.push({
      measure: 'unit state change (main process killed) -> CA monitor update at a libca client, 40 kills',
      value: `median ${ms(quantile(latencies, 0.5))}, p99 ${ms(quantile(latencies, 0.99))}, max ${ms(Math.max(...latencies))}`,
      target: 'median <= 20 ms, p99 <= 100 ms (a 1 s poll averages 500 ms)',
    });
    const hook: number[] = [];
    for (let i = 0; i < 5; i++) hook.push(await timed(SYSTEM_PYTHON, ['-c', "import epics; epics.caput('bench:sleeper:Busy.DESC', 'x')"], cenv));
    figures.push({ measure: 'what an ExecStartPost/ExecStopPost caput hook costs (one-shot pyepics put, 5 runs)', value: `median ${ms(quantile(hook, 0.5))}` });

    // 2. Start put -> active, against systemctl --user start
    await manager.systemctl('stop', 'sleeper.service');
    const sysctl: number[] = [];
    for (let i = 0; i < 10; i++) {
      await manager.systemctl('stop', 'sleeper.service');
      sysctl.push(await timed('systemctl', ['--user', 'start', 'sleeper.service'], manager.env));
    }
    const puts = (await pythonJson('put_times.py', ['bench:sleeper:Start', '10', 'bench:sleeper:Stop'], cenv)).put_s;
    const overhead = quantile(puts, 0.5) - quantile(sysctl, 0.5);
    figures.push({
      measure: 'Start put with wait -> unit active, 10 runs',
      value: `median ${ms(quantile(puts, 0.5))}; systemctl --user start ${ms(quantile(sysctl, 0.5))}; overhead ${ms(overhead)}`,
      target: 'overhead <= 10 ms',
    });

    // 3. 200 units: CPU idle (three resource polls at the default 5 s, every unit's journal
    // followed) and during a burst of 200 restarts
    const c0 = cpuSeconds(iocPid);
    const idleS = 15;
    await new Promise((r) => setTimeout(r, idleS * 1000));
    const idle = (cpuSeconds(iocPid) - c0) / idleS;
    const c1 = cpuSeconds(iocPid);
    const t1 = Date.now();
    await manager.systemctl('restart', ...workers);
    await new Promise((r) => setTimeout(r, 2000));
    const burst = cpuSeconds(iocPid) - c1;
    figures.push({
      measure: `IOC CPU with ${UNITS + 2} units watched`,
      value: `idle ${(idle * 100).toFixed(2)} % of a core over ${idleS} s (resources polled every 5 s, journals followed); a burst of ${UNITS} restarts: ${burst.toFixed(2)} CPU s over ${((Date.now() - t1) / 1000).toFixed(1)} s`,
      target: 'idle < 1 % of a core with 100 units or more',
    });
  } finally {
    monitor?.proc.stdin?.end();
    await monitor?.stop();
    await ioc?.stop();
    await manager.stop();
    removeTempDir(dir);
  }
  return figures;
}
