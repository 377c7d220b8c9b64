/**
 * The [[queueserver]] tables of the IOC's configuration, one per RE Manager:
 *
 *   [[queueserver]]
 *   pv = "qs"                               # PVs are <prefix>qs:<Name>
 *   unit = "queueserver.service"            # optional: its environment gives the address
 *   control_addr = "tcp://localhost:60615"  # else from the unit, else this default
 *   info_addr = "tcp://localhost:60625"     # optional QS_Console / QS_Info stream
 *   public_key = "z85..."                   # or public_key_file: CurveZMQ
 *   lock_key_file = "..."                   # optional; the key never reaches a PV or a log
 *   encoding = "json"                       # or "msgpack" (--zmq-encoding); else the unit's QSERVER_ZMQ_ENCODING
 *   user_group = "primary"                  # whose plans_allowed / devices_allowed are counted
 *   redis = "qsredis"                       # optional: the [[redis]] pv of the manager's redis
 *   poll_period = 1.0                       # seconds
 *   timeout = 2.0                           # seconds
 *   control = true
 *
 * Every problem names the key and its line, through the caller's `fail`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ConfigErrorCode } from '../errors';
import { SecretText } from '../secret';
import { isValidUnitName } from '../unit-name';
import { ENCODINGS, isEncoding, type Encoding } from './protocol';
import { systemErrorText } from '../text';
import { MAX_TIMER_SECONDS } from '../timers';

export interface QueueserverConfig {
  /** PV name part: records are <prefix><pv>:<Name>. */
  pv: string;
  /** The manager's systemd unit, for its address when controlAddr is absent. */
  unit?: string;
  controlAddr?: string;
  infoAddr?: string;
  /** The manager's CurveZMQ public key (z85). */
  publicKey?: string;
  /** Added to every control request. */
  lockKey?: SecretText;
  /** The manager's --zmq-encoding, when configured. */
  encoding?: Encoding;
  /** The user group whose allowed plans and devices are counted. */
  userGroup: string;
  /** The pv of the [[redis]] table of the manager's redis. */
  redis?: string;
  /** Seconds. */
  pollPeriod: number;
  /** Seconds. */
  timeout: number;
  control: boolean;
  line: number;
}

export interface QueueserverConfigContext {
  /** Relative file names are relative to this directory (the configuration's). */
  base: string;
  prefix: string;
  line(key: string): number;
  fail(code: ConfigErrorCode, key: string, detail: string): never;
  /** PV name parts used by [[unit]] tables, with their lines. */
  unitPvs: ReadonlyMap<string, number>;
}

/** The user group the official clients use when none is given (bluesky-queueserver-api _defaults.py). */
export const DEFAULT_USER_GROUP = 'primary';

export const QUEUESERVER_KEYS = [
  'pv', 'unit', 'control_addr', 'info_addr', 'public_key', 'public_key_file', 'lock_key_file', 'encoding', 'user_group', 'redis', 'poll_period', 'timeout', 'control',
] as const;

