/**
 * The pvAccess messages, each as a typed value with an encoder and a
 * decoder (payload only; `header.ts` frames them). Field order follows pvxs
 * (`serverconn.cpp`, `serverchan.cpp`, `serverget.cpp`, `servermon.cpp`,
 * `server.cpp`) and the pvAccess protocol specification.
 *
 * Operation bodies that depend on the operation's type (a PUT's value, a GET
 * reply) are encoded here from the type and value; when decoding, the part
 * that needs the type is handed back as a Reader positioned on it.
 */
import { BitSet } from './bitset';
import { PvaProtocolError } from './errors';
import { Command, Flag, frameMessage, SubCommand } from './header';
import { readType, writeType, type FieldDesc, type TypeCache, type TypeRegistry } from './introspection';
import { readPartial, readValue, writePartial, writeValue, type PvData, type PvStruct } from './pvdata';
import { readStatus, Reader, Writer, writeStatus, type Status } from './wire';

// ------------------------------------------------------------ addresses

/** 16 bytes: an IPv6 address, IPv4 as ::ffff:a.b.c.d; all zero means "use the sender's address". */
export function writeAddress(w: Writer, ip: string): void {
  const v4 = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(ip);
  if (!v4) throw new PvaProtocolError('PVA_ERR_BAD_VALUE', `"${ip}" is not an IPv4 address`);
  if (ip === '0.0.0.0') {
    w.bytes(new Uint8Array(16));
    return;
  }
  w.bytes(new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...v4.slice(1).map(Number)]));
}

export function readAddress(r: Reader): string {
  const b = r.bytes(16);
  if (b.every((x) => x === 0)) return '0.0.0.0';
  const mapped = b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
  if (mapped) return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  const parts: string[] = [];
  for (let i = 0; i < 16; i += 2) parts.push(((b[i] << 8) | b[i + 1]).toString(16));
  return parts.join(':');
}

// ------------------------------------------------------------ connection setup

/** Server → client, first message after SET_BYTE_ORDER. */
export interface ServerValidation {
  bufferSize: number;
  registrySize: number;
  authMethods: string[];
}

export function encodeServerValidation(w: Writer, m: ServerValidation): void {
  w.u32(m.bufferSize).u16(m.registrySize).size(m.authMethods.length);
  for (const a of m.authMethods) w.string(a);
}

export function decodeServerValidation(r: Reader): ServerValidation {
  const bufferSize = r.u32();
  const registrySize = r.u16();
  const n = r.count(1, 'auth method list');
  const authMethods: string[] = [];
  for (let i = 0; i < n; i++) authMethods.push(r.string());
  return { bufferSize, registrySize, authMethods };
}

/** Client → server: the chosen authentication and its data (for `ca`: a structure with user and host). */
export interface ClientValidation {
  bufferSize: number;
  registrySize: number;
  qos: number;
  authMethod: string;
  authType: FieldDesc | null;
  authValue: PvData;
}

export function encodeClientValidation(w: Writer, m: ClientValidation): void {
  w.u32(m.bufferSize).u16(m.registrySize).u16(m.qos).string(m.authMethod);
  writeType(w, m.authType);
  if (m.authType) writeValue(w, m.authType, m.authValue);
}

export function decodeClientValidation(r: Reader, cache: TypeCache): ClientValidation {
  const bufferSize = r.u32();
  const registrySize = r.u16();
  const qos = r.u16();
  const authMethod = r.string();
  // pvAccessCPP clients of old sent nothing after the method name.
  const authType = r.remaining > 0 ? readType(r, cache) : null;
  const authValue = authType ? readValue(r, authType, cache) : undefined;
  return { bufferSize, registrySize, qos, authMethod, authType, authValue };
}

// ------------------------------------------------------------ search and beacons (UDP, always big endian in pvxs)

export const SEARCH_MUST_REPLY = 0x01;
export const SEARCH_UNICAST = 0x80;

export interface SearchRequest {
  sequence: number;
  flags: number;
  responseAddress: string;
  responsePort: number;
  protocols: string[];
  channels: Array<{ id: number; name: string }>;
}

export function encodeSearchRequest(w: Writer, m: SearchRequest): void {
  w.u32(m.sequence).u8(m.flags).u8(0).u8(0).u8(0);
  writeAddress(w, m.responseAddress);
  w.u16(m.responsePort).size(m.protocols.length);
  for (const p of m.protocols) w.string(p);
  w.u16(m.channels.length);
  for (const c of m.channels) w.u32(c.id).string(c.name);
}

