/**
 * `service-ioc alarms -c FILE.toml -o DIR`: the alarm configuration of a
 * configuration's services, for the Phoebus alarm server (XML, imported
 * with `-import`) and for ALH (.alhConfig). One tree, two renderings:
 *
 *   Services                      (--name)
 *     IOC                         IOC:Health, IOC:BusConnected
 *     <unit name>                 <pv>:ActiveState, per [[unit]]
 *     RE Manager <pv>             <pv>:Connected, EnvState, LastExitStatus, per [[queueserver]]
 *
 * PV names are concrete (the prefix expanded): alarm servers do not
 * expand macros. Every PV carries a description, guidance that says what
 * to do on the service host, and links to the displays `service-ioc
 * screens` writes (--displays: where they are installed).
 *
 * Phoebus element names and order are XmlModelWriter's (app/alarm/model);
 * ALH lines are what alConfig.c reads and alWriteConfig writes.
 */
import * as path from 'node:path';
import { loadConfig } from './config';
import { parseOptions, writeGeneratedFiles, type GeneratedFile, type UsageErrorFactory } from './command-args';
import { OVERVIEW_DISPLAY, detailDisplayNames, managerTitle, serviceSet, type ServiceSet } from './screens';
import { el, leaf, renderXmlDocument } from './xml-text';

export interface DisplayLink {
  title: string;
  /** Display base name, without extension (.bob for Phoebus, .adl for MEDM). */
  display: string;
}

export interface AlarmPv {
  /** The PV name, prefix included. */
  name: string;
  description: string;
  /** Seconds the alarm must persist before it is shown (Phoebus <delay>). */
  delay: number;
  latching: boolean;
  /** What to do, one instruction a line. */
  guidance: string;
  displays: DisplayLink[];
}

export interface AlarmComponent {
  /** Phoebus component name. */
  name: string;
  /** ALH group name: one word. */
  group: string;
  pvs: AlarmPv[];
}

export interface AlarmTree {
  /** Phoebus config name (also its Kafka topic) and ALH main group. */
  name: string;
  prefix: string;
  components: AlarmComponent[];
}

export const DEFAULT_ALARM_CONFIG_NAME = 'Services';
export const ALARM_FILE = 'service-alarms';

/** Kafka topic names and ALH group names: one word. */
const CONFIG_NAME = /^[A-Za-z0-9._-]+$/;

const OVERVIEW_LINK: DisplayLink = { title: 'Services', display: OVERVIEW_DISPLAY };

/** The commands an operator types on the service host, for the configured bus. */
function systemdCommands(set: ServiceSet): { ctl: string; admin: string; journal: string } {
  return set.bus === 'user'
    ? { ctl: 'systemctl --user', admin: 'systemctl --user', journal: 'journalctl --user' }
    : { ctl: 'systemctl', admin: 'sudo systemctl', journal: 'journalctl' };
}

/** service-ioc's own unit (ioc/service-ioc.service). */
const IOC_UNIT = 'service-ioc.service';

