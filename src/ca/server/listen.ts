/**
 * The TCP listening sockets of a server, for Channel Access and pvAccess
 * alike: one on each interface address, all on one port. When another server
 * already has the configured port, the first socket takes any free port and
 * the others the same one, as RSRV (caservertask.c) and pvxs (ServIface) fall
 * back; the server then advertises the port taken.
 */
import * as net from 'node:net';
import type { Logger } from '../../log';

export interface ListenOptions {
  /** Each accepted connection. */
  accept(socket: net.Socket): void;
  /** accept() failed (out of file descriptors, say). */
  acceptFailed(err: NodeJS.ErrnoException): void;
  log: Logger;
}

/** Listen on `port` (0: any) at each of `hosts`; resolves with the sockets and the port they share. */
export async function listenOnEach(hosts: readonly string[], port: number, opts: ListenOptions): Promise<{ servers: net.Server[]; port: number }> {
  const servers: net.Server[] = [];
  let shared = port;
  for (const host of hosts) {
    const server = net.createServer({ noDelay: true }, (socket) => opts.accept(socket));
    try {
      await listen(server, shared, host);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || shared === 0) {
        for (const s of servers) s.close();
        throw err;
      }
      opts.log.warn('TCP port in use, using an ephemeral port', { port: shared, host });
      await listen(server, 0, host);
    }
    shared = (server.address() as net.AddressInfo).port;
    server.on('error', (err: NodeJS.ErrnoException) => opts.acceptFailed(err));
    servers.push(server);
  }
  return { servers, port: shared };
}

function listen(server: net.Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen({ port, host, exclusive: true }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}
