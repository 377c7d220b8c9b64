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
  QsError, STATE_KEYS, STATUS_NAMES, STATUS_READERS, UNKNOWN_STATE, controlReply, readAllowedCount, readLastExit, readLockInfo,
  readRunningPlan, uidOf, type ControlReply, type Dict, type Encoding, type LockReadings, type Params, type Reading, type StatusName,
  type UidKey,
} from './protocol';
import { PollPause } from '../timers';

export interface WatcherListener {
  /** Anything shown changed: connection, status, lists. */
  changed(): void;
  /** A complete console line (QS_Console). */
  consoleLine(line: string): void;
}

/** Where a manager's control socket is and how it encodes messages. */
export interface ManagerEndpoint {
  address: string;
  encoding: Encoding;
  /** The info (console and status) stream to subscribe to; none when undefined. */
  infoAddress?: string;
}

export interface ReManagerWatcherOptions {
  /** The manager's PV name part, for log lines. */
  name: string;
  /** The control address and encoding; may wait for D-Bus (a unit's environment). */
  resolveEndpoint(): Promise<ManagerEndpoint>;
  /**
   * The endpoint comes from a unit's environment, which an operator may edit
   * (then daemon-reload and restart): read it again while the manager does
   * not answer, and reconnect when it changed.
   */
  followsUnit?: boolean;
  publicKey?: string;
  lockKey?: SecretText;
  /** Whose plans_allowed / devices_allowed are counted. */
  userGroup: string;
  pollPeriodMs: number;
  timeoutMs: number;
  log: Logger;
  listener: WatcherListener;
  /**
   * Called before a manager that answered is shown not answering, with when
   * the request that failed was sent (performance.now()); the loss is shown
   * when it resolves, unless a status arrived meanwhile. A manager stops
   * answering when its redis hangs: the IOC makes this wait for that
   * redis's own poll, so that the redis fault (and the DepsUp that holds the
   * manager's alarm back) is shown first.
   */
  beforeLoss?: (since: number) => Promise<void>;
}

const NOT_READ: Reading = { fault: 'not read yet' };

/** A list request's reply, or why there is none to read. */
type ListReply = { reply: Dict; fault?: undefined } | { reply?: undefined; fault: string };

