/**
 * What service-ioc knows of one redis server, kept current by polling it
 * every poll period: PING (its round trip is PingTime), INFO, and the
 * queueserver's keys (LLEN of the queue and the history, GET of lock_info).
 * A poll that does not finish within the timeout makes the server not
 * connected and drops the connection; the next poll connects again, so a
 * server that answers again (SIGCONT, a restart) is seen by itself.
 * Faults are logged when they start and when they end, not on every poll.
 */
import type { Logger } from '../log';
import { RedisConnection, isErrorReply, type RedisCommands } from './client';
import { queueserverKey, type RedisConfig } from './config';
import { parseInfo, readInfo, readLockInfo, type InfoReadings, type Reading } from './protocol';
import { PollPause } from '../timers';

export interface RedisReadings extends InfoReadings {
  PingTime: Reading;
  QueueLength: Reading;
  HistoryLength: Reading;
  Locked: Reading;
}

export interface RedisWatcherOptions {
  config: RedisConfig;
  log: Logger;
  /** Anything shown changed: connection or readings. */
  changed(): void;
}

export class RedisWatcher {
  /** Whether the last poll was answered in full within the timeout. */
  connected = false;
  /** Why not connected. */
  fault = 'not polled yet';
  readings: RedisReadings | undefined;
  /** Polls answered (tests, benchmarks). */
  polls = 0;

  private readonly connection: RedisConnection;
  private readonly log: Logger;
  private stopped = false;
  private started = false;
  /** The wait between polls, which stop and a pending check cut short. */
  private readonly pause = new PollPause();
  private loggedProblems = '';
  /** When the last poll that has ended began (performance.now()). */
  private lastPollBegan = -Infinity;
  /** checked() calls waiting for a poll. */
  private checks: { since: number; done: () => void }[] = [];

  constructor(private readonly opts: RedisWatcherOptions) {
    this.log = opts.log;
    this.connection = new RedisConnection({
      addr: opts.config.addr,
      password: opts.config.password,
      timeoutMs: opts.config.timeout * 1000,
      clientName: 'service-ioc',
    });
  }

  get name(): string {
    return this.opts.config.pv;
  }

  get address(): string {
    return this.connection.address;
  }

  /** Connections made so far (a new one after each timeout or restart). */
  get connections(): number {
    return this.connection.opened;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.log.info('watching a redis server', { redis: this.name, address: this.address, name_prefix: this.opts.config.namePrefix, auth: this.opts.config.password !== undefined });
    void this.run().catch((err: unknown) => this.log.error('the poll loop ended', { redis: this.name, reason: (err as Error).message }));
  }

  stop(): void {
    this.stopped = true;
    this.pause.wake();
    this.connection.close();
    this.settleChecks();
  }

  /**
   * Resolves once this server's state as of `since` (a performance.now()
   * time) is known and shown (changed() called): at once when the server is
   * already not connected or a poll begun at `since` or later has ended;
   * otherwise when the next poll ends, which starts at once if the watcher is
   * between polls. It waits at most a poll in progress and one more, each
   * bounded by the timeout. Another part of the IOC asks this before showing
   * a fault that this server's may explain.
   */
  checked(since: number): Promise<void> {
    if (this.knownAsOf(since)) return Promise.resolve();
    return new Promise((done) => {
      this.checks.push({ since, done });
      this.pause.wake();
    });
  }

  private async run(): Promise<void> {
    const period = this.opts.config.pollPeriod * 1000;
    while (!this.stopped) {
      const began = performance.now();
      await this.pollOnce(began);
      // A check that this poll began too early to answer gets the next one now.
      if (this.checks.length === 0) await this.sleep(period - (performance.now() - began));
    }
  }

  /** Whether what is shown of the server holds as of `since`: stopped, not connected, or polled since. */
  private knownAsOf(since: number): boolean {
    return this.stopped || !this.connected || this.lastPollBegan >= since;
  }

  /** Resolve the checks the last poll answers. */
  private settleChecks(): void {
    const waiting = this.checks;
    this.checks = [];
    for (const c of waiting) {
      if (this.knownAsOf(c.since)) c.done();
      else this.checks.push(c);
    }
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return this.pause.wait(ms);
  }


  /** One poll; `began`: when it started (performance.now()). */
  private async pollOnce(began: number): Promise<void> {
    try {
      const readings = await this.connection.run('poll', (c) => this.read(c));
      if (this.stopped) return;
      this.apply(readings);
    } catch (err) {
      this.lose(err);
    } finally {
      this.lastPollBegan = began;
      this.settleChecks();
    }
  }

  private async read(c: RedisCommands): Promise<RedisReadings> {
    const cfg = this.opts.config;
    const began = process.hrtime.bigint();
    const pong = await c.ping();
    const pingMs = Number(process.hrtime.bigint() - began) / 1e6;
    if (pong !== 'PONG') throw new Error(`PING answered ${JSON.stringify(pong)}`);
    // Sent together (node-redis pipelines them on the one connection); an error reply is that PV's fault only.
    const [info, queue, history, lock] = await Promise.all([
      c.info().then((text) => ({ text }), replyFault),
      c.lLen(queueserverKey(cfg.namePrefix, 'plan_queue')).then(count, replyFault),
      c.lLen(queueserverKey(cfg.namePrefix, 'plan_history')).then(count, replyFault),
      c.get(queueserverKey(cfg.namePrefix, 'lock_info')).then(readLockInfo, replyFault),
    ]);
    const infoReadings = 'text' in info ? readInfo(parseInfo(info.text)) : allFaulty(info.fault);
    return { ...infoReadings, PingTime: { value: pingMs }, QueueLength: queue, HistoryLength: history, Locked: lock };
  }

  private apply(readings: RedisReadings): void {
    this.readings = readings;
    this.polls++;
    if (!this.connected) {
      this.log.info('redis answers', { redis: this.name, address: this.address, version: readings.Version.value });
      this.connected = true;
      this.fault = '';
    }
    this.logProblems();
    this.opts.changed();
  }

  private logProblems(): void {
    const r = this.readings;
    const problems: string[] = [];
    if (r) {
      for (const [name, reading] of Object.entries(r) as [string, Reading & { why?: string }][]) {
        if (reading.fault !== undefined) problems.push(`${name}: ${reading.fault}`);
        else if (reading.why) problems.push(`${name}: ${reading.why}`);
      }
    }
    const text = problems.join('; ');
    if (text === this.loggedProblems) return;
    if (text) this.log.warn('redis reports a problem', { redis: this.name, address: this.address, problems: text });
    else if (this.loggedProblems) this.log.info('redis problems cleared', { redis: this.name });
    this.loggedProblems = text;
  }

  private lose(err: unknown): void {
    if (this.stopped) return;
    const reason = (err as Error).message;
    if (this.connected || reason !== this.fault) this.log.warn('redis not usable', { redis: this.name, address: this.address, reason });
    this.connected = false;
    this.fault = reason;
    this.loggedProblems = '';
    this.opts.changed();
  }
}

function count(n: number): Reading {
  return { value: n };
}

/** An error reply (WRONGTYPE: the key is not a list) is a fault of that PV; anything else ends the poll. */
function replyFault(err: unknown): { fault: string } {
  if (isErrorReply(err)) return { fault: err.message };
  throw err;
}

function allFaulty(fault: string): InfoReadings {
  const f = { fault: `INFO: ${fault}` };
  return { Version: f, UsedMemory: f, Persistence: f, LastSaveTime: f, ConnectedClients: f };
}
