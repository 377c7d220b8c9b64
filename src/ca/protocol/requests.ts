/**
 * Client requests on a TCP circuit, decoded from framed messages into one
 * typed value each, with the header's positional fields given their names
 * (the shape of pg-protocol's parser: bytes in, one named message out).
 *
 * Which header field means what, per command, follows the CA protocol
 * specification ("CA 4.11") and RSRV's camessage.c, which reads them the same
 * way. Every request keeps its header so that an ERROR reply can quote it.
 */
import { Command, SEARCH_DO_REPLY } from './constants';
import { CaProtocolError } from './errors';
import { decodeCString, type Header, type Message } from './header';
import { eventAddMask } from './messages';

interface RequestBase {
  /** The request's header, as received: an ERROR reply quotes it. */
  readonly header: Header;
}

/** VERSION: the client's priority (0..99) and minor protocol version. */
export interface VersionRequest extends RequestBase {
  readonly kind: 'version';
  readonly priority: number;
  readonly minorVersion: number;
}

/** SEARCH over TCP (name resolution over an open circuit, minor >= 12). */
export interface SearchRequest extends RequestBase {
  readonly kind: 'search';
  readonly name: string;
  /** The client's search id, echoed in the reply. */
  readonly searchId: number;
  /** DO_REPLY: the client wants NOT_FOUND for a name nobody serves. */
  readonly replyWanted: boolean;
  readonly minorVersion: number;
}

export interface ClientNameRequest extends RequestBase {
  readonly kind: 'clientName';
  readonly user: string;
}

export interface HostNameRequest extends RequestBase {
  readonly kind: 'hostName';
  readonly host: string;
}

export interface CreateChannelRequest extends RequestBase {
  readonly kind: 'createChannel';
  readonly cid: number;
  readonly name: string;
  readonly minorVersion: number;
}

export interface ClearChannelRequest extends RequestBase {
  readonly kind: 'clearChannel';
  readonly sid: number;
  readonly cid: number;
}

/** READ_NOTIFY (notify) or the obsolete READ. */
export interface ReadRequest extends RequestBase {
  readonly kind: 'read';
  readonly notify: boolean;
  readonly sid: number;
  readonly ioid: number;
  readonly dbrType: number;
  /** Element count; 0 asks for the current length (minor >= 13). */
  readonly count: number;
}

/** WRITE (no reply unless it fails) or WRITE_NOTIFY (always a reply, when the write has completed). */
export interface WriteRequestMessage extends RequestBase {
  readonly kind: 'write';
  readonly notify: boolean;
  readonly sid: number;
  readonly ioid: number;
  readonly dbrType: number;
  readonly count: number;
  readonly payload: Buffer;
}

export interface EventAddRequest extends RequestBase {
  readonly kind: 'eventAdd';
  readonly sid: number;
  readonly subscriptionId: number;
  readonly dbrType: number;
  /** 0: the current length at each update. */
  readonly count: number;
  /** DBE_* bits the client asked for. */
  readonly mask: number;
}

export interface EventCancelRequest extends RequestBase {
  readonly kind: 'eventCancel';
  readonly sid: number;
  readonly subscriptionId: number;
  readonly dbrType: number;
  readonly count: number;
}

/** Requests with nothing but their command: ECHO, EVENTS_OFF, EVENTS_ON, READ_SYNC. */
export interface BareRequest extends RequestBase {
  readonly kind: 'echo' | 'eventsOff' | 'eventsOn' | 'readSync';
}

export type ClientRequest =
  | VersionRequest | SearchRequest | ClientNameRequest | HostNameRequest
  | CreateChannelRequest | ClearChannelRequest | ReadRequest | WriteRequestMessage
  | EventAddRequest | EventCancelRequest | BareRequest;

export type RequestKind = ClientRequest['kind'];

/**
 * Decode one framed message from a client. A command a client never sends a
 * server (a reply code, or an unknown number) is a CaProtocolError.
 */
export function decodeRequest(m: Message): ClientRequest {
  // The message is the header an ERROR reply quotes (its payload is not read again).
  const h: Header = m;
  switch (m.command) {
    case Command.VERSION:
      return { kind: 'version', header: h, priority: m.dataType, minorVersion: m.dataCount };
    case Command.SEARCH:
      return {
        kind: 'search', header: h, name: decodeCString(m.payload), searchId: m.parameter1,
        replyWanted: m.dataType === SEARCH_DO_REPLY, minorVersion: m.dataCount,
      };
    case Command.CLIENT_NAME:
      return { kind: 'clientName', header: h, user: decodeCString(m.payload) };
    case Command.HOST_NAME:
      return { kind: 'hostName', header: h, host: decodeCString(m.payload) };
    case Command.CREATE_CHAN:
      return { kind: 'createChannel', header: h, cid: m.parameter1, minorVersion: m.parameter2, name: decodeCString(m.payload) };
    case Command.CLEAR_CHANNEL:
      return { kind: 'clearChannel', header: h, sid: m.parameter1, cid: m.parameter2 };
    case Command.READ:
    case Command.READ_NOTIFY:
      return {
        kind: 'read', header: h, notify: m.command === Command.READ_NOTIFY,
        sid: m.parameter1, ioid: m.parameter2, dbrType: m.dataType, count: m.dataCount,
      };
    case Command.WRITE:
    case Command.WRITE_NOTIFY:
      return {
        kind: 'write', header: h, notify: m.command === Command.WRITE_NOTIFY,
        sid: m.parameter1, ioid: m.parameter2, dbrType: m.dataType, count: m.dataCount, payload: m.payload,
      };
    case Command.EVENT_ADD:
      return {
        kind: 'eventAdd', header: h, sid: m.parameter1, subscriptionId: m.parameter2,
        dbrType: m.dataType, count: m.dataCount, mask: eventAddMask(m.payload),
      };
    case Command.EVENT_CANCEL:
      return { kind: 'eventCancel', header: h, sid: m.parameter1, subscriptionId: m.parameter2, dbrType: m.dataType, count: m.dataCount };
    case Command.ECHO:
      return { kind: 'echo', header: h };
    case Command.EVENTS_OFF:
      return { kind: 'eventsOff', header: h };
    case Command.EVENTS_ON:
      return { kind: 'eventsOn', header: h };
    case Command.READ_SYNC:
      return { kind: 'readSync', header: h };
    default:
      throw new CaProtocolError('CA_ERR_BAD_COMMAND', `command ${m.command} is not a request a client sends a server`);
  }
}
