/**
 * Access security against its reference behaviour.
 *
 * 1. asLib oracle: the decisions of our AccessSecurity (src/access) for a
 *    table of .acf files × (ASG, level, user, host), with CALC inputs and
 *    their changes, compared with EPICS base's own asLib run through python3
 *    ctypes (test/interop/aslib_oracle.py, Debian's libcom3.17.6 = EPICS
 *    7.0.3.1). Files asLib rejects must be rejected too, naming the same line.
 *
 * 2. Real clients: `service-ioc softioc ... -a file.acf` seen through pyepics
 *    (libca) running as different Linux users and from different host names
 *    (`unshare --uts`), since libca sends CLIENT_NAME from the login name of
 *    its uid and HOST_NAME from gethostname(): read-only and writing clients,
 *    the put log lines on the IOC's stderr, a CALC input flipping access live,
 *    and reloads (a broken file keeps the old rules). Then `service-ioc run -c`
 *    with [access] host_by_address and a [putlog] file.
 *    The test users (sioc-op1, sioc-viewer1) are created here and removed after.
 *
 * Outside CI a missing libCom, pyepics, root, or useradd/setpriv/unshare/hostname
 * skips the suite that needs it; in CI (CI=true) it fails.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AcfError } from '../../src/access/acf';
import { AccessSecurity } from '../../src/access/access-security';
import { Database } from '../../src/database/database';
import { createDatabase, mergeInto, parseDbText } from '../../src/database/dbfile/parser';
import { parseMacroDefinitions } from '../../src/database/dbfile/macros';
import { memoryLogger } from '../../src/log';
import { CLI_JS, makeTempDir, removeTempDir, requireBuiltCli, startSoftIocCli, type RunningSoftIoc } from '../helpers/cli';
import { startProcess, type Managed } from '../helpers/processes';
import { clientEnv, PyCa, PYCA_SCRIPT, serverEnv, type Reply } from '../helpers/pyca';
import { checkPyepics, freeCaPorts, inCI, requireDependency, SYSTEM_PYTHON } from '../helpers/system';
import { EXAMPLE_ACF } from '../fixtures/access';

// ---------------------------------------------------------------- 1. the asLib oracle

const ORACLE = path.resolve(__dirname, '../../../test/interop/aslib_oracle.py');

/** An input event, as asCa.c sees it: a value, an INVALID severity, or a PV that is not connected. */
type InputEvent = number | 'invalid' | 'disconnected';

interface Scenario {
  name: string;
  acf: string;
  /** asInitFile's substitutions / -m before -a. */
  macros?: string;
  /** Input PVs at start; a PV not listed is not served (never connects). */
  inputs?: Record<string, InputEvent>;
  /** Later input changes (values or 'invalid'); access is compared after each. */
  steps?: Array<Record<string, Exclude<InputEvent, 'disconnected'>>>;
  /** Cases: every ASG × level 0 and 1 × user × host. '' is a record without ASG. */
  asgs?: string[];
  users?: string[];
  hosts?: string[];
  /** asLib rejects this file; we must too, at this line. */
  errorLine?: number;
  /**
   * asLib rejects this file and we may accept it (a leniency), but then it
   * must mean what this corrected file means to asLib.
   */
  lenient?: string;
}

interface OracleCase {
  asg: string;
  level: number;
  user: string;
  host: string;
}

interface OracleResult {
  status: number;
  messages: string;
  steps: Array<Array<{ access: number; trap: number; callbacks: number }>>;
  failure?: string;
}


const PEOPLE = ['alice', 'bob', 'root', 'Alice', 'mallory', ''];
const HOSTS = ['opi1', 'OPI2', 'Opi1', 'laptop', 'opi1.example.org', ''];

