/**
 * Where a manager's control socket is, when the configuration names its
 * systemd unit instead of an address: the manager's own setting
 * (QSERVER_ZMQ_CONTROL_ADDRESS_FOR_SERVER, a bind address: `*` becomes
 * localhost), else the client setting (QSERVER_ZMQ_CONTROL_ADDRESS), else the
 * default, from the unit's environment as its service manager gives it to
 * the manager (read by a UnitEnvironmentReader).
 */
import { ENCODING_VAR, isEncoding, type Encoding } from './protocol';

/** How the bridge reads a unit's environment: from systemd over D-Bus, wired by the IOC. */
export interface UnitEnvironmentReader {
  /**
   * The unit's environment as the service gets it. Waits up to `waitMs` for
   * the service manager to be reachable; rejects with an Error that says why
   * it cannot be read.
   */
  environment(unit: string, opts: { waitMs: number; timeoutMs: number }): Promise<ReadonlyMap<string, string>>;
}

export const SERVER_ADDRESS_VAR = 'QSERVER_ZMQ_CONTROL_ADDRESS_FOR_SERVER';
export const CLIENT_ADDRESS_VAR = 'QSERVER_ZMQ_CONTROL_ADDRESS';
/** The info (console and status) socket's, in the same pair: the manager's bind address, the client's address. */
export const SERVER_INFO_ADDRESS_VAR = 'QSERVER_ZMQ_INFO_ADDRESS_FOR_SERVER';
export const CLIENT_INFO_ADDRESS_VAR = 'QSERVER_ZMQ_INFO_ADDRESS';

/** A client's address for a bind address (`*` and 0.0.0.0 become localhost), else the client setting. */
function clientAddress(env: ReadonlyMap<string, string>, serverVar: string, clientVar: string): string | undefined {
  const server = env.get(serverVar);
  if (server) return server.replace(/^tcp:\/\/(\*|0\.0\.0\.0)(?=:)/, 'tcp://localhost');
  return env.get(clientVar) || undefined;
}

/** The address a client connects to, given the unit's environment; undefined when it sets neither variable. */
export function controlAddressFromEnvironment(env: ReadonlyMap<string, string>): string | undefined {
  return clientAddress(env, SERVER_ADDRESS_VAR, CLIENT_ADDRESS_VAR);
}

/**
 * The info socket a client subscribes to, given the unit's environment;
 * undefined when it sets neither variable (the manager publishes only with
 * --zmq-publish-console ON, so no address is no stream to follow).
 */
export function infoAddressFromEnvironment(env: ReadonlyMap<string, string>): string | undefined {
  return clientAddress(env, SERVER_INFO_ADDRESS_VAR, CLIENT_INFO_ADDRESS_VAR);
}

/** The manager's --zmq-encoding from its environment (QSERVER_ZMQ_ENCODING); undefined when unset. */
export function encodingFromEnvironment(env: ReadonlyMap<string, string>): Encoding | { invalid: string } | undefined {
  const v = env.get(ENCODING_VAR)?.trim();
  if (!v) return undefined;
  return isEncoding(v) ? v : { invalid: v };
}
