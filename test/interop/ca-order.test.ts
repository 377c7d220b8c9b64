/**
 * Interop: requests take effect in the order a real libca client sends them,
 * and a server under a small file limit, flooded with silent connections,
 * still lets a real client in. Clients: Debian's libca through pyepics, and
 * the C tools of EPICS base (caput, caget) from ../shared/epics.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { CLI_JS, makeTempDir, removeTempDir, requireBuiltCli, SOFTIOC_READY, startSoftIocCli, type RunningSoftIoc } from '../helpers/cli';
import { startProcess } from '../helpers/processes';
import { clientEnv, PyCa, serverEnv } from '../helpers/pyca';
import { checkEpicsBundle, epicsBin } from '../helpers/shared';
import { checkPyepics, freeCaPorts, requireDependency } from '../helpers/system';

const DB = `record(longout, "sec:counter") { field(VAL, "50") }
record(ao, "sec:setpoint") { field(PREC, "2") }
`;

/** Run a bundle tool to completion. */
function runTool(tool: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 20000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(path.join(epicsBin()!, tool), args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    proc.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const t = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`${tool} ${args.join(' ')} did not exit`)); }, timeoutMs);
    proc.on('close', (code) => { clearTimeout(t); resolve({ code, stdout, stderr }); });
  });
}

describe('interop: request order under real clients', function () {
  this.timeout(60000);
  let dir: string;
  let ioc: RunningSoftIoc | undefined;
  let ports: { server: number; repeater: number };
  let py: PyCa | undefined;

  before(async function () {
    requireDependency(this, checkPyepics() ?? checkEpicsBundle());
    requireBuiltCli();
    dir = makeTempDir('ca-order-');
    fs.writeFileSync(path.join(dir, 'order.db'), DB);
    ports = await freeCaPorts();
    ioc = await startSoftIocCli(['-d', path.join(dir, 'order.db')], serverEnv(ports.server, ports.repeater));
    py = await PyCa.start(clientEnv(ports.server, ports.repeater));
  });

  after(async () => {
    await py?.stop();
    await ioc?.proc.stop();
    removeTempDir(dir);
  });

  it('pyepics: ca.put then ca.get on one channel reads the new value, 300 times out of 300', async () => {
    const r = await py!.request('putget', { pv: 'sec:setpoint', n: 300, start: 1 });
    assert.equal(r.stale, 0, `stale reads: ${JSON.stringify(r.examples)}`);
  });

  it('caput prints the value it wrote as "New", read back on the same channel', async () => {
    const env = clientEnv(ports.server, ports.repeater);
    for (const v of [7, 8, 9]) {
      const r = await runTool('caput', ['sec:counter', String(v)], env);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^New : sec:counter\\s+${v}$`, 'm'), r.stdout);
    }
    const c = await runTool('caput', ['-c', 'sec:counter', '10'], env);
    assert.match(c.stdout, /^New : sec:counter\s+10$/m, c.stdout);
  });
});

describe('interop: silent connections under a small file limit', function () {
  this.timeout(120000);
  let dir: string;
  let ports: { server: number; repeater: number };
  const sockets: net.Socket[] = [];
  let ioc: ReturnType<typeof startProcess> | undefined;

  before(async function () {
    requireDependency(this, checkEpicsBundle());
    requireBuiltCli();
    dir = makeTempDir('ca-limits-');
    fs.writeFileSync(path.join(dir, 'order.db'), DB);
    ports = await freeCaPorts();
    // The IOC runs as the shipped unit would without LimitNOFILE: a limit of 1024 open files (soft and hard: Node raises a soft limit to the hard one at start).
    ioc = startProcess('/bin/bash', ['-c', `ulimit -n 1024 && exec "${process.execPath}" "${CLI_JS}" softioc -d "${path.join(dir, 'order.db')}"`], serverEnv(ports.server, ports.repeater));
    await ioc.waitLine(SOFTIOC_READY, 15000);
  });

  after(async () => {
    for (const s of sockets) s.destroy();
    await ioc?.stop();
    removeTempDir(dir);
  });

  it('with 1100 connections that never send a byte open, a new caget gets its value, and the log says what happened once', async () => {
    for (let i = 0; i < 1100; i++) {
      const s = net.connect({ host: '127.0.0.1', port: ports.server });
      s.on('error', () => undefined);
      sockets.push(s);
      await new Promise<void>((resolve) => { s.once('connect', () => resolve()); s.once('error', () => resolve()); s.once('close', () => resolve()); });
    }
    // caget's own limit is the bound: -w 10 gives up after 10 s.
    const r = await runTool('caget', ['-w', '10', 'sec:counter'], clientEnv(ports.server, ports.repeater), 30000);
    assert.equal(r.code, 0, `caget failed: ${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /^sec:counter\s+50$/m);
    const lines = ioc!.lines.concat(ioc!.stderr().split('\n'));
    const limitLines = lines.filter((l) => /circuits open, the most this server takes|out of file descriptors/.test(l));
    assert.ok(limitLines.length >= 1 && limitLines.length <= 4, `one line per burst, got:\n${limitLines.join("\n")}\nstdout: ${ioc!.lines.join("\n")}\nstderr: ${ioc!.stderr().slice(-3000)}`);
  });
});
