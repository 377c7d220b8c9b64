/**
 * `service-ioc alarms -c FILE.toml -o DIR`: the alarm configuration of a
 * configuration's services, for the Phoebus alarm server (XML, imported
 * with `-import`) and for ALH (.alhConfig). One tree, two renderings:
 *
 *   Services                      (--name)
 *     IOC                         IOC:BusConnected
 *     <unit name>                 <pv>:ActiveState, per [[unit]]
 *     RE Manager <pv>             <pv>:Connected, EnvState, LastExitStatus, per [[queueserver]]
 *
 * One failure raises one alarm: a PV that is INVALID because what feeds it
 * is gone (the unit PVs without the bus, a manager's states without the
 * manager, the manager without its unit or its redis) is disabled while that
 * is so, and IOC:Health, the summary of them all, is left out. A manager
 * needs two things (its unit, its redis): its alarm is enabled by the IOC's
 * <pv>:DepsUp, which is 1 while both are up, rather than by a formula of
 * the alarm handler: ALH reads a $FORCEPV_CALC input whose name starts with
 * a digit (as "25idc:...") as a number, not as a PV.
 *
 * PV names are concrete (the prefix expanded): alarm servers do not
 * expand macros. Every PV carries a description, guidance that names the
 * screen to look at and the first thing to try, and links to the displays
 * `service-ioc screens` writes (--displays: where they are installed; by
 * default the `screens` folder beside the output folder).
 *
 * Phoebus element names and order are XmlModelWriter's (app/alarm/model);
 * ALH lines are what alConfig.c reads and alWriteConfig writes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadConfig } from './config';
import { parseOptions, phoebusPvName, protocolOption, writeGeneratedFiles, type GeneratedFile, type Protocol, type UsageErrorFactory } from './command-args';
import { CA_ONLY_NOTE, OVERVIEW_DISPLAY, detailDisplayNames, managerTitle, serviceSet, type ServiceSet } from './screens';
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
  /**
   * The alarm counts only while `pv` (prefix included) equals `value`: a PV
   * that is INVALID because what feeds it is gone must not raise a second
   * alarm beside the one that says so (Phoebus <filter>, ALH $FORCEPV).
   */
  enabledWhen?: { pv: string; value: number };
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

/** "Services display (service-overview.adl / .bob)": how guidance names a screen. */
function screenName(link: DisplayLink): string {
  return `the ${link.title} display (${link.display}.adl in MEDM, ${link.display}.bob in Phoebus)`;
}

