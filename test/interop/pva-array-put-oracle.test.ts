/**
 * Interop: pvxput to a waveform's VAL leaves in the record what softIocPVX
 * (QSRV) leaves, for every FTVL. The same .db is served by `service-ioc
 * softioc` and by softIocPVX; after the same pvxput (numbers beyond the
 * element type, text elements, more elements than NELM, none) pvxget must
 * show the same value, type and NORD. pvxput converts what it is given to
 * the type the server serves before it sends it; the server casts each
 * element by FTVL and cuts the array to NELM.
 */
import { strict as assert } from 'node:assert';
import { normalisePva, pvaSideBySideHooks, runEpicsTool, type PvaServer } from '../helpers/pvxs';

const P = 'pap:';
const FTVL = ['CHAR', 'UCHAR', 'SHORT', 'USHORT', 'LONG', 'ULONG', 'INT64', 'UINT64', 'FLOAT', 'DOUBLE'] as const;
const DB = `# records for test/interop/pva-array-put-oracle.test.ts
${FTVL.map((t) => `record(waveform, "$(P)${t}") { field(FTVL, "${t}") field(NELM, "4") }`).join('\n')}
record(waveform, "$(P)STRING") { field(FTVL, "STRING") field(NELM, "4") }
`;

interface Result { code: number | null; out: string }

describe('interop: pvxput to a waveform casts each element by FTVL and keeps NELM elements, as softIocPVX does', function () {
  this.timeout(120000);
  const side = pvaSideBySideHooks(DB, P);

  async function run(server: PvaServer, tool: string, args: string[]): Promise<Result> {
    const r = await runEpicsTool(tool, args, server.env);
    return { code: r.code, out: normalisePva(r.stdout + r.stderr) };
  }

  /** Run one invocation against both servers; they must print the same. */
  async function same(tool: string, ...args: string[]): Promise<Result> {
    const [a, b] = await Promise.all([run(side().base, tool, args), run(side().ours, tool, args)]);
    assert.equal(b.out, a.out, `${tool} ${args.join(' ')}: service-ioc (actual) against softIocPVX (expected)`);
    assert.equal(b.code, a.code, `${tool} ${args.join(' ')}: exit code`);
    return b;
  }

  /** The values and NORD of `types`' waveforms, as pvxget shows them on both servers. */
  function readBack(types: readonly string[]): Promise<Result> {
    return same('pvxget', '-w', '5', '-r', 'field(value)', ...types.flatMap((t) => [P + t, `${P}${t}.NORD`]));
  }

  it('numbers beyond the element type: each a C cast, never refused', async () => {
    const puts = ['[300,-1,1.7,-2.5]', '[70000,-70000,65535.9,-32769]', '[3e9,-3e9,4294967295,4294967296]', '[1e10,-1e10,1e-40,0.5]', '[128,-129,255,256]'];
    // A UINT64 element is held as a double: -2 would be 2^64 - 2, which a double cannot hold.
    const exact = FTVL.filter((t) => t !== 'UINT64');
    for (const put of puts) {
      for (const t of exact) await same('pvxput', '-w', '5', P + t, put);
      await readBack(exact);
    }
    await same('pvxput', '-w', '5', `${P}UINT64`, '[300,-1,1.7,-4096]');
    const u = await readBack(['UINT64', 'INT64', 'UCHAR']);
    assert.match(u.out, /^pap:UINT64\n {4}value uint64_t\[\] = \{4\}\[300, 18446744073709551615, 1, 18446744073709547520\]$/m);
    assert.match(u.out, /^pap:INT64\n {4}value int64_t\[\] = \{4\}\[128, -129, 255, 256\]$/m);
    assert.match(u.out, /^pap:UCHAR\n {4}value uint8_t\[\] = \{4\}\[128, 127, 255, 0\]$/m);
  });

  it('more elements than NELM: the first NELM are kept, NORD is NELM; none: NORD 0', async () => {
    for (const t of FTVL) await same('pvxput', '-w', '5', P + t, '[1,2.5,-4096,4,5,6]');
    await same('pvxput', '-w', '5', `${P}STRING`, '["a","b","c","d","e"]');
    const r = await readBack([...FTVL, 'STRING']);
    assert.match(r.out, /^pap:USHORT\n {4}value uint16_t\[\] = \{4\}\[1, 2, 61440, 4\]\npap:USHORT\.NORD\n {4}value uint32_t = 4$/m);
    assert.match(r.out, /^pap:STRING\n {4}value string\[\] = \{4\}\["a", "b", "c", "d"\]$/m);
    for (const t of FTVL) await same('pvxput', '-w', '5', P + t, '[]');
    const none = await readBack(FTVL);
    assert.match(none.out, /^pap:LONG\.NORD\n {4}value uint32_t = 0$/m);
  });

  it('text elements: what pvxput parses is cast as numbers are, what it cannot parse is not sent', async () => {
    for (const t of FTVL) {
      await same('pvxput', '-w', '5', P + t, '[9,9,9]');
      await same('pvxput', '-w', '5', P + t, '["70000","-1","5"]');
      const refused = await same('pvxput', '-w', '5', P + t, '["7","abc"]');
      assert.notEqual(refused.code, 0, `pvxput refuses "abc" for ${t}`);
    }
    await same('pvxput', '-w', '5', `${P}STRING`, `["${'x'.repeat(45)}",5,1.5]`);
    const r = await readBack([...FTVL, 'STRING']);
    assert.match(r.out, /^pap:STRING\n {4}value string\[\] = \{3\}\["x{39}", "5", "1\.5"\]$/m);
  });
});
