/**
 * Answering a SEARCH, over UDP or over a TCP connection (name servers):
 * which of the asked names this server has, and the reply to send. As in
 * pvxs (`server.cpp` onSearch), a search with no hits gets a reply only
 * when it sets MustReply (that is how `pvxlist` discovers servers), the
 * reply names the TCP port and leaves the address zero ("the address you
 * sent to"), and only the "tcp" protocol is offered.
 */
import { PvaProtocolError } from '../protocol/errors';
import { Command } from '../protocol/header';
import { decodeSearchRequest, encodeSearchResponse, SEARCH_MUST_REPLY, serverMessage, type SearchRequest } from '../protocol/messages';
import { Reader } from '../protocol/wire';

export interface SearchOutcome {
  request?: SearchRequest;
  /** The reply to send, if any. */
  reply?: Buffer;
  found: number;
  error?: string;
}

export function answerSearch(request: SearchRequest, has: (name: string) => boolean, guid: Buffer, tcpPort: number, bigEndian: boolean): SearchOutcome {
  const ids = request.channels.filter((c) => has(c.name)).map((c) => c.id);
  const tcp = request.protocols.length === 0 || request.protocols.includes('tcp');
  const mustReply = (request.flags & SEARCH_MUST_REPLY) !== 0;
  if (!(ids.length > 0 && tcp) && !(ids.length === 0 && mustReply)) return { request, found: ids.length };
  const reply = serverMessage(Command.SEARCH_RESPONSE, bigEndian, (w) => encodeSearchResponse(w, {
    guid, sequence: request.sequence, serverAddress: '0.0.0.0', serverPort: tcpPort, protocol: 'tcp', found: ids.length > 0, ids,
  }));
  return { request, reply, found: ids.length };
}

/** Decode a SEARCH payload; bad bytes are reported, never thrown. */
export function decodeSearch(payload: Buffer, bigEndian: boolean): { request?: SearchRequest; error?: string } {
  try {
    return { request: decodeSearchRequest(new Reader(payload, bigEndian)) };
  } catch (err) {
    if (err instanceof PvaProtocolError) return { error: err.message };
    throw err;
  }
}
