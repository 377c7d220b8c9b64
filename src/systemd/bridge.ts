/**
 * The systemd bridge: follows units through systemd's own signals and
 * serves them to records through the `systemd` device support:
 *
 *   field(DTYP, "systemd") field(INP, "@redis.service ActiveState")
 *   field(DTYP, "systemd") field(OUT, "@redis.service Start")
 *   field(DTYP, "systemd") field(INP, "@bus Connected")
 *   field(DTYP, "systemd") field(INP, "@bus Message")   (lsi: why not connected)
 *
 * State is keyed by unit name. Everything is re-read after a (re)connect,
 * after Reloading(false), after UnitFilesChanged and when systemd gets a new
 * bus owner (re-exec): LoadState and UnitFileState are never signalled.
 */
import { AlarmSeverity, AlarmStatus, Eca } from '../ca/protocol/constants';
import { WriteError } from '../ca/pv';
import type { DeviceBinding, DeviceRecord, DeviceSupport, HealthSink } from '../database/device';
import { BoundRecords, DeviceLinkError, oneOf, parseLink, type DeviceAlarm } from '../database/device-bridge';
import type { FieldValue } from '../database/recordtypes';
import type { Logger } from '../log';
import { BusError, type BusSignal, type SystemdConnection } from './bus';
import { JobTracker, withTimeout, type JobOutcome } from './jobs';
import { RESOURCE_PROPERTIES, ResourceMonitor, type ResourceProperty, type ResourceReadings } from './resources';
import {
  ACTIVE_STATES, BAD_LOAD_STATES, MANAGER_IFACE, MANAGER_PATH, PROPERTIES_IFACE, SERVICE_IFACE, UNIT_IFACE,
  UNIT_PATH_PREFIX, isValidUnitName, unitPath,
} from './names';

/** What a record can show of a unit (INP "@unit Property"). */
export const STATUS_PROPERTIES = [
  'ActiveState', 'SubState', 'LoadState', 'UnitFileState', 'Running', 'MainPID', 'NRestarts', 'Result',
  'ExitCode', 'ActiveSince', 'Uptime', 'JobResult', 'Busy', 'Message', 'HookState', ...RESOURCE_PROPERTIES,
] as const;
/** What a record can do to a unit (OUT "@unit Action"). */
export const CONTROL_ACTIONS = ['Start', 'Stop', 'Restart', 'ResetFailed', 'Enable'] as const;

type StatusProperty = (typeof STATUS_PROPERTIES)[number];
/** What the IOC itself knows (its own jobs) or must always show: no COMM/INVALID from the unit. */
const UNALARMED_PROPERTIES: ReadonlySet<StatusProperty> = new Set(['JobResult', 'Busy', 'Message', 'HookState']);
type ControlAction = (typeof CONTROL_ACTIONS)[number];
/** The records whose severity is the unit's health: they carry its alarm rules. */
const HEALTH_PROPERTIES: ReadonlySet<StatusProperty> = new Set(['ActiveState']);
/** Properties whose value is text: only a stringin or lsi can show them. */
const TEXT_PROPERTIES: ReadonlySet<StatusProperty> = new Set(['SubState', 'LoadState', 'UnitFileState', 'Result', 'ActiveSince', 'JobResult', 'Message']);
const TEXT_RECORDS: ReadonlySet<string> = new Set(['stringin', 'lsi']);

/** A UnitNew this soon after our own read of the unit was caused by that read. */
const UNIT_NEW_QUIET_MS = 2000;

type JobAction = 'Start' | 'Stop' | 'Restart';
const JOB_METHODS: Record<JobAction, string> = { Start: 'StartUnit', Stop: 'StopUnit', Restart: 'RestartUnit' };

export interface SystemdBridgeOptions {
  bus: SystemdConnection;
  log: Logger;
  /** How long a put-callback waits for its job before failing. */
  jobTimeoutMs: number;
  health?: HealthSink;
  /** How often resources (MemoryCurrent, TasksCurrent, CPUUsage) are polled; default 5 s. */
  resourcePeriodMs?: number;
  /** Resources from somewhere else than systemd and /proc (tests). */
  resources?: ResourceMonitor;
  /** A unit's journal, for the lines that say why a start failed. */
  journal?: UnitJournal;
}

