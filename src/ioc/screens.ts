/**
 * `service-ioc screens -c FILE.toml -o DIR`: operator displays for a
 * configuration, for Phoebus (.bob) and MEDM (.adl):
 *
 *   service-overview.bob/.adl    one row per unit and per RE Manager, plus the IOC itself
 *   queueserver-<pv>.bob/.adl    one detail display per RE Manager
 *
 * Both formats are drawn from one layout (a list of widgets with their
 * boxes), so the two tools show the same thing in the same place. Every PV
 * name is `$(P)<record>`: Phoebus takes P from the display's <macros>
 * (the configured prefix), MEDM from `medm -x -macro "P=<prefix>"`.
 *
 * The element names follow what Phoebus's ModelReader reads (widget classes
 * LabelWidget, LEDWidget, MultiStateLEDWidget, TextUpdateWidget,
 * ActionButtonWidget; action types write_pv and open_display) and MEDM's
 * own files (notes/FileFormat in epics-extensions/medm).
 */
import { loadConfig, type IocConfig } from './config';
import { parseOptions, writeGeneratedFiles, type GeneratedFile, type UsageErrorFactory } from './command-args';
import { el, leaf, renderXmlDocument, type XmlElement } from './xml-text';

// ---------------------------------------------------------------------------
// What the displays are drawn from

/** The parts of a configuration the operator files show. */
export interface ServiceSet {
  prefix: string;
  bus: 'user' | 'system';
  units: ReadonlyArray<{ name: string; pv: string; expect: 'active' | 'any'; control: boolean }>;
  queueservers: ReadonlyArray<{ pv: string; unit?: string; control: boolean }>;
}

/** The queueserver part of a configuration, which older configurations lack. */
type QueueserverPart = { queueservers?: ReadonlyArray<{ pv: string; unit?: string; control?: boolean }> };

export function serviceSet(config: IocConfig): ServiceSet {
  const qs = (config as IocConfig & QueueserverPart).queueservers ?? [];
  return {
    prefix: config.prefix,
    bus: config.bus,
    units: config.units.map((u) => ({ name: u.name, pv: u.pv, expect: u.expect, control: u.control })),
    queueservers: qs.map((q) => ({ pv: q.pv, unit: q.unit, control: q.control ?? true })),
  };
}

/** The macro every PV name starts with. */
export const PREFIX_MACRO = '$(P)';
export const OVERVIEW_DISPLAY = 'service-overview';

/**
 * Base names (no extension) of the detail displays, by the manager's pv.
 * A pv may hold characters that do not belong in a file name (":", "<"...):
 * those become "_", and a name that is then taken gets "-2", "-3"...
 */
export function detailDisplayNames(set: ServiceSet): Map<string, string> {
  const names = new Map<string, string>();
  const taken = new Set<string>();
  for (const q of set.queueservers) {
    const base = `queueserver-${q.pv.replace(/[^A-Za-z0-9_.-]/g, '_')}`;
    let name = base;
    for (let n = 2; taken.has(name); n++) name = `${base}-${n}`;
    taken.add(name);
    names.set(q.pv, name);
  }
  return names;
}

// ---------------------------------------------------------------------------
// Colours and state labels. The labels are the records' state strings
// (ZRST.., ZNAM/ONAM in db/*.db); a test checks that they still match.

export type Rgb = readonly [number, number, number];
export interface StateLook {
  readonly label: string;
  readonly color: Rgb;
}
export interface FlagLook {
  readonly off: StateLook;
  readonly on: StateLook;
}

const GREEN: Rgb = [0, 200, 0];
const RED: Rgb = [255, 0, 0];
const YELLOW: Rgb = [255, 210, 0];
const ORANGE: Rgb = [255, 140, 0];
const BLUE: Rgb = [70, 150, 255];
const GREY: Rgb = [160, 160, 160];

const look = (label: string, color: Rgb): StateLook => ({ label, color });
const flag = (off: string, offColor: Rgb, on: string, onColor: Rgb): FlagLook => ({ off: look(off, offColor), on: look(on, onColor) });

