/**
 * Interop: links, calc/calcout and disable, with softIoc as the oracle. The
 * same .db is served by `service-ioc softioc` and by the bundle's softIoc;
 * the same caput/caget/camonitor runs go to both, and what the tools print
 * (values, alarms, monitor events) must be the same.
 */
import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { DbrType } from '../../src/ca/protocol/constants';
import { caPutNumber, normalise, runTool, serveSideBySide, type Server, type SideBySide, type ToolResult } from '../helpers/ca-tools';
import { requireBuiltCli } from '../helpers/cli';
import { startProcess } from '../helpers/processes';
import { checkEpicsBundle, epicsBin } from '../helpers/shared';
import { requireDependency } from '../helpers/system';

const P = 'lk:';

/**
 * Expressions whose results depend on calcPerform's integer conversions and
 * operators that Debian's older libCom (the calc-oracle test) does not have.
 */
const EXPRESSIONS = [
  '-8>>>1', '-1>>>0', '0xFFFFFFFF>>>28', '-8>>1', '1<<31', '1<<32', '1<<-1', '-1>>33', '2147483648|0', '4294967296|1', '1e10|0',
  '-2147483649|0', '-1e10|0', 'NAN|0', '1/0|0', '-1/0|0', '~NAN', '-5.5|0', 'NAN%3', '7%NAN', '7.9%-2.1', '5 XOR 3', 'NOT 0',
  'FINITE(1,2,3)', 'ISNAN(0/0)', 'ISINF(-1/0)', 'NINT(-0.5)', 'MIN(3,1,2)+MAX(0/0,1)', 'A:=2;B:=A*3;A+B', 'ATAN2(1,0)', 'LOG(100)+LN(1)',
];

/** PREC values and numbers of the DBR_STRING conversion table (cvtDoubleToString). */
const FORMAT_PRECS = [0, 2, 5, 9, -1, 20];
const FORMAT_VALUES = ['2.5', '0.125', '1e-5', '-0', '-0.0001', '1234567.891', '9999999.99', '10000000.5', '12345678.123456',
  '1e16', '1.5e16', '-1e17', 'nan', 'inf', '-inf', '0.145', '0.0049999', '-2.5', '1e300', '-1e-300', '0.99999'];

