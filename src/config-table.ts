/**
 * The tables of one array of tables in the IOC's configuration
 * ([[queueserver]], [[redis]]), each read key by key with the checks every
 * such table shares: only known keys, typed values, seconds a timer can
 * hold, files relative to the configuration, and a `pv` that names records.
 *
 * Every problem names the table ("[[redis]] #2: ") and its key, and reaches
 * the caller's `fail` with the key's path ("redis.1.addr"), which the caller
 * turns into a file and line.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ConfigErrorCode } from './errors';
import { systemErrorText } from './text';
import { MAX_TIMER_SECONDS } from './timers';

export interface ConfigTablesContext {
  /** Relative file names are relative to this directory (the configuration's). */
  base: string;
  /** The IOC's PV prefix, for the length of the names a table's pv makes. */
  prefix: string;
  line(key: string): number;
  fail(code: ConfigErrorCode, key: string, detail: string): never;
}

/** What one kind of table is. */
export interface TableKind {
  /** The array's name: "redis" for [[redis]]. */
  name: string;
  keys: readonly string[];
  /** What the tables stand for, for the error when the array is no array: "redis servers". */
  what: string;
  /** The longest record name suffix of the kind's templates (":ConnectedClients"). */
  longestSuffix: string;
}

/** Record-name characters that a PV part (a prefix, a table's pv) may use. */
export const PV_PART = /^[A-Za-z0-9_:\-[\]<>;+]*$/;
/** DESC holds 40 characters; the templates' DESCs are "$(N) " + at most 13. */
const MAX_PV = 26;
/** The longest record name EPICS base allows (PVNAME_STRINGSZ - 1). */
const MAX_NAME = 60;

export class ConfigTable {
  /** The table's path in the document: "redis.0". */
  readonly where: string;
  private readonly label: string;

  constructor(
    private readonly values: Record<string, unknown>,
    private readonly kind: TableKind,
    index: number,
    private readonly ctx: ConfigTablesContext,
  ) {
    this.where = `${kind.name}.${index}`;
    this.label = `[[${kind.name}]] #${index + 1}: `;
  }

  /** Report a problem with `key` ('' for the table itself). */
  readonly fail = (code: ConfigErrorCode, key: string, detail: string): never =>
    this.ctx.fail(code, key ? `${this.where}.${key}` : this.where, `${this.label}${detail}`);

  /** The line of `key`, or of the table when it is not given. */
  line(key?: string): number {
    return this.ctx.line(key ? `${this.where}.${key}` : this.where);
  }

  has(key: string): boolean {
    return this.values[key] !== undefined;
  }

  str(key: string): string | undefined {
    const v = this.values[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') return this.fail('CONFIG_ERR_BAD_VALUE', key, `key "${key}" must be a string, not ${typeof v}`);
    return v;
  }

  bool(key: string, def: boolean): boolean {
    const v = this.values[key] ?? def;
    if (typeof v !== 'boolean') return this.fail('CONFIG_ERR_BAD_VALUE', key, `key "${key}" must be true or false`);
    return v;
  }

  /** A period or timeout: positive, and no longer than a Node.js timer can wait. */
  seconds(key: string, def: number): number {
    const v = this.values[key];
    if (v === undefined) return def;
    if (typeof v !== 'number' || !(v > 0) || !(v <= MAX_TIMER_SECONDS)) {
      return this.fail('CONFIG_ERR_BAD_VALUE', key, `key "${key}" must be a positive number of seconds, at most ${MAX_TIMER_SECONDS} (2^31-1 ms, the longest timer Node.js keeps), not ${typeof v === 'number' ? String(v) : typeof v}`);
    }
    return v;
  }

  /** The file `key` names, read now: its full name and text, or undefined when the key is absent. */
  file(key: string): { name: string; text: string } | undefined {
    const given = this.str(key);
    if (given === undefined) return undefined;
    const name = path.resolve(this.ctx.base, given);
    try {
      return { name, text: fs.readFileSync(name, 'utf8') };
    } catch (err) {
      return this.fail('CONFIG_ERR_FILE', key, `key "${key}": cannot read ${name}: ${systemErrorText(err)}`);
    }
  }

  /**
   * Key "pv": the part of the kind's record names after the prefix. It must
   * make valid names of at most 60 characters, with room for the DESCs, and
   * be used by no other table: `seen` holds this kind's (with their lines,
   * and gets this one), `usedBy` says which other table uses a pv.
   */
  pvPart(seen: Map<string, number>, usedBy: ReadonlyMap<string, string>): string {
    const pv = this.str('pv') ?? this.fail('CONFIG_ERR_MISSING_KEY', '', 'missing key "pv"');
    if (pv === '' || !PV_PART.test(pv)) this.fail('CONFIG_ERR_BAD_VALUE', 'pv', `key "pv": "${pv}" is empty or has characters a record name cannot hold`);
    if (pv.length > MAX_PV) this.fail('CONFIG_ERR_BAD_VALUE', 'pv', `key "pv": "${pv}" is longer than ${MAX_PV} characters`);
    if (seen.has(pv)) this.fail('CONFIG_ERR_DUPLICATE', 'pv', `key "pv": "${pv}" is already used by the [[${this.kind.name}]] on line ${seen.get(pv)}`);
    const other = usedBy.get(pv);
    if (other !== undefined) this.fail('CONFIG_ERR_DUPLICATE', 'pv', `key "pv": "${pv}" is already used by ${other}`);
    const longest = `${this.ctx.prefix}${pv}${this.kind.longestSuffix}`;
    if (Buffer.byteLength(longest) > MAX_NAME) this.fail('CONFIG_ERR_BAD_VALUE', 'pv', `PV names such as "${longest}" would exceed ${MAX_NAME} characters`);
    seen.set(pv, this.line('pv'));
    return pv;
  }
}

/**
 * Each table of the array `raw` (undefined: none), in order, through `read`.
 * A value that is no array of tables, or a table with a key the kind does not
 * have, fails before `read` sees it.
 */
export function readTables<T>(raw: unknown, kind: TableKind, ctx: ConfigTablesContext, read: (table: ConfigTable) => T): T[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) return ctx.fail('CONFIG_ERR_BAD_VALUE', kind.name, `${kind.what} are given as [[${kind.name}]] tables`);
  return raw.map((t: unknown, i) => {
    const table = new ConfigTable(typeof t === 'object' && t !== null && !Array.isArray(t) ? t as Record<string, unknown> : {}, kind, i, ctx);
    if (typeof t !== 'object' || t === null || Array.isArray(t)) return table.fail('CONFIG_ERR_BAD_VALUE', '', 'must be a table');
    for (const k of Object.keys(t)) {
      if (!kind.keys.includes(k)) table.fail('CONFIG_ERR_UNKNOWN_KEY', k, `unknown key "${k}"; expected one of ${kind.keys.join(', ')}`);
    }
    return read(table);
  });
}
