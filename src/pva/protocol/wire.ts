/**
 * Primitive pvAccess encodings over a byte order chosen per message (the
 * header's MSB flag): fixed-width numbers, the compact Size (one byte below
 * 254, 0xFE and a 32-bit count, 0xFF for "null"), strings (a Size and UTF-8
 * bytes) and Status. Layouts follow pvxs `src/pvaproto.h`.
 */
import { PvaProtocolError } from './errors';

/** A Size of 0xFF: "no value" (an empty union, a null string). */
export const NULL_SIZE = -1;

export class Reader {
  offset: number;

  constructor(readonly buf: Buffer, readonly bigEndian: boolean, offset = 0, readonly end = buf.length) {
    this.offset = offset;
  }

  get remaining(): number {
    return this.end - this.offset;
  }

  need(n: number, what: string): void {
    if (this.offset + n > this.end) throw new PvaProtocolError('PVA_ERR_TRUNCATED', `truncated ${what}: need ${n} bytes, ${this.remaining} left`);
  }

  u8(): number {
    this.need(1, 'byte');
    return this.buf[this.offset++];
  }

  i8(): number {
    this.need(1, 'byte');
    return this.buf.readInt8(this.offset++);
  }

  u16(): number {
    this.need(2, 'uint16');
    const v = this.bigEndian ? this.buf.readUInt16BE(this.offset) : this.buf.readUInt16LE(this.offset);
    this.offset += 2;
    return v;
  }

  i16(): number {
    this.need(2, 'int16');
    const v = this.bigEndian ? this.buf.readInt16BE(this.offset) : this.buf.readInt16LE(this.offset);
    this.offset += 2;
    return v;
  }

  u32(): number {
    this.need(4, 'uint32');
    const v = this.bigEndian ? this.buf.readUInt32BE(this.offset) : this.buf.readUInt32LE(this.offset);
    this.offset += 4;
    return v;
  }

  i32(): number {
    this.need(4, 'int32');
    const v = this.bigEndian ? this.buf.readInt32BE(this.offset) : this.buf.readInt32LE(this.offset);
    this.offset += 4;
    return v;
  }

  i64(): bigint {
    this.need(8, 'int64');
    const v = this.bigEndian ? this.buf.readBigInt64BE(this.offset) : this.buf.readBigInt64LE(this.offset);
    this.offset += 8;
    return v;
  }

  u64(): bigint {
    this.need(8, 'uint64');
    const v = this.bigEndian ? this.buf.readBigUInt64BE(this.offset) : this.buf.readBigUInt64LE(this.offset);
    this.offset += 8;
    return v;
  }

  f32(): number {
    this.need(4, 'float32');
    const v = this.bigEndian ? this.buf.readFloatBE(this.offset) : this.buf.readFloatLE(this.offset);
    this.offset += 4;
    return v;
  }

  f64(): number {
    this.need(8, 'float64');
    const v = this.bigEndian ? this.buf.readDoubleBE(this.offset) : this.buf.readDoubleLE(this.offset);
    this.offset += 8;
    return v;
  }

  bytes(n: number): Buffer {
    this.need(n, 'bytes');
    const out = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }

  /** A Size; NULL_SIZE for 0xFF. 64-bit sizes are not used by any implementation. */
  size(): number {
    const b = this.u8();
    if (b < 254) return b;
    if (b === 255) return NULL_SIZE;
    const n = this.u32();
    if (n > 0x7fffffff) throw new PvaProtocolError('PVA_ERR_BAD_SIZE', `size ${n} needs the 64-bit form, which is not supported`);
    return n;
  }

  /** A Size that must count something: not null, and not more than the bytes left times `minBytes`. */
  count(minBytes: number, what: string): number {
    const n = this.size();
    if (n === NULL_SIZE) throw new PvaProtocolError('PVA_ERR_BAD_SIZE', `null size for ${what}`);
    if (n * minBytes > this.remaining) throw new PvaProtocolError('PVA_ERR_TRUNCATED', `${what} of ${n} elements exceeds the ${this.remaining} bytes left`);
    return n;
  }

  string(): string {
    const n = this.size();
    if (n === NULL_SIZE) return '';
    this.need(n, 'string');
    const s = this.buf.toString('utf8', this.offset, this.offset + n);
    this.offset += n;
    return s;
  }
}

