/**
 * Running EPICS base's command-line CA tools (caget, caput, camonitor...) from
 * the bundle against a server, with what differs between two servers for
 * reasons that are not behaviour taken out of their output.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { Command, DbrType } from '../../src/ca/protocol/constants';
import * as m from '../../src/ca/protocol/messages';
import { ScriptedClient } from './ca-client';
import { makeTempDir, removeTempDir, servedForSuite, startSoftIocCli } from './cli';
import { startProcess } from './processes';
import { clientEnv, serverEnv } from './pyca';
import { checkEpicsBundle, epicsBin, softIocDbd } from './shared';
import { freeCaPorts } from './system';

export interface ToolResult {
  code: number | null;
  /** stdout then stderr, timestamps taken out. */
  out: string;
}

/** What differs between two servers for reasons that are not behaviour: the time, and the port in cainfo's Host. */
export function normalise(text: string): string {
  return text
    .replace(/\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+/g, '<time>')
    .replace(/^(\s*Current Time: ).*$/gm, '$1<time>')
    .replace(/^(\s*Host:\s+)\S+:\d+$/gm, '$1<host>');
}

export interface Server {
  name: string;
  env: NodeJS.ProcessEnv;
}

export function runTool(server: Server, tool: string, args: string[], timeoutMs = 20000): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const proc = spawn(path.join(epicsBin()!, tool), args, { env: server.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    proc.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const t = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`${tool} ${args.join(' ')} (${server.name}) did not exit`)); }, timeoutMs);
    proc.on('error', (err) => { clearTimeout(t); reject(err); });
    proc.on('close', (code) => { clearTimeout(t); resolve({ code, out: normalise(stdout + stderr) }); });
  });
}

/** service-ioc and EPICS base's softIoc serving the same .db, each on its own loopback ports. */
export interface SideBySide {
  ours: Server;
  base: Server;
  stop(): Promise<void>;
}

/** Write `db` to a temporary file and serve it with `service-ioc softioc` and with softIoc, both with P=`prefix`. */
export async function serveSideBySide(db: string, prefix: string): Promise<SideBySide> {
  const dir = makeTempDir('side-by-side-');
  const file = path.join(dir, 'side-by-side.db');
  fs.writeFileSync(file, db);
  const oursPorts = await freeCaPorts();
  let basePorts = await freeCaPorts();
  while (basePorts.server === oursPorts.server) basePorts = await freeCaPorts();
  const ours = await startSoftIocCli(['-m', `P=${prefix}`, '-d', file], serverEnv(oursPorts.server, oursPorts.repeater));
  const base = startProcess(path.join(epicsBin()!, 'softIoc'), ['-D', softIocDbd(), '-S', '-m', `P=${prefix}`, '-d', file], serverEnv(basePorts.server, basePorts.repeater));
  const stop = async (): Promise<void> => {
    await ours.proc.stop();
    await base.stop();
    removeTempDir(dir);
  };
  try {
    await base.waitStderrLine(/All initialization complete/, 15000);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    ours: { name: 'service-ioc', env: clientEnv(oursPorts.server, oursPorts.repeater) },
    base: { name: 'softIoc', env: clientEnv(basePorts.server, basePorts.repeater) },
    stop,
  };
}

/**
 * `db` served side by side for the describe block that calls this (mocha
 * before/after hooks; skipped with the reason when the EPICS bundle is
 * missing, outside CI); the pair once served.
 */
export function sideBySideHooks(db: string, prefix: string): () => SideBySide {
  return servedForSuite(checkEpicsBundle, () => serveSideBySide(db, prefix));
}

/**
 * One WRITE_NOTIFY of `value` (one number, or an array of them) as `dbrType`
 * (SHORT, FLOAT, ENUM, CHAR, LONG or DOUBLE: numeric puts, which caput never
 * sends) to `pv` on `server`, on a circuit of its own; resolves with the ECA
 * status of the reply.
 */
export async function caPutNumber(server: Server, pv: string, dbrType: DbrType, value: number | readonly number[]): Promise<number> {
  const values = typeof value === 'number' ? [value] : value;
  const size: { readonly [t: number]: number } = { [DbrType.SHORT]: 2, [DbrType.FLOAT]: 4, [DbrType.ENUM]: 2, [DbrType.CHAR]: 1, [DbrType.LONG]: 4, [DbrType.DOUBLE]: 8 };
  const width = size[dbrType];
  if (width === undefined) throw new Error(`caPutNumber: DBR type ${dbrType} is not a number`);
  const payload = Buffer.alloc(Math.max(8, Math.ceil((width * values.length) / 8) * 8));
  values.forEach((v, i) => {
    const at = i * width;
    switch (dbrType) {
      case DbrType.SHORT: payload.writeInt16BE(v, at); break;
      case DbrType.FLOAT: payload.writeFloatBE(v, at); break;
      case DbrType.ENUM: payload.writeUInt16BE(v, at); break;
      case DbrType.CHAR: payload.writeUInt8(v, at); break;
      case DbrType.LONG: payload.writeInt32BE(v, at); break;
      default: payload.writeDoubleBE(v, at); break;
    }
  });
  const sock = net.connect(Number(server.env.EPICS_CA_SERVER_PORT), '127.0.0.1');
  try {
    await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
    const client = new ScriptedClient(sock);
    client.send(Buffer.concat([m.clientVersion(), m.clientNameMessage('op'), m.hostNameMessage('opi'), m.createChanRequest(pv, 1)]));
    const chan = await client.waitFor((x) => x.command === Command.CREATE_CHAN, `CREATE_CHAN for ${pv} (${server.name})`, 10000);
    client.send(m.writeRequest(true, dbrType, values.length, chan.parameter2, 1, payload));
    const reply = await client.waitFor((x) => x.command === Command.WRITE_NOTIFY, `WRITE_NOTIFY for ${pv} (${server.name})`, 10000);
    return reply.parameter1;
  } finally {
    sock.destroy();
  }
}
