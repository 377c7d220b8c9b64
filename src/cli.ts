#!/usr/bin/env node
/**
 * service-ioc command line.
 *   service-ioc softioc [-m MACROS] -d FILE.db ... [-s FILE.substitutions] [-a FILE.acf] [--no-pva]
 *   service-ioc dbl [-m MACROS] -d FILE.db ...
 *   service-ioc run -c FILE.toml
 *   service-ioc check -c FILE.toml
 *   service-ioc repeater [--port PORT] [--address ADDRESS]
 *   service-ioc archive-list -c FILE.toml [-o FILE]
 *   service-ioc install [--config-dir DIR] [--unit-dir DIR] [--force]
 */
import { createLogger } from './log';
import { loadAll, macrosFromArg, type LoadStep } from './ioc/load';
import { startSoftIoc } from './ioc/softioc';
import { pvaPortsText } from './ioc/pva';
import { Database, defaultRegistry } from './database/database';
import { iocDeviceSupport, VERSION } from './ioc/ioc-device';
import { loadConfig } from './ioc/config';
import * as fs from 'node:fs';
import { parseAcf } from './access/acf';
import type * as ServiceIocModule from './ioc/service-ioc';
import { describeOtherServer, findOtherServers } from './ioc/other-servers';
import { screensCommand } from './ioc/screens';
import { alarmsCommand } from './ioc/alarms';
import { pvTableCommand } from './ioc/pv-table';
import { parseOptions } from './ioc/command-args';
import { systemErrorText } from './text';
import { installCommand } from './ioc/install';
import { archiveListCommand } from './ioc/archive';
import { currentUser, isLingering, lingerDirFromEnv, lingerWarning } from './systemd/linger';
import type { IocConfig } from './ioc/config';
import { CaRepeater, RepeaterPortInUse, repeaterPortFromEnv } from './ca/repeater/repeater';
import { ServiceIocError } from './errors';


