/**
 * The pvAccess message header and the stream framer.
 *
 *     0: 0xCA | version | flags | command
 *     4: payload size (uint32, in the byte order the flags name)
 *
 * Flags (pvxs `pvaproto.h`): bit 0 control message, bits 4-5 segmentation
 * (01 first, 11 middle, 10 last), bit 6 sent by a server, bit 7 big endian.
 * A control message has no payload; its size field carries the argument.
 */
import { PvaProtocolError } from './errors';

export const PVA_MAGIC = 0xca;
export const PVA_VERSION = 2;
export const HEADER_SIZE = 8;

export enum Flag {
  CONTROL = 0x01,
  SEG_FIRST = 0x10,
  SEG_LAST = 0x20,
  SEG_MASK = 0x30,
  SERVER = 0x40,
  BIG_ENDIAN = 0x80,
}

/** Application commands (pvaproto.h pva_app_msg_t). */
export enum Command {
  BEACON = 0, CONNECTION_VALIDATION = 1, ECHO = 2, SEARCH = 3, SEARCH_RESPONSE = 4, AUTHNZ = 5, ACL_CHANGE = 6,
  CREATE_CHANNEL = 7, DESTROY_CHANNEL = 8, CONNECTION_VALIDATED = 9, GET = 10, PUT = 11, PUT_GET = 12, MONITOR = 13,
  ARRAY = 14, DESTROY_REQUEST = 15, PROCESS = 16, GET_FIELD = 17, MESSAGE = 18, MULTIPLE_DATA = 19, RPC = 20,
  CANCEL_REQUEST = 21, ORIGIN_TAG = 22,
}

/** Control commands. pvAccessCPP also sends ECHO_REQUEST/ECHO_RESPONSE as control messages. */
export enum ControlCommand { SET_MARKER = 0, ACK_MARKER = 1, SET_BYTE_ORDER = 2, ECHO_REQUEST = 3, ECHO_RESPONSE = 4 }

/** Sub-command bits of GET/PUT/PUT_GET/MONITOR/RPC requests (pvaproto.h pva_subcmd, servermon.cpp). */
export enum SubCommand {
  DEFAULT = 0x00,
  /** MONITOR: start (with GET) or stop (without). */
  START_STOP = 0x04,
  INIT = 0x08,
  DESTROY = 0x10,
  /** PUT: fetch the current value instead of writing. MONITOR: start. */
  GET = 0x40,
  /** MONITOR: pipeline ack (INIT: the initial window follows). */
  ACK = 0x80,
}

export interface Frame {
  command: number;
  flags: number;
  control: boolean;
  bigEndian: boolean;
  /** Control messages: the size field's value. Application messages: payload length. */
  size: number;
  payload: Buffer;
}

export function encodeHeader(command: number, flags: number, size: number, bigEndian: boolean): Buffer {
  const b = Buffer.allocUnsafe(HEADER_SIZE);
  b[0] = PVA_MAGIC;
  b[1] = PVA_VERSION;
  b[2] = (flags & ~Flag.BIG_ENDIAN) | (bigEndian ? Flag.BIG_ENDIAN : 0);
  b[3] = command;
  if (bigEndian) b.writeUInt32BE(size >>> 0, 4);
  else b.writeUInt32LE(size >>> 0, 4);
  return b;
}

/** A whole application message: header and payload in one buffer. */
export function frameMessage(command: number, flags: number, payload: Uint8Array, bigEndian: boolean): Buffer {
  const out = Buffer.allocUnsafe(HEADER_SIZE + payload.length);
  encodeHeader(command, flags, payload.length, bigEndian).copy(out, 0);
  out.set(payload, HEADER_SIZE);
  return out;
}

export interface FramerOptions {
  /** Largest message payload accepted (after joining segments), in bytes. */
  maxPayload: number;
}

/**
 * Splits a TCP stream (or one datagram) into messages, joining segmented
 * ones. Accepts any split of its input. It checks a payload size against
 * the maximum before buffering any of it.
 */
export class PvaFramer {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private segments: Buffer[] | undefined;
  private segmentBytes = 0;
  private segmentCommand = -1;

  constructor(private readonly opts: FramerOptions) {}

  get pendingBytes(): number {
    return this.buffered + this.segmentBytes;
  }

  push(data: Buffer): Frame[] {
    if (data.length) {
      this.chunks.push(data);
      this.buffered += data.length;
    }
    const out: Frame[] = [];
    while (this.buffered >= HEADER_SIZE) {
      const head = this.peek(HEADER_SIZE);
      if (head[0] !== PVA_MAGIC) throw new PvaProtocolError('PVA_ERR_BAD_MAGIC', `message starts with 0x${head[0].toString(16)}, not 0xCA`);
      const flags = head[2];
      const bigEndian = (flags & Flag.BIG_ENDIAN) !== 0;
      const size = bigEndian ? head.readUInt32BE(4) : head.readUInt32LE(4);
      const command = head[3];
      if (flags & Flag.CONTROL) {
        this.take(HEADER_SIZE);
        out.push({ command, flags, control: true, bigEndian, size, payload: Buffer.alloc(0) });
        continue;
      }
      if (size + this.segmentBytes > this.opts.maxPayload) {
        throw new PvaProtocolError('PVA_ERR_TOO_LARGE', `message of ${size + this.segmentBytes} bytes exceeds the limit of ${this.opts.maxPayload}`);
      }
      if (this.buffered < HEADER_SIZE + size) break;
      const whole = this.take(HEADER_SIZE + size);
      const payload = whole.subarray(HEADER_SIZE);
      const seg = flags & Flag.SEG_MASK;
      if (seg === 0) {
        if (this.segments) throw new PvaProtocolError('PVA_ERR_BAD_SEGMENT', 'unsegmented message inside a segmented one');
        out.push({ command, flags, control: false, bigEndian, size, payload });
        continue;
      }
      if (seg === Flag.SEG_FIRST) {
        if (this.segments) throw new PvaProtocolError('PVA_ERR_BAD_SEGMENT', 'first segment while another message is open');
        this.segments = [payload];
        this.segmentBytes = payload.length;
        this.segmentCommand = command;
        continue;
      }
      if (!this.segments || command !== this.segmentCommand) throw new PvaProtocolError('PVA_ERR_BAD_SEGMENT', 'continuation segment without a first one');
      this.segments.push(payload);
      this.segmentBytes += payload.length;
      if (seg === Flag.SEG_LAST) {
        const joined = Buffer.concat(this.segments);
        this.segments = undefined;
        this.segmentBytes = 0;
        out.push({ command, flags: flags & ~Flag.SEG_MASK, control: false, bigEndian, size: joined.length, payload: joined });
      }
    }
    return out;
  }

  private peek(n: number): Buffer {
    if (this.chunks[0].length >= n) return this.chunks[0];
    const joined = Buffer.concat(this.chunks);
    this.chunks = [joined];
    return joined;
  }

  private take(n: number): Buffer {
    const first = this.chunks[0];
    if (first.length === n) {
      this.chunks.shift();
      this.buffered -= n;
      return first;
    }
    if (first.length > n) {
      this.chunks[0] = first.subarray(n);
      this.buffered -= n;
      return first.subarray(0, n);
    }
    const joined = Buffer.concat(this.chunks);
    this.chunks = joined.length > n ? [joined.subarray(n)] : [];
    this.buffered -= n;
    return joined.subarray(0, n);
  }
}