/** What the bridge needs of a unit's journal (the journal follower, wired by the IOC). */
export interface UnitJournal {
  /**
   * The unit's lines logged since `sinceUs` (epoch microseconds) that say what
   * went wrong, oldest first; waits up to `timeoutMs` for the service manager's
   * failure message to arrive in the journal.
   */
  failureLines(unit: string, sinceUs: number, timeoutMs: number): Promise<string[]>;
}

/** How long a failed job's put waits for the journal to deliver the failure's lines. */
const JOURNAL_WAIT_MS = 2000;
/** Lines of the journal a failed job's Message shows. */
const FAILURE_LINES = 3;

interface Props {
  LoadState: string;
  ActiveState: string;
  SubState: string;
  UnitFileState: string;
  MainPID: number;
  NRestarts: number;
  Result: string;
  ExecMainStatus: number;
  ActiveEnterTimestamp: number;
}

const UNKNOWN_PROPS: Props = {
  LoadState: '', ActiveState: '', SubState: '', UnitFileState: '', MainPID: 0, NRestarts: 0, Result: '', ExecMainStatus: 0, ActiveEnterTimestamp: 0,
};

/** The unit and service properties the bridge reads from systemd (applyProps): those of Props. */
const READ_PROPERTIES: ReadonlySet<string> = new Set(Object.keys(UNKNOWN_PROPS));

function isReadProperty(k: string): k is keyof Props {
  return READ_PROPERTIES.has(k);
}

class UnitEntry {
  props: Props = { ...UNKNOWN_PROPS };
  /** Whether a read has succeeded since the last (re)connect. */
  known = false;
  /** Whether a read has ever succeeded: what the records show came from systemd. */
  everRead = false;
  /** Control operations of ours still running (a job outlives its put's timeout). */
  busy = 0;
  /** When the unit was last read (ms), to tell our own UnitNew from someone else's. */
  lastRead = 0;
  jobResult = '';
  message = '';
  /** Why a resource is unknown, shown in Message while no job error is. */
  resourceMessage = '';
  resources: ResourceReadings = { MemoryCurrent: undefined, TasksCurrent: undefined, CPUUsage: undefined };
  readonly records = new BoundRecords<StatusProperty, ControlAction>();
  constructor(readonly name: string) {}
  get path(): string {
    return unitPath(this.name);
  }
}

/** Whether a unit in this state has processes whose resources count (activating and deactivating too). */
function hasProcesses(p: Props): boolean {
  return p.ActiveState === 'active' || p.ActiveState === 'reloading' || p.ActiveState === 'activating'
    || p.ActiveState === 'deactivating' || p.ActiveState === 'refreshing';
}

function isResource(p: StatusProperty): p is ResourceProperty {
  return (RESOURCE_PROPERTIES as readonly string[]).includes(p);
}

function variantValue(v: unknown): unknown {
  return v !== null && typeof v === 'object' && 'value' in v ? (v as { value: unknown }).value : v;
}

function num(v: unknown): number {
  const x = variantValue(v);
  return typeof x === 'bigint' ? Number(x) : typeof x === 'number' ? x : 0;
}

export class SystemdBridge {
  private readonly units = new Map<string, UnitEntry>();
  private readonly byPath = new Map<string, UnitEntry>();
  private readonly busRecords = new Set<DeviceRecord>();
  private readonly busMessageRecords = new Set<DeviceRecord>();
  /** What IOC:BusMessage says: connected to which bus, or why not. */
  private busMessage: string;
  private readonly jobs = new JobTracker();
  private refreshing: Promise<void> | undefined;
  private refreshAgain = false;
  private readonly bus: SystemdConnection;
  private readonly log: Logger;
  private readonly resources: ResourceMonitor;
  private resourceTimer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;

