/**
 * UDP name resolution: the answer to one search datagram, without sockets.
 *
 * A datagram may hold a VERSION then many SEARCH requests. We answer only the
 * names we serve, never with NOT_FOUND (RSRV never does over UDP: with several
 * servers on a network, a NOT_FOUND from one would be noise). Replies go out as
 * datagrams of at most 1024 bytes, each opening with a VERSION that echoes the
 * client's sequence number (cast_server.c, camessage.c search_reply_udp).
 */
import { CA_MINOR_VERSION, Command, HEADER_SIZE, VERSION_SEQUENCE_VALID } from '../protocol/constants';
import { decodeCStringAt } from '../protocol/header';
import { scanDatagram } from '../protocol/framer';
import { searchReplyPayload, udpVersionMessage } from '../protocol/messages';
import { MessageWriter } from '../protocol/writer';

export const MAX_UDP_REPLY = 1024;
/** The server's minor version, the payload of every search reply. */
const SEARCH_REPLY_PAYLOAD = searchReplyPayload(CA_MINOR_VERSION);
const SEARCH_REPLY_SIZE = HEADER_SIZE + SEARCH_REPLY_PAYLOAD.length;
/** A VERSION without a sequence number; a reply's own is written over it. */
const VERSION_TEMPLATE = udpVersionMessage(undefined);
/** One SEARCH reply with the port and cid left 0 (written per reply). */
const REPLY_TEMPLATE = (() => {
  const w = new MessageWriter();
  w.message(Command.SEARCH, 0, 0, 0xffffffff, 0, SEARCH_REPLY_PAYLOAD);
  return w.take()!;
})();
/** Clients from 4.11 on put a sequence number in their VERSION's p1. */
const SEQUENCE_MINOR = 11;

export interface SearchOutcome {
  replies: Buffer[];
  /** Names searched, and how many we serve. */
  searched: number;
  found: number;
  /** Set when the datagram held a malformed message (the ones before it were answered). */
  error?: string;
}

export function answerSearchDatagram(data: Buffer, serves: (name: string) => boolean, tcpPort: number): SearchOutcome {
  let sequence: number | undefined;
  const cids: number[] = [];
  let searched = 0;
  let error: string | undefined;
  try {
    scanDatagram(data, (_offset, m) => {
      if (m.command === Command.VERSION) {
        sequence = m.dataCount >= SEQUENCE_MINOR ? m.parameter1 : undefined;
      } else if (m.command === Command.SEARCH) {
        searched++;
        // Clients before 4.4 cannot use a TCP channel by name; RSRV ignores them too.
        if (m.dataCount < 4) return;
        const name = decodeCStringAt(data, m.payloadStart, m.payloadEnd);
        if (name && serves(name)) cids.push(m.parameter1);
      }
      // ECHO and everything else over UDP: ignored.
    });
  } catch (err) {
    error = (err as Error).message;
  }
  return { replies: packReplies(cids, sequence, tcpPort), searched, found: cids.length, error };
}

/** Search replies for `cids`, in datagrams of at most MAX_UDP_REPLY bytes, each opened by a VERSION. */
function packReplies(cids: readonly number[], sequence: number | undefined, tcpPort: number): Buffer[] {
  if (cids.length === 0) return [];
  const out: Buffer[] = [];
  const perDatagram = Math.floor((MAX_UDP_REPLY - HEADER_SIZE) / SEARCH_REPLY_SIZE);
  for (let i = 0; i < cids.length; i += perDatagram) {
    const n = Math.min(perDatagram, cids.length - i);
    // Small enough for Node's buffer pool: a datagram costs no allocation of its own.
    const b = Buffer.allocUnsafe(HEADER_SIZE + n * SEARCH_REPLY_SIZE);
    VERSION_TEMPLATE.copy(b, 0);
    if (sequence !== undefined) {
      b.writeUInt16BE(VERSION_SEQUENCE_VALID, 4);
      b.writeUInt32BE(sequence >>> 0, 8);
    }
    for (let k = 0, o = HEADER_SIZE; k < n; k++, o += SEARCH_REPLY_SIZE) {
      REPLY_TEMPLATE.copy(b, o);
      b.writeUInt16BE(tcpPort, o + 4);
      // p1 0xFFFFFFFF (in the template): the client takes the server's address from the datagram's source.
      b.writeUInt32BE(cids[i + k] >>> 0, o + 12);
    }
    out.push(b);
  }
  return out;
}
