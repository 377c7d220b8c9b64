/**
 * One pvAccess client connection over any duplex stream: connection
 * validation and authentication, channels, and the operations on them
 * (GET, PUT, MONITOR, GET_FIELD, RPC on the built-in `server` channel).
 * Message layouts live in `../protocol`; this file decides what to do.
 *
 * Behaviour follows pvxs (`serverconn.cpp`, `serverchan.cpp`,
 * `serverget.cpp`, `servermon.cpp`) with QSRV's rules for records
 * (`ioc/singlesource.cpp`): a PUT waits for the record's put path to
 * finish unless `record[block=false]`; `record[process=true]` processes the
 * record; rights come from access security for the client's `ca`
 * credentials (anonymous clients are nobody in particular).
 */
import type { Duplex } from 'node:stream';
import { DBE_ALARM, DBE_PROPERTY, DBE_VALUE } from '../../ca/protocol/constants';
import type { DbrSource, DbrValue } from '../../ca/protocol/types';
import {
  WriteError, type AccessRights, type ClientIdentity, type ProcessVariable, type PvDirectory, type WriteAttempt, type WriteAudit,
} from '../../ca/pv';
import type { Logger } from '../../log';
import { realScheduler, type Scheduler } from '../../ca/server/scheduler';
import { BitSet } from '../protocol/bitset';
import { PvaProtocolError } from '../protocol/errors';
import { Command, ControlCommand, Flag, PvaFramer, SubCommand, type Frame } from '../protocol/header';
import { memberAt, readType, TypeCode, type FieldDesc, type TypeCache } from '../protocol/introspection';
import * as msg from '../protocol/messages';
import { ntStringList } from '../protocol/nt';
import { emptyStruct, getField, readPartial, readValue, setField, type PvStruct } from '../protocol/pvdata';
import { parseRequest, processOption, selectionMask, type ProcessOption } from '../protocol/pvrequest';
import { Reader, STATUS_OK, statusError, writeStatus, type Status } from '../protocol/wire';
import { ChannelShape, fullValue, type MetadataParts, type Parts } from './normative';
import { answerSearch, decodeSearch } from './search';

export interface PvaConnectionOptions {
  directory: PvDirectory;
  log: Logger;
  /** Peer IP address. */
  address: string;
  guid: Buffer;
  tcpPort: number;
  /** The record's DESC for display.description. */
  describe?: (pv: ProcessVariable) => string;
  /** Names for the `server` channel's "channels" query (pvxlist). */
  listNames?: () => string[];
  /** The PV's database field type (DBF_ name without the prefix), where it has one. */
  dbfType?: (pv: ProcessVariable) => string | undefined;
  /** Which metadata the PV's record support gives (fields other than VAL). */
  metadataParts?: (pv: ProcessVariable) => MetadataParts | undefined;
  audit?: WriteAudit;
  maxMessageBytes: number;
  /** Monitor updates queued per subscription before the newest replaces the last (pvxs default 4). */
  defaultQueueSize: number;
  /** Largest queueSize a client may ask for. */
  maxQueueSize: number;
  /** A client that has not validated the connection within this long is closed (default 10 s, as a CA circuit's first request). */
  handshakeTimeoutMs?: number;
  /** Where the connection's timers come from. */
  scheduler?: Scheduler;
  /** Channels one connection may hold (default 250,000, as a CA circuit). */
  maxChannels?: number;
  /** Called when a client reaches `maxChannels`, with the line to log (the server rate-limits it). */
  onLimit?: (what: string) => void;
}

/** Channels per connection, unless the options say otherwise. */
export const DEFAULT_MAX_CHANNELS = 250_000;

/** How long a client has to validate the connection, unless the options say otherwise. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

/** The built-in channel pvxs serves for server information (`pvxlist`). */
export const SERVER_CHANNEL = 'server';

interface Channel {
  readonly sid: number;
  readonly cid: number;
  readonly name: string;
  /** Undefined for the built-in `server` channel. */
  readonly pv: ProcessVariable | undefined;
  readonly shape: ChannelShape | undefined;
  rights: AccessRights;
  readonly ops: Set<number>;
}

interface OpBase {
  readonly ioid: number;
  readonly channel: Channel;
}

