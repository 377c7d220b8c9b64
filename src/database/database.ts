/**
 * The record database: records built from loaded .db definitions, bound to
 * their device support, and served as PVs (`REC`, `REC.FIELD`, `REC.FIELD$`).
 * Also runs what iocInit would: PINI processing and periodic scans.
 */
import { AlarmSeverity, AlarmStatus, DbrType } from '../ca/protocol/constants';
import { parseNumber } from '../ca/protocol/convert';
import type { ProcessVariable, PvDirectory } from '../ca/pv';
import type { Logger } from '../log';
import { createLogger } from '../log';
import { DbLoadError, type SourcePosition } from './dbfile/errors';
import type { FieldDefinition, LoadedDatabase, RecordDefinition } from './dbfile/parser';
import { DeviceRegistry, SOFT_CHANNEL } from './device';
import { ALLOW_ALL, FieldPv, type AccessPolicy } from './field-pv';
import { nativeTypeOfDbf, SCAN_IO_INTR, SCAN_PASSIVE, SCAN_PERIODS, type FieldDef } from './fields';
import { LinkSyntaxError, linkText, parseLink } from './links';
import { DbRecord, IOC_CLIENT, type RecordHost, type ResolvedLink } from './record';
import { RECORD_TYPES, type FieldValue } from './recordtypes';
import { quoteValue } from '../text';

export interface DatabaseOptions {
  registry?: DeviceRegistry;
  access?: AccessPolicy;
  log?: Logger;
}

/** Build a registry holding Soft Channel plus the given supports. */
export function defaultRegistry(): DeviceRegistry {
  return new DeviceRegistry().register(SOFT_CHANNEL);
}

const isLinkField = (def: FieldDef): boolean => def.type === 'INLINK' || def.type === 'OUTLINK' || def.type === 'FWDLINK';

export class Database implements PvDirectory, RecordHost {
  readonly records = new Map<string, DbRecord>();
  readonly aliases = new Map<string, string>();
  private readonly pvs = new Map<string, FieldPv>();
  /** Periodic scan lists by SCAN choice, each scanned by its own timer once the database has started. */
  private readonly periodic = new Map<number, ScanList>();
  /** The scan list each periodic record is in (dbCommon SPVT). */
  private readonly scanListOf = new Map<DbRecord, ScanList>();
  private started = false;
  private readonly scanQueue = new Set<DbRecord>();
  /** Records whose VAL only a constant link defined (no VAL in the file). */
  private readonly definedByConstant = new Set<DbRecord>();
  private readonly registry: DeviceRegistry;
  private readonly log: Logger;
  private policy: AccessPolicy = ALLOW_ALL;
  private unwatchPolicy: () => void = () => undefined;
  private readonly rightsListeners = new Set<() => void>();

  constructor(opts: DatabaseOptions = {}) {
    this.registry = opts.registry ?? defaultRegistry();
    this.access = opts.access ?? ALLOW_ALL;
    this.log = opts.log ?? createLogger('db');
  }

  /** The access policy every field PV asks for rights (access security, once enforced). */
  get access(): AccessPolicy {
    return this.policy;
  }

  set access(policy: AccessPolicy) {
    this.unwatchPolicy();
    this.policy = policy;
    this.unwatchPolicy = policy.onChange(() => this.rightsChanged());
  }

  /** PvDirectory: fires when the policy changes or a record moves to another group. */
  onRightsChanged(listener: () => void): () => void {
    this.rightsListeners.add(listener);
    return () => this.rightsListeners.delete(listener);
  }

  /** RecordHost: a write to ASG moved the record to another access security group. */
  groupChanged(): void {
    this.rightsChanged();
  }

  private rightsChanged(): void {
    for (const l of [...this.rightsListeners]) l();
  }

  /** Build records from loaded definitions. Throws DbLoadError naming the file, line and column. */
  static build(loaded: LoadedDatabase, opts: DatabaseOptions = {}): Database {
    const db = new Database(opts);
    for (const def of loaded.records.values()) db.addRecord(def);
    for (const [alias, target] of loaded.aliases) db.aliases.set(alias, target);
    for (const def of loaded.records.values()) {
      for (const a of def.aliases) db.aliases.set(a, def.name);
    }
    // Links last: they may name records defined further on, or aliases.
    for (const def of loaded.records.values()) db.resolveLinks(db.records.get(def.name)!, def);
    return db;
  }

