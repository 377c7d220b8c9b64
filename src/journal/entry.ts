/**
 * One journal entry as `journalctl --output=json` prints it, reduced to what
 * an operator's screen shows. journalctl(1) "JSON": every field is a string,
 * except a value that is not valid UTF-8 (an array of byte values) and a
 * field that occurs more than once in the entry (an array of those); a field
 * too large for journalctl's field size limit is null.
 */

export interface JournalLine {
  /** The unit the line is about (its own output, or the manager's message about it). */
  readonly unit: string;
  /** __REALTIME_TIMESTAMP, microseconds since the epoch. */
  readonly timeUs: number;
  /** syslog priority, 0 (emerg) .. 7 (debug); 6 when absent. */
  readonly priority: number;
  /** SYSLOG_IDENTIFIER, else _COMM. */
  readonly identifier: string;
  readonly pid: number;
  readonly message: string;
  /** Logged by the service manager about the unit (USER_UNIT=/UNIT=), not by the unit's processes. */
  readonly fromManager: boolean;
  readonly cursor: string;
  /** The cursor's sequence id and number, read once (undefined when the cursor has none). */
  readonly sequence: CursorSequence | undefined;
}

export interface CursorSequence {
  readonly id: string;
  /** The sequence number in lowercase hex without leading zeros (a line stays plain JSON data). */
  readonly seq: string;
}

/**
 * Journal order: by __REALTIME_TIMESTAMP, and among entries of the same
 * microsecond (journald stamps every line of one read of a stream at once
 * closely enough to tie) by their sequence number, which the cursor carries
 * (`s=<sequence id>;i=<seqnum, hex>;...`, sd_journal_get_cursor(3)) and which
 * only orders entries of one sequence id. Negative when `a` comes first.
 */
export function journalOrder(a: JournalLine, b: JournalLine): number {
  if (a.timeUs !== b.timeUs) return a.timeUs - b.timeUs;
  const sa = a.sequence;
  const sb = b.sequence;
  if (!sa || !sb || sa.id !== sb.id) return 0;
  // Hex digits without leading zeros: the longer is the larger, else the text order.
  if (sa.seq.length !== sb.seq.length) return sa.seq.length - sb.seq.length;
  return sa.seq < sb.seq ? -1 : sa.seq > sb.seq ? 1 : 0;
}

function cursorSequence(cursor: string): CursorSequence | undefined {
  let id: string | undefined;
  let seq: string | undefined;
  for (const part of cursor.split(';')) {
    if (part.startsWith('s=')) id = part.slice(2);
    else if (part.startsWith('i=') && /^[0-9a-f]+$/i.test(part.slice(2))) seq = part.slice(2).toLowerCase().replace(/^0+(?=.)/, '');
  }
  return id !== undefined && seq !== undefined ? { id, seq } : undefined;
}

/**
 * Keeps `l` in `list` (journal order, oldest first, at most `n`): a line
 * already kept (same cursor) or older than all `n` kept is left out, and the
 * oldest go when the list is full. True when the list changed.
 */
export function keepLine(list: JournalLine[], l: JournalLine, n: number): boolean {
  if (list.some((x) => x.cursor === l.cursor)) return false;
  if (list.length >= n && journalOrder(l, list[0]) < 0) return false;
  let i = list.length;
  while (i > 0 && journalOrder(list[i - 1], l) > 0) i--;
  list.splice(i, 0, l);
  if (list.length > n) list.splice(0, list.length - n);
  return true;
}

/** Which journal a unit's lines are in: a user manager's (`--user-unit`) or the system's (`--unit`). */
export type JournalScope = 'user' | 'system';

/** The fields journalctl needs to print (--output-fields); cursor and timestamps always come. */
export const OUTPUT_FIELDS = [
  'MESSAGE', 'PRIORITY', 'SYSLOG_IDENTIFIER', '_COMM', '_PID', 'USER_UNIT', 'UNIT', 'OBJECT_SYSTEMD_USER_UNIT',
  'OBJECT_SYSTEMD_UNIT', 'COREDUMP_USER_UNIT', 'COREDUMP_UNIT', '_SYSTEMD_USER_UNIT', '_SYSTEMD_UNIT',
] as const;

/** Fields naming the unit, most specific first, per scope (what journalctl -u / --user-unit matches). */
const UNIT_FIELDS: Record<JournalScope, { manager: string[]; own: string }> = {
  user: { manager: ['USER_UNIT', 'OBJECT_SYSTEMD_USER_UNIT', 'COREDUMP_USER_UNIT'], own: '_SYSTEMD_USER_UNIT' },
  system: { manager: ['UNIT', 'OBJECT_SYSTEMD_UNIT', 'COREDUMP_UNIT'], own: '_SYSTEMD_UNIT' },
};

/** A field's text: arrays of byte values decode as UTF-8 (with replacement), repeated fields take the last. */
export function fieldText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) {
    if (v.length > 0 && v.every((b) => typeof b === 'number')) return Buffer.from(v as number[]).toString('utf8');
    for (let i = v.length - 1; i >= 0; i--) {
      const t = fieldText(v[i]);
      if (t !== undefined) return t;
    }
  }
  return undefined;
}

/**
 * The line of one JSON entry for one of `units`, or undefined when it is for
 * none of them or is not an entry (journalctl prints nothing else in JSON,
 * but a line cut short or garbage must not stop the follower).
 */
export function parseEntry(json: string, scope: JournalScope, units: ReadonlySet<string>): JournalLine | undefined {
  let o: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(json);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined;
    o = parsed as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const cursor = fieldText(o.__CURSOR);
  const time = Number(fieldText(o.__REALTIME_TIMESTAMP));
  if (!cursor || !Number.isFinite(time)) return undefined;
  const f = UNIT_FIELDS[scope];
  let unit: string | undefined;
  let fromManager = false;
  for (const k of f.manager) {
    const u = fieldText(o[k]);
    if (u && units.has(u)) {
      unit = u;
      fromManager = true;
      break;
    }
  }
  if (!unit) {
    const u = fieldText(o[f.own]);
    if (u && units.has(u)) unit = u;
  }
  if (!unit) return undefined;
  const prio = Number(fieldText(o.PRIORITY));
  return {
    unit,
    timeUs: time,
    priority: Number.isInteger(prio) && prio >= 0 && prio <= 7 ? prio : 6,
    identifier: fieldText(o.SYSLOG_IDENTIFIER) ?? fieldText(o._COMM) ?? '',
    pid: Number(fieldText(o._PID)) || 0,
    // A null MESSAGE was too large for journalctl to print.
    message: (fieldText(o.MESSAGE) ?? (o.MESSAGE === null ? '[message too large]' : '')).replace(/\s+$/, ''),
    fromManager,
    cursor,
    sequence: cursorSequence(cursor),
  };
}

const pad = (n: number): string => String(n).padStart(2, '0');

/** "2026-12-02 07:52:07 sh[14249]: failing on purpose", in the IOC's local time like journalctl's short format. */
export function formatLine(l: JournalLine): string {
  const d = new Date(Math.floor(l.timeUs / 1000));
  const when = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  const who = l.identifier ? `${l.identifier}${l.pid ? `[${l.pid}]` : ''}: ` : '';
  return `${when} ${who}${l.message}`;
}
