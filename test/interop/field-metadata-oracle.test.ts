/**
 * Interop: fields other than VAL (`rec.FIELD`) with the metadata and string
 * conversions their record support gives, softIoc and softIocPVX as the
 * oracles. The same .db is served by `service-ioc softioc` and by softIoc
 * (CA: caget as DBR_STRING, DBR_GR_DOUBLE and DBR_CTRL_DOUBLE) and by
 * softIocPVX (PVA: pvxget, the parts QSRV marks); what the tools print must
 * be the same.
 */
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { normalise, runTool, sideBySideHooks, type SideBySide, type ToolResult } from '../helpers/ca-tools';
import { startProcess, type Managed } from '../helpers/processes';
import { normalisePva, pvaSideBySideHooks, runEpicsTool, type PvaServer } from '../helpers/pvxs';
import { epicsBin } from '../helpers/shared';

const P = 'fm:';

const DB = `# records for test/interop/field-metadata-oracle.test.ts
record(ai, "$(P)ai") {
  field(DESC, "an ai") field(EGU, "mm") field(PREC, "3") field(HOPR, "100") field(LOPR, "-5")
  field(HIHI, "90.123456") field(HHSV, "MAJOR") field(HIGH, "80.5") field(HYST, "0.5") field(ADEL, "0.25")
  field(ESLO, "2.000123456789") field(EOFF, "1.25") field(LINR, "LINEAR") field(EGUF, "10") field(ASLO, "0.5") field(SMOO, "0.125")
}
record(ai, "$(P)aim1") { field(PREC, "-1") field(HOPR, "0.123456789012345678") field(HIHI, "1.5") }
record(ai, "$(P)ai20") { field(PREC, "20") field(HOPR, "0.123456789012345678") field(ESLO, "3") }
record(ao, "$(P)ao") {
  field(EGU, "V") field(PREC, "2") field(HOPR, "10") field(LOPR, "0") field(DRVH, "8") field(DRVL, "1")
  field(HIGH, "7.777") field(OROC, "0.25") field(IVOV, "3.14159") field(ESLO, "4")
}
record(ao, "$(P)ao0") { field(EGU, "V") field(PREC, "2") field(HOPR, "10") field(LOPR, "-2") field(HIGH, "3") }
record(bi, "$(P)bi") { field(ZNAM, "Off") field(ONAM, "On") field(MASK, "3") }
record(bo, "$(P)bo") { field(ZNAM, "Off") field(ONAM, "On") field(HIGH, "1.5") }
record(calc, "$(P)calc") { field(CALC, "A+1") field(A, "1.23456789") field(PREC, "4") field(EGU, "s") field(HOPR, "50") field(HIHI, "40") field(HYST, "0.75") }
record(calc, "$(P)lk") {
  field(CALC, "A+B") field(PREC, "-1") field(EGU, "x")
  field(INPA, "$(P)ai") field(INPB, "$(P)ai.HOPR") field(INPC, "$(P)li") field(INPD, "$(P)bo.HIGH") field(INPE, "3.5")
}
record(calcout, "$(P)co") {
  field(CALC, "A+1") field(A, "1.5") field(PREC, "1") field(EGU, "s") field(HOPR, "50") field(HIHI, "45")
  field(ODLY, "0.123456") field(IVOV, "2.25") field(OUT, "$(P)ai.HOPR")
}
record(longin, "$(P)li") { field(EGU, "cnt") field(HOPR, "1000") field(LOPR, "-10") field(HIHI, "900") field(HHSV, "MINOR") field(HYST, "3") }
record(longout, "$(P)lo") { field(EGU, "u") field(HOPR, "100") field(DRVH, "50") field(DRVL, "5") field(HIHI, "90") field(HYST, "2") }
record(mbbi, "$(P)mbbi") { field(ZRST, "A") field(ONST, "B") field(ZRVL, "5") field(NOBT, "4") field(ZRSV, "MINOR") }
record(mbbo, "$(P)mbbo") { field(ZRST, "A") field(ZRVL, "3") field(NOBT, "2") }
record(stringout, "$(P)so") { field(VAL, "out") field(PHAS, "1") }
record(lso, "$(P)lso") { field(SIZV, "100") }
record(waveform, "$(P)wf") { field(NELM, "10") field(FTVL, "DOUBLE") field(EGU, "A") field(PREC, "2") field(HOPR, "9.5") field(LOPR, "-1") }
record(stringin, "$(P)si") { field(VAL, "hello") field(DESC, "a stringin") field(PHAS, "2") }
record(ai, "$(P)big") {
  field(HOPR, "3e9") field(LOPR, "-1e-41") field(HIHI, "5e9") field(HHSV, "MAJOR") field(HIGH, "70000.7") field(HSV, "MINOR")
  field(LOW, "-0") field(LSV, "MINOR") field(LOLO, "1e-300") field(LLSV, "MINOR")
}
# Not passive: a write to a field with pp(TRUE) does not process them (see the property events test).
record(ai, "$(P)evai") { field(SCAN, "Event") field(HIHI, "5") }
record(mbbi, "$(P)evmbbi") { field(SCAN, "Event") field(ZRST, "A") field(ZRVL, "5") }
record(longin, "$(P)evli") { field(SCAN, "Event") field(HIHI, "5") }
# Passive records written at run time: a field with pp(TRUE) processes them.
record(ai, "$(P)ppai") { field(VAL, "10") field(HIHI, "20") field(HHSV, "MAJOR") }
record(longin, "$(P)ppli") { field(VAL, "10") field(HIGH, "20") }
record(bi, "$(P)ppbi") { field(VAL, "1") field(ZNAM, "Off") }
record(mbbi, "$(P)ppmbbi") { field(VAL, "1") field(ZRST, "Z") field(ONST, "O") }
record(calc, "$(P)ppcalc") { field(CALC, "A") field(A, "7") field(HIGH, "10") field(HSV, "MINOR") }
record(stringin, "$(P)sl") { field(INP, "$(P)ai.ESLO") field(PINI, "YES") }
record(int64in, "$(P)i64") { field(VAL, "123456789012") field(EGU, "B") field(HOPR, "1000") field(LOPR, "-5") field(HIHI, "900") field(HHSV, "MAJOR") field(HYST, "3") }
record(int64out, "$(P)o64") { field(EGU, "B") field(DRVH, "5000000000") field(DRVL, "-3") field(HOPR, "100") field(HIGH, "50") field(HSV, "MINOR") field(IVOV, "-7") }
record(seq, "$(P)sq") {
  field(PREC, "2") field(DLY0, "0.5") field(DLY1, "1.25") field(DLY2, "3") field(DOL0, "$(P)ao") field(DOL1, "$(P)ai") field(DOL2, "$(P)li")
  field(DO3, "1.5") field(LNK1, "$(P)lo PP")
}
record(fanout, "$(P)fo") { field(SELN, "3") field(OFFS, "2") field(SHFT, "1") field(LNK1, "$(P)li") }
record(dfanout, "$(P)dfo") {
  field(EGU, "mm") field(PREC, "3") field(HOPR, "10") field(LOPR, "-1") field(HIHI, "9.5") field(HHSV, "MAJOR") field(HYST, "0.5")
  field(MDEL, "0.1") field(OUTA, "$(P)lo.HOPR PP")
}
`;

