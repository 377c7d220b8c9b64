/**
 * `service-ioc repeater` with real CA clients: libca (Debian's, through
 * pyepics) and the EPICS bundle's casw register with it, casw lists the
 * beacons of service-ioc and of EPICS base's softIoc that it hands on, and
 * after a long outage libca finds the returning server as soon as its
 * beacons come back, for service-ioc as for softIoc under the same conditions.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { CLI_JS, makeTempDir, removeTempDir, requireBuiltCli, SOFTIOC_READY } from '../helpers/cli';
import { startProcess, type Managed } from '../helpers/processes';
import { clientEnv, PyCa, serverEnv } from '../helpers/pyca';
import { checkEpicsBundle, epicsBin, softIocDbd } from '../helpers/shared';
import { checkPyepics, freeCaPorts, requireDependency } from '../helpers/system';

/**
 * How long the servers stay away. libca keeps the channels of a dropped
 * circuit in its disconnect governor (released every 10 s), then searches in
 * free-running timers whose periods double from 32 ms; a channel leaves timer
 * k after one to two of its periods. After 43 s it sits in timer 9 (16 s) or
 * later for certain, above the one (8 s) a beacon anomaly moves channels to.
 */
const OUTAGE_MS = 50000;
/** Period of the timer a beacon anomaly moves channels to: 2^8 x 32 ms (udpiiu.cpp). */
const ANOMALY_SEARCH_PERIOD_S = 8.2;

interface Ioc {
  name: string;
  /** UDP search port (and TCP port) the client looks at. */
  port: number;
  /** The port of the repeater its beacons go to (one repeater each, so that one server's beacons cannot stand in for the other's). */
  repeaterPort: number;
  start(): Promise<Managed>;
}

/** `proc` once `until` has resolved; stopped if it does not. */
async function ready(proc: Managed, until: (p: Managed) => Promise<unknown>): Promise<Managed> {
  try {
    await until(proc);
    return proc;
  } catch (err) {
    await proc.stop(1000);
    throw err;
  }
}

