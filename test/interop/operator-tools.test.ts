/**
 * The generated operator files in the real tools: MEDM 3.1.22 and ALH 1.2.35
 * (../shared/epics) on a virtual X server, against `service-ioc run` serving
 * the example configuration (ioc/service-ioc.toml) with its units live under
 * a real systemd --user: redis, and a stand-in RE Manager as the queueserver
 * (which, as the real one, answers only while it is connected to its redis).
 *
 * MEDM prints its errors (a file it cannot read, a block it does not know)
 * on stderr, and nothing at all about a PV that does not connect: it draws
 * that widget as a white box. So a screen counts as connected when no
 * widget with a channel is white in a screenshot of its window; a screen
 * naming a missing PV shows that this check fails. ALH, with -noerrorpopup,
 * writes its errors to its operator-modification log and each alarm to its
 * alarm log. The layout check reads, from the same X server, the fonts
 * MEDM opens (test/helpers/xfonts.ts) and holds every text, label, button
 * and value of every .adl to them.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserManager, checkRedis, checkUserManager, fixtureUnit, freeTcpPort } from '../helpers/systemd-harness';
import { startProcess, type Managed } from '../helpers/processes';
import { clientEnv, PyCa, REPO_ROOT, serverEnv } from '../helpers/pyca';
import { checkPyepics, freeCaPorts, requireDependency } from '../helpers/system';
import { CLI_JS, iocSuiteHooks, makeTempDir, requireBuiltCli, runCli } from '../helpers/cli';
import { checkEpicsBundle, epicsBin } from '../helpers/shared';
import { adlBlocks, adlValue, parseAdl } from '../helpers/adl';
import { checkXTools, pixelAt, XServer, type Pixels, type XWindow } from '../helpers/xserver';
import { adlLayoutProblems, screenTexts } from '../helpers/layout-check';
import { medmFontTable, type XFont } from '../helpers/xfonts';
import { loadConfig } from '../../src/ioc/config';
import { allScreens, serviceSet } from '../../src/ioc/screens';
import { MEDM_FONTS } from '../../src/ioc/screen-fonts';

const ARTIFACTS = path.join(REPO_ROOT, 'build/test-artifacts/operator-tools');
const STANDIN = path.join(REPO_ROOT, 'build/test/fixtures/re-manager-standin.js');
const EXAMPLE = path.join(REPO_ROOT, 'ioc/service-ioc.toml');
const WHITE = '255,255,255';
/** The colour MEDM draws a MAJOR alarm in (alarmColorString in medm/medm.c: "Red"). */
const MAJOR_RED = '255,0,0';
/** What MEDM prints on stdout as it starts and as it stops on SIGTERM: not errors. */
const MEDM_CHATTER = [/^$/, /^MEDM Version [\d.]+: Loading aliased fonts\.*$/, /^SIGTERM$/];

/** Why MEDM or ALH cannot run here, or undefined. */
function checkOperatorTools(): string | undefined {
  const bundle = checkEpicsBundle();
  if (bundle) return bundle;
  for (const tool of ['medm', 'alh']) {
    const exe = path.join(epicsBin()!, tool);
    if (!fs.existsSync(exe)) return `${exe} is missing from the EPICS bundle`;
    const r = spawnSync(exe, ['-version'], { encoding: 'utf8', timeout: 10000, env: { ...process.env, DISPLAY: '' } });
    if (/error while loading shared libraries/.test(`${r.stderr}`)) return `${exe}: ${r.stderr.trim()} (see .ci/apt-packages.txt)`;
  }
  return checkXTools();
}

/** The example configuration, pointed at this test's redis, RE Manager and files. */
function exampleConfig(dir: string, redisPort: number, control: number, info: number): string {
  let text = fs.readFileSync(EXAMPLE, 'utf8');
  const swap = (re: RegExp, to: string): void => {
    assert.match(text, re, `${EXAMPLE} no longer has ${re}`);
    text = text.replace(re, to);
  };
  swap(/^file = "\/var\/tmp\/service-ioc-puts\.jsonl"/m, `file = "${path.join(dir, 'puts.jsonl')}"`);
  swap(/^info_addr = "tcp:\/\/localhost:60625"/m, `info_addr = "tcp://localhost:${info}"\ncontrol_addr = "tcp://localhost:${control}"`);
  swap(/^addr = "localhost:6379"/m, `addr = "localhost:${redisPort}"`);
  for (const f of ['legacy.db', 'access.acf']) fs.copyFileSync(path.join(REPO_ROOT, 'ioc', f), path.join(dir, f));
  return text;
}

