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
import { readTables, type ConfigTablesContext, type TableKind } from '../config-table';
import { SecretText } from '../secret';
import { isValidUnitName } from '../unit-name';
import { ENCODINGS, isEncoding, type Encoding } from './protocol';

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

export interface QueueserverConfigContext extends ConfigTablesContext {
  /** PV name parts already used by other tables ([[unit]]), with what uses them. */
  usedPvs: ReadonlyMap<string, string>;
}

/** The user group the official clients use when none is given (bluesky-queueserver-api _defaults.py). */
export const DEFAULT_USER_GROUP = 'primary';

export const QUEUESERVER_KEYS = [
  'pv', 'unit', 'control_addr', 'info_addr', 'public_key', 'public_key_file', 'lock_key_file', 'encoding', 'user_group', 'redis', 'poll_period', 'timeout', 'control',
] as const;

const QUEUESERVER_TABLE: TableKind = {
  name: 'queueserver', keys: QUEUESERVER_KEYS, what: 'RE Managers',
  // The longest record name suffix in db/queueserver*.db.
  longestSuffix: ':QueueStopCancel',
};
const Z85_KEY = /^[0-9a-zA-Z.\-:+=^!/*?&<>()[\]{}@%$#]{40}$/;
const ADDRESS = /^(tcp:\/\/([^\s:/*]+|\[[0-9A-Fa-f:.]+\]):(\d{1,5})|ipc:\/\/\S+|inproc:\/\/\S+)$/;

export function parseQueueservers(raw: unknown, ctx: QueueserverConfigContext): QueueserverConfig[] {
  const pvs = new Map<string, number>();
  const addresses = new Map<string, number>();
  return readTables(raw, QUEUESERVER_TABLE, ctx, (table) => {
    const fail = table.fail;
    const address = (key: string): string | undefined => {
      const a = table.str(key);
      if (a !== undefined && !ADDRESS.test(a)) fail('CONFIG_ERR_BAD_VALUE', key, `key "${key}": "${a}" is not a 0MQ address to connect to, e.g. "tcp://localhost:60615" or "ipc:///run/qs.sock"`);
      const port = a === undefined ? undefined : /^tcp:.*:(\d+)$/.exec(a)?.[1];
      if (port !== undefined && !(Number(port) >= 1 && Number(port) <= 65535)) fail('CONFIG_ERR_BAD_VALUE', key, `key "${key}": port ${port} is outside 1..65535`);
      return a;
    };

    const pv = table.pvPart(pvs, ctx.usedPvs);

    const unit = table.str('unit');
    if (unit !== undefined && !isValidUnitName(unit)) fail('CONFIG_ERR_BAD_VALUE', 'unit', `key "unit": "${unit}" is not a unit name (e.g. queueserver@25idc.service)`);
    const controlAddr = address('control_addr');
    if (controlAddr !== undefined) {
      if (addresses.has(controlAddr)) fail('CONFIG_ERR_DUPLICATE', 'control_addr', `key "control_addr": ${controlAddr} is already watched (line ${addresses.get(controlAddr)})`);
      addresses.set(controlAddr, table.line('control_addr'));
    }
    const infoAddr = address('info_addr');

    if (table.has('public_key') && table.has('public_key_file')) fail('CONFIG_ERR_BAD_VALUE', 'public_key_file', 'give public_key or public_key_file, not both');
    let publicKey = table.str('public_key');
    let keyFrom = 'key "public_key"';
    const keyText = table.file('public_key_file')?.text;
    if (keyText !== undefined) {
      // The key alone, or a zcert file (public-key = "...").
      publicKey = /public-key\s*=\s*"([^"]*)"/.exec(keyText)?.[1] ?? keyText.trim();
      keyFrom = `the file of key "public_key_file"`;
    }
    if (publicKey !== undefined && !Z85_KEY.test(publicKey)) {
      fail('CONFIG_ERR_BAD_VALUE', keyText !== undefined ? 'public_key_file' : 'public_key', `${keyFrom} must hold a CurveZMQ public key: 40 characters of Z85`);
    }
    const lockText = table.file('lock_key_file')?.text;
    const lock = lockText?.trim();
    // Never echo the key itself.
    if (lock === '') fail('CONFIG_ERR_BAD_VALUE', 'lock_key_file', 'key "lock_key_file": the file is empty');
    const encoding = table.str('encoding');
    if (encoding !== undefined && !isEncoding(encoding)) fail('CONFIG_ERR_BAD_VALUE', 'encoding', `key "encoding" must be ${ENCODINGS.map((e) => `"${e}"`).join(' or ')} (the manager's --zmq-encoding), not "${encoding}"`);
    const userGroup = table.str('user_group') ?? DEFAULT_USER_GROUP;
    if (userGroup === '') fail('CONFIG_ERR_BAD_VALUE', 'user_group', 'key "user_group" is empty');
    return {
      pv, unit, controlAddr, infoAddr, publicKey,
      lockKey: lock === undefined ? undefined : new SecretText(lock),
      encoding: encoding as Encoding | undefined,
      userGroup: userGroup,
      redis: table.str('redis'),
      pollPeriod: table.seconds('poll_period', 1),
      timeout: table.seconds('timeout', 2),
      control: table.bool('control', true),
      line: table.line(),
    };
  });
}