const SCENARIOS: Scenario[] = [
  {
    name: 'every rule form; CALC input off, then on, then INVALID, then back',
    acf: EXAMPLE_ACF,
    inputs: { enable: 0 },
    steps: [{ enable: 1 }, { enable: 'invalid' }, { enable: 1 }, { enable: 0.995 }, { enable: 1.02 }],
    asgs: ['SERVICE_CONTROL', 'LOCKED', 'DEFAULT', 'NO_SUCH_GROUP', ''],
  },
  {
    name: 'CALC input never connected',
    acf: EXAMPLE_ACF,
    asgs: ['SERVICE_CONTROL'],
  },
  {
    name: 'CALC input INVALID at start',
    acf: EXAMPLE_ACF,
    inputs: { enable: 'invalid' },
    steps: [{ enable: 1 }],
    asgs: ['SERVICE_CONTROL'],
  },
  {
    name: 'no DEFAULT in the file: unknown groups get nothing',
    acf: 'ASG(OPEN) { RULE(1, WRITE) }\nASG(RO) { RULE(1, READ) }\n',
    asgs: ['OPEN', 'RO', 'DEFAULT', 'other', ''],
    users: ['alice'],
    hosts: ['opi1'],
  },
  {
    name: 'levels: a level-0 rule covers only ASL0, level 1 and above cover both',
    acf: 'ASG(L0) { RULE(0, WRITE) RULE(1, READ) }\nASG(L2) { RULE(2, WRITE, TRAPWRITE) }\nASG(DEFAULT) { RULE(0, READ) }\n',
    asgs: ['L0', 'L2', 'DEFAULT'],
    users: ['alice'],
    hosts: ['opi1'],
  },
  {
    name: 'the first matching rule of the highest access decides TRAPWRITE',
    acf: `UAG(a) { alice }
ASG(G1) {
  RULE(1, WRITE, NOTRAPWRITE) { UAG(a) }
  RULE(1, WRITE, TRAPWRITE)
}
ASG(G2) {
  RULE(1, READ, TRAPWRITE)
  RULE(1, WRITE, TRAPWRITE) { UAG(a) }
  RULE(1, WRITE, NOTRAPWRITE)
}
ASG(G3) {
  RULE(1, NONE)
  RULE(1, READ) { UAG(a) }
  RULE(0, NONE) { UAG(a) }
}
`,
    asgs: ['G1', 'G2', 'G3'],
    users: ['alice', 'bob'],
    hosts: ['h'],
  },
  {
    name: 'users compare exactly, hosts lower-cased; several UAG/HAG clauses are alternatives',
    acf: `UAG(u1) { Alice, bob }
UAG(u2) { carol }
UAG(empty)
HAG(h1) { OPI1, Opi2.Example.ORG }
HAG(h2) { laptop }
HAG(nohosts)
ASG(BOTH) { RULE(1, WRITE) { UAG(u1, u2) HAG(h1) } }
ASG(SPLIT) { RULE(1, WRITE) { UAG(u1) UAG(u2) HAG(h1) HAG(h2) } }
ASG(EMPTY) { RULE(1, WRITE) { UAG(empty) } RULE(1, READ) { HAG(nohosts) } }
ASG(DEFAULT) { RULE(1, READ) { HAG(h2) } }
`,
    asgs: ['BOTH', 'SPLIT', 'EMPTY', 'DEFAULT'],
    users: ['Alice', 'alice', 'bob', 'carol', 'dave', ''],
    hosts: ['opi1', 'OPI1', 'opi2.example.org', 'OPI2.EXAMPLE.ORG', 'opi2', 'Laptop', ''],
  },
  {
    name: 'a user in two UAGs, a host in two HAGs, a user listed twice',
    acf: `UAG(a) { alice, alice, bob }
UAG(b) { alice }
HAG(x) { opi1 }
HAG(y) { opi1, opi2 }
ASG(G) {
  RULE(1, READ) { UAG(b) HAG(y) }
  RULE(0, WRITE) { UAG(a) HAG(x) }
}
`,
    asgs: ['G'],
    users: ['alice', 'bob'],
    hosts: ['opi1', 'opi2'],
  },
  {
    name: 'quoted names, odd characters, comments and blank lines, CRLF',
    acf: '# comment\r\n\r\nUAG("op group") { "alice smith", bob_2, "c-d.e" }\r\nHAG(hosts) { "opi-1.lab", opi_2 } # trailing comment\r\n'
      + 'ASG("control:1") {\r\n  RULE(1, WRITE, TRAPWRITE) { UAG("op group") HAG(hosts) }\r\n}\r\nASG(DEFAULT) { RULE(1, READ) }\r\n',
    asgs: ['control:1', 'DEFAULT'],
    users: ['alice smith', 'alice', 'bob_2', 'c-d.e'],
    hosts: ['opi-1.lab', 'OPI_2', 'opi'],
  },
  {
    name: 'macros in INP names and member lists',
    acf: 'UAG(ops) { $(OP) }\nASG(G) {\n  INPA("$(P)enable")\n  RULE(1, READ)\n  RULE(1, WRITE) { UAG(ops) CALC("A") }\n}\n',
    macros: 'P=bl:,OP=alice',
    inputs: { 'bl:enable': 1 },
    steps: [{ 'bl:enable': 0 }],
    asgs: ['G'],
    users: ['alice', 'bob'],
    hosts: ['h'],
  },
  {
    name: 'CALC: several inputs, one of them INVALID or never connected',
    acf: `ASG(G) {
  INPA("a")
  INPB("b")
  INPC("c")
  RULE(1, READ) { CALC("A>0 && B<2") }
  RULE(1, WRITE) { CALC("C=0 || A=5") }
}
ASG(NOINP) {
  INPA("a")
  RULE(1, READ) { CALC("A=1") }
  RULE(1, WRITE) { CALC("B=0") }
}
`,
    inputs: { a: 1, b: 1, c: 'disconnected' },
    steps: [{ b: 3 }, { a: 5 }, { b: 'invalid' }, { b: 0, a: 0 }, { a: 1 }],
    asgs: ['G', 'NOINP'],
    users: ['alice'],
    hosts: ['h'],
  },
  {
    name: 'CALC: operators and functions',
    acf: `ASG(G) {
  INPA("a")
  INPB("b")
  RULE(1, READ) { CALC("ABS(A-B)<=1 ? 1 : 0") }
  RULE(1, WRITE) { CALC("MAX(A,B)#3 AND !(A>=B)") }
}
`,
    inputs: { a: 1, b: 2 },
    steps: [{ a: 3 }, { b: 4 }, { a: -2, b: -1 }, { a: 2, b: 3 }],
    asgs: ['G'],
    users: ['alice'],
    hosts: ['h'],
  },
  {
    name: 'an INP that no rule uses',
    acf: 'ASG(G) { INPA("a") INPL("l") RULE(1, WRITE) }\n',
    inputs: { a: 'invalid' },
    asgs: ['G'],
    users: ['alice'],
    hosts: ['h'],
  },
  {
    name: 'CALC with no input at all: asLib never evaluates it, so the rule never applies',
    acf: 'ASG(G) {\n  RULE(1, READ)\n  RULE(1, WRITE) { CALC("1") }\n}\nASG(ZERO) { RULE(1, WRITE) { CALC("0") } }\n',
    asgs: ['G', 'ZERO'],
    users: ['alice'],
    hosts: ['h'],
  },
  {
    name: 'CALC naming an input the ASG lacks next to one it has: asLib computes it with 0 for the missing one',
    acf: 'ASG(G) {\n  INPA("a")\n  RULE(1, READ)\n  RULE(1, WRITE) { CALC("A=1 || B=1") }\n}\n',
    inputs: { a: 0 },
    steps: [{ a: 1 }, { a: 0 }],
    asgs: ['G'],
    users: ['alice'],
    hosts: ['h'],
  },
  {
    name: 'a backslash in a quoted name is kept, as asLib\'s lexer does',
    acf: 'UAG(u) { "dom\\\\alice", "al\\"ice" }\nASG(G) { RULE(1, WRITE) { UAG(u) } }\n',
    asgs: ['G'],
    users: ['dom\\alice', 'dom\\\\alice', 'al"ice', 'al\\"ice'],
    hosts: ['h'],
  },
  {
    name: 'an empty ASG(DEFAULT) may be given its rules later',
    acf: 'ASG(DEFAULT)\nASG(DEFAULT) {\n  RULE(1, READ)\n}\nASG(X) { RULE(1, WRITE) }\n',
    asgs: ['X', 'DEFAULT', 'Y'],
    users: ['alice'],
    hosts: ['h'],
  },
  // Files asLib rejects (asInitFile fails and says at which line).
  { name: 'error: access rights word', acf: 'ASG(X) {\n  RULE(1, ALL)\n}\n', errorLine: 2 },
  { name: 'error: access rights word on a continuation line', acf: 'ASG(X) {\n  RULE(1,\n   ALL)\n}\n', errorLine: 3 },
  { name: 'error: TRAPWRITE option', acf: 'ASG(X) {\n  RULE(1, WRITE,\n\n TRAP)\n}\n', errorLine: 4 },
  { name: 'error: level not a number', acf: 'ASG(X) {\n  RULE(x, WRITE)\n}\n', errorLine: 2 },
  { name: 'error: negative level', acf: 'ASG(X) {\n  RULE(-1, WRITE)\n}\n', errorLine: 2 },
  { name: 'error: fractional level', acf: 'ASG(X) {\n  RULE(1.5, WRITE)\n}\n', errorLine: 2 },
  { name: 'error: undefined UAG', acf: 'UAG(a) { alice }\nASG(X) {\n  RULE(1, WRITE) { UAG(b) }\n}\n', errorLine: 3 },
  { name: 'error: undefined UAG, named on the line after its RULE', acf: 'ASG(X) {\n  RULE(1, WRITE) {\n    UAG(nobody)\n  }\n}\n', errorLine: 3 },
  { name: 'error: undefined HAG', acf: 'HAG(a) { h }\nASG(X) {\n  RULE(1, WRITE)\n  RULE(1, READ) { HAG(a, b) }\n}\n', errorLine: 4 },
  { name: 'error: undefined HAG, named lines after its RULE', acf: 'UAG(a) {x}\nASG(X) {\n  RULE(1, WRITE)\n  {\n    UAG(a)\n    HAG(nohag)\n  }\n}\n', errorLine: 6 },
  { name: 'error: UAG defined twice', acf: 'UAG(a) { alice }\n\nUAG(a) { bob }\n', errorLine: 3 },
  { name: 'error: HAG defined twice', acf: 'HAG(a) { h }\nHAG(a)\n', errorLine: 2 },
  { name: 'error: ASG defined twice', acf: 'ASG(X) { RULE(1, READ) }\nASG(X) { RULE(1, WRITE) }\n', errorLine: 2 },
  { name: 'error: DEFAULT defined twice', acf: 'ASG(DEFAULT) { RULE(1, READ) }\nASG(DEFAULT) { RULE(1, WRITE) }\n', errorLine: 2 },
  { name: 'error: CALC syntax', acf: 'ASG(X) {\n  INPA("a")\n  RULE(1, WRITE) {\n\n    CALC("A=")\n  }\n}\n', errorLine: 5 },
  { name: 'error: CALC assignment', acf: 'ASG(X) {\n  INPA("a")\n  RULE(1, WRITE) { CALC("A:=1") }\n}\n', errorLine: 3 },
  { name: 'error: missing comma in a UAG', acf: 'UAG(a) {\n  alice\n  bob\n}\n', errorLine: 3 },
  { name: 'error: newline in a quoted string', acf: 'HAG(h) { "opi1\n }\n', errorLine: 1 },
  { name: 'error: a character names cannot have', acf: 'UAG(a) {\n  al$ice\n}\n', errorLine: 2 },
  { name: 'error: RULE outside an ASG', acf: '\nRULE(1, READ)\n', errorLine: 2 },
  { name: 'error: end of file inside an ASG', acf: 'ASG(X) {\n  RULE(1, READ)\n', errorLine: 3 },
  { name: 'error: INPM', acf: 'ASG(X) {\n  INPM("a")\n}\n', errorLine: 2 },
  { name: 'error: unknown word in an ASG', acf: 'ASG(X) {\n  INPUT("a")\n}\n', errorLine: 2 },
  { name: 'error: unknown word in a RULE', acf: 'ASG(X) {\n  RULE(1, READ) {\n    USER(a)\n  }\n}\n', errorLine: 3 },
  { name: 'error: empty UAG list in a RULE', acf: 'ASG(X) {\n  RULE(1, READ) { UAG() }\n}\n', errorLine: 2 },
  { name: 'error: an empty file, or only comments', acf: '# nothing yet\n', errorLine: 2 },
  { name: 'error: missing )', acf: 'ASG(X {\n  RULE(1, READ)\n}\n', errorLine: 1 },
  // Files asLib rejects and we accept: they must mean what their corrected form means.
  {
    name: 'leniency: keywords and access words in lower case',
    acf: 'uag(ops) { alice }\nasg(G) {\n  rule(0, read)\n  rule(1, write, trapwrite) { uag(ops) }\n}\n',
    lenient: 'UAG(ops) { alice }\nASG(G) {\n  RULE(0, READ)\n  RULE(1, WRITE, TRAPWRITE) { UAG(ops) }\n}\n',
    asgs: ['G', ''],
    users: ['alice', 'bob'],
    hosts: ['h'],
  },
  {
    name: 'leniency: a UAG used before it is defined',
    acf: 'ASG(G) { RULE(1, WRITE) { UAG(a) } }\nUAG(a) { alice }\n',
    lenient: 'UAG(a) { alice }\nASG(G) { RULE(1, WRITE) { UAG(a) } }\n',
    asgs: ['G'],
    users: ['alice', 'bob'],
    hosts: ['h'],
  },
  {
    name: 'leniency: empty braces and a trailing comma',
    acf: 'UAG(a) { alice, }\nUAG(b) {}\nASG(G) { RULE(1, WRITE) {} RULE(0, READ) { UAG(a) } }\nASG(H) {}\n',
    lenient: 'UAG(a) { alice }\nUAG(b)\nASG(G) { RULE(1, WRITE) RULE(0, READ) { UAG(a) } }\nASG(H)\n',
    asgs: ['G', 'H'],
    users: ['alice', 'bob'],
    hosts: ['h'],
  },
];

