/**
 * A unit's environment as systemd gives it to the service: Environment= and
 * EnvironmentFile= (D-Bus Service properties Environment "as" and
 * EnvironmentFiles "a(sb)"); as in systemd, a file's assignments override
 * Environment=.
 */
import * as fs from 'node:fs';
import type { SystemdConnection } from './bus';
import { MANAGER_IFACE, MANAGER_PATH, PROPERTIES_IFACE, SERVICE_IFACE } from './names';

/** "KEY=VALUE" lines (Environment= entries, or an EnvironmentFile), later ones winning. */
export function parseEnvironment(lines: Iterable<string>, into = new Map<string, string>()): Map<string, string> {
  for (const raw of lines) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!m) continue;
    let value = m[2];
    const q = /^(["'])(.*)\1$/.exec(value);
    if (q) value = q[2];
    into.set(m[1], value);
  }
  return into;
}

function variantValue(v: unknown): unknown {
  return v !== null && typeof v === 'object' && 'value' in v && 'signature' in v ? (v as { value: unknown }).value : v;
}

/** The unit's environment as systemd would give the service, read over D-Bus. */
export async function readUnitEnvironment(bus: SystemdConnection, unit: string, timeoutMs: number): Promise<Map<string, string>> {
  const [path] = await bus.call(MANAGER_PATH, MANAGER_IFACE, 'LoadUnit', 's', [unit], timeoutMs);
  const get = async (prop: string): Promise<unknown> => variantValue((await bus.call(String(path), PROPERTIES_IFACE, 'Get', 'ss', [SERVICE_IFACE, prop], timeoutMs))[0]);
  const env = parseEnvironment(asStrings(await get('Environment')));
  for (const entry of asArray(await get('EnvironmentFiles'))) {
    const [file, ignoreMissing] = asArray(entry);
    if (typeof file !== 'string') continue;
    try {
      parseEnvironment(fs.readFileSync(file, 'utf8').split('\n'), env);
    } catch (err) {
      if (!ignoreMissing) throw new Error(`cannot read ${file}, an EnvironmentFile of ${unit}: ${(err as Error).message}`);
    }
  }
  return env;
}

function asArray(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function asStrings(v: unknown): string[] {
  return asArray(v).filter((x): x is string => typeof x === 'string');
}

/** Reads units' environments over one bus connection, waiting for the bus when it is not up. */
export class UnitEnvironment {
  constructor(private readonly bus: SystemdConnection) {}

  async environment(unit: string, opts: { waitMs: number; timeoutMs: number }): Promise<Map<string, string>> {
    if (!(await busUp(this.bus, opts.waitMs))) throw new Error(`not connected to ${this.bus.describe()} within ${opts.waitMs / 1000} s`);
    try {
      return await readUnitEnvironment(this.bus, unit, opts.timeoutMs);
    } catch (err) {
      throw new Error(`cannot read the unit's environment: ${(err as Error).message}`);
    }
  }
}

function busUp(bus: SystemdConnection, waitMs: number): Promise<boolean> {
  if (bus.isConnected) return Promise.resolve(true);
  return new Promise((resolve) => {
    let settled = false;
    const timer = setTimeout(() => settle(false), waitMs);
    // Waiting for the bus must not keep a stopping IOC alive.
    timer.unref();
    const settle = (up: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(up);
    };
    bus.on('up', () => settle(true));
  });
}
