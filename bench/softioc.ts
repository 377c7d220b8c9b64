/**
 * service-ioc against EPICS base's softIoc (../shared/epics), on the same
 * .db files in one run, their runs taken turn about, measured by the same C client
 * (bench/c/ca_bench_client.c, linked against the bundle's libca):
 *  - connect 10,000 PVs from one client, and the first get of all of them;
 *  - monitor updates one client receives while another puts 300,000 values
 *    to one record as fast as libca sends them, and whether the last value
 *    put arrived;
 *  - a 100,000-record database: time from process start until a client
 *    reads the last record.
 * Every figure is printed with its ratio to softIoc. Servers listen on
 * loopback on random free ports; every process is stopped, and every client
 * run is killed after a time limit.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startProcess, type Managed } from '../test/helpers/processes';
import { clientEnv, REPO_ROOT, serverEnv } from '../test/helpers/pyca';
import { freeCaPorts } from '../test/helpers/system';
import { CLI_JS, makeTempDir, removeTempDir, requireBuiltCli } from '../test/helpers/cli';
import { sharedDir } from '../test/helpers/shared';
import type { Figure } from './ca';

/** The EPICS bundle: $EPICS_BUNDLE (set by its env.sh), else ../shared/epics beside the clone (or beside its main checkout). */
const EPICS = process.env.EPICS_BUNDLE ?? path.join(sharedDir() ?? path.join(REPO_ROOT, '../shared'), 'epics');
const CLIENT_SOURCE = path.join(REPO_ROOT, 'bench/c/ca_bench_client.c');
const CLIENT = path.join(REPO_ROOT, 'build/bench/ca_bench_client');

const PVS = 10_000;
const PUTS = 300_000;
const START_RECORDS = 100_000;
const RUNS = 3;
/**
 * Connect and first get take a tenth of a second a run, and one busy moment of
 * the machine moves a run by half: they are measured over more runs.
 */
const CLIENT_RUNS = 21;

export interface Ports { server: number; repeater: number }

interface Server {
  name: string;
  start(db: string, ports: Ports): Managed;
}

const SERVERS: Server[] = [
  {
    name: 'service-ioc',
    start: (db, ports) => startProcess(process.execPath, [CLI_JS, 'softioc', '-d', db], serverEnv(ports.server, ports.repeater)),
  },
  {
    name: 'softIoc',
    start: (db, ports) => startProcess(path.join(EPICS, 'bin/softIoc'), ['-S', '-D', path.join(EPICS, 'dbd/softIoc.dbd'), '-d', db], serverEnv(ports.server, ports.repeater)),
  },
];

/** Compile the client when its source is newer than the binary. */
export function buildClient(): void {
  const lib = path.join(EPICS, 'lib');
  for (const f of ['libca.so.4.14.5', 'libCom.so.3.23.2']) {
    if (!fs.existsSync(path.join(lib, f))) throw new Error(`${path.join(lib, f)} is missing: the EPICS bundle must be at ../shared/epics beside the clone, or named by EPICS_BUNDLE`);
  }
  if (fs.existsSync(CLIENT) && fs.statSync(CLIENT).mtimeMs >= fs.statSync(CLIENT_SOURCE).mtimeMs) return;
  fs.mkdirSync(path.dirname(CLIENT), { recursive: true });
  const cc = spawnSync('cc', ['-O2', '-Wall', '-Wextra', '-o', CLIENT, CLIENT_SOURCE,
    path.join(lib, 'libca.so.4.14.5'), path.join(lib, 'libCom.so.3.23.2'), `-Wl,-rpath,${lib}`], { encoding: 'utf8' });
  if (cc.error) throw new Error(`cannot run cc (Debian packages gcc and libc6-dev, see .ci/apt-packages.txt): ${cc.error.message}`);
  if (cc.status !== 0) throw new Error(`compiling ${CLIENT_SOURCE} failed:\n${cc.stderr}`);
}

/** One client run to completion; its last stdout line is JSON. Killed after `timeoutMs`. */
export function client(args: string[], ports: Ports, timeoutMs: number): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    const p = spawn(CLIENT, args, { env: clientEnv(ports.server, ports.repeater), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    p.on('error', reject);
    p.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`ca_bench_client ${args.join(' ')} exited ${code ?? signal}: ${err.slice(-500)}`));
      resolve(JSON.parse(out.trim().split('\n').pop() ?? '{}') as Record<string, number>);
    });
  });
}