function oracleCases(s: Scenario): OracleCase[] {
  const out: OracleCase[] = [];
  for (const asg of s.asgs ?? []) {
    for (const level of [0, 1]) {
      for (const user of s.users ?? PEOPLE) for (const host of s.hosts ?? HOSTS) out.push({ asg, level, user, host });
    }
  }
  return out;
}

/** Run the oracle; null when libCom is missing outside CI. */
function runOracle(scenarios: Scenario[]): OracleResult[] | null {
  const input = scenarios.map((s) => ({ acf: s.acf, macros: s.macros ?? null, inputs: s.inputs ?? {}, steps: (s.steps ?? []).map((i) => ({ inputs: i })), cases: oracleCases(s) }));
  // The corrected forms of lenient files follow, in order.
  for (const s of scenarios) if (s.lenient !== undefined) input.push({ ...input[scenarios.indexOf(s)], acf: s.lenient });
  const run = spawnSync(SYSTEM_PYTHON, [ORACLE], { input: JSON.stringify(input), encoding: 'utf8', timeout: 60_000 });
  if (run.error || run.status === 3) {
    const reason = run.error ? run.error.message : run.stderr.trim();
    if (inCI()) throw new Error(`asLib oracle unavailable in CI (install libcom3.17.6 and python3): ${reason}`);
    return null;
  }
  if (run.status !== 0) throw new Error(`oracle failed (${run.status}): ${run.stderr}`);
  return JSON.parse(run.stdout) as OracleResult[];
}

