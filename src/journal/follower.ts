/**
 * Follows the journal lines of a set of units, as `journalctl` reads them:
 * the unit's own output and the service manager's messages about it
 * (`journalctl --user-unit=X`, or `--unit=X` for the system manager).
 *
 * There is no stable C-free journal API to bind to from Node, and the
 * journal file format is journald's own; journalctl is the supported reader.
 * One `journalctl --follow` process serves every unit. Each unit's last lines
 * are read once at start (`--lines=N`, one unit at a time) and merged with the
 * followed lines by cursor, so a line that both see is kept once and lines
 * are ordered by their timestamp. When journalctl exits it is started again,
 * after the last cursor seen, so nothing is lost or repeated.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { Logger } from '../log';
import { OUTPUT_FIELDS, journalOrder, keepLine, parseEntry, type JournalLine, type JournalScope } from './entry';

export interface JournalFollowerOptions {
  scope: JournalScope;
  /** A journal directory (journalctl --directory); default: the journals journalctl finds. */
  directory?: string;
  /** Lines kept per unit. */
  lines: number;
  log: Logger;
  /** The journalctl program. */
  journalctl?: string;
  /** Wait before starting journalctl again after it exited. */
  restartDelayMs?: number;
}

/** A JSON line longer than this (journalctl's own field limit is 64 KiB a field) is dropped. */
const MAX_LINE_BYTES = 1 << 20;
/** History reads of several units at once. */
const HISTORY_CONCURRENCY = 2;

export type FollowerState = 'starting' | 'following' | 'failed';

/** Emits 'lines' (unit) when a unit's kept lines changed and 'state' (state, reason) when following starts or fails. */
export class JournalFollower extends EventEmitter {
  private readonly units = new Set<string>();
  private readonly kept = new Map<string, JournalLine[]>();
  private follower: ChildProcessWithoutNullStreams | undefined;
  private readonly history = new Set<ChildProcessWithoutNullStreams>();
  private lastCursor: string | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private stopped = true;
  private _state: FollowerState = 'starting';
  private _reason = 'not started';
  private readonly waiters = new Set<{ unit: string; check: (l: JournalLine) => boolean; resolve: () => void }>();

  constructor(private readonly opts: JournalFollowerOptions) {
    super();
  }

  /** Follow `unit` too; units are fixed once started (the follower's matches are its arguments). */
  watch(unit: string): void {
    if (!this.stopped) throw new Error(`the journal follower already runs; cannot add ${unit}`);
    this.units.add(unit);
    if (!this.kept.has(unit)) this.kept.set(unit, []);
  }

  get state(): FollowerState {
    return this._state;
  }

  /** Why the follower is not following (the state's reason). */
  get reason(): string {
    return this._reason;
  }

  /** The following journalctl's pid (0 while none runs). */
  get pid(): number {
    return this.follower?.pid ?? 0;
  }

  /** The unit's kept lines, oldest first. */
  lines(unit: string): readonly JournalLine[] {
    return this.kept.get(unit) ?? [];
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    if (this.units.size === 0) return;
    // Follow from a second before the history reads, so that a line logged
    // while they run is in one of the two; the cursor merge drops doubles.
    const since = Math.floor(Date.now() / 1000) - 1;
    this.spawnFollower([`--since=@${since}`]);
    void this.readHistory();
  }

  stop(): void {
    this.stopped = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    this.follower?.kill('SIGTERM');
    this.follower = undefined;
    for (const h of this.history) h.kill('SIGTERM');
    this.history.clear();
    for (const w of this.waiters) w.resolve();
    this.waiters.clear();
  }