/** systemd ActiveState, in the order of the mbbi (db/unit.db). */
export const ACTIVE_STATE_LOOKS: readonly StateLook[] = [
  look('inactive', GREY), look('active', GREEN), look('activating', YELLOW), look('deactivating', YELLOW),
  look('failed', RED), look('reloading', YELLOW), look('maintenance', ORANGE), look('refreshing', YELLOW),
];
/** RE Manager state (db/queueserver.db): busy is blue, transitions yellow. */
export const MANAGER_STATE_LOOKS: readonly StateLook[] = [
  look('initializing', YELLOW), look('idle', GREEN), look('paused', ORANGE), look('creating_environment', YELLOW),
  look('starting_queue', BLUE), look('executing_queue', BLUE), look('executing_task', BLUE),
  look('closing_environment', YELLOW), look('destroying_environment', YELLOW), look('disconnected', RED),
];
export const RE_STATE_LOOKS: readonly StateLook[] = [
  look('none', GREY), look('idle', GREEN), look('running', BLUE), look('pausing', YELLOW), look('paused', ORANGE),
  look('halting', YELLOW), look('stopping', YELLOW), look('aborting', YELLOW), look('suspending', YELLOW), look('panicked', RED),
];
export const ENV_STATE_LOOKS: readonly StateLook[] = [
  look('initializing', YELLOW), look('idle', GREEN), look('failed', RED), look('reserved', BLUE),
  look('executing_plan', BLUE), look('executing_task', BLUE), look('closing', YELLOW), look('closed', GREY),
];
export const EXIT_STATUS_LOOKS: readonly StateLook[] = [
  look('completed', GREEN), look('failed', RED), look('stopped', GREY), look('aborted', ORANGE),
  look('halted', RED), look('unknown', ORANGE), look('none', GREY),
];

// ---------------------------------------------------------------------------
// The layout

interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export type Widget = Box & (
  | { kind: 'label'; text: string; style: 'title' | 'heading' | 'plain' }
  /** A multi-state LED on an mbbi; MEDM: a text update coloured by alarm. */
  | { kind: 'state'; pv: string; states: readonly StateLook[] }
  /** An LED on a bi. */
  | { kind: 'flag'; pv: string; look: FlagLook }
  /** A text update; `long` for an lsi, whose whole text only `.VAL$` serves (40 characters otherwise). */
  | { kind: 'value'; pv: string; long?: boolean }
  /** A button that writes `value` after the operator confirms. */
  | { kind: 'write'; pv: string; value: number; text: string; confirm: string }
  /** A button that opens another display (base name, no extension). */
  | { kind: 'open'; text: string; display: string; macros: ReadonlyArray<readonly [string, string]> }
);

export interface Screen {
  /** File base name. */
  name: string;
  title: string;
  width: number;
  height: number;
  widgets: Widget[];
}

const ROW_HEIGHT = 22;
const ROW_STEP = 28;
const BUTTON_WIDTH = 90;
const BUTTON_STEP = 95;

/** Overview columns: x and width. */
const COL = {
  name: { x: 10, width: 230 },
  state: { x: 245, width: 120 },
  flag: { x: 370, width: 100 },
  third: { x: 475, width: 110 },
  fourth: { x: 590, width: 90 },
  fifth: { x: 685, width: 70 },
  /** The fourth and fifth together. */
  wide: { x: 590, width: 165 },
  buttons: { x: 760, width: 0 },
} as const;
const OVERVIEW_WIDTH = COL.buttons.x + 4 * BUTTON_STEP + 5;

const pvOf = (record: string): string => `${PREFIX_MACRO}${record}`;

function label(col: { x: number; width: number }, y: number, text: string, style: 'title' | 'heading' | 'plain' = 'plain'): Widget {
  return { kind: 'label', x: col.x, y, width: col.width, height: style === 'title' ? 30 : ROW_HEIGHT, text, style };
}

