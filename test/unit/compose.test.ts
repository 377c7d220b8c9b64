/**
 * No container engine runs on our machines, so docker-compose.yml is checked
 * by reading it: every file, command and port it refers to must exist and
 * agree with the demo it runs.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { REPO_ROOT } from '../helpers/pyca';

interface Service {
  build?: { context: string; dockerfile: string };
  image?: string;
  command?: string[];
  privileged?: boolean;
  cgroup?: string;
  tmpfs?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  depends_on?: string[];
}

const compose = parse(fs.readFileSync(path.join(REPO_ROOT, 'docker-compose.yml'), 'utf8')) as { services: Record<string, Service> };
const dockerfile = fs.readFileSync(path.join(REPO_ROOT, 'Dockerfile'), 'utf8');
const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };

describe('docker-compose.yml', () => {
  const ioc = compose.services.ioc;
  const client = compose.services.client;

  it('has an ioc service built from the Dockerfile on Debian 12 with Node.js 20, systemd, dbus and redis', () => {
    assert.ok(ioc?.build, 'ioc is built');
    assert.ok(fs.existsSync(path.join(REPO_ROOT, ioc.build.context, ioc.build.dockerfile)));
    assert.match(dockerfile, /^FROM node:20-bookworm$/m, 'bookworm is Debian 12');
    for (const pkgName of ['systemd', 'dbus-daemon', 'util-linux', 'redis-server']) assert.match(dockerfile, new RegExp(`\\b${pkgName}\\b`), pkgName);
  });

  it('runs the same demo entrypoint as npm run demo, which exists after the image build', () => {
    const demoCmd = /node (build\/demo\/demo\.js)/.exec(pkg.scripts.demo);
    assert.match(pkg.scripts.demo, /^bash \.ci\/install-packages && npm ci/, "npm run demo installs what it needs first");
    assert.ok(demoCmd, 'npm run demo runs build/demo/demo.js');
    assert.equal(ioc.command?.[0], 'node');
    assert.equal(ioc.command?.[1], demoCmd[1]);
    assert.ok(fs.existsSync(path.join(REPO_ROOT, 'demo/demo.ts')), 'the entrypoint\'s source');
    assert.match(dockerfile, /npm run build && npm run build:test/, 'the image builds dist/ and build/');
    const cmd = /^CMD \[(.*)\]$/m.exec(dockerfile);
    assert.deepEqual(JSON.parse(`[${cmd![1]}]`), ioc.command, 'the Dockerfile runs the same command');
    assert.ok(fs.existsSync(path.join(REPO_ROOT, 'package-lock.json')), 'npm ci needs the lock file');
  });

  it('declares what the demo harness needs: cgroup write access and a tmpfs for /run', () => {
    assert.ok(ioc.privileged === true || ioc.cgroup === 'host', 'cgroup write access');
    assert.ok(ioc.tmpfs?.includes('/run'), 'a tmpfs for /run');
  });

  it('publishes the CA ports the IOC serves on', () => {
    const port = ioc.environment?.EPICS_CAS_SERVER_PORT;
    assert.equal(port, '5064');
    for (const p of [`${port}:${port}/tcp`, `${port}:${port}/udp`]) assert.ok(ioc.ports?.includes(p), p);
    assert.match(dockerfile, /EXPOSE 5064\/tcp 5064\/udp/);
  });

  it('has a client with python3-pyepics that camonitors the Health PV the demo serves', () => {
    assert.ok(client);
    assert.deepEqual(client.depends_on, ['ioc']);
    const script = (client.command ?? []).join(' ');
    assert.match(script, /python3-pyepics/);
    const demo = fs.readFileSync(path.join(REPO_ROOT, 'demo/demo.ts'), 'utf8');
    const prefix = /const PREFIX = '([^']+)'/.exec(demo)![1];
    assert.match(script, new RegExp(`camonitor\\('${prefix}IOC:Health'\\)`));
    assert.equal(client.environment?.EPICS_CA_ADDR_LIST, 'ioc');
    assert.equal(client.environment?.EPICS_CA_AUTO_ADDR_LIST, 'NO');
    assert.equal(client.environment?.EPICS_CA_SERVER_PORT, ioc.environment?.EPICS_CAS_SERVER_PORT);
  });
});
