/**
 * Device support "IOC stats": the facts the iocStats module (epics-modules/
 * iocStats, devIocStats) serves about an IOC process, with its INP names, so
 * that the iocAdmin records in db/iocstats.db read as on any Linux soft IOC.
 * What each reads, as devIocStats's Linux implementation does:
 *   @ca_clients       CA circuits (clients) open now          @ca_connections  channels on them
 *   @pva_clients      pvAccess connections (clients) open now  @pva_connections channels on them
 *                     (not iocStats names: its counts are CA only, and so are @ca_*)
 *   @records          records in the database                 @no_of_cpus      online CPUs
 *   @fd               open file descriptors (/proc/self/fd)   @maxfd           RLIMIT_NOFILE soft limit
 *   @allocated_bytes  resident set (/proc/self/statm x page)  @free_bytes      MemFree+Buffers+Cached
 *   @total_bytes      MemTotal (/proc/meminfo)
 *   @sys_cpuload      % of all CPUs busy (user+nice+system, /proc/stat) since the last scan
 *   @ioc_cpuload      % of all CPUs this process used since the last scan
 *   @fd_free          @maxfd - @fd (iocStats computes it in a calc record)
 *   @heartbeat        +1 a scan, wrapping like iocStats's calcout (A<2147483647?A+1:1)
 *   @up_time          "D days, HH:MM:SS" since start
 *   @kernel_ver  @epics_ver  @hostname  @pwd  @startup_script  @engineer  @location  @proc_id  @parent_proc_id
 * ENGINEER and LOCATION come from the environment variables of those names,
 * as in iocStats.
 *
 * Device support "Soft Timestamp" (EPICS base devTimestamp): a stringin's VAL
 * is the current time, formatted by the strftime format in INP ("@%m/%d/%Y %H:%M:%S").
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import type { DeviceBinding, DeviceRecord, DeviceSupport } from '../database/device';
import { VERSION } from './ioc-device';

/** What the IOC knows of its CA server and database at the time of a read. */
export interface IocStatsSources {
  startedAt: number;
  /** Clients and channels as the CA server counts them; undefined before it runs. */
  ca(): { clients: number; channels: number } | undefined;
  /** The same for the pvAccess server; undefined before it runs, or when there is none. */
  pva(): { clients: number; channels: number } | undefined;
  records(): number;
  /** The startup file (the configuration, or the .db files of softioc). */
  startupScript: string;
}

/** The Channel Access protocol version the server speaks. */
const CA_VERSION = '4.13';

function readText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** Fields of /proc/meminfo in bytes. */
function meminfo(): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of readText('/proc/meminfo').split('\n')) {
    const m = /^(\w+):\s+(\d+)\s*kB/.exec(line);
    if (m) out.set(m[1], Number(m[2]) * 1024);
  }
  return out;
}

const PAGE_SIZE = 4096;

/** Jiffies of user+nice+system over all CPUs (/proc/stat line "cpu"). */
function systemBusyTicks(): number {
  const m = /^cpu\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(readText('/proc/stat'));
  return m ? Number(m[1]) + Number(m[2]) + Number(m[3]) : NaN;
}

/** USER_HZ: the unit of /proc/stat and /proc/PID/stat times; 100 on every Linux architecture's ABI. */
export const TICKS_PER_SECOND = 100;

function openFds(): number {
  try {
    return fs.readdirSync('/proc/self/fd').length - 1; // the directory handle readdir opened
  } catch {
    return NaN;
  }
}

function maxFds(): number {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(readText('/proc/self/limits'));
  return m ? (m[1] === 'unlimited' ? Infinity : Number(m[1])) : NaN;
}

function kernelVersion(): string {
  return `${os.type()} ${os.release()} ${os.version()}`;
}