export function overviewScreen(set: ServiceSet): Screen {
  const w: Widget[] = [];
  const at = (col: { x: number; width: number }, y: number): Box => ({ x: col.x, y, width: col.width, height: ROW_HEIGHT });
  w.push(label({ x: 10, width: OVERVIEW_WIDTH - 20 }, 10, `Services ${PREFIX_MACRO}`, 'title'));

  let y = 50;
  w.push(label(COL.name, y, 'IOC', 'heading'), label(COL.state, y, 'Health', 'heading'), label(COL.flag, y, 'systemd bus', 'heading'),
    label(COL.third, y, 'Uptime', 'heading'), label(COL.wide, y, 'Version', 'heading'));
  y += ROW_STEP;
  w.push(label(COL.name, y, 'service-ioc'));
  w.push({ kind: 'flag', ...at(COL.state, y), pv: pvOf('IOC:Health'), look: flag('Fault', RED, 'OK', GREEN) });
  w.push({ kind: 'flag', ...at(COL.flag, y), pv: pvOf('IOC:BusConnected'), look: flag('Disconnected', RED, 'Connected', GREEN) });
  w.push({ kind: 'value', ...at(COL.third, y), pv: pvOf('IOC:Uptime') });
  w.push({ kind: 'value', ...at(COL.wide, y), pv: pvOf('IOC:Version') });
  y += ROW_STEP + 10;

  if (set.units.length > 0) {
    w.push(label(COL.name, y, 'Service', 'heading'), label(COL.state, y, 'State', 'heading'), label(COL.flag, y, 'Process', 'heading'),
      label(COL.third, y, 'Sub-state', 'heading'), label(COL.fourth, y, 'Uptime', 'heading'), label(COL.fifth, y, 'Restarts', 'heading'));
    y += ROW_STEP;
    for (const u of set.units) {
      const rec = (name: string): string => pvOf(`${u.pv}:${name}`);
      w.push(label(COL.name, y, u.name));
      w.push({ kind: 'state', ...at(COL.state, y), pv: rec('ActiveState'), states: ACTIVE_STATE_LOOKS });
      w.push({ kind: 'flag', ...at(COL.flag, y), pv: rec('Running'), look: flag('Stopped', GREY, 'Running', GREEN) });
      w.push({ kind: 'value', ...at(COL.third, y), pv: rec('SubState') });
      w.push({ kind: 'value', ...at(COL.fourth, y), pv: rec('Uptime') });
      w.push({ kind: 'value', ...at(COL.fifth, y), pv: rec('NRestarts') });
      if (u.control) {
        const controls: Array<[string, string, string]> = [
          ['Start', 'Start', `Start ${u.name}?`],
          ['Stop', 'Stop', `Stop ${u.name}?`],
          ['Restart', 'Restart', `Restart ${u.name}?`],
          ['ResetFailed', 'Reset failed', `Reset the failed state of ${u.name}?`],
        ];
        controls.forEach(([record, text, confirm], i) => {
          w.push({ kind: 'write', x: COL.buttons.x + i * BUTTON_STEP, y, width: BUTTON_WIDTH, height: ROW_HEIGHT, pv: rec(record), value: 1, text, confirm });
        });
      }
      y += ROW_STEP;
    }
    y += 10;
  }

  if (set.queueservers.length > 0) {
    const details = detailDisplayNames(set);
    w.push(label(COL.name, y, 'RE Manager', 'heading'), label(COL.state, y, 'State', 'heading'), label(COL.flag, y, 'Connection', 'heading'),
      label(COL.third, y, 'Queue', 'heading'), label(COL.wide, y, 'Running plan', 'heading'));
    y += ROW_STEP;
    for (const q of set.queueservers) {
      const rec = (name: string): string => pvOf(`${q.pv}:${name}`);
      w.push(label(COL.name, y, q.pv));
      w.push({ kind: 'state', ...at(COL.state, y), pv: rec('ManagerState'), states: MANAGER_STATE_LOOKS });
      w.push({ kind: 'flag', ...at(COL.flag, y), pv: rec('Connected'), look: flag('Disconnected', RED, 'Connected', GREEN) });
      w.push({ kind: 'value', ...at(COL.third, y), pv: rec('QueueLength') });
      w.push({ kind: 'value', ...at(COL.wide, y), pv: rec('RunningPlan') });
      w.push({
        kind: 'open', x: COL.buttons.x, y, width: BUTTON_WIDTH, height: ROW_HEIGHT,
        text: 'Details', display: details.get(q.pv) as string, macros: [['P', PREFIX_MACRO]],
      });
      y += ROW_STEP;
    }
    y += 10;
  }
  return { name: OVERVIEW_DISPLAY, title: 'Services', width: OVERVIEW_WIDTH, height: y + 10, widgets: w };
}

/** How a manager is named on screens and in alarms. */
export function managerTitle(q: { pv: string; unit?: string }): string {
  return q.unit === undefined ? `RE Manager ${q.pv}` : `RE Manager ${q.pv} (${q.unit})`;
}

