/**
 * The put log: one line per write attempt — time, client user, host and
 * address, PV, old and new value, and the result (done, denied, failed with
 * the reason). Lines go to a file (JSON lines, or caPutLog's text format)
 * and to the journal. As in caPutLog, TRAPWRITE/NOTRAPWRITE rules decide
 * which successful writes are logged; refused and failed attempts always are.
 *
 * A line that cannot be written to the file is never lost silently: it still
 * reaches the journal, and `ok` turns false (served as IOC:PutLogOK).
 */
import * as fs from 'node:fs';
import type { DbrSource, DbrValue } from '../ca/protocol/types';
import type { WriteAttempt } from '../ca/server/pv';
import type { Logger } from '../log';

export type PutLogFormat = 'json' | 'text';

export interface PutLogOptions {
  /** JSON-lines (or text) file; none: journal only. */
  file?: string;
  format: PutLogFormat;
  log: Logger;
}

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

  constructor(private readonly opts: PutLogOptions) {
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
    this.write(a);
  };

  write(a: WriteAttempt): void {
    const snap: DbrSource | undefined = a.old;
    const enums = snap?.metadata.enumStrings ?? [];
    const now = new Date();
    const result = a.outcome === 'failed' ? `failed: ${a.reason ?? ''}` : a.outcome;
    const entry = {
      date: `${now.getUTCFullYear()}-${two(now.getUTCMonth() + 1)}-${two(now.getUTCDate())}`,
      time: `${two(now.getUTCHours())}:${two(now.getUTCMinutes())}:${two(now.getUTCSeconds())}.${String(now.getUTCMilliseconds()).padStart(3, '0')}`,
      host: a.client.host,
      user: a.client.user,
      address: a.client.address,
      pv: a.pv,
      new: showValue(a.value, enums),
      old: showValue(snap?.value, enums),
      result,
    };
    const line = this.opts.format === 'json'
      ? JSON.stringify(entry)
      : `${two(now.getUTCDate())}-${MONTHS[now.getUTCMonth()]}-${two(now.getUTCFullYear() % 100)} ${entry.time.slice(0, 8)} ${entry.host} ${entry.user} ${entry.pv} new=${fmt(entry.new)} old=${fmt(entry.old)}${result === 'done' ? '' : ` result=${result}`}`;
    this.opts.log.info(`put ${line}`);
    if (!this.opts.file) return;
    if (this.fd === undefined && !this.open()) return;
    try {
      fs.writeSync(this.fd!, line + '\n');
      this.setOk(true);
    } catch (err) {
      this.fail(`cannot write ${this.opts.file}: ${(err as Error).message}`);
      try {
        fs.closeSync(this.fd!);
      } catch {
        // already unusable
      }
      this.fd = undefined;
    }
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}

function fmt(v: unknown): string {
  return Array.isArray(v) ? v.join(',') : String(v);
}
