/**
 * `service-ioc archive-list`: the archivePV JSON list for the example
 * configuration, a rule for every record of every template, SCAN periods
 * from the configuration, and the command line writing the file.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ARCHIVE_RULES, archiveList, archiveListText, ruleKey, type ArchiveRequest } from '../../src/ioc/archive';
import { loadConfig, parseConfig } from '../../src/ioc/config';
import { readPvTemplates } from '../../src/ioc/pv-table';
import { buildServiceIoc } from '../../src/ioc/service-ioc';
import { memoryLogger } from '../../src/log';
import { REPO_ROOT } from '../helpers/pyca';
import { makeTempDir, removeTempDir, requireBuiltCli, runCli } from '../helpers/cli';

const EXAMPLE = path.join(REPO_ROOT, 'ioc', 'service-ioc.toml');
const P = '100id:bluesky:';

describe('archive-list', () => {
  const byPv = (list: readonly ArchiveRequest[]): Map<string, ArchiveRequest> => new Map(list.map((r) => [r.pv, r]));

  it('every record of every service template has a rule, and every rule a record', () => {
    for (const t of readPvTemplates()) {
      const rules = ARCHIVE_RULES[path.basename(t.file)];
      assert.ok(rules, `${t.file} has rules`);
      const names = t.rows.map((r) => ruleKey(r.name));
      assert.deepEqual(names.filter((n) => !(n in rules)), [], `${t.file}: records without a rule`);
      assert.deepEqual(Object.keys(rules).filter((n) => !names.includes(n)), [], `${t.file}: rules without a record`);
    }
  });

  it('the example configuration: states and health monitored, resources scanned at the period they are read', () => {
    const config = loadConfig(EXAMPLE);
    const list = archiveList(config);
    const pvs = byPv(list);
    assert.equal(pvs.size, list.length, 'each PV once');
    const entry = (name: string): [string, string] | undefined => {
      const r = pvs.get(P + name);
      return r && [r.samplingmethod, r.samplingperiod];
    };
    for (const name of ['IOC:Health', 'IOC:HealthMessage', 'IOC:BusConnected', 'IOC:Linger', 'IOC:PutLogOK', 'redis:ActiveState', 'queueserver:SubState',
      'redis:NRestarts', 'qs:ManagerState', 'qs:QueueLength', 'qs:Connected', 'qsredis:Connected', 'qsredis:QueueLength', 'IOC:CA_CLNT_CNT']) {
      assert.deepEqual(entry(name), ['MONITOR', '1.0'], name);
    }
    for (const name of ['redis:CPUUsage', 'redis:MemoryCurrent', 'queueserver:TasksCurrent']) assert.deepEqual(entry(name), ['SCAN', '5.0'], name);
    assert.deepEqual(entry('qsredis:PingTime'), ['SCAN', '1.0'], 'the redis poll period');
    assert.deepEqual(entry('IOC:SYS_CPU_LOAD'), ['SCAN', '10.0'], 'iocStats\' scan');
    for (const name of ['IOC:Heartbeat', 'IOC:Uptime', 'IOC:TOD', 'redis:Uptime', 'redis:LogTail', 'qs:StatusAge', 'qs:ConsoleLast', 'IOC:HOSTNAME',
      'redis:Start', 'qs:QueueStart', 'redis_state']) {
      assert.equal(entry(name), undefined, `${name} is not archived`);
    }
    // Every listed PV is one the IOC serves for this configuration.
    const served = new Set(buildServiceIoc(config, memoryLogger([], 'error')).database.recordNames());
    assert.deepEqual(list.filter((r) => !served.has(r.pv)).map((r) => r.pv), []);
    for (const r of list) assert.deepEqual(Object.keys(r), ['pv', 'samplingmethod', 'samplingperiod']);
  });

  it('follows the configuration: resource_period, poll_period, iocstats = false, control = false', () => {
    const config = parseConfig([
      '[ioc]', 'prefix = "t:"', 'resource_period = 30', 'iocstats = false',
      '[[unit]]', 'name = "a.service"', 'pv = "a"', 'control = false',
      '[[queueserver]]', 'pv = "qs"', 'control = true',
      '[[redis]]', 'pv = "r"', 'addr = "localhost:6379"', 'poll_period = 2.5', '',
    ].join('\n'), 'test.toml');
    const pvs = byPv(archiveList(config));
    assert.equal(pvs.get('t:a:CPUUsage')?.samplingperiod, '30.0');
    assert.equal(pvs.get('t:r:UsedMemory')?.samplingperiod, '2.5');
    assert.equal(pvs.get('t:qs:CmdStatus')?.samplingmethod, 'MONITOR', 'a control template\'s status is archived');
    assert.ok(![...pvs.keys()].some((p) => /STARTTOD|SYS_CPU_LOAD/.test(p)), 'no iocStats names');
  });

  it('the JSON text is an array, one object a line, periods as strings', () => {
    const text = archiveListText([{ pv: 'a', samplingmethod: 'MONITOR', samplingperiod: '1.0' }, { pv: 'b', samplingmethod: 'SCAN', samplingperiod: '5.0' }]);
    assert.equal(text, '[\n  {"pv":"a","samplingmethod":"MONITOR","samplingperiod":"1.0"},\n  {"pv":"b","samplingmethod":"SCAN","samplingperiod":"5.0"}\n]\n');
    assert.equal(archiveListText([]), '[]\n');
  });

  describe('command line', function () {
    this.timeout(30000);
    let dir: string;
    before(() => {
      requireBuiltCli();
      dir = makeTempDir('archive-list-');
    });
    after(() => removeTempDir(dir));

    it('archive-list -c FILE -o FILE writes the list and says how many PVs', async () => {
      const out = path.join(dir, 'sub', 'archive.json');
      const r = await runCli(['archive-list', '-c', EXAMPLE, '-o', out], process.env);
      assert.equal(r.code, 0, r.stderr);
      const list = JSON.parse(fs.readFileSync(out, 'utf8')) as ArchiveRequest[];
      assert.deepEqual(list, archiveList(loadConfig(EXAMPLE)));
      assert.equal(r.stderr, `${out}: ${list.length} PVs to archive\n`);
      assert.equal(r.stdout, '');
    });

    it('archive-list -c FILE prints the list; without -c it is a usage error', async () => {
      const r = await runCli(['archive-list', '-c', EXAMPLE], process.env);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), archiveList(loadConfig(EXAMPLE)));
      const bad = await runCli(['archive-list'], process.env);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /^service-ioc: archive-list: missing -c FILE\.toml$/m);
    });
  });
});
