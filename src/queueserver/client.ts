/**
 * A REQ client of one RE Manager's control socket, as the official clients
 * do it (bluesky-queueserver-api comm_base.py): send and receive timeouts,
 * LINGER 100 ms, and on a timeout the socket is closed and a new one made on
 * the next request, since a REQ socket that missed its reply stays stuck in
 * lockstep. Requests are sent one at a time, in call order.
 *
 * CurveZMQ is on when the manager's public key is given; the client makes a
 * key pair of its own (the manager does not check client keys). A wrong
 * server key fails the handshake silently: requests time out.
 */
import * as zmq from 'zeromq';
import { DEFAULT_CONTROL_ADDRESS, DEFAULT_ENCODING, QsError, decodeReply, encodeRequest, type Dict, type Encoding, type Params } from './protocol';

export interface QsClientOptions {
  address?: string;
  /** Whole request (send + receive) timeout, ms. */
  timeoutMs: number;
  /** The manager's CurveZMQ public key (z85, 40 characters). */
  serverPublicKey?: string;
  /** Largest reply accepted (history_get can be large), bytes. */
  maxReplyBytes?: number;
  /** The manager's --zmq-encoding; default json. */
  encoding?: Encoding;
}

export class QsClient {
  readonly address: string;
  private socket: zmq.Request | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** Requests that ended in a timeout, for tests and benchmarks. */
  timeouts = 0;

  constructor(private readonly opts: QsClientOptions) {
    this.address = opts.address ?? DEFAULT_CONTROL_ADDRESS;
  }

  /** Send `{method, params}` and resolve with the reply, or reject with a QsError. */
  request(method: string, params: Params = {}): Promise<Dict> {
    const run = this.chain.then(() => this.exchange(method, params));
    this.chain = run.catch(() => undefined);
    return run;
  }

  close(): void {
    this.closed = true;
    this.drop();
  }

  private open(): zmq.Request {
    const keys = this.opts.serverPublicKey ? zmq.curveKeyPair() : undefined;
    const socket = new zmq.Request({
      linger: 100,
      maxMessageSize: this.opts.maxReplyBytes ?? 64 * 1024 * 1024,
      ...(keys ? { curveServerKey: this.opts.serverPublicKey, curvePublicKey: keys.publicKey, curveSecretKey: keys.secretKey } : {}),
    });
    socket.connect(this.address);
    return socket;
  }

  private drop(): void {
    const s = this.socket;
    this.socket = undefined;
    if (s && !s.closed) s.close();
  }

  private async exchange(method: string, params: Params): Promise<Dict> {
    if (this.closed) throw new QsError('QS_ERR_CLOSED', `${method}: the client is closed`);
    const payload = encodeRequest(method, params, this.opts.encoding ?? DEFAULT_ENCODING);
    const socket = (this.socket ??= this.open());
    const deadline = Date.now() + this.opts.timeoutMs;
    let frames: Buffer[];
    try {
      socket.sendTimeout = this.opts.timeoutMs;
      await socket.send(payload);
      socket.receiveTimeout = Math.max(1, deadline - Date.now());
      frames = await socket.receive();
    } catch (err) {
      if (this.closed) throw new QsError('QS_ERR_CLOSED', `${method}: the client is closed`);
      // EAGAIN is a timeout; anything else leaves the socket in an unknown state too.
      this.drop();
      this.timeouts++;
      const code = (err as { code?: string }).code;
      const why = code === 'EAGAIN' ? `no reply within ${seconds(this.opts.timeoutMs)}` : `socket error ${code ?? (err as Error).message}`;
      throw new QsError('QS_ERR_TIMEOUT', `${method}: ${why} from ${this.address}`);
    }
    try {
      return decodeReply(frames, this.opts.encoding ?? DEFAULT_ENCODING);
    } catch (err) {
      throw new QsError('QS_ERR_PROTOCOL', `${method}: ${(err as Error).message}`);
    }
  }
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}