const DETAIL_WIDTH = 720;

export function queueserverScreen(set: ServiceSet, q: ServiceSet['queueservers'][number]): Screen {
  const w: Widget[] = [];
  const rec = (name: string): string => pvOf(`${q.pv}:${name}`);
  const name = detailDisplayNames(set).get(q.pv) as string;
  w.push(label({ x: 10, width: DETAIL_WIDTH - 20 }, 10, `${managerTitle(q)} ${PREFIX_MACRO}`, 'title'));

  type Row = [string, (box: Box) => Widget];
  const stateRow = (text: string, record: string, states: readonly StateLook[]): Row =>
    [text, (b) => ({ kind: 'state', ...b, pv: rec(record), states })];
  const flagRow = (text: string, record: string, f: FlagLook): Row => [text, (b) => ({ kind: 'flag', ...b, pv: rec(record), look: f })];
  const valueRow = (text: string, record: string): Row => [text, (b) => ({ kind: 'value', ...b, pv: rec(record) })];
  const column = (x: number, top: number, heading: string, rows: Row[]): number => {
    w.push(label({ x, width: 330 }, top, heading, 'heading'));
    let y = top + ROW_STEP;
    for (const [text, make] of rows) {
      w.push(label({ x, width: 130 }, y, text));
      w.push(make({ x: x + 135, y, width: 200, height: ROW_HEIGHT }));
      y += ROW_STEP;
    }
    return y;
  };
  const left = column(10, 50, 'Manager', [
    flagRow('Connection', 'Connected', flag('Disconnected', RED, 'Connected', GREEN)),
    stateRow('State', 'ManagerState', MANAGER_STATE_LOOKS),
    stateRow('RunEngine', 'REState', RE_STATE_LOOKS),
    flagRow('Environment', 'EnvExists', flag('No', GREY, 'Yes', GREEN)),
    stateRow('Env. state', 'EnvState', ENV_STATE_LOOKS),
    flagRow('Env. lock', 'LockedEnv', flag('Unlocked', GREY, 'Locked', ORANGE)),
    flagRow('Queue lock', 'LockedQueue', flag('Unlocked', GREY, 'Locked', ORANGE)),
    valueRow('Status age', 'StatusAge'),
    valueRow('Version', 'Version'),
  ]);
  const right = column(365, 50, 'Queue', [
    valueRow('Queue length', 'QueueLength'),
    valueRow('History length', 'HistoryLength'),
    flagRow('Plan', 'Running', flag('Idle', GREY, 'Running', BLUE)),
    valueRow('Running plan', 'RunningPlan'),
    valueRow('Item uid', 'RunningItemUid'),
    stateRow('Last exit', 'LastExitStatus', EXIT_STATUS_LOOKS),
    flagRow('Stop pending', 'StopPending', flag('No', GREY, 'Pending', YELLOW)),
    flagRow('Pause pending', 'PausePending', flag('No', GREY, 'Pending', YELLOW)),
    flagRow('Autostart', 'Autostart', flag('Off', GREY, 'On', GREEN)),
    flagRow('Loop mode', 'LoopMode', flag('Off', GREY, 'On', GREEN)),
    valueRow('Background tasks', 'BackgroundTasks'),
  ]);
  let y = Math.max(left, right) + 10;
  w.push(label({ x: 10, width: 130 }, y, 'Console'));
  w.push({ kind: 'value', x: 145, y, width: DETAIL_WIDTH - 155, height: ROW_HEIGHT, pv: rec('ConsoleLast'), long: true });
  y += ROW_STEP + 10;

  if (q.control) {
    const who = `RE Manager ${q.pv}`;
    w.push(label({ x: 10, width: 330 }, y, 'Controls', 'heading'));
    y += ROW_STEP;
    const buttons = (text: string, list: Array<[record: string, value: number, text: string, confirm: string]>): void => {
      w.push(label({ x: 10, width: 130 }, y, text));
      list.forEach(([record, value, buttonText, confirm], i) => {
        w.push({ kind: 'write', x: 145 + i * BUTTON_STEP, y, width: BUTTON_WIDTH, height: ROW_HEIGHT, pv: rec(record), value, text: buttonText, confirm: `${confirm} (${who})` });
      });
      y += ROW_STEP;
    };
    buttons('Environment', [
      ['EnvOpen', 1, 'Open', 'Open the RE environment?'],
      ['EnvClose', 1, 'Close', 'Close the RE environment?'],
      ['EnvDestroy', 1, 'Destroy', 'Destroy the RE environment? A running plan is lost.'],
    ]);
    buttons('Queue', [
      ['QueueStart', 1, 'Start', 'Start the queue?'],
      ['QueueStop', 1, 'Stop', 'Stop the queue after the running plan?'],
      ['QueueStopCancel', 1, 'Cancel stop', 'Cancel the pending queue stop?'],
      ['AutostartSet', 1, 'Autostart on', 'Turn queue autostart on?'],
      ['AutostartSet', 0, 'Autostart off', 'Turn queue autostart off?'],
    ]);
    buttons('Plan', [
      ['REPause', 1, 'Pause', 'Pause the running plan at its next checkpoint?'],
      ['REPause', 2, 'Pause now', 'Pause the running plan immediately?'],
      ['REResume', 1, 'Resume', 'Resume the paused plan?'],
      ['REStop', 1, 'Stop', 'Stop the paused plan (success)?'],
      ['REAbort', 1, 'Abort', 'Abort the paused plan (failure)?'],
      ['REHalt', 1, 'Halt', 'Halt the paused plan without cleanup?'],
    ]);
    w.push(label({ x: 10, width: 130 }, y, 'Last command'));
    w.push({ kind: 'flag', x: 145, y, width: BUTTON_WIDTH, height: ROW_HEIGHT, pv: rec('CmdStatus'), look: flag('Failed', RED, 'OK', GREEN) });
    w.push({ kind: 'value', x: 145 + BUTTON_STEP, y, width: DETAIL_WIDTH - 155 - BUTTON_STEP, height: ROW_HEIGHT, pv: rec('CmdMessage'), long: true });
    y += ROW_STEP + 10;
  }
  return { name, title: managerTitle(q), width: DETAIL_WIDTH, height: y, widgets: w };
}

