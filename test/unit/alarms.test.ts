/**
 * `service-ioc alarms`: the Phoebus alarm-server XML and the ALH
 * configuration generated from a configuration. Golden files pin the
 * output; the XML is held to what XmlModelReader reads (and to
 * XmlModelWriter's element order), the .alhConfig to what ALH's
 * alConfig.c reads; both name the same PVs, each served by the IOC.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Database } from '../../src/database/database';
import { ALH_HELD_BACK, alarmTree, generateAlarms, renderAlhConfig, renderPhoebusAlarms } from '../../src/ioc/alarms';
import { generateScreens, serviceSet } from '../../src/ioc/screens';
import { parseAdl } from '../helpers/adl';
import { alhChannels, alhForcePvs, alhMask, alhMaskMeans, parseAlh, AlhSyntaxError, type AlhChannel } from '../helpers/alh';
import { pvProbe } from '../helpers/pv-probe';
import { makeTempDir, removeTempDir, requireBuiltCli, runCli } from '../helpers/cli';
import { FIXTURE_CONFIG, checkGolden, fixtureConfig, serviceDatabase, servesPv } from '../helpers/golden';
import { childText, childrenNamed, parseXml, XmlSyntaxError, type XmlNode } from '../helpers/xml';

const DISPLAYS = '/opt/25idc/screens';

/** A <pv>'s elements in XmlModelWriter's order (getLeafXML, then getItemXML). */
const PV_ORDER = ['description', 'enabled', 'latching', 'annunciating', 'delay', 'count', 'filter', 'guidance', 'display', 'command', 'automated_action'];
const COMPONENT_CHILDREN = ['guidance', 'display', 'command', 'automated_action', 'component', 'pv'];

/** Whether a generated Phoebus filter (`'PV' == N`, the only form written) holds for `values`. */
function phoebusFilterHolds(filter: string, values: ReadonlyMap<string, number>): boolean {
  const m = /^'([^']+)' == (-?\d+)$/.exec(filter);
  assert.ok(m, `filter ${filter}`);
  const v = values.get(m[1]);
  assert.ok(v !== undefined, `a value for ${m[1]}`);
  return v === Number(m[2]);
}

function allPvs(node: XmlNode): XmlNode[] {
  return [...childrenNamed(node, 'pv'), ...childrenNamed(node, 'component').flatMap(allPvs)];
}

