/**
 * The IOC's configuration file (TOML). Every problem stops the IOC with a
 * message naming the file, the line and the key:
 *
 *   ioc.toml:9: [[unit]] #2: unknown key "expct"; expected one of name, pv, expect, control
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { isValidUnitName } from '../systemd/names';
import { PV_PART } from '../config-table';
import { parseMacroDefinitions } from '../database/dbfile/macros';
import { parseQueueservers, type QueueserverConfig } from '../queueserver/config';
import { parseRedises, type RedisConfig } from '../redis/config';
import { quoteValue, showCharacter, systemErrorText } from '../text';
import { MAX_TIMER_SECONDS } from '../timers';
import { ServiceIocError, type ConfigErrorCode } from '../errors';

export interface UnitConfig {
  name: string;
  pv: string;
  expect: 'active' | 'any';
  control: boolean;
  line: number;
}

export interface DatabaseConfig {
  file: string;
  /** The macro string after the file name, as dbLoadRecords takes it ("A=1, B=2"). */
  macros: string;
  /** Line of the `db` key, for messages about the file. */
  line: number;
}

export interface AccessConfig {
  /** The .acf file. */
  file: string;
  /** Macros applied to it; P (the prefix) is always defined. */
  macros: Map<string, string>;
  /** Match HAG entries by the client's IP address instead of its host name. */
  hostByAddress: boolean;
  /** Line of the `file` key, for messages about the file. */
  line: number;
}

export interface PutLogConfig {
  /** JSON-lines (or text) file; absent: the journal only. */
  file?: string;
  format: 'json' | 'text';
  /** The file is rotated before it grows past this (max_size_mb). */
  maxBytes: number;
  /** Rotated files kept (FILE.1 ... FILE.keep). */
  keep: number;
}

export interface JournalConfig {
  /** Follow the units' journal lines (LogLast, LogTail, the lines of a failed start). */
  follow: boolean;
  /** A journal directory to read (journalctl --directory); default: the journals journalctl finds. */
  directory?: string;
}

export interface IocConfig {
  file: string;
  access?: AccessConfig;
  putlog: PutLogConfig;
  prefix: string;
  bus: 'user' | 'system';
  /** D-Bus call timeout, seconds. */
  callTimeout: number;
  /** How long a Start/Stop/Restart put waits for its job, seconds. */
  jobTimeout: number;
  /** How often each unit's MemoryCurrent, TasksCurrent and CPUUsage are read, seconds. */
  resourcePeriod: number;
  journal: JournalConfig;
  /** Serve the iocStats names (db/iocstats.db) under <prefix>IOC:. */
  iocStats: boolean;
  /** Serve the PVs over pvAccess as well as Channel Access ([ioc] pva, default true). */
  pva: boolean;
  /** Extra databases loaded after the generated ones, with P = prefix. */
  databases: DatabaseConfig[];
  units: UnitConfig[];
  /** RE Managers watched over 0MQ ([[queueserver]]). */
  queueservers: QueueserverConfig[];
  /** redis servers watched for the queueservers ([[redis]]). */
  redis: RedisConfig[];
}

export class ConfigFileError extends ServiceIocError {
  declare readonly code: ConfigErrorCode;
  constructor(code: ConfigErrorCode, readonly file: string, readonly line: number, readonly detail: string) {
    super(code, `${file}${line > 0 ? `:${line}` : ''}: ${detail}`);
  }
}

/** Line numbers of `key =` lines per table, e.g. "ioc.prefix", "unit.1.pv", and of table headers. */
export class LineLocator {
  private readonly lines = new Map<string, number>();