export function alarmTree(set: ServiceSet, name: string = DEFAULT_ALARM_CONFIG_NAME): AlarmTree {
  if (!CONFIG_NAME.test(name)) throw new Error(`alarm configuration name "${name}" must be one word of letters, digits, ".", "_" or "-"`);
  const { ctl, admin, journal } = systemdCommands(set);
  const P = set.prefix;
  const components: AlarmComponent[] = [];

  components.push({
    name: 'IOC',
    group: 'IOC',
    pvs: [
      {
        name: `${P}IOC:Health`,
        description: 'service-ioc: a watched service is not as expected',
        delay: 10,
        // The services' own alarms latch; this summary of them need not.
        latching: false,
        guidance: [
          'At least one watched service is not in its expected state.',
          'The other alarms of this configuration say which; the Services',
          'display shows every service.',
        ].join('\n'),
        displays: [OVERVIEW_LINK],
      },
      {
        name: `${P}IOC:BusConnected`,
        description: 'service-ioc: no connection to systemd',
        delay: 5,
        latching: true,
        guidance: [
          'service-ioc lost its D-Bus connection to the systemd manager;',
          'every unit PV is INVALID until it reconnects (it retries by itself).',
          'On the service host:',
          `  ${ctl} status ${IOC_UNIT}`,
          `  ${journal} -u ${IOC_UNIT} -n 100`,
          ...(set.bus === 'user' ? ['A user manager needs lingering: loginctl show-user $USER -p Linger'] : []),
          `If it does not recover: ${admin} restart ${IOC_UNIT}`,
        ].join('\n'),
        displays: [OVERVIEW_LINK],
      },
    ],
  });

  for (const u of set.units) {
    components.push({
      name: u.name,
      group: u.pv,
      pvs: [{
        name: `${P}${u.pv}:ActiveState`,
        description: u.expect === 'active' ? `${u.name} is not active` : `${u.name} failed`,
        // A restart passes through deactivating and activating.
        delay: 10,
        latching: true,
        guidance: [
          u.expect === 'active' ? `${u.name} should be active and is not.` : `${u.name} failed (it may be stopped; only a failure alarms).`,
          'On the service host, see why:',
          `  ${ctl} status ${u.name}`,
          `  ${journal} -u ${u.name} -n 100`,
          u.control ? 'Fix the cause, then restart it (or press Restart on the Services display):' : 'Fix the cause, then restart it:',
          `  ${admin} restart ${u.name}`,
          `To clear a failure without starting it: ${admin} reset-failed ${u.name}`,
        ].join('\n'),
        displays: [OVERVIEW_LINK],
      }],
    });
  }

  const details = detailDisplayNames(set);
  for (const q of set.queueservers) {
    const links = [{ title: managerTitle(q), display: details.get(q.pv) as string }, OVERVIEW_LINK];
    const where = q.unit === undefined
      ? ['Check that start-re-manager runs and listens on the control address', `of [[queueserver]] pv = "${q.pv}" in the IOC configuration.`]
      : [
        `It runs as ${q.unit}; on the service host:`,
        `  ${ctl} status ${q.unit}`,
        `  ${journal} -u ${q.unit} -n 100`,
        `  ${admin} restart ${q.unit}`,
      ];
    components.push({
      name: managerTitle(q),
      group: q.pv,
      pvs: [
        {
          name: `${P}${q.pv}:Connected`,
          description: `RE Manager ${q.pv} does not answer`,
          delay: 10,
          latching: true,
          guidance: [
            `service-ioc gets no answer from RE Manager ${q.pv}; its PVs are INVALID.`,
            ...where,
            `service-ioc's log names the address and the error: ${journal} -u ${IOC_UNIT}`,
          ].join('\n'),
          displays: links,
        },
        {
          name: `${P}${q.pv}:EnvState`,
          description: `RE Manager ${q.pv}: environment failed`,
          delay: 0,
          latching: true,
          guidance: [
            'The RE worker environment failed. Its console line on the RE Manager',
            'display usually says why. Then destroy the environment and open it',
            'again (the queue itself is kept):',
            q.control ? '  Environment: Destroy, then Open, on the RE Manager display' : '  qserver environment destroy; qserver environment open',
          ].join('\n'),
          displays: links,
        },
        {
          name: `${P}${q.pv}:LastExitStatus`,
          description: `RE Manager ${q.pv}: last plan did not complete`,
          delay: 0,
          latching: true,
          guidance: [
            'The newest plan in the history failed, was aborted or halted,',
            'and the queue stopped. See the console line and the plan history',
            '(qserver history get). Fix the cause, then start the queue again:',
            q.control ? '  Queue: Start, on the RE Manager display' : '  qserver queue start',
          ].join('\n'),
          displays: links,
        },
      ],
    });
  }

  const groups = new Set<string>([name]);
  for (const c of components) {
    if (groups.has(c.group)) throw new Error(`ALH group name "${c.group}" is used twice; choose another --name or pv`);
    groups.add(c.group);
  }
  return { name, prefix: P, components };
}

// ---------------------------------------------------------------------------
// Renderings

export interface AlarmRenderOptions {
  /** Where the displays are installed: a directory or a URL. */
  displays: string;
}

