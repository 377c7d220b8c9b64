/**
 * The UDP name-search responder, run on a thread of its own (started by
 * `SearchThread`): it owns the search socket, answers the names it has in its
 * table by their bytes, and asks the main thread about every other name.
 *
 * Why a thread: a client connecting thousands of channels sends searches in
 * bursts and creates the channels found over TCP while the next burst is
 * answered. RSRV answers UDP on a thread of its own (cast_server.c) beside
 * each circuit's; in one Node thread the two would wait for each other.
 *
 * Counters are written here only, into shared memory the main thread reads.
 */
import * as dgram from 'node:dgram';
import { parentPort, workerData } from 'node:worker_threads';
import { NameTable } from './name-table';
import { packSearchReplies, scanSearchDatagram, servedCids, type SearchScan } from './search';
import { COUNTER, type FromSearchThread, type SearchWorkerData, type ToSearchThread } from './search-messages';

/** Datagrams waiting for the main thread's answer beyond which new questions are dropped. */
const MAX_ASKING = 1024;
/** Datagrams kept from before the TCP port is known. */
const MAX_EARLY = 256;

/** A datagram read and not yet answered, in arrival order. */
interface Waiting {
  to: dgram.RemoteInfo;
  scan: SearchScan;
  /** The main thread's answer for the names asked (undefined while it is awaited). */
  served: readonly boolean[] | undefined;
}

const NONE_ASKED: readonly boolean[] = [];

function run(port: NonNullable<typeof parentPort>, data: SearchWorkerData): void {
  const table = NameTable.fromPacked(data.names);
  const counters = new Float64Array(data.counters);
  const ignored = new Set(data.ignoreAddrs);
  // Replies leave in the order the datagrams came: one that waits for the main thread
  // holds back those after it.
  const waiting: Waiting[] = [];
  const asked = new Map<number, Waiting>();
  let nextAsk = 1;
  let tcpPort: number | undefined;
  const early: Array<[Buffer, dgram.RemoteInfo]> = [];
  const post = (m: FromSearchThread): void => port.postMessage(m);
  const known = (buf: Buffer, start: number, end: number): boolean => table.has(buf, start, end);

  const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });

  const reply = (cids: readonly number[], sequence: number | undefined, to: dgram.RemoteInfo): void => {
    if (cids.length === 0) return;
    counters[COUNTER.hits] += cids.length;
    for (const datagram of packSearchReplies(cids, sequence, tcpPort ?? 0)) {
      // Replies the kernel could not take at once wait in the socket's queue; beyond a
      // bound they are dropped (the client searches again), so a flood cannot grow it.
      if (sock.getSendQueueCount() >= data.maxInFlight) {
        counters[COUNTER.dropped]++;
        continue;
      }
      sock.send(datagram, to.port, to.address);
    }
  };

  const answer = (datagram: Buffer, rinfo: dgram.RemoteInfo): void => {
    const scan = scanSearchDatagram(datagram, known);
    counters[COUNTER.searches] += scan.searched;
    if (scan.error) post({ kind: 'log', level: 'debug', text: 'malformed search datagram', fields: { from: `${rinfo.address}:${rinfo.port}`, reason: scan.error } });
    // Names all known: answered here at once, unless an earlier datagram waits for
    // the main thread.
    if (scan.askNames.length === 0) {
      if (waiting.length === 0) reply(scan.cids, scan.sequence, rinfo);
      else waiting.push({ to: rinfo, scan, served: NONE_ASKED });
      return;
    }
    if (asked.size >= MAX_ASKING) {
      counters[COUNTER.dropped]++;
      return;
    }
    const id = nextAsk++;
    const entry: Waiting = { to: rinfo, scan, served: undefined };
    waiting.push(entry);
    asked.set(id, entry);
    post({ kind: 'ask', id, names: scan.askNames });
  };

  sock.on('message', (datagram, rinfo) => {
    if (ignored.has(rinfo.address)) return;
    if (tcpPort !== undefined) answer(datagram, rinfo);
    else if (early.length < MAX_EARLY) early.push([datagram, rinfo]);
  });
  port.on('message', (m: ToSearchThread) => {
    if (m.kind === 'serve') {
      tcpPort = m.tcpPort;
      for (const [datagram, rinfo] of early.splice(0)) answer(datagram, rinfo);
      return;
    }
    const entry = asked.get(m.id);
    if (!entry) return;
    asked.delete(m.id);
    entry.served = m.served;
    while (waiting.length && waiting[0].served) {
      const w = waiting.shift()!;
      reply(servedCids(w.scan, w.served!), w.scan.sequence, w.to);
    }
  });

  const failed = (err: NodeJS.ErrnoException): void => post({ kind: 'failed', message: err.message, code: err.code });
  sock.once('error', failed);
  sock.bind({ port: data.port, address: data.host, exclusive: false }, () => {
    sock.off('error', failed);
    sock.on('error', (err) => post({ kind: 'log', level: 'error', text: 'UDP socket error', fields: { reason: err.message } }));
    post({ kind: 'ready', port: sock.address().port });
  });
}

if (parentPort) run(parentPort, workerData as SearchWorkerData);
