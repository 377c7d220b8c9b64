/**
 * EPICS timestamps: seconds and nanoseconds since the EPICS epoch,
 * 1990-01-01 00:00:00 UTC (EPICS base `libcom/src/osi/epicsTime.h`,
 * `POSIX_TIME_AT_EPICS_EPOCH`). On the wire the stamp is `u32 secPastEpoch,
 * u32 nsec` (db_access.h `epicsTimeStamp`), so it covers 1990 to 2126.
 *
 * Pure arithmetic: no clocks are read except in `epicsNow` (whose clock can be
 * injected) and `realtimeMs`.
 */
import type { EpicsTimestamp } from './types';

/** POSIX seconds at the EPICS epoch, 1990-01-01 00:00:00 UTC. */
export const EPICS_EPOCH_OFFSET = 631152000;

const MAX_U32 = 0xffffffff;

/**
 * The EPICS timestamp for a POSIX time in milliseconds (fractions of a
 * millisecond are kept down to the nanosecond). Times before 1990 clamp to the
 * epoch itself and times after the u32 range to its last second, since the wire
 * format cannot carry them.
 */
export function epicsTimestampFromDate(ms: number): EpicsTimestamp {
  if (!(ms >= EPICS_EPOCH_OFFSET * 1000)) return { secPastEpoch: 0, nsec: 0 };
  let posixSec = Math.floor(ms / 1000);
  let nsec = Math.round((ms - posixSec * 1000) * 1e6);
  if (nsec >= 1e9) {
    posixSec += 1;
    nsec -= 1e9;
  }
  const secPastEpoch = posixSec - EPICS_EPOCH_OFFSET;
  if (secPastEpoch > MAX_U32) return { secPastEpoch: MAX_U32, nsec: 999999999 };
  return { secPastEpoch, nsec };
}

/** `realtimeMs` adds the monotonic clock's reading to this to get the wall clock. */
let realtimeAnchor = Date.now() - performance.now();

/**
 * The wall clock in milliseconds, to the microsecond: `Date.now` counts whole
 * milliseconds, so two changes of a record within one would carry the same
 * timestamp (softIoc's clock reads nanoseconds). The monotonic clock gives the
 * fraction; it is anchored to `Date.now` again whenever the two disagree by a
 * millisecond or more (the wall clock was set, or drifted).
 */
export function realtimeMs(): number {
  const t = realtimeAnchor + performance.now();
  const wall = Date.now();
  if (t >= wall && t < wall + 1) return t;
  // Behind: start again at the wall clock. Ahead (the wall clock was slowed or set
  // back): the last microsecond of its millisecond, so that a reading is not
  // earlier than the one before within that millisecond.
  const at = t < wall ? wall : wall + 0.999;
  realtimeAnchor = at - performance.now();
  return at;
}

/** The current time as an EPICS timestamp, to the microsecond (`realtimeMs`). */
export function epicsNow(nowMs: () => number = realtimeMs): EpicsTimestamp {
  return epicsTimestampFromDate(nowMs());
}

/** POSIX milliseconds for an EPICS timestamp (sub-millisecond part kept as a fraction). */
export function epicsTimestampToMs(ts: EpicsTimestamp): number {
  return (ts.secPastEpoch + EPICS_EPOCH_OFFSET) * 1000 + ts.nsec / 1e6;
}

/**
 * ISO 8601 UTC text with nanoseconds, e.g. `2024-05-01T12:00:00.123456789Z`.
 * An out-of-range `nsec` (possible in decoded bytes) is carried into the seconds.
 */
export function epicsTimestampToIso(ts: EpicsTimestamp): string {
  const carry = Math.floor(ts.nsec / 1e9);
  const nsec = ts.nsec - carry * 1e9;
  const posixSec = ts.secPastEpoch + carry + EPICS_EPOCH_OFFSET;
  // toISOString gives "YYYY-MM-DDTHH:MM:SS.mmmZ"; keep up to the seconds.
  const seconds = new Date(posixSec * 1000).toISOString().slice(0, 19);
  return `${seconds}.${String(Math.floor(nsec)).padStart(9, '0')}Z`;
}
