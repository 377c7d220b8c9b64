/**
 * A queueserver whose address comes from its unit, under a real systemd
 * user manager: the stand-in RE Manager (test/fixtures/re-manager-standin.ts)
 * runs as a unit that binds where its Environment= (or EnvironmentFile=)
 * says, and service-ioc, configured with the unit and no control_addr,
 * follows it when an operator edits that environment, reloads and restarts
 * it on another port and encoding. Seen through real libca (pyepics).
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserManager, checkUserManager, freeTcpPort } from '../helpers/systemd-harness';
import { startProcess, type Managed } from '../helpers/processes';
import { clientEnv, PyCa, REPO_ROOT, serverEnv } from '../helpers/pyca';
import { checkPyepics, freeCaPorts, requireDependency } from '../helpers/system';
import { CLI_JS, iocSuiteHooks, makeTempDir, requireBuiltCli } from '../helpers/cli';

const P = 'qsu:';
const STANDIN = path.join(REPO_ROOT, 'build/test/fixtures/re-manager-standin.js');
const UNIT = 'queueserver.service';
/** EnvState "idle" (db/queueserver.db). */
const ENV_IDLE = 1;

function unitText(control: number, info: number): string {
  return [
    '[Unit]', 'Description=RE Manager stand-in', '', '[Service]', 'Type=simple',
    `Environment=QSERVER_ZMQ_CONTROL_ADDRESS_FOR_SERVER=tcp://*:${control}`,
    `Environment=QSERVER_ZMQ_INFO_ADDRESS_FOR_SERVER=tcp://*:${info}`,
    `ExecStart=${process.execPath} ${STANDIN}`, '',
  ].join('\n');
}

describe('a queueserver that moves with its unit\'s environment (real systemd, libca)', function () {
  this.timeout(60000);
  let manager: UserManager | undefined;
  let ioc: Managed | undefined;
  let ca: PyCa | undefined;
  let dir: string | undefined;
  let info = 0;

  before(async function () {
    requireDependency(this, checkUserManager() ?? checkPyepics());
    requireBuiltCli();
    if (!fs.existsSync(STANDIN)) throw new Error(`${STANDIN} is missing: run "npm run build:test" first`);
    dir = makeTempDir('sioc-qsunit-');
    const control = await freeTcpPort();
    info = await freeTcpPort();
    manager = await UserManager.start({ units: { [UNIT]: unitText(control, info) } });
    assert.equal((await manager.systemctl('start', UNIT)).code, 0);
    const cfg = path.join(dir, 'ioc.toml');
    // No control_addr: the address (and the encoding) come from the unit.
    fs.writeFileSync(cfg, `[ioc]\nprefix = "${P}"\n\n[[queueserver]]\npv = "qs"\nunit = "${UNIT}"\ninfo_addr = "tcp://localhost:${info}"\npoll_period = 0.2\ntimeout = 0.5\n`);
    const ports = await freeCaPorts();
    ioc = startProcess(process.execPath, [CLI_JS, 'run', '-c', cfg], { ...serverEnv(ports.server, ports.repeater), ...manager.env, SERVICE_IOC_LOG: 'info' });
    await ioc.waitLine(/CA on port \d+/, 20000);
    ca = await PyCa.start(clientEnv(ports.server, ports.repeater));
    await waitValue('qs:Connected', 1);
    await ioc.waitStderrLine(new RegExp(`control address from the unit.*address=tcp://localhost:${control}.*encoding=json`), 10000);
  });

  iocSuiteHooks(() => ioc, () => [ca, ioc, manager], () => dir);

  async function waitValue(pv: string, value: number, timeout = 20): Promise<void> {
    const r = await ca!.request('wait_value', { pv: P + pv, value, timeout });
    assert.equal(r.ok, true, `${pv}: ${JSON.stringify(r)}`);
  }

  /** Restart the manager as the operator would: daemon-reload done by writeUnit, then restart; it is gone meanwhile. */
  async function restart(): Promise<void> {
    assert.equal((await manager!.systemctl('restart', UNIT)).code, 0);
    await manager!.waitFor(UNIT, 'ActiveState', 'active');
  }

  /**
   * After a move the PVs answer from the new port only (nothing listens on
   * the old one), the log names the move, and the info stream, read in the
   * new encoding, brings the environment's state.
   */
  async function followed(control: number, encoding: string, from: number): Promise<void> {
    const line = await ioc!.waitStderrLine(/the unit's environment names another RE Manager address: reconnecting/, 20000, from);
    assert.ok(line.input!.includes(`to=tcp://localhost:${control}`) && line.input!.includes(`encoding=${encoding}`), line.input);
    await waitValue('qs:Connected', 1);
    // A control to the new address; the stand-in publishes each step on QS_Info.
    const put = await ca!.request('put', { pv: `${P}qs:EnvOpen`, value: 1, wait: true, timeout: 10 });
    assert.equal(put.ret, 1, JSON.stringify(put));
    await waitValue('qs:EnvState', ENV_IDLE);
    await waitValue('qs:EnvExists', 1);
    assert.deepEqual(ioc!.stderrLines(from).filter((l) => /bad message on the info stream/.test(l)), [], 'every QS_Info message was read');
    const close = await ca!.request('put', { pv: `${P}qs:EnvClose`, value: 1, wait: true, timeout: 10 });
    assert.equal(close.ret, 1, JSON.stringify(close));
    await waitValue('qs:EnvExists', 0);
  }

  it('Environment= edited (new port, QSERVER_ZMQ_ENCODING=msgpack), daemon-reload, restart: the PVs come back from the new port and the log says so', async () => {
    const control = await freeTcpPort();
    const from = ioc!.stderrLineCount();
    await manager!.writeUnit(`${UNIT}.d/move.conf`, `[Service]\nEnvironment=QSERVER_ZMQ_CONTROL_ADDRESS_FOR_SERVER=tcp://*:${control}\nEnvironment=QSERVER_ZMQ_ENCODING=msgpack\n`);
    await restart();
    await followed(control, 'msgpack', from);
  });

  it('EnvironmentFile= edited (new port, back to json), daemon-reload, restart: followed the same way', async () => {
    const control = await freeTcpPort();
    const envFile = path.join(dir!, 'qs.env');
    // A file's assignments override Environment= (the drop-in above).
    fs.writeFileSync(envFile, `QSERVER_ZMQ_CONTROL_ADDRESS_FOR_SERVER=tcp://*:${control}\nQSERVER_ZMQ_ENCODING=json\n`);
    const from = ioc!.stderrLineCount();
    await manager!.writeUnit(`${UNIT}.d/file.conf`, `[Service]\nEnvironmentFile=${envFile}\n`);
    await restart();
    await followed(control, 'json', from);
  });
});