/** Each command's usage, as `service-ioc COMMAND --help` prints it. */
const COMMAND_USAGE: Readonly<Record<string, string>> = {
  softioc: `  service-ioc softioc [-m "A=1,B=2"] -d FILE.db [...] [-s FILE.substitutions] [-a FILE.acf] [--no-pva]
      Serve the records of the .db files over Channel Access (like softIoc -d) and
      pvAccess (like softIocPVX; --no-pva: CA only). PVA takes EPICS_PVAS_SERVER_PORT,
      EPICS_PVAS_BROADCAST_PORT, EPICS_PVAS_INTF_ADDR_LIST, EPICS_PVAS_BEACON_ADDR_LIST
      and EPICS_PVAS_AUTO_BEACON_ADDR_LIST, or their EPICS_PVA_* names.
      -m sets macros for the -d, -s and -a that follow it; repeat -d to load more files.
      -a applies access security (.acf; reloaded on SIGHUP or when the file changes) and
      logs refused and failed writes, and writes its rules trap (TRAPWRITE), to the journal.
`,
  dbl: `  service-ioc dbl [-m "A=1"] -d FILE.db [...] [-s FILE.substitutions]
      Print the record names, one per line (like dbl).
`,
  run: `  service-ioc run -c FILE.toml
      Watch and control the systemd units of the configuration, serving their PVs over CA
      and pvAccess ([ioc] pva = false: CA only).
      At start it warns when another server already answers for its names (as check does),
      and when the user's lingering is off (bus = "user").
`,
  check: `  service-ioc check -c FILE.toml
      Validate the configuration and its databases, print the PV names, and exit.
      Also warns when another server already answers for its names: a CA search for
      <prefix>IOC:Health and a few more, where clients search (EPICS_CA_ADDR_LIST,
      EPICS_CA_AUTO_ADDR_LIST), waiting 1 s for answers; and, with bus = "user", when
      the user's lingering is off (loginctl enable-linger): the user manager then stops
      with the user's last session, and the IOC with it.
`,
  screens: `  service-ioc screens -c FILE.toml -o DIR [--protocol ca|pva]
      Write operator displays for the configuration: service-overview and one
      queueserver-<pv> detail display per RE Manager, as Phoebus .bob and MEDM .adl.
      --protocol pva: the .bob files name their PVs pva://NAME; MEDM speaks
      Channel Access only, so no .adl is written.
`,
  alarms: `  service-ioc alarms -c FILE.toml -o DIR [--displays DIR|URL] [--name NAME] [--protocol ca|pva]
      Write the alarm configuration: service-alarms.xml (Phoebus alarm server) and
      service-alarms.alhConfig (ALH). --displays: where the screens are installed
      (default: the folder "screens" beside DIR, so that "screens -o X/screens" and
      "alarms -o X/alarms" go together); --name: the Phoebus config and ALH main
      group (default Services). --protocol pva: the alarm server connects
      pva://NAME; ALH speaks Channel Access only, so no .alhConfig is written.
`,
  repeater: `  service-ioc repeater [--port PORT] [--address ADDRESS]
      Run a Channel Access repeater (like caRepeater): every CA client on this host
      registers with it, and it hands each of them the beacons that reach the port.
      --port: default EPICS_CA_REPEATER_PORT, else 5065; --address: the address to
      bind (default 0.0.0.0, every interface). When another repeater has the port,
      it says so and exits with status 0.
`,
  'archive-list': `  service-ioc archive-list -c FILE.toml [-o FILE]
      Write the PVs of the configuration worth archiving as the JSON list the
      Archiver Appliance's archivePV takes ("pv", "samplingmethod" MONITOR or
      SCAN, "samplingperiod" in seconds), to FILE or standard output:
        curl -H "Content-Type: application/json" --data @FILE \\
          http://ARCHIVER:17665/mgmt/bpl/archivePV
`,
  install: `  service-ioc install [--config-dir DIR] [--unit-dir DIR] [--force]
      Set this installation up as a systemd user service: write the unit
      service-ioc.service (ExecStart= runs this Node.js and this service-ioc by
      absolute path) to --unit-dir (default ~/.config/systemd/user), copy the
      example configuration service-ioc.toml, access.acf and legacy.db to
      --config-dir (default ~/.config/service-ioc), and print the next steps.
      A file that exists is kept (and named) unless --force is given.
`,
  'pv-table': `  service-ioc pv-table [--readme README.md]
      Print the PV reference generated from db/*.db, or rewrite it in the README.
`,
};

const USAGE = `usage:\n${Object.values(COMMAND_USAGE).join('')}  service-ioc --version\n  service-ioc COMMAND --help\n`;

/** The usage of one command (all of them for an unknown one). */
export function usageOf(command: string | undefined): string {
  const one = command === undefined ? undefined : COMMAND_USAGE[command];
  return one ? `usage:\n${one}` : USAGE;
}

/** Counted nouns: "1 unit", "2 units". */
function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

export class UsageError extends ServiceIocError {
  /** The command whose usage goes with the message. */
  command: string | undefined;
  constructor(message: string) {
    super('CLI_ERR_USAGE', message);
  }
}

export interface DbArgs {
  steps: LoadStep[];
  acf?: { file: string; macros: ReadonlyMap<string, string> };
  /** Serve pvAccess too (false with --no-pva). */
  pva: boolean;
}

/** Parse -d/-m/-s/-a in order, as softIoc does, and --no-pva. */
export function parseDbArgs(args: readonly string[]): DbArgs {
  const steps: LoadStep[] = [];
  let macros: ReadonlyMap<string, string> = new Map();
  let acf: DbArgs['acf'];
  let pva = true;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const value = (): string => {
      const v = args[++i];
      if (v === undefined) throw new UsageError(`missing ${a === '-d' ? 'FILE.db' : a === '-s' ? 'FILE.substitutions' : a === '-a' ? 'FILE.acf' : 'MACROS'} after ${a}`);
      return v;
    };
    if (a === '-d') steps.push({ kind: 'db', file: value(), macros });
    else if (a === '-s') steps.push({ kind: 'substitutions', file: value(), macros });
    else if (a === '-m') macros = macrosFromArg(value());
    else if (a === '-a') acf = { file: value(), macros };
    else if (a === '--no-pva') pva = false;
    else throw new UsageError(`unknown argument "${a}"`);
  }
  if (steps.length === 0) throw new UsageError('missing -d FILE.db (or -s FILE.substitutions)');
  return { steps, acf, pva };
}

