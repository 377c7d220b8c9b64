/**
 * What the search thread (`search-worker.ts`) and the main thread
 * (`search-thread.ts`) send each other, and the layout of the counters the
 * thread writes into shared memory.
 */
import type { PackedNames } from './name-table';

/** Index of each counter in the shared Float64Array. */
export const COUNTER = { searches: 0, hits: 1, dropped: 2 } as const;
export const COUNTER_COUNT = 3;

export interface SearchWorkerData {
  /** Addresses to bind a search socket on, one each. */
  hosts: string[];
  /** The UDP port to bind (0: any, chosen by the first socket). */
  port: number;
  /** Sources whose datagrams are not answered (EPICS_CAS_IGNORE_ADDR_LIST). */
  ignoreAddrs: string[];
  /** Names answered on the thread without asking. */
  names: PackedNames;
  /** COUNTER_COUNT float64 counters. */
  counters: SharedArrayBuffer;
  /** UDP replies queued in the socket beyond which new ones are dropped. */
  maxInFlight: number;
}

/** From the thread. */
export type FromSearchThread =
  | { kind: 'ready'; port: number }
  | { kind: 'failed'; message: string; code: string | undefined }
  /** Which of these names are served? (answered with one boolean per name) */
  | { kind: 'ask'; id: number; names: string[] }
  | { kind: 'log'; level: 'debug' | 'error'; text: string; fields: Record<string, string> };

/**
 * To the thread: `serve` once the TCP port every reply names is known (the
 * socket is bound before, and what arrives until then waits); `answer` with
 * whether each name of an `ask` is served.
 */
export type ToSearchThread =
  | { kind: 'serve'; tcpPort: number }
  | { kind: 'answer'; id: number; served: boolean[] };
