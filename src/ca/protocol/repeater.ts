/**
 * The CA repeater's datagrams, without I/O. A repeater owns the repeater port
 * (5065) of a host and hands every datagram that arrives there (beacons) to
 * each CA client on the host that has registered with it, because a unicast
 * datagram reaches only one of several sockets bound to one port.
 *
 * What is read and sent follows EPICS base's repeater
 * (modules/ca/src/client/repeater.cpp, ca_repeater and register_new_client)
 * and libca's registration (udpiiu.cpp, caRepeaterRegistrationMessage).
 */
import { Command, HEADER_SIZE } from './constants';
import { encodeMessage } from './header';

/** What the repeater does with one datagram. */
export interface RepeaterDatagram {
  /** The sender asks to be registered. */
  register: boolean;
  /** Bytes to hand to every other registered client, if any. */
  forward?: Buffer;
}

/**
 * Read one datagram received on the repeater port from `sourceAddress` (IPv4
 * as u32). caRepeater's rules:
 * - an empty datagram registers its sender (libca sends one: repeaters before
 *   EPICS 3.12 did not read REPEATER_REGISTER);
 * - a datagram that starts with REPEATER_REGISTER registers its sender, and
 *   whatever follows the 16-byte header is forwarded;
 * - a beacon (RSRV_IS_UP) whose address field (p2) is 0 gets the sender's
 *   address there, so that clients learn the server's address although the
 *   datagram reaches them from the repeater;
 * - everything else, malformed or short, is forwarded unchanged.
 */
export function readRepeaterDatagram(data: Buffer, sourceAddress: number): RepeaterDatagram {
  if (data.length === 0) return { register: true };
  if (data.length < HEADER_SIZE) return { register: false, forward: data };
  const command = data.readUInt16BE(0);
  if (command === Command.REPEATER_REGISTER) {
    return data.length === HEADER_SIZE ? { register: true } : { register: true, forward: data.subarray(HEADER_SIZE) };
  }
  if (command === Command.RSRV_IS_UP && data.readUInt32BE(12) === 0) {
    const filled = Buffer.from(data);
    filled.writeUInt32BE(sourceAddress >>> 0, 12);
    return { register: false, forward: filled };
  }
  return { register: false, forward: data };
}

/** REPEATER_REGISTER as libca's header form: p2 = the address the client registers from. */
export function repeaterRegisterMessage(clientAddress: number): Buffer {
  return encodeMessage({ command: Command.REPEATER_REGISTER, payloadSize: 0, dataType: 0, dataCount: 0, parameter1: 0, parameter2: clientAddress >>> 0 });
}

/** REPEATER_CONFIRM: p2 = the client's address as the repeater saw it. */
export function repeaterConfirmMessage(clientAddress: number): Buffer {
  return encodeMessage({ command: Command.REPEATER_CONFIRM, payloadSize: 0, dataType: 0, dataCount: 0, parameter1: 0, parameter2: clientAddress >>> 0 });
}

/**
 * The all-zero VERSION header a repeater sends every other client when one
 * registers: libca ignores it, and a client that has gone makes its port
 * refuse it (ICMP port unreachable), which is how the repeater finds out.
 */
export function repeaterNoopMessage(): Buffer {
  return encodeMessage({ command: Command.VERSION, payloadSize: 0, dataType: 0, dataCount: 0, parameter1: 0, parameter2: 0 });
}

/** Dotted IPv4 text as the u32 the wire carries; undefined for anything else. */
export function ipv4ToU32(address: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(address);
  if (!m) return undefined;
  const bytes = m.slice(1).map(Number);
  if (bytes.some((b) => b > 255)) return undefined;
  return ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0;
}

export function u32ToIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff].join('.');
}