interface GetOp extends OpBase {
  kind: 'get';
  mask: BitSet;
  process: ProcessOption;
}

interface PutOp extends OpBase {
  kind: 'put';
  mask: BitSet;
  process: ProcessOption;
  block: boolean;
}

interface RpcOp extends OpBase {
  kind: 'rpc';
}

interface Update {
  value: PvStruct;
  changed: BitSet;
}

interface MonitorOp extends OpBase {
  kind: 'monitor';
  mask: BitSet;
  running: boolean;
  pipeline: boolean;
  window: number;
  queueSize: number;
  queue: Update[];
  /** Updates folded into the last queued one because the queue was full. */
  squashed: number;
  unsubscribe?: () => void;
}

type Op = GetOp | PutOp | RpcOp | MonitorOp;

const BIG_ENDIAN = false;
const NOT_FOUND_SID = 0xffffffff;

export class PvaConnection {
  private readonly framer: PvaFramer;
  private readonly channels = new Map<number, Channel>();
  private readonly channelsByCid = new Map<number, Channel>();
  private readonly ops = new Map<number, Op>();
  private readonly peerTypes: TypeCache = new Map();
  private nextSid = 1;
  private validated = false;
  private readonly scheduler: Scheduler;
  private handshakeTimer: unknown;
  private readonly maxChannels: number;
  private closed = false;
  private blocked = false;
  private readonly closeListeners: Array<(reason: string) => void> = [];
  /** Stops following the directory's rights changes. */
  private readonly unwatchRights: () => void;
  identity: ClientIdentity;
  authMethod = 'anonymous';

  constructor(private readonly stream: Duplex, private readonly opts: PvaConnectionOptions) {
    this.framer = new PvaFramer({ maxPayload: opts.maxMessageBytes });
    this.identity = { user: '', host: opts.address, address: opts.address };
    stream.on('data', (data: Buffer) => this.onData(data));
    stream.on('drain', () => this.onDrain());
    stream.on('error', (err) => this.close(`stream error: ${err.message}`));
    stream.on('end', () => this.close('client closed the connection'));
    stream.on('close', () => this.close('connection closed'));
    this.unwatchRights = opts.directory.onRightsChanged?.(() => this.recomputeRights()) ?? (() => undefined);
    this.scheduler = opts.scheduler ?? realScheduler;
    this.maxChannels = opts.maxChannels ?? DEFAULT_MAX_CHANNELS;
    const handshakeMs = opts.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
    this.handshakeTimer = this.scheduler.setTimeout(() => {
      this.handshakeTimer = undefined;
      this.close(`no connection validation within ${handshakeMs} ms`);
    }, handshakeMs);
    this.send(msg.setByteOrderMessage(BIG_ENDIAN));
    this.send(msg.serverMessage(Command.CONNECTION_VALIDATION, BIG_ENDIAN, (w) => msg.encodeServerValidation(w, {
      bufferSize: 0x10000, registrySize: 0x7fff, authMethods: ['anonymous', 'ca'],
    })));
  }

  get channelCount(): number {
    return this.channels.size;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** True until the client has validated the connection: a connection that may never speak. */
  get isSilent(): boolean {
    return !this.validated;
  }

  onClose(listener: (reason: string) => void): void {
    this.closeListeners.push(listener);
  }

  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.stopHandshakeTimer();
    this.unwatchRights();
    for (const ch of [...this.channels.values()]) this.dropChannel(ch);
    this.stream.destroy();
    this.opts.log.debug('connection closed', { peer: this.opts.address, reason });
    for (const l of this.closeListeners) l(reason);
  }

  private stopHandshakeTimer(): void {
    if (this.handshakeTimer === undefined) return;
    this.scheduler.clearTimeout(this.handshakeTimer);
    this.handshakeTimer = undefined;
  }

  /** Ask every channel's PV for this client's rights again (the directory says they may have changed). */
  private recomputeRights(): void {
    for (const ch of this.channels.values()) if (ch.pv) ch.rights = ch.pv.accessRights(this.identity);
  }

  /** Tell the client a PV is gone (DESTROY_CHANNEL from the server). */
  disconnectPv(pv: ProcessVariable): void {
    for (const ch of [...this.channels.values()]) {
      if (ch.pv !== pv) continue;
      this.send(msg.serverMessage(Command.DESTROY_CHANNEL, BIG_ENDIAN, (w) => msg.encodeDestroyChannel(w, { sid: ch.sid, cid: ch.cid })));
      this.dropChannel(ch);
    }
  }