function upTime(seconds: number): string {
  const s = Math.floor(seconds);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${Math.floor(s / 86400)} days, ${p(Math.floor(s / 3600) % 24)}:${p(Math.floor(s / 60) % 60)}:${p(s % 60)}`;
}

/** A string as a CHAR waveform holds it: its UTF-8 bytes and a terminating NUL, cut to NELM. */
function charArray(text: string, nelm: number): Uint8Array {
  const bytes = Buffer.from(text, 'utf8');
  const n = Math.max(0, Math.min(bytes.length, nelm - 1));
  const out = new Uint8Array(n + 1);
  out.set(bytes.subarray(0, n));
  return out;
}

/** CPU load since the previous read, as % of all CPUs. */
class LoadMeter {
  private last: { at: number; busy: number } | undefined;
  constructor(private readonly busySeconds: () => number) {}
  read(): number {
    const now = { at: performance.now() / 1000, busy: this.busySeconds() };
    const prev = this.last;
    this.last = now;
    if (!prev || !(now.at > prev.at) || !Number.isFinite(now.busy)) return 0;
    const cpus = os.availableParallelism();
    return Math.max(0, Math.min(100, (100 * (now.busy - prev.busy)) / ((now.at - prev.at) * cpus)));
  }
}

const INPUTS = [
  'ca_clients', 'ca_connections', 'pva_clients', 'pva_connections', 'records', 'no_of_cpus', 'fd', 'maxfd', 'fd_free', 'allocated_bytes', 'free_bytes',
  'total_bytes', 'sys_cpuload', 'ioc_cpuload', 'heartbeat', 'up_time', 'kernel_ver', 'epics_ver', 'hostname', 'pwd',
  'startup_script', 'engineer', 'location', 'proc_id', 'parent_proc_id',
] as const;
type Input = (typeof INPUTS)[number];

export function iocStatsDeviceSupport(src: IocStatsSources): DeviceSupport {
  const sysLoad = new LoadMeter(() => systemBusyTicks() / TICKS_PER_SECOND);
  const iocLoad = new LoadMeter(() => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  });
  const value = (what: Input, record: DeviceRecord, state: { beats: number }): number | string | Uint8Array => {
    switch (what) {
      case 'ca_clients': return src.ca()?.clients ?? 0;
      case 'ca_connections': return src.ca()?.channels ?? 0;
      case 'pva_clients': return src.pva()?.clients ?? 0;
      case 'pva_connections': return src.pva()?.channels ?? 0;
      case 'records': return src.records();
      case 'no_of_cpus': return os.availableParallelism();
      case 'fd': return openFds();
      case 'maxfd': return maxFds();
      case 'fd_free': return maxFds() - openFds();
      case 'allocated_bytes': return Number(readText('/proc/self/statm').split(' ')[1]) * PAGE_SIZE;
      case 'free_bytes': {
        const m = meminfo();
        return (m.get('MemFree') ?? NaN) + (m.get('Buffers') ?? 0) + (m.get('Cached') ?? 0);
      }
      case 'total_bytes': return meminfo().get('MemTotal') ?? NaN;
      case 'sys_cpuload': return sysLoad.read();
      case 'ioc_cpuload': return iocLoad.read();
      case 'heartbeat':
        state.beats = state.beats < 2147483647 ? state.beats + 1 : 1;
        return state.beats;
      case 'up_time': return upTime((Date.now() - src.startedAt) / 1000);
      case 'kernel_ver': return kernelVersion();
      case 'epics_ver': return `service-ioc ${VERSION} (Channel Access ${CA_VERSION})`;
      case 'hostname': return os.hostname();
      case 'pwd': return charArray(process.cwd(), Number(record.field('NELM')) || 160);
      case 'startup_script': return charArray(src.startupScript, Number(record.field('NELM')) || 120);
      case 'engineer': return process.env.ENGINEER ?? '';
      case 'location': return process.env.LOCATION ?? '';
      case 'proc_id': return process.pid;
      case 'parent_proc_id': return process.ppid;
    }
  };
  return {
    dtyp: 'IOC stats',
    recordTypes: ['ai', 'longin', 'stringin', 'waveform'],
    bind(record: DeviceRecord, link: string): DeviceBinding {
      const what = link.trim().replace(/^@/, '');
      if (!(INPUTS as readonly string[]).includes(what)) throw new Error(`INP "${link}": expected one of @${INPUTS.join(', @')}`);
      const state = { beats: 0 };
      return { read: () => record.update(value(what as Input, record, state)) };
    },
  };
}

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

/** strftime in local time, with EPICS's %<n>f (n digits of the fraction of a second, default 3). */
export function strftime(format: string, when: Date): string {
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return format.replace(/%(\d?)([a-zA-Z%])/g, (all, digits: string, c: string) => {
    switch (c) {
      case 'Y': return String(when.getFullYear());
      case 'y': return p(when.getFullYear() % 100);
      case 'm': return p(when.getMonth() + 1);
      case 'd': return p(when.getDate());
      case 'e': return String(when.getDate()).padStart(2, ' ');
      case 'H': return p(when.getHours());
      case 'I': return p(((when.getHours() + 11) % 12) + 1);
      case 'p': return when.getHours() < 12 ? 'AM' : 'PM';
      case 'M': return p(when.getMinutes());
      case 'S': return p(when.getSeconds());
      case 'j': return p(Math.floor((when.getTime() - new Date(when.getFullYear(), 0, 1).getTime()) / 86400000) + 1, 3);
      case 'a': return DAYS[when.getDay()].slice(0, 3);
      case 'A': return DAYS[when.getDay()];
      case 'b': case 'h': return MONTHS[when.getMonth()].slice(0, 3);
      case 'B': return MONTHS[when.getMonth()];
      case 'F': return `${when.getFullYear()}-${p(when.getMonth() + 1)}-${p(when.getDate())}`;
      case 'T': return `${p(when.getHours())}:${p(when.getMinutes())}:${p(when.getSeconds())}`;
      case 'z': {
        const off = -when.getTimezoneOffset();
        return `${off < 0 ? '-' : '+'}${p(Math.floor(Math.abs(off) / 60))}${p(Math.abs(off) % 60)}`;
      }
      case 'f': return p(when.getMilliseconds(), 3).padEnd(9, '0').slice(0, Number(digits || 3));
      case '%': return '%';
      default: return all;
    }
  });
}

/** "Soft Timestamp": the time of processing, formatted by INP "@FORMAT". */
export const SOFT_TIMESTAMP: DeviceSupport = {
  dtyp: 'Soft Timestamp',
  recordTypes: ['stringin'],
  bind(record: DeviceRecord, link: string): DeviceBinding {
    const format = link.trim().replace(/^@/, '') || '%Y-%m-%d %H:%M:%S';
    return { read: () => record.update(strftime(format, new Date()).slice(0, 39)) };
  },
};
