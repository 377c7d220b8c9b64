/**
 * IOC-wide health: one bi that is 1 when every watched service is as
 * expected, with the highest severity among them, so an alarm handler needs
 * only this PV. Sources (units, queueservers) report their own severity.
 */
import { AlarmSeverity, AlarmStatus } from '../ca/protocol/constants';
import type { DeviceRecord } from '../database/device';

export class HealthAggregator {
  private readonly severities = new Map<string, number>();
  private readonly records = new Set<DeviceRecord>();

  /** Report the severity of one source (0 = as expected). */
  set(source: string, severity: number): void {
    if (this.severities.get(source) === severity) return;
    this.severities.set(source, severity);
    this.publish();
  }

  remove(source: string): void {
    if (this.severities.delete(source)) this.publish();
  }

  get severity(): number {
    let max = 0;
    for (const s of this.severities.values()) max = Math.max(max, s);
    return max;
  }

  attach(record: DeviceRecord): void {
    this.records.add(record);
    this.publishTo(record);
  }

  detach(record: DeviceRecord): void {
    this.records.delete(record);
  }

  private publish(): void {
    for (const r of this.records) this.publishTo(r);
  }

  private publishTo(record: DeviceRecord): void {
    const sev = this.severity;
    record.setDeviceAlarm(sev === AlarmSeverity.NO_ALARM ? undefined : { status: AlarmStatus.STATE, severity: sev });
    record.update(sev === AlarmSeverity.NO_ALARM ? 1 : 0);
  }
}
