/**
 * Interop: writes to a waveform's VAL convert each element by FTVL as dbPut
 * does, softIoc as the oracle. The same .db is served by `service-ioc
 * softioc` and by softIoc; after the same put (caput -a, which sends text,
 * or a numeric array put as DBR_DOUBLE, _FLOAT, _LONG, _SHORT or _CHAR) the
 * put's outcome and what caget shows must be the same.
 */
import { strict as assert } from 'node:assert';
import { DbrType, Eca } from '../../src/ca/protocol/constants';
import { caPutNumber, runTool, sideBySideHooks, type ToolResult } from '../helpers/ca-tools';

const P = 'ap:';
const FTVL = ['CHAR', 'UCHAR', 'SHORT', 'USHORT', 'LONG', 'ULONG', 'INT64', 'UINT64', 'FLOAT', 'DOUBLE'] as const;
const DB = `# records for test/interop/array-put-oracle.test.ts
${FTVL.map((t) => `record(waveform, "$(P)${t}") { field(FTVL, "${t}") field(NELM, "4") }`).join('\n')}
`;

describe('interop: array writes convert each element by FTVL as softIoc does', function () {
  this.timeout(120000);
  const served = sideBySideHooks(DB, P);

  /** Run one invocation against both servers (softIoc first); they must print the same. */
  async function same(tool: string, ...args: string[]): Promise<ToolResult> {
    const a = await runTool(served().base, tool, args);
    const b = await runTool(served().ours, tool, args);
    assert.equal(b.out, a.out, `${tool} ${args.join(' ')}: service-ioc (actual) against softIoc (expected)`);
    assert.equal(b.code, a.code, `${tool} ${args.join(' ')}: exit code`);
    return b;
  }

  it('text (caput -a): parsed per element; the first element refused fails the put and keeps the elements before it, NORD unchanged', async () => {
    const puts = [
      '70000 -1 1.7 -2.5', '3e9 -3e9 65535.9 1e40', 'nan 4294967295 -70000 0.5', 'inf -inf 1e-40 1e400',
      'abc 5 6 7', '5 abc 6 7', '1 2 3 xyz', '0x10 1e3 -0 +3', '128 -129 255 256', '32768 -32769 65536 -65536',
      '2147483648 -2147483649 4294967296 -4294967296', '7 -1e400 8 9', '4294967296e400 5 6 7', '9223372036854775808 18446744073709551616 -9223372036854775809 -1', '5 6x 7',
    ];
    const all = FTVL.flatMap((t) => [P + t, `${P}${t}.NORD`]);
    for (const put of puts) {
      const values = put.split(' ');
      for (const t of FTVL) {
        // A known start of 3 elements, so that what a refused put keeps, and NORD, show.
        for (const server of [served().base, served().ours]) assert.equal(await caPutNumber(server, P + t, DbrType.DOUBLE, [9, 9, 9]), Eca.NORMAL);
        await same('caput', '-c', '-t', '-a', P + t, String(values.length), ...values);
      }
      await same('caget', ...all);
    }
    for (const server of [served().base, served().ours]) await caPutNumber(server, `${P}USHORT`, DbrType.DOUBLE, [9, 9, 9]);
    const refused = await same('caput', '-c', '-t', '-a', `${P}USHORT`, '4', '1', '70000', '2', '3');
    assert.notEqual(refused.code, 0, 'softIoc refuses 70000 in a USHORT waveform');
    const kept = await same('caget', `${P}USHORT`, `${P}USHORT.NORD`);
    assert.match(kept.out, /USHORT\s+4 1 9 9 0\n.*NORD\s+3$/m);
  });

  it('numbers (DBR_DOUBLE, _FLOAT, _LONG, _SHORT, _CHAR arrays): each element a C cast to FTVL, never refused', async () => {
    const reals = [[70000, -1, 1.7, -2.5], [3e9, -3e9, NaN, Infinity], [-Infinity, 1e40, 4294967295, 65535.9], [1e-40, 2 ** 63, 2 ** 64, -(2 ** 63) - 4096]];
    const ints: [DbrType, number[][]][] = [
      [DbrType.LONG, [[70000, -1, 2147483647, -2147483648], [65535, 4294967 * 100, -70000, 256]]],
      [DbrType.SHORT, [[4464, -1, 32767, -32768]]],
      [DbrType.CHAR, [[112, 255, 1, 128]]],
    ];
    const puts: [DbrType, number[][]][] = [[DbrType.DOUBLE, reals], [DbrType.FLOAT, reals], ...ints];
    const all = FTVL.flatMap((t) => [P + t, `${P}${t}.NORD`]);
    for (const [type, arrays] of puts) {
      for (const values of arrays) {
        for (const t of FTVL) {
          const what = `${P}${t} as ${DbrType[type]} [${values.join(', ')}]`;
          const a = await caPutNumber(served().base, P + t, type, values);
          const b = await caPutNumber(served().ours, P + t, type, values);
          assert.equal(b, a, `${what}: ECA status`);
        }
        await same('caget', ...all);
      }
    }
    const cast = await runTool(served().ours, 'caget', [`${P}USHORT`]);
    assert.match(cast.out, /\s4 112 255 1 128$/m);
  });

  it('reads of every FTVL as DBR_DOUBLE, _FLOAT, _LONG, _SHORT, _CHAR and _STRING convert as dbGet does (a CHAR element is signed)', async () => {
    const values = [-1, 200, 70000, 4294967295];
    for (const t of FTVL) for (const server of [served().base, served().ours]) await caPutNumber(server, P + t, DbrType.DOUBLE, values);
    // Not UINT64: its elements are held as doubles, and -1 written is 2^64-1, which a
    // double holds as 2^64 (softIoc reads its low bits as -1, service-ioc as 0).
    const exact = FTVL.filter((t) => t !== 'UINT64');
    for (const type of ['DBR_DOUBLE', 'DBR_FLOAT', 'DBR_LONG', 'DBR_SHORT', 'DBR_CHAR', 'DBR_STRING']) {
      await same('caget', '-d', type, ...exact.map((t) => P + t));
    }
    const signed = await runTool(served().ours, 'caget', ['-d', 'DBR_LONG', `${P}CHAR`]);
    assert.match(signed.out, /Value:\s+-1 -56 112 0$/m);
  });
});
