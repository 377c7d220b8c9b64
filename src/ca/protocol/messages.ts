/**
 * Builders for every message a CA server sends, and for the requests a client
 * sends (used by tests and tools). Pure functions from fields to bytes.
 *
 * Field use per command follows the CA protocol specification and RSRV
 * (modules/database/src/ioc/rsrv/camessage.c, online_notify.c).
 */
import {
  ACCESS_READ, ACCESS_WRITE, CA_MINOR_VERSION, Command, DBE_ALARM, DBE_VALUE,
  SEARCH_DO_REPLY, SEARCH_DONT_REPLY, VERSION_SEQUENCE_VALID,
} from './constants';
import { encodeCString, encodeMessage, padTo8 } from './header';

// ---------------------------------------------------------------- server side

/** TCP VERSION sent on accept: dtype = priority (0), count = minor version. */
export function versionMessage(priority = 0, minor = CA_MINOR_VERSION): Buffer {
  return encodeMessage({ command: Command.VERSION, payloadSize: 0, dataType: priority, dataCount: minor, parameter1: 0, parameter2: 0 });
}

/** UDP VERSION that opens a search reply datagram, echoing the client's sequence number. */
export function udpVersionMessage(sequence: number | undefined, minor = CA_MINOR_VERSION): Buffer {
  return encodeMessage({
    command: Command.VERSION, payloadSize: 0,
    dataType: sequence === undefined ? 0 : VERSION_SEQUENCE_VALID,
    dataCount: minor, parameter1: sequence ?? 0, parameter2: 0,
  });
}

/** A search reply's payload: the server's minor version, in 8 bytes. */
export function searchReplyPayload(minor = CA_MINOR_VERSION): Buffer {
  const payload = Buffer.alloc(8);
  payload.writeUInt16BE(minor, 0);
  return payload;
}

/**
 * SEARCH reply: dtype = TCP port, p1 = server address (0xFFFFFFFF: use the
 * datagram's source), p2 = the client's channel id. The payload is the server
 * minor version in 8 bytes; RSRV sends postsize 8 and libca requires >= 2.
 */
export function searchReply(tcpPort: number, cid: number, serverAddress = 0xffffffff, minor = CA_MINOR_VERSION): Buffer {
  const payload = searchReplyPayload(minor);
  return encodeMessage({ command: Command.SEARCH, payloadSize: 8, dataType: tcpPort, dataCount: 0, parameter1: serverAddress, parameter2: cid }, payload);
}

/** Beacon (RSRV_IS_UP): dtype = minor version, count = TCP port, p1 = counter, p2 = address. */
export function beaconMessage(tcpPort: number, counter: number, address = 0, minor = CA_MINOR_VERSION): Buffer {
  return encodeMessage({ command: Command.RSRV_IS_UP, payloadSize: 0, dataType: minor, dataCount: tcpPort, parameter1: counter >>> 0, parameter2: address >>> 0 });
}

/** ACCESS_RIGHTS' p2: the read and write bits. */
export function accessRightsBits(read: boolean, write: boolean): number {
  return (read ? ACCESS_READ : 0) | (write ? ACCESS_WRITE : 0);
}

export function accessRightsMessage(cid: number, read: boolean, write: boolean): Buffer {
  const bits = accessRightsBits(read, write);
  return encodeMessage({ command: Command.ACCESS_RIGHTS, payloadSize: 0, dataType: 0, dataCount: 0, parameter1: cid, parameter2: bits });
}

export function createChanReply(nativeType: number, maxCount: number, cid: number, sid: number): Buffer {
  return encodeMessage({ command: Command.CREATE_CHAN, payloadSize: 0, dataType: nativeType, dataCount: maxCount, parameter1: cid, parameter2: sid });
}

export function createChanFailMessage(cid: number): Buffer {
  return encodeMessage({ command: Command.CREATE_CH_FAIL, payloadSize: 0, dataType: 0, dataCount: 0, parameter1: cid, parameter2: 0 });
}

