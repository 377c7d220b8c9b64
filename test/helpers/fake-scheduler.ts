/** A Scheduler whose clock moves only when a test says so: timeouts are tested without waiting. */
import type { Scheduler } from '../../src/ca/server/scheduler';

export class FakeScheduler implements Scheduler {
  now = 0;
  private queue: Array<{ at: number; fn: () => void; id: number }> = [];
  private nextId = 1;
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.queue.push({ at: this.now + ms, fn, id });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.queue = this.queue.filter((q) => q.id !== handle);
  }
  advanceTo(t: number): void {
    for (;;) {
      this.queue.sort((a, b) => a.at - b.at);
      const next = this.queue[0];
      if (!next || next.at > t) break;
      this.queue.shift();
      this.now = next.at;
      next.fn();
    }
    this.now = t;
  }

  /** Timers waiting to fire. */
  get pending(): number {
    return this.queue.length;
  }
}
