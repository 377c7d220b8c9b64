/**
 * One TCP circuit: the adapter between a Duplex stream (a socket in
 * production, an in-memory pair in tests) and the protocol core
 * (`../protocol/circuit-core`), which frames, decodes and checks requests.
 * This file carries each request out against the PVs, in arrival order, and
 * owns the stream's flow control and timers.
 *
 * Order (docs/protocol-notes.md, "Request order"): requests are handled one
 * after another as they arrive, as RSRV's receive thread does (camessage.c
 * camessage()). A write is handed to its PV at once, and the PV applies it
 * before the next request is looked at, or queues it behind a write still in
 * progress on the same record; a read is answered from the PV as it is then,
 * unless writes made before it still wait in that queue, in which case only
 * that read waits for them.
 *
 * Bounds: payloads above `maxArrayBytes` end the circuit; a client that sends
 * nothing within `handshakeTimeoutMs` is dropped; channels per circuit are
 * capped; while the client does not read, reading from it pauses and monitor
 * updates are held as "latest per subscription" (RSRV replaces a
 * subscription's queued event the same way, dbEvent.c); a circuit that cannot
 * drain within `drainTimeoutMs` is closed. EVENTS_OFF holds updates as RSRV's
 * flow control does: until one replaces a held one (see `deliver`).
 */
import type { Duplex } from 'node:stream';
import {
  CA_MINOR_VERSION, Command, DBE_ALARM, MAX_STRING_SIZE, DBE_LOG, DBE_PROPERTY, DBE_VALUE, DbrType, Eca, ecaMessage,
} from '../protocol/constants';
import { CircuitCore, type InboundQueue } from '../protocol/circuit-core';
import { describeCloseReason, type ChannelTable, type CloseReason, type ProtocolViolation } from '../protocol/circuit-rules';
import type {
  ClearChannelRequest, ClientRequest, CreateChannelRequest, EventAddRequest, EventCancelRequest,
  ReadRequest, SearchRequest, WriteRequestMessage,
} from '../protocol/requests';
import * as msg from '../protocol/messages';
import { MessageWriter } from '../protocol/writer';
import { decodeDbr, encodeDbrInto, isValidDbrType, dbrPayloadSize, paddedSize, zeroPayload } from '../protocol/dbr';
import { convertValue } from '../protocol/convert';
import { CaProtocolError } from '../protocol/errors';
import { errorCode, type ErrorCode } from '../../errors';
import type { Logger } from '../../log';
import type { DbrValue } from '../protocol/types';
import {
  WriteError, type AccessRights, type ClientIdentity, type ProcessVariable, type PvDirectory, type WriteAttempt, type WriteAudit,
} from '../pv';
import { realScheduler, type Scheduler } from './scheduler';
import { SID_TABLE_CAPACITY, SidTable } from './sid-table';

export interface CircuitOptions {
  /** Largest payload accepted or sent (EPICS_CA_MAX_ARRAY_BYTES). */
  maxArrayBytes: number;
  /** Bytes buffered for the client above which updates are coalesced and reading pauses. */
  sendHighWater: number;
  /** How long the circuit may stay unable to drain before it is closed. */
  drainTimeoutMs: number;
  /** How long a new circuit may stay without a single request before it is closed. */
  handshakeTimeoutMs: number;
  /** Channels one circuit may hold; a CREATE_CHAN beyond it fails. */
  maxChannels: number;
  /** Put-callbacks in progress per channel before further ones are refused. */
  maxQueuedPutsPerChannel: number;
  /** This server's TCP port, for answering searches made over the circuit (0: unknown). */
  tcpPort: number;
  /** Called once per write attempt (the put log). */
  audit?: WriteAudit;
  /** Where the circuit's timers come from. */
  scheduler?: Scheduler;
  /** Called once when a channel cap is hit, with the line to log (the server rate-limits it). */
  onLimit?: (what: string) => void;
}