export function readNotifyReply(dbrType: number, count: number, eca: number, ioid: number, payload: Buffer): Buffer {
  return encodeMessage({ command: Command.READ_NOTIFY, payloadSize: payload.length, dataType: dbrType, dataCount: count, parameter1: eca, parameter2: ioid }, payload);
}

/** Reply to the obsolete READ: p1 = CID, p2 = the request's p2 (camessage.c read_action). */
export function readReply(dbrType: number, count: number, cid: number, ioid: number, payload: Buffer): Buffer {
  return encodeMessage({ command: Command.READ, payloadSize: payload.length, dataType: dbrType, dataCount: count, parameter1: cid, parameter2: ioid }, payload);
}

export function writeNotifyReply(dbrType: number, count: number, eca: number, ioid: number): Buffer {
  return encodeMessage({ command: Command.WRITE_NOTIFY, payloadSize: 0, dataType: dbrType, dataCount: count, parameter1: eca, parameter2: ioid });
}

/** A monitor update (EVENT_ADD reply): p1 = ECA status, p2 = subscription id. */
export function eventMessage(dbrType: number, count: number, eca: number, subscriptionId: number, payload: Buffer): Buffer {
  return encodeMessage({ command: Command.EVENT_ADD, payloadSize: payload.length, dataType: dbrType, dataCount: count, parameter1: eca, parameter2: subscriptionId }, payload);
}

/** EVENT_CANCEL is confirmed with an EVENT_ADD carrying no payload (camessage.c event_cancel_reply). */
export function eventCancelReply(dbrType: number, count: number, sid: number, subscriptionId: number): Buffer {
  return encodeMessage({ command: Command.EVENT_ADD, payloadSize: 0, dataType: dbrType, dataCount: count, parameter1: sid, parameter2: subscriptionId });
}

export function clearChannelReply(sid: number, cid: number): Buffer {
  return encodeMessage({ command: Command.CLEAR_CHANNEL, payloadSize: 0, dataType: 0, dataCount: 0, parameter1: sid, parameter2: cid });
}

/**
 * NOT_FOUND, the answer to a TCP search with DO_REPLY for a name this server
 * does not serve: the request's dtype, count and parameters echoed
 * (camessage.c search_fail_reply).
 */
export function notFoundReply(request: { dataType: number; dataCount: number; parameter1: number; parameter2: number }): Buffer {
  return encodeMessage({
    command: Command.NOT_FOUND, payloadSize: 0, dataType: request.dataType, dataCount: request.dataCount,
    parameter1: request.parameter1, parameter2: request.parameter2,
  });
}

export function echoMessage(): Buffer {
  return encodeMessage({ command: Command.ECHO, payloadSize: 0, dataType: 0, dataCount: 0, parameter1: 0, parameter2: 0 });
}

export function serverDisconnMessage(cid: number): Buffer {
  return encodeMessage({ command: Command.SERVER_DISCONN, payloadSize: 0, dataType: 0, dataCount: 0, parameter1: cid, parameter2: 0 });
}

/**
 * ERROR: p1 = CID (or 0), p2 = ECA code; payload = the offending request's
 * 16-byte header followed by a NUL-terminated message (camessage.c send_err).
 */
export function errorMessage(cid: number, eca: number, request: Buffer, text: string): Buffer {
  const head = Buffer.alloc(16);
  request.copy(head, 0, 0, Math.min(16, request.length));
  const msg = Buffer.from(text, 'utf8');
  const payload = Buffer.alloc(padTo8(16 + msg.length + 1));
  head.copy(payload, 0);
  msg.copy(payload, 16);
  return encodeMessage({ command: Command.ERROR, payloadSize: payload.length, dataType: 0, dataCount: 0, parameter1: cid, parameter2: eca }, payload);
}

/** The 16 header bytes of a received request, re-encoded for an ERROR reply. */
export function requestHeaderBytes(h: { command: number; payloadSize: number; dataType: number; dataCount: number; parameter1: number; parameter2: number }): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt16BE(h.command & 0xffff, 0);
  b.writeUInt16BE(Math.min(h.payloadSize, 0xffff), 2);
  b.writeUInt16BE(h.dataType & 0xffff, 4);
  b.writeUInt16BE(Math.min(h.dataCount, 0xffff), 6);
  b.writeUInt32BE(h.parameter1 >>> 0, 8);
  b.writeUInt32BE(h.parameter2 >>> 0, 12);
  return b;
}

