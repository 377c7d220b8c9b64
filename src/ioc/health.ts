/**
 * IOC-wide health: one bi that is 1 when every watched service is as
 * expected, with the highest severity among them, so an alarm handler needs
 * only this PV; and one text that says why, cause first. Sources (units,
 * queueservers, redis servers) report their own severity and, when they
 * know it, what is wrong and which other source caused it: a manager that
 * does not answer because its redis is down is listed under that redis, as
 * one cause.
 */
import { AlarmSeverity, AlarmStatus } from '../ca/protocol/constants';
import type { DeviceRecord, HealthCause, HealthSink } from '../database/device';
import { fitString } from '../database/device-bridge';

interface SourceState {
  severity: number;
  cause?: HealthCause;
}

export class HealthAggregator implements HealthSink {
  private readonly sources = new Map<string, SourceState>();
  private readonly records = new Set<DeviceRecord>();
  private readonly messageRecords = new Set<DeviceRecord>();
  private lastMessage: string | undefined;

  /** Report the severity of one source (0 = as expected), and what is wrong. */
  set(source: string, severity: number, cause?: HealthCause): void {
    const old = this.sources.get(source);
    if (old && old.severity === severity && old.cause?.text === cause?.text && old.cause?.causedBy === cause?.causedBy) return;
    const severityChanged = old?.severity !== severity;
    this.sources.set(source, { severity, cause });
    if (severityChanged) this.publish();
    this.publishMessage();
  }

  remove(source: string): void {
    if (this.sources.delete(source)) {
      this.publish();
      this.publishMessage();
    }
  }

  get severity(): number {
    let max = 0;
    for (const s of this.sources.values()) max = Math.max(max, s.severity);
    return max;
  }

  /**
   * Why the IOC is not healthy: each faulty source that is a cause, worst
   * first, with the sources that fail because of it; "" when all is well.
   */
  get message(): string {
    const faulty = [...this.sources].filter(([, s]) => s.severity > AlarmSeverity.NO_ALARM);
    const names = new Set(faulty.map(([n]) => n));
    const followers = new Map<string, string[]>();
    const roots: Array<[string, SourceState]> = [];
    for (const [name, s] of faulty) {
      const by = s.cause?.causedBy;
      if (by !== undefined && by !== name && names.has(by)) followers.set(by, [...(followers.get(by) ?? []), name]);
      else roots.push([name, s]);
    }
    roots.sort((a, b) => b[1].severity - a[1].severity || a[0].localeCompare(b[0]));
    return roots.map(([name, s]) => {
      const text = s.cause?.text ? `${name}: ${s.cause.text}` : `${name}: ${AlarmSeverity[s.severity] ?? s.severity}`;
      const after = followers.get(name);
      return after ? `${text} (because of it: ${after.join(', ')})` : text;
    }).join('; ');
  }

  attach(record: DeviceRecord): void {
    this.records.add(record);
    this.publishTo(record);
  }

  detach(record: DeviceRecord): void {
    this.records.delete(record);
  }

  /** A string record that shows `message`. */
  attachMessage(record: DeviceRecord): void {
    this.messageRecords.add(record);
    record.update(fitString(record, this.message));
  }

  detachMessage(record: DeviceRecord): void {
    this.messageRecords.delete(record);
  }

  private publish(): void {
    for (const r of this.records) this.publishTo(r);
  }

  private publishMessage(): void {
    const m = this.message;
    if (m === this.lastMessage) return;
    this.lastMessage = m;
    for (const r of this.messageRecords) r.update(fitString(r, m));
  }

  private publishTo(record: DeviceRecord): void {
    const sev = this.severity;
    record.complete(sev === AlarmSeverity.NO_ALARM ? 1 : 0, sev === AlarmSeverity.NO_ALARM ? undefined : { status: AlarmStatus.STATE, severity: sev });
  }
}