/** Input PVs are ai records; INVALID by a HIHI alarm, or (at start) by never having had a value. */
const INVALID_VALUE = 1e7;

function inputRecord(name: string, ev: InputEvent): string {
  const alarm = 'field(HIHI, "1000000") field(HHSV, "INVALID")';
  if (ev === 'invalid') return `record(ai, "${name}") { ${alarm} }\n`;
  return `record(ai, "${name}") { field(VAL, "${ev}") ${alarm} }\n`;
}

interface Ours {
  db: Database;
  security: AccessSecurity;
  error?: AcfError;
  log: string[];
  changes: number;
}

async function loadOurs(s: Scenario, dir: string, index: number): Promise<Ours> {
  const file = path.join(dir, `s${index}.acf`);
  fs.writeFileSync(file, s.acf);
  let text = '';
  (s.asgs ?? []).forEach((asg, i) => {
    text += asg === '' ? `record(ao, "rec${i}") {}\n` : `record(ao, "rec${i}") { field(ASG, "${asg}") }\n`;
  });
  const stepNames = new Set((s.steps ?? []).flatMap((st) => Object.keys(st)));
  for (const [name, ev] of Object.entries(s.inputs ?? {})) if (ev !== 'disconnected') text += inputRecord(name, ev);
  for (const name of stepNames) {
    const start = (s.inputs ?? {})[name];
    if (start === undefined || start === 'disconnected') throw new Error(`${s.name}: step input ${name} must be a served PV from the start`);
  }
  const loaded = createDatabase();
  mergeInto(loaded, parseDbText(text, { file: 'oracle.db' }));
  const db = Database.build(loaded);
  db.start();
  const log: string[] = [];
  const security = new AccessSecurity({ file, macros: s.macros ? parseMacroDefinitions(s.macros) : undefined, log: memoryLogger(log), resolveInput: (n) => db.lookup(n) });
  const ours: Ours = { db, security, log, changes: 0 };
  try {
    await security.load();
  } catch (err) {
    if (!(err instanceof AcfError)) throw err;
    ours.error = err;
    return ours;
  }
  db.access = security;
  security.onChange(() => ours.changes++);
  return ours;
}

function ourDecisions(s: Scenario, ours: Ours): Array<{ access: number; trap: number }> {
  return oracleCases(s).map((c) => {
    const rec = ours.db.record(`rec${(s.asgs ?? []).indexOf(c.asg)}`)!;
    const d = ours.security.rights(rec, rec.fieldDef(c.level === 0 ? 'VAL' : 'DESC')!, { user: c.user, host: c.host, address: '127.0.0.1' });
    return { access: d.write ? 2 : d.read ? 1 : 0, trap: d.trapWrite ? 1 : 0 };
  });
}

async function applyStep(ours: Ours, step: Record<string, Exclude<InputEvent, 'disconnected'>>): Promise<void> {
  for (const [name, ev] of Object.entries(step)) {
    const rec = ours.db.record(name)!;
    await rec.put(rec.fieldDef('VAL')!, ev === 'invalid' ? INVALID_VALUE : ev, { user: 'test', host: 'test', address: '' });
  }
}

const NAMES = ['NONE', 'READ', 'WRITE'];
const show = (d: { access: number; trap: number }): string => `${NAMES[d.access]}${d.access === 2 ? (d.trap ? ',TRAPWRITE' : ',NOTRAPWRITE') : ''}`;