  constructor(text: string) {
    let table = '';
    const counts = new Map<string, number>();
    text.split('\n').forEach((raw, i) => {
      const line = raw.trim();
      const arr = /^\[\[\s*([A-Za-z0-9_.-]+)\s*\]\]/.exec(line);
      const tab = /^\[\s*([A-Za-z0-9_.-]+)\s*\]/.exec(line);
      if (arr) {
        const n = counts.get(arr[1]) ?? 0;
        counts.set(arr[1], n + 1);
        table = `${arr[1]}.${n}`;
        this.lines.set(table, i + 1);
      } else if (tab) {
        table = tab[1];
        this.lines.set(table, i + 1);
      } else {
        const kv = /^("?)([A-Za-z0-9_-]+)\1\s*=/.exec(line);
        if (kv) this.lines.set(table ? `${table}.${kv[2]}` : kv[2], i + 1);
      }
    });
  }

  line(key: string): number {
    return this.lines.get(key) ?? 0;
  }
}

const IOC_KEYS = ['prefix', 'bus', 'call_timeout', 'job_timeout', 'resource_period', 'db', 'iocstats', 'pva'] as const;
const UNIT_KEYS = ['name', 'pv', 'expect', 'control'] as const;
const TOP_KEYS = ['ioc', 'unit', 'access', 'putlog', 'queueserver', 'redis', 'journal'] as const;
const JOURNAL_KEYS = ['follow', 'directory'] as const;
const ACCESS_KEYS = ['file', 'macros', 'host_by_address'] as const;
const PUTLOG_KEYS = ['file', 'format', 'max_size_mb', 'keep'] as const;

export function loadConfig(file: string): IocConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigFileError('CONFIG_ERR_READ', file, 0, `cannot read the configuration: ${systemErrorText(err)}`);
  }
  return parseConfig(text, file);
}

/**
 * smol-toml's reason, in the user's terms: it reports a string left open at
 * the end of its line as a control character (the newline) in the string.
 */
function tomlProblem(text: string, e: { line?: number; column?: number; message: string }): string {
  const reason = e.message.split('\n')[0].replace(/^Invalid TOML document: /, '');
  if (/control characters are not allowed/.test(reason) && e.line !== undefined && e.column !== undefined) {
    const line = text.split('\n')[e.line - 1] ?? '';
    const at = line.replace(/\r$/, '')[e.column - 1];
    if (at === undefined) return 'a string is not closed on its line (a "..." string ends on the line it starts on; """...""" spans lines)';
    return `a string holds the control character ${showCharacter(at)}; write it as an escape such as \\t or \\u0001`;
  }
  if (reason === 'unfinished string') return 'a string is not closed before the end of the file';
  return reason;
}