/**
 * Catch SIGINT and SIGTERM from now on; the promise resolves after `stop` has
 * run for the first of them. Installed before the IOC says it is ready, so a
 * supervisor that signals at once still gets a clean shutdown.
 */
function shutdownOnSignal(log: ReturnType<typeof createLogger>): { stopWith(stop: () => Promise<void>): Promise<void> } {
  let stopFn: (() => Promise<void>) | undefined;
  let signalled: string | undefined;
  let resolveDone!: () => void;
  const done = new Promise<void>((resolve) => { resolveDone = resolve; });
  const go = (): void => {
    if (!stopFn || !signalled) return;
    log.info('shutting down', { signal: signalled });
    void stopFn().then(resolveDone);
  };
  const onSignal = (signal: string): void => {
    if (signalled) return;
    signalled = signal;
    go();
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  return {
    stopWith(stop) {
      stopFn = stop;
      go();
      return done;
    },
  };
}

async function softioc(args: string[]): Promise<number> {
  const log = createLogger('service-ioc');
  const parsed = parseDbArgs(args);
  const shutdown = shutdownOnSignal(log);
  const ioc = await startSoftIoc({ steps: parsed.steps, log, acf: parsed.acf, pva: parsed.pva });
  process.stdout.write(`service-ioc softioc: ${ioc.database.records.size} records, CA on port ${ioc.server.tcpPort}${ioc.pva ? `, ${pvaPortsText(ioc.pva)}` : ''}\n`);
  await shutdown.stopWith(() => ioc.stop());
  return 0;
}

function configArg(args: readonly string[]): string {
  return parseOptions(args, { '-c': true }, (m) => new UsageError(m)).get('-c') as string;
}

/** The lingering warning, for a configuration on the user bus whose user does not linger. */
function lingerProblem(config: IocConfig): string | undefined {
  if (config.bus !== 'user') return undefined;
  const user = currentUser();
  return isLingering(user, lingerDirFromEnv()) ? undefined : lingerWarning(user);
}

/**
 * The bridges (D-Bus, 0MQ, redis) take most of the program's load time, and
 * `softioc` and the generators need none of them: they load when a command does.
 */
function serviceIocModule(): Promise<typeof ServiceIocModule> {
  return import('./ioc/service-ioc');
}

async function run(args: string[]): Promise<number> {
  const log = createLogger('service-ioc');
  const config = loadConfig(configArg(args));
  const shutdown = shutdownOnSignal(log);
  const linger = lingerProblem(config);
  if (linger) log.warn(linger);
  const { startServiceIoc } = await serviceIocModule();
  const ioc = await startServiceIoc(config, log);
  process.stdout.write(`service-ioc: ${count(ioc.database.records.size, 'PV')} for ${count(config.units.length, 'unit')} and ${count(config.queueservers.length, 'queueserver')}, CA on port ${ioc.server?.tcpPort}${ioc.pva ? `, ${pvaPortsText(ioc.pva)}` : ''}\n`);
  await shutdown.stopWith(() => ioc.stop());
  return 0;
}

async function check(args: string[]): Promise<number> {
  const config = loadConfig(configArg(args));
  const { buildServiceIoc } = await serviceIocModule();
  const { database } = buildServiceIoc(config, createLogger('service-ioc', { level: 'warn' }));
  if (config.access) parseAcf(fs.readFileSync(config.access.file, 'utf8'), config.access.file, config.access.macros);
  process.stdout.write(database.recordNames().map((n) => n + '\n').join(''));
  for (const other of await findOtherServers(config)) process.stderr.write(`service-ioc: warning: ${describeOtherServer(other)}\n`);
  const linger = lingerProblem(config);
  if (linger) process.stderr.write(`service-ioc: warning: ${linger}\n`);
  process.stderr.write(`${config.file}: OK, ${count(config.units.length, 'unit')}, ${count(config.queueservers.length, 'queueserver')}, ${count(database.records.size, 'PV')}\n`);
  return 0;
}

async function repeater(args: string[]): Promise<number> {
  const opts = parseOptions(args, { '--port': false, '--address': false }, (m) => new UsageError(m));
  const portText = opts.get('--port');
  const port = portText === undefined ? repeaterPortFromEnv() : Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`--port: expected a port number 1..65535, got "${portText}"`);
  const address = opts.get('--address') ?? '0.0.0.0';
  const log = createLogger('repeater');
  const shutdown = shutdownOnSignal(log);
  const rep = new CaRepeater({ port, address, log });
  try {
    await rep.start();
  } catch (err) {
    if (!(err instanceof RepeaterPortInUse)) throw err;
    // caRepeater exits quietly in this case: the repeater that has the port does the job.
    process.stdout.write(`service-ioc repeater: ${err.message}; exiting\n`);
    return 0;
  }
  process.stdout.write(`service-ioc repeater: CA repeater on ${address}:${port}\n`);
  await shutdown.stopWith(() => rep.stop());
  return 0;
}