describe('access security against EPICS asLib (libCom 3.17.6 through ctypes)', function () {
  this.timeout(120_000);
  let results: OracleResult[] = [];
  let dir: string | undefined;

  before(function () {
    const r = runOracle(SCENARIOS);
    if (!r) {
      this.skip();
      return;
    }
    results = r;
    dir = makeTempDir('aslib-');
  });
  after(() => removeTempDir(dir));

  const lenientIndex = new Map<Scenario, number>();
  SCENARIOS.filter((s) => s.lenient !== undefined).forEach((s, i) => lenientIndex.set(s, SCENARIOS.length + i));

  SCENARIOS.forEach((s, index) => {
    it(s.name, async () => {
      let ref = results[index];
      assert.equal(ref.failure, undefined, `oracle: ${ref.failure}`);
      const ours = await loadOurs(s, dir!, index);
      try {
        if (s.lenient !== undefined) {
          assert.notEqual(ref.status, 0, 'asLib accepts this file: it belongs in the main table');
          if (ours.error) return; // as strict as asLib
          ref = results[lenientIndex.get(s)!];
          assert.equal(ref.status, 0, `asLib rejects the corrected form: ${ref.messages}`);
        } else if (s.errorLine !== undefined) {
          assert.notEqual(ref.status, 0, `asLib accepted a file the table says it rejects: ${s.acf}`);
          const m = /at line (\d+)/.exec(ref.messages);
          assert.ok(m, `asLib printed no line: ${ref.messages}`);
          assert.equal(Number(m[1]), s.errorLine, `asLib: ${ref.messages}`);
          assert.ok(ours.error, `asLib rejects this file (${ref.messages.trim()}); we accepted it`);
          assert.equal(ours.error.line, s.errorLine, `asLib: ${ref.messages.trim()}; ours: ${ours.error.message}`);
          return;
        }
        if (s.lenient === undefined) assert.equal(ref.status, 0, `asLib rejected the file: ${ref.messages}`);
        assert.ok(!ours.error, `asLib accepts the file; we said ${ours.error?.message}`);
        const cases = oracleCases(s);
        assert.ok(cases.length > 0);
        const steps = [{}, ...(s.steps ?? [])];
        let compared = 0;
        for (let st = 0; st < steps.length; st++) {
          const before = ours.changes;
          if (st > 0) await applyStep(ours, steps[st]);
          const mine = ourDecisions(s, ours);
          const diffs: string[] = [];
          cases.forEach((c, i) => {
            const want = ref.steps[st][i];
            // asLib also keeps the trapMask of a READ rule; it only matters for writes.
            const theirs = { access: want.access, trap: want.access === 2 ? want.trap : 0 };
            const got = { access: mine[i].access, trap: mine[i].access === 2 ? mine[i].trap : 0 };
            if (show(theirs) !== show(got)) diffs.push(`ASG ${JSON.stringify(c.asg)} ASL${c.level} ${JSON.stringify(c.user)}@${JSON.stringify(c.host)}: asLib ${show(theirs)}, ours ${show(got)}`);
            compared++;
          });
          if (diffs.length) {
            assert.fail(`step ${st} (inputs ${JSON.stringify(steps[st])}), ${diffs.length} of ${cases.length} cases differ:\n  ${diffs.join('\n  ')}`
              + (ours.log.length ? `\nwe logged:\n  ${ours.log.join('\n  ')}` : ''));
          }
          // A change of access makes asLib call the clients back; our listeners must hear of it too.
          if (st > 0 && cases.some((_c, i) => ref.steps[st][i].callbacks > ref.steps[st - 1][i].callbacks)) {
            assert.ok(ours.changes > before, `step ${st}: access changed but no change was announced`);
          }
        }
        assert.equal(compared, cases.length * steps.length);
      } finally {
        ours.security.close();
        ours.db.stop();
      }
    });
  });

  // Which level a field has comes from the record type's .dbd, not from asLib: in EPICS base
  // only VAL is asl(ASL0) (aoRecord.dbd, boRecord.dbd, mbboRecord.dbd); dbCommon.dbd gives PROC
  // no asl(), so it is ASL1 like DESC or SCAN. asLib then decides per level.
  it('field levels follow the record .dbd files: VAL is ASL0; PROC, DESC, SCAN are ASL1', async () => {
    const s: Scenario = {
      name: 'field levels',
      acf: 'ASG(G) {\n  RULE(0, WRITE, TRAPWRITE)\n  RULE(1, READ)\n}\n',
      asgs: ['G'],
      users: ['alice'],
      hosts: ['h'],
    };
    const [ref] = runOracle([s])!;
    const [level0, level1] = ref.steps[0].map((d) => show({ access: d.access, trap: d.access === 2 ? d.trap : 0 }));
    assert.deepEqual([level0, level1], ['WRITE,TRAPWRITE', 'READ']);
    const dbd: Record<string, 0 | 1> = { VAL: 0, PROC: 1, DESC: 1, SCAN: 1 };
    const loaded = createDatabase();
    mergeInto(loaded, parseDbText('record(ao, "a") { field(ASG, "G") }\nrecord(bo, "b") { field(ASG, "G") }\nrecord(mbbo, "m") { field(ASG, "G") }\n', { file: 'levels.db' }));
    const db = Database.build(loaded);
    db.start();
    const file = path.join(dir!, 'levels.acf');
    fs.writeFileSync(file, s.acf);
    const security = new AccessSecurity({ file, log: memoryLogger(), resolveInput: (n) => db.lookup(n) });
    try {
      await security.load();
      const diffs: string[] = [];
      for (const rec of ['a', 'b', 'm']) {
        for (const [field, level] of Object.entries(dbd)) {
          const r = db.record(rec)!;
          const d = security.rights(r, r.fieldDef(field)!, { user: 'alice', host: 'h', address: '127.0.0.1' });
          const got = show({ access: d.write ? 2 : d.read ? 1 : 0, trap: d.write && d.trapWrite ? 1 : 0 });
          const want = level === 0 ? level0 : level1;
          if (got !== want) diffs.push(`${r.recordType} ${field} (ASL${level}): asLib ${want}, ours ${got}`);
        }
      }
      assert.deepEqual(diffs, []);
    } finally {
      security.close();
      db.stop();
    }
  });
});

// ---------------------------------------------------------------- 2. real clients as other users and hosts

const OPERATOR = 'sioc-op1';
const VIEWER = 'sioc-viewer1';
const CONSOLE = 'opi7';
const P = 'acc:';

const DB = `# records for test/interop/access.test.ts
record(bo, "$(P)enable") { field(ASG, "ENABLE") field(ZNAM, "Off") field(ONAM, "On") field(VAL, "0") }
record(ao, "$(P)setpoint") { field(ASG, "CONTROL") field(PREC, "2") field(VAL, "1.5") }
record(ao, "$(P)quiet") { field(ASG, "QUIET") field(VAL, "0") }
record(ai, "$(P)status") { field(VAL, "7") }
`;

const VIEWER_RULE = 'RULE(1, WRITE, TRAPWRITE) { UAG(viewers) CALC("A=1") }';

const ACF = `# access security for test/interop/access.test.ts
UAG(ops) { ${OPERATOR} }
UAG(viewers) { ${VIEWER} }
HAG(consoles) { ${CONSOLE} }
ASG(DEFAULT) {
  RULE(1, READ)
}
ASG(CONTROL) {
  INPA("$(P)enable")
  RULE(1, READ)
  RULE(1, WRITE, TRAPWRITE) { UAG(ops) HAG(consoles) }
  ${VIEWER_RULE}
}
ASG(ENABLE) {
  RULE(1, READ)
  RULE(1, WRITE, TRAPWRITE) { UAG(ops) HAG(consoles) }
}
ASG(QUIET) {
  RULE(1, READ)
  RULE(1, WRITE, NOTRAPWRITE) { UAG(ops) HAG(consoles) }
}
`;

function run(cmd: string, args: string[]): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 20_000 });
  return { status: r.error ? null : r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? r.error.message : ''}`.trim() };
}

/** Why clients cannot be run as other users from other host names here, or undefined. */
function checkIdentityTools(): string | undefined {
  if (process.getuid?.() !== 0) return 'creating users and UTS namespaces needs root';
  for (const tool of ['useradd', 'userdel', 'setpriv', 'unshare', 'hostname', 'id']) {
    if (run('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is not installed`;
  }
  const u = run('unshare', ['--uts', 'sh', '-c', 'hostname sioc-probe && hostname']);
  if (u.status !== 0 || u.out !== 'sioc-probe') return `unshare --uts does not work here: ${u.out}`;
  return undefined;
}

function userExists(name: string): boolean {
  return run('id', ['-u', name]).status === 0;
}

interface PutLogEntry {
  date: string;
  time: string;
  host: string;
  user: string;
  address: string;
  pv: string;
  new: unknown;
  old: unknown;
  result: string;
}

/** What pyepics raises when libca refuses a put for lack of write access (ECA_NOWTACCESS). */
const DENIED = /CASeverityException: +put returned 'Write access denied'/;

const PUTLOG_LINE = /putlog: put (\{.*\})\s*$/;