function units(redisPort: number, control: number, info: number): Record<string, string> {
  return {
    'redis.service': fixtureUnit('redis.service'),
    'redis.service.d/port.conf': `[Service]\nEnvironment=REDIS_PORT=${redisPort}\n`,
    'queueserver.service': [
      '[Unit]', 'Description=RE Manager stand-in', '', '[Service]', 'Type=simple',
      `Environment=QSERVER_ZMQ_CONTROL_ADDRESS_FOR_SERVER=tcp://*:${control}`,
      `Environment=QSERVER_ZMQ_INFO_ADDRESS_FOR_SERVER=tcp://*:${info}`,
      `ExecStart=${process.execPath} ${STANDIN} --redis-addr 127.0.0.1:${redisPort}`, '',
    ].join('\n'),
  };
}

interface Widget {
  what: string;
  chan: string;
  x: number;
  y: number;
  width: number;
  height: number;
  /** The widget's background colour ("r,g,b"), which MEDM fills it with once connected. */
  background: string;
}

/** The widgets of an .adl file that show or write a channel, with their boxes in the display. */
function channelWidgets(text: string): Widget[] {
  const out: Widget[] = [];
  const blocks = parseAdl(text);
  const map = blocks.find((b) => b.name === 'color map');
  const colors = map ? adlBlocks(map, 'colors')[0]?.entries.flatMap((e) => (e.kind === 'item' ? [e.value.replace(/,$/, '')] : [])) ?? [] : [];
  const rgb = (index: string | undefined): string => {
    const hex = colors[Number(index)];
    if (!hex) throw new Error(`colour ${index} is not in the colour map`);
    return [0, 2, 4].map((i) => parseInt(hex.slice(i, i + 2), 16)).join(',');
  };
  for (const b of blocks) {
    const obj = adlBlocks(b, 'object')[0];
    const channel = [...adlBlocks(b, 'monitor'), ...adlBlocks(b, 'control')].find((c) => adlValue(c, 'chan'));
    if (!obj || !channel || b.name === 'display') continue;
    const chan = adlValue(channel, 'chan')!;
    const n = (k: string): number => Number(adlValue(obj, k));
    out.push({ what: `${b.name} ${chan} (line ${b.line})`, chan, x: n('x'), y: n('y'), width: n('width'), height: n('height'), background: rgb(adlValue(channel, 'bclr')) });
  }
  return out;
}

/** How many pixels of each colour ("r,g,b") a box holds. */
function colours(img: Pixels, w: Widget): Map<string, number> {
  const out = new Map<string, number>();
  for (let y = w.y; y < Math.min(img.height, w.y + w.height); y++) {
    for (let x = w.x; x < Math.min(img.width, w.x + w.width); x++) {
      const c = pixelAt(img, x, y).join(',');
      out.set(c, (out.get(c) ?? 0) + 1);
    }
  }
  return out;
}

/**
 * How MEDM shows a widget: white when its channel is not connected, mostly
 * its own background colour when it is, and neither before it is drawn.
 */
function look(img: Pixels, w: Widget): 'connected' | 'disconnected' | 'undrawn' {
  const c = colours(img, w);
  const area = w.width * w.height;
  if ((c.get(WHITE) ?? 0) > 0.9 * area) return 'disconnected';
  return (c.get(w.background) ?? 0) > 0.5 * area ? 'connected' : 'undrawn';
}

