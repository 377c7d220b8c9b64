/**
 * Running EPICS base's command-line CA tools (caget, caput, camonitor...) from
 * the bundle against a server, with what differs between two servers for
 * reasons that are not behaviour taken out of their output.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { epicsBin } from './shared';

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
