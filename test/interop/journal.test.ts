/**
 * The journal follower against a real systemd-journald and user manager (the
 * harness's journal): the last lines of a unit at start, lines followed
 * live, the manager's messages about a unit, and journalctl exiting.
 */
import { strict as assert } from 'node:assert';
import { JournalFollower } from '../../src/journal/follower';
import { formatLine } from '../../src/journal/entry';
import { createLogger } from '../../src/log';
import { UserManager, basicUnits, checkJournald, checkUserManager } from '../helpers/systemd-harness';
import { requireDependency } from '../helpers/system';

const TALKER = `[Unit]
Description=Test unit that talks
[Service]
Type=simple
ExecStart=/bin/sh -c 'for i in $(seq 1 30); do echo "line $i"; done; exec sleep infinity'
`;

describe('journal follower (real systemd-journald)', function () {
  this.timeout(60000);
  let m: UserManager | undefined;
  let f: JournalFollower | undefined;

  before(async function () {
    requireDependency(this, checkUserManager() ?? checkJournald());
    m = await UserManager.start({ units: { ...basicUnits(), 'talker.service': TALKER }, journal: true });
    await m.systemctl('start', 'talker.service');
    // The 30 lines are in the journal before the follower starts.
    for (let i = 0; i < 200; i++) {
      const r = await m.journalctl('--output=cat', '--user-unit=talker.service');
      if (r.stdout.includes('line 30')) break;
      await new Promise((res) => setTimeout(res, 20));
    }
    f = new JournalFollower({ scope: 'user', directory: m.journalDir, lines: 20, log: createLogger('test', { level: 'error' }), restartDelayMs: 50 });
    for (const u of ['talker.service', 'failing.service', 'sleeper.service']) f.watch(u);
    f.start();
  });

  after(async () => {
    f?.stop();
    await m?.stop();
  });

  const own = (unit: string): string[] => f!.lines(unit).filter((l) => !l.fromManager).map((l) => l.message);

  it('starts with the last 20 lines of a unit, oldest first', async () => {
    await f!.waitFor('talker.service', (l) => l.message === 'line 30', 10000);
    const talk = own('talker.service');
    assert.deepEqual(talk.slice(-19), Array.from({ length: 19 }, (_, i) => `line ${i + 12}`));
    assert.equal(f!.lines('talker.service').length, 20);
    assert.equal(f!.state, 'following');
  });

  it('follows new lines live: a failed start\'s own output and the manager\'s messages', async () => {
    const r = await m!.systemctl('start', 'failing.service');
    assert.notEqual(r.code, 0);
    // The unit's output and the manager's messages reach journald by different ways:
    // either may be read first.
    await f!.waitFor('failing.service', (l) => /Failed with result 'exit-code'/.test(l.message), 10000);
    await f!.waitFor('failing.service', (l) => l.message === 'failing on purpose', 10000);
    const lines = f!.lines('failing.service');
    const mine = lines.find((l) => l.message === 'failing on purpose');
    assert.ok(mine && !mine.fromManager, JSON.stringify(lines));
    const exit = lines.find((l) => /status=3/.test(l.message));
    assert.ok(exit && exit.fromManager && exit.priority <= 5, JSON.stringify(lines));
    assert.match(formatLine(mine), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d sh\[\d+\]: failing on purpose$/);
    assert.deepEqual(f!.lines('sleeper.service'), [], 'no lines of other units');
  });

  it('after journalctl exits it follows on from the last line, without repeating any', async () => {
    const before = f!.pid;
    assert.ok(before > 0);
    process.kill(before, 'SIGKILL');
    await new Promise<void>((resolve) => f!.once('state', () => resolve()));
    assert.equal(f!.state, 'failed');
    assert.match(f!.reason, /journalctl exited/);
    await new Promise<void>((resolve) => f!.once('state', () => resolve()));
    assert.equal(f!.state, 'following');
    await m!.systemctl('reset-failed', 'failing.service');
    await m!.systemctl('start', 'failing.service');
    await f!.waitFor('failing.service', (l) => l.message === 'failing on purpose' && l.timeUs > Date.now() * 1000 - 5e6 && own('failing.service').filter((x) => x === 'failing on purpose').length === 2, 10000);
    assert.equal(own('failing.service').filter((x) => x === 'failing on purpose').length, 2);
    const cursors = f!.lines('failing.service').map((l) => l.cursor);
    assert.equal(new Set(cursors).size, cursors.length);
  });
});