/** A reply's reading, or the fault that kept it from being read. */
function read(r: ListReply, reader: (reply: Dict) => Reading): Reading {
  return r.reply ? reader(r.reply) : { fault: r.fault };
}

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
  /** Who holds the lock, read with lock_info when lock_info_uid changes. */
  lock: LockReadings = { LockUser: NOT_READ, LockNote: NOT_READ, LockTime: NOT_READ };
  /** How many plans and devices the user group may use, read when their uids change. */
  plansAllowed: Reading = NOT_READ;
  devicesAllowed: Reading = NOT_READ;
  address: string | undefined;
  encoding: Encoding | undefined;
  /** The info stream subscribed to, if any. */
  infoAddress: string | undefined;
  /** Statuses applied (polls and QS_Info), for tests and benchmarks. */
  statusCount = 0;

  private status: Dict | undefined;
  private poller: QsClient | undefined;
  private controller: QsClient | undefined;
  private info: InfoSubscriber | undefined;
  private readonly console = new ConsoleAssembler();
  private stopped = false;
  private started = false;
  /** The wait between polls, which stop and pollNow cut short. */
  private readonly pause = new PollPause();
  /** The uid (or stand-in) each list was last read at; undefined: read it. */
  private readonly listKeys = new Map<string, string>();
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
    this.pause.wake();
    this.poller?.close();
    this.controller?.close();
    this.info?.close();
  }

  /** Poll now instead of at the next period (after a control request). */
  pollNow(): void {
    this.pause.wake();
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
    const endpoint = await this.opts.resolveEndpoint();
    if (this.stopped) return;
    this.connect(endpoint);
    this.log.info('watching an RE Manager', {
      manager: this.name, address: endpoint.address, encoding: endpoint.encoding, info: endpoint.infoAddress, curve: this.opts.publicKey !== undefined,
    });
    while (!this.stopped) {
      const began = Date.now();
      await this.pollOnce();
      if (!this.connected && this.opts.followsUnit && !this.stopped) await this.followUnit();
      await this.sleep(this.opts.pollPeriodMs - (Date.now() - began));
    }
  }

  /**
   * New poll and control sockets to `endpoint`; the old ones (if any) are
   * closed. The info stream is subscribed anew when its address or the
   * encoding changes (the manager publishes in its --zmq-encoding), and
   * closed when the endpoint names none.
   */
  private connect(endpoint: ManagerEndpoint): void {
    this.poller?.close();
    this.controller?.close();
    const infoAddress = endpoint.infoAddress;
    if (!infoAddress) {
      this.info?.close();
      this.info = undefined;
    } else if (!this.info || infoAddress !== this.infoAddress || endpoint.encoding !== this.encoding) {
      this.info?.close();
      this.info = new InfoSubscriber(infoAddress, {
        status: (s) => this.onInfoStatus(s),
        console: (text) => this.onConsole(text),
        fault: (reason) => this.onInfoFault(reason),
      }, endpoint.encoding);
      this.info.start();
      // A fault of the old stream says nothing about the new one.
      this.loggedInfoFault = '';
    }
    this.address = endpoint.address;
    this.encoding = endpoint.encoding;
    this.infoAddress = infoAddress;
    const client = { address: endpoint.address, timeoutMs: this.opts.timeoutMs, serverPublicKey: this.opts.publicKey, encoding: endpoint.encoding };
    // Polls and controls use separate sockets: a control never waits behind a slow poll, nor a poll behind a control.
    this.poller = new QsClient(client);
    this.controller = new QsClient(client);
  }

  /** Read the unit's environment again; reconnect when it names another address or encoding. */
  private async followUnit(): Promise<void> {
    let next: ManagerEndpoint;
    try {
      next = await this.opts.resolveEndpoint();
    } catch (err) {
      this.log.debug('cannot read the unit\'s environment again', { manager: this.name, reason: (err as Error).message });
      return;
    }
    if (this.stopped || (next.address === this.address && next.encoding === this.encoding && next.infoAddress === this.infoAddress)) return;
    const what = next.address !== this.address ? 'address' : next.encoding !== this.encoding ? 'encoding' : 'info address';
    this.log.warn(`the unit's environment names another RE Manager ${what}: reconnecting`, {
      manager: this.name, from: this.address, to: next.address, encoding: next.encoding,
      ...(what === 'encoding' ? { was: this.encoding } : {}),
      ...(next.infoAddress !== this.infoAddress ? { info: next.infoAddress ?? 'none', wasInfo: this.infoAddress ?? 'none' } : {}),
    });
    this.connect(next);
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return this.pause.wait(ms);
  }


  private async pollOnce(): Promise<void> {
    const poller = this.poller;
    if (!poller) return;
    const sentAt = performance.now();
    try {
      const status = await poller.request('status');
      this.applyStatus(status);
      await this.refreshLists();
    } catch (err) {
      await this.lose(err, sentAt);
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
    const read: [string, Reading][] = [
      ['RunningPlan', this.runningPlan], ['LastExitStatus', this.lastExit], ['LockUser', this.lock.LockUser],
      ['PlansAllowed', this.plansAllowed], ['DevicesAllowed', this.devicesAllowed],
    ];
    for (const [name, r] of read) {
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

  /** `since`: when the failed request was sent (by default, a timeout before now). */
  private async lose(err: unknown, since = performance.now() - this.opts.timeoutMs): Promise<void> {
    if (this.stopped) return;
    if (this.connected && this.opts.beforeLoss) {
      const statuses = this.statusCount;
      await this.opts.beforeLoss(since);
      // Stopped, or a status (QS_Info) arrived meanwhile: the manager answers after all.
      if (this.stopped || this.statusCount !== statuses) return;
    }
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
    this.listKeys.clear();
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
    const key = (uid: UidKey, fallback: string): string => uidOf(status, uid) ?? fallback;
    const group = { user_group: this.opts.userGroup };
    // Managers before the uids existed: re-read when what the status shows of the list changes (or once).
    const lists: Array<[string, string, () => Promise<void>]> = [
      ['queue', key('plan_queue_uid', `running ${String(status.running_item_uid)}`), async () => {
        this.runningPlan = read(await this.readList('queue_get'), readRunningPlan);
      }],
      ['history', key('plan_history_uid', `length ${String(status.items_in_history)}`), async () => {
        this.lastExit = read(await this.readList('history_get'), readLastExit);
      }],
      ['lock', key('lock_info_uid', `lock ${JSON.stringify(status.lock)}`), async () => {
        const r = await this.readList('lock_info');
        this.lock = r.reply ? readLockInfo(r.reply) : { LockUser: { fault: r.fault }, LockNote: { fault: r.fault }, LockTime: { fault: r.fault } };
      }],
      ['plans', key('plans_allowed_uid', 'once'), async () => {
        this.plansAllowed = read(await this.readList('plans_allowed', group), (r) => readAllowedCount(r, 'plans_allowed'));
      }],
      ['devices', key('devices_allowed_uid', 'once'), async () => {
        this.devicesAllowed = read(await this.readList('devices_allowed', group), (r) => readAllowedCount(r, 'devices_allowed'));
      }],
    ];
    let changed = false;
    for (const [name, at, fetch] of lists) {
      if (this.listKeys.get(name) === at) continue;
      await fetch();
      this.listKeys.set(name, at);
      changed = true;
      if (this.stopped) return;
    }
    if (changed && !this.stopped) {
      this.logProblems();
      this.opts.listener.changed();
    }
  }

  /** A list request; a bad reply is a fault of what it shows (not re-read until the uid changes), a timeout is thrown. */
  private async readList(method: string, params: Params = {}): Promise<ListReply> {
    try {
      const reply = await this.poller!.request(method, params);
      if (reply.success === false) return { fault: `${method} refused: ${String(reply.msg)}` };
      return { reply };
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
    if (reason !== this.loggedInfoFault) this.log.warn('bad message on the info stream', { manager: this.name, address: this.infoAddress, reason });
    this.loggedInfoFault = reason;
  }
}
