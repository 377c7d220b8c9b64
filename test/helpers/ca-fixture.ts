/**
 * Start the in-memory CA test server (test/fixtures/ca-test-server.ts) as a
 * child process on free loopback ports.
 */
import * as path from 'node:path';
import { startProcess, type Managed } from './processes';
import { serverEnv } from './pyca';
import { freeCaPorts } from './system';

export interface TestServer {
  port: number;
  repeaterPort: number;
  tcpPort: number;
  proc: Managed;
  command(c: Record<string, unknown>): Promise<void>;
  stop(): Promise<void>;
}

export async function startTestServer(opts: { bulk?: number; ports?: { server: number; repeater: number } } = {}): Promise<TestServer> {
  const ports = opts.ports ?? await freeCaPorts();
  const script = path.resolve(__dirname, '../fixtures/ca-test-server.js');
  const args = [script, ...(opts.bulk ? ['--bulk', String(opts.bulk)] : [])];
  const proc = startProcess(process.execPath, args, serverEnv(ports.server, ports.repeater));
  const m = await proc.waitLine(/^READY (\d+)/);
  let acks = proc.lines.filter((l) => l === 'OK').length;
  return {
    port: ports.server,
    repeaterPort: ports.repeater,
    tcpPort: Number(m[1]),
    proc,
    async command(c) {
      const want = ++acks;
      proc.proc.stdin!.write(JSON.stringify(c) + '\n');
      await new Promise<void>((resolve) => {
        const check = (): void => {
          if (proc.lines.filter((l) => l === 'OK').length >= want) resolve();
        };
        proc.onLine(check);
        check();
      });
    },
    async stop() {
      await proc.stop();
    },
  };
}
