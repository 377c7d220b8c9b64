/**
 * Reaching systemd, and saying loudly when it cannot: no bus at all, and a
 * bus (a real dbus-daemon) on which nobody is systemd's manager. Each failed
 * attempt is a warning with its reason, the attempts slow down, IOC:BusMessage
 * says why, and the attempt that succeeds says so.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as dbus from 'dbus-next';
import { parseConfig } from '../../src/ioc/config';
import { buildServiceIoc } from '../../src/ioc/service-ioc';
import { memoryLogger } from '../../src/log';
import { SystemdBus } from '../../src/systemd/bus';
import { MANAGER_IFACE, MANAGER_PATH, SYSTEMD_SERVICE } from '../../src/systemd/names';
import { pvProbe } from '../helpers/pv-probe';
import { startProcess, type Managed } from '../helpers/processes';
import { requireDependency } from '../helpers/system';
import { DBUS_DAEMON } from '../helpers/systemd-harness';

/** Resolves with the next `count` failed attempts' [reason, retryMs]. */
function failures(bus: SystemdBus, count: number): Promise<Array<[string, number]>> {
  const seen: Array<[string, number]> = [];
  return new Promise((resolve) => {
    const on = (reason: string, retryMs: number): void => {
      seen.push([reason, retryMs]);
      if (seen.length < count) return;
      bus.off('failed', on);
      resolve(seen);
    };
    bus.on('failed', on);
  });
}

function buildIoc(bus: SystemdBus, log: ReturnType<typeof memoryLogger>): ReturnType<typeof buildServiceIoc> {
  const config = parseConfig('[ioc]\nprefix = "t:"\niocstats = false\n', 'test.toml');
  return buildServiceIoc(config, log, bus);
}

describe('reaching systemd', () => {
  let dir: string;
  let bus: SystemdBus | undefined;
  let ioc: ReturnType<typeof buildServiceIoc> | undefined;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'service-ioc-bus-'));
  });

  afterEach(() => {
    bus?.stop();
    ioc?.database.stop();
    bus = undefined;
    ioc = undefined;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('no bus: a warning with the reason at every attempt, each later than the one before, capped; BusMessage says why', async () => {
    const log = memoryLogger([], 'info');
    const address = `unix:path=${dir}/no-such-bus`;
    bus = new SystemdBus({ kind: 'user', address, callTimeoutMs: 2000, reconnectDelayMs: 5, maxReconnectDelayMs: 40, log });
    ioc = buildIoc(bus, log);
    const { value, alarm } = pvProbe(() => ioc!.database, 't:');
    ioc.database.start();
    const seen = failures(bus, 6);
    bus.start();
    const attempts = await seen;
    assert.deepEqual(attempts.map(([, ms]) => ms), [5, 10, 20, 40, 40, 40]);
    for (const [reason] of attempts) assert.match(reason, /ENOENT/);
    const warnings = log.lines.filter((l) => /^warn .*cannot reach systemd/.test(l));
    assert.ok(warnings.length >= 6, log.lines.join('\n'));
    assert.match(warnings[0], new RegExp(`bus="the user bus \\(${address}\\)" reason=".*ENOENT.*" attempt=1 retryInS=0.005`));
    assert.equal(value('IOC:BusConnected'), 0);
    assert.deepEqual(alarm('IOC:BusConnected'), ['STATE', 'MAJOR']);
    assert.match(String(value('IOC:BusMessage')), /^cannot reach systemd on the user bus \(unix:path=.*no-such-bus\): .*ENOENT.*; next try in 0\.04 s$/);
  });

  describe('a bus without systemd', () => {
    let daemon: Managed | undefined;
    let systemd: dbus.MessageBus | undefined;

    before(function () {
      requireDependency(this, fs.existsSync(DBUS_DAEMON) ? undefined : `${DBUS_DAEMON} missing (Debian package dbus-daemon)`);
    });

    afterEach(async () => {
      systemd?.disconnect();
      systemd = undefined;
      await daemon?.stop();
      daemon = undefined;
    });

    it('says systemd is not on the bus, and when a manager appears, that it reconnected', async () => {
      const socket = path.join(dir, 'bus');
      const config = path.join(dir, 'bus.conf');
      // A bus that activates nothing: no service directories.
      fs.writeFileSync(config, `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>session</type><listen>unix:path=${socket}</listen><auth>EXTERNAL</auth>
<policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/></policy></busconfig>\n`);
      daemon = startProcess(DBUS_DAEMON, ['--config-file', config, '--nofork', '--print-address'], { PATH: process.env.PATH });
      const [address] = await daemon.waitLine(/^unix:.*/, 10000);
      const log = memoryLogger([], 'info');
      bus = new SystemdBus({ kind: 'user', address, callTimeoutMs: 2000, reconnectDelayMs: 5, maxReconnectDelayMs: 40, log });
      ioc = buildIoc(bus, log);
      const { value } = pvProbe(() => ioc!.database, 't:');
      ioc.database.start();
      const seen = failures(bus, 3);
      bus.start();
      const attempts = await seen;
      for (const [reason] of attempts) assert.match(reason, /systemd's manager \(org\.freedesktop\.systemd1\) is not on it/);
      assert.ok(log.lines.some((l) => /^warn .*cannot reach systemd .*is not on it/.test(l)), log.lines.join('\n'));
      assert.match(String(value('IOC:BusMessage')), /^cannot reach systemd on the user bus .*: the bus answers, but systemd's manager \(org\.freedesktop\.systemd1\) is not on it/);

      // Something answers as systemd's manager: the next attempt gets through.
      systemd = dbus.sessionBus({ busAddress: address });
      systemd.addMethodHandler((msg: dbus.Message) => {
        if (msg.path !== MANAGER_PATH || msg.interface !== MANAGER_IFACE) return false;
        systemd!.send(dbus.Message.newMethodReturn(msg, '', []));
        return true;
      });
      await systemd.requestName(SYSTEMD_SERVICE, 0);
      await new Promise<void>((resolve) => bus!.once('up', () => resolve()));
      assert.ok(log.lines.some((l) => /^info .*reconnected to systemd bus=.* failedAttempts=\d+/.test(l)), log.lines.join('\n'));
      assert.equal(value('IOC:BusConnected'), 1);
      assert.equal(value('IOC:BusMessage'), `connected to the user bus (${address})`);
    });
  });
});
