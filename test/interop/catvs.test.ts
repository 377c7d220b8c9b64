/**
 * Interop: the catvs Channel Access server conformance suite (Python 3 port in
 * ../shared/catvs, run as its PY3_PORT.md says) against `service-ioc softioc`,
 * and against EPICS base's softIoc from ../shared/epics as the reference that
 * proves the harness. catvs starts the server under test once per case
 * (test/interop/catvs/dut.sh with test/interop/catvs/catvs.db, loopback only)
 * and talks raw CA to it; each catvs case is one mocha test here.
 */
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeTempDir, removeTempDir, requireBuiltCli } from '../helpers/cli';
import { REPO_ROOT } from '../helpers/pyca';
import { checkEpicsBundle, epicsBin, sharedDir } from '../helpers/shared';
import { freeCaPorts, requireDependency, SYSTEM_PYTHON } from '../helpers/system';

const RUNNER = path.join(REPO_ROOT, 'test/interop/py/catvs_run.py');
const DUT = path.join(REPO_ROOT, 'test/interop/catvs/dut.sh');

interface Outcome {
  outcome: 'pass' | 'fail' | 'error' | 'skip';
  detail: string;
}

function catvsDir(): string | undefined {
  const d = sharedDir();
  const c = d && path.join(d, 'catvs');
  return c && fs.existsSync(path.join(c, 'catvs/server/__init__.py')) ? c : undefined;
}

/** The case ids, read from the suite when this file loads (mocha needs the tests up front). */
function listCases(dir: string | undefined): { cases: string[]; reason?: string } {
  if (!dir) return { cases: [], reason: `no catvs suite at ${path.resolve(REPO_ROOT, '../shared/catvs')}` };
  const r = spawnSync(SYSTEM_PYTHON, [RUNNER, dir, 'list'], { encoding: 'utf8', timeout: 30000 });
  if (r.status !== 0) return { cases: [], reason: `cannot list the catvs cases: ${r.error?.message ?? r.stderr.trim()}` };
  return { cases: r.stdout.split('\n').filter(Boolean) };
}

/** Run the whole suite against one DUT command; resolves with each case's outcome. */
async function runCatvs(dir: string, dut: string, extraEnv: NodeJS.ProcessEnv): Promise<{ outcomes: Map<string, Outcome>; log: string }> {
  const tmp = makeTempDir('catvs-');
  const out = path.join(tmp, 'result.json');
  const ports = await freeCaPorts();
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DUT: dut,
    // One free port for every case (catvs waits for it to be free between cases).
    TESTPORT: String(ports.server),
    EPICS_CAS_BEACON_PORT: String(ports.repeater),
    SERVICE_IOC_LOG: 'warn',
    PYTHONUNBUFFERED: '1',
    // Each reply is waited for 2 s rather than the suite's 0.5 s (see catvs_run.py).
    CATVS_TIMEOUT: '2',
    ...extraEnv,
  };
  try {
    const log = await new Promise<string>((resolve, reject) => {
      const p = spawn(SYSTEM_PYTHON, [RUNNER, dir, 'run', out], { env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      let text = '';
      const keep = (d: Buffer): void => {
        text += d.toString();
        if (text.length > 400_000) text = text.slice(-200_000);
      };
      p.stdout.on('data', keep);
      p.stderr.on('data', keep);
      const t = setTimeout(() => p.kill('SIGKILL'), 280_000);
      p.on('error', (err) => { clearTimeout(t); reject(err); });
      p.on('close', (code, signal) => {
        clearTimeout(t);
        if (code === 0) resolve(text);
        else reject(new Error(`catvs exited with ${code ?? signal}: ${text.slice(-3000)}`));
      });
    });
    const parsed = JSON.parse(fs.readFileSync(out, 'utf8')) as Record<string, Outcome>;
    return { outcomes: new Map(Object.entries(parsed)), log };
  } finally {
    removeTempDir(tmp);
  }
}

const CATVS = catvsDir();
const { cases: CASES, reason: NO_CASES } = listCases(CATVS);
const short = (id: string): string => id.replace(/^catvs\.server\.test_\w+\./, '');

/**
 * One mocha test per catvs case. `expected` maps a case to a deviation we know
 * of and how it must show: `check` asserts the exact failure, `pending` lets a
 * failure skip (with the reason in the test's title) until the server is fixed.
 */
interface Deviation {
  reason: string;
  /** Asserts the case failed exactly this way (a known flaw of the suite). */
  check?: (o: Outcome) => void;
  /** A server bug being fixed: a failure is reported as pending, a pass passes. */
  pending?: boolean;
}

function defineSuite(title: string, dut: () => string, prerequisites: () => string | undefined, expected: Record<string, Deviation>): void {
  describe(title, function () {
    this.timeout(300_000);
    let result: { outcomes: Map<string, Outcome>; log: string } | undefined;

    before(async function () {
      requireDependency(this, NO_CASES ?? prerequisites());
      result = await runCatvs(CATVS!, dut(), {});
    });

    it('runs every case of the suite', function () {
      assert.ok(CASES.length > 0);
      const missing = CASES.filter((c) => !result!.outcomes.has(c));
      assert.deepEqual(missing, [], `cases with no result; catvs output:\n${result!.log.slice(-3000)}`);
    });

    for (const id of CASES) {
      const dev = expected[short(id)];
      const name = !dev ? short(id) : dev.pending ? `${short(id)} (pending while failing: ${dev.reason})` : `${short(id)} (fails as known: ${dev.reason})`;
      it(name, function () {
        const o = result!.outcomes.get(id);
        assert.ok(o, `${id}: no result`);
        if (dev?.check) {
          dev.check(o);
          return;
        }
        if (o.outcome !== 'pass' && dev?.pending) this.skip();
        assert.equal(o.outcome, 'pass', `${id}: ${o.outcome}\n${o.detail}`);
      });
    }
  });
}

/**
 * RSRV (camessage.c, bad_tcp_cmd_action after a bad DBR type in write_action /
 * write_notify_action) sends ECA_BADTYPE and then closes the circuit. catvs's
 * test_put_bad and test_put_callback_bad accept the close only in place of the
 * first reply; when the error arrives first, their cleanup's CLEAR_CHANNEL
 * reads the closed socket (None) and fails with an AttributeError, or with
 * ECONNRESET when the close found that request unread.
 */
const closedAfterBadType: Deviation = {
  reason: 'RSRV sends ECA_BADTYPE, then closes; the suite\'s cleanup reads the closed circuit',
  check(o) {
    assert.equal(o.outcome, 'error', `expected the cleanup error after RSRV's close, got ${o.outcome}\n${o.detail}`);
    assert.match(o.detail, /in _closeChan/, o.detail);
    // The closed circuit reads as an end of stream, or, when RSRV closed it with the
    // suite's CLEAR_CHANNEL still unread, as a reset.
    assert.match(o.detail, /'NoneType' object has no attribute 'cmd'|ConnectionResetError: \[Errno 104\]/, o.detail);
  },
};

describe('interop: catvs conformance suite', function () {
  defineSuite('EPICS base softIoc (reference)', () => `${DUT} softIoc ${epicsBin()!}`, checkEpicsBundle, {
    'TestScalar.test_put_bad': closedAfterBadType,
    'TestScalar.test_put_callback_bad': closedAfterBadType,
  });

  // Every case must pass: no deviations are allowed for service-ioc.
  defineSuite('service-ioc softioc', () => `${DUT} service-ioc`, () => { requireBuiltCli(); return undefined; }, {});
});
