/**
 * The reader that [[queueserver]] and [[redis]] tables share: each problem
 * reaches the caller's `fail` with the key's path in the document and a text
 * that names the table, and what a table reads is what it says.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readTables, type ConfigTablesContext, type TableKind } from '../../src/config-table';

const KIND: TableKind = { name: 'probe', keys: ['pv', 'period', 'on', 'file'], what: 'probes', longestSuffix: ':LongestName' };

class Failed extends Error {
  constructor(readonly code: string, readonly key: string, detail: string) {
    super(detail);
  }
}

describe('configuration tables ([[queueserver]], [[redis]])', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'config-table-'));
  });
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  const context = (lines: Record<string, number> = {}): ConfigTablesContext => ({
    base: tmp,
    prefix: 'bl:',
    line: (key) => lines[key] ?? 0,
    fail: (code, key, detail) => {
      throw new Failed(code, key, detail);
    },
  });
  const read = (raw: unknown, usedBy: ReadonlyMap<string, string> = new Map()): Array<{ pv: string; period: number; on: boolean; text?: string }> => {
    const seen = new Map<string, number>();
    return readTables(raw, KIND, context({ 'probe.0.pv': 4, 'probe.1.pv': 9 }), (t) => ({
      pv: t.pvPart(seen, usedBy),
      period: t.seconds('period', 1),
      on: t.bool('on', true),
      text: t.file('file')?.text,
    }));
  };
  const fails = (raw: unknown, code: string, key: string, detail: RegExp, usedBy?: ReadonlyMap<string, string>): void => {
    assert.throws(() => read(raw, usedBy), (err: unknown) => {
      assert.ok(err instanceof Failed, String(err));
      assert.deepEqual([err.code, err.key], [code, key]);
      assert.match(err.message, detail);
      return true;
    });
  };

  it('reads each table in order, with the defaults for keys it does not give', () => {
    fs.writeFileSync(path.join(tmp, 'f.txt'), 'contents\n');
    assert.deepEqual(read([{ pv: 'a' }, { pv: 'b', period: 0.5, on: false, file: 'f.txt' }]), [
      { pv: 'a', period: 1, on: true, text: undefined },
      { pv: 'b', period: 0.5, on: false, text: 'contents\n' },
    ]);
    assert.deepEqual(read(undefined), []);
  });

  it('names the table and key of each problem', () => {
    fails({ pv: 'a' }, 'CONFIG_ERR_BAD_VALUE', 'probe', /^probes are given as \[\[probe\]\] tables$/);
    fails([{ pv: 'a' }, 'x'], 'CONFIG_ERR_BAD_VALUE', 'probe.1', /^\[\[probe\]\] #2: must be a table$/);
    fails([{ pv: 'a', perod: 2 }], 'CONFIG_ERR_UNKNOWN_KEY', 'probe.0.perod', /#1: unknown key "perod"; expected one of pv, period, on, file$/);
    fails([{}], 'CONFIG_ERR_MISSING_KEY', 'probe.0', /#1: missing key "pv"$/);
    fails([{ pv: 3 }], 'CONFIG_ERR_BAD_VALUE', 'probe.0.pv', /key "pv" must be a string, not number$/);
    fails([{ pv: 'a', on: 'yes' }], 'CONFIG_ERR_BAD_VALUE', 'probe.0.on', /key "on" must be true or false$/);
  });

  it('seconds are positive and no longer than a Node.js timer waits', () => {
    for (const period of [0, -1, 2 ** 31, Number.NaN, '1']) {
      fails([{ pv: 'a', period }], 'CONFIG_ERR_BAD_VALUE', 'probe.0.period', /key "period" must be a positive number of seconds, at most 2147483\.647/);
    }
    assert.equal(read([{ pv: 'a', period: 2147483.647 }])[0].period, 2147483.647);
  });

  it('a file that cannot be read is named in full, with the reason', () => {
    fails([{ pv: 'a', file: 'nope' }], 'CONFIG_ERR_FILE', 'probe.0.file', new RegExp(`cannot read ${path.join(tmp, 'nope')}: no such file or directory$`));
  });

  it('pv makes record names: valid characters, room for the DESCs, used once', () => {
    fails([{ pv: 'a b' }], 'CONFIG_ERR_BAD_VALUE', 'probe.0.pv', /"a b" is empty or has characters a record name cannot hold/);
    fails([{ pv: 'x'.repeat(27) }], 'CONFIG_ERR_BAD_VALUE', 'probe.0.pv', /is longer than 26 characters/);
    assert.equal(read([{ pv: 'x'.repeat(26) }])[0].pv.length, 26);
    fails([{ pv: 'a' }, { pv: 'a' }], 'CONFIG_ERR_DUPLICATE', 'probe.1.pv', /#2: key "pv": "a" is already used by the \[\[probe\]\] on line 4$/);
    fails([{ pv: 'u' }], 'CONFIG_ERR_DUPLICATE', 'probe.0.pv', /"u" is already used by the \[\[unit\]\] on line 7$/, new Map([['u', 'the [[unit]] on line 7']]));
  });
});
