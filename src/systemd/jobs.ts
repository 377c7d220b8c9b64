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
   * Wait for the job at `path` to end. Resolves with its outcome; rejects with
   * `onTimeout()` after `timeoutMs` (the job itself keeps running in systemd).
   */
  wait(path: string, timeoutMs: number, onTimeout: () => Error): Promise<JobOutcome> {
    const early = this.recent.get(path);
    if (early) {
      this.recent.delete(path);
      return Promise.resolve(early);
    }
    return new Promise<JobOutcome>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(path);
        reject(onTimeout());
      }, timeoutMs);
      timer.unref();
      this.waiters.set(path, {
        resolve: (o) => {
          clearTimeout(timer);
          resolve(o);
        },
      });
    });
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