/** Numeric and menu fields: read as DBR_STRING, DBR_GR_DOUBLE and DBR_CTRL_DOUBLE. */
const NUMERIC: Record<string, readonly string[]> = {
  ai: ['HIHI', 'HIGH', 'LALM', 'HOPR', 'LOPR', 'HYST', 'ADEL', 'ESLO', 'EOFF', 'EGUF', 'EGUL', 'LINR', 'ASLO', 'AOFF', 'SMOO', 'PREC',
    'RVAL', 'ROFF', 'HHSV', 'SCAN', 'PHAS', 'DISV', 'UDF'],
  aim1: ['HOPR', 'HIHI', 'ESLO'],
  ai20: ['HOPR', 'ESLO'],
  // Limits beyond the integer and float ranges, and below FLT_MIN (values within them: a value
  // beyond them converts differently, see docs/protocol-notes.md).
  big: ['VAL', 'HIGH'],
  ao: ['HIGH', 'OVAL', 'IVOV', 'DRVH', 'DRVL', 'OROC', 'ESLO', 'PREC', 'OMSL'],
  // Without DRVH/DRVL an ao's control limits are 0..0 (aoRecord.c), VAL's too; a longout's are HOPR/LOPR.
  ao0: ['VAL', 'HIGH', 'OVAL', 'DRVH'],
  bi: ['ZSV', 'RVAL', 'MASK'],
  bo: ['HIGH', 'RVAL', 'MASK'],
  calc: ['A', 'B', 'LA', 'HIHI', 'HOPR', 'HYST', 'PREC'],
  lk: ['A', 'B', 'C', 'D', 'E', 'F', 'LA'],
  co: ['A', 'ODLY', 'OVAL', 'HIHI', 'IVOV', 'OOPT'],
  li: ['HIHI', 'HOPR', 'HYST', 'ADEL'],
  lo: ['VAL', 'HIHI', 'DRVH', 'HYST'],
  mbbi: ['ZRVL', 'NOBT', 'SHFT', 'ZRSV'],
  mbbo: ['ZRVL', 'NOBT', 'IVOV', 'OMSL'],
  so: ['PHAS', 'SCAN'],
  lso: ['SIZV', 'LEN'],
  wf: ['NELM', 'NORD', 'HOPR', 'LOPR', 'PREC', 'BUSY', 'FTVL'],
  si: ['SCAN', 'PHAS'],
  // INT64 fields: DBR_DOUBLE over CA, int64 over pvAccess (a NaN limit is INT64_MIN there).
  i64: ['VAL', 'HIHI', 'HOPR', 'HYST', 'LALM', 'MDEL'],
  o64: ['VAL', 'DRVH', 'DRVL', 'HIGH', 'IVOV', 'OMSL'],
  // DOn is described by DOL(n-1), DLY0 and DO0 by nothing of their own (seqRecord.c counts from DLY1).
  sq: ['VAL', 'DLY0', 'DLY1', 'DLY2', 'DO0', 'DO1', 'DO2', 'DO3', 'SELN', 'OLDN', 'PREC', 'SELM', 'OFFS'],
  fo: ['VAL', 'SELM', 'SELN', 'OFFS', 'SHFT'],
  dfo: ['VAL', 'HIHI', 'LALM', 'MLST', 'HOPR', 'HYST', 'MDEL', 'PREC', 'SELN', 'OMSL', 'HHSV'],
};

