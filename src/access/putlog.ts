/**
 * The put log: time, client user, host and address, PV, old and new value,
 * and the result (done, denied, failed with the reason). Lines go to a file
 * (JSON lines, or caPutLog's text format) and to the journal.
 *
 * What is logged, as caPutLog decides it and beyond:
 * - A write that an access rule allows is logged when the rule has TRAPWRITE
 *   (caPutLog's asTrapWrite hook sees only those); with NOTRAPWRITE it is not.
 * - A write that is refused (no write access) or that fails is always logged
 *   (caPutLog never sees those).
 * - Bursts are one line, like caPutLog's burst filter: the first write of a
 *   client to a PV is logged at once; more writes by the same client to the
 *   same PV with the same result within the burst window are one line at the
 *   window's end with their count, the first and the last (new) value, the
 *   value before them (old) and, for numbers, min and max.
 * - Refused writes are summarised the same way over a longer interval, so a
 *   client hammering a PV it may not write costs a line per interval.
 * - The file is rotated at a size (FILE.1 ... FILE.N kept), and at most a
 *   budget of lines a second is taken; lines beyond it are dropped and a line
 *   says how many. The journal gets the same lines under the same budget.
 *
 * A line that cannot be written to the file is never lost silently: it still
 * reaches the journal, and `ok` turns false (served as IOC:PutLogOK).
 */
import * as fs from 'node:fs';
import type { DbrSource, DbrValue } from '../ca/protocol/types';
import type { WriteAttempt } from '../ca/pv';
import type { Logger } from '../log';

export type PutLogFormat = 'json' | 'text';

export interface PutLogOptions {
  /** JSON-lines (or text) file; none: journal only. */
  file?: string;
  format: PutLogFormat;
  log: Logger;
  /** The file is rotated before it grows past this many bytes; default 10 MiB. */
  maxBytes?: number;
  /** Rotated files kept (FILE.1 is the newest); default 3; 0 starts the file afresh. */
  keep?: number;
  /** Allowed (or failed) writes by one client to one PV within this are one line; default 1 s. */
  burstMs?: number;
  /** Refused writes by one client to one PV are one line per this; default 10 s. */
  deniedIntervalMs?: number;
  /** Lines a second the log takes on average; default 20. */
  linesPerSecond?: number;
  /** Lines the log takes at once before the average applies; default 200. */
  lineBurst?: number;
}

export const PUTLOG_DEFAULTS = { maxBytes: 10 * 1024 * 1024, keep: 3, burstMs: 1000, deniedIntervalMs: 10_000, linesPerSecond: 20, lineBurst: 200 };

/** Writes of one client to one PV with one result, since the last line about them. */
interface Burst {
  timer: NodeJS.Timeout;
  /** Writes not yet in a line. */
  count: number;
  old: DbrSource | undefined;
  first: DbrValue | undefined;
  last: WriteAttempt | undefined;
  min: number;
  max: number;
}

/** Open bursts at most; a write beyond them is logged on its own (under the line budget). */
const MAX_BURSTS = 10_000;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n: number): string => String(n).padStart(2, '0');

/** Elements as caPutLog shows them: enum labels, NaN/Inf as strings, arrays as lists. */
export function showValue(value: DbrValue | undefined, enumStrings: readonly string[] = []): unknown {
  if (value === undefined) return null;
  const els = Array.from(value as ArrayLike<number | string>).map((v) => {
    if (typeof v === 'number' && enumStrings.length && Number.isInteger(v) && enumStrings[v] !== undefined) return enumStrings[v];
    if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
    return v;
  });
  return els.length === 1 ? els[0] : els;
}

