/**
 * The iocStats names (db/iocstats.db, device support "IOC stats" and "Soft
 * Timestamp") in a service IOC's database: each value checked against what
 * the process and the kernel say about it.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseConfig } from '../../src/ioc/config';
import { buildServiceIoc } from '../../src/ioc/service-ioc';
import { strftime } from '../../src/ioc/iocstats-device';
import { memoryLogger } from '../../src/log';
import { FakeSystemd } from '../helpers/fake-systemd';
import { pvProbe } from '../helpers/pv-probe';

const CONFIG = '[ioc]\nprefix = "bl:"\n[[unit]]\nname = "redis.service"\npv = "redis"\n';

describe('iocStats names', () => {
  let ioc: ReturnType<typeof buildServiceIoc>;
  const { pv, value, alarm } = pvProbe(() => ioc.database, 'bl:');
  const text = (name: string): string => Buffer.from(pv(name).snapshot().value as unknown as Uint8Array).toString('utf8').replace(/\0.*$/s, '');

  before(() => {
    const fake = new FakeSystemd();
    ioc = buildServiceIoc(parseConfig(CONFIG, '/etc/bl/ioc.toml'), memoryLogger(), Object.assign(fake, { start: () => fake.up() }));
    ioc.database.start();
  });

  after(() => ioc.database.stop());

  it('serves every iocAdmin name that applies to a Linux soft IOC, with iocStats\'s record types', () => {
    const types: Record<string, string> = {
      HEARTBEAT: 'ai', UPTIME: 'stringin', STARTTOD: 'stringin', TOD: 'stringin', CA_CLNT_CNT: 'ai', CA_CONN_CNT: 'ai',
      RECORD_CNT: 'ai', FD_CNT: 'ai', FD_MAX: 'ai', FD_FREE: 'ai', MEM_USED: 'ai', MEM_FREE: 'ai', MEM_MAX: 'ai',
      SYS_CPU_LOAD: 'ai', IOC_CPU_LOAD: 'ai', CPU_CNT: 'ai', HOSTNAME: 'stringin', KERNEL_VERS: 'stringin',
      EPICS_VERS: 'stringin', PROCESS_ID: 'ai', PARENT_ID: 'ai', APP_DIR: 'waveform', ENGINEER: 'stringin',
      LOCATION: 'stringin', ST_SCRIPT: 'waveform',
    };
    for (const [n, t] of Object.entries(types)) assert.equal(ioc.database.records.get(`bl:IOC:${n}`)?.recordType, t, n);
    for (const n of ['PVA_CLNT_CNT', 'PVA_CONN_CNT']) assert.equal(ioc.database.records.get(`bl:IOC:${n}`)?.recordType, 'ai', `${n}, beside the CA-only counts`);
    assert.ok(pv('IOC:LOAD'), 'IOC_CPU_LOAD\'s alias');
    assert.equal(ioc.database.records.get('bl:IOC:Heartbeat')?.recordType, 'longin', 'the existing names stay');
    assert.equal(ioc.database.records.get('bl:IOC:Uptime')?.recordType, 'longin');
  });

  it('process, host and kernel facts are the process\'s own', () => {
    assert.equal(value('IOC:PROCESS_ID'), process.pid);
    assert.equal(value('IOC:PARENT_ID'), process.ppid);
    assert.equal(value('IOC:HOSTNAME'), os.hostname().slice(0, 39));
    assert.equal(value('IOC:CPU_CNT'), os.availableParallelism());
    assert.ok(String(value('IOC:KERNEL_VERS')).startsWith(`Linux ${os.release()}`));
    assert.equal(value('IOC:RECORD_CNT'), ioc.database.records.size);
    assert.equal(text('IOC:ST_SCRIPT'), '/etc/bl/ioc.toml');
    assert.equal(text('IOC:APP_DIR'), process.cwd());
    assert.match(String(value('IOC:EPICS_VERS')), /^service-ioc \d+\.\d+\.\d+/);
    assert.match(String(value('IOC:UPTIME')), /^0 days, 00:00:\d\d$/);
  });

  it('file descriptors and memory as /proc says', () => {
    const limit = Number(/^Max open files\s+(\d+)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'))![1]);
    assert.equal(value('IOC:FD_MAX'), limit);
    const fds = fs.readdirSync('/proc/self/fd').length;
    // Both read /proc/self/fd; the IOC's count and ours differ by what opened meanwhile.
    assert.ok(Math.abs(Number(value('IOC:FD_CNT')) - fds) < 10, `${value('IOC:FD_CNT')} vs ${fds}`);
    assert.equal(Number(value('IOC:FD_FREE')) + Number(value('IOC:FD_CNT')), limit);
    const total = Number(/^MemTotal:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/meminfo', 'utf8'))![1]) * 1024;
    assert.equal(value('IOC:MEM_MAX'), total);
    const rss = Number(/^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1]) * 1024;
    const used = Number(value('IOC:MEM_USED'));
    assert.ok(used > rss / 2 && used < rss * 2, `MEM_USED ${used} against VmRSS ${rss}`);
    assert.ok(Number(value('IOC:MEM_FREE')) > 0 && Number(value('IOC:MEM_FREE')) <= total);
  });

  it('no CA or PVA server yet: no clients, no connections; no alarm on a count', () => {
    for (const n of ['CA_CLNT_CNT', 'CA_CONN_CNT', 'PVA_CLNT_CNT', 'PVA_CONN_CNT']) {
      assert.equal(value(`IOC:${n}`), 0, n);
      assert.deepEqual(alarm(`IOC:${n}`), ['NO_ALARM', 'NO_ALARM'], n);
    }
  });

  it('STARTTOD is the start time in iocStats\'s format', () => {
    assert.match(String(value('IOC:STARTTOD')), /^\d\d\/\d\d\/\d{4} \d\d:\d\d:\d\d$/);
  });

  it('[ioc] iocstats = false leaves them out', () => {
    const fake = new FakeSystemd();
    const other = buildServiceIoc(parseConfig(`${CONFIG.replace('[ioc]\n', '[ioc]\niocstats = false\n')}`, path.join(os.tmpdir(), 'x.toml')), memoryLogger(), Object.assign(fake, { start: () => fake.up() }));
    assert.ok(other.database.records.has('bl:IOC:Heartbeat'));
    assert.ok(!other.database.records.has('bl:IOC:HEARTBEAT'));
  });

  it('strftime: the fields iocStats formats use, and EPICS\'s %f', () => {
    const d = new Date(2026, 0, 5, 7, 8, 9, 123);
    assert.equal(strftime('%m/%d/%Y %H:%M:%S', d), '01/05/2026 07:08:09');
    assert.equal(strftime('%Y-%m-%d %T.%3f %b %a %j %%', d), '2026-01-05 07:08:09.123 Jan Mon 005 %');
  });
});
