/**
 * Interop: the pvxs command-line clients (pvxget, pvxput, pvxmonitor,
 * pvxinfo, pvxlist from ../shared/epics) against `service-ioc softioc` and
 * against the bundle's softIocPVX (softIoc with QSRV), both serving the same
 * .db on their own loopback ports. Every invocation runs against both servers
 * and must print the same types, values, alarms and monitor updates, once
 * timestamps and the servers' addresses are taken out.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { CLI_JS, makeTempDir, removeTempDir, requireBuiltCli, SOFTIOC_READY, startSoftIocCli, type RunningSoftIoc } from '../helpers/cli';
import { clientEnv } from '../helpers/pyca';
import { startProcess, type Managed } from '../helpers/processes';
import { freePvaPorts, normalisePva, pvaClientEnv, pvaServerEnv, runEpicsTool, servePvaSideBySide, startSoftIocPvx, type PvaPorts, type PvaSideBySide } from '../helpers/pvxs';
import { checkPvxsBundle, epicsBin } from '../helpers/shared';
import { freeCaPorts, requireDependency, tcpFree, udpFree } from '../helpers/system';

const P = 'pva:';

const DB = `# records for test/interop/pva.test.ts
record(ai, "$(P)ai") {
  field(DESC, "Temperature") field(PINI, "YES")
  field(EGU, "degC") field(PREC, "2")
  field(HOPR, "100") field(LOPR, "-10")
  field(HIHI, "50") field(HIGH, "40") field(LOW, "5") field(LOLO, "0")
  field(HHSV, "MAJOR") field(HSV, "MINOR") field(LSV, "MINOR") field(LLSV, "MAJOR")
  field(VAL, "20")
}
record(ao, "$(P)ao") {
  field(DESC, "Setpoint") field(PINI, "YES") field(EGU, "V") field(PREC, "3")
  field(HOPR, "10") field(LOPR, "-10") field(DRVH, "8") field(DRVL, "-8")
  field(VAL, "1.5")
}
record(bi, "$(P)bi") { field(PINI, "YES") field(ZNAM, "Closed") field(ONAM, "Open") field(OSV, "MINOR") field(VAL, "1") }
record(bo, "$(P)bo") { field(PINI, "YES") field(ZNAM, "Off") field(ONAM, "On") field(VAL, "0") }
record(mbbi, "$(P)mbbi") {
  field(PINI, "YES") field(ZRST, "Idle") field(ONST, "Busy") field(TWST, "Fault") field(TWSV, "MAJOR") field(VAL, "1")
}
record(mbbo, "$(P)mbbo") { field(PINI, "YES") field(ZRST, "Stop") field(ONST, "Slow") field(TWST, "Fast") field(VAL, "0") }
record(longin, "$(P)li") { field(PINI, "YES") field(EGU, "counts") field(HOPR, "1000") field(HIGH, "500") field(HSV, "MINOR") field(VAL, "42") }
record(longout, "$(P)lo") { field(PINI, "YES") field(DRVH, "100") field(DRVL, "0") field(VAL, "7") }
record(stringin, "$(P)si") { field(PINI, "YES") field(VAL, "hello world") }
record(stringout, "$(P)so") { field(PINI, "YES") field(VAL, "out") }
record(lsi, "$(P)lsi") { field(PINI, "YES") field(SIZV, "200") }
record(lso, "$(P)lso") { field(PINI, "YES") field(SIZV, "200") }
record(waveform, "$(P)chars") { field(PINI, "YES") field(FTVL, "CHAR") field(NELM, "64") }
record(waveform, "$(P)nums") { field(PINI, "YES") field(FTVL, "DOUBLE") field(NELM, "10") field(PREC, "1") field(EGU, "mm") }
record(waveform, "$(P)longs") { field(PINI, "YES") field(FTVL, "LONG") field(NELM, "8") }
record(waveform, "$(P)strs") { field(PINI, "YES") field(FTVL, "STRING") field(NELM, "4") }
record(mbbi, "$(P)bare:mbbi") { field(PINI, "YES") field(VAL, "3") }
record(mbbo, "$(P)bare:mbbo") { field(PINI, "YES") field(VAL, "2") }
record(stringin, "$(P)empty:si") { field(PINI, "YES") }
record(stringout, "$(P)empty:so") { field(PINI, "YES") field(VAL, "x") }
record(ai, "$(P)cold:ai") { field(VAL, "3") field(HIHI, "1") field(HHSV, "MAJOR") }
record(bi, "$(P)cold:bi") { field(VAL, "1") field(OSV, "MAJOR") field(ZNAM, "No") field(ONAM, "Yes") }
`;

const ALL = ['ai', 'ao', 'bi', 'bo', 'mbbi', 'mbbo', 'li', 'lo', 'si', 'so', 'lsi', 'lso', 'chars', 'nums', 'longs', 'strs'].map((n) => P + n);

interface Server {
  name: string;
  env: NodeJS.ProcessEnv;
}

describe('interop: pvxget, pvxput, pvxmonitor, pvxinfo and pvxlist see service-ioc as they see softIocPVX', function () {
  this.timeout(60000);
  let side: PvaSideBySide | undefined;
  const servers: { ours?: Server; base?: Server } = {};

  before(async function () {
    requireDependency(this, checkPvxsBundle());
    requireBuiltCli();
    side = await servePvaSideBySide(DB, P);
    const env = side.ours.env;
    assert.deepEqual(side.oursPorts, { tcp: Number(env.EPICS_PVA_SERVER_PORT), udp: Number(env.EPICS_PVA_BROADCAST_PORT) }, 'the ready line names the PVA ports asked for');
    servers.ours = side.ours;
    servers.base = side.base;
  });

  after(async () => {
    await side?.stop();
  });

  interface Result { code: number | null; out: string }

  async function run(server: Server, tool: string, args: string[]): Promise<Result> {
    const r = await runEpicsTool(tool, args, server.env);
    return { code: r.code, out: normalisePva(r.stdout + r.stderr) };
  }

  /** Run one invocation against both servers; they must print the same. Returns the (normalised) output. */
  async function same(tool: string, ...args: string[]): Promise<Result> {
    const [a, b] = await Promise.all([run(servers.base!, tool, args), run(servers.ours!, tool, args)]);
    assert.equal(b.out, a.out, `${tool} ${args.join(' ')}: service-ioc (actual) against softIocPVX (expected)`);
    assert.equal(b.code, a.code, `${tool} ${args.join(' ')}: exit code`);
    return b;
  }

  describe('pvxinfo', () => {
    it('every record kind: the same normative types, field by field', async () => {
      const r = await same('pvxinfo', '-w', '5', ...ALL);
      assert.match(r.out, /^pva:ai from <server>\nstruct "epics:nt\/NTScalar:1\.0" \{\n {4}double value\n/m);
      assert.match(r.out, /^pva:bi from <server>\nstruct "epics:nt\/NTEnum:1\.0" \{\n {4}struct "enum_t" \{\n {8}int32_t index\n {8}string\[\] choices\n/m);
      assert.match(r.out, /^pva:nums from <server>\nstruct "epics:nt\/NTScalarArray:1\.0" \{\n {4}double\[\] value\n/m);
      assert.match(r.out, /^pva:chars from <server>\nstruct "epics:nt\/NTScalarArray:1\.0" \{\n {4}int8_t\[\] value\n/m);
      assert.match(r.out, /^pva:li from <server>\nstruct "epics:nt\/NTScalar:1\.0" \{\n {4}int32_t value\n/m);
      assert.match(r.out, /^pva:si from <server>\nstruct "epics:nt\/NTScalar:1\.0" \{\n {4}string value\n/m);
    });

    it('field PVs: DESC, EGU, PREC, HIHI, SCAN, ZNAM', async () => {
      const r = await same('pvxinfo', '-w', '5', ...['ai.DESC', 'ai.EGU', 'ai.PREC', 'ai.HIHI', 'ai.SCAN', 'bi.ZNAM'].map((n) => P + n));
      assert.match(r.out, /^pva:ai\.PREC from <server>\nstruct "epics:nt\/NTScalar:1\.0" \{\n {4}int16_t value\n/m);
      assert.match(r.out, /^pva:ai\.SCAN from <server>\nstruct "epics:nt\/NTEnum:1\.0"/m);
    });
  });

  describe('pvxget', () => {
    it('every record kind: values, alarms, display, control and valueAlarm as QSRV marks them', async () => {
      const r = await same('pvxget', '-w', '5', ...ALL);
      assert.match(r.out, /^pva:ai\n {4}value double = 20\n/m);
      assert.match(r.out, /^pva:bi\n {4}value\.index int32_t = 1\n {4}value\.choices string\[\] = \{2\}\["Closed", "Open"\]\n {4}alarm\.severity int32_t = 1\n/m);
      assert.match(r.out, /display\.description string = "Temperature"/);
    });

    it('records never processed: UDF alarms and the EPICS epoch', async () => {
      const r = await same('pvxget', '-w', '5', `${P}cold:ai`, `${P}cold:bi`);
      assert.match(r.out, /alarm\.message string = "UDF"/);
    });

    it('field PVs: DESC and EGU as strings, SCAN as an enum, ZNAM of a record without units', async () => {
      const r = await same('pvxget', '-w', '5', ...['ai.DESC', 'ai.EGU', 'ai.SCAN', 'bi.ZNAM', 'mbbo.ZRST', 'ao.DESC', 'so.DESC', 'nums.DESC'].map((n) => P + n));
      assert.match(r.out, /^pva:ai\.EGU\n {4}value string = "degC"\n/m);
    });

    it('field PVs of numbers: the value types of PREC, HIHI and NELM (int16, double, uint32), values, alarms and metadata', async () => {
      const r = await same('pvxget', '-w', '5', ...['ai.PREC', 'ai.HIHI', 'nums.NELM'].map((n) => P + n));
      assert.match(r.out, /^pva:nums\.NELM\n {4}value uint32_t = 10\n/m);
    });

    it('pvRequest field selection: value only, value and alarm, a part of display', async () => {
      await same('pvxget', '-w', '5', '-r', 'value', `${P}ai`, `${P}bi`, `${P}si`);
      await same('pvxget', '-w', '5', '-r', 'field(value,alarm)', `${P}ai`, `${P}mbbi`);
      await same('pvxget', '-w', '5', '-r', 'field(display.units,display.limitHigh)', `${P}ai`, `${P}li`);
    });

    it('-F tree, and arrays cut with -#', async () => {
      await same('pvxget', '-w', '5', '-F', 'tree', `${P}ai`, `${P}mbbo`);
      await same('pvxput', '-w', '5', `${P}nums`, '[1,2,3,4,5,6]');
      await same('pvxget', '-w', '5', '-#', '3', `${P}nums`);
    });

    it('a PV that does not exist: the same timeout and exit code', async () => {
      const r = await same('pvxget', '-w', '1', `${P}missing`);
      assert.notEqual(r.code, 0);
    });
  });

  describe('pvxput', () => {
    it('numbers: ao and longout clamp to DRVH, as the record put path does', async () => {
      await same('pvxput', '-w', '5', `${P}ao`, '3.25');
      await same('pvxput', '-w', '5', `${P}ao`, '30');
      await same('pvxput', '-w', '5', `${P}lo`, '500');
      const r = await same('pvxget', '-w', '5', '-r', 'field(value,alarm)', `${P}ao`, `${P}lo`);
      assert.match(r.out, /^pva:ao\n {4}value double = 8\n/m);
      assert.match(r.out, /^pva:lo\n {4}value int32_t = 100\n/m);
    });

    it('enums by index, a state beyond the names, and by choice name', async () => {
      await same('pvxput', '-w', '5', `${P}mbbo`, 'value.index=2');
      await same('pvxput', '-w', '5', `${P}bo`, 'value.index=1');
      await same('pvxput', '-w', '5', `${P}mbbi`, 'value.index=2');
      const r = await same('pvxget', '-w', '5', `${P}mbbo`, `${P}bo`, `${P}mbbi`);
      assert.match(r.out, /^pva:mbbi\n {4}value\.index int32_t = 2\n(?:.*\n){1}\s+alarm\.severity int32_t = 2\n/m);
      await same('pvxput', '-w', '5', `${P}mbbo`, 'value.index=20');
      await same('pvxget', '-w', '5', `${P}mbbo`);
      await same('pvxput', '-w', '5', `${P}mbbo`, 'Slow');
      await same('pvxput', '-w', '5', `${P}mbbo`, 'value.index=0');
    });

    it('strings, long strings and field PVs (DESC, EGU): the new text is what pvxget shows', async () => {
      await same('pvxput', '-w', '5', `${P}so`, 'new string');
      await same('pvxput', '-w', '5', `${P}si`, 'in string');
      const text = 'a long string of more than forty characters, really quite long';
      await same('pvxput', '-w', '5', `${P}lso`, text);
      await same('pvxput', '-w', '5', `${P}ao.DESC`, 'New description');
      await same('pvxput', '-w', '5', `${P}ao.EGU`, 'mV');
      await same('pvxput', '-w', '5', `${P}lsi`, 'in characters');
      // REC.VAL$ of a long string: its characters and the NUL, with the marks of VAL (no limits for an lsi).
      await same('pvxget', '-w', '5', `${P}lsi.VAL$`, `${P}ao.DESC$`);
      const r = await same('pvxget', '-w', '5', `${P}so`, `${P}si`, `${P}lso`, `${P}ao`, `${P}ao.DESC`);
      assert.ok(r.out.includes(`value string = "${text}"`), r.out);
      assert.match(r.out, /display\.description string = "New description"/);
      assert.match(r.out, /display\.units string = "mV"/);
    });

    it('mbbi and mbbo without states: an NTEnum with no choices, and a uint16 NTScalar', async () => {
      await same('pvxinfo', '-w', '5', `${P}bare:mbbi`, `${P}bare:mbbo`);
      await same('pvxput', '-w', '5', `${P}bare:mbbo`, '70');
      await same('pvxput', '-w', '5', `${P}bare:mbbi`, '20');
      const r = await same('pvxget', '-w', '5', `${P}bare:mbbi`, `${P}bare:mbbo`, `${P}bare:mbbo.RVAL`);
      assert.match(r.out, /^pva:bare:mbbo\n {4}value uint16_t = 70\n/m);
    });

    it('empty strings: stringin, stringout written "", DESC and VAL$', async () => {
      await same('pvxput', '-w', '5', `${P}empty:so`, '');
      await same('pvxput', '-w', '5', `${P}empty:so.DESC`, '');
      const r = await same('pvxget', '-w', '5', `${P}empty:si`, `${P}empty:so`, `${P}empty:so.DESC`, `${P}empty:so.VAL$`, `${P}empty:si.VAL$`);
      assert.match(r.out, /^pva:empty:so\n {4}value string = ""\n/m);
    });

    it('arrays: numbers, longs, chars and strings', async () => {
      await same('pvxput', '-w', '5', `${P}nums`, '[1.5,2.5,3.25]');
      await same('pvxput', '-w', '5', `${P}longs`, '[1,-2,3,100000]');
      await same('pvxput', '-w', '5', `${P}chars`, '[104,105]');
      await same('pvxput', '-w', '5', `${P}strs`, '["a","b c"]');
      const r = await same('pvxget', '-w', '5', '-r', 'field(value)', `${P}nums`, `${P}longs`, `${P}chars`, `${P}strs`);
      assert.match(r.out, /value double\[\] = \{3\}\[1\.5, 2\.5, 3\.25\]/);
    });

    it('values the PV cannot take, and a PV that does not exist', async () => {
      const bad = await same('pvxput', '-w', '5', `${P}ao`, 'abc');
      assert.notEqual(bad.code, 0);
      const missing = await same('pvxput', '-w', '1', `${P}missing`, '1');
      assert.notEqual(missing.code, 0);
    });
  });

  describe('pvxmonitor', () => {
    /** pvxmonitor's lines as each PV's updates: a line with the name, then the fields that changed. */
    function perPv(lines: string[]): Record<string, string[]> {
      const out: Record<string, string[]> = {};
      let name: string | undefined;
      for (const line of lines) {
        if (/^\S/.test(line)) {
          name = line;
          (out[name] ??= []).push('');
        } else if (name !== undefined) {
          const updates = out[name];
          updates[updates.length - 1] += `${line}\n`;
        }
      }
      return out;
    }

    /** Wait until `m` has printed `n` lines matching `re`. */
    async function linesMatching(m: Managed, re: RegExp, n: number): Promise<void> {
      for (;;) {
        const seen = m.lines.map((l, i) => (re.test(l) ? i : -1)).filter((i) => i >= 0);
        if (seen.length >= n) return;
        await m.waitLine(re, 10000, seen.length ? seen[seen.length - 1] + 1 : 0);
      }
    }

    /**
     * pvxmonitor on both servers: `act` runs once each has printed the first
     * update of all `pvs`; then put a last value into `${P}so` (which must be
     * monitored too), wait for it, stop, and compare everything up to it.
     */
    async function monitor(args: string[], pvs: number, act: () => Promise<void>): Promise<Record<string, string[]>> {
      const runs = (['base', 'ours'] as const).map((k) => startProcess(path.join(epicsBin()!, 'pvxmonitor'), args, servers[k]!.env));
      const END = `end ${Math.random()}`;
      const header = new RegExp(`^${P}\\S+$`);
      try {
        await Promise.all(runs.map((m) => linesMatching(m, header, pvs)));
        await act();
        await same('pvxput', '-w', '5', `${P}so`, END);
        await Promise.all(runs.map((m) => m.waitLine(new RegExp(`value string = "${END}"`), 10000)));
      } finally {
        await Promise.all(runs.map((m) => m.stop()));
      }
      // Each PV's updates in order; the order between PVs is that of their connections.
      const [a, b] = runs.map((m) => perPv(m.lines.slice(0, m.lines.findIndex((l) => l.includes(END)) + 1).map(normalisePva)));
      assert.deepEqual(b, a, `pvxmonitor ${args.join(' ')}: service-ioc (actual) against softIocPVX (expected)`);
      return b;
    }

    it('values, alarms and enums put by pvxput arrive in order, each with what changed', async () => {
      const updates = await monitor([`${P}ai`, `${P}mbbo`, `${P}nums`, `${P}so`], 4, async () => {
        await same('pvxput', '-w', '5', `${P}ai`, '12.5');
        await same('pvxput', '-w', '5', `${P}ai`, '45'); // HIGH, MINOR
        await same('pvxput', '-w', '5', `${P}ai`, '55'); // HIHI, MAJOR
        await same('pvxput', '-w', '5', `${P}ai`, '20'); // back to NO_ALARM
        await same('pvxput', '-w', '5', `${P}mbbo`, 'value.index=1');
        await same('pvxput', '-w', '5', `${P}nums`, '[7,8]');
      });
      const ai = updates[`${P}ai`];
      assert.equal(ai.length, 5, ai.join('--\n'));
      assert.match(ai[1], /^ {4}value double = 12\.5\n {4}timeStamp/);
      assert.match(ai[3], /alarm\.message string = "HIHI"/);
    });

    it('a property change (EGU, an alarm limit) is an update of display, control and valueAlarm', async () => {
      const updates = await monitor([`${P}ai`, `${P}so`], 2, async () => {
        await same('pvxput', '-w', '5', `${P}ai.EGU`, 'K');
        await same('pvxput', '-w', '5', `${P}ai.HIHI`, '70');
      });
      const ai = updates[`${P}ai`];
      assert.equal(ai.length, 3, ai.join('--\n'));
      assert.match(ai[1], /display\.units string = "K"/);
      assert.doesNotMatch(ai[1], /value double|form/);
    });

    it('-r field(value): only values, and a put of the same value to an ao is no update', async () => {
      await monitor(['-r', 'field(value)', `${P}ao`, `${P}so`], 2, async () => {
        await same('pvxput', '-w', '5', `${P}ao`, '1');
        await same('pvxput', '-w', '5', `${P}ao`, '1');
        await same('pvxput', '-w', '5', `${P}ao`, '2');
      });
    });
  });

  describe('pvxlist', () => {
    it('the server channel lists the record names', async () => {
      const [a, b] = await Promise.all([
        run(servers.base!, 'pvxlist', ['-w', '5', `127.0.0.1:${servers.base!.env.EPICS_PVA_SERVER_PORT}`]),
        run(servers.ours!, 'pvxlist', ['-w', '5', `127.0.0.1:${servers.ours!.env.EPICS_PVA_SERVER_PORT}`]),
      ]);
      assert.equal(b.out, a.out);
      assert.equal(b.code, 0);
      assert.ok(b.out.split('\n').includes(`${P}cold:bi`), b.out);
    });

    it('discovery: each server answers a search that must be answered', async () => {
      const [a, b] = await Promise.all([run(servers.base!, 'pvxlist', ['-w', '2', '-v']), run(servers.ours!, 'pvxlist', ['-w', '2', '-v'])]);
      assert.equal(b.out, a.out);
      assert.match(b.out, /ONLINE {2}guid: <guid> proto: tcp server: <server> ver: 2 via: <server>/);
    });
  });
});

describe('interop: pvxput under access security, and the put log', function () {
  this.timeout(60000);
  let dir: string | undefined;
  let ours: RunningSoftIoc | undefined;
  let base: Managed | undefined;
  let oursEnv: NodeJS.ProcessEnv;
  let baseEnv: NodeJS.ProcessEnv;

  before(async function () {
    requireDependency(this, checkPvxsBundle());
    requireBuiltCli();
    dir = makeTempDir('pva-access-');
    fs.writeFileSync(path.join(dir, 'acc.db'), 'record(ao, "acc:open") { field(VAL, "1") field(PINI, "YES") }\nrecord(ao, "acc:locked") { field(ASG, "LOCKED") field(VAL, "1") field(PINI, "YES") }\n');
    // pvxs clients authenticate as "ca" with an empty user and host here (as softIocPVX sees them too),
    // so the rules are by ASG alone.
    fs.writeFileSync(path.join(dir, 'acc.acf'), 'ASG(DEFAULT) { RULE(1, READ) RULE(1, WRITE, TRAPWRITE) }\nASG(LOCKED) { RULE(1, READ) }\n');
    const [oursPva, basePva] = [await freePvaPorts(), await freePvaPorts()];
    const args = ['-d', path.join(dir, 'acc.db'), '-a', path.join(dir, 'acc.acf')];
    ours = await startSoftIocCli(args, pvaServerEnv(await freeCaPorts(), oursPva, { SERVICE_IOC_LOG: 'info' }));
    base = await startSoftIocPvx(args, pvaServerEnv(await freeCaPorts(), basePva));
    oursEnv = pvaClientEnv(oursPva);
    baseEnv = pvaClientEnv(basePva);
  });

  after(async () => {
    await ours?.proc.stop();
    await base?.stop();
    removeTempDir(dir);
  });

  async function both(...args: string[]): Promise<{ code: number | null; out: string }> {
    const [a, b] = await Promise.all([runEpicsTool('pvxput', args, baseEnv), runEpicsTool('pvxput', args, oursEnv)]);
    assert.equal(b.stdout + b.stderr, a.stdout + a.stderr, `pvxput ${args.join(' ')}`);
    assert.equal(b.code, a.code);
    return { code: b.code, out: b.stdout + b.stderr };
  }

  it('a write the rules allow is done and logged; one they refuse fails as softIocPVX refuses it, and is logged too', async () => {
    const from = ours!.proc.stderrLineCount();
    assert.equal((await both('-w', '5', 'acc:open', '7')).code, 0);
    const refused = await both('-w', '5', 'acc:locked', '7');
    assert.notEqual(refused.code, 0);
    assert.match(refused.out, /Put not permitted/);
    const done = await ours!.proc.waitStderrLine(/putlog: put (\{.*"pv":"acc:open".*\})$/, 10000, from);
    const denied = await ours!.proc.waitStderrLine(/putlog: put (\{.*"pv":"acc:locked".*\})$/, 10000, from);
    const [d, r] = [done, denied].map((m) => JSON.parse(m[1]) as Record<string, unknown>);
    assert.deepEqual([d.new, d.old, d.result, d.address], [7, 1, 'done', '127.0.0.1']);
    assert.deepEqual([r.new, r.old, r.result], [7, 1, 'denied']);
    const [a, b] = await Promise.all([runEpicsTool('pvxget', ['-w', '5', '-r', 'value', 'acc:open', 'acc:locked'], baseEnv), runEpicsTool('pvxget', ['-w', '5', '-r', 'value', 'acc:open', 'acc:locked'], oursEnv)]);
    assert.equal(b.stdout, a.stdout);
    assert.match(b.stdout, /acc:locked\n {4}value double = 1\n/);
  });
});

describe('interop: service-ioc serves pvAccess unless told not to', function () {
  this.timeout(60000);
  let dir: string | undefined;
  const started: Managed[] = [];

  before(function () {
    requireDependency(this, checkPvxsBundle());
    requireBuiltCli();
    dir = makeTempDir('pva-off-');
    fs.writeFileSync(path.join(dir, 'x.db'), 'record(ai, "$(P)x") { field(VAL, "5") field(PINI, "YES") }\n');
  });

  after(async () => {
    for (const p of started) await p.stop();
    removeTempDir(dir);
  });

  async function get(ports: PvaPorts, name: string): Promise<{ code: number | null; stdout: string }> {
    return runEpicsTool('pvxget', ['-w', '2', '-r', 'value', name], pvaClientEnv(ports));
  }

  it('softioc --no-pva: CA only, the ready line names no PVA port', async () => {
    const ca = await freeCaPorts();
    const pva = await freePvaPorts();
    const ioc = await startSoftIocCli(['--no-pva', '-m', 'P=off:', '-d', path.join(dir!, 'x.db')], pvaServerEnv(ca, pva));
    started.push(ioc.proc);
    assert.equal(ioc.pva, undefined);
    assert.notEqual((await get(pva, 'off:x')).code, 0);
  });

  it('softioc: SIGTERM closes the PVA TCP and UDP ports too', async () => {
    const ca = await freeCaPorts();
    const pva = await freePvaPorts();
    const ioc = await startSoftIocCli(['-m', 'P=stop:', '-d', path.join(dir!, 'x.db')], pvaServerEnv(ca, pva));
    started.push(ioc.proc);
    assert.equal((await get(pva, 'stop:x')).code, 0);
    // Exit code 0 within the grace period: nothing the IOC opened kept it alive (a socket left open would).
    assert.equal(await ioc.proc.stop(), 0);
    assert.ok(await tcpFree(pva.tcp), 'the PVA TCP port is free');
    assert.ok(await udpFree(pva.udp), 'the PVA UDP port is free');
  });

  it('every address of EPICS_PVAS_INTF_ADDR_LIST answers searches (127.0.0.1 and 127.0.0.2), on one UDP port', async () => {
    // pvxs listens for searches on each listed address too; softIocPVX is not the reference here
    // because it only answers on addresses that an interface carries, and 127.0.0.2 is only routed
    // to lo (it answers on 127.0.0.1 and on an eth0 address listed together).
    const pva = await freePvaPorts();
    const ioc = await startSoftIocCli(['-m', 'P=intf:', '-d', path.join(dir!, 'x.db')], pvaServerEnv(await freeCaPorts(), pva, { EPICS_PVAS_INTF_ADDR_LIST: '127.0.0.1 127.0.0.2' }));
    started.push(ioc.proc);
    assert.deepEqual(ioc.pva, pva, 'one TCP and one UDP port for both addresses');
    for (const address of ['127.0.0.2', '127.0.0.1']) {
      const r = await runEpicsTool('pvxget', ['-w', '2', '-r', 'value', 'intf:x'], pvaClientEnv(pva, { EPICS_PVA_ADDR_LIST: address }));
      assert.equal(r.code, 0, `a search sent to ${address} only is answered: ${r.stderr}`);
      assert.match(r.stdout, /value double = 5/);
    }
  });

  for (const [what, line, serves] of [['by default', '', true], ['not with [ioc] pva = false', 'pva = false\n', false]] as const) {
    it(`run -c: ${what}`, async () => {
      const work = makeTempDir('pva-run-');
      try {
        fs.copyFileSync(path.join(dir!, 'x.db'), path.join(work, 'x.db'));
        const cfg = path.join(work, 'ioc.toml');
        fs.writeFileSync(cfg, `[ioc]\nprefix = "run:"\niocstats = false\n${line}db = ["x.db"]\n`);
        const ca = await freeCaPorts();
        const pva = await freePvaPorts();
        // No units: the IOC needs no systemd; point its bus at nothing.
        const ioc = startProcess(process.execPath, [CLI_JS, 'run', '-c', cfg], {
          ...pvaServerEnv(ca, pva), DBUS_SESSION_BUS_ADDRESS: `unix:path=${path.join(work, 'no-bus')}`, XDG_RUNTIME_DIR: work,
        });
        started.push(ioc);
        const ready = await ioc.waitLine(/^service-ioc: \d+ PVs? for 0 units and 0 queueservers, CA on port \d+(.*)$/, 20000);
        const r = await get(pva, 'run:x');
        if (serves) {
          assert.equal(ready[1], `, PVA on TCP port ${pva.tcp} and UDP port ${pva.udp}`);
          assert.equal(r.code, 0);
          assert.match(r.stdout, /value double = 5/);
        } else {
          assert.equal(ready[1], '');
          assert.notEqual(r.code, 0);
        }
        await ioc.stop();
      } finally {
        removeTempDir(work);
      }
    });
  }

});

describe('interop: silent pvAccess connections under a small file limit', function () {
  this.timeout(120000);
  let dir: string | undefined;
  let ioc: Managed | undefined;
  let ca: { server: number; repeater: number };
  let pva: PvaPorts;
  const sockets: net.Socket[] = [];

  before(async function () {
    requireDependency(this, checkPvxsBundle());
    requireBuiltCli();
    dir = makeTempDir('pva-limits-');
    fs.writeFileSync(path.join(dir, 'x.db'), 'record(longout, "lim:x") { field(VAL, "50") field(PINI, "YES") }\n');
    ca = await freeCaPorts();
    pva = await freePvaPorts();
    // The IOC runs as the shipped unit would without LimitNOFILE: 1024 open files, which CA and pvAccess share.
    ioc = startProcess('/bin/bash', ['-c', `ulimit -n 1024 && exec "${process.execPath}" "${CLI_JS}" softioc -d "${path.join(dir, 'x.db')}"`], pvaServerEnv(ca, pva));
    await ioc.waitLine(SOFTIOC_READY, 15000);
  });

  after(async () => {
    for (const s of sockets) s.destroy();
    await ioc?.stop();
    removeTempDir(dir);
  });

  /** Open `n` connections to `port` that read what the server says and never answer. */
  async function silent(port: number, n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      const s = net.connect({ host: '127.0.0.1', port });
      s.on('error', () => undefined);
      s.on('data', () => undefined);
      sockets.push(s);
      await new Promise<void>((resolve) => { s.once('connect', () => resolve()); s.once('error', () => resolve()); s.once('close', () => resolve()); });
    }
  }

  async function bothGet(): Promise<void> {
    const r = await runEpicsTool('pvxget', ['-w', '10', '-r', 'value', 'lim:x'], pvaClientEnv(pva), 30000);
    assert.equal(r.code, 0, `pvxget failed: ${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /value int32_t = 50/);
    const c = await runEpicsTool('caget', ['-w', '10', 'lim:x'], clientEnv(ca.server, ca.repeater), 30000);
    assert.equal(c.code, 0, `caget failed: ${c.stdout}${c.stderr}`);
    assert.match(c.stdout, /^lim:x\s+50$/m);
  }

  afterEach(() => {
    for (const s of sockets.splice(0)) s.destroy();
  });

  it('with 1100 connections to the pvAccess port that never validate, pvxget and caget still get their value, and the log says what happened once', async () => {
    const [lines, errors] = [ioc!.lines.length, ioc!.stderr().length];
    await silent(pva.tcp, 1100);
    await bothGet();
    const logged = ioc!.lines.slice(lines).concat(ioc!.stderr().slice(errors).split('\n'));
    const limitLines = logged.filter((l) => /connections open, the most this server takes|out of file descriptors/.test(l));
    assert.ok(limitLines.length >= 1 && limitLines.length <= 4, `one line per burst, got:\n${limitLines.join('\n')}`);
  });
});