  /**
   * Resolve every link field of a record, as iocInit's dbInitLink: a link to a
   * name that is no record of this IOC, or to a field it does not have, stops
   * loading at the link's position. Constant links set their field (recGblInitConstantLink).
   */
  private resolveLinks(rec: DbRecord, def: RecordDefinition): void {
    rec.host = this;
    const deviceLink = rec.type.kind === 'output' ? 'OUT' : 'INP';
    for (const fieldDef of rec.type.fields.values()) {
      if (!isLinkField(fieldDef)) continue;
      // Device support other than Soft Channel owns its INP/OUT text.
      if (rec.hardware && fieldDef.name === deviceLink) continue;
      const text = String(rec.f[fieldDef.name] ?? '');
      if (text.trim() === '') continue;
      const where: SourcePosition = def.fields.get(fieldDef.name) ?? def;
      let link: ResolvedLink;
      try {
        link = this.resolveLink(rec, fieldDef, text);
      } catch (err) {
        throw new DbLoadError('DB_ERR_BAD_LINK', `record "${rec.name}" field ${fieldDef.name}: ${(err as Error).message}`, where);
      }
      if (link.kind === 'db') rec.f[fieldDef.name] = link.text;
      rec.setLink(fieldDef.name, link);
    }
    for (const [linkField, into] of [['SDIS', 'DISA'], ...rec.type.constantLinks] as const) {
      const link = rec.link(linkField);
      if (link.kind !== 'constant' || link.values.length === 0) continue;
      const intoDef = rec.type.fields.get(into)!;
      const fd = def.fields.get(linkField) ?? def;
      rec.f[into] = intoDef.name === 'VAL' && rec.type.arrayValue
        ? parseFieldText(rec, intoDef, { ...fd, value: JSON.stringify(link.values) })
        : parseFieldText(rec, intoDef, { ...fd, value: String(link.values[0]) });
      if (into === 'VAL') {
        if (rec.f.UDF) this.definedByConstant.add(rec);
        rec.f.UDF = 0;
      }
    }
  }

  /** A link field's text resolved against this database (RecordHost). */
  resolveLink(rec: DbRecord, def: FieldDef, text: string): ResolvedLink {
    let parsed;
    try {
      parsed = parseLink(text);
    } catch (err) {
      if (err instanceof LinkSyntaxError) throw new Error(err.message);
      throw err;
    }
    if (parsed.kind !== 'pv') {
      if (parsed.kind === 'instrument' && !(rec.hardware && def.name === (rec.type.kind === 'output' ? 'OUT' : 'INP'))) {
        throw new Error(`"${text}" is an instrument address, which only device support other than Soft Channel reads`);
      }
      if (parsed.kind === 'constant' && (def.type === 'OUTLINK' || def.type === 'FWDLINK')) {
        throw new Error(`a constant cannot be written to; expected a record name`);
      }
      return parsed;
    }
    const target = this.record(parsed.record);
    if (!target) {
      throw new Error(`no record "${parsed.record}" in this IOC (links to other IOCs over Channel Access are not supported)`);
    }
    const targetDef = target.type.fields.get(parsed.field);
    if (!targetDef || targetDef.type === 'NOACCESS') throw new Error(`record "${parsed.record}" (${target.type.name}) has no field ${parsed.field}`);
    if (def.type === 'FWDLINK' && parsed.proc !== 'NPP' && parsed.proc !== 'PP') throw new Error(`a forward link cannot be ${parsed.proc}`);
    // A forward link reads back as the name alone.
    return { kind: 'db', target, def: targetDef, proc: parsed.proc, ms: parsed.ms, text: def.type === 'FWDLINK' ? parsed.name : linkText(parsed) };
  }

  /** scanOnce (RecordHost): CP links process their record after the current processing. */
  scanOnce(rec: DbRecord): void {
    if (this.scanQueue.size === 0) setImmediate(() => this.runScanQueue());
    this.scanQueue.add(rec);
  }

  private runScanQueue(): void {
    const recs = [...this.scanQueue];
    this.scanQueue.clear();
    for (const rec of recs) this.scan(rec);
  }

