/**
 * Access to the real programs interop tests use, and the rule for when they
 * are missing: on a developer machine the test is skipped with the reason; in
 * CI (CI=true) a missing dependency fails the run.
 */
import { spawnSync } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as net from 'node:net';

/** Debian's python, which has python3-pyepics (a pyenv python on PATH would not). */
export const SYSTEM_PYTHON = '/usr/bin/python3';

export function inCI(): boolean {
  return process.env.CI === 'true' || process.env.CI === '1';
}

/** Returns the reason a dependency is unavailable, or undefined when it is there. */
export function checkPyepics(): string | undefined {
  const r = spawnSync(SYSTEM_PYTHON, ['-c', 'import epics; epics.ca.initialize_libca()'], { encoding: 'utf8', timeout: 20000 });
  if (r.error) return `${SYSTEM_PYTHON} not runnable: ${r.error.message}`;
  if (r.status !== 0) return `python3-pyepics is not usable: ${r.stderr.trim().split('\n').pop()}`;
  return undefined;
}

/**
 * In a mocha `before` hook: skip the suite when `reason` is set, unless in CI,
 * where it throws so the run fails.
 */
export function requireDependency(ctx: Mocha.Context, reason: string | undefined): void {
  if (!reason) return;
  if (inCI()) throw new Error(`missing system dependency in CI: ${reason}`);
  ctx.skip();
}

/** Whether a TCP port on 127.0.0.1 can be listened on. */
export async function tcpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen({ port, host: '127.0.0.1', exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/** Whether a UDP port on 127.0.0.1 can be bound. */
export async function udpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.once('error', () => resolve(false));
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/**
 * A port free for TCP and UDP, and the one after it free for UDP (beacons),
 * picked from a range unlikely to collide with real CA servers or other runs.
 */
export async function freeCaPorts(): Promise<{ server: number; repeater: number }> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 20000) * 2;
    if ((await tcpFree(port)) && (await udpFree(port)) && (await udpFree(port + 1))) return { server: port, repeater: port + 1 };
  }
  throw new Error('no free port pair found for a CA test server');
}