/** String fields: DBR_STRING only (a GR/CTRL DOUBLE read of text fails in both). */
const STRINGS: Record<string, readonly string[]> = {
  ai: ['DESC', 'EGU'],
  calc: ['CALC'],
  mbbi: ['ZRST'],
  so: ['VAL', 'DESC'],
  si: ['DESC'],
  // A DOUBLE field read through a link into a string: its precision, as DBR_STRING.
  sl: ['VAL'],
  sq: ['DOL0', 'DOL1', 'LNK1', 'LNK2'],
  i64: ['EGU', 'INP'],
  fo: ['LNK1', 'LNK2'],
  dfo: ['EGU', 'OUTA'],
};

const names = (table: Record<string, readonly string[]>): string[] =>
  Object.entries(table).flatMap(([rec, fields]) => fields.map((f) => `${P}${rec}.${f}`));

/** Fields of one record watched while its EGU and PREC change. */
const WATCHED = ['HIHI', 'ESLO', 'SCAN', 'DESC'].map((f) => `${P}ai.${f}`);

/** Wait until `m` has printed `n` lines matching `re` (in all). */
async function linesMatching(m: Managed, re: RegExp, n: number): Promise<void> {
  for (;;) {
    const seen = m.lines.map((l, i) => (re.test(l) ? i : -1)).filter((i) => i >= 0);
    if (seen.length >= n) return;
    await m.waitLine(re, 10000, seen.length ? seen[seen.length - 1] + 1 : 0);
  }
}

/**
 * A monitor's output as each PV's updates in order: a line that starts with
 * the PV's name begins an update, indented lines belong to it. (The order
 * between PVs is that of the servers' event queues.)
 */
function perPv(lines: readonly string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  let name: string | undefined;
  for (const line of lines) {
    if (/^\S/.test(line)) {
      name = line.split(/\s/)[0];
      (out[name] ??= []).push(line);
    } else if (name !== undefined) {
      const updates = out[name];
      updates[updates.length - 1] += `\n${line}`;
    }
  }
  return out;
}

/** DB served by service-ioc and by softIoc for the describe block that calls it. */
const servedSideBySide = (): (() => SideBySide) => sideBySideHooks(DB, P);

