/**
 * Options of the commands that write operator files (screens, alarms,
 * pv-table) and of run/check: `-c FILE.toml -o DIR` and a few
 * `--name value` options, each given at most once. Errors come back through
 * the caller's `usage`, so the command line reports them as usage errors,
 * always worded the same way: "missing -c FILE.toml", "missing FILE.toml
 * after -c".
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ServiceIocError } from '../errors';
import { systemErrorText } from '../text';

export type UsageErrorFactory = (message: string) => Error;

/** What each option's value is, as the usage shows it. */
const VALUE_NAMES: Readonly<Record<string, string>> = {
  '-c': 'FILE.toml',
  '-o': 'DIR',
  '--displays': 'DIR|URL',
  '--name': 'NAME',
  '--readme': 'README.md',
  '--port': 'PORT',
  '--address': 'ADDRESS',
  '--config-dir': 'DIR',
  '--unit-dir': 'DIR',
  '--protocol': 'ca|pva',
};

/** "-c FILE.toml": an option with what its value is. */
export function optionWithValue(option: string): string {
  return `${option} ${VALUE_NAMES[option] ?? 'VALUE'}`;
}

/** The message for an option given without its value. */
export function missingValue(option: string): string {
  return `missing ${VALUE_NAMES[option] ?? 'a value'} after ${option}`;
}

/**
 * Parse `args` against `known` (option -> whether it is required). Every
 * option takes a value.
 */
export function parseOptions(args: readonly string[], known: Readonly<Record<string, boolean>>, usage: UsageErrorFactory): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!(a in known)) throw usage(`unknown argument "${a}"`);
    const v = args[++i];
    if (v === undefined) throw usage(missingValue(a));
    if (out.has(a)) throw usage(`${a} given twice`);
    out.set(a, v);
  }
  for (const [option, required] of Object.entries(known)) {
    if (required && !out.has(option)) throw usage(`missing ${optionWithValue(option)}`);
  }
  return out;
}

/** The protocol operator files name their PVs for. */
export type Protocol = 'ca' | 'pva';

/** `--protocol ca|pva` (default ca). */
export function protocolOption(options: ReadonlyMap<string, string>, usage: UsageErrorFactory): Protocol {
  const p = options.get('--protocol') ?? 'ca';
  if (p !== 'ca' && p !== 'pva') throw usage(`--protocol "${p}" must be ca or pva`);
  return p;
}

/**
 * A PV name as Phoebus takes it: CA names as they are (Phoebus's default
 * PV type is ca), pvAccess names as pva://NAME (core-pv's PVA data source).
 */
export function phoebusPvName(pv: string, protocol: Protocol): string {
  return protocol === 'pva' ? `pva://${pv}` : pv;
}

export interface GeneratedFile {
  /** File name, no directory. */
  readonly name: string;
  readonly text: string;
}

/** A file or directory the command could not write, with the reason alone. */
export class OutputError extends ServiceIocError {
  constructor(readonly target: string, reason: string) {
    super('CLI_ERR_OUTPUT', `${target}: ${reason}`);
  }
}

/**
 * Create `dir` and its missing parents one level at a time. (Node's
 * recursive mkdir never returns for a path under /proc, where mkdir fails
 * with ENOENT although the parent exists.)
 */
export function makeDirectory(dir: string): void {
  const missing: string[] = [];
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    let stat: fs.Stats | undefined;
    try {
      stat = fs.statSync(d);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new OutputError(d, systemErrorText(err));
    }
    if (stat) {
      if (!stat.isDirectory()) throw new OutputError(d, 'not a directory');
      break;
    }
    missing.unshift(d);
    if (path.dirname(d) === d) break;
  }
  for (const d of missing) {
    try {
      fs.mkdirSync(d);
    } catch (err) {
      throw new OutputError(d, `cannot create the directory: ${systemErrorText(err)}`);
    }
  }
}

/** Write the files into `dir` (created if needed); returns their paths. */
export function writeGeneratedFiles(dir: string, files: readonly GeneratedFile[]): string[] {
  makeDirectory(dir);
  return files.map((f) => {
    const file = path.join(dir, f.name);
    try {
      fs.writeFileSync(file, f.text);
    } catch (err) {
      throw new OutputError(file, `cannot write: ${systemErrorText(err)}`);
    }
    return file;
  });
}