  // ------------------------------------------------------------ input

  private onData(data: Buffer): void {
    if (this.closed) return;
    let frames: Frame[];
    try {
      frames = this.framer.push(data);
    } catch (err) {
      this.protocolError(err);
      return;
    }
    // The replies to one read go out in one write: a client that creates thousands of
    // channels at once otherwise costs a system call per reply (the profile's largest item).
    this.stream.cork();
    try {
      for (const f of frames) {
        if (this.closed) return;
        try {
          this.dispatch(f);
        } catch (err) {
          this.protocolError(err);
          return;
        }
      }
    } finally {
      if (!this.closed) this.stream.uncork();
    }
  }

  private protocolError(err: unknown): void {
    if (!(err instanceof PvaProtocolError)) throw err;
    this.opts.log.warn('closing connection after a protocol error', { peer: this.opts.address, code: err.code, reason: err.message });
    this.close(`protocol error: ${err.message}`);
  }

  private dispatch(f: Frame): void {
    if (f.control) {
      // pvAccessCPP's echo is a control message; markers are flow control nobody enforces.
      if (f.command === ControlCommand.ECHO_REQUEST) {
        const b = Buffer.alloc(8);
        b[0] = 0xca; b[1] = 2; b[2] = Flag.CONTROL | Flag.SERVER; b[3] = ControlCommand.ECHO_RESPONSE;
        b.writeUInt32LE(f.size, 4);
        this.send(b);
      }
      return;
    }
    const r = new Reader(f.payload, f.bigEndian);
    switch (f.command as Command) {
      case Command.CONNECTION_VALIDATION: return this.onValidation(r);
      case Command.ECHO: return this.send(msg.serverMessage(Command.ECHO, BIG_ENDIAN, (w) => w.bytes(f.payload)));
      case Command.SEARCH: return this.onSearch(f);
      case Command.AUTHNZ: return;
      default:
        break;
    }
    if (!this.validated) throw new PvaProtocolError('PVA_ERR_BAD_REQUEST', `command ${f.command} before connection validation`);
    switch (f.command as Command) {
      case Command.CREATE_CHANNEL: return this.onCreateChannel(r);
      case Command.DESTROY_CHANNEL: return this.onDestroyChannel(r);
      case Command.GET_FIELD: return this.onGetField(r);
      case Command.GET: case Command.PUT: case Command.PUT_GET: case Command.RPC:
        return this.onOperation(f.command as Command, r);
      case Command.MONITOR: return this.onMonitor(r);
      case Command.DESTROY_REQUEST: return this.onDestroyRequest(r);
      case Command.CANCEL_REQUEST: return this.onCancelRequest(r);
      case Command.MESSAGE: return;
      default:
        this.opts.log.debug('ignoring unknown command', { peer: this.opts.address, command: f.command });
    }
  }

  private onValidation(r: Reader): void {
    const v = msg.decodeClientValidation(r, this.peerTypes);
    this.authMethod = v.authMethod;
    if (v.authMethod === 'ca' && v.authType?.code === TypeCode.STRUCT) {
      const auth = v.authValue as PvStruct;
      const user = String(getField(auth, 'user') ?? '');
      const host = String(getField(auth, 'host') ?? '');
      // pvxs keeps what follows the last '/' of the user (a Windows domain prefix).
      this.identity = { user: user.slice(user.lastIndexOf('/') + 1), host: host || this.opts.address, address: this.opts.address };
    } else {
      // anonymous (or anything else): a user no access group names.
      this.identity = { user: '', host: this.opts.address, address: this.opts.address };
    }
    const ok = v.authMethod === 'ca' || v.authMethod === 'anonymous';
    this.validated = ok;
    if (ok) this.stopHandshakeTimer();
    const status = ok ? STATUS_OK : statusError(`authentication method "${v.authMethod}" is not offered`);
    this.send(msg.serverMessage(Command.CONNECTION_VALIDATED, BIG_ENDIAN, (w) => writeStatus(w, status)));
  }