  constructor(private readonly opts: SystemdBridgeOptions) {
    this.bus = opts.bus;
    this.log = opts.log;
    this.resources = opts.resources ?? new ResourceMonitor({ bus: opts.bus });
    this.busMessage = this.bus.isConnected ? `connected to ${this.bus.describe()}` : `connecting to ${this.bus.describe()}`;
    this.bus.on('up', () => {
      this.setBusMessage(`connected to ${this.bus.describe()}`);
      for (const r of this.busRecords) this.publishBus(r);
      this.requestRefresh('connected');
      // Resources are read as soon as the units are, not a period later.
      void this.refreshing?.then(() => (this.resourceTimer ? this.pollResources() : undefined));
    });
    this.bus.on('down', (reason: string) => {
      this.setBusMessage(`lost ${this.bus.describe()}: ${reason}`);
      this.onDown(reason);
    });
    this.bus.on('failed', (reason: string, retryMs: number) => {
      this.setBusMessage(`cannot reach systemd on ${this.bus.describe()}: ${reason}; next try in ${retryMs / 1000} s`);
    });
    this.bus.on('signal', (s: BusSignal) => this.onSignal(s));
  }

  /**
   * Start polling resources (every resourcePeriodMs, and each time the bus connects)
   * for the units that have resource records.
   */
  start(): void {
    if (this.resourceTimer) return;
    const period = this.opts.resourcePeriodMs ?? 5000;
    this.resourceTimer = setInterval(() => void this.pollResources(), period);
    this.resourceTimer.unref?.();
    if (this.bus.isConnected) void (this.refreshing ?? Promise.resolve()).then(() => this.pollResources());
  }

  stop(): void {
    if (this.resourceTimer) clearInterval(this.resourceTimer);
    this.resourceTimer = undefined;
  }

  /** One poll of every unit's resources; a poll still running is not started twice. */
  pollResources(): Promise<void> {
    if (this.polling) return this.polling;
    this.polling = (async () => {
      if (!this.bus.isConnected) return;
      const wanted = [...this.units.values()].filter((e) => e.known && [...e.records.status.values()].some(isResource));
      await Promise.all(wanted.map(async (e) => {
        const p = e.props;
        const running = hasProcesses(p);
        let readings: ResourceReadings;
        try {
          readings = await this.resources.poll({ name: e.name, path: e.path, running, activation: p.ActiveEnterTimestamp });
        } catch (err) {
          const lost = err instanceof BusError && err.code === 'SYSTEMD_ERR_BUS_DISCONNECTED';
          this.log[lost ? 'debug' : 'warn']('could not read a unit\'s resources', { unit: e.name, reason: (err as Error).message });
          return;
        }
        // A unit that stopped while it was being read has already shown its zeros (publishUnit):
        // figures read before the stop would bring the old ones back until the next poll.
        if (running && !hasProcesses(e.props)) return;
        e.resources = readings;
        const reasons = RESOURCE_PROPERTIES.map((r) => e.resources[r]).filter((r): r is { reason: string } => !!r && 'reason' in r).map((r) => r.reason);
        // Only a unit that has processes says why it has no figures (a .target has none, and that is no news).
        const msg = running && reasons.length ? reasons[0] : '';
        if (msg !== e.resourceMessage) {
          if (msg) this.log.warn('resources unknown', { unit: e.name, reason: msg });
          e.resourceMessage = msg;
        }
        for (const [rec, what] of e.records.status) if (isResource(what) || what === 'Message') this.publishRecord(e, rec);
      }));
    })().finally(() => {
      this.polling = undefined;
    });
    return this.polling;
  }

  /** Watch a unit even if no record refers to it yet (configured units). */
  watch(name: string): void {
    this.entry(name);
  }

  unitNames(): string[] {
    return [...this.units.keys()];
  }

  private entry(name: string): UnitEntry {
    let e = this.units.get(name);
    if (!e) {
      e = new UnitEntry(name);
      this.units.set(name, e);
      this.byPath.set(e.path, e);
    }
    return e;
  }

  // ------------------------------------------------------------ device support

  deviceSupport(): DeviceSupport {
    return {
      dtyp: 'systemd',
      recordTypes: ['ai', 'longin', 'bi', 'mbbi', 'stringin', 'lsi', 'bo'],
      bind: (record, link) => this.bind(record, link),
    };
  }

