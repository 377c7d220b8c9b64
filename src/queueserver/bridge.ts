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
import { WriteError } from '../ca/pv';
import type { DeviceBinding, DeviceRecord, DeviceSupport, HealthSink } from '../database/device';
import { BoundRecords, oneOf, parseLink, unknownTarget, type DeviceAlarm } from '../database/device-bridge';
import type { FieldValue } from '../database/recordtypes';
import type { Logger } from '../log';
import { controlAddressFromEnvironment, encodingFromEnvironment, infoAddressFromEnvironment, type UnitEnvironmentReader } from './address';
import type { QueueserverConfig } from './config';
import { DEFAULT_CONTROL_ADDRESS, DEFAULT_ENCODING, MANAGER_DISCONNECTED, STATUS_NAMES, type Params, type Reading, type StatusName } from './protocol';
import { ReManagerWatcher, type ManagerEndpoint } from './watcher';

/** What a record can show of a manager (INP "@pv Name"). */
export const STATUS_PVS = [
  'Connected', 'StatusAge', ...STATUS_NAMES, 'RunningPlan', 'LastExitStatus', 'ConsoleLast', 'CmdStatus', 'CmdMessage',
  'LockUser', 'LockNote', 'LockTime', 'PlansAllowed', 'DevicesAllowed', 'Problem',
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
const OWN_PVS: ReadonlySet<StatusPv> = new Set(['Connected', 'StatusAge', 'ConsoleLast', 'CmdStatus', 'CmdMessage', 'Problem']);
/** The records whose severity is the manager's health. */
const HEALTH_PVS: ReadonlySet<StatusPv> = new Set(['Connected', 'ManagerState', 'EnvState', 'REState', 'LastExitStatus', 'PlansAllowed', 'DevicesAllowed']);

const COMM_ALARM = { status: AlarmStatus.COMM, severity: AlarmSeverity.INVALID };
const READ_ALARM = { status: AlarmStatus.READ, severity: AlarmSeverity.INVALID };
/** No plans or devices allowed while an environment is open: nothing can be queued. */
const NONE_ALLOWED_ALARM = { status: AlarmStatus.STATE, severity: AlarmSeverity.MINOR };

/** What the bridge needs to know of a manager's redis ([[redis]] tables); the redis bridge, wired by the IOC. */
export interface RedisStatusSource {
  /** undefined for an unknown pv; connected undefined before the first poll. */
  state(pv: string): { connected: boolean | undefined; reason: string; address: string } | undefined;
  subscribe(listener: (pv: string) => void): () => void;
  /** Resolves once what the IOC shows of that redis is current as of `since` (performance.now()). */
  checked(pv: string, since: number): Promise<void>;
}

export interface QueueserverBridgeOptions {
  managers: readonly QueueserverConfig[];
  log: Logger;
  health?: HealthSink;
  /** For managers whose address comes from their unit's environment. */
  unitEnvironment?: UnitEnvironmentReader;
  /** For managers that name their redis (`redis = "<pv>"`). */
  redis?: RedisStatusSource;
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
      if (!option) throw new WriteError(Eca.PUTFAIL, `REPause: state ${value} is neither Deferred (1) nor Immediate (2)`, 'QS_ERR_BAD_CHOICE');
      return { method, params: { option } };
    }
    default:
      return value === 0 ? undefined : { method, params: {} };
  }
}

class ManagerEntry {
  readonly records = new BoundRecords<StatusPv, ControlPv>();
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
  /** What was last logged about each manager's endpoint: it is read again while the manager does not answer. */
  private readonly endpointLogged = new Map<string, string>();

  constructor(private readonly opts: QueueserverBridgeOptions) {
    this.log = opts.log;
    const redis = opts.redis;
    for (const config of opts.managers) {
      const e = new ManagerEntry(config);
      const redisPv = config.redis;
      e.watcher = new ReManagerWatcher({
        name: config.pv,
        resolveEndpoint: () => this.resolveEndpoint(config),
        followsUnit: config.controlAddr === undefined && config.unit !== undefined,
        publicKey: config.publicKey,
        lockKey: config.lockKey,
        userGroup: config.userGroup,
        pollPeriodMs: config.pollPeriod * 1000,
        timeoutMs: config.timeout * 1000,
        log: this.log,
        listener: {
          changed: () => this.publish(e),
          consoleLine: (line) => this.onConsoleLine(e, line),
        },
        // A manager that stops answering because its redis hangs is shown so after that redis.
        ...(redisPv === undefined || !redis ? {} : { beforeLoss: (since: number) => redis.checked(redisPv, since) }),
      });
      this.managers.set(config.pv, e);
    }
  }