  private onSearch(f: Frame): void {
    const { request, error } = decodeSearch(f.payload, f.bigEndian);
    if (!request) throw new PvaProtocolError('PVA_ERR_BAD_REQUEST', `bad search: ${error}`);
    const out = answerSearch(request, (name) => this.has(name), this.opts.guid, this.opts.tcpPort, BIG_ENDIAN);
    if (out.reply) this.send(out.reply);
  }

  private has(name: string): boolean {
    return this.opts.directory.lookup(name) !== undefined;
  }

  // ------------------------------------------------------------ channels

  private onCreateChannel(r: Reader): void {
    const req = msg.decodeCreateChannelRequest(r);
    for (const { cid, name } of req.channels) {
      let status: Status = STATUS_OK;
      let sid = NOT_FOUND_SID;
      const existing = this.channelsByCid.get(cid);
      if (existing) {
        sid = existing.sid;
      } else if (this.channels.size >= this.maxChannels) {
        status = statusError(`channel limit reached: ${this.maxChannels} channels on one connection`);
        this.opts.onLimit?.(`a client (${this.identity.user || '?'}@${this.identity.host}(${this.opts.address})) reached the limit of ${this.maxChannels} channels on one connection; further channels fail`);
      } else if (name === SERVER_CHANNEL && this.opts.listNames && !this.has(name)) {
        sid = this.addChannel(cid, name, undefined).sid;
      } else {
        const pv = this.opts.directory.lookup(name);
        if (pv) sid = this.addChannel(cid, name, pv).sid;
        else status = statusError(`no channel ${name}`);
      }
      this.send(msg.serverMessage(Command.CREATE_CHANNEL, BIG_ENDIAN, (w) => msg.encodeCreateChannelResponse(w, { cid, sid, status })));
    }
  }

  private addChannel(cid: number, name: string, pv: ProcessVariable | undefined): Channel {
    const sid = this.nextSid++;
    const shape = pv ? new ChannelShape(pv, pv.snapshot().className, this.opts.dbfType?.(pv), this.opts.metadataParts?.(pv)) : undefined;
    const rights = pv ? pv.accessRights(this.identity) : { read: true, write: false };
    const ch: Channel = { sid, cid, name, pv, shape, rights, ops: new Set() };
    this.channels.set(sid, ch);
    this.channelsByCid.set(cid, ch);
    return ch;
  }

  private onDestroyChannel(r: Reader): void {
    const { sid, cid } = msg.decodeDestroyChannel(r);
    const ch = this.channels.get(sid);
    if (!ch) return;
    this.dropChannel(ch);
    this.send(msg.serverMessage(Command.DESTROY_CHANNEL, BIG_ENDIAN, (w) => msg.encodeDestroyChannel(w, { sid, cid })));
  }

  private dropChannel(ch: Channel): void {
    for (const ioid of [...ch.ops]) this.dropOp(ioid);
    this.channels.delete(ch.sid);
    if (this.channelsByCid.get(ch.cid) === ch) this.channelsByCid.delete(ch.cid);
  }

  private dropOp(ioid: number): void {
    const op = this.ops.get(ioid);
    if (!op) return;
    this.ops.delete(ioid);
    op.channel.ops.delete(ioid);
    if (op.kind === 'monitor') {
      op.unsubscribe?.();
      op.unsubscribe = undefined;
      op.queue.length = 0;
    }
  }

  private onGetField(r: Reader): void {
    const req = msg.decodeGetFieldRequest(r);
    const ch = this.channels.get(req.sid);
    let status: Status = STATUS_OK;
    let type: FieldDesc | null | undefined;
    if (!ch) status = statusError(`no channel with sid ${req.sid}`);
    else if (!ch.shape) type = null;
    else if (!ch.rights.read) status = statusError('Get not permitted');
    else {
      type = req.subField ? memberAt(ch.shape.desc, req.subField) : ch.shape.desc;
      if (!type) {
        status = statusError(`no field "${req.subField}" in ${ch.name}`);
        type = undefined;
      }
    }
    this.send(msg.serverMessage(Command.GET_FIELD, BIG_ENDIAN, (w) => msg.encodeGetFieldReply(w, { ioid: req.ioid, status, type: status === STATUS_OK ? type : undefined })));
  }