  /**
   * Resolves once a line of `unit` for which `check` holds has been seen
   * (kept already or arriving), or after `timeoutMs`; never rejects.
   */
  waitFor(unit: string, check: (l: JournalLine) => boolean, timeoutMs: number): Promise<void> {
    if (this.lines(unit).some(check) || this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const w = { unit, check, resolve: () => { clearTimeout(t); this.waiters.delete(w); resolve(); } };
      const t = setTimeout(w.resolve, timeoutMs);
      this.waiters.add(w);
    });
  }

  /**
   * What a failed job left in the journal since `sinceUs`: the unit's own last
   * two lines and the service manager's first message about the failure
   * ("Main process exited, code=exited, status=3/NOTIMPLEMENTED"), formatted
   * without time. Waits up to `timeoutMs` for the manager's failure message
   * (priority warning or higher), which journald delivers after the job ends.
   */
  async failureLines(unit: string, sinceUs: number, timeoutMs: number): Promise<string[]> {
    const recent = (l: JournalLine): boolean => l.timeUs >= sinceUs;
    await this.waitFor(unit, (l) => recent(l) && l.fromManager && l.priority <= 4, timeoutMs);
    const lines = this.lines(unit).filter(recent);
    const own = lines.filter((l) => !l.fromManager).slice(-2);
    const manager = lines.filter((l) => l.fromManager && l.priority <= 5).slice(0, 1);
    return [...own, ...manager].sort(journalOrder).map((l) => l.message);
  }

  // ------------------------------------------------------------ processes

  private baseArgs(): string[] {
    const args = ['--output=json', `--output-fields=${OUTPUT_FIELDS.join(',')}`, '--no-pager', '--quiet'];
    if (this.opts.directory) args.push(`--directory=${this.opts.directory}`);
    return args;
  }

  private unitArgs(units: Iterable<string>): string[] {
    const flag = this.opts.scope === 'user' ? '--user-unit' : '--unit';
    return [...units].map((u) => `${flag}=${u}`);
  }

  private run(args: string[], onLine: (line: string) => void): ChildProcessWithoutNullStreams {
    const proc = spawn(this.opts.journalctl ?? 'journalctl', args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, SYSTEMD_PAGER: '', SYSTEMD_COLORS: '0' } });
    proc.stdin.end();
    let buf = '';
    let dropping = false;
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (chunk: string) => {
      buf += chunk;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (dropping) dropping = false;
        else if (line) onLine(line);
      }
      if (buf.length > MAX_LINE_BYTES) {
        this.opts.log.warn('dropped an oversized journal entry', { bytes: buf.length });
        buf = '';
        dropping = true;
      }
    });
    return proc;
  }

  private spawnFollower(position: string[]): void {
    const args = [...this.baseArgs(), '--follow', '--lines=all', ...position, ...this.unitArgs(this.units)];
    let stderr = '';
    const proc = this.run(args, (line) => {
      const l = parseEntry(line, this.opts.scope, this.units);
      if (l) {
        this.lastCursor = l.cursor;
        this.add(l);
      } else {
        const cursor = /"__CURSOR"\s*:\s*"([^"]+)"/.exec(line);
        if (cursor) this.lastCursor = cursor[1];
      }
    });
    this.follower = proc;
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (d: string) => { stderr = (stderr + d).slice(-2000); });
    proc.once('spawn', () => this.setState('following', ''));
    proc.once('error', (err) => this.followerEnded(proc, err.message));
    proc.once('close', (code, signal) => this.followerEnded(proc, `journalctl exited (${code ?? signal})${stderr.trim() ? `: ${stderr.trim().split('\n').pop()}` : ''}`));
  }

  private followerEnded(proc: ChildProcessWithoutNullStreams, reason: string): void {
    if (this.follower !== proc) return;
    this.follower = undefined;
    if (this.stopped) return;
    this.setState('failed', reason);
    this.opts.log.warn('not following the journal', { reason });
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopped) return;
      this.spawnFollower(this.lastCursor ? [`--after-cursor=${this.lastCursor}`] : [`--since=@${Math.floor(Date.now() / 1000) - 1}`]);
    }, this.opts.restartDelayMs ?? 5000);
  }

  private async readHistory(): Promise<void> {
    const queue = [...this.units];
    const worker = async (): Promise<void> => {
      for (let u = queue.shift(); u !== undefined && !this.stopped; u = queue.shift()) await this.readUnitHistory(u);
    };
    await Promise.all(Array.from({ length: HISTORY_CONCURRENCY }, worker));
  }

  private readUnitHistory(unit: string): Promise<void> {
    return new Promise((resolve) => {
      const proc = this.run([...this.baseArgs(), `--lines=${this.opts.lines}`, ...this.unitArgs([unit])], (line) => {
        const l = parseEntry(line, this.opts.scope, this.units);
        if (l) this.add(l);
      });
      this.history.add(proc);
      const done = (): void => {
        this.history.delete(proc);
        resolve();
      };
      proc.once('error', (err) => {
        this.opts.log.debug('could not read a unit\'s journal', { unit, reason: err.message });
        done();
      });
      proc.once('close', done);
    });
  }

  // ------------------------------------------------------------ lines

  private add(l: JournalLine): void {
    const list = this.kept.get(l.unit);
    if (!list) return;
    if (!keepLine(list, l, this.opts.lines)) return;
    this.emit('lines', l.unit);
    for (const w of this.waiters) if (w.unit === l.unit && w.check(l)) w.resolve();
  }

  private setState(state: FollowerState, reason: string): void {
    if (this._state === state && this._reason === reason) return;
    this._state = state;
    this._reason = reason;
    this.emit('state', state, reason);
  }
}