export function allScreens(set: ServiceSet): Screen[] {
  return [overviewScreen(set), ...set.queueservers.map((q) => queueserverScreen(set, q))];
}

// ---------------------------------------------------------------------------
// Phoebus .bob

const GENERATED = 'Generated by service-ioc screens from the IOC configuration; regenerate rather than edit.';

function color(property: string, rgb: Rgb): XmlElement {
  return el(property, null, el('color', { red: rgb[0], green: rgb[1], blue: rgb[2] }));
}

/** Named fonts of Phoebus's default font configuration. */
function bobFont(style: 'title' | 'heading' | 'plain'): XmlElement | undefined {
  if (style === 'title') return el('font', null, el('font', { name: 'Header 2', family: 'Liberation Sans', style: 'BOLD', size: '18.0' }));
  if (style === 'heading') return el('font', null, el('font', { name: 'Default Bold', family: 'Liberation Sans', style: 'BOLD', size: '14.0' }));
  return undefined;
}

/** Phoebus widget versions (each widget class's getVersion()). */
const BOB_VERSION: Record<Widget['kind'], string> = {
  label: '2.0.0', state: '2.0.0', flag: '2.0.0', value: '2.0.0', write: '3.0.0', open: '3.0.0',
};
const BOB_TYPE: Record<Widget['kind'], string> = {
  label: 'label', state: 'multi_state_led', flag: 'led', value: 'textupdate', write: 'action_button', open: 'action_button',
};
/** VerticalAlignment.MIDDLE, as its ordinal. */
const MIDDLE = 1;
/** FormatOption.STRING, as its ordinal: shows a CHAR array as text. */
const FORMAT_STRING = 6;

/** An lsi's whole value as a CHAR array (the `$` field modifier). */
export function longStringPv(pv: string): string {
  return `${pv}.VAL$`;
}

