/**
 * The queueserver bridge: serves each configured RE Manager's own state to
 * records through the `queueserver` device support, and carries control
 * writes to it:
 *
 *   field(DTYP, "queueserver") field(INP, "@qs ManagerState")
 *   field(DTYP, "queueserver") field(OUT, "@qs QueueStart")
 *
 * where `qs` is the manager's `pv` in the configuration. Templates:
 * db/queueserver.db (status) and db/queueserver-control.db (controls).
 */
import { AlarmSeverity, AlarmStatus, Eca } from '../ca/protocol/constants';
import { WriteError } from '../ca/server/pv';
import type { DeviceBinding, DeviceRecord, DeviceSupport } from '../database/device';
import type { FieldValue } from '../database/recordtypes';
import type { HealthAggregator } from '../ioc/health';
import type { Logger } from '../log';
import type { SystemdConnection } from '../systemd/bus';
import { controlAddressFromEnvironment, readUnitEnvironment } from './address';
import type { QueueserverConfig } from './config';
import { DEFAULT_CONTROL_ADDRESS, MANAGER_DISCONNECTED, STATUS_NAMES, type Params, type Reading, type StatusName } from './protocol';
import { ReManagerWatcher } from './watcher';

/** What a record can show of a manager (INP "@pv Name"). */
export const STATUS_PVS = [
  'Connected', 'StatusAge', ...STATUS_NAMES, 'RunningPlan', 'LastExitStatus', 'ConsoleLast', 'CmdStatus', 'CmdMessage',
] as const;
type StatusPv = (typeof STATUS_PVS)[number];

/** Control PVs and the manager method each sends (OUT "@pv Control"). */
export const CONTROL_METHODS = {
  QueueStart: 'queue_start',
  QueueStop: 'queue_stop',
  QueueStopCancel: 'queue_stop_cancel',
  EnvOpen: 'environment_open',
  EnvClose: 'environment_close',
  EnvDestroy: 'environment_destroy',
  REPause: 're_pause',
  REResume: 're_resume',
  REStop: 're_stop',
  REAbort: 're_abort',
  REHalt: 're_halt',
  AutostartSet: 'queue_autostart',
} as const;
type ControlPv = keyof typeof CONTROL_METHODS;
export const CONTROL_PVS = Object.keys(CONTROL_METHODS) as ControlPv[];

/** REPause's states: 0 does nothing, then the re_pause options. */
const PAUSE_OPTIONS = ['', 'deferred', 'immediate'] as const;

/** PVs that describe the IOC's side (connection, commands, console), not the manager's status: no COMM alarm. */
const OWN_PVS: ReadonlySet<StatusPv> = new Set(['Connected', 'StatusAge', 'ConsoleLast', 'CmdStatus', 'CmdMessage']);
/** The records whose severity is the manager's health. */
const HEALTH_PVS: readonly StatusPv[] = ['Connected', 'ManagerState', 'EnvState', 'REState', 'LastExitStatus'];

const COMM_ALARM = { status: AlarmStatus.COMM, severity: AlarmSeverity.INVALID };
const READ_ALARM = { status: AlarmStatus.READ, severity: AlarmSeverity.INVALID };

export interface QueueserverBridgeOptions {
  managers: readonly QueueserverConfig[];
  log: Logger;
  health?: HealthAggregator;
  /** For managers whose address comes from their unit's environment. */
  bus?: SystemdConnection;
}

/** The request a control write stands for; undefined: nothing to send (a button written 0). */
export function controlRequest(control: ControlPv, value: number): { method: string; params: Params } | undefined {
  const method = CONTROL_METHODS[control];
  switch (control) {
    case 'AutostartSet':
      return { method, params: { enable: value !== 0 } };
    case 'REPause': {
      if (value === 0) return undefined;
      const option = PAUSE_OPTIONS[value];
      if (!option) throw new WriteError(Eca.PUTFAIL, `REPause: state ${value} is neither Deferred (1) nor Immediate (2)`);
      return { method, params: { option } };
    }
    default:
      return value === 0 ? undefined : { method, params: {} };
  }
}

class ManagerEntry {
  readonly status = new Map<DeviceRecord, StatusPv>();
  readonly controls = new Map<DeviceRecord, ControlPv>();
  readonly last = new Map<DeviceRecord, FieldValue>();
  cmdOk = 1;
  cmdMessage = '';
  consoleLast = '';
  watcher!: ReManagerWatcher;
  constructor(readonly config: QueueserverConfig) {}
  get pv(): string {
    return this.config.pv;
  }
}

