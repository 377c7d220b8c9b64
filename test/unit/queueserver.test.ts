/**
 * The queueserver bridge against stand-in RE Managers over real 0MQ
 * sockets on loopback (test/helpers/fake-re-manager.ts): what a user sees
 * through the PVs as managers change state, refuse commands, hang, talk
 * garbage, restart, and publish console output.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zmq from 'zeromq';
import { DBE_VALUE, Eca } from '../../src/ca/protocol/constants';
import { WriteError } from '../../src/ca/pv';
import { parseConfig } from '../../src/ioc/config';
import { buildServiceIoc } from '../../src/ioc/service-ioc';
import { createLogger, type Logger } from '../../src/log';
import { PROPERTIES_IFACE, SERVICE_IFACE, unitPath } from '../../src/systemd/names';
import { ReManagerWatcher } from '../../src/queueserver/watcher';
import { FakeReManager } from '../helpers/fake-re-manager';
import { FakeSystemd } from '../helpers/fake-systemd';
import { pvProbe } from '../helpers/pv-probe';

const MANAGER = { initializing: 0, idle: 1, paused: 2, executing_queue: 5, disconnected: 9 } as const;
/** What the bridge reads from a manager (the rest it sends are controls). */
const READS = new Set(['status', 'queue_get', 'history_get', 'lock_info', 'plans_allowed', 'devices_allowed']);

/** A logger that keeps its lines and can wait for one. */
function watchedLogger(): Logger & { lines: string[]; until(re: RegExp): Promise<string> } {
  const lines: string[] = [];
  const waiters = new Set<{ re: RegExp; resolve: (l: string) => void }>();
  const logger = createLogger('test', {
    level: 'debug', journal: false,
    write: (l) => {
      lines.push(l);
      for (const w of [...waiters]) {
        if (w.re.test(l)) {
          waiters.delete(w);
          w.resolve(l);
        }
      }
    },
  });
  const until = (re: RegExp): Promise<string> => {
    const seen = lines.find((l) => re.test(l));
    return seen ? Promise.resolve(seen) : new Promise((resolve) => waiters.add({ re, resolve }));
  };
  return Object.assign(logger, { lines, until });
}

/** A systemd stand-in that also answers Properties.Get for a unit's Environment. */
class EnvironmentSystemd extends FakeSystemd {
  environment = new Map<string, string[]>();
  override async call(p: string, iface: string, member: string, sig: string, body: unknown[]): Promise<unknown[]> {
    if (iface === PROPERTIES_IFACE && member === 'Get' && body[0] === SERVICE_IFACE) {
      if (!this.isConnected) throw new Error('not connected');
      const unit = [...this.environment.keys()].find((u) => unitPath(u) === p);
      if (body[1] === 'Environment') return [{ signature: 'as', value: this.environment.get(unit ?? '') ?? [] }];
      return [{ signature: 'a(sb)', value: [] }];
    }
    return super.call(p, iface, member, sig, body);
  }
}

