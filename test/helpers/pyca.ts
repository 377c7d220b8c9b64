/**
 * Drives test/interop/py/pyca.py: one real libca client process per test
 * suite, spoken to with JSON lines.
 */
import * as path from 'node:path';
import { startProcess, type Managed } from './processes';
import { SYSTEM_PYTHON } from './system';

export const REPO_ROOT = path.resolve(__dirname, '../../..');
/** The client program. */
export const PYCA_SCRIPT = path.join(REPO_ROOT, 'test/interop/py/pyca.py');

/** The client environment for a server on loopback at `serverPort`. */
export function clientEnv(serverPort: number, repeaterPort: number, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    EPICS_CA_AUTO_ADDR_LIST: 'NO',
    EPICS_CA_ADDR_LIST: '127.0.0.1',
    EPICS_CA_SERVER_PORT: String(serverPort),
    EPICS_CA_REPEATER_PORT: String(repeaterPort),
    EPICS_CA_CONN_TMO: '2',
    PYTHONUNBUFFERED: '1',
    ...extra,
  };
}

/**
 * The server environment: loopback only, beacons to the client's repeater port;
 * service-ioc's pvAccess server on any free ports, without beacons (a PVA test sets its own).
 */
export function serverEnv(serverPort: number, repeaterPort: number, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    EPICS_CAS_SERVER_PORT: String(serverPort),
    EPICS_CAS_INTF_ADDR_LIST: '127.0.0.1',
    EPICS_CAS_BEACON_ADDR_LIST: '127.0.0.1',
    EPICS_CAS_AUTO_BEACON_ADDR_LIST: 'NO',
    EPICS_CAS_BEACON_PORT: String(repeaterPort),
    EPICS_CAS_BEACON_PERIOD: '1',
    EPICS_PVAS_INTF_ADDR_LIST: '127.0.0.1',
    EPICS_PVAS_SERVER_PORT: '0',
    EPICS_PVAS_BROADCAST_PORT: '0',
    EPICS_PVAS_BEACON_ADDR_LIST: '',
    EPICS_PVAS_AUTO_BEACON_ADDR_LIST: 'NO',
    SERVICE_IOC_LOG: 'warn',
    ...extra,
  };
}

export type Reply = Record<string, unknown>;

export class PyCa {
  private nextId = 1;
  private readonly pending = new Map<number, (r: Reply) => void>();
  private constructor(private readonly proc: Managed) {}

  static async start(env: NodeJS.ProcessEnv, argsPrefix: string[] = []): Promise<PyCa> {
    const cmd = argsPrefix.length ? argsPrefix[0] : SYSTEM_PYTHON;
    const args = [...argsPrefix.slice(1), ...(argsPrefix.length ? [SYSTEM_PYTHON] : []), PYCA_SCRIPT];
    return PyCa.startWith(cmd, args, env);
  }

  /**
   * Start a client from any command line that ends up running pyca.py (a copy
   * of PYCA_SCRIPT, as another user, in another UTS namespace...).
   */
  static async startWith(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<PyCa> {
    const proc = startProcess(cmd, args, env);
    const client = new PyCa(proc);
    try {
      await proc.waitLine(/"ready": true/, 20000);
    } catch (err) {
      await proc.stop(1000);
      throw err;
    }
    proc.onLine((line) => {
      let msg: Reply;
      try {
        msg = JSON.parse(line) as Reply;
      } catch {
        return;
      }
      const r = client.pending.get(msg.id as number);
      if (r) {
        client.pending.delete(msg.id as number);
        r(msg);
      }
    });
    return client;
  }

  request(op: string, args: Record<string, unknown> = {}, timeoutMs = 20000): Promise<Reply> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`pyca ${op} timed out; stderr: ${this.proc.stderr().slice(-1000)}`));
      }, timeoutMs);
      this.pending.set(id, (r) => {
        clearTimeout(t);
        if (r.exception) reject(new Error(`pyca ${op}: ${String(r.exception)}`));
        else resolve(r);
      });
      this.proc.proc.stdin!.write(JSON.stringify({ id, op, ...args }) + '\n');
    });
  }

  /**
   * A get of `pv` with pyepics' metadata, failing the test when there is no
   * result. For `as_string` of a scalar the count is 1: pyepics returns an
   * enum's label only for an explicit count of 1.
   */
  async getResult(pv: string, extra: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const r = await this.request('get', { pv, ...(extra.as_string && !pv.endsWith('$') ? { count: 1 } : {}), ...extra });
    if (!r.result) throw new Error(`get ${pv}: ${JSON.stringify(r)}`);
    return r.result as Record<string, unknown>;
  }

  /**
   * Monitor `pv` (DBE_VALUE | DBE_ALARM) until its newest event satisfies
   * `check`, and return that event; fails after `timeoutMs` with the last
   * event seen. The subscription is removed either way.
   */
  async waitFor(pv: string, check: (event: Record<string, unknown>) => boolean, timeoutMs = 15000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    let last: Record<string, unknown> = {};
    const mid = `wait-${pv}-${this.nextId}`;
    await this.request('monitor', { pv, mid, mask: 5 });
    try {
      for (let seen = 1; Date.now() < deadline; seen++) {
        const ev = await this.request('events', { mid, atleast: seen, timeout: Math.max(0.1, (deadline - Date.now()) / 1000) });
        const events = ev.events as Array<Record<string, unknown>>;
        if (events.length < seen) break;
        last = events[events.length - 1];
        seen = events.length;
        if (check(last)) return last;
      }
    } finally {
      await this.request('unmonitor', { mid });
    }
    throw new Error(`${pv} did not reach the expected state in ${timeoutMs} ms; last ${JSON.stringify(last)}`);
  }

  stderr(): string {
    return this.proc.stderr();
  }

  async stop(): Promise<void> {
    this.proc.proc.stdin!.end(JSON.stringify({ op: 'quit' }) + '\n');
    await this.proc.stop(2000);
  }
}
