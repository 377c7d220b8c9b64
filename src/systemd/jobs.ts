/**
 * Race-free tracking of systemd jobs started from PVs.
 *
 * StartUnit returns a job path; the job's end is the JobRemoved signal for
 * that path. A short job can end before the method reply arrives, so every
 * JobRemoved is kept for a while in case a call is about to claim it
 * (systemd-run and systemctl do the same with bus_wait_for_jobs).
 */

export interface JobOutcome {
  path: string;
  unit: string;
  result: string;
}

interface Waiter {
  ended: Promise<JobOutcome>;
  resolve: (o: JobOutcome) => void;
}

/** How many ended jobs are remembered for calls whose reply is still on its way. */
const RECENT_LIMIT = 256;

export class JobTracker {
  private readonly waiters = new Map<string, Waiter>();
  private readonly recent = new Map<string, JobOutcome>();

  /** Feed every JobRemoved signal here. */
  jobRemoved(outcome: JobOutcome): void {
    const w = this.waiters.get(outcome.path);
    if (w) {
      this.waiters.delete(outcome.path);
      w.resolve(outcome);
      return;
    }
    this.recent.set(outcome.path, outcome);
    if (this.recent.size > RECENT_LIMIT) this.recent.delete(this.recent.keys().next().value as string);
  }

  /**
   * The end of the job at `path`, whenever systemd reports it: there is no
   * timeout here, because a put that stops waiting does not stop the job
   * (systemctl --no-block leaves it running too). Only abandonAll() ends the
   * wait early.
   */
  ended(path: string): Promise<JobOutcome> {
    const early = this.recent.get(path);
    if (early) {
      this.recent.delete(path);
      return Promise.resolve(early);
    }
    const waiting = this.waiters.get(path);
    if (waiting) return waiting.ended;
    let resolve!: (o: JobOutcome) => void;
    const ended = new Promise<JobOutcome>((r) => (resolve = r));
    this.waiters.set(path, { ended, resolve });
    return ended;
  }

  /**
   * Wait for the job at `path` to end. Resolves with its outcome; rejects with
   * `onTimeout()` after `timeoutMs`. The job itself keeps running in systemd,
   * and `ended(path)` still reports its end.
   */
  wait(path: string, timeoutMs: number, onTimeout: () => Error): Promise<JobOutcome> {
    return withTimeout(this.ended(path), timeoutMs, onTimeout);
  }

  /** Fail every waiting job (the bus went away: no JobRemoved will come). */
  abandonAll(reason: () => Error): void {
    for (const [path, w] of this.waiters) {
      this.waiters.delete(path);
      // Resolve with a synthetic result so callers report it like a job failure.
      w.resolve({ path, unit: '', result: `unknown (${reason().message})` });
    }
    this.recent.clear();
  }

  get waiting(): number {
    return this.waiters.size;
  }
}

/** `p`, or a rejection with `onTimeout()` if it has not settled within `timeoutMs`; `p` itself goes on. */
export function withTimeout<T>(p: Promise<T>, timeoutMs: number, onTimeout: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), timeoutMs);
    timer.unref();
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err as Error);
      },
    );
  });
}
