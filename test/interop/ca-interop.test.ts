/**
 * Interop: real libca (Debian's libca through pyepics, test/interop/py/pyca.py)
 * against the CA server serving the in-memory PVs of
 * test/fixtures/ca-test-server.ts. Every assertion is about what a user of
 * libca sees. Facts and expected behaviour: /work/shared/reference/channel-access.md
 * (RSRV and real libca are authoritative).
 */
import { strict as assert } from 'node:assert';
import * as os from 'node:os';
import { startTestServer, type TestServer } from '../helpers/ca-fixture';
import { clientEnv, PyCa, type Reply } from '../helpers/pyca';
import { checkPyepics, freeCaPorts, requireDependency } from '../helpers/system';

// DBR families: plain = native, TIME = +14, CTRL = +28.
const TIME = 14;
const CTRL = 28;
const DBR_STSACK_STRING = 37;
const DBE_VALUE = 1;
const DBE_LOG = 2;
const DBE_ALARM = 4;
const ECA_NORMAL = 1;
const ECA_PUTFAIL = 160;
const ECA_BADCOUNT = 176;
/** libca's exception op for a failed plain write (cadef.h CA_OP_PUT). */
const CA_OP_PUT = 1;

interface GetResult {
  value: unknown;
  status?: number;
  severity?: number;
  timestamp?: number;
  posixseconds?: number;
  nanoseconds?: number;
  units?: string;
  precision?: number;
  enum_strs?: string[];
  [limit: string]: unknown;
}

interface MonitorEvent {
  value: unknown;
  status: number;
  severity: number;
  timestamp?: number;
  units?: string;
  upper_disp_limit?: number;
}

interface RawEvent {
  status: number;
  count: number;
  hex: string;
}

interface LibcaException {
  stat: number;
  op: number;
  ctx: string;
}

const LIMIT_KEYS = [
  'upper_disp_limit', 'lower_disp_limit', 'upper_alarm_limit', 'upper_warning_limit',
  'lower_warning_limit', 'lower_alarm_limit', 'upper_ctrl_limit', 'lower_ctrl_limit',
] as const;

async function get(c: PyCa, pv: string, opts: Record<string, unknown> = {}): Promise<GetResult> {
  const r = await c.request('get', { pv, ...opts });
  assert.ok(r.result, `get ${pv} ${JSON.stringify(opts)} failed: ${JSON.stringify(r)}`);
  return r.result as GetResult;
}

async function rawget(c: PyCa, pv: string, ftype: number, count = 1): Promise<Reply> {
  return c.request('rawget', { pv, ftype, count });
}

async function connect(c: PyCa, pv: string, timeout = 3.0): Promise<Reply> {
  return c.request('connect', { pv, timeout });
}

/** Wait until the monitor has at least `n` events; returns all of them. */
async function events<T = MonitorEvent>(c: PyCa, mid: string, n: number, timeout = 5.0): Promise<T[]> {
  const r = await c.request('events', { mid, atleast: n, timeout });
  return r.events as T[];
}

/** Wait for an event matching `pred`, event by event (no fixed sleeps). */
async function waitEvent<T = MonitorEvent>(c: PyCa, mid: string, pred: (e: T) => boolean, timeoutMs = 10000): Promise<T[]> {
  const deadline = Date.now() + timeoutMs;
  let seen: T[] = await events<T>(c, mid, 0, 0);
  while (!seen.some(pred)) {
    if (Date.now() > deadline) assert.fail(`no event matching on ${mid}; got ${JSON.stringify(seen)}`);
    seen = await events<T>(c, mid, seen.length + 1, 1.0);
  }
  return seen;
}

/** Little helpers to read libca's host-order DBR structs. */
const LE = os.endianness() === 'LE';
function u16(b: Buffer, off: number): number {
  return LE ? b.readUInt16LE(off) : b.readUInt16BE(off);
}
function f64(b: Buffer, off: number): number {
  return LE ? b.readDoubleLE(off) : b.readDoubleBE(off);
}
function cString(b: Buffer): string {
  const end = b.indexOf(0);
  return b.subarray(0, end < 0 ? b.length : end).toString('latin1');
}

