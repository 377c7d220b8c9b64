/**
 * The rules of a server's side of a CA circuit, as data.
 *
 * `REQUEST_RULES` says, per request kind, in which circuit states it is taken,
 * whether it names an open channel (and subscription), whether its DBR type
 * must be valid, and what the server does when a rule is broken: reply with an
 * error and go on, or close the circuit. The tables follow RSRV
 * (camessage.c): a request for an unknown channel gets an ERROR, a request with
 * a DBR type outside 0..38 ends the circuit (RSRV returns RSRV_ERROR, which
 * drops the client), an unknown subscription gets ECA_BADMONID.
 *
 * A broken rule is a `ProtocolViolation` that names who broke it (the client,
 * or this server failing its own side) and which rule. Nothing here does I/O.
 */
import { Eca, LAST_DBR_TYPE } from './constants';
import type { CaProtocolErrorCode } from './errors';
import type { ClientRequest, RequestKind } from './requests';

/**
 * `handshake`: accepted, nothing received yet (a timeout runs);
 * `open`: at least one request received; `closing`: the server decided to end
 * the circuit and takes no more requests.
 */
export type CircuitState = 'handshake' | 'open' | 'closing';

export type ViolationRule =
  | 'framing'                 // bytes that are no CA message (size, alignment, bounds)
  | 'unknown-command'         // a command code a client never sends a server
  | 'invalid-dbr-type'        // DBR type outside 0..38
  | 'unknown-channel'         // a server id (sid) this circuit never gave out, or cleared
  | 'unknown-subscription'    // EVENT_CANCEL of a subscription the channel does not have
  | 'request-while-closing'   // anything after the server decided to close
  | 'too-many-channels'       // the per-circuit channel cap
  | 'reply-too-large';        // this server cannot fit a reply within EPICS_CA_MAX_ARRAY_BYTES

/** What the server does about a broken rule. */
export type ViolationAction =
  /** Answer the request with `eca` (ERROR, or the request's own reply carrying the status) and go on. */
  | 'refuse'
  /** Drop the request without a word (the circuit is closing anyway). */
  | 'ignore'
  /** End the circuit. */
  | 'close';

export interface ProtocolViolation {
  /** Who broke the rule: the peer, or this server failing its own side. */
  readonly by: 'client' | 'server';
  readonly rule: ViolationRule;
  readonly action: ViolationAction;
  readonly eca: Eca;
  readonly message: string;
  /** The request at fault, when it could be decoded. */
  readonly request?: ClientRequest;
}

interface RequestRule {
  /** Circuit states in which the request is taken. */
  readonly states: readonly CircuitState[];
  /** The request's `sid` must name an open channel of this circuit. */
  readonly needsChannel: boolean;
  /** The request's `dbrType` must be a DBR type (0..38). */
  readonly needsDbrType: boolean;
  /** A create request, counted against the channel cap. */
  readonly createsChannel?: boolean;
}

const LIVE: readonly CircuitState[] = ['handshake', 'open'];

/** The table: one row per request kind. */
export const REQUEST_RULES: { readonly [K in RequestKind]: RequestRule } = {
  version:       { states: LIVE, needsChannel: false, needsDbrType: false },
  search:        { states: LIVE, needsChannel: false, needsDbrType: false },
  clientName:    { states: LIVE, needsChannel: false, needsDbrType: false },
  hostName:      { states: LIVE, needsChannel: false, needsDbrType: false },
  echo:          { states: LIVE, needsChannel: false, needsDbrType: false },
  eventsOff:     { states: LIVE, needsChannel: false, needsDbrType: false },
  eventsOn:      { states: LIVE, needsChannel: false, needsDbrType: false },
  readSync:      { states: LIVE, needsChannel: false, needsDbrType: false },
  createChannel: { states: LIVE, needsChannel: false, needsDbrType: false, createsChannel: true },
  clearChannel:  { states: LIVE, needsChannel: true, needsDbrType: false },
  read:          { states: LIVE, needsChannel: true, needsDbrType: true },
  write:         { states: LIVE, needsChannel: true, needsDbrType: true },
  eventAdd:      { states: LIVE, needsChannel: true, needsDbrType: true },
  eventCancel:   { states: LIVE, needsChannel: true, needsDbrType: false },
};

