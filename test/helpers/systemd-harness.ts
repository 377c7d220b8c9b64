/**
 * A real, private systemd user manager for interop tests, on a machine where
 * PID 1 is not systemd (our Debian 12 container, as root; systemd 252).
 *
 * How it is run (the recipe in /work/shared/reference/systemd-dbus.md,
 * "Running a real user manager in tests", corrected by experiment):
 * - A fresh cgroup `service-ioc-test-<pid>-<n>` is made in every hierarchy
 *   systemd uses (hybrid: /sys/fs/cgroup/systemd and /sys/fs/cgroup/unified;
 *   legacy: the first only; unified: /sys/fs/cgroup, untested). A shell writes
 *   its own pid into each `cgroup.procs`, checks /proc/self/cgroup, and only
 *   then execs `unshare --mount --propagation private`, which mounts a tmpfs
 *   on /run/systemd, creates the `system` marker there and execs
 *   `systemd --user`. So systemd never runs in the root cgroup and the marker
 *   never exists in the host mount namespace. If /run/systemd itself is
 *   missing it is created (empty) to mount on, and removed by stop().
 * - Logging: systemd --user writes its log to /dev/console even with
 *   --log-target=console (it reopens the console), and by default also to
 *   /dev/kmsg. It runs with --log-target=null, and /dev/console and /dev/kmsg
 *   are /dev/null in its namespace. There is no manager log; each service's
 *   stdout/stderr is appended to <dir>/log/<unit>.log instead (a drop-in for
 *   all services, service.d/90-harness-log.conf); unitLog() reads it.
 * - Journal (start option `journal`): a real systemd-journald runs in the same
 *   mount namespace, with tmpfs on /run/systemd and /run/log; it makes its
 *   own sockets there. The manager logs to it (--log-target=journal) and
 *   services write to it (no log drop-in). The manager's cgroup is then
 *   <name>.slice/user@UID.service, as on a real host, because journald derives
 *   _SYSTEMD_USER_UNIT from the cgroup path; journald sits beside it in
 *   <name>.slice/harness-journald.scope. Read the journal from outside with
 *   journalctl --directory=/proc/<manager pid>/root/run/log/journal
 *   (journalDir, journalctl()).
 * - The session bus must be a unit of the manager (dbus.socket + dbus.service,
 *   written here): systemd connects to the bus only while its own dbus.socket
 *   and dbus.service units run (manager_dbus_is_running()). A dbus-daemon
 *   started next to the manager, as the recipe says, is never joined, and
 *   dbus-user-session's dbus.socket (started via sockets.target) even
 *   replaced that daemon's socket file.
 * - Only our units and the distribution's stock units are visible:
 *   SYSTEMD_UNIT_PATH=<unitDir>:/usr/lib/systemd/user leaves out
 *   /etc/systemd/user, where Debian enables gpg-agent, dirmngr and pk-debconf
 *   sockets (every service Requires=basic.target, which pulls sockets.target).
 *   The manager boots service-ioc-harness.target (`--unit=`), which wants only
 *   the bus; default.target is not started, but units can be enabled into it.
 * - Environment: systemd --user needs only XDG_RUNTIME_DIR (a 0700 dir) and
 *   PATH; no HOME, USER or login session. It gets PATH, LANG, HOME (a private
 *   dir), XDG_RUNTIME_DIR, XDG_CONFIG_HOME (its systemd/user is the unit dir),
 *   DBUS_SESSION_BUS_ADDRESS and SYSTEMD_UNIT_PATH; units inherit these.
 * - Clients use `env`: XDG_RUNTIME_DIR (systemctl --user talks to
 *   $XDG_RUNTIME_DIR/systemd/private) and DBUS_SESSION_BUS_ADDRESS
 *   (unix:path=$XDG_RUNTIME_DIR/bus, for busctl and dbus-next).
 *   `systemctl --user is-system-running` always prints "offline" here (it
 *   checks the host's /run/systemd/system); use `show -p SystemState`.
 * - Timing (this machine): ready (SystemState running and
 *   org.freedesktop.systemd1 on the bus) 110-230 ms after spawn; stop() with a
 *   few units running 20-90 ms.
 * - Bus kill (killBus): SIGKILL of the dbus-daemon fails dbus.service
 *   (Result=signal); systemd drops its bus connection and goes on working
 *   over the private socket (systemctl works, units keep running). When
 *   dbus.service runs again it reconnects by itself within tens of ms and
 *   takes org.freedesktop.systemd1 again (startBus waits for that). While
 *   dbus.socket listens, the next client connect would socket-activate a new
 *   daemon, so killBus() also stops dbus.socket (connects are refused until
 *   startBus()) unless told keepSocket.
 *
 * Teardown (stop(), idempotent): SIGTERM the manager (it stops its units, the
 * bus included, and exits), SIGKILL whatever is left in its cgroups, rmdir
 * the cgroups deepest first, remove the temp dir. A process 'exit' handler
 * does the same synchronously for managers a test forgot to stop. Mounts exist
 * only in the manager's mount namespace and vanish with it.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export const SYSTEMD = '/lib/systemd/systemd';
export const DBUS_DAEMON = '/usr/bin/dbus-daemon';
export const JOURNALD = '/lib/systemd/systemd-journald';
export const REDIS_SERVER = '/usr/bin/redis-server';
export const FIXTURE_UNITS_DIR = path.resolve(__dirname, '../../../test/fixtures/units');

/** The unit the manager boots instead of default.target. */
export const BOOT_TARGET = 'service-ioc-harness.target';
const CGROUP_PREFIX = 'service-ioc-test-';
const CGROUP2_MAGIC = 0x63677270;
const CGROUP1_MAGIC = 0x27e0eb;

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface StartOptions {
  /** File name (may include a subdirectory, e.g. `x.service.d/y.conf`) -> text, written to the unit dir before boot. */
  units?: Record<string, string>;
  /** Cgroup and temp dir name; default `service-ioc-test-<pid>-<n>`. */
  name?: string;
  /** Deadline for the manager and its bus to come up. */
  timeoutMs?: number;
  /**
   * Run a real systemd-journald in the manager's mount namespace and let the
   * manager and its services log to it (instead of the per-unit log files).
   * Read it with journalctl --directory=<journalDir>.
   */
  journal?: boolean;
}