function bobWidget(w: Widget, index: number): XmlElement {
  const box = [leaf('x', w.x), leaf('y', w.y), leaf('width', w.width), leaf('height', w.height)];
  const head = (name: string, pv?: string): XmlElement[] => [leaf('name', name), ...(pv === undefined ? [] : [leaf('pv_name', pv)]), ...box];
  const widget = (...children: Array<XmlElement | undefined>): XmlElement =>
    el('widget', { type: BOB_TYPE[w.kind], version: BOB_VERSION[w.kind] }, ...children);
  switch (w.kind) {
    case 'label':
      return widget(...head(`Label ${index}`), leaf('text', w.text), bobFont(w.style), leaf('vertical_alignment', MIDDLE));
    case 'state':
      return widget(
        ...head(w.pv.slice(PREFIX_MACRO.length), w.pv),
        el('states', null, w.states.map((s, i) => el('state', null, leaf('value', i), leaf('label', s.label), color('color', s.color)))),
        leaf('fallback_label', 'unknown'),
        leaf('square', true),
      );
    case 'flag':
      return widget(
        ...head(w.pv.slice(PREFIX_MACRO.length), w.pv),
        leaf('off_label', w.look.off.label), color('off_color', w.look.off.color),
        leaf('on_label', w.look.on.label), color('on_color', w.look.on.color),
        leaf('square', true),
      );
    case 'value':
      return w.long
        ? widget(...head(w.pv.slice(PREFIX_MACRO.length), longStringPv(w.pv)), leaf('format', FORMAT_STRING), leaf('vertical_alignment', MIDDLE))
        : widget(...head(w.pv.slice(PREFIX_MACRO.length), w.pv), leaf('vertical_alignment', MIDDLE));
    case 'write':
      return widget(
        ...head(`${w.text} ${w.pv.slice(PREFIX_MACRO.length)}`, w.pv),
        el('actions', null, el('action', { type: 'write_pv' }, leaf('pv_name', w.pv), leaf('value', w.value), leaf('description', w.text))),
        leaf('text', w.text),
        leaf('show_confirm_dialog', true),
        leaf('confirm_message', w.confirm),
      );
    case 'open':
      return widget(
        ...head(`${w.text} ${w.display}`),
        el('actions', null, el('action', { type: 'open_display' },
          leaf('file', `${w.display}.bob`),
          el('macros', null, w.macros.map(([k, v]) => leaf(k, v))),
          leaf('target', 'tab'),
          leaf('description', w.text))),
        leaf('text', w.text),
      );
  }
}

export function renderBob(screen: Screen, prefix: string): string {
  const display = el('display', { version: '2.0.0' },
    leaf('name', screen.title),
    el('macros', null, leaf('P', prefix)),
    leaf('width', screen.width),
    leaf('height', screen.height),
    screen.widgets.map((w, i) => bobWidget(w, i)),
  );
  return renderXmlDocument(display, GENERATED);
}

// ---------------------------------------------------------------------------
// MEDM .adl

/** MEDM's default 65-colour map (what medm writes into every new display). */
export const MEDM_COLORS: readonly string[] = [
  'ffffff', 'ececec', 'dadada', 'c8c8c8', 'bbbbbb', 'aeaeae', '9e9e9e', '919191', '858585', '787878',
  '696969', '5a5a5a', '464646', '2d2d2d', '000000', '00d800', '1ebb00', '339900', '2d7f00', '216c00',
  'fd0000', 'de1309', 'be190b', 'a01207', '820400', '5893ff', '597ee1', '4b6ec7', '3a5eab', '27548d',
  'fbf34a', 'f9da3c', 'eeb62b', 'e19015', 'cd6100', 'ffb0ff', 'd67fe2', 'ae4ebc', '8b1a96', '610a75',
  'a4aaff', '8793e2', '6a73c1', '4d52a4', '343386', 'c7bb6d', 'b79d5c', 'a47e3c', '7d5627', '58340f',
  '99ffff', '73dfff', '4ea5f9', '2a63e4', '0a00b8', 'ebf1b5', 'd4db9d', 'bbc187', 'a6a462', '8b8239',
  '73ff6b', '52da3b', '3cb420', '289315', '1a7309',
];
/** Indices into MEDM_COLORS. */
const ADL = { black: 14, background: 4, field: 3, button: 51 } as const;

/** An .adl block: `name { ... }`; items are key=value pairs, nested blocks or raw lines. */
interface AdlBlock {
  name: string;
  items: Array<AdlBlock | { key: string; value: string | number } | { raw: string }>;
}

