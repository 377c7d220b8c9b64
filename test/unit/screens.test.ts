/**
 * `service-ioc screens`: the Phoebus and MEDM displays generated from a
 * configuration. Golden files pin the exact output; structure checks parse
 * every file and hold it to what Phoebus's ModelReader and MEDM read; and
 * every PV a display names must be one the IOC serves for that
 * configuration, with the state labels the records have.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Database } from '../../src/database/database';
import {
  BUTTON_HEIGHT, MEDM_COLORS, TEXT_HEIGHT, TITLE_HEIGHT, allScreens, detailDisplayNames, generateScreens, longStringPv, renderAdl, serviceSet,
  type ServiceSet,
} from '../../src/ioc/screens';
import { LIBERATION_SANS, MEDM_FONTS, medmButtonFont, medmTextFont } from '../../src/ioc/screen-fonts';
import { adlLayoutProblems, bobLayoutProblems, screenTexts, type XFontMetrics } from '../helpers/layout-check';
import { requireDependency } from '../helpers/system';
import { LIBERATION_SANS as LIBERATION_FILES, asciiAdvances, readTrueType } from '../helpers/ttf';
import { adlBlocks, adlValue, parseAdl, type AdlBlock } from '../helpers/adl';
import { makeTempDir, removeTempDir, requireBuiltCli, runCli } from '../helpers/cli';
import { FIXTURE_CONFIG, checkGolden, expandMacros, fixtureConfig, serviceDatabase, servesPv } from '../helpers/golden';
import { childText, childrenNamed, parseXml, type XmlNode } from '../helpers/xml';

/** Widget types and versions we write, and the properties each class defines (Phoebus app/display/model). */
const COMMON = ['name', 'x', 'y', 'width', 'height', 'pv_name'];
const BOB_WIDGETS: Record<string, { version: string; properties: string[] }> = {
  label: { version: '2.0.0', properties: ['text', 'font', 'foreground_color', 'background_color', 'transparent', 'horizontal_alignment', 'vertical_alignment', 'wrap_words'] },
  led: { version: '2.0.0', properties: ['bit', 'off_label', 'off_color', 'on_label', 'on_color', 'font', 'foreground_color', 'line_color', 'square', 'labels_from_pv', 'border_alarm_sensitive'] },
  multi_state_led: { version: '2.0.0', properties: ['states', 'fallback_label', 'fallback_color', 'font', 'foreground_color', 'line_color', 'square', 'border_alarm_sensitive'] },
  textupdate: { version: '2.0.0', properties: ['font', 'foreground_color', 'background_color', 'transparent', 'format', 'precision', 'show_units', 'horizontal_alignment', 'vertical_alignment', 'wrap_words', 'border_alarm_sensitive'] },
  action_button: { version: '3.0.0', properties: ['actions', 'text', 'font', 'foreground_color', 'background_color', 'transparent', 'enabled', 'show_confirm_dialog', 'confirm_message', 'password'] },
};
const ACTION_ELEMENTS: Record<string, string[]> = {
  write_pv: ['pv_name', 'value', 'description'],
  open_display: ['file', 'macros', 'target', 'description'],
};
/** OpenDisplayAction.Target, lower case. */
const TARGETS = ['replace', 'tab', 'window', 'standalone'];
const ADL_WIDGETS = ['text', 'text update', 'message button', 'related display'];

function missingFonts(): string | undefined {
  const missing = Object.values(LIBERATION_FILES).filter((f) => !fs.existsSync(f));
  return missing.length ? `Liberation Sans (Debian fonts-liberation) is not installed: ${missing.join(', ')}` : undefined;
}

function bobWidgets(display: XmlNode): XmlNode[] {
  return childrenNamed(display, 'widget');
}

function displayMacros(display: XmlNode): Map<string, string> {
  const macros = new Map<string, string>();
  for (const m of childrenNamed(display, 'macros')) for (const c of m.children) macros.set(c.name, c.text);
  return macros;
}

function colorOk(prop: XmlNode | undefined): boolean {
  const c = prop?.children[0];
  return c?.name === 'color' && ['red', 'green', 'blue'].every((k) => /^\d+$/.test(c.attributes.get(k) ?? '') && Number(c.attributes.get(k)) <= 255);
}

