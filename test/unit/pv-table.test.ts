/**
 * The README's PV reference is generated from db/*.db: this fails when the
 * table between the pv-table markers is not what the templates say
 * (`node dist/cli.js pv-table --readme README.md`, or UPDATE_GOLDEN=1,
 * rewrites it), and checks the table covers every record the IOC builds.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PV_TABLE_END, PV_TABLE_START, pvTableOf, readPvTemplates, renderPvTable, withPvTable } from '../../src/ioc/pv-table';
import { serviceSet } from '../../src/ioc/screens';
import { REPO_ROOT, UPDATE_GOLDEN, fixtureConfig, serviceDatabase } from '../helpers/golden';

const README = path.join(REPO_ROOT, 'README.md');

describe('pv-table', () => {
  const templates = readPvTemplates();
  const table = renderPvTable(templates);

  it('README.md holds the table generated from db/*.db (UPDATE_GOLDEN=1 rewrites it)', () => {
    const readme = fs.readFileSync(README, 'utf8');
    if (UPDATE_GOLDEN) {
      fs.writeFileSync(README, withPvTable(readme, table));
      return;
    }
    const current = pvTableOf(readme);
    assert.ok(current !== undefined, `README.md has no ${PV_TABLE_START} ... ${PV_TABLE_END} block`);
    assert.equal(current, table, 'README.md\'s PV reference is stale: run `node dist/cli.js pv-table --readme README.md` and review the diff');
  });

  it('covers exactly the records the IOC builds for a configuration with every kind of service', () => {
    const config = fixtureConfig();
    const set = serviceSet(config);
    const names = new Set(serviceDatabase(config).recordNames());
    // The fixture has a controlled unit and a controlled RE Manager: every template is loaded.
    const expected = new Set<string>();
    for (const name of names) {
      let rest = name.slice(config.prefix.length);
      for (const pv of [...set.units.map((u) => u.pv), ...set.queueservers.map((q) => q.pv), ...config.redis.map((r) => r.pv)].sort((a, b) => b.length - a.length)) {
        if (rest.startsWith(`${pv}:`) && !rest.startsWith('IOC:')) {
          rest = `<pv>:${rest.slice(pv.length + 1)}`;
          break;
        }
      }
      expected.add(rest);
    }
    const listed = new Set(templates.flatMap((t) => t.rows.map((r) => r.name)));
    assert.deepEqual([...expected].filter((n) => !listed.has(n)), [], 'records the table leaves out');
    assert.deepEqual([...listed].filter((n) => !expected.has(n)), [], 'rows no configured IOC has');
  });

  it('lists the templates in load order, each with what it is and when it is loaded', () => {
    assert.deepEqual(templates.map((t) => [t.file, t.loaded]), [
      ['db/ioc.db', 'once'],
      ['db/iocstats.db', 'once, unless `[ioc] iocstats = false`'],
      ['db/unit.db', 'for each `[[unit]]`'],
      ['db/unit-control.db', 'for each `[[unit]]` with `control = true`'],
      ['db/queueserver.db', 'for each `[[queueserver]]`'],
      ['db/queueserver-control.db', 'for each `[[queueserver]]` with `control = true`'],
      ['db/redis.db', 'for each `[[redis]]`'],
    ]);
    for (const t of templates) assert.ok(t.title.length > 0, `${t.file}: a title from its first comment line`);
  });

  it('a control says what to write; a status PV is not a control', () => {
    const row = (name: string) => templates.flatMap((t) => t.rows).find((r) => r.name === name);
    assert.equal(row('<pv>:Start')?.control, '1 Start');
    assert.equal(row('<pv>:Enable')?.control, '0 Disabled, 1 Enabled');
    assert.equal(row('<pv>:ActiveState')?.control, undefined);
    assert.equal(row('<pv>:ActiveState')?.type, 'mbbi');
    assert.equal(row('<pv>:ActiveState')?.description, '<pv> ActiveState');
    assert.match(table, /\| `<pv>:ActiveState` \| mbbi \| &lt;pv&gt; ActiveState \| {2}\|/);
  });

  describe('withPvTable', () => {
    const readme = '# x\n\nintro\n\n## Roadmap\n\n- more\n';

    it('without markers: a "PV reference" section goes before the Roadmap', () => {
      const out = withPvTable(readme, 'T');
      assert.equal(out, `# x\n\nintro\n\n## PV reference\n\n${PV_TABLE_START}\nT\n${PV_TABLE_END}\n\n## Roadmap\n\n- more\n`);
      assert.equal(pvTableOf(out), 'T');
    });

    it('without markers or Roadmap: at the end', () => {
      assert.equal(withPvTable('# x\n', 'T'), `# x\n\n## PV reference\n\n${PV_TABLE_START}\nT\n${PV_TABLE_END}\n`);
    });

    it('with markers: only the block changes, and again gives the same text', () => {
      const once = withPvTable(readme, 'T');
      const twice = withPvTable(once, 'U\nV');
      assert.equal(twice, once.replace('\nT\n', '\nU\nV\n'));
      assert.equal(withPvTable(twice, 'U\nV'), twice);
    });

    it('one marker alone is an error', () => {
      assert.throws(() => withPvTable(`a ${PV_TABLE_START} b`, 'T'), /only one of/);
    });
  });
});
