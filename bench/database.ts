/**
 * Record database benchmark: 100,000 `ai` records (DESC, EGU, PREC, HIHI,
 * HHSV) served by `service-ioc softioc`, timed from process start to the
 * line that says it is serving, and its resident memory then.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startProcess } from '../test/helpers/processes';
import { serverEnv } from '../test/helpers/pyca';
import { freeCaPorts } from '../test/helpers/system';
import { CLI_JS, makeTempDir, removeTempDir } from '../test/helpers/cli';
import type { Figure } from './ca';

const RECORDS = 100_000;

function writeDatabase(file: string): void {
  const parts: string[] = [];
  for (let i = 0; i < RECORDS; i++) {
    parts.push(`record(ai, "bench:ai${i}") {\n  field(DESC, "Analog input number ${i}")\n  field(EGU, "mm")\n  field(PREC, "3")\n  field(HIHI, "100")\n  field(HHSV, "MAJOR")\n}\n`);
  }
  fs.writeFileSync(file, parts.join(''));
}

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

export async function benchDatabase(): Promise<Figure[]> {
  const dir = makeTempDir('sioc-bench-db-');
  try {
    const db = path.join(dir, 'big.db');
    writeDatabase(db);
    const times: number[] = [];
    const rss: number[] = [];
    for (let run = 0; run < 3; run++) {
      const ports = await freeCaPorts();
      const t0 = process.hrtime.bigint();
      const ioc = startProcess(process.execPath, [CLI_JS, 'softioc', '-d', db], { ...serverEnv(ports.server, ports.repeater), SERVICE_IOC_LOG: 'warn' });
      await ioc.waitLine(/CA on port/, 60000);
      times.push(Number(process.hrtime.bigint() - t0) / 1e9);
      rss.push(rssBytes(ioc.proc.pid!));
      await ioc.stop();
    }
    times.sort((a, b) => a - b);
    rss.sort((a, b) => a - b);
    return [
      { measure: `${RECORDS.toLocaleString('en')} ai records (DESC, EGU, PREC, HIHI, HHSV): process start to serving, median of 3`, value: `${times[1].toFixed(2)} s`, target: '<= 1.5 s (softIoc ~1.15 s)' },
      { measure: 'RSS for the same database, serving', value: `${(rss[1] / 1048576).toFixed(0)} MB`, target: '<= 300 MB (softIoc 226 MB)' },
    ];
  } finally {
    removeTempDir(dir);
  }
}