/** Every PV a .bob names: widgets' pv_name and write_pv actions' pv_name. */
function bobPvs(display: XmlNode): string[] {
  const pvs: string[] = [];
  for (const w of bobWidgets(display)) {
    const pv = childText(w, 'pv_name');
    if (pv !== undefined) pvs.push(pv);
    for (const actions of childrenNamed(w, 'actions')) {
      for (const a of childrenNamed(actions, 'action')) {
        if (a.attributes.get('type') === 'write_pv') pvs.push(childText(a, 'pv_name') ?? '');
      }
    }
  }
  return pvs;
}

function adlWidgets(blocks: AdlBlock[]): AdlBlock[] {
  return blocks.filter((b) => !['file', 'display', 'color map'].includes(b.name));
}

/** Every channel an .adl names. */
function adlPvs(blocks: AdlBlock[]): string[] {
  return adlWidgets(blocks).flatMap((b) => [...adlBlocks(b, 'monitor'), ...adlBlocks(b, 'control')]).map((m) => adlValue(m, 'chan') ?? '');
}

describe('screens', () => {
  const config = fixtureConfig();
  const set = serviceSet(config);
  const files = generateScreens(set);
  const byName = new Map(files.map((f) => [f.name, f.text]));
  const macros = new Map([['P', config.prefix]]);
  let db: Database;

  before(() => {
    db = serviceDatabase(config);
  });

  it('matches the golden files (UPDATE_GOLDEN=1 rewrites them)', () => {
    checkGolden('screens', files);
  });

  it('writes the overview and a detail display per RE Manager, each as .bob and .adl', () => {
    assert.deepEqual([...byName.keys()].sort(), [
      'queueserver-qs.adl', 'queueserver-qs.bob', 'queueserver-qs_sim.adl', 'queueserver-qs_sim.bob',
      'service-overview.adl', 'service-overview.bob',
    ]);
  });

  describe('Phoebus .bob', () => {
    for (const f of files.filter((x) => x.name.endsWith('.bob'))) {
      it(`${f.name}: well-formed, only known widgets, properties and actions`, () => {
        const display = parseXml(f.text);
        assert.equal(display.name, 'display');
        assert.equal(display.attributes.get('version'), '2.0.0');
        for (const c of display.children) assert.ok(['name', 'macros', 'width', 'height', 'widget'].includes(c.name), `<display> child <${c.name}>`);
        assert.equal(displayMacros(display).get('P'), config.prefix, 'the prefix is the default of macro P');
        for (const w of bobWidgets(display)) {
          const type = w.attributes.get('type') ?? '';
          const known = BOB_WIDGETS[type];
          assert.ok(known, `line ${w.line}: widget type "${type}"`);
          assert.equal(w.attributes.get('version'), known.version, `line ${w.line}: ${type} version`);
          for (const p of w.children) assert.ok([...COMMON, ...known.properties].includes(p.name), `line ${p.line}: ${type} has no property <${p.name}>`);
          for (const p of ['x', 'y', 'width', 'height']) assert.match(childText(w, p) ?? '', /^\d+$/, `line ${w.line}: ${p}`);
          for (const p of ['off_color', 'on_color']) if (childrenNamed(w, p).length) assert.ok(colorOk(childrenNamed(w, p)[0]), `line ${w.line}: ${p}`);
          if (['led', 'multi_state_led', 'textupdate'].includes(type)) {
            assert.equal(childText(w, 'border_alarm_sensitive'), 'true', `line ${w.line}: ${type} shows its PV's alarm`);
          }
          if (type === 'multi_state_led') {
            const states = childrenNamed(childrenNamed(w, 'states')[0], 'state');
            assert.ok(states.length >= 2);
            states.forEach((s, i) => {
              assert.deepEqual(s.children.map((c) => c.name), ['value', 'label', 'color'], `line ${s.line}`);
              assert.equal(childText(s, 'value'), String(i), 'states are the mbbi values 0, 1, ...');
              assert.ok(colorOk(childrenNamed(s, 'color')[0]), `line ${s.line}: color`);
            });
          }
          if (type === 'action_button') {
            const actions = childrenNamed(childrenNamed(w, 'actions')[0], 'action');
            assert.equal(actions.length, 1, `line ${w.line}: one action per button`);
            for (const a of actions) {
              const at = a.attributes.get('type') ?? '';
              assert.ok(at in ACTION_ELEMENTS, `line ${a.line}: action type "${at}"`);
              for (const c of a.children) assert.ok(ACTION_ELEMENTS[at].includes(c.name), `line ${c.line}: ${at} has no <${c.name}>`);
              if (at === 'write_pv') {
                assert.match(childText(a, 'value') ?? '', /^\d+$/);
                assert.equal(childText(w, 'show_confirm_dialog'), 'true', `line ${w.line}: a write asks for confirmation`);
                assert.match(childText(w, 'confirm_message') ?? '', /\?/, `line ${w.line}: confirm_message asks`);
              } else {
                assert.ok(TARGETS.includes(childText(a, 'target') ?? ''), `line ${a.line}: target`);
                assert.ok(byName.has(childText(a, 'file') ?? ''), `line ${a.line}: opens a generated display`);
                assert.equal(childText(childrenNamed(a, 'macros')[0], 'P'), '$(P)', 'passes P on');
              }
            }
          }
        }
      });
    }

    it('every PV they name is served by the IOC for this configuration', () => {
      const missing: string[] = [];
      let count = 0;
      for (const f of files.filter((x) => x.name.endsWith('.bob'))) {
        const display = parseXml(f.text);
        for (const pv of bobPvs(display)) {
          assert.ok(pv.startsWith('$(P)'), `${f.name}: ${pv} is named through $(P)`);
          const name = expandMacros(pv, displayMacros(display));
          count++;
          if (!servesPv(db, name)) missing.push(`${f.name}: ${name}`);
        }
      }
      assert.deepEqual(missing, []);
      assert.ok(count > 50, `${count} PVs checked`);
    });

    it('the overview has Start/Stop/Restart/Reset-failed buttons for controlled units only', () => {
      const overview = parseXml(byName.get('service-overview.bob') as string);
      const writes = bobWidgets(overview).flatMap((w) => childrenNamed(w, 'actions')).flatMap((a) => childrenNamed(a, 'action'))
        .filter((a) => a.attributes.get('type') === 'write_pv').map((a) => childText(a, 'pv_name'));
      assert.deepEqual(writes, ['$(P)redis:Start', '$(P)redis:Stop', '$(P)redis:Restart', '$(P)redis:ResetFailed']);
    });
  });

  describe('the state labels are the records\'', () => {
    it('multi-state LEDs: one state per mbbi state string, in order', () => {
      let checked = 0;
      for (const screen of allScreens(set)) {
        for (const w of screen.widgets) {
          if (w.kind !== 'state') continue;
          const rec = db.records.get(expandMacros(w.pv, macros));
          assert.ok(rec, w.pv);
          assert.equal(rec.type.name, 'mbbi', w.pv);
          const strings = ['ZRST', 'ONST', 'TWST', 'THST', 'FRST', 'FVST', 'SXST', 'SVST', 'EIST', 'NIST', 'TEST', 'ELST', 'TVST', 'TTST', 'FTST', 'FFST']
            .map((f) => String(rec.f[f] ?? ''));
          let n = strings.length;
          while (n > 0 && strings[n - 1] === '') n--;
          const defined = strings.slice(0, n);
          assert.deepEqual(w.states.map((s) => s.label), defined, `${w.pv}: labels`);
          checked++;
        }
      }
      assert.ok(checked >= 6);
    });

    it('long strings (lsi) are shown whole, through .VAL$, not cut to 40 characters', () => {
      let checked = 0;
      for (const screen of allScreens(set)) {
        for (const w of screen.widgets) {
          if (w.kind !== 'value') continue;
          const rec = db.records.get(expandMacros(w.pv, macros));
          assert.ok(rec, w.pv);
          assert.equal(w.long === true, rec.type.name === 'lsi', w.pv);
          if (w.long) checked++;
        }
      }
      assert.ok(checked >= 2);
    });

    it('LEDs: off and on labels are ZNAM and ONAM', () => {
      for (const screen of allScreens(set)) {
        for (const w of screen.widgets) {
          if (w.kind !== 'flag') continue;
          const rec = db.records.get(expandMacros(w.pv, macros));
          assert.ok(rec, w.pv);
          assert.equal(rec.type.name, 'bi', w.pv);
          assert.deepEqual([w.look.off.label, w.look.on.label], [rec.f.ZNAM, rec.f.ONAM], w.pv);
        }
      }
    });
  });

  describe('MEDM .adl', () => {
    for (const f of files.filter((x) => x.name.endsWith('.adl'))) {
      it(`${f.name}: parses; header, 65-colour map, known widgets; status in alarm colours`, () => {
        const blocks = parseAdl(f.text);
        assert.deepEqual(blocks.slice(0, 3).map((b) => b.name), ['file', 'display', 'color map']);
        assert.equal(adlValue(blocks[0], 'name'), f.name);
        assert.match(adlValue(blocks[0], 'version') ?? '', /^\d{6}$/);
        const cmap = blocks[2];
        assert.equal(adlValue(cmap, 'ncolors'), '65');
        const colors = adlBlocks(cmap, 'colors')[0].entries.map((e) => (e.kind === 'item' ? e.value : '?'));
        assert.deepEqual(colors, MEDM_COLORS);
        assert.equal(colors.length, 65);
        for (const w of adlWidgets(blocks)) {
          assert.ok(ADL_WIDGETS.includes(w.name), `line ${w.line}: widget "${w.name}"`);
          const object = adlBlocks(w, 'object')[0];
          for (const k of ['x', 'y', 'width', 'height']) assert.match(adlValue(object, k) ?? '', /^\d+$/, `line ${w.line}: ${k}`);
          if (w.name === 'message button') {
            assert.ok(adlValue(adlBlocks(w, 'control')[0], 'chan'), `line ${w.line}: chan`);
            assert.match(adlValue(w, 'press_msg') ?? '', /^\d+$/);
          }
          if (w.name === 'related display') {
            const d = adlBlocks(w, 'display[0]')[0];
            assert.ok(byName.has(adlValue(d, 'name') ?? ''), `line ${w.line}: opens a generated display`);
            assert.equal(adlValue(d, 'args'), 'P=$(P)');
          }
        }
        const updates = adlWidgets(blocks).filter((w) => w.name === 'text update');
        assert.ok(updates.length > 5);
        for (const u of updates) assert.equal(adlValue(u, 'clrmod'), 'alarm', `line ${u.line}: a widget showing a PV value colours by alarm`);
      });
    }

    it('every channel they name is served by the IOC for this configuration', () => {
      const missing: string[] = [];
      for (const f of files.filter((x) => x.name.endsWith('.adl'))) {
        for (const pv of adlPvs(parseAdl(f.text))) {
          assert.ok(pv.startsWith('$(P)'), `${f.name}: ${pv}`);
          if (!servesPv(db, expandMacros(pv, macros))) missing.push(`${f.name}: ${pv}`);
        }
      }
      assert.deepEqual(missing, []);
    });

    it('shows the same PVs as the .bob of the same display', () => {
      for (const f of files.filter((x) => x.name.endsWith('.adl'))) {
        const bob = parseXml(byName.get(f.name.replace(/\.adl$/, '.bob')) as string);
        assert.deepEqual([...new Set(adlPvs(parseAdl(f.text)))].sort(), [...new Set(bobPvs(bob))].sort(), f.name);
      }
    });
  });

  describe('layout: nothing clipped, nothing overlapping', () => {
    // The generator's own font table (src/ioc/screen-fonts.ts), not the X
    // server's: this holds the layout to what the generator assumes. The
    // MEDM interop test (test/interop/operator-tools.test.ts) reads the
    // fonts MEDM opens on its Xvfb, compares them with this table, and runs
    // the same check with the real per-character metrics.
    it('MEDM, with the widgetDM_* metrics the generator assumes', () => {
      const fonts: XFontMetrics[] = MEDM_FONTS.map((f) => ({
        ascent: f.height, descent: 0,
        textWidth: (t: string) => (f.cell === undefined ? Number.POSITIVE_INFINITY : f.cell * t.length),
      }));
      for (const screen of allScreens(set)) {
        assert.deepEqual(adlLayoutProblems(screen.name, byName.get(`${screen.name}.adl`) as string, macros, fonts, screenTexts(screen, macros)), []);
      }
    });

    it('Phoebus, with Liberation Sans from the font files', function () {
      requireDependency(this, missingFonts());
      const fonts = { regular: readTrueType(LIBERATION_FILES.regular), bold: readTrueType(LIBERATION_FILES.bold) };
      for (const f of files.filter((x) => x.name.endsWith('.bob'))) assert.deepEqual(bobLayoutProblems(f.name, f.text, fonts), [], f.name);
    });

    it('the generator\'s Liberation Sans widths are the font files\'', function () {
      requireDependency(this, missingFonts());
      assert.deepEqual(asciiAdvances(readTrueType(LIBERATION_FILES.regular)), LIBERATION_SANS.regular);
      assert.deepEqual(asciiAdvances(readTrueType(LIBERATION_FILES.bold)), LIBERATION_SANS.bold);
      assert.equal(readTrueType(LIBERATION_FILES.regular).unitsPerEm, LIBERATION_SANS.unitsPerEm);
    });

    it('MEDM picks the character-cell fonts the layout assumes for its heights', () => {
      // 18 px text and 24 px buttons: widgetDM_18 (8x16); 24 px titles: widgetDM_24 (12x24).
      assert.equal(MEDM_FONTS[medmTextFont(TEXT_HEIGHT)].alias, 'widgetDM_18');
      assert.equal(MEDM_FONTS[medmButtonFont(BUTTON_HEIGHT)].alias, 'widgetDM_18');
      assert.equal(MEDM_FONTS[medmTextFont(TITLE_HEIGHT)].alias, 'widgetDM_24');
      // The bisection can pick a font taller than the widget, as MEDM does: 22 px gives 24 px.
      assert.equal(MEDM_FONTS[medmTextFont(22)].alias, 'widgetDM_22');
    });

    it('a long unit name widens its column instead of running into the next', () => {
      const long: ServiceSet = { ...set, units: [{ name: 'a-very-long-unit-name-for-the-beamline@instance.service', pv: 'x', expect: 'active', control: true }] };
      const screen = allScreens(long)[0];
      const fonts: XFontMetrics[] = MEDM_FONTS.map((f) => ({ ascent: f.height, descent: 0, textWidth: (t: string) => (f.cell ?? 99) * t.length }));
      const texts = new Map<string, string[]>();
      for (const w of screen.widgets) {
        if ('pv' in w && w.kind !== 'write') texts.set(expandMacros(w.kind === 'value' && w.long ? longStringPv(w.pv) : w.pv, macros), ['0']);
      }
      assert.deepEqual(adlLayoutProblems(screen.name, renderAdl(screen), macros, fonts, texts), []);
    });
  });

  describe('details', () => {
    it('widgets lie inside their display and do not overlap', () => {
      for (const screen of allScreens(set)) {
        const w = screen.widgets;
        for (const a of w) {
          assert.ok(a.x >= 0 && a.y >= 0 && a.x + a.width <= screen.width && a.y + a.height <= screen.height, `${screen.name}: ${JSON.stringify(a)} outside`);
        }
        for (let i = 0; i < w.length; i++) {
          for (let j = i + 1; j < w.length; j++) {
            const [a, b] = [w[i], w[j]];
            const overlap = a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
            assert.ok(!overlap, `${screen.name}: widgets ${i} and ${j} overlap`);
          }
        }
      }
    });

    it('an RE Manager without control gets no control buttons', () => {
      const text = byName.get('queueserver-qs_sim.bob') as string;
      assert.doesNotMatch(text, /write_pv/);
      assert.match(byName.get('queueserver-qs.bob') as string, /\$\(P\)qs:QueueStart/);
    });

    it('detail display names: unsafe characters become "_", clashes are numbered', () => {
      const s: ServiceSet = { prefix: 'x:', bus: 'user', units: [], redis: [], queueservers: [{ pv: 'a:b', control: true }, { pv: 'a_b', control: true }, { pv: 'a<b', control: true }] };
      assert.deepEqual([...detailDisplayNames(s).values()], ['queueserver-a_b', 'queueserver-a_b-2', 'queueserver-a_b-3']);
    });

    it('a configuration without units or RE Managers still gives a valid overview', () => {
      const empty = generateScreens({ prefix: 'e:', bus: 'system', units: [], queueservers: [], redis: [] });
      assert.deepEqual(empty.map((f) => f.name), ['service-overview.bob', 'service-overview.adl']);
      const display = parseXml(empty[0].text);
      assert.deepEqual(bobPvs(display), ['$(P)IOC:Health', '$(P)IOC:BusConnected', '$(P)IOC:Uptime', '$(P)IOC:Version']);
      parseAdl(empty[1].text);
    });

    it('text that is not XML-safe is escaped', () => {
      const s: ServiceSet = { prefix: 'a<&>"b:', bus: 'user', units: [{ name: 'x.service', pv: 'x', expect: 'active', control: true }], queueservers: [], redis: [] };
      const display = parseXml(generateScreens(s)[0].text);
      assert.equal(displayMacros(display).get('P'), 'a<&>"b:');
    });
  });

  describe('--protocol pva', () => {
    const pva = generateScreens(set, 'pva');

    it('matches the golden files (UPDATE_GOLDEN=1 rewrites them): the .bob displays only, MEDM being CA-only', () => {
      checkGolden('screens-pva', pva);
      assert.deepEqual(pva.map((f) => f.name).sort(), [...byName.keys()].filter((n) => n.endsWith('.bob')).sort());
    });

    it('names every PV pva://NAME: the same PVs as the CA form, a long string by its VAL', () => {
      for (const f of pva) {
        const names = bobPvs(parseXml(f.text));
        assert.ok(names.length > 0);
        assert.deepEqual(names.filter((n) => !n.startsWith('pva://$(P)')), [], f.name);
        const ca = bobPvs(parseXml(byName.get(f.name)!)).map((n) => n.replace(/\.VAL\$$/, ''));
        assert.deepEqual(names.map((n) => n.slice('pva://'.length)), ca, f.name);
      }
    });
  });

  describe('command line', function () {
    this.timeout(20000);
    let dir: string;
    before(() => {
      requireBuiltCli();
      dir = makeTempDir('screens-test-');
    });
    after(() => removeTempDir(dir));

    it('service-ioc screens -c FILE -o DIR writes the files and lists them', async () => {
      const out = path.join(dir, 'screens');
      const r = await runCli(['screens', '-c', FIXTURE_CONFIG, '-o', out], process.env);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.stdout.trim().split('\n').map((l) => path.basename(l)).sort(), [...byName.keys()].sort());
      for (const [name, text] of byName) assert.equal(fs.readFileSync(path.join(out, name), 'utf8'), text);
    });

    it('--protocol pva writes the .bob files and says why there is no .adl; another protocol is a usage error', async () => {
      const out = path.join(dir, 'screens-pva');
      const r = await runCli(['screens', '-c', FIXTURE_CONFIG, '-o', out, '--protocol', 'pva'], process.env);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(fs.readdirSync(out).sort(), [...byName.keys()].filter((n) => n.endsWith('.bob')).sort());
      assert.match(r.stderr, /^note: MEDM speaks Channel Access only: with --protocol pva only the Phoebus \.bob displays are written \(no \.adl\)$/m);
      const bad = await runCli(['screens', '-c', FIXTURE_CONFIG, '-o', out, '--protocol', 'pvas'], process.env);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /--protocol "pvas" must be ca or pva/);
    });

    it('a missing -o is a usage error (exit 2)', async () => {
      const r = await runCli(['screens', '-c', FIXTURE_CONFIG], process.env);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /missing -o/);
      assert.match(r.stderr, /usage:/);
    });
  });
});
