/**
 * The pvAccess server over in-memory streams, serving a record database as
 * the IOC wires it (src/ioc/pva.ts): a PUT takes the record's put path,
 * access security decides with the `ca` user and host (an `anonymous` client
 * gets what the .acf grants users no UAG names), every write attempt reaches
 * the put log's audit, and a monitor whose client does not read stays
 * bounded and still ends with the newest value.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { enforceAccessSecurity, type AccessSecurity } from '../../src/access/access-security';
import { DbrType, Eca, type NativeType } from '../../src/ca/protocol/constants';
import type { DbrValue } from '../../src/ca/protocol/types';
import { WriteError, type ProcessVariable, type WriteAttempt } from '../../src/ca/pv';
import { Database, defaultRegistry } from '../../src/database/database';
import { iocDeviceSupport } from '../../src/ioc/ioc-device';
import { loadAll } from '../../src/ioc/load';
import { fieldDbfType, pvaServerFor } from '../../src/ioc/pva';
import { memoryLogger } from '../../src/log';
import { getField } from '../../src/pva/protocol/pvdata';
import { StatusType } from '../../src/pva/protocol/wire';
import { pvaConfigFromEnv } from '../../src/pva/server/config';
import { PvaServer } from '../../src/pva/server/server';
import { makeTempDir, removeTempDir } from '../helpers/cli';
import { duplexPair } from '../helpers/duplex-pair';
import { PvaTestClient, type Auth } from '../helpers/pva-client';
import { FakeScheduler } from '../helpers/fake-scheduler';
import { MapDirectory, SimplePv } from '../../src/ca/server/pv';

const DB = `
record(ao, "t:ao") { field(DRVH, "8") field(DRVL, "-8") field(VAL, "1") field(PINI, "YES") }
record(ao, "t:guarded") { field(ASG, "OPS") field(VAL, "1") field(PINI, "YES") }
record(ao, "t:bench") { field(ASG, "BENCH") field(VAL, "1") field(PINI, "YES") }
record(ai, "t:fast") { field(VAL, "0") field(PINI, "YES") }
record(waveform, "t:wf") { field(FTVL, "USHORT") field(NELM, "4") }
record(waveform, "t:i64") { field(FTVL, "INT64") field(NELM, "3") }
`;

const ACF = `UAG(ops) { alice }
HAG(console) { ctl1 }
ASG(DEFAULT) { RULE(1, READ) RULE(1, WRITE, TRAPWRITE) }
ASG(OPS) { RULE(1, READ) RULE(1, WRITE, TRAPWRITE) { UAG(ops) } }
ASG(BENCH) { RULE(1, READ) RULE(1, WRITE, TRAPWRITE) { HAG(console) } }
`;

describe('pvAccess server on a record database (in-memory streams)', () => {
  let dir: string;
  let database: Database;
  let security: AccessSecurity;
  let server: PvaServer;
  const audits: WriteAttempt[] = [];

  before(async () => {
    dir = makeTempDir('pva-server-');
    fs.writeFileSync(path.join(dir, 't.db'), DB);
    fs.writeFileSync(path.join(dir, 't.acf'), ACF);
    const log = memoryLogger([], 'error');
    database = Database.build(loadAll([{ kind: 'db', file: path.join(dir, 't.db'), macros: new Map() }]), { registry: defaultRegistry().register(iocDeviceSupport()), log });
    security = await enforceAccessSecurity(database, { file: path.join(dir, 't.acf'), macros: new Map(), log });
    database.start();
    server = pvaServerFor({ database, log, audit: (a) => audits.push(a), env: {} });
  });

  after(() => {
    security.close();
    database.stop();
    removeTempDir(dir);
  });

  beforeEach(() => { audits.length = 0; });

  async function client(auth: Auth, highWaterMark?: number): Promise<PvaTestClient> {
    const [ours, theirs] = duplexPair(highWaterMark);
    server.attach(ours, '10.1.2.3');
    const c = new PvaTestClient(theirs);
    const status = await c.connect(auth);
    assert.equal(status.type, StatusType.OK, status.message);
    return c;
  }

  it('a PUT goes through the record: an ao clamps to DRVH, and a GET reads the result back', async () => {
    const c = await client({ method: 'ca', user: 'alice', host: 'opi1' });
    const sid = await c.channel('t:ao');
    const status = await c.put(sid, 30);
    assert.equal(status.type, StatusType.OK, status.message);
    assert.equal(await c.get(sid), 8);
    assert.equal(database.lookup('t:ao')!.snapshot().value[0], 8, 'CA sees the same value');
    assert.deepEqual(audits.map((a) => [a.pv, a.client.user, a.client.host, a.client.address, a.outcome, Array.from(a.value as ArrayLike<number>)]), [
      ['t:ao', 'alice', 'opi1', '10.1.2.3', 'done', [30]],
    ]);
  });

  it('access security takes the ca user: alice writes an OPS record, bob is refused and the refusal is audited', async () => {
    const alice = await client({ method: 'ca', user: 'alice', host: 'opi1' });
    assert.equal((await alice.put(await alice.channel('t:guarded'), 2)).type, StatusType.OK);
    const bob = await client({ method: 'ca', user: 'bob', host: 'opi1' });
    const refused = await bob.put(await bob.channel('t:guarded'), 3);
    assert.equal(refused.type, StatusType.ERROR);
    assert.equal(refused.message, 'Put not permitted');
    assert.equal(database.lookup('t:guarded')!.snapshot().value[0], 2);
    assert.deepEqual(audits.map((a) => [a.client.user, a.outcome]), [['alice', 'done'], ['bob', 'denied']]);
  });

  it('an anonymous client is a user no UAG names: refused where a UAG is needed, allowed where everyone may write', async () => {
    const anon = await client({ method: 'anonymous' });
    assert.equal((await anon.put(await anon.channel('t:guarded'), 5)).message, 'Put not permitted');
    assert.equal((await anon.put(await anon.channel('t:ao'), 5)).type, StatusType.OK);
    assert.deepEqual(audits.map((a) => [a.pv, a.client.user, a.client.host, a.outcome]), [['t:guarded', '', '10.1.2.3', 'denied'], ['t:ao', '', '10.1.2.3', 'done']]);
  });

  it('the ca host is what HAG rules match', async () => {
    const atConsole = await client({ method: 'ca', user: 'carol', host: 'ctl1' });
    assert.equal((await atConsole.put(await atConsole.channel('t:bench'), 4)).type, StatusType.OK);
    const elsewhere = await client({ method: 'ca', user: 'carol', host: 'laptop' });
    assert.equal((await elsewhere.put(await elsewhere.channel('t:bench'), 6)).message, 'Put not permitted');
    assert.deepEqual(audits.map((a) => [a.client.host, a.outcome]), [['ctl1', 'done'], ['laptop', 'denied']]);
  });

  it('a put the record refuses fails with its reason, and the failure is audited', async () => {
    const c = await client({ method: 'ca', user: 'alice', host: 'opi1' });
    const status = await c.put(await c.channel('t:ao.SCAN'), 99);
    assert.equal(status.type, StatusType.ERROR);
    assert.match(status.message, /99 is not a choice of SCAN/);
    assert.deepEqual(audits.map((a) => [a.pv, a.outcome]), [['t:ao.SCAN', 'failed']]);
    assert.match(audits[0].reason ?? '', /not a choice/);
  });

  it('an array PUT with more elements than NELM keeps the first NELM, as dbPut cuts what QSRV hands it', async () => {
    const c = await client({ method: 'anonymous' });
    const sid = await c.channel('t:wf');
    assert.equal((await c.put(sid, [1, 2, 3, 4, 5, 6])).type, StatusType.OK);
    assert.deepEqual(Array.from(await c.get(sid) as ArrayLike<number>), [1, 2, 3, 4]);
    assert.equal(database.lookup('t:wf.NORD')!.snapshot().value[0], 4);
  });

  it('an INT64 waveform is served as int64 elements, which a PUT stores as they came', async () => {
    const c = await client({ method: 'anonymous' });
    const sid = await c.channel('t:i64');
    assert.equal((await c.put(sid, BigInt64Array.from([-1n, 2n ** 40n + 1n, -(2n ** 63n)]))).type, StatusType.OK);
    const got = await c.get(sid);
    assert.ok(got instanceof BigInt64Array, 'int64 elements');
    assert.deepEqual(Array.from(got), [-1n, 2n ** 40n + 1n, -(2n ** 63n)]);
    assert.deepEqual(Array.from(database.lookup('t:i64')!.snapshot().value as ArrayLike<number>), [-1, 2 ** 40 + 1, -(2 ** 63)]);
  });

  it("a PUT goes through the PV's convertWrite as a CA write does: what it returns is written, what it refuses fails the put", async () => {
    const real = database.lookup('t:wf')!;
    const calls: Array<[number[], NativeType]> = [];
    // The waveform's own PV, with a conversion that shows it was used: doubles each element, refuses 13.
    const spy = Object.create(real, {
      convertWrite: {
        value: (value: DbrValue, from: NativeType): DbrValue => {
          const elements = Array.from(value as ArrayLike<number>);
          calls.push([elements, from]);
          if (elements.includes(13)) throw new WriteError(Eca.PUTFAIL, 't:wf: 13 refused');
          return Float64Array.from(elements, (v) => v * 2);
        },
      },
    }) as ProcessVariable;
    const spied = new PvaServer({
      directory: { lookup: (name) => (name === 't:wf' ? spy : database.lookup(name)) },
      config: pvaConfigFromEnv({}),
      log: memoryLogger([], 'error'),
      dbfType: fieldDbfType,
      audit: (a) => audits.push(a),
    });
    const [ours, theirs] = duplexPair();
    spied.attach(ours, '10.1.2.3');
    const c = new PvaTestClient(theirs);
    assert.equal((await c.connect({ method: 'anonymous' })).type, StatusType.OK);
    const sid = await c.channel('t:wf');
    assert.equal((await c.put(sid, [1, 2, 3, 4, 5])).type, StatusType.OK);
    assert.deepEqual(Array.from(await c.get(sid) as ArrayLike<number>), [2, 4, 6, 8]);
    const refused = await c.put(sid, [7, 13]);
    assert.equal(refused.type, StatusType.ERROR);
    assert.equal(refused.message, 't:wf: 13 refused');
    assert.deepEqual(Array.from(await c.get(sid) as ArrayLike<number>), [2, 4, 6, 8]);
    assert.deepEqual(calls, [[[1, 2, 3, 4], DbrType.DOUBLE], [[7, 13], DbrType.DOUBLE]]);
    assert.deepEqual(audits.map((a) => [a.outcome, Array.from(a.value as ArrayLike<number>)]), [['done', [2, 4, 6, 8]], ['failed', [7, 13]]]);
  });

  it('a client that does not read: its monitor queue stays bounded, and the newest value arrives once it reads', async () => {
    const c = await client({ method: 'anonymous' }, 1024);
    const mon = await c.monitor(await c.channel('t:fast'));
    while (mon.updates.length === 0) await mon.nextUpdate();
    c.stream.pause();
    const pv = database.lookup('t:fast')!;
    const PUTS = 5000;
    for (let i = 1; i <= PUTS; i++) await pv.write({ value: [i], client: { user: 'x', host: 'x', address: 'x' }, notify: false });
    c.stream.resume();
    const last = (): unknown => getField(mon.updates[mon.updates.length - 1].value, 'value');
    while (last() !== PUTS) await mon.nextUpdate();
    // What a stalled socket holds, plus the subscription's queue (4 deep): far fewer than the puts.
    assert.ok(mon.updates.length < PUTS / 10, `${mon.updates.length} updates for ${PUTS} puts`);
    const values = mon.updates.map((u) => getField(u.value, 'value') as number);
    assert.deepEqual(values, [...values].sort((a, b) => a - b), 'updates in order');
  });
});

describe('pvAccess server: connections that never validate', () => {
  it('a client that does not validate within the handshake timeout is closed and counted; one that validates stays', async () => {
    const clock = new FakeScheduler();
    const server = new PvaServer({ directory: new MapDirectory(), log: memoryLogger([], 'error'), scheduler: clock, handshakeTimeoutMs: 5000, config: pvaConfigFromEnv({}) });
    const [silentEnd] = duplexPair();
    const silent = server.attach(silentEnd, '10.0.0.8');
    const [ours, theirs] = duplexPair();
    const talker = server.attach(ours, '10.0.0.9');
    const status = await new PvaTestClient(theirs).connect({ method: 'anonymous' });
    assert.equal(status.type, StatusType.OK, status.message);
    assert.equal(silent.isSilent, true);
    assert.equal(talker.isSilent, false);
    const reason = new Promise<string>((resolve) => silent.onClose(resolve));
    clock.advanceTo(4999);
    assert.equal(silent.isClosed, false, 'not before the timeout');
    clock.advanceTo(5000);
    assert.match(await reason, /no connection validation within 5000 ms/);
    assert.equal(talker.isClosed, false);
    assert.equal(server.connectionCount, 1);
    assert.equal(server.counters.silentConnectionsClosed, 1);
    assert.equal(clock.pending, 0, 'the validated connection keeps no timer');
  });
});

describe('pvAccess server: channels per connection', () => {
  it('a client past the channel limit gets an error for each further channel, the log says so once a burst, and its other channels go on', async () => {
    const lines: string[] = [];
    const clock = new FakeScheduler();
    const directory = new MapDirectory()
      .add(new SimplePv({ name: 'a', type: DbrType.DOUBLE, value: [1] }))
      .add(new SimplePv({ name: 'b', type: DbrType.DOUBLE, value: [2] }))
      .add(new SimplePv({ name: 'c', type: DbrType.DOUBLE, value: [3] }));
    const server = new PvaServer({ directory, log: memoryLogger(lines, 'info'), scheduler: clock, maxChannels: 2, config: pvaConfigFromEnv({}) });
    const [ours, theirs] = duplexPair();
    server.attach(ours, '10.0.0.9');
    const c = new PvaTestClient(theirs);
    assert.equal((await c.connect({ method: 'ca', user: 'greedy', host: 'opi2' })).type, StatusType.OK);
    const a = await c.channel('a');
    await c.channel('b');
    await assert.rejects(c.channel('c'), /channel limit reached: 2 channels on one connection/);
    await assert.rejects(c.channel('c'), /channel limit reached/);
    assert.equal(await c.get(a), 1, 'the channels it has still serve');
    const limit = lines.filter((l) => /limit of 2 channels/.test(l));
    assert.equal(limit.length, 1, lines.join('\n'));
    assert.match(limit[0], /a client \(greedy@opi2\(10\.0\.0\.9\)\) reached the limit of 2 channels on one connection; further channels fail/);
    clock.advanceTo(10_000);
    assert.ok(lines.some((l) => /channel limit reached: 1 more time in that burst/.test(l)), lines.join('\n'));
    await server.stop();
  });
});
