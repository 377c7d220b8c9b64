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
import { readTables, type ConfigTablesContext, type TableKind } from '../config-table';
import { SecretText } from '../secret';
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

export interface RedisConfigContext extends ConfigTablesContext {
  /** PV name parts already used by other tables ([[unit]], [[queueserver]]), with what uses them. */
  usedPvs: ReadonlyMap<string, string>;
}

export const REDIS_KEYS = ['pv', 'addr', 'unit', 'name_prefix', 'password_file', 'poll_period', 'timeout'] as const;

const REDIS_TABLE: TableKind = {
  name: 'redis', keys: REDIS_KEYS, what: 'redis servers',
  // The longest record name suffix in db/redis.db.
  longestSuffix: ':ConnectedClients',
};

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
  const pvs = new Map<string, number>();
  const addresses = new Map<string, number>();
  return readTables(raw, REDIS_TABLE, ctx, (table) => {
    const fail = table.fail;
    const pv = table.pvPart(pvs, ctx.usedPvs);

    const addrText = table.str('addr') ?? `localhost:${DEFAULT_REDIS_PORT}`;
    const addr = parseRedisAddress(addrText);
    if (typeof addr === 'string') return fail('CONFIG_ERR_BAD_VALUE', 'addr', `key "addr": ${addr}`);
    const addrKey = formatRedisAddress(addr);
    if (addresses.has(addrKey)) fail('CONFIG_ERR_DUPLICATE', 'addr', `key "addr": ${addrKey} is already watched (line ${addresses.get(addrKey)})`);
    addresses.set(addrKey, table.line('addr') || table.line());

    const unit = table.str('unit');
    if (unit !== undefined && !isValidUnitName(unit)) fail('CONFIG_ERR_BAD_VALUE', 'unit', `key "unit": "${unit}" is not a unit name (e.g. redis.service)`);
    const namePrefix = table.str('name_prefix') ?? DEFAULT_NAME_PREFIX;
    if (/\s/.test(namePrefix)) fail('CONFIG_ERR_BAD_VALUE', 'name_prefix', `key "name_prefix": "${namePrefix}" has white space; the queueserver's key names have none`);

    let password: SecretText | undefined;
    const passwordFile = table.file('password_file');
    if (passwordFile !== undefined) {
      // The first line, as redis-cli's --askpass or a requirepass file holds it; never echoed.
      const secret = passwordFile.text.split(/\r?\n/, 1)[0];
      if (secret === '') fail('CONFIG_ERR_BAD_VALUE', 'password_file', `key "password_file": ${passwordFile.name} is empty`);
      password = new SecretText(secret);
    }

    return {
      pv, addr, unit, namePrefix, password,
      pollPeriod: table.seconds('poll_period', 1),
      timeout: table.seconds('timeout', 2),
      line: table.line(),
    };
  });
}

/** The queueserver's own keys in redis (bluesky-queueserver plan_queue_ops.py): <name_prefix>_<name>, or <name> alone. */
export function queueserverKey(namePrefix: string, name: 'plan_queue' | 'plan_history' | 'lock_info'): string {
  return namePrefix ? `${namePrefix}_${name}` : name;
}