const DB = `# records for test/interop/records-oracle.test.ts
record(ao, "$(P)cvbig") { field(VAL, "3e9") }
record(ao, "$(P)cvhuge") { field(VAL, "-1e300") }
record(ao, "$(P)cvtiny") { field(VAL, "1e-300") }
record(ao, "$(P)cvntiny") { field(VAL, "-1e-41") }
record(ao, "$(P)cvnan") { field(VAL, "nan") }
record(ao, "$(P)cvmid") { field(VAL, "70000.7") }
record(ao, "$(P)cvset") { }
record(mbbo, "$(P)cvmb") { }
record(longout, "$(P)cvlo") { }
record(longout, "$(P)cvzero") { field(VAL, "5") }
record(longout, "$(P)cvlout") { field(OUT, "$(P)cvmb.SHFT") }
record(ao, "$(P)cvaout") { field(OUT, "$(P)cvmb.DISV") }
record(stringout, "$(P)cvsout") { field(OUT, "$(P)cvmb.SHFT") }
record(waveform, "$(P)cvwf") { field(FTVL, "DOUBLE") field(NELM, "4") }
record(bi, "$(P)ulsrc") { }
record(longout, "$(P)lsrc") { }
record(longout, "$(P)uldl") { field(DOL, "$(P)ulsrc.RVAL") field(OMSL, "closed_loop") }
record(ao, "$(P)ulda") { field(DOL, "$(P)ulsrc.RVAL") field(OMSL, "closed_loop") }
record(mbbo, "$(P)uldm") { field(DOL, "$(P)ulsrc.RVAL") field(OMSL, "closed_loop") }
record(mbbo, "$(P)uldn") { field(DOL, "$(P)lsrc") field(OMSL, "closed_loop") }
record(calc, "$(P)uldc") { field(INPA, "$(P)ulsrc.RVAL") field(CALC, "A") }
record(longout, "$(P)ulout") { field(DOL, "$(P)ulsrc.RVAL") field(OMSL, "closed_loop") field(OUT, "$(P)cvmb.SHFT") }
${EXPRESSIONS.map((e, i) => `record(calc, "$(P)x${i}") { field(PINI, "YES") field(PREC, "3") field(CALC, "${e}") }`).join('\n')}
record(ai, "$(P)src") { field(VAL, "1") field(HIGH, "5") field(HSV, "MINOR") field(HIHI, "10") field(HHSV, "INVALID") }
record(ai, "$(P)npp") { field(INP, "$(P)src NPP") }
record(ai, "$(P)ms") { field(INP, "$(P)src MS") }
record(ai, "$(P)mss") { field(INP, "$(P)src MSS") }
record(ai, "$(P)msi") { field(INP, "$(P)src MSI") }
record(calc, "$(P)count") { field(CALC, "VAL+1") }
record(ai, "$(P)pp") { field(INP, "$(P)count PP") field(FLNK, "$(P)chain1") }
record(calc, "$(P)chain1") { field(INPA, "$(P)pp") field(CALC, "A*2") field(FLNK, "$(P)chain2") }
record(calc, "$(P)chain2") { field(INPA, "$(P)chain1") field(INPB, "0.25") field(CALC, "A+B") }
record(calc, "$(P)cp") { field(INPA, "$(P)src CP") field(INPB, "$(P)src.HIGH") field(CALC, "A>B?1:0") }
record(ao, "$(P)out") { field(OUT, "$(P)dst PP") field(DRVH, "50") }
record(ai, "$(P)dst") { field(HIGH, "20") field(HSV, "MAJOR") }
record(ao, "$(P)outf") { field(OUT, "$(P)dst.HIGH") }
record(ao, "$(P)cl") { field(DOL, "$(P)src") field(OMSL, "closed_loop") }
record(longout, "$(P)k") { field(DOL, "7") }
record(bo, "$(P)l1") { field(OUT, "$(P)l2 PP") field(ZNAM, "Off") field(ONAM, "On") }
record(bo, "$(P)l2") { field(OUT, "$(P)l1 PP") field(ZNAM, "Off") field(ONAM, "On") }
record(stringin, "$(P)str") { field(INP, "$(P)l1 PP") }
record(calc, "$(P)math") { field(CALC, "B:=B+1;(B%3=0?100:B)+MAX(A,2)**2+NINT(-2.5)+(6 AND 3)") }
record(calcout, "$(P)co") {
  field(INPA, "$(P)src") field(CALC, "A") field(OOPT, "Transition To Non-zero")
  field(DOPT, "Use OCAL") field(OCAL, "A*100") field(OUT, "$(P)codst PP")
}
record(ai, "$(P)codst") { }
record(calcout, "$(P)coz") { field(CALC, "A") field(OOPT, "When Zero") field(OUT, "$(P)cozdst PP") }
record(ai, "$(P)cozdst") { }
record(ai, "$(P)dis") { field(DISS, "MAJOR") field(VAL, "3") }
record(bo, "$(P)gate") { }
record(calc, "$(P)gated") { field(SDIS, "$(P)gate") field(CALC, "VAL+1") field(DISS, "MINOR") }
record(ai, "$(P)relink") { field(INP, "$(P)src") }
record(ao, "$(P)outms") { field(OUT, "$(P)msdst PP MS") field(HIGH, "5") field(HSV, "MINOR") field(HIHI, "9") field(HHSV, "MAJOR") }
record(ai, "$(P)msdst") { }
record(calc, "$(P)slow") { field(SCAN, "10 second") field(CALC, "VAL+1") }
record(ai, "$(P)readslow") { field(INP, "$(P)slow PP") }
record(mbbo, "$(P)mode") { field(ZRST, "Idle") field(ONST, "Run") field(TWST, "Fault") field(TWSV, "MAJOR") field(OUT, "$(P)modein PP MSS") }
record(mbbi, "$(P)modein") { field(ZRST, "Idle") field(ONST, "Run") field(TWST, "Fault") field(FLNK, "$(P)modestr") }
record(stringin, "$(P)modestr") { field(INP, "$(P)modein") }
record(stringout, "$(P)sout") { field(OUT, "$(P)sin PP") }
record(stringin, "$(P)sin") { }
record(longout, "$(P)lout") { field(OUT, "$(P)bin PP") }
record(bi, "$(P)bin") { field(ZNAM, "Low") field(ONAM, "High") field(OSV, "MINOR") }
record(calcout, "$(P)discout") { field(CALC, "A") field(OUT, "$(P)disdst PP") field(DISV, "1") field(DISS, "INVALID") }
record(ai, "$(P)disdst") { }
record(calcout, "$(P)late") { field(CALC, "A") field(ODLY, "0.2") field(OUT, "$(P)latedst PP") }
record(ai, "$(P)latedst") { }
record(ao, "$(P)ramp") {
  field(VAL, "1") field(OROC, "2") field(AOFF, "0.5") field(DRVH, "30") field(OUT, "$(P)rampdst PP")
  field(HIHI, "25") field(HHSV, "INVALID") field(IVOA, "Set output to IVOV") field(IVOV, "42")
}
record(ai, "$(P)rampdst") { }
record(ao, "$(P)slope") { field(LINR, "SLOPE") field(ESLO, "2") field(EOFF, "1") field(ROFF, "3") field(AOFF, "0.5") field(ASLO, "0.5") }
record(ao, "$(P)linear") { field(LINR, "LINEAR") field(ESLO, "0") field(EGUF, "10") field(EGUL, "0") }
record(ao, "$(P)bpt") { field(LINR, "typeKdegC") }
record(ao, "$(P)roff") { field(ROFF, "3") }
record(calcout, "$(P)coiv") {
  field(CALC, "A") field(DOPT, "Use OCAL") field(OCAL, "A*2") field(HIHI, "5") field(HHSV, "INVALID")
  field(IVOA, "Set output to IVOV") field(IVOV, "42") field(OUT, "$(P)coivdst PP")
}
record(ai, "$(P)coivdst") { }
record(calcout, "$(P)coquiet") { field(CALC, "A") field(HIHI, "5") field(HHSV, "INVALID") field(IVOA, "Don't drive outputs") field(OUT, "$(P)coquietdst PP") }
record(ai, "$(P)coquietdst") { }
record(mbbi, "$(P)bare") { field(VAL, "3") }
record(mbbo, "$(P)bareout") { field(VAL, "2") field(OUT, "$(P)barein PP") }
record(longout, "$(P)barein") { }
record(mbbo, "$(P)valued") { field(ONVL, "5") field(TWVL, "9") field(SHFT, "2") }
record(calc, "$(P)rescan") { field(CALC, "VAL+1") }
record(calc, "$(P)clock") { field(SCAN, ".1 second") field(CALC, "VAL+1") }
record(ai, "$(P)intr") { field(SCAN, "I/O Intr") }
record(ao, "$(P)rampscan") { field(SCAN, ".1 second") field(OROC, "3") }
record(calc, "$(P)fc0") { field(CALC, "VAL+1") }
record(calc, "$(P)fc1") { field(CALC, "VAL+1") }
record(calc, "$(P)fc2") { field(CALC, "VAL+1") }
record(calc, "$(P)fcf") { field(CALC, "VAL+1") }
record(calc, "$(P)fcscan") { field(SCAN, "10 second") field(CALC, "VAL+1") }
record(longout, "$(P)fsel") { }
record(fanout, "$(P)fan") { field(LNK0, "$(P)fc0") field(LNK1, "$(P)fc1") field(LNK2, "$(P)fcscan") field(LNKF, "$(P)fcf") }
record(fanout, "$(P)fansel") { field(SELM, "Specified") field(SELL, "$(P)fsel") field(LNK0, "$(P)fc0") field(LNK1, "$(P)fc1") field(LNK2, "$(P)fc2") }
record(fanout, "$(P)fanmask") { field(SELM, "Mask") field(SHFT, "0") field(LNK0, "$(P)fc0") field(LNK1, "$(P)fc1") field(LNK2, "$(P)fc2") }
record(ai, "$(P)dfa") { }
record(ao, "$(P)dfb") { }
record(ai, "$(P)dfh") { }
record(ao, "$(P)dfsrc") { }
record(dfanout, "$(P)dfan") {
  field(OUTA, "$(P)dfa PP") field(OUTB, "$(P)dfb PP") field(OUTH, "$(P)dfh.HIGH")
  field(HIGH, "5") field(HSV, "MINOR") field(HIHI, "50") field(HHSV, "MAJOR") field(EGU, "mm") field(PREC, "2") field(HOPR, "10") field(LOPR, "-10")
}
record(dfanout, "$(P)dfsel") { field(SELM, "Specified") field(SELL, "$(P)fsel") field(OUTA, "$(P)dfa") field(OUTB, "$(P)dfb") }
record(dfanout, "$(P)dfmask") { field(SELM, "Mask") field(SELN, "6") field(OUTA, "$(P)dfa") field(OUTB, "$(P)dfb") field(OUTC, "$(P)dfh") }
record(dfanout, "$(P)dfcl") { field(DOL, "$(P)dfsrc") field(OMSL, "closed_loop") field(OUTA, "$(P)dfh PP") }
record(dfanout, "$(P)dfk") { field(DOL, "2.5") field(OUTA, "$(P)dfb") }
record(dfanout, "$(P)dfdly") { field(OUTA, "$(P)codly.A PP") }
record(calcout, "$(P)codly") { field(CALC, "A") field(ODLY, "0.5") field(OUT, "$(P)dlydst PP") }
record(ai, "$(P)dlydst") { }
record(ao, "$(P)sqsrc") { field(VAL, "4.5") field(PREC, "3") field(EGU, "V") }
record(ai, "$(P)sqa") { }
record(ai, "$(P)sqb") { }
record(calc, "$(P)sqc") { field(CALC, "VAL+1") }
record(seq, "$(P)sq") {
  field(DOL0, "$(P)sqsrc") field(LNK0, "$(P)sqa PP")
  field(DLY1, "0.3") field(DOL1, "7") field(LNK1, "$(P)sqb PP")
  field(DLY2, "0.2") field(LNK2, "$(P)sqc.PROC")
}
record(ai, "$(P)sma") { }
record(ai, "$(P)smb") { }
record(ai, "$(P)smc") { }
record(seq, "$(P)sqsel") {
  field(SELM, "Specified") field(SELL, "$(P)fsel")
  field(DOL0, "1") field(LNK0, "$(P)sma PP") field(DOL1, "2") field(LNK1, "$(P)sma PP") field(DOL2, "3") field(LNK2, "$(P)sma PP")
}
record(seq, "$(P)sqmask") {
  field(SELM, "Mask") field(SHFT, "0")
  field(DOL0, "10") field(LNK0, "$(P)smb PP") field(DOL1, "11") field(LNK1, "$(P)smc PP") field(DOL2, "12") field(LNK2, "$(P)smc.HIGH")
}
record(int64in, "$(P)i64") { field(VAL, "123456789012") field(HIHI, "900") field(HHSV, "MAJOR") field(LOW, "-5") }
record(int64out, "$(P)o64") { field(DRVH, "5000000000") field(DRVL, "-3") field(OUT, "$(P)i64 PP") field(HIGH, "50") field(HSV, "MINOR") }
record(longout, "$(P)l64") { field(DOL, "$(P)i64") field(OMSL, "closed_loop") }
record(calc, "$(P)cval") { field(CALC, "VAL+1") }
record(calcout, "$(P)coval") { field(CALC, "VAL+1") field(OUT, "$(P)covdst PP") }
record(ai, "$(P)covdst") { }
${FORMAT_PRECS.map((p) => `record(ao, "$(P)fmt${p < 0 ? 'm' : ''}${Math.abs(p)}") { field(PREC, "${p}") }`).join('\n')}
`;

