/**
 * A minimal pvAccess client over any duplex stream, for driving the server
 * in-process: connection validation (anonymous or `ca` with a user and
 * host), channels, PUT of the value field, GET and MONITOR. Built from the
 * codec in src/pva/protocol; replies are awaited, never slept for.
 */
import type { Duplex } from 'node:stream';
import { BitSet } from '../../src/pva/protocol/bitset';
import { Command, PvaFramer, SubCommand, type Frame } from '../../src/pva/protocol/header';
import { scalar, struct, TypeCode, type FieldDesc, type TypeCache } from '../../src/pva/protocol/introspection';
import * as m from '../../src/pva/protocol/messages';
import { emptyStruct, getField, setField, type PvData, type PvStruct } from '../../src/pva/protocol/pvdata';
import { Reader, readStatus, type Status } from '../../src/pva/protocol/wire';

const LE = false;
const CA_AUTH = struct('', [['user', scalar(TypeCode.STRING)], ['host', scalar(TypeCode.STRING)]]);
const EMPTY_REQUEST = struct('', [['field', struct('', [])]]);

export type Auth = { method: 'anonymous' } | { method: 'ca'; user: string; host: string };

export interface MonitorUpdate {
  value: PvStruct;
  changed: BitSet;
}

export class PvaTestClient {
  private readonly framer = new PvaFramer({ maxPayload: 1 << 24 });
  private readonly cache: TypeCache = new Map();
  private readonly inbox: Frame[] = [];
  private readonly waiters: Array<{ match: (f: Frame) => boolean; resolve: (f: Frame) => void }> = [];
  private readonly monitors = new Map<number, { type: FieldDesc; updates: MonitorUpdate[]; listeners: Array<() => void> }>();
  private nextId = 1;

  constructor(readonly stream: Duplex) {
    stream.on('data', (d: Buffer) => {
      for (const f of this.framer.push(d)) this.onFrame(f);
    });
  }

  private onFrame(f: Frame): void {
    if (!f.control && f.command === Command.MONITOR) {
      const r = new Reader(f.payload, f.bigEndian);
      const ioid = r.u32();
      const mon = this.monitors.get(ioid);
      const subcmd = r.u8();
      if (mon && !(subcmd & SubCommand.INIT)) {
        const reply = m.decodeDataReply(new Reader(f.payload, f.bigEndian), { withStatus: false, into: emptyStruct(mon.type), monitor: true, cache: this.cache });
        if (reply.value && reply.changed) mon.updates.push({ value: reply.value, changed: reply.changed });
        for (const l of mon.listeners.splice(0)) l();
        return;
      }
    }
    const i = this.waiters.findIndex((w) => w.match(f));
    if (i >= 0) this.waiters.splice(i, 1)[0].resolve(f);
    else this.inbox.push(f);
  }