  private onDestroyRequest(r: Reader): void {
    const { ioid } = msg.decodeSidIoid(r);
    this.dropOp(ioid);
  }

  private onCancelRequest(r: Reader): void {
    const { ioid } = msg.decodeSidIoid(r);
    const op = this.ops.get(ioid);
    if (op?.kind === 'monitor') this.stopMonitor(op);
  }

  // ------------------------------------------------------------ GET, PUT, RPC

  private onOperation(command: Command, r: Reader): void {
    const head = msg.decodeOpRequestHead(r);
    if (head.subcmd & SubCommand.INIT) {
      const init = msg.decodeOpInitBody(r, head, command, this.peerTypes);
      this.initOperation(command, init);
      return;
    }
    const op = this.ops.get(head.ioid);
    // A request racing our destroy of it: pvxs ignores it too.
    if (!op) return;
    if (op.channel.sid !== head.sid) throw new PvaProtocolError('PVA_ERR_BAD_REQUEST', `ioid ${head.ioid} belongs to another channel`);
    if (op.kind === 'get' && command === Command.GET) return void this.execGet(op, head.subcmd);
    if (op.kind === 'put' && command === Command.PUT) return void this.execPut(op, head.subcmd, r);
    if (op.kind === 'rpc' && command === Command.RPC) return void this.execRpc(op, head.subcmd, r);
    throw new PvaProtocolError('PVA_ERR_BAD_REQUEST', `command ${command} on an operation of another kind (ioid ${head.ioid})`);
  }

  private initOperation(command: Command, init: msg.OpInit): void {
    const ch = this.channels.get(init.sid);
    if (!ch) throw new PvaProtocolError('PVA_ERR_BAD_REQUEST', `INIT on unknown sid ${init.sid}`);
    if (this.ops.has(init.ioid)) throw new PvaProtocolError('PVA_ERR_BAD_REQUEST', `ioid ${init.ioid} is in use`);
    const replyError = (text: string): void => {
      this.send(msg.serverMessage(command, BIG_ENDIAN, (w) => msg.encodeOpInitReply(w, { ioid: init.ioid, subcmd: init.subcmd, status: statusError(text) })));
    };
    if (command === Command.RPC) {
      if (ch.shape) return replyError('RPC is not supported by this channel');
      this.addOp({ kind: 'rpc', ioid: init.ioid, channel: ch });
      this.send(msg.serverMessage(command, BIG_ENDIAN, (w) => msg.encodeOpInitReply(w, { ioid: init.ioid, subcmd: init.subcmd, status: STATUS_OK })));
      return;
    }
    if (command === Command.PUT_GET) return replyError('PUT_GET is not supported (as in pvxs); use PUT then GET');
    if (!ch.shape) return replyError(`${command === Command.GET ? 'Get' : 'Put'} is not supported by this channel`);
    const req = parseRequest(init.requestType, init.request);
    let mask: BitSet;
    try {
      mask = selectionMask(ch.shape.layout, req.fields);
    } catch (err) {
      return replyError((err as Error).message);
    }
    const proc = processOption(req.options);
    if (typeof proc !== 'string') return replyError(`record._options.process must be true, false or passive, not "${proc.invalid}"`);
    if (command === Command.GET) {
      this.addOp({ kind: 'get', ioid: init.ioid, channel: ch, mask, process: proc });
    } else {
      const block = req.options.get('block');
      this.addOp({ kind: 'put', ioid: init.ioid, channel: ch, mask, process: proc, block: block === undefined || !/^(false|0|no)$/i.test(block) });
    }
    this.send(msg.serverMessage(command, BIG_ENDIAN, (w) => msg.encodeOpInitReply(w, { ioid: init.ioid, subcmd: init.subcmd, status: STATUS_OK, type: ch.shape!.desc })));
  }

  private addOp(op: Op): void {
    this.ops.set(op.ioid, op);
    op.channel.ops.add(op.ioid);
  }

  private description(pv: ProcessVariable): string {
    return this.opts.describe?.(pv) ?? '';
  }

  private sendValue(command: Command, op: GetOp | PutOp, subcmd: number): void {
    const ch = op.channel;
    const { value, changed } = fullValue(ch.shape!, ch.pv!.snapshot(), this.description(ch.pv!));
    const marked = andBits(changed, op.mask);
    this.send(msg.serverMessage(command, BIG_ENDIAN, (w) => msg.encodeDataReply(w, { ioid: op.ioid, subcmd, status: STATUS_OK, value, changed: marked }), 512));
  }

