/**
 * UDP name resolution: the answer to one search datagram, without sockets.
 *
 * A datagram may hold a VERSION then many SEARCH requests. We answer only the
 * names we serve, never with NOT_FOUND (RSRV never does over UDP: with several
 * servers on a network, a NOT_FOUND from one would be noise). Replies go out as
 * datagrams of at most 1024 bytes, each opening with a VERSION that echoes the
 * client's sequence number (cast_server.c, camessage.c search_reply_udp).
 */
import { CA_MINOR_VERSION, Command, HEADER_SIZE } from '../protocol/constants';
import { decodeCString, type Message } from '../protocol/header';
import { splitDatagram } from '../protocol/framer';
import { searchReply, udpVersionMessage } from '../protocol/messages';

export const MAX_UDP_REPLY = 1024;
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
  const found: Buffer[] = [];
  let searched = 0;
  let error: string | undefined;
  try {
    splitDatagram(data, (m: Message) => {
      if (m.command === Command.VERSION) {
        sequence = m.dataCount >= SEQUENCE_MINOR ? m.parameter1 : undefined;
      } else if (m.command === Command.SEARCH) {
        searched++;
        // Clients before 4.4 cannot use a TCP channel by name; RSRV ignores them too.
        if (m.dataCount < 4) return;
        const name = decodeCString(m.payload);
        if (name && serves(name)) found.push(searchReply(tcpPort, m.parameter1, 0xffffffff, CA_MINOR_VERSION));
      }
      // ECHO and everything else over UDP: ignored.
    });
  } catch (err) {
    error = (err as Error).message;
  }
  return { replies: packReplies(found, sequence), searched, found: found.length, error };
}

function packReplies(found: Buffer[], sequence: number | undefined): Buffer[] {
  if (found.length === 0) return [];
  const out: Buffer[] = [];
  const version = udpVersionMessage(sequence);
  let batch: Buffer[] = [version];
  let size = HEADER_SIZE;
  for (const r of found) {
    if (size + r.length > MAX_UDP_REPLY) {
      out.push(Buffer.concat(batch, size));
      batch = [version];
      size = HEADER_SIZE;
    }
    batch.push(r);
    size += r.length;
  }
  out.push(Buffer.concat(batch, size));
  return out;
}
