/**
 * Another server already answering for the IOC's names: `check -c` and a
 * starting `run -c` both say so, naming that server's address; the IOC's
 * own answers are not news.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI_JS, makeTempDir, removeTempDir, requireBuiltCli, runCli, startSoftIocCli, type RunningSoftIoc } from '../helpers/cli';
import { startProcess, type Managed } from '../helpers/processes';
import { serverEnv } from '../helpers/pyca';
import { freeCaPorts } from '../helpers/system';

describe('another server answering for the IOC\'s names', function () {
  this.timeout(60000);
  let dir: string | undefined;
  let old: RunningSoftIoc | undefined;
  let ioc: Managed | undefined;
  let oldPorts: { server: number; repeater: number };

  before(async () => {
    requireBuiltCli();
    dir = makeTempDir('other-servers-');
    // The "old IOC": a softioc serving two of the names a configuration with prefix dup: serves.
    fs.writeFileSync(path.join(dir, 'old.db'), 'record(bi, "dup:IOC:Health") {}\nrecord(longin, "dup:IOC:Heartbeat") {}\n');
    oldPorts = await freeCaPorts();
    old = await startSoftIocCli(['-d', path.join(dir, 'old.db')], serverEnv(oldPorts.server, oldPorts.repeater));
    fs.writeFileSync(path.join(dir, 'dup.toml'), '[ioc]\nprefix = "dup:"\niocstats = false\n');
    fs.writeFileSync(path.join(dir, 'fresh.toml'), '[ioc]\nprefix = "fresh:"\niocstats = false\n');
  });

  after(async () => {
    await ioc?.stop();
    await old?.proc.stop();
    removeTempDir(dir);
  });

  const clientEnv = (list: string): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH, HOME: process.env.HOME, EPICS_CA_AUTO_ADDR_LIST: 'NO', EPICS_CA_ADDR_LIST: list,
    EPICS_CA_SERVER_PORT: String(oldPorts.server), DBUS_SESSION_BUS_ADDRESS: `unix:path=${dir}/no-bus`,
  });

  it('check -c warns, naming the server and the names it answers for', async () => {
    const r = await runCli(['check', '-c', path.join(dir!, 'dup.toml')], clientEnv('127.0.0.1'));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`^service-ioc: warning: another Channel Access server, at 127\\.0\\.0\\.1:${old!.port}, answers for dup:IOC:Health, dup:IOC:Heartbeat: clients may connect to either$`, 'm'));
  });

  it('check -c is quiet when nobody else answers', async () => {
    const r = await runCli(['check', '-c', path.join(dir!, 'fresh.toml')], clientEnv('127.0.0.1'));
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /another Channel Access server/);
  });

  it('run -c warns at start, naming the other server and not itself', async () => {
    const ports = await freeCaPorts();
    // Its clients search the old IOC's port and its own.
    ioc = startProcess(process.execPath, [CLI_JS, 'run', '-c', path.join(dir!, 'dup.toml')], {
      ...serverEnv(ports.server, ports.repeater), ...clientEnv(`127.0.0.1:${oldPorts.server} 127.0.0.1:${ports.server}`), SERVICE_IOC_LOG: 'info',
    });
    const ready = await ioc.waitLine(/CA on port (\d+)/, 20000);
    const warn = await ioc.waitStderrLine(/another Channel Access server answers for this IOC's PV names.*/, 10000);
    assert.match(warn[0], new RegExp(`server=127\\.0\\.0\\.1:${old!.port} names="dup:IOC:Health dup:IOC:Heartbeat"$`));
    assert.equal(ioc.stderrLines().filter((l) => /another Channel Access server/.test(l)).length, 1, `only the old IOC, not itself at port ${ready[1]}`);
  });
});