export class PutLog {
  private fd: number | undefined;
  private _ok = true;
  private lastError = '';
  private readonly listeners = new Set<(ok: boolean) => void>();
  private size = 0;
  private readonly bursts = new Map<string, Burst>();
  private readonly maxBytes: number;
  private readonly keep: number;
  private readonly burstMs: number;
  private readonly deniedIntervalMs: number;
  private readonly linesPerSecond: number;
  private readonly lineBurst: number;
  private tokens: number;
  private refilled = Date.now();
  private dropped = 0;
  private dropTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: PutLogOptions) {
    const d = PUTLOG_DEFAULTS;
    this.maxBytes = opts.maxBytes ?? d.maxBytes;
    this.keep = opts.keep ?? d.keep;
    this.burstMs = opts.burstMs ?? d.burstMs;
    this.deniedIntervalMs = opts.deniedIntervalMs ?? d.deniedIntervalMs;
    this.linesPerSecond = opts.linesPerSecond ?? d.linesPerSecond;
    this.lineBurst = opts.lineBurst ?? d.lineBurst;
    this.tokens = this.lineBurst;
    if (opts.file) this.open();
  }

  get ok(): boolean {
    return this._ok;
  }

  get error(): string {
    return this.lastError;
  }

  onStatus(listener: (ok: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private setOk(ok: boolean, error = ''): void {
    this.lastError = error;
    if (ok === this._ok) return;
    this._ok = ok;
    for (const l of [...this.listeners]) l(ok);
  }

  private open(): boolean {
    try {
      this.fd = fs.openSync(this.opts.file!, 'a', 0o640);
      this.size = fs.fstatSync(this.fd).size;
      return true;
    } catch (err) {
      this.fd = undefined;
      this.fail(`cannot open ${this.opts.file}: ${(err as Error).message}`);
      return false;
    }
  }

  private fail(reason: string): void {
    if (this._ok) this.opts.log.error('put log file failed; lines go to the journal only', { reason });
    this.setOk(false, reason);
  }

  /** The auditor to give the CA server. */
  readonly audit = (a: WriteAttempt): void => {
    if (a.outcome === 'done' && !a.trapWrite) return;
    const key = `${a.outcome}\0${a.client.user}\0${a.client.host}\0${a.client.address}\0${a.pv}`;
    const burst = this.bursts.get(key);
    if (burst) {
      if (burst.count === 0) {
        burst.old = a.old;
        burst.first = a.value;
        burst.min = Infinity;
        burst.max = -Infinity;
      }
      burst.count++;
      burst.last = a;
      const v = scalarNumber(a.value);
      if (v !== undefined) {
        burst.min = Math.min(burst.min, v);
        burst.max = Math.max(burst.max, v);
      }
      return;
    }
    this.write(a);
    if (this.bursts.size >= MAX_BURSTS) return;
    const window = a.outcome === 'denied' ? this.deniedIntervalMs : this.burstMs;
    const entry: Burst = { timer: setTimeout(() => this.endWindow(key, entry, window), window), count: 0, old: undefined, first: undefined, last: undefined, min: Infinity, max: -Infinity };
    entry.timer.unref?.();
    this.bursts.set(key, entry);
  };

  /** A window of a client's writes to a PV is over: one line for them, and one more window while they go on. */
  private endWindow(key: string, burst: Burst, window: number): void {
    if (burst.count === 0 || !burst.last) {
      this.bursts.delete(key);
      return;
    }
    const a = burst.last;
    if (burst.count === 1) this.write({ ...a, old: burst.old });
    else {
      const summary: BurstSummary = { count: burst.count, first: burst.first };
      if (burst.min <= burst.max) Object.assign(summary, { min: burst.min, max: burst.max });
      this.write({ ...a, old: burst.old }, summary);
    }
    burst.count = 0;
    burst.last = undefined;
    burst.timer = setTimeout(() => this.endWindow(key, burst, window), window);
    burst.timer.unref?.();
  }

  /** Write every pending burst line now (the IOC is stopping). */
  flush(): void {
    for (const [key, burst] of [...this.bursts]) {
      clearTimeout(burst.timer);
      if (burst.count > 0) this.endWindow(key, burst, 0);
      clearTimeout(burst.timer);
      this.bursts.delete(key);
    }
    this.noteDropped();
  }

  write(a: WriteAttempt, burst?: BurstSummary): void {
    const snap: DbrSource | undefined = a.old;
    const enums = snap?.metadata.enumStrings ?? [];
    const now = new Date();
    const result = a.outcome === 'failed' ? `failed: ${a.reason ?? ''}` : a.outcome;
    const entry: Record<string, unknown> = {
      date: isoDate(now),
      time: isoTime(now),
      host: a.client.host,
      user: a.client.user,
      address: a.client.address,
      pv: a.pv,
      new: showValue(a.value, enums),
      old: showValue(snap?.value, enums),
      result,
    };
    if (a.code) entry.code = a.code;
    let extra = '';
    if (burst) {
      entry.count = burst.count;
      entry.first = showValue(burst.first, enums);
      extra = ` count=${burst.count} first=${fmt(entry.first)}`;
      if (burst.min !== undefined && burst.max !== undefined) {
        entry.min = showValue([burst.min], enums);
        entry.max = showValue([burst.max], enums);
        extra += ` min=${fmt(entry.min)} max=${fmt(entry.max)}`;
      }
    }
    const line = this.opts.format === 'json'
      ? JSON.stringify(entry)
      : `${textStamp(now)} ${word(a.client.host)} ${word(a.client.user)} ${word(a.pv)} new=${fmt(entry.new)} old=${fmt(entry.old)}${extra}${result === 'done' ? '' : ` result=${word(result)}`}`;
    this.emit(line);
  }

  /** One line to the journal and the file, if the line budget has room. */
  private emit(line: string): void {
    if (!this.takeToken()) {
      if (this.dropped++ === 0) {
        this.dropTimer = setTimeout(() => this.noteDropped(), 1000 / this.linesPerSecond + 1000);
        this.dropTimer.unref?.();
      }
      return;
    }
    this.noteDropped();
    this.output(line);
  }

  /** Say how many lines the budget dropped (this line itself is outside the budget). */
  private noteDropped(): void {
    if (this.dropTimer) clearTimeout(this.dropTimer);
    this.dropTimer = undefined;
    if (this.dropped === 0) return;
    const n = this.dropped;
    this.dropped = 0;
    const text = `${n} put log line${n === 1 ? '' : 's'} dropped: more than ${this.linesPerSecond} a second`;
    this.output(this.opts.format === 'json' ? JSON.stringify({ date: isoDate(new Date()), time: isoTime(new Date()), dropped: n, reason: text }) : `${textStamp(new Date())} ${text}`);
  }

  private takeToken(): boolean {
    const now = Date.now();
    this.tokens = Math.min(this.lineBurst, this.tokens + ((now - this.refilled) / 1000) * this.linesPerSecond);
    this.refilled = now;
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }

  private output(line: string): void {
    this.opts.log.info(`put ${line}`);
    if (!this.opts.file) return;
    if (this.fd === undefined && !this.open()) return;
    const bytes = Buffer.byteLength(line) + 1;
    if (this.size > 0 && this.size + bytes > this.maxBytes) this.rotate();
    if (this.fd === undefined) return;
    try {
      fs.writeSync(this.fd, line + '\n');
      this.size += bytes;
      this.setOk(true);
    } catch (err) {
      this.fail(`cannot write ${this.opts.file}: ${(err as Error).message}`);
      try {
        fs.closeSync(this.fd);
      } catch {
        // already unusable
      }
      this.fd = undefined;
    }
  }

  /** FILE becomes FILE.1, FILE.1 becomes FILE.2 ... up to `keep`; a new FILE is started. */
  private rotate(): void {
    const file = this.opts.file!;
    try {
      if (this.fd !== undefined) fs.closeSync(this.fd);
    } catch {
      // reopened below
    }
    this.fd = undefined;
    try {
      if (this.keep === 0) fs.rmSync(file, { force: true });
      for (let i = this.keep; i >= 1; i--) {
        const from = i === 1 ? file : `${file}.${i - 1}`;
        if (fs.existsSync(from)) fs.renameSync(from, `${file}.${i}`);
      }
    } catch (err) {
      this.fail(`cannot rotate ${file}: ${(err as Error).message}`);
    }
    this.open();
  }

  close(): void {
    this.flush();
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}

/** What a burst line adds: how many writes, the first value, and min and max of numbers. */
export interface BurstSummary {
  count: number;
  first: DbrValue | undefined;
  min?: number;
  max?: number;
}

function scalarNumber(v: DbrValue | undefined): number | undefined {
  if (!v || v.length !== 1) return undefined;
  const x = (v as ArrayLike<number | string>)[0];
  return typeof x === 'number' && Number.isFinite(x) ? x : undefined;
}

function isoDate(d: Date): string {
  return `${d.getUTCFullYear()}-${two(d.getUTCMonth() + 1)}-${two(d.getUTCDate())}`;
}

function isoTime(d: Date): string {
  return `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}.${String(d.getUTCMilliseconds()).padStart(3, '0')}`;
}

/** caPutLog's default time format, %d-%b-%y %H:%M:%S (in UTC here). */
function textStamp(d: Date): string {
  return `${two(d.getUTCDate())}-${MONTHS[d.getUTCMonth()]}-${two(d.getUTCFullYear() % 100)} ${isoTime(d).slice(0, 8)}`;
}

function fmt(v: unknown): string {
  return Array.isArray(v) ? v.map(word).join(',') : word(v);
}

/**
 * One word of the text format: a string with white space, a quote, a comma
 * or a control character is quoted with its specials escaped (as caPutLog
 * does from release 4), so that a client's text cannot end a line or forge a
 * field.
 */
function word(v: unknown): string {
  const s = String(v);
  // eslint-disable-next-line no-control-regex
  return typeof v === 'string' && (s === '' || /[\s",\x00-\x1f\x7f]/.test(s)) ? JSON.stringify(s) : s;
}
