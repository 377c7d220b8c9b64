/**
 * What service-ioc knows of one RE Manager, kept current by polling
 * `status` every poll period over its own REQ socket, re-reading the queue
 * when plan_queue_uid changes and the history when plan_history_uid
 * changes, and (when the manager publishes them) taking QS_Info status
 * messages at once and QS_Console chunks as lines.
 *
 * Each manager has its own watcher, sockets and timers: a hung manager
 * delays nobody else. Every fault of the manager (a timeout, a bad reply) is
 * logged when it starts and when it ends, not on every poll.
 */
import type { Logger } from '../log';
import type { SecretText } from '../secret';
import { ConsoleAssembler } from './console';
import { QsClient } from './client';
import { InfoSubscriber } from './info';
import {
  QsError, STATE_KEYS, STATUS_NAMES, STATUS_READERS, UNKNOWN_STATE, controlReply, readLastExit, readRunningPlan, uidOf,
  type ControlReply, type Dict, type Params, type Reading, type StatusName,
} from './protocol';

export interface WatcherListener {
  /** Anything shown changed: connection, status, lists. */
  changed(): void;
  /** A complete console line (QS_Console). */
  consoleLine(line: string): void;
}

export interface ReManagerWatcherOptions {
  /** The manager's PV name part, for log lines. */
  name: string;
  /** The control address; may wait for D-Bus (a unit's environment). */
  resolveAddress(): Promise<string>;
  infoAddr?: string;
  publicKey?: string;
  lockKey?: SecretText;
  pollPeriodMs: number;
  timeoutMs: number;
  log: Logger;
  listener: WatcherListener;
}

const NOT_READ: Reading = { fault: 'not read yet' };

export class ReManagerWatcher {
  /** Whether the last status request was answered with a readable status. */
  connected = false;
  /** Why not connected. */
  fault = 'not polled yet';
  /** The status PVs' readings from the newest status. */
  readings: Record<StatusName, Reading> | undefined;
  /** When the newest status arrived (poll or QS_Info), ms since the epoch. */
  lastStatusAt: number | undefined;
  runningPlan: Reading = NOT_READ;
  lastExit: Reading = NOT_READ;
  address: string | undefined;
  /** Statuses applied (polls and QS_Info), for tests and benchmarks. */
  statusCount = 0;

  private status: Dict | undefined;
  private poller: QsClient | undefined;
  private controller: QsClient | undefined;
  private info: InfoSubscriber | undefined;
  private readonly console = new ConsoleAssembler();
  private stopped = false;
  private started = false;
  private wake: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private queueKey: string | undefined;
  private historyKey: string | undefined;
  private refreshing: Promise<void> | undefined;
  private refreshAgain = false;
  private loggedProblems = '';
  private loggedInfoFault = '';
  private readonly log: Logger;

  constructor(private readonly opts: ReManagerWatcherOptions) {
    this.log = opts.log;
  }

  get name(): string {
    return this.opts.name;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    void this.run().catch((err: unknown) => this.log.error('the poll loop ended', { manager: this.name, reason: (err as Error).message }));
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.wake?.();
    this.poller?.close();
    this.controller?.close();
    this.info?.close();
  }

  /** Poll now instead of at the next period (after a control request). */
  pollNow(): void {
    this.wake?.();
  }

  /** Send a control method (with the lock key); resolves with the manager's {success, msg}. */
  async control(method: string, params: Params = {}): Promise<ControlReply> {
    if (!this.controller) throw new QsError('QS_ERR_CLOSED', `${method}: not started`);
    const p: Params = { ...params };
    if (this.opts.lockKey) p.lock_key = this.opts.lockKey.reveal();
    const reply = controlReply(await this.controller.request(method, p));
    this.pollNow();
    return reply;
  }

  /** Requests that timed out on the poll socket. */
  get timeouts(): number {
    return this.poller?.timeouts ?? 0;
  }

  // ------------------------------------------------------------ polling