  /** Start polling every manager. */
  start(): void {
    // A manager that names its redis shows that redis's state in Problem and its health.
    this.offRedis = this.opts.redis?.subscribe((pv) => {
      for (const e of this.managers.values()) if (e.config.redis === pv) this.publish(e);
    });
    for (const e of this.managers.values()) e.watcher.start();
  }

  stop(): void {
    this.offRedis?.();
    for (const e of this.managers.values()) e.watcher.stop();
  }

  private offRedis: (() => void) | undefined;

  /**
   * What is wrong with a manager, as one cause: "" when nothing is. A manager
   * that does not answer while its redis is down is down because of redis
   * (bluesky-queueserver's manager cannot start without it, while its unit
   * stays active).
   */
  problem(e: ManagerEntry): { text: string; causedBy?: string } {
    const w = e.watcher;
    if (!w.connected) {
      const redis = e.config.redis === undefined ? undefined : this.opts.redis?.state(e.config.redis);
      if (redis && redis.connected === false) {
        return { text: `RE Manager not answering because redis ${e.config.redis} (${redis.address}) is down: ${redis.reason}`, causedBy: `redis ${e.config.redis}` };
      }
      return { text: `RE Manager not answering: ${w.fault}` };
    }
    const envOpen = w.readings?.EnvExists.value === 1;
    if (envOpen && w.plansAllowed.value === 0) return { text: `no plans allowed for user group ${e.config.userGroup}` };
    if (envOpen && w.devicesAllowed.value === 0) return { text: `no devices allowed for user group ${e.config.userGroup}` };
    return { text: '' };
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
    const { target, name } = parseLink(link, '"@PV NAME", e.g. "@qs ManagerState"');
    const e = this.managers.get(target);
    if (!e) throw unknownTarget(link, '[[queueserver]]', target, this.managers.keys());
    if (record.kind === 'output') {
      const control = oneOf(link, name, CONTROL_PVS);
      const binding = e.records.bindControl(record, control, (value) => this.control(e, control, value));
      // A control starts defined, as a device that reads its output back at
      // init_record leaves it: at 0 (AutostartSet then follows the manager),
      // NO_ALARM. This is a device update: nothing is sent to the manager.
      record.update(0);
      return binding;
    }
    // StatusAge grows without any message: its record is scanned.
    return e.records.bindStatus(record, oneOf(link, name, STATUS_PVS), (r) => this.publishRecord(e, r));
  }

  // ------------------------------------------------------------ values

  /** The value a record shows, and the alarm the device adds to the record's own. */
  private valueOf(e: ManagerEntry, name: StatusPv): { value?: FieldValue; alarm?: DeviceAlarm } {
    const w = e.watcher;
    switch (name) {
      case 'Connected': return { value: w.connected ? 1 : 0 };
      case 'StatusAge': return { value: w.lastStatusAt === undefined ? undefined : Math.max(0, (Date.now() - w.lastStatusAt) / 1000) };
      case 'ConsoleLast': return { value: e.consoleLast };
      case 'CmdStatus': return { value: e.cmdOk };
      case 'CmdMessage': return { value: e.cmdMessage };
      case 'Problem': return { value: this.problem(e).text };
      default: break;
    }
    let reading: Reading | undefined;
    if (name === 'RunningPlan') reading = w.runningPlan;
    else if (name === 'LastExitStatus') reading = w.lastExit;
    else if (name === 'LockUser' || name === 'LockNote' || name === 'LockTime') reading = w.lock[name];
    else if (name === 'PlansAllowed') reading = w.plansAllowed;
    else if (name === 'DevicesAllowed') reading = w.devicesAllowed;
    else reading = w.readings?.[name as StatusName];
    if (!w.connected) {
      // Keep the last known value under the alarm; ManagerState says why.
      return { value: name === 'ManagerState' ? MANAGER_DISCONNECTED : undefined, alarm: COMM_ALARM };
    }
    if (!reading || reading.fault !== undefined) return { alarm: READ_ALARM };
    if ((name === 'PlansAllowed' || name === 'DevicesAllowed') && reading.value === 0 && w.readings?.EnvExists.value === 1) {
      return { value: 0, alarm: NONE_ALLOWED_ALARM };
    }
    return { value: reading.value };
  }

  /** `always`: post even an unchanged value (a console line printed twice). */
  private publishRecord(e: ManagerEntry, record: DeviceRecord, always = false): void {
    const name = e.records.status.get(record);
    if (name === undefined) return;
    const { value, alarm } = this.valueOf(e, name);
    e.records.show(record, value, OWN_PVS.has(name) ? undefined : alarm, always || name === 'StatusAge');
  }

