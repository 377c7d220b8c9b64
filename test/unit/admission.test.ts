/**
 * Which TCP connections a server takes (Channel Access and pvAccess share
 * the rule): a cap, the oldest silent connection closed to make room, a
 * refusal when every one has spoken, and running out of file descriptors
 * answered by closing silent ones, each said once per burst.
 */
import { strict as assert } from 'node:assert';
import { ConnectionAdmission, DescriptorPool } from '../../src/ca/server/admission';
import { memoryLogger } from '../../src/log';
import { FakeScheduler } from '../helpers/fake-scheduler';

interface Conn {
  name: string;
  silent: boolean;
}

function rig(max: number, descriptors?: DescriptorPool): { admission: ConnectionAdmission<Conn>; closed: string[]; lines: string[]; clock: FakeScheduler; open: (name: string, silent: boolean) => Conn } {
  const closed: string[] = [];
  const lines: string[] = [];
  const clock = new FakeScheduler();
  const admission: ConnectionAdmission<Conn> = new ConnectionAdmission<Conn>({
    max, noun: 'connection', scheduler: clock, log: memoryLogger(lines), descriptors,
    isSilent: (c) => c.silent,
    // As a server's close does: the connection leaves the open set at once.
    closeSilent: (c) => {
      closed.push(c.name);
      admission.open.delete(c);
    },
  });
  const open = (name: string, silent: boolean): Conn => {
    const c = { name, silent };
    admission.open.add(c);
    return c;
  };
  return { admission, closed, lines, clock, open };
}

describe('connection admission', () => {
  it('below the cap every connection is taken', () => {
    const r = rig(2);
    r.open('a', true);
    assert.equal(r.admission.admit('10.0.0.1'), 'room');
    assert.deepEqual(r.closed, []);
    assert.deepEqual(r.lines, []);
  });

  it('at the cap the oldest connection that has sent nothing is closed to make room', () => {
    const r = rig(3);
    r.open('spoke', false);
    r.open('silent-old', true);
    r.open('silent-new', true);
    assert.equal(r.admission.admit('10.0.0.1'), 'made');
    assert.deepEqual(r.closed, ['silent-old']);
    assert.equal(r.lines.length, 1);
    assert.match(r.lines[0], /3 connections open, the most this server takes: closing the oldest connections that have sent nothing/);
  });

  it('when every connection has spoken the newcomer is refused, and a burst of refusals is two lines', () => {
    const r = rig(2);
    r.open('a', false);
    r.open('b', false);
    for (let i = 0; i < 5; i++) assert.equal(r.admission.admit(`10.0.0.${i}`), 'full');
    assert.deepEqual(r.closed, []);
    assert.equal(r.lines.length, 1, r.lines.join('\n'));
    assert.match(r.lines[0], /refusing connections: 2 connections are open, the most this server takes, and every one has sent requests; first refused: 10\.0\.0\.0/);
    r.clock.advanceTo(10_000);
    assert.equal(r.lines.length, 2);
    assert.match(r.lines[1], /connection limit reached: 4 more times in that burst/);
  });

  it('out of file descriptors: up to 16 silent connections are closed, oldest first, and it is said once per burst', () => {
    const r = rig(100);
    r.open('spoke', false);
    for (let i = 0; i < 20; i++) r.open(`s${i}`, true);
    const emfile = Object.assign(new Error('accept EMFILE'), { code: 'EMFILE' });
    r.admission.acceptFailed(emfile);
    assert.deepEqual(r.closed, Array.from({ length: 16 }, (_, i) => `s${i}`));
    r.admission.acceptFailed(emfile);
    assert.deepEqual(r.closed.slice(16), ['s16', 's17', 's18', 's19']);
    assert.equal(r.admission.open.size, 1, 'the connection that spoke stays');
    assert.equal(r.lines.length, 1, r.lines.join('\n'));
    assert.match(r.lines[0], /out of file descriptors \(EMFILE\) with 5 connections open: a connection was dropped; closed 16 that had sent nothing\. Raise LimitNOFILE= in the unit/);
    r.clock.advanceTo(10_000);
    assert.match(r.lines[1], /out of file descriptors: 1 more time in that burst/);
  });

  it('another accept() error is logged as it is, and closes nothing', () => {
    const r = rig(100);
    r.open('s', true);
    r.admission.acceptFailed(Object.assign(new Error('accept ECONNABORTED'), { code: 'ECONNABORTED' }));
    assert.deepEqual(r.closed, []);
    assert.equal(r.lines.length, 1);
    assert.match(r.lines[0], /TCP listener error.*ECONNABORTED/);
    r.admission.stop();
  });

  it('servers sharing the process\'s descriptors: out of them, either closes the other\'s silent connections too', () => {
    const pool = new DescriptorPool();
    const ca = rig(100, pool);
    const pva = rig(100, pool);
    for (let i = 0; i < 10; i++) ca.open(`ca${i}`, true);
    pva.open('pva-talker', false);
    pva.admission.acceptFailed(Object.assign(new Error('accept EMFILE'), { code: 'EMFILE' }));
    assert.deepEqual(ca.closed, Array.from({ length: 10 }, (_, i) => `ca${i}`));
    assert.deepEqual(pva.closed, []);
    assert.match(pva.lines[0], /closed 10 that had sent nothing/);
  });
});