  private async run(): Promise<void> {
    const address = await this.opts.resolveAddress();
    if (this.stopped) return;
    this.address = address;
    const client = { address, timeoutMs: this.opts.timeoutMs, serverPublicKey: this.opts.publicKey };
    // Polls and controls use separate sockets: a control never waits behind a slow poll, nor a poll behind a control.
    this.poller = new QsClient(client);
    this.controller = new QsClient(client);
    if (this.opts.infoAddr) {
      this.info = new InfoSubscriber(this.opts.infoAddr, {
        status: (s) => this.onInfoStatus(s),
        console: (text) => this.onConsole(text),
        fault: (reason) => this.onInfoFault(reason),
      });
      this.info.start();
    }
    this.log.info('watching an RE Manager', { manager: this.name, address, info: this.opts.infoAddr, curve: this.opts.publicKey !== undefined });
    while (!this.stopped) {
      const began = Date.now();
      await this.pollOnce();
      await this.sleep(this.opts.pollPeriodMs - (Date.now() - began));
    }
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(this.timer);
        this.timer = undefined;
        this.wake = undefined;
        resolve();
      };
      this.wake = done;
      this.timer = setTimeout(done, Math.max(0, ms));
    });
  }

  private async pollOnce(): Promise<void> {
    const poller = this.poller!;
    try {
      const status = await poller.request('status');
      this.applyStatus(status);
      await this.refreshLists();
    } catch (err) {
      this.lose(err);
    }
  }

  private applyStatus(status: Dict): void {
    if (this.stopped) return;
    this.status = status;
    this.lastStatusAt = Date.now();
    this.statusCount++;
    const readings = {} as Record<StatusName, Reading>;
    for (const name of STATUS_NAMES) readings[name] = STATUS_READERS[name](status);
    this.readings = readings;
    if (!this.connected) {
      this.log.info('RE Manager answers', { manager: this.name, address: this.address, version: typeof status.msg === 'string' ? status.msg : undefined });
      this.connected = true;
      this.fault = '';
    }
    this.logProblems();
    this.opts.listener.changed();
  }

  /** Log unreadable fields and unknown states, with the raw text, when the set of them changes. */
  private logProblems(): void {
    const problems: string[] = [];
    if (this.readings) {
      for (const name of STATUS_NAMES) {
        const r = this.readings[name];
        if (r.fault !== undefined) problems.push(`${name}: ${r.fault}`);
        else if (r.value === UNKNOWN_STATE && STATE_KEYS[name]) problems.push(`${name}: unknown ${STATE_KEYS[name]} ${JSON.stringify(this.status?.[STATE_KEYS[name]!])}`);
      }
    }
    for (const [name, r] of [['RunningPlan', this.runningPlan], ['LastExitStatus', this.lastExit]] as const) {
      if (r === NOT_READ) continue;
      if (r.fault !== undefined) problems.push(`${name}: ${r.fault}`);
      else if (r.value === UNKNOWN_STATE) problems.push(`${name}: unknown exit_status ${JSON.stringify((r as { raw?: string }).raw)}`);
    }
    const text = problems.join('; ');
    if (text === this.loggedProblems) return;
    if (text) this.log.warn('RE Manager status has fields service-ioc cannot show', { manager: this.name, problems: text });
    else this.log.info('RE Manager status readable again', { manager: this.name });
    this.loggedProblems = text;
  }

  private lose(err: unknown): void {
    if (this.stopped) return;
    if (!(err instanceof QsError)) {
      this.log.error('unexpected failure while polling', { manager: this.name, reason: (err as Error).stack ?? String(err) });
    }
    const reason = (err as Error).message;
    if (this.connected || reason !== this.fault) {
      this.log.warn('RE Manager not usable', { manager: this.name, address: this.address, reason });
    }
    this.connected = false;
    this.fault = reason;
    // Re-read the lists when it answers again (a restarted manager has new uids anyway).
    this.queueKey = undefined;
    this.historyKey = undefined;
    this.opts.listener.changed();
  }

  // ------------------------------------------------------------ queue and history

  /** One refresh at a time; a change while it runs makes it go round again. */
  private refreshLists(): Promise<void> {
    if (this.refreshing) {
      this.refreshAgain = true;
      return this.refreshing;
    }
    this.refreshing = (async () => {
      do {
        this.refreshAgain = false;
        await this.fetchLists();
      } while (this.refreshAgain && !this.stopped);
    })().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async fetchLists(): Promise<void> {
    const status = this.status;
    if (!status || !this.poller || this.stopped) return;
    // Managers before plan_*_uid existed: re-read when what the status shows of the list changes.
    const queueKey = uidOf(status, 'plan_queue_uid') ?? `running ${String(status.running_item_uid)}`;
    const historyKey = uidOf(status, 'plan_history_uid') ?? `length ${String(status.items_in_history)}`;
    let changed = false;
    if (queueKey !== this.queueKey) {
      this.runningPlan = await this.readList('queue_get', readRunningPlan);
      this.queueKey = queueKey;
      changed = true;
    }
    if (historyKey !== this.historyKey) {
      this.lastExit = await this.readList('history_get', readLastExit);
      this.historyKey = historyKey;
      changed = true;
    }
    if (changed && !this.stopped) {
      this.logProblems();
      this.opts.listener.changed();
    }
  }

  /** A list request; a bad reply is a fault of that PV (not re-read until the uid changes), a timeout is thrown. */
  private async readList(method: 'queue_get' | 'history_get', read: (reply: Dict) => Reading): Promise<Reading> {
    try {
      const reply = await this.poller!.request(method);
      if (reply.success === false) return { fault: `${method} refused: ${String(reply.msg)}` };
      return read(reply);
    } catch (err) {
      if (err instanceof QsError && err.code === 'QS_ERR_PROTOCOL') return { fault: err.message };
      throw err;
    }
  }

  // ------------------------------------------------------------ info stream

  private onInfoStatus(status: Dict): void {
    // The poll decides whether the manager answers; between polls QS_Info keeps the values (and StatusAge) current.
    if (!this.connected || this.stopped) return;
    this.applyStatus(status);
    void this.refreshLists().catch((err: unknown) => this.lose(err));
  }

  private onConsole(text: string): void {
    for (const line of this.console.feed(text)) this.opts.listener.consoleLine(line);
  }

  private onInfoFault(reason: string): void {
    if (reason !== this.loggedInfoFault) this.log.warn('bad message on the info stream', { manager: this.name, address: this.opts.infoAddr, reason });
    this.loggedInfoFault = reason;
  }
}