  private next(match: (f: Frame) => boolean): Promise<Frame> {
    const i = this.inbox.findIndex(match);
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0]);
    return new Promise((resolve) => this.waiters.push({ match, resolve }));
  }

  private reply(command: Command, ioid: number): Promise<Frame> {
    return this.next((f) => !f.control && f.command === command && f.payload.length >= 4 && (f.bigEndian ? f.payload.readUInt32BE(0) : f.payload.readUInt32LE(0)) === ioid);
  }

  private send(command: Command, fill: (w: m.Writer) => void): void {
    this.stream.write(m.clientMessage(command, LE, fill));
  }

  /** Answer the server's validation; resolves with the server's verdict. */
  async connect(auth: Auth): Promise<Status> {
    await this.next((f) => !f.control && f.command === Command.CONNECTION_VALIDATION);
    const authValue = auth.method === 'ca' ? emptyStruct(CA_AUTH) : undefined;
    if (auth.method === 'ca' && authValue) {
      setField(authValue, 'user', auth.user);
      setField(authValue, 'host', auth.host);
    }
    this.send(Command.CONNECTION_VALIDATION, (w) => m.encodeClientValidation(w, {
      bufferSize: 0x10000, registrySize: 0x7fff, qos: 0, authMethod: auth.method, authType: auth.method === 'ca' ? CA_AUTH : null, authValue,
    }));
    const f = await this.next((x) => !x.control && x.command === Command.CONNECTION_VALIDATED);
    return readStatus(new Reader(f.payload, f.bigEndian));
  }

  /** Create a channel; resolves with its sid (throws when the server has no such PV). */
  async channel(name: string): Promise<number> {
    const cid = this.nextId++;
    this.send(Command.CREATE_CHANNEL, (w) => m.encodeCreateChannelRequest(w, { channels: [{ cid, name }] }));
    const f = await this.reply(Command.CREATE_CHANNEL, cid);
    const r = m.decodeCreateChannelResponse(new Reader(f.payload, f.bigEndian));
    if (r.status.message) throw new Error(r.status.message);
    return r.sid;
  }

  private async init(command: Command, sid: number, request: FieldDesc = EMPTY_REQUEST): Promise<{ ioid: number; type: FieldDesc }> {
    const ioid = this.nextId++;
    this.send(command, (w) => m.encodeOpInit(w, { sid, ioid, subcmd: SubCommand.INIT, requestType: request, request: emptyStruct(request) }, command));
    const f = await this.reply(command, ioid);
    const r = m.decodeOpInitReply(new Reader(f.payload, f.bigEndian), this.cache, true);
    if (!r.type) throw new Error(`INIT failed: ${r.status.message}`);
    return { ioid, type: r.type };
  }

  /** PUT `value` to the value field (value.index for an enum); resolves with the reply's status. */
  async put(sid: number, value: PvData): Promise<Status> {
    const { ioid, type } = await this.init(Command.PUT, sid);
    const s = emptyStruct(type);
    const path = s.layout.byPath.has('value.index') ? 'value.index' : 'value';
    setField(s, path, value);
    const changed = new BitSet();
    changed.set(s.layout.byPath.get(path)!);
    this.send(Command.PUT, (w) => m.encodePutExec(w, { sid, ioid, subcmd: SubCommand.DESTROY }, s, changed));
    const f = await this.reply(Command.PUT, ioid);
    return m.decodeDataReply(new Reader(f.payload, f.bigEndian), { withStatus: true, monitor: false, cache: this.cache }).status!;
  }

  /** GET the whole structure; resolves with the value field (value.index for an enum). */
  async get(sid: number): Promise<PvData> {
    const { ioid, type } = await this.init(Command.GET, sid);
    this.send(Command.GET, (w) => m.encodeMonitorControl(w, { sid, ioid, subcmd: SubCommand.GET | SubCommand.DESTROY }));
    const f = await this.reply(Command.GET, ioid);
    const reply = m.decodeDataReply(new Reader(f.payload, f.bigEndian), { withStatus: true, into: emptyStruct(type), monitor: false, cache: this.cache });
    if (!reply.value) throw new Error(`GET failed: ${reply.status?.message}`);
    return getField(reply.value, reply.value.layout.byPath.has('value.index') ? 'value.index' : 'value');
  }

  /** Start a monitor; its updates collect in the array returned. */
  async monitor(sid: number, request?: FieldDesc): Promise<{ ioid: number; updates: MonitorUpdate[]; nextUpdate(): Promise<void> }> {
    const { ioid, type } = await this.init(Command.MONITOR, sid, request);
    const mon = { type, updates: [] as MonitorUpdate[], listeners: [] as Array<() => void> };
    this.monitors.set(ioid, mon);
    this.send(Command.MONITOR, (w) => m.encodeMonitorControl(w, { sid, ioid, subcmd: SubCommand.START_STOP | SubCommand.GET }));
    return { ioid, updates: mon.updates, nextUpdate: () => new Promise((resolve) => mon.listeners.push(resolve)) };
  }
}
