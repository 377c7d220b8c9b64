/**
 * What service-ioc reads from a redis server, as data: the INFO fields
 * behind each PV (https://redis.io/commands/info: sections server, memory,
 * persistence, clients) and the queueserver's own keys
 * (bluesky-queueserver plan_queue_ops.py: the queue and the history are
 * lists, `lock_info` a string holding a JSON object). No sockets here:
 * client.ts does the I/O.
 */

/** A PV's value, or why it could not be read. */
export type Reading = { value: number | string; fault?: undefined } | { value?: undefined; fault: string };

/** INFO's text: "# Section" lines, then "field:value" lines. */
export function parseInfo(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split(/\r?\n/)) {
    if (raw === '' || raw.startsWith('#')) continue;
    const i = raw.indexOf(':');
    if (i > 0) out.set(raw.slice(0, i), raw.slice(i + 1));
  }
  return out;
}

function number(info: ReadonlyMap<string, string>, field: string): Reading {
  const v = info.get(field);
  if (v === undefined) return { fault: `INFO has no ${field}` };
  const n = Number(v);
  return Number.isFinite(n) && v.trim() !== '' ? { value: n } : { fault: `INFO ${field} is ${JSON.stringify(v)}, not a number` };
}

const MIB = 1024 * 1024;

/**
 * Persistence is OK (1) unless the last RDB save failed (rdb_last_bgsave_status)
 * or, with AOF on, the last AOF write failed (aof_last_write_status): then
 * redis refuses writes (MISCONF) and the queueserver cannot change its queue.
 */
function persistence(info: ReadonlyMap<string, string>): Reading & { why?: string } {
  const rdb = info.get('rdb_last_bgsave_status');
  if (rdb === undefined) return { fault: 'INFO has no rdb_last_bgsave_status' };
  const failures: string[] = [];
  if (rdb !== 'ok') failures.push(`last RDB save: ${rdb}`);
  if (info.get('aof_enabled') === '1') {
    const aof = info.get('aof_last_write_status') ?? 'unknown';
    if (aof !== 'ok') failures.push(`last AOF write: ${aof}`);
  }
  return failures.length ? { value: 0, why: failures.join(', ') } : { value: 1 };
}

/** The INFO readings, by PV name. */
export interface InfoReadings {
  Version: Reading;
  UsedMemory: Reading;
  Persistence: Reading & { why?: string };
  /** rdb_last_save_time: Unix seconds; LastSaveAge is counted from it when read. */
  LastSaveTime: Reading;
  ConnectedClients: Reading;
}

export function readInfo(info: ReadonlyMap<string, string>): InfoReadings {
  const mem = number(info, 'used_memory');
  const version = info.get('redis_version');
  return {
    Version: version === undefined ? { fault: 'INFO has no redis_version' } : { value: version },
    UsedMemory: mem.fault !== undefined ? mem : { value: (mem.value as number) / MIB },
    Persistence: persistence(info),
    LastSaveTime: number(info, 'rdb_last_save_time'),
    ConnectedClients: number(info, 'connected_clients'),
  };
}

/**
 * Locked from the value of `<name_prefix>_lock_info`: 1 when the manager's
 * environment or queue is locked; no key (null) is unlocked. The object also
 * holds the lock key itself: nothing but the two flags is read from it.
 */
export function readLockInfo(value: string | null): Reading {
  if (value === null) return { value: 0 };
  let obj: unknown;
  try {
    obj = JSON.parse(value);
  } catch {
    return { fault: 'lock_info is not JSON' };
  }
  if (obj === null) return { value: 0 };
  if (typeof obj !== 'object' || Array.isArray(obj)) return { fault: 'lock_info is not a JSON object' };
  const o = obj as Record<string, unknown>;
  for (const k of ['environment', 'queue']) {
    if (o[k] !== undefined && typeof o[k] !== 'boolean') return { fault: `lock_info.${k} is not a bool` };
  }
  return { value: o.environment === true || o.queue === true ? 1 : 0 };
}