  private replyStatus(command: Command, ioid: number, subcmd: number, status: Status): void {
    this.send(msg.serverMessage(command, BIG_ENDIAN, (w) => msg.encodeDataReply(w, { ioid, subcmd, status })));
  }

  private async execGet(op: GetOp, subcmd: number): Promise<void> {
    const ch = op.channel;
    if (subcmd & SubCommand.DESTROY) this.dropOp(op.ioid);
    if (!ch.rights.read) return this.replyStatus(Command.GET, op.ioid, subcmd, statusError('Get not permitted'));
    if (op.process === 'true') {
      const failure = await this.processRecord(ch);
      if (this.closed) return;
      if (failure) return this.replyStatus(Command.GET, op.ioid, subcmd, statusError(failure));
    }
    this.sendValue(Command.GET, op, subcmd);
  }

  /** record[process=true]: put 1 to the record's PROC field. Resolves to an error text, or undefined. */
  private async processRecord(ch: Channel): Promise<string | undefined> {
    const record = ch.name.split('.')[0];
    const proc = this.opts.directory.lookup(`${record}.PROC`);
    if (!proc) return `${record} cannot be processed`;
    try {
      await proc.write({ value: [1], client: { ...this.identity }, notify: true });
      return undefined;
    } catch (err) {
      return (err as Error).message;
    }
  }

  private async execPut(op: PutOp, subcmd: number, r: Reader): Promise<void> {
    const ch = op.channel;
    const pv = ch.pv!;
    const shape = ch.shape!;
    if (subcmd & SubCommand.GET) {
      if (!ch.rights.read) return this.replyStatus(Command.PUT, op.ioid, subcmd, statusError('Get not permitted'));
      this.sendValue(Command.PUT, op, subcmd);
      return;
    }
    const incoming = shape.empty();
    const changed = readPartial(r, incoming, this.peerTypes);
    if (subcmd & SubCommand.DESTROY) this.dropOp(op.ioid);
    const audit = this.opts.audit;
    const attempt = (outcome: WriteAttempt['outcome'], value: DbrValue | undefined, old: DbrSource | undefined, reason?: string): void => {
      if (!audit) return;
      try {
        audit({ pv: pv.name, client: { ...this.identity }, old, value, outcome, reason, trapWrite: ch.rights.trapWrite ?? true });
      } catch (err) {
        this.opts.log.error('put log failed', { reason: (err as Error).message });
      }
    };
    let put: ReturnType<ChannelShape['putValue']>;
    try {
      put = shape.putValue(incoming, changed);
    } catch (err) {
      attempt('failed', undefined, audit ? pv.snapshot() : undefined, (err as Error).message);
      return this.replyStatus(Command.PUT, op.ioid, subcmd, statusError((err as Error).message));
    }
    if (!ch.rights.write) {
      attempt('denied', put?.value, audit ? pv.snapshot() : undefined, 'no write access');
      return this.replyStatus(Command.PUT, op.ioid, subcmd, statusError('Put not permitted'));
    }
    if (put === undefined) {
      // Nothing QSRV would write (no value field marked): only processing, if asked.
      const failure = op.process === 'true' ? await this.processRecord(ch) : undefined;
      if (!this.closed) this.replyStatus(Command.PUT, op.ioid, subcmd, failure ? statusError(failure) : STATUS_OK);
      return;
    }
    const old = audit ? pv.snapshot() : undefined;
    let value: DbrValue;
    try {
      // The PV's own conversion, as for a CA write (a waveform's elements cast by FTVL).
      value = (put.value.length > 0 && put.type !== undefined ? pv.convertWrite?.(put.value, put.type) : undefined) ?? put.value;
    } catch (err) {
      const text = (err as Error).message;
      attempt('failed', put.value, old, text);
      return this.replyStatus(Command.PUT, op.ioid, subcmd, statusError(text));
    }
    const written = pv.write({ value, client: { ...this.identity }, notify: true }).then(async () => {
      attempt('done', value, old);
      if (op.process === 'true' && !/\.PROC$/.test(pv.name)) return this.processRecord(ch);
      return undefined;
    }, (err: unknown) => {
      const text = err instanceof WriteError || err instanceof Error ? err.message : String(err);
      attempt('failed', value, old, text);
      return text;
    });
    if (!op.block) {
      this.replyStatus(Command.PUT, op.ioid, subcmd, STATUS_OK);
      await written;
      return;
    }
    const failure = await written;
    if (!this.closed) this.replyStatus(Command.PUT, op.ioid, subcmd, failure ? statusError(failure) : STATUS_OK);
  }

