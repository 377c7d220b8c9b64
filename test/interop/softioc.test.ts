/**
 * Interop: `service-ioc softioc -m P=... -d file.db` (the built CLI) seen
 * through real libca (Debian's libca via pyepics, test/interop/py/pyca.py).
 * Every assertion is about what a user of a CA client sees: labels, metadata,
 * alarms, clamps, enum writes by label, waveform lengths, field PVs, archiver
 * style monitors, the `ioc` device support, and the server's ports.
 * Reference behaviour: EPICS base record support (aiRecord.c, aoRecord.c,
 * mbboRecord.c, waveformRecord.c) and RSRV; see /work/shared/reference.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { makeTempDir, removeTempDir, requireBuiltCli, startSoftIocCli, type RunningSoftIoc } from '../helpers/cli';
import { clientEnv, PyCa, serverEnv } from '../helpers/pyca';
import { checkPyepics, freeCaPorts, requireDependency } from '../helpers/system';

// DBR types: native, TIME = +14, CTRL = +28.
const DBR_STRING = 0;
const DBR_ENUM = 3;
const DBR_CHAR = 4;
const DBR_DOUBLE = 6;
const DBR_TIME_DOUBLE = DBR_DOUBLE + 14;
const DBR_TIME_ENUM = DBR_ENUM + 14;
const DBR_CTRL_ENUM = DBR_ENUM + 28;
const DBR_CTRL_DOUBLE = DBR_DOUBLE + 28;
const DBE_VALUE = 1;
const DBE_LOG = 2;
const DBE_ALARM = 4;
const ECA_NORMAL = 1;
const ECA_PUTFAIL = 160;
// menuAlarmSevr / menuAlarmStat
const NO_ALARM = 0;
const MINOR = 1;
const MAJOR = 2;
const STAT_HIHI = 3;
const STAT_HIGH = 4;
const STAT_STATE = 7;

const P = 'sioc:';

const DB = `# records for test/interop/softioc.test.ts
record(mbbi, "$(P)pump") {
  field(DESC, "Pump state")
  field(ZRST, "Off") field(ONST, "On") field(TWST, "Fault") field(THST, "Service")
  field(TWSV, "MAJOR")
  field(VAL, "1")
}
record(mbbo, "$(P)mode") {
  field(DESC, "Operating mode")
  field(ZRST, "Idle") field(ONST, "Running") field(TWST, "Fault")
  field(TWSV, "MAJOR")
  field(VAL, "0")
}
record(ao, "$(P)setpoint") {
  field(DESC, "Heater setpoint")
  field(EGU, "degC") field(PREC, "3")
  field(HOPR, "120") field(LOPR, "-120")
  field(DRVH, "100") field(DRVL, "-100")
  field(HIHI, "80") field(HIGH, "60") field(LOW, "-60") field(LOLO, "-80")
  field(HHSV, "MAJOR") field(HSV, "MINOR") field(LSV, "MINOR") field(LLSV, "MAJOR")
  field(VAL, "20")
}
record(ao, "$(P)heater") {
  field(DESC, "Heater power")
  field(EGU, "W") field(PREC, "1")
  field(DRVH, "100") field(DRVL, "0")
  field(HIHI, "80") field(HHSV, "MAJOR") field(HYST, "2")
  field(VAL, "10")
}
record(ai, "$(P)temp") {
  field(DESC, "Vessel temperature")
  field(EGU, "degC") field(PREC, "2")
  field(HOPR, "100") field(LOPR, "-10")
  field(HIHI, "50") field(HIGH, "40") field(LOW, "5") field(LOLO, "0")
  field(HHSV, "MAJOR") field(HSV, "MINOR") field(LSV, "MINOR") field(LLSV, "MAJOR")
  field(ADEL, "5") field(MDEL, "0")
}
record(ai, "$(P)quiet") {
  field(DESC, "Limits set, no alarm severities")
  field(HOPR, "100") field(LOPR, "0")
  field(HIHI, "50") field(HIGH, "40") field(LOW, "5") field(LOLO, "1")
  field(VAL, "20")
}
record(waveform, "$(P)trace") {
  field(DESC, "A trace")
  field(FTVL, "DOUBLE") field(NELM, "100")
}
record(longin, "$(P)heartbeat") {
  field(DESC, "Counts up once a second")
  field(DTYP, "ioc") field(INP, "@heartbeat") field(SCAN, "1 second")
}
`;
const RECORDS = 8;

interface GetResult {
  value: unknown;
  status?: number;
  severity?: number;
  units?: string;
  precision?: number;
  enum_strs?: string[];
  [key: string]: unknown;
}

interface MonitorEvent {
  value: unknown;
  status: number;
  severity: number;
}

async function get(c: PyCa, pv: string, opts: Record<string, unknown> = {}): Promise<GetResult> {
  const r = await c.request('get', { pv, ...opts });
  assert.ok(r.result, `get ${pv} ${JSON.stringify(opts)} failed: ${JSON.stringify(r)}`);
  return r.result as GetResult;
}

/** The value as the server converts it to DBR_STRING (what caget prints). */
async function getString(c: PyCa, pv: string): Promise<string> {
  const v = (await get(c, pv, { ftype: DBR_STRING })).value;
  assert.equal(typeof v, 'string', `${pv} as DBR_STRING: ${JSON.stringify(v)}`);
  return v as string;
}

