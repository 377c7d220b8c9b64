/**
 * Resources of a unit read from the processes of its control group, for when
 * systemd does not account them itself (accounting off, or cgroup v1, where
 * a user manager reports MemoryCurrent as [not set]):
 *   the pids:    cgroup.procs of the unit's cgroup and every cgroup below it,
 *                in the hierarchy systemd keeps its tree in (cgroup2, else
 *                the named v1 hierarchy "systemd");
 *   memory:      the sum of their resident set sizes (/proc/PID/statm);
 *   tasks:       the sum of their threads (/proc/PID/stat num_threads);
 *   CPU time:    the sum of their utime+stime (/proc/PID/stat), in seconds.
 * Note the difference from systemd's MemoryCurrent: the cgroup's memory
 * counter also holds the page cache the unit caused; resident memory does not.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** USER_HZ, the unit of /proc/PID/stat times: 100 in the ABI of every Linux architecture. */
const TICKS_PER_SECOND = 100;
const PAGE_SIZE = 4096;

export interface ProcSample {
  /** Resident bytes of every process. */
  memoryBytes: number;
  tasks: number;
  /** CPU seconds of the processes alive now, each keyed by pid and start time. */
  cpu: Map<string, number>;
  processes: number;
}

/** Where systemd's cgroup tree is mounted, from /proc/self/mountinfo; undefined when it is not. */
export function systemdCgroupRoot(mountinfo = readOr('/proc/self/mountinfo')): string | undefined {
  let v1: string | undefined;
  for (const line of mountinfo.split('\n')) {
    // id parent major:minor root mountpoint options - fstype source superoptions
    const [left, right] = line.split(' - ');
    if (!right) continue;
    const mountPoint = left.split(' ')[4];
    const [fstype, , superOptions = ''] = right.split(' ');
    const root = left.split(' ')[3];
    if (root !== '/') continue; // a bind mount of a subtree (containers) cannot hold the unit's full path
    if (fstype === 'cgroup2') return unescapeMount(mountPoint);
    if (fstype === 'cgroup' && superOptions.split(',').includes('name=systemd')) v1 = unescapeMount(mountPoint);
  }
  return v1;
}

function unescapeMount(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

function readOr(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** Why a unit's processes could not be read, for its Message. */
export class ProcReadError extends Error {}

export class CgroupProcReader {
  constructor(private readonly root: string | undefined = systemdCgroupRoot()) {}

  /** The pids in `controlGroup` (systemd's ControlGroup property) and below it. */
  pids(controlGroup: string): number[] {
    if (!this.root) throw new ProcReadError('no cgroup hierarchy of systemd is mounted (/proc/self/mountinfo)');
    const dir = path.join(this.root, controlGroup);
    const out: number[] = [];
    const walk = (d: string, top: boolean): void => {
      let procs: string;
      try {
        procs = fs.readFileSync(path.join(d, 'cgroup.procs'), 'utf8');
      } catch (err) {
        // A sub-cgroup may vanish while we walk; the unit's own must be readable.
        if (top) throw new ProcReadError(`cannot read ${path.join(d, 'cgroup.procs')}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
        return;
      }
      for (const l of procs.split('\n')) if (l) out.push(Number(l));
      let entries: fs.Dirent[] = [];
      try {
        entries = fs.readdirSync(d, { withFileTypes: true });
      } catch {
        // gone meanwhile
      }
      for (const e of entries) if (e.isDirectory()) walk(path.join(d, e.name), false);
    };
    walk(dir, true);
    return out;
  }

  /** Sum the processes of `controlGroup`. A process that exits meanwhile is left out. */
  sample(controlGroup: string): ProcSample {
    const s: ProcSample = { memoryBytes: 0, tasks: 0, cpu: new Map(), processes: 0 };
    let denied: string | undefined;
    for (const pid of this.pids(controlGroup)) {
      let stat: string;
      let statm: string;
      try {
        stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
        statm = fs.readFileSync(`/proc/${pid}/statm`, 'utf8');
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EACCES' || code === 'EPERM') denied = `cannot read /proc/${pid}: ${code}`;
        continue; // ENOENT/ESRCH: exited
      }
      // Fields after "(comm)", which may itself hold spaces and parentheses.
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // f[0] is field 3 (state): utime 14, stime 15, num_threads 20, starttime 22.
      const ticks = Number(f[11]) + Number(f[12]);
      s.cpu.set(`${pid}@${f[19]}`, ticks / TICKS_PER_SECOND);
      s.tasks += Number(f[17]);
      s.memoryBytes += Number(statm.split(' ')[1]) * PAGE_SIZE;
      s.processes++;
    }
    if (denied && s.processes === 0) throw new ProcReadError(denied);
    return s;
  }
}

/** CPU seconds used between two samples by the processes in the second (new processes count from zero). */
export function cpuSecondsBetween(before: ReadonlyMap<string, number>, after: ReadonlyMap<string, number>): number {
  let used = 0;
  for (const [key, t] of after) used += Math.max(0, t - (before.get(key) ?? 0));
  return used;
}