export function alarmTree(set: ServiceSet, name: string = DEFAULT_ALARM_CONFIG_NAME): AlarmTree {
  if (!CONFIG_NAME.test(name)) throw new Error(`alarm configuration name "${name}" must be one word of letters, digits, ".", "_" or "-"`);
  const { ctl, admin, journal } = systemdCommands(set);
  const P = set.prefix;
  const components: AlarmComponent[] = [];
  const overview = screenName(OVERVIEW_LINK);
  /** A unit's PVs mean something only while the IOC is connected to systemd. */
  const busUp = { pv: `${P}IOC:BusConnected`, value: 1 };

  // IOC:Health is not an alarm of its own: it summarises the alarms below,
  // and one failure must raise one alarm.
  components.push({
    name: 'IOC',
    group: 'IOC',
    pvs: [
      {
        name: `${P}IOC:BusConnected`,
        description: 'service-ioc: no connection to systemd',
        delay: 5,
        latching: true,
        guidance: [
          `Screen: ${overview}, row service-ioc.`,
          'service-ioc lost its D-Bus connection to the systemd manager;',
          'every unit PV is INVALID until it reconnects (it retries by itself),',
          'and the units raise no alarms of their own meanwhile.',
          `First try, on the service host: ${ctl} status ${IOC_UNIT}`,
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
          `Screen: ${overview}, row ${u.name}.`,
          u.expect === 'active' ? `${u.name} should be active and is not.` : `${u.name} failed (it may be stopped; only a failure alarms).`,
          u.control
            ? `First try: press Restart in its row (or on the service host: ${admin} restart ${u.name}).`
            : `First try, on the service host: ${admin} restart ${u.name}`,
          'If it fails again, see why on the service host:',
          `  ${ctl} status ${u.name}`,
          `  ${journal} -u ${u.name} -n 100`,
          `To clear a failure without starting it: ${admin} reset-failed ${u.name}`,
        ].join('\n'),
        displays: [OVERVIEW_LINK],
        enabledWhen: busUp,
      }],
    });
  }

  const unitPvs = new Map(set.units.map((u) => [u.name, u.pv]));
  /** The guidance line that names the managers whose alarms wait for this redis. */
  const managersOf = (redis: string): string[] => {
    const names = set.queueservers.filter((q) => q.redis === redis).map((q) => q.pv);
    return names.length === 0 ? [] : [`RE Manager ${names.join(', ')} raises no alarm of its own meanwhile.`];
  };
  for (const r of set.redis) {
    const redisUnitPv = r.unit === undefined ? undefined : unitPvs.get(r.unit);
    const row = `Screen: ${overview}, row ${r.pv} (${r.addr}) of the redis table.`;
    const where = r.unit === undefined
      ? [`First try: redis-cli -u redis://${r.addr} ping  (from the IOC host)`]
      : [`First try, on the service host: ${ctl} status ${r.unit}`, `  ${journal} -u ${r.unit} -n 100`, `  redis-cli -u redis://${r.addr} ping`];
    components.push({
      name: `redis ${r.pv}`,
      group: r.pv,
      pvs: [
        {
          name: `${P}${r.pv}:Connected`,
          description: `redis ${r.pv} (${r.addr}) does not answer`,
          delay: 5,
          latching: true,
          guidance: [
            row,
            'service-ioc gets no answer from this redis within its timeout (down, hung or refusing the password);',
            'the RE Managers that keep their queue in it stop answering too, and its other PVs are INVALID.',
            ...managersOf(r.pv),
            ...where,
          ].join('\n'),
          displays: [OVERVIEW_LINK],
          // When its unit is watched and not active, the unit's alarm says so.
          ...(redisUnitPv === undefined ? {} : { enabledWhen: { pv: `${P}${redisUnitPv}:ActiveState`, value: 1 } }),
        },
        {
          name: `${P}${r.pv}:Persistence`,
          description: `redis ${r.pv}: the last save to disk failed`,
          delay: 0,
          latching: true,
          guidance: [
            row,
            'redis reports that its last RDB save or AOF write failed: the queue and history',
            'would be lost at its next restart. Usually the disk is full or not writable.',
            `First try: redis-cli -u redis://${r.addr} info persistence  (rdb_last_bgsave_status, aof_last_write_status)`,
            'and look at the free space where redis keeps its files (CONFIG GET dir).',
          ].join('\n'),
          displays: [OVERVIEW_LINK],
          enabledWhen: { pv: `${P}${r.pv}:Connected`, value: 1 },
        },
      ],
    });
  }

  const details = detailDisplayNames(set);
  const watched = new Map(set.units.map((u) => [u.name, u.pv]));
  const redisByPv = new Map(set.redis.map((r) => [r.pv, r]));
  for (const q of set.queueservers) {
    const detail: DisplayLink = { title: managerTitle(q), display: details.get(q.pv) as string };
    const links = [detail, OVERVIEW_LINK];
    const screen = screenName(detail);
    const unitPv = q.unit === undefined ? undefined : watched.get(q.unit);
    const redis = q.redis === undefined ? undefined : redisByPv.get(q.redis);
    /** What the manager needs, each with an alarm of its own: its unit when watched, its redis. */
    const needs = [...(unitPv === undefined ? [] : [`its unit ${q.unit} is not active`]), ...(redis === undefined ? [] : [`its redis ${redis.pv} (${redis.addr}) is down`])];
    const where = q.unit === undefined
      ? ['First try: check that start-re-manager runs and listens on the control address',
        `of [[queueserver]] pv = "${q.pv}" in the IOC configuration.`]
      : [
        `First try, on the service host: ${ctl} status ${q.unit}`,
        `  ${journal} -u ${q.unit} -n 100`,
        `  ${admin} restart ${q.unit}`,
      ];
    /** The manager's state PVs mean something only while it answers. */
    const answering = { pv: `${P}${q.pv}:Connected`, value: 1 };
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
            `Screen: ${screen}, Connection.`,
            `service-ioc gets no answer from RE Manager ${q.pv}; its other PVs are INVALID`,
            'and raise no alarms of their own meanwhile.',
            ...(needs.length === 0 ? [] : [`This alarm is held back while ${needs.join(' or ')}: that alarm says so.`]),
            ...where,
            `service-ioc's log names the address and the error: ${journal} -u ${IOC_UNIT}`,
          ].join('\n'),
          displays: links,
          // While its unit is not active or its redis is down, their alarms say so (DepsUp, db/queueserver.db).
          ...(needs.length === 0 ? {} : { enabledWhen: { pv: `${P}${q.pv}:DepsUp`, value: 1 } }),
        },
        {
          name: `${P}${q.pv}:EnvState`,
          description: `RE Manager ${q.pv}: RE environment state`,
          delay: 0,
          latching: true,
          guidance: [
            `Screen: ${screen}, Env. state and Console.`,
            'MAJOR: the RE worker environment failed. INVALID: the manager reported',
            'a state service-ioc does not know. The console line usually says why.',
            'First try: destroy the environment and open it again (the queue is kept):',
            q.control ? '  Environment: Destroy, then Open, on that display' : '  qserver environment destroy; qserver environment open',
          ].join('\n'),
          displays: links,
          enabledWhen: answering,
        },
        {
          name: `${P}${q.pv}:LastExitStatus`,
          description: `RE Manager ${q.pv}: result of the last plan`,
          delay: 0,
          latching: true,
          guidance: [
            `Screen: ${screen}, Last exit and Console.`,
            'The newest plan in the history failed, was aborted or halted (MAJOR or MINOR),',
            'or ended in a way service-ioc does not know (INVALID); the queue stopped.',
            'First try: read the console line and the plan history (qserver history get),',
            'fix the cause, then start the queue again:',
            q.control ? '  Queue: Start, on that display' : '  qserver queue start',
          ].join('\n'),
          displays: links,
          enabledWhen: answering,
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
  /** The protocol the Phoebus alarm server connects the PVs with (default ca; pva: pva://NAME). */
  protocol?: Protocol;
}

