/**
 * An output buffer that CA messages are written straight into, header field
 * by header field, so that a turn's replies (20,000 of them when a client
 * connects 10,000 channels) cost one allocation between them rather than one
 * buffer per message and a concatenation.
 *
 * `take` hands out what was written and starts a fresh buffer: the bytes
 * handed out belong to the caller (a socket may hold them until they are
 * sent), so the buffer is never reused.
 */
import { EXTENDED_HEADER_SIZE, HEADER_SIZE } from './constants';
import { needsExtendedHeader } from './header';

const MIN_CAPACITY = 4096;
/** A turn's output above this does not make the next turn's first buffer larger. */
const MAX_HINT = 1 << 20;
const EMPTY = Buffer.alloc(0);
/** Payloads up to this size are zeroed byte by byte. */
const SMALL_FILL = 64;

export class MessageWriter {
  private buf: Buffer = EMPTY;
  private len = 0;
  /**
   * What the next turn's buffer starts at: the largest turn lately (it falls
   * by an eighth a turn), so that turns of alternating size (a socket read of
   * 64 KiB, then one of 28 KiB) do not grow a buffer and copy it every time.
   */
  private hint = MIN_CAPACITY;

  /** Bytes written and not yet taken. */
  get length(): number {
    return this.len;
  }

  /** One message: its header, then `payload` (already padded to 8). */
  message(command: number, dataType: number, dataCount: number, parameter1: number, parameter2: number, payload?: Uint8Array): void {
    const start = this.header(command, dataType, dataCount, parameter1, parameter2, payload ? payload.length : 0);
    if (payload) this.buf.set(payload, start);
  }

  /** Write a header for a payload of `size` bytes and make room for it; returns where the payload goes. */
  private header(command: number, dataType: number, dataCount: number, parameter1: number, parameter2: number, size: number): number {
    const extended = needsExtendedHeader(size, dataCount);
    const headerLength = extended ? EXTENDED_HEADER_SIZE : HEADER_SIZE;
    this.reserve(headerLength + size);
    const b = this.buf;
    const o = this.len;
    b[o] = command >>> 8; b[o + 1] = command & 0xff;
    if (extended) {
      b[o + 2] = 0xff; b[o + 3] = 0xff;
      b[o + 6] = 0; b[o + 7] = 0;
      put32(b, o + 16, size);
      put32(b, o + 20, dataCount);
    } else {
      b[o + 2] = size >>> 8; b[o + 3] = size & 0xff;
      b[o + 6] = dataCount >>> 8; b[o + 7] = dataCount & 0xff;
    }
    b[o + 4] = dataType >>> 8; b[o + 5] = dataType & 0xff;
    put32(b, o + 8, parameter1);
    put32(b, o + 12, parameter2);
    this.len = o + headerLength + size;
    return o + headerLength;
  }

  /**
   * A message whose payload the caller fills: its header, then `payloadSize`
   * zero bytes at the returned offset of `buffer`, to fill before anything
   * else is written. `rewind(mark)` with the length from before takes it back
   * when filling it fails.
   */
  messageSpace(command: number, dataType: number, dataCount: number, parameter1: number, parameter2: number, payloadSize: number): number {
    const start = this.header(command, dataType, dataCount, parameter1, parameter2, payloadSize);
    const end = this.len;
    // A scalar's few bytes are zeroed here: Buffer#fill costs more in its checks than that.
    if (end - start <= SMALL_FILL) for (let i = start; i < end; i++) this.buf[i] = 0;
    else this.buf.fill(0, start, end);
    return start;
  }

  /** The buffer being written (valid until the next write or take). */
  get buffer(): Buffer {
    return this.buf;
  }

  /** Drop what was written after `mark` (an earlier `length`). */
  rewind(mark: number): void {
    if (mark < this.len) this.len = mark;
  }

  /** Bytes already encoded (a message from `messages.ts`). */
  raw(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
  }

  /** Everything written since the last take, or undefined when nothing was. */
  take(): Buffer | undefined {
    if (this.len === 0) return undefined;
    const out = this.buf.subarray(0, this.len);
    this.hint = Math.min(MAX_HINT, Math.max(MIN_CAPACITY, this.len, this.hint - (this.hint >> 3)));
    this.buf = EMPTY;
    this.len = 0;
    return out;
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.hint, this.buf.length * 2, this.len + n));
    if (this.len > 0) this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }
}

function put32(b: Buffer, o: number, v: number): void {
  b[o] = v >>> 24 & 0xff; b[o + 1] = v >>> 16 & 0xff; b[o + 2] = v >>> 8 & 0xff; b[o + 3] = v & 0xff;
}
