/**
 * `service-ioc archive-list -c FILE.toml [-o FILE]`: the PVs of a
 * configuration worth archiving, as the JSON list the Archiver Appliance's
 * archivePV endpoint takes (POST with Content-Type application/json to
 * mgmt/bpl/archivePV): one object per PV with "pv", "samplingmethod"
 * (MONITOR or SCAN) and "samplingperiod" (seconds). The appliance reads
 * samplingperiod as a string and skips an entry whose period is a JSON
 * number, so it is written as one.
 *
 * Which PVs, and how, is a table per template of db/ (below): states,
 * enums, health and counts are monitored (every change, rare); resources
 * that change on every read (CPU, memory, PING time) are sampled at the
 * period the IOC reads them. Counters that only count up (heartbeats,
 * uptimes, ages), journal text and facts that never change are left out:
 * they say nothing that the archived states do not. The PVs are those of
 * the templates the configuration loads (configSteps, the templates read
 * as the PV reference reads them); the extra databases of `[ioc] db` are
 * the beamline's own and are not listed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { IocConfig } from './config';
import { loadConfig } from './config';
import { makeDirectory, OutputError, parseOptions, type UsageErrorFactory } from './command-args';
import { readPvTemplate } from './pv-table';
import { configSteps, DB_DIR } from './databases';
import { systemErrorText } from '../text';

export type SamplingMethod = 'MONITOR' | 'SCAN';

/** One entry of the archivePV JSON list. */
export interface ArchiveRequest {
  pv: string;
  samplingmethod: SamplingMethod;
  /** Seconds, as a decimal string. */
  samplingperiod: string;
}

/** How a template's record is archived; `skip` says why it is not. */
export type ArchiveRule =
  | { method: 'MONITOR' }
  | { method: 'SCAN'; period: 'resource' | 'redis' | number }
  | { skip: string };

/** The appliance's default period for a monitor (its buffer sizing), seconds. */
export const MONITOR_PERIOD = 1;

const M: ArchiveRule = { method: 'MONITOR' };
const counter: ArchiveRule = { skip: 'counts up' };
const fixed: ArchiveRule = { skip: 'does not change while the IOC runs' };
const text: ArchiveRule = { skip: 'journal text; the journal keeps it' };
const resource: ArchiveRule = { method: 'SCAN', period: 'resource' };
const redisRead: ArchiveRule = { method: 'SCAN', period: 'redis' };
/** iocStats' load and memory records scan every 10 s (db/iocstats.db). */
const stats: ArchiveRule = { method: 'SCAN', period: 10 };
const control: ArchiveRule = { skip: 'a control PV' };

/**
 * Every record of every template, by name after the prefix and `<pv>:`. A
 * unit test fails for a record without a rule, so a new PV is a decision.
 */
export const ARCHIVE_RULES: Readonly<Record<string, Readonly<Record<string, ArchiveRule>>>> = {
  'ioc.db': {
    'IOC:Heartbeat': counter, 'IOC:Uptime': counter, 'IOC:Version': M, 'IOC:StartTime': M,
    'IOC:BusConnected': M, 'IOC:BusMessage': M, 'IOC:Health': M, 'IOC:HealthMessage': M, 'IOC:PutLogOK': M, 'IOC:Linger': M,
  },
  'iocstats.db': {
    'IOC:STARTTOD': M, 'IOC:TOD': counter, 'IOC:HEARTBEAT': counter, 'IOC:UPTIME': counter,
    'IOC:CA_CLNT_CNT': M, 'IOC:CA_CONN_CNT': M, 'IOC:PVA_CLNT_CNT': M, 'IOC:PVA_CONN_CNT': M, 'IOC:RECORD_CNT': M,
    'IOC:FD_MAX': fixed, 'IOC:FD_CNT': stats, 'IOC:FD_FREE': stats, 'IOC:SYS_CPU_LOAD': stats, 'IOC:IOC_CPU_LOAD': stats,
    'IOC:CPU_CNT': fixed, 'IOC:MEM_USED': stats, 'IOC:MEM_FREE': stats, 'IOC:MEM_MAX': fixed,
    'IOC:ST_SCRIPT': fixed, 'IOC:KERNEL_VERS': fixed, 'IOC:EPICS_VERS': fixed, 'IOC:HOSTNAME': fixed, 'IOC:APP_DIR': fixed,
    'IOC:ENGINEER': fixed, 'IOC:LOCATION': fixed, 'IOC:PROCESS_ID': fixed, 'IOC:PARENT_ID': fixed,
  },
  'unit.db': {
    ActiveState: M, SubState: M, LoadState: M, UnitFileState: M, Running: M, MainPID: M, NRestarts: M, Result: M, ExitCode: M,
    ActiveSince: M, Uptime: counter, JobResult: M, Busy: M, Message: M,
    MemoryCurrent: resource, TasksCurrent: resource, CPUUsage: resource, LogLast: text, LogTail: text,
  },
  'unit-control.db': { Start: control, Stop: control, Restart: control, ResetFailed: control, Enable: control },
  'queueserver.db': {
    Connected: M, StatusAge: counter, Version: M, ManagerState: M, REState: M, EnvExists: M, EnvState: M, QueueLength: M, HistoryLength: M,
    Running: M, RunningItemUid: M, RunningPlan: M, LastExitStatus: M, StopPending: M, PausePending: M, Autostart: M, LoopMode: M,
    LockedEnv: M, LockedQueue: M, LockUser: M, LockNote: M, LockTime: M, PlansAllowed: M, DevicesAllowed: M, BackgroundTasks: M,
    ConsoleLast: { skip: 'console text, many lines a second while a plan runs' }, Problem: M, DepsUp: M,
  },
  'queueserver-control.db': {
    CmdStatus: M, CmdMessage: M, QueueStart: control, QueueStop: control, QueueStopCancel: control, EnvOpen: control, EnvClose: control,
    EnvDestroy: control, REPause: control, REResume: control, REStop: control, REAbort: control, REHalt: control, AutostartSet: control,
  },
  'redis.db': {
    Connected: M, Message: M, PingTime: redisRead, Version: M, UsedMemory: redisRead, Persistence: M, LastSaveAge: counter,
    ConnectedClients: M, QueueLength: M, HistoryLength: M, Locked: M,
  },
};