/** What the rules need to know of the circuit's channels. */
export interface ChannelTable {
  hasChannel(sid: number): boolean;
  hasSubscription(sid: number, subscriptionId: number): boolean;
  readonly channelCount: number;
}

/** Check one request against the table; undefined when it may be carried out. */
export function checkRequest(
  request: ClientRequest,
  state: CircuitState,
  channels: ChannelTable,
  limits: { maxChannels: number },
): ProtocolViolation | undefined {
  const rule = REQUEST_RULES[request.kind];
  // Every request is taken on an open circuit: the table is searched in the other states only.
  if (state !== 'open' && !rule.states.includes(state)) {
    return { by: 'client', rule: 'request-while-closing', action: 'ignore', eca: Eca.INTERNAL, message: `${request.kind} after the circuit began to close`, request };
  }
  // The table's flags say which requests carry these fields (a type check here would be
  // a megamorphic `in` on every request).
  if (rule.needsDbrType && (request as { dbrType: number }).dbrType > LAST_DBR_TYPE) {
    const dbrType = (request as { dbrType: number }).dbrType;
    return { by: 'client', rule: 'invalid-dbr-type', action: 'close', eca: Eca.BADTYPE, message: `${request.kind} with DBR type ${dbrType}, not a DBR type (0..${LAST_DBR_TYPE})`, request };
  }
  if (rule.needsChannel && !channels.hasChannel((request as { sid: number }).sid)) {
    const sid = (request as { sid: number }).sid;
    return { by: 'client', rule: 'unknown-channel', action: 'refuse', eca: Eca.BADCHID, message: `${request.kind} for server id ${sid}, which names no channel of this circuit`, request };
  }
  if (request.kind === 'eventCancel' && !channels.hasSubscription(request.sid, request.subscriptionId)) {
    return { by: 'client', rule: 'unknown-subscription', action: 'refuse', eca: Eca.BADMONID, message: `no subscription ${request.subscriptionId} on channel ${request.sid}`, request };
  }
  if (rule.createsChannel && channels.channelCount >= limits.maxChannels) {
    return { by: 'client', rule: 'too-many-channels', action: 'refuse', eca: Eca.ALLOCMEM, message: `the circuit already has ${channels.channelCount} channels, the most one circuit may hold`, request };
  }
  return undefined;
}

/** A codec error (framing) as a violation by the client. */
export function framingViolation(code: CaProtocolErrorCode, message: string): ProtocolViolation {
  const rule: ViolationRule = code === 'CA_ERR_BAD_COMMAND' ? 'unknown-command' : 'framing';
  return { by: 'client', rule, action: 'close', eca: Eca.INTERNAL, message };
}

/** Why a circuit ended. */
export type CloseReason =
  | { readonly kind: 'client-closed' }
  | { readonly kind: 'stream-error'; readonly message: string }
  | { readonly kind: 'violation'; readonly violation: ProtocolViolation }
  | { readonly kind: 'handshake-timeout'; readonly afterMs: number }
  | { readonly kind: 'drain-timeout'; readonly afterMs: number }
  | { readonly kind: 'server-stopped' };

/** One line for a log: what ended the circuit. */
export function describeCloseReason(reason: CloseReason): string {
  switch (reason.kind) {
    case 'client-closed': return 'the client closed the circuit';
    case 'stream-error': return `stream error: ${reason.message}`;
    case 'violation': return `${reason.violation.by === 'client' ? 'the client' : 'this server'} broke the rule "${reason.violation.rule}": ${reason.violation.message}`;
    case 'handshake-timeout': return `no request within ${reason.afterMs} ms of connecting`;
    case 'drain-timeout': return `the client read nothing for ${reason.afterMs} ms while replies were waiting`;
    case 'server-stopped': return 'the server is stopping';
  }
}
