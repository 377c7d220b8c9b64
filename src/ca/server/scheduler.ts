/**
 * Timers through an interface, so that code with timeouts (beacons, a
 * circuit's handshake and drain limits) is tested with a fake clock instead of
 * by waiting.
 */
export interface Scheduler {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Node's timers, unref'd: a pending timeout never keeps the process alive. */
export const realScheduler: Scheduler = {
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};
