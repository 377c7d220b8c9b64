/**
 * The bundle's pvxs programs (../shared/epics: softIocPVX, pvxget, pvxput,
 * pvxmonitor, pvxinfo, pvxlist) for interop tests and benchmarks: the
 * environments that keep servers and clients on loopback, running a client
 * to completion, and starting softIocPVX.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeTempDir, removeTempDir, servedForSuite, startSoftIocCli } from './cli';
import { startProcess, type Managed } from './processes';
import { serverEnv } from './pyca';
import { checkPvxsBundle, epicsBin, softIocPvxDbd } from './shared';
import { freeCaPorts } from './system';

export interface PvaPorts {
  tcp: number;
  udp: number;
}

/** A TCP port and a UDP port, free on loopback, for one PVA server. */
export async function freePvaPorts(): Promise<PvaPorts> {
  const p = await freeCaPorts();
  return { tcp: p.server, udp: p.repeater };
}

/** What a PVA client needs to find a server on loopback at `ports` (searches go to 127.0.0.1 only). */
export function pvaClientEnv(ports: PvaPorts, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    EPICS_PVA_AUTO_ADDR_LIST: 'NO',
    EPICS_PVA_ADDR_LIST: '127.0.0.1',
    EPICS_PVA_BROADCAST_PORT: String(ports.udp),
    EPICS_PVA_SERVER_PORT: String(ports.tcp),
    ...extra,
  };
}

/** A server's environment: CA as serverEnv sets it, PVA on loopback at `pva`, beacons to loopback only. */
export function pvaServerEnv(ca: { server: number; repeater: number }, pva: PvaPorts, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return serverEnv(ca.server, ca.repeater, {
    EPICS_PVAS_INTF_ADDR_LIST: '127.0.0.1',
    EPICS_PVAS_SERVER_PORT: String(pva.tcp),
    EPICS_PVAS_BROADCAST_PORT: String(pva.udp),
    EPICS_PVAS_BEACON_ADDR_LIST: '127.0.0.1',
    EPICS_PVAS_AUTO_BEACON_ADDR_LIST: 'NO',
    ...extra,
  });
}

export interface ToolRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run one of the bundle's programs to completion (killed after `timeoutMs`). */
export function runEpicsTool(tool: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 30000): Promise<ToolRun> {
  return new Promise((resolve, reject) => {
    const proc = spawn(path.join(epicsBin()!, tool), args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    proc.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const t = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`${tool} ${args.join(' ')} did not exit within ${timeoutMs} ms`)); }, timeoutMs);
    proc.on('error', (err) => { clearTimeout(t); reject(err); });
    proc.on('close', (code) => { clearTimeout(t); resolve({ code, stdout, stderr }); });
  });
}

/** softIocPVX (EPICS base softIoc with QSRV) on `db`, ready once iocInit has finished. */
export async function startSoftIocPvx(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 20000): Promise<Managed> {
  const proc = startProcess(path.join(epicsBin()!, 'softIocPVX'), ['-D', softIocPvxDbd(), '-S', ...args], env);
  try {
    await proc.waitStderrLine(/All initialization complete/, timeoutMs);
  } catch (err) {
    await proc.stop(1000);
    throw err;
  }
  return proc;
}

/**
 * What differs between two PVA servers for reasons that are not behaviour in
 * what the pvx* tools print: the time (a timestamp at the EPICS epoch, a
 * record never processed, is kept) and the server's address.
 */
export function normalisePva(text: string): string {
  return text
    .replace(/^\d{4}-\d\d-\d\d[ T][\d:.]+ /gm, '<time> ')
    .replace(/127\.0\.0\.1:\d+/g, '<server>')
    .replace(/(secondsPastEpoch int64_t = |int64_t secondsPastEpoch = )(\d+)/g, (_m, head: string, sec: string) => `${head}${sec === '631152000' ? sec : '<sec>'}`)
    .replace(/(nanoseconds int32_t = |int32_t nanoseconds = )\d+/g, '$1<ns>')
    .replace(/guid: 0x[0-9a-f]+/g, 'guid: <guid>');
}

export interface PvaServer {
  name: string;
  /** A pvx* client's environment that finds this server only. */
  env: NodeJS.ProcessEnv;
}

/** service-ioc and softIocPVX serving the same .db, each on its own loopback ports (CA and PVA). */
export interface PvaSideBySide {
  ours: PvaServer;
  base: PvaServer;
  /** The PVA ports service-ioc's ready line named. */
  oursPorts: PvaPorts | undefined;
  /** The .db file both serve. */
  dbFile: string;
  stop(): Promise<void>;
}

/** Write `db` to a temporary file and serve it with `service-ioc softioc` and with softIocPVX, both with P=`prefix`. */
export async function servePvaSideBySide(db: string, prefix: string): Promise<PvaSideBySide> {
  const dir = makeTempDir('pva-side-by-side-');
  const file = path.join(dir, 'side-by-side.db');
  fs.writeFileSync(file, db);
  const [oursCa, baseCa] = [await freeCaPorts(), await freeCaPorts()];
  let oursPva = await freePvaPorts();
  let basePva = await freePvaPorts();
  while (new Set([oursCa.server, baseCa.server, oursPva.tcp, oursPva.udp, basePva.tcp, basePva.udp]).size < 6) {
    oursPva = await freePvaPorts();
    basePva = await freePvaPorts();
  }
  let ours: Awaited<ReturnType<typeof startSoftIocCli>> | undefined;
  let base: Managed | undefined;
  const stop = async (): Promise<void> => {
    await ours?.proc.stop();
    await base?.stop();
    removeTempDir(dir);
  };
  try {
    ours = await startSoftIocCli(['-m', `P=${prefix}`, '-d', file], pvaServerEnv(oursCa, oursPva));
    base = await startSoftIocPvx(['-m', `P=${prefix}`, '-d', file], pvaServerEnv(baseCa, basePva));
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    ours: { name: 'service-ioc', env: pvaClientEnv(oursPva) },
    base: { name: 'softIocPVX', env: pvaClientEnv(basePva) },
    oursPorts: ours.pva,
    dbFile: file,
    stop,
  };
}

/**
 * Mocha hooks that serve `db` with service-ioc and softIocPVX for the
 * enclosing describe (skipped, or in CI failed, without the pvxs bundle),
 * stopped after it; the returned function gives the pair.
 */
export function pvaSideBySideHooks(db: string, prefix: string): () => PvaSideBySide {
  return servedForSuite(checkPvxsBundle, () => servePvaSideBySide(db, prefix));
}
