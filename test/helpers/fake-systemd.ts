/**
 * An in-memory stand-in for systemd's manager on D-Bus, for bridge tests
 * without a bus: LoadUnit, GetAll, Start/Stop/Restart/ResetFailed, enable,
 * with the signals systemd sends (PropertiesChanged, JobRemoved, ...).
 * Real systemd is exercised by the interop tests.
 */
import { EventEmitter } from 'node:events';
import { BusError, type BusSignal, type SystemdConnection } from '../../src/systemd/bus';
import { MANAGER_IFACE, MANAGER_PATH, PROPERTIES_IFACE, SERVICE_IFACE, UNIT_IFACE, UNIT_PATH_PREFIX, unescapeBusLabel, unitPath } from '../../src/systemd/names';

export interface FakeUnit {
  LoadState: string;
  ActiveState: string;
  SubState: string;
  UnitFileState: string;
  MainPID: number;
  NRestarts: number;
  Result: string;
  ExecMainStatus: number;
  ActiveEnterTimestamp: bigint;
  /** The start job fails (result "failed"). */
  failsToStart?: boolean;
}

const UNIT_PROPS = ['LoadState', 'ActiveState', 'SubState', 'UnitFileState', 'ActiveEnterTimestamp'];
const SERVICE_PROPS = ['MainPID', 'NRestarts', 'Result', 'ExecMainStatus'];
/** What systemd lists as invalidated in every Service PropertiesChanged (its EMITS_INVALIDATION properties). */
const SERVICE_INVALIDATED = ['ExecCondition', 'ExecStartPre', 'ExecStart', 'ExecStartPost', 'ExecReload', 'ExecStop', 'ExecStopPost'];

export class FakeSystemd extends EventEmitter implements SystemdConnection {
  isConnected = false;
  readonly units = new Map<string, FakeUnit>();
  /** Properties only Get reads (accounting, ControlGroup), per unit; absent accounting is [not set]. */
  readonly polled = new Map<string, Record<string, unknown>>();
  readonly calls: string[] = [];
  private nextJob = 1;
  private nextPid = 1000;
  /** Emit JobRemoved before the StartUnit reply (the race systemd allows). */
  jobEndsBeforeReply = false;
  /** Hold jobs until release() is called. */
  holdJobs = false;
  private held: Array<() => void> = [];

  describe(): string {
    return 'the fake bus';
  }

  start(): void {
    this.up();
  }

  stop(): void {
    this.isConnected = false;
  }

  up(): void {
    this.isConnected = true;
    this.emit('up');
  }

  down(reason = 'dbus-daemon killed'): void {
    this.isConnected = false;
    this.emit('down', reason);
  }

  addUnit(name: string, over: Partial<FakeUnit> = {}): FakeUnit {
    const u: FakeUnit = {
      LoadState: 'loaded', ActiveState: 'inactive', SubState: 'dead', UnitFileState: 'disabled',
      MainPID: 0, NRestarts: 0, Result: 'success', ExecMainStatus: 0, ActiveEnterTimestamp: 0n, ...over,
    };
    this.units.set(name, u);
    return u;
  }

  /** Change properties and send PropertiesChanged, as systemd does per interface. */
  set(name: string, changes: Partial<FakeUnit>, invalidate: readonly string[] = []): void {
    const u = this.units.get(name)!;
    Object.assign(u, changes);
    const pick = (keys: string[]): Record<string, { signature: string; value: unknown }> => {
      const out: Record<string, { signature: string; value: unknown }> = {};
      for (const k of keys) if (k in changes) out[k] = variant((u as unknown as Record<string, unknown>)[k]);
      return out;
    };
    const unitChanges = pick(UNIT_PROPS);
    const serviceChanges = pick(SERVICE_PROPS);
    // `invalidate` names properties sent without their value (as systemd sends the
    // ones flagged EMITS_INVALIDATION): a client must read them with GetAll.
    for (const k of invalidate) {
      delete unitChanges[k];
      delete serviceChanges[k];
    }
    const unitInvalid = invalidate.filter((k) => UNIT_PROPS.includes(k));
    const serviceInvalid = invalidate.filter((k) => SERVICE_PROPS.includes(k));
    if (Object.keys(unitChanges).length || unitInvalid.length) this.signal(unitPath(name), PROPERTIES_IFACE, 'PropertiesChanged', [UNIT_IFACE, unitChanges, unitInvalid]);
    if (Object.keys(serviceChanges).length || serviceInvalid.length) this.signal(unitPath(name), PROPERTIES_IFACE, 'PropertiesChanged', [SERVICE_IFACE, serviceChanges, [...SERVICE_INVALIDATED, ...serviceInvalid]]);
  }

  signal(path: string, iface: string, member: string, body: unknown[]): void {
    if (!this.isConnected) return;
    const s: BusSignal = { path, iface, member, body };
    this.emit('signal', s);
  }

  /** Resolves once a job is being held. */
  jobHeld(): Promise<void> {
    return this.held.length ? Promise.resolve() : new Promise((resolve) => this.once('held', () => resolve()));
  }

