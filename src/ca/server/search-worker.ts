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
  /** The socket it came in on, which answers it. */
  sock: dgram.Socket;
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
  const early: Array<[dgram.Socket, Buffer, dgram.RemoteInfo]> = [];
  const post = (m: FromSearchThread): void => port.postMessage(m);
  const known = (buf: Buffer, start: number, end: number): boolean => table.has(buf, start, end);

  const reply = (sock: dgram.Socket, cids: readonly number[], sequence: number | undefined, to: dgram.RemoteInfo): void => {
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

  const answer = (sock: dgram.Socket, datagram: Buffer, rinfo: dgram.RemoteInfo): void => {
    const scan = scanSearchDatagram(datagram, known);
    counters[COUNTER.searches] += scan.searched;
    if (scan.error) post({ kind: 'log', level: 'debug', text: 'malformed search datagram', fields: { from: `${rinfo.address}:${rinfo.port}`, reason: scan.error } });
    // Names all known: answered here at once, unless an earlier datagram waits for
    // the main thread.
    if (scan.askNames.length === 0) {
      if (waiting.length === 0) reply(sock, scan.cids, scan.sequence, rinfo);
      else waiting.push({ sock, to: rinfo, scan, served: NONE_ASKED });
      return;
    }
    if (asked.size >= MAX_ASKING) {
      counters[COUNTER.dropped]++;
      return;
    }
    const id = nextAsk++;
    const entry: Waiting = { sock, to: rinfo, scan, served: undefined };
    waiting.push(entry);
    asked.set(id, entry);
    post({ kind: 'ask', id, names: scan.askNames });
  };

  port.on('message', (m: ToSearchThread) => {
    if (m.kind === 'serve') {
      tcpPort = m.tcpPort;
      for (const [sock, datagram, rinfo] of early.splice(0)) answer(sock, datagram, rinfo);
      return;
    }
    const entry = asked.get(m.id);
    if (!entry) return;
    asked.delete(m.id);
    entry.served = m.served;
    while (waiting.length && waiting[0].served) {
      const w = waiting.shift()!;
      reply(w.sock, servedCids(w.scan, w.served!), w.scan.sequence, w.to);
    }
  });

  const open = (host: string, udpPort: number): Promise<dgram.Socket> => new Promise((resolve, reject) => {
    const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    sock.on('message', (datagram, rinfo) => {
      if (ignored.has(rinfo.address)) return;
      if (tcpPort !== undefined) answer(sock, datagram, rinfo);
      else if (early.length < MAX_EARLY) early.push([sock, datagram, rinfo]);
    });
    sock.once('error', reject);
    sock.bind({ port: udpPort, address: host, exclusive: false }, () => {
      sock.off('error', reject);
      sock.on('error', (err) => post({ kind: 'log', level: 'error', text: 'UDP socket error', fields: { host, reason: err.message } }));
      resolve(sock);
    });
  });

  // One socket per interface, all on the port the first one got (RSRV's rsrv_init).
  void (async () => {
    try {
      const first = await open(data.hosts[0], data.port);
      const udpPort = first.address().port;
      for (const host of data.hosts.slice(1)) await open(host, udpPort);
      post({ kind: 'ready', port: udpPort });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      post({ kind: 'failed', message: e.message, code: e.code });
    }
  })();
}

if (parentPort) run(parentPort, workerData as SearchWorkerData);
