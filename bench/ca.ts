/**
 * Channel Access server benchmarks against real libca (Debian's pyepics):
 *  - connect and first get of 10,000 PVs from one client;
 *  - monitor throughput, one PV and 1,000 PVs changing as fast as possible;
 *  - server RSS with 10,000 PVs, and with 100 clients each monitoring 100 PVs.
 * Prints figures; asserts nothing.
 */
import * as net from 'node:net';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { startTestServer, type TestServer } from '../test/helpers/ca-fixture';
import { clientEnv } from '../test/helpers/pyca';
import { SYSTEM_PYTHON } from '../test/helpers/system';
import { MessageFramer } from '../src/ca/protocol/framer';
import * as m from '../src/ca/protocol/messages';
import { Command, DBE_VALUE, DbrType } from '../src/ca/protocol/constants';

const PY = path.resolve(__dirname, '../../bench/py/ca_client_bench.py');

export interface Figure {
  measure: string;
  value: string;
  target?: string;
}

function python(args: string[], env: NodeJS.ProcessEnv, onLine?: (line: string) => void): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    const p = spawn(SYSTEM_PYTHON, [PY, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      for (const line of d.toString().split('\n')) if (line) onLine?.(line);
    });
    p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    p.on('close', (code, signal) => {
      const last = out.trim().split('\n').pop() ?? '';
      // libca may crash while the process exits with monitors in flight; the figures were printed before.
      if (last.startsWith('{')) resolve(JSON.parse(last) as Record<string, number>);
      else if (code !== 0) reject(new Error(`bench client ${args.join(" ")} exited ${code ?? signal}; stdout: ${out.slice(-500)}; stderr: ${err.slice(-300)}`));
      else resolve(JSON.parse(last) as Record<string, number>);
    });
  });
}

async function stats(server: TestServer): Promise<{ rss: number; cpuMs: number }> {
  const before = server.proc.lines.length;
  server.proc.proc.stdin!.write(JSON.stringify({ stats: true }) + '\n');
  const match = await server.proc.waitLine(/^STATS (.*)$/, 10000, before);
  return JSON.parse(match[1]) as { rss: number; cpuMs: number };
}

const mb = (b: number): string => `${(b / 1048576).toFixed(1)} MB`;

/** One CA circuit from this process: creates channels and monitors, counts updates. */
async function loadClient(port: number, names: string[]): Promise<{ socket: net.Socket; updates: () => number }> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const framer = new MessageFramer({ maxPayload: 1 << 20, requireAlignment: true });
  let updates = 0;
  let created = 0;
  const done = new Promise<void>((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      for (const msg of framer.push(chunk)) {
        if (msg.command === Command.CREATE_CHAN) {
          socket.write(m.eventAddRequest(DbrType.TIME_DOUBLE, 1, msg.parameter2, msg.parameter1, DBE_VALUE));
          if (++created === names.length) resolve();
        } else if (msg.command === Command.EVENT_ADD) updates++;
      }
    });
  });
  socket.write(Buffer.concat([m.clientVersion(), m.clientNameMessage('bench'), m.hostNameMessage('bench'), ...names.map((n, i) => m.createChanRequest(n, i))]));
  await done;
  return { socket, updates: () => updates };
}

export async function benchCa(): Promise<Figure[]> {
  const figures: Figure[] = [];
  const server = await startTestServer({ bulk: 10000 });
  try {
    const env = clientEnv(server.port, server.repeaterPort);
    const idle = await stats(server);
    figures.push({ measure: 'server RSS with 10,000 PVs, no clients', value: mb(idle.rss) });

    for (const [mode, label] of [['connect', 'libca calls through pyepics\' binding'], ['connect-py', 'pyepics Python API, client-bound']]) {
      const runs: number[] = [];
      for (let i = 0; i < 4; i++) {
        const r = await python([mode, '10000'], env);
        if (r.wrong_values) throw new Error(`${r.wrong_values} wrong values read`);
        runs.push(r.connect_and_get_s);
      }
      const first = runs.shift()!;
      runs.sort((a, b) => a - b);
      figures.push({
        measure: `connect + first get, 10,000 PVs, one client (${label})`,
        value: `${runs[1].toFixed(3)} s median of 3 warm runs; first run after start ${first.toFixed(3)} s`,
        target: mode === 'connect' ? '<= 0.3 s (softIoc ~0.25 s)' : undefined,
      });
    }

    for (const n of [1, 1000]) {
      const cpu0 = await stats(server);
      const seconds = 3;
      const result = python(['monitor', String(n), String(seconds + 1)], env, (line) => {
        if (line === 'SUBSCRIBED') server.proc.proc.stdin!.write(JSON.stringify({ spin: { pvs: n, seconds } }) + '\n');
      });
      const r = await result;
      const cpu1 = await stats(server);
      const spun = server.proc.lines.filter((l) => l.startsWith('SPUN')).pop() ?? 'SPUN 0';
      const posted = Number(spun.split(' ')[1]);
      const serverCpu = (cpu1.cpuMs - cpu0.cpuMs) / 1000;
      figures.push({
        measure: `monitor throughput, ${n} PV${n > 1 ? 's' : ''} changing as fast as possible`,
        value: `${Math.round(r.events_per_s)} updates/s received of ${Math.round(posted / seconds)}/s posted; CPU s: client ${r.client_cpu_s.toFixed(2)}, server ${serverCpu.toFixed(2)} (incl. posting)`,
        target: 'the client is the bottleneck',
      });
    }

    const clients = [];
    for (let c = 0; c < 100; c++) {
      clients.push(await loadClient(server.tcpPort, Array.from({ length: 100 }, (_, i) => `bulk:${(c * 100 + i) % 10000}`)));
    }
    const loaded = await stats(server);
    figures.push({ measure: 'server RSS, 10,000 PVs and 100 clients each monitoring 100 PVs', value: `${mb(loaded.rss)} (+${mb(loaded.rss - idle.rss)})` });
    for (const c of clients) c.socket.destroy();
  } finally {
    await server.stop();
  }
  return figures;
}
