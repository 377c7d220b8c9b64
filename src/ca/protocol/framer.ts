/**
 * Splits a byte stream (a TCP circuit) or a datagram into CA messages.
 *
 * The stream decoder accepts its input in any split: one byte at a time, a
 * message and a half, many messages at once. It never allocates more than one
 * message's worth of bytes beyond what it was given, and it refuses payloads
 * above a configured maximum before buffering them (EPICS_CA_MAX_ARRAY_BYTES).
 */
import { CaProtocolError } from './errors';
import { Eca, EXTENDED_HEADER_SIZE, HEADER_SIZE } from './constants';
import type { Message } from './header';

export interface FramerOptions {
  /** Largest payload accepted, in bytes. */
  maxPayload: number;
  /** Require 8-byte aligned payloads (TCP: yes, as RSRV does). */
  requireAlignment: boolean;
}

export class MessageFramer {
  private chunks: Buffer[] = [];
  /** Where the first chunk's unread bytes begin. */
  private pos = 0;
  private buffered = 0;
  private readonly opts: FramerOptions;

  constructor(opts: FramerOptions) {
    this.opts = opts;
  }

  /** Bytes held waiting for the rest of a message. */
  get pendingBytes(): number {
    return this.buffered;
  }

  /**
   * Add bytes and return every message now complete, in order. Throws
   * CaProtocolError for a header that can never be valid; the stream is then
   * unusable and the caller should drop the connection.
   */
  push(data: Buffer): Message[] {
    this.append(data);
    const out: Message[] = [];
    for (let m = this.next(); m; m = this.next()) out.push(m);
    return out;
  }

  /** Add bytes; `next` hands out the messages they complete. */
  append(data: Buffer): void {
    if (data.length === 0) return;
    this.chunks.push(data);
    this.buffered += data.length;
  }

  /**
   * The next complete message, or undefined until more bytes are appended.
   * Throws CaProtocolError as `push` does, once the messages before the bad
   * header have been handed out.
   */
  next(): Message | undefined {
    // The usual case: one chunk holding whole messages, read in place.
    if (this.chunks.length === 1) {
      const chunk = this.chunks[0];
      const offset = this.pos;
      const total = this.sizeAt(chunk, offset);
      if (total >= 0 && chunk.length - offset >= total) {
        const m = messageAt(chunk, offset);
        this.buffered -= total;
        if (offset + total === chunk.length) {
          this.chunks.length = 0;
          this.pos = 0;
        } else {
          this.pos = offset + total;
        }
        return m;
      }
    }
    if (this.pos > 0) {
      this.chunks[0] = this.chunks[0].subarray(this.pos);
      this.pos = 0;
    }
    if (this.buffered < HEADER_SIZE) return undefined;
    const total = this.sizeAt(this.peek(EXTENDED_HEADER_SIZE), 0);
    if (total < 0 || this.buffered < total) return undefined;
    return messageAt(this.take(total), 0);
  }

  /** Header and payload bytes of the message at `offset`, or -1 when its header is not all there yet. */
  private sizeAt(buf: Buffer, offset: number): number {
    const payloadSize = payloadSizeAt(buf, offset);
    if (payloadSize < 0) return -1;
    this.check(payloadSize, u16(buf, offset));
    return headerLengthAt(buf, offset) + payloadSize;
  }

  private check(payloadSize: number, command: number): void {
    if (payloadSize > this.opts.maxPayload) {
      throw new CaProtocolError(
        'CA_ERR_TOO_LARGE',
        `command ${command}: payload of ${payloadSize} bytes exceeds the limit of ${this.opts.maxPayload}`,
        Eca.TOLARGE,
      );
    }
    if (this.opts.requireAlignment && payloadSize % 8 !== 0) {
      throw new CaProtocolError(
        'CA_ERR_MISALIGNED',
        `command ${command}: payload size ${payloadSize} is not a multiple of 8`,
        Eca.INTERNAL,
      );
    }
  }

  /** Up to `n` leading bytes without consuming them. */
  private peek(n: number): Buffer {
    const first = this.chunks[0];
    if (first.length >= n || this.chunks.length === 1) return first;
    return this.coalesce(Math.min(n, this.buffered));
  }

  /** Remove and return exactly `n` leading bytes. */
  private take(n: number): Buffer {
    let first = this.chunks[0];
    if (first.length < n) first = this.coalesce(n);
    this.buffered -= n;
    if (first.length === n) {
      this.chunks.shift();
      return first;
    }
    this.chunks[0] = first.subarray(n);
    return first.subarray(0, n);
  }