  private execRpc(op: RpcOp, subcmd: number, r: Reader): void {
    const type = readType(r, this.peerTypes);
    const args = type ? readValue(r, type, this.peerTypes) : undefined;
    if (subcmd & SubCommand.DESTROY) this.dropOp(op.ioid);
    const query = type && type.code === TypeCode.STRUCT ? String(getField(args as PvStruct, 'query.op') ?? '') : '';
    if (query !== 'channels') {
      this.send(msg.serverMessage(Command.RPC, BIG_ENDIAN, (w) => msg.encodeRpcReply(w, { ioid: op.ioid, subcmd, status: statusError(`unsupported server query op="${query}"; this server answers op="channels"`) })));
      return;
    }
    const names = [...(this.opts.listNames?.() ?? [])].sort();
    const desc = ntStringList();
    const value = emptyStruct(desc);
    setField(value, 'value', names);
    this.send(msg.serverMessage(Command.RPC, BIG_ENDIAN, (w) => msg.encodeRpcReply(w, { ioid: op.ioid, subcmd, status: STATUS_OK, type: desc, value }), 1024));
  }

  // ------------------------------------------------------------ MONITOR

  private onMonitor(r: Reader): void {
    const head = msg.decodeOpRequestHead(r);
    if (head.subcmd & SubCommand.INIT) {
      const init = msg.decodeOpInitBody(r, head, Command.MONITOR, this.peerTypes);
      this.initMonitor(init);
      return;
    }
    const nack = head.subcmd & SubCommand.ACK ? r.u32() : 0;
    const op = this.ops.get(head.ioid);
    if (!op) return;
    if (op.kind !== 'monitor' || op.channel.sid !== head.sid) throw new PvaProtocolError('PVA_ERR_BAD_REQUEST', `MONITOR on ioid ${head.ioid}, which is not a monitor of that channel`);
    if (head.subcmd & SubCommand.ACK && op.pipeline) op.window += nack;
    if (head.subcmd & SubCommand.START_STOP) {
      if (head.subcmd & SubCommand.GET) this.startMonitor(op);
      else this.stopMonitor(op);
    }
    if (head.subcmd & SubCommand.DESTROY) {
      this.dropOp(op.ioid);
      return;
    }
    this.pump(op);
  }

  private initMonitor(init: msg.OpInit): void {
    const ch = this.channels.get(init.sid);
    if (!ch) throw new PvaProtocolError('PVA_ERR_BAD_REQUEST', `MONITOR INIT on unknown sid ${init.sid}`);
    if (this.ops.has(init.ioid)) throw new PvaProtocolError('PVA_ERR_BAD_REQUEST', `ioid ${init.ioid} is in use`);
    const fail = (text: string): void => {
      this.send(msg.serverMessage(Command.MONITOR, BIG_ENDIAN, (w) => msg.encodeOpInitReply(w, { ioid: init.ioid, subcmd: init.subcmd, status: statusError(text) })));
    };
    if (!ch.shape) return fail('Monitor is not supported by this channel');
    if (!ch.rights.read) return fail('Monitor not permitted');
    const req = parseRequest(init.requestType, init.request);
    let mask: BitSet;
    try {
      mask = selectionMask(ch.shape.layout, req.fields);
    } catch (err) {
      return fail((err as Error).message);
    }
    const pipeline = /^(true|1|yes)$/i.test(req.options.get('pipeline') ?? '');
    let queueSize = this.opts.defaultQueueSize;
    const qs = req.options.get('queueSize');
    if (qs !== undefined) {
      const n = Number(qs);
      if (Number.isInteger(n) && n >= 2) queueSize = Math.min(n, this.opts.maxQueueSize);
      else if (pipeline) return fail(`can not pipeline invalid queueSize : ${qs}`);
    }
    const op: MonitorOp = {
      kind: 'monitor', ioid: init.ioid, channel: ch, mask, running: false, pipeline,
      window: init.nack ?? 0, queueSize, queue: [], squashed: 0,
    };
    this.addOp(op);
    this.send(msg.serverMessage(Command.MONITOR, BIG_ENDIAN, (w) => msg.encodeOpInitReply(w, { ioid: init.ioid, subcmd: init.subcmd, status: STATUS_OK, type: ch.shape!.desc })));
  }

