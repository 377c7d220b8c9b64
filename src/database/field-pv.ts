/**
 * A record field served over Channel Access: `REC.FIELD`, `REC` (= `.VAL`)
 * and `REC.FIELD$` (a string field as a CHAR array, for strings longer than
 * 40 characters: dbChannel's long-string modifier).
 */
import { AlarmSeverity, AlarmStatus, DbrType, Eca, type NativeType } from '../ca/protocol/constants';
import { EMPTY_METADATA, type DbrMetadata, type DbrSource, type DbrValue } from '../ca/protocol/types';
import { WriteError, type AccessRights, type AckRequest, type ChangeListener, type ClientIdentity, type ProcessVariable, type WriteRequest } from '../ca/pv';
import { NO_ALARM_LIMITS, NO_LIMITS, type FieldMeta } from './field-support';
import { isIntegralDouble, nativeTypeOfDbf, type FieldDef } from './fields';
import { isNumericDbfType, putNumber, putNumberElements, putText, putTextElements, type NumericDbf } from './put-convert';
import type { DbRecord } from './record';
import { raiseAlarm, type FieldValue } from './recordtypes';

/** What decides access: implemented by access security. */
export interface AccessPolicy {
  rights(record: DbRecord, field: FieldDef, client: ClientIdentity): AccessRights;
  /** Fires when rights may have changed for anyone. */
  onChange(listener: () => void): () => void;
}

const READ_WRITE: AccessRights = Object.freeze({ read: true, write: true });
const NO_WATCH = (): void => undefined;

export const ALLOW_ALL: AccessPolicy = {
  rights: () => READ_WRITE,
  onChange: () => NO_WATCH,
};

export interface FieldPvContext {
  access: AccessPolicy;
  /** Choices of the DTYP menu (registered device supports). */
  deviceNames: readonly string[];
}

const encoder = new TextEncoder();

/**
 * A field's metadata over CA: what record support gives, zeros for a part it
 * does not give (dbAccess.c getOptions), NaN alarm limits unless it has some.
 */
export function caMetadata(meta: FieldMeta, enumStrings: readonly string[] = EMPTY_METADATA.enumStrings): DbrMetadata {
  const display = meta.display ?? NO_LIMITS, control = meta.control ?? NO_LIMITS, alarm = meta.alarm ?? NO_ALARM_LIMITS;
  return {
    units: meta.units ?? '',
    precision: meta.precision ?? 0,
    upperDisplayLimit: display.high, lowerDisplayLimit: display.low,
    upperAlarmLimit: alarm.upperAlarm, upperWarningLimit: alarm.upperWarning,
    lowerWarningLimit: alarm.lowerWarning, lowerAlarmLimit: alarm.lowerAlarm,
    upperControlLimit: control.high, lowerControlLimit: control.low,
    enumStrings,
  };
}

export class FieldPv implements ProcessVariable {
  readonly nativeType: NativeType;
  readonly maxCount: number;
  private readonly isVal: boolean;
  /** The field's type, when it is one number that a write converts by that type's rules. */
  private readonly numericDbf: NumericDbf | undefined;
  /** The element type of an array VAL whose elements are numbers, which a write converts each by. */
  private readonly elementDbf: NumericDbf | undefined;
  /** A DOUBLE that holds an integer field's value (see DbrSource.integral). */
  readonly integral: boolean;
  /** A CHAR value of a signed field (see DbrSource.signedChar). */
  readonly signedChar: boolean;
  /** The record's own ENUM-to-string rule, for its VAL. */
  readonly enumText: ((index: number) => string) | undefined;

  constructor(
    readonly name: string,
    readonly record: DbRecord,
    readonly def: FieldDef,
    /** Served as a CHAR array (`$`). */
    readonly longString: boolean,
    private readonly ctx: FieldPvContext,
  ) {
    this.isVal = def.name === 'VAL';
    if (longString) {
      this.nativeType = DbrType.CHAR;
      this.maxCount = record.stringSize(def);
    } else if (this.isVal) {
      this.nativeType = record.valueNativeType() as NativeType;
      this.maxCount = record.type.valueCount(record);
    } else {
      this.nativeType = nativeTypeOfDbf(def.type);
      this.maxCount = 1;
    }
    const own = record.fieldDbf(def);
    const scalar = !longString && this.maxCount === 1 && nativeTypeOfDbf(own) === this.nativeType;
    this.numericDbf = scalar && isNumericDbfType(own) ? own : undefined;
    const element = this.isVal && !longString && record.type.arrayValue ? record.type.elementDbf?.(record) : undefined;
    this.elementDbf = element !== undefined && isNumericDbfType(element) ? element : undefined;
    // What the value's elements are in the record: the field's type, or an array's element type.
    const held = this.elementDbf ?? def.type;
    this.integral = this.nativeType === DbrType.DOUBLE && isIntegralDouble(held);
    this.signedChar = this.nativeType === DbrType.CHAR && held === 'CHAR';
    const enumString = record.type.enumString;
    this.enumText = this.isVal && !longString && enumString ? (index) => enumString(record, index) : undefined;
  }

