/**
 * service-ioc's pvAccess server against softIocPVX (pvxs's QSRV, from
 * ../shared/epics) on the same .db, their runs taken turn about, measured
 * with the pvxs clients:
 *  - one pvxget of 10,000 PV names (search, connect and get of each), wall
 *    time, with every value checked;
 *  - the updates one pvxmonitor receives while a CA client
 *    (bench/c/ca_bench_client.c) puts 100,000 values to the record as fast
 *    as libca sends them, and whether the last value arrived.
 * Every figure is printed with its ratio to softIocPVX. Servers listen on
 * loopback on random free ports; every process is stopped, and every client
 * run is killed after a time limit.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI_JS, makeTempDir, removeTempDir, requireBuiltCli } from '../test/helpers/cli';
import { startProcess, type Managed } from '../test/helpers/processes';
import { freePvaPorts, pvaClientEnv, pvaServerEnv, runEpicsTool, startSoftIocPvx, type PvaPorts } from '../test/helpers/pvxs';
import { checkPvxsBundle, epicsBin } from '../test/helpers/shared';
import { freeCaPorts } from '../test/helpers/system';
import type { Figure } from './ca';
import { buildClient, client, type Ports } from './softioc';

const PVS = 10_000;
const PUTS = 100_000;
const RUNS = 3;

interface Served {
  name: string;
  proc: Managed;
  ca: Ports;
  pva: PvaPorts;
}

async function startOurs(db: string): Promise<Served> {
  const ca = await freeCaPorts();
  const pva = await freePvaPorts();
  const proc = startProcess(process.execPath, [CLI_JS, 'softioc', '-d', db], pvaServerEnv(ca, pva, { SERVICE_IOC_LOG: 'warn' }));
  await proc.waitLine(/PVA on TCP port/, 60_000);
  return { name: 'service-ioc', proc, ca, pva };
}

async function startBase(db: string): Promise<Served> {
  const ca = await freeCaPorts();
  const pva = await freePvaPorts();
  const proc = await startSoftIocPvx(['-d', db], pvaServerEnv(ca, pva), 60_000);
  return { name: 'softIocPVX', proc, ca, pva };
}

/** One pvxget of every bench:aoN; seconds, and how many values came back right. */
async function getAll(s: Served): Promise<{ seconds: number; right: number }> {
  const names = Array.from({ length: PVS }, (_, i) => `bench:ao${i}`);
  const t0 = process.hrtime.bigint();
  const r = await runEpicsTool('pvxget', ['-w', '60', '-r', 'value', ...names], pvaClientEnv(s.pva), 180_000);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.code !== 0) throw new Error(`${s.name}: pvxget exited ${r.code}: ${r.stderr.slice(-500)}`);
  let right = 0;
  const lines = r.stdout.split('\n');
  for (let i = 0; i + 1 < lines.length; i++) {
    const m = /^bench:ao(\d+)$/.exec(lines[i]);
    if (m && lines[i + 1].trim() === `value double = ${m[1]}`) right++;
  }
  return { seconds, right };
}

interface Burst { updates: number; last: number | undefined }

/** pvxmonitor on `pv` while the CA client puts 1..PUTS to it; what the monitor received once the last put is in. */
async function burst(s: Served, pv: string): Promise<Burst> {
  const mon = startProcess(path.join(epicsBin()!, 'pvxmonitor'), ['-r', 'value', pv], pvaClientEnv(s.pva));
  let updates = 0;
  let last: number | undefined;
  mon.onLine((line) => {
    if (line === pv) updates++;
    const m = /^ {4}value double = (\S+)$/.exec(line);
    if (m) last = Number(m[1]);
  });
  try {
    await mon.waitLine(new RegExp(`^${pv}$`), 30_000);
    await client(['put-burst', pv, String(PUTS)], s.ca, 120_000);
    // The last update may still be on its way: wait for it, up to 30 s.
    await mon.waitLine(new RegExp(`^ {4}value double = ${PUTS}$`), 30_000).catch(() => undefined);
  } finally {
    await mon.stop();
  }
  // The first update is the monitor's initial value, not one of the burst's.
  return { updates: updates - 1, last };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function benchPva(): Promise<Figure[]> {
  requireBuiltCli();
  const missing = checkPvxsBundle();
  if (missing) throw new Error(`the pva bench needs the EPICS bundle's pvxs programs: ${missing}`);
  buildClient();
  const dir = makeTempDir('sioc-bench-pva-');
  const served: Served[] = [];
  try {
    const db = path.join(dir, 'ao10k.db');
    const parts: string[] = [];
    for (let i = 0; i < PVS; i++) parts.push(`record(ao, "bench:ao${i}") {\n  field(VAL, "${i}")\n  field(PINI, "YES")\n}\n`);
    for (let r = 0; r < RUNS; r++) parts.push(`record(ao, "bench:burst${r}") {\n}\n`);
    fs.writeFileSync(db, parts.join(''));
    served.push(await startOurs(db), await startBase(db));
    // One uncounted run each: both servers are measured warm.
    for (const s of served) await getAll(s);
    const gets: number[][] = served.map(() => []);
    const bursts: Burst[][] = served.map(() => []);
    for (let r = 0; r < RUNS; r++) {
      for (const [i, s] of served.entries()) {
        const g = await getAll(s);
        if (g.right !== PVS) throw new Error(`${s.name}: ${PVS - g.right} of ${PVS} values read wrong or missing`);
        gets[i].push(g.seconds);
      }
    }
    for (let r = 0; r < RUNS; r++) {
      for (const [i, s] of served.entries()) bursts[i].push(await burst(s, `bench:burst${r}`));
    }
    const [ours, base] = [0, 1];
    const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}x`;
    const runs = (xs: number[]): string => xs.map((x) => x.toFixed(3)).join(' ');
    const delivered = (b: Burst[]): number => median(b.map((x) => x.updates));
    const lastOk = (b: Burst[]): string => {
      const missed = b.filter((x) => x.last !== PUTS).length;
      return missed ? `last value MISSED in ${missed} of ${b.length} runs (${b.map((x) => x.last).join(', ')})` : `last value ${PUTS} delivered in ${b.length} of ${b.length}`;
    };
    return [
      {
        measure: `one pvxget of ${PVS.toLocaleString('en')} PVs (search, connect, get), wall time, median of ${RUNS}`,
        value: `service-ioc ${median(gets[ours]).toFixed(3)} s, softIocPVX ${median(gets[base]).toFixed(3)} s: ${ratio(median(gets[ours]), median(gets[base]))} (runs: ${runs(gets[ours])} / ${runs(gets[base])})`,
        target: '<= 1.5x softIocPVX',
      },
      {
        measure: `pvxmonitor updates delivered from a ${PUTS.toLocaleString('en')}-put CA burst, median of ${RUNS}`,
        value: `service-ioc ${delivered(bursts[ours])} (${lastOk(bursts[ours])}), softIocPVX ${delivered(bursts[base])} (${lastOk(bursts[base])}): ${ratio(delivered(bursts[ours]), delivered(bursts[base]))}`,
        target: '>= 1.0x softIocPVX, last value always delivered',
      },
    ];
  } finally {
    for (const s of served) await s.proc.stop();
    removeTempDir(dir);
  }
}
