/**
 * The RE Manager's control protocol (bluesky-queueserver, see
 * shared/reference/queueserver.md) as data: request encoding, reply
 * decoding, the state vocabularies in the order the PVs enumerate them, and
 * how each status PV reads its value from the status dict. No sockets here:
 * client.ts and info.ts do the I/O.
 *
 * Encodings: a message is one frame holding one object, as UTF-8 JSON by
 * default, or as MessagePack when the manager runs with `--zmq-encoding
 * msgpack` (bluesky-queueserver >= 0.0.22, QSERVER_ZMQ_ENCODING): the same
 * {method, params} object and the same reply dict, packed with Python's
 * msgpack defaults (str as the str type, bytes as bin). Client and manager
 * must agree; a reply in the other encoding is a protocol error that says so.
 */
import { decode as unpack, encode as pack } from '@msgpack/msgpack';
import { ServiceIocError } from '../errors';

/** The address the official clients use when nothing else is configured. */
export const DEFAULT_CONTROL_ADDRESS = 'tcp://localhost:60615';

/** manager_state, in the order of the ManagerState mbbi (then `disconnected`). */
export const MANAGER_STATES = [
  'initializing', 'idle', 'paused', 'creating_environment', 'starting_queue', 'executing_queue', 'executing_task',
  'closing_environment', 'destroying_environment',
] as const;
/** The ManagerState value shown while the manager does not answer. */
export const MANAGER_DISCONNECTED = MANAGER_STATES.length;

/** re_state, after `none` (null: no environment), in the order of the REState mbbi. */
export const RE_STATES = ['none', 'idle', 'running', 'pausing', 'paused', 'halting', 'stopping', 'aborting', 'suspending', 'panicked'] as const;

/** worker_environment_state, in the order of the EnvState mbbi. */
export const ENV_STATES = ['initializing', 'idle', 'failed', 'reserved', 'executing_plan', 'executing_task', 'closing', 'closed'] as const;

/** result.exit_status of a history item, in the order of the LastExitStatus mbbi (then `none`: empty history). */
export const EXIT_STATUSES = ['completed', 'failed', 'stopped', 'aborted', 'halted', 'unknown'] as const;
export const EXIT_NONE = EXIT_STATUSES.length;

/** What an mbbi shows for a state it has no label for: above 15, so its UNSV alarm applies. */
export const UNKNOWN_STATE = 16;

export type QsErrorCode =
  | 'QS_ERR_TIMEOUT'    // no reply within the timeout; a wrong CURVE server key looks the same
  | 'QS_ERR_PROTOCOL'   // the reply is not one frame holding one object in the encoding (garbage, NaN, the other encoding)
  | 'QS_ERR_CLOSED';    // the client was closed while the request waited

/** Why a request to an RE Manager did not produce a usable reply. */
export class QsError extends ServiceIocError {
  declare readonly code: QsErrorCode;
  constructor(code: QsErrorCode, message: string) {
    super(code, message);
  }
}

export type Params = Record<string, string | number | boolean>;
export type Dict = Record<string, unknown>;

/** How messages are encoded on the manager's sockets (--zmq-encoding). */
export const ENCODINGS = ['json', 'msgpack'] as const;
export type Encoding = (typeof ENCODINGS)[number];
export const DEFAULT_ENCODING: Encoding = 'json';
export const ENCODING_VAR = 'QSERVER_ZMQ_ENCODING';

export function isEncoding(text: string): text is Encoding {
  return (ENCODINGS as readonly string[]).includes(text);
}

/** The methods we send that take (and require) a user group: the lists of what the group may use. */
const USER_GROUP_METHODS: ReadonlySet<string> = new Set(['plans_allowed', 'devices_allowed']);

/**
 * A request is exactly {method, params}; the manager refuses any other key,
 * and refuses `user`/`user_group` in the params of the control methods we send.
 */
export function encodeRequest(method: string, params: Params = {}, encoding: Encoding = DEFAULT_ENCODING): Buffer {
  if ('user' in params || ('user_group' in params && !USER_GROUP_METHODS.has(method))) throw new Error(`${method}: user and user_group are never sent`);
  return encodeMessage({ method, params }, encoding);
}