describe('alarms', () => {
  const config = fixtureConfig();
  const set = serviceSet(config);
  const files = generateAlarms(set, { displays: DISPLAYS });
  const xml = files.find((f) => f.name === 'service-alarms.xml')?.text as string;
  const alh = files.find((f) => f.name === 'service-alarms.alhConfig')?.text as string;
  const screens = new Set(generateScreens(set).map((f) => f.name));
  let db: Database;

  before(() => {
    db = serviceDatabase(config);
  });

  it('matches the golden files (UPDATE_GOLDEN=1 rewrites them)', () => {
    checkGolden('alarms', files);
  });

  it('--protocol pva: the Phoebus configuration alone (ALH is CA-only), every PV and filter PV as pva://NAME (golden files)', () => {
    const pva = generateAlarms(set, { displays: DISPLAYS, protocol: 'pva' });
    checkGolden('alarms-pva', pva);
    assert.deepEqual(pva.map((f) => f.name), ['service-alarms.xml']);
    const root = parseXml(pva[0].text);
    const names: string[] = [];
    const walk = (n: XmlNode): void => {
      for (const pv of childrenNamed(n, 'pv')) names.push(pv.attributes.get('name') as string);
      childrenNamed(n, 'component').forEach(walk);
    };
    walk(root);
    assert.ok(names.length > 5);
    assert.deepEqual(names.filter((n) => !n.startsWith('pva://')), []);
    assert.equal(pva[0].text.replace(/pva:\/\//g, ''), xml, 'otherwise the CA form');
  });

  describe('Phoebus alarm server XML', () => {
    it('is well-formed, with the elements XmlModelReader reads, in XmlModelWriter\'s order', () => {
      const root = parseXml(xml);
      assert.equal(root.name, 'config');
      assert.equal(root.attributes.get('name'), 'Services');
      assert.deepEqual(root.children.map((c) => c.name).filter((n) => n !== 'component'), []);
      const check = (component: XmlNode): void => {
        assert.ok(component.attributes.get('name'), `line ${component.line}: component name`);
        for (const c of component.children) assert.ok(COMPONENT_CHILDREN.includes(c.name), `line ${c.line}: <${c.name}> in a component`);
        childrenNamed(component, 'component').forEach(check);
        for (const pv of childrenNamed(component, 'pv')) {
          const order = pv.children.map((c) => PV_ORDER.indexOf(c.name));
          assert.ok(order.every((o) => o >= 0), `line ${pv.line}: unknown element in <pv>`);
          assert.deepEqual(order, [...order].sort((a, b) => a - b), `line ${pv.line}: element order`);
          assert.ok(childText(pv, 'description'), `line ${pv.line}: description`);
          for (const b of ['enabled', 'latching', 'annunciating']) assert.match(childText(pv, b) ?? '', /^(true|false)$/, `line ${pv.line}: ${b}`);
          const delay = childText(pv, 'delay');
          if (delay !== undefined) assert.match(delay, /^\d+$/);
          for (const td of [...childrenNamed(pv, 'guidance'), ...childrenNamed(pv, 'display')]) {
            assert.deepEqual(td.children.map((c) => c.name), ['title', 'details'], `line ${td.line}`);
          }
          assert.equal(childrenNamed(pv, 'guidance').length, 1, `line ${pv.line}: guidance`);
          assert.ok(childrenNamed(pv, 'display').length >= 1, `line ${pv.line}: display`);
        }
      };
      childrenNamed(root, 'component').forEach(check);
      const names = childrenNamed(root, 'component').map((c) => c.attributes.get('name'));
      assert.deepEqual(names, ['IOC', 'redis.service', 'queueserver@25idc.service', 'redis qsredis', 'RE Manager qs (queueserver@25idc.service)', 'RE Manager qs:sim']);
    });

    it('names each PV once, with the prefix expanded, and the IOC serves it', () => {
      const pvs = allPvs(parseXml(xml)).map((p) => p.attributes.get('name') as string);
      assert.equal(new Set(pvs).size, pvs.length, 'no duplicates');
      assert.deepEqual(pvs, [
        '25idc:svc:IOC:BusConnected',
        '25idc:svc:redis:ActiveState', '25idc:svc:qsunit:ActiveState',
        '25idc:svc:qsredis:Connected', '25idc:svc:qsredis:Persistence',
        '25idc:svc:qs:Connected', '25idc:svc:qs:EnvState', '25idc:svc:qs:LastExitStatus',
        '25idc:svc:qs:sim:Connected', '25idc:svc:qs:sim:EnvState', '25idc:svc:qs:sim:LastExitStatus',
      ]);
      for (const pv of pvs) assert.ok(servesPv(db, pv), pv);
    });

    it('every alarm PV can alarm: its record has a severity for some state', () => {
      for (const pv of allPvs(parseXml(xml)).map((p) => p.attributes.get('name') as string)) {
        const rec = db.records.get(pv);
        assert.ok(rec, pv);
        const severities = Object.entries(rec.f).filter(([k, v]) => /^(ZR|ON|TW|TH|FR|FV|SX|SV|EI|NI)SV$|^[ZO]SV$/.test(k) && v !== 0 && v !== 'NO_ALARM');
        assert.ok(severities.length > 0, `${pv} never alarms`);
      }
    });

    it('guidance names the commands for the unit, and display links point at generated screens', () => {
      const root = parseXml(xml);
      const redis = allPvs(root).find((p) => p.attributes.get('name') === '25idc:svc:redis:ActiveState') as XmlNode;
      const guidance = childText(childrenNamed(redis, 'guidance')[0], 'details') ?? '';
      assert.match(guidance, /systemctl --user status redis\.service/);
      assert.match(guidance, /journalctl --user -u redis\.service/);
      assert.match(guidance, /systemctl --user restart redis\.service/);
      for (const pv of allPvs(root)) {
        for (const d of childrenNamed(pv, 'display')) {
          const details = childText(d, 'details') ?? '';
          assert.equal(path.dirname(details), DISPLAYS);
          assert.ok(screens.has(path.basename(details)), `${details} is a generated display`);
        }
      }
    });

    it('one failure, one alarm: PVs made INVALID by a lost source are filtered on that source', () => {
      const filters = new Map(allPvs(parseXml(xml)).map((p) => [p.attributes.get('name'), childText(p, 'filter')]));
      assert.deepEqual(Object.fromEntries(filters), {
        '25idc:svc:IOC:BusConnected': undefined,
        '25idc:svc:redis:ActiveState': "'25idc:svc:IOC:BusConnected' == 1",
        '25idc:svc:qsunit:ActiveState': "'25idc:svc:IOC:BusConnected' == 1",
        // Its unit is watched: while the unit is not active, the unit's alarm says so.
        '25idc:svc:qsredis:Connected': "'25idc:svc:redis:ActiveState' == 1",
        '25idc:svc:qsredis:Persistence': "'25idc:svc:qsredis:Connected' == 1",
        // Its unit and its redis: DepsUp is 1 while both (and the redis's unit) are up.
        '25idc:svc:qs:Connected': "'25idc:svc:qs:DepsUp' == 1",
        '25idc:svc:qs:EnvState': "'25idc:svc:qs:Connected' == 1",
        '25idc:svc:qs:LastExitStatus': "'25idc:svc:qs:Connected' == 1",
        '25idc:svc:qs:sim:Connected': undefined,
        '25idc:svc:qs:sim:EnvState': "'25idc:svc:qs:sim:Connected' == 1",
        '25idc:svc:qs:sim:LastExitStatus': "'25idc:svc:qs:sim:Connected' == 1",
      });
      // The filter PVs are served, and 1 is the state that enables: Connected, BusConnected, active, DepsUp's all up.
      for (const f of filters.values()) {
        if (f === undefined) continue;
        const pv = /^'([^']+)' == 1$/.exec(f)?.[1] as string;
        assert.ok(servesPv(db, pv), pv);
        const rec = db.records.get(pv);
        assert.ok(rec);
        if (rec.type.name === 'calc') assert.equal(rec.f.CALC, 'A=1&&B=1&&C=1', pv);
        else assert.ok(['Connected', 'active'].includes(String(rec.type.name === 'bi' ? rec.f.ONAM : rec.f.ONST)), `${pv}: 1 is the good state`);
      }
    });

    it('a manager down because of its unit or its redis raises no alarm of its own: DepsUp, from the three, holds it back in both files', async () => {
      const live = serviceDatabase(config);
      live.start();
      after(() => live.stop());
      const { value, until } = pvProbe(() => live, '25idc:svc:');
      /** A source's new value, as its bridge's device support completes a read. */
      const source = (pv: string, v: number): void => {
        const rec = live.records.get(`25idc:svc:${pv}`);
        assert.ok(rec, pv);
        rec.complete(v, undefined);
      };
      const ioc = allPvs(parseXml(xml)).find((p) => p.attributes.get('name') === '25idc:svc:qs:Connected') as XmlNode;
      const channel = alhChannels(parseAlh(alh)).find((c) => c.name === '25idc:svc:qs:Connected') as AlhChannel;
      assert.deepEqual(alhForcePvs(channel), ['25idc:svc:qs:DepsUp']);
      /** What each tool does with the manager's alarm for DepsUp's value now. */
      const held = (): { phoebus: boolean; alh: boolean } => {
        const values = new Map([['25idc:svc:qs:DepsUp', Number(value('qs:DepsUp'))]]);
        const mask = alhMask(channel, values);
        assert.ok(mask !== undefined, 'ALH sets a mask');
        return { phoebus: !phoebusFilterHolds(childText(ioc, 'filter') as string, values), alh: !alhMaskMeans(mask).raises };
      };
      // The sources as their bridges set them: the queueserver's unit and redis's unit active, redis answering.
      const up = async (): Promise<void> => {
        for (const [pv, v] of [['qsunit:ActiveState', 1], ['redis:ActiveState', 1], ['qsredis:Connected', 1]] as const) source(pv, v);
        await until('qs:DepsUp', () => value('qs:DepsUp') === 1);
      };
      await up();
      assert.deepEqual(held(), { phoebus: false, alh: false }, 'all up: the manager\'s alarm counts');
      for (const [pv, down] of [['qsredis:Connected', 0], ['redis:ActiveState', 3], ['qsunit:ActiveState', 4]] as const) {
        source(pv, down);
        await until('qs:DepsUp', () => value('qs:DepsUp') === 0);
        assert.deepEqual(held(), { phoebus: true, alh: true }, `${pv} = ${down}: held back`);
        await up();
      }
      // ALH neither counts nor logs it meanwhile.
      assert.deepEqual(alhMaskMeans(alhMask(channel, new Map([['25idc:svc:qs:DepsUp', 0]]))!), { raises: false, logs: false });
    });

    it('descriptions claim only what the state says; guidance names the screen and the first thing to try', () => {
      const root = parseXml(xml);
      for (const pv of allPvs(root)) {
        const name = pv.attributes.get('name') as string;
        const description = childText(pv, 'description') ?? '';
        const guidance = childText(childrenNamed(pv, 'guidance')[0], 'details') ?? '';
        if (/EnvState|LastExitStatus/.test(name)) assert.doesNotMatch(description, /failed|did not complete/, `${name}: INVALID does not mean failed`);
        assert.match(guidance, /^Screen: the [^\n]+ display \(\S+\.adl in MEDM, \S+\.bob in Phoebus\)/, `${name}: names the screen`);
        assert.match(guidance, /\nFirst try/, `${name}: says what to try first`);
        const shown = /\((\S+)\.adl in MEDM/.exec(guidance)?.[1] as string;
        assert.ok(screens.has(`${shown}.adl`), `${name}: ${shown} is a generated screen`);
      }
    });

    it('a system bus gives systemctl without --user, and sudo to change things', () => {
      const text = renderPhoebusAlarms(alarmTree({ ...set, bus: 'system' }), { displays: DISPLAYS });
      assert.match(text, / {2}systemctl status redis\.service/);
      assert.match(text, /sudo systemctl restart redis\.service/);
      assert.doesNotMatch(text, /--user/);
    });

    it('--displays may be a URL', () => {
      const text = renderPhoebusAlarms(alarmTree(set), { displays: 'https://example.org/screens/' });
      assert.match(text, /<details>https:\/\/example\.org\/screens\/service-overview\.bob<\/details>/);
    });
  });

  describe('ALH .alhConfig', () => {
    it('parses: one main group, a group per service, channels with alias, guidance and a medm command', () => {
      const main = parseAlh(alh);
      assert.equal(main.name, 'Services');
      assert.deepEqual(main.groups.map((g) => [g.name, g.alias]), [
        ['IOC', 'IOC'], ['redis', 'redis.service'], ['qsunit', 'queueserver@25idc.service'],
        ['qsredis', 'redis qsredis'], ['qs', 'RE Manager qs (queueserver@25idc.service)'], ['qs:sim', 'RE Manager qs:sim'],
      ]);
      for (const c of alhChannels(main)) {
        assert.ok(c.alias, `line ${c.line}: $ALIAS`);
        assert.ok((c.guidance ?? []).length > 0, `line ${c.line}: $GUIDANCE`);
        const m = /^medm -x -macro P=25idc:svc: (\S+)$/.exec(c.command ?? '');
        assert.ok(m, `line ${c.line}: $COMMAND ${c.command}`);
        assert.equal(path.dirname(m[1]), DISPLAYS);
        assert.ok(screens.has(path.basename(m[1])), `${m[1]} is a generated display`);
      }
    });

    it('the same filters as $FORCEPV: disabled unless the source PV has the enabling value', () => {
      const filters = new Map(allPvs(parseXml(xml)).map((p) => [p.attributes.get('name'), childText(p, 'filter')]));
      for (const c of alhChannels(parseAlh(alh))) {
        const f = filters.get(c.name);
        if (f === undefined) {
          assert.equal(c.force, undefined, c.name);
          assert.equal(c.mask, undefined, c.name);
          continue;
        }
        assert.equal(c.mask, ALH_HELD_BACK, `${c.name}: disabled and not logged by default`);
        assert.equal(ALH_HELD_BACK, '-D--L');
        assert.deepEqual(c.force, { pv: /^'([^']+)'/.exec(f)?.[1], mask: '-----', value: 1, reset: 'NE' }, c.name);
      }
    });

    it('names the same PVs as the Phoebus file', () => {
      const fromXml = allPvs(parseXml(xml)).map((p) => p.attributes.get('name'));
      assert.deepEqual(alhChannels(parseAlh(alh)).map((c) => c.name), fromXml);
    });

    it('has the same guidance text as the Phoebus file', () => {
      const guidance = new Map(allPvs(parseXml(xml)).map((p) => [p.attributes.get('name'), childText(childrenNamed(p, 'guidance')[0], 'details')]));
      // ALH drops a guidance line's leading blanks (alConfig.c).
      const unindented = (t: string | undefined): string => (t ?? '').split('\n').map((l) => l.trimStart()).join('\n');
      for (const c of alhChannels(parseAlh(alh))) assert.equal((c.guidance ?? []).join('\n'), unindented(guidance.get(c.name)), c.name);
    });

    it('with displays at a URL there is no medm command (medm opens files)', () => {
      const text = renderAlhConfig(alarmTree(set), { displays: 'https://example.org/screens' });
      assert.doesNotMatch(text, /\$COMMAND/);
      parseAlh(text);
    });

    it('quotes a display path that the shell would split', () => {
      const text = renderAlhConfig(alarmTree(set), { displays: '/opt/my screens' });
      assert.match(text, /\$COMMAND medm -x -macro P=25idc:svc: '\/opt\/my screens\/service-overview\.adl'/);
    });
  });

  it('the alarm configuration name must be one word', () => {
    assert.throws(() => alarmTree(set, 'two words'), /one word/);
    assert.throws(() => alarmTree(set, 'redis'), /ALH group name "redis" is used twice/);
    assert.equal(alarmTree(set, 'Beamline-25idc').name, 'Beamline-25idc');
  });

  describe('the test parsers refuse what the tools refuse', () => {
    it('XML: mismatched tags, a bare "&", two roots, a repeated attribute, "--" in a comment', () => {
      for (const bad of ['<a><b></a></b>', '<a>x & y</a>', '<a/><b/>', '<a x="1" x="2"/>', '<a><!-- x -- y --></a>', '<a x=1/>', 'text<a/>', '<a>&bogus;</a>']) {
        assert.throws(() => parseXml(bad), XmlSyntaxError, bad);
      }
      assert.equal(parseXml('<?xml version="1.0"?><a b="&lt;&#65;&#x42;">&amp;<![CDATA[<x>]]></a>').text, '&<x>');
    });

    it('ADL: an unclosed block, a key without a value, an unclosed string', () => {
      for (const bad of ['a {', 'a { b= }', 'a { b="x\n" }', '{ }']) assert.throws(() => parseAdl(bad), Error, bad);
    });

    it('ALH: a missing $END, an unknown parent, a second main group, stray text', () => {
      for (const bad of [
        'GROUP NULL A\nCHANNEL A x\n$GUIDANCE\ntext\n',
        'GROUP NULL A\nCHANNEL B x\n',
        'GROUP NULL A\nGROUP NULL B\n',
        'GROUP NULL A\nhello\n',
        'GROUP NULL A\nGROUP A B\nGROUP A C\nCHANNEL B x\n',
        'GROUP NULL A\nCHANNEL A x\n$GUIDANCE\n$COMMAND y\n',
      ]) assert.throws(() => parseAlh(bad), AlhSyntaxError, bad);
    });

    it('ALH: a force formula as ALH reads it: one-word expression, inputs A..F, and no PV name that atof reads as a number', () => {
      const head = 'GROUP NULL A\nCHANNEL A x -D--L\n$FORCEPV CALC ----- 1 NE\n';
      const good = parseAlh(`${head}$FORCEPV_CALC A=1&&B=1\n$FORCEPV_CALC_A qs:unit\n$FORCEPV_CALC_B 1\n`);
      const c = alhChannels(good)[0];
      assert.deepEqual(alhForcePvs(c), ['qs:unit']);
      assert.equal(alhMask(c, new Map([['qs:unit', 1]])), '-----');
      assert.equal(alhMask(c, new Map([['qs:unit', 0]])), '-D--L');
      assert.equal(alhMask(c, new Map()), undefined, 'ALH waits for every input');
      const refused = (text: string, re: RegExp): void => assert.throws(() => parseAlh(head + text), re, text);
      // alConfig.c: atof("25idc:svc:x") is 25, a constant; such a name never connects.
      refused('$FORCEPV_CALC A\n$FORCEPV_CALC_A 25idc:svc:x\n', /ALH reads this name as the number 25 \(atof\), not as a PV/);
      refused('$FORCEPV_CALC A\n$FORCEPV_CALC_A inf:x\n', /as the number Infinity/);
      refused('$FORCEPV_CALC A = 1\n$FORCEPV_CALC_A a\n', /takes one word/);
      refused('$FORCEPV_CALC A&&B\n$FORCEPV_CALC_A a\n', /uses B and there is no \$FORCEPV_CALC_B/);
      refused('$FORCEPV_CALC_A a\n', /without \$FORCEPV_CALC$/);
      refused('$FORCEPV_CALC A&&\n$FORCEPV_CALC_A a\n', /is not a CALC expression/);
      assert.throws(() => parseAlh('GROUP NULL A\nCHANNEL A x\n$FORCEPV_CALC A\n'), /without a \$FORCEPV CALC before it/);
    });

    it('ALH: the generated configuration uses no force formula whose input ALH would take as a number', () => {
      for (const c of alhChannels(parseAlh(alh))) for (const pv of alhForcePvs(c)) assert.ok(servesPv(db, pv), `${c.name}: force PV ${pv} is served`);
    });
  });

  describe('command line', function () {
    this.timeout(20000);
    let dir: string;
    before(() => {
      requireBuiltCli();
      dir = makeTempDir('alarms-test-');
    });
    after(() => removeTempDir(dir));

    it('service-ioc alarms -c FILE -o DIR --displays D writes both files', async () => {
      const out = path.join(dir, 'alarms');
      const r = await runCli(['alarms', '-c', FIXTURE_CONFIG, '-o', out, '--displays', DISPLAYS], process.env);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(fs.readFileSync(path.join(out, 'service-alarms.xml'), 'utf8'), xml);
      assert.equal(fs.readFileSync(path.join(out, 'service-alarms.alhConfig'), 'utf8'), alh);
    });

    it('without --displays the links point into the screens folder beside the output, and every linked file exists', async () => {
      const top = path.join(dir, 'beamline');
      const screensOut = await runCli(['screens', '-c', FIXTURE_CONFIG, '-o', path.join(top, 'screens')], process.env);
      assert.equal(screensOut.code, 0, screensOut.stderr);
      const out = path.join(top, 'alarms');
      const r = await runCli(['alarms', '-c', FIXTURE_CONFIG, '-o', out, '--name', 'Svc25'], process.env);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, '', 'no warning: the displays are there');
      const text = fs.readFileSync(path.join(out, 'service-alarms.xml'), 'utf8');
      assert.match(text, /<config name="Svc25">/);
      const links = [...text.matchAll(/<details>([^<]+\.bob)<\/details>/g)].map((m) => m[1]);
      assert.ok(links.length >= 5);
      for (const l of links) assert.ok(fs.existsSync(l), `${l} exists`);
      const commands = parseAlh(fs.readFileSync(path.join(out, 'service-alarms.alhConfig'), 'utf8'));
      for (const c of alhChannels(commands)) {
        const file = /(\S+\.adl)$/.exec(c.command ?? '')?.[1] as string;
        assert.ok(fs.existsSync(file), `${c.name}: $COMMAND opens ${file}, which exists`);
      }
    });

    it('warns when the displays the alarms link to are not there', async () => {
      const out = path.join(dir, 'alone', 'alarms');
      const r = await runCli(['alarms', '-c', FIXTURE_CONFIG, '-o', out], process.env);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, new RegExp(`warning: the alarms link to ${path.join(dir, 'alone', 'screens', 'service-overview.adl').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, which does not exist yet`));
    });

    it('--protocol pva writes the Phoebus file, says why there is no .alhConfig, and looks for the .bob displays only', async () => {
      const top = path.join(dir, 'pva');
      assert.equal((await runCli(['screens', '-c', FIXTURE_CONFIG, '-o', path.join(top, 'screens'), '--protocol', 'pva'], process.env)).code, 0);
      const out = path.join(top, 'alarms');
      const r = await runCli(['alarms', '-c', FIXTURE_CONFIG, '-o', out, '--protocol', 'pva'], process.env);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(fs.readdirSync(out), ['service-alarms.xml']);
      assert.equal(r.stderr, 'note: ALH speaks Channel Access only: with --protocol pva only the Phoebus alarm configuration is written (no .alhConfig)\n');
    });

    it('a bad --name is a usage error', async () => {
      const r = await runCli(['alarms', '-c', FIXTURE_CONFIG, '-o', dir, '--name', 'a b'], process.env);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /--name "a b" must be one word/);
    });
  });
});