/** Spawn the server, and resolve once a client reads `probe` from it (the time is measured by the caller). */
async function startServed(server: Server, db: string, probe: string, timeoutS: number): Promise<{ proc: Managed; ports: Ports; seconds: number }> {
  const ports = await freeCaPorts();
  const t0 = process.hrtime.bigint();
  const proc = server.start(db, ports);
  try {
    await client(['wait', probe, String(timeoutS)], ports, (timeoutS + 10) * 1000);
  } catch (err) {
    await proc.stop();
    throw new Error(`${server.name} did not serve ${probe}: ${(err as Error).message}; server stderr: ${proc.stderr().slice(-1000)}`);
  }
  return { proc, ports, seconds: Number(process.hrtime.bigint() - t0) / 1e9 };
}

interface Burst { updates: number; lastValue: number; readBack: number; putSeconds: number }

/** A monitor on `pv`, then PUTS puts to it from another client; what the monitor received. */
async function burst(pv: string, ports: Ports): Promise<Burst> {
  const mon = spawn(CLIENT, ['monitor', pv, String(PUTS)], { env: clientEnv(ports.server, ports.repeater), stdio: ['pipe', 'pipe', 'pipe'] });
  const timer = setTimeout(() => mon.kill('SIGKILL'), 60_000);
  let out = '';
  let err = '';
  mon.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  const result = new Promise<Record<string, number>>((resolve, reject) => {
    mon.on('close', (code, signal) => {
      clearTimeout(timer);
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !last.includes('updates')) reject(new Error(`monitor exited ${code ?? signal}: ${err.slice(-500)}`));
      else resolve(JSON.parse(last) as Record<string, number>);
    });
  });
  await new Promise<void>((resolve, reject) => {
    mon.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('"subscribed"')) resolve();
    });
    mon.on('close', () => reject(new Error(`monitor ended before it subscribed: ${err.slice(-500)}`)));
  });
  let put: Record<string, number>;
  try {
    put = await client(['put-burst', pv, String(PUTS)], ports, 60_000);
  } finally {
    mon.stdin.end();
  }
  const r = await result;
  return { updates: r.updates, lastValue: r.last_value, readBack: put.read_back, putSeconds: put.put_s };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
/** The median and the lower and upper quartiles (nearest rank). */
function quartiles(xs: number[]): { low: number; median: number; high: number } {
  const s = [...xs].sort((a, b) => a - b);
  const at = (f: number): number => s[Math.min(s.length - 1, Math.floor(f * s.length))];
  return { low: at(0.25), median: at(0.5), high: at(0.75) };
}
const inMs = (s: number): string => (s * 1000).toFixed(s < 0.1 ? 2 : 0);
const ms = (s: number): string => `${inMs(s)} ms`;

function writeDatabases(dir: string): { small: string; big: string } {
  const small = path.join(dir, 'ao10k.db');
  const parts: string[] = [];
  for (let i = 0; i < PVS; i++) parts.push(`record(ao, "bench:ao${i}") {\n  field(VAL, "${i}")\n}\n`);
  for (let r = 0; r < RUNS; r++) parts.push(`record(ao, "bench:burst${r}") {\n}\n`);
  fs.writeFileSync(small, parts.join(''));
  const big = path.join(dir, 'ai100k.db');
  parts.length = 0;
  for (let i = 0; i < START_RECORDS; i++) {
    parts.push(`record(ai, "bench:ai${i}") {\n  field(DESC, "Analog input number ${i}")\n  field(EGU, "mm")\n  field(PREC, "3")\n  field(HIHI, "100")\n  field(HHSV, "MAJOR")\n}\n`);
  }
  fs.writeFileSync(big, parts.join(''));
  return { small, big };
}

interface Results {
  connect: number[];
  get: number[];
  bursts: Burst[];
  start: number[];
}

/**
 * Both servers, measured turn about: each figure's runs alternate between
 * them, so that a machine busy with other work slows both alike.
 */