  private publish(e: ManagerEntry): void {
    for (const r of e.records.status.keys()) this.publishRecord(e, r);
    // AutostartSet reads back from the manager's queue_autostart_enabled.
    const autostart = e.watcher.connected ? e.watcher.readings?.Autostart : undefined;
    if (autostart?.value !== undefined) e.records.readBack('AutostartSet', autostart.value);
    this.reportHealth(e);
  }

  /** A manager's health: the highest severity among its Connected, ManagerState, EnvState, REState and LastExitStatus. */
  private reportHealth(e: ManagerEntry): void {
    const health = this.opts.health;
    if (!health) return;
    const sev = e.records.severity(HEALTH_PVS);
    if (sev !== undefined) health.set(`queueserver ${e.pv}`, sev, this.problem(e));
  }

  private onConsoleLine(e: ManagerEntry, line: string): void {
    e.consoleLast = line;
    for (const r of e.records.showing('ConsoleLast')) this.publishRecord(e, r, true);
  }

  // ------------------------------------------------------------ control

  private async control(e: ManagerEntry, control: ControlPv, value: number): Promise<void> {
    const req = controlRequest(control, value);
    if (!req) return;
    const w = e.watcher;
    let ok = false;
    let failure: 'QS_ERR_NOT_ANSWERING' | 'QS_ERR_REFUSED' | 'QS_ERR_REQUEST_FAILED' = 'QS_ERR_NOT_ANSWERING';
    if (!w.connected) {
      e.cmdMessage = `${req.method} refused: RE Manager ${e.pv} does not answer (${w.fault})`;
    } else {
      try {
        const reply = await w.control(req.method, req.params);
        ok = reply.success;
        failure = 'QS_ERR_REFUSED';
        e.cmdMessage = `${req.method}: ${reply.msg || (ok ? 'accepted' : 'refused')}`;
      } catch (err) {
        failure = 'QS_ERR_REQUEST_FAILED';
        e.cmdMessage = (err as Error).message;
      }
    }
    e.cmdOk = ok ? 1 : 0;
    this.log.info('queueserver control', { manager: e.pv, method: req.method, success: ok, message: e.cmdMessage });
    this.publish(e);
    if (!ok) throw new WriteError(Eca.PUTFAIL, e.cmdMessage, failure);
  }

  // ------------------------------------------------------------ addresses

  /**
   * control_addr, else the unit's environment (over D-Bus), else the default;
   * the encoding is the configured one, else (with the address from the unit)
   * the unit's QSERVER_ZMQ_ENCODING, else json; the info stream is info_addr,
   * else (with the address from the unit) the unit's info address, else none.
   * Logged when it changes.
   */
  private async resolveEndpoint(config: QueueserverConfig): Promise<ManagerEndpoint> {
    const configured = config.encoding ?? DEFAULT_ENCODING;
    const infoAddress = config.infoAddr;
    if (config.controlAddr) return { address: config.controlAddr, encoding: configured, infoAddress };
    if (!config.unit) return { address: DEFAULT_CONTROL_ADDRESS, encoding: configured, infoAddress };
    const say = (level: 'info' | 'warn', message: string, fields: Record<string, string>): void => {
      const key = `${message} ${JSON.stringify(fields)}`;
      if (this.endpointLogged.get(config.pv) === key) return;
      this.endpointLogged.set(config.pv, key);
      this.log[level](message, { manager: config.pv, unit: config.unit, ...fields });
    };
    const fallback = (reason: string): ManagerEndpoint => {
      say('warn', 'using the default control address', { address: DEFAULT_CONTROL_ADDRESS, reason });
      return { address: DEFAULT_CONTROL_ADDRESS, encoding: configured, infoAddress };
    };
    const reader = this.opts.unitEnvironment;
    if (!reader) return fallback('no D-Bus connection');
    let env: ReadonlyMap<string, string>;
    try {
      env = await reader.environment(config.unit, { waitMs: Math.max(5000, config.timeout * 1000), timeoutMs: config.timeout * 1000 });
    } catch (err) {
      return fallback((err as Error).message);
    }
    const address = controlAddressFromEnvironment(env);
    if (!address) return fallback(`the unit's environment sets no control address`);
    const fromUnit = encodingFromEnvironment(env);
    let encoding = configured;
    if (config.encoding === undefined && fromUnit !== undefined) {
      if (typeof fromUnit === 'string') encoding = fromUnit;
      else say('warn', 'the unit\'s QSERVER_ZMQ_ENCODING is neither json nor msgpack: using json', { value: fromUnit.invalid });
    }
    const info = infoAddress ?? infoAddressFromEnvironment(env);
    say('info', 'control address from the unit', { address, encoding, ...(info ? { info } : {}) });
    return { address, encoding, infoAddress: info };
  }
}
