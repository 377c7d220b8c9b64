/**
 * Interop: the command-line tools of EPICS base (caget, caput, camonitor,
 * cainfo from ../shared/epics) against `service-ioc softioc` and against the
 * bundle's own softIoc, both serving the same .db on their own ports. Every
 * invocation runs against both servers and must print the same thing, once
 * timestamps (and the server's port in cainfo) are taken out.
 */
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { requireBuiltCli } from '../helpers/cli';
import { startProcess } from '../helpers/processes';
import { normalise, runTool, serveSideBySide, type Server, type SideBySide, type ToolResult } from '../helpers/ca-tools';
import { checkEpicsBundle, epicsBin } from '../helpers/shared';
import { requireDependency } from '../helpers/system';

const P = 'tools:';

// PINI on most records, so that they have been processed once; the "cold"
// ones are as iocInit leaves a record that was never processed.
const DB = `# records for test/interop/ca-tools.test.ts
record(ai, "$(P)ai") {
  field(DESC, "Temperature") field(PINI, "YES")
  field(EGU, "degC") field(PREC, "2")
  field(HOPR, "100") field(LOPR, "-10")
  field(HIHI, "50") field(HIGH, "40") field(LOW, "5") field(LOLO, "0")
  field(HHSV, "MAJOR") field(HSV, "MINOR") field(LSV, "MINOR") field(LLSV, "MAJOR")
  field(VAL, "20")
}
record(ao, "$(P)ao") {
  field(PINI, "YES") field(EGU, "V") field(PREC, "3")
  field(HOPR, "10") field(LOPR, "-10") field(DRVH, "8") field(DRVL, "-8")
  field(VAL, "1.5")
}
record(bi, "$(P)bi") { field(PINI, "YES") field(ZNAM, "Closed") field(ONAM, "Open") field(OSV, "MINOR") field(VAL, "1") }
record(bo, "$(P)bo") { field(PINI, "YES") field(ZNAM, "Off") field(ONAM, "On") field(VAL, "0") }
record(mbbi, "$(P)mbbi") {
  field(PINI, "YES") field(ZRST, "Idle") field(ONST, "Busy") field(TWST, "Fault") field(TWSV, "MAJOR") field(VAL, "1")
}
record(mbbo, "$(P)mbbo") { field(PINI, "YES") field(ZRST, "Stop") field(ONST, "Slow") field(TWST, "Fast") field(VAL, "0") }
record(stringin, "$(P)si") { field(PINI, "YES") field(VAL, "hello world") }
record(stringout, "$(P)so") { field(PINI, "YES") field(VAL, "out") }
record(lsi, "$(P)lsi") { field(PINI, "YES") field(SIZV, "200") }
record(lso, "$(P)lso") { field(PINI, "YES") field(SIZV, "200") }
record(longin, "$(P)li") { field(PINI, "YES") field(EGU, "counts") field(HOPR, "1000") field(VAL, "42") }
record(longout, "$(P)lo") { field(PINI, "YES") field(DRVH, "100") field(DRVL, "0") field(VAL, "7") }
record(waveform, "$(P)chars") { field(PINI, "YES") field(FTVL, "CHAR") field(NELM, "64") }
record(waveform, "$(P)nums") { field(PINI, "YES") field(FTVL, "DOUBLE") field(NELM, "10") field(PREC, "1") field(EGU, "mm") }
record(waveform, "$(P)longs") { field(PINI, "YES") field(FTVL, "LONG") field(NELM, "8") }
record(ai, "$(P)cold:ai") { field(VAL, "3") field(HIHI, "1") field(HHSV, "MAJOR") }
record(bi, "$(P)cold:bi") { field(VAL, "1") field(OSV, "MAJOR") field(ZNAM, "No") field(ONAM, "Yes") }
record(stringin, "$(P)cold:si") { }
record(waveform, "$(P)cold:wf") { field(FTVL, "SHORT") field(NELM, "3") }
`;

