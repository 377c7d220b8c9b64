/**
 * The Channel Access message header, standard (16 bytes) and extended (24 bytes).
 *
 * Layout (caProto.h `struct ca_hdr`): u16 command, u16 postsize, u16 dataType,
 * u16 count, u32 parameter1, u32 parameter2, big-endian. A sender whose padded
 * payload or element count does not fit in 16 bits uses the extended form,
 * postsize = 0xFFFF and count = 0 followed by u32 postsize and u32 count; libca
 * treats postsize == 0xFFFF alone as the marker (tcpiiu.cpp), and so do we.
 */
import { EXTENDED_HEADER_SIZE, HEADER_SIZE } from './constants';

export interface Header {
  command: number;
  payloadSize: number;
  dataType: number;
  dataCount: number;
  parameter1: number;
  parameter2: number;
}

/** A whole message: header plus its payload (padding included). */
export interface Message extends Header {
  payload: Buffer;
}

const EXTENDED_MARKER = 0xffff;

/** Whether a header with these sizes needs the extended form. */
export function needsExtendedHeader(payloadSize: number, dataCount: number): boolean {
  return payloadSize >= EXTENDED_MARKER || dataCount > 0xffff;
}

/** Size in bytes of the header that encodeHeader will write for these sizes. */
export function headerSize(payloadSize: number, dataCount: number): number {
  return needsExtendedHeader(payloadSize, dataCount) ? EXTENDED_HEADER_SIZE : HEADER_SIZE;
}

/** Write a header at `offset` in `buf`; returns the number of bytes written. */
export function writeHeader(buf: Buffer, offset: number, h: Header): number {
  if (needsExtendedHeader(h.payloadSize, h.dataCount)) {
    buf.writeUInt16BE(h.command, offset);
    buf.writeUInt16BE(EXTENDED_MARKER, offset + 2);
    buf.writeUInt16BE(h.dataType, offset + 4);
    buf.writeUInt16BE(0, offset + 6);
    buf.writeUInt32BE(h.parameter1 >>> 0, offset + 8);
    buf.writeUInt32BE(h.parameter2 >>> 0, offset + 12);
    buf.writeUInt32BE(h.payloadSize, offset + 16);
    buf.writeUInt32BE(h.dataCount, offset + 20);
    return EXTENDED_HEADER_SIZE;
  }
  buf.writeUInt16BE(h.command, offset);
  buf.writeUInt16BE(h.payloadSize, offset + 2);
  buf.writeUInt16BE(h.dataType, offset + 4);
  buf.writeUInt16BE(h.dataCount, offset + 6);
  buf.writeUInt32BE(h.parameter1 >>> 0, offset + 8);
  buf.writeUInt32BE(h.parameter2 >>> 0, offset + 12);
  return HEADER_SIZE;
}

/** Encode a header followed by its payload (the payload must already be padded). */
export function encodeMessage(h: Header, payload?: Buffer): Buffer {
  const size = payload ? payload.length : 0;
  const hdr = { ...h, payloadSize: size };
  const buf = Buffer.allocUnsafe(headerSize(size, h.dataCount) + size);
  const n = writeHeader(buf, 0, hdr);
  if (payload) payload.copy(buf, n);
  return buf;
}

/**
 * Read a header at `offset`. Returns undefined when `buf` does not yet hold
 * the whole header; `headerLength` tells how many bytes it took.
 */
export function readHeader(buf: Buffer, offset: number): (Header & { headerLength: number }) | undefined {
  if (buf.length - offset < HEADER_SIZE) return undefined;
  const command = buf.readUInt16BE(offset);
  const postsize = buf.readUInt16BE(offset + 2);
  const dataType = buf.readUInt16BE(offset + 4);
  const count = buf.readUInt16BE(offset + 6);
  const parameter1 = buf.readUInt32BE(offset + 8);
  const parameter2 = buf.readUInt32BE(offset + 12);
  if (postsize !== EXTENDED_MARKER) {
    return { command, payloadSize: postsize, dataType, dataCount: count, parameter1, parameter2, headerLength: HEADER_SIZE };
  }
  if (buf.length - offset < EXTENDED_HEADER_SIZE) return undefined;
  return {
    command,
    payloadSize: buf.readUInt32BE(offset + 16),
    dataType,
    dataCount: buf.readUInt32BE(offset + 20),
    parameter1,
    parameter2,
    headerLength: EXTENDED_HEADER_SIZE,
  };
}

/** Zero-pad `n` up to a multiple of 8 (every TCP payload is padded so). */
export function padTo8(n: number): number {
  return (n + 7) & ~7;
}

/** A NUL-terminated string padded to 8 bytes, as names are sent on the wire. */
export function encodeCString(s: string): Buffer {
  const bytes = Buffer.from(s, 'utf8');
  const out = Buffer.alloc(padTo8(bytes.length + 1));
  bytes.copy(out, 0);
  return out;
}

/** The text of a payload up to its first NUL (or its end). */
export function decodeCString(payload: Buffer): string {
  return decodeCStringAt(payload, 0, payload.length);
}

/** The text of `buf` from `start` up to its first NUL before `end` (or `end`), read in place. */
export function decodeCStringAt(buf: Buffer, start: number, end: number): string {
  let nul = start;
  let high = 0;
  while (nul < end && buf[nul] !== 0) high |= buf[nul++];
  if (nul === start) return '';
  // PV names are ASCII: read them as one byte per character, skipping UTF-8 decoding.
  return high < 0x80 ? buf.toString('latin1', start, nul) : buf.toString('utf8', start, nul);
}