  private bind(record: DeviceRecord, link: string): DeviceBinding {
    const { target: unit, name } = parseLink(link, '"@UNIT PROPERTY", e.g. "@redis.service ActiveState"');
    if (unit === 'bus') {
      if (name === 'Message') {
        this.busMessageRecords.add(record);
        record.update(this.busMessage);
        return { close: () => this.busMessageRecords.delete(record) };
      }
      if (name !== 'Connected') throw new DeviceLinkError('LINK_ERR_UNKNOWN_NAME', link, 'the bus has only "Connected" and "Message"');
      this.busRecords.add(record);
      this.publishBus(record);
      return { close: () => this.busRecords.delete(record) };
    }
    if (!isValidUnitName(unit)) throw new DeviceLinkError('LINK_ERR_UNKNOWN_TARGET', link, `"${unit}" is not a unit name (NAME.service, NAME@INSTANCE.service, ...)`);
    const e = this.entry(unit);
    if (record.kind === 'output') {
      const action = oneOf(link, name, CONTROL_ACTIONS);
      const binding = e.records.bindControl(record, action, (value) => this.control(e, action, value));
      // A control starts defined, as device support that reads its output back at
      // init_record leaves it: a button at 0, Enable at 0 until UnitFileState is known.
      record.update(0);
      this.publishUnit(e);
      return binding;
    }
    const prop = oneOf(link, name, STATUS_PROPERTIES);
    if (TEXT_PROPERTIES.has(prop) && !TEXT_RECORDS.has(record.recordType)) {
      throw new DeviceLinkError('LINK_ERR_RECORD_TYPE', link, `${prop} is text: show it in a stringin or lsi record (this one is ${record.recordType})`);
    }
    // Uptime advances without any signal: its record is scanned (SCAN "1 second").
    const binding = e.records.bindStatus(record, prop, (r) => this.publishRecord(e, r));
    this.publishUnit(e);
    return binding;
  }

  // ------------------------------------------------------------ values

  /** The value a record shows; a text record (stringin, lsi) gets ActiveState's name and numbers as text. */
  private valueOf(e: UnitEntry, prop: StatusProperty, asText = false): FieldValue {
    if (asText) {
      if (prop === 'ActiveState') return e.props.ActiveState;
      const v = this.valueOf(e, prop);
      return typeof v === 'number' ? String(v) : v;
    }
    const p = e.props;
    switch (prop) {
      case 'ActiveState': {
        const i = (ACTIVE_STATES as readonly string[]).indexOf(p.ActiveState);
        // An unknown state shows as an undefined mbbi state (UNSV).
        return i < 0 ? 16 : i;
      }
      case 'SubState': return p.SubState;
      case 'LoadState': return p.LoadState;
      case 'UnitFileState': return p.UnitFileState;
      case 'Running': return p.ActiveState === 'active' || p.ActiveState === 'reloading' || p.ActiveState === 'refreshing' ? 1 : 0;
      case 'MainPID': return p.MainPID;
      case 'NRestarts': return p.NRestarts;
      case 'Result': return p.Result;
      case 'ExitCode': return p.ExecMainStatus;
      case 'ActiveSince': return this.isUp(p) && p.ActiveEnterTimestamp > 0 ? new Date(p.ActiveEnterTimestamp / 1000).toISOString() : '';
      case 'Uptime': return this.isUp(p) && p.ActiveEnterTimestamp > 0 ? Math.max(0, (Date.now() * 1000 - p.ActiveEnterTimestamp) / 1e6) : 0;
      case 'JobResult': return e.jobResult;
      case 'Busy': return e.busy > 0 ? 1 : 0;
      // What the old ExecStartPost/ExecStopPost caput hooks wrote: 1 stopped, 2 running.
      case 'HookState': return this.isUp(p) ? 2 : 1;
      case 'Message': return e.message || e.resourceMessage;
      case 'MemoryCurrent': case 'TasksCurrent': case 'CPUUsage': {
        const r = e.resources[prop];
        return r && 'value' in r ? r.value : 0; // publishRecord shows only known values
      }
    }
  }

  private isUp(p: Props): boolean {
    return p.ActiveState === 'active' || p.ActiveState === 'reloading' || p.ActiveState === 'refreshing';
  }

  /** A resource that neither systemd nor /proc gives is INVALID (READ); Message says why. */
  private resourceAlarm(e: UnitEntry, prop: StatusProperty): DeviceAlarm | undefined {
    if (!isResource(prop)) return undefined;
    const r = e.resources[prop];
    if (!r) return { status: AlarmStatus.UDF, severity: AlarmSeverity.INVALID };
    return 'reason' in r ? { status: AlarmStatus.READ, severity: AlarmSeverity.INVALID } : undefined;
  }

