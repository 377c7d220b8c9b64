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
import { packSearchReplies, scanSearchDatagram } from './search';
import { COUNTER, type FromSearchThread, type SearchWorkerData, type ToSearchThread } from './search-messages';

/** Datagrams waiting for the main thread's answer beyond which new questions are dropped. */
const MAX_ASKING = 1024;
/** Datagrams kept from before the TCP port is known. */
const MAX_EARLY = 256;

interface Asking {
  port: number;
  address: string;
  sequence: number | undefined;
}

function run(port: NonNullable<typeof parentPort>, data: SearchWorkerData): void {
  const table = NameTable.fromPacked(data.names);
  const counters = new Float64Array(data.counters);
  const ignored = new Set(data.ignoreAddrs);
  const asking = new Map<number, Asking>();
  let nextAsk = 1;
  let tcpPort: number | undefined;
  const early: Array<[Buffer, dgram.RemoteInfo]> = [];
  const post = (m: FromSearchThread): void => port.postMessage(m);
  const known = (buf: Buffer, start: number, end: number): boolean => table.has(buf, start, end);

  const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });

  const reply = (cids: readonly number[], sequence: number | undefined, to: Asking): void => {
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
    const from = { port: rinfo.port, address: rinfo.address, sequence: scan.sequence };
    if (scan.error) post({ kind: 'log', level: 'debug', text: 'malformed search datagram', fields: { from: `${rinfo.address}:${rinfo.port}`, reason: scan.error } });
    if (scan.found.length) reply(scan.found, scan.sequence, from);
    if (scan.askNames.length === 0) return;
    if (asking.size >= MAX_ASKING) {
      counters[COUNTER.dropped]++;
      return;
    }
    const id = nextAsk++;
    asking.set(id, from);
    post({ kind: 'ask', id, names: scan.askNames, cids: scan.askCids });
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
    const to = asking.get(m.id);
    if (!to) return;
    asking.delete(m.id);
    if (m.cids.length) reply(m.cids, to.sequence, to);
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