/** The rule key of a template row: `<pv>:ActiveState` -> ActiveState. */
export function ruleKey(rowName: string): string {
  return rowName.replace(/^<pv>:/, '');
}

/** The archivePV list for a configuration, in the IOC's load order. */
export function archiveList(config: IocConfig, dbDir: string = DB_DIR): ArchiveRequest[] {
  const out: ArchiveRequest[] = [];
  for (const step of configSteps(config)) {
    if (step.kind !== 'db' || path.dirname(step.file) !== dbDir) continue;
    const file = path.basename(step.file);
    const rules = ARCHIVE_RULES[file];
    if (!rules) continue;
    const instance = step.macros.get('N') ?? '';
    for (const row of readPvTemplate(file, dbDir).rows) {
      const key = ruleKey(row.name);
      const rule = rules[key];
      if (!rule) throw new Error(`${file}: no archive rule for ${row.name}`);
      if ('skip' in rule) continue;
      const pv = config.prefix + row.name.replace(/^<pv>:/, `${instance}:`);
      let period = MONITOR_PERIOD;
      if (rule.method === 'SCAN') {
        if (rule.period === 'resource') period = config.resourcePeriod;
        else if (rule.period === 'redis') period = config.redis.find((r) => r.pv === instance)?.pollPeriod ?? MONITOR_PERIOD;
        else period = rule.period;
      }
      out.push({ pv, samplingmethod: rule.method, samplingperiod: periodText(period) });
    }
  }
  return out;
}

/** Seconds as the appliance parses them (Float.parseFloat): "1.0", "0.5", "10.0". */
export function periodText(seconds: number): string {
  return Number.isInteger(seconds) ? seconds.toFixed(1) : String(seconds);
}

/** The JSON text: one object a line, so a diff shows which PVs changed. */
export function archiveListText(list: readonly ArchiveRequest[]): string {
  if (list.length === 0) return '[]\n';
  return `[\n${list.map((r) => `  ${JSON.stringify(r)}`).join(',\n')}\n]\n`;
}

/** `service-ioc archive-list -c FILE.toml [-o FILE]` */
export function archiveListCommand(args: readonly string[], usage: UsageErrorFactory): number {
  const options = parseOptions(args, { '-c': true, '-o': false }, usage);
  const list = archiveList(loadConfig(options.get('-c') as string));
  const text = archiveListText(list);
  const file = options.get('-o');
  if (file === undefined) {
    process.stdout.write(text);
    return 0;
  }
  makeDirectory(path.dirname(path.resolve(file)));
  try {
    fs.writeFileSync(file, text);
  } catch (err) {
    throw new OutputError(file, `cannot write: ${systemErrorText(err)}`);
  }
  process.stderr.write(`${file}: ${list.length} PV${list.length === 1 ? '' : 's'} to archive\n`);
  return 0;
}
