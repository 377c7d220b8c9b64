/**
 * Device support "journal": a unit's journal lines for records.
 *
 *   field(DTYP, "journal") field(INP, "@redis.service LogLast")   lsi/stringin: the newest line
 *   field(DTYP, "journal") field(INP, "@redis.service LogTail")   lsi: the kept lines, newest last, one a line
 *
 * While journalctl cannot be run the records keep their lines and are
 * INVALID (COMM), like any device whose source is gone.
 */
import { AlarmSeverity, AlarmStatus } from '../ca/protocol/constants';
import type { DeviceBinding, DeviceRecord, DeviceSupport } from '../database/device';
import { oneOf, parseLink } from '../database/device-bridge';
import { formatLine } from './entry';
import type { JournalFollower } from './follower';

const WHAT = ['LogLast', 'LogTail'] as const;
type What = (typeof WHAT)[number];

export function journalDeviceSupport(follower: JournalFollower): DeviceSupport {
  const bound = new Map<DeviceRecord, { unit: string; what: What }>();
  const valueOf = (unit: string, what: What): string => {
    const lines = follower.lines(unit);
    if (what === 'LogLast') return lines.length ? formatLine(lines[lines.length - 1]) : '';
    return lines.map(formatLine).join('\n');
  };
  const publish = (r: DeviceRecord, unit: string, what: What): void => {
    const alarm = follower.state === 'failed' ? { status: AlarmStatus.COMM, severity: AlarmSeverity.INVALID } : undefined;
    const v = valueOf(unit, what);
    if (r.field('VAL') !== v) r.complete(v, alarm);
    else r.setDeviceAlarm(alarm);
  };
  follower.on('lines', (unit: string) => {
    for (const [r, b] of bound) if (b.unit === unit) publish(r, b.unit, b.what);
  });
  follower.on('state', () => {
    for (const [r, b] of bound) publish(r, b.unit, b.what);
  });
  return {
    dtyp: 'journal',
    recordTypes: ['lsi', 'stringin'],
    bind(record: DeviceRecord, link: string): DeviceBinding {
      const { target: unit, name } = parseLink(link, '"@UNIT LogLast" or "@UNIT LogTail"');
      const what = oneOf(link, name, WHAT);
      follower.watch(unit);
      bound.set(record, { unit, what });
      publish(record, unit, what);
      return { read: () => publish(record, unit, what), close: () => bound.delete(record) };
    },
  };
}

/** With [journal] follow = false the records exist but are INVALID (DISABLE): nothing follows the journal. */
export const NO_JOURNAL: DeviceSupport = {
  dtyp: 'journal',
  recordTypes: ['lsi', 'stringin'],
  bind(record: DeviceRecord): DeviceBinding {
    record.setDeviceAlarm({ status: AlarmStatus.DISABLE, severity: AlarmSeverity.INVALID });
    return {};
  },
};
