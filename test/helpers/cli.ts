/**
 * Running the built command line (dist/cli.js, from `npm run build`) as a
 * user would: one-shot commands with their exit code and output, and a
 * long-running `softioc` that is ready once it prints its port.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startProcess, type Managed } from './processes';
import { REPO_ROOT } from './pyca';
import { requireDependency } from './system';

export const CLI_JS = path.join(REPO_ROOT, 'dist/cli.js');

/** Throws a readable error when dist/ has not been built. */
export function requireBuiltCli(): void {
  if (!fs.existsSync(CLI_JS)) throw new Error(`${CLI_JS} is missing: run "npm run build" first`);
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Run `node dist/cli.js ...args` to completion (killed after `timeoutMs`). */
export function runCli(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 20000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [CLI_JS, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    proc.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const t = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`service-ioc ${args.join(' ')} did not exit within ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}`));
    }, timeoutMs);
    proc.on('error', (err) => { clearTimeout(t); reject(err); });
    proc.on('close', (code, signal) => {
      clearTimeout(t);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

export const SOFTIOC_READY = /^service-ioc softioc: (\d+) records, CA on port (\d+)(?:, PVA on TCP port (\d+) and UDP port (\d+))?$/;

export interface RunningSoftIoc {
  proc: Managed;
  records: number;
  /** The TCP port the IOC reported. */
  port: number;
  /** The PVA TCP and UDP ports it reported (undefined with --no-pva). */
  pva: { tcp: number; udp: number } | undefined;
  /** Resolves with the exit code and signal once the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Start `node dist/cli.js softioc ...args` and wait for its ready line. */
export async function startSoftIocCli(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 15000): Promise<RunningSoftIoc> {
  const proc = startProcess(process.execPath, [CLI_JS, 'softioc', ...args], env);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    if (proc.proc.exitCode !== null || proc.proc.signalCode !== null) resolve({ code: proc.proc.exitCode, signal: proc.proc.signalCode });
    else proc.proc.once('exit', (code, signal) => resolve({ code, signal }));
  });
  try {
    const m = await proc.waitLine(SOFTIOC_READY, timeoutMs);
    return { proc, records: Number(m[1]), port: Number(m[2]), pva: m[3] ? { tcp: Number(m[3]), udp: Number(m[4]) } : undefined, exited };
  } catch (err) {
    await proc.stop(1000);
    throw err;
  }
}

/** A fresh temporary directory; remove it with `removeTempDir`. */
export function makeTempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function removeTempDir(dir: string | undefined): void {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
}

/** Something a suite started and stops at its end. */
export interface Stoppable {
  stop(): Promise<unknown>;
}

/**
 * The hooks of a suite that runs an IOC: after a failed test, the IOC's
 * stderr; at the end, everything `toStop` gives stopped in its order (clients
 * first, the user manager last) and the suite's directory removed.
 */
export function iocSuiteHooks(ioc: () => Managed | undefined, toStop: () => ReadonlyArray<Stoppable | undefined>, dir: () => string | undefined): void {
  afterEach(function () {
    const p = ioc();
    if (this.currentTest?.state === 'failed' && p) process.stderr.write(`IOC stderr:\n${p.stderr().slice(-3000)}\n`);
  });

  after(async () => {
    for (const s of toStop()) await s?.stop();
    removeTempDir(dir());
  });
}

/**
 * Mocha hooks for the enclosing describe: `serve()` once `missing()` names no
 * missing dependency (else the suite is skipped, or in CI fails, with that
 * reason) and the CLI is built; what it served is stopped after the suite.
 * The returned function gives what was served.
 */
export function servedForSuite<T extends { stop(): Promise<void> }>(missing: () => string | undefined, serve: () => Promise<T>): () => T {
  let served: T | undefined;
  before(async function () {
    requireDependency(this, missing());
    requireBuiltCli();
    served = await serve();
  });
  after(async () => {
    await served?.stop();
  });
  return () => served!;
}
