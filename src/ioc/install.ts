/**
 * `service-ioc install`: set up the installed program as a systemd user
 * service for the user who runs it.
 *   - the unit ioc/service-ioc.service, with ExecStart= naming this Node.js
 *     and this cli.js by absolute path (a user manager's PATH seldom holds
 *     an npm prefix or an nvm Node), in the unit directory;
 *   - the example configuration ioc/service-ioc.toml and the files it names
 *     (access.acf, legacy.db), in the configuration directory.
 * A file that exists is kept unless --force is given, and the output says so.
 * Then it prints what is left to do: daemon-reload, enable --now, lingering.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { currentUser, isLingering, lingerDirFromEnv } from '../systemd/linger';
import { makeDirectory, OutputError, parseOptions, type UsageErrorFactory } from './command-args';
import { systemErrorText } from '../text';

/**
 * The files shipped in ioc/ at the package root: two levels above this file
 * in dist/ and three in the test build.
 */
export const IOC_DIR = ['../../ioc', '../../../ioc'].map((d) => path.resolve(__dirname, d)).find((d) => fs.existsSync(path.join(d, 'service-ioc.service'))) ?? path.resolve(__dirname, '../../ioc');

export const UNIT_NAME = 'service-ioc.service';
export const CONFIG_NAME = 'service-ioc.toml';
/** The example configuration and the files it names, copied side by side. */
const CONFIG_FILES = [CONFIG_NAME, 'access.acf', 'legacy.db'];

export interface InstallOptions {
  /** Where the configuration goes: default ~/.config/service-ioc. */
  configDir: string;
  /** Where the unit goes: default ~/.config/systemd/user. */
  unitDir: string;
  /** Replace files that exist. */
  force: boolean;
  /** The program ExecStart= runs, each word a command-line argument: [node, cli.js]. */
  program: readonly string[];
  /** The shipped files: default IOC_DIR. */
  iocDir?: string;
}

/** What happened to one file. */
export interface InstalledFile {
  file: string;
  action: 'wrote' | 'replaced' | 'kept' | 'unchanged';
}

export interface InstallResult {
  unit: string;
  config: string;
  execStart: string;
  files: InstalledFile[];
}

/** $XDG_CONFIG_HOME, else ~/.config: where systemd looks for user units too. */
export function configHome(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CONFIG_HOME;
  return xdg && path.isAbsolute(xdg) ? xdg : path.join(env.HOME || os.homedir(), '.config');
}

/** This Node.js and this package's cli.js, by real path. */
export function installedProgram(): string[] {
  return [process.execPath, fs.realpathSync(path.resolve(__dirname, '../cli.js'))];
}

/**
 * One word of an ExecStart= line: `%` doubled (systemd's specifier
 * character), quoted when it holds a space, a quote or a backslash
 * (systemd.service, "Command lines").
 */
export function execWord(word: string): string {
  const w = word.replace(/%/g, '%%');
  if (w !== '' && !/[\s"'\\;$]/.test(w)) return w;
  return `"${w.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** The unit text: the shipped unit with its ExecStart= and header for this installation. */
export function unitText(template: string, execStart: string, configFile: string): string {
  const lines = template.split('\n');
  const out: string[] = [];
  let header = true;
  for (const line of lines) {
    if (header && line.startsWith('#')) {
      // The shipped header says how to copy it by hand; this one says where it came from.
      if (out.length === 0) {
        out.push(
          '# service-ioc as a systemd user unit: watches and controls the beamline\'s',
          '# user services and serves them over EPICS Channel Access.',
          '# Written by "service-ioc install"; for local changes use "systemctl --user edit service-ioc".',
          `# Configuration: ${configFile}`,
          '# Logs: journalctl --user -u service-ioc',
        );
      }
      continue;
    }
    header = false;
    out.push(line.startsWith('ExecStart=') ? `ExecStart=${execStart}` : line);
  }
  if (!out.some((l) => l.startsWith('ExecStart='))) throw new Error('the shipped unit has no ExecStart= line');
  return out.join('\n');
}

