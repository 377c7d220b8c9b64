/**
 * "Install on a beamline host" from the README, step by step: `npm pack` of
 * this repository, `npm install -g --prefix` of the tarball into an empty
 * prefix, then the installed `service-ioc` (the bin link npm made) run from
 * outside the repository: --version, `install` into a HOME of its own, and
 * `check` of the configuration it copied, which loads the db/ templates of the
 * installed package.
 *
 * The tarball is packed without the prepack build (`npm test` has just built
 * dist/, and a second tsc run would double the time); the dependencies come
 * from npm's cache where they are there, else from the registry.
 */
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeTempDir, removeTempDir, requireBuiltCli } from '../helpers/cli';
import { REPO_ROOT } from '../helpers/pyca';
import { freeCaPorts } from '../helpers/system';

interface Ran { code: number; stdout: string; stderr: string }

function runProgram(cmd: string, args: readonly string[], opts: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd: opts.cwd, env: opts.env, timeout: opts.timeoutMs ?? 60000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr: err && code === -1 ? `${stderr}${err.message}` : stderr });
    });
  });
}

describe('install on a beamline host (npm pack, npm install -g, service-ioc install)', function () {
  this.timeout(300000);
  let dir: string;
  let prefix: string;
  let home: string;
  let elsewhere: string;
  let lingerDir: string;
  let bin: string;
  let env: NodeJS.ProcessEnv;
  const version = (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

  before(async () => {
    requireBuiltCli();
    dir = makeTempDir('install-interop-');
    prefix = path.join(dir, 'prefix');
    home = path.join(dir, 'home');
    elsewhere = path.join(dir, 'elsewhere');
    lingerDir = path.join(dir, 'linger');
    for (const d of [prefix, home, elsewhere, lingerDir, path.join(dir, 'pack')]) fs.mkdirSync(d);
    const npmEnv = { ...process.env };
    // Set when mocha runs under `npm test`; the commands below name their own.
    for (const k of Object.keys(npmEnv)) if (/^npm_config_(prefix|global|dry_run|offline)$/i.test(k)) delete npmEnv[k];
    const pack = await runProgram('npm', ['pack', '--ignore-scripts', '--pack-destination', path.join(dir, 'pack')], { cwd: REPO_ROOT, env: npmEnv, timeoutMs: 120000 });
    assert.equal(pack.code, 0, pack.stderr);
    const tarball = path.join(dir, 'pack', `service-ioc-${version}.tgz`);
    assert.ok(fs.existsSync(tarball), pack.stdout);
    const installed = await runProgram('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', tarball], { cwd: elsewhere, env: npmEnv, timeoutMs: 240000 });
    assert.equal(installed.code, 0, installed.stderr);
    bin = path.join(prefix, 'bin', 'service-ioc');
    const ports = await freeCaPorts();
    env = {
      PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? '/usr/bin:/bin'}`,
      HOME: home,
      SERVICE_IOC_LINGER_DIR: lingerDir,
      SERVICE_IOC_LOG: 'warn',
      EPICS_CA_AUTO_ADDR_LIST: 'NO',
      EPICS_CA_ADDR_LIST: '127.0.0.1',
      EPICS_CA_SERVER_PORT: String(ports.server),
      EPICS_CA_REPEATER_PORT: String(ports.repeater),
      DBUS_SESSION_BUS_ADDRESS: `unix:path=${dir}/no-bus`,
    };
  });

  after(() => removeTempDir(dir));

  const installedCli = (): string => fs.realpathSync(path.join(prefix, 'lib', 'node_modules', 'service-ioc', 'dist', 'cli.js'));

  it('the package holds dist/, db/ and ioc/, and bin/service-ioc links to its cli.js', () => {
    const root = path.join(prefix, 'lib', 'node_modules', 'service-ioc');
    for (const f of ['dist/cli.js', 'db/ioc.db', 'db/unit.db', 'db/queueserver.db', 'db/redis.db', 'ioc/service-ioc.service', 'ioc/service-ioc.toml', 'ioc/access.acf']) {
      assert.ok(fs.existsSync(path.join(root, f)), `${f} is installed`);
    }
    assert.equal(fs.realpathSync(bin), installedCli());
  });

  it('service-ioc --version and -V print the package version', async () => {
    for (const flag of ['--version', '-V']) {
      const r = await runProgram(bin, [flag], { cwd: elsewhere, env });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `service-ioc ${version}\n`);
    }
  });

  it('service-ioc install writes the unit for the installed program and copies the configuration', async () => {
    const r = await runProgram(bin, ['install'], { cwd: elsewhere, env });
    assert.equal(r.code, 0, r.stderr);
    const configDir = path.join(home, '.config', 'service-ioc');
    const unitFile = path.join(home, '.config', 'systemd', 'user', 'service-ioc.service');
    const config = path.join(configDir, 'service-ioc.toml');
    for (const f of [unitFile, config, path.join(configDir, 'access.acf'), path.join(configDir, 'legacy.db')]) {
      assert.match(r.stdout, new RegExp(`^wrote +${f}$`, 'm'));
    }
    const exec = fs.readFileSync(unitFile, 'utf8').split('\n').filter((l) => l.startsWith('ExecStart='));
    assert.deepEqual(exec, [`ExecStart=${process.execPath} ${installedCli()} run -c ${config}`]);
    assert.match(r.stdout, /^ {2}systemctl --user daemon-reload$/m);
    assert.match(r.stdout, /^ {2}systemctl --user enable --now service-ioc$/m);
    assert.match(r.stdout, /^ {2}loginctl enable-linger \S+ +# lingering is off/m);

    const again = await runProgram(bin, ['install'], { cwd: elsewhere, env });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, new RegExp(`^kept +${config} \\(already up to date\\)$`, 'm'));
  });

  it('service-ioc check of the copied configuration, from outside the repository, loads the installed db/ and warns about lingering', async () => {
    const config = path.join(home, '.config', 'service-ioc', 'service-ioc.toml');
    const r = await runProgram(bin, ['check', '-c', config], { cwd: elsewhere, env });
    assert.equal(r.code, 0, r.stderr);
    const names = r.stdout.split('\n');
    // ioc.db, unit.db, queueserver.db, redis.db from the package; legacy.db beside the configuration.
    for (const n of ['100id:bluesky:IOC:Health', '100id:bluesky:IOC:Linger', '100id:bluesky:redis:ActiveState', '100id:bluesky:qs:ManagerState',
      '100id:bluesky:qsredis:Connected', '100id:bluesky:redis_state']) {
      assert.ok(names.includes(n), `${n} in ${r.stdout.slice(0, 500)}`);
    }
    assert.match(r.stderr, /^service-ioc: warning: lingering is off for user \S+: .*loginctl enable-linger \S+$/m);
    assert.match(r.stderr, new RegExp(`^${config}: OK, 2 units, 1 queueserver, \\d+ PVs$`, 'm'));

    fs.writeFileSync(path.join(lingerDir, (await runProgram('id', ['-un'], { cwd: elsewhere, env })).stdout.trim()), '');
    const lingering = await runProgram(bin, ['check', '-c', config], { cwd: elsewhere, env });
    assert.equal(lingering.code, 0, lingering.stderr);
    assert.doesNotMatch(lingering.stderr, /lingering/);
  });
});