describe('interop: caget, caput, camonitor and cainfo see service-ioc as they see softIoc', function () {
  this.timeout(60000);
  let side: SideBySide | undefined;
  const servers: { ours?: Server; base?: Server } = {};

  before(async function () {
    requireDependency(this, checkEpicsBundle());
    requireBuiltCli();
    side = await serveSideBySide(DB, P);
    servers.ours = side.ours;
    servers.base = side.base;
  });

  after(async () => {
    await side?.stop();
  });

  /** Run one invocation against both servers; they must print the same. Returns the (normalised) output. */
  async function same(tool: string, ...args: string[]): Promise<ToolResult> {
    const [a, b] = await Promise.all([runTool(servers.base!, tool, args), runTool(servers.ours!, tool, args)]);
    assert.equal(b.out, a.out, `${tool} ${args.join(' ')}: service-ioc (actual) against softIoc (expected)`);
    assert.equal(b.code, a.code, `${tool} ${args.join(' ')}: exit code`);
    return b;
  }

  describe('caget', () => {
    it('plain, every record kind', async () => {
      const r = await same('caget', ...['ai', 'ao', 'bi', 'bo', 'mbbi', 'mbbo', 'si', 'so', 'lsi', 'lso', 'li', 'lo', 'chars', 'nums', 'longs'].map((n) => P + n));
      assert.match(r.out, /^tools:ai\s+20$/m);
      assert.match(r.out, /^tools:bi\s+Open$/m);
    });

    it('-d DBR_CTRL_DOUBLE on analog and long records', async () => {
      const r = await same('caget', '-d', 'DBR_CTRL_DOUBLE', `${P}ai`, `${P}ao`, `${P}li`, `${P}lo`, `${P}nums`);
      assert.match(r.out, /Units:\s+degC/);
    });

    it('-d DBR_CTRL_ENUM on binary and multi-bit records', async () => {
      const r = await same('caget', '-d', 'DBR_CTRL_ENUM', `${P}bi`, `${P}bo`, `${P}mbbi`, `${P}mbbo`);
      assert.match(r.out, /\[ 2\] Fault/);
    });

    it('-d DBR_TIME_STRING on every kind', async () => {
      await same('caget', '-d', 'DBR_TIME_STRING', ...['ai', 'bi', 'mbbi', 'si', 'lsi', 'li', 'chars', 'nums'].map((n) => P + n));
    });

    it('records never processed: STAT UDF, no timestamp, the severity UDFS only while undefined', async () => {
      const r = await same('caget', '-d', 'DBR_TIME_STRING', ...['cold:ai', 'cold:bi', 'cold:si', 'cold:wf'].map((n) => P + n));
      assert.match(r.out, /Timestamp:\s+<undefined>/);
      await same('caget', '-a', ...['cold:ai', 'cold:bi', 'cold:si', 'cold:wf'].map((n) => P + n));
      await same('caput', '-c', `${P}cold:bi`, '0');
      await same('caget', '-d', 'DBR_CTRL_ENUM', `${P}cold:bi`);
    });

    it('-n shows enums as numbers', async () => {
      const r = await same('caget', '-n', `${P}bi`, `${P}mbbi`, `${P}mbbo`);
      assert.match(r.out, /^tools:mbbi\s+1$/m);
    });

    it('a PV that does not exist', async () => {
      const r = await same('caget', '-w', '1', `${P}missing`);
      assert.notEqual(r.code, 0);
    });
  });

  describe('caput', () => {
    it('plain and -c (put-callback) print Old and New; ao and longout clamp to DRVH', async () => {
      await same('caput', `${P}ao`, '3.5');
      const r = await same('caput', '-c', `${P}ao`, '30');
      assert.match(r.out, /^New : tools:ao\s+8$/m);
      await same('caput', '-c', `${P}lo`, '500');
      await same('caput', `${P}so`, 'new string');
      await same('caput', '-c', `${P}si`, 'in string');
      await same('caget', '-d', 'DBR_CTRL_DOUBLE', `${P}ao`);
    });

    it('enums by name and by index, on bo, mbbo and mbbi', async () => {
      await same('caput', `${P}mbbo`, 'Fast');
      await same('caput', `${P}mbbo`, '1');
      await same('caput', '-c', `${P}mbbo`, 'Stop');
      await same('caput', '-n', `${P}mbbo`, '2');
      await same('caput', `${P}bo`, 'On');
      await same('caput', '-c', `${P}bo`, '0');
      await same('caput', `${P}mbbi`, 'Fault');
      await same('caget', '-d', 'DBR_CTRL_ENUM', `${P}mbbi`, `${P}mbbo`, `${P}bo`);
    });

    it('an unknown enum name is refused by caput', async () => {
      const r = await same('caput', `${P}mbbo`, 'Bogus');
      assert.notEqual(r.code, 0);
    });

    it('states without a name and beyond the range: bo 2, mbbo 7 and 20, with their alarms', async () => {
      await same('caput', `${P}bo`, '2');
      await same('caput', `${P}mbbo`, '7');
      const r = await same('caput', `${P}mbbo`, '20');
      assert.match(r.out, /^New : tools:mbbo\s+Illegal Value$/m);
      await same('caget', '-d', 'DBR_CTRL_ENUM', `${P}mbbo`, `${P}bo`);
      await same('caget', '-n', `${P}mbbo`, `${P}bo`);
      await same('caput', `${P}mbbo`, '0');
      await same('caput', `${P}bo`, '0');
      await same('caget', '-d', 'DBR_TIME_STRING', `${P}mbbo`, `${P}bo`);
    });

    it('-a on numeric and long waveforms; caget -a, -t and -# N', async () => {
      await same('caput', '-a', `${P}nums`, '3', '1.5', '2.5', '3.25');
      await same('caput', '-a', '-c', `${P}longs`, '4', '1', '-2', '3', '100000');
      await same('caget', `${P}nums`, `${P}longs`);
      await same('caget', '-a', `${P}nums`, `${P}ai`, `${P}mbbo`);
      await same('caget', '-t', `${P}ai`, `${P}nums`, `${P}bi`);
      for (const n of ['0', '2', '3', '20']) await same('caget', '-#', n, `${P}nums`);
      await same('caget', '-#', '2', `${P}longs`);
      await same('caget', `${P}nums.NORD`, `${P}longs.NORD`);
    });

    it('-S on a char waveform, and caget -S', async () => {
      const r = await same('caput', '-S', `${P}chars`, 'hello chars');
      assert.match(r.out, /^New : tools:chars hello chars$/m);
      await same('caget', '-S', `${P}chars`);
      await same('caget', `${P}chars`);
      await same('caget', '-#', '5', `${P}chars`);
    });

    it('long strings: lso/lsi VAL takes 40 characters, VAL$ with -S takes them all', async () => {
      const text = 'a long string of more than forty characters, really quite long';
      await same('caput', `${P}lso`, text);
      await same('caput', '-S', `${P}lso.VAL$`, text);
      const r = await same('caget', '-S', `${P}lso.VAL$`);
      assert.ok(r.out.includes(text), r.out);
      await same('caput', '-c', '-S', `${P}lsi.VAL$`, text);
      await same('caget', '-S', `${P}lsi`, `${P}lsi.VAL$`, `${P}lso`);
      // -S on VAL itself: one DBR_STRING is all VAL is, and both servers refuse a longer char array.
      await same('caput', '-S', `${P}lso`, text);
    });

    it('a PV that does not exist', async () => {
      const r = await same('caput', '-w', '1', `${P}missing`, '1');
      assert.notEqual(r.code, 0);
    });

    it('a string that is no number, to a longin: the same failure, the reason in the context', async () => {
      const [a, b] = await Promise.all([
        runTool(servers.base!, 'caput', [`${P}li`, 'abc']),
        runTool(servers.ours!, 'caput', [`${P}li`, 'abc']),
      ]);
      // RSRV sends the channel name as the error's context; service-ioc sends why the write failed
      // (docs/protocol-notes.md). Everything else caput prints is the same.
      assert.match(a.out, /ctx="tools:li"/);
      assert.match(b.out, /ctx="(?:[^"]*: )?"abc" is not a number"/, 'the reason, naming the text, is the context');
      // libca prints the exception when it handles the error message, which may be before or
      // after the read-back that gives the "New" line: compare the two parts apart.
      const parts = (s: string): [string, string] => {
        const block = /^CA\.Client\.Exception\.+\n(?:.*\n)*?\.{20,}\n/m.exec(s);
        assert.ok(block, s);
        return [s.replace(block[0], ''), block[0].replace(/ctx=".*"$/m, 'ctx=<context>')];
      };
      assert.deepEqual(parts(b.out), parts(a.out));
      assert.equal(b.code, a.code);
      await same('caput', '-c', `${P}li`, 'abc');
      await same('caget', `${P}li`);
    });
  });

  describe('camonitor', () => {
    /** camonitor on both servers; `act` runs once each has printed `initial` lines; wait for `expect` more, then stop. */
    async function monitor(args: string[], initial: number, act: () => Promise<void>, more: number, last: RegExp): Promise<string[]> {
      const runs = (['base', 'ours'] as const).map((k) => startProcess(path.join(epicsBin()!, 'camonitor'), args, servers[k]!.env));
      try {
        await Promise.all(runs.map(async (m) => {
          while (m.lines.length < initial) await m.waitLine(/./, 10000, m.lines.length);
        }));
        await act();
        await Promise.all(runs.map((m) => m.waitLine(last, 10000, initial + more - 1)));
      } finally {
        await Promise.all(runs.map((m) => m.stop()));
      }
      const [a, b] = runs.map((m) => m.lines.map(normalise));
      assert.deepEqual(b, a, `camonitor ${args.join(' ')}: service-ioc (actual) against softIoc (expected)`);
      assert.equal(b.length, initial + more, b.join('\n'));
      return b;
    }

    it('a value put by caput arrives as the next line, on scalars, enums, strings and arrays', async () => {
      const pvs = ['ai', 'mbbo', 'so', 'nums'].map((n) => P + n);
      const lines = await monitor(pvs, 4, async () => {
        await same('caput', `${P}ai`, '12.5');
        await same('caput', `${P}mbbo`, 'Slow');
        await same('caput', `${P}so`, 'watched');
        await same('caput', '-a', `${P}nums`, '2', '7', '8');
      }, 4, /^tools:nums .* 2 7 8/);
      assert.match(lines[4], /^tools:ai\s+<time> 12\.5\s*$/);
    });

    it('-m a (DBE_ALARM) on an ai: a line only when the alarm changes', async () => {
      const lines = await monitor(['-m', 'a', `${P}ai`], 1, async () => {
        await same('caput', `${P}ai`, '45'); // HIGH, MINOR
        await same('caput', `${P}ai`, '46'); // same alarm: no line
        await same('caput', `${P}ai`, '55'); // HIHI, MAJOR
        await same('caput', `${P}ai`, '-5'); // LOLO, MAJOR
        await same('caput', `${P}ai`, '20'); // back to NO_ALARM
      }, 4, /^tools:ai\s+\S+ \S+ 20\s*$/);
      assert.match(lines[1], /45 HIGH MINOR/);
      assert.match(lines[3], /-5 LOLO MAJOR/);
    });

    it('-m p (DBE_PROPERTY) on an ai: a line when a limit changes, none for a value', async () => {
      await monitor(['-m', 'p', `${P}ai`], 1, async () => {
        await same('caput', `${P}ai`, '21');
        await same('caput', `${P}ai.HIGH`, '30');
        await same('caput', `${P}ai.EGU`, 'K');
      }, 2, /^tools:ai\s+\S+ \S+ 21\s*$/);
    });

    it('-m v with a deadband: MDEL filters small changes', async () => {
      await same('caput', `${P}ai.MDEL`, '2');
      await monitor(['-m', 'v', `${P}ai`], 1, async () => {
        await same('caput', `${P}ai`, '25');
        await same('caput', `${P}ai`, '26'); // within MDEL of 25
        await same('caput', `${P}ai`, '28');
      }, 2, /^tools:ai\s+\S+ \S+ 28\s*$/);
      await same('caput', `${P}ai.MDEL`, '0');
    });
  });

  describe('cainfo', () => {
    it('access, native type and element count match; only the host differs', async () => {
      const r = await same('cainfo', ...['ai', 'bo', 'mbbi', 'si', 'lsi', 'lsi.VAL$', 'li', 'chars', 'nums', 'longs', 'ai.DESC', 'ai.SCAN', 'nums.NORD'].map((n) => P + n));
      assert.match(r.out, /Access:\s+read, write/);
      assert.match(r.out, /Native data type: DBF_CHAR\n\s+Request type:\s+DBR_CHAR\n\s+Element count:\s+64/);
    });
  });
});
