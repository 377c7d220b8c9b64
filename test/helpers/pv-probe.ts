/**
 * Reading, writing and waiting on the PVs of an IOC database in memory, the
 * way a client would see them: value, alarm, a put, and "until" a condition
 * holds (re-checked on every change of the PV, never by sleeping).
 */
import { strict as assert } from 'node:assert';
import { AlarmSeverity, AlarmStatus } from '../../src/ca/protocol/constants';
import type { ProcessVariable, PvDirectory } from '../../src/ca/pv';

export const TEST_CLIENT = { user: 'op', host: 'opi', address: '127.0.0.1' };

export interface PvProbe {
  pv(name: string): ProcessVariable;
  value(name: string): number | string;
  alarm(name: string): [string, string];
  put(name: string, v: number): Promise<void>;
  /** Resolve once `check` holds; fail after `ms` with what `describe` says was seen. */
  until(name: string, check: () => boolean, ms?: number): Promise<void>;
}

export function pvProbe(directory: () => PvDirectory, prefix: string, describe: () => string = () => ''): PvProbe {
  const pv = (name: string): ProcessVariable => {
    const p = directory().lookup(prefix + name);
    assert.ok(p, name);
    return p;
  };
  const value = (name: string): number | string => pv(name).snapshot().value[0] as number | string;
  const alarm = (name: string): [string, string] => {
    const s = pv(name).snapshot();
    return [AlarmStatus[s.status], AlarmSeverity[s.severity]];
  };
  return {
    pv,
    value,
    alarm,
    put: (name, v) => pv(name).write({ value: [v], client: TEST_CLIENT, notify: true }),
    until: (name, check, ms = 5000) => new Promise((resolve, reject) => {
      if (check()) return resolve();
      const timer = setTimeout(() => {
        off();
        reject(new Error(`${name} did not get there within ${ms} ms: value ${JSON.stringify(value(name))}, alarm ${alarm(name).join('/')}${describe()}`));
      }, ms);
      const off = pv(name).subscribe(() => {
        if (check()) {
          clearTimeout(timer);
          off();
          resolve();
        }
      });
    }),
  };
}