export function decodeSearchRequest(r: Reader): SearchRequest {
  const sequence = r.u32();
  const flags = r.u8();
  r.bytes(3);
  const responseAddress = readAddress(r);
  const responsePort = r.u16();
  const np = r.count(1, 'protocol list');
  const protocols: string[] = [];
  for (let i = 0; i < np; i++) protocols.push(r.string());
  const nc = r.u16();
  const channels: SearchRequest['channels'] = [];
  for (let i = 0; i < nc; i++) channels.push({ id: r.u32(), name: r.string() });
  return { sequence, flags, responseAddress, responsePort, protocols, channels };
}

export interface SearchResponse {
  guid: Buffer;
  sequence: number;
  serverAddress: string;
  serverPort: number;
  protocol: string;
  found: boolean;
  ids: number[];
}

export function encodeSearchResponse(w: Writer, m: SearchResponse): void {
  w.bytes(m.guid).u32(m.sequence);
  writeAddress(w, m.serverAddress);
  w.u16(m.serverPort).string(m.protocol).u8(m.found ? 1 : 0).u16(m.ids.length);
  for (const id of m.ids) w.u32(id);
}

export function decodeSearchResponse(r: Reader): SearchResponse {
  const guid = Buffer.from(r.bytes(12));
  const sequence = r.u32();
  const serverAddress = readAddress(r);
  const serverPort = r.u16();
  const protocol = r.string();
  const found = r.u8() !== 0;
  const n = r.u16();
  const ids: number[] = [];
  for (let i = 0; i < n; i++) ids.push(r.u32());
  return { guid, sequence, serverAddress, serverPort, protocol, found, ids };
}

export interface Beacon {
  guid: Buffer;
  flags: number;
  sequence: number;
  changeCount: number;
  serverAddress: string;
  serverPort: number;
  protocol: string;
}

export function encodeBeacon(w: Writer, m: Beacon): void {
  w.bytes(m.guid).u8(m.flags).u8(m.sequence).u16(m.changeCount);
  writeAddress(w, m.serverAddress);
  // Server status: "no type" (pvxs sends none).
  w.u16(m.serverPort).string(m.protocol).u8(0xff);
}

export function decodeBeacon(r: Reader, cache: TypeCache): Beacon {
  const guid = Buffer.from(r.bytes(12));
  const flags = r.u8();
  const sequence = r.u8();
  const changeCount = r.u16();
  const serverAddress = readAddress(r);
  const serverPort = r.u16();
  const protocol = r.string();
  const statusType = r.remaining > 0 ? readType(r, cache) : null;
  if (statusType) readValue(r, statusType, cache);
  return { guid, flags, sequence, changeCount, serverAddress, serverPort, protocol };
}

// ------------------------------------------------------------ channels

export interface CreateChannelRequest {
  channels: Array<{ cid: number; name: string }>;
}

export function encodeCreateChannelRequest(w: Writer, m: CreateChannelRequest): void {
  w.u16(m.channels.length);
  for (const c of m.channels) w.u32(c.cid).string(c.name);
}

export function decodeCreateChannelRequest(r: Reader): CreateChannelRequest {
  const n = r.u16();
  const channels: CreateChannelRequest['channels'] = [];
  for (let i = 0; i < n; i++) channels.push({ cid: r.u32(), name: r.string() });
  return { channels };
}

export interface CreateChannelResponse {
  cid: number;
  sid: number;
  status: Status;
}

export function encodeCreateChannelResponse(w: Writer, m: CreateChannelResponse): void {
  w.u32(m.cid).u32(m.sid);
  writeStatus(w, m.status);
}

export function decodeCreateChannelResponse(r: Reader): CreateChannelResponse {
  return { cid: r.u32(), sid: r.u32(), status: readStatus(r) };
}

/** DESTROY_CHANNEL in both directions: sid then cid. */
export interface DestroyChannel {
  sid: number;
  cid: number;
}

export function encodeDestroyChannel(w: Writer, m: DestroyChannel): void {
  w.u32(m.sid).u32(m.cid);
}

export function decodeDestroyChannel(r: Reader): DestroyChannel {
  return { sid: r.u32(), cid: r.u32() };
}

// ------------------------------------------------------------ operations: requests