/** One object as one frame's bytes. */
export function encodeMessage(message: Dict, encoding: Encoding): Buffer {
  if (encoding === 'msgpack') {
    const bytes = pack(message);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  return Buffer.from(JSON.stringify(message), 'utf8');
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Which encoding a frame that holds one object looks like: a JSON object starts with "{" (after white space), a msgpack map with 0x80-0x8f, 0xde or 0xdf. */
export function looksLike(frame: Uint8Array): Encoding | undefined {
  let i = 0;
  while (i < frame.length && (frame[i] === 0x20 || frame[i] === 0x09 || frame[i] === 0x0a || frame[i] === 0x0d)) i++;
  const b = frame[i];
  if (b === 0x7b) return 'json';
  if (b !== undefined && ((b >= 0x80 && b <= 0x8f) || b === 0xde || b === 0xdf)) return 'msgpack';
  return undefined;
}

/** One reply: a single frame holding one object in `encoding`. Anything else is a QsError (QS_ERR_PROTOCOL). */
export function decodeReply(frames: readonly Uint8Array[], encoding: Encoding = DEFAULT_ENCODING): Dict {
  if (frames.length !== 1) throw new QsError('QS_ERR_PROTOCOL', `reply has ${frames.length} frames, expected 1`);
  return decodeMessage(frames[0], encoding, 'reply');
}

/** One frame's object; `what` names it in errors ("reply", "QS_Info message"). */
export function decodeMessage(frame: Uint8Array, encoding: Encoding, what: string): Dict {
  const seen = looksLike(frame);
  if (seen !== undefined && seen !== encoding) {
    throw new QsError('QS_ERR_PROTOCOL', `${what} is ${seen}, not ${encoding}: the manager runs with --zmq-encoding ${seen} (set encoding = "${seen}")`);
  }
  return encoding === 'msgpack' ? decodeMsgpack(frame, what) : decodeJson(frame, what);
}

function decodeMsgpack(frame: Uint8Array, what: string): Dict {
  let value: unknown;
  try {
    value = unpack(frame);
  } catch (err) {
    throw new QsError('QS_ERR_PROTOCOL', `${what} is not msgpack (${frame.length} bytes): ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    throw new QsError('QS_ERR_PROTOCOL', `${what} is not a msgpack map`);
  }
  return value as Dict;
}

function decodeJson(frame: Uint8Array, what: string): Dict {
  let text: string;
  try {
    text = UTF8.decode(frame);
  } catch {
    throw new QsError('QS_ERR_PROTOCOL', `${what} is not UTF-8 (${frame.length} bytes)`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // Python's json writes NaN/Infinity for floats in plan arguments; JSON (and JSON.parse) has neither.
    const why = /\b(NaN|-?Infinity)\b/.test(text) ? 'JSON with NaN or Infinity' : 'not JSON';
    throw new QsError('QS_ERR_PROTOCOL', `${what} is ${why}: ${preview(text)}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new QsError('QS_ERR_PROTOCOL', `${what} is not a JSON object: ${preview(text)}`);
  }
  return value as Dict;
}

/** The start of a peer's text, safe for a log line. */
export function preview(text: string, max = 80): string {
  const t = text.length > max ? `${text.slice(0, max)}...` : text;
  return JSON.stringify(t);
}

/** The outcome of a control method: {success, msg}. */
export interface ControlReply {
  success: boolean;
  msg: string;
}

export function controlReply(reply: Dict): ControlReply {
  if (typeof reply.success !== 'boolean') throw new QsError('QS_ERR_PROTOCOL', 'reply has no boolean "success"');
  return { success: reply.success, msg: typeof reply.msg === 'string' ? reply.msg : '' };
}

// ------------------------------------------------------------------ reading status

/** A PV's value read from a reply, or why it could not be read. */
export type Reading = { value: number | string; fault?: undefined } | { value?: undefined; fault: string };

type Reader = (status: Dict) => Reading;

function field(status: Dict, path: readonly string[]): { found: boolean; value: unknown } {
  let v: unknown = status;
  for (const k of path) {
    if (typeof v !== 'object' || v === null || !(k in v)) return { found: false, value: undefined };
    v = (v as Dict)[k];
  }
  return { found: true, value: v };
}

const missing = (path: readonly string[]): Reading => ({ fault: `missing "${path.join('.')}"` });
const wrongType = (path: readonly string[], v: unknown, want: string): Reading => ({ fault: `"${path.join('.')}" is ${preview(JSON.stringify(v) ?? String(v), 40)}, not ${want}` });

function bool(...path: string[]): Reader {
  return (s) => {
    const f = field(s, path);
    if (!f.found) return missing(path);
    return typeof f.value === 'boolean' ? { value: f.value ? 1 : 0 } : wrongType(path, f.value, 'a bool');
  };
}

function count(...path: string[]): Reader {
  return (s) => {
    const f = field(s, path);
    if (!f.found) return missing(path);
    return Number.isSafeInteger(f.value) && (f.value as number) >= 0 ? { value: f.value as number } : wrongType(path, f.value, 'a count');
  };
}

/** A string, or null (shown as ""). */
function text(key: string, nullable = false): Reader {
  return (s) => {
    const f = field(s, [key]);
    if (!f.found) return missing([key]);
    if (typeof f.value === 'string') return { value: f.value };
    return nullable && f.value === null ? { value: '' } : wrongType([key], f.value, 'a string');
  };
}

/** A state name as its index in `states`; null is `nullState`'s index when given. An unknown name reads as UNKNOWN_STATE. */
function state(key: string, states: readonly string[], nullState?: string): Reader {
  return (s) => {
    const f = field(s, [key]);
    if (!f.found) return missing([key]);
    const name = f.value === null && nullState !== undefined ? nullState : f.value;
    if (typeof name !== 'string') return wrongType([key], f.value, 'a state name');
    const i = states.indexOf(name);
    return { value: i < 0 ? UNKNOWN_STATE : i };
  };
}

/** How each status PV reads the status dict (`status`, and QS_Info's `msg.status`). */
export const STATUS_READERS = {
  Version: text('msg'),
  ManagerState: state('manager_state', MANAGER_STATES),
  REState: state('re_state', RE_STATES, 'none'),
  EnvExists: bool('worker_environment_exists'),
  EnvState: state('worker_environment_state', ENV_STATES),
  QueueLength: count('items_in_queue'),
  HistoryLength: count('items_in_history'),
  Running: (s: Dict): Reading => {
    const r = text('running_item_uid', true)(s);
    return r.fault !== undefined ? r : { value: r.value === '' ? 0 : 1 };
  },
  RunningItemUid: text('running_item_uid', true),
  StopPending: bool('queue_stop_pending'),
  PausePending: bool('pause_pending'),
  Autostart: bool('queue_autostart_enabled'),
  LoopMode: bool('plan_queue_mode', 'loop'),
  LockedEnv: bool('lock', 'environment'),
  LockedQueue: bool('lock', 'queue'),
  BackgroundTasks: count('worker_background_tasks'),
} satisfies Record<string, Reader>;

export type StatusName = keyof typeof STATUS_READERS;
export const STATUS_NAMES = Object.keys(STATUS_READERS) as StatusName[];

/** The raw state names behind the mbbi PVs, for log lines about unknown states. */
export const STATE_KEYS: Partial<Record<StatusName, string>> = {
  ManagerState: 'manager_state', REState: 're_state', EnvState: 'worker_environment_state',
};

/** The status uids that say when to re-read something. */
export type UidKey = 'plan_queue_uid' | 'plan_history_uid' | 'lock_info_uid' | 'plans_allowed_uid' | 'devices_allowed_uid';

/** A uid that says when to re-read a list (plan_queue_uid, plan_history_uid, lock_info_uid...); undefined when absent. */
export function uidOf(status: Dict, key: UidKey): string | undefined {
  const v = status[key];
  return typeof v === 'string' ? v : undefined;
}

/** RunningPlan from a queue_get reply: the running item's plan name, "" when idle. */
export function readRunningPlan(reply: Dict): Reading {
  const item = reply.running_item;
  if (item === undefined) return missing(['running_item']);
  if (item === null || (typeof item === 'object' && !Array.isArray(item) && Object.keys(item).length === 0)) return { value: '' };
  if (typeof item !== 'object' || Array.isArray(item)) return wrongType(['running_item'], item, 'an object');
  const name = (item as Dict).name;
  return typeof name === 'string' ? { value: name } : wrongType(['running_item', 'name'], name, 'a string');
}

/** LastExitStatus from a history_get reply: the newest item's result.exit_status; EXIT_NONE for an empty history. */
export function readLastExit(reply: Dict): Reading & { raw?: string } {
  const items = reply.items;
  if (!Array.isArray(items)) return items === undefined ? missing(['items']) : wrongType(['items'], items, 'a list');
  if (items.length === 0) return { value: EXIT_NONE };
  const last = items[items.length - 1] as unknown;
  const status = field({ last }, ['last', 'result', 'exit_status']);
  if (!status.found) return missing(['items[-1]', 'result', 'exit_status']);
  if (typeof status.value !== 'string') return wrongType(['items[-1]', 'result', 'exit_status'], status.value, 'a string');
  const i = (EXIT_STATUSES as readonly string[]).indexOf(status.value);
  return { value: i < 0 ? UNKNOWN_STATE : i, raw: status.value };
}

/** Who holds the lock and why, from a lock_info reply (user, note, time; null when unlocked). */
export interface LockReadings {
  LockUser: Reading;
  LockNote: Reading;
  LockTime: Reading;
}

export function readLockInfo(reply: Dict): LockReadings {
  const info = reply.lock_info;
  if (typeof info !== 'object' || info === null || Array.isArray(info)) {
    const f = info === undefined ? missing(['lock_info']) : wrongType(['lock_info'], info, 'an object');
    return { LockUser: f, LockNote: f, LockTime: f };
  }
  const d = info as Dict;
  const str = (key: string): Reading => {
    const v = d[key];
    if (v === undefined || v === null) return { value: '' };
    return typeof v === 'string' ? { value: v } : wrongType(['lock_info', key], v, 'a string');
  };
  // time_str is the manager's own rendering of time; an older manager may send only time (Unix seconds).
  let time = str('time_str');
  if (time.value === '' && typeof d.time === 'number' && Number.isFinite(d.time)) time = { value: new Date(d.time * 1000).toISOString().replace(/\.\d+Z$/, 'Z') };
  return { LockUser: str('user'), LockNote: str('note'), LockTime: time };
}

/** How many plans or devices a plans_allowed / devices_allowed reply allows (the keys of its dict). */
export function readAllowedCount(reply: Dict, key: 'plans_allowed' | 'devices_allowed'): Reading {
  const v = reply[key];
  if (v === undefined) return missing([key]);
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return wrongType([key], v, 'a dict');
  return { value: Object.keys(v).length };
}

// ------------------------------------------------------------------ the info stream

/** One message of the PUB info socket: [topic, {"time": float, "msg": ...}]. */
export type InfoMessage = { topic: 'QS_Console'; text: string } | { topic: 'QS_Info'; status: Dict } | { topic: 'other'; name: string };

export function decodeInfo(frames: readonly Uint8Array[], encoding: Encoding = DEFAULT_ENCODING): InfoMessage {
  if (frames.length !== 2) throw new QsError('QS_ERR_PROTOCOL', `info message has ${frames.length} frames, expected 2`);
  const topic = Buffer.from(frames[0]).toString('latin1');
  if (topic !== 'QS_Console' && topic !== 'QS_Info') return { topic: 'other', name: topic };
  const body = decodeMessage(frames[1], encoding, `${topic} message`);
  if (topic === 'QS_Console') {
    if (typeof body.msg !== 'string') throw new QsError('QS_ERR_PROTOCOL', 'QS_Console message has no string "msg"');
    return { topic, text: body.msg };
  }
  const msg = body.msg;
  const status = typeof msg === 'object' && msg !== null ? (msg as Dict).status : undefined;
  if (typeof status !== 'object' || status === null || Array.isArray(status)) throw new QsError('QS_ERR_PROTOCOL', 'QS_Info message has no "msg.status" object');
  return { topic, status: status as Dict };
}