/** The harness's own units: the bus as units of the manager, the boot target, and per-unit logs. */
function harnessUnits(logDir: string, journal: boolean): Record<string, string> {
  const units: Record<string, string> = {
    'dbus.socket': '[Unit]\nDescription=Session bus socket (test harness)\n\n[Socket]\nListenStream=%t/bus\n',
    'dbus.service': [
      '[Unit]', 'Description=Session bus (test harness)', 'Requires=dbus.socket', '',
      '[Service]', 'Type=notify', 'NotifyAccess=main',
      `ExecStart=${DBUS_DAEMON} --session --address=systemd: --nofork --nopidfile --systemd-activation`, '',
    ].join('\n'),
    [BOOT_TARGET]: '[Unit]\nDescription=Test harness boot target\nWants=dbus.socket dbus.service\n',
  };
  if (!journal) units['service.d/90-harness-log.conf'] = `[Service]\nStandardOutput=append:${logDir}/%n.log\nStandardError=inherit\n`;
  return units;
}

/** Text of a unit file in test/fixtures/units. */
export function fixtureUnit(name: string): string {
  return fs.readFileSync(path.join(FIXTURE_UNITS_DIR, name), 'utf8');
}

/** sleeper, crasher, failing and worker@ from test/fixtures/units. */
export function basicUnits(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of ['sleeper.service', 'crasher.service', 'failing.service', 'worker@.service']) out[n] = fixtureUnit(n);
  return out;
}

/** redis.service plus the drop-in that sets its port. */
export function redisUnits(port: number): Record<string, string> {
  return {
    'redis.service': fixtureUnit('redis.service'),
    'redis.service.d/port.conf': `[Service]\nEnvironment=REDIS_PORT=${port}\n`,
  };
}

/** A TCP port free on 127.0.0.1 right now. */
export async function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '/usr/bin:/bin').split(':').some((d) => d && isExecutable(path.join(d, cmd)));
}

