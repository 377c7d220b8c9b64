/**
 * Options of the commands that write operator files (screens, alarms,
 * pv-table): `-c FILE.toml -o DIR` and a few `--name value` options, each
 * given at most once. Errors come back through the caller's `usage`, so
 * the command line reports them as usage errors.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export type UsageErrorFactory = (message: string) => Error;

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
    if (v === undefined) throw usage(`${a} needs a value`);
    if (out.has(a)) throw usage(`${a} given twice`);
    out.set(a, v);
  }
  for (const [option, required] of Object.entries(known)) {
    if (required && !out.has(option)) throw usage(`missing ${option}`);
  }
  return out;
}

export interface GeneratedFile {
  /** File name, no directory. */
  readonly name: string;
  readonly text: string;
}

/** Write the files into `dir` (created if needed); returns their paths. */
export function writeGeneratedFiles(dir: string, files: readonly GeneratedFile[]): string[] {
  fs.mkdirSync(dir, { recursive: true });
  return files.map((f) => {
    const file = path.join(dir, f.name);
    fs.writeFileSync(file, f.text);
    return file;
  });
}