describe('interop: fields other than VAL have the metadata and DBR_STRING text softIoc gives them', function () {
  this.timeout(60000);

  describe('Channel Access (caget against softIoc)', () => {
    const side = servedSideBySide();

    /** One caget against both servers (softIoc first); they must print the same. */
    async function same(...args: string[]): Promise<ToolResult> {
      const a = await runTool(side().base, 'caget', args);
      const b = await runTool(side().ours, 'caget', args);
      assert.equal(b.out, a.out, `caget ${args.join(' ')}: service-ioc (actual) against softIoc (expected)`);
      assert.equal(b.code, a.code, `caget ${args.join(' ')}: exit code`);
      return b;
    }

    it('DBR_STRING: DOUBLE fields with the precision record support gives, integers plain, menus by name', async () => {
      const r = await same('-d', 'DBR_STRING', ...names(NUMERIC), ...names(STRINGS));
      // The comparison is the test; these only show that the table was read at all.
      assert.match(r.out, new RegExp(`${P}ai\\.HOPR\\n\\s+Native data type: DBF_DOUBLE`));
      assert.match(r.out, new RegExp(`${P}ai\\.SCAN\\n(?:.*\\n){3}\\s+Value:\\s+Passive`));
    });

    it('DBR_GR_DOUBLE: units, precision and display limits by field', async () => {
      await same('-d', 'DBR_GR_DOUBLE', ...names(NUMERIC));
    });

    it('DBR_CTRL_DOUBLE: the control limits too', async () => {
      await same('-d', 'DBR_CTRL_DOUBLE', ...names(NUMERIC));
    });

    it('DBR_CTRL_LONG, _SHORT, _CHAR and _FLOAT: limits cast to the type as dbAccess casts them', async () => {
      for (const t of ['DBR_CTRL_LONG', 'DBR_CTRL_SHORT', 'DBR_CTRL_CHAR', 'DBR_CTRL_FLOAT']) await same('-d', t, ...names(NUMERIC));
    });

    it('a write to a field with pp(TRUE) (alarm limits and severities, state names and values, UDF) processes a passive record', async () => {
      const state = (...pvs: string[]): Promise<ToolResult> => same('-d', 'DBR_TIME_STRING', ...pvs.map((n) => P + n));
      const RECORDS = ['ppai', 'ppli', 'ppbi', 'ppmbbi', 'ppcalc'];
      await state(...RECORDS);
      const writes: [string, string][] = [
        ['ppai.HIHI', '5'], ['ppli.HSV', 'MINOR'], ['ppbi.OSV', 'MAJOR'], ['ppmbbi.ONVL', '3'], ['ppcalc.HIGH', '5'],
      ];
      for (const server of [side().base, side().ours]) {
        for (const [pv, value] of writes) assert.equal((await runTool(server, 'caput', ['-t', P + pv, value])).code, 0);
      }
      const r = await state(...RECORDS);
      assert.doesNotMatch(r.out, /UDF/, 'every record has processed');
      // Not a field without pp(TRUE): HYST is stored, the record is not processed.
      for (const server of [side().base, side().ours]) assert.equal((await runTool(server, 'caput', ['-t', `${P}ppai.HYST`, '1'])).code, 0);
      await state('ppai');
    });

    it('after a change of EGU, PREC and HOPR, the fields show the new ones', async () => {
      for (const server of [side().base, side().ours]) {
        for (const [field, value] of [['EGU', 'cm'], ['PREC', '1'], ['HOPR', '250']]) {
          assert.equal((await runTool(server, 'caput', ['-t', `${P}ai.${field}`, value])).code, 0);
        }
      }
      await same('-d', 'DBR_CTRL_DOUBLE', ...['HIHI', 'HOPR', 'ESLO'].map((f) => `${P}ai.${f}`), `${P}lk.A`, `${P}lk.B`);
      await same('-d', 'DBR_STRING', ...['HIHI', 'HOPR', 'ESLO'].map((f) => `${P}ai.${f}`), `${P}lk.A`, `${P}lk.B`);
    });
  });

  describe('Channel Access monitors (camonitor against softIoc)', () => {
    const side = servedSideBySide();

    it('a write to EGU or PREC is a DBE_PROPERTY event on every field of the record, not only on VAL', async () => {
      const runs = [side().base, side().ours].map((server) => startProcess(path.join(epicsBin()!, 'camonitor'), ['-m', 'p', ...WATCHED], server.env));
      try {
        await Promise.all(runs.map((m) => linesMatching(m, /./, WATCHED.length)));
        for (const [field, value, events] of [['EGU', 'km', 2], ['PREC', '2', 3]] as const) {
          for (const server of [side().base, side().ours]) {
            assert.equal((await runTool(server, 'caput', ['-t', `${P}ai.${field}`, value])).code, 0);
          }
          await Promise.all(runs.map((m) => linesMatching(m, /./, WATCHED.length * events)));
        }
      } finally {
        await Promise.all(runs.map((m) => m.stop()));
      }
      const [a, b] = runs.map((m) => perPv(m.lines.map(normalise)));
      assert.deepEqual(b, a, 'camonitor -m p: service-ioc (actual) against softIoc (expected)');
      assert.equal(a[`${P}ai.HIHI`].length, 3, 'the first event and one for each write');
    });

    it('which writes are property events: alarm severities of an ai (not of a longin), an mbbi\'s state strings for VAL only', async () => {
      const watched = ['evai', 'evai.SCAN', 'evmbbi', 'evmbbi.ZRVL', 'evli', 'evli.SCAN'].map((n) => P + n);
      const runs = [side().base, side().ours].map((server) => startProcess(path.join(epicsBin()!, 'camonitor'), ['-m', 'p', ...watched], server.env));
      try {
        await Promise.all(runs.map((m) => linesMatching(m, /./, watched.length)));
        for (const server of [side().base, side().ours]) {
          for (const [pv, value] of [['evai.HHSV', 'MINOR'], ['evmbbi.ZRST', 'X'], ['evli.HHSV', 'MAJOR'], ['evai.EGU', 'end']]) {
            assert.equal((await runTool(server, 'caput', ['-t', P + pv, value])).code, 0);
          }
        }
        // The last write (EGU) is the third event of ai.SCAN; what came before it has arrived then.
        await Promise.all(runs.map((m) => linesMatching(m, new RegExp(`^${P}evai\\.SCAN\\s`), 3)));
      } finally {
        await Promise.all(runs.map((m) => m.stop()));
      }
      const [a, b] = runs.map((m) => perPv(m.lines.map(normalise)));
      assert.deepEqual(b, a, 'camonitor -m p: service-ioc (actual) against softIoc (expected)');
    });
  });

  describe('pvAccess (pvxget against softIocPVX)', () => {
    const side = pvaSideBySideHooks(DB, P);

    async function run(server: PvaServer, args: string[]): Promise<{ code: number | null; out: string }> {
      const r = await runEpicsTool('pvxget', args, server.env);
      return { code: r.code, out: normalisePva(r.stdout + r.stderr) };
    }

    it('NTScalar and NTEnum of field PVs: the display, control and valueAlarm parts QSRV marks, with their values', async () => {
      const args = ['-w', '5', ...names(NUMERIC), ...names(STRINGS)];
      const [a, b] = await Promise.all([run(side().base, args), run(side().ours, args)]);
      assert.equal(b.out, a.out, 'pvxget: service-ioc (actual) against softIocPVX (expected)');
      assert.equal(b.code, a.code, 'pvxget: exit code');
      assert.match(b.out, new RegExp(`^${P}ai\\.HIHI\\n {4}value double = `, 'm'));
    });

    it('a write to EGU is an update of display, control and valueAlarm on every field PV of the record', async () => {
      const runs = [side().base, side().ours].map((server) => startProcess(path.join(epicsBin()!, 'pvxmonitor'), WATCHED, server.env));
      const header = new RegExp(`^${P}\\S+$`);
      try {
        await Promise.all(runs.map((m) => linesMatching(m, header, WATCHED.length)));
        for (const server of [side().base, side().ours]) {
          assert.equal((await runEpicsTool('pvxput', ['-w', '5', `${P}ai.EGU`, 'km'], server.env)).code, 0);
        }
        // HIHI and ESLO show units; all four get an update, SCAN's and DESC's with no display part to fill.
        await Promise.all(runs.map((m) => linesMatching(m, /display\.units string = "km"/, 2)));
        await Promise.all(runs.map((m) => linesMatching(m, header, WATCHED.length * 2)));
      } finally {
        await Promise.all(runs.map((m) => m.stop()));
      }
      const [a, b] = runs.map((m) => perPv(m.lines.map(normalisePva)));
      assert.deepEqual(b, a, 'pvxmonitor: service-ioc (actual) against softIocPVX (expected)');
    });
  });
});