/** The cgroup hierarchies systemd uses here (it looks at these fixed paths itself). */
export function cgroupHierarchies(): string[] {
  const magic = (p: string): number | undefined => {
    try {
      return Number(fs.statfsSync(p).type);
    } catch {
      return undefined;
    }
  };
  if (magic('/sys/fs/cgroup') === CGROUP2_MAGIC) return ['/sys/fs/cgroup'];
  const out: string[] = [];
  if (magic('/sys/fs/cgroup/systemd') === CGROUP1_MAGIC) out.push('/sys/fs/cgroup/systemd');
  if (out.length && magic('/sys/fs/cgroup/unified') === CGROUP2_MAGIC) out.push('/sys/fs/cgroup/unified');
  return out;
}

/** Why a user manager can't be run here, or undefined when it can. */
export function checkUserManager(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'the systemd harness needs root (cgroups, mount namespaces)';
  if (!isExecutable(SYSTEMD)) return `${SYSTEMD} missing (Debian package systemd)`;
  for (const cmd of ['systemctl', 'busctl']) if (!onPath(cmd)) return `${cmd} not on PATH (Debian package systemd)`;
  if (!isExecutable(DBUS_DAEMON)) return `${DBUS_DAEMON} missing (Debian package dbus-daemon)`;
  if (!onPath('unshare')) return 'unshare not on PATH (Debian package util-linux)';
  if (fs.existsSync('/run/systemd/system')) return 'the host runs systemd (/run/systemd/system exists); the harness is for machines without it';
  const hierarchies = cgroupHierarchies();
  if (!hierarchies.length) return 'no usable cgroup hierarchy (need /sys/fs/cgroup as cgroup2 or /sys/fs/cgroup/systemd)';
  for (const h of hierarchies) {
    const probe = path.join(h, `${CGROUP_PREFIX}probe-${process.pid}`);
    try {
      fs.mkdirSync(probe);
      fs.rmdirSync(probe);
    } catch (e) {
      return `cannot create a cgroup in ${h}: ${(e as Error).message}`;
    }
  }
  return undefined;
}

/** Why the harness cannot run systemd-journald, or undefined when it can. */
export function checkJournald(): string | undefined {
  if (!isExecutable(JOURNALD)) return `${JOURNALD} missing (Debian package systemd)`;
  if (!onPath('journalctl')) return 'journalctl not on PATH (Debian package systemd)';
  return undefined;
}

export function checkRedis(): string | undefined {
  if (!isExecutable(REDIS_SERVER)) return `${REDIS_SERVER} missing (Debian package redis-server)`;
  if (!onPath('redis-cli')) return 'redis-cli missing (Debian package redis-tools)';
  return undefined;
}

/** Run a command; resolves with its exit code and output, rejects only if it can't run or times out. */
export function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 15000): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { env, timeout: timeoutMs, maxBuffer: 16 << 20, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (!err) return resolve({ code: 0, stdout, stderr });
      const e = err as NodeJS.ErrnoException & { code?: number | string; killed?: boolean; signal?: string };
      if (typeof e.code === 'number') return resolve({ code: e.code, stdout, stderr });
      if (e.killed) return reject(new Error(`${cmd} ${args.join(' ')} timed out after ${timeoutMs} ms`));
      reject(new Error(`${cmd} ${args.join(' ')}: ${e.message}`));
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie is dead for our purposes.
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** All directories of a cgroup tree, deepest first. */
function cgroupDirs(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) if (e.isDirectory()) walk(path.join(d, e.name));
    out.push(d);
  };
  walk(root);
  return out;
}

