/**
 * A stand-in RE Manager (bluesky-queueserver) for tests, in-process over
 * real 0MQ sockets: REP on the control address answering `status` with the
 * bare status dict and control methods with {success, msg}, CURVE when given
 * a key pair, and an info socket publishing QS_Console / QS_Info. It checks
 * requests as the real manager does ({method, params} only; no user or
 * user_group) and keeps every request it received.
 *
 * Tests script it: change the status (`set`), replace the reply to a method
 * (`script`), hold replies (`hold`/`release`), or stop it and bind another
 * on the same port (`stop`, then `FakeReManager.start({ port })`).
 *
 * It speaks either encoding of bluesky-queueserver's --zmq-encoding: JSON
 * (default) or msgpack, for requests, replies and the info stream alike; a
 * request in the other encoding gets an error reply.
 *
 * Its info socket is an XPUB, so `subscribed()` can wait for a subscriber
 * instead of sleeping (a PUB drops what it sends before anyone subscribed).
 */
import { EventEmitter } from 'node:events';
import { decode as unpack, encode as pack } from '@msgpack/msgpack';
import * as zmq from 'zeromq';

export type Dict = Record<string, unknown>;

export interface ReceivedRequest {
  method: string;
  params: Dict;
  /** The raw request object (to check for keys besides method and params). */
  raw: Dict;
  at: number;
}

/** What to answer a request with: a dict (sent as JSON), raw bytes, or no reply at all. */
export type Answer = Dict | { raw: Buffer | string } | { noReply: true } | { delayMs: number; then: Dict };

export interface FakeReManagerOptions {
  /** Control port to bind on 127.0.0.1; default: a free one. */
  port?: number;
  /** Bind an info socket (port 0: a free one). */
  infoPort?: number;
  /** CurveZMQ server key pair. */
  curve?: { publicKey: string; secretKey: string };
  /** Start with these status fields. */
  status?: Dict;
  /** --zmq-encoding; default json. */
  encoding?: 'json' | 'msgpack';
}

const ALLOWED_PARAMS: Record<string, readonly string[]> = {
  status: [], ping: [], queue_get: [], history_get: [],
  queue_start: ['lock_key'], queue_stop: ['lock_key'], queue_stop_cancel: ['lock_key'],
  queue_autostart: ['enable', 'lock_key'],
  environment_open: ['lock_key'], environment_close: ['lock_key'], environment_destroy: ['lock_key'],
  re_pause: ['option', 'lock_key'], re_resume: ['lock_key'], re_stop: ['lock_key'], re_abort: ['lock_key'], re_halt: ['lock_key'],
  lock_info: ['lock_key'], plans_allowed: ['user_group'], devices_allowed: ['user_group'],
};

let uidCounter = 0;
const uid = (): string => `uid-${++uidCounter}-${Math.random().toString(36).slice(2, 8)}`;

export function idleStatus(): Dict {
  return {
    msg: 'RE Manager v0.0.24',
    time: Date.now() / 1000,
    status_uid: uid(),
    items_in_queue: 0,
    items_in_history: 0,
    running_item_uid: null,
    manager_state: 'idle',
    worker_environment_exists: false,
    worker_environment_state: 'closed',
    worker_background_tasks: 0,
    re_state: null,
    ip_kernel_state: null,
    ip_kernel_captured: null,
    queue_stop_pending: false,
    queue_autostart_enabled: false,
    pause_pending: false,
    plan_queue_mode: { loop: false, ignore_failures: false },
    plan_queue_uid: uid(),
    plan_history_uid: uid(),
    run_list_uid: uid(),
    lock: { environment: false, queue: false },
    lock_info_uid: uid(),
    plans_allowed_uid: uid(),
    devices_allowed_uid: uid(),
  };
}

/** lock_info of an unlocked manager. */
export function noLock(): Dict {
  return { environment: false, queue: false, user: null, note: null, time: null, time_str: '', emergency_lock_key_is_set: false };
}

export class FakeReManager extends EventEmitter {
  status: Dict;
  /** queue_get's running_item ({} when idle) and items. */
  runningItem: Dict = {};
  queue: Dict[] = [];
  history: Dict[] = [];
  lockInfo: Dict = noLock();
  /** plans_allowed / devices_allowed, the same for every user group. */
  plansAllowed: Dict = { count: { name: 'count' }, scan: { name: 'scan' } };
  devicesAllowed: Dict = { det1: { classname: 'SynGauss' }, det2: { classname: 'SynGauss' }, motor: { classname: 'SynAxis' } };
  readonly requests: ReceivedRequest[] = [];
  /** Replies to use instead of the normal ones, per method; a function is called per request. */
  readonly scripted = new Map<string, Answer | ((req: ReceivedRequest) => Answer)>();
  private held: Promise<void> | undefined;
  private releaseHeld: (() => void) | undefined;
  private stopped = false;
  private readonly loop: Promise<void>;

