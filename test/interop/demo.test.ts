/**
 * `npm run demo` (its last step, node build/demo/demo.js) comes up, serves
 * the stack's Health over CA, writes the screens and alarm files, and on
 * Ctrl-C stops everything without leftovers.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startProcess, type Managed } from '../helpers/processes';
import { clientEnv, PyCa, REPO_ROOT, serverEnv } from '../helpers/pyca';
import { checkPyepics, freeCaPorts, requireDependency, SYSTEM_PYTHON } from '../helpers/system';
import { checkRedis, checkUserManager } from '../helpers/systemd-harness';
import { makeTempDir, removeTempDir, requireBuiltCli } from '../helpers/cli';

function udpFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.once('error', () => resolve(false));
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

function harnessCgroups(): string[] {
  const out: string[] = [];
  for (const root of ['/sys/fs/cgroup/systemd', '/sys/fs/cgroup/unified', '/sys/fs/cgroup']) {
    if (!fs.existsSync(root)) continue;
    for (const d of fs.readdirSync(root)) if (d.startsWith('service-ioc-test-')) out.push(path.join(root, d));
  }
  return out;
}

describe('npm run demo', function () {
  this.timeout(90000);
  let demo: Managed | undefined;
  let ca: PyCa | undefined;
  let out: string | undefined;

  before(function () {
    requireDependency(this, checkUserManager() ?? checkRedis() ?? checkPyepics());
    requireBuiltCli();
  });

  after(async () => {
    await ca?.stop();
    await demo?.stop(10000);
    removeTempDir(out);
  });

  it('comes up, serves Health, writes screens and alarms, and stops cleanly on Ctrl-C', async () => {
    const before = new Set(harnessCgroups());
    out = makeTempDir('sioc-demo-');
    const ports = await freeCaPorts();
    demo = startProcess(process.execPath, [path.join(REPO_ROOT, 'build/demo/demo.js'), '--out', out], {
      ...serverEnv(ports.server, ports.repeater), SERVICE_IOC_LOG: 'warn',
    });
    await demo.waitLine(/^demo ready/, 60000);
    assert.ok(demo.lines.some((l) => /^\s+demo:IOC:Health$/.test(l)), 'prints the PV names');
    const caput = demo.lines.find((l) => /python3 -c "import epics; print\(epics\.caput/.test(l));
    assert.ok(caput, 'prints a pyepics caput one-liner');
    assert.match(caput, new RegExp(`^  EPICS_CA_ADDR_LIST=127\\.0\\.0\\.1 EPICS_CA_AUTO_ADDR_LIST=NO EPICS_CA_SERVER_PORT=${ports.server} ${SYSTEM_PYTHON} -c `));
    assert.ok(demo.lines.includes(`demo: CA repeater on UDP port ${ports.repeater}`), 'runs a repeater on the beacon port');
    assert.equal(await udpFree(ports.repeater), false, 'the repeater holds its port');

    ca = await PyCa.start(clientEnv(ports.server, ports.repeater));
    // Health turns OK once redis, the queueserver unit and its manager are all as expected.
    const r = await ca.request('wait_value', { pv: 'demo:IOC:Health', value: 1, timeout: 30 });
    assert.equal(r.ok, true, JSON.stringify(r));
    for (const f of ['service-ioc.toml', 'screens', 'alarms']) assert.ok(fs.existsSync(path.join(out, f)), `${f} written`);
    assert.ok(fs.readdirSync(path.join(out, 'screens')).some((f) => f.endsWith('.bob')));
    assert.ok(fs.readdirSync(path.join(out, 'alarms')).some((f) => f.endsWith('.xml')));
    // The caput one-liner works pasted as printed: 1 is pyepics's success.
    const ran = spawnSync('/bin/sh', ['-c', caput.trim()], { env: clientEnv(ports.server, ports.repeater), encoding: 'utf8', timeout: 60000 });
    assert.equal(ran.stdout.trim(), '1', ran.stderr);

    demo.proc.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => demo!.proc.once('exit', resolve));
    assert.equal(code, 0);
    assert.equal(await udpFree(ports.repeater), true, 'the repeater stopped with the demo');
    assert.ok(demo.lines.some((l) => /no processes, cgroups or temporary files left/.test(l)), demo.lines.slice(-5).join('\n'));
    assert.deepEqual(harnessCgroups().filter((c) => !before.has(c)), [], 'no cgroups left');
    assert.equal(fs.existsSync('/run/systemd/system'), false);
  });
});