describe('queueserver bridge (stand-in RE Managers over 0MQ)', function () {
  this.timeout(20000);
  let fakes: FakeReManager[] = [];
  let ioc: ReturnType<typeof buildServiceIoc> | undefined;
  let log: ReturnType<typeof watchedLogger>;
  let tmp: string;

  const start = async (opts: Parameters<typeof FakeReManager.start>[0] = {}): Promise<FakeReManager> => {
    const f = await FakeReManager.start(opts);
    f.on('request', (r: { method: string }) => log.debug(`fake ${f.port} got ${r.method}`));
    fakes.push(f);
    return f;
  };

  /** Build and start an IOC watching managers given as [[queueserver]] bodies. */
  const startIoc = (tables: string[], bus = new FakeSystemd(), extra = ''): ReturnType<typeof buildServiceIoc> => {
    const text = `[ioc]\nprefix = "bl:"\n${tables.map((t) => `[[queueserver]]\n${t}\n`).join('')}${extra}`;
    const config = parseConfig(text, path.join(tmp, 'test.toml'));
    ioc = buildServiceIoc(config, log, Object.assign(bus, { start: () => bus.up() }));
    ioc.database.start();
    ioc.bus.start();
    ioc.redis.start();
    ioc.queueservers.start();
    return ioc;
  };
  const fast = (f: FakeReManager, extra = ''): string => `pv = "qs"\ncontrol_addr = "${f.controlAddr}"\npoll_period = 0.05\ntimeout = 0.3\n${extra}`;

  const { pv, value, alarm, put, until } = pvProbe(() => ioc!.database, 'bl:', () => `; log:\n${log.lines.slice(-30).join('\n')}`);
  const connected = (p = 'qs'): Promise<void> => until(`${p}:Connected`, () => value(`${p}:Connected`) === 1);
  // ManagerState is published after Connected: wait on it.
  const disconnected = (p = 'qs'): Promise<void> => until(`${p}:ManagerState`, () => value(`${p}:Connected`) === 0 && alarm(`${p}:ManagerState`)[0] === 'COMM');

  beforeEach(() => {
    fakes = [];
    log = watchedLogger();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qs-test-'));
  });

  afterEach(async () => {
    ioc?.queueservers.stop();
    ioc?.redis.stop();
    ioc?.database.stop();
    ioc = undefined;
    await Promise.all(fakes.map((f) => f.stop()));
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('publishes an idle manager: connected, states, lengths, no alarms, healthy', async () => {
    const f = await start();
    startIoc([fast(f)]);
    await connected();
    await until('qs:LastExitStatus', () => value('qs:LastExitStatus') === 6);
    assert.equal(value('qs:Version'), 'RE Manager v0.0.24');
    assert.equal(value('qs:ManagerState'), MANAGER.idle);
    assert.deepEqual(alarm('qs:ManagerState'), ['NO_ALARM', 'NO_ALARM']);
    assert.equal(value('qs:REState'), 0, 're_state null is "none"');
    assert.equal(value('qs:EnvExists'), 0);
    assert.equal(value('qs:EnvState'), 7);
    assert.equal(value('qs:QueueLength'), 0);
    assert.equal(value('qs:HistoryLength'), 0);
    assert.equal(value('qs:Running'), 0);
    assert.equal(value('qs:RunningItemUid'), '');
    assert.equal(value('qs:RunningPlan'), '');
    assert.equal(value('qs:Autostart'), 0);
    assert.equal(value('qs:LockedQueue'), 0);
    assert.equal(value('qs:BackgroundTasks'), 0);
    assert.ok((value('qs:StatusAge') as number) < 1);
    assert.deepEqual(alarm('qs:Connected'), ['NO_ALARM', 'NO_ALARM']);
    assert.equal(value('qs:CmdStatus'), 1);
    await until('IOC:Health', () => value('IOC:Health') === 1);
  });

  it('follows a queue from idle to executing_queue to paused to idle, with the running plan and its exit status', async () => {
    const f = await start();
    startIoc([fast(f)]);
    await connected();
    const seen: number[] = [];
    pv('qs:ManagerState').subscribe(() => {
      const v = value('qs:ManagerState') as number;
      if (seen[seen.length - 1] !== v) seen.push(v);
    });
    f.set({ worker_environment_exists: true, worker_environment_state: 'idle', re_state: 'idle' });
    await until('qs:EnvExists', () => value('qs:EnvExists') === 1);
    f.setQueue({ item_uid: 'item-1', name: 'count', item_type: 'plan' }, [{ item_uid: 'item-2', name: 'scan' }],
      { manager_state: 'executing_queue', worker_environment_state: 'executing_plan', re_state: 'running' });
    await until('qs:RunningPlan', () => value('qs:RunningPlan') === 'count');
    assert.equal(value('qs:ManagerState'), MANAGER.executing_queue);
    assert.equal(value('qs:Running'), 1);
    assert.equal(value('qs:RunningItemUid'), 'item-1');
    assert.equal(value('qs:QueueLength'), 1);
    assert.equal(value('qs:REState'), 2);
    f.set({ manager_state: 'paused', re_state: 'paused', worker_environment_state: 'idle' });
    await until('qs:ManagerState', () => value('qs:ManagerState') === MANAGER.paused);
    assert.deepEqual(alarm('qs:ManagerState'), ['STATE', 'MINOR'], 'a paused queue is worth a look');
    assert.equal(value('qs:REState'), 4);
    f.addHistory('completed');
    f.setQueue({}, [], { manager_state: 'idle', re_state: 'idle' });
    await until('qs:ManagerState', () => value('qs:ManagerState') === MANAGER.idle);
    await until('qs:RunningPlan', () => value('qs:RunningPlan') === '');
    await until('qs:LastExitStatus', () => value('qs:LastExitStatus') === 0);
    assert.equal(value('qs:HistoryLength'), 1);
    assert.equal(value('qs:Running'), 0);
    assert.deepEqual(seen, [MANAGER.executing_queue, MANAGER.paused, MANAGER.idle]);
    assert.equal(f.calls('history_get').length, 2, 'history read once at start and once when plan_history_uid changed');
  });

  it('alarms: failed plan, failed environment and a panicked RunEngine, all in the IOC health', async () => {
    const f = await start();
    startIoc([fast(f)]);
    await connected();
    await until('IOC:Health', () => value('IOC:Health') === 1);
    f.addHistory('aborted');
    await until('qs:LastExitStatus', () => value('qs:LastExitStatus') === 3);
    assert.deepEqual(alarm('qs:LastExitStatus'), ['STATE', 'MINOR']);
    f.addHistory('failed');
    await until('qs:LastExitStatus', () => value('qs:LastExitStatus') === 1);
    assert.deepEqual(alarm('qs:LastExitStatus'), ['STATE', 'MAJOR']);
    await until('IOC:Health', () => alarm('IOC:Health')[1] === 'MAJOR');
    f.addHistory('completed', { worker_environment_state: 'failed' });
    await until('qs:EnvState', () => value('qs:EnvState') === 2);
    assert.deepEqual(alarm('qs:EnvState'), ['STATE', 'MAJOR']);
    f.set({ worker_environment_state: 'idle', re_state: 'panicked' });
    await until('qs:REState', () => value('qs:REState') === 9);
    assert.deepEqual(alarm('qs:REState'), ['STATE', 'MAJOR']);
    assert.equal(alarm('IOC:Health')[1], 'MAJOR');
    f.set({ re_state: 'idle' });
    await until('IOC:Health', () => value('IOC:Health') === 1);
  });

  it('each control PV sends its method with the lock key, never user or user_group, and completes on the reply', async () => {
    const f = await start();
    fs.writeFileSync(path.join(tmp, 'lock.key'), 'sesame\n');
    startIoc([fast(f, 'lock_key_file = "lock.key"')]);
    await connected();
    const expect: Array<[string, number, string, Record<string, unknown>]> = [
      ['QueueStart', 1, 'queue_start', {}],
      ['QueueStop', 1, 'queue_stop', {}],
      ['QueueStopCancel', 1, 'queue_stop_cancel', {}],
      ['EnvOpen', 1, 'environment_open', {}],
      ['EnvClose', 1, 'environment_close', {}],
      ['EnvDestroy', 1, 'environment_destroy', {}],
      ['REPause', 1, 're_pause', { option: 'deferred' }],
      ['REPause', 2, 're_pause', { option: 'immediate' }],
      ['REResume', 1, 're_resume', {}],
      ['REStop', 1, 're_stop', {}],
      ['REAbort', 1, 're_abort', {}],
      ['REHalt', 1, 're_halt', {}],
      ['AutostartSet', 1, 'queue_autostart', { enable: true }],
      ['AutostartSet', 0, 'queue_autostart', { enable: false }],
    ];
    for (const [control, v, method, params] of expect) {
      const before = f.requests.length;
      await put(`qs:${control}`, v);
      const sent = f.requests.slice(before).filter((r) => !READS.has(r.method));
      assert.equal(sent.length, 1, control);
      assert.deepEqual(sent[0].raw, { method, params: { ...params, lock_key: 'sesame' } }, control);
      assert.equal(value('qs:CmdStatus'), 1, control);
    }
    const before = f.requests.length;
    await put('qs:QueueStart', 0);
    await put('qs:REPause', 0);
    assert.ok(f.requests.slice(before).every((r) => READS.has(r.method)), 'writing 0 to a button sends nothing');
    // The key is in no PV and no log line.
    for (const n of ioc!.database.recordNames()) assert.ok(!String(ioc!.database.record(n)!.field('VAL')).includes('sesame'), n);
    assert.ok(!log.lines.some((l) => l.includes('sesame')), 'the lock key is never logged');
  });

  it('control PVs start defined, at 0 and NO_ALARM with a timestamp, before the manager answers and without asking it anything', async () => {
    const f = await start();
    startIoc([fast(f)]);
    for (const c of ['QueueStart', 'QueueStop', 'EnvOpen', 'REPause', 'REAbort', 'AutostartSet']) {
      const s = pv(`qs:${c}`).snapshot();
      assert.equal(s.value[0], 0, c);
      assert.deepEqual(alarm(`qs:${c}`), ['NO_ALARM', 'NO_ALARM'], c);
      assert.ok(s.timestamp.secPastEpoch > 0, `${c} has a timestamp`);
    }
    await connected();
    assert.ok(f.requests.every((r) => READS.has(r.method)), 'only reads reached the manager');
  });

  it('AutostartSet reads back from the manager', async () => {
    const f = await start();
    startIoc([fast(f)]);
    await connected();
    await put('qs:AutostartSet', 1);
    await until('qs:Autostart', () => value('qs:Autostart') === 1);
    assert.equal(f.status.queue_autostart_enabled, true, 'the stand-in got a JSON bool');
    f.set({ queue_autostart_enabled: false });
    await until('qs:AutostartSet', () => value('qs:AutostartSet') === 0);
  });

  it('a put waits for the manager\'s reply', async () => {
    const f = await start();
    startIoc([`pv = "qs"\ncontrol_addr = "${f.controlAddr}"\npoll_period = 0.05\ntimeout = 5\n`]);
    await connected();
    f.script('queue_start', () => {
      f.hold();
      return { success: true, msg: '' };
    });
    let done = false;
    const p = put('qs:QueueStart', 1).then(() => {
      done = true;
    });
    await f.nextRequest('queue_start', 0);
    // The reply is held: round-trips through the event loop must not complete the put.
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    assert.equal(done, false);
    f.release();
    await p;
    assert.equal(done, true);
  });

  it('a refusal (success: false) fails the put with ECA_PUTFAIL and shows the manager\'s message', async () => {
    const f = await start();
    startIoc([fast(f)]);
    await connected();
    f.script('queue_start', { success: false, msg: 'Error: RE Manager is busy' });
    await assert.rejects(put('qs:QueueStart', 1), (e: unknown) => e instanceof WriteError && e.eca === Eca.PUTFAIL && /RE Manager is busy/.test(e.message));
    assert.equal(value('qs:CmdStatus'), 0);
    assert.deepEqual(alarm('qs:CmdStatus'), ['STATE', 'MINOR']);
    assert.match(String(value('qs:CmdMessage')), /^queue_start: Error: RE Manager is busy$/);
    assert.equal(alarm('qs:QueueStart')[1], 'INVALID');
    f.script('queue_start');
    await put('qs:QueueStart', 1);
    assert.equal(value('qs:CmdStatus'), 1);
    assert.match(String(value('qs:CmdMessage')), /^queue_start: accepted$/);
  });

  it('a manager that stops answering is disconnected within its timeout, INVALID/COMM everywhere, and comes back', async () => {
    const f = await start();
    startIoc([fast(f)]);
    await connected();
    await until('IOC:Health', () => value('IOC:Health') === 1);
    const t0 = Date.now();
    f.hold();
    await disconnected();
    const took = Date.now() - t0;
    assert.ok(took < 50 + 300 + 250, `disconnected after ${took} ms (poll 50 ms + timeout 300 ms)`);
    assert.equal(value('qs:ManagerState'), MANAGER.disconnected);
    assert.deepEqual(alarm('qs:Connected'), ['STATE', 'MAJOR']);
    for (const n of ['ManagerState', 'REState', 'EnvState', 'QueueLength', 'Version', 'RunningPlan', 'LastExitStatus', 'Autostart']) {
      assert.deepEqual(alarm(`qs:${n}`), ['COMM', 'INVALID'], n);
    }
    assert.equal(alarm('IOC:Health')[1], 'INVALID');
    await assert.rejects(put('qs:QueueStart', 1), (e: unknown) => e instanceof WriteError && /does not answer/.test(e.message));
    assert.match(await log.until(/RE Manager not usable.*no reply within 0\.3 s/), /manager=qs/);
    f.release();
    await connected();
    await until('qs:ManagerState', () => alarm('qs:ManagerState')[1] === 'NO_ALARM');
    assert.equal(value('qs:ManagerState'), MANAGER.idle);
    await until('IOC:Health', () => value('IOC:Health') === 1);
  });

  it('a reply after the timeout is dropped with its socket; the next poll works', async () => {
    const f = await start();
    let late = 1;
    f.script('status', () => (late-- > 0 ? { delayMs: 450, then: { ...f.status, manager_state: 'paused' } } : f.status));
    startIoc([fast(f)]);
    await log.until(/RE Manager not usable.*no reply within 0\.3 s/);
    await connected();
    assert.equal(value('qs:ManagerState'), MANAGER.idle, 'the late "paused" reply was never taken');
    assert.equal(ioc!.queueservers.watcher('qs')!.timeouts, 1);
  });

  it('garbage, NaN, unknown states and missing fields are faults of that manager, logged, never a crash', async () => {
    const f = await start();
    startIoc([fast(f)]);
    await connected();
    f.script('status', { raw: Buffer.from([0xff, 0x00, 0xfe]) });
    await disconnected();
    await log.until(/RE Manager not usable.*status: reply is not UTF-8/);
    f.script('status', { raw: '{"msg": "RE Manager v0.0.24", "manager_state": NaN}' });
    await log.until(/RE Manager not usable.*NaN/);
    f.script('status', { raw: 'not json at all' });
    await log.until(/RE Manager not usable.*not JSON/);
    f.script('status');
    await connected();
    f.set({ manager_state: 'napping' });
    await until('qs:ManagerState', () => alarm('qs:ManagerState')[1] === 'INVALID');
    assert.deepEqual(alarm('qs:ManagerState'), ['STATE', 'INVALID']);
    await log.until(/ManagerState: unknown manager_state \\"napping\\"/);
    assert.deepEqual(alarm('qs:QueueLength'), ['NO_ALARM', 'NO_ALARM'], 'the other PVs are fine');
    delete f.status.items_in_queue;
    f.set({ manager_state: 'idle' });
    await until('qs:QueueLength', () => alarm('qs:QueueLength')[1] === 'INVALID');
    assert.deepEqual(alarm('qs:QueueLength'), ['READ', 'INVALID']);
    assert.deepEqual(alarm('qs:ManagerState'), ['NO_ALARM', 'NO_ALARM']);
    await log.until(/QueueLength: missing \\"items_in_queue\\"/);
    f.set({ items_in_queue: 0 });
    await until('qs:QueueLength', () => alarm('qs:QueueLength')[1] === 'NO_ALARM');
    await log.until(/status readable again/);
    // A history with NaN in a plan's arguments: LastExitStatus unreadable, the rest fine.
    f.script('history_get', { raw: '{"success": true, "msg": "", "items": [{"kwargs": {"x": NaN}, "result": {"exit_status": "completed"}}]}' });
    f.addHistory('completed');
    await until('qs:LastExitStatus', () => alarm('qs:LastExitStatus')[1] === 'INVALID');
    assert.deepEqual(alarm('qs:LastExitStatus'), ['READ', 'INVALID']);
    assert.equal(value('qs:Connected'), 1);
  });

  it('a restarted manager (a new one bound on the same port) is picked up', async () => {
    const f = await start();
    startIoc([fast(f)]);
    await connected();
    await f.stop();
    await disconnected();
    const g = await start({ port: f.port, status: { manager_state: 'initializing', msg: 'RE Manager v0.0.25' } });
    await connected();
    await until('qs:Version', () => value('qs:Version') === 'RE Manager v0.0.25');
    assert.equal(value('qs:ManagerState'), MANAGER.initializing);
    g.set({ manager_state: 'idle' });
    await until('qs:ManagerState', () => value('qs:ManagerState') === MANAGER.idle);
  });

  it('two managers, one hung: the other keeps its poll period and follows changes at once', async () => {
    const hung = await start();
    const ok = await start();
    startIoc([
      `pv = "a"\ncontrol_addr = "${hung.controlAddr}"\npoll_period = 0.05\ntimeout = 1.0\n`,
      `pv = "b"\ncontrol_addr = "${ok.controlAddr}"\npoll_period = 0.05\ntimeout = 1.0\n`,
    ]);
    await connected('a');
    await connected('b');
    hung.hold();
    const t0 = Date.now();
    const from = ok.requests.length;
    ok.set({ manager_state: 'paused' });
    await until('b:ManagerState', () => value('b:ManagerState') === MANAGER.paused);
    assert.ok(Date.now() - t0 < 500, 'b followed its change while a hung');
    await disconnected('a');
    const polls = ok.requests.slice(from).filter((r) => r.method === 'status').map((r) => r.at);
    const gaps = polls.slice(1).map((t, i) => t - polls[i]);
    assert.ok(polls.length >= 8, `b polled ${polls.length} times during a's timeout`);
    assert.ok(Math.max(...gaps) < 500, `b's longest gap between polls was ${Math.max(...gaps)} ms`);
    assert.equal(value('b:Connected'), 1);
  });

  it('CurveZMQ: the right server key connects; a wrong one looks like a timeout', async () => {
    const server = zmq.curveKeyPair();
    const f = await start({ curve: server });
    startIoc([fast(f, `public_key = "${server.publicKey}"`)]);
    await connected();
    assert.equal(value('qs:ManagerState'), MANAGER.idle);
    ioc!.queueservers.stop();
    ioc!.database.stop();

    const g = await start({ curve: zmq.curveKeyPair() });
    startIoc([fast(g, `public_key = "${server.publicKey}"`)]);
    await log.until(/RE Manager not usable.*no reply within/);
    assert.equal(value('qs:Connected'), 0);
    assert.deepEqual(alarm('qs:ManagerState'), ['COMM', 'INVALID']);
    assert.equal(g.requests.length, 0, 'the handshake never completed');
  });

  it('console lines split across messages, redrawn with \\r and ESC[A, land in ConsoleLast', async () => {
    const f = await start({ infoPort: 0 });
    startIoc([fast(f, `info_addr = "${f.infoAddr}"`)]);
    await connected();
    await f.subscribed();
    const lines: string[] = [];
    pv('qs:ConsoleLast').subscribe((mask) => {
      if (mask & DBE_VALUE) lines.push(String(value('qs:ConsoleLast')));
    });
    await f.console('Starting the ');
    await f.console('plan\nprogress  10%');
    await f.console('\rprogress 100%\n');
    await f.console('bar1 0%\nbar2 0%\n\x1b');
    await f.console('[A\x1b[Abar1 9%\n');
    await f.console('bar1 9%\n');
    await until('qs:ConsoleLast', () => lines.length === 6);
    assert.deepEqual(lines, ['Starting the plan', 'progress 100%', 'bar1 0%', 'bar2 0%', 'bar1 9%', 'bar1 9%'], 'a repeated line is posted again');
    assert.deepEqual(alarm('qs:ConsoleLast'), ['NO_ALARM', 'NO_ALARM']);
    await f.publishRaw(['QS_Console', 'garbage']);
    await log.until(/bad message on the info stream/);
  });

  it('QS_Info status messages update the PVs at once, between polls', async () => {
    const f = await start({ infoPort: 0 });
    startIoc([`pv = "qs"\ncontrol_addr = "${f.controlAddr}"\ninfo_addr = "${f.infoAddr}"\npoll_period = 30\ntimeout = 0.3\n`]);
    await connected();
    await f.subscribed();
    await until('qs:LastExitStatus', () => value('qs:LastExitStatus') === 6);
    const polls = f.calls('status').length;
    f.set({ manager_state: 'executing_queue', re_state: 'running', items_in_queue: 3 });
    await until('qs:ManagerState', () => value('qs:ManagerState') === MANAGER.executing_queue);
    assert.equal(value('qs:QueueLength'), 3);
    assert.equal(f.calls('status').length, polls, 'no poll was needed');
    f.addHistory('halted');
    await until('qs:LastExitStatus', () => value('qs:LastExitStatus') === 4);
    assert.deepEqual(alarm('qs:LastExitStatus'), ['STATE', 'MAJOR']);
  });

  it('a manager named by its unit gets its address from the unit\'s environment over D-Bus', async () => {
    const f = await start();
    const bus = new EnvironmentSystemd();
    bus.addUnit('queueserver@b.service');
    bus.environment.set('queueserver@b.service', [`QSERVER_ZMQ_CONTROL_ADDRESS_FOR_SERVER=tcp://*:${f.port}`, 'QSERVER_REDIS_ADDR=localhost:6379']);
    startIoc(['pv = "qs"\nunit = "queueserver@b.service"\npoll_period = 0.05\ntimeout = 0.3\n'], bus);
    await connected();
    assert.equal(ioc!.queueservers.watcher('qs')!.address, `tcp://localhost:${f.port}`);
    await log.until(/control address from the unit/);
  });

  it('shows who locked the manager and why, read with lock_info when lock_info_uid changes', async () => {
    const f = await start();
    startIoc([fast(f)]);
    await connected();
    await until('qs:LockUser', () => alarm('qs:LockUser')[0] === 'NO_ALARM');
    assert.equal(value('qs:LockUser'), '');
    assert.equal(value('qs:LockNote'), '');
    const reads = f.calls('lock_info').length;
    f.set({ items_in_queue: 0 });
    await f.nextRequest('status');
    await f.nextRequest('status');
    assert.equal(f.calls('lock_info').length, reads, 'no lock_info without a new lock_info_uid');
    f.setLock({ environment: true, queue: true, user: 'Jane Operator', note: 'beam alignment until 14:00', time: 1700000000.5, time_str: '2023-11-14 22:13:20' });
    await until('qs:LockUser', () => value('qs:LockUser') === 'Jane Operator');
    assert.equal(value('qs:LockNote'), 'beam alignment until 14:00');
    assert.equal(value('qs:LockTime'), '2023-11-14 22:13:20');
    assert.equal(value('qs:LockedQueue'), 1);
    assert.deepEqual(f.calls('lock_info').at(-1)!.raw, { method: 'lock_info', params: {} }, 'the lock key is not needed to read who holds it');
    f.setLock({});
    await until('qs:LockUser', () => value('qs:LockUser') === '');
    assert.equal(value('qs:LockTime'), '');
  });

  it('counts the plans and devices the user group may use; none while the environment is open is MINOR', async () => {
    const f = await start();
    startIoc([fast(f, 'user_group = "admin"')]);
    await connected();
    await until('qs:DevicesAllowed', () => value('qs:DevicesAllowed') === 3 && value('qs:PlansAllowed') === 2);
    assert.deepEqual(f.calls('plans_allowed').at(-1)!.raw, { method: 'plans_allowed', params: { user_group: 'admin' } });
    assert.deepEqual(f.calls('devices_allowed').at(-1)!.raw, { method: 'devices_allowed', params: { user_group: 'admin' } });
    const reads = f.calls('plans_allowed').length;
    f.set({ worker_environment_exists: true, worker_environment_state: 'idle', re_state: 'idle' });
    await until('qs:EnvExists', () => value('qs:EnvExists') === 1);
    assert.equal(f.calls('plans_allowed').length, reads, 'lists are read again only when their uids change');
    assert.deepEqual(alarm('qs:PlansAllowed'), ['NO_ALARM', 'NO_ALARM']);
    // A permissions file that allows nothing: the environment is open and nothing can be queued.
    f.setAllowed({}, { det1: {} });
    await until('qs:PlansAllowed', () => value('qs:PlansAllowed') === 0 && alarm('qs:PlansAllowed')[1] === 'MINOR');
    assert.deepEqual(alarm('qs:DevicesAllowed'), ['NO_ALARM', 'NO_ALARM']);
    assert.equal(value('qs:Problem'), 'no plans allowed for user group admin');
    assert.equal(ioc!.health.severity, 1);
    assert.match(String(value('IOC:HealthMessage')), /^queueserver qs: no plans allowed for user group admin$/);
    f.set({ worker_environment_exists: false, worker_environment_state: 'closed', re_state: null });
    await until('qs:PlansAllowed', () => alarm('qs:PlansAllowed')[1] === 'NO_ALARM');
    assert.equal(value('qs:Problem'), '');
    assert.equal(value('IOC:HealthMessage'), '');
  });

  for (const infoToo of [false, true]) {
    it(`msgpack: a manager run with --zmq-encoding msgpack is watched and controlled with encoding = "msgpack"${infoToo ? ', QS_Info too' : ''}`, async () => {
      const f = await start({ encoding: 'msgpack', ...(infoToo ? { infoPort: 0 } : {}) });
      startIoc([`pv = "qs"\ncontrol_addr = "${f.controlAddr}"\nencoding = "msgpack"\npoll_period = ${infoToo ? 30 : 0.05}\ntimeout = 0.3\n${infoToo ? `info_addr = "${f.infoAddr}"\n` : ''}`]);
      await connected();
      await until('qs:LastExitStatus', () => value('qs:LastExitStatus') === 6);
      assert.equal(value('qs:Version'), 'RE Manager v0.0.24');
      assert.equal(value('qs:PlansAllowed'), 2);
      if (infoToo) {
        await f.subscribed();
        f.set({ manager_state: 'executing_queue', items_in_queue: 4 });
        await until('qs:QueueLength', () => value('qs:QueueLength') === 4);
      }
      await put('qs:AutostartSet', 1);
      assert.deepEqual(f.calls('queue_autostart').at(-1)!.raw, { method: 'queue_autostart', params: { enable: true } });
      assert.equal(value('qs:CmdStatus'), 1);
    });
  }

  it('msgpack: a wrong encoding is a fault that says which one the manager speaks', async () => {
    const f = await start({ encoding: 'msgpack' });
    startIoc([fast(f)]);
    await log.until(/RE Manager not usable.*reply is msgpack, not json.*set encoding = \\?"msgpack\\?"/);
    assert.equal(value('qs:Connected'), 0);
    assert.match(String(value('qs:Problem')), /^RE Manager not answering: status: reply is msgpack, not json/);
  });

  it('msgpack: the encoding comes from QSERVER_ZMQ_ENCODING in the unit\'s environment with its address', async () => {
    const f = await start({ encoding: 'msgpack' });
    const bus = new EnvironmentSystemd();
    bus.addUnit('queueserver@b.service');
    bus.environment.set('queueserver@b.service', [`QSERVER_ZMQ_CONTROL_ADDRESS_FOR_SERVER=tcp://*:${f.port}`, 'QSERVER_ZMQ_ENCODING=msgpack']);
    startIoc(['pv = "qs"\nunit = "queueserver@b.service"\npoll_period = 0.05\ntimeout = 0.3\n'], bus);
    await connected();
    assert.equal(ioc!.queueservers.watcher('qs')!.encoding, 'msgpack');
    await log.until(/control address from the unit.*encoding=msgpack/);
  });

  it('a manager whose unit moves to another address (edited environment, restart) is followed, and the log says so', async () => {
    const f = await start();
    const bus = new EnvironmentSystemd();
    bus.addUnit('queueserver@b.service');
    bus.environment.set('queueserver@b.service', [`QSERVER_ZMQ_CONTROL_ADDRESS_FOR_SERVER=tcp://*:${f.port}`]);
    startIoc(['pv = "qs"\nunit = "queueserver@b.service"\npoll_period = 0.05\ntimeout = 0.3\n'], bus);
    await connected();
    await f.stop();
    const moved = await start({ encoding: 'msgpack', status: { items_in_queue: 7 } });
    bus.environment.set('queueserver@b.service', [`QSERVER_ZMQ_CONTROL_ADDRESS_FOR_SERVER=tcp://*:${moved.port}`, 'QSERVER_ZMQ_ENCODING=msgpack']);
    await until('qs:QueueLength', () => value('qs:QueueLength') === 7 && value('qs:Connected') === 1);
    assert.equal(ioc!.queueservers.watcher('qs')!.address, `tcp://localhost:${moved.port}`);
    const line = await log.until(/names another RE Manager address: reconnecting/);
    assert.ok(line.includes(`from=tcp://localhost:${f.port}`) && line.includes(`to=tcp://localhost:${moved.port}`), line);
  });

  it('the info stream follows the encoding when the unit moves to another address and QSERVER_ZMQ_ENCODING (restart with msgpack)', async () => {
    const f = await start({ infoPort: 0 });
    const infoPort = f.infoPort!;
    const bus = new EnvironmentSystemd();
    bus.addUnit('queueserver@b.service');
    bus.environment.set('queueserver@b.service', [`QSERVER_ZMQ_CONTROL_ADDRESS_FOR_SERVER=tcp://*:${f.port}`]);
    // A long poll period: a status the PVs show between polls came over QS_Info.
    startIoc([`pv = "qs"\nunit = "queueserver@b.service"\ninfo_addr = "tcp://127.0.0.1:${infoPort}"\npoll_period = 0.05\ntimeout = 0.3\n`], bus);
    await connected();
    await f.subscribed();
    await f.stop();
    // The manager restarts with --zmq-encoding msgpack on a new control port; it publishes where it did.
    const moved = await start({ encoding: 'msgpack', infoPort });
    bus.environment.set('queueserver@b.service', [`QSERVER_ZMQ_CONTROL_ADDRESS_FOR_SERVER=tcp://*:${moved.port}`, 'QSERVER_ZMQ_ENCODING=msgpack']);
    await until('qs:Connected', () => value('qs:Connected') === 1 && ioc!.queueservers.watcher('qs')!.address === `tcp://localhost:${moved.port}`);
    assert.equal(ioc!.queueservers.watcher('qs')!.encoding, 'msgpack');
    await moved.subscribed();
    // Only QS_Info reports it: the polled status keeps items_in_queue at 0.
    moved.script('status', () => ({ ...moved.status, items_in_queue: 0 }));
    moved.set({ items_in_queue: 5 });
    await until('qs:QueueLength', () => value('qs:QueueLength') === 5);
    assert.deepEqual(log.lines.filter((l) => /bad message on the info stream/.test(l)), [], 'no msgpack message was read as json');
  });

  it('the info stream\'s address comes from the unit\'s QSERVER_ZMQ_INFO_ADDRESS_FOR_SERVER too, and follows it when the unit moves', async () => {
    const f = await start({ infoPort: 0 });
    const bus = new EnvironmentSystemd();
    bus.addUnit('queueserver@b.service');
    const unitEnv = (m: { port: number; infoPort?: number }): string[] => [
      `QSERVER_ZMQ_CONTROL_ADDRESS_FOR_SERVER=tcp://*:${m.port}`, `QSERVER_ZMQ_INFO_ADDRESS_FOR_SERVER=tcp://*:${m.infoPort!}`,
    ];
    bus.environment.set('queueserver@b.service', unitEnv(f));
    // No info_addr: the unit says where the manager publishes.
    startIoc(['pv = "qs"\nunit = "queueserver@b.service"\npoll_period = 0.05\ntimeout = 0.3\n'], bus);
    await connected();
    await f.subscribed();
    assert.equal(ioc!.queueservers.watcher('qs')!.infoAddress, `tcp://localhost:${f.infoPort!}`);
    await log.until(new RegExp(`control address from the unit.*info=tcp://localhost:${f.infoPort!}`));
    await f.stop();
    const moved = await start({ infoPort: 0 });
    bus.environment.set('queueserver@b.service', unitEnv(moved));
    await until('qs:Connected', () => value('qs:Connected') === 1 && ioc!.queueservers.watcher('qs')!.address === `tcp://localhost:${moved.port}`);
    await moved.subscribed();
    assert.equal(ioc!.queueservers.watcher('qs')!.infoAddress, `tcp://localhost:${moved.infoPort!}`);
    // Only QS_Info reports it: the polled status keeps items_in_queue at 0.
    moved.script('status', () => ({ ...moved.status, items_in_queue: 0 }));
    moved.set({ items_in_queue: 4 });
    await until('qs:QueueLength', () => value('qs:QueueLength') === 4);
  });

  it('a manager that does not answer while its redis is down shows that as one cause, in Problem and IOC:HealthMessage', async () => {
    const f = await start();
    const redisPort = await closedPort();
    startIoc([fast(f, 'redis = "rdb"')], new FakeSystemd(), `[[redis]]\npv = "rdb"\naddr = "127.0.0.1:${redisPort}"\npoll_period = 0.05\ntimeout = 0.3\n`);
    await until('rdb:Connected', () => alarm('rdb:Connected')[1] === 'MAJOR');
    await connected();
    assert.equal(value('qs:Problem'), '', 'a manager that answers has no problem, whatever its redis');
    f.hold();
    await until('qs:Problem', () => /because redis rdb/.test(String(value('qs:Problem'))));
    assert.match(String(value('qs:Problem')), new RegExp(`^RE Manager not answering because redis rdb \\(127\\.0\\.0\\.1:${redisPort}\\) is down: .*ECONNREFUSED`));
    await until('IOC:HealthMessage', () => /because of it: queueserver qs/.test(String(value('IOC:HealthMessage'))));
    const message = String(value('IOC:HealthMessage'));
    assert.match(message, /^redis rdb: redis at 127\.0\.0\.1:\d+ is down: .*\(because of it: queueserver qs\)$/);
    assert.ok(!message.includes(';'), `one cause: ${message}`);
  });
});

/** A loopback TCP port with nothing listening on it. */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

describe('RE Manager watcher: a manager that stops answering is shown so once beforeLoss resolves', function () {
  this.timeout(20000);
  let f: FakeReManager | undefined;
  let w: ReManagerWatcher | undefined;
  const log = createLogger('test', { level: 'debug', journal: false, write: () => undefined });

  afterEach(async () => {
    w?.stop();
    f?.release();
    await f?.stop();
    w = f = undefined;
  });

  /** A watcher of `f` whose beforeLoss waits for `gate`; `asked` lists the times it was called with. */
  const watch = (fake: FakeReManager, info: boolean) => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => { open = resolve; });
    const asked: number[] = [];
    let askedNow: (() => void) | undefined;
    const checks = new Set<() => void>();
    const watcher = new ReManagerWatcher({
      name: 'qs',
      resolveEndpoint: async () => ({ address: fake.controlAddr, encoding: 'json', ...(info ? { infoAddress: fake.infoAddr } : {}) }),
      userGroup: 'primary',
      pollPeriodMs: 50,
      timeoutMs: 200,
      log,
      listener: { changed: () => { for (const c of [...checks]) c(); }, consoleLine: () => undefined },
      beforeLoss: (since) => {
        asked.push(since);
        askedNow?.();
        return gate;
      },
    });
    /** Resolves once `cond` holds, checked whenever the watcher shows a change. */
    const when = (cond: () => boolean): Promise<void> => new Promise((resolve) => {
      const c = (): void => {
        if (!cond()) return;
        checks.delete(c);
        resolve();
      };
      checks.add(c);
      c();
    });
    const firstAsk = new Promise<void>((resolve) => { askedNow = resolve; });
    return { watcher, open, asked, when, firstAsk };
  };

  it('keeps showing it answering until then, with when the failed request was sent', async () => {
    f = await FakeReManager.start();
    const t = watch(f, false);
    w = t.watcher;
    w.start();
    await t.when(() => w!.connected);
    f.hold();
    await t.firstAsk;
    assert.ok(t.asked[0] <= performance.now() - 200, 'since: the request sent at least a timeout ago');
    assert.equal(w.connected, true, 'still shown answering');
    t.open();
    await t.when(() => !w!.connected);
    assert.match(w.fault, /no reply within 0\.2 s/);
    assert.equal(t.asked.length, 1, 'asked only when a manager that answered stops');
  });

  it('a status on the info stream meanwhile means it answers after all: no loss is shown', async () => {
    f = await FakeReManager.start({ infoPort: 0 });
    const t = watch(f, true);
    w = t.watcher;
    w.start();
    await f.subscribed();
    await t.when(() => w!.connected);
    f.hold();
    await t.firstAsk;
    const statuses = w.statusCount;
    f.set({ items_in_queue: 3 });
    await t.when(() => w!.statusCount > statuses);
    f.release();
    t.open();
    // The poll after it is answered: the manager was never shown lost.
    const after = w.statusCount;
    let lost = false;
    const watching = t.when(() => {
      lost ||= !w!.connected;
      return w!.statusCount > after;
    });
    await watching;
    assert.equal(lost, false, 'never shown not answering');
    assert.equal(w.connected, true);
  });
});
