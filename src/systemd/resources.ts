/**
 * A unit's resources, polled (systemd sends no change signals for them):
 *   MemoryCurrent  MiB         TasksCurrent  tasks         CPUUsage  % of one core over the last period
 * From systemd's own accounting (the MemoryCurrent, TasksCurrent and
 * CPUUsageNSec properties) when it reports them, each on its own; otherwise
 * from the processes of the unit's control group (CgroupProcReader). systemd
 * reports an unaccounted value as UINT64_MAX ("[not set]"): then it is not
 * asked again for a while, since accounting changes only with a reload or a
 * restart, and the poll costs no D-Bus call at all.
 * A value that neither source gives is a reading with the reason why.
 */
import type { SystemdConnection } from './bus';
import { BusError } from './bus';
import { CgroupProcReader, ProcReadError, cpuSecondsBetween, type ProcSample } from './cgroup-procs';
import { PROPERTIES_IFACE } from './names';

export const RESOURCE_PROPERTIES = ['MemoryCurrent', 'TasksCurrent', 'CPUUsage'] as const;
export type ResourceProperty = (typeof RESOURCE_PROPERTIES)[number];

/** A value, or why there is none. */
export type ResourceReading = { value: number; source: 'systemd' | 'proc' } | { reason: string };
export type ResourceReadings = Record<ResourceProperty, ResourceReading | undefined>;

/** systemd's "[not set]". */
const NOT_SET = 18446744073709551615n;
/** Polls between asking systemd again once it said it accounts nothing of a unit. */
const SYSTEMD_RECHECK_POLLS = 12;

/** The D-Bus interface holding a unit type's cgroup properties; undefined: the type has no processes. */
const CGROUP_IFACES: Record<string, string> = {
  service: 'org.freedesktop.systemd1.Service',
  socket: 'org.freedesktop.systemd1.Socket',
  mount: 'org.freedesktop.systemd1.Mount',
  swap: 'org.freedesktop.systemd1.Swap',
  scope: 'org.freedesktop.systemd1.Scope',
  slice: 'org.freedesktop.systemd1.Slice',
};

export interface UnitForResources {
  name: string;
  path: string;
  /** Whether the unit has processes to account (active, reloading, activating, deactivating). */
  running: boolean;
  /** Changes with every activation (ActiveEnterTimestamp): the control group is read again. */
  activation: number;
}

interface CpuMark {
  at: number;
  systemdNs?: bigint;
  procs?: Map<string, number>;
}

class UnitState {
  polls = 0;
  systemdAgainAt = 0;
  controlGroup: string | undefined;
  controlGroupFor = -1;
  cpu: CpuMark | undefined;
}

function variantValue(v: unknown): unknown {
  return v !== null && typeof v === 'object' && 'value' in v ? (v as { value: unknown }).value : v;
}

function u64(v: unknown): bigint | undefined {
  const x = variantValue(v);
  if (typeof x === 'bigint') return x === NOT_SET ? undefined : x;
  if (typeof x === 'number' && Number.isFinite(x)) return BigInt(x);
  return undefined;
}

export interface ResourceMonitorOptions {
  bus: SystemdConnection;
  reader?: CgroupProcReader;
  /** Monotonic seconds (injectable for tests). */
  now?: () => number;
}

export class ResourceMonitor {
  private readonly units = new Map<string, UnitState>();
  private readonly reader: CgroupProcReader;
  private readonly now: () => number;

  constructor(private readonly opts: ResourceMonitorOptions) {
    this.reader = opts.reader ?? new CgroupProcReader();
    this.now = opts.now ?? (() => performance.now() / 1000);
  }

  forget(name: string): void {
    this.units.delete(name);
  }

  /**
   * What a unit uses while it has no processes (inactive, failed), known without
   * asking anyone: nothing. systemd says [not set] for a stopped unit. CPUUsage
   * starts over at its next activation. A unit type that never has processes (a
   * .target) gets the reason instead.
   */
  idle(name: string): ResourceReadings {
    const st = this.units.get(name);
    if (st) st.cpu = undefined;
    const type = name.slice(name.lastIndexOf('.') + 1);
    if (!CGROUP_IFACES[type]) {
      const reason = `a .${type} unit has no processes to account`;
      return { MemoryCurrent: { reason }, TasksCurrent: { reason }, CPUUsage: { reason } };
    }
    const zero = { value: 0, source: 'systemd' as const };
    return { MemoryCurrent: zero, TasksCurrent: zero, CPUUsage: zero };
  }

