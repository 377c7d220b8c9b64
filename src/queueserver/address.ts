/**
 * Where a manager's control socket is, when the configuration names its
 * systemd unit instead of an address: the manager's own setting
 * (QSERVER_ZMQ_CONTROL_ADDRESS_FOR_SERVER, a bind address: `*` becomes
 * localhost), else the client setting (QSERVER_ZMQ_CONTROL_ADDRESS), else the
 * default. Read from the unit's Environment= and EnvironmentFile= (D-Bus
 * Service properties Environment "as" and EnvironmentFiles "a(sb)"); as in
 * systemd, a file's assignments override Environment=.
 */
import * as fs from 'node:fs';
import type { SystemdConnection } from '../systemd/bus';
import { MANAGER_IFACE, MANAGER_PATH, PROPERTIES_IFACE, SERVICE_IFACE } from '../systemd/names';
import { ENCODING_VAR, isEncoding, type Encoding } from './protocol';

export const SERVER_ADDRESS_VAR = 'QSERVER_ZMQ_CONTROL_ADDRESS_FOR_SERVER';
export const CLIENT_ADDRESS_VAR = 'QSERVER_ZMQ_CONTROL_ADDRESS';

/** The address a client connects to, given the unit's environment; undefined when it sets neither variable. */
export function controlAddressFromEnvironment(env: ReadonlyMap<string, string>): string | undefined {
  const server = env.get(SERVER_ADDRESS_VAR);
  if (server) return server.replace(/^tcp:\/\/(\*|0\.0\.0\.0)(?=:)/, 'tcp://localhost');
  return env.get(CLIENT_ADDRESS_VAR) || undefined;
}

/** The manager's --zmq-encoding from its environment (QSERVER_ZMQ_ENCODING); undefined when unset. */
export function encodingFromEnvironment(env: ReadonlyMap<string, string>): Encoding | { invalid: string } | undefined {
  const v = env.get(ENCODING_VAR)?.trim();
  if (!v) return undefined;
  return isEncoding(v) ? v : { invalid: v };
}

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

/** The unit's environment as systemd would give the manager, read over D-Bus. */
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
