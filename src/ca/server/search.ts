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

/**
 * One search datagram read through: every name searched with its cid, in the
 * datagram's order, each either recognised by a `known` check on its bytes
 * (served for certain) or decoded for whoever can tell. The reply answers them
 * in the same order, in as few datagrams as they fit (RSRV's one reply per
 * search datagram).
 */
export interface SearchScan {
  /** The client's sequence number, to echo in each reply's VERSION (undefined before 4.11). */
  sequence: number | undefined;
  searched: number;
  /** cids of the names searched, in order. */
  cids: number[];
  /** Per cid: recognised by `known`. */
  known: boolean[];
  /** The names not recognised, in order. */
  askNames: string[];
  error?: string;
}

/** `known(buf, start, end)`: true when the name in those bytes is served for certain. */
export type KnownName = (buf: Buffer, start: number, end: number) => boolean;

const NEVER_KNOWN: KnownName = () => false;

export function scanSearchDatagram(data: Buffer, known: KnownName = NEVER_KNOWN): SearchScan {
  const scan: SearchScan = { sequence: undefined, searched: 0, cids: [], known: [], askNames: [] };
  try {
    scanDatagram(data, (_offset, m) => {
      if (m.command === Command.VERSION) {
        scan.sequence = m.dataCount >= SEQUENCE_MINOR ? m.parameter1 : undefined;
      } else if (m.command === Command.SEARCH) {
        scan.searched++;
        // Clients before 4.4 cannot use a TCP channel by name; RSRV ignores them too.
        if (m.dataCount < 4) return;
        let end = m.payloadStart;
        while (end < m.payloadEnd && data[end] !== 0) end++;
        if (end === m.payloadStart) return;
        const isKnown = known(data, m.payloadStart, end);
        scan.cids.push(m.parameter1);
        scan.known.push(isKnown);
        if (!isKnown) scan.askNames.push(decodeCStringAt(data, m.payloadStart, end));
      }
      // ECHO and everything else over UDP: ignored.
    });
  } catch (err) {
    scan.error = (err as Error).message;
  }
  return scan;
}

/** The cids to answer: the known ones, and the others whose entry in `served` (one per asked name, in order) is true. */
export function servedCids(scan: SearchScan, served: readonly boolean[]): number[] {
  const out: number[] = [];
  for (let i = 0, asked = 0; i < scan.cids.length; i++) {
    if (scan.known[i] || served[asked++]) out.push(scan.cids[i]);
  }
  return out;
}

/** Search replies for `cids`, in datagrams of at most MAX_UDP_REPLY bytes, each opened by a VERSION. */
export function packSearchReplies(cids: readonly number[], sequence: number | undefined, tcpPort: number): Buffer[] {
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
