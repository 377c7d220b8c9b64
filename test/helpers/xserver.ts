/**
 * A virtual X server (Xvfb) for the operator tools, MEDM and ALH: started on
 * a display number it picks itself (-displayfd: it writes the number once it
 * accepts clients), with the font path MEDM needs given on the command line
 * (a bare Xvfb resets a path set later with xset when its last client
 * exits), and always stopped. Screenshots of a window come from xwd, turned
 * into PNG files and into pixels by ImageMagick.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const XVFB = '/usr/bin/Xvfb';
/** The X11 font folders of Debian's xfonts-base, -75dpi, -100dpi and -scalable. */
export const X_FONT_DIRS = ['misc', '75dpi', '100dpi', 'Type1'].map((d) => path.join('/usr/share/fonts/X11', d));

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

function onPath(cmd: string): boolean {
  return spawnSync('/bin/sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).status === 0;
}

/** The reason the X tools the operator tests need are missing, or undefined. */
export function checkXTools(): string | undefined {
  if (!fs.existsSync(XVFB)) return `${XVFB} is missing (Debian package xvfb)`;
  for (const [cmd, pkg] of [['xwd', 'x11-apps'], ['xwininfo', 'x11-utils'], ['convert', 'imagemagick']]) {
    if (!onPath(cmd)) return `${cmd} is not on PATH (Debian package ${pkg})`;
  }
  for (const d of X_FONT_DIRS) if (!fs.existsSync(path.join(d, 'fonts.dir'))) return `no X fonts in ${d} (Debian xfonts-base, xfonts-75dpi, xfonts-100dpi, xfonts-scalable)`;
  return undefined;
}

/** An RGB image: 3 bytes a pixel, rows top to bottom. */
export interface Pixels {
  width: number;
  height: number;
  data: Buffer;
}

export function pixelAt(img: Pixels, x: number, y: number): [number, number, number] {
  const i = (y * img.width + x) * 3;
  return [img.data[i], img.data[i + 1], img.data[i + 2]];
}

/** Parse a binary PPM (P6, maxval 255), as `convert ... ppm:-` writes it. */
export function parsePpm(buf: Buffer): Pixels {
  const fields: string[] = [];
  let i = 0;
  while (fields.length < 4) {
    while (/\s/.test(String.fromCharCode(buf[i]))) i++;
    if (buf[i] === 0x23) {
      while (buf[i] !== 0x0a) i++;
      continue;
    }
    let s = '';
    while (!/\s/.test(String.fromCharCode(buf[i]))) s += String.fromCharCode(buf[i++]);
    fields.push(s);
  }
  i++;
  if (fields[0] !== 'P6' || fields[3] !== '255') throw new Error(`not an 8-bit binary PPM: ${fields.join(' ')}`);
  const [width, height] = [Number(fields[1]), Number(fields[2])];
  return { width, height, data: buf.subarray(i, i + width * height * 3) };
}

export interface XWindow {
  id: string;
  name: string;
  width: number;
  height: number;
  x: number;
  y: number;
}

export class XServer {
  private exited: Promise<void>;

  private constructor(readonly proc: ChildProcess, readonly display: string) {
    this.exited = new Promise((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) resolve();
      else proc.once('exit', () => resolve());
    });
  }

  /** Start Xvfb with `fontDirs` (after Debian's X11 fonts); resolves once it accepts clients. */
  static async start(fontDirs: readonly string[] = [], opts: { width?: number; height?: number; timeoutMs?: number } = {}): Promise<XServer> {
    const fp = [...X_FONT_DIRS, ...fontDirs].join(',');
    const screen = `${opts.width ?? 1600}x${opts.height ?? 1200}x24`;
    // fd 3: Xvfb writes the display number there when it is ready for clients.
    // -noreset: an X server resets when its last client leaves (a MEDM stopped, an
    // xwininfo done), and a client connecting during the reset gets "Can't open display".
    const proc = spawn(XVFB, ['-displayfd', '3', '-nolisten', 'tcp', '-noreset', '-fp', fp, '-screen', '0', screen], {
      stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
    });
    live.add(proc);
    proc.once('exit', () => live.delete(proc));
    let err = '';
    proc.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    const number = await new Promise<string>((resolve, reject) => {
      let got = '';
      const t = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`Xvfb did not report a display in ${opts.timeoutMs ?? 20000} ms: ${err.slice(-2000)}`)); }, opts.timeoutMs ?? 20000);
      const onExit = (code: number | null): void => { clearTimeout(t); reject(new Error(`Xvfb exited with ${code}: ${err.slice(-2000)}`)); };
      proc.once('exit', onExit);
      (proc.stdio[3] as NodeJS.ReadableStream).on('data', (d: Buffer) => {
        got += d.toString();
        if (got.includes('\n')) {
          clearTimeout(t);
          proc.off('exit', onExit);
          resolve(got.trim());
        }
      });
    });
    const x = new XServer(proc, `:${number}`);
    // The font path is the one asked for (xset q would show it too).
    const info = spawnSync('xwininfo', ['-display', x.display, '-root'], { encoding: 'utf8', timeout: 10000 });
    if (info.status !== 0) {
      await x.stop();
      throw new Error(`Xvfb on ${x.display} does not answer: ${info.stderr}`);
    }
    return x;
  }

  /** The environment for an X client on this server. */
  env(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
    return { ...base, DISPLAY: this.display };
  }

  /** The top-level windows (children of the root) with a name. */
  windows(): XWindow[] {
    const r = spawnSync('xwininfo', ['-display', this.display, '-root', '-children'], { encoding: 'utf8', timeout: 10000 });
    if (r.status !== 0) throw new Error(`xwininfo: ${r.stderr}`);
    const out: XWindow[] = [];
    for (const line of r.stdout.split('\n')) {
      const m = /^\s+(0x[0-9a-f]+) "(.*)": \(.*\)\s+(\d+)x(\d+)\+(-?\d+)\+(-?\d+)/.exec(line);
      if (m) out.push({ id: m[1], name: m[2], width: Number(m[3]), height: Number(m[4]), x: Number(m[5]), y: Number(m[6]) });
    }
    return out;
  }

  /** The window's pixels as xwd reads them (the root window when `id` is undefined). */
  capture(id?: string): Buffer {
    const r = spawnSync('xwd', ['-display', this.display, '-silent', ...(id ? ['-id', id] : ['-root'])], { timeout: 20000, maxBuffer: 64 << 20 });
    if (r.status !== 0) throw new Error(`xwd: ${r.stderr.toString()}`);
    return r.stdout;
  }

  /** An xwd dump as RGB pixels. */
  static pixels(xwd: Buffer): Pixels {
    const r = spawnSync('convert', ['xwd:-', '-depth', '8', 'ppm:-'], { input: xwd, timeout: 20000, maxBuffer: 64 << 20 });
    if (r.status !== 0) throw new Error(`convert: ${r.stderr.toString()}`);
    return parsePpm(r.stdout);
  }

  /** Write an xwd dump as a PNG file. */
  static savePng(xwd: Buffer, file: string): void {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const r = spawnSync('convert', ['xwd:-', `png:${file}`], { input: xwd, timeout: 20000 });
    if (r.status !== 0) throw new Error(`convert: ${r.stderr.toString()}`);
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill('SIGTERM');
      const t = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
      await this.exited;
      clearTimeout(t);
    }
  }
}
