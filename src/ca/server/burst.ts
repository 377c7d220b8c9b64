/**
 * One log line per burst of the same event: the first occurrence is logged at
 * once; repeats are counted, and when none has come for `quietMs` a closing
 * line says how many there were. A flood of refused connections or EMFILE
 * errors gives two lines, not one per event.
 */
import type { Logger } from '../../log';
import type { Scheduler } from './scheduler';

/** A burst of the same warning ends after this long without one. */
export const BURST_QUIET_MS = 10_000;

export class BurstLog {
  private count = 0;
  private timer: unknown;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly quietMs: number,
    private readonly first: (text: string) => void,
    private readonly last: (repeats: number) => void,
  ) {}

  /** Report one occurrence. */
  hit(text: string): void {
    if (this.count === 0) this.first(text);
    this.count++;
    if (this.timer !== undefined) this.scheduler.clearTimeout(this.timer);
    this.timer = this.scheduler.setTimeout(() => this.end(), this.quietMs);
  }

  /** Whether a burst is in progress. */
  get active(): boolean {
    return this.count > 0;
  }

  private end(): void {
    const repeats = this.count - 1;
    this.count = 0;
    this.timer = undefined;
    if (repeats > 0) this.last(repeats);
  }

  stop(): void {
    if (this.timer !== undefined) this.scheduler.clearTimeout(this.timer);
    this.timer = undefined;
    this.count = 0;
  }
}

/**
 * The burst log of one kind of warning: the first occurrence is a warning
 * with its own text, the end of the burst an info line "<what>: N more times
 * in that burst".
 */
export function warningBurst(scheduler: Scheduler, log: Logger, what: string): BurstLog {
  return new BurstLog(
    scheduler, BURST_QUIET_MS,
    (text) => log.warn(text),
    (repeats) => log.info(`${what}: ${repeats} more time${repeats === 1 ? '' : 's'} in that burst`),
  );
}
