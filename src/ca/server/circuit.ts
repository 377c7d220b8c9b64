/**
 * One TCP circuit: the server side of a client's virtual circuit, over any
 * Duplex stream (a socket in production, an in-memory pair in tests).
 *
 * It owns the circuit's channels and subscriptions, and the bounds that keep a
 * client from taking unbounded memory:
 *  - incoming messages are refused above `maxArrayBytes` (the circuit closes);
 *  - while the client does not read, reading from it pauses, and monitor
 *    updates are held as "latest per subscription" (RSRV keeps a ring per
 *    client and replaces a subscription's queued event the same way,
 *    dbEvent.c); when the stream drains, the newest value of each is sent;
 *  - a circuit that cannot drain within `drainTimeoutMs` is closed.
 * Behaviour per command follows RSRV's camessage.c.
 */
import type { Duplex } from 'node:stream';
import {
  CA_MINOR_VERSION, Command, DBE_ALARM, MAX_STRING_SIZE, DBE_LOG, DBE_PROPERTY, DBE_VALUE, DbrType, Eca, ecaMessage,
} from '../protocol/constants';
import { MessageFramer } from '../protocol/framer';
import { decodeCString, type Message } from '../protocol/header';
import * as msg from '../protocol/messages';
import { decodeDbr, encodeDbr, isValidDbrType, dbrPayloadSize, paddedSize, zeroPayload } from '../protocol/dbr';
import { convertValue } from '../protocol/convert';
import { CaProtocolError } from '../protocol/errors';
import type { Logger } from '../../log';
import type { DbrSource, DbrValue } from '../protocol/types';
import { WriteError, type AccessRights, type ClientIdentity, type ProcessVariable, type PvDirectory } from './pv';

/** One write attempt, as the put log records it. */
export interface WriteAttempt {
  /** The channel's PV name. */
  pv: string;
  client: ClientIdentity;
  /** The PV before the write (undefined when it could not be read). */
  old: DbrSource | undefined;
  /** The value written, in the PV's native type (undefined when it could not be decoded). */
  value: DbrValue | undefined;
  outcome: 'done' | 'denied' | 'failed';
  reason?: string;
  /** The access rule that allowed the write asked for it to be logged (TRAPWRITE). */
  trapWrite: boolean;
}

export type WriteAudit = (attempt: WriteAttempt) => void;

export interface CircuitOptions {
  /** Largest payload accepted or sent (EPICS_CA_MAX_ARRAY_BYTES). */
  maxArrayBytes: number;
  /** Bytes buffered for the client above which updates are coalesced and reading pauses. */
  sendHighWater: number;
  /** How long the circuit may stay unable to drain before it is closed. */
  drainTimeoutMs: number;
  /** Put-callbacks queued per channel before further ones are refused. */
  maxQueuedPutsPerChannel: number;
  /** Called once per write attempt (the put log). */
  audit?: WriteAudit;
}

export const DEFAULT_CIRCUIT_OPTIONS: CircuitOptions = {
  maxArrayBytes: 16384,
  sendHighWater: 256 * 1024,
  drainTimeoutMs: 30_000,
  maxQueuedPutsPerChannel: 64,
};

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
  readonly subscriptions: Map<number, Subscription>;
  unsubscribe: () => void;
  unwatchRights: () => void;
  /** Put-callbacks run one after another per channel. */
  putChain: Promise<void>;
  queuedPuts: number;
}

export interface CircuitStats {
  channels: number;
  subscriptions: number;
  heldUpdates: number;
}

export class Circuit {
  readonly identity: ClientIdentity;
  private priority = 0;
  private clientMinor = 0;
  private readonly framer: MessageFramer;
  private readonly channels = new Map<number, Channel>();
  private readonly subscriptions = new Map<number, Subscription>();
  /** Subscriptions with an update waiting (events off, or the client not reading). */
  private readonly held = new Set<Subscription>();
  private eventsOn = true;
  private backedUp = false;
  private drainTimer: NodeJS.Timeout | undefined;
  private nextSid = 1;
  private closed = false;
  private corked = false;
  private readonly uncork = (): void => {
    this.corked = false;
    this.stream.uncork();
  };
  private readonly closeListeners: Array<(reason: string) => void> = [];