  private startMonitor(op: MonitorOp): void {
    if (op.running) return;
    op.running = true;
    const ch = op.channel;
    const pv = ch.pv!;
    op.unsubscribe = pv.subscribe((mask) => this.onEvent(op, mask));
    // The first update is the whole structure.
    const first = fullValue(ch.shape!, pv.snapshot(), this.description(pv));
    this.enqueue(op, first.value, andBits(first.changed, op.mask));
  }

  private stopMonitor(op: MonitorOp): void {
    op.running = false;
    op.unsubscribe?.();
    op.unsubscribe = undefined;
    op.queue.length = 0;
  }

  private onEvent(op: MonitorOp, dbe: number): void {
    if (!op.running || this.closed) return;
    // QSRV subscribes to DBE_VALUE|DBE_ALARM (and DBE_PROPERTY for meta-data): archive-only events are not monitor updates.
    const parts: Parts = { value: (dbe & DBE_VALUE) !== 0, alarm: (dbe & DBE_ALARM) !== 0, property: (dbe & DBE_PROPERTY) !== 0 };
    if (!parts.value && !parts.alarm && !parts.property) return;
    const ch = op.channel;
    if (!ch.rights.read) return;
    const snap = ch.pv!.snapshot();
    const desc = parts.property ? this.description(ch.pv!) : '';
    const last = op.queue[op.queue.length - 1];
    if (last && op.queue.length >= op.queueSize) {
      // Full: the newest state replaces the last queued one (pvxs squash), so memory stays bounded.
      const bits = new BitSet(ch.shape!.layout.nodes.length);
      ch.shape!.fill(last.value, bits, snap, desc, parts);
      last.changed.or(andBits(bits, op.mask));
      op.squashed++;
      return;
    }
    const value = ch.shape!.empty();
    const bits = new BitSet(ch.shape!.layout.nodes.length);
    ch.shape!.fill(value, bits, snap, desc, parts);
    this.enqueue(op, value, andBits(bits, op.mask));
  }

  private enqueue(op: MonitorOp, value: PvStruct, changed: BitSet): void {
    if (changed.isEmpty()) return;
    op.queue.push({ value, changed });
    this.pump(op);
  }

  /** Send queued updates while the client may take them (pipeline window) and the socket is not backed up. */
  private pump(op: MonitorOp): void {
    while (op.running && !this.blocked && !this.closed && op.queue.length > 0 && (!op.pipeline || op.window > 0)) {
      const u = op.queue.shift()!;
      if (op.pipeline) op.window--;
      this.send(msg.serverMessage(Command.MONITOR, BIG_ENDIAN, (w) => msg.encodeDataReply(w, { ioid: op.ioid, subcmd: 0, value: u.value, changed: u.changed, overrun: EMPTY_BITS }), 256));
    }
  }

  // ------------------------------------------------------------ output

  private send(data: Buffer): void {
    if (this.closed) return;
    if (!this.stream.write(data) && !this.blocked) {
      // The client is not reading: stop reading its requests and hold monitor updates
      // (they keep being folded into each subscription's bounded queue) until it drains.
      this.blocked = true;
      this.stream.pause();
    }
  }

  private onDrain(): void {
    if (!this.blocked || this.closed) return;
    this.blocked = false;
    this.stream.resume();
    for (const op of this.ops.values()) if (op.kind === 'monitor') this.pump(op);
  }
}

const EMPTY_BITS = new BitSet();

function andBits(a: BitSet, mask: BitSet): BitSet {
  const out = new BitSet();
  for (let n = a.nextSet(0); n >= 0; n = a.nextSet(n + 1)) if (mask.get(n)) out.set(n);
  return out;
}