describe('operator screens and alarms in MEDM and ALH (Xvfb, real systemd, libca)', function () {
  this.timeout(120000);
  const P = '100id:bluesky:';
  let manager: UserManager | undefined;
  let ioc: Managed | undefined;
  /** The CA repeater the tools register with: without one MEDM and ALH start a caRepeater that outlives the test. */
  let repeater: Managed | undefined;
  let ca: PyCa | undefined;
  let x: XServer | undefined;
  let dir: string | undefined;
  let caEnv: NodeJS.ProcessEnv = {};
  let cfg = '';
  const tools: Managed[] = [];

  before(async function () {
    requireDependency(this, checkUserManager() ?? checkRedis() ?? checkPyepics() ?? checkOperatorTools());
    requireBuiltCli();
    if (!fs.existsSync(STANDIN)) throw new Error(`${STANDIN} is missing: run "npm run build:test" first`);
    dir = makeTempDir('sioc-optools-');
    const [redisPort, control, info] = [await freeTcpPort(), await freeTcpPort(), await freeTcpPort()];
    manager = await UserManager.start({ units: units(redisPort, control, info) });
    assert.equal((await manager.systemctl('start', 'redis.service', 'queueserver.service')).code, 0);
    cfg = path.join(dir, 'service-ioc.toml');
    fs.writeFileSync(cfg, exampleConfig(dir, redisPort, control, info));
    const ports = await freeCaPorts();
    repeater = startProcess(process.execPath, [CLI_JS, 'repeater', '--port', String(ports.repeater), '--address', '127.0.0.1'], { PATH: process.env.PATH, HOME: process.env.HOME });
    await repeater.waitLine(new RegExp(`^service-ioc repeater: CA repeater on 127\\.0\\.0\\.1:${ports.repeater}$`));
    ioc = startProcess(process.execPath, [CLI_JS, 'run', '-c', cfg], { ...serverEnv(ports.server, ports.repeater), ...manager.env });
    await ioc.waitLine(/CA on port \d+/, 30000);
    caEnv = clientEnv(ports.server, ports.repeater, { PATH: `${epicsBin()}:${process.env.PATH}` });
    for (const [cmd, sub] of [['screens', 'screens'], ['alarms', 'alarms']]) {
      const r = await runCli([cmd, '-c', cfg, '-o', path.join(dir, sub)], process.env);
      assert.equal(r.code, 0, `${cmd}: ${r.stderr}`);
      assert.equal(r.stderr, '', `${cmd} warns`);
    }
    ca = await PyCa.start(caEnv);
    // Health is OK once redis, the queueserver unit and its manager are as expected.
    const health = await ca.request('wait_value', { pv: `${P}IOC:Health`, value: 1, timeout: 40 });
    assert.equal(health.ok, true, `IOC:Health: ${JSON.stringify(health)}`);
    // A screen large enough that MEDM's startup banner (centred) does not cover a display.
    x = await XServer.start([path.resolve(epicsBin()!, '../fonts')], { width: 3200, height: 2400 });
    fs.mkdirSync(ARTIFACTS, { recursive: true });
  });

  iocSuiteHooks(() => ioc, () => [...tools, x, ca, ioc, repeater, manager], () => dir);

  function screensDir(): string {
    return path.join(dir!, 'screens');
  }

  function medm(file: string): Managed {
    const m = startProcess(path.join(epicsBin()!, 'medm'), ['-x', '-local', '-macro', `P=${P}`, file], x!.env(caEnv));
    tools.push(m);
    return m;
  }

  /**
   * MEDM's window for the file it was started with: fails at once, with its
   * exit status and output, when MEDM exits first, and with its output when
   * the window does not appear in time.
   */
  async function medmWindow(m: Managed, name: string): Promise<XWindow> {
    const re = new RegExp(`^${name.replace(/\./g, '\\.')}$`);
    const deadline = Date.now() + 20000;
    for (;;) {
      const w = x!.windows().find((win) => re.test(win.name));
      if (w) return w;
      const { exitCode, signalCode } = m.proc;
      if (exitCode !== null || signalCode !== null || Date.now() > deadline) {
        const why = exitCode !== null || signalCode !== null ? `MEDM exited (${exitCode ?? signalCode})` : 'none in 20000 ms';
        throw new Error(`no MEDM window ${name}: ${why}; windows: ${x!.windows().map((win) => win.name).join(', ')}; MEDM printed:\n${[...m.lines, m.stderr()].join('\n')}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Stop MEDM; its output, less what it always prints, as lines. */
  async function medmErrors(m: Managed): Promise<string[]> {
    await m.stop();
    tools.splice(tools.indexOf(m), 1);
    const printed = [...m.lines, ...m.stderr().split('\n')];
    return printed.filter((l) => !MEDM_CHATTER.some((re) => re.test(l)));
  }

  /**
   * Screenshots of `win` until every widget is drawn, those naming a PV in
   * `missing` as disconnected and the others as connected (or until the
   * time is up); returns the last one and the widgets that are not drawn
   * as connected.
   */
  async function settle(win: XWindow, widgets: Widget[], missing: ReadonlySet<string> = new Set(), timeoutMs = 20000): Promise<{ xwd: Buffer; img: Pixels; off: Widget[] }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const xwd = x!.capture(win.id);
      const img = XServer.pixels(xwd);
      const looks = widgets.map((w) => look(img, w));
      const off = widgets.flatMap((w, i) => (looks[i] === 'connected' ? [] : [{ ...w, what: `${w.what}: ${looks[i]}` }]));
      const expected = widgets.every((w, i) => looks[i] === (missing.has(w.chan) ? 'disconnected' : 'connected'));
      if (expected || Date.now() > deadline) return { xwd, img, off };
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  function save(xwd: Buffer, name: string): string {
    const file = path.join(ARTIFACTS, name);
    XServer.savePng(xwd, file);
    process.stdout.write(`      screenshot: ${path.relative(process.cwd(), file)}\n`);
    return file;
  }

  it('MEDM opens every generated .adl without an error, and every widget connects', async () => {
    const files = fs.readdirSync(screensDir()).filter((f) => f.endsWith('.adl')).sort();
    assert.ok(files.length >= 2, `screens: ${files.join(', ')}`);
    for (const f of files) {
      const widgets = channelWidgets(fs.readFileSync(path.join(screensDir(), f), 'utf8'));
      assert.ok(widgets.length > 5, `${f} has widgets with channels`);
      const m = medm(path.join(screensDir(), f));
      const win = await medmWindow(m, f);
      const shot = await settle(win, widgets);
      save(shot.xwd, f.replace(/\.adl$/, '.png'));
      assert.deepEqual(shot.off.map((w) => w.what), [], `${f}: widgets MEDM shows as not connected`);
      assert.deepEqual(await medmErrors(m), [], `${f}: MEDM's output`);
    }
  });

  /**
   * The text a text update on `chan` shows now: a number with the record's
   * PREC digits (MEDM's text update takes its precision from the channel),
   * anything else as libca's string for it.
   */
  async function shownNow(chan: string): Promise<string> {
    const c = await ca!.request('connect', { pv: chan, timeout: 10 });
    assert.equal(c.connected, true, `${chan} connects`);
    if (c.ftype === 2 || c.ftype === 6) {
      // DBF_FLOAT, DBF_DOUBLE: read as DBR_CTRL_DOUBLE for the precision.
      const r = (await ca!.request('get', { pv: chan, ftype: 34 })).result as Record<string, unknown>;
      return Number(r.value).toFixed(Number(r.precision));
    }
    const r = await ca!.request('get', { pv: chan, as_string: true, ...(c.count === 1 ? { count: 1 } : {}) });
    const value = (r.result as Record<string, unknown> | undefined)?.value;
    assert.equal(typeof value, 'string', `${chan}: ${JSON.stringify(r)}`);
    return value as string;
  }

  /** MEDM's fonts on this X server, each as "widgetDM_N: FONT, height, cell width or proportional". */
  function describeFonts(fonts: readonly XFont[]): string[] {
    return fonts.map((f) => `${f.asked}: ${f.name}, ${f.ascent}+${f.descent} px, ${f.cell ? `${f.textWidth('0')} px cells` : 'proportional'}`);
  }

  it('in the fonts MEDM opens on this X server, every text, label and button of every .adl fits its widget and stays off its neighbours', async () => {
    // The same server MEDM runs on above, with its font path; MEDM printing no
    // "Unable to load font" there means each widgetDM_N opened as it does here.
    const fonts = medmFontTable(x!.display);
    const described = describeFonts(fonts);
    fs.writeFileSync(path.join(ARTIFACTS, 'medm-fonts.txt'), `${described.join('\n')}\n`);
    process.stdout.write(`      MEDM fonts: ${path.relative(process.cwd(), path.join(ARTIFACTS, 'medm-fonts.txt'))}\n`);
    // The generator's assumptions (src/ioc/screen-fonts.ts) are these fonts' heights and cell widths.
    assert.deepEqual(
      fonts.map((f) => ({ alias: f.asked, height: f.ascent + f.descent, ...(f.cell ? { cell: f.textWidth('0') } : {}) })),
      MEDM_FONTS.map((f) => ({ ...f })),
      `the X server's fonts:\n${described.join('\n')}`,
    );

    const macros = new Map([['P', P]]);
    const screens = allScreens(serviceSet(loadConfig(cfg)));
    const files = fs.readdirSync(screensDir()).filter((f) => f.endsWith('.adl')).sort();
    assert.deepEqual(files, screens.map((s) => `${s.name}.adl`).sort());
    let checked = 0;
    for (const screen of screens) {
      const text = fs.readFileSync(path.join(screensDir(), `${screen.name}.adl`), 'utf8');
      // What each text update must have room for: what it was laid out for, and what the IOC serves now.
      const texts = screenTexts(screen, macros);
      for (const [chan, shown] of texts) shown.push(await shownNow(chan));
      assert.deepEqual(adlLayoutProblems(`${screen.name}.adl`, text, macros, fonts, texts), [], `${screen.name}.adl in\n${described.join('\n')}`);
      checked += channelWidgets(text).length;
    }
    assert.ok(checked > 20, `${checked} widgets with channels checked`);

    // The check sees a label one character too wide for its box, and a value wider than its widget.
    const overview = fs.readFileSync(path.join(screensDir(), 'service-overview.adl'), 'utf8');
    const label = /text \{\n\tobject \{\n\t\tx=\d+\n\t\ty=\d+\n\t\twidth=(\d+)\n\t\theight=18\n\t\}\n\t"basic attribute" \{\n\t\tclr=\d+\n\t\}\n\ttextix="([^"]*)"/.exec(overview);
    assert.ok(label, 'the overview has an 18 px text');
    const font = fonts[7];
    assert.equal(font.asked, 'widgetDM_18', 'an 18 px text uses widgetDM_18');
    let wide = label[2];
    while (font.textWidth(wide) <= Number(label[1])) wide += 'M';
    const widened = overview.replace(label[0], label[0].replace(`textix="${label[2]}"`, `textix="${wide}"`));
    const overviewScreen = screens.find((s) => s.name === 'service-overview')!;
    const problems = adlLayoutProblems('widened.adl', widened, macros, fonts, screenTexts(overviewScreen, macros));
    assert.equal(problems.length, 2, problems.join('\n'));
    assert.match(problems[0], new RegExp(`"${wide}" needs ${font.textWidth(wide)} px, has ${label[1]}$`));
    assert.match(problems[1], /draws ink from .* outside its \d+x18 box$/);
    const tooLong = screenTexts(overviewScreen, macros);
    const chan = [...tooLong].find(([, shown]) => /^0+$/.test(shown[0]))![0];
    tooLong.set(chan, ['0'.repeat(200)]);
    assert.match(adlLayoutProblems('service-overview.adl', overview, macros, fonts, tooLong).join('\n'), new RegExp(`text update\\): "0{200}" needs 1600 px`));
  });

  it('the checks fail for a screen naming a missing PV and for a file MEDM cannot read', async () => {
    const overview = fs.readFileSync(path.join(screensDir(), 'service-overview.adl'), 'utf8');
    const missingPv = '$(P)no:such:Record';
    const text = overview.replace('chan="$(P)IOC:Uptime"', `chan="${missingPv}"`);
    assert.notEqual(text, overview);
    const file = path.join(dir!, 'missing-pv.adl');
    fs.writeFileSync(file, text.replace('name="service-overview.adl"', 'name="missing-pv.adl"'));
    const widgets = channelWidgets(text);
    const m = medm(file);
    const win = await medmWindow(m, 'missing-pv.adl');
    const shot = await settle(win, widgets, new Set([missingPv]));
    save(shot.xwd, 'missing-pv.png');
    assert.deepEqual(shot.off.map((w) => (w.what.endsWith(': disconnected') ? w.chan : w.what)), [missingPv], 'only the widget naming the missing PV is white');
    assert.deepEqual(await medmErrors(m), [], 'MEDM says nothing about a PV that does not connect');

    const absent = medm(path.join(dir!, 'absent.adl'));
    await absent.waitStderrLine(/Cannot access file/, 20000);
    assert.match((await medmErrors(absent)).join('\n'), /Cannot access file: .*absent\.adl/);
  });

  /** Start ALH, passive and silent, logging to `logDir`; resolves once it has read its configuration. */
  async function alh(config: string, logDir: string): Promise<Managed> {
    fs.mkdirSync(logDir, { recursive: true });
    const a = startProcess(path.join(epicsBin()!, 'alh'), ['-S', '-s', '-noerrorpopup', '-l', logDir, '-a', 'alarm.log', '-o', 'opmod.log', config], x!.env(caEnv));
    tools.push(a);
    await waitFile(path.join(logDir, 'opmod.log'), /Setup Config File/);
    return a;
  }

  /** Wait until `file` has a line matching `re` (ALH writes its logs as it goes; polled). */
  async function waitFile(file: string, re: RegExp, timeoutMs = 20000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
      const line = text.split('\n').find((l) => re.test(l));
      if (line) return line;
      if (Date.now() > deadline) throw new Error(`${path.basename(file)} has no line matching ${re} after ${timeoutMs} ms:\n${text}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  it('ALH reads the .alhConfig without an error and connects every channel; a missing PV shows', async () => {
    const config = path.join(dir!, 'alarms/service-alarms.alhConfig');
    const logs = path.join(dir!, 'alh-parse');
    const a = await alh(config, logs);
    // A channel that does not connect is logged NOT_CONNECTED; the copy naming a missing PV proves it.
    const bad = path.join(dir!, 'missing-pv.alhConfig');
    fs.writeFileSync(bad, fs.readFileSync(config, 'utf8').replace(`CHANNEL  redis ${P}redis:ActiveState`, `CHANNEL  redis ${P}no:such:Record`));
    const b = await alh(bad, path.join(dir!, 'alh-missing'));
    await waitFile(path.join(dir!, 'alh-missing/alarm.log'), /no:such:Record\s+NOT_CONNECTED/);
    for (const t of [a, b]) {
      await t.stop();
      tools.splice(tools.indexOf(t), 1);
    }
    assert.deepEqual(fs.readFileSync(path.join(logs, 'opmod.log'), 'utf8').split('\n').filter((l) => l && !/: (Setup (Alarm Log|Config) File : |Channel forcePV FORCE )/.test(l)), [], 'ALH opmod log');
    assert.doesNotMatch(fs.readFileSync(path.join(logs, 'alarm.log'), 'utf8'), /NOT_CONNECTED/);
    assert.equal(a.stderr() + a.lines.join('\n'), '', 'ALH prints nothing');
  });

  /** ALH on the generated alarm tree, logging into `name` under the test folder. */
  async function serviceAlh(name: string): Promise<{ a: Managed; alarmLog: string; opmod: string }> {
    const logs = path.join(dir!, name);
    const a = await alh(path.join(dir!, 'alarms/service-alarms.alhConfig'), logs);
    return { a, alarmLog: path.join(logs, 'alarm.log'), opmod: path.join(logs, 'opmod.log') };
  }

  /** Stop an ALH this test started; it must have printed nothing on stderr. */
  async function stopAlh(a: Managed): Promise<void> {
    await a.stop();
    tools.splice(tools.indexOf(a), 1);
    assert.equal(a.stderr(), '', 'ALH prints nothing on stderr');
  }

  /** ALH's alarm log lines for `pv` (the whole name). */
  function alarmLines(file: string, pv: string): string[] {
    return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.split(/\s+/).includes(pv));
  }

  it('redis stopped: ALH raises the redis alarm only, the manager that stops answering with it raises none; back when redis is', async () => {
    const { a, alarmLog, opmod } = await serviceAlh('alh-redis');
    // ALH has every channel once the manager's state channels, enabled by qs:Connected, have been forced on.
    await waitFile(opmod, /Channel forcePV FORCE/);
    assert.equal((await manager!.systemctl('stop', 'redis.service')).code, 0);
    const inactive = await ca!.request('wait_value', { pv: `${P}redis:ActiveState`, value: 0, timeout: 20 });
    assert.equal(inactive.ok, true, `redis:ActiveState: ${JSON.stringify(inactive)}`);
    await waitFile(alarmLog, new RegExp(`${P}redis:ActiveState\\s+\\S+\\s+MAJOR`));
    // The manager does stop answering: its Connected is MAJOR, and its Problem names redis as the cause.
    const gone = await ca!.request('wait_value', { pv: `${P}qs:Connected`, value: 0, timeout: 20 });
    assert.equal(gone.ok, true, `qs:Connected: ${JSON.stringify(gone)}`);
    // (DBR_STRING holds the first 40 characters of the long string.)
    const problem = await ca!.request('get', { pv: `${P}qs:Problem`, as_string: true });
    assert.match(String((problem.result as Record<string, unknown>).value), /^RE Manager not answering because redis/);
    // ALH has taken that change: the states the manager's Connected enables are forced off by it.
    await waitFile(opmod, new RegExp(`${P}qs:EnvState: +Channel forcePV RESET <-D--L> .*\\[${P}qs:Connected\\]`));
    for (const pv of ['qs:Connected', 'qs:EnvState', 'qs:LastExitStatus', 'qsredis:Connected', 'qsredis:Persistence']) {
      assert.deepEqual(alarmLines(alarmLog, `${P}${pv}`), [], `ALH raises and logs nothing for ${pv}`);
    }
    assert.match(fs.readFileSync(opmod, 'utf8'), new RegExp(`${P}qs:Connected: +Channel forcePV RESET <-D--L> .*\\[${P}qs:DepsUp\\]`), 'held back by DepsUp');

    // redis back: the manager answers again and its alarm is enabled again.
    assert.equal((await manager!.systemctl('start', 'redis.service')).code, 0);
    const health = await ca!.request('wait_value', { pv: `${P}IOC:Health`, value: 1, timeout: 40 });
    assert.equal(health.ok, true, `IOC:Health: ${JSON.stringify(health)}`);
    await waitFile(opmod, new RegExp(`${P}qs:Connected: +Channel forcePV FORCE <-----> .*\\[${P}qs:DepsUp\\]`));
    assert.deepEqual(alarmLines(alarmLog, `${P}qs:Connected`), [], 'the manager raised no alarm');

    // The same ALH raises the manager's alarm when the manager itself stops answering (stopped, its unit active, redis up).
    assert.equal((await manager!.systemctl('kill', '--kill-whom=main', '--signal=SIGSTOP', 'queueserver.service')).code, 0);
    await waitFile(alarmLog, new RegExp(`${P}qs:Connected\\s+STATE\\s+MAJOR`));
    assert.equal((await manager!.systemctl('kill', '--kill-whom=main', '--signal=SIGCONT', 'queueserver.service')).code, 0);
    await waitFile(alarmLog, new RegExp(`${P}qs:Connected\\s+NO_ALARM`));
    assert.deepEqual(alarmLines(alarmLog, `${P}redis:ActiveState`).filter((l) => /MAJOR/.test(l)).length, 1, 'redis raised one alarm');
    await stopAlh(a);
  });

  it('redis hung (SIGSTOP, its unit active): ALH raises redis\'s Connected alarm only, not the manager that hangs with it', async () => {
    const { a, alarmLog, opmod } = await serviceAlh('alh-redis-hung');
    await waitFile(opmod, /Channel forcePV FORCE/);
    assert.equal((await manager!.systemctl('kill', '--kill-whom=main', '--signal=SIGSTOP', 'redis.service')).code, 0);
    try {
      await waitFile(alarmLog, new RegExp(`${P}qsredis:Connected\\s+STATE\\s+MAJOR`));
      // The manager, whose status needs redis, stops answering too; DepsUp holds its alarm back.
      const gone = await ca!.request('wait_value', { pv: `${P}qs:Connected`, value: 0, timeout: 20 });
      assert.equal(gone.ok, true, `qs:Connected: ${JSON.stringify(gone)}`);
      await waitFile(opmod, new RegExp(`${P}qs:Connected: +Channel forcePV RESET <-D--L> .*\\[${P}qs:DepsUp\\]`));
      const problem = await ca!.request('get', { pv: `${P}qs:Problem`, as_string: true });
      assert.match(String((problem.result as Record<string, unknown>).value), /^RE Manager not answering because redis/);
    } finally {
      assert.equal((await manager!.systemctl('kill', '--kill-whom=main', '--signal=SIGCONT', 'redis.service')).code, 0);
    }
    const health = await ca!.request('wait_value', { pv: `${P}IOC:Health`, value: 1, timeout: 40 });
    assert.equal(health.ok, true, `IOC:Health: ${JSON.stringify(health)}`);
    await waitFile(opmod, new RegExp(`${P}qs:Connected: +Channel forcePV FORCE <-----> .*\\[${P}qs:DepsUp\\]`));
    // (A state channel forced on again logs its NO_ALARM: only severities count.)
    for (const pv of ['qs:Connected', 'qs:EnvState', 'qs:LastExitStatus', 'redis:ActiveState']) {
      assert.deepEqual(alarmLines(alarmLog, `${P}${pv}`).filter((l) => /\b(MINOR|MAJOR|INVALID)\b/.test(l)), [], `ALH raises no alarm for ${pv}`);
    }
    await stopAlh(a);
  });

  it('a killed unit turns its state widget red in MEDM and raises a MAJOR alarm in ALH', async () => {
    const file = path.join(screensDir(), 'service-overview.adl');
    const widgets = channelWidgets(fs.readFileSync(file, 'utf8'));
    const state = widgets.find((w) => w.chan === '$(P)redis:ActiveState');
    assert.ok(state, 'the overview shows redis:ActiveState');
    const { a, alarmLog } = await serviceAlh('alh-kill');
    const m = medm(file);
    const win = await medmWindow(m, 'service-overview.adl');
    const before = await settle(win, widgets);
    assert.deepEqual(before.off.map((w) => w.what), []);
    assert.equal(colours(before.img, state).get(MAJOR_RED) ?? 0, 0, 'an active unit is not red');

    assert.equal((await manager!.systemctl('kill', '--kill-whom=main', '--signal=SIGKILL', 'redis.service')).code, 0);
    const failed = await ca!.request('wait_value', { pv: `${P}redis:ActiveState`, value: 4, timeout: 20 });
    assert.equal(failed.ok, true, `redis:ActiveState: ${JSON.stringify(failed)}`);
    const deadline = Date.now() + 20000;
    let shot = x!.capture(win.id);
    while ((colours(XServer.pixels(shot), state).get(MAJOR_RED) ?? 0) < 20 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      shot = x!.capture(win.id);
    }
    save(shot, 'service-overview-redis-killed.png');
    const seen = colours(XServer.pixels(shot), state);
    assert.ok((seen.get(MAJOR_RED) ?? 0) >= 20, `the state widget's colours: ${JSON.stringify([...seen])}`);

    const alarm = await waitFile(alarmLog, new RegExp(`${P}redis:ActiveState\\s+\\S+\\s+MAJOR`));
    assert.match(alarm, /failed/);
    save(x!.capture(), 'screen-redis-killed.png');
    assert.deepEqual(await medmErrors(m), []);
    await stopAlh(a);
  });
});
