/**
 * Queueserver bridge benchmarks against stand-in RE Managers over real 0MQ
 * on loopback (test/helpers/fake-re-manager.ts):
 *  - a manager state change -> ManagerState PV update latency, polling only
 *    and with QS_Info, at the default poll period (1 s);
 *  - 10 managers of which 2 hang: the poll interval of the 8 healthy ones.
 * Prints figures; asserts nothing.
 */
import type { ProcessVariable } from '../src/ca/pv';
import { parseConfig } from '../src/ioc/config';
import { buildServiceIoc } from '../src/ioc/service-ioc';
import { createLogger } from '../src/log';
import { FakeReManager } from '../test/helpers/fake-re-manager';
import { FakeSystemd } from '../test/helpers/fake-systemd';
import type { Figure } from './ca';

type Ioc = ReturnType<typeof buildServiceIoc>;

function startIoc(tables: string[]): Ioc {
  const text = `[ioc]\nprefix = "bench:"\n${tables.map((t) => `[[queueserver]]\n${t}\n`).join('')}`;
  const bus = new FakeSystemd();
  const ioc = buildServiceIoc(parseConfig(text, 'bench.toml'), createLogger('bench', { level: 'error' }), Object.assign(bus, { start: () => bus.up() }));
  ioc.database.start();
  ioc.bus.start();
  ioc.queueservers.start();
  return ioc;
}

function stopIoc(ioc: Ioc): void {
  ioc.queueservers.stop();
  ioc.database.stop();
}

function until(pv: ProcessVariable, check: () => boolean, ms = 10000): Promise<void> {
  return new Promise((resolve, reject) => {
    if (check()) return resolve();
    const timer = setTimeout(() => {
      off();
      reject(new Error(`${pv.name}: condition not met within ${ms} ms`));
    }, ms);
    const off = pv.subscribe(() => {
      if (!check()) return;
      clearTimeout(timer);
      off();
      resolve();
    });
  });
}

const value = (pv: ProcessVariable): unknown => pv.snapshot().value[0];
const ms = (x: number): string => `${x.toFixed(1)} ms`;

function summary(samples: number[]): string {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  return `median ${ms(at(0.5))}, max ${ms(s[s.length - 1])} over ${s.length} changes`;
}

/** Flip the manager between idle and paused `n` times at random phases; the time until ManagerState shows each. */
async function latency(withInfo: boolean, n: number): Promise<number[]> {
  const f = await FakeReManager.start(withInfo ? { infoPort: 0 } : {});
  const ioc = startIoc([`pv = "qs"\ncontrol_addr = "${f.controlAddr}"\n${withInfo ? `info_addr = "${f.infoAddr}"\n` : ''}poll_period = 1.0\ntimeout = 2.0\n`]);
  try {
    const state = ioc.database.lookup('bench:qs:ManagerState')!;
    await until(ioc.database.lookup('bench:qs:Connected')!, () => value(ioc.database.lookup('bench:qs:Connected')!) === 1);
    if (withInfo) await f.subscribed();
    const samples: number[] = [];
    for (let i = 0; i < n; i++) {
      await new Promise((r) => setTimeout(r, 100 + Math.random() * 900));
      const next = i % 2 === 0 ? 'paused' : 'idle';
      const want = next === 'paused' ? 2 : 1;
      const t0 = performance.now();
      f.set({ manager_state: next });
      await until(state, () => value(state) === want);
      samples.push(performance.now() - t0);
    }
    return samples;
  } finally {
    stopIoc(ioc);
    await f.stop();
  }
}

/** 10 managers polled every 100 ms, 2 of them hung (timeout 2 s): gaps between polls of the healthy ones. */
async function isolation(): Promise<{ mean: number; max: number; polls: number }> {
  const fakes = await Promise.all(Array.from({ length: 10 }, () => FakeReManager.start()));
  const ioc = startIoc(fakes.map((f, i) => `pv = "m${i}"\ncontrol_addr = "${f.controlAddr}"\npoll_period = 0.1\ntimeout = 2.0\n`));
  try {
    for (let i = 0; i < fakes.length; i++) {
      const c = ioc.database.lookup(`bench:m${i}:Connected`)!;
      await until(c, () => value(c) === 1);
    }
    fakes[0].hold();
    fakes[1].hold();
    const from = fakes.map((f) => f.requests.length);
    await new Promise((r) => setTimeout(r, 3000));
    const gaps: number[] = [];
    for (let i = 2; i < fakes.length; i++) {
      const at = fakes[i].requests.slice(from[i]).filter((r) => r.method === 'status').map((r) => r.at);
      for (let k = 1; k < at.length; k++) gaps.push(at[k] - at[k - 1]);
    }
    return { mean: gaps.reduce((a, b) => a + b, 0) / gaps.length, max: Math.max(...gaps), polls: gaps.length + 8 };
  } finally {
    stopIoc(ioc);
    await Promise.all(fakes.map((f) => f.stop()));
  }
}

export async function benchQueueserver(): Promise<Figure[]> {
  const figures: Figure[] = [];
  figures.push({
    measure: 'state change -> ManagerState update, polling every 1 s',
    value: summary(await latency(false, 8)),
    target: '<= poll period (1 s)',
  });
  figures.push({
    measure: 'state change -> ManagerState update, with QS_Info (poll 1 s)',
    value: summary(await latency(true, 8)),
    target: '<= 50 ms',
  });
  const iso = await isolation();
  figures.push({
    measure: '10 managers, 2 hung (timeout 2 s): poll interval of the 8 healthy ones (period 100 ms)',
    value: `mean ${ms(iso.mean)}, max ${ms(iso.max)} over ${iso.polls} polls in 3 s`,
    target: 'max < 200 ms (never a hung manager\'s 2 s timeout)',
  });
  return figures;
}