  /** The field's value as CA elements. */
  private elements(): DbrValue {
    // VAL by its name: a load V8 caches per record type, where a field name
    // in a variable is looked up in the object's properties every time.
    const v = this.isVal ? this.record.f.VAL : this.record.f[this.def.name];
    if (this.longString) {
      // dbGet gives the whole field, its NULs after the string too (a CA client asking for
      // DBR_STRING gets "0" for each of them); pvAccess serves it up to the first NUL.
      const bytes = encoder.encode(String(v));
      const out = new Uint8Array(this.maxCount);
      out.set(bytes.subarray(0, this.maxCount - 1));
      return out;
    }
    if (typeof v === 'object') return v as DbrValue;
    if (this.nativeType === DbrType.STRING) return [String(v)];
    return [v as number];
  }

  /** The field's display, control and enum information now (see `FieldSnapshot`). */
  metadataNow(): DbrMetadata {
    if (this.isVal && !this.longString) return this.record.type.metadata(this.record);
    const d = this.def;
    const enumStrings = d.type === 'MENU' ? d.menu ?? [] : d.type === 'DEVICE' ? this.ctx.deviceNames : undefined;
    return caMetadata(this.fieldMeta() ?? {}, enumStrings);
  }

  /** What record support says of this field (VAL and `$` excluded: undefined). */
  fieldMeta(): FieldMeta | undefined {
    if (this.isVal || this.longString) return undefined;
    return this.record.fieldMeta(this.def);
  }

  /** The precision of the value's DBR_STRING text, where it is not the metadata's (fields other than VAL). */
  textPrecision(): number | undefined {
    if (this.isVal || this.longString) return undefined;
    return this.record.fieldTextPrecision(this.def);
  }

  snapshot(): DbrSource {
    const r = this.record;
    let value = this.elements();
    if (this.def.type === 'DEVICE' && !this.longString) {
      // DTYP is stored as its name and served as the index in the DTYP menu.
      value = [Math.max(0, this.ctx.deviceNames.indexOf(String(r.f.DTYP)))];
    }
    return new FieldSnapshot(this, value);
  }

  accessRights(client: ClientIdentity): AccessRights {
    const rights = this.ctx.access.rights(this.record, this.def, client);
    // Fields the IOC owns are never writable; neither is the VAL of an input record
    // whose value comes from device support other than Soft Channel.
    const fixed = this.def.readOnly || (this.isVal && this.record.kind === 'input' && this.record.hardware);
    return fixed ? { read: rights.read, write: false } : rights;
  }