  private addRecord(def: RecordDefinition): void {
    const type = RECORD_TYPES.get(def.type);
    if (!type) {
      throw new DbLoadError('DB_ERR_UNKNOWN_RECORD_TYPE',
        `unknown record type "${def.type}" for record "${def.name}"; expected one of ${[...RECORD_TYPES.keys()].join(', ')}`, def);
    }
    const rec = new DbRecord(type, def.name);
    let valueGiven = false;
    for (const [name, fd] of def.fields) {
      const fieldDef = type.fields.get(name);
      if (!fieldDef || name === 'RTYP') {
        throw new DbLoadError('DB_ERR_UNKNOWN_FIELD', `record type ${type.name} has no field "${name}" (record "${def.name}")`, fd);
      }
      if (name === 'VAL') valueGiven = true;
      else rec.f[name] = parseFieldText(rec, fieldDef, fd);
    }
    for (const [name, fd] of def.fields) {
      try {
        rec.type.special?.(rec, name);
      } catch (err) {
        throw new DbLoadError('DB_ERR_BAD_CALC', `record "${def.name}" field ${name}: ${(err as Error).message}, found ${quoteValue(fd.value)}`, fd);
      }
    }
    // VAL last: its size may depend on other fields (FTVL, NELM, SIZV).
    const val = def.fields.get('VAL');
    if (val) rec.f.VAL = parseFieldText(rec, type.fields.get('VAL')!, val);
    if (type.arrayValue) {
      if (!val) rec.f.VAL = nativeTypeOfDbf(menuType(rec)) === DbrType.STRING ? [] : new Float64Array(0);
      rec.f.NORD = (rec.f.VAL as ArrayLike<number>).length;
    }
    this.bindDevice(rec, def);
    // EPICS clears UDF for a VAL given in the database (dbLoadRecords); a constant INP too.
    if (valueGiven) rec.f.UDF = 0;
    this.records.set(def.name, rec);
  }

  private bindDevice(rec: DbRecord, def: RecordDefinition): void {
    const dtypField = def.fields.get('DTYP');
    const dtyp = dtypField ? dtypField.value : 'Soft Channel';
    rec.f.DTYP = dtyp;
    const support = this.registry.get(dtyp);
    const where: SourcePosition = dtypField ?? def;
    if (!support) {
      throw new DbLoadError('DB_ERR_UNKNOWN_DTYP', `record "${def.name}": no device support "${dtyp}"; registered: ${this.registry.names().map((n) => `"${n}"`).join(', ')}`, where);
    }
    if (!support.recordTypes.includes(rec.type.name)) {
      throw new DbLoadError('DB_ERR_UNKNOWN_DTYP', `record "${def.name}": device support "${dtyp}" does not serve ${rec.type.name} records (only ${support.recordTypes.join(', ')})`, where);
    }
    const linkField = rec.type.kind === 'output' ? 'OUT' : 'INP';
    const link = String(rec.f[linkField] ?? '');
    rec.hardware = support !== SOFT_CHANNEL;
    if (!rec.hardware) return;
    try {
      rec.binding = support.bind(rec, link);
    } catch (err) {
      throw new DbLoadError('DB_ERR_DEVICE', `record "${def.name}": ${(err as Error).message}`, def.fields.get(linkField) ?? where);
    }
  }

  /**
   * Start what iocInit starts: set every record's initial alarm state, run PINI
   * processing, and start periodic scans.
   */
  start(): void {
    // iocInit processes no record but those with PINI: the others keep STAT UDF,
    // no timestamp, and the severity UDFS while their value is undefined (iocInit.c).
    for (const rec of this.records.values()) {
      // A value set by a constant link still starts with SEVR UDFS, as softIoc shows it.
      if (rec.f.STAT === AlarmStatus.UDF) rec.f.SEVR = rec.f.UDF || this.definedByConstant.has(rec) ? rec.f.UDFS : AlarmSeverity.NO_ALARM;
      // init_record: the last posted, archived and alarmed values start at VAL.
      const val = rec.f.VAL;
      if (typeof val === 'number') for (const k of ['MLST', 'ALST', 'LALM']) if (rec.type.fields.has(k)) rec.f[k] = val;
      rec.type.initRecord?.(rec);
    }
    // scanInit builds the scan lists before PINI processing; they are scanned once start() has returned.
    // It adds the records type by type (record types in name order), each type's in load order.
    this.started = true;
    const byType = [...this.records.values()].sort((a, b) => (a.type.name < b.type.name ? -1 : a.type.name > b.type.name ? 1 : 0));
    for (const rec of byType) this.scanAdd(rec);
    for (const rec of this.records.values()) {
      if (rec.f.PINI === 1) this.scan(rec);
    }
    // A CP or CPP link's first monitor update processes its record, as dbCa's connection does.
    for (const rec of this.records.values()) {
      for (const name of rec.type.fields.keys()) {
        const l = rec.link(name);
        if (l.kind === 'db' && (l.proc === 'CP' || (l.proc === 'CPP' && rec.f.SCAN === 0))) {
          this.scanOnce(rec);
          break;
        }
      }
    }
  }

