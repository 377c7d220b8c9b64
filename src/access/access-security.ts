/**
 * Access security for the record database, with asLib's semantics: a
 * client's access to a field is the maximum over the rules of the record's
 * ASG (DEFAULT when the ASG is missing or unknown) that match its level,
 * user, host and CALC. With no file, everyone may read and write.
 *
 * The rules are replaced atomically on reload (SIGHUP or a change of the
 * file); a file with an error changes nothing and the reason is logged.
 * CALC inputs (INPA..INPL) are PVs of this IOC; a change of one re-evaluates
 * the rules and clients get new ACCESS_RIGHTS.
 */
import * as dns from 'node:dns/promises';
import * as fs from 'node:fs';
import { AlarmSeverity } from '../ca/protocol/constants';
import type { AccessRights, ClientIdentity, ProcessVariable } from '../ca/pv';
import type { AccessPolicy } from '../database/field-pv';
import type { FieldDef } from '../database/fields';
import type { Database } from '../database/database';
import type { DbRecord } from '../database/record';
import type { Logger } from '../log';
import { Access, parseAcf, type AcfConfig, type Asg, type Rule } from './acf';

export interface AccessSecurityOptions {
  file: string;
  macros?: ReadonlyMap<string, string>;
  log: Logger;
  /** Match HAG entries against the client's IP address (resolved at load) instead of its HOST_NAME. */
  hostByAddress?: boolean;
  /** Finds the PVs named by INPx. */
  resolveInput: (name: string) => ProcessVariable | undefined;
}

export interface RightsDecision extends AccessRights {
  trapWrite: boolean;
}

/** Fields at access security level 0 (asl(ASL0) in the record .dbd files); everything else is level 1. */
const ASL0_FIELDS = new Set(['VAL']);

interface InputState {
  values: number[];
  valid: boolean[];
  /** The ASG names this input (INPx). */
  defined: boolean[];
  unsubscribe: Array<() => void>;
}

interface Loaded {
  config: AcfConfig;
  /** HAG name → addresses, when matching by address. */
  hagAddresses: Map<string, Set<string>>;
  inputs: Map<string, InputState>;
}

export class AccessSecurity implements AccessPolicy {
  private current: Loaded | undefined;
  private readonly listeners = new Set<() => void>();
  private watcher: fs.FSWatcher | undefined;
  private reloading: Promise<boolean> | undefined;
  private onHup: (() => void) | undefined;

  constructor(private readonly opts: AccessSecurityOptions) {}

  /** Read the file; throws AcfError at startup so the IOC does not run with broken rules. */
  async load(): Promise<void> {
    const next = await this.read();
    this.install(next);
  }

  /** Re-read the file. Returns false (and keeps the old rules) when it has an error. */
  reload(reason: string): Promise<boolean> {
    if (this.reloading) return this.reloading;
    this.reloading = (async () => {
      try {
        const next = await this.read();
        this.install(next);
        this.opts.log.info('access security reloaded', { file: this.opts.file, reason });
        return true;
      } catch (err) {
        this.opts.log.error('access security file has an error; the previous rules stay in force', { file: this.opts.file, reason: (err as Error).message });
        return false;
      } finally {
        this.reloading = undefined;
      }
    })();
    return this.reloading;
  }

  /** Reload when the file changes. */
  watchFile(): void {
    let timer: NodeJS.Timeout | undefined;
    try {
      this.watcher = fs.watch(this.opts.file, () => {
        // Editors write in several steps: wait for the file to settle.
        if (timer) clearTimeout(timer);
        timer = setTimeout(() => void this.reload('file changed').then(() => this.rewatch()), 200);
      });
    } catch (err) {
      this.opts.log.warn('cannot watch the access security file', { file: this.opts.file, reason: (err as Error).message });
    }
  }

  /** An editor that replaces the file leaves the old watch on a deleted inode. */
  private rewatch(): void {
    this.watcher?.close();
    this.watchFile();
  }

  /** Reload on SIGHUP (systemctl reload sends it), until close(). */
  reloadOnSighup(): void {
    if (this.onHup) return;
    this.onHup = (): void => void this.reload('SIGHUP');
    process.on('SIGHUP', this.onHup);
  }

  close(): void {
    if (this.onHup) process.off('SIGHUP', this.onHup);
    this.onHup = undefined;
    this.watcher?.close();
    if (this.current) for (const i of this.current.inputs.values()) i.unsubscribe.forEach((u) => u());
  }