interface StsAck { status: number; severity: number; ackt: number; acks: number; value: string }

/** struct dbr_stsack_string: u16 status, severity, ackt, acks, char value[40]. */
function decodeStsack(hex: string): StsAck {
  const b = Buffer.from(hex, 'hex');
  assert.ok(b.length >= 48, `STSACK_STRING of ${b.length} bytes`);
  return { status: u16(b, 0), severity: u16(b, 2), ackt: u16(b, 4), acks: u16(b, 6), value: cString(b.subarray(8, 48)) };
}

async function stsack(c: PyCa, pv: string): Promise<StsAck> {
  const r = await rawget(c, pv, DBR_STSACK_STRING);
  assert.equal(r.status, ECA_NORMAL, JSON.stringify(r));
  return decodeStsack(r.hex as string);
}

function assertNear(actual: unknown, expected: number, what: string): void {
  assert.equal(typeof actual, 'number', `${what}: ${JSON.stringify(actual)}`);
  assert.ok(Math.abs((actual as number) - expected) < 1e-9, `${what}: ${String(actual)} != ${expected}`);
}

describe('interop: real libca (pyepics) against the CA server', function () {
  this.timeout(30000);
  let server: TestServer;
  let client: PyCa;
  /** POSIX seconds, just before the server created its PVs. */
  let startedAt: number;

  before(async function () {
    requireDependency(this, checkPyepics());
    startedAt = Date.now() / 1000;
    server = await startTestServer();
    client = await PyCa.start(clientEnv(server.port, server.repeaterPort));
  });
  after(async () => {
    await client?.stop();
    await server?.stop();
  });

  /** A timestamp libca delivered: taken by the server between `from` and now (1 s slack). */
  function assertRecentTimestamp(r: GetResult | MonitorEvent, from: number, what: string): void {
    assert.equal(typeof r.timestamp, 'number', `${what}: no timestamp in ${JSON.stringify(r)}`);
    const ts = r.timestamp as number;
    const now = Date.now() / 1000;
    assert.ok(ts >= from - 1 && ts <= now + 1, `${what}: timestamp ${ts} not within [${from}, ${now}] (EPICS epoch is 1990)`);
  }

  describe('get of every native type (plain, TIME, CTRL)', () => {
    interface NativeCase {
      pv: string;
      ftype: number;
      value: string | number;
      units?: string;
      precision?: number;
      limits?: Partial<Record<(typeof LIMIT_KEYS)[number], number>>;
      enumStrs?: string[];
    }
    const cases: NativeCase[] = [
      { pv: 'test:string', ftype: 0, value: 'hello' },
      { pv: 'test:short', ftype: 1, value: -123, units: 'cts', limits: { upper_disp_limit: 1000, lower_disp_limit: -1000 } },
      { pv: 'test:float', ftype: 2, value: 1.5, units: 'V', precision: 2, limits: {} },
      { pv: 'test:enum', ftype: 3, value: 1, enumStrs: ['Off', 'On', 'Fault'] },
      { pv: 'test:char', ftype: 4, value: 200, units: '', limits: {} },
      { pv: 'test:long', ftype: 5, value: 123456789, units: 'ms', limits: { upper_ctrl_limit: 1e6, lower_ctrl_limit: -5 } },
      {
        pv: 'test:double', ftype: 6, value: 3.14159, units: 'mm', precision: 3,
        limits: {
          upper_disp_limit: 10, lower_disp_limit: -10, upper_alarm_limit: 9, upper_warning_limit: 8,
          lower_warning_limit: -8, lower_alarm_limit: -9, upper_ctrl_limit: 5, lower_ctrl_limit: -5,
        },
      },
    ];

    for (const t of cases) {
      it(`${t.pv}: native type ${t.ftype}, one element, readable and writable`, async () => {
        const r = await connect(client, t.pv);
        assert.equal(r.connected, true, JSON.stringify(r));
        assert.equal(r.ftype, t.ftype);
        assert.equal(r.count, 1);
        assert.equal(r.read, true);
        assert.equal(r.write, true);
      });

      it(`${t.pv}: plain get gives the value`, async () => {
        const r = await get(client, t.pv);
        assert.deepEqual(r.value, t.value);
      });

      it(`${t.pv}: TIME get gives value, NO_ALARM and a current timestamp`, async () => {
        const r = await get(client, t.pv, { ftype: t.ftype + TIME });
        assert.deepEqual(r.value, t.value);
        assert.equal(r.status, 0);
        assert.equal(r.severity, 0);
        assertRecentTimestamp(r, startedAt, t.pv);
        assert.ok((r.nanoseconds as number) >= 0 && (r.nanoseconds as number) < 1e9, `nanoseconds ${r.nanoseconds}`);
      });

      it(`${t.pv}: CTRL get gives value, alarm and the metadata`, async () => {
        const r = await get(client, t.pv, { ftype: t.ftype + CTRL });
        assert.deepEqual(r.value, t.value);
        assert.equal(r.status, 0);
        assert.equal(r.severity, 0);
        if (t.units !== undefined) assert.equal(r.units, t.units);
        if (t.precision !== undefined) assert.equal(r.precision, t.precision);
        if (t.limits) {
          // Limits the PV does not set read as 0, as in a softIoc.
          for (const k of LIMIT_KEYS) assert.equal(r[k], t.limits[k] ?? 0, `${t.pv} ${k}`);
        }
        if (t.enumStrs) assert.deepEqual(r.enum_strs, t.enumStrs);
      });
    }

    it('enum labels: CTRL carries them and as_string gives the label of the value', async () => {
      const ctrl = await get(client, 'test:enum', { ftype: 3 + CTRL });
      assert.deepEqual(ctrl.enum_strs, ['Off', 'On', 'Fault']);
      assert.equal(ctrl.value, 1);
      // pyepics only maps enums to labels for a one-element request.
      const s = await get(client, 'test:enum', { as_string: true, count: 1 });
      assert.equal(s.value, 'On');
    });

    it('the server converts to requested types (DBR_STRING of an enum is its label, of a double uses PREC)', async () => {
      assert.equal((await get(client, 'test:enum', { ftype: 0 })).value, 'On');
      assert.equal((await get(client, 'test:double', { ftype: 0 })).value, '3.142');
      assert.equal((await get(client, 'test:long', { ftype: 0 })).value, '123456789');
      assert.equal((await get(client, 'test:short', { ftype: 6 })).value, -123);
      assert.equal((await get(client, 'test:string', { ftype: 0 + TIME })).value, 'hello');
      assert.equal((await get(client, 'test:char', { ftype: 5 })).value, 200);
    });
  });

  describe('arrays', () => {
    it('fixed length (test:fixed, LONG x 8): all elements, or the first n', async () => {
      const c = await connect(client, 'test:fixed');
      assert.equal(c.ftype, 5);
      assert.equal(c.count, 8);
      assert.deepEqual((await get(client, 'test:fixed')).value, [0, 1, 4, 9, 16, 25, 36, 49]);
      assert.deepEqual((await get(client, 'test:fixed', { count: 3 })).value, [0, 1, 4]);
      const t = await get(client, 'test:fixed', { ftype: 5 + TIME });
      assert.deepEqual(t.value, [0, 1, 4, 9, 16, 25, 36, 49]);
      assert.equal(t.severity, 0);
    });

    it('dynamic length (test:waveform, max 100): count 0 gives the current length, which follows the value', async () => {
      const c = await connect(client, 'test:waveform');
      assert.equal(c.ftype, 6);
      assert.equal(c.count, 100, 'the channel advertises the maximum');

      const r0 = await rawget(client, 'test:waveform', 6, 0);
      assert.equal(r0.status, ECA_NORMAL, JSON.stringify(r0));
      assert.equal(r0.count, 10, 'count 0 = current length');
      const g0 = await get(client, 'test:waveform');
      assert.deepEqual(g0.value, Array.from({ length: 10 }, (_, i) => i * 1.5));

      // A count-0 monitor (what pyepics and Phoebus use) follows the length too.
      await client.request('monitor', { pv: 'test:waveform', mid: 'wf', count: 0 });
      assert.equal(((await events(client, 'wf', 1))[0].value as number[]).length, 10);

      const next = Array.from({ length: 25 }, (_, i) => 100 + i);
      await server.command({ set: 'test:waveform', value: next });
      const r1 = await rawget(client, 'test:waveform', 6, 0);
      assert.equal(r1.count, 25);
      assert.deepEqual((await get(client, 'test:waveform')).value, next);
      const wf = await waitEvent(client, 'wf', (x) => Array.isArray(x.value) && x.value.length === 25);
      assert.deepEqual(wf[wf.length - 1].value, next);
      await client.request('unmonitor', { mid: 'wf' });

      // Asking for more than the current length (within the maximum): RSRV zero-fills the rest.
      const r2 = await rawget(client, 'test:waveform', 6, 50);
      assert.equal(r2.status, ECA_NORMAL, JSON.stringify(r2));
      assert.equal(r2.count, 50);
      const b = Buffer.from(r2.hex as string, 'hex');
      const vals = Array.from({ length: 50 }, (_, i) => f64(b, i * 8));
      assert.deepEqual(vals, [...next, ...new Array<number>(25).fill(0)]);
    });

    it('a client put of fewer elements sets the current length', async () => {
      const p = await client.request('put', { pv: 'test:waveform', value: [1.25, 2.5, 3.75], wait: true });
      assert.equal(p.status, ECA_NORMAL, JSON.stringify(p));
      assert.equal((await rawget(client, 'test:waveform', 6, 0)).count, 3);
      assert.deepEqual((await get(client, 'test:waveform')).value, [1.25, 2.5, 3.75]);
    });

    it('a count larger than the maximum fails', async () => {
      const r = await rawget(client, 'test:waveform', 6, 101);
      assert.equal(r.ret, ECA_BADCOUNT, JSON.stringify(r));
      // The channel still works afterwards.
      assert.equal((await rawget(client, 'test:waveform', 6, 0)).status, ECA_NORMAL);
    });

    it('a long string as a CHAR array (test:text) reads and writes with as_string', async () => {
      const c = await connect(client, 'test:text');
      assert.equal(c.ftype, 4);
      assert.equal(c.count, 256);
      assert.equal((await get(client, 'test:text', { as_string: true })).value, 'a long string of text');
      const long = 'The quick brown fox jumps over the lazy dog, then keeps running well past forty characters: ' +
        'more than a DBR_STRING can hold.';
      assert.ok(long.length > 40 && long.length < 255);
      const p = await client.request('put', { pv: 'test:text', value: long, wait: true });
      assert.equal(p.status, ECA_NORMAL, JSON.stringify(p));
      assert.equal((await get(client, 'test:text', { as_string: true })).value, long);
    });
  });

  describe('puts', () => {
    it('put without wait: the value reads back, no exception', async () => {
      const p = await client.request('put', { pv: 'test:rw', value: 4.25, poll: 0 });
      assert.equal(p.ret, ECA_NORMAL, JSON.stringify(p));
      // The get goes over the same circuit after the write: an ERROR for the write would come first.
      assertNear((await get(client, 'test:rw')).value, 4.25, 'readback');
      const ex = await client.request('exceptions', { atleast: 0, timeout: 0 });
      assert.deepEqual(ex.exceptions, []);
    });

    it('put with wait: put-callback ECA_NORMAL, then the value reads back with a fresh timestamp', async () => {
      const before = Date.now() / 1000;
      const p = await client.request('put', { pv: 'test:rw', value: 7.5, wait: true });
      assert.equal(p.ret, 1, JSON.stringify(p));
      assert.equal(p.status, ECA_NORMAL, JSON.stringify(p));
      const r = await get(client, 'test:rw', { ftype: 6 + TIME });
      assertNear(r.value, 7.5, 'readback');
      assertRecentTimestamp(r, before, 'after put');
    });

    it('put with wait to a slow PV returns only when the write has completed', async () => {
      await client.request('monitor', { pv: 'test:slow', mid: 'slow', mask: DBE_VALUE });
      const initial = await events(client, 'slow', 1);
      assert.equal(initial[0].value, 0);
      const p = await client.request('put', { pv: 'test:slow', value: 5, wait: true });
      assert.equal(p.status, ECA_NORMAL, JSON.stringify(p));
      assert.ok((p.elapsed as number) >= 0.45, `put with wait returned after ${String(p.elapsed)} s; the write takes 500 ms`);
      // The update the write posted came before the put-callback reply: it is already here.
      const seen = await events(client, 'slow', 0, 0);
      assert.deepEqual(seen.map((e) => e.value), [0, 5]);
      assert.equal((await get(client, 'test:slow')).value, 5);
      await client.request('unmonitor', { mid: 'slow' });
    });

    it('a failing write with wait: put-callback status ECA_PUTFAIL, value unchanged', async () => {
      const p = await client.request('put', { pv: 'test:fail', value: 9, wait: true });
      assert.equal(p.status, ECA_PUTFAIL, JSON.stringify(p));
      assert.equal((await get(client, 'test:fail')).value, 0);
    });

    it('a failing write without wait: libca raises an exception with ECA_PUTFAIL', async () => {
      const p = await client.request('put', { pv: 'test:fail', value: 9, poll: 0 });
      assert.equal(p.ret, ECA_NORMAL, 'the request itself is accepted by libca');
      const ex = await client.request('exceptions', { atleast: 1, timeout: 5 });
      const list = ex.exceptions as LibcaException[];
      assert.equal(list.length, 1, JSON.stringify(list));
      assert.equal(list[0].stat, ECA_PUTFAIL, JSON.stringify(list));
      assert.equal(list[0].op, CA_OP_PUT, JSON.stringify(list));
      assert.equal((await get(client, 'test:fail')).value, 0);
    });

    it('no write access: the client sees read=True write=False, pyepics refuses the put', async () => {
      const c = await connect(client, 'test:readonly');
      assert.equal(c.connected, true);
      assert.equal(c.read, true);
      assert.equal(c.write, false);
      const info = await client.request('info', { pv: 'test:readonly' });
      assert.equal(info.read, true);
      assert.equal(info.write, false);
      const p = await client.request('put', { pv: 'test:readonly', value: 8, wait: true });
      assert.ok(typeof p.raised === 'string', `put to a read-only PV did not raise: ${JSON.stringify(p)}`);
      const q = await client.request('put', { pv: 'test:readonly', value: 8, poll: 0 });
      assert.ok(typeof q.raised === 'string', `put to a read-only PV did not raise: ${JSON.stringify(q)}`);
      assert.equal((await get(client, 'test:readonly')).value, 7);
    });

    const roundTrips: Array<{ pv: string; value: string | number; original: string | number }> = [
      { pv: 'test:string', value: 'world', original: 'hello' },
      { pv: 'test:short', value: -321, original: -123 },
      { pv: 'test:float', value: 2.25, original: 1.5 },
      { pv: 'test:enum', value: 2, original: 1 },
      { pv: 'test:char', value: 250, original: 200 },
      { pv: 'test:long', value: -98765, original: 123456789 },
      { pv: 'test:double', value: -1.125, original: 3.14159 },
    ];
    for (const t of roundTrips) {
      it(`${t.pv}: put with wait and without, each value reads back`, async () => {
        const p = await client.request('put', { pv: t.pv, value: t.value, wait: true });
        assert.equal(p.status, ECA_NORMAL, `put ${JSON.stringify(t.value)} with wait: ${JSON.stringify(p)}`);
        assert.equal((await get(client, t.pv)).value, t.value);
        // Put the original back without waiting; the get after it on the same circuit sees it.
        const q = await client.request('put', { pv: t.pv, value: t.original, poll: 0 });
        assert.equal(q.ret, ECA_NORMAL, JSON.stringify(q));
        assert.equal((await get(client, t.pv)).value, t.original);
        assert.deepEqual((await client.request('exceptions', { atleast: 0, timeout: 0 })).exceptions, []);
      });
    }

    it('DBR_STRING to an enum: a label or an index in range is accepted, anything else is ECA_PUTFAIL', async () => {
      let p = await client.request('rawput', { pv: 'test:mode', ftype: 0, value: 'Fault', wait: true });
      assert.equal(p.status, ECA_NORMAL, JSON.stringify(p));
      assert.equal((await get(client, 'test:mode')).value, 2);
      assert.equal((await get(client, 'test:mode', { as_string: true, count: 1 })).value, 'Fault');

      p = await client.request('rawput', { pv: 'test:mode', ftype: 0, value: '1', wait: true });
      assert.equal(p.status, ECA_NORMAL, JSON.stringify(p));
      assert.equal((await get(client, 'test:mode')).value, 1);

      // RSRV: any failure of a put-callback is reported as ECA_PUTFAIL (camessage.c write_notify_reply).
      p = await client.request('rawput', { pv: 'test:mode', ftype: 0, value: 'Bogus', wait: true });
      assert.equal(p.status, ECA_PUTFAIL, JSON.stringify(p));
      assert.equal((await get(client, 'test:mode')).value, 1);

      // The same as a plain write: RSRV's write_action answers any failed put with ECA_PUTFAIL.
      p = await client.request('rawput', { pv: 'test:mode', ftype: 0, value: 'Bogus' });
      assert.equal(p.ret, ECA_NORMAL, JSON.stringify(p));
      const ex = (await client.request('exceptions', { atleast: 1, timeout: 5 })).exceptions as LibcaException[];
      assert.equal(ex.length, 1, JSON.stringify(ex));
      assert.equal(ex[0].stat, ECA_PUTFAIL, JSON.stringify(ex));
      assert.equal((await get(client, 'test:mode')).value, 1);
    });
  });

  describe('monitors', () => {
    it('VALUE vs LOG|ALARM (the archiver) vs VALUE|ALARM (pyepics default)', async () => {
      await client.request('monitor', { pv: 'test:monitor', mid: 'value', mask: DBE_VALUE });
      await client.request('monitor', { pv: 'test:monitor', mid: 'archive', mask: DBE_LOG | DBE_ALARM });
      await client.request('monitor', { pv: 'test:monitor', mid: 'display', mask: DBE_VALUE | DBE_ALARM });
      // Each gets the current value at once.
      for (const mid of ['value', 'archive', 'display']) {
        const e = await events(client, mid, 1);
        assert.equal(e.length, 1, `${mid}: ${JSON.stringify(e)}`);
        assert.equal(e[0].value, 0);
        assert.equal(e[0].severity, 0);
        assertRecentTimestamp(e[0], startedAt, mid);
      }

      // An alarm-only change (HIGH, MINOR).
      await server.command({ alarm: 'test:monitor', status: 4, severity: 1 });
      for (const mid of ['archive', 'display']) {
        const e = await events(client, mid, 2);
        assert.equal(e.length, 2, `${mid}: ${JSON.stringify(e)}`);
        assert.equal(e[1].value, 0);
        assert.equal(e[1].status, 4);
        assert.equal(e[1].severity, 1);
      }

      // A value change reaches all three.
      await server.command({ set: 'test:monitor', value: [2.5] });
      const v = await events(client, 'value', 2);
      // Had the alarm reached the VALUE-only monitor, it would have come before this update.
      assert.equal(v.length, 2, `the VALUE-only monitor got the alarm-only change: ${JSON.stringify(v)}`);
      assert.equal(v[1].value, 2.5);
      assert.equal(v[1].severity, 1, 'the update carries the current alarm');
      for (const mid of ['archive', 'display']) {
        const e = await events(client, mid, 3);
        assert.equal(e.length, 3, `${mid}: ${JSON.stringify(e)}`);
        assert.equal(e[2].value, 2.5);
      }
      for (const mid of ['value', 'archive', 'display']) await client.request('unmonitor', { mid });
    });

    it('a CTRL monitor carries the full metadata with every update', async () => {
      await client.request('monitor', { pv: 'test:monitor', mid: 'ctrl', form: 'ctrl', mask: DBE_VALUE | DBE_ALARM });
      const first = await events(client, 'ctrl', 1);
      assert.equal(first[0].units, 'mm');
      assert.equal(first[0].upper_disp_limit, 100);
      await server.command({ set: 'test:monitor', value: [-7.25] });
      const e = await waitEvent(client, 'ctrl', (x) => x.value === -7.25);
      const last = e[e.length - 1];
      assert.equal(last.value, -7.25);
      assert.equal(last.units, 'mm');
      assert.equal(last.upper_disp_limit, 100);
      await client.request('unmonitor', { mid: 'ctrl' });
    });
  });

  describe('alarm acknowledgement (ALH): STSACK_STRING, PUT_ACKS, PUT_ACKT', () => {
    const PV = 'test:alarm';

    it('STSACK_STRING decodes: status, severity, ackt, acks and the value as a string', async () => {
      const s = await stsack(client, PV);
      assert.deepEqual(s, { status: 0, severity: 0, ackt: 1, acks: 0, value: '3.142' });
    });

    it('ACKT=1: an alarm latches in ACKS until acknowledged with ACKS >= severity', async () => {
      // ALH monitors DBR_STSACK_STRING with mask ALARM.
      await client.request('rawmonitor', { pv: PV, mid: 'alh', ftype: DBR_STSACK_STRING, mask: DBE_ALARM });
      const e0 = await events<RawEvent>(client, 'alh', 1);
      assert.equal(decodeStsack(e0[0].hex).acks, 0);

      await server.command({ alarm: PV, status: 3, severity: 2 }); // HIHI, MAJOR
      let e = await waitEvent<RawEvent>(client, 'alh', (x) => decodeStsack(x.hex).severity === 2);
      assert.deepEqual(decodeStsack(e[e.length - 1].hex), { status: 3, severity: 2, ackt: 1, acks: 2, value: '3.142' });

      // The alarm goes away; it stays unacknowledged.
      await server.command({ alarm: PV, status: 0, severity: 0 });
      e = await waitEvent<RawEvent>(client, 'alh', (x) => decodeStsack(x.hex).severity === 0 && decodeStsack(x.hex).acks === 2);
      assert.deepEqual(await stsack(client, PV), { status: 0, severity: 0, ackt: 1, acks: 2, value: '3.142' });

      // Acknowledging below the latched severity does nothing.
      await client.request('putack', { pv: PV, field: 'acks', value: 1 });
      assert.equal((await stsack(client, PV)).acks, 2);

      // Acknowledging at the latched severity clears it, and ALH is told.
      await client.request('putack', { pv: PV, field: 'acks', value: 2 });
      e = await waitEvent<RawEvent>(client, 'alh', (x) => decodeStsack(x.hex).acks === 0);
      assert.deepEqual(await stsack(client, PV), { status: 0, severity: 0, ackt: 1, acks: 0, value: '3.142' });
    });

    it('ACKT=0: transient alarms need no acknowledgement', async () => {
      await client.request('putack', { pv: PV, field: 'ackt', value: 0 });
      assert.equal((await stsack(client, PV)).ackt, 0);

      await server.command({ alarm: PV, status: 4, severity: 1 }); // HIGH, MINOR
      await waitEvent<RawEvent>(client, 'alh', (x) => decodeStsack(x.hex).severity === 1);
      assert.deepEqual(await stsack(client, PV), { status: 4, severity: 1, ackt: 0, acks: 1, value: '3.142' });

      // With ACKT 0, ACKS follows the severity down.
      await server.command({ alarm: PV, status: 0, severity: 0 });
      await waitEvent<RawEvent>(client, 'alh', (x) => decodeStsack(x.hex).severity === 0 && decodeStsack(x.hex).ackt === 0);
      assert.deepEqual(await stsack(client, PV), { status: 0, severity: 0, ackt: 0, acks: 0, value: '3.142' });
    });

    it('writing ACKT=0 while an alarm is latched above the severity drops ACKS to the severity', async () => {
      await client.request('putack', { pv: PV, field: 'ackt', value: 1 });
      await server.command({ alarm: PV, status: 3, severity: 2 });
      await server.command({ alarm: PV, status: 4, severity: 1 });
      await waitEvent<RawEvent>(client, 'alh', (x) => decodeStsack(x.hex).severity === 1 && decodeStsack(x.hex).ackt === 1);
      assert.deepEqual(await stsack(client, PV), { status: 4, severity: 1, ackt: 1, acks: 2, value: '3.142' });
      await client.request('putack', { pv: PV, field: 'ackt', value: 0 });
      assert.deepEqual(await stsack(client, PV), { status: 4, severity: 1, ackt: 0, acks: 1, value: '3.142' });
      await client.request('unmonitor', { mid: 'alh' });
    });
  });

  describe('two clients at once', () => {
    let other: PyCa;
    before(async () => {
      other = await PyCa.start(clientEnv(server.port, server.repeaterPort));
    });
    after(async () => {
      await other?.stop();
    });

    it("each sees the other's writes through its monitor", async () => {
      await client.request('monitor', { pv: 'test:shared', mid: 'a' });
      await other.request('monitor', { pv: 'test:shared', mid: 'b' });
      assert.equal((await events(client, 'a', 1))[0].value, 0);
      assert.equal((await events(other, 'b', 1))[0].value, 0);

      const pa = await client.request('put', { pv: 'test:shared', value: 11, wait: true });
      assert.equal(pa.status, ECA_NORMAL);
      await waitEvent(other, 'b', (x) => x.value === 11);

      const pb = await other.request('put', { pv: 'test:shared', value: 22, wait: true });
      assert.equal(pb.status, ECA_NORMAL);
      await waitEvent(client, 'a', (x) => x.value === 22);
      assert.deepEqual((await events(client, 'a', 3)).map((x) => x.value), [0, 11, 22]);
      assert.deepEqual((await events(other, 'b', 3)).map((x) => x.value), [0, 11, 22]);

      await client.request('unmonitor', { mid: 'a' });
      await other.request('unmonitor', { mid: 'b' });
    });
  });

  it('a channel to a missing PV times out (connected False), and the client carries on', async () => {
    const r = await connect(client, 'test:no-such-pv', 1.0);
    assert.equal(r.connected, false);
    assert.equal((await get(client, 'test:double')).value, 3.14159);
  });
});

