/**
 * The wait between two rounds of a poll loop: it ends by itself after its
 * time, or at once when woken (a control request, or the loop stopping).
 */
import { strict as assert } from 'node:assert';
import { PollPause } from '../../src/timers';

describe('PollPause', () => {
  it('a wait that is woken ends at once, long before its time', async () => {
    const pause = new PollPause();
    let ended = false;
    const waiting = pause.wait(60_000).then(() => { ended = true; });
    await Promise.resolve();
    assert.equal(ended, false);
    pause.wake();
    await waiting;
    assert.equal(ended, true);
  });

  it('a wait ends by itself after its time; a negative time is no wait; waking with no wait does nothing', async () => {
    const pause = new PollPause();
    pause.wake();
    const began = process.hrtime.bigint();
    await pause.wait(20);
    assert.ok(process.hrtime.bigint() - began >= 19_000_000n, 'not before its time');
    await pause.wait(-5);
  });
});