function cgroupPids(root: string): number[] {
  const pids: number[] = [];
  for (const d of cgroupDirs(root)) {
    try {
      for (const l of fs.readFileSync(path.join(d, 'cgroup.procs'), 'utf8').split('\n')) if (l) pids.push(Number(l));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

const live = new Set<UserManager>();
let counter = 0;

process.on('exit', () => {
  for (const m of live) m.destroySync();
});

export class UserManager {
  /** Environment for clients: systemctl --user, busctl --user, dbus-next's sessionBus(). */
  readonly env: NodeJS.ProcessEnv;
  readonly busAddress: string;
  readonly runtimeDir: string;
  readonly unitDir: string;
  /** Where each service's output goes: <logDir>/<unit>.log. */
  readonly logDir: string;
  /** Absolute cgroup directories of the manager, one per hierarchy. */
  readonly cgroups: string[];
  /** The manager's cgroup below each hierarchy's root. */
  private readonly cgroupPath: string;
  /** What this instance creates in each hierarchy (the manager's cgroup or the slice above it). */
  private readonly cgroupRoots: string[];
  private readonly journaldCgroups: string[];
  /** Milliseconds from spawn to ready. */
  startMs = 0;
  private proc: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private log = '';
  private stopping: Promise<void> | undefined;
  private createdRunSystemd = false;
  /** The cgroups this instance created: the only ones teardown touches. */
  private owned: string[] = [];

  private constructor(readonly name: string, readonly dir: string, readonly journal: boolean) {
    this.runtimeDir = path.join(dir, 'run');
    this.unitDir = path.join(dir, 'config', 'systemd', 'user');
    this.logDir = path.join(dir, 'log');
    this.busAddress = `unix:path=${this.runtimeDir}/bus`;
    // With a journal the manager runs where a real one does, in user@UID.service
    // under a slice: journald derives _SYSTEMD_USER_UNIT from that cgroup path.
    this.cgroupPath = journal ? `${name}.slice/user@${process.getuid?.() ?? 0}.service` : name;
    const hierarchies = cgroupHierarchies();
    this.cgroupRoots = hierarchies.map((h) => path.join(h, journal ? `${name}.slice` : name));
    this.cgroups = hierarchies.map((h) => path.join(h, this.cgroupPath));
    this.journaldCgroups = journal ? hierarchies.map((h) => path.join(h, `${name}.slice`, 'harness-journald.scope')) : [];
    this.env = {
      ...process.env,
      XDG_RUNTIME_DIR: this.runtimeDir,
      XDG_CONFIG_HOME: path.join(dir, 'config'),
      DBUS_SESSION_BUS_ADDRESS: this.busAddress,
      SYSTEMD_UNIT_PATH: `${this.unitDir}:/usr/lib/systemd/user`,
      SYSTEMD_PAGER: '',
    };
  }

  /** Start a private user manager with `units` in its unit dir; resolves once it answers on its bus. */
  static async start(opts: StartOptions = {}): Promise<UserManager> {
    const name = opts.name ?? `${CGROUP_PREFIX}${process.pid}-${++counter}`;
    if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new Error(`bad harness name ${name}`);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${name}-`));
    const m = new UserManager(name, dir, opts.journal ?? false);
    live.add(m);
    try {
      await m.boot(opts);
    } catch (e) {
      const log = m.output();
      await m.stop();
      throw new Error(`${(e as Error).message}\noutput:\n${log.slice(-4000)}`);
    }
    return m;
  }

  private async boot(opts: StartOptions): Promise<void> {
    fs.mkdirSync(this.runtimeDir, { mode: 0o700 });
    fs.mkdirSync(this.unitDir, { recursive: true });
    fs.mkdirSync(this.logDir);
    fs.mkdirSync(path.join(this.dir, 'home'));
    for (const [n, text] of Object.entries({ ...harnessUnits(this.logDir, this.journal), ...opts.units })) this.writeUnitFile(n, text);
    if (!this.cgroups.length) throw new Error('no cgroup hierarchy to run systemd in');
    for (const root of this.cgroupRoots) {
      fs.mkdirSync(root);
      this.owned.push(root);
    }
    for (const c of [...this.cgroups, ...this.journaldCgroups]) if (!fs.existsSync(c)) fs.mkdirSync(c);
    if (!fs.existsSync('/run/systemd')) {
      fs.mkdirSync('/run/systemd', { mode: 0o755 });
      this.createdRunSystemd = true;
    }

    // In the private mount namespace: /dev/console and /dev/kmsg are /dev/null
    // (systemd --user logs there even when told --log-target=console), /run/systemd
    // is a tmpfs with the `system` marker, and with a journal /run/log is a tmpfs
    // too and systemd-journald (in its own cgroup) creates its sockets in
    // /run/systemd/journal and its files in /run/log/journal (it writes to
    // /var/log/journal only after a flush request, which nothing sends).
    // $1.. = the manager and its arguments.
    const inner = [
      'for d in /dev/console /dev/kmsg; do if [ -e $d ]; then mount --bind /dev/null $d || exit 96; fi; done',
      'mount -t tmpfs -o mode=755 none /run/systemd && mkdir /run/systemd/system || exit 95',
    ];
    if (this.journal) {
      inner.push(
        'mount -t tmpfs -o mode=755 none /run/log || exit 94',
        `/bin/sh -c 'for f in ${this.journaldCgroups.map((c) => path.join(c, 'cgroup.procs')).join(' ')}; do echo $$ > $f; done; exec ${JOURNALD}' &`,
        'i=0; while [ ! -S /run/systemd/journal/stdout ]; do i=$((i+1)); if [ $i -gt 500 ]; then echo "harness: systemd-journald did not start" >&2; exit 93; fi; sleep 0.01; done',
      );
    }
    inner.push('exec "$@"');
    const bootScript = path.join(this.dir, 'boot.sh');
    fs.writeFileSync(bootScript, inner.join('\n') + '\n');
    // $1 = cgroup path, $2.. = cgroup.procs files. Join the cgroup, prove it, then
    // exec the boot script in a private mount namespace.
    const script = [
      'set -e', 'name=$1; shift',
      'for f in "$@"; do echo $$ > "$f"; done',
      'n=$(grep -c ":/$name\\$" /proc/self/cgroup || true)',
      'if [ "$n" -lt $# ]; then echo "harness: not in cgroup $name" >&2; exit 97; fi',
      `exec unshare --mount --propagation private /bin/sh ${bootScript} ${SYSTEMD} --user --unit=${BOOT_TARGET} --log-target=${this.journal ? 'journal' : 'null'}`,
    ].join('\n');
    const managerEnv: NodeJS.ProcessEnv = {
      PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      LANG: process.env.LANG ?? 'C.UTF-8',
      HOME: path.join(this.dir, 'home'),
      XDG_RUNTIME_DIR: this.runtimeDir,
      XDG_CONFIG_HOME: this.env.XDG_CONFIG_HOME,
      DBUS_SESSION_BUS_ADDRESS: this.busAddress,
      SYSTEMD_UNIT_PATH: this.env.SYSTEMD_UNIT_PATH,
    };
    const t0 = Date.now();
    const proc = spawn('/bin/sh', ['-c', script, 'sh', this.cgroupPath, ...this.cgroups.map((c) => path.join(c, 'cgroup.procs'))], {
      env: managerEnv, cwd: '/', stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc = proc;
    const append = (d: Buffer): void => {
      this.log += d.toString();
      if (this.log.length > 400_000) this.log = this.log.slice(-200_000);
    };
    proc.stdout!.on('data', append);
    proc.stderr!.on('data', append);
    this.exited = new Promise((resolve) => proc.once('exit', () => resolve()));

    const deadline = t0 + (opts.timeoutMs ?? 20000);
    let last = '';
    while (true) {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`systemd --user exited (${proc.exitCode ?? proc.signalCode}) while starting`);
      if (Date.now() > deadline) throw new Error(`systemd --user not ready after ${opts.timeoutMs ?? 20000} ms (${last})`);
      const state = await this.systemctl('show', '--property=SystemState', '--value');
      last = `SystemState: ${state.stdout.trim() || state.stderr.trim()}`;
      if (state.code === 0 && /^(running|degraded)$/.test(state.stdout.trim())) {
        if (await this.onBus()) break;
        last = 'org.freedesktop.systemd1 not on the session bus';
      }
      await sleep(20);
    }
    this.startMs = Date.now() - t0;
  }

  /** The manager's pid (0 once it has exited). */
  get pid(): number {
    return this.proc && this.proc.exitCode === null && this.proc.signalCode === null ? this.proc.pid ?? 0 : 0;
  }

  /** What the wrapper shell and the manager printed: errors from before the exec (the manager itself logs nowhere). */
  output(): string {
    return this.log;
  }

  /**
   * The journal's directory as seen from outside the manager's mount
   * namespace (through the manager's /proc/PID/root), for journalctl
   * --directory and the IOC's [journal] directory; '' without a journal.
   */
  get journalDir(): string {
    return this.journal && this.pid ? `/proc/${this.pid}/root/run/log/journal` : '';
  }

  /** `journalctl --directory=<journalDir> --no-pager ...args`. */
  journalctl(...args: string[]): Promise<ExecResult> {
    if (!this.journalDir) return Promise.reject(new Error('this manager runs without a journal (start it with journal: true)'));
    return run('journalctl', [`--directory=${this.journalDir}`, '--no-pager', ...args], this.env);
  }

  /** Everything a service wrote to stdout/stderr ('' if nothing yet; with a journal, see journalctl()). */
  unitLog(unit: string): string {
    try {
      return fs.readFileSync(path.join(this.logDir, `${unit}.log`), 'utf8');
    } catch {
      return '';
    }
  }

  /** `systemctl --user --no-pager ...args` against this manager. */
  systemctl(...args: string[]): Promise<ExecResult> {
    return run('systemctl', ['--user', '--no-pager', ...args], this.env);
  }

  /** `busctl --user ...args` on this manager's session bus. */
  busctl(...args: string[]): Promise<ExecResult> {
    return run('busctl', ['--user', '--no-pager', ...args], this.env);
  }

  /** Whether org.freedesktop.systemd1 has an owner on the session bus (no auto-start). */
  async onBus(): Promise<boolean> {
    const r = await this.busctl('call', 'org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus', 'NameHasOwner', 's', 'org.freedesktop.systemd1');
    return r.code === 0 && r.stdout.trim() === 'b true';
  }

  /** `systemctl --user show unit -p ...`, as name -> value. */
  async show(unit: string, props: string[]): Promise<Record<string, string>> {
    const r = await this.systemctl('show', `--property=${props.join(',')}`, '--', unit);
    if (r.code !== 0) throw new Error(`systemctl --user show ${unit} failed (${r.code}): ${r.stderr.trim()}`);
    const out: Record<string, string> = {};
    for (const line of r.stdout.split('\n')) {
      const i = line.indexOf('=');
      if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
    }
    return out;
  }

  /** Poll `show` until `prop` matches; throws with the last value at the deadline. */
  async waitFor(unit: string, prop: string, want: string | RegExp | ((v: string) => boolean), timeoutMs = 10000): Promise<string> {
    const ok = typeof want === 'string' ? (v: string) => v === want : want instanceof RegExp ? (v: string) => want.test(v) : want;
    const deadline = Date.now() + timeoutMs;
    let v = '';
    while (true) {
      v = (await this.show(unit, [prop]))[prop] ?? '';
      if (ok(v)) return v;
      if (Date.now() > deadline) throw new Error(`${unit} ${prop}=${JSON.stringify(v)} after ${timeoutMs} ms, wanted ${String(want)}`);
      await sleep(50);
    }
  }

  /** Write a unit file (or drop-in, `x.service.d/y.conf`) into the private unit dir; daemon-reload unless told not to. */
  async writeUnit(name: string, text: string, reload = true): Promise<void> {
    this.writeUnitFile(name, text);
    if (!reload) return;
    const r = await this.systemctl('daemon-reload');
    if (r.code !== 0) throw new Error(`daemon-reload failed: ${r.stderr.trim()}`);
  }

  private writeUnitFile(name: string, text: string): void {
    const file = path.resolve(this.unitDir, name);
    if (!file.startsWith(this.unitDir + path.sep)) throw new Error(`unit file name ${name} leaves the unit dir`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
  }

  /** The dbus-daemon's pid (0 when the bus is down). */
  async busPid(): Promise<number> {
    return Number((await this.show('dbus.service', ['MainPID'])).MainPID ?? 0);
  }

  /**
   * SIGKILL the session bus's dbus-daemon and wait until the manager has seen
   * it die. Unless `keepSocket`, also stop dbus.socket so the bus stays down
   * (connects are refused) until startBus(); with `keepSocket` the next client
   * connect socket-activates a new dbus-daemon.
   */
  async killBus(opts: { keepSocket?: boolean } = {}): Promise<void> {
    const pid = await this.busPid();
    if (!pid) throw new Error('the session bus is not running');
    process.kill(pid, 'SIGKILL');
    await this.waitFor('dbus.service', 'ActiveState', (v) => v !== 'active' && v !== 'deactivating');
    if (!opts.keepSocket) {
      const r = await this.systemctl('stop', 'dbus.socket');
      if (r.code !== 0) throw new Error(`stopping dbus.socket failed: ${r.stderr.trim()}`);
    }
  }

  /** Start a new dbus-daemon on the same address and wait until the manager is back on it. */
  async startBus(timeoutMs = 10000): Promise<void> {
    await this.systemctl('reset-failed', 'dbus.service');
    const r = await this.systemctl('start', 'dbus.socket', 'dbus.service');
    if (r.code !== 0) throw new Error(`starting the bus failed: ${r.stderr.trim()}`);
    const deadline = Date.now() + timeoutMs;
    while (!(await this.onBus())) {
      if (Date.now() > deadline) throw new Error(`org.freedesktop.systemd1 not back on the bus after ${timeoutMs} ms`);
      await sleep(20);
    }
  }

  /** Pids in this manager's cgroups (the manager, its units, the bus). */
  pids(): number[] {
    return [...new Set(this.owned.flatMap(cgroupPids))];
  }

  /** What stop() failed to remove; empty when everything is gone. */
  leftovers(): string[] {
    const out: string[] = [];
    for (const c of this.cgroupRoots) if (fs.existsSync(c)) out.push(`cgroup ${c}`);
    if (fs.existsSync(this.dir)) out.push(`dir ${this.dir}`);
    if (this.proc?.pid && pidAlive(this.proc.pid)) out.push(`manager pid ${this.proc.pid}`);
    if (fs.existsSync('/run/systemd/system')) out.push('/run/systemd/system on the host');
    if (fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(this.dir)) out.push(`a mount under ${this.dir}`);
    return out;
  }

  /** SIGTERM the manager (it stops its units), then remove every trace. Idempotent. */
  stop(timeoutMs = 15000): Promise<void> {
    this.stopping ??= this.teardown(timeoutMs);
    return this.stopping;
  }

  private async teardown(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    if (this.pid) {
      this.proc!.kill('SIGTERM');
      const timer = setTimeout(() => this.proc!.kill('SIGKILL'), Math.max(0, timeoutMs - 3000));
      await this.exited;
      clearTimeout(timer);
    }
    // Anything the manager left behind (or everything, if it was SIGKILLed).
    while (this.pids().length) {
      for (const p of this.pids()) try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
      if (Date.now() > deadline) break;
      await sleep(20);
    }
    while (true) {
      const failed = this.removeCgroups();
      if (!failed.length) break;
      if (Date.now() > deadline) throw new Error(`could not remove cgroups: ${failed.join('; ')}`);
      await sleep(20);
    }
    this.cleanFiles();
    live.delete(this);
  }

  /** rmdir every cgroup directory, deepest first; returns what failed. */
  private removeCgroups(): string[] {
    const failed: string[] = [];
    for (const c of this.owned) {
      for (const d of cgroupDirs(c)) {
        try {
          fs.rmdirSync(d);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') failed.push(`${d}: ${(e as Error).message}`);
        }
      }
    }
    return failed;
  }

  private cleanFiles(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
    if (this.createdRunSystemd) {
      try {
        fs.rmdirSync('/run/systemd');
      } catch {
        // someone else put something there; leave it
      }
      this.createdRunSystemd = false;
    }
  }

  /** For the process 'exit' handler: kill everything, remove cgroups and files, synchronously. */
  destroySync(): void {
    const deadline = Date.now() + 3000;
    if (this.proc?.pid) try { process.kill(this.proc.pid, 'SIGKILL'); } catch { /* gone */ }
    while (this.pids().length && Date.now() < deadline) {
      for (const p of this.pids()) try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
      sleepSync(10);
    }
    while (this.removeCgroups().length && Date.now() < deadline) sleepSync(10);
    this.cleanFiles();
    live.delete(this);
  }
}
