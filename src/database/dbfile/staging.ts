/**
 * Loads are all or nothing: a load works on a StagedDatabase, which shows
 * the database being loaded into with this load's changes on top, and the
 * changes reach that database only on commit(). Staging costs in proportion
 * to what the load changes, not to the size of the database, so loading many
 * files or substitution sets one after another stays linear.
 *
 * The result is what applying the same changes directly would give, in the
 * same order: records (and aliases) of the base database that survive keep
 * their places, changed or not, and new ones follow in the order they were
 * created. A name deleted and created again counts as new.
 *
 * Loading into an empty database (the first file, usually the biggest) needs
 * no staging: changes go straight in, and abandon() empties it again.
 */
import type { DbLoadWarning, SourcePosition } from './errors';
import { FieldList } from './field-list';
import type { LoadedDatabase, RecordDefinition } from './parser';

/**
 * A record this load may change: one it created, or its copy of a base
 * record. Only StagedDatabase changes it.
 */
export interface EditableRecord extends RecordDefinition {
  readonly fields: FieldList;
  info: ReadonlyMap<string, string>;
  aliases: readonly string[];
}

// Most records have no info items and no aliases: they share these, which
// are replaced, never changed, when the first one comes.
const NO_INFO: ReadonlyMap<string, string> = new Map();
const NO_ALIASES: readonly string[] = [];

export class StagedDatabase {
  /** Whether changes go straight into the (empty) base database. */
  private readonly direct: boolean;
  /**
   * Records this load created, and its copies of base records it changed.
   * Creation order; a record deleted and created again moves to the end.
   */
  private readonly records: Map<string, EditableRecord>;
  /** Names of base records this load deleted (and perhaps created again). */
  private readonly deletedRecords = new Set<string>();
  /** Aliases this load created, in order. */
  private readonly aliases: Map<string, string>;
  /** Base aliases this load deleted (and perhaps created again). */
  private readonly deletedAliases = new Set<string>();
  readonly warnings: DbLoadWarning[] = [];

  constructor(private readonly base: LoadedDatabase) {
    this.direct = base.records.size === 0 && base.aliases.size === 0;
    // Direct: every record in the base will be one this load created.
    this.records = this.direct ? (base.records as Map<string, EditableRecord>) : new Map();
    this.aliases = this.direct ? base.aliases : new Map();
  }

  /** The record named `name` (not an alias), as this load sees it. */
  record(name: string): RecordDefinition | undefined {
    const staged = this.records.get(name);
    if (staged || this.direct) return staged;
    return this.deletedRecords.has(name) ? undefined : this.base.records.get(name);
  }

  /** The record name an alias stands for, as this load sees it. */
  aliasTarget(alias: string): string | undefined {
    const staged = this.aliases.get(alias);
    if (staged !== undefined || this.direct) return staged;
    return this.deletedAliases.has(alias) ? undefined : this.base.aliases.get(alias);
  }

  /** A version of `rec` (as record() returned it) that this load may change. */
  editable(rec: RecordDefinition): EditableRecord {
    const own = this.records.get(rec.name);
    if (own === rec) return own;
    // A base record: change a copy, which replaces it on commit.
    const copy: EditableRecord = {
      ...rec,
      fields: FieldList.from(rec.fields),
      info: rec.info.size === 0 ? NO_INFO : new Map(rec.info),
      aliases: rec.aliases.length === 0 ? NO_ALIASES : [...rec.aliases],
    };
    this.records.set(rec.name, copy);
    return copy;
  }

  /**
   * Create a record whose name record() does not know; `pos` is where it is
   * defined, and it is likely to get `fieldCount` fields.
   */
  createRecord(name: string, type: string, pos: SourcePosition, fieldCount: number): EditableRecord {
    const rec: EditableRecord = {
      name,
      type,
      fields: new FieldList(fieldCount),
      info: NO_INFO,
      aliases: NO_ALIASES,
      file: pos.file,
      line: pos.line,
      column: pos.column,
    };
    this.records.set(name, rec);
    return rec;
  }

  /** Set a field's value, given at `where`. */
  setField(rec: EditableRecord, name: string, value: string, where: SourcePosition): void {
    rec.fields.set(name, value, where);
  }

  setInfo(rec: EditableRecord, name: string, value: string): void {
    if (rec.info === NO_INFO) rec.info = new Map([[name, value]]);
    else (rec.info as Map<string, string>).set(name, value);
  }

  /** Delete a record and its aliases. */
  deleteRecord(rec: RecordDefinition): void {
    this.records.delete(rec.name);
    if (this.base.records.has(rec.name)) this.deletedRecords.add(rec.name);
    for (const alias of rec.aliases) {
      this.aliases.delete(alias);
      if (this.base.aliases.has(alias)) this.deletedAliases.add(alias);
    }
  }

  /** Add an alias that aliasTarget() does not know. */
  addAlias(alias: string, rec: EditableRecord): void {
    this.aliases.set(alias, rec.name);
    rec.aliases = [...rec.aliases, alias];
  }

  /** Apply this load's changes to the base database. */
  commit(): void {
    const { records, aliases, warnings } = this.base;
    if (!this.direct) {
      for (const name of this.deletedRecords) records.delete(name);
      for (const [name, rec] of this.records) records.set(name, rec);
      for (const alias of this.deletedAliases) aliases.delete(alias);
      for (const [alias, target] of this.aliases) aliases.set(alias, target);
    }
    for (const w of this.warnings) warnings.push(w);
  }

  /** Leave the base database as it was before this load. */
  abandon(): void {
    if (this.direct) {
      this.base.records.clear();
      this.base.aliases.clear();
    }
  }
}
