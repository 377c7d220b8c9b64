/**
 * The command line as a user meets it: `node dist/cli.js` (built by
 * `npm run build`) spawned with .db and substitution files in a temporary
 * directory. Exit codes, messages that point at the offending line, dbl
 * output, and a clean exit of a running softioc on SIGTERM and SIGINT.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { CLI_JS, makeTempDir, removeTempDir, requireBuiltCli, runCli, SOFTIOC_READY, startSoftIocCli, type RunningSoftIoc } from '../helpers/cli';
import { startProcess, type Managed } from '../helpers/processes';
import { serverEnv } from '../helpers/pyca';
import { freeCaPorts, tcpFree } from '../helpers/system';

describe('cli', function () {
  this.timeout(30000);
  let dir: string;
  const file = (name: string): string => path.join(dir, name);
  const write = (name: string, text: string): string => {
    fs.writeFileSync(file(name), text);
    return file(name);
  };

  before(() => {
    requireBuiltCli();
    dir = makeTempDir('cli-test-');
  });
  after(() => removeTempDir(dir));

  async function env(): Promise<{ env: NodeJS.ProcessEnv; port: number }> {
    const ports = await freeCaPorts();
    return { env: serverEnv(ports.server, ports.repeater), port: ports.server };
  }

  describe('softioc: load errors', () => {
    it('an unknown field: exit 1, file:line:column and the field named, nothing served', async () => {
      const db = write('unknown-field.db', [
        'record(ai, "$(P)temp") {',
        '  field(DESC, "fine")',
        '  field(BOGUS, "1")',
        '}',
        '',
      ].join('\n'));
      const { env: e, port } = await env();
      const r = await runCli(['softioc', '-m', 'P=x:', '-d', db], e);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`${escape(db)}:3:\\d+: .*BOGUS`));
      assert.match(r.stderr, /no field "BOGUS"/);
      assert.doesNotMatch(r.stdout, /CA on port/);
      assert.ok(await tcpFree(port), 'the CA port is free after the failed start');
    });

    it('a syntax error: exit 1, the position and what was expected', async () => {
      const db = write('syntax.db', [
        'record(ai, "x:a") {',
        '  field(DESC "no comma")',
        '}',
        '',
      ].join('\n'));
      const r = await runCli(['softioc', '-d', db], (await env()).env);
      assert.equal(r.code, 1, r.stderr);
      // The string after DESC, at column 14, where a ',' belongs.
      assert.match(r.stderr, new RegExp(`${escape(db)}:2:14: expected ','`));
      assert.doesNotMatch(r.stdout, /CA on port/);
    });

    it('an undefined macro: exit 1, the macro named at its position', async () => {
      const db = write('macro.db', [
        'record(ai, "$(P)temp") {',
        '  field(DESC, "$(WHAT)")',
        '}',
        '',
      ].join('\n'));
      const r = await runCli(['softioc', '-m', 'P=x:', '-d', db], (await env()).env);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`${escape(db)}:2:16: .*undefined macro.*WHAT`));
    });

    it('an undefined macro in a record name (no -m at all)', async () => {
      const db = write('macro-name.db', 'record(ai, "$(P)temp") {\n}\n');
      const r = await runCli(['softioc', '-d', db], (await env()).env);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`${escape(db)}:1:13: .*undefined macro.*\\bP\\b`));
    });

    it('a missing file: exit 1, the file named', async () => {
      const r = await runCli(['softioc', '-d', file('nowhere.db')], (await env()).env);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /nowhere\.db/);
    });
  });

  describe('usage errors', () => {
    for (const args of [['softioc'], ['softioc', '-m', 'P=x:'], ['softioc', '-d'], ['softioc', '-x', 'a.db'], ['frobnicate']]) {
      it(`${args.join(' ')}: exit 2 with the usage`, async () => {
        const r = await runCli(args, (await env()).env);
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, /usage:/);
        assert.match(r.stderr, /service-ioc softioc .*-d FILE\.db/);
        assert.doesNotMatch(r.stdout, /CA on port/);
      });
    }

    it('--help prints the usage on stdout and exits 0', async () => {
      const r = await runCli(['--help'], (await env()).env);
      assert.equal(r.code, 0);
      assert.match(r.stdout, /usage:/);
    });

    const commands = ['softioc', 'dbl', 'run', 'check', 'screens', 'alarms', 'pv-table', 'install', 'archive-list'];
    for (const command of commands) {
      for (const flag of ['--help', '-h']) {
        it(`${command} ${flag}: its usage on stdout, nothing on stderr, exit 0`, async () => {
          const r = await runCli([command, flag], (await env()).env);
          assert.equal(r.code, 0, r.stderr);
          assert.equal(r.stderr, '');
          assert.match(r.stdout, new RegExp(`^usage:\\n  service-ioc ${command} `));
          for (const other of commands.filter((c) => c !== command)) assert.doesNotMatch(r.stdout, new RegExp(`service-ioc ${other} `));
        });
      }
    }

    it('help COMMAND is the same as COMMAND --help', async () => {
      const a = await runCli(['help', 'check'], (await env()).env);
      const b = await runCli(['check', '--help'], (await env()).env);
      assert.equal(a.code, 0);
      assert.equal(a.stdout, b.stdout);
    });

    // One wording for whatever is missing: "missing WHAT", with the command's usage.
    for (const [args, message] of [
      [[], 'missing COMMAND'],
      [['run'], 'run: missing -c FILE.toml'],
      [['check'], 'check: missing -c FILE.toml'],
      [['check', '-c'], 'check: missing FILE.toml after -c'],
      [['screens', '-c', 'x.toml'], 'screens: missing -o DIR'],
      [['alarms', '-o', 'out'], 'alarms: missing -c FILE.toml'],
      [['alarms', '-c', 'x.toml', '-o', 'out', '--name'], 'alarms: missing NAME after --name'],
      [['pv-table', '--readme'], 'pv-table: missing README.md after --readme'],
      [['install', '--unit-dir'], 'install: missing DIR after --unit-dir'],
      [['install', '--force', '--force'], 'install: --force given twice'],
      [['dbl'], 'dbl: missing -d FILE.db (or -s FILE.substitutions)'],
      [['softioc', '-d'], 'softioc: missing FILE.db after -d'],
      [['softioc', '-m'], 'softioc: missing MACROS after -m'],
    ] as const) {
      it(`${['service-ioc', ...args].join(' ')}: "${message}", exit 2`, async () => {
        const r = await runCli([...args], (await env()).env);
        assert.equal(r.code, 2, r.stderr);
        assert.equal(r.stderr.split('\n')[0], `service-ioc: ${message}`);
        assert.match(r.stderr, /\nusage:\n/);
        assert.equal(r.stdout, '');
      });
    }
  });

  describe('dbl', () => {
    it('prints the record names of a .db, one per line, in file order', async () => {
      const db = write('dbl.db', [
        'record(ai, "$(P)zeta") {}',
        'record(bo, "$(P)alpha") { field(ZNAM, "Off") field(ONAM, "On") }',
        'record(mbbi, "$(P)mid") {}',
        'record(waveform, "$(P)arr") { field(FTVL, "DOUBLE") field(NELM, "4") }',
        '',
      ].join('\n'));
      const r = await runCli(['dbl', '-m', 'P=x:', '-d', db], (await env()).env);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'x:zeta\nx:alpha\nx:mid\nx:arr\n');
    });

    it('-s: expands a substitution file with a file block and a pattern block', async () => {
      write('tmpl.db', [
        'record(ai, "$(P)$(R)temp") { field(DESC, "$(DESC=none)") }',
        'record(bo, "$(P)$(R)enable") {}',
        '',
      ].join('\n'));
      const subst = write('ioc.substitutions', [
        '# two forms of the same file block',
        'file "tmpl.db" {',
        '  { P="$(SYS)", R=a: }',
        '  { P="$(SYS)", R=b:, DESC="second" }',
        '}',
        'file tmpl.db {',
        '  pattern { P, R }',
        '  { "$(SYS)", "c:" }',
        '  { other:, d: }',
        '}',
        '',
      ].join('\n'));
      const r = await runCli(['dbl', '-m', 'SYS=bl1:', '-s', subst], (await env()).env);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.stdout.split('\n').filter(Boolean), [
        'bl1:a:temp', 'bl1:a:enable',
        'bl1:b:temp', 'bl1:b:enable',
        'bl1:c:temp', 'bl1:c:enable',
        'other:d:temp', 'other:d:enable',
      ]);
    });

    it('-d and -s together, each with the -m before it', async () => {
      const one = write('one.db', 'record(ai, "$(P)one") {}\n');
      write('two.db', 'record(ai, "$(P)two") {}\n');
      const subst = write('two.substitutions', 'file two.db { { P="$(SYS)s:" } }\n');
      const r = await runCli(['dbl', '-m', 'P=a:', '-d', one, '-m', 'SYS=b:', '-s', subst], (await env()).env);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'a:one\nb:s:two\n');
    });

    it('an error in a template names the template file and line', async () => {
      write('broken-tmpl.db', 'record(ai, "$(P)ok") {}\nrecord(ai, "$(P)bad") { field(NOPE, "1") }\n');
      const subst = write('broken.substitutions', 'file broken-tmpl.db { { P=z: } }\n');
      const r = await runCli(['dbl', '-s', subst], (await env()).env);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /broken-tmpl\.db:2:\d+: .*NOPE/);
    });
  });

  describe('softioc: signals', () => {
    let ioc: RunningSoftIoc | undefined;
    const quick: Managed[] = [];
    afterEach(async () => {
      await ioc?.proc.stop(1000);
      ioc = undefined;
      for (const p of quick.splice(0)) await p.stop(1000);
    });

    /** Resolves once the server has accepted a TCP connection and sent its CA VERSION (16 bytes). */
    function caHandshake(port: number): Promise<void> {
      return new Promise((resolve, reject) => {
        const sock = net.connect({ port, host: '127.0.0.1' });
        let got = 0;
        sock.on('data', (d: Buffer) => {
          got += d.length;
          if (got >= 16) {
            sock.destroy();
            resolve();
          }
        });
        sock.on('error', reject);
      });
    }

    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      it(`${signal} makes a running softioc exit 0 promptly and free its port`, async () => {
        const db = write('signal.db', 'record(ai, "$(P)x") {}\n');
        const { env: e, port } = await env();
        ioc = await startSoftIocCli(['-m', 'P=sig:', '-d', db], e);
        assert.equal(ioc.port, port);
        await caHandshake(port);
        const sentAt = Date.now();
        ioc.proc.proc.kill(signal);
        let timer: NodeJS.Timeout | undefined;
        const exit = await Promise.race([
          ioc.exited,
          new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`no exit within 3 s of ${signal}`)), 3000); }),
        ]).finally(() => clearTimeout(timer));
        assert.deepEqual(exit, { code: 0, signal: null }, ioc.proc.stderr());
        assert.ok(Date.now() - sentAt < 3000);
        assert.ok(await tcpFree(port), 'the port is free after the exit');
      });
    }

    it('a signal sent as soon as the ready line is printed still gives a clean exit 0', async () => {
      // A supervisor may stop the IOC the moment it reports ready. The handlers
      // must be in place before the line is printed, or the signal's default
      // action kills the process (exit by signal, no orderly stop).
      const db = write('signal-early.db', 'record(ai, "$(P)x") {}\n');
      const results: string[] = [];
      for (let i = 0; i < 6; i++) {
        const signal = i % 2 ? 'SIGINT' : 'SIGTERM';
        const { env: e } = await env();
        const p = startProcess(process.execPath, [CLI_JS, 'softioc', '-m', 'P=early:', '-d', db], e);
        quick.push(p);
        const exited = new Promise<string>((resolve) => p.proc.once('exit', (code, sig) => resolve(`${signal}: code ${String(code)}, signal ${String(sig)}`)));
        p.onLine((line) => {
          if (SOFTIOC_READY.test(line)) p.proc.kill(signal);
        });
        results.push(await exited);
      }
      assert.deepEqual(results, results.map((r) => `${r.split(':')[0]}: code 0, signal null`));
    });
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe('service-ioc: a record defined twice', () => {
  it('is an error unless the second definition has type "*"', async () => {
    requireBuiltCli();
    const dir = makeTempDir('sioc-dup-');
    try {
      const dup = path.join(dir, 'dup.db');
      fs.writeFileSync(dup, 'record(ai, "a") { field(DESC, "one") }\nrecord(ai, "a") { field(EGU, "mm") }\n');
      const bad = await runCli(['dbl', '-d', dup], { PATH: process.env.PATH });
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /dup\.db:2:12: record "a" is already defined \(.*dup\.db:1:1\)/);
      const star = path.join(dir, 'star.db');
      fs.writeFileSync(star, 'record(ai, "a") { field(DESC, "one") }\nrecord("*", "a") { field(EGU, "mm") }\n');
      const ok = await runCli(['dbl', '-d', star], { PATH: process.env.PATH });
      assert.equal(ok.code, 0);
      assert.equal(ok.stdout, 'a\n');
    } finally {
      removeTempDir(dir);
    }
  });
});