/** Record-name characters that a PV part may use (as for [[unit]] pv). */
const PV_PART = /^[A-Za-z0-9_:\-[\]<>;+]*$/;
/** The longest record name suffix in db/queueserver*.db. */
const LONGEST_SUFFIX = ':QueueStopCancel';
/** DESC holds 40 characters; the templates' DESCs are "$(N) " + at most 13. */
const MAX_PV = 26;
const Z85_KEY = /^[0-9a-zA-Z.\-:+=^!/*?&<>()[\]{}@%$#]{40}$/;
const ADDRESS = /^(tcp:\/\/([^\s:/*]+|\[[0-9A-Fa-f:.]+\]):(\d{1,5})|ipc:\/\/\S+|inproc:\/\/\S+)$/;

export function parseQueueservers(raw: unknown, ctx: QueueserverConfigContext): QueueserverConfig[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) return ctx.fail('CONFIG_ERR_BAD_VALUE', 'queueserver', 'RE Managers are given as [[queueserver]] tables');
  const out: QueueserverConfig[] = [];
  const pvs = new Map<string, number>();
  const addresses = new Map<string, number>();
  raw.forEach((t: unknown, i) => {
    const where = `queueserver.${i}`;
    const label = `[[queueserver]] #${i + 1}: `;
    const fail = (code: ConfigErrorCode, key: string, detail: string): never => ctx.fail(code, key ? `${where}.${key}` : where, `${label}${detail}`);
    if (typeof t !== 'object' || t === null || Array.isArray(t)) return fail('CONFIG_ERR_BAD_VALUE', '', 'must be a table');
    const table = t as Record<string, unknown>;
    for (const k of Object.keys(table)) {
      if (!(QUEUESERVER_KEYS as readonly string[]).includes(k)) fail('CONFIG_ERR_UNKNOWN_KEY', k, `unknown key "${k}"; expected one of ${QUEUESERVER_KEYS.join(', ')}`);
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
    const file = (key: string): string | undefined => {
      const name = str(key);
      if (name === undefined) return undefined;
      const full = path.resolve(ctx.base, name);
      try {
        return fs.readFileSync(full, 'utf8');
      } catch (err) {
        return fail('CONFIG_ERR_FILE', key, `key "${key}": cannot read ${full}: ${systemErrorText(err)}`);
      }
    };
    const address = (key: string): string | undefined => {
      const a = str(key);
      if (a !== undefined && !ADDRESS.test(a)) fail('CONFIG_ERR_BAD_VALUE', key, `key "${key}": "${a}" is not a 0MQ address to connect to, e.g. "tcp://localhost:60615" or "ipc:///run/qs.sock"`);
      const port = a === undefined ? undefined : /^tcp:.*:(\d+)$/.exec(a)?.[1];
      if (port !== undefined && !(Number(port) >= 1 && Number(port) <= 65535)) fail('CONFIG_ERR_BAD_VALUE', key, `key "${key}": port ${port} is outside 1..65535`);
      return a;
    };

    const pv = str('pv') ?? fail('CONFIG_ERR_MISSING_KEY', '', 'missing key "pv"');
    if (pv === '' || !PV_PART.test(pv)) fail('CONFIG_ERR_BAD_VALUE', 'pv', `key "pv": "${pv}" is empty or has characters a record name cannot hold`);
    if (pv.length > MAX_PV) fail('CONFIG_ERR_BAD_VALUE', 'pv', `key "pv": "${pv}" is longer than ${MAX_PV} characters`);
    if (pvs.has(pv)) fail('CONFIG_ERR_DUPLICATE', 'pv', `key "pv": "${pv}" is already used by the [[queueserver]] on line ${pvs.get(pv)}`);
    // A unit's records and a manager's would share names (pv:Running).
    if (ctx.unitPvs.has(pv)) fail('CONFIG_ERR_DUPLICATE', 'pv', `key "pv": "${pv}" is already used by the [[unit]] on line ${ctx.unitPvs.get(pv)}`);
    const longest = `${ctx.prefix}${pv}${LONGEST_SUFFIX}`;
    if (Buffer.byteLength(longest) > 60) fail('CONFIG_ERR_BAD_VALUE', 'pv', `PV names such as "${longest}" would exceed 60 characters`);
    pvs.set(pv, ctx.line(`${where}.pv`));

    const unit = str('unit');
    if (unit !== undefined && !isValidUnitName(unit)) fail('CONFIG_ERR_BAD_VALUE', 'unit', `key "unit": "${unit}" is not a unit name (e.g. queueserver@25idc.service)`);
    const controlAddr = address('control_addr');
    if (controlAddr !== undefined) {
      if (addresses.has(controlAddr)) fail('CONFIG_ERR_DUPLICATE', 'control_addr', `key "control_addr": ${controlAddr} is already watched (line ${addresses.get(controlAddr)})`);
      addresses.set(controlAddr, ctx.line(`${where}.control_addr`));
    }
    const infoAddr = address('info_addr');

    if (table.public_key !== undefined && table.public_key_file !== undefined) fail('CONFIG_ERR_BAD_VALUE', 'public_key_file', 'give public_key or public_key_file, not both');
    let publicKey = str('public_key');
    let keyFrom = 'key "public_key"';
    const keyText = file('public_key_file');
    if (keyText !== undefined) {
      // The key alone, or a zcert file (public-key = "...").
      publicKey = /public-key\s*=\s*"([^"]*)"/.exec(keyText)?.[1] ?? keyText.trim();
      keyFrom = `the file of key "public_key_file"`;
    }
    if (publicKey !== undefined && !Z85_KEY.test(publicKey)) {
      fail('CONFIG_ERR_BAD_VALUE', keyText !== undefined ? 'public_key_file' : 'public_key', `${keyFrom} must hold a CurveZMQ public key: 40 characters of Z85`);
    }
    const lockText = file('lock_key_file');
    const lock = lockText?.trim();
    // Never echo the key itself.
    if (lock === '') fail('CONFIG_ERR_BAD_VALUE', 'lock_key_file', 'key "lock_key_file": the file is empty');
    const encoding = str('encoding');
    if (encoding !== undefined && !isEncoding(encoding)) fail('CONFIG_ERR_BAD_VALUE', 'encoding', `key "encoding" must be ${ENCODINGS.map((e) => `"${e}"`).join(' or ')} (the manager's --zmq-encoding), not "${encoding}"`);
    const userGroup = str('user_group') ?? DEFAULT_USER_GROUP;
    if (userGroup === '') fail('CONFIG_ERR_BAD_VALUE', 'user_group', 'key "user_group" is empty');
    const control = table.control ?? true;
    if (typeof control !== 'boolean') fail('CONFIG_ERR_BAD_VALUE', 'control', 'key "control" must be true or false');

    out.push({
      pv, unit, controlAddr, infoAddr, publicKey,
      lockKey: lock === undefined ? undefined : new SecretText(lock),
      encoding: encoding as Encoding | undefined,
      userGroup: userGroup,
      redis: str('redis'),
      pollPeriod: seconds('poll_period', 1),
      timeout: seconds('timeout', 2),
      control: control as boolean,
      line: ctx.line(where),
    });
  });
  return out;
}