/** A put with put-callback (pyepics put(wait=True)); asserts libca reported ECA_NORMAL. */
async function put(c: PyCa, pv: string, value: unknown): Promise<void> {
  const r = await c.request('put', { pv, value, wait: true });
  assert.equal(r.ret, 1, `put ${pv}=${JSON.stringify(value)}: ${JSON.stringify(r)}`);
  assert.equal(r.status, ECA_NORMAL, `put ${pv}=${JSON.stringify(value)}: ${JSON.stringify(r)}`);
}

/** ca_array_put_callback of a DBR_STRING; returns the put-callback status. */
async function putString(c: PyCa, pv: string, value: string): Promise<number> {
  const r = await c.request('rawput', { pv, ftype: DBR_STRING, value, wait: true });
  assert.equal(r.ret, ECA_NORMAL, `rawput ${pv}=${value}: ${JSON.stringify(r)}`);
  assert.equal(typeof r.status, 'number', `rawput ${pv}=${value}: no put-callback: ${JSON.stringify(r)}`);
  return r.status as number;
}

/** Wait until the monitor has at least `n` events; returns all of them. */
async function events(c: PyCa, mid: string, n: number, timeout = 5.0): Promise<MonitorEvent[]> {
  const r = await c.request('events', { mid, atleast: n, timeout });
  const evs = r.events as MonitorEvent[];
  assert.ok(evs.length >= n, `${mid}: ${evs.length} events, wanted ${n}: ${JSON.stringify(evs)}`);
  return evs;
}

function assertNear(actual: unknown, expected: number, what: string): void {
  assert.equal(typeof actual, 'number', `${what}: ${JSON.stringify(actual)}`);
  assert.ok(Math.abs((actual as number) - expected) < 1e-9, `${what}: ${String(actual)} != ${expected}`);
}

