/**
 * The main thread's side of the UDP search responder: starts the thread of
 * `search-worker.ts` with the directory's fixed names, answers its questions
 * about every other name with `lookup`, relays its log lines, and reads its
 * counters.
 */
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Logger } from '../../log';
import { NameTable } from './name-table';
import { COUNTER, COUNTER_COUNT, type FromSearchThread, type SearchWorkerData, type ToSearchThread } from './search-messages';

export interface SearchThreadOptions {
  /** One search socket on each. */
  hosts: readonly string[];
  port: number;
  ignoreAddrs: readonly string[];
  /** Names served for certain, answered on the thread. */
  names: Iterable<string>;
  /** Whether any other name is served. */
  serves: (name: string) => boolean;
  maxInFlight: number;
  log: Logger;
}

const WORKER_FILE = path.join(__dirname, 'search-worker.js');

export class SearchThread {
  private readonly counters: Float64Array;
  private stopped = false;

  private constructor(private readonly worker: Worker, shared: SharedArrayBuffer, readonly port: number) {
    this.counters = new Float64Array(shared);
  }

  /** Start the thread; resolves once its socket is bound (replies wait for `serve`), rejects when it cannot be. */
  static start(opts: SearchThreadOptions): Promise<SearchThread> {
    const shared = new SharedArrayBuffer(COUNTER_COUNT * Float64Array.BYTES_PER_ELEMENT);
    const data: SearchWorkerData = {
      hosts: [...opts.hosts], port: opts.port, ignoreAddrs: [...opts.ignoreAddrs],
      names: NameTable.pack(opts.names), counters: shared, maxInFlight: opts.maxInFlight,
    };
    const worker = new Worker(WORKER_FILE, { workerData: data });
    return new Promise((resolve, reject) => {
      let started: SearchThread | undefined;
      worker.on('message', (m: FromSearchThread) => {
        switch (m.kind) {
          case 'ready':
            started = new SearchThread(worker, shared, m.port);
            resolve(started);
            return;
          case 'failed': {
            const err: NodeJS.ErrnoException = new Error(m.message);
            err.code = m.code;
            void worker.terminate();
            reject(err);
            return;
          }
          case 'ask': {
            const answer: ToSearchThread = { kind: 'answer', id: m.id, served: m.names.map(opts.serves) };
            worker.postMessage(answer);
            return;
          }
          case 'log':
            if (m.level === 'error') opts.log.error(m.text, m.fields);
            else opts.log.debug(m.text, m.fields);
        }
      });
      worker.on('error', (err) => {
        if (started) opts.log.error('search thread failed', { reason: err.message });
        else reject(err);
      });
      worker.on('exit', (code) => {
        if (started && !started.stopped) opts.log.error('search thread ended: searches are no longer answered', { code: String(code) });
      });
    });
  }

  /** Start answering, naming `tcpPort` in every reply (searches that came before are answered now). */
  serve(tcpPort: number): void {
    const m: ToSearchThread = { kind: 'serve', tcpPort };
    this.worker.postMessage(m);
  }

  /** Names searched, names answered, and replies dropped, since the start. */
  get searches(): number {
    return this.counters[COUNTER.searches];
  }

  get hits(): number {
    return this.counters[COUNTER.hits];
  }

  get dropped(): number {
    return this.counters[COUNTER.dropped];
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.worker.terminate();
  }
}
