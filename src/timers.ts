/**
 * The longest delay a timer holds: Node.js, like browsers, keeps delays in a
 * signed 32-bit count of milliseconds and fires a longer one after 1 ms
 * (with a TimeoutOverflowWarning). A configured timeout beyond it is refused
 * rather than turned into an instant failure.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** The same bound in seconds, as configuration files give timeouts. */
export const MAX_TIMER_SECONDS = MAX_TIMER_MS / 1000;
