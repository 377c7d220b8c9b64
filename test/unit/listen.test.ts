/**
 * The listening sockets CA and pvAccess servers share the code of: one per
 * interface address on one port, falling back to a free port (the same for
 * every address) when another server has the configured one.
 */
import { strict as assert } from 'node:assert';
import * as net from 'node:net';
import { listenOnEach } from '../../src/ca/server/listen';
import { memoryLogger } from '../../src/log';
import { freeTcpPort } from '../helpers/systemd-harness';

const noAccept = { accept: (s: net.Socket): void => void s.destroy(), acceptFailed: (): void => undefined };

describe('listenOnEach', () => {
  it('with the port taken, every address listens on one free port, and the log says so once', async () => {
    const port = await freeTcpPort();
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', () => resolve()));
    const lines: string[] = [];
    try {
      const { servers, port: got } = await listenOnEach(['127.0.0.1', '127.0.0.2'], port, { ...noAccept, log: memoryLogger(lines) });
      try {
        assert.notEqual(got, port);
        assert.deepEqual(servers.map((s) => (s.address() as net.AddressInfo).port), [got, got]);
        assert.deepEqual(servers.map((s) => (s.address() as net.AddressInfo).address), ['127.0.0.1', '127.0.0.2']);
        assert.equal(lines.filter((l) => /TCP port in use, using an ephemeral port/.test(l)).length, 1, lines.join('\n'));
      } finally {
        for (const s of servers) s.close();
      }
    } finally {
      blocker.close();
    }
  });

  it('an address this host does not have fails, and the sockets already opened are closed', async () => {
    const port = await freeTcpPort();
    await assert.rejects(listenOnEach(['127.0.0.1', '192.0.2.1'], port, { ...noAccept, log: memoryLogger([]) }), /EADDRNOTAVAIL/);
    // The first address's socket is gone: the port is free again.
    const again = net.createServer();
    await new Promise<void>((resolve, reject) => {
      again.once('error', reject);
      again.listen(port, '127.0.0.1', () => resolve());
    });
    again.close();
  });
});
