/**
 * The [[redis]] tables of the IOC's configuration, one per redis server that
 * holds a queueserver's queue and history:
 *
 *   [[redis]]
 *   pv = "redisdb"                  # PVs are <prefix>redisdb:<Name>
 *   addr = "localhost:6379"         # as the queueserver's --redis-addr: host[:port][/db]
 *   unit = "redis.service"          # optional: the systemd unit that runs it
 *   name_prefix = "qs_default"      # the manager's --redis-name-prefix
 *   password_file = "redis.pass"    # optional: requirepass / AUTH; never shown
 *   poll_period = 1.0               # seconds
 *   timeout = 2.0                   # seconds: no answer within it is a fault
 *
 * Every problem names the key and its line, through the caller's `fail`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ConfigErrorCode } from '../errors';
import { SecretText } from '../secret';
import { MAX_TIMER_SECONDS } from '../timers';
import { isValidUnitName } from '../unit-name';

export const DEFAULT_REDIS_PORT = 6379;
/** bluesky-queueserver's default --redis-name-prefix. */
export const DEFAULT_NAME_PREFIX = 'qs_default';

export interface RedisAddress {
  host: string;
  port: number;
  /** The database number (SELECT). */
  db: number;
}

export interface RedisConfig {
  /** PV name part: records are <prefix><pv>:<Name>. */
  pv: string;
  addr: RedisAddress;
  /** The systemd unit that runs this redis (shown with its PVs). */
  unit?: string;
  /** Key prefix of the queueserver's keys: <name_prefix>_plan_queue etc. ("" for none). */
  namePrefix: string;
  password?: SecretText;
  /** Seconds. */
  pollPeriod: number;
  /** Seconds. */
  timeout: number;
  line: number;
}

export interface RedisConfigContext {
  /** Relative file names are relative to this directory (the configuration's). */
  base: string;
  prefix: string;
  line(key: string): number;
  fail(code: ConfigErrorCode, key: string, detail: string): never;
  /** PV name parts already used by other tables ([[unit]], [[queueserver]]), with what uses them. */
  usedPvs: ReadonlyMap<string, string>;
}

export const REDIS_KEYS = ['pv', 'addr', 'unit', 'name_prefix', 'password_file', 'poll_period', 'timeout'] as const;

const PV_PART = /^[A-Za-z0-9_:\-[\]<>;+]*$/;
/** The longest record name suffix in db/redis.db. */
const LONGEST_SUFFIX = ':ConnectedClients';
/** DESC holds 40 characters; the template's DESCs are "$(N) " + at most 13. */
const MAX_PV = 26;

/**
 * `host[:port][/db]`, as bluesky-queueserver's --redis-addr (it connects to
 * redis://<addr>). An IPv6 host is written in brackets: [::1]:6379.
 */
export function parseRedisAddress(text: string): RedisAddress | string {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[^\s:/[\]@]+)(?::(\d{1,5}))?(?:\/(\d{1,5}))?$/.exec(text.trim());
  if (!m) return `"${text}" is not host[:port][/db], e.g. "localhost:6379" or "localhost:6379/1"`;
  const port = m[2] === undefined ? DEFAULT_REDIS_PORT : Number(m[2]);
  if (!(port >= 1 && port <= 65535)) return `port ${m[2]} is outside 1..65535`;
  const db = m[3] === undefined ? 0 : Number(m[3]);
  return { host: m[1].replace(/^\[(.*)\]$/, '$1'), port, db };
}

/** How an address reads in logs and on screens. */
export function formatRedisAddress(a: RedisAddress): string {
  const host = a.host.includes(':') ? `[${a.host}]` : a.host;
  return `${host}:${a.port}${a.db ? `/${a.db}` : ''}`;
}