  constructor(
    private readonly stream: Duplex,
    private readonly directory: PvDirectory,
    private readonly log: Logger,
    address: string,
    private readonly opts: CircuitOptions = DEFAULT_CIRCUIT_OPTIONS,
  ) {
    this.identity = { user: '', host: address, address };
    this.framer = new MessageFramer({ maxPayload: opts.maxArrayBytes + 64, requireAlignment: true });
    stream.on('data', (chunk: Buffer) => this.receive(chunk));
    stream.on('drain', () => this.drained());
    stream.on('error', (err: Error) => this.close(`stream error: ${err.message}`));
    stream.on('end', () => this.close('client closed the circuit'));
    stream.on('close', () => this.close('stream closed'));
    this.send(msg.versionMessage(0, CA_MINOR_VERSION));
  }

  /** Called once when the circuit ends, with the reason. */
  onClose(listener: (reason: string) => void): void {
    this.closeListeners.push(listener);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get stats(): CircuitStats {
    return { channels: this.channels.size, subscriptions: this.subscriptions.size, heldUpdates: this.held.size };
  }

  /** End the circuit: drop every channel and subscription, and the stream. */
  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    if (this.drainTimer) clearTimeout(this.drainTimer);
    for (const ch of this.channels.values()) this.dropChannel(ch);
    this.held.clear();
    this.log.debug('circuit closed', { client: this.describe(), reason });
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

  private describe(): string {
    return `${this.identity.user || '?'}@${this.identity.host}(${this.identity.address})`;
  }

  // ------------------------------------------------------------ input

  private receive(chunk: Buffer): void {
    if (this.closed) return;
    let messages: Message[];
    try {
      messages = this.framer.push(chunk);
    } catch (err) {
      this.fail(err);
      return;
    }
    for (const m of messages) {
      if (this.closed) return;
      try {
        this.dispatch(m);
      } catch (err) {
        this.fail(err, m);
        return;
      }
    }
  }

  /** A request that cannot be answered sensibly ends the circuit, with the reason logged. */
  private fail(err: unknown, m?: Message): void {
    const reason = err instanceof Error ? err.message : String(err);
    this.log.warn('closing circuit after a protocol error', { client: this.describe(), command: m?.command, reason });
    if (m) this.send(msg.errorMessage(0, err instanceof CaProtocolError ? err.eca : Eca.INTERNAL, msg.requestHeaderBytes(m), reason));
    this.close(`protocol error: ${reason}`);
  }

  private dispatch(m: Message): void {
    switch (m.command) {
      case Command.VERSION:
        this.priority = m.dataType;
        this.clientMinor = m.dataCount;
        return;
      case Command.CLIENT_NAME:
        this.identity.user = decodeCString(m.payload);
        this.recomputeAllRights();
        return;
      case Command.HOST_NAME:
        this.identity.host = decodeCString(m.payload);
        this.recomputeAllRights();
        return;
      case Command.CREATE_CHAN:
        return this.createChannel(m);
      case Command.CLEAR_CHANNEL:
        return this.clearChannel(m);
      case Command.READ_NOTIFY:
        return this.read(m);
      case Command.WRITE:
      case Command.WRITE_NOTIFY:
        return this.write(m);
      case Command.EVENT_ADD:
        return this.eventAdd(m);
      case Command.EVENT_CANCEL:
        return this.eventCancel(m);
      case Command.EVENTS_OFF:
        this.eventsOn = false;
        return;
      case Command.EVENTS_ON:
        this.eventsOn = true;
        this.flushHeld();
        return;
      case Command.ECHO:
        this.send(msg.echoMessage());
        return;
      case Command.READ_SYNC:
        // Obsolete barrier: RSRV answers with the same command.
        this.send(Buffer.from(msg.requestHeaderBytes(m)));
        return;
      case Command.SEARCH:
        // A TCP search (used by some clients for name resolution over a circuit) is answered
        // like a UDP one, without the VERSION prefix.
        return this.tcpSearch(m);
      default:
        throw new CaProtocolError('CA_ERR_BAD_TYPE', `unknown or unsupported command ${m.command}`, Eca.INTERNAL);
    }
  }

  private tcpSearch(m: Message): void {
    const name = decodeCString(m.payload);
    const addr = this.stream as unknown as { localPort?: number };
    if (this.directory.lookup(name) && addr.localPort) this.send(msg.searchReply(addr.localPort, m.parameter1));
  }

  private channelFor(m: Message, sid: number): Channel | undefined {
    const ch = this.channels.get(sid);
    if (!ch) {
      this.send(msg.errorMessage(0, Eca.BADCHID, msg.requestHeaderBytes(m), `no channel with server id ${sid}`));
      this.log.debug('request for an unknown channel', { client: this.describe(), command: m.command, sid });
    }
    return ch;
  }

  private createChannel(m: Message): void {
    const name = decodeCString(m.payload);
    const cid = m.parameter1;
    if (m.parameter2 && !this.clientMinor) this.clientMinor = m.parameter2;
    const pv = this.directory.lookup(name);
    if (!pv) {
      this.send(msg.createChanFailMessage(cid));
      return;
    }
    const sid = this.nextSid++;
    const ch: Channel = {
      cid, sid, pv,
      rights: pv.accessRights(this.identity),
      subscriptions: new Map(),
      unsubscribe: () => undefined,
      unwatchRights: () => undefined,
      putChain: Promise.resolve(),
      queuedPuts: 0,
    };
    this.channels.set(sid, ch);
    if (pv.onRightsChanged) ch.unwatchRights = pv.onRightsChanged(() => this.recomputeRights(ch));
    // ACCESS_RIGHTS must precede the CREATE_CHAN reply: libca sets the rights before
    // it calls the connection handler (camessage.c claim_ciu_reply).
    this.send(msg.accessRightsMessage(cid, ch.rights.read, ch.rights.write));
    this.send(msg.createChanReply(pv.nativeType, pv.maxCount, cid, sid));
  }

  private clearChannel(m: Message): void {
    const ch = this.channelFor(m, m.parameter1);
    if (!ch) return;
    this.dropChannel(ch);
    this.channels.delete(ch.sid);
    this.send(msg.clearChannelReply(ch.sid, ch.cid));
  }

  private dropChannel(ch: Channel): void {
    ch.unsubscribe();
    ch.unwatchRights();
    for (const sub of ch.subscriptions.values()) {
      this.subscriptions.delete(sub.id);
      this.held.delete(sub);
    }
    ch.subscriptions.clear();
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
    if (paddedSize(dbrPayloadSize(dbrType, Math.max(1, n))) > this.opts.maxArrayBytes) return Eca.TOLARGE;
    return undefined;
  }

  /** Encode the PV now; returns the element count sent and the payload. */
  private encode(ch: Channel, dbrType: number, count: number): { count: number; payload: Buffer } {
    const snap = ch.pv.snapshot();
    const n = count === 0 ? Math.min(snap.value.length, ch.pv.maxCount) : count;
    return { count: n, payload: encodeDbr(dbrType, Math.max(1, n), snap) };
  }

  private read(m: Message): void {
    const ch = this.channelFor(m, m.parameter1);
    if (!ch) return;
    const ioid = m.parameter2;
    const bad = this.checkRequest(ch, m.dataType, m.dataCount);
    if (bad !== undefined) {
      // A read of a type or count we cannot serve: RSRV answers the request with the
      // status and an empty payload; a type outside 0..38 gets an ERROR as well.
      if (bad === Eca.BADTYPE) {
        this.send(msg.errorMessage(ch.cid, bad, msg.requestHeaderBytes(m), ecaMessage(bad)));
        return;
      }
      this.send(msg.readNotifyReply(m.dataType, m.dataCount, bad, ioid, Buffer.alloc(0)));
      return;
    }
    if (!ch.rights.read) {
      const n = Math.max(1, m.dataCount);
      this.send(msg.readNotifyReply(m.dataType, m.dataCount, Eca.NORDACCESS, ioid, zeroPayload(m.dataType, n)));
      return;
    }
    let encoded: { count: number; payload: Buffer };
    try {
      encoded = this.encode(ch, m.dataType, m.dataCount);
    } catch (err) {
      const eca = err instanceof CaProtocolError ? err.eca : Eca.GETFAIL;
      this.log.debug('read failed', { pv: ch.pv.name, reason: (err as Error).message });
      this.send(msg.readNotifyReply(m.dataType, m.dataCount, eca === Eca.NOCONVERT ? eca : Eca.GETFAIL, ioid, zeroPayload(m.dataType, Math.max(1, m.dataCount))));
      return;
    }
    this.send(msg.readNotifyReply(m.dataType, encoded.count, Eca.NORMAL, ioid, encoded.payload));
  }

  private eventAdd(m: Message): void {
    const ch = this.channelFor(m, m.parameter1);
    if (!ch) return;
    const id = m.parameter2;
    const bad = this.checkRequest(ch, m.dataType, m.dataCount);
    if (bad !== undefined) {
      this.send(msg.errorMessage(ch.cid, bad, msg.requestHeaderBytes(m), ecaMessage(bad)));
      return;
    }
    const mask = msg.eventAddMask(m.payload) & ALL_EVENTS;
    const existing = this.subscriptions.get(id);
    if (existing) this.removeSubscription(existing);
    const sub: Subscription = { id, channel: ch, dbrType: m.dataType, count: m.dataCount, mask };
    ch.subscriptions.set(id, sub);
    this.subscriptions.set(id, sub);
    if (ch.subscriptions.size === 1) {
      ch.unsubscribe = ch.pv.subscribe((eventMask) => this.post(ch, eventMask));
    }
    // The current value goes out at once, whatever the mask (dbEvent.c db_post_single_event).
    this.deliver(sub);
  }

  private eventCancel(m: Message): void {
    const sub = this.subscriptions.get(m.parameter2);
    if (!sub || sub.channel.sid !== m.parameter1) {
      this.send(msg.errorMessage(0, Eca.BADMONID, msg.requestHeaderBytes(m), `no subscription ${m.parameter2} on channel ${m.parameter1}`));
      return;
    }
    this.removeSubscription(sub);
    // Nothing for this subscription may follow its cancel reply: it was removed from
    // `held` above, and sends are in order.
    this.send(msg.eventCancelReply(sub.dbrType, sub.count, sub.channel.sid, sub.id));
  }

  private removeSubscription(sub: Subscription): void {
    const ch = sub.channel;
    ch.subscriptions.delete(sub.id);
    this.subscriptions.delete(sub.id);
    this.held.delete(sub);
    if (ch.subscriptions.size === 0) {
      ch.unsubscribe();
      ch.unsubscribe = () => undefined;
    }
  }

  /** A change on a channel's PV: deliver to the subscriptions whose mask matches. */
  private post(ch: Channel, eventMask: number): void {
    if (this.closed) return;
    for (const sub of ch.subscriptions.values()) {
      if (sub.mask & eventMask) this.deliver(sub);
    }
  }

  private deliver(sub: Subscription): void {
    if (!this.eventsOn || this.backedUp) {
      this.held.add(sub);
      return;
    }
    this.sendEvent(sub);
  }

  private sendEvent(sub: Subscription): void {
    const ch = sub.channel;
    if (!ch.rights.read) {
      this.send(msg.eventMessage(sub.dbrType, sub.count, Eca.NORDACCESS, sub.id, zeroPayload(sub.dbrType, Math.max(1, sub.count))));
      return;
    }
    try {
      const { count, payload } = this.encode(ch, sub.dbrType, sub.count);
      this.send(msg.eventMessage(sub.dbrType, count, Eca.NORMAL, sub.id, payload));
    } catch (err) {
      this.log.debug('monitor update failed', { pv: ch.pv.name, reason: (err as Error).message });
      this.send(msg.eventMessage(sub.dbrType, sub.count, Eca.GETFAIL, sub.id, zeroPayload(sub.dbrType, Math.max(1, sub.count))));
    }
  }

  /** Send the newest value of every held subscription, while the stream accepts them. */
  private flushHeld(): void {
    while (this.eventsOn && !this.backedUp && this.held.size > 0 && !this.closed) {
      const sub: Subscription = this.held.values().next().value as Subscription;
      this.held.delete(sub);
      this.sendEvent(sub);
    }
  }

  // ------------------------------------------------------------ writes

  private write(m: Message): void {
    const ch = this.channelFor(m, m.parameter1);
    if (!ch) return;
    const notify = m.command === Command.WRITE_NOTIFY;
    const ioid = m.parameter2;
    const reply = (eca: Eca, text: string): void => {
      if (notify) this.send(msg.writeNotifyReply(m.dataType, m.dataCount, eca, ioid));
      else if (eca !== Eca.NORMAL) this.send(msg.errorMessage(ch.cid, eca, msg.requestHeaderBytes(m), text));
    };
    const audit = this.opts.audit;
    const attempt = (outcome: WriteAttempt['outcome'], value: DbrValue | undefined, old: DbrSource | undefined, reason?: string): void => {
      if (!audit) return;
      try {
        audit({ pv: ch.pv.name, client: { ...this.identity }, old, value, outcome, reason, trapWrite: ch.rights.trapWrite ?? true });
      } catch (err) {
        this.log.error('put log failed', { reason: (err as Error).message });
      }
    };
    if (!ch.rights.write) {
      attempt('denied', undefined, audit ? ch.pv.snapshot() : undefined, 'no write access');
      reply(Eca.NOWTACCESS, `no write access to ${ch.pv.name}`);
      return;
    }
    let prepared: { run: () => Promise<void>; value: DbrValue | undefined };
    try {
      prepared = this.prepareWrite(ch, m, notify);
    } catch (err) {
      let eca = err instanceof WriteError || err instanceof CaProtocolError ? err.eca : Eca.PUTFAIL;
      // A value the PV cannot take (a string that is no enum label, "abc" for a number) fails
      // in dbPut, which RSRV reports as ECA_PUTFAIL.
      if (eca === Eca.NOCONVERT) eca = Eca.PUTFAIL;
      attempt('failed', undefined, audit ? ch.pv.snapshot() : undefined, (err as Error).message);
      reply(eca, (err as Error).message);
      return;
    }
    const old = audit ? ch.pv.snapshot() : undefined;
    const execute = async (): Promise<{ eca: Eca; text: string }> => {
      try {
        await prepared.run();
        attempt('done', prepared.value, old);
        return { eca: Eca.NORMAL, text: '' };
      } catch (err) {
        attempt('failed', prepared.value, old, (err as Error).message);
        return { eca: err instanceof WriteError ? err.eca : Eca.PUTFAIL, text: (err as Error).message };
      }
    };
    if (!notify) {
      void execute().then(({ eca, text }) => reply(eca, text));
      return;
    }
    if (ch.queuedPuts >= this.opts.maxQueuedPutsPerChannel) {
      reply(Eca.PUTCBINPROG, 'too many put-callbacks in progress on this channel');
      return;
    }
    ch.queuedPuts++;
    ch.putChain = ch.putChain.then(async () => {
      const { eca, text } = await execute();
      ch.queuedPuts--;
      if (!this.closed && this.channels.get(ch.sid) === ch) {
        if (eca !== Eca.NORMAL) this.log.debug('put-callback failed', { pv: ch.pv.name, eca, reason: text });
        reply(eca, text);
      }
    });
  }

  /** Decode and convert a write now (errors are synchronous); returns the action to run. */
  private prepareWrite(ch: Channel, m: Message, notify: boolean): { run: () => Promise<void>; value: DbrValue | undefined } {
    const pv = ch.pv;
    if (m.dataType === DbrType.PUT_ACKT || m.dataType === DbrType.PUT_ACKS) {
      if (m.payload.length < 2) throw new CaProtocolError('CA_ERR_BAD_SIZE', 'acknowledge write without a value', Eca.BADCOUNT);
      const value = m.payload.readUInt16BE(0);
      const field = m.dataType === DbrType.PUT_ACKT ? 'ackt' : 'acks';
      if (!pv.acknowledge) throw new WriteError(Eca.NOCONVERT, `${pv.name} has no alarm to acknowledge`);
      const ack = pv.acknowledge.bind(pv);
      return { run: () => ack({ field, value, client: { ...this.identity } }), value: [value] };
    }
    if (!isValidDbrType(m.dataType) || m.dataType > DbrType.CTRL_DOUBLE) {
      throw new CaProtocolError('CA_ERR_BAD_TYPE', `cannot write DBR type ${m.dataType}`, Eca.BADTYPE);
    }
    if (m.dataCount === 0 || m.dataCount > pv.maxCount) {
      throw new CaProtocolError('CA_ERR_BAD_COUNT', `count ${m.dataCount} outside 1..${pv.maxCount}`, Eca.BADCOUNT);
    }
    let payload = m.payload;
    if (m.dataType === DbrType.STRING && m.dataCount === 1 && payload.length < MAX_STRING_SIZE) {
      // libca sends a single string as strlen + 1 bytes, padded to 8, not 40
      // (comQueSend::insertRequestWithPayLoad); RSRV takes it up to the NUL.
      payload = Buffer.concat([payload, Buffer.alloc(MAX_STRING_SIZE - payload.length)]);
    }
    const decoded = decodeDbr(m.dataType, m.dataCount, payload);
    const snap = pv.snapshot();
    const value = convertValue(decoded.value, decoded.valueType, pv.nativeType, {
      enumStrings: snap.metadata.enumStrings,
      precision: snap.metadata.precision,
    });
    const client = { ...this.identity };
    return { run: () => pv.write({ value, client, notify }), value };
  }

  // ------------------------------------------------------------ output and flow control

  private send(buf: Buffer): void {
    if (this.closed) return;
    // Everything sent within one turn of the event loop leaves in one writev: a
    // client creating 10,000 channels gets its replies in a few segments, not 20,000.
    if (!this.corked) {
      this.corked = true;
      this.stream.cork();
      process.nextTick(this.uncork);
    }
    const ok = this.stream.write(buf);
    // Below our own high-water mark a false from write() needs nothing: Node keeps the
    // bytes, and the length is looked at again on the next write.
    if (!ok && !this.backedUp && this.stream.writableLength >= this.opts.sendHighWater) this.startBackpressure();
  }

  private startBackpressure(): void {
    this.backedUp = true;
    this.stream.pause();
    this.drainTimer = setTimeout(() => {
      this.log.warn('closing a circuit that did not drain', { client: this.describe(), timeoutMs: this.opts.drainTimeoutMs, held: this.held.size });
      this.close('send queue did not drain in time');
    }, this.opts.drainTimeoutMs);
    this.drainTimer.unref?.();
  }

  private drained(): void {
    if (!this.backedUp) return;
    this.backedUp = false;
    if (this.drainTimer) clearTimeout(this.drainTimer);
    this.drainTimer = undefined;
    this.flushHeld();
    if (!this.backedUp && !this.closed) this.stream.resume();
  }

  get clientVersion(): { priority: number; minor: number } {
    return { priority: this.priority, minor: this.clientMinor };
  }
}