  /** RecordHost: a write to SCAN or PHAS (dbPut's SPC_SCAN): scanDelete, then scanAdd. */
  scanChanged(rec: DbRecord): void {
    if (!this.started) return;
    this.scanDelete(rec);
    this.scanAdd(rec);
  }

  /**
   * dbScan scanAdd: a periodic record joins the list of its period, after
   * every record there whose PHAS is not higher. I/O Intr needs device
   * support that pushes values: a record without it is made Passive.
   */
  private scanAdd(rec: DbRecord): void {
    const scan = rec.f.SCAN as number;
    if (scan === SCAN_IO_INTR && !rec.hardware) {
      this.log.warn('I/O Intr needs device support other than Soft Channel: SCAN is made Passive', { record: rec.name });
      rec.f.SCAN = SCAN_PASSIVE;
      return;
    }
    const period = SCAN_PERIODS[scan];
    if (period === undefined) return;
    let list = this.periodic.get(scan);
    if (!list) {
      const recs: DbRecord[] = [];
      const created: ScanList = {
        recs,
        timer: setInterval(() => this.scanList(created), period * 1000),
      };
      this.periodic.set(scan, (list = created));
    }
    const phas = rec.f.PHAS as number;
    let at = list.recs.length;
    while (at > 0 && (list.recs[at - 1].f.PHAS as number) > phas) at--;
    list.recs.splice(at, 0, rec);
    this.scanListOf.set(rec, list);
  }

  /** dbScan scanDelete: the record leaves the periodic list it is in. */
  private scanDelete(rec: DbRecord): void {
    const list = this.scanListOf.get(rec);
    if (!list) return;
    this.scanListOf.delete(rec);
    list.recs.splice(list.recs.indexOf(rec), 1);
  }

  /** One period of a scan list; a record that processing moved to another list is left out. */
  private scanList(list: ScanList): void {
    for (const rec of [...list.recs]) {
      if (this.scanListOf.get(rec) === list) this.scan(rec);
    }
  }

  /** Process a record for a scan, PINI or a CP link; a failed device write is logged. */
  private scan(rec: DbRecord): void {
    try {
      rec.dbProcess({ client: IOC_CLIENT })?.catch((err: unknown) => {
        this.log.warn('write failed', { record: rec.name, reason: (err as Error).message });
      });
    } catch (err) {
      this.log.warn('scan failed', { record: rec.name, reason: (err as Error).message });
    }
  }

  stop(): void {
    this.scanQueue.clear();
    for (const list of this.periodic.values()) clearInterval(list.timer);
    this.periodic.clear();
    this.scanListOf.clear();
    this.started = false;
    for (const rec of this.records.values()) {
      try {
        rec.binding.close?.();
      } catch (err) {
        this.log.warn('device close failed', { record: rec.name, reason: (err as Error).message });
      }
    }
  }

  record(name: string): DbRecord | undefined {
    return this.records.get(name) ?? this.records.get(this.aliases.get(name) ?? '');
  }

  /** `REC`, `REC.FIELD` or `REC.FIELD$`. */
  lookup(name: string): ProcessVariable | undefined {
    const cached = this.pvs.get(name);
    // A channel takes VAL's type when it connects (cvt_dbaddr): an mbbo given its first state is an ENUM from then on.
    if (cached && (cached.def.name !== 'VAL' || cached.longString || cached.nativeType === cached.record.valueNativeType())) return cached;
    let base = name;
    const longString = base.endsWith('$');
    if (longString) base = base.slice(0, -1);
    const dot = base.indexOf('.');
    const recName = dot < 0 ? base : base.slice(0, dot);
    const rec = this.record(recName);
    if (!rec) return undefined;
    const def = servedField(rec, dot < 0 ? 'VAL' : base.slice(dot + 1), longString);
    if (!def) return undefined;
    const pv = new FieldPv(name, rec, def, longString, { access: this.access, deviceNames: this.registry.names() });
    this.pvs.set(name, pv);
    return pv;
  }