describe('interop: softioc from the command line, through libca', function () {
  this.timeout(60000);
  let dir: string;
  let ioc: RunningSoftIoc | undefined;
  let client: PyCa | undefined;
  let ports: { server: number; repeater: number };

  before(async function () {
    requireDependency(this, checkPyepics());
    requireBuiltCli();
    dir = makeTempDir('softioc-test-');
    fs.writeFileSync(path.join(dir, 'test.db'), DB);
    ports = await freeCaPorts();
    ioc = await startSoftIocCli(['-m', `P=${P}`, '-d', path.join(dir, 'test.db')], serverEnv(ports.server, ports.repeater));
    client = await PyCa.start(clientEnv(ports.server, ports.repeater));
  });
  after(async () => {
    await client?.stop();
    await ioc?.proc.stop();
    removeTempDir(dir);
  });
  const c = (): PyCa => client!;

  it('reports the records loaded and the TCP port from EPICS_CAS_SERVER_PORT', async () => {
    assert.equal(ioc!.records, RECORDS);
    assert.equal(ioc!.port, ports.server);
    const r = await c().request('connect', { pv: `${P}temp` });
    assert.equal(r.connected, true, JSON.stringify(r));
    assert.equal(r.ftype, DBR_DOUBLE);
    assert.match(String(r.host), new RegExp(`:${ports.server}$`), `libca's server address: ${String(r.host)}`);
  });

  describe('enum labels', () => {
    it('an mbbi serves ZRST, ONST, TWST, THST as its enum strings', async () => {
      const ctrl = await get(c(), `${P}pump`, { ftype: DBR_CTRL_ENUM });
      assert.deepEqual(ctrl.enum_strs, ['Off', 'On', 'Fault', 'Service']);
      assert.equal(ctrl.value, 1);
      assert.equal((await get(c(), `${P}pump`, { ftype: DBR_ENUM, count: 1, as_string: true })).value, 'On');
      assert.equal(await getString(c(), `${P}pump`), 'On');
    });

    it('an mbbo serves its labels, and a write of state 2 reads back as "Fault"', async () => {
      const ctrl = await get(c(), `${P}mode`, { ftype: DBR_CTRL_ENUM });
      assert.deepEqual(ctrl.enum_strs, ['Idle', 'Running', 'Fault']);
      await put(c(), `${P}mode`, 2);
      assert.equal((await get(c(), `${P}mode`, { ftype: DBR_ENUM, count: 1, as_string: true })).value, 'Fault');
      await put(c(), `${P}mode`, 0);
      assert.equal(await getString(c(), `${P}mode`), 'Idle');
    });
  });

  describe('CTRL metadata from the record fields', () => {
    it('ao: EGU, PREC, HOPR/LOPR, HIHI/HIGH/LOW/LOLO and DRVH/DRVL', async () => {
      const r = await get(c(), `${P}setpoint`, { ftype: DBR_CTRL_DOUBLE });
      assert.equal(r.units, 'degC');
      assert.equal(r.precision, 3);
      assertNear(r.upper_disp_limit, 120, 'upper_disp_limit = HOPR');
      assertNear(r.lower_disp_limit, -120, 'lower_disp_limit = LOPR');
      assertNear(r.upper_alarm_limit, 80, 'upper_alarm_limit = HIHI');
      assertNear(r.upper_warning_limit, 60, 'upper_warning_limit = HIGH');
      assertNear(r.lower_warning_limit, -60, 'lower_warning_limit = LOW');
      assertNear(r.lower_alarm_limit, -80, 'lower_alarm_limit = LOLO');
      assertNear(r.upper_ctrl_limit, 100, 'upper_ctrl_limit = DRVH');
      assertNear(r.lower_ctrl_limit, -100, 'lower_ctrl_limit = DRVL');
      assertNear(r.value, 20, 'VAL from the .db');
    });

    it('ai: control limits are HOPR/LOPR (aiRecord.c get_control_double)', async () => {
      const r = await get(c(), `${P}temp`, { ftype: DBR_CTRL_DOUBLE });
      assert.equal(r.units, 'degC');
      assert.equal(r.precision, 2);
      assertNear(r.upper_disp_limit, 100, 'HOPR');
      assertNear(r.lower_disp_limit, -10, 'LOPR');
      assertNear(r.upper_alarm_limit, 50, 'HIHI');
      assertNear(r.upper_warning_limit, 40, 'HIGH');
      assertNear(r.lower_warning_limit, 5, 'LOW');
      assertNear(r.lower_alarm_limit, 0, 'LOLO');
      assertNear(r.upper_ctrl_limit, 100, 'HOPR as upper control limit');
      assertNear(r.lower_ctrl_limit, -10, 'LOPR as lower control limit');
    });

    it('ai: an alarm limit whose severity is NO_ALARM is served as NaN (aiRecord.c get_alarm_double)', async () => {
      // EPICS: pad->upper_alarm_limit = prec->hhsv ? prec->hihi : epicsNAN; (likewise HSV, LSV, LLSV)
      const r = await get(c(), `${P}quiet`, { ftype: DBR_CTRL_DOUBLE });
      for (const k of ['upper_alarm_limit', 'upper_warning_limit', 'lower_warning_limit', 'lower_alarm_limit']) {
        assert.equal(r[k], 'nan', `${k} with its severity unset: ${JSON.stringify(r[k])} (EPICS serves NaN)`);
      }
      assertNear(r.upper_disp_limit, 100, 'HOPR');
    });
  });

  describe('alarms and drive limits of an ao', () => {
    async function alarm(pv: string): Promise<{ severity: number; status: number; sevr: string; stat: string }> {
      const t = await get(c(), pv, { ftype: DBR_TIME_DOUBLE });
      return {
        severity: t.severity as number,
        status: t.status as number,
        sevr: await getString(c(), `${pv}.SEVR`),
        stat: await getString(c(), `${pv}.STAT`),
      };
    }

    it('severity follows writes across HIHI, with HYST', async () => {
      const pv = `${P}heater`;
      await put(c(), pv, 10);
      assert.deepEqual(await alarm(pv), { severity: NO_ALARM, status: 0, sevr: 'NO_ALARM', stat: 'NO_ALARM' });
      await put(c(), pv, 85);
      assert.deepEqual(await alarm(pv), { severity: MAJOR, status: STAT_HIHI, sevr: 'MAJOR', stat: 'HIHI' });
      // Within HYST (2) below HIHI: stays in alarm.
      await put(c(), pv, 79);
      assert.deepEqual(await alarm(pv), { severity: MAJOR, status: STAT_HIHI, sevr: 'MAJOR', stat: 'HIHI' });
      await put(c(), pv, 77);
      assert.deepEqual(await alarm(pv), { severity: NO_ALARM, status: 0, sevr: 'NO_ALARM', stat: 'NO_ALARM' });
      // Back above HIHI, then straight down below it.
      await put(c(), pv, 80);
      assert.equal((await alarm(pv)).severity, MAJOR);
      await put(c(), pv, 20);
      assert.equal((await alarm(pv)).severity, NO_ALARM);
      // .SEVR read through its ENUM type gives the same label.
      assert.equal((await get(c(), `${pv}.SEVR`, { ftype: DBR_ENUM, count: 1, as_string: true })).value, 'NO_ALARM');
    });

    it('a put above DRVH reads back DRVH; below DRVL reads back DRVL', async () => {
      const pv = `${P}heater`;
      await put(c(), pv, 150);
      assertNear((await get(c(), pv)).value, 100, 'clamped to DRVH');
      await put(c(), pv, -5);
      assertNear((await get(c(), pv)).value, 0, 'clamped to DRVL');
      await put(c(), pv, 42.5);
      assertNear((await get(c(), pv)).value, 42.5, 'inside the drive limits');
    });
  });

  describe('mbbo written by label', () => {
    it('a DBR_STRING put of a label selects that state', async () => {
      const pv = `${P}mode`;
      await put(c(), pv, 0);
      assert.equal(await putString(c(), pv, 'Fault'), ECA_NORMAL);
      assert.equal((await get(c(), pv, { ftype: DBR_ENUM, count: 1, as_string: true })).value, 'Fault');
      assert.equal((await get(c(), pv, { ftype: DBR_ENUM })).value, 2);
      // TWSV = MAJOR: the state alarm follows the label written.
      const t = await get(c(), pv, { ftype: DBR_TIME_ENUM });
      assert.equal(t.severity, MAJOR);
      assert.equal(t.status, STAT_STATE);
      assert.equal(await putString(c(), pv, 'Running'), ECA_NORMAL);
      assert.equal((await get(c(), pv, { ftype: DBR_ENUM })).value, 1);
    });

    it('a number in range written as a string selects that state', async () => {
      const pv = `${P}mode`;
      assert.equal(await putString(c(), pv, '2'), ECA_NORMAL);
      assert.equal(await getString(c(), pv), 'Fault');
      assert.equal(await putString(c(), pv, '0'), ECA_NORMAL);
      assert.equal(await getString(c(), pv), 'Idle');
    });

    it('an unknown label fails with ECA_PUTFAIL and leaves the value alone', async () => {
      const pv = `${P}mode`;
      assert.equal(await putString(c(), pv, 'Running'), ECA_NORMAL);
      assert.equal(await putString(c(), pv, 'Exploded'), ECA_PUTFAIL);
      assert.equal(await getString(c(), pv), 'Running');
      assert.equal((await get(c(), pv, { ftype: DBR_ENUM })).value, 1);
    });
  });

  describe('waveform', () => {
    it('FTVL DOUBLE NELM 100: native type and count, empty before any write', async () => {
      const r = await c().request('connect', { pv: `${P}trace` });
      assert.equal(r.ftype, DBR_DOUBLE);
      assert.equal(r.count, 100);
      assert.equal(await getString(c(), `${P}trace.NORD`), '0');
    });

    it('after a put of 7 elements, a count-0 get returns those 7 and NORD reads 7', async () => {
      const pv = `${P}trace`;
      const data = [1.5, 2.5, 3.5, -4, 5e3, 6, 7.25];
      await put(c(), pv, data);
      // count 0 = "current length": libca hands over exactly the elements the server sent.
      const raw = await c().request('rawget', { pv, ftype: DBR_DOUBLE, count: 0 });
      assert.equal(raw.status, ECA_NORMAL, JSON.stringify(raw));
      assert.equal(raw.count, 7);
      const r = await get(c(), pv, { count: 0 });
      assert.deepEqual(r.value, data);
      assert.equal((await get(c(), `${pv}.NORD`)).value, 7);
      assert.equal(await getString(c(), `${pv}.NORD`), '7');
      // A shorter write shrinks it again.
      await put(c(), pv, [9, 8]);
      assert.deepEqual((await get(c(), pv, { count: 0 })).value, [9, 8]);
      assert.equal((await get(c(), `${pv}.NORD`)).value, 2);
    });
  });

  describe('field PVs', () => {
    it('REC.DESC reads the description', async () => {
      assert.equal(await getString(c(), `${P}setpoint.DESC`), 'Heater setpoint');
      assert.equal((await get(c(), `${P}temp.DESC`, { as_string: true })).value, 'Vessel temperature');
    });

    it('REC.NAME$ is a CHAR array holding the record name', async () => {
      const r = await c().request('connect', { pv: `${P}temp.NAME$` });
      assert.equal(r.connected, true);
      assert.equal(r.ftype, DBR_CHAR);
      assert.ok((r.count as number) > `${P}temp`.length, `NAME$ count ${String(r.count)}`);
      assert.equal((await get(c(), `${P}temp.NAME$`, { as_string: true })).value, `${P}temp`);
      assert.equal(await getString(c(), `${P}temp.NAME`), `${P}temp`);
    });

    it("the Archiver's field fetches: RTYP, SCAN, MDEL, ADEL, HIHI, EGU as strings", async () => {
      const rec = `${P}temp`;
      assert.equal(await getString(c(), `${rec}.RTYP`), 'ai');
      assert.equal(await getString(c(), `${rec}.SCAN`), 'Passive');
      assert.equal((await get(c(), `${rec}.SCAN`, { ftype: DBR_ENUM, count: 1, as_string: true })).value, 'Passive');
      assert.equal(Number(await getString(c(), `${rec}.MDEL`)), 0);
      assert.equal(Number(await getString(c(), `${rec}.ADEL`)), 5);
      assert.equal(Number(await getString(c(), `${rec}.HIHI`)), 50);
      assert.equal(await getString(c(), `${rec}.EGU`), 'degC');
      assert.equal(await getString(c(), `${P}heartbeat.RTYP`), 'longin');
      assert.equal(await getString(c(), `${P}heartbeat.SCAN`), '1 second');
    });
  });

  describe('monitors', () => {
    it('LOG|ALARM (archiver) honours ADEL and alarm changes; VALUE with MDEL=0 sees every change', async () => {
      const pv = `${P}temp`;
      await put(c(), pv, 20);
      await c().request('monitor', { pv, mid: 'archive', mask: DBE_LOG | DBE_ALARM });
      await c().request('monitor', { pv, mid: 'value', mask: DBE_VALUE });
      assert.deepEqual((await events(c(), 'archive', 1)).map((e) => e.value), [20]);
      assert.deepEqual((await events(c(), 'value', 1)).map((e) => e.value), [20]);

      // ADEL 5 from the last archived value; HIGH 40 (MINOR), HIHI 50 (MAJOR), no HYST.
      const writes = [
        22, // inside ADEL of 20
        30, // archived
        33, // inside ADEL of 30
        38, // archived
        41, // inside ADEL of 38, but crosses HIGH: an alarm event
        42, // inside ADEL of 38, same alarm
        43, // exactly ADEL from 38: not beyond it
        44, // archived (6 from 38)
        39, // inside ADEL of 44, but back below HIGH: an alarm event
        20, // archived; the last write, so every earlier event has arrived once this one has
      ];
      for (const v of writes) await put(c(), pv, v);
      const archived = await events(c(), 'archive', 7);
      assert.deepEqual(archived.map((e) => [e.value, e.severity]), [
        [20, NO_ALARM], [30, NO_ALARM], [38, NO_ALARM], [41, MINOR], [44, MINOR], [39, NO_ALARM], [20, NO_ALARM],
      ]);
      assert.equal(archived[3].status, STAT_HIGH);
      const values = await events(c(), 'value', 1 + writes.length);
      assert.deepEqual(values.map((e) => e.value), [20, ...writes]);
      await c().request('unmonitor', { mid: 'archive' });
      await c().request('unmonitor', { mid: 'value' });
    });

      it('an ioc-device longin (@heartbeat, SCAN 1 second) counts up', async () => {
      await c().request('monitor', { pv: `${P}heartbeat`, mid: 'heartbeat' });
      // The first event is the value at subscription time (0, UDF, when no scan has run yet);
      // then one event per scan, each one more than the last.
      const evs = await events(c(), 'heartbeat', 3, 10.0);
      const counts = evs.slice(0, 3).map((e) => e.value as number);
      assert.ok(counts.every((n) => Number.isInteger(n) && n >= 0), JSON.stringify(counts));
      assert.deepEqual(counts.slice(1), [counts[1], counts[1] + 1]);
      assert.ok(counts[1] >= 1 && counts[0] < counts[1], JSON.stringify(counts));
      assert.deepEqual(evs.slice(1, 3).map((e) => e.severity), [NO_ALARM, NO_ALARM]);
      await c().request('unmonitor', { mid: 'heartbeat' });
    });
  });
});