  /** One poll of one unit. CPUUsage needs two polls of a running unit; until then it is undefined. */
  async poll(u: UnitForResources): Promise<ResourceReadings> {
    let st = this.units.get(u.name);
    if (!st) this.units.set(u.name, (st = new UnitState()));
    st.polls++;
    const type = u.name.slice(u.name.lastIndexOf('.') + 1);
    const iface = CGROUP_IFACES[type];
    if (!iface || !u.running) return this.idle(u.name);
    const at = this.now();
    let memory: bigint | undefined;
    let tasks: bigint | undefined;
    let cpuNs: bigint | undefined;
    let systemdWhy = 'systemd does not account it';
    if (st.polls >= st.systemdAgainAt) {
      try {
        [memory, tasks, cpuNs] = await Promise.all(['MemoryCurrent', 'TasksCurrent', 'CPUUsageNSec'].map((p) => this.get(u.path, iface, p)));
      } catch (err) {
        systemdWhy = `systemd did not say (${(err as Error).message})`;
      }
      if (memory === undefined && tasks === undefined && cpuNs === undefined) st.systemdAgainAt = st.polls + SYSTEMD_RECHECK_POLLS;
    }
    let proc: ProcSample | undefined;
    let procWhy = '';
    if (memory === undefined || tasks === undefined || cpuNs === undefined) {
      try {
        if (st.controlGroupFor !== u.activation || st.controlGroup === undefined) {
          const cg = variantValue((await this.opts.bus.call(u.path, PROPERTIES_IFACE, 'Get', 'ss', [iface, 'ControlGroup']))[0]);
          st.controlGroup = typeof cg === 'string' ? cg : '';
          st.controlGroupFor = u.activation;
        }
        if (!st.controlGroup) throw new ProcReadError('systemd reports no control group for it');
        proc = this.reader.sample(st.controlGroup);
      } catch (err) {
        if (!(err instanceof ProcReadError) && !(err instanceof BusError)) throw err;
        procWhy = err.message;
        st.controlGroup = undefined;
      }
    }
    const why = (p: string): string => `${p} unknown: ${systemdWhy}, and ${procWhy || 'its processes could not be read'}`;
    const out: ResourceReadings = { MemoryCurrent: undefined, TasksCurrent: undefined, CPUUsage: undefined };
    out.MemoryCurrent = memory !== undefined ? { value: Number(memory) / 1048576, source: 'systemd' }
      : proc ? { value: proc.memoryBytes / 1048576, source: 'proc' } : { reason: why('MemoryCurrent') };
    out.TasksCurrent = tasks !== undefined ? { value: Number(tasks), source: 'systemd' }
      : proc ? { value: proc.tasks, source: 'proc' } : { reason: why('TasksCurrent') };
    const mark: CpuMark | undefined = cpuNs !== undefined ? { at, systemdNs: cpuNs } : proc ? { at, procs: proc.cpu } : undefined;
    const prev = st.cpu;
    st.cpu = mark;
    if (!mark) out.CPUUsage = { reason: why('CPUUsage') };
    else if (prev && mark.at > prev.at) {
      const dt = mark.at - prev.at;
      if (mark.systemdNs !== undefined && prev.systemdNs !== undefined) {
        out.CPUUsage = { value: (100 * Number(mark.systemdNs - prev.systemdNs)) / 1e9 / dt, source: 'systemd' };
      } else if (mark.procs && prev.procs) {
        out.CPUUsage = { value: (100 * cpuSecondsBetween(prev.procs, mark.procs)) / dt, source: 'proc' };
      }
      // A change of source (accounting switched on or off) starts over.
    }
    return out;
  }

  private async get(path: string, iface: string, prop: string): Promise<bigint | undefined> {
    try {
      const [v] = await this.opts.bus.call(path, PROPERTIES_IFACE, 'Get', 'ss', [iface, prop]);
      return u64(v);
    } catch (err) {
      // An older systemd without the property answers with an error: not accounted.
      if (err instanceof BusError && err.code === 'SYSTEMD_ERR_BUS_CALL_FAILED') return undefined;
      throw err;
    }
  }
}
