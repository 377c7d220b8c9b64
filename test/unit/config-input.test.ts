/**
 * The configuration means exactly what it says, and every problem in it is
 * reported once, naming the configuration file, the line and the key:
 * `db` entries carry dbLoadRecords macro strings, timeouts a timer can
 * hold, files that exist, and messages that never repeat a huge value.
 * Run through the built command line, as a user meets it.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeTempDir, removeTempDir, requireBuiltCli, runCli, type CliResult } from '../helpers/cli';

describe('configuration: what a file says is what it means', function () {
  this.timeout(30000);
  let dir: string;
  const write = (name: string, text: string): string => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    return file;
  };
  const check = (toml: string): Promise<CliResult> => runCli(['check', '-c', write('ioc.toml', toml)], { ...process.env, SERVICE_IOC_LOG: 'error' });
  /** The one line of a failed check's message. */
  const failure = (r: CliResult): string => {
    assert.equal(r.code, 1, `expected exit 1; stdout: ${r.stdout} stderr: ${r.stderr}`);
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    return lines[0];
  };

  before(() => {
    requireBuiltCli();
    dir = makeTempDir('config-input-');
    write('m.db', 'record(stringin, "$(P)$(A)") {}\nrecord(stringin, "$(P)$(B)") { field(DESC, "$(D=none)") }\n');
  });
  after(() => removeTempDir(dir));

  describe('db entries: the macro string as dbLoadRecords takes it', () => {
    for (const [entry, records] of [
      ['m.db A=one, B=two', ['t:one', 't:two']],
      ['m.db A=one,B=two', ['t:one', 't:two']],
      ['m.db  A = one ,  B = two ', ['t:one', 't:two']],
      ['m.db A="o=n=e",B=\'t,w,o\'', ['t:o=n=e', 't:t,w,o']],
      ['m.db A=x, B=y, P=other:', ['other:x', 'other:y']],
    ] as const) {
      it(`"${entry}" loads ${records.join(' and ')}`, async () => {
        const r = await check(`[ioc]\nprefix = "t:"\ndb = [${JSON.stringify(entry)}]\n`);
        assert.equal(r.code, 0, r.stderr);
        const names = r.stdout.trim().split('\n');
        for (const name of records) assert.ok(names.includes(name), `${name} not in ${names.join(' ')}`);
      });
    }

    it('a macro the string does not define is an error in the .db, not silently dropped', async () => {
      const line = failure(await check('[ioc]\nprefix = "t:"\ndb = ["m.db A=one"]\n'));
      assert.match(line, /m\.db:2:\d+: undefined macro 'B'$/);
    });
  });

  describe('timeouts a timer can hold: 0 < t <= 2^31-1 ms', () => {
    for (const key of ['job_timeout', 'call_timeout']) {
      for (const value of ['1e7', 'inf', 'nan', '0', '-1', '2147483.648', '"5"']) {
        it(`${key} = ${value} is refused with the file, line and key`, async () => {
          const line = failure(await check(`[ioc]\nprefix = "t:"\n${key} = ${value}\n`));
          assert.match(line, new RegExp(`^service-ioc: ${dir.replace(/[/.]/g, '\\$&')}/ioc\\.toml:3: key "${key}" must be a positive number of seconds, at most 2147483\\.647 `));
        });
      }
      it(`${key} = 2147483.647 (2^31-1 ms) is taken`, async () => {
        const r = await check(`[ioc]\nprefix = "t:"\n${key} = 2147483.647\n`);
        assert.equal(r.code, 0, r.stderr);
      });
    }

    it('a queueserver timeout beyond 2^31-1 ms is refused too', async () => {
      const line = failure(await check('[ioc]\nprefix = "t:"\n\n[[queueserver]]\npv = "qs"\ntimeout = 1e9\n'));
      assert.match(line, /ioc\.toml:6: \[\[queueserver\]\] #1: key "timeout" must be a positive number of seconds, at most 2147483\.647/);
    });
  });

  describe('files the configuration names', () => {
    it('a missing .db: the configuration file, line and key once, then the file and the reason', async () => {
      const line = failure(await check('[ioc]\nprefix = "t:"\n\ndb = ["m.db A=1, B=2", "gone.db"]\n'));
      assert.equal(line, `service-ioc: ${dir}/ioc.toml:4: key "db": cannot read ${dir}/gone.db: no such file or directory`);
    });

    it('a missing .acf: the same, and no doubled ENOENT', async () => {
      const line = failure(await check('[ioc]\nprefix = "t:"\n\n[access]\nfile = "gone.acf"\n'));
      assert.equal(line, `service-ioc: ${dir}/ioc.toml:5: key "file": cannot read ${dir}/gone.acf: no such file or directory`);
    });

    it('an empty .acf is refused: it would leave no PV readable', async () => {
      write('empty.acf', '# rules to follow\n');
      const line = failure(await check('[ioc]\nprefix = "t:"\n[access]\nfile = "empty.acf"\n'));
      assert.match(line, new RegExp(`^service-ioc: ${dir.replace(/[/.]/g, '\\$&')}/empty\\.acf:2: the file defines no UAG, HAG or ASG`));
    });

    it('a control character in an .acf is shown by its code, not printed raw', async () => {
      write('ctl.acf', 'UAG(ops) { al\x07ice }\n');
      const line = failure(await check('[ioc]\nprefix = "t:"\n[access]\nfile = "ctl.acf"\n'));
      assert.match(line, /ctl\.acf:1: unexpected character U\+0007$/);
      assert.ok(!line.includes('\x07'), 'the raw character is not printed');
    });

    it('a missing configuration file: its name once and the reason', async () => {
      const r = await runCli(['check', '-c', path.join(dir, 'nothing.toml')], process.env);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, `service-ioc: ${dir}/nothing.toml: cannot read the configuration: no such file or directory\n`);
    });
  });

  describe('commands that write files', () => {
    it('screens -o /proc/x fails at once, naming the directory and the reason', async () => {
      const toml = write('ok.toml', '[ioc]\nprefix = "t:"\n');
      const r = await runCli(['screens', '-c', toml, '-o', '/proc/x'], process.env, 10000);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, 'service-ioc: /proc/x: cannot create the directory: no such file or directory\n');
    });

    it('screens -o under a regular file: "not a directory", no error code', async () => {
      const toml = write('ok.toml', '[ioc]\nprefix = "t:"\n');
      const r = await runCli(['screens', '-c', toml, '-o', path.join(toml, 'out')], process.env, 10000);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^service-ioc: \S+ok\.toml\/out: not a directory\n$/);
    });

    it('screens -o new/nested/dir creates the missing directories', async () => {
      const toml = write('ok.toml', '[ioc]\nprefix = "t:"\n');
      const out = path.join(dir, 'new', 'nested', 'dir');
      const r = await runCli(['screens', '-c', toml, '-o', out], process.env, 10000);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(fs.existsSync(path.join(out, 'service-overview.bob')));
    });

    it('pv-table --readme says "updated" only when it changed the file', async () => {
      const readme = write('README.md', '# x\n');
      const first = await runCli(['pv-table', '--readme', readme], process.env);
      assert.equal(first.stdout, `${readme}: PV reference updated\n`);
      const text = fs.readFileSync(readme, 'utf8');
      const second = await runCli(['pv-table', '--readme', readme], process.env);
      assert.equal(second.stdout, `${readme}: PV reference already up to date\n`);
      assert.equal(fs.readFileSync(readme, 'utf8'), text);
    });

    it('check counts in the singular where there is one', async () => {
      const r = await runCli(['check', '-c', write('one.toml', '[ioc]\nprefix = "t:"\n[[unit]]\nname = "a.service"\npv = "a"\n[[queueserver]]\npv = "qs"\n')], { ...process.env, SERVICE_IOC_LOG: 'error' });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /one\.toml: OK, 1 unit, 1 queueserver, \d+ PVs\n$/);
    });
  });

  describe('messages do not echo huge values', () => {
    it('a 5 MB DESC in a .db gives a short error line that says how long the value was', async () => {
      write('big.db', `record(ai, "$(P)big") {\n  field(DESC, "${'x'.repeat(5_000_000)}")\n}\n`);
      const line = failure(await check('[ioc]\nprefix = "t:"\ndb = ["big.db"]\n'));
      assert.ok(line.length < 300, `${line.length} characters: ${line.slice(0, 300)}`);
      assert.match(line, /big\.db:2:\d+: record "t:big" field DESC: .*\(5000000 characters\)$/);
    });

    it('a 1 MB prefix gives a short error line', async () => {
      const line = failure(await check(`[ioc]\nprefix = "${'p'.repeat(1_000_000)} "\n`));
      assert.ok(line.length < 300, `${line.length} characters`);
      assert.match(line, /ioc\.toml:2: key "prefix": "p+"\.\.\. \(1000001 characters\) has characters a record name cannot hold$/);
    });
  });

  describe('TOML mistakes in the user\'s terms', () => {
    it('an unterminated string says so, with its line', async () => {
      const line = failure(await check('[ioc]\nprefix = "t:\nbus = "user"\n'));
      assert.match(line, /ioc\.toml:2: not valid TOML: a string is not closed on its line/);
      assert.doesNotMatch(line, /control character/);
    });

    it('a raw control character in a string is named by its code', async () => {
      const line = failure(await check('[ioc]\nprefix = "t:\x01"\n'));
      assert.match(line, /ioc\.toml:2: not valid TOML: a string holds the control character U\+0001/);
    });

    it('a missing key of a [[unit]] names it by its number, counted from 1', async () => {
      const line = failure(await check('[ioc]\nprefix = "t:"\n[[unit]]\nname = "a.service"\npv = "a"\n[[unit]]\nname = "b.service"\n'));
      assert.match(line, /ioc\.toml:6: \[\[unit\]\] #2: missing key "pv"$/);
    });
  });
});