const blk = (name: string, ...items: AdlBlock['items']): AdlBlock => ({ name, items });
const num = (key: string, value: number): { key: string; value: number } => ({ key, value });
/** A quoted .adl string; MEDM has no escape for a double quote. */
const str = (key: string, value: string): { key: string; value: string } => {
  if (/["\n]/.test(value)) throw new Error(`MEDM cannot hold ${JSON.stringify(value)} in ${key}`);
  return { key, value };
};

function renderAdlBlock(b: AdlBlock, depth: number, out: string[]): void {
  const pad = '\t'.repeat(depth);
  out.push(`${pad}${/^[A-Za-z0-9_[\]]+$/.test(b.name) ? b.name : `"${b.name}"`} {`);
  for (const item of b.items) {
    if ('items' in item) renderAdlBlock(item, depth + 1, out);
    else if ('raw' in item) out.push(`${pad}\t${item.raw}`);
    else out.push(`${pad}\t${item.key}=${typeof item.value === 'number' ? item.value : `"${item.value}"`}`);
  }
  out.push(`${pad}}`);
}

function adlObject(w: Box): AdlBlock {
  return blk('object', num('x', w.x), num('y', w.y), num('width', w.width), num('height', w.height));
}

function adlWidget(w: Widget): AdlBlock {
  const monitor = (pv: string): AdlBlock[] => [
    adlObject(w),
    blk('monitor', str('chan', pv), num('clr', ADL.black), num('bclr', ADL.field)),
  ];
  switch (w.kind) {
    case 'label':
      return blk('text', adlObject(w), blk('basic attribute', num('clr', ADL.black)), str('textix', w.text));
    case 'state':
    case 'flag':
      // No multi-state LED in MEDM: the state's name, coloured by the record's severity.
      return blk('text update', ...monitor(w.pv), str('clrmod', 'alarm'), str('align', 'horiz. centered'), blk('limits'));
    case 'value':
      return w.long
        ? blk('text update', ...monitor(longStringPv(w.pv)), str('format', 'string'), blk('limits'))
        : blk('text update', ...monitor(w.pv), blk('limits'));
    case 'write':
      // MEDM's message button cannot ask for confirmation.
      return blk('message button', adlObject(w),
        blk('control', str('chan', w.pv), num('clr', ADL.black), num('bclr', ADL.button)),
        str('label', w.text), str('press_msg', String(w.value)));
    case 'open':
      return blk('related display', adlObject(w),
        blk('display[0]', str('label', w.text), str('name', `${w.display}.adl`), str('args', w.macros.map(([k, v]) => `${k}=${v}`).join(','))),
        num('clr', ADL.black), num('bclr', ADL.button), str('label', `-${w.text}`));
  }
}

/** MEDM's file format version written by MEDM 3.1.x. */
const ADL_VERSION = '030111';

export function renderAdl(screen: Screen): string {
  const out: string[] = [];
  renderAdlBlock(blk('file', str('name', `${screen.name}.adl`), { raw: `version=${ADL_VERSION}` }), 0, out);
  renderAdlBlock(blk('display',
    blk('object', num('x', 100), num('y', 100), num('width', screen.width), num('height', screen.height)),
    num('clr', ADL.black), num('bclr', ADL.background), str('cmap', ''),
    num('gridSpacing', 5), num('gridOn', 0), num('snapToGrid', 0)), 0, out);
  renderAdlBlock(blk('color map', num('ncolors', MEDM_COLORS.length), blk('colors', ...MEDM_COLORS.map((c) => ({ raw: `${c},` })))), 0, out);
  for (const w of screen.widgets) renderAdlBlock(adlWidget(w), 0, out);
  return out.join('\n') + '\n';
}

// ---------------------------------------------------------------------------
// The command

export function generateScreens(set: ServiceSet): GeneratedFile[] {
  const files: GeneratedFile[] = [];
  for (const screen of allScreens(set)) {
    files.push({ name: `${screen.name}.bob`, text: renderBob(screen, set.prefix) });
    files.push({ name: `${screen.name}.adl`, text: renderAdl(screen) });
  }
  return files;
}

/** `service-ioc screens -c FILE.toml -o DIR` */
export function screensCommand(args: readonly string[], usage: UsageErrorFactory): number {
  const options = parseOptions(args, { '-c': true, '-o': true }, usage);
  const config = loadConfig(options.get('-c') as string);
  for (const file of writeGeneratedFiles(options.get('-o') as string, generateScreens(serviceSet(config)))) process.stdout.write(`${file}\n`);
  return 0;
}