describe('interop: softioc when its TCP port is taken', function () {
  this.timeout(60000);
  let dir: string;
  let blocker: net.Server | undefined;
  let ioc: RunningSoftIoc | undefined;
  let client: PyCa | undefined;

  before(function () {
    requireDependency(this, checkPyepics());
    requireBuiltCli();
    dir = makeTempDir('softioc-port-');
    fs.writeFileSync(path.join(dir, 'one.db'), 'record(ai, "$(P)x") { field(VAL, "3.5") }\n');
  });
  after(async () => {
    await client?.stop();
    await ioc?.proc.stop();
    await new Promise<void>((resolve) => (blocker ? blocker.close(() => resolve()) : resolve()));
    removeTempDir(dir);
  });

  it('falls back to another TCP port, reports it, and libca still connects through the UDP search port', async () => {
    const ports = await freeCaPorts();
    blocker = net.createServer((s) => s.destroy());
    await new Promise<void>((resolve, reject) => {
      blocker!.once('error', reject);
      blocker!.listen({ port: ports.server, host: '127.0.0.1', exclusive: true }, () => resolve());
    });
    ioc = await startSoftIocCli(['-m', 'P=taken:', '-d', path.join(dir, 'one.db')], serverEnv(ports.server, ports.repeater));
    assert.equal(ioc.records, 1);
    assert.notEqual(ioc.port, ports.server, 'the IOC reported the port another server holds');
    assert.ok(ioc.port > 0);
    client = await PyCa.start(clientEnv(ports.server, ports.repeater));
    const r = await client.request('connect', { pv: 'taken:x', timeout: 5.0 });
    assert.equal(r.connected, true, JSON.stringify(r));
    assert.match(String(r.host), new RegExp(`:${ioc.port}$`), `libca connected to ${String(r.host)}`);
    const v = await client.request('get', { pv: 'taken:x' });
    assertNear((v.result as GetResult).value, 3.5, 'taken:x');
  });
});