  /** The alarm every status record of a unit carries, beyond its own. */
  private unitAlarm(e: UnitEntry): DeviceAlarm | undefined {
    if (!this.bus.isConnected || !e.known) return { status: AlarmStatus.COMM, severity: AlarmSeverity.INVALID };
    if (BAD_LOAD_STATES.has(e.props.LoadState)) return { status: AlarmStatus.STATE, severity: AlarmSeverity.INVALID };
    return undefined;
  }

  private publishRecord(e: UnitEntry, record: DeviceRecord): void {
    const prop = e.records.status.get(record);
    if (prop === undefined) return;
    const alarm = UNALARMED_PROPERTIES.has(prop) ? undefined : this.unitAlarm(e) ?? this.resourceAlarm(e, prop);
    const resource = isResource(prop) ? e.resources[prop] : undefined;
    // A resource not polled yet stays UDF; an unknown one keeps its last value, INVALID.
    const shown = isResource(prop) && !(resource && 'value' in resource) ? undefined : this.valueOf(e, prop, TEXT_RECORDS.has(record.recordType));
    e.records.show(record, shown, alarm);
  }

  private publishUnit(e: UnitEntry): void {
    if (e.known && !hasProcesses(e.props)) {
      // Stopped or failed: its resources are nothing from this change on, not from the next poll.
      e.resources = this.resources.idle(e.name);
      e.resourceMessage = '';
    }
    for (const r of e.records.status.keys()) this.publishRecord(e, r);
    // Enable reads back from UnitFileState; with the bus lost, what it shows is stale
    // (COMM/INVALID). Before the first read it is 0 and defined, as any button.
    const stale = !this.bus.isConnected && e.everRead ? this.unitAlarm(e) : undefined;
    e.records.readBack('Enable', e.props.UnitFileState.startsWith('enabled') ? 1 : 0, stale);
    this.reportHealth(e);
  }

  /** A unit's health is the severity of its ActiveState record(s), which carry its alarm rules. */
  private reportHealth(e: UnitEntry): void {
    const health = this.opts.health;
    if (!health) return;
    const sev = e.records.severity(HEALTH_PROPERTIES);
    if (sev !== undefined) health.set(`unit ${e.name}`, sev);
  }

  private setBusMessage(message: string): void {
    if (message === this.busMessage) return;
    this.busMessage = message;
    for (const r of this.busMessageRecords) r.update(message);
  }

  private publishBus(record: DeviceRecord): void {
    record.update(this.bus.isConnected ? 1 : 0);
  }

  // ------------------------------------------------------------ bus events

  private onDown(reason: string): void {
    this.jobs.abandonAll(() => new Error(`lost the bus: ${reason}`));
    for (const e of this.units.values()) {
      e.known = false;
      this.publishUnit(e);
    }
    for (const r of this.busRecords) this.publishBus(r);
  }

  private onSignal(s: BusSignal): void {
    try {
      if (s.iface === PROPERTIES_IFACE && s.member === 'PropertiesChanged') return this.onPropertiesChanged(s);
      if (s.iface !== MANAGER_IFACE) return;
      switch (s.member) {
        case 'JobRemoved':
          this.jobs.jobRemoved({ path: String(s.body[1]), unit: String(s.body[2]), result: String(s.body[3]) });
          return;
        case 'UnitNew': {
          // Reading an unloaded unit loads it (UnitNew), and systemd drops an idle one
          // again at once: re-read only units we have not just read, or we would loop.
          const e = this.units.get(String(s.body[0]));
          if (e && Date.now() - e.lastRead > UNIT_NEW_QUIET_MS) void this.refreshUnit(e);
          return;
        }
        case 'Reloading':
          if (s.body[0] === false) this.requestRefresh('daemon-reload');
          return;
        case 'UnitFilesChanged':
          this.requestRefresh('unit files changed');
          return;
        default:
          return;
      }
    } catch (err) {
      this.log.warn('could not handle a systemd signal', { member: s.member, path: s.path, reason: (err as Error).message });
    }
  }

