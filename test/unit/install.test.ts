/**
 * `service-ioc install` in temporary directories: the unit's ExecStart= runs
 * the given program with the copied configuration, existing files are kept
 * unless --force, and the output names each file and the steps left. Also
 * IOC:Linger, read from a linger directory of the test's own.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describeInstall, execWord, install, IOC_DIR, unitText } from '../../src/ioc/install';
import { parseConfig } from '../../src/ioc/config';
import { buildServiceIoc } from '../../src/ioc/service-ioc';
import { currentUser } from '../../src/systemd/linger';
import { memoryLogger } from '../../src/log';
import { FakeSystemd } from '../helpers/fake-systemd';
import { pvProbe, TEST_CLIENT } from '../helpers/pv-probe';
import { makeTempDir, removeTempDir } from '../helpers/cli';

describe('install', () => {
  let dir: string;
  const configDir = (): string => path.join(dir, 'config', 'service-ioc');
  const unitDir = (): string => path.join(dir, 'config', 'systemd', 'user');
  const program = ['/opt/node 20/bin/node', '/opt/sioc/lib/node_modules/service-ioc/dist/cli.js'];
  const run = (force = false): ReturnType<typeof install> => install({ configDir: configDir(), unitDir: unitDir(), force, program });

  beforeEach(() => { dir = makeTempDir('install-test-'); });
  afterEach(() => removeTempDir(dir));

  it('writes the unit with ExecStart= running the program on the copied configuration', () => {
    const r = run();
    const unit = fs.readFileSync(path.join(unitDir(), 'service-ioc.service'), 'utf8');
    const config = path.join(configDir(), 'service-ioc.toml');
    assert.equal(r.config, config);
    const exec = unit.split('\n').filter((l) => l.startsWith('ExecStart='));
    assert.deepEqual(exec, [`ExecStart="/opt/node 20/bin/node" /opt/sioc/lib/node_modules/service-ioc/dist/cli.js run -c ${config}`]);
    // Everything else is the shipped unit's.
    const shipped = fs.readFileSync(path.join(IOC_DIR, 'service-ioc.service'), 'utf8');
    const body = (text: string): string[] => text.split('\n').filter((l) => !l.startsWith('#') && !l.startsWith('ExecStart='));
    assert.deepEqual(body(unit), body(shipped));
    assert.match(unit, /^Type=notify$/m);
    for (const f of ['service-ioc.toml', 'access.acf', 'legacy.db']) {
      assert.equal(fs.readFileSync(path.join(configDir(), f), 'utf8'), fs.readFileSync(path.join(IOC_DIR, f), 'utf8'), f);
    }
    assert.deepEqual(r.files.map((f) => f.action), ['wrote', 'wrote', 'wrote', 'wrote']);
  });

  it('keeps an edited configuration, and says so; --force replaces it', () => {
    run();
    const config = path.join(configDir(), 'service-ioc.toml');
    fs.writeFileSync(config, '[ioc]\nprefix = "mine:"\n');
    const again = run();
    assert.equal(fs.readFileSync(config, 'utf8'), '[ioc]\nprefix = "mine:"\n');
    assert.deepEqual(again.files.map((f) => [path.basename(f.file), f.action]), [
      ['service-ioc.service', 'unchanged'], ['service-ioc.toml', 'kept'], ['access.acf', 'unchanged'], ['legacy.db', 'unchanged'],
    ]);
    const text = describeInstall(again, 'op', true);
    assert.match(text, new RegExp(`^kept +${config} \\(it exists and differs from the shipped one; --force replaces it\\)$`, 'm'));
    const forced = run(true);
    assert.equal(forced.files[1].action, 'replaced');
    assert.equal(fs.readFileSync(config, 'utf8'), fs.readFileSync(path.join(IOC_DIR, 'service-ioc.toml'), 'utf8'));
  });

  it('prints the next steps, with loginctl enable-linger only when lingering is off', () => {
    const r = run();
    const off = describeInstall(r, 'op', false);
    const commands = off.split('\n').filter((l) => /^ {2}[a-z]/.test(l)).map((l) => l.trim().replace(/ +#.*$/, ''));
    assert.deepEqual(commands, [
      `service-ioc check -c ${r.config}`,
      'systemctl --user daemon-reload',
      'systemctl --user enable --now service-ioc',
      'loginctl enable-linger op',
      'systemctl --user status service-ioc',
      'journalctl --user -u service-ioc',
    ]);
    assert.doesNotMatch(describeInstall(r, 'op', true), /loginctl enable-linger/);
  });

  it('ExecStart= words: % doubled, quoted where they hold spaces or quotes', () => {
    assert.equal(execWord('/usr/bin/node'), '/usr/bin/node');
    assert.equal(execWord('/home/a b/x'), '"/home/a b/x"');
    assert.equal(execWord('/p/100%'), '/p/100%%');
    assert.equal(execWord('say "hi"'), '"say \\"hi\\""');
  });

  it('a unit template without ExecStart= is an error', () => {
    assert.throws(() => unitText('[Service]\nType=notify\n', '/x', '/c'), /no ExecStart=/);
  });
});

describe('IOC:Linger', () => {
  let lingerDir: string;
  let saved: string | undefined;
  beforeEach(() => {
    lingerDir = makeTempDir('linger-test-');
    saved = process.env.SERVICE_IOC_LINGER_DIR;
    process.env.SERVICE_IOC_LINGER_DIR = lingerDir;
  });
  afterEach(() => {
    if (saved === undefined) delete process.env.SERVICE_IOC_LINGER_DIR;
    else process.env.SERVICE_IOC_LINGER_DIR = saved;
    removeTempDir(lingerDir);
  });

  function build(bus: 'user' | 'system'): ReturnType<typeof buildServiceIoc> {
    const fake = new FakeSystemd();
    const ioc = buildServiceIoc(parseConfig(`[ioc]\nprefix = "bl:"\nbus = "${bus}"\n`, 'test.toml'), memoryLogger(), Object.assign(fake, { start: () => fake.up() }));
    ioc.database.start();
    return ioc;
  }

  it('off is MINOR on the user bus; on once logind\'s file for the user exists', async () => {
    const ioc = build('user');
    try {
      const { value, alarm, pv } = pvProbe(() => ioc.database, 'bl:');
      assert.equal(value('IOC:Linger'), 0);
      assert.deepEqual(alarm('IOC:Linger'), ['STATE', 'MINOR']);
      assert.equal(pv('IOC:Linger').snapshot().value[0], 0);
      fs.writeFileSync(path.join(lingerDir, currentUser()), '');
      await pv('IOC:Linger.PROC').write({ value: [1], client: TEST_CLIENT, notify: true });
      assert.equal(value('IOC:Linger'), 1);
      assert.deepEqual(alarm('IOC:Linger'), ['NO_ALARM', 'NO_ALARM']);
    } finally {
      ioc.database.stop();
    }
  });

  it('off is no alarm for an IOC on the system bus', () => {
    const ioc = build('system');
    try {
      const { value, alarm } = pvProbe(() => ioc.database, 'bl:');
      assert.equal(value('IOC:Linger'), 0);
      assert.deepEqual(alarm('IOC:Linger'), ['NO_ALARM', 'NO_ALARM']);
    } finally {
      ioc.database.stop();
    }
  });
});
