/**
 * ioc/ca-repeater.service as shipped (with this build as ExecStart and a test
 * port) in a real systemd user manager: the repeater runs and confirms a
 * registration; a second repeater unit on the same port says why and ends
 * inactive with success, not failed.
 */
import { strict as assert } from 'node:assert';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command } from '../../src/ca/protocol/constants';
import { CLI_JS, requireBuiltCli } from '../helpers/cli';
import { REPO_ROOT } from '../helpers/pyca';
import { freeCaPorts, requireDependency } from '../helpers/system';
import { checkUserManager, UserManager } from '../helpers/systemd-harness';

/** Register with the repeater on `port` as libca does (an empty datagram) and resolve with the confirm's command. */
async function register(port: number, timeoutMs = 5000): Promise<number> {
  const sock = dgram.createSocket('udp4');
  try {
    await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', () => resolve()));
    return await new Promise<number>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no answer from the repeater on port ${port}`)), timeoutMs);
      sock.once('message', (m) => { clearTimeout(t); resolve(m.readUInt16BE(0)); });
      sock.send(Buffer.alloc(0), port, '127.0.0.1');
    });
  } finally {
    sock.close();
  }
}

describe('ioc/ca-repeater.service in a systemd user manager', function () {
  this.timeout(60000);
  let manager: UserManager | undefined;

  before(async function () {
    requireDependency(this, checkUserManager());
    requireBuiltCli();
    manager = await UserManager.start({});
  });

  after(async () => {
    await manager?.stop();
  });

  it('runs the repeater; a second one on the same port exits 0 and its unit ends inactive, not failed', async () => {
    const { repeater: port } = await freeCaPorts();
    const shipped = fs.readFileSync(path.join(REPO_ROOT, 'ioc/ca-repeater.service'), 'utf8');
    assert.match(shipped, /^ExecStart=\/usr\/bin\/env service-ioc repeater$/m);
    assert.match(shipped, /^Restart=on-failure$/m);
    const unit = shipped
      .replace(/^ExecStart=.*$/m, `ExecStart=${process.execPath} ${CLI_JS} repeater --address 127.0.0.1`)
      .replace(/^Environment=EPICS_CA_REPEATER_PORT=.*$/m, `Environment=EPICS_CA_REPEATER_PORT=${port}`);
    await manager!.writeUnit('ca-repeater.service', unit);
    await manager!.writeUnit('ca-repeater-second.service', unit);

    const started = await manager!.systemctl('start', 'ca-repeater.service');
    assert.equal(started.code, 0, started.stderr);
    await manager!.waitFor('ca-repeater.service', 'ActiveState', 'active');
    // Type=simple: active once forked; the repeater is serving once it confirms.
    let confirm: number | undefined;
    for (let attempt = 0; confirm === undefined; attempt++) {
      try {
        confirm = await register(port, 1000);
      } catch (err) {
        if (attempt >= 10) throw err; // libca, too, repeats its registration every second
      }
    }
    assert.equal(confirm, Command.REPEATER_CONFIRM);

    assert.equal((await manager!.systemctl('start', 'ca-repeater-second.service')).code, 0);
    const state = await manager!.waitFor('ca-repeater-second.service', 'ActiveState', /^(inactive|failed)$/);
    assert.equal(state, 'inactive');
    assert.equal((await manager!.show('ca-repeater-second.service', ['Result'])).Result, 'success');
    assert.match(manager!.unitLog('ca-repeater-second.service'), new RegExp(`UDP port ${port} on 127\\.0\\.0\\.1 is in use: another CA repeater is running; exiting`));

    assert.equal((await manager!.show('ca-repeater.service', ['ActiveState'])).ActiveState, 'active');
    assert.equal((await manager!.systemctl('stop', 'ca-repeater.service')).code, 0);
    const after = await manager!.show('ca-repeater.service', ['ActiveState', 'Result']);
    assert.deepEqual([after.ActiveState, after.Result], ['inactive', 'success']);
  });
});