export class QueueserverBridge {
  private readonly managers = new Map<string, ManagerEntry>();
  private readonly log: Logger;

  constructor(private readonly opts: QueueserverBridgeOptions) {
    this.log = opts.log;
    for (const config of opts.managers) {
      const e = new ManagerEntry(config);
      e.watcher = new ReManagerWatcher({
        name: config.pv,
        resolveAddress: () => this.resolveAddress(config),
        infoAddr: config.infoAddr,
        publicKey: config.publicKey,
        lockKey: config.lockKey,
        pollPeriodMs: config.pollPeriod * 1000,
        timeoutMs: config.timeout * 1000,
        log: this.log,
        listener: {
          changed: () => this.publish(e),
          consoleLine: (line) => this.onConsoleLine(e, line),
        },
      });
      this.managers.set(config.pv, e);
    }
  }

  /** Start polling every manager. */
  start(): void {
    for (const e of this.managers.values()) e.watcher.start();
  }

  stop(): void {
    for (const e of this.managers.values()) e.watcher.stop();
  }

  /** The watcher of the manager with this `pv` (tests, benchmarks). */
  watcher(pv: string): ReManagerWatcher | undefined {
    return this.managers.get(pv)?.watcher;
  }

  // ------------------------------------------------------------ device support

  deviceSupport(): DeviceSupport {
    return {
      dtyp: 'queueserver',
      recordTypes: ['ai', 'longin', 'bi', 'mbbi', 'stringin', 'lsi', 'bo', 'mbbo'],
      bind: (record, link) => this.bind(record, link),
    };
  }

  private bind(record: DeviceRecord, link: string): DeviceBinding {
    const m = /^@(\S+)\s+(\S+)\s*$/.exec(link.trim());
    if (!m) throw new Error(`link "${link}": expected "@PV NAME", e.g. "@qs ManagerState"`);
    const [, pv, what] = m;
    const e = this.managers.get(pv);
    if (!e) {
      const known = [...this.managers.keys()];
      throw new Error(`link "${link}": no [[queueserver]] has pv = "${pv}"${known.length ? `; configured: ${known.join(', ')}` : ''}`);
    }
    if (record.kind === 'output') {
      if (!(CONTROL_PVS as string[]).includes(what)) throw new Error(`link "${link}": expected one of ${CONTROL_PVS.join(', ')}`);
      const control = what as ControlPv;
      e.controls.set(record, control);
      return {
        write: (value) => this.control(e, control, Number(value)),
        close: () => e.controls.delete(record),
      };
    }
    if (!(STATUS_PVS as readonly string[]).includes(what)) throw new Error(`link "${link}": expected one of ${STATUS_PVS.join(', ')}`);
    const name = what as StatusPv;
    e.status.set(record, name);
    this.publishRecord(e, record, name);
    return {
      // StatusAge grows without any message: its record is scanned.
      read: () => this.publishRecord(e, record, name),
      close: () => e.status.delete(record),
    };
  }

  // ------------------------------------------------------------ values

  /** The value a record shows, and the alarm the device adds to the record's own. */
  private valueOf(e: ManagerEntry, name: StatusPv): { value?: FieldValue; alarm?: { status: AlarmStatus; severity: AlarmSeverity } } {
    const w = e.watcher;
    switch (name) {
      case 'Connected': return { value: w.connected ? 1 : 0 };
      case 'StatusAge': return { value: w.lastStatusAt === undefined ? undefined : Math.max(0, (Date.now() - w.lastStatusAt) / 1000) };
      case 'ConsoleLast': return { value: e.consoleLast };
      case 'CmdStatus': return { value: e.cmdOk };
      case 'CmdMessage': return { value: e.cmdMessage };
      default: break;
    }
    let reading: Reading | undefined;
    if (name === 'RunningPlan') reading = w.runningPlan;
    else if (name === 'LastExitStatus') reading = w.lastExit;
    else reading = w.readings?.[name as StatusName];
    if (!w.connected) {
      // Keep the last known value under the alarm; ManagerState says why.
      return { value: name === 'ManagerState' ? MANAGER_DISCONNECTED : undefined, alarm: COMM_ALARM };
    }
    if (!reading || reading.fault !== undefined) return { alarm: READ_ALARM };
    return { value: reading.value };
  }