  private constructor(
    private readonly rep: zmq.Reply,
    readonly port: number,
    private readonly pub: zmq.XPublisher | undefined,
    readonly infoPort: number | undefined,
    status: Dict,
    readonly encoding: 'json' | 'msgpack',
  ) {
    super();
    this.status = status;
    this.loop = this.serve();
    if (pub) void this.watchSubscriptions(pub);
  }

  static async start(opts: FakeReManagerOptions = {}): Promise<FakeReManager> {
    const rep = new zmq.Reply({ linger: 0, ...(opts.curve ? { curveServer: true, curveSecretKey: opts.curve.secretKey, curvePublicKey: opts.curve.publicKey } : {}) });
    await bindRetrying(rep, `tcp://127.0.0.1:${opts.port ?? '*'}`);
    const port = portOf(rep);
    let pub: zmq.XPublisher | undefined;
    let infoPort: number | undefined;
    if (opts.infoPort !== undefined) {
      pub = new zmq.XPublisher({ linger: 0 });
      await bindRetrying(pub, `tcp://127.0.0.1:${opts.infoPort || '*'}`);
      infoPort = portOf(pub);
    }
    return new FakeReManager(rep, port, pub, infoPort, { ...idleStatus(), ...opts.status }, opts.encoding ?? 'json');
  }

  get controlAddr(): string {
    return `tcp://127.0.0.1:${this.port}`;
  }

  get infoAddr(): string {
    return `tcp://127.0.0.1:${this.infoPort}`;
  }

  /** Requests of one method, oldest first. */
  calls(method: string): ReceivedRequest[] {
    return this.requests.filter((r) => r.method === method);
  }

  /** Change status fields, as the manager would (a new status_uid); publishes QS_Info when there is an info socket. */
  set(changes: Dict): void {
    Object.assign(this.status, changes, { status_uid: uid(), time: Date.now() / 1000 });
    if (this.pub) this.publishStatus();
  }

  /** Change the queue (a new plan_queue_uid). */
  setQueue(runningItem: Dict, items: Dict[] = this.queue, changes: Dict = {}): void {
    this.runningItem = runningItem;
    this.queue = items;
    this.set({ plan_queue_uid: uid(), items_in_queue: items.length, running_item_uid: typeof runningItem.item_uid === 'string' ? runningItem.item_uid : null, ...changes });
  }

  /** Append to the history (a new plan_history_uid). */
  addHistory(exitStatus: string, changes: Dict = {}): void {
    this.history.push({ item_uid: uid(), item_type: 'plan', name: 'count', args: [], kwargs: {}, result: { exit_status: exitStatus } });
    this.set({ plan_history_uid: uid(), items_in_history: this.history.length, ...changes });
  }

  /** Lock or unlock, as the `lock`/`unlock` methods would (a new lock_info_uid). */
  setLock(info: Dict): void {
    this.lockInfo = { ...noLock(), ...info };
    const lock = { environment: this.lockInfo.environment === true, queue: this.lockInfo.queue === true };
    this.set({ lock, lock_info_uid: uid() });
  }

  /** Change the lists of allowed plans and devices (new uids), as a permissions reload would. */
  setAllowed(plans: Dict, devices: Dict): void {
    this.plansAllowed = plans;
    this.devicesAllowed = devices;
    this.set({ plans_allowed_uid: uid(), devices_allowed_uid: uid() });
  }

  /** One object as a frame in this manager's encoding. */
  encode(message: Dict): Buffer {
    return this.encoding === 'msgpack' ? Buffer.from(pack(message)) : Buffer.from(JSON.stringify(message));
  }

  /** Replace the reply to `method` until cleared with `script(method)`. */
  script(method: string, answer?: Answer | ((req: ReceivedRequest) => Answer)): void {
    if (answer === undefined) this.scripted.delete(method);
    else this.scripted.set(method, answer);
  }

  /** Take requests but answer none until release(); the next request waits too (REP lockstep). */
  hold(): void {
    if (this.held) return;
    this.held = new Promise((resolve) => {
      this.releaseHeld = resolve;
    });
  }

  release(): void {
    const r = this.releaseHeld;
    this.held = undefined;
    this.releaseHeld = undefined;
    r?.();
  }