describe('interop: service-ioc repeater with libca, casw and softIoc', function () {
  this.timeout(90000);
  let dir: string | undefined;
  const repeaters = new Map<string, Managed>();
  const casws: Managed[] = [];
  const iocs = new Map<string, Managed>();
  const clients = new Map<string, PyCa>();
  let ours: Ioc;
  let reference: Ioc;

  before(async function () {
    requireDependency(this, checkPyepics() ?? checkEpicsBundle());
    requireBuiltCli();
    dir = makeTempDir('sioc-repeater-');
    const db = path.join(dir, 'r.db');
    fs.writeFileSync(db, 'record(ai, "rep:ai") { field(VAL, "5") }\n');
    const a = await freeCaPorts();
    const b = await freeCaPorts();
    ours = {
      name: 'service-ioc', port: a.server, repeaterPort: a.repeater,
      start: () => ready(startProcess(process.execPath, [CLI_JS, 'softioc', '-d', db], serverEnv(a.server, a.repeater)), (p) => p.waitLine(SOFTIOC_READY, 15000)),
    };
    reference = {
      name: 'softIoc', port: b.server, repeaterPort: b.repeater,
      start() {
        const p = startProcess(path.join(epicsBin()!, 'softIoc'), ['-D', softIocDbd(), '-S', '-d', db], serverEnv(b.server, b.repeater));
        return ready(p, () => p.waitStderrLine(/iocRun: All initialization complete/, 15000));
      },
    };
    for (const ioc of [ours, reference]) {
      const r = startProcess(process.execPath, [CLI_JS, 'repeater', '--port', String(ioc.repeaterPort), '--address', '127.0.0.1'], {
        PATH: process.env.PATH, HOME: process.env.HOME, SERVICE_IOC_LOG: 'debug',
      });
      repeaters.set(ioc.name, r);
      await r.waitLine(new RegExp(`^service-ioc repeater: CA repeater on 127\\.0\\.0\\.1:${ioc.repeaterPort}$`));
    }
  });

  after(async () => {
    for (const c of clients.values()) await c.stop();
    for (const p of [...iocs.values(), ...casws, ...repeaters.values()]) await p.stop();
    removeTempDir(dir);
  });

  it('libca and casw register, and casw lists each server\'s beacons with the address the repeater filled in', async () => {
    for (const ioc of [ours, reference]) iocs.set(ioc.name, await ioc.start());

    for (const ioc of [ours, reference]) {
      // casw registers at once (every 0.1 s until confirmed) and prints each beacon; its
      // stdout is a pipe, so line buffering is asked for.
      const casw = startProcess('stdbuf', ['-oL', path.join(epicsBin()!, 'casw'), '-i', '2'], clientEnv(ioc.port, ioc.repeaterPort));
      casws.push(casw);
      // Both servers send 0 in the beacon's address field: casw would print 0.0.0.0 had the repeater not filled it in.
      await casw.waitLine(new RegExp(`^\\s*(localhost|127\\.0\\.0\\.1):${ioc.port}\\s`), 10000);
      assert.doesNotMatch(casw.stderr(), /unable to register/);
    }

    // libca registers 10 s after its first channel, then every second until confirmed.
    const registered: Array<Promise<RegExpMatchArray>> = [];
    for (const ioc of [ours, reference]) {
      const repeater = repeaters.get(ioc.name)!;
      const from = repeater.stderrLineCount();
      const client = await PyCa.start(clientEnv(ioc.port, ioc.repeaterPort));
      clients.set(ioc.name, client);
      const c = await client.request('connect', { pv: 'rep:ai', timeout: 5 });
      assert.equal(c.connected, true, `${ioc.name}: ${client.stderr()}`);
      const ports = (await client.request('udp_ports')).ports as number[];
      registered.push(repeater.waitStderrLine(new RegExp(`client registered client=127\\.0\\.0\\.1:(${ports.join('|')}) `), 20000, from));
    }
    await Promise.all(registered);
    for (const [name, client] of clients) {
      // libca complains when it has to start a repeater itself ("caRepeater couldn't be
      // located") or cannot register with one ("unable to contact CA repeater").
      assert.doesNotMatch(client.stderr(), /repeater/i, `${name} client: ${client.stderr()}`);
    }
  });

  it(`after a ${OUTAGE_MS / 1000} s outage, libca reconnects within one beacon-anomaly search period of the server's return, for service-ioc as for softIoc`, async () => {
    const measure = async (ioc: Ioc): Promise<number> => {
      const client = clients.get(ioc.name)!;
      await iocs.get(ioc.name)!.stop();
      const d = await client.request('wait_disconnected', { pv: 'rep:ai', timeout: 15 }, 20000);
      assert.equal(d.disconnected, true, `${ioc.name}: the channel did not notice the server went away`);
      await delay(OUTAGE_MS); // the outage itself: nothing to wait for
      const connected = client.request('wait_connected', { pv: 'rep:ai', timeout: 40 }, 45000);
      iocs.set(ioc.name, await ioc.start());
      const back = performance.now();
      const c = await connected;
      assert.equal(c.connected, true, `${ioc.name}: no reconnect; client stderr: ${client.stderr().slice(-500)}`);
      assert.equal(((await client.request('get', { pv: 'rep:ai' })).result as { value: number }).value, 5);
      return (performance.now() - back) / 1000;
    };
    // Both at once, each with its own repeater and client.
    const [s, r] = await Promise.all([measure(ours), measure(reference)]);
    console.log(`      reconnect ${s.toFixed(2)} s (service-ioc) and ${r.toFixed(2)} s (softIoc) after the server's return`);
    // Without beacons the channel waits for its 16 s (or 33 s) timer; the anomaly the
    // returning server's beacons make moves it to the 8.2 s one, for softIoc as for us.
    // The timers scale with libca's round-trip estimate (at least 32 ms): on a host slow
    // enough to raise it, softIoc's figure says how far, and the bound follows it.
    const bound = Math.max(ANOMALY_SEARCH_PERIOD_S + 1.5, 1.5 * r + 1);
    assert.ok(s < bound, `service-ioc: reconnect ${s.toFixed(2)} s after its return; softIoc: ${r.toFixed(2)} s`);
  });
});
