/**
 * Which TCP connections a server takes, for Channel Access and pvAccess
 * alike: the connections open, oldest first, up to a cap; at the cap the
 * oldest connection that has not spoken is closed to make room (a client that
 * opens sockets and sends nothing must not lock real clients out), and when
 * every one has spoken the newcomer is refused. When accept() fails for want
 * of file descriptors (EMFILE), the oldest silent connections are closed so
 * the next client gets in: this server's, and those of every other server
 * sharing the process's descriptors through one `DescriptorPool` (CA and
 * pvAccess in one IOC). Each of these is logged once per burst.
 */
import type * as net from 'node:net';
import type { Logger } from '../../log';
import { warningBurst, type BurstLog } from './burst';
import type { Scheduler } from './scheduler';

/** Silent connections closed per failed accept(), at most. */
const FREED_PER_EMFILE = 16;

/**
 * The servers of one process, which share its file descriptors: out of them,
 * each is asked to close connections that have sent nothing.
 */
export class DescriptorPool {
  private readonly members: Array<(max: number) => number> = [];

  /** Add a server's way of closing up to `max` silent connections (it returns how many it closed). */
  join(freeSilent: (max: number) => number): void {
    this.members.push(freeSilent);
  }

  /** Close up to `max` silent connections, asking each server in turn; returns how many were closed. */
  freeSilent(max: number): number {
    let freed = 0;
    for (const free of this.members) {
      if (freed >= max) break;
      freed += free(max - freed);
    }
    return freed;
  }
}

export interface AdmissionOptions<C> {
  /** Connections served at once. */
  max: number;
  /** What the server calls one connection in its log lines: "circuit". */
  noun: string;
  /** True until the client's first request (CA) or validation (pvAccess). */
  isSilent(connection: C): boolean;
  /** Close a silent connection to make room. */
  closeSilent(connection: C): void;
  scheduler: Scheduler;
  log: Logger;
  /** The servers this one shares descriptors with (default: its own pool). */
  descriptors?: DescriptorPool;
}

/** What `admit` found: room, room made by closing a silent connection, or none. */
export type Admission = 'room' | 'made' | 'full';

export class ConnectionAdmission<C> {
  /** Open connections in the order they were opened (a Set keeps insertion order). */
  readonly open = new Set<C>();
  readonly max: number;
  private readonly limitLog: BurstLog;
  private readonly fdLog: BurstLog;
  private readonly descriptors: DescriptorPool;

  constructor(private readonly opts: AdmissionOptions<C>) {
    this.max = opts.max;
    this.descriptors = opts.descriptors ?? new DescriptorPool();
    this.descriptors.join((max) => this.freeSilent(max));
    this.limitLog = warningBurst(opts.scheduler, opts.log, `${opts.noun} limit reached`);
    this.fdLog = warningBurst(opts.scheduler, opts.log, 'out of file descriptors');
  }

  /** A client from `address` connected: whether it may be served ('full': refuse it). */
  admit(address: string): Admission {
    const noun = this.opts.noun;
    if (this.open.size < this.max) return 'room';
    const silent = this.oldestSilent();
    if (!silent) {
      this.limitLog.hit(`refusing connections: ${this.open.size} ${noun}s are open, the most this server takes, and every one has sent requests; first refused: ${address}`);
      return 'full';
    }
    this.opts.closeSilent(silent);
    this.limitLog.hit(`${this.max} ${noun}s open, the most this server takes: closing the oldest connections that have sent nothing, to make room`);
    return 'made';
  }

  /**
   * A socket the listener accepted: served through `serve` with the peer's
   * address (keepalive on), or, when there is no room, closed. Returns false
   * when it was refused.
   */
  accept(socket: net.Socket, serve: (socket: net.Socket, address: string) => void): boolean {
    const address = socket.remoteAddress?.replace(/^::ffff:/, '') ?? '';
    if (this.admit(address) === 'full') {
      socket.destroy();
      return false;
    }
    socket.setKeepAlive(true);
    serve(socket, address);
    return true;
  }

  /**
   * accept() failed. EMFILE/ENFILE: the process is out of file descriptors and
   * libuv has dropped the pending connection: close the oldest silent
   * connections, of every server in the pool, so that the next client gets
   * in. Anything else is logged as an error.
   */
  acceptFailed(err: NodeJS.ErrnoException): void {
    if (err.code !== 'EMFILE' && err.code !== 'ENFILE') {
      this.opts.log.error('TCP listener error', { reason: err.message });
      return;
    }
    const freed = this.descriptors.freeSilent(FREED_PER_EMFILE);
    this.fdLog.hit(`out of file descriptors (${err.code}) with ${this.open.size} ${this.opts.noun}s open: a connection was dropped; closed ${freed} that had sent nothing. Raise LimitNOFILE= in the unit`);
  }

  /** End the bursts' timers. */
  stop(): void {
    this.limitLog.stop();
    this.fdLog.stop();
  }

  /** Close up to `max` connections that have sent nothing, oldest first; returns how many. */
  freeSilent(max: number): number {
    let freed = 0;
    for (let c = this.oldestSilent(); c !== undefined && freed < max; c = this.oldestSilent(), freed++) this.opts.closeSilent(c);
    return freed;
  }

  private oldestSilent(): C | undefined {
    for (const c of this.open) if (this.opts.isSilent(c)) return c;
    return undefined;
  }
}