function readShipped(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new OutputError(file, `cannot read the shipped file: ${systemErrorText(err)}`);
  }
}

/** Write `text` to `file` unless it exists (and --force is not given). */
function place(file: string, text: string, force: boolean): InstalledFile {
  let old: string | undefined;
  try {
    old = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new OutputError(file, `cannot read: ${systemErrorText(err)}`);
  }
  if (old === text) return { file, action: 'unchanged' };
  if (old !== undefined && !force) return { file, action: 'kept' };
  try {
    fs.writeFileSync(file, text);
  } catch (err) {
    throw new OutputError(file, `cannot write: ${systemErrorText(err)}`);
  }
  return { file, action: old === undefined ? 'wrote' : 'replaced' };
}

export function install(opts: InstallOptions): InstallResult {
  const iocDir = opts.iocDir ?? IOC_DIR;
  const config = path.join(path.resolve(opts.configDir), CONFIG_NAME);
  const execStart = [...opts.program, 'run', '-c', config].map(execWord).join(' ');
  const unitTemplate = readShipped(path.join(iocDir, UNIT_NAME));
  const shipped = CONFIG_FILES.map((name) => ({ name, text: readShipped(path.join(iocDir, name)) }));
  makeDirectory(opts.unitDir);
  makeDirectory(opts.configDir);
  const unit = path.join(path.resolve(opts.unitDir), UNIT_NAME);
  const files = [place(unit, unitText(unitTemplate, execStart, config), opts.force)];
  for (const f of shipped) files.push(place(path.join(path.resolve(opts.configDir), f.name), f.text, opts.force));
  return { unit, config, execStart, files };
}

/** What the command prints: each file, then the steps left. */
export function describeInstall(result: InstallResult, user: string, lingering: boolean): string {
  const said: Record<InstalledFile['action'], string> = {
    wrote: 'wrote   ',
    replaced: 'replaced',
    unchanged: 'kept    ',
    kept: 'kept    ',
  };
  const out = result.files.map((f) => {
    const why = f.action === 'kept' ? ' (it exists and differs from the shipped one; --force replaces it)'
      : f.action === 'unchanged' ? ' (already up to date)' : '';
    return `${said[f.action]} ${f.file}${why}\n`;
  });
  out.push(
    `ExecStart=${result.execStart}\n`,
    '\nNext steps:\n',
    `  # edit the configuration (prefix, units), then validate it:\n`,
    `  service-ioc check -c ${result.config}\n`,
    '  systemctl --user daemon-reload\n',
    '  systemctl --user enable --now service-ioc\n',
    lingering
      ? `  # lingering is on for ${user}: the service runs from boot, without a login\n`
      : `  loginctl enable-linger ${user}    # lingering is off: without it the service stops when ${user}'s last session ends\n`,
    '  systemctl --user status service-ioc\n',
    '  journalctl --user -u service-ioc\n',
  );
  return out.join('');
}

/** `service-ioc install [--config-dir DIR] [--unit-dir DIR] [--force]` */
export function installCommand(args: readonly string[], usage: UsageErrorFactory, env: NodeJS.ProcessEnv = process.env): number {
  const forces = args.filter((a) => a === '--force').length;
  if (forces > 1) throw usage('--force given twice');
  const options = parseOptions(args.filter((a) => a !== '--force'), { '--config-dir': false, '--unit-dir': false }, usage);
  const home = configHome(env);
  const result = install({
    configDir: options.get('--config-dir') ?? path.join(home, 'service-ioc'),
    unitDir: options.get('--unit-dir') ?? path.join(home, 'systemd', 'user'),
    force: forces === 1,
    program: installedProgram(),
  });
  const user = currentUser();
  process.stdout.write(describeInstall(result, user, isLingering(user, lingerDirFromEnv(env))));
  return 0;
}
