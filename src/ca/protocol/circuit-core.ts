/**
 * The protocol side of a server's TCP circuit, without I/O: bytes in, typed
 * requests (or the rule they break) out, in the order they arrived.
 *
 * It frames the byte stream, decodes each message into a `ClientRequest`,
 * keeps the circuit's state (`handshake` until the first request, `open`, then
 * `closing` once a rule that ends the circuit is broken) and checks every
 * request against `REQUEST_RULES`. What the requests mean for PVs is the
 * server's business; which channels exist is asked of the server's own
 * channel table, so there is one record of them.
 */
import { CaProtocolError } from './errors';
import { MessageFramer } from './framer';
import type { Message } from './header';
import { checkRequest, framingViolation, type ChannelTable, type CircuitState, type ProtocolViolation } from './circuit-rules';
import { decodeRequest, type ClientRequest } from './requests';

export interface CircuitCoreOptions {
  /** Largest payload accepted (EPICS_CA_MAX_ARRAY_BYTES plus the largest DBR header). */
  maxPayload: number;
  /** Channels one circuit may hold. */
  maxChannels: number;
}

/** A broken rule, in its place among the requests. */
export interface ViolationItem {
  readonly kind: 'violation';
  readonly violation: ProtocolViolation;
}

/**
 * One thing the server must act on, in arrival order: a request (handed on
 * as it is, with no wrapper per message) or a broken rule.
 */
export type Inbound = ClientRequest | ViolationItem;

export class CircuitCore {
  private circuitState: CircuitState = 'handshake';
  private readonly framer: MessageFramer;
  private readonly queue = new InboundQueue(this);

  constructor(private readonly channels: ChannelTable, private readonly opts: CircuitCoreOptions) {
    this.framer = new MessageFramer({ maxPayload: opts.maxPayload, requireAlignment: true });
  }

  get state(): CircuitState {
    return this.circuitState;
  }

  /** The server decided to end the circuit: nothing more is taken. */
  beginClosing(): void {
    this.circuitState = 'closing';
  }

  /**
   * Take bytes from the client. Returns, in order, each request to carry out
   * and each broken rule. A request is checked when it is its turn, so that a
   * CREATE_CHAN earlier in the same chunk counts for the requests after it:
   * call `next` until it returns undefined.
   */
  receive(chunk: Buffer): InboundQueue {
    if (this.circuitState !== 'closing') this.framer.append(chunk);
    return this.queue;
  }

  /** The next request of what was received, checked now, or undefined when none is complete. */
  nextInbound(): Inbound | undefined {
    while (this.circuitState !== 'closing') {
      let m: Message | undefined;
      try {
        m = this.framer.next();
      } catch (err) {
        return this.violated(err instanceof CaProtocolError
          ? framingViolation(err.code, err.message)
          : framingViolation('CA_ERR_TRUNCATED', (err as Error).message));
      }
      if (!m) return undefined;
      const out = this.inspect(m);
      if (out) return out;
    }
    return undefined;
  }

  /** Decode and check one message. */
  inspect(m: Message): Inbound | undefined {
    if (this.circuitState === 'closing') return undefined;
    let request: ClientRequest;
    try {
      request = decodeRequest(m);
    } catch (err) {
      const e = err as CaProtocolError;
      return this.violated(framingViolation(e.code ?? 'CA_ERR_BAD_COMMAND', e.message));
    }
    const violation = checkRequest(request, this.circuitState, this.channels, this.opts);
    if (this.circuitState === 'handshake') this.circuitState = 'open';
    if (violation) return this.violated(violation);
    return request;
  }

  /** Record a violation; one that ends the circuit moves it to `closing`. */
  violated(violation: ProtocolViolation): Inbound {
    if (violation.action === 'close') this.circuitState = 'closing';
    return { kind: 'violation', violation };
  }
}

/** What was received, handed out one request at a time so each is checked in its turn. */
export class InboundQueue {
  constructor(private readonly core: CircuitCore) {}

  next(): Inbound | undefined {
    return this.core.nextInbound();
  }
}