  /** Record names and aliases: each is served (as its VAL) for the life of the database. */
  *servedNames(): Iterable<string> {
    for (const [name, rec] of this.records) if (servedField(rec, 'VAL', false)) yield name;
    for (const [alias, target] of this.aliases) {
      const rec = this.records.get(target);
      if (rec && servedField(rec, 'VAL', false)) yield alias;
    }
  }

  /** Record names in definition order (`dbl`). */
  recordNames(): string[] {
    return [...this.records.keys()];
  }
}

/** The records of one periodic SCAN choice, in PHAS order, and the timer that scans them. */
interface ScanList {
  readonly recs: DbRecord[];
  readonly timer: NodeJS.Timeout;
}

/** The field a PV name of `rec` serves, or undefined when that name is no PV. */
function servedField(rec: DbRecord, fieldName: string, longString: boolean): FieldDef | undefined {
  const def = rec.type.fields.get(fieldName);
  // DBF_NOACCESS fields are the record's own (a compiled expression): no PV.
  if (!def || def.type === 'NOACCESS') return undefined;
  if (longString && nativeTypeOfDbf(def.type) !== DbrType.STRING) return undefined;
  if (longString && def.name === 'VAL' && rec.type.arrayValue) return undefined;
  return def;
}

function menuType(rec: DbRecord): FieldDef['type'] {
  return (['STRING', 'CHAR', 'UCHAR', 'SHORT', 'USHORT', 'LONG', 'ULONG', 'INT64', 'UINT64', 'FLOAT', 'DOUBLE', 'ENUM'] as const)[rec.f.FTVL as number];
}

/** Parse a field's .db text into what the field stores; errors carry the value's position. */
export function parseFieldText(rec: DbRecord, def: FieldDef, fd: FieldDefinition | (SourcePosition & { value: string })): FieldValue {
  const text = fd.value;
  const fail = (what: string): never => {
    throw new DbLoadError('DB_ERR_BAD_FIELD_VALUE', `record "${rec.name}" field ${def.name}: ${what}, found ${quoteValue(text)}`, fd);
  };
  if (def.name === 'VAL' && rec.type.arrayValue) return parseArray(rec, text, fail);
  switch (def.type) {
    case 'MENU': {
      const i = def.menu!.indexOf(text);
      if (i >= 0) return i;
      // EPICS 7 also takes the choice's index.
      if (/^\d+$/.test(text) && Number(text) < def.menu!.length) return Number(text);
      return fail(`expected one of ${def.menu!.map((c) => `"${c}"`).join(', ')}`);
    }
    case 'DEVICE':
    case 'INLINK': case 'OUTLINK': case 'FWDLINK':
      return text;
    case 'STRING': {
      const size = rec.stringSize(def);
      if (Buffer.byteLength(text) > size - 1) fail(`expected at most ${size - 1} characters`);
      return text;
    }
    default: {
      if (text.trim() === '') return 0;
      let n: number;
      try {
        n = parseNumber(text);
      } catch {
        return fail('expected a number');
      }
      if (def.type !== 'DOUBLE' && def.type !== 'FLOAT' && !Number.isInteger(n)) {
        if (rec.type.valueType(rec) === DbrType.ENUM && def.name === 'VAL') return fail('expected a state index');
        n = Math.trunc(n);
      }
      return n;
    }
  }
}

function parseArray(rec: DbRecord, text: string, fail: (what: string) => never): FieldValue {
  const t = text.trim();
  if (t === '') return nativeTypeOfDbf(menuType(rec)) === DbrType.STRING ? [] : new Float64Array(0);
  let arr: unknown;
  try {
    arr = JSON.parse(t.startsWith('[') ? t : `[${t}]`);
  } catch {
    return fail('expected a JSON array');
  }
  if (!Array.isArray(arr)) return fail('expected a JSON array');
  if (arr.length > (rec.f.NELM as number)) fail(`expected at most NELM=${String(rec.f.NELM)} elements`);
  if (nativeTypeOfDbf(menuType(rec)) === DbrType.STRING) return arr.map((x) => String(x));
  if (!arr.every((x) => typeof x === 'number')) fail('expected numbers');
  return Float64Array.from(arr as number[]);
}