  /** `always`: post even an unchanged value (a console line printed twice). */
  private publishRecord(e: ManagerEntry, record: DeviceRecord, name: StatusPv, always = false): void {
    const { value, alarm } = this.valueOf(e, name);
    record.setDeviceAlarm(OWN_PVS.has(name) ? undefined : alarm);
    if (value === undefined) return;
    if (!always && name !== 'StatusAge' && e.last.get(record) === value) return;
    e.last.set(record, value);
    record.update(typeof value === 'string' ? fitString(record, value) : value);
  }

  private publish(e: ManagerEntry): void {
    for (const [r, name] of e.status) this.publishRecord(e, r, name);
    // AutostartSet reads back from the manager's queue_autostart_enabled.
    const autostart = e.watcher.connected ? e.watcher.readings?.Autostart : undefined;
    if (autostart?.value !== undefined) {
      for (const [r, control] of e.controls) if (control === 'AutostartSet' && r.field('VAL') !== autostart.value) r.update(autostart.value);
    }
    this.reportHealth(e);
  }

  /** A manager's health: the highest severity among its Connected, ManagerState, EnvState, REState and LastExitStatus. */
  private reportHealth(e: ManagerEntry): void {
    const health = this.opts.health;
    if (!health) return;
    let sev = -1;
    for (const [r, name] of e.status) if (HEALTH_PVS.includes(name)) sev = Math.max(sev, r.field('SEVR') as number);
    if (sev >= 0) health.set(`queueserver ${e.pv}`, sev);
  }

  private onConsoleLine(e: ManagerEntry, line: string): void {
    e.consoleLast = line;
    for (const [r, name] of e.status) if (name === 'ConsoleLast') this.publishRecord(e, r, name, true);
  }

  // ------------------------------------------------------------ control

  private async control(e: ManagerEntry, control: ControlPv, value: number): Promise<void> {
    const req = controlRequest(control, value);
    if (!req) return;
    const w = e.watcher;
    let ok = false;
    if (!w.connected) {
      e.cmdMessage = `${req.method} refused: RE Manager ${e.pv} does not answer (${w.fault})`;
    } else {
      try {
        const reply = await w.control(req.method, req.params);
        ok = reply.success;
        e.cmdMessage = `${req.method}: ${reply.msg || (ok ? 'accepted' : 'refused')}`;
      } catch (err) {
        e.cmdMessage = (err as Error).message;
      }
    }
    e.cmdOk = ok ? 1 : 0;
    this.log.info('queueserver control', { manager: e.pv, method: req.method, success: ok, message: e.cmdMessage });
    this.publish(e);
    if (!ok) throw new WriteError(Eca.PUTFAIL, e.cmdMessage);
  }

  // ------------------------------------------------------------ addresses

  /** control_addr, else the unit's environment (over D-Bus), else the default. */
  private async resolveAddress(config: QueueserverConfig): Promise<string> {
    if (config.controlAddr) return config.controlAddr;
    if (!config.unit) return DEFAULT_CONTROL_ADDRESS;
    const bus = this.opts.bus;
    const fallback = (reason: string): string => {
      this.log.warn('using the default control address', { manager: config.pv, unit: config.unit, address: DEFAULT_CONTROL_ADDRESS, reason });
      return DEFAULT_CONTROL_ADDRESS;
    };
    if (!bus) return fallback('no D-Bus connection');
    const waitMs = Math.max(5000, config.timeout * 1000);
    if (!(await busUp(bus, waitMs))) return fallback(`not connected to ${bus.describe()} within ${waitMs / 1000} s`);
    try {
      const env = await readUnitEnvironment(bus, config.unit, config.timeout * 1000);
      const address = controlAddressFromEnvironment(env);
      if (!address) return fallback(`the unit's environment sets no control address`);
      this.log.info('control address from the unit', { manager: config.pv, unit: config.unit, address });
      return address;
    } catch (err) {
      return fallback(`cannot read the unit's environment: ${(err as Error).message}`);
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

/** Cut a string to what the record holds (SIZV for lsi, 40 for stringin), on a character boundary. */
function fitString(record: DeviceRecord, value: string): string {
  const size = record.recordType === 'lsi' ? Math.max(1, Number(record.field('SIZV'))) : 40;
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length <= size - 1) return value;
  // A multi-byte character cut in two decodes as U+FFFD: drop it.
  return bytes.subarray(0, size - 1).toString('utf8').replace(/\uFFFD$/, '');
}
