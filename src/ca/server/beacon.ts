/**
 * Beacons (RSRV_IS_UP) announce the server so clients reconnect quickly after
 * a restart. The counter goes up by exactly one per round (libca's bhe.cpp
 * treats a jump as a restarted server, a repeat as noise); the interval starts
 * at 0.02 s and doubles up to the configured period (online_notify.c).
 */
import { beaconMessage } from '../protocol/messages';
import type { HostPort } from './config';
import { realScheduler, type Scheduler } from './scheduler';

export interface BeaconOptions {
  tcpPort: number;
  /** Longest interval, seconds. */
  period: number;
  destinations: HostPort[];
  /** IPv4 address of this server as u32, or 0. */
  serverAddress?: number;
  send: (datagram: Buffer, to: HostPort) => void;
  scheduler?: Scheduler;
}

export const FIRST_BEACON_INTERVAL_S = 0.02;

export class BeaconEmitter {
  private counter = 0;
  private interval = FIRST_BEACON_INTERVAL_S;
  private handle: unknown;
  private running = false;
  private readonly scheduler: Scheduler;

  constructor(private readonly opts: BeaconOptions) {
    this.scheduler = opts.scheduler ?? realScheduler;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.tick();
  }

  stop(): void {
    this.running = false;
    if (this.handle !== undefined) this.scheduler.clearTimeout(this.handle);
    this.handle = undefined;
  }

  /** The counter of the next beacon. */
  get nextCounter(): number {
    return this.counter;
  }

  private tick(): void {
    if (!this.running) return;
    const datagram = beaconMessage(this.opts.tcpPort, this.counter, this.opts.serverAddress ?? 0);
    for (const to of this.opts.destinations) this.opts.send(datagram, to);
    this.counter = (this.counter + 1) >>> 0;
    const wait = this.interval;
    this.interval = Math.min(this.interval * 2, this.opts.period);
    this.handle = this.scheduler.setTimeout(() => this.tick(), wait * 1000);
  }
}