  release(): void {
    const h = this.held;
    this.held = [];
    for (const f of h) f();
  }

  async call(path: string, iface: string, member: string, _sig: string, body: unknown[]): Promise<unknown[]> {
    if (!this.isConnected) throw new BusError('SYSTEMD_ERR_BUS_DISCONNECTED', 'not connected to the fake bus');
    this.calls.push(`${member}(${body.map((b) => JSON.stringify(b)).join(',')})`);
    await Promise.resolve();
    if (path === MANAGER_PATH && iface === MANAGER_IFACE) return this.manager(member, body);
    if (iface === PROPERTIES_IFACE && member === 'Get' && path.startsWith(UNIT_PATH_PREFIX)) {
      const name = unescapeBusLabel(path.slice(UNIT_PATH_PREFIX.length));
      const prop = String(body[1]);
      const v = this.polled.get(name)?.[prop];
      if (v !== undefined) return [variant(v)];
      if (prop === 'ControlGroup') return [variant('')];
      return [variant(18446744073709551615n)];
    }
    if (iface === PROPERTIES_IFACE && member === 'GetAll' && path.startsWith(UNIT_PATH_PREFIX)) {
      const name = unescapeBusLabel(path.slice(UNIT_PATH_PREFIX.length));
      const u = this.units.get(name) ?? { LoadState: 'not-found', ActiveState: 'inactive', SubState: 'dead', UnitFileState: '', MainPID: 0, NRestarts: 0, Result: 'success', ExecMainStatus: 0, ActiveEnterTimestamp: 0n };
      const keys = body[0] === UNIT_IFACE ? UNIT_PROPS : SERVICE_PROPS;
      const out: Record<string, unknown> = {};
      for (const k of keys) out[k] = variant((u as unknown as Record<string, unknown>)[k]);
      return [out];
    }
    throw new BusError('SYSTEMD_ERR_BUS_CALL_FAILED', `${member}: unknown method`, 'org.freedesktop.DBus.Error.UnknownMethod');
  }

  private manager(member: string, body: unknown[]): unknown[] {
    const name = String(body[0]);
    switch (member) {
      case 'LoadUnit':
        return [unitPath(name)];
      case 'StartUnit': case 'StopUnit': case 'RestartUnit':
        return this.job(member, name);
      case 'ResetFailedUnit':
        this.set(name, { ActiveState: 'inactive', SubState: 'dead', Result: 'success' });
        return [];
      case 'EnableUnitFiles':
      case 'DisableUnitFiles': {
        for (const n of body[0] as string[]) this.units.get(n)!.UnitFileState = member === 'EnableUnitFiles' ? 'enabled' : 'disabled';
        this.signal(MANAGER_PATH, MANAGER_IFACE, 'UnitFilesChanged', []);
        return member === 'EnableUnitFiles' ? [false, []] : [[]];
      }
      case 'Reload':
        this.signal(MANAGER_PATH, MANAGER_IFACE, 'Reloading', [true]);
        this.signal(MANAGER_PATH, MANAGER_IFACE, 'Reloading', [false]);
        return [];
      default:
        throw new BusError('SYSTEMD_ERR_BUS_CALL_FAILED', `${member}: unknown method`, 'org.freedesktop.DBus.Error.UnknownMethod');
    }
  }

  private job(member: string, name: string): unknown[] {
    const u = this.units.get(name);
    if (!u) throw new BusError('SYSTEMD_ERR_BUS_CALL_FAILED', `Unit ${name} not found.`, 'org.freedesktop.systemd1.NoSuchUnit');
    const id = this.nextJob++;
    const path = `/org/freedesktop/systemd1/job/${id}`;
    const run = (): void => {
      let result = 'done';
      if (member === 'StopUnit') {
        this.set(name, { ActiveState: 'deactivating', SubState: 'stop-sigterm' });
        this.set(name, { ActiveState: 'inactive', SubState: 'dead', MainPID: 0 });
      } else if (u.failsToStart) {
        this.set(name, { ActiveState: 'activating', SubState: 'start' });
        this.set(name, { ActiveState: 'failed', SubState: 'failed', Result: 'exit-code', ExecMainStatus: 3, MainPID: 0 });
        result = 'failed';
      } else {
        this.set(name, { ActiveState: 'activating', SubState: 'start' });
        this.set(name, { ActiveState: 'active', SubState: 'running', MainPID: this.nextPid++, ActiveEnterTimestamp: BigInt(Date.now()) * 1000n });
      }
      this.signal(MANAGER_PATH, MANAGER_IFACE, 'JobRemoved', [id, path, name, result]);
    };
    if (this.holdJobs) {
      this.held.push(run);
      this.emit('held');
    }
    else if (this.jobEndsBeforeReply) run();
    else setImmediate(run);
    return [path];
  }
}

function variant(value: unknown): { signature: string; value: unknown } {
  return { signature: typeof value === 'bigint' ? 't' : typeof value === 'number' ? 'u' : 's', value };
}
