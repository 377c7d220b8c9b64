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
import { readHeader, type Message } from './header';

export interface FramerOptions {
  /** Largest payload accepted, in bytes. */
  maxPayload: number;
  /** Require 8-byte aligned payloads (TCP: yes, as RSRV does). */
  requireAlignment: boolean;
}

export class MessageFramer {
  private chunks: Buffer[] = [];
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
    if (data.length > 0) {
      this.chunks.push(data);
      this.buffered += data.length;
    }
    const out: Message[] = [];
    while (this.buffered >= HEADER_SIZE) {
      const head = this.peek(EXTENDED_HEADER_SIZE);
      const header = readHeader(head, 0);
      if (!header) break;
      this.check(header.payloadSize, header.command);
      const total = header.headerLength + header.payloadSize;
      if (this.buffered < total) break;
      const whole = this.take(total);
      out.push({
        command: header.command,
        payloadSize: header.payloadSize,
        dataType: header.dataType,
        dataCount: header.dataCount,
        parameter1: header.parameter1,
        parameter2: header.parameter2,
        payload: whole.subarray(header.headerLength, total),
      });
    }
    return out;
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
  let offset = 0;
  while (offset < data.length) {
    const header = readHeader(data, offset);
    if (!header || offset + header.headerLength + header.payloadSize > data.length) {
      throw new CaProtocolError('CA_ERR_TRUNCATED', `datagram ends inside a message at byte ${offset}`);
    }
    const start = offset + header.headerLength;
    onMessage({
      command: header.command,
      payloadSize: header.payloadSize,
      dataType: header.dataType,
      dataCount: header.dataCount,
      parameter1: header.parameter1,
      parameter2: header.parameter2,
      payload: data.subarray(start, start + header.payloadSize),
    });
    offset = start + header.payloadSize;
  }
}