describe('interop: links, calc and disable as softIoc has them', function () {
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

  /** Run one invocation against both servers (softIoc first); they must print the same. */
  async function same(tool: string, ...args: string[]): Promise<ToolResult> {
    const a = await runTool(servers.base!, tool, args);
    const b = await runTool(servers.ours!, tool, args);
    assert.equal(b.out, a.out, `${tool} ${args.join(' ')}: service-ioc (actual) against softIoc (expected)`);
    assert.equal(b.code, a.code, `${tool} ${args.join(' ')}: exit code`);
    return b;
  }

  /** Values with their alarm status and severity. */
  const state = (...names: string[]): Promise<ToolResult> => same('caget', '-d', 'DBR_STS_STRING', ...names.map((n) => P + n));

  /** A camonitor line (as printed, with its time) of `pv` with `value`. */
  const eventLine = (pv: string, value: string): RegExp => new RegExp(`^${P}${pv.replace('.', '\\.')}\\s+\\S+ \\S+ ${value}\\b`);

  /** camonitor on both servers: `act` runs once each has printed `initial` lines; then wait for a line matching `last`. */
  async function monitor(args: string[], initial: number, act: () => Promise<void>, last: RegExp): Promise<string[]> {
    const runs = (['base', 'ours'] as const).map((k) => startProcess(path.join(epicsBin()!, 'camonitor'), args, servers[k]!.env));
    try {
      await Promise.all(runs.map(async (m) => {
        while (m.lines.length < initial) await m.waitLine(/./, 10000, m.lines.length);
      }));
      await act();
      await Promise.all(runs.map((m) => m.waitLine(last, 10000, initial)));
    } finally {
      await Promise.all(runs.map((m) => m.stop()));
    }
    const [a, b] = runs.map((m) => m.lines.map(normalise));
    assert.deepEqual(b, a, `camonitor ${args.join(' ')}: service-ioc (actual) against softIoc (expected)`);
    return b;
  }

  it('DOUBLE values read as DBR_LONG, _SHORT, _CHAR and _ENUM go through int32 (3e9 is -2147483648); as DBR_FLOAT they are held to its range', async () => {
    const names = ['cvbig', 'cvhuge', 'cvtiny', 'cvntiny', 'cvnan', 'cvmid'].map((n) => P + n);
    for (const type of ['DBR_LONG', 'DBR_SHORT', 'DBR_CHAR', 'DBR_ENUM', 'DBR_FLOAT']) await same('caget', '-d', type, ...names);
    const big = await same('caget', '-d', 'DBR_LONG', `${P}cvbig`);
    assert.match(big.out, /Value:\s+-2147483648$/m);
    // An integer field served as DOUBLE (mbbo RVAL, DBF_ULONG) keeps its low bits instead.
    await same('caput', '-t', `${P}cvmb.RVAL`, '3000000000');
    for (const type of ['DBR_LONG', 'DBR_SHORT', 'DBR_CHAR']) await same('caget', '-d', type, `${P}cvmb.RVAL`);
  });

  it('text written to a numeric field is parsed by the field\'s type: a number beyond it fails the put (caput of 70000 to a USHORT)', async () => {
    const puts: [string, string[]][] = [
      ['cvmb.SHFT', ['5', '70000', '65535', '65536', '-1', '-65535', '-65536', '1.5', '0x10', ' 12abc', '1e3', '', 'abc']],
      ['cvmb.TPRO', ['255', '256', '-1', '-255', '-256', '1.9']],
      ['cvmb.DISV', ['32767', '32768', '-32768', '-32769']],
      ['cvlo', ['2147483647', '2147483648', '-2147483648', '-2147483649', '1e3']],
      ['cvmb.RVAL', ['4294967295', '4294967296', '-1', '1e3', '.5', '1e10', '4.294967296e9', '-.5', 'nan', '7']],
      ['cvset', ['1e400', '1e-310', '-1e-310', 'inf', '0x10', ' 7x', '1e308']],
      // An mbbo without states holds VAL as a USHORT.
      ['bareout', ['-1', '70000', '65535', '65536', '3']],
    ];
    for (const [field, texts] of puts) {
      for (const text of texts) {
        await same('caput', '-c', '-t', P + field, text);
        await same('caget', P + field);
      }
    }
    const refused = await runTool(servers.base!, 'caput', ['-c', '-t', `${P}cvmb.SHFT`, '70000']);
    assert.notEqual(refused.code, 0, 'softIoc refuses 70000 in a USHORT field');
  });

  it('numbers written as DBR_LONG, _DOUBLE, _SHORT, _FLOAT, _CHAR and _ENUM are cast to the field\'s type (70000 is 4464 in a USHORT)', async () => {
    const puts: [string, DbrType, number][] = [
      ['cvmb.SHFT', DbrType.LONG, 70000], ['cvmb.SHFT', DbrType.LONG, -1], ['cvmb.SHFT', DbrType.DOUBLE, 70000.9],
      ['cvmb.SHFT', DbrType.DOUBLE, 3e9], ['cvmb.SHFT', DbrType.SHORT, -2], ['cvmb.SHFT', DbrType.FLOAT, 1e10],
      ['cvmb.TPRO', DbrType.LONG, 300], ['cvmb.DISV', DbrType.LONG, 40000], ['cvmb.DISV', DbrType.DOUBLE, -1e300],
      ['cvlo', DbrType.DOUBLE, 3e9], ['cvlo', DbrType.DOUBLE, NaN], ['cvlo', DbrType.FLOAT, -1.5],
      ['cvmb.RVAL', DbrType.LONG, -1], ['cvmb.RVAL', DbrType.DOUBLE, -1.5], ['cvmb.RVAL', DbrType.DOUBLE, 5e9], ['cvmb.RVAL', DbrType.DOUBLE, 1e20],
      ['cvset', DbrType.FLOAT, 0.1], ['cvset', DbrType.LONG, -7], ['cvlo', DbrType.CHAR, 200], ['cvmb.SHFT', DbrType.ENUM, 65535],
      ['bareout', DbrType.LONG, 70000], ['bareout', DbrType.LONG, -1], ['bareout', DbrType.DOUBLE, 1e10],
    ];
    for (const [field, type, value] of puts) {
      const what = `${P}${field} as ${DbrType[type]} ${value}`;
      const a = await caPutNumber(servers.base!, P + field, type, value);
      const b = await caPutNumber(servers.ours!, P + field, type, value);
      assert.equal(b, a, `${what}: ECA status`);
      const read = await same('caget', P + field);
      if (field === 'cvmb.SHFT' && type === DbrType.LONG && value === 70000) assert.match(read.out, /\s4464$/m);
    }
  });

  it('a link writes a numeric field by the field\'s type too: a LONG 70000 is 4464 in a USHORT, the text 70000 fails the link', async () => {
    for (const [out, value] of [['cvlout', '70000'], ['cvlout', '-1'], ['cvaout', '40000.5'], ['cvaout', '3e9'], ['cvsout', '70000'], ['cvsout', '65535'], ['cvsout', '-2']]) {
      await same('caput', '-c', '-t', P + out, value);
      await state(out);
      await same('caget', `${P}cvmb.SHFT`, `${P}cvmb.DISV`);
    }
  });

  it('a link from an unsigned long field (bi.RVAL) into LONG, DOUBLE and an mbbo without states keeps the low bits, as C casts integers', async () => {
    for (const value of ['4294967295', '3000000000', '2147483648', '70000', '65537']) {
      await same('caput', '-t', `${P}ulsrc.RVAL`, value);
      await same('caput', '-t', `${P}lsrc`, value === '70000' ? '70000' : '-1');
      for (const r of ['uldl', 'ulda', 'uldm', 'uldn', 'uldc', 'ulout']) await same('caput', '-t', `${P}${r}.PROC`, '1');
      await same('caget', '-f0', ...['uldl', 'ulda', 'uldm', 'uldm.RVAL', 'uldn', 'uldc', 'cvmb.SHFT'].map((n) => P + n));
    }
  });

  it('a put of no elements (caput -a PV 0) is taken: a field keeps its value, a VAL processes the record with LINK/INVALID, a waveform keeps none', async () => {
    await same('caput', '-c', '-a', `${P}cvmb.ZRVL`, '0');
    await same('caget', `${P}cvmb.ZRVL`);
    await same('caput', '-c', `${P}cvzero`, '6');
    await same('caput', '-c', '-a', `${P}cvzero`, '0');
    const zero = await state('cvzero');
    assert.match(zero.out, /Value:\s+6\n\s+Status:\s+LINK\n\s+Severity:\s+INVALID/);
    await same('caput', '-c', `${P}cvzero`, '7');
    await state('cvzero');
    await same('caput', '-c', '-a', `${P}cvwf`, '3', '1', '2', '3');
    await same('caput', '-c', '-a', `${P}cvwf`, '0');
    await same('caget', `${P}cvwf.NORD`);
  });

  it('DOUBLE reads as DBR_STRING with the record\'s PREC as cvtDoubleToString writes it', async () => {
    const names = FORMAT_PRECS.map((p) => `${P}fmt${p < 0 ? 'm' : ''}${Math.abs(p)}`);
    for (const v of FORMAT_VALUES) {
      for (const k of ['base', 'ours'] as const) {
        for (const n of names) assert.equal((await runTool(servers[k]!, 'caput', ['-t', n, v])).code, 0);
      }
      await same('caget', '-s', ...names);
    }
  });

  it('start: constants in DOL, CP links processed once, links read back with their modifiers', async () => {
    await state('k', 'cp', 'npp', 'pp');
    const r = await same('caget', ...['npp.INP', 'ms.INP', 'cp.INPB', 'pp.FLNK', 'out.OUT', 'k.DOL'].map((n) => P + n));
    assert.match(r.out, /lk:npp\.INP\s+lk:src NPP NMS/);
  });

  it('NPP/MS/MSS/MSI inputs follow the source and its alarm', async () => {
    for (const v of ['7', '20', '2']) {
      await same('caput', `${P}src`, v);
      for (const n of ['npp', 'ms', 'mss', 'msi']) await same('caput', `${P}${n}.PROC`, '1');
      await state('src', 'npp', 'ms', 'mss', 'msi');
    }
  });

  it('PP input processes its passive source; FLNK runs the chain', async () => {
    for (let i = 0; i < 2; i++) {
      await same('caput', `${P}pp.PROC`, '1');
      await state('count', 'pp', 'chain1', 'chain2');
    }
  });

  it('CP: the calc follows its source, event by event', async () => {
    const lines = await monitor([`${P}cp`], 1, async () => {
      await same('caput', `${P}src`, '8');
      await same('caput', `${P}src`, '9');
      await same('caput', `${P}src`, '1');
    }, eventLine('cp', '0'));
    assert.ok(lines.length >= 3, lines.join('\n'));
  });

  it('OUT PP drives its target and its alarm; a link to a field writes that field; DRVH holds the value', async () => {
    await same('caput', `${P}out`, '30');
    await state('out', 'dst');
    await same('caput', `${P}out`, '80');
    await state('out', 'dst');
    await same('caput', `${P}outf`, '100');
    await same('caget', `${P}dst.HIGH`);
    await same('caput', `${P}dst.PROC`, '1');
    await state('dst');
  });

  it('OMSL closed_loop reads DOL; a loop of PP links ends; a bo read as a string by state name', async () => {
    await same('caput', `${P}src`, '3');
    await same('caput', `${P}cl.PROC`, '1');
    await state('cl');
    await same('caput', `${P}l1`, '1');
    await state('l1', 'l2');
    await same('caput', `${P}str.PROC`, '1');
    await state('str');
  });

  it('calc: assignment, conditional, functions, with monitors on VAL and B', async () => {
    await monitor([`${P}math`, `${P}math.B`], 2, async () => {
      for (let i = 0; i < 3; i++) await same('caput', `${P}math.PROC`, '1');
    }, eventLine('math.B', '3'));
    await state('math');
  });

  it('calcout: OOPT transition and When Zero, DOPT Use OCAL, OVAL and PVAL', async () => {
    for (const v of ['0', '2', '3', '0', '4']) {
      await same('caput', `${P}src`, v);
      await same('caput', `${P}co.PROC`, '1');
      await state('co', 'co.OVAL', 'co.PVAL', 'codst');
    }
    for (const v of ['1', '0']) {
      await same('caput', `${P}coz.A`, v);
      await state('coz', 'coz.OVAL', 'cozdst');
    }
  });

  it('DISA: a write alone processes nothing; processing while disabled shows DISABLE/DISS once; SDIS reads DISA', async () => {
    await same('caput', `${P}dis.DISA`, '1');
    await state('dis');
    await monitor(['-m', 'va', `${P}dis`], 1, async () => {
      await same('caput', `${P}dis.PROC`, '1');
      await same('caput', `${P}dis.PROC`, '1');
      await same('caput', `${P}dis.DISA`, '0');
      await same('caput', `${P}dis`, '4');
    }, eventLine('dis', '4'));
    await same('caput', `${P}gated.PROC`, '1');
    await same('caput', `${P}gate`, '1');
    await same('caput', `${P}gated.PROC`, '1');
    await state('gated');
    await same('caput', `${P}gate`, '0');
    await same('caput', `${P}gated.PROC`, '1');
    await state('gated');
  });

  it('an output link with MS passes the writer\'s alarm on, event by event', async () => {
    await monitor(['-m', 'va', `${P}msdst`], 1, async () => {
      for (const v of ['6', '10', '1']) await same('caput', `${P}outms`, v);
    }, eventLine('msdst', '1'));
    await state('outms', 'msdst');
  });

  it('a PP link does not process a periodic record', async () => {
    await same('caput', `${P}readslow.PROC`, '1');
    await same('caput', `${P}readslow.PROC`, '1');
    await state('readslow');
  });

  it('FLNK chain: the monitor events of each record of the chain', async () => {
    await monitor([`${P}pp`, `${P}chain1`, `${P}chain2`], 3, async () => {
      await same('caput', `${P}pp.PROC`, '1');
    }, /^lk:chain2\s+\S+ \S+ \d+\.25\b/);
  });

  it('calcout ODLY: DLYA goes up, the output is written after the delay, then DLYA goes down', async () => {
    await monitor([`${P}late.DLYA`, `${P}latedst`], 2, async () => {
      await same('caput', `${P}late.A`, '5');
    }, eventLine('latedst', '5'));
    await state('late', 'late.DLYA', 'latedst');
  });

  it('puts through links between types: mbbo to mbbi by state, mbbi read as its state name, strings, a longout into a bi', async () => {
    for (const v of ['Run', 'Fault', 'Idle']) {
      await same('caput', `${P}mode`, v);
      await state('mode', 'modein', 'modestr');
    }
    // A string read as characters: all of the field, NULs after the text included, in any request type.
    await same('caget', '-d', 'DBR_STRING', `${P}sout.VAL$`, `${P}sout.DESC$`);
    await same('caget', '-d', 'DBR_DOUBLE', '-#', '0', `${P}sout.VAL$`);
    await same('caput', `${P}sout`, 'hello links');
    await same('caget', '-d', 'DBR_STRING', `${P}sout.VAL$`);
    await same('caget', '-S', `${P}sout.VAL$`);
    await same('caput', `${P}lout`, '1');
    await state('sin', 'bin');
    await same('caput', `${P}lout`, '0');
    await state('bin');
  });

  it('ao OROC: OVAL steps toward VAL once per processing, RVAL and OUT follow; IVOV goes through DRVH and OROC too', async () => {
    await state('ramp', 'ramp.OVAL', 'ramp.RVAL', 'rampdst');
    await monitor(['-m', 'va', `${P}ramp.OVAL`, `${P}ramp.RVAL`, `${P}rampdst`], 3, async () => {
      await same('caput', `${P}ramp`, '6');
      for (let i = 0; i < 3; i++) await same('caput', `${P}ramp.PROC`, '1');
      await same('caput', `${P}ramp`, '-1');
      await same('caput', `${P}ramp`, '28');
    }, eventLine('rampdst', '8'));
    await state('ramp', 'ramp.OVAL', 'ramp.RVAL', 'rampdst');
  });

  it('ao LINR: SLOPE and LINEAR scale RVAL by EOFF and ESLO, then AOFF, ASLO and ROFF; a breakpoint table a soft IOC lacks is SOFT/MAJOR', async () => {
    for (const rec of ['slope', 'linear', 'bpt', 'roff']) {
      for (const v of ['10', '-7.25']) {
        await same('caput', `${P}${rec}`, v);
        await state(rec, `${rec}.OVAL`, `${rec}.RVAL`, `${rec}.ESLO`);
      }
    }
  });

  it('ao OROC with a periodic SCAN: OVAL reaches a new VAL one step per scan', async () => {
    await monitor([`${P}rampscan.OVAL`], 1, async () => {
      await same('caput', `${P}rampscan`, '10');
    }, eventLine('rampscan.OVAL', '10'));
    await state('rampscan', 'rampscan.OVAL');
  });

  it('calcout IVOA: an INVALID calcout sets OVAL (not VAL) to IVOV and writes it, or drives nothing', async () => {
    await monitor(['-m', 'va', `${P}coiv`, `${P}coiv.OVAL`, `${P}coivdst`], 3, async () => {
      for (const v of ['2', '8', '9', '1']) {
        await same('caput', `${P}coiv.A`, v);
        await same('caput', `${P}coquiet.A`, v);
        await state('coiv', 'coiv.OVAL', 'coivdst', 'coquiet', 'coquiet.OVAL', 'coquietdst');
      }
    }, eventLine('coivdst', '2'));
  });

  it('SCAN written at run time: a periodic SCAN scans the record, Passive stops it; I/O Intr without device support is Passive', async () => {
    await same('caget', `${P}intr.SCAN`);
    await same('caput', `${P}rescan.SCAN`, 'I/O Intr');
    /** On one server: scanned at .1 second until it shows 3, then Passive for three ticks of the clock, then processed once. */
    const run = async (server: Server): Promise<string[]> => {
      const m = startProcess(path.join(epicsBin()!, 'camonitor'), ['-t', 'n', `${P}rescan`, `${P}clock`], server.env);
      try {
        await m.waitLine(/^lk:clock\s/, 10000);
        await runTool(server, 'caput', [`${P}rescan.SCAN`, '.1 second']);
        await m.waitLine(/^lk:rescan\s+3\b/, 10000);
        await runTool(server, 'caput', [`${P}rescan.SCAN`, 'Passive']);
        const stopped = (await runTool(server, 'caget', ['-t', `${P}rescan`])).out.trim();
        // Events of scans made before the put may still be on their way: count from the one of the value it stopped at.
        await m.waitLine(new RegExp(`^lk:rescan\\s+${stopped}\\b`), 10000);
        const from = m.lines.findIndex((l) => new RegExp(`^lk:rescan\\s+${stopped}\\b`).test(l)) + 1;
        for (let i = 0; i < 3; i++) await m.waitLine(/^lk:clock\s/, 10000, m.lines.length);
        const after = m.lines.slice(from).filter((l) => l.startsWith(`${P}rescan`));
        await runTool(server, 'caput', [`${P}rescan.PROC`, '1']);
        const processed = (await runTool(server, 'caget', ['-t', `${P}rescan`])).out.trim();
        return [`scanned up to at least 3: ${Number(stopped) >= 3}`, `events while Passive: ${after.length}`, `PROC adds ${Number(processed) - Number(stopped)}`];
      } finally {
        await m.stop();
      }
    };
    assert.deepEqual(await run(servers.ours!), await run(servers.base!), 'service-ioc (actual) against softIoc (expected)');
  });

  it('mbbi and mbbo without states: an mbbi stays an ENUM with no strings, an mbbo serves a number; RVAL; a state string given later', async () => {
    const names = ['bare', 'bareout', 'valued'].map((n) => P + n);
    await same('cainfo', ...names);
    await same('caget', '-d', 'DBR_STRING', ...names);
    await same('caget', '-d', 'DBR_CTRL_ENUM', ...names);
    await same('caget', ...names.map((n) => `${n}.RVAL`));
    for (const v of ['5', '20', '1']) {
      await same('caput', `${P}bare`, v);
      await same('caput', `${P}bareout`, v);
      await same('caput', `${P}valued`, v);
      await state('bare', 'bareout', 'bareout.RVAL', 'barein', 'valued', 'valued.RVAL');
    }
    await same('caput', `${P}bareout.ZRST`, 'Idle');
    await same('cainfo', `${P}bareout`);
    await same('caget', '-d', 'DBR_CTRL_ENUM', `${P}bareout`);
  });

  it('a disabled calcout writes nothing to its OUT', async () => {
    await same('caput', `${P}discout.A`, '5');
    await same('caput', `${P}discout.DISA`, '1');
    await same('caput', `${P}discout.A`, '9');
    await state('discout', 'discout.OVAL', 'disdst');
  });

  it('calc expressions come out as softIoc computes them', async () => {
    await same('caget', ...EXPRESSIONS.map((_, i) => `${P}x${i}`));
    await same('caget', ...EXPRESSIONS.map((_, i) => `${P}x${i}.CALC`));
  });

  it('a CALC written at run time: a good one processes; a refused one fails the put and stays shown; processing then raises CALC/INVALID', async () => {
    await same('caput', `${P}count.CALC`, '40+2');
    await state('count');
    const [a, b] = [await runTool(servers.base!, 'caput', ['-c', `${P}count.CALC`, '(1']), await runTool(servers.ours!, 'caput', ['-c', `${P}count.CALC`, '(1'])];
    assert.equal(b.code, a.code, 'caput -c of a refused CALC: exit code');
    assert.notEqual(a.code, 0);
    await same('caget', `${P}count.CALC`);
    await same('caput', `${P}count.PROC`, '1');
    await state('count');
  });

  it('a written INP is followed: the record reads its new source', async () => {
    await same('caput', `${P}relink.INP`, `${P}count`);
    await same('caput', `${P}relink.PROC`, '1');
    await state('relink');
    await same('caget', `${P}relink.INP`);
  });

  it('fanout: All processes each passive LNKn in turn (not a periodic one); before it is processed it is UDF', async () => {
    await state('fan', 'fan.SELN');
    await same('caget', '-d', 'DBR_CTRL_LONG', `${P}fan`);
    await same('caput', `${P}fan.PROC`, '1');
    await state('fan', 'fc0', 'fc1', 'fcf');
    await same('caput', `${P}fan`, '5');
    await state('fan', 'fc0', 'fc1', 'fcf');
  });

  it('fanout: Specified processes LNK(SELN+OFFS), SELN read from SELL; one beyond LNKF is SOFT/INVALID; Mask takes SELN\'s bits after SHFT', async () => {
    await monitor([`${P}fansel.SELN`], 1, async () => {
      await same('caput', `${P}fsel`, '2');
      await same('caput', `${P}fansel.PROC`, '1');
      await state('fansel', 'fc0', 'fc1', 'fc2');
      await same('caput', `${P}fsel`, '1');
      await same('caput', `${P}fansel.OFFS`, '1');
      await same('caput', `${P}fansel.PROC`, '1');
      await state('fansel', 'fc0', 'fc1', 'fc2');
      await same('caput', `${P}fsel`, '20');
      await same('caput', `${P}fansel.PROC`, '1');
      await state('fansel', 'fansel.SELN', 'fc0', 'fc1', 'fc2');
    }, eventLine('fansel.SELN', '20'));
    for (const [seln, shft] of [['5', '0'], ['6', '1'], ['3', '-1'], ['3', '16'], ['0', '0']]) {
      await same('caput', `${P}fanmask.SELN`, seln);
      await same('caput', `${P}fanmask.SHFT`, shft);
      await same('caput', `${P}fanmask.PROC`, '1');
      await state('fanmask', 'fc0', 'fc1', 'fc2');
    }
  });

  it('dfanout: VAL is written to OUTA..OUTH (PP targets processed, a field link writes that field), with its limit alarms and metadata', async () => {
    await state('dfan');
    await same('caput', `${P}dfan`, '7');
    await state('dfan', 'dfa', 'dfb');
    await same('caget', `${P}dfh.HIGH`);
    await same('caput', `${P}dfan`, '60');
    await state('dfan', 'dfa', 'dfb');
    for (const t of ['DBR_CTRL_DOUBLE', 'DBR_GR_DOUBLE']) await same('caget', '-d', t, `${P}dfan`, `${P}dfan.HIGH`, `${P}dfan.LALM`, `${P}dfan.HYST`);
    await same('caget', `${P}dfan.PREC`, `${P}dfan.EGU`, `${P}dfan.SELN`);
  });

  it('dfanout: Specified writes the SELN-th output (none for 0, SOFT/INVALID beyond OUTH), Mask those of SELN\'s bits; DOL closed_loop and a constant DOL', async () => {
    for (const seln of ['2', '0', '1', '9']) {
      await same('caput', `${P}fsel`, seln);
      await same('caput', `${P}dfsel`, String(Number(seln) + 0.5));
      await state('dfsel', 'dfsel.SELN', 'dfa', 'dfb');
    }
    await same('caput', `${P}dfmask`, '1.5');
    await state('dfmask', 'dfa', 'dfb', 'dfh');
    await same('caput', `${P}dfsrc`, '3.25');
    await same('caput', `${P}dfcl.PROC`, '1');
    await state('dfcl', 'dfh');
    await state('dfk');
    await same('caput', `${P}dfk.PROC`, '1');
    await state('dfk', 'dfb');
  });

  it('caput -c to a dfanout returns once what it processed has finished: a calcout it drives writes its OUT after ODLY first', async () => {
    await same('caput', '-c', '-w', '5', `${P}dfdly`, '7');
    await state('codly', 'dlydst');
  });

  it('seq: its groups in order, each after its DLYn, DOn from DOLn (a constant too) to LNKn; caput -c returns when the last is written', async () => {
    await state('sq', 'sq.DO0', 'sq.DO1', 'sq.OLDN');
    await monitor([`${P}sqa`, `${P}sqb`, `${P}sqc`, `${P}sq.DO0`], 4, async () => {
      await same('caput', '-c', '-w', '5', `${P}sq.PROC`, '1');
      await state('sq', 'sqa', 'sqb', 'sqc', 'sq.DO0', 'sq.DO1');
    }, new RegExp(`^${P}sqc\\s+\\S+ \\S+ 1\\b`));
    for (const t of ['DBR_CTRL_DOUBLE', 'DBR_GR_DOUBLE']) await same('caget', '-d', t, `${P}sq`, `${P}sq.DLY1`, `${P}sq.DO0`, `${P}sq.DO1`, `${P}sq.SELN`);
    await same('caget', `${P}sq.DO0`, `${P}sq.DLY1`, `${P}sq.LNK0`, `${P}sq.DOL1`);
  });

  it('seq: Specified runs group SELN + OFFS (SELN from SELL; beyond 15 SOFT/INVALID), Mask the groups of SELN\'s bits after SHFT', async () => {
    for (const [seln, offs] of [['2', '0'], ['0', '0'], ['0', '1'], ['16', '0'], ['1', '-2']]) {
      await same('caput', `${P}fsel`, seln);
      await same('caput', `${P}sqsel.OFFS`, offs);
      await same('caput', `${P}sma`, '0');
      await same('caput', '-c', '-w', '5', `${P}sqsel.PROC`, '1');
      await state('sqsel', 'sqsel.SELN', 'sqsel.OLDN', 'sma');
    }
    for (const [seln, shft] of [['7', '0'], ['6', '1'], ['1', '-2'], ['3', '16'], ['0', '0']]) {
      await same('caput', `${P}sqmask.SELN`, seln);
      await same('caput', `${P}sqmask.SHFT`, shft);
      await same('caput', '-c', '-w', '5', `${P}sqmask.PROC`, '1');
      await state('sqmask', 'smb', 'smc');
      await same('caget', `${P}smc.HIGH`);
    }
  });

  it('int64in and int64out: served as DOUBLE, DRVH/DRVL hold a write, alarm limits given whatever their severity, a LONG link casts', async () => {
    await state('i64', 'o64');
    await same('caget', '-d', 'DBR_CTRL_DOUBLE', `${P}i64`, `${P}o64`);
    for (const v of ['70', '6000000000', '-10', '2147483648']) {
      await same('caput', `${P}o64`, v);
      await same('caput', `${P}l64.PROC`, '1');
      await state('o64', 'i64', 'l64');
    }
  });

  it('a write to a calc\'s or calcout\'s VAL (no pp(TRUE)) is stored and posted without processing the record', async () => {
    await monitor([`${P}cval`, `${P}coval`], 2, async () => {
      await same('caput', `${P}cval`, '3');
      await same('caput', `${P}coval`, '5');
      await state('cval', 'coval', 'covdst');
    // (Never processed: camonitor shows <undefined> for the time.)
    }, new RegExp(`^${P}coval\\s+<undefined> 5\\b`));
    await same('caput', `${P}cval.PROC`, '1');
    await same('caput', `${P}coval.PROC`, '1');
    await state('cval', 'coval', 'covdst');
  });
});