  /** Merge leading chunks until the first holds at least `n` bytes. */
  private coalesce(n: number): Buffer {
    let have = 0;
    let k = 0;
    while (have < n && k < this.chunks.length) have += this.chunks[k++].length;
    const merged = Buffer.concat(this.chunks.slice(0, k), have);
    this.chunks.splice(0, k, merged);
    return merged;
  }
}

/**
 * Split one UDP datagram into messages. A datagram must hold whole messages;
 * a truncated trailing message is an error (the valid ones before it are
 * returned through `onMessage` first, so a search batch is not lost whole).
 */
export function splitDatagram(data: Buffer, onMessage: (m: Message) => void): void {
  scanDatagram(data, (offset) => onMessage(messageAt(data, offset)));
}

/** Where one message of a datagram lies, for a visitor that reads its fields in place. */
export interface MessageSpan {
  command: number;
  dataType: number;
  dataCount: number;
  parameter1: number;
  parameter2: number;
  payloadStart: number;
  payloadEnd: number;
}

/**
 * `splitDatagram` without an object or buffer view per message: `visit` gets
 * each message's offset and one reused span describing it (read it before
 * returning). A search datagram carries dozens of names; this is its path.
 */
export function scanDatagram(data: Buffer, visit: (offset: number, span: MessageSpan) => void): void {
  const span: MessageSpan = { command: 0, dataType: 0, dataCount: 0, parameter1: 0, parameter2: 0, payloadStart: 0, payloadEnd: 0 };
  let offset = 0;
  while (offset < data.length) {
    const payloadSize = payloadSizeAt(data, offset);
    const headerLength = payloadSize < 0 ? 0 : headerLengthAt(data, offset);
    if (payloadSize < 0 || offset + headerLength + payloadSize > data.length) {
      throw new CaProtocolError('CA_ERR_TRUNCATED', `datagram ends inside a message at byte ${offset}`);
    }
    span.command = u16(data, offset);
    span.dataType = u16(data, offset + 4);
    span.dataCount = headerLength === HEADER_SIZE ? u16(data, offset + 6) : u32(data, offset + 20);
    span.parameter1 = u32(data, offset + 8);
    span.parameter2 = u32(data, offset + 12);
    span.payloadStart = offset + headerLength;
    span.payloadEnd = span.payloadStart + payloadSize;
    visit(offset, span);
    offset = span.payloadEnd;
  }
}

const NO_PAYLOAD = Buffer.alloc(0);
const EXTENDED_MARKER = 0xffff;

/** The payload size of the message at `offset`, or -1 when its header is not all there. */
function payloadSizeAt(buf: Buffer, offset: number): number {
  const left = buf.length - offset;
  if (left < HEADER_SIZE) return -1;
  const postsize = u16(buf, offset + 2);
  if (postsize !== EXTENDED_MARKER) return postsize;
  return left < EXTENDED_HEADER_SIZE ? -1 : u32(buf, offset + 16);
}

/** The header's length at `offset` (its first 4 bytes are there). */
function headerLengthAt(buf: Buffer, offset: number): number {
  return u16(buf, offset + 2) === EXTENDED_MARKER ? EXTENDED_HEADER_SIZE : HEADER_SIZE;
}

/**
 * The whole message at `offset` (the caller checked that `buf` holds it), as
 * one object with a view of its payload, or one shared empty buffer when it
 * has none, as most requests have.
 */
function messageAt(buf: Buffer, offset: number): Message {
  const postsize = u16(buf, offset + 2);
  const extended = postsize === EXTENDED_MARKER;
  const payloadSize = extended ? u32(buf, offset + 16) : postsize;
  const start = offset + (extended ? EXTENDED_HEADER_SIZE : HEADER_SIZE);
  return {
    command: u16(buf, offset),
    payloadSize,
    dataType: u16(buf, offset + 4),
    dataCount: extended ? u32(buf, offset + 20) : u16(buf, offset + 6),
    parameter1: u32(buf, offset + 8),
    parameter2: u32(buf, offset + 12),
    payload: payloadSize === 0 ? NO_PAYLOAD : buf.subarray(start, start + payloadSize),
  };
}

// Big-endian reads without Buffer's argument checks: the callers checked the length.
function u16(b: Buffer, o: number): number {
  return (b[o] << 8) | b[o + 1];
}

function u32(b: Buffer, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}