// ---------------------------------------------------------------- request payloads

/** The subscription mask from an EVENT_ADD payload (f32 low, f32 high, f32 to, u16 mask). */
export function eventAddMask(payload: Buffer): number {
  // Pre-3.13 clients sent no mask; RSRV then uses VALUE|ALARM.
  if (payload.length < 14) return DBE_VALUE | DBE_ALARM;
  return payload.readUInt16BE(12);
}

// ---------------------------------------------------------------- client side (tests and tools)

export function clientVersion(priority = 0, minor = CA_MINOR_VERSION): Buffer {
  return encodeMessage({ command: Command.VERSION, payloadSize: 0, dataType: priority, dataCount: minor, parameter1: 0, parameter2: 0 });
}

export function searchRequest(name: string, cid: number, reply = false, minor = CA_MINOR_VERSION): Buffer {
  return encodeMessage({ command: Command.SEARCH, payloadSize: 0, dataType: reply ? SEARCH_DO_REPLY : SEARCH_DONT_REPLY, dataCount: minor, parameter1: cid, parameter2: cid }, encodeCString(name));
}

export function clientNameMessage(user: string): Buffer {
  return encodeMessage({ command: Command.CLIENT_NAME, payloadSize: 0, dataType: 0, dataCount: 0, parameter1: 0, parameter2: 0 }, encodeCString(user));
}

export function hostNameMessage(host: string): Buffer {
  return encodeMessage({ command: Command.HOST_NAME, payloadSize: 0, dataType: 0, dataCount: 0, parameter1: 0, parameter2: 0 }, encodeCString(host));
}

export function createChanRequest(name: string, cid: number, minor = CA_MINOR_VERSION): Buffer {
  return encodeMessage({ command: Command.CREATE_CHAN, payloadSize: 0, dataType: 0, dataCount: 0, parameter1: cid, parameter2: minor }, encodeCString(name));
}

export function readNotifyRequest(dbrType: number, count: number, sid: number, ioid: number): Buffer {
  return encodeMessage({ command: Command.READ_NOTIFY, payloadSize: 0, dataType: dbrType, dataCount: count, parameter1: sid, parameter2: ioid });
}

export function writeRequest(notify: boolean, dbrType: number, count: number, sid: number, ioid: number, payload: Buffer): Buffer {
  return encodeMessage({ command: notify ? Command.WRITE_NOTIFY : Command.WRITE, payloadSize: 0, dataType: dbrType, dataCount: count, parameter1: sid, parameter2: ioid }, payload);
}

export function eventAddRequest(dbrType: number, count: number, sid: number, subscriptionId: number, mask: number): Buffer {
  const payload = Buffer.alloc(16);
  payload.writeUInt16BE(mask, 12);
  return encodeMessage({ command: Command.EVENT_ADD, payloadSize: 0, dataType: dbrType, dataCount: count, parameter1: sid, parameter2: subscriptionId }, payload);
}

export function eventCancelRequest(dbrType: number, count: number, sid: number, subscriptionId: number): Buffer {
  return encodeMessage({ command: Command.EVENT_CANCEL, payloadSize: 0, dataType: dbrType, dataCount: count, parameter1: sid, parameter2: subscriptionId });
}

export function clearChannelRequest(sid: number, cid: number): Buffer {
  return encodeMessage({ command: Command.CLEAR_CHANNEL, payloadSize: 0, dataType: 0, dataCount: 0, parameter1: sid, parameter2: cid });
}

export function eventsOffRequest(): Buffer {
  return encodeMessage({ command: Command.EVENTS_OFF, payloadSize: 0, dataType: 0, dataCount: 0, parameter1: 0, parameter2: 0 });
}

export function eventsOnRequest(): Buffer {
  return encodeMessage({ command: Command.EVENTS_ON, payloadSize: 0, dataType: 0, dataCount: 0, parameter1: 0, parameter2: 0 });
}