function displayPath(displays: string, file: string): string {
  return displays.includes('://') ? `${displays.replace(/\/+$/, '')}/${file}` : path.posix.join(displays, file);
}

const GENERATED = 'Generated by service-ioc alarms from the IOC configuration; regenerate rather than edit.';

/** The Phoebus alarm server's XML (XmlModelWriter's element order). */
export function renderPhoebusAlarms(tree: AlarmTree, options: AlarmRenderOptions): string {
  const protocol = options.protocol ?? 'ca';
  const titleDetail = (tag: string, title: string, details: string) => el(tag, null, leaf('title', title), leaf('details', details));
  const root = el('config', { name: tree.name },
    tree.components.map((c) => el('component', { name: c.name },
      c.pvs.map((pv) => el('pv', { name: phoebusPvName(pv.name, protocol) },
        leaf('description', pv.description),
        leaf('enabled', true),
        leaf('latching', pv.latching),
        leaf('annunciating', false),
        pv.delay !== 0 && leaf('delay', pv.delay),
        // The alarm server's filter: a formula in which a quoted name is a PV.
        pv.enabledWhen !== undefined && leaf('filter', `'${phoebusPvName(pv.enabledWhen.pv, protocol)}' == ${pv.enabledWhen.value}`),
        titleDetail('guidance', 'What to do', pv.guidance),
        pv.displays.map((d) => titleDetail('display', d.title, displayPath(options.displays, `${d.display}.bob`))),
      )))));
  return renderXmlDocument(root, GENERATED);
}

