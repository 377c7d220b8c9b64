/**
 * Child processes for interop tests: started with a line-oriented readiness
 * signal, always stopped (a registry kills leftovers when the test run ends).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as readline from 'node:readline';

const live = new Set<ChildProcess>();

process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

export interface Managed {
  proc: ChildProcess;
  /** Lines printed on stdout so far. */
  lines: string[];
  /** Wait for a stdout line matching `re`, among lines from index `from` on (default: all). */
  waitLine(re: RegExp, timeoutMs?: number, from?: number): Promise<RegExpMatchArray>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code. */
  stop(graceMs?: number): Promise<number | null>;
  stderr(): string;
  /** How many stderr lines were printed so far (an index for `waitStderrLine` and `stderrLines`). */
  stderrLineCount(): number;
  /** The stderr lines from index `from` on (of the last few thousand kept). */
  stderrLines(from?: number): string[];
  /** Wait for a stderr line matching `re`, among lines from index `from` on (default: all kept). */
  waitStderrLine(re: RegExp, timeoutMs?: number, from?: number): Promise<RegExpMatchArray>;
  /** Call `cb` for every stdout line from now on. */
  onLine(cb: (line: string) => void): void;
}

export function startProcess(cmd: string, args: string[], env: NodeJS.ProcessEnv): Managed {
  const proc = spawn(cmd, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
  live.add(proc);
  const lines: string[] = [];
  let err = '';
  const waiters: Array<{ re: RegExp; resolve: (m: RegExpMatchArray) => void }> = [];
  const lineListeners: Array<(line: string) => void> = [];
  readline.createInterface({ input: proc.stdout! }).on('line', (line) => {
    lines.push(line);
    for (const l of lineListeners) l(line);
    for (const w of [...waiters]) {
      const m = w.re.exec(line);
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  });
  // stderr lines, the last MAX_ERR_LINES kept; errBase is the index of errLines[0].
  const MAX_ERR_LINES = 5000;
  const errLines: string[] = [];
  let errBase = 0;
  const errWaiters: Array<{ re: RegExp; from: number; resolve: (m: RegExpMatchArray) => void }> = [];
  readline.createInterface({ input: proc.stderr! }).on('line', (line) => {
    errLines.push(line);
    if (errLines.length > MAX_ERR_LINES) {
      errLines.shift();
      errBase++;
    }
    const index = errBase + errLines.length - 1;
    for (const w of [...errWaiters]) {
      const m = index >= w.from ? w.re.exec(line) : null;
      if (m) {
        errWaiters.splice(errWaiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  });
  proc.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
    if (err.length > 100_000) err = err.slice(-50_000);
  });
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => {
    live.delete(proc);
    resolve(code);
  }));
  return {
    proc,
    lines,
    stderr: () => err,
    stderrLineCount: () => errBase + errLines.length,
    stderrLines: (from = 0) => errLines.slice(Math.max(0, from - errBase)),
    waitStderrLine(re, timeoutMs = 10000, from = 0) {
      for (let i = Math.max(0, from - errBase); i < errLines.length; i++) {
        const m = re.exec(errLines[i]);
        if (m) return Promise.resolve(m);
      }
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`timed out waiting for ${re} on the stderr of ${cmd}; stderr: ${err.slice(-2000)}`)), timeoutMs);
        const onExit = (code: number | null): void => { clearTimeout(t); reject(new Error(`${cmd} exited with ${code} before ${re} on stderr; stderr: ${err.slice(-2000)}`)); };
        errWaiters.push({ re, from, resolve: (m) => { clearTimeout(t); proc.off('exit', onExit); resolve(m); } });
        proc.once('exit', onExit);
      });
    },
    onLine: (cb) => { lineListeners.push(cb); },
    waitLine(re, timeoutMs = 10000, from = 0) {
      for (const l of lines.slice(from)) {
        const m = re.exec(l);
        if (m) return Promise.resolve(m);
      }
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`timed out waiting for ${re} from ${cmd}; stderr: ${err.slice(-2000)}`)), timeoutMs);
        const onExit = (code: number | null): void => { clearTimeout(t); reject(new Error(`${cmd} exited with ${code} before ${re}; stderr: ${err.slice(-2000)}`)); };
        waiters.push({ re, resolve: (m) => { clearTimeout(t); proc.off('exit', onExit); resolve(m); } });
        proc.once('exit', onExit);
      });
    },
    async stop(graceMs = 3000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}