describe('interop: libca reconnects after a server restart', function () {
  this.timeout(60000);
  let first: TestServer | undefined;
  let second: TestServer | undefined;
  let client: PyCa | undefined;

  before(function () {
    requireDependency(this, checkPyepics());
  });
  after(async () => {
    await client?.stop();
    await first?.stop();
    await second?.stop();
  });

  it('the channel disconnects, reconnects to the new server on the same ports and gets its value', async () => {
    const ports = await freeCaPorts();
    first = await startTestServer({ ports });
    client = await PyCa.start(clientEnv(ports.server, ports.repeater));
    assert.equal((await connect(client, 'test:long')).connected, true);
    assert.equal((await get(client, 'test:long')).value, 123456789);
    await client.request('monitor', { pv: 'test:long', mid: 'm', mask: DBE_VALUE | DBE_ALARM });
    await events(client, 'm', 1);

    await first.stop();
    const d = await client.request('wait_disconnected', { pv: 'test:long', timeout: 15 }, 20000);
    assert.equal(d.disconnected, true, 'the channel did not notice the server went away');

    // Without a caRepeater (Debian's libca package ships none) libca sees no beacons and
    // finds the new server by its search backoff alone: that takes ~10 s, hence the timeout.
    second = await startTestServer({ ports });
    await second.command({ set: 'test:long', value: [424242] });
    const c = await client.request('wait_connected', { pv: 'test:long', timeout: 40 }, 45000);
    assert.equal(c.connected, true, `no reconnect; client stderr: ${client.stderr().slice(-500)}`);
    assert.equal((await get(client, 'test:long')).value, 424242);
    // libca re-establishes the subscription: the monitor gets the new server's value.
    await waitEvent(client, 'm', (x) => x.value === 424242, 10000);
  });
});
