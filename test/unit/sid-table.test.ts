/**
 * A circuit's channel table by server id: sids from 1 up, a freed place
 * taken again under a new sid, and a stale sid naming nothing.
 */
import { strict as assert } from 'node:assert';
import { SidTable } from '../../src/ca/server/sid-table';

interface Entry { readonly sid: number; readonly name: string }

const entry = (name: string) => (sid: number): Entry => ({ sid, name });

describe('SidTable', () => {
  it('gives sids 1, 2, 3 ... and finds each entry by its sid', () => {
    const t = new SidTable<Entry>();
    const made = ['a', 'b', 'c'].map((n) => t.add(entry(n)));
    assert.deepEqual(made.map((e) => e.sid), [1, 2, 3]);
    assert.equal(t.size, 3);
    assert.equal(t.get(2)?.name, 'b');
    assert.equal(t.get(0), undefined);
    assert.equal(t.get(4), undefined);
    assert.equal(t.get(0xffffffff), undefined);
  });

  it('a cleared entry\'s place is taken under a new sid, and the old sid names nothing', () => {
    const t = new SidTable<Entry>();
    t.add(entry('a'));
    const b = t.add(entry('b'));
    assert.equal(t.delete(b.sid), true);
    assert.equal(t.get(b.sid), undefined);
    const c = t.add(entry('c'));
    assert.notEqual(c.sid, b.sid);
    assert.equal(t.get(b.sid), undefined, 'the stale sid does not reach the new entry');
    assert.equal(t.delete(b.sid), false);
    assert.equal(t.get(c.sid)?.name, 'c');
    assert.equal(t.size, 2);
  });

  it('a sid is not given out again while its place is reused many times', () => {
    const t = new SidTable<Entry>();
    const seen = new Set<number>();
    for (let i = 0; i < 4095; i++) {
      const e = t.add(entry(`n${i}`));
      assert.ok(!seen.has(e.sid), `sid ${e.sid} given twice`);
      seen.add(e.sid);
      t.delete(e.sid);
    }
    assert.equal(t.size, 0);
  });

  it('lists the entries it holds', () => {
    const t = new SidTable<Entry>();
    const sids = ['a', 'b', 'c', 'd'].map((n) => t.add(entry(n)).sid);
    t.delete(sids[1]);
    assert.deepEqual([...t.values()].map((e) => e.name), ['a', 'c', 'd']);
  });
});