export function parseConfig(text: string, file: string): IocConfig {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch (err) {
    const e = err as { line?: number; column?: number; message: string };
    throw new ConfigFileError('CONFIG_ERR_TOML', file, e.line ?? 0, `not valid TOML: ${tomlProblem(text, e)}`);
  }
  const loc = new LineLocator(text);
  const fail = (code: ConfigErrorCode, key: string, detail: string): never => {
    throw new ConfigFileError(code, file, loc.line(key), detail);
  };
  const unknownKeys = (obj: Record<string, unknown>, allowed: readonly string[], where: string, keyPrefix: string): void => {
    for (const k of Object.keys(obj)) {
      if (!allowed.includes(k)) fail('CONFIG_ERR_UNKNOWN_KEY', keyPrefix ? `${keyPrefix}.${k}` : k, `${where}unknown key "${k}"; expected one of ${allowed.join(', ')}`);
    }
  };
  unknownKeys(doc, TOP_KEYS, '', '');

  const iocRaw = doc.ioc;
  if (iocRaw === undefined) fail('CONFIG_ERR_MISSING_KEY', '', 'missing the [ioc] table with the PV prefix');
  if (typeof iocRaw !== 'object' || iocRaw === null || Array.isArray(iocRaw)) return fail('CONFIG_ERR_BAD_VALUE', 'ioc', '"ioc" must be a table: [ioc]');
  const ioc = iocRaw as Record<string, unknown>;
  unknownKeys(ioc, IOC_KEYS, '[ioc]: ', 'ioc');
  const str = (obj: Record<string, unknown>, key: string, where: string, lineKey: string, def?: string): string => {
    const v = obj[key];
    if (v === undefined) {
      if (def !== undefined) return def;
      const m = /^(\w+)\.(\d+)$/.exec(where);
      return fail('CONFIG_ERR_MISSING_KEY', where, `${m ? `[[${m[1]}]] #${Number(m[2]) + 1}` : `[${where}]`}: missing key "${key}"`);
    }
    if (typeof v !== 'string') return fail('CONFIG_ERR_BAD_VALUE', lineKey, `key "${key}" must be a string, not ${typeof v}`);
    return v;
  };
  const numKey = (obj: Record<string, unknown>, key: string, lineKey: string, def: number): number => {
    const v = obj[key];
    if (v === undefined) return def;
    if (typeof v !== 'number' || !(v > 0) || !(v <= MAX_TIMER_SECONDS)) {
      const shown = typeof v === 'number' ? String(v) : typeof v === 'string' ? quoteValue(v) : typeof v;
      return fail('CONFIG_ERR_BAD_VALUE', lineKey, `key "${key}" must be a positive number of seconds, at most ${MAX_TIMER_SECONDS} (2^31-1 ms, the longest timer Node.js keeps), not ${shown}`);
    }
    return v;
  };

  const prefix = str(ioc, 'prefix', 'ioc', 'ioc.prefix');
  if (!PV_PART.test(prefix)) fail('CONFIG_ERR_BAD_VALUE', 'ioc.prefix', `key "prefix": ${quoteValue(prefix)} has characters a record name cannot hold`);
  const bus = str(ioc, 'bus', 'ioc', 'ioc.bus', 'user');
  if (bus !== 'user' && bus !== 'system') fail('CONFIG_ERR_BAD_VALUE', 'ioc.bus', `key "bus" must be "user" or "system", not ${quoteValue(bus)}`);
  const iocStats = ioc.iocstats ?? true;
  if (typeof iocStats !== 'boolean') fail('CONFIG_ERR_BAD_VALUE', 'ioc.iocstats', 'key "iocstats" must be true or false');
  const pva = ioc.pva ?? true;
  if (typeof pva !== 'boolean') fail('CONFIG_ERR_BAD_VALUE', 'ioc.pva', `key "pva" must be true or false (serve pvAccess as well as Channel Access), not ${typeof pva === 'string' ? quoteValue(pva) : String(pva)}`);
  const dbRaw = ioc.db ?? [];
  if (!Array.isArray(dbRaw) || !dbRaw.every((d) => typeof d === 'string')) fail('CONFIG_ERR_BAD_VALUE', 'ioc.db', 'key "db" must be a list of .db file names, each with its macros: ["extra.db", "motors.db M=m1, DESC=\'Slit A\'"]');
  const base = path.dirname(file);
  const dbLine = loc.line('ioc.db');
  const databases = (dbRaw as string[]).map((d) => {
    // The file name, then the macro string exactly as dbLoadRecords takes it.
    const m = /^\s*(\S+)\s*([^]*?)\s*$/.exec(d);
    if (!m) return fail('CONFIG_ERR_BAD_VALUE', 'ioc.db', 'key "db": an entry is empty; expected a .db file name and its macros');
    return { file: path.resolve(base, m[1]), macros: m[2], line: dbLine };
  });

  const unitsRaw = doc.unit ?? [];
  if (!Array.isArray(unitsRaw)) fail('CONFIG_ERR_BAD_VALUE', 'unit', 'units are given as [[unit]] tables');
  const units: UnitConfig[] = [];
  const pvs = new Map<string, number>();
  const names = new Map<string, number>();
  (unitsRaw as unknown[]).forEach((u, i) => {
    const where = `unit.${i}`;
    const label = `[[unit]] #${i + 1}: `;
    if (typeof u !== 'object' || u === null) return fail('CONFIG_ERR_BAD_VALUE', where, `${label}must be a table`);
    const unit = u as Record<string, unknown>;
    unknownKeys(unit, UNIT_KEYS, label, where);
    const name = str(unit, 'name', where, `${where}.name`);
    if (!isValidUnitName(name)) fail('CONFIG_ERR_BAD_VALUE', `${where}.name`, `${label}key "name": ${quoteValue(name)} is not a unit name (e.g. redis.service, queueserver@25idc.service)`);
    const pv = str(unit, 'pv', where, `${where}.pv`);
    // DESC fields say "<pv> active since" and hold 40 characters.
    if (pv.length > 26) fail('CONFIG_ERR_BAD_VALUE', `${where}.pv`, `${label}key "pv": ${quoteValue(pv)} is longer than 26 characters`);
    if (pv === '' || !PV_PART.test(pv)) fail('CONFIG_ERR_BAD_VALUE', `${where}.pv`, `${label}key "pv": ${quoteValue(pv)} is empty or has characters a record name cannot hold`);
    const expect = str(unit, 'expect', where, `${where}.expect`, 'active');
    if (expect !== 'active' && expect !== 'any') fail('CONFIG_ERR_BAD_VALUE', `${where}.expect`, `${label}key "expect" must be "active" or "any", not ${quoteValue(expect)}`);
    const control = unit.control ?? true;
    if (typeof control !== 'boolean') fail('CONFIG_ERR_BAD_VALUE', `${where}.control`, `${label}key "control" must be true or false`);
    const line = loc.line(where);
    if (pvs.has(pv)) fail('CONFIG_ERR_DUPLICATE', `${where}.pv`, `${label}key "pv": "${pv}" is already used by the unit on line ${pvs.get(pv)}`);
    if (names.has(name)) fail('CONFIG_ERR_DUPLICATE', `${where}.name`, `${label}key "name": ${name} is already watched (line ${names.get(name)})`);
    pvs.set(pv, loc.line(`${where}.pv`));
    names.set(name, loc.line(`${where}.name`));
    const longest = `${prefix}${pv}:UnitFileState`;
    if (Buffer.byteLength(longest) > 60) fail('CONFIG_ERR_BAD_VALUE', `${where}.pv`, `${label}PV names such as "${longest}" would exceed 60 characters`);
    units.push({ name, pv, expect: expect as 'active' | 'any', control: control as boolean, line });
  });

  const table = (key: string): Record<string, unknown> | undefined => {
    const v = doc[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return fail('CONFIG_ERR_BAD_VALUE', key, `"${key}" must be a table: [${key}]`);
    return v as Record<string, unknown>;
  };
  let access: AccessConfig | undefined;
  const accessRaw = table('access');
  if (accessRaw) {
    unknownKeys(accessRaw, ACCESS_KEYS, '[access]: ', 'access');
    const macros = new Map(parseMacroDefinitions(str(accessRaw, 'macros', 'access', 'access.macros', '')));
    if (!macros.has('P')) macros.set('P', prefix);
    const byAddress = accessRaw.host_by_address ?? false;
    if (typeof byAddress !== 'boolean') fail('CONFIG_ERR_BAD_VALUE', 'access.host_by_address', 'key "host_by_address" must be true or false');
    access = { file: path.resolve(base, str(accessRaw, 'file', 'access', 'access.file')), macros, hostByAddress: byAddress as boolean, line: loc.line('access.file') };
  }
  const journalRaw = table('journal') ?? {};
  unknownKeys(journalRaw, JOURNAL_KEYS, '[journal]: ', 'journal');
  const follow = journalRaw.follow ?? true;
  if (typeof follow !== 'boolean') fail('CONFIG_ERR_BAD_VALUE', 'journal.follow', 'key "follow" must be true or false');
  const journalDir = journalRaw.directory === undefined ? undefined : path.resolve(base, str(journalRaw, 'directory', 'journal', 'journal.directory'));
  const putlogRaw = table('putlog') ?? {};
  unknownKeys(putlogRaw, PUTLOG_KEYS, '[putlog]: ', 'putlog');
  const putlogFile = putlogRaw.file === undefined ? undefined : path.resolve(base, str(putlogRaw, 'file', 'putlog', 'putlog.file'));
  const format = str(putlogRaw, 'format', 'putlog', 'putlog.format', 'json');
  if (format !== 'json' && format !== 'text') fail('CONFIG_ERR_BAD_VALUE', 'putlog.format', `key "format" must be "json" or "text" (caPutLog's), not ${quoteValue(format)}`);
  const maxSizeMb = putlogRaw.max_size_mb ?? 10;
  if (typeof maxSizeMb !== 'number' || !(maxSizeMb >= 0.001) || !(maxSizeMb <= 1_000_000)) {
    fail('CONFIG_ERR_BAD_VALUE', 'putlog.max_size_mb', `key "max_size_mb" must be a number of megabytes from 0.001 to 1000000, not ${typeof maxSizeMb === 'string' ? quoteValue(maxSizeMb) : String(maxSizeMb)}`);
  }
  const keep = putlogRaw.keep ?? 3;
  if (typeof keep !== 'number' || !Number.isInteger(keep) || keep < 0 || keep > 100) {
    fail('CONFIG_ERR_BAD_VALUE', 'putlog.keep', `key "keep" must be a whole number of rotated files from 0 to 100, not ${typeof keep === 'string' ? quoteValue(keep) : String(keep)}`);
  }

  const usedPvs = new Map<string, string>();
  for (const [pv, line] of pvs) usedPvs.set(pv, `the [[unit]] on line ${line}`);
  const queueservers = parseQueueservers(doc.queueserver, { base, prefix, line: (k) => loc.line(k), fail, usedPvs });
  for (const q of queueservers) usedPvs.set(q.pv, `the [[queueserver]] on line ${q.line}`);
  const redis = parseRedises(doc.redis, { base, prefix, line: (k) => loc.line(k), fail, usedPvs });
  queueservers.forEach((q, i) => {
    if (q.redis === undefined || redis.some((r) => r.pv === q.redis)) return;
    const known = redis.map((r) => `"${r.pv}"`);
    fail('CONFIG_ERR_BAD_VALUE', `queueserver.${i}.redis`, `[[queueserver]] #${i + 1}: key "redis": no [[redis]] has pv = "${q.redis}"${known.length ? `; configured: ${known.join(', ')}` : ''}`);
  });

  return {
    file,
    access,
    putlog: { file: putlogFile, format: format as 'json' | 'text', maxBytes: Math.round((maxSizeMb as number) * 1024 * 1024), keep: keep as number },
    prefix,
    bus: bus as 'user' | 'system',
    callTimeout: numKey(ioc, 'call_timeout', 'ioc.call_timeout', 5),
    jobTimeout: numKey(ioc, 'job_timeout', 'ioc.job_timeout', 120),
    iocStats: iocStats as boolean,
    pva: pva as boolean,
    resourcePeriod: numKey(ioc, 'resource_period', 'ioc.resource_period', 5),
    journal: { follow: follow as boolean, directory: journalDir },
    databases,
    units,
    queueservers,
    redis,
  };
}

/**
 * Every file the configuration names must be readable: the message names
 * the configuration file, the line and the key once, then the file and
 * the reason ("ioc.toml:4: key "db": cannot read /srv/extra.db: no such
 * file or directory").
 */
export function checkConfigFiles(config: IocConfig): void {
  const files: Array<{ file: string; line: number; key: string }> = config.databases.map((d) => ({ file: d.file, line: d.line, key: 'db' }));
  if (config.access) files.push({ file: config.access.file, line: config.access.line, key: 'file' });
  for (const f of files) {
    try {
      const fd = fs.openSync(f.file, 'r');
      const isDir = fs.fstatSync(fd).isDirectory();
      fs.closeSync(fd);
      if (isDir) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    } catch (err) {
      throw new ConfigFileError('CONFIG_ERR_FILE', config.file, f.line, `key "${f.key}": cannot read ${f.file}: ${systemErrorText(err)}`);
    }
  }
}