function dbl(args: string[]): number {
  const parsed = parseDbArgs(args);
  const db = Database.build(loadAll(parsed.steps), { registry: defaultRegistry().register(iocDeviceSupport()) });
  process.stdout.write(db.recordNames().map((n) => n + '\n').join(''));
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command !== undefined && command in COMMAND_USAGE && (rest.includes('--help') || rest.includes('-h'))) {
      process.stdout.write(usageOf(command));
      return 0;
    }
    switch (command) {
      case 'softioc': return await softioc(rest);
      case 'dbl': return dbl(rest);
      case 'run': return await run(rest);
      case 'check': return await check(rest);
      case 'screens': return screensCommand(rest, (m) => new UsageError(m));
      case 'alarms': return alarmsCommand(rest, (m) => new UsageError(m));
      case 'repeater': return await repeater(rest);
      case 'archive-list': return archiveListCommand(rest, (m) => new UsageError(m));
      case 'install': return installCommand(rest, (m) => new UsageError(m));
      case 'pv-table': return pvTableCommand(rest, (m) => new UsageError(m));
      case '--version': case '-V':
        process.stdout.write(`service-ioc ${VERSION}\n`);
        return 0;
      case undefined:
        throw new UsageError('missing COMMAND');
      case '-h': case '--help': case 'help':
        process.stdout.write(usageOf(rest[0]));
        return 0;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`service-ioc: ${command && command in COMMAND_USAGE ? `${command}: ` : ''}${err.message}\n${usageOf(command)}`);
      return 2;
    }
    // A load, a configuration or an output that failed: the message says where and why.
    if (err instanceof ServiceIocError) {
      process.stderr.write(`service-ioc: ${err.message}\n`);
      return 1;
    }
    const e = err as NodeJS.ErrnoException;
    process.stderr.write(`service-ioc: ${e.path ? `${e.path}: ` : ''}${systemErrorText(e)}\n`);
    return 1;
  }
}

if (require.main === module) {
  // A bug must not take the IOC down with it: log and keep serving.
  process.on('unhandledRejection', (reason: unknown) => {
    process.stderr.write(`service-ioc: unhandled rejection (a bug; please report it): ${(reason as Error)?.stack ?? String(reason)}\n`);
  });
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  }, (err: unknown) => {
    process.stderr.write(`service-ioc: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  });
}
