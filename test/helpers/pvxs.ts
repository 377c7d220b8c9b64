/**
 * The bundle's pvxs programs (../shared/epics: softIocPVX, pvxget, pvxput,
 * pvxmonitor, pvxinfo, pvxlist) for interop tests and benchmarks: the
 * environments that keep servers and clients on loopback, running a client
 * to completion, and starting softIocPVX.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { startProcess, type Managed } from './processes';
import { serverEnv } from './pyca';
import { epicsBin, softIocPvxDbd } from './shared';
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