  /** Resolves with the next request of `method` (or one already received after `since` requests). */
  nextRequest(method: string, since = this.requests.length): Promise<ReceivedRequest> {
    const seen = this.requests.slice(since).find((r) => r.method === method);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => {
      const on = (r: ReceivedRequest): void => {
        if (r.method !== method) return;
        this.off('request', on);
        resolve(r);
      };
      this.on('request', on);
    });
  }

  /** Publish a QS_Info status message now. */
  publishStatus(): void {
    void this.publish('QS_Info', { time: Date.now() / 1000, msg: { status: this.status } });
  }

  /** Publish a QS_Console chunk. */
  console(text: string): Promise<void> {
    return this.publish('QS_Console', { time: Date.now() / 1000, msg: text });
  }

  /** Publish raw frames on the info socket. */
  async publishRaw(frames: Array<string | Buffer>): Promise<void> {
    if (this.pub && !this.pub.closed) await this.pub.send(frames);
  }

  private async publish(topic: string, body: Dict): Promise<void> {
    await this.publishRaw([topic, this.encode(body)]);
  }

  private subscriptions = 0;

  /** Resolves once a subscriber has subscribed to the info socket. */
  subscribed(): Promise<void> {
    if (this.subscriptions > 0) return Promise.resolve();
    return new Promise((resolve) => this.once('subscribed', () => resolve()));
  }

  private async watchSubscriptions(pub: zmq.XPublisher): Promise<void> {
    try {
      for await (const [frame] of pub) {
        if (frame[0] === 1) {
          this.subscriptions++;
          this.emit('subscribed');
        }
      }
    } catch {
      // closed
    }
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.emit('stopping');
    this.release();
    // Not unbind(): libzmq 4.3.5 can assert (pipe.cpp, object.cpp) when an unbind races peers closing in the
    // same context. A manager bound again on this port retries while the closed socket lets go of it.
    this.rep.close();
    this.pub?.close();
    await this.loop;
  }

  // ------------------------------------------------------------ serving

  private async serve(): Promise<void> {
    while (!this.stopped) {
      let frames: Buffer[];
      try {
        frames = await this.rep.receive();
      } catch {
        return;
      }
      const reply = await this.answer(frames);
      if (this.stopped) return;
      if (reply === undefined) {
        // No reply: a REP socket cannot take another request before it sends one, so this manager is hung for good.
        await new Promise<void>((resolve) => this.once('stopping', resolve));
        return;
      }
      try {
        await this.rep.send(reply);
      } catch {
        return;
      }
    }
  }

  private async answer(frames: Buffer[]): Promise<Buffer | string | undefined> {
    let raw: Dict;
    try {
      const v: unknown = this.encoding === 'msgpack' ? unpack(frames[0]) : JSON.parse(frames[0].toString('utf8'));
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
      raw = v as Dict;
    } catch {
      return this.encode({ success: false, msg: `Error: request is not ${this.encoding}` });
    }
    const req: ReceivedRequest = { method: String(raw.method), params: (raw.params ?? {}) as Dict, raw, at: Date.now() };
    this.requests.push(req);
    this.emit('request', req);
    const scripted = this.scripted.get(req.method);
    const answer = typeof scripted === 'function' ? scripted(req) : scripted ?? this.normal(req);
    // Held (also by the script that just ran): answer on release().
    if (this.held) await this.held;
    if ('noReply' in answer) return undefined;
    if ('raw' in answer) return answer.raw as Buffer | string;
    if ('delayMs' in answer && 'then' in answer) {
      await new Promise((resolve) => setTimeout(resolve, answer.delayMs as number));
      return this.encode(answer.then as Dict);
    }
    return this.encode(answer);
  }

  /** What bluesky-queueserver answers (the checks of manager.py's request handling). */
  private normal(req: ReceivedRequest): Dict {
    const extra = Object.keys(req.raw).filter((k) => k !== 'method' && k !== 'params');
    if (extra.length) return { success: false, msg: `Error: Request contains unexpected keys: ${extra.join(', ')}` };
    const allowed = ALLOWED_PARAMS[req.method];
    if (!allowed) return { success: false, msg: `Unknown method '${req.method}'` };
    const bad = Object.keys(req.params).filter((k) => !allowed.includes(k));
    if (bad.length) return { success: false, msg: `Error: API ${req.method} does not support unsupported parameters: ${bad.join(', ')}` };
    switch (req.method) {
      case 'status': case 'ping':
        return this.status;
      case 'queue_get':
        return { success: true, msg: '', items: this.queue, running_item: this.runningItem, plan_queue_uid: this.status.plan_queue_uid };
      case 'history_get':
        return { success: true, msg: '', items: this.history, plan_history_uid: this.status.plan_history_uid };
      case 'lock_info':
        return { success: true, msg: '', lock_info: this.lockInfo, lock_info_uid: this.status.lock_info_uid };
      case 'plans_allowed': case 'devices_allowed': {
        if (typeof req.params.user_group !== 'string') return { success: false, msg: `Error: user group is not specified` };
        const list = req.method === 'plans_allowed' ? this.plansAllowed : this.devicesAllowed;
        return { success: true, msg: '', [req.method]: list, [`${req.method}_uid`]: this.status[`${req.method}_uid`] };
      }
      case 'queue_autostart':
        if (typeof req.params.enable !== 'boolean') return { success: false, msg: 'Error: enable must be a bool' };
        this.set({ queue_autostart_enabled: req.params.enable });
        return { success: true, msg: '' };
      default:
        return { success: true, msg: '' };
    }
  }
}

function portOf(socket: zmq.Socket): number {
  const m = /:(\d+)$/.exec(socket.lastEndpoint ?? '');
  if (!m) throw new Error(`no endpoint bound (${socket.lastEndpoint})`);
  return Number(m[1]);
}

/** Bind; a port just released by a stopped manager may take a moment to be free. */
async function bindRetrying(socket: zmq.Socket & { bind(a: string): Promise<void> }, address: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await socket.bind(address);
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== 'EADDRINUSE' || attempt >= 50) throw err;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}