export const DEFAULT_CIRCUIT_OPTIONS: CircuitOptions = {
  maxArrayBytes: 16384,
  sendHighWater: 256 * 1024,
  drainTimeoutMs: 30_000,
  handshakeTimeoutMs: 10_000,
  maxChannels: 250_000,
  maxQueuedPutsPerChannel: 64,
  tcpPort: 0,
};

const NOTHING = (): void => undefined;

/** Ask for as many DBE bits as the PV may post; events match when masks intersect. */
const ALL_EVENTS = DBE_VALUE | DBE_LOG | DBE_ALARM | DBE_PROPERTY;

interface Subscription {
  readonly id: number;
  readonly channel: Channel;
  readonly dbrType: number;
  /** 0: the current length at each update. */
  readonly count: number;
  readonly mask: number;
}

interface Channel {
  readonly cid: number;
  readonly sid: number;
  readonly pv: ProcessVariable;
  rights: AccessRights;
  /** Made at the first subscription: most channels never have one. */
  subscriptions: Map<number, Subscription> | undefined;
  unsubscribe: () => void;
  /** Put-callbacks started and not yet answered. */
  putsInProgress: number;
}

export interface CircuitStats {
  channels: number;
  subscriptions: number;
  heldUpdates: number;
}

export class Circuit implements ChannelTable {
  readonly identity: ClientIdentity;
  private priority = 0;
  private clientMinor = 0;
  private readonly core: CircuitCore;
  private readonly channels = new SidTable<Channel>();
  private readonly subscriptions = new Map<number, Subscription>();
  /** Subscriptions with an update waiting (events off, or the client not reading). */
  private readonly held = new Set<Subscription>();
  private eventsOn = true;
  private backedUp = false;
  private drainTimer: unknown = undefined;
  private handshakeTimer: unknown = undefined;
  private readonly scheduler: Scheduler;
  private closed = false;
  /** Replies of this turn of the event loop, written together by `flush`. */
  private readonly out = new MessageWriter();
  private readonly flush = (): void => {
    if (this.closed) return;
    const bytes = this.out.take();
    if (!bytes) return;
    const ok = this.stream.write(bytes);
    // Below our own high-water mark a false from write() needs nothing: Node keeps the
    // bytes, and the length is looked at again on the next flush.
    if (!ok && !this.backedUp && this.stream.writableLength >= this.opts.sendHighWater) this.startBackpressure();
  };
  /** Reading paused until the event loop has had its turn (see `receive`). */
  private yielding = false;
  private readonly endYield = (): void => {
    this.yielding = false;
    if (!this.backedUp && !this.closed) this.stream.resume();
  };
  private readonly closeListeners: Array<(reason: CloseReason) => void> = [];
  /** Stops following the directory's rights changes. */
  private readonly unwatchRights: () => void;

  constructor(
    private readonly stream: Duplex,
    private readonly directory: PvDirectory,
    private readonly log: Logger,
    address: string,
    private readonly opts: CircuitOptions = DEFAULT_CIRCUIT_OPTIONS,
  ) {
    this.identity = { user: '', host: address, address };
    this.scheduler = opts.scheduler ?? realScheduler;
    this.core = new CircuitCore(this, { maxPayload: opts.maxArrayBytes + 64, maxChannels: Math.min(opts.maxChannels, SID_TABLE_CAPACITY) });
    stream.on('data', (chunk: Buffer) => this.receive(chunk));
    stream.on('drain', () => this.drained());
    stream.on('error', (err: Error) => this.close({ kind: 'stream-error', message: err.message }));
    stream.on('end', () => this.close({ kind: 'client-closed' }));
    stream.on('close', () => this.close({ kind: 'client-closed' }));
    this.handshakeTimer = this.scheduler.setTimeout(
      () => this.close({ kind: 'handshake-timeout', afterMs: opts.handshakeTimeoutMs }),
      opts.handshakeTimeoutMs,
    );
    this.unwatchRights = directory.onRightsChanged?.(() => this.recomputeAllRights()) ?? NOTHING;
    this.send(msg.versionMessage(0, CA_MINOR_VERSION));
  }