describe('access security seen by pyepics clients of other users and hosts', function () {
  this.timeout(120_000);
  /** Holds the client program, readable by the test users. */
  let dir: string | undefined;
  const created: string[] = [];

  before(function () {
    requireDependency(this, checkPyepics() ?? checkIdentityTools());
    requireBuiltCli();
    dir = makeTempDir('access-');
    fs.chmodSync(dir, 0o755);
    fs.copyFileSync(PYCA_SCRIPT, path.join(dir, 'pyca.py'));
    fs.chmodSync(path.join(dir, 'pyca.py'), 0o644);
    for (const user of [OPERATOR, VIEWER]) {
      if (userExists(user)) continue; // not ours: use it, leave it
      const r = run('useradd', ['-M', '-s', '/usr/sbin/nologin', user]);
      if (r.status !== 0) throw new Error(`useradd ${user}: ${r.out}`);
      created.push(user);
    }
  });

  after(() => {
    for (const user of created.splice(0)) {
      const r = run('userdel', [user]);
      if (r.status !== 0) console.error(`userdel ${user}: ${r.out}`);
    }
    removeTempDir(dir);
  });

  /** Start pyca.py as `user`, in a UTS namespace whose host name is `host`, for a server on `ports`. */
  async function clientAs(user: string, host: string, ports: { server: number; repeater: number }): Promise<PyCa> {
    const gid = run('id', ['-g', user]).out;
    return PyCa.startWith('unshare', [
      '--uts', '--', 'sh', '-c', 'hostname "$1" && cd / && shift && exec "$@"', 'sh', host,
      'setpriv', `--reuid=${user}`, `--regid=${gid}`, '--init-groups', '--', SYSTEM_PYTHON, path.join(dir!, 'pyca.py'),
    ], clientEnv(ports.server, ports.repeater, { HOME: dir }));
  }

  const connect = async (c: PyCa, pv: string): Promise<Reply> => {
    const r = await c.request('connect', { pv, timeout: 5 });
    assert.equal(r.connected, true, `${pv} did not connect`);
    return r;
  };

  describe('softioc -a: read-only and writing clients, put log on stderr, live CALC, reload', () => {
    let work: string | undefined;
    let acfFile = '';
    let ioc: RunningSoftIoc | undefined;
    const clients: PyCa[] = [];
    /** The operator on a console, the operator elsewhere, the operator on the console spelled in capitals, a viewer on a console. */
    let op: PyCa;
    let opAway: PyCa;
    let opCaps: PyCa;
    let viewer: PyCa;

    /** The put log lines the IOC printed on stderr from line `from` on. */
    function putLog(from: number): PutLogEntry[] {
      return ioc!.proc.stderrLines(from).map((l) => PUTLOG_LINE.exec(l)).filter((m): m is RegExpExecArray => m !== null).map((m) => JSON.parse(m[1]) as PutLogEntry);
    }

    /**
     * The next put log line from stderr line `from` on, of `user` if given: a
     * client's second write to a PV within a second is logged at the end of
     * that second, so another client's line may come first.
     */
    async function nextPutLog(from: number, user?: string): Promise<PutLogEntry> {
      const re = user ? new RegExp(`putlog: put (\\{.*"user":${JSON.stringify(user)}.*\\})\\s*$`) : PUTLOG_LINE;
      const m = await ioc!.proc.waitStderrLine(re, 10_000, from);
      return JSON.parse(m[1]) as PutLogEntry;
    }

    /** The first put log line from stderr line `from` on that `match` takes. */
    async function waitPutLog(from: number, match: (l: PutLogEntry) => boolean): Promise<PutLogEntry> {
      for (;;) {
        const found = putLog(from).find(match);
        if (found) return found;
        await ioc!.proc.waitStderrLine(PUTLOG_LINE, 10_000, ioc!.proc.stderrLineCount());
      }
    }

    before(async () => {
      work = makeTempDir('access-ioc-');
      const db = path.join(work, 'access.db');
      acfFile = path.join(work, 'access.acf');
      fs.writeFileSync(db, DB);
      fs.writeFileSync(acfFile, ACF);
      const ports = await freeCaPorts();
      ioc = await startSoftIocCli(['-m', `P=${P}`, '-d', db, '-a', acfFile], serverEnv(ports.server, ports.repeater, { SERVICE_IOC_LOG: 'info' }));
      const started = await Promise.allSettled([
        clientAs(OPERATOR, CONSOLE, ports), clientAs(OPERATOR, 'opi9', ports), clientAs(OPERATOR, CONSOLE.toUpperCase(), ports), clientAs(VIEWER, CONSOLE, ports),
      ]);
      for (const r of started) if (r.status === 'fulfilled') clients.push(r.value);
      const failed = started.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
      [op, opAway, opCaps, viewer] = clients;
    });

    after(async () => {
      await Promise.all(clients.splice(0).map((c) => c.stop()));
      await ioc?.proc.stop();
      removeTempDir(work);
    });

    it('each client is the user and host libca will name', async () => {
      assert.deepEqual([await op.request('whoami'), await opAway.request('whoami'), await opCaps.request('whoami'), await viewer.request('whoami')].map((r) => [r.user, r.host]), [
        [OPERATOR, CONSOLE], [OPERATOR, 'opi9'], [OPERATOR, 'OPI7'], [VIEWER, CONSOLE],
      ]);
    });

    let refusedFrom = 0;

    it('read-only clients see read access without write access, and pyepics refuses their puts', async () => {
      refusedFrom = ioc!.proc.stderrLineCount();
      for (const [who, c] of [['viewer on a console', viewer], ['operator away from the consoles', opAway]] as const) {
        const r = await connect(c, `${P}setpoint`);
        assert.deepEqual([r.read, r.write], [true, false], who);
        assert.equal(((await c.request('get', { pv: `${P}setpoint` })).result as Reply).value, 1.5, who);
        const put = await c.request('put', { pv: `${P}setpoint`, value: 9, wait: true });
        assert.match(String(put.raised), DENIED, `${who}: ${JSON.stringify(put)}`);
      }
      // DEFAULT (a record without ASG): read only, even for the operator on a console.
      const s = await connect(op, `${P}status`);
      assert.deepEqual([s.read, s.write], [true, false]);
      assert.match(String((await op.request('put', { pv: `${P}status`, value: 1 })).raised), DENIED);
    });

    it('the operator on a console writes, and the put log names user, host, PV, old and new value', async () => {
      const r = await connect(op, `${P}setpoint`);
      assert.deepEqual([r.read, r.write], [true, true]);
      const from = ioc!.proc.stderrLineCount();
      const put = await op.request('put', { pv: `${P}setpoint`, value: 2.5, wait: true });
      assert.equal(put.status, 1, JSON.stringify(put));
      assert.equal(((await viewer.request('get', { pv: `${P}setpoint` })).result as Reply).value, 2.5);
      const line = await nextPutLog(from);
      assert.deepEqual([line.user, line.host, line.pv, line.old, line.new, line.result], [OPERATOR, CONSOLE, `${P}setpoint`, 1.5, 2.5, 'done']);
      assert.equal(line.address, '127.0.0.1');
      assert.match(line.date, /^\d{4}-\d\d-\d\d$/);
      assert.match(line.time, /^\d\d:\d\d:\d\d\.\d{3}$/);
      // The refused puts before never reached the IOC: no line for them.
      assert.deepEqual(putLog(refusedFrom).map((l) => [l.user, l.host, l.pv, l.new]), [[OPERATOR, CONSOLE, `${P}setpoint`, 2.5]]);
    });

    it('host names compare lower-cased: the console spelled in capitals may write too', async () => {
      const r = await connect(opCaps, `${P}setpoint`);
      assert.deepEqual([r.read, r.write], [true, true]);
      const from = ioc!.proc.stderrLineCount();
      assert.equal((await opCaps.request('put', { pv: `${P}setpoint`, value: 2.25, wait: true })).status, 1);
      const line = await nextPutLog(from);
      assert.deepEqual([line.user, line.host, line.old, line.new, line.result], [OPERATOR, 'OPI7', 2.5, 2.25, 'done']);
    });

    it('NOTRAPWRITE: the write is done and not logged', async () => {
      const r = await connect(op, `${P}quiet`);
      assert.deepEqual([r.read, r.write], [true, true]);
      const from = ioc!.proc.stderrLineCount();
      assert.equal((await op.request('put', { pv: `${P}quiet`, value: 3, wait: true })).status, 1);
      assert.equal(((await viewer.request('get', { pv: `${P}quiet` })).result as Reply).value, 3);
      // A trapped write after it: once its line is there, the quiet one would be too.
      assert.equal((await op.request('put', { pv: `${P}setpoint`, value: 2.75, wait: true })).status, 1);
      await nextPutLog(from);
      assert.deepEqual(putLog(from).map((l) => [l.pv, l.new]), [[`${P}setpoint`, 2.75]]);
    });

    it('a change of the CALC input flips the viewer\'s write access live, and back', async () => {
      await connect(viewer, `${P}setpoint`);
      await connect(opAway, `${P}setpoint`);
      await connect(op, `${P}enable`);
      let from = ioc!.proc.stderrLineCount();
      assert.equal((await op.request('put', { pv: `${P}enable`, value: 1, wait: true })).status, 1);
      const enable = await nextPutLog(from);
      assert.deepEqual([enable.user, enable.host, enable.pv, enable.old, enable.new, enable.result], [OPERATOR, CONSOLE, `${P}enable`, 'Off', 'On', 'done']);
      const flipped = await viewer.request('wait_access', { pv: `${P}setpoint`, read: true, write: true, timeout: 10 });
      assert.equal(flipped.matched, true, `viewer's rights stayed ${JSON.stringify(flipped)}`);
      // Only the viewers' rule has the CALC: the operator away from the consoles still may not write.
      const away = await opAway.request('info', { pv: `${P}setpoint` });
      assert.deepEqual([away.read, away.write], [true, false]);
      from = ioc!.proc.stderrLineCount();
      assert.equal((await viewer.request('put', { pv: `${P}setpoint`, value: 4, wait: true })).status, 1);
      const line = await nextPutLog(from, VIEWER);
      assert.deepEqual([line.user, line.host, line.pv, line.old, line.new, line.result], [VIEWER, CONSOLE, `${P}setpoint`, 2.75, 4, 'done']);
      assert.equal((await op.request('put', { pv: `${P}enable`, value: 0, wait: true })).status, 1);
      const back = await viewer.request('wait_access', { pv: `${P}setpoint`, read: true, write: false, timeout: 10 });
      assert.equal(back.matched, true, `viewer's rights stayed ${JSON.stringify(back)}`);
      assert.match(String((await viewer.request('put', { pv: `${P}setpoint`, value: 5, wait: true })).raised), DENIED);
    });

    it('a write to a record\'s ASG moves it to another group: libca channels open to it get their new rights, as from softIoc', async () => {
      // It leaves quiet in DEFAULT, where nobody may write. Before the reloads: a reload
      // re-evaluates every channel's rights, and would hide a write to ASG that did not.
      for (const pv of [`${P}quiet`, `${P}quiet.DESC`, `${P}setpoint`]) await connect(op, pv);
      await connect(viewer, `${P}quiet`);
      assert.deepEqual([(await op.request('info', { pv: `${P}quiet` })).write, (await viewer.request('info', { pv: `${P}quiet` })).write], [true, false]);
      assert.equal((await op.request('put', { pv: `${P}quiet.ASG`, value: 'DEFAULT', wait: true })).status, 1);
      for (const pv of [`${P}quiet`, `${P}quiet.DESC`]) {
        const now = await op.request('wait_access', { pv, read: true, write: false, timeout: 10 });
        assert.equal(now.matched, true, `${pv}: the operator's rights stayed ${JSON.stringify(now)}`);
      }
      assert.equal(((await op.request('get', { pv: `${P}quiet.ASG` })).result as Reply).value, 'DEFAULT');
      assert.deepEqual([(await op.request('info', { pv: `${P}setpoint` })).write], [true], 'another record keeps its group');
      const v = await viewer.request('info', { pv: `${P}quiet` });
      assert.deepEqual([v.read, v.write], [true, false], 'the viewer could not write before and cannot now');
      assert.match(String((await op.request('put', { pv: `${P}quiet`, value: 9, wait: true })).raised), DENIED);
    });

    it('SIGHUP reloads the file', async () => {
      // No write to the file since the IOC started: only the signal can cause this reload.
      const from = ioc!.proc.stderrLineCount();
      process.kill(ioc!.proc.proc.pid!, 'SIGHUP');
      await ioc!.proc.waitStderrLine(/access security reloaded.*reason=SIGHUP/, 10_000, from);
      const r = await viewer.request('info', { pv: `${P}setpoint` });
      assert.deepEqual([r.read, r.write], [true, false], 'same file, same rights');
    });

    it('a reload with a broken file keeps the old rules and names the line; a fixed file applies', async () => {
      // Written files are also noticed by the IOC's file watch; SIGHUP makes sure, whichever comes first.
      const lines = ACF.split('\n');
      const at = lines.findIndex((l) => l.includes(VIEWER_RULE));
      // The viewers' rule, broken: an undefined UAG. asLib and we both name its line.
      lines[at] = lines[at].replace(VIEWER_RULE, 'RULE(1, WRITE) { UAG(nobody) }');
      let from = ioc!.proc.stderrLineCount();
      fs.writeFileSync(acfFile, lines.join('\n'));
      process.kill(ioc!.proc.proc.pid!, 'SIGHUP');
      const err = await ioc!.proc.waitStderrLine(/access security file has an error; the previous rules stay in force.*access\.acf:(\d+)/, 10_000, from);
      assert.equal(Number(err[1]), at + 1, err[0]);
      assert.equal(ioc!.proc.proc.exitCode, null, 'the IOC keeps running');
      // Old rules: the viewer still reads only, the operator still writes.
      assert.deepEqual([(await viewer.request('info', { pv: `${P}setpoint` })).write, (await op.request('info', { pv: `${P}setpoint` })).write], [false, true]);
      from = ioc!.proc.stderrLineCount();
      assert.equal((await op.request('put', { pv: `${P}setpoint`, value: 6, wait: true })).status, 1);
      assert.equal((await waitPutLog(from, (l) => l.pv === `${P}setpoint` && l.user === OPERATOR)).new, 6, 'the old TRAPWRITE rule still logs');

      // Fixed: viewers may write without the CALC now.
      lines[at] = '  RULE(1, WRITE, TRAPWRITE) { UAG(viewers) }';
      from = ioc!.proc.stderrLineCount();
      fs.writeFileSync(acfFile, lines.join('\n'));
      process.kill(ioc!.proc.proc.pid!, 'SIGHUP');
      await ioc!.proc.waitStderrLine(/access security reloaded/, 10_000, from);
      const now = await viewer.request('wait_access', { pv: `${P}setpoint`, read: true, write: true, timeout: 10 });
      assert.equal(now.matched, true, `viewer's rights stayed ${JSON.stringify(now)}`);
      from = ioc!.proc.stderrLineCount();
      assert.equal((await viewer.request('put', { pv: `${P}setpoint`, value: 7, wait: true })).status, 1);
      const line = await nextPutLog(from, VIEWER);
      assert.deepEqual([line.user, line.pv, line.old, line.new, line.result], [VIEWER, `${P}setpoint`, 6, 7, 'done']);
      assert.deepEqual([(await opAway.request('info', { pv: `${P}setpoint` })).write], [false], 'the rest of the rules unchanged');
    });
  });

  describe('run -c: [access] host_by_address and the [putlog] file', () => {
    const PR = 'accr:';
    let work: string | undefined;
    let ioc: Managed | undefined;
    const clients: PyCa[] = [];
    let putFile = '';
    let away: PyCa;
    let viewer: PyCa;

    before(async () => {
      work = makeTempDir('access-run-');
      putFile = path.join(work, 'puts.jsonl');
      fs.writeFileSync(path.join(work, 'extra.db'), 'record(ao, "$(P)setpoint") { field(ASG, "CONTROL") field(VAL, "1") }\n');
      // HAG entries are resolved to addresses: localhost is every client on loopback, whatever its host name.
      fs.writeFileSync(path.join(work, 'run.acf'), `UAG(ops) { ${OPERATOR} }\nHAG(local) { localhost }\nASG(DEFAULT) { RULE(1, READ) }\n`
        + 'ASG(SERVICE_STATUS) { RULE(1, READ) }\nASG(CONTROL) {\n  RULE(1, READ)\n  RULE(1, WRITE, TRAPWRITE) { UAG(ops) HAG(local) }\n}\n');
      const cfg = path.join(work, 'ioc.toml');
      fs.writeFileSync(cfg, `[ioc]\nprefix = "${PR}"\nbus = "user"\ndb = ["extra.db"]\n\n[access]\nfile = "run.acf"\nhost_by_address = true\n\n`
        + '[putlog]\nfile = "puts.jsonl"\nformat = "json"\n');
      const ports = await freeCaPorts();
      // No units: the IOC needs no systemd; point its bus at nothing.
      ioc = startProcess(process.execPath, [CLI_JS, 'run', '-c', cfg], serverEnv(ports.server, ports.repeater, {
        SERVICE_IOC_LOG: 'info', DBUS_SESSION_BUS_ADDRESS: `unix:path=${path.join(work, 'no-bus')}`, XDG_RUNTIME_DIR: work,
      }));
      await ioc.waitLine(/^service-ioc: \d+ PVs for 0 units and 0 queueservers, CA on port \d+, PVA on TCP port \d+ and UDP port \d+$/, 15_000);
      const started = await Promise.allSettled([clientAs(OPERATOR, 'opi9', ports), clientAs(VIEWER, CONSOLE, ports)]);
      for (const r of started) if (r.status === 'fulfilled') clients.push(r.value);
      const failed = started.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
      [away, viewer] = clients;
    });

    after(async () => {
      await Promise.all(clients.splice(0).map((c) => c.stop()));
      await ioc?.stop();
      removeTempDir(work);
    });

    it('matches HAG hosts by address: an operator on loopback writes from any host name; the file gets the line', async () => {
      const r = await connect(away, `${PR}setpoint`);
      assert.deepEqual([r.read, r.write], [true, true], 'sioc-op1 on 127.0.0.1 (host name opi9) is in HAG(local)');
      const v = await connect(viewer, `${PR}setpoint`);
      assert.deepEqual([v.read, v.write], [true, false], 'not in UAG(ops)');
      assert.equal((await away.request('put', { pv: `${PR}setpoint`, value: 2, wait: true })).status, 1);
      // The file has no change event to wait for: poll it, with a deadline.
      const deadline = Date.now() + 10_000;
      let text = '';
      while (Date.now() < deadline && !(text = fs.existsSync(putFile) ? fs.readFileSync(putFile, 'utf8') : '').includes('\n')) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const lines = text.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as PutLogEntry);
      assert.deepEqual(lines.map((l) => [l.user, l.host, l.address, l.pv, l.old, l.new, l.result]), [[OPERATOR, 'opi9', '127.0.0.1', `${PR}setpoint`, 1, 2, 'done']]);
      const ok = await viewer.request('get', { pv: `${PR}IOC:PutLogOK` });
      assert.equal((ok.result as Reply).value, 1, 'IOC:PutLogOK is 1 (OK)');
    });
  });
});