  private async read(): Promise<Loaded> {
    const text = await fs.promises.readFile(this.opts.file, 'utf8');
    const config = parseAcf(text, this.opts.file, this.opts.macros);
    for (const w of config.warnings) this.opts.log.warn(w);
    const hagAddresses = new Map<string, Set<string>>();
    if (this.opts.hostByAddress) {
      for (const [name, hosts] of config.hags) {
        const addrs = new Set<string>();
        for (const h of hosts) {
          try {
            for (const a of await dns.lookup(h, { all: true })) addrs.add(a.address);
          } catch {
            this.opts.log.warn('HAG host does not resolve; it matches no client', { hag: name, host: h });
          }
        }
        hagAddresses.set(name, addrs);
      }
    }
    return { config, hagAddresses, inputs: new Map() };
  }

  private install(next: Loaded): void {
    const old = this.current;
    for (const asg of next.config.asgs.values()) next.inputs.set(asg.name, this.connectInputs(asg));
    this.current = next;
    if (old) for (const i of old.inputs.values()) i.unsubscribe.forEach((u) => u());
    this.changed();
  }

  private connectInputs(asg: Asg): InputState {
    const state: InputState = { values: new Array<number>(12).fill(0), valid: [], defined: [], unsubscribe: [] };
    asg.inputs.forEach((name, i) => {
      if (!name) return;
      state.defined[i] = true;
      const pv = this.opts.resolveInput(name);
      if (!pv) {
        this.opts.log.warn('access security input is not a PV of this IOC; rules using it never apply', { asg: asg.name, input: name });
        state.valid[i] = false;
        return;
      }
      const read = (): void => {
        const s = pv.snapshot();
        const v = Number(s.value[0]);
        const valid = s.severity !== AlarmSeverity.INVALID && Number.isFinite(v);
        if (state.values[i] === v && state.valid[i] === valid) return;
        state.values[i] = v;
        state.valid[i] = valid;
        if (this.current?.inputs.get(asg.name) === state) this.changed();
      };
      read();
      state.unsubscribe.push(pv.subscribe(read));
    });
    return state;
  }

  private changed(): void {
    for (const l of [...this.listeners]) l();
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  rights(record: DbRecord, field: FieldDef, client: ClientIdentity): RightsDecision {
    const cur = this.current;
    if (!cur) return { read: true, write: true, trapWrite: true };
    const asgName = String(record.f.ASG ?? '');
    const asg = cur.config.asgs.get(asgName) ?? cur.config.asgs.get('DEFAULT')!;
    const level = ASL0_FIELDS.has(field.name) ? 0 : 1;
    return this.decide(cur, asg, level, client);
  }

  /** asLibRoutines.c asComputePvt: the highest access of the rules that match. */
  private decide(cur: Loaded, asg: Asg, level: number, client: ClientIdentity): RightsDecision {
    let access = Access.NONE;
    let trapWrite = false;
    const inputs = cur.inputs.get(asg.name);
    for (const rule of asg.rules) {
      if (access === Access.WRITE) break;
      if (access >= rule.access) continue;
      if (level > rule.level) continue;
      if (!this.matches(cur, rule, client, inputs)) continue;
      access = rule.access;
      if (access === Access.WRITE) trapWrite = rule.trapWrite;
    }
    return { read: access >= Access.READ, write: access >= Access.WRITE, trapWrite };
  }

  private matches(cur: Loaded, rule: Rule, client: ClientIdentity, inputs: InputState | undefined): boolean {
    if (rule.uags.length && !rule.uags.some((u) => cur.config.uags.get(u)?.has(client.user))) return false;
    if (rule.hags.length) {
      const ok = this.opts.hostByAddress
        ? rule.hags.some((h) => cur.hagAddresses.get(h)?.has(client.address))
        : rule.hags.some((h) => cur.config.hags.get(h)?.has(client.host.toLowerCase()));
      if (!ok) return false;
    }
    if (rule.calc) {
      // asLib evaluates a CALC only when one of the ASG's inputs it uses changes, starting
      // from 0: one that uses none never applies. Inputs the ASG lacks read as 0.
      const used = rule.calc.inputs.filter((i) => inputs?.defined[i]);
      if (!inputs || used.length === 0 || used.some((i) => !inputs.valid[i])) return false;
      const result = rule.calc.fn(inputs.values.map((v, i) => (inputs.defined[i] ? v : 0)));
      // asLib takes a result within 0.01 of 1 as true.
      if (!(result > 0.99 && result < 1.01)) return false;
    }
    return true;
  }
}

/**
 * Load the rules and put them in force for `database` (its PVs are also the
 * CALC inputs); they are reloaded on SIGHUP and when the file changes, until
 * close(). Throws AcfError when the file is wrong, before anything is served.
 */
export async function enforceAccessSecurity(database: Database, opts: Omit<AccessSecurityOptions, 'resolveInput'>): Promise<AccessSecurity> {
  const security = new AccessSecurity({ ...opts, resolveInput: (n) => database.lookup(n) });
  await security.load();
  database.access = security;
  security.watchFile();
  security.reloadOnSighup();
  return security;
}