/** GET, PUT, PUT_GET, MONITOR, RPC from a client: sid, ioid, sub-command, then what the sub-command says. */
export interface OpRequestHead {
  sid: number;
  ioid: number;
  subcmd: number;
}

export function decodeOpRequestHead(r: Reader): OpRequestHead {
  return { sid: r.u32(), ioid: r.u32(), subcmd: r.u8() };
}

export interface OpInit extends OpRequestHead {
  /** The pvRequest structure (type and full value). */
  requestType: FieldDesc | null;
  request: PvData;
  /** MONITOR with ACK in the INIT: the initial pipeline window. */
  nack?: number;
}

export function encodeOpInit(w: Writer, m: OpInit, command: Command): void {
  w.u32(m.sid).u32(m.ioid).u8(m.subcmd);
  writeType(w, m.requestType);
  if (m.requestType) writeValue(w, m.requestType, m.request);
  if (command === Command.MONITOR && m.subcmd & SubCommand.ACK) w.u32(m.nack ?? 0);
}

/** The rest of an INIT after its head. */
export function decodeOpInitBody(r: Reader, head: OpRequestHead, command: Command, cache: TypeCache): OpInit {
  const requestType = readType(r, cache);
  const request = requestType ? readValue(r, requestType, cache) : undefined;
  const nack = command === Command.MONITOR && head.subcmd & SubCommand.ACK ? r.u32() : undefined;
  return { ...head, requestType, request, nack };
}

/** PUT (or PUT_GET) execution from a client: bitset and the fields it marks. */
export function encodePutExec(w: Writer, head: OpRequestHead, value: PvStruct, changed: BitSet): void {
  w.u32(head.sid).u32(head.ioid).u8(head.subcmd);
  writePartial(w, value, changed);
}

/** MONITOR control after INIT: start/stop/destroy, with an ack count when ACK is set. */
export function encodeMonitorControl(w: Writer, head: OpRequestHead, nack?: number): void {
  w.u32(head.sid).u32(head.ioid).u8(head.subcmd);
  if (head.subcmd & SubCommand.ACK) w.u32(nack ?? 0);
}

export function encodeSidIoid(w: Writer, sid: number, ioid: number): void {
  w.u32(sid).u32(ioid);
}

export function decodeSidIoid(r: Reader): { sid: number; ioid: number } {
  return { sid: r.u32(), ioid: r.u32() };
}

export interface GetFieldRequest {
  sid: number;
  ioid: number;
  subField: string;
}

export function encodeGetFieldRequest(w: Writer, m: GetFieldRequest): void {
  w.u32(m.sid).u32(m.ioid).string(m.subField);
}

export function decodeGetFieldRequest(r: Reader): GetFieldRequest {
  return { sid: r.u32(), ioid: r.u32(), subField: r.remaining > 0 ? r.string() : '' };
}

// ------------------------------------------------------------ operations: replies

/** An INIT reply: the operation's type when it succeeded (RPC sends none). */
export interface OpInitReply {
  ioid: number;
  subcmd: number;
  status: Status;
  type?: FieldDesc | null;
}

export function encodeOpInitReply(w: Writer, m: OpInitReply, registry?: TypeRegistry): void {
  w.u32(m.ioid).u8(m.subcmd);
  writeStatus(w, m.status);
  if (m.type !== undefined) writeType(w, m.type, registry);
}

export function decodeOpInitReply(r: Reader, cache: TypeCache, withType: boolean): OpInitReply {
  const ioid = r.u32();
  const subcmd = r.u8();
  const status = readStatus(r);
  const type = withType && r.remaining > 0 ? readType(r, cache) : undefined;
  return { ioid, subcmd, status, type };
}

/** GET reply, PUT reply with GET, MONITOR update: head, then bitset and partial value (monitors add an overrun bitset). */
export interface DataReply {
  ioid: number;
  subcmd: number;
  /** GET and PUT replies carry a status; monitor updates do not. */
  status?: Status;
  value?: PvStruct;
  changed?: BitSet;
  overrun?: BitSet;
}

export function encodeDataReply(w: Writer, m: DataReply): void {
  w.u32(m.ioid).u8(m.subcmd);
  if (m.status) writeStatus(w, m.status);
  if (m.value && m.changed) writePartial(w, m.value, m.changed);
  if (m.overrun) m.overrun.write(w);
}