async function measureBoth(servers: Server[], dbs: { small: string; big: string }): Promise<Results[]> {
  const res: Results[] = servers.map(() => ({ connect: [], get: [], bursts: [], start: [] }));
  const served = [];
  try {
    for (const server of servers) served.push(await startServed(server, dbs.small, `bench:ao${PVS - 1}`, 30));
    // The first client after start is run and not counted: both servers are measured warm.
    for (const s of served) await client(['connect-get', 'bench:ao', String(PVS)], s.ports, 120_000);
    for (let r = 0; r < CLIENT_RUNS; r++) {
      for (const [i, s] of served.entries()) {
        const c = await client(['connect-get', 'bench:ao', String(PVS)], s.ports, 120_000);
        if (c.wrong_values) throw new Error(`${servers[i].name}: ${c.wrong_values} of ${PVS} values read wrong`);
        res[i].connect.push(c.connect_s);
        res[i].get.push(c.get_s);
      }
    }
    for (let r = 0; r < RUNS; r++) {
      for (const [i, s] of served.entries()) res[i].bursts.push(await burst(`bench:burst${r}`, s.ports));
    }
  } finally {
    for (const s of served) await s.proc.stop();
  }
  for (let r = 0; r < RUNS; r++) {
    for (const [i, server] of servers.entries()) {
      const started = await startServed(server, dbs.big, `bench:ai${START_RECORDS - 1}`, 120);
      res[i].start.push(started.seconds);
      await started.proc.stop();
    }
  }
  return res;
}

export async function benchSoftIoc(): Promise<Figure[]> {
  requireBuiltCli();
  buildClient();
  const dir = makeTempDir('sioc-bench-softioc-');
  try {
    const dbs = writeDatabases(dir);
    const [ours, base] = await measureBoth(SERVERS, dbs);
    const ratio = (r: number): string => `${r.toFixed(2)}x`;
    const figures: Figure[] = [];
    const timed = (measure: string, key: 'connect' | 'get' | 'start', target: string): void => {
      const a = ours[key], b = base[key];
      // Runs i of both servers ran one after the other: their ratio is taken under the same
      // conditions, and a busy moment of the machine that slows one pair does not move it.
      const pairs = a.map((x, i) => x / b[i]);
      const q = quartiles(pairs);
      figures.push({
        measure,
        value: `${ratio(q.median)} run by run (quartiles ${ratio(q.low)}-${ratio(q.high)}); medians service-ioc ${ms(median(a))}, softIoc ${ms(median(b))} (runs in ms: ${a.map(inMs).join(' ')} / ${b.map(inMs).join(' ')})`,
        target,
      });
    };
    timed(`connect ${PVS.toLocaleString('en')} PVs, one client, median of ${CLIENT_RUNS}`, 'connect', '<= 1.2x softIoc');
    timed(`first get of ${PVS.toLocaleString('en')} PVs (DBR_DOUBLE), median of ${CLIENT_RUNS}`, 'get', '<= 1.5x softIoc');
    const delivered = (b: Burst[]): number => median(b.map((x) => x.updates));
    const lastOk = (b: Burst[]): string => {
      const missed = b.filter((x) => x.lastValue !== PUTS).length;
      return missed ? `last value MISSED in ${missed} of ${b.length} runs (${b.map((x) => x.lastValue).join(', ')})` : `last value ${PUTS} delivered in ${b.length} of ${b.length}`;
    };
    const putTime = (b: Burst[]): string => `${median(b.map((x) => x.putSeconds)).toFixed(2)} s`;
    figures.push({
      measure: `monitor updates delivered from a ${PUTS.toLocaleString('en')}-put burst (one writer, one monitoring client), median of ${RUNS}`,
      value: `service-ioc ${delivered(ours.bursts)} (${lastOk(ours.bursts)}; burst took ${putTime(ours.bursts)}), softIoc ${delivered(base.bursts)} (${lastOk(base.bursts)}; burst took ${putTime(base.bursts)}): ${ratio(delivered(ours.bursts) / delivered(base.bursts))}`,
      target: '>= 1.0x softIoc, last value always delivered',
    });
    const readBack = (b: Burst[]): string => b.map((x) => x.readBack).join(', ');
    figures.push({
      measure: `the writer's own get right after its ${PUTS.toLocaleString('en')} puts (same circuit)`,
      value: `service-ioc read ${readBack(ours.bursts)}; softIoc read ${readBack(base.bursts)}`,
      target: `${PUTS}: a read after writes sees them`,
    });
    timed(`${START_RECORDS.toLocaleString('en')}-record start (ai with DESC, EGU, PREC, HIHI, HHSV): process start until a client reads the last record, median of ${RUNS}`, 'start', '<= 1.0x softIoc');
    return figures;
  } finally {
    removeTempDir(dir);
  }
}
