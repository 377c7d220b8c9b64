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
import { formatRedisAddress } from '../redis/config';
import { loadConfig, type IocConfig } from './config';
import { parseOptions, phoebusPvName, protocolOption, writeGeneratedFiles, type GeneratedFile, type Protocol, type UsageErrorFactory } from './command-args';
import { el, leaf, renderXmlDocument, type XmlElement } from './xml-text';
import {
  MEDM_BUTTON_PADDING, MEDM_VALUE_PADDING, PHOEBUS_FONTS, PHOEBUS_PADDING, medmButtonFont, medmTextFont, medmTextWidth, phoebusTextWidth,
} from './screen-fonts';

// ---------------------------------------------------------------------------
// What the displays are drawn from

/** The parts of a configuration the operator files show. */
export interface ServiceSet {
  prefix: string;
  bus: 'user' | 'system';
  units: ReadonlyArray<{ name: string; pv: string; expect: 'active' | 'any'; control: boolean }>;
  /** `redis`: the pv of the [[redis]] table of the manager's redis. */
  queueservers: ReadonlyArray<{ pv: string; unit?: string; redis?: string; control: boolean }>;
  /** redis servers watched ([[redis]]). */
  redis: ReadonlyArray<{ pv: string; addr: string; unit?: string }>;
}

/** The queueserver part of a configuration, which older configurations lack. */
type QueueserverPart = { queueservers?: ReadonlyArray<{ pv: string; unit?: string; redis?: string; control?: boolean }> };

