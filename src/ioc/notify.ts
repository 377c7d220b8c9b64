/**
 * sd_notify for Type=notify units: READY=1 once CA is serving, WATCHDOG=1
 * keepalives at half of WatchdogSec, STOPPING=1 on the way out. Node cannot
 * send on a unix datagram socket, so this runs systemd-notify with --pid of
 * this process (the unit sets NotifyAccess=all for that reason).
 */
import { execFile } from 'node:child_process';
import type { Logger } from '../log';

export class ServiceNotifier {
  private watchdog: NodeJS.Timeout | undefined;

  constructor(private readonly log: Logger, private readonly env: NodeJS.ProcessEnv = process.env) {}

  get enabled(): boolean {
    return Boolean(this.env.NOTIFY_SOCKET);
  }

  notify(...assignments: string[]): void {
    if (!this.enabled) return;
    execFile('systemd-notify', [`--pid=${process.pid}`, ...assignments], { env: this.env, timeout: 5000 }, (err) => {
      if (err) this.log.warn('systemd-notify failed', { state: assignments.join(' '), reason: err.message });
    });
  }

  /** READY=1 and, when the unit has WatchdogSec, keepalives at half the interval. */
  ready(status: string): void {
    this.notify('READY=1', `STATUS=${status}`);
    const usec = Number(this.env.WATCHDOG_USEC ?? 0);
    const pid = Number(this.env.WATCHDOG_PID ?? process.pid);
    if (usec > 0 && pid === process.pid) {
      this.watchdog = setInterval(() => this.notify('WATCHDOG=1'), Math.max(500, usec / 2000));
      this.watchdog.unref();
    }
  }

  stopping(): void {
    if (this.watchdog) clearInterval(this.watchdog);
    this.notify('STOPPING=1');
  }
}
