/**
 * Journal entries as journalctl's JSON prints them: which unit a line is
 * about, and the kept last lines of a unit in journal order when the history
 * read and the follower deliver the same lines interleaved, several of them
 * stamped in the same microsecond.
 */
import { strict as assert } from 'node:assert';
import { keepLine, parseEntry, type JournalLine } from '../../src/journal/entry';

const UNITS = new Set(['talker.service']);

/** Entry `seq` of one journal: its cursor carries the sequence number in hex, as journald's does. */
function entry(seq: number, timeUs: number, fields: Record<string, unknown> = {}): string {
  return JSON.stringify({
    __CURSOR: `s=0f1e2d3c4b5a69788796a5b4c3d2e1f0;i=${seq.toString(16)};b=1a2b;m=${(seq * 7).toString(16)};t=${timeUs.toString(16)};x=9c`,
    __REALTIME_TIMESTAMP: String(timeUs),
    _SYSTEMD_USER_UNIT: 'talker.service',
    MESSAGE: `line ${seq}`,
    _PID: '4242',
    SYSLOG_IDENTIFIER: 'sh',
    ...fields,
  });
}

function line(seq: number, timeUs: number): JournalLine {
  const l = parseEntry(entry(seq, timeUs), 'user', UNITS);
  assert.ok(l);
  return l;
}

describe('journal entries', () => {
  it('a unit\'s own line and the manager\'s line about it', () => {
    const own = parseEntry(entry(1, 1e15), 'user', UNITS);
    assert.equal(own?.fromManager, false);
    assert.equal(own?.message, 'line 1');
    const manager = parseEntry(entry(2, 1e15, { USER_UNIT: 'talker.service', _SYSTEMD_USER_UNIT: 'init.scope', PRIORITY: '3' }), 'user', UNITS);
    assert.equal(manager?.fromManager, true);
    assert.equal(manager?.priority, 3);
    assert.equal(parseEntry(entry(3, 1e15, { _SYSTEMD_USER_UNIT: 'other.service' }), 'user', UNITS), undefined);
    assert.equal(parseEntry('{"MESSAGE": "cut sh', 'user', UNITS), undefined);
  });

  // 30 lines, fifteen to a microsecond (journald stamps the lines of one read of a stream that
  // close): the oldest kept line ties with older ones that are not kept.
  const lines = Array.from({ length: 30 }, (_, i) => line(i + 1, 1_700_000_000_000_000 + Math.floor(i / 15)));
  const last20 = lines.slice(10).map((l) => l.message);

  it('keeps the last lines in journal order when the follower\'s older lines arrive after the history', () => {
    const kept: JournalLine[] = [];
    for (const l of lines.slice(10)) keepLine(kept, l, 20);
    for (const l of lines) keepLine(kept, l, 20);
    assert.deepEqual(kept.map((l) => l.message), last20);
  });

  it('keeps the last lines in journal order whichever way the two reads interleave', () => {
    const history = lines.slice(10);
    for (let cut = 0; cut <= 30; cut += 3) {
      const kept: JournalLine[] = [];
      for (const l of lines.slice(0, cut)) keepLine(kept, l, 20);
      for (const l of history) keepLine(kept, l, 20);
      for (const l of lines.slice(cut)) keepLine(kept, l, 20);
      assert.deepEqual(kept.map((l) => l.message), last20, `follower's first ${cut} lines before the history`);
    }
  });

  it('orders lines of one microsecond by sequence number across hex lengths and leading zeros; a line is plain JSON', () => {
    const t = 1_700_000_000_000_000;
    const padded = parseEntry(entry(9, t).replace(/;i=9;/, ';i=0009;'), 'user', UNITS);
    assert.ok(padded);
    const kept: JournalLine[] = [];
    for (const l of [line(0x100, t), line(0x10, t), padded, line(0xff, t), line(0xf, t)]) keepLine(kept, l, 10);
    assert.deepEqual(kept.map((l) => l.message), ['line 9', 'line 15', 'line 16', 'line 255', 'line 256']);
    assert.deepEqual(JSON.parse(JSON.stringify(kept[0])), kept[0]);
  });

  it('a line seen again after it was dropped as old is not taken back', () => {
    const kept: JournalLine[] = [];
    for (const l of lines) keepLine(kept, l, 20);
    assert.equal(keepLine(kept, lines[5], 20), false);
    assert.equal(keepLine(kept, lines[29], 20), false);
    assert.deepEqual(kept.map((l) => l.message), last20);
  });
});