export function serviceSet(config: IocConfig): ServiceSet {
  const qs = (config as IocConfig & QueueserverPart).queueservers ?? [];
  return {
    prefix: config.prefix,
    bus: config.bus,
    units: config.units.map((u) => ({ name: u.name, pv: u.pv, expect: u.expect, control: u.control })),
    queueservers: qs.map((q) => ({ pv: q.pv, unit: q.unit, redis: q.redis, control: q.control ?? true })),
    redis: (config.redis ?? []).map((r) => ({ pv: r.pv, addr: formatRedisAddress(r.addr), unit: r.unit })),
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
// The layout. Screens are tables of cells; a widget's width comes from what
// it shows (its label, its state names, the characters of its value) in the
// fonts each tool draws with (./screen-fonts), so nothing is clipped.

interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export type TextStyle = 'title' | 'heading' | 'plain';

/** What goes in one place of a screen: a widget without its box. */
export type Cell =
  | { kind: 'label'; text: string; style: TextStyle }
  /** A multi-state LED on an mbbi; MEDM: a text update coloured by alarm. */
  | { kind: 'state'; pv: string; states: readonly StateLook[] }
  /** An LED on a bi. */
  | { kind: 'flag'; pv: string; look: FlagLook }
  /**
   * A text update, `chars` wide (the longest value it is meant to show);
   * `long` for an lsi, whose whole text only `.VAL$` serves (40 characters otherwise).
   */
  | { kind: 'value'; pv: string; chars: number; long?: boolean }
  /** A button that writes `value` after the operator confirms. */
  | { kind: 'write'; pv: string; value: number; text: string; confirm: string }
  /** A button that opens another display (base name, no extension). */
  | { kind: 'open'; text: string; display: string; macros: ReadonlyArray<readonly [string, string]> };

export type Widget = Box & Cell;

export interface Screen {
  /** File base name. */
  name: string;
  title: string;
  width: number;
  height: number;
  widgets: Widget[];
}

/**
 * Heights. 18 px text gives MEDM's widgetDM_18 (8x16) for text and text
 * updates, a 24 px button the same font for its label; Phoebus's 14 px
 * font fits both. Titles: 24 px, widgetDM_24 (12x24) in MEDM.
 */
export const TEXT_HEIGHT = 18;
export const TITLE_HEIGHT = 24;
export const BUTTON_HEIGHT = 24;
const ROW_STEP = 28;
/** Text sits in the middle of a button row. */
const TEXT_DY = (BUTTON_HEIGHT - TEXT_HEIGHT) / 2;
const GAP = 8;
const MARGIN = 10;

const MEDM_TEXT_FONT = medmTextFont(TEXT_HEIGHT);
const MEDM_TITLE_FONT = medmTextFont(TITLE_HEIGHT);
const MEDM_BUTTON_FONT = medmButtonFont(BUTTON_HEIGHT);

const roundUp = (n: number): number => Math.ceil(n / 5) * 5;

function labelRoom(text: string, style: TextStyle): number {
  const medm = medmTextWidth(style === 'title' ? MEDM_TITLE_FONT : MEDM_TEXT_FONT, text);
  return Math.max(medm, phoebusTextWidth(text, PHOEBUS_FONTS[style]) + PHOEBUS_PADDING.label);
}

function stateRoom(labels: readonly string[]): number {
  return Math.max(...labels.map((l) => Math.max(medmTextWidth(MEDM_TEXT_FONT, l) + MEDM_VALUE_PADDING, phoebusTextWidth(l, PHOEBUS_FONTS.plain) + PHOEBUS_PADDING.led)));
}

/** A value of `chars` characters: digits and lower-case letters are no wider than "0" and "n" in Liberation Sans. */
function valueRoom(chars: number): number {
  const text = 'n'.repeat(chars);
  return Math.max(medmTextWidth(MEDM_TEXT_FONT, text) + MEDM_VALUE_PADDING, phoebusTextWidth(text, PHOEBUS_FONTS.plain) + PHOEBUS_PADDING.value);
}

function buttonRoom(text: string): number {
  return Math.max(medmTextWidth(MEDM_BUTTON_FONT, text) + MEDM_BUTTON_PADDING, phoebusTextWidth(text, PHOEBUS_FONTS.plain) + PHOEBUS_PADDING.button);
}

/** The width a cell needs, rounded up to 5 px. */
export function cellWidth(c: Cell): number {
  switch (c.kind) {
    case 'label': return roundUp(labelRoom(c.text, c.style));
    case 'state': return roundUp(stateRoom(c.states.map((s) => s.label)));
    case 'flag': return roundUp(stateRoom([c.look.off.label, c.look.on.label]));
    case 'value': return roundUp(valueRoom(c.chars));
    case 'write': case 'open': return roundUp(buttonRoom(c.text));
  }
}

const isButton = (c: Cell): boolean => c.kind === 'write' || c.kind === 'open';

/** A cell put in a row whose top is `y`: buttons fill the row's height, text sits in its middle. */
function place(c: Cell, x: number, y: number, width: number): Widget {
  if (isButton(c)) return { ...c, x, y, width, height: BUTTON_HEIGHT };
  if (c.kind === 'label' && c.style === 'title') return { ...c, x, y, width, height: TITLE_HEIGHT };
  return { ...c, x, y: y + TEXT_DY, width, height: TEXT_HEIGHT };
}

const pvOf = (record: string): string => `${PREFIX_MACRO}${record}`;
const text = (t: string, style: TextStyle = 'plain'): Cell => ({ kind: 'label', text: t, style });
const state = (pv: string, states: readonly StateLook[]): Cell => ({ kind: 'state', pv, states });
const flagCell = (pv: string, f: FlagLook): Cell => ({ kind: 'flag', pv, look: f });
const value = (pv: string, chars: number): Cell => ({ kind: 'value', pv, chars });
const longValue = (pv: string, chars: number): Cell => ({ kind: 'value', pv, chars, long: true });

/** A table of the overview: a heading row, then one row per service, each optionally followed by buttons. */
interface Table {
  headings: string[];
  rows: Array<{ cells: Cell[]; buttons: Cell[] }>;
}

/**
 * Lays tables out one below the other, each on its own column grid (a
 * column as wide as its widest cell) except the first column, the names,
 * which all tables share; the buttons of every row share one width and
 * follow the row's table.
 */
function layoutTables(tables: readonly Table[], top: number, out: Widget[]): { bottom: number; right: number } {
  const nameWidth = Math.max(...tables.flatMap((t) => [cellWidth(text(t.headings[0], 'heading')), ...t.rows.map((r) => cellWidth(r.cells[0]))]));
  const buttonWidth = Math.max(0, ...tables.flatMap((t) => t.rows.flatMap((r) => r.buttons.map(cellWidth))));
  let y = top;
  let right = 0;
  for (const t of tables) {
    const widths = t.headings.map((h, i) => Math.max(cellWidth(text(h, 'heading')), ...t.rows.map((r) => (r.cells[i] ? cellWidth(r.cells[i]) : 0))));
    widths[0] = nameWidth;
    const xs: number[] = [];
    widths.forEach((_w, i) => { xs[i] = i === 0 ? MARGIN : xs[i - 1] + widths[i - 1] + GAP; });
    const buttonsX = xs[xs.length - 1] + widths[widths.length - 1] + GAP;
    right = Math.max(right, buttonsX - GAP);
    t.headings.forEach((h, i) => out.push(place(text(h, 'heading'), xs[i], y, widths[i])));
    y += ROW_STEP;
    for (const r of t.rows) {
      r.cells.forEach((c, i) => out.push(place(c, xs[i], y, widths[i])));
      r.buttons.forEach((b, i) => out.push(place(b, buttonsX + i * (buttonWidth + GAP), y, buttonWidth)));
      if (r.buttons.length > 0) right = Math.max(right, buttonsX + r.buttons.length * (buttonWidth + GAP) - GAP);
      y += ROW_STEP;
    }
    y += 10;
  }
  return { bottom: y, right };
}

/** The title across the top; its width allows for the prefix it shows. */
function titleWidget(title: string, prefix: string, width: number): Widget {
  const room = cellWidth(text(title.split(PREFIX_MACRO).join(prefix), 'title'));
  return place(text(title, 'title'), MARGIN, MARGIN, Math.max(width, room));
}

function finish(name: string, title: string, widgets: Widget[], bottom: number): Screen {
  const width = Math.max(...widgets.map((w) => w.x + w.width)) + MARGIN;
  return { name, title, width, height: bottom + MARGIN, widgets };
}

/** The controls of a unit: [record, button text, confirmation]. */
export const UNIT_CONTROLS: ReadonlyArray<readonly [string, string, (unit: string) => string]> = [
  ['Start', 'Start', (u) => `Start ${u}?`],
  ['Stop', 'Stop', (u) => `Stop ${u}?`],
  ['Restart', 'Restart', (u) => `Restart ${u}?`],
  ['ResetFailed', 'Reset failed', (u) => `Reset the failed state of ${u}?`],
];

export function overviewScreen(set: ServiceSet): Screen {
  const tables: Table[] = [{
    headings: ['IOC', 'Health', 'systemd bus', 'Uptime (s)', 'Version'],
    rows: [{
      cells: [
        text('service-ioc'),
        flagCell(pvOf('IOC:Health'), flag('Fault', RED, 'OK', GREEN)),
        flagCell(pvOf('IOC:BusConnected'), flag('Disconnected', RED, 'Connected', GREEN)),
        value(pvOf('IOC:Uptime'), 10),
        value(pvOf('IOC:Version'), 16),
      ],
      buttons: [],
    }],
  }];
  if (set.units.length > 0) {
    tables.push({
      headings: ['Service', 'State', 'Process', 'Sub-state', 'Uptime (s)', 'Restarts', 'Memory (MiB)', 'CPU (%)', 'Tasks', 'Last journal line'],
      rows: set.units.map((u) => {
        const rec = (name: string): string => pvOf(`${u.pv}:${name}`);
        return {
          cells: [
            text(u.name),
            state(rec('ActiveState'), ACTIVE_STATE_LOOKS),
            flagCell(rec('Running'), flag('Stopped', GREY, 'Running', GREEN)),
            value(rec('SubState'), 12),
            value(rec('Uptime'), 9),
            value(rec('NRestarts'), 5),
            value(rec('MemoryCurrent'), 8),
            value(rec('CPUUsage'), 6),
            value(rec('TasksCurrent'), 5),
            longValue(rec('LogLast'), 40),
          ],
          buttons: u.control
            ? UNIT_CONTROLS.map(([record, label, confirm]): Cell => ({ kind: 'write', pv: rec(record), value: 1, text: label, confirm: confirm(u.name) }))
            : [],
        };
      }),
    });
  }
  if (set.queueservers.length > 0) {
    const details = detailDisplayNames(set);
    tables.push({
      headings: ['RE Manager', 'State', 'Connection', 'Queue', 'Running plan'],
      rows: set.queueservers.map((q) => {
        const rec = (name: string): string => pvOf(`${q.pv}:${name}`);
        return {
          cells: [
            text(q.pv),
            state(rec('ManagerState'), MANAGER_STATE_LOOKS),
            flagCell(rec('Connected'), flag('Disconnected', RED, 'Connected', GREEN)),
            value(rec('QueueLength'), 5),
            value(rec('RunningPlan'), 24),
          ],
          buttons: [{ kind: 'open', text: 'Details', display: details.get(q.pv) as string, macros: [['P', PREFIX_MACRO]] }],
        };
      }),
    });
  }
  if (set.redis.length > 0) {
    tables.push({
      headings: ['redis', 'Connection', 'Ping (ms)', 'Memory (MiB)', 'Persistence', 'Since save (s)', 'Clients', 'Queue', 'History'],
      rows: set.redis.map((r) => {
        const rec = (name: string): string => pvOf(`${r.pv}:${name}`);
        return {
          cells: [
            text(`${r.pv} (${r.addr})`),
            flagCell(rec('Connected'), flag('Disconnected', RED, 'Connected', GREEN)),
            value(rec('PingTime'), 7),
            value(rec('UsedMemory'), 8),
            flagCell(rec('Persistence'), flag('Failed', RED, 'OK', GREEN)),
            value(rec('LastSaveAge'), 7),
            value(rec('ConnectedClients'), 5),
            value(rec('QueueLength'), 5),
            value(rec('HistoryLength'), 6),
          ],
          buttons: [],
        };
      }),
    });
  }
  const w: Widget[] = [];
  const { bottom, right } = layoutTables(tables, MARGIN + TITLE_HEIGHT + 12, w);
  w.unshift(titleWidget(`Services ${PREFIX_MACRO}`, set.prefix, right - MARGIN));
  return finish(OVERVIEW_DISPLAY, 'Services', w, bottom);
}

/** How a manager is named on screens and in alarms. */
export function managerTitle(q: { pv: string; unit?: string }): string {
  return q.unit === undefined ? `RE Manager ${q.pv}` : `RE Manager ${q.pv} (${q.unit})`;
}

/** A form: a heading, then rows of a label and one cell. */
interface Form {
  heading: string;
  rows: Array<readonly [string, Cell]>;
}

/** Forms side by side; returns the bottom of the longest and the right edge of the last. */
function layoutForms(forms: readonly Form[], top: number, out: Widget[]): { bottom: number; right: number } {
  let x = MARGIN;
  let bottom = top;
  for (const f of forms) {
    const labelWidth = Math.max(...f.rows.map(([l]) => cellWidth(text(l))));
    const cellW = Math.max(...f.rows.map(([, c]) => cellWidth(c)));
    const width = Math.max(labelWidth + GAP + cellW, cellWidth(text(f.heading, 'heading')));
    out.push(place(text(f.heading, 'heading'), x, top, width));
    let y = top + ROW_STEP;
    for (const [l, c] of f.rows) {
      out.push(place(text(l), x, y, labelWidth), place(c, x + labelWidth + GAP, y, cellW));
      y += ROW_STEP;
    }
    bottom = Math.max(bottom, y);
    x += width + 3 * GAP;
  }
  return { bottom, right: x - 3 * GAP };
}

/** The controls of a manager, by row: [record, value, button text, confirmation]. */
export const MANAGER_CONTROLS: ReadonlyArray<readonly [string, ReadonlyArray<readonly [string, number, string, string]>]> = [
  ['Environment', [
    ['EnvOpen', 1, 'Open', 'Open the RE environment?'],
    ['EnvClose', 1, 'Close', 'Close the RE environment?'],
    ['EnvDestroy', 1, 'Destroy', 'Destroy the RE environment? A running plan is lost.'],
  ]],
  ['Queue', [
    ['QueueStart', 1, 'Start', 'Start the queue?'],
    ['QueueStop', 1, 'Stop', 'Stop the queue after the running plan?'],
    ['QueueStopCancel', 1, 'Cancel stop', 'Cancel the pending queue stop?'],
    ['AutostartSet', 1, 'Autostart on', 'Turn queue autostart on?'],
    ['AutostartSet', 0, 'Autostart off', 'Turn queue autostart off?'],
  ]],
  ['Plan', [
    ['REPause', 1, 'Pause', 'Pause the running plan at its next checkpoint?'],
    ['REPause', 2, 'Pause now', 'Pause the running plan immediately?'],
    ['REResume', 1, 'Resume', 'Resume the paused plan?'],
    ['REStop', 1, 'Stop', 'Stop the paused plan (success)?'],
    ['REAbort', 1, 'Abort', 'Abort the paused plan (failure)?'],
    ['REHalt', 1, 'Halt', 'Halt the paused plan without cleanup?'],
  ]],
];

export function queueserverScreen(set: ServiceSet, q: ServiceSet['queueservers'][number]): Screen {
  const w: Widget[] = [];
  const rec = (name: string): string => pvOf(`${q.pv}:${name}`);
  const name = detailDisplayNames(set).get(q.pv) as string;
  const forms: Form[] = [
    {
      heading: 'Manager',
      rows: [
        ['Connection', flagCell(rec('Connected'), flag('Disconnected', RED, 'Connected', GREEN))],
        ['State', state(rec('ManagerState'), MANAGER_STATE_LOOKS)],
        ['RunEngine', state(rec('REState'), RE_STATE_LOOKS)],
        ['Environment', flagCell(rec('EnvExists'), flag('No', GREY, 'Yes', GREEN))],
        ['Env. state', state(rec('EnvState'), ENV_STATE_LOOKS)],
        ['Env. lock', flagCell(rec('LockedEnv'), flag('Unlocked', GREY, 'Locked', ORANGE))],
        ['Queue lock', flagCell(rec('LockedQueue'), flag('Unlocked', GREY, 'Locked', ORANGE))],
        ['Status age (s)', value(rec('StatusAge'), 8)],
        ['Version', value(rec('Version'), 16)],
        // The redis it keeps its queue in: down, it is why the manager does not answer.
        ...(q.redis === undefined ? [] : [[`Redis ${q.redis}`, flagCell(pvOf(`${q.redis}:Connected`), flag('Disconnected', RED, 'Connected', GREEN))] as const]),
      ],
    },
    {
      heading: 'Queue',
      rows: [
        ['Queue length', value(rec('QueueLength'), 6)],
        ['History length', value(rec('HistoryLength'), 6)],
        ['Plan', flagCell(rec('Running'), flag('Idle', GREY, 'Running', BLUE))],
        ['Running plan', value(rec('RunningPlan'), 24)],
        ['Item uid', value(rec('RunningItemUid'), 36)],
        ['Last exit', state(rec('LastExitStatus'), EXIT_STATUS_LOOKS)],
        ['Stop pending', flagCell(rec('StopPending'), flag('No', GREY, 'Pending', YELLOW))],
        ['Pause pending', flagCell(rec('PausePending'), flag('No', GREY, 'Pending', YELLOW))],
        ['Autostart', flagCell(rec('Autostart'), flag('Off', GREY, 'On', GREEN))],
        ['Loop mode', flagCell(rec('LoopMode'), flag('Off', GREY, 'On', GREEN))],
        ['Background tasks', value(rec('BackgroundTasks'), 4)],
      ],
    },
  ];
  let { bottom: y, right } = layoutForms(forms, MARGIN + TITLE_HEIGHT + 12, w);
  y += 10;

  // Rows across the whole width: a label, then cells; the last cell of a row stretches to the right edge.
  const labelWidth = Math.max(...['Console', 'Problem', 'Last command', ...MANAGER_CONTROLS.map(([l]) => l)].map((l) => cellWidth(text(l))));
  const cellsX = MARGIN + labelWidth + GAP;
  const buttonWidth = Math.max(...MANAGER_CONTROLS.flatMap(([, list]) => list.map(([, , t]) => cellWidth({ kind: 'write', pv: '', value: 0, text: t, confirm: '' }))));
  if (q.control) right = Math.max(right, cellsX + Math.max(...MANAGER_CONTROLS.map(([, list]) => list.length)) * (buttonWidth + GAP) - GAP);
  const console = longValue(rec('ConsoleLast'), 60);
  right = Math.max(right, cellsX + cellWidth(console));
  w.push(place(text('Console'), MARGIN, y, labelWidth), place(console, cellsX, y, right - cellsX));
  y += ROW_STEP;
  // What is wrong, as one cause: e.g. that it does not answer because its redis is down.
  w.push(place(text('Problem'), MARGIN, y, labelWidth), place(longValue(rec('Problem'), 60), cellsX, y, right - cellsX));
  y += ROW_STEP + 10;

  if (q.control) {
    const who = `RE Manager ${q.pv}`;
    w.push(place(text('Controls', 'heading'), MARGIN, y, cellWidth(text('Controls', 'heading'))));
    y += ROW_STEP;
    for (const [rowLabel, list] of MANAGER_CONTROLS) {
      w.push(place(text(rowLabel), MARGIN, y, labelWidth));
      list.forEach(([record, v, buttonText, confirm], i) => {
        w.push(place({ kind: 'write', pv: rec(record), value: v, text: buttonText, confirm: `${confirm} (${who})` }, cellsX + i * (buttonWidth + GAP), y, buttonWidth));
      });
      y += ROW_STEP;
    }
    const status = flagCell(rec('CmdStatus'), flag('Failed', RED, 'OK', GREEN));
    w.push(place(text('Last command'), MARGIN, y, labelWidth), place(status, cellsX, y, buttonWidth));
    w.push(place(longValue(rec('CmdMessage'), 40), cellsX + buttonWidth + GAP, y, right - cellsX - buttonWidth - GAP));
    y += ROW_STEP + 10;
  }
  w.unshift(titleWidget(`${managerTitle(q)} ${PREFIX_MACRO}`, set.prefix, right - MARGIN));
  return finish(name, managerTitle(q), w, y);
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

function bobWidget(w: Widget, index: number, protocol: Protocol): XmlElement {
  const pvName = (pv: string): string => phoebusPvName(pv, protocol);
  const box = [leaf('x', w.x), leaf('y', w.y), leaf('width', w.width), leaf('height', w.height)];
  const head = (name: string, pv?: string): XmlElement[] => [leaf('name', name), ...(pv === undefined ? [] : [leaf('pv_name', pvName(pv))]), ...box];
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
        leaf('border_alarm_sensitive', true),
      );
    case 'flag':
      return widget(
        ...head(w.pv.slice(PREFIX_MACRO.length), w.pv),
        leaf('off_label', w.look.off.label), color('off_color', w.look.off.color),
        leaf('on_label', w.look.on.label), color('on_color', w.look.on.color),
        leaf('square', true),
        leaf('border_alarm_sensitive', true),
      );
    case 'value':
      // Over pvAccess a long string's VAL is the whole string (QSRV); over CA it takes VAL$.
      return w.long
        ? widget(...head(w.pv.slice(PREFIX_MACRO.length), protocol === 'pva' ? w.pv : longStringPv(w.pv)), leaf('format', FORMAT_STRING), leaf('vertical_alignment', MIDDLE), leaf('border_alarm_sensitive', true))
        : widget(...head(w.pv.slice(PREFIX_MACRO.length), w.pv), leaf('vertical_alignment', MIDDLE), leaf('border_alarm_sensitive', true));
    case 'write':
      return widget(
        ...head(`${w.text} ${w.pv.slice(PREFIX_MACRO.length)}`, w.pv),
        el('actions', null, el('action', { type: 'write_pv' }, leaf('pv_name', pvName(w.pv)), leaf('value', w.value), leaf('description', w.text))),
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

export function renderBob(screen: Screen, prefix: string, protocol: Protocol = 'ca'): string {
  const display = el('display', { version: '2.0.0' },
    leaf('name', screen.title),
    el('macros', null, leaf('P', prefix)),
    leaf('width', screen.width),
    leaf('height', screen.height),
    screen.widgets.map((w, i) => bobWidget(w, i, protocol)),
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
      // Coloured by alarm like the states: an INVALID value must not look valid.
      return w.long
        ? blk('text update', ...monitor(longStringPv(w.pv)), str('clrmod', 'alarm'), str('format', 'string'), blk('limits'))
        : blk('text update', ...monitor(w.pv), str('clrmod', 'alarm'), blk('limits'));
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

/** The displays: Phoebus .bob and MEDM .adl for CA; for pvAccess the .bob files alone (MEDM speaks CA only). */
export function generateScreens(set: ServiceSet, protocol: Protocol = 'ca'): GeneratedFile[] {
  const files: GeneratedFile[] = [];
  for (const screen of allScreens(set)) {
    files.push({ name: `${screen.name}.bob`, text: renderBob(screen, set.prefix, protocol) });
    if (protocol === 'ca') files.push({ name: `${screen.name}.adl`, text: renderAdl(screen) });
  }
  return files;
}

/** What the commands say when --protocol pva leaves out the files of CA-only tools. */
export const CA_ONLY_NOTE = {
  screens: 'MEDM speaks Channel Access only: with --protocol pva only the Phoebus .bob displays are written (no .adl)',
  alarms: 'ALH speaks Channel Access only: with --protocol pva only the Phoebus alarm configuration is written (no .alhConfig)',
} as const;

/** `service-ioc screens -c FILE.toml -o DIR [--protocol ca|pva]` */
export function screensCommand(args: readonly string[], usage: UsageErrorFactory): number {
  const options = parseOptions(args, { '-c': true, '-o': true, '--protocol': false }, usage);
  const protocol = protocolOption(options, usage);
  const config = loadConfig(options.get('-c') as string);
  for (const file of writeGeneratedFiles(options.get('-o') as string, generateScreens(serviceSet(config), protocol))) process.stdout.write(`${file}\n`);
  if (protocol === 'pva') process.stderr.write(`note: ${CA_ONLY_NOTE.screens}\n`);
  return 0;
}