function displayPath(displays: string, file: string): string {
  return displays.includes('://') ? `${displays.replace(/\/+$/, '')}/${file}` : path.posix.join(displays, file);
}

const GENERATED = 'Generated by service-ioc alarms from the IOC configuration; regenerate rather than edit.';

/** The Phoebus alarm server's XML (XmlModelWriter's element order). */
export function renderPhoebusAlarms(tree: AlarmTree, options: AlarmRenderOptions): string {
  const titleDetail = (tag: string, title: string, details: string) => el(tag, null, leaf('title', title), leaf('details', details));
  const root = el('config', { name: tree.name },
    tree.components.map((c) => el('component', { name: c.name },
      c.pvs.map((pv) => el('pv', { name: pv.name },
        leaf('description', pv.description),
        leaf('enabled', true),
        leaf('latching', pv.latching),
        leaf('annunciating', false),
        pv.delay !== 0 && leaf('delay', pv.delay),
        titleDetail('guidance', 'What to do', pv.guidance),
        pv.displays.map((d) => titleDetail('display', d.title, displayPath(options.displays, `${d.display}.bob`))),
      )))));
  return renderXmlDocument(root, GENERATED);
}

/** A word for a shell command line, quoted when it needs to be. */
function shellWord(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * ALH's configuration: groups depth-first, each followed by its options and
 * channels. A guidance line must not start with "$" (that ends the block).
 */
export function renderAlhConfig(tree: AlarmTree, options: AlarmRenderOptions): string {
  const out = [`# ${GENERATED}`];
  const guidance = (text: string): string[] => {
    const lines = text.split('\n');
    for (const l of lines) if (l.trimStart().startsWith('$')) throw new Error(`ALH guidance line starts with "$": ${l}`);
    return ['$GUIDANCE', ...lines, '$END'];
  };
  // medm cannot open a URL: the related-process command only for installed files.
  const medm = (display: string): string[] => options.displays.includes('://')
    ? []
    : [`$COMMAND medm -x -macro ${shellWord(`P=${tree.prefix}`)} ${shellWord(displayPath(options.displays, `${display}.adl`))}`];
  out.push(`GROUP    NULL ${tree.name}`, `$ALIAS  service-ioc ${tree.prefix}`, ...medm(OVERVIEW_DISPLAY));
  for (const c of tree.components) {
    out.push(`GROUP    ${tree.name} ${c.group}`, `$ALIAS  ${c.name}`);
    for (const pv of c.pvs) {
      out.push(`CHANNEL  ${c.group} ${pv.name}`, `$ALIAS  ${pv.description}`, ...medm(pv.displays[0].display), ...guidance(pv.guidance));
    }
  }
  return out.join('\n') + '\n';
}

export interface AlarmFileOptions extends AlarmRenderOptions {
  name?: string;
}

export function generateAlarms(set: ServiceSet, options: AlarmFileOptions): GeneratedFile[] {
  const tree = alarmTree(set, options.name);
  return [
    { name: `${ALARM_FILE}.xml`, text: renderPhoebusAlarms(tree, options) },
    { name: `${ALARM_FILE}.alhConfig`, text: renderAlhConfig(tree, options) },
  ];
}

/** `service-ioc alarms -c FILE.toml -o DIR [--displays DIR|URL] [--name NAME]` */
export function alarmsCommand(args: readonly string[], usage: UsageErrorFactory): number {
  const options = parseOptions(args, { '-c': true, '-o': true, '--displays': false, '--name': false }, usage);
  const config = loadConfig(options.get('-c') as string);
  const out = options.get('-o') as string;
  // By default the displays are taken to be installed beside the alarm files.
  const displays = options.get('--displays') ?? path.resolve(out);
  const name = options.get('--name') ?? DEFAULT_ALARM_CONFIG_NAME;
  if (!CONFIG_NAME.test(name)) throw usage(`--name "${name}" must be one word of letters, digits, ".", "_" or "-"`);
  const files = generateAlarms(serviceSet(config), { displays, name });
  for (const file of writeGeneratedFiles(out, files)) process.stdout.write(`${file}\n`);
  return 0;
}