/** A growable output buffer. */
export class Writer {
  buf: Buffer;
  offset = 0;

  constructor(readonly bigEndian: boolean, initial = 256) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  ensure(n: number): void {
    if (this.offset + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.offset + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.offset);
    this.buf = next;
  }

  u8(v: number): this {
    this.ensure(1);
    this.buf[this.offset++] = v & 0xff;
    return this;
  }

  i8(v: number): this {
    this.ensure(1);
    this.buf.writeInt8(v, this.offset++);
    return this;
  }

  u16(v: number): this {
    this.ensure(2);
    this.offset = this.bigEndian ? this.buf.writeUInt16BE(v & 0xffff, this.offset) : this.buf.writeUInt16LE(v & 0xffff, this.offset);
    return this;
  }

  i16(v: number): this {
    this.ensure(2);
    this.offset = this.bigEndian ? this.buf.writeInt16BE(v, this.offset) : this.buf.writeInt16LE(v, this.offset);
    return this;
  }

  u32(v: number): this {
    this.ensure(4);
    this.offset = this.bigEndian ? this.buf.writeUInt32BE(v >>> 0, this.offset) : this.buf.writeUInt32LE(v >>> 0, this.offset);
    return this;
  }

  i32(v: number): this {
    this.ensure(4);
    this.offset = this.bigEndian ? this.buf.writeInt32BE(v | 0, this.offset) : this.buf.writeInt32LE(v | 0, this.offset);
    return this;
  }

  i64(v: bigint): this {
    this.ensure(8);
    this.offset = this.bigEndian ? this.buf.writeBigInt64BE(v, this.offset) : this.buf.writeBigInt64LE(v, this.offset);
    return this;
  }

  u64(v: bigint): this {
    this.ensure(8);
    this.offset = this.bigEndian ? this.buf.writeBigUInt64BE(v, this.offset) : this.buf.writeBigUInt64LE(v, this.offset);
    return this;
  }

  f32(v: number): this {
    this.ensure(4);
    this.offset = this.bigEndian ? this.buf.writeFloatBE(v, this.offset) : this.buf.writeFloatLE(v, this.offset);
    return this;
  }

  f64(v: number): this {
    this.ensure(8);
    this.offset = this.bigEndian ? this.buf.writeDoubleBE(v, this.offset) : this.buf.writeDoubleLE(v, this.offset);
    return this;
  }

  bytes(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.offset);
    this.offset += b.length;
    return this;
  }

  size(n: number): this {
    if (n === NULL_SIZE) return this.u8(255);
    if (n < 254) return this.u8(n);
    this.u8(254);
    return this.u32(n);
  }

  string(s: string): this {
    const n = Buffer.byteLength(s, 'utf8');
    this.size(n);
    this.ensure(n);
    this.offset += this.buf.write(s, this.offset, 'utf8');
    return this;
  }

  /** The bytes written so far (a view, valid until the next write). */
  view(): Buffer {
    return this.buf.subarray(0, this.offset);
  }

  /** A copy of the bytes written so far. */
  take(): Buffer {
    return Buffer.from(this.view());
  }
}

/** Status: 0xFF alone for plain success, else type, message and call tree (pvaproto.h). */
export enum StatusType { OK = 0, WARNING = 1, ERROR = 2, FATAL = 3 }

export interface Status {
  type: StatusType;
  message: string;
  callTree: string;
}

export const STATUS_OK: Status = Object.freeze({ type: StatusType.OK, message: '', callTree: '' });

export function statusError(message: string): Status {
  return { type: StatusType.ERROR, message, callTree: '' };
}

export function isSuccess(s: Status): boolean {
  return s.type === StatusType.OK || s.type === StatusType.WARNING;
}

export function writeStatus(w: Writer, s: Status): void {
  if (s.type === StatusType.OK && s.message === '' && s.callTree === '') {
    w.u8(0xff);
    return;
  }
  w.u8(s.type).string(s.message).string(s.callTree);
}

export function readStatus(r: Reader): Status {
  const t = r.u8();
  if (t === 0xff) return STATUS_OK;
  if (t > StatusType.FATAL) throw new PvaProtocolError('PVA_ERR_BAD_VALUE', `status type ${t} is not 0..3 or 0xFF`);
  return { type: t, message: r.string(), callTree: r.string() };
}