export function parseRedises(raw: unknown, ctx: RedisConfigContext): RedisConfig[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) return ctx.fail('CONFIG_ERR_BAD_VALUE', 'redis', 'redis servers are given as [[redis]] tables');
  const out: RedisConfig[] = [];
  const pvs = new Map<string, number>();
  const addresses = new Map<string, number>();
  raw.forEach((t: unknown, i) => {
    const where = `redis.${i}`;
    const label = `[[redis]] #${i + 1}: `;
    const fail = (code: ConfigErrorCode, key: string, detail: string): never => ctx.fail(code, key ? `${where}.${key}` : where, `${label}${detail}`);
    if (typeof t !== 'object' || t === null || Array.isArray(t)) return fail('CONFIG_ERR_BAD_VALUE', '', 'must be a table');
    const table = t as Record<string, unknown>;
    for (const k of Object.keys(table)) {
      if (!(REDIS_KEYS as readonly string[]).includes(k)) fail('CONFIG_ERR_UNKNOWN_KEY', k, `unknown key "${k}"; expected one of ${REDIS_KEYS.join(', ')}`);
    }
    const str = (key: string): string | undefined => {
      const v = table[key];
      if (v === undefined) return undefined;
      if (typeof v !== 'string') return fail('CONFIG_ERR_BAD_VALUE', key, `key "${key}" must be a string, not ${typeof v}`);
      return v;
    };
    const seconds = (key: string, def: number): number => {
      const v = table[key];
      if (v === undefined) return def;
      if (typeof v !== 'number' || !(v > 0) || !(v <= MAX_TIMER_SECONDS)) {
        return fail('CONFIG_ERR_BAD_VALUE', key, `key "${key}" must be a positive number of seconds, at most ${MAX_TIMER_SECONDS} (2^31-1 ms, the longest timer Node.js keeps), not ${typeof v === 'number' ? String(v) : typeof v}`);
      }
      return v;
    };

    const pv = str('pv') ?? fail('CONFIG_ERR_MISSING_KEY', '', 'missing key "pv"');
    if (pv === '' || !PV_PART.test(pv)) fail('CONFIG_ERR_BAD_VALUE', 'pv', `key "pv": "${pv}" is empty or has characters a record name cannot hold`);
    if (pv.length > MAX_PV) fail('CONFIG_ERR_BAD_VALUE', 'pv', `key "pv": "${pv}" is longer than ${MAX_PV} characters`);
    if (pvs.has(pv)) fail('CONFIG_ERR_DUPLICATE', 'pv', `key "pv": "${pv}" is already used by the [[redis]] on line ${pvs.get(pv)}`);
    const other = ctx.usedPvs.get(pv);
    if (other) fail('CONFIG_ERR_DUPLICATE', 'pv', `key "pv": "${pv}" is already used by ${other}`);
    const longest = `${ctx.prefix}${pv}${LONGEST_SUFFIX}`;
    if (Buffer.byteLength(longest) > 60) fail('CONFIG_ERR_BAD_VALUE', 'pv', `PV names such as "${longest}" would exceed 60 characters`);
    pvs.set(pv, ctx.line(`${where}.pv`));

    const addrText = str('addr') ?? `localhost:${DEFAULT_REDIS_PORT}`;
    const addr = parseRedisAddress(addrText);
    if (typeof addr === 'string') return fail('CONFIG_ERR_BAD_VALUE', 'addr', `key "addr": ${addr}`);
    const addrKey = formatRedisAddress(addr);
    if (addresses.has(addrKey)) fail('CONFIG_ERR_DUPLICATE', 'addr', `key "addr": ${addrKey} is already watched (line ${addresses.get(addrKey)})`);
    addresses.set(addrKey, ctx.line(`${where}.addr`) || ctx.line(where));

    const unit = str('unit');
    if (unit !== undefined && !isValidUnitName(unit)) fail('CONFIG_ERR_BAD_VALUE', 'unit', `key "unit": "${unit}" is not a unit name (e.g. redis.service)`);
    const namePrefix = str('name_prefix') ?? DEFAULT_NAME_PREFIX;
    if (/\s/.test(namePrefix)) fail('CONFIG_ERR_BAD_VALUE', 'name_prefix', `key "name_prefix": "${namePrefix}" has white space; the queueserver's key names have none`);

    let password: SecretText | undefined;
    const passwordFile = str('password_file');
    if (passwordFile !== undefined) {
      const full = path.resolve(ctx.base, passwordFile);
      let text: string;
      try {
        text = fs.readFileSync(full, 'utf8');
      } catch (err) {
        return fail('CONFIG_ERR_FILE', 'password_file', `key "password_file": cannot read ${full}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
      // The first line, as redis-cli's --askpass or a requirepass file holds it; never echoed.
      const secret = text.split(/\r?\n/, 1)[0];
      if (secret === '') fail('CONFIG_ERR_BAD_VALUE', 'password_file', `key "password_file": ${full} is empty`);
      password = new SecretText(secret);
    }

    out.push({
      pv, addr, unit, namePrefix, password,
      pollPeriod: seconds('poll_period', 1),
      timeout: seconds('timeout', 2),
      line: ctx.line(where),
    });
  });
  return out;
}

/** The queueserver's own keys in redis (bluesky-queueserver plan_queue_ops.py): <name_prefix>_<name>, or <name> alone. */
export function queueserverKey(namePrefix: string, name: 'plan_queue' | 'plan_history' | 'lock_info'): string {
  return namePrefix ? `${namePrefix}_${name}` : name;
}