  private onPropertiesChanged(s: BusSignal): void {
    if (!s.path.startsWith(UNIT_PATH_PREFIX)) return;
    const e = this.byPath.get(s.path);
    if (!e) return;
    const iface = String(s.body[0]);
    const changed = (s.body[1] ?? {}) as Record<string, unknown>;
    const invalidated = (s.body[2] ?? []) as string[];
    this.applyProps(e, changed);
    // systemd lists its EMITS_INVALIDATION properties (ExecStart and the like) in every
    // Service change: re-reading the interface for those would hold back MainPID and
    // Result by a round trip, long enough under load to miss a state altogether.
    if (!invalidated.some((k) => READ_PROPERTIES.has(k))) return this.publishUnit(e);
    this.readInterface(e, iface).then(
      () => this.publishUnit(e),
      (err: Error) => {
        // Losing the bus is reported once, by the bus; a read it cut short is no news.
        const lost = err instanceof BusError && err.code === 'SYSTEMD_ERR_BUS_DISCONNECTED';
        this.log[lost ? 'debug' : 'warn']('could not read invalidated properties', { unit: e.name, reason: err.message });
      },
    );
  }

  /** Sets every property of `changed` that the bridge reads (READ_PROPERTIES). */
  private applyProps(e: UnitEntry, changed: Record<string, unknown>): void {
    const p = e.props as Record<keyof Props, string | number>;
    for (const [k, v] of Object.entries(changed)) {
      // Each property as the type it has in Props: text, or a number.
      if (isReadProperty(k)) p[k] = typeof UNKNOWN_PROPS[k] === 'number' ? num(v) : String(variantValue(v));
    }
  }

  // ------------------------------------------------------------ reading

  private requestRefresh(why: string): void {
    if (this.refreshing) {
      this.refreshAgain = true;
      return;
    }
    this.refreshing = (async () => {
      do {
        this.refreshAgain = false;
        this.log.debug('re-reading every unit', { why, units: this.units.size });
        await Promise.all([...this.units.values()].map((e) => this.refreshUnit(e)));
      } while (this.refreshAgain && this.bus.isConnected);
    })().finally(() => {
      this.refreshing = undefined;
    });
  }

  private async refreshUnit(e: UnitEntry): Promise<void> {
    if (!this.bus.isConnected) return;
    e.lastRead = Date.now();
    try {
      // LoadUnit loads the unit if needed (a not-found unit comes back with LoadState "not-found").
      await this.bus.call(MANAGER_PATH, MANAGER_IFACE, 'LoadUnit', 's', [e.name]);
      await this.readInterface(e, UNIT_IFACE);
      if (e.name.endsWith('.service')) await this.readInterface(e, SERVICE_IFACE);
      e.known = true;
      e.everRead = true;
    } catch (err) {
      if (err instanceof BusError && err.code === 'SYSTEMD_ERR_BUS_CALL_FAILED') {
        // systemd refused the unit (e.g. an invalid name): show it as a load error.
        e.known = true;
        e.everRead = true;
        e.props = { ...UNKNOWN_PROPS, LoadState: 'error' };
        e.message = err.message;
      } else {
        const lost = err instanceof BusError && err.code === 'SYSTEMD_ERR_BUS_DISCONNECTED';
        this.log[lost ? 'debug' : 'warn']('could not read a unit', { unit: e.name, reason: (err as Error).message });
      }
    }
    this.publishUnit(e);
  }

  private async readInterface(e: UnitEntry, iface: string): Promise<void> {
    const [all] = await this.bus.call(e.path, PROPERTIES_IFACE, 'GetAll', 's', [iface]);
    this.applyProps(e, (all ?? {}) as Record<string, unknown>);
  }

  // ------------------------------------------------------------ control