/** The mask of a channel while its force PV holds it back: disabled, not logged. */
export const ALH_HELD_BACK = '-D--L';

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
      // Disabled and not logged ("-D--L") unless the force PV has the value
      // that enables it ("-----"); "NE" resets the mask whenever the force
      // PV has any other value. ALH logs the alarms of a disabled channel
      // unless told not to: the alarm log holds one cause too.
      const force = pv.enabledWhen === undefined ? [] : [`$FORCEPV ${pv.enabledWhen.pv} ----- ${pv.enabledWhen.value} NE`];
      out.push(`CHANNEL  ${c.group} ${pv.name}${pv.enabledWhen === undefined ? '' : ` ${ALH_HELD_BACK}`}`, `$ALIAS  ${pv.description}`, ...force,
        ...medm(pv.displays[0].display), ...guidance(pv.guidance));
    }
  }
  return out.join('\n') + '\n';
}

export interface AlarmFileOptions extends AlarmRenderOptions {
  name?: string;
}

export function generateAlarms(set: ServiceSet, options: AlarmFileOptions): GeneratedFile[] {
  const tree = alarmTree(set, options.name);
  const files = [{ name: `${ALARM_FILE}.xml`, text: renderPhoebusAlarms(tree, options) }];
  // ALH speaks Channel Access only.
  if ((options.protocol ?? 'ca') === 'ca') files.push({ name: `${ALARM_FILE}.alhConfig`, text: renderAlhConfig(tree, options) });
  return files;
}

/** `service-ioc alarms -c FILE.toml -o DIR [--displays DIR|URL] [--name NAME] [--protocol ca|pva]` */
export function alarmsCommand(args: readonly string[], usage: UsageErrorFactory): number {
  const options = parseOptions(args, { '-c': true, '-o': true, '--displays': false, '--name': false, '--protocol': false }, usage);
  const protocol = protocolOption(options, usage);
  const config = loadConfig(options.get('-c') as string);
  const out = options.get('-o') as string;
  const displays = options.get('--displays') ?? defaultDisplays(out);
  const name = options.get('--name') ?? DEFAULT_ALARM_CONFIG_NAME;
  if (!CONFIG_NAME.test(name)) throw usage(`--name "${name}" must be one word of letters, digits, ".", "_" or "-"`);
  const set = serviceSet(config);
  const files = generateAlarms(set, { displays, name, protocol });
  for (const file of writeGeneratedFiles(out, files)) process.stdout.write(`${file}\n`);
  if (protocol === 'pva') process.stderr.write(`note: ${CA_ONLY_NOTE.alarms}\n`);
  for (const missing of missingDisplays(set, displays, protocol)) {
    process.stderr.write(`warning: the alarms link to ${missing}, which does not exist yet: write the screens there `
      + `(service-ioc screens -c FILE -o ${path.dirname(missing)}) or pass --displays\n`);
  }
  return 0;
}

/**
 * Where the alarms look for the displays unless told: the `screens` folder
 * beside the output folder (`alarms -o X/alarms` and `screens -o X/screens`
 * then go together), as an absolute path, so that the files open from any
 * working directory.
 */
export function defaultDisplays(out: string): string {
  return path.join(path.dirname(path.resolve(out)), 'screens');
}

/** The display files the alarms link to that are not there (none for a URL). */
export function missingDisplays(set: ServiceSet, displays: string, protocol: Protocol = 'ca'): string[] {
  if (displays.includes('://')) return [];
  const names = [OVERVIEW_DISPLAY, ...detailDisplayNames(set).values()];
  // With pvAccess only the Phoebus files are linked (ALH, which opens the .adl, is not written).
  return names.flatMap((n) => (protocol === 'pva' ? [`${n}.bob`] : [`${n}.adl`, `${n}.bob`])).map((f) => path.join(displays, f)).filter((f) => !fs.existsSync(f));
}