  write(request: WriteRequest): Promise<void> {
    // A write of no elements is worked out when it is applied: what it keeps is
    // what the writes queued before it leave, and its alarm belongs to its own processing.
    if (request.value.length === 0) return this.record.put(this.def, () => this.emptyWrite(), request.client);
    let value: FieldValue;
    try {
      value = this.toFieldValue(request.value);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    return this.record.put(this.def, value, request.client);
  }

  /**
   * A client's write to a numeric field converted by the field's own type, as
   * dbPut does (text parsed as that type: 70000 to a USHORT field fails;
   * numbers cast), an array VAL of numbers element by element by its element
   * type; other fields are left to the server's conversion.
   * @throws WriteError ECA_PUTFAIL when dbPut would refuse the text; an
   *   array keeps the elements converted before the refused one (see `putTextElements`).
   */
  convertWrite(value: DbrValue, from: NativeType): DbrValue | undefined {
    if (this.elementDbf !== undefined && value.length > 0) return this.convertElements(this.elementDbf, value, from);
    const dbf = this.numericDbf;
    if (dbf === undefined || value.length === 0) return undefined;
    const e = value[0];
    if (from === DbrType.STRING) return [putText(dbf, this.name, String(e), Number(this.record.f[this.def.name]))];
    return [putNumber(dbf, Number(e), from)];
  }

  private convertElements(dbf: NumericDbf, value: DbrValue, from: NativeType): DbrValue {
    if (from !== DbrType.STRING) return putNumberElements(dbf, value as ArrayLike<number>, from);
    const r = this.record;
    const current = r.f.VAL as ArrayLike<number>;
    const out = putTextElements(dbf, this.name, value as readonly string[], current);
    if (out.error === undefined) return Float64Array.from(out.values);
    r.keepRefusedElements(out.values);
    throw out.error;
  }

  writesApplied(): Promise<void> | undefined {
    return this.record.writesApplied();
  }

  /**
   * A write of no elements (a client's count 0), as dbPut takes it: an array
   * VAL keeps no elements; any other field keeps its value, and the record
   * gets a LINK/INVALID alarm when it next processes (which the write itself
   * does for a field that processes the record).
   */
  private emptyWrite(): FieldValue {
    if (this.isVal && this.record.type.arrayValue && !this.longString) {
      return this.nativeType === DbrType.STRING ? [] : new Float64Array(0);
    }
    raiseAlarm(this.record, AlarmStatus.LINK, AlarmSeverity.INVALID);
    return this.record.f[this.def.name];
  }

  /** Convert CA elements (already in this PV's native type) to what the field stores. */
  private toFieldValue(value: DbrValue): FieldValue {
    const d = this.def;
    if (this.longString) {
      const bytes = Uint8Array.from(value as ArrayLike<number>);
      const nul = bytes.indexOf(0);
      return this.truncate(Buffer.from(nul < 0 ? bytes : bytes.subarray(0, nul)).toString('utf8'));
    }
    if (this.isVal && this.record.type.arrayValue) {
      if (this.nativeType === DbrType.STRING) return Array.from(value as readonly string[]).map((s) => this.truncate(s, 40));
      return Float64Array.from(value as ArrayLike<number>);
    }
    const v = value[0];
    if (this.nativeType === DbrType.STRING) return this.truncate(String(v));
    const n = v as number;
    if (d.type === 'MENU' && (n < 0 || n >= (d.menu?.length ?? 0))) {
      throw new WriteError(Eca.PUTFAIL, `${this.name}: ${n} is not a choice of ${d.name} (0..${(d.menu?.length ?? 1) - 1})`, 'WRITE_ERR_BAD_CHOICE');
    }
    // What the field stores of a number of this PV's native type (a C cast).
    const dbf = this.numericDbf;
    return dbf !== undefined ? putNumber(dbf, n, this.nativeType) : n;
  }

  private truncate(s: string, size = this.record.stringSize(this.def)): string {
    const max = size - 1;
    if (Buffer.byteLength(s) <= max) return s;
    let out = Buffer.from(s).subarray(0, max).toString('utf8');
    while (Buffer.byteLength(out) > max) out = out.slice(0, -1);
    return out;
  }

  async acknowledge(request: AckRequest): Promise<void> {
    const r = this.record;
    if (request.field === 'ackt') {
      r.f.ACKT = request.value ? 1 : 0;
      r.post('ACKT', 1);
      // Transient alarms need no acknowledgement once ACKT is off: drop ACKS to SEVR.
      if (!r.f.ACKT && (r.f.ACKS as number) > (r.f.SEVR as number)) {
        r.f.ACKS = r.f.SEVR;
        r.post('ACKS', 1);
        r.post('VAL', 4);
      }
    } else if (request.value >= (r.f.ACKS as number)) {
      r.f.ACKS = 0;
      r.post('ACKS', 1);
      r.post('VAL', 4);
    }
  }

  subscribe(listener: ChangeListener): () => void {
    return this.record.subscribe(this.def.name, listener);
  }
}

/**
 * A field's value and alarm as they are when it is taken. Its metadata (units,
 * limits, enum labels) is built only when an encoder asks for it, within the
 * same synchronous encode: a plain DBR_DOUBLE read or monitor update, the
 * common case, never needs it. (`metadata` is a getter: a spread copy of a
 * snapshot does not carry it.)
 */
class FieldSnapshot implements DbrSource {
  readonly status: number;
  readonly severity: number;
  readonly timestamp: DbrSource['timestamp'];
  readonly ackt: number;
  readonly acks: number;
  private meta: DbrMetadata | undefined;

  // What is the same for every snapshot of the field (its type, record type,
  // enum rule) is read from the field: a read makes one of these, and each
  // field it does not carry is 8 bytes less garbage.
  constructor(private readonly pv: FieldPv, readonly value: DbrValue) {
    const r = pv.record;
    this.status = r.f.STAT as number;
    this.severity = r.f.SEVR as number;
    this.timestamp = r.time;
    this.ackt = r.f.ACKT as number;
    this.acks = r.f.ACKS as number;
    this.meta = undefined;
  }

  get nativeType(): NativeType {
    return this.pv.nativeType;
  }

  get className(): string {
    return this.pv.record.type.name;
  }

  get enumText(): ((index: number) => string) | undefined {
    return this.pv.enumText;
  }

  get integral(): boolean {
    return this.pv.integral;
  }

  get signedChar(): boolean {
    return this.pv.signedChar;
  }

  get metadata(): DbrMetadata {
    return (this.meta ??= this.pv.metadataNow());
  }

  get textPrecision(): number | undefined {
    return this.pv.textPrecision();
  }
}