  private async control(e: UnitEntry, action: ControlAction, value: number): Promise<void> {
    if (action !== 'Enable' && value === 0) return; // "write 1" buttons: 0 does nothing
    if (!this.bus.isConnected) {
      e.message = `${action} ${e.name} refused: not connected to ${this.bus.describe()}`;
      this.publishUnit(e);
      throw new WriteError(Eca.PUTFAIL, e.message, 'SYSTEMD_ERR_NOT_CONNECTED');
    }
    if (action === 'ResetFailed' || action === 'Enable') return this.callAction(e, action, value);
    e.busy++;
    e.message = '';
    this.publishUnit(e);
    const startedUs = Date.now() * 1000;
    let ended: Promise<JobOutcome>;
    try {
      const [job] = await this.bus.call(MANAGER_PATH, MANAGER_IFACE, JOB_METHODS[action], 'ss', [e.name, 'replace']);
      ended = this.jobs.ended(String(job));
    } catch (err) {
      e.busy--;
      e.jobResult = 'error';
      e.message = `${action} ${e.name}: ${(err as Error).message}`;
      this.log.info('unit control', { unit: e.name, action, result: e.jobResult });
      this.publishUnit(e);
      throw new WriteError(Eca.PUTFAIL, e.message, 'SYSTEMD_ERR_CALL_FAILED');
    }
    let outcome: JobOutcome;
    try {
      outcome = await withTimeout(ended, this.opts.jobTimeoutMs, () => new Error('timeout'));
    } catch {
      // The put gives up; the job does not. Busy and JobResult follow it until
      // JobRemoved (or the loss of the bus) ends it.
      const seconds = +(this.opts.jobTimeoutMs / 1000).toFixed(3);
      e.message = `${action} ${e.name}: the job did not end within ${seconds} s (job_timeout); Busy stays 1 until systemd ends it`;
      this.log.warn('unit control timed out; following the job until it ends', { unit: e.name, action, timeoutS: seconds });
      this.publishUnit(e);
      void ended.then((late) => this.jobEnded(e, action, late, startedUs, true));
      throw new WriteError(Eca.PUTFAIL, e.message, 'SYSTEMD_ERR_JOB_TIMEOUT');
    }
    await this.jobEnded(e, action, outcome, startedUs, false);
    if (e.jobResult !== 'done') throw new WriteError(Eca.PUTFAIL, e.message, 'SYSTEMD_ERR_JOB_FAILED');
  }

  /** A job of ours ended (or was abandoned with the bus): show its real result. */
  private async jobEnded(e: UnitEntry, action: JobAction, outcome: JobOutcome, startedUs: number, late: boolean): Promise<void> {
    e.busy = Math.max(0, e.busy - 1);
    e.jobResult = outcome.result;
    let message = '';
    if (outcome.result !== 'done') {
      const lines = this.opts.journal
        ? (await this.opts.journal.failureLines(e.name, startedUs, JOURNAL_WAIT_MS).catch(() => [])).slice(-FAILURE_LINES) : [];
      message = lines.length
        ? `${action} ${e.name}: job ended "${outcome.result}": ${lines.join(' | ')}`
        : `${action} ${e.name}: job ended "${outcome.result}"; see systemctl --user status ${e.name}`;
    }
    // A later job's put may have cleared or set Message meanwhile; a late end still says how it ended.
    e.message = message || (late ? '' : e.message);
    this.log.info('unit control', { unit: e.name, action, result: e.jobResult, ...(late ? { afterTimeout: true } : {}) });
    this.publishUnit(e);
  }

  /** ResetFailed and Enable: method calls without a job. */
  private async callAction(e: UnitEntry, action: 'ResetFailed' | 'Enable', value: number): Promise<void> {
    e.busy++;
    e.message = '';
    this.publishUnit(e);
    try {
      await this.runAction(e, action, value);
      e.jobResult = 'done';
    } catch (err) {
      e.jobResult = 'error';
      e.message = `${action} ${e.name}: ${(err as Error).message}`;
    } finally {
      e.busy--;
    }
    this.log.info('unit control', { unit: e.name, action, result: e.jobResult });
    this.publishUnit(e);
    if (e.jobResult !== 'done') throw new WriteError(Eca.PUTFAIL, e.message, 'SYSTEMD_ERR_CALL_FAILED');
  }

  private async runAction(e: UnitEntry, action: 'ResetFailed' | 'Enable', value: number): Promise<void> {
    if (action === 'ResetFailed') {
      await this.bus.call(MANAGER_PATH, MANAGER_IFACE, 'ResetFailedUnit', 's', [e.name]);
      return;
    }
    if (value) await this.bus.call(MANAGER_PATH, MANAGER_IFACE, 'EnableUnitFiles', 'asbb', [[e.name], false, true]);
    else await this.bus.call(MANAGER_PATH, MANAGER_IFACE, 'DisableUnitFiles', 'asb', [[e.name], false]);
    // Like systemctl enable: make the manager see the new symlinks.
    await this.bus.call(MANAGER_PATH, MANAGER_IFACE, 'Reload', '', []);
  }
}