/** Decode a reply whose value has the layout of `into` (the operation's type). */
export function decodeDataReply(r: Reader, opts: { withStatus: boolean; into?: PvStruct; monitor: boolean; cache: TypeCache }): DataReply {
  const ioid = r.u32();
  const subcmd = r.u8();
  const status = opts.withStatus ? readStatus(r) : undefined;
  if (opts.monitor && subcmd & SubCommand.DESTROY) return { ioid, subcmd, status: r.remaining > 0 ? readStatus(r) : undefined };
  if (!opts.into || r.remaining === 0) return { ioid, subcmd, status };
  const changed = readPartial(r, opts.into, opts.cache);
  const overrun = opts.monitor && r.remaining > 0 ? BitSet.read(r) : undefined;
  return { ioid, subcmd, status, value: opts.into, changed, overrun };
}

/** MONITOR end (sub-command DESTROY) with a status, as pvxs sends for finish(). */
export function encodeMonitorFinish(w: Writer, ioid: number, status: Status): void {
  w.u32(ioid).u8(SubCommand.DESTROY);
  writeStatus(w, status);
}

export interface GetFieldReply {
  ioid: number;
  status: Status;
  type?: FieldDesc | null;
}

export function encodeGetFieldReply(w: Writer, m: GetFieldReply, registry?: TypeRegistry): void {
  w.u32(m.ioid);
  writeStatus(w, m.status);
  if (m.type !== undefined) writeType(w, m.type, registry);
}

export function decodeGetFieldReply(r: Reader, cache: TypeCache): GetFieldReply {
  const ioid = r.u32();
  const status = readStatus(r);
  const type = r.remaining > 0 ? readType(r, cache) : undefined;
  return { ioid, status, type };
}

/** RPC exec reply: status, then the result's type and full value. */
export interface RpcReply {
  ioid: number;
  subcmd: number;
  status: Status;
  type?: FieldDesc | null;
  value?: PvData;
}

export function encodeRpcReply(w: Writer, m: RpcReply): void {
  w.u32(m.ioid).u8(m.subcmd);
  writeStatus(w, m.status);
  if (m.type !== undefined) {
    writeType(w, m.type);
    if (m.type) writeValue(w, m.type, m.value);
  }
}

export function decodeRpcReply(r: Reader, cache: TypeCache): RpcReply {
  const ioid = r.u32();
  const subcmd = r.u8();
  const status = readStatus(r);
  if (r.remaining === 0) return { ioid, subcmd, status };
  const type = readType(r, cache);
  return { ioid, subcmd, status, type, value: type ? readValue(r, type, cache) : undefined };
}

/** MESSAGE: text about an operation (0 info, 1 warning, 2 error, 3 fatal). */
export interface OpMessage {
  ioid: number;
  type: number;
  message: string;
}

export function encodeOpMessage(w: Writer, m: OpMessage): void {
  w.u32(m.ioid).u8(m.type).string(m.message);
}

export function decodeOpMessage(r: Reader): OpMessage {
  return { ioid: r.u32(), type: r.u8(), message: r.string() };
}

// ------------------------------------------------------------ framing helpers

/** Encode a payload with `fill` and frame it as a server message. */
export function serverMessage(command: Command, bigEndian: boolean, fill: (w: Writer) => void, initial = 64): Buffer {
  const w = new Writer(bigEndian, initial + 8);
  w.offset = 8;
  fill(w);
  const size = w.offset - 8;
  const b = w.buf;
  b[0] = 0xca;
  b[1] = 2;
  b[2] = Flag.SERVER | (bigEndian ? Flag.BIG_ENDIAN : 0);
  b[3] = command;
  if (bigEndian) b.writeUInt32BE(size, 4);
  else b.writeUInt32LE(size, 4);
  return Buffer.from(b.subarray(0, w.offset));
}

/** Encode a payload with `fill` and frame it as a client message (tests, the benchmark client). */
export function clientMessage(command: Command, bigEndian: boolean, fill: (w: Writer) => void): Buffer {
  const w = new Writer(bigEndian);
  fill(w);
  return frameMessage(command, 0, w.view(), bigEndian);
}

/** The SET_BYTE_ORDER control message a server sends first (the size field is unused). */
export function setByteOrderMessage(bigEndian: boolean): Buffer {
  const b = Buffer.alloc(8);
  b[0] = 0xca;
  b[1] = 2;
  b[2] = Flag.CONTROL | Flag.SERVER | (bigEndian ? Flag.BIG_ENDIAN : 0);
  b[3] = 2;
  return b;
}

export { Reader, Writer };
