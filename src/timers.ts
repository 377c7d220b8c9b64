/**
 * The longest delay a timer holds: Node.js, like browsers, keeps delays in a
 * signed 32-bit count of milliseconds and fires a longer one after 1 ms
 * (with a TimeoutOverflowWarning). A configured timeout beyond it is refused
 * rather than turned into an instant failure.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** The same bound in seconds, as configuration files give timeouts. */
export const MAX_TIMER_SECONDS = MAX_TIMER_MS / 1000;

/**
 * The wait between two rounds of a poll loop, which can be cut short: `wake`
 * ends the wait in progress (a control request wants fresh state now, or the
 * loop is stopping). One wait at a time.
 */
export class PollPause {
  private timer: NodeJS.Timeout | undefined;
  private end: (() => void) | undefined;

  /** Resolves after `ms` (at once for 0 or less), or when woken. */
  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const end = (): void => {
        clearTimeout(this.timer);
        this.timer = undefined;
        this.end = undefined;
        resolve();
      };
      this.end = end;
      this.timer = setTimeout(end, Math.max(0, ms));
    });
  }

  /** End the wait in progress, if any. */
  wake(): void {
    this.end?.();
  }
}