  /** Called once when the circuit ends, with the reason. */
  onClose(listener: (reason: CloseReason) => void): void {
    this.closeListeners.push(listener);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** True until the client's first request: a connection that may never speak. */
  get isSilent(): boolean {
    return this.core.state === 'handshake';
  }

  get stats(): CircuitStats {
    return { channels: this.channels.size, subscriptions: this.subscriptions.size, heldUpdates: this.held.size };
  }

  // ChannelTable: what the protocol rules ask of this circuit's channels.
  hasChannel(sid: number): boolean {
    return this.channels.has(sid);
  }

  hasSubscription(sid: number, subscriptionId: number): boolean {
    return this.subscriptions.get(subscriptionId)?.channel.sid === sid;
  }

  get channelCount(): number {
    return this.channels.size;
  }

  /** End the circuit: drop every channel and subscription, and the stream. */
  close(reason: CloseReason): void {
    if (this.closed) return;
    this.closed = true;
    this.core.beginClosing();
    this.clearTimer('drainTimer');
    this.clearTimer('handshakeTimer');
    this.unwatchRights();
    for (const ch of this.channels.values()) this.dropChannel(ch);
    this.held.clear();
    this.log.debug('circuit closed', { client: this.describe(), reason: describeCloseReason(reason) });
    this.stream.destroy();
    for (const l of this.closeListeners) l(reason);
  }

  /** Tell the client a channel's PV is gone (SERVER_DISCONN) and forget the channel. */
  disconnectPv(pv: ProcessVariable): void {
    for (const ch of [...this.channels.values()]) {
      if (ch.pv !== pv) continue;
      this.dropChannel(ch);
      this.channels.delete(ch.sid);
      this.send(msg.serverDisconnMessage(ch.cid));
    }
  }

  get clientVersion(): { priority: number; minor: number } {
    return { priority: this.priority, minor: this.clientMinor };
  }

  private describe(): string {
    return `${this.identity.user || '?'}@${this.identity.host}(${this.identity.address})`;
  }

  private clearTimer(which: 'drainTimer' | 'handshakeTimer'): void {
    if (this[which] === undefined) return;
    this.scheduler.clearTimeout(this[which]);
    this[which] = undefined;
  }

  // ------------------------------------------------------------ input

  private receive(chunk: Buffer): void {
    if (this.closed) return;
    this.carryOut(this.core.receive(chunk));
    // One chunk per turn of the event loop: before the next is read, what this one caused
    // is written out, to this client and to every other (a monitor of the record a burst
    // of puts is changing), and other sockets are served. RSRV gets the same fairness from
    // one thread per client and an event task that sends while puts are processed.
    if (!this.yielding && !this.closed && !this.backedUp) {
      this.yielding = true;
      this.stream.pause();
      setImmediate(this.endYield);
    }
  }

  /**
   * Each request of a chunk in turn. (A loop of its own: V8 compiles a hot
   * loop on the fly and keeps that code for the next entry, and code after
   * the loop that had not run yet then falls back to the interpreter on every
   * chunk.)
   */
  private carryOut(inbound: InboundQueue): void {
    for (let item = inbound.next(); item && !this.closed; item = inbound.next()) {
      if (this.handshakeTimer !== undefined && !this.isSilent) this.clearTimer('handshakeTimer');
      if (item.kind === 'violation') this.violated(item.violation);
      else this.handle(item);
    }
  }

  /** A broken rule: refused with an error reply, or the end of the circuit (the rules say which). */
  private violated(v: ProtocolViolation): void {
    if (v.action === 'ignore') return;
    if (v.action === 'refuse') {
      this.refuse(v);
      return;
    }
    this.log.warn('closing circuit after a protocol violation', { client: this.describe(), rule: v.rule, reason: v.message });
    this.close({ kind: 'violation', violation: v });
  }

  /** The reply RSRV gives to a refused request. */
  private refuse(v: ProtocolViolation): void {
    const req = v.request;
    if (!req) return;
    if (v.rule === 'too-many-channels' && req.kind === 'createChannel') {
      this.opts.onLimit?.(`a client (${this.describe()}) reached the limit of ${this.opts.maxChannels} channels on one circuit; further channels fail`);
      this.send(msg.createChanFailMessage(req.cid));
      return;
    }
    if (v.rule === 'unknown-channel') {
      this.log.debug('request for an unknown channel', { client: this.describe(), request: req.kind, reason: v.message });
    }
    this.send(msg.errorMessage(0, v.eca, msg.requestHeaderBytes(req.header), v.message));
  }

  private handle(req: ClientRequest): void {
    // The requests of a busy circuit first: the cases are compared in order.
    switch (req.kind) {
      case 'read':
        return this.read(req);
      case 'write':
        return this.write(req);
      case 'eventAdd':
        return this.eventAdd(req);
      case 'eventCancel':
        return this.eventCancel(req);
      case 'createChannel':
        return this.createChannel(req);
      case 'clearChannel':
        return this.clearChannel(req);
      case 'version':
        this.priority = req.priority;
        this.clientMinor = req.minorVersion;
        return;
      case 'clientName':
        this.identity.user = req.user;
        this.recomputeAllRights();
        return;
      case 'hostName':
        this.identity.host = req.host;
        this.recomputeAllRights();
        return;
      case 'eventsOff':
        this.eventsOn = false;
        return;
      case 'eventsOn':
        this.eventsOn = true;
        this.flushHeld();
        return;
      case 'echo':
        this.send(msg.echoMessage());
        return;
      case 'readSync':
        // Obsolete barrier: RSRV answers with the same command.
        this.send(Buffer.from(msg.requestHeaderBytes(req.header)));
        return;
      case 'search':
        return this.tcpSearch(req);
    }
  }

  /**
   * A search over the circuit (name resolution without UDP, minor >= 12):
   * answered like a UDP one without the VERSION prefix, and with NOT_FOUND
   * when the name is not served and the client asked for a reply.
   */
  private tcpSearch(req: SearchRequest): void {
    if (this.directory.lookup(req.name)) {
      if (this.opts.tcpPort) this.send(msg.searchReply(this.opts.tcpPort, req.searchId));
      return;
    }
    if (req.replyWanted) this.send(msg.notFoundReply(req.header));
  }

  private createChannel(req: CreateChannelRequest): void {
    const { cid } = req;
    if (req.minorVersion && !this.clientMinor) this.clientMinor = req.minorVersion;
    const pv = this.directory.lookup(req.name);
    if (!pv) {
      this.send(msg.createChanFailMessage(cid));
      return;
    }
    const ch = this.channels.add((sid): Channel => ({
      cid, sid, pv,
      rights: pv.accessRights(this.identity),
      subscriptions: undefined,
      unsubscribe: NOTHING,
      putsInProgress: 0,
    }));
    // ACCESS_RIGHTS must precede the CREATE_CHAN reply: libca sets the rights before
    // it calls the connection handler (camessage.c claim_ciu_reply).
    this.reply(Command.ACCESS_RIGHTS, 0, 0, cid, msg.accessRightsBits(ch.rights.read, ch.rights.write));
    this.reply(Command.CREATE_CHAN, pv.nativeType, pv.maxCount, cid, ch.sid);
  }

  private clearChannel(req: ClearChannelRequest): void {
    const ch = this.channels.get(req.sid)!;
    this.dropChannel(ch);
    this.channels.delete(ch.sid);
    this.reply(Command.CLEAR_CHANNEL, 0, 0, ch.sid, ch.cid);
  }

  private dropChannel(ch: Channel): void {
    ch.unsubscribe();
    if (!ch.subscriptions) return;
    for (const sub of ch.subscriptions.values()) {
      this.subscriptions.delete(sub.id);
      this.held.delete(sub);
    }
    ch.subscriptions = undefined;
  }

  private recomputeAllRights(): void {
    for (const ch of this.channels.values()) this.recomputeRights(ch);
  }

  private recomputeRights(ch: Channel): void {
    if (this.closed || !this.channels.has(ch.sid)) return;
    const rights = ch.pv.accessRights(this.identity);
    const same = rights.read === ch.rights.read && rights.write === ch.rights.write;
    ch.rights = rights;
    if (same) return;
    this.send(msg.accessRightsMessage(ch.cid, rights.read, rights.write));
  }

  // ------------------------------------------------------------ reads and monitors

  /**
   * Check a requested type and count; returns the ECA error to report, or
   * undefined when the request can be served. Count 0 (current length) is for
   * clients of minor version 13 and later.
   */
  private checkRequest(ch: Channel, dbrType: number, count: number): Eca | undefined {
    if (!isValidDbrType(dbrType) || dbrType === DbrType.PUT_ACKT || dbrType === DbrType.PUT_ACKS) return Eca.BADTYPE;
    if (count > ch.pv.maxCount) return Eca.BADCOUNT;
    const n = count === 0 ? ch.pv.maxCount : count;
    // One element of any type fits (the limit is at least 16 kB).
    if (n > 1 && paddedSize(dbrPayloadSize(dbrType, n)) > this.opts.maxArrayBytes) return Eca.TOLARGE;
    return undefined;
  }

  /**
   * Send `command` carrying the PV's value now as `dbrType`, encoded straight
   * into the turn's output. Throws (and sends nothing) when the value cannot be
   * converted.
   */
  private sendValue(command: number, ch: Channel, dbrType: number, count: number, parameter1: number, parameter2: number): void {
    if (this.closed) return;
    const snap = ch.pv.snapshot();
    const n = count === 0 ? Math.min(snap.value.length, ch.pv.maxCount) : count;
    const elements = Math.max(1, n);
    const mark = this.out.length;
    const at = this.out.messageSpace(command, dbrType, n, parameter1, parameter2, paddedSize(dbrPayloadSize(dbrType, elements)));
    try {
      encodeDbrInto(this.out.buffer, at, dbrType, elements, snap);
    } catch (err) {
      this.out.rewind(mark);
      throw err;
    }
    this.sent(mark === 0);
  }

  private read(req: ReadRequest): void {
    const ch = this.channels.get(req.sid)!;
    // Writes made before this read that still wait behind one in progress: the
    // read is answered once they are applied, so that it sees them.
    const pending = ch.pv.writesApplied?.();
    if (pending) {
      void pending.then(() => {
        if (!this.closed && this.channels.get(ch.sid) === ch) this.answerRead(ch, req);
      });
      return;
    }
    this.answerRead(ch, req);
  }

  /** The reply to a read that carries a status: READ_NOTIFY; the obsolete READ is answered with READ, p1 = CID (camessage.c read_action). */
  private readReply(ch: Channel, req: ReadRequest, eca: number, count: number, payload: Buffer): void {
    if (req.notify) this.reply(Command.READ_NOTIFY, req.dbrType, count, eca, req.ioid, payload);
    else this.reply(Command.READ, req.dbrType, count, ch.cid, req.ioid, payload);
  }

  private answerRead(ch: Channel, req: ReadRequest): void {
    const bad = this.checkRequest(ch, req.dbrType, req.count);
    if (bad !== undefined) {
      // A read of a type or count we cannot serve: RSRV answers the request with the
      // status and an empty payload; an unreadable type (the ACK writes) gets an ERROR.
      if (bad === Eca.BADTYPE || !req.notify) {
        this.send(msg.errorMessage(ch.cid, bad, msg.requestHeaderBytes(req.header), ecaMessage(bad)));
        return;
      }
      this.readReply(ch, req, bad, req.count, Buffer.alloc(0));
      return;
    }
    if (!ch.rights.read) {
      if (!req.notify) {
        this.send(msg.errorMessage(ch.cid, Eca.NORDACCESS, msg.requestHeaderBytes(req.header), ecaMessage(Eca.NORDACCESS)));
        return;
      }
      this.readReply(ch, req, Eca.NORDACCESS, req.count, zeroPayload(req.dbrType, Math.max(1, req.count)));
      return;
    }
    try {
      if (req.notify) this.sendValue(Command.READ_NOTIFY, ch, req.dbrType, req.count, Eca.NORMAL, req.ioid);
      else this.sendValue(Command.READ, ch, req.dbrType, req.count, ch.cid, req.ioid);
    } catch (err) {
      // RSRV answers any failed dbGet (a string that is no number, say) with ECA_GETFAIL.
      this.log.debug('read failed', { pv: ch.pv.name, reason: (err as Error).message });
      this.readReply(ch, req, Eca.GETFAIL, req.count, zeroPayload(req.dbrType, Math.max(1, req.count)));
    }
  }

  private eventAdd(req: EventAddRequest): void {
    const ch = this.channels.get(req.sid)!;
    const id = req.subscriptionId;
    const bad = this.checkRequest(ch, req.dbrType, req.count);
    if (bad !== undefined) {
      this.send(msg.errorMessage(ch.cid, bad, msg.requestHeaderBytes(req.header), ecaMessage(bad)));
      return;
    }
    const mask = req.mask & ALL_EVENTS;
    const existing = this.subscriptions.get(id);
    if (existing) this.removeSubscription(existing);
    const sub: Subscription = { id, channel: ch, dbrType: req.dbrType, count: req.count, mask };
    ch.subscriptions ??= new Map();
    ch.subscriptions.set(id, sub);
    this.subscriptions.set(id, sub);
    if (ch.subscriptions.size === 1) {
      ch.unsubscribe = ch.pv.subscribe((eventMask) => this.post(ch, eventMask));
    }
    // The current value goes out at once, whatever the mask (dbEvent.c db_post_single_event).
    this.deliver(sub);
  }

  private eventCancel(req: EventCancelRequest): void {
    const sub = this.subscriptions.get(req.subscriptionId)!;
    this.removeSubscription(sub);
    // Nothing for this subscription may follow its cancel reply: it was removed from
    // `held` above, and sends are in order.
    this.send(msg.eventCancelReply(sub.dbrType, sub.count, sub.channel.sid, sub.id));
  }

  private removeSubscription(sub: Subscription): void {
    const ch = sub.channel;
    ch.subscriptions?.delete(sub.id);
    this.subscriptions.delete(sub.id);
    this.held.delete(sub);
    if (!ch.subscriptions?.size) {
      ch.unsubscribe();
      ch.unsubscribe = NOTHING;
    }
  }

  /** A change on a channel's PV: deliver to the subscriptions whose mask matches. */
  private post(ch: Channel, eventMask: number): void {
    if (this.closed || !ch.subscriptions) return;
    for (const sub of ch.subscriptions.values()) {
      if (sub.mask & eventMask) this.deliver(sub);
    }
  }

  /**
   * An update for `sub`. While the client cannot take it (its socket is full)
   * it is held, newest value only. While the client asked for EVENTS_OFF it is
   * held too, but as RSRV's event queue in flow control mode does (dbEvent.c
   * event_read): an update that replaces a held one drains every held update.
   * libca asks for EVENTS_ON only after a read that did not fill its buffer, so
   * a server that sent nothing after EVENTS_OFF would never be asked again.
   */
  private deliver(sub: Subscription): void {
    if (this.backedUp) {
      this.held.add(sub);
      return;
    }
    if (!this.eventsOn) {
      if (this.held.has(sub)) this.flushHeld(true);
      else this.held.add(sub);
      return;
    }
    this.sendEvent(sub);
  }

  private sendEvent(sub: Subscription): void {
    const ch = sub.channel;
    if (!ch.rights.read) {
      this.reply(Command.EVENT_ADD, sub.dbrType, sub.count, Eca.NORDACCESS, sub.id, zeroPayload(sub.dbrType, Math.max(1, sub.count)));
      return;
    }
    try {
      this.sendValue(Command.EVENT_ADD, ch, sub.dbrType, sub.count, Eca.NORMAL, sub.id);
    } catch (err) {
      this.log.debug('monitor update failed', { pv: ch.pv.name, reason: (err as Error).message });
      this.reply(Command.EVENT_ADD, sub.dbrType, sub.count, Eca.GETFAIL, sub.id, zeroPayload(sub.dbrType, Math.max(1, sub.count)));
    }
  }

  /** Send the newest value of every held subscription, while the stream accepts them (`duplicate`: even with events off). */
  private flushHeld(duplicate = false): void {
    while ((this.eventsOn || duplicate) && !this.backedUp && this.held.size > 0 && !this.closed) {
      const sub: Subscription = this.held.values().next().value as Subscription;
      this.held.delete(sub);
      this.sendEvent(sub);
    }
  }

  // ------------------------------------------------------------ writes

  private write(req: WriteRequestMessage): void {
    const ch = this.channels.get(req.sid)!;
    const reply = (eca: Eca, text: string): void => {
      if (req.notify) this.reply(Command.WRITE_NOTIFY, req.dbrType, req.count, eca, req.ioid);
      else if (eca !== Eca.NORMAL) this.send(msg.errorMessage(ch.cid, eca, msg.requestHeaderBytes(req.header), text));
    };
    const audit = this.opts.audit;
    const old = audit ? ch.pv.snapshot() : undefined;
    const attempt = (outcome: WriteAttempt['outcome'], value: DbrValue | undefined, reason?: string, code?: ErrorCode): void => {
      if (!audit) return;
      try {
        audit({ pv: ch.pv.name, client: { ...this.identity }, old, value, outcome, reason, ...(code ? { code } : {}), trapWrite: ch.rights.trapWrite ?? true });
      } catch (err) {
        this.log.error('put log failed', { reason: (err as Error).message });
      }
    };
    if (!ch.rights.write) {
      // The log says what was tried, when the value can be read at all.
      let tried: DbrValue | undefined;
      if (audit) {
        try {
          tried = this.decodeWrite(ch, req);
        } catch {
          tried = undefined;
        }
      }
      attempt('denied', tried, 'no write access');
      reply(Eca.NOWTACCESS, `no write access to ${ch.pv.name}`);
      return;
    }
    if (req.notify && ch.putsInProgress >= this.opts.maxQueuedPutsPerChannel) {
      reply(Eca.PUTCBINPROG, 'too many put-callbacks in progress on this channel');
      return;
    }
    let started: { done: Promise<void>; value: DbrValue | undefined };
    try {
      // Handed to the PV now, before the next request is looked at: the PV applies it
      // at once or queues it behind a write in progress, so writes keep their order.
      started = this.startWrite(ch, req);
    } catch (err) {
      let eca = err instanceof WriteError || err instanceof CaProtocolError ? err.eca : Eca.PUTFAIL;
      // A value the PV cannot take (a string that is no enum label, "abc" for a number) fails
      // in dbPut, which RSRV reports as ECA_PUTFAIL.
      if (eca === Eca.NOCONVERT) eca = Eca.PUTFAIL;
      attempt('failed', undefined, (err as Error).message, errorCode(err));
      reply(eca, (err as Error).message);
      return;
    }
    if (req.notify) ch.putsInProgress++;
    started.done.then(
      () => {
        attempt('done', started.value);
        return { eca: Eca.NORMAL, text: '' };
      },
      (err: unknown) => {
        attempt('failed', started.value, (err as Error).message, errorCode(err));
        return { eca: err instanceof WriteError ? err.eca : Eca.PUTFAIL, text: (err as Error).message };
      },
    ).then(({ eca, text }) => {
      if (req.notify) ch.putsInProgress--;
      if (this.closed || this.channels.get(ch.sid) !== ch) return;
      if (req.notify && eca !== Eca.NORMAL) this.log.debug('put-callback failed', { pv: ch.pv.name, eca, reason: text });
      reply(eca, text);
    }, () => undefined);
  }

  /**
   * Decode and convert a write (errors are synchronous) and hand it to the PV.
   * Returns the PV's completion and the value written.
   */
  private startWrite(ch: Channel, req: WriteRequestMessage): { done: Promise<void>; value: DbrValue | undefined } {
    const pv = ch.pv;
    const client = { ...this.identity };
    if (req.dbrType === DbrType.PUT_ACKT || req.dbrType === DbrType.PUT_ACKS) {
      if (req.payload.length < 2) throw new CaProtocolError('CA_ERR_BAD_SIZE', 'acknowledge write without a value', Eca.BADCOUNT);
      const value = req.payload.readUInt16BE(0);
      const field = req.dbrType === DbrType.PUT_ACKT ? 'ackt' : 'acks';
      if (!pv.acknowledge) throw new WriteError(Eca.NOCONVERT, `${pv.name} has no alarm to acknowledge`, 'WRITE_ERR_NO_ALARM');
      return { done: pv.acknowledge({ field, value, client }), value: [value] };
    }
    if (req.dbrType > DbrType.CTRL_DOUBLE) {
      throw new CaProtocolError('CA_ERR_BAD_TYPE', `cannot write DBR type ${req.dbrType}`, Eca.BADTYPE);
    }
    if (req.count > pv.maxCount) {
      throw new CaProtocolError('CA_ERR_BAD_COUNT', `count ${req.count} outside 0..${pv.maxCount}`, Eca.BADCOUNT);
    }
    // A count of 0 is a write of no elements, which RSRV hands to dbPut as it is.
    const value = req.count === 0 ? [] : this.decodeWrite(ch, req);
    return { done: pv.write({ value, client, notify: req.notify }), value };
  }

  /** The value of a write request in the PV's native type; throws when it cannot be. */
  private decodeWrite(ch: Channel, req: WriteRequestMessage): DbrValue {
    const pv = ch.pv;
    let payload = req.payload;
    if (req.dbrType === DbrType.STRING && req.count === 1 && payload.length < MAX_STRING_SIZE) {
      // libca sends a single string as strlen + 1 bytes, padded to 8, not 40
      // (comQueSend::insertRequestWithPayLoad); RSRV takes it up to the NUL.
      payload = Buffer.concat([payload, Buffer.alloc(MAX_STRING_SIZE - payload.length)]);
    }
    const decoded = decodeDbr(req.dbrType, req.count, payload);
    const own = pv.convertWrite?.(decoded.value, decoded.valueType);
    if (own !== undefined) return own;
    const snap = pv.snapshot();
    return convertValue(decoded.value, decoded.valueType, pv.nativeType, {
      enumStrings: snap.metadata.enumStrings,
      precision: snap.metadata.precision,
    });
  }

  // ------------------------------------------------------------ output and flow control

  /** Send a message already encoded. */
  private send(buf: Buffer): void {
    if (this.closed) return;
    const first = this.out.length === 0;
    this.out.raw(buf);
    this.sent(first);
  }

  /** Send a message written straight into the turn's output (the common replies). */
  private reply(command: number, dataType: number, dataCount: number, parameter1: number, parameter2: number, payload?: Buffer): void {
    if (this.closed) return;
    const first = this.out.length === 0;
    this.out.message(command, dataType, dataCount, parameter1, parameter2, payload);
    this.sent(first);
  }

  private sent(firstOfTurn: boolean): void {
    // Everything sent within one turn of the event loop leaves in one write of one
    // buffer: a client creating 10,000 channels gets its 20,000 replies in a few
    // segments, and the stream keeps one entry for them, not 20,000.
    if (firstOfTurn) process.nextTick(this.flush);
    if (!this.backedUp && this.out.length + this.stream.writableLength >= this.opts.sendHighWater) {
      this.flush();
      if (!this.backedUp && this.stream.writableLength >= this.opts.sendHighWater) this.startBackpressure();
    }
  }

  private startBackpressure(): void {
    this.backedUp = true;
    this.stream.pause();
    this.drainTimer = this.scheduler.setTimeout(() => {
      this.log.warn('closing a circuit that did not drain', { client: this.describe(), timeoutMs: this.opts.drainTimeoutMs, held: this.held.size });
      this.close({ kind: 'drain-timeout', afterMs: this.opts.drainTimeoutMs });
    }, this.opts.drainTimeoutMs);
  }

  private drained(): void {
    if (!this.backedUp) return;
    this.backedUp = false;
    this.clearTimer('drainTimer');
    this.flushHeld();
    if (!this.backedUp && !this.closed && !this.yielding) this.stream.resume();
  }
}
