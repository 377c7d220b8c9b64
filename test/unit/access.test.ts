/**
 * Access security: .acf parsing and errors, asLib's evaluation rules, live
 * CALC inputs, reloads, and the put log.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AcfError, parseAcf } from '../../src/access/acf';
import { AccessSecurity } from '../../src/access/access-security';
import { compileCalc } from '../../src/calc/calc';
import { PutLog } from '../../src/access/putlog';
import { Database, defaultRegistry } from '../../src/database/database';
import { iocDeviceSupport } from '../../src/ioc/ioc-device';
import { createDatabase, mergeInto, parseDbText } from '../../src/database/dbfile/parser';
import { formatFields, memoryLogger } from '../../src/log';
import type { ClientIdentity } from '../../src/ca/pv';
import type { DbrSource } from '../../src/ca/protocol/types';
import { EXAMPLE_ACF } from '../fixtures/access';
import { Circuit } from '../../src/ca/server/circuit';
import { Command, DbrType } from '../../src/ca/protocol/constants';
import * as m from '../../src/ca/protocol/messages';
import { duplexPair } from '../helpers/duplex-pair';
import { ScriptedClient } from '../helpers/ca-client';


const alice = (host = 'opi1'): ClientIdentity => ({ user: 'alice', host, address: '10.0.0.5' });

/** Directories made by tmpFile, removed when the suite ends. */
const tmpDirs: string[] = [];

function tmpDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tmpDirs.push(dir);
  return dir;
}

function tmpFile(text: string): string {
  const dir = tmpDir('acf-');
  const f = path.join(dir, 'test.acf');
  fs.writeFileSync(f, text);
  return f;
}

function database(): Database {
  const loaded = createDatabase();
  mergeInto(loaded, parseDbText(`
    record(bo, "start") { field(ASG, "SERVICE_CONTROL") }
    record(ai, "status") { field(ASG, "NO_SUCH_GROUP") }
    record(ai, "locked") { field(ASG, "LOCKED") }
    record(bo, "enable") { field(VAL, "0") }`, { file: 't.db' }));
  const db = Database.build(loaded);
  db.start();
  return db;
}

describe('access security', () => {
  after(() => {
    for (const d of tmpDirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });

  describe('.acf parsing', () => {
    it('reads every construct', () => {
      const c = parseAcf(EXAMPLE_ACF, 'test.acf');
      assert.deepEqual([...c.uags.get('ops')!], ['alice', 'bob']);
      assert.deepEqual([...c.hags.get('consoles')!], ['opi1', 'opi2'], 'host names lower-cased');
      const g = c.asgs.get('SERVICE_CONTROL')!;
      assert.equal(g.inputs[0], 'enable');
      assert.deepEqual(g.rules.map((r) => [r.level, r.access, r.trapWrite, r.uags, r.hags, r.calc?.text]), [
        [1, 1, false, [], [], undefined],
        [0, 2, true, ['ops'], ['consoles'], undefined],
        [1, 2, false, ['admins'], [], undefined],
        [1, 2, false, ['ops'], [], 'A=1'],
      ]);
    });

    it('creates DEFAULT with no rules when the file has none', () => {
      const c = parseAcf('ASG(X) { RULE(1, WRITE) }', 'a.acf');
      assert.deepEqual(c.asgs.get('DEFAULT')!.rules, []);
    });

    it('applies macros to the file', () => {
      const c = parseAcf('ASG(X) { INPA("$(P)enable") RULE(1, READ) }', 'a.acf', new Map([['P', 'bl:']]));
      assert.equal(c.asgs.get('X')!.inputs[0], 'bl:enable');
    });

    const errors: Array<[string, RegExp]> = [
      ['UAG(ops) { alice bob }', /^a\.acf:1: expected "," or "}" in the UAG list, found "bob"$/],
      ['ASG(X) {\n  RULE(2x, WRITE)\n}', /^a\.acf:2: expected a level 0 or 1, found "2x"$/],
      ['ASG(X) {\n  RULE(1, ALL)\n}', /^a\.acf:2: expected NONE, READ or WRITE, found "ALL"$/],
      ['ASG(X) {\n  RULE(1, WRITE, TRAP)\n}', /^a\.acf:2: expected TRAPWRITE or NOTRAPWRITE, found "TRAP"$/],
      ['ASG(X) {\n\n  RULE(1, WRITE) { UAG(nobody) }\n}', /^a\.acf:3: RULE in ASG "X" names UAG "nobody", which is not defined$/],
      ['ASG(X) {\n  RULE(1, WRITE) { CALC("A=") }\n}', /^a\.acf:2: CALC\("A="\): /],
      ['ASG(X) { RULE(1, WRITE) }\nASG(X) { }', /^a\.acf:2: ASG "X" is defined twice$/],
      ['HAG(h) { "opi1 }', /^a\.acf:1: a quoted string/],
      ['RULE(1, READ)', /^a\.acf:1: expected UAG, HAG or ASG, found "RULE"$/],
      ['ASG(X) {\n  RULE(1, READ)', /^a\.acf:2: expected INPA..INPL or RULE in ASG "X", found the end of the file$/],
      // Raw control characters are shown by their code, never printed as they are.
      ['UAG(ops\x1b) { alice }', /^a\.acf:1: unexpected character U\+001B$/],
      ['ASG(X) {\n  RULE(1, WRITE) { CALC("A\x01") }\n}', /^a\.acf:2: CALC\("A\\u0001"\): unexpected U\+0001 at position 2$/],
    ];
    for (const [text, re] of errors) {
      it(`error: ${re.source.slice(8, 60)}`, () => {
        assert.throws(() => parseAcf(text, 'a.acf'), (e: unknown) => e instanceof AcfError && re.test(e.message) || assert.fail((e as Error).message));
      });
    }
  });

  describe('CALC', () => {
    it('evaluates EPICS calc expressions', () => {
      const cases: Array<[string, number[], number]> = [
        ['A=1', [1], 1], ['A=1', [0], 0], ['A#1', [2], 1], ['A>=2&&B<3', [2, 1], 1], ['A>=2&&B<3', [2, 3], 0],
        ['A||B', [0, 0], 0], ['!A', [0], 1], ['(A+B)*2', [1, 2], 6], ['A?B:C', [0, 5, 7], 7], ['MAX(A,B,3)', [1, 2], 3],
        ['2^3^2', [], 64], ['-A+ABS(B)', [1, -4], 3], ['A AND B', [1, 1], 1], ['A==1', [1], 1], ['A!=1', [1], 0],
      ];
      for (const [text, inputs, want] of cases) assert.equal(compileCalc(text).fn(inputs), want, text);
      assert.deepEqual(compileCalc('A+C*B').inputs, [0, 1, 2]);
      assert.throws(() => compileCalc('A+'), /ends too early/);
      assert.throws(() => compileCalc('Q=1'), /unknown name "Q"/);
    });
  });

  describe('evaluation, as asLib', () => {
    let db: Database;
    let as: AccessSecurity;
    const rights = (rec: string, field: string, c: ClientIdentity): string => {
      const r = db.record(rec)!;
      const d = as.rights(r, r.fieldDef(field)!, c);
      return `${d.read ? 'R' : '-'}${d.write ? 'W' : '-'}${d.trapWrite ? 'T' : ''}`;
    };

    beforeEach(async () => {
      db = database();
      as = new AccessSecurity({ file: tmpFile(EXAMPLE_ACF), log: memoryLogger(), resolveInput: (n) => db.lookup(n) });
      await as.load();
      db.access = as;
    });
    afterEach(() => as.close());

    it('takes the highest access of the matching rules', () => {
      assert.equal(rights('start', 'VAL', alice()), 'RWT', 'ops on a console: level-0 write, trapped');
      assert.equal(rights('start', 'VAL', alice('laptop')), 'R-', 'not from a console');
      assert.equal(rights('start', 'VAL', { user: 'root', host: 'x', address: '' }), 'RW', 'admins: NOTRAPWRITE');
      assert.equal(rights('start', 'VAL', { user: 'mallory', host: 'opi1', address: '' }), 'R-');
    });

    it('honours the field level: a level-0 rule does not grant level-1 fields', () => {
      assert.equal(rights('start', 'DESC', alice()), 'R-');
      assert.equal(rights('start', 'DESC', { user: 'root', host: 'x', address: '' }), 'RW');
    });

    it('compares host names lower-cased', () => {
      assert.equal(rights('start', 'VAL', alice('OPI2')), 'RWT');
    });

    it('puts records with a missing or unknown ASG in DEFAULT', () => {
      assert.equal(rights('status', 'VAL', alice()), 'R-');
      assert.equal(rights('enable', 'VAL', alice()), 'R-');
      assert.equal(rights('locked', 'VAL', alice()), '--');
    });

    it('re-evaluates CALC when its input PV changes, and tells listeners', async () => {
      const laptop = alice('laptop');
      assert.equal(rights('start', 'VAL', laptop), 'R-');
      let told = 0;
      as.onChange(() => told++);
      await db.record('enable')!.put(db.record('enable')!.fieldDef('VAL')!, 1, laptop);
      assert.ok(told > 0);
      assert.equal(rights('start', 'VAL', laptop), 'RW', 'CALC("A=1") now holds');
    });

    it('a reload with a broken file keeps the old rules and logs why', async () => {
      const lines: string[] = [];
      const file = tmpFile(EXAMPLE_ACF);
      const sec = new AccessSecurity({ file, log: memoryLogger(lines), resolveInput: (n) => db.lookup(n) });
      await sec.load();
      fs.writeFileSync(file, 'ASG(DEFAULT) { RULE(1, WRITE) }\nASG(oops');
      assert.equal(await sec.reload('test'), false);
      const r = db.record('locked')!;
      assert.equal(sec.rights(r, r.fieldDef('VAL')!, alice()).read, false, 'old rules');
      assert.ok(lines.some((l) => /previous rules stay in force/.test(l) && /test\.acf:2/.test(l)), lines.join('\n'));
      fs.writeFileSync(file, 'ASG(DEFAULT) { RULE(1, WRITE) }');
      assert.equal(await sec.reload('test'), true);
      assert.equal(sec.rights(r, r.fieldDef('VAL')!, alice()).write, true, 'new rules');
      sec.close();
    });
  });

  describe('a write to a record\'s ASG, over CA circuits', () => {
    const ACF = 'UAG(ops) { bob }\nASG(DEFAULT) { RULE(1, WRITE) }\nASG(RO) { RULE(1, READ) RULE(1, WRITE) { UAG(ops) } }\n';
    let db: Database;
    let as: AccessSecurity;

    beforeEach(async () => {
      const loaded = createDatabase();
      mergeInto(loaded, parseDbText('record(ao, "x") {}\nrecord(ao, "y") {}\n', { file: 't.db' }));
      db = Database.build(loaded);
      db.start();
      as = new AccessSecurity({ file: tmpFile(ACF), log: memoryLogger(), resolveInput: (n) => db.lookup(n) });
      await as.load();
      db.access = as;
    });
    afterEach(() => {
      as.close();
      db.stop();
    });

    /** A client named `user` on its own circuit, with a channel (cid 1, 2, ...) to each of `names`. */
    async function client(user: string, names: string[]): Promise<ScriptedClient> {
      const [server, end] = duplexPair();
      new Circuit(server, db, memoryLogger(), '10.0.0.5');
      const c = new ScriptedClient(end);
      c.send(m.clientVersion(), m.clientNameMessage(user), m.hostNameMessage('opi1'), ...names.map((n, i) => m.createChanRequest(n, i + 1)));
      for (let i = 1; i <= names.length; i++) await c.waitFor((x) => x.command === Command.CREATE_CHAN && x.parameter1 === i);
      return c;
    }

    /** The ACCESS_RIGHTS messages a client got after `from`, as [cid, bits] (1 read, 3 read and write), once an ECHO has come back. */
    async function rightsSince(c: ScriptedClient, from: number): Promise<Array<[number, number]>> {
      const echoes = c.received.filter((x) => x.command === Command.ECHO).length;
      c.send(m.echoMessage());
      await c.waitFor(() => c.received.filter((x) => x.command === Command.ECHO).length > echoes);
      return c.received.slice(from).filter((x) => x.command === Command.ACCESS_RIGHTS).map((x) => [x.parameter1, x.parameter2]);
    }

    it('moves the record to the new group: every channel to it whose rights change gets ACCESS_RIGHTS, others none', async () => {
      const alice = await client('alice', ['x', 'x.DESC', 'y']);
      const bob = await client('bob', ['x', 'x.ASG']);
      const [aliceFrom, bobFrom] = [alice.received.length, bob.received.length];
      const payload = Buffer.alloc(40);
      payload.write('RO');
      bob.send(m.writeRequest(true, DbrType.STRING, 1, (await sidOf(bob, 2)), 7, payload));
      const done = await bob.waitFor((x) => x.command === Command.WRITE_NOTIFY && x.parameter2 === 7);
      assert.equal(done.parameter1, 1, 'ECA_NORMAL');
      assert.equal(db.record('x')!.f.ASG, 'RO');
      assert.deepEqual(await rightsSince(alice, aliceFrom), [[1, 1], [2, 1]], 'alice: x and x.DESC turn read-only; y keeps its rights');
      assert.deepEqual(await rightsSince(bob, bobFrom), [], 'bob may still write in RO');
      // Back to DEFAULT: alice may write again.
      const back = Buffer.alloc(40);
      back.write('DEFAULT');
      const again = alice.received.length;
      bob.send(m.writeRequest(true, DbrType.STRING, 1, (await sidOf(bob, 2)), 8, back));
      await bob.waitFor((x) => x.command === Command.WRITE_NOTIFY && x.parameter2 === 8);
      assert.deepEqual(await rightsSince(alice, again), [[1, 3], [2, 3]]);
    });

    async function sidOf(c: ScriptedClient, cid: number): Promise<number> {
      return (await c.waitFor((x) => x.command === Command.CREATE_CHAN && x.parameter1 === cid)).parameter2;
    }
  });

  describe('put log', () => {
    const attempt = (outcome: 'done' | 'denied' | 'failed', trapWrite = true) => ({
      pv: 'bl:redis:Stop', client: alice(), old: undefined, value: [1], outcome, trapWrite, reason: outcome === 'failed' ? 'job failed' : undefined,
    });

    it('writes one JSON line per attempt, with who, what, old, new and the result', () => {
      const file = path.join(tmpDir('putlog-'), 'put.jsonl');
      const log = new PutLog({ file, format: 'json', log: memoryLogger() });
      log.audit(attempt('done'));
      log.audit(attempt('denied'));
      log.audit(attempt('failed'));
      log.audit(attempt('done', false)); // NOTRAPWRITE: not logged
      const lines = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.deepEqual(lines.map((l) => [l.user, l.host, l.address, l.pv, l.new, l.result]), [
        ['alice', 'opi1', '10.0.0.5', 'bl:redis:Stop', 1, 'done'],
        ['alice', 'opi1', '10.0.0.5', 'bl:redis:Stop', 1, 'denied'],
        ['alice', 'opi1', '10.0.0.5', 'bl:redis:Stop', 1, 'failed: job failed'],
      ]);
      assert.match(String(lines[0].date), /^\d{4}-\d\d-\d\d$/);
      assert.match(String(lines[0].time), /^\d\d:\d\d:\d\d\.\d{3}$/);
      log.close();
    });

    it('has caPutLog\'s text format', () => {
      const file = path.join(tmpDir('putlog-'), 'put.log');
      const log = new PutLog({ file, format: 'text', log: memoryLogger() });
      log.audit(attempt('done'));
      assert.match(fs.readFileSync(file, 'utf8'), /^\d\d-[A-Z][a-z]{2}-\d\d \d\d:\d\d:\d\d opi1 alice bl:redis:Stop new=1 old=null\n$/);
      log.close();
    });

    const tmpLog = (name = 'put.jsonl'): string => path.join(tmpDir('putlog-'), name);
    const readLines = (file: string): Array<Record<string, unknown>> => fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const writeOf = (v: number, old: number, outcome: 'done' | 'denied' = 'done', pv = 'bl:x') => ({
      ...attempt(outcome), pv, value: [v], old: { value: [old], metadata: {} } as unknown as DbrSource,
    });

    it('a burst of writes by one client to one PV is one line more: count, first, last, min and max', () => {
      const file = tmpLog();
      const journal: string[] = [];
      const log = new PutLog({ file, format: 'json', log: memoryLogger(journal) });
      for (let i = 1; i <= 100; i++) log.audit(writeOf(i % 7 === 0 ? 50 : i, i - 1));
      assert.equal(readLines(file).length, 1, 'the first write at once, the rest wait for the window');
      log.flush();
      const lines = readLines(file);
      assert.deepEqual(lines.map((l) => [l.old, l.new, l.count, l.first, l.min, l.max, l.result]), [
        [0, 1, undefined, undefined, undefined, undefined, 'done'],
        [1, 100, 99, 2, 2, 100, 'done'],
      ]);
      assert.equal(journal.filter((l) => /^info test: put /.test(l)).length, 2, journal.join('\n'));
      log.close();
    });

    it('a single later write in the window is a plain line, as if alone', () => {
      const file = tmpLog();
      const log = new PutLog({ file, format: 'json', log: memoryLogger() });
      log.audit(writeOf(1, 0));
      log.audit(writeOf(2, 1));
      log.close();
      assert.deepEqual(readLines(file).map((l) => [l.old, l.new, 'count' in l]), [[0, 1, false], [1, 2, false]]);
    });

    it('refused writes are summarised per client and PV; other clients and PVs keep their own lines', () => {
      const file = tmpLog();
      const log = new PutLog({ file, format: 'json', log: memoryLogger() });
      for (let i = 0; i < 10_000; i++) log.audit(writeOf(i, 0, 'denied'));
      log.audit({ ...writeOf(5, 0, 'denied'), client: { user: 'bob', host: 'opi2', address: '10.0.0.6' } });
      log.audit(writeOf(5, 0, 'denied', 'bl:y'));
      assert.deepEqual(readLines(file).map((l) => [l.user, l.pv, l.result]), [['alice', 'bl:x', 'denied'], ['bob', 'bl:x', 'denied'], ['alice', 'bl:y', 'denied']]);
      log.close();
      const last = readLines(file).at(-1)!;
      assert.deepEqual([last.user, last.pv, last.count, last.first, last.new, last.result], ['alice', 'bl:x', 9999, 1, 9999, 'denied']);
    });

    it('the text format carries the burst too', () => {
      const file = tmpLog('put.log');
      const log = new PutLog({ file, format: 'text', log: memoryLogger() });
      for (let i = 1; i <= 3; i++) log.audit(writeOf(i, i - 1));
      log.close();
      assert.match(fs.readFileSync(file, 'utf8').split('\n')[1], / opi1 alice bl:x new=3 old=1 count=2 first=2 min=2 max=3$/);
    });

    it('the text format quotes and escapes a client\'s text, so it cannot end a line or forge a field', () => {
      const file = tmpLog('put.log');
      const log = new PutLog({ file, format: 'text', log: memoryLogger() });
      log.audit({ ...attempt('failed'), value: ['a b\nc'], client: { user: 'eve\n01-Jan-26 00:00:00 opi1 alice', host: 'opi1', address: '10.0.0.9' } });
      log.close();
      const text = fs.readFileSync(file, 'utf8');
      assert.equal(text.split('\n').length, 2, 'one line');
      assert.match(text, / opi1 "eve\\n01-Jan-26 00:00:00 opi1 alice" bl:redis:Stop new="a b\\nc" old=null result="failed: job failed"\n$/);
    });

    it('rotates the file at its size, keeping FILE.1 .. FILE.keep', () => {
      const file = tmpLog();
      const log = new PutLog({ file, format: 'json', log: memoryLogger(), maxBytes: 1000, keep: 2, lineBurst: 1000 });
      for (let i = 0; i < 40; i++) log.audit(writeOf(i, 0, 'done', `bl:pv${i}`));
      log.close();
      for (const f of [file, `${file}.1`, `${file}.2`]) assert.ok(fs.statSync(f).size <= 1000, f);
      assert.equal(fs.existsSync(`${file}.3`), false);
      assert.equal(readLines(file).at(-1)!.pv, 'bl:pv39', 'the newest line is in FILE');
    });

    it('beyond its line budget it drops lines and says how many', () => {
      const file = tmpLog();
      const journal: string[] = [];
      const log = new PutLog({ file, format: 'json', log: memoryLogger(journal), linesPerSecond: 1, lineBurst: 5 });
      for (let i = 0; i < 20; i++) log.audit(writeOf(i, 0, 'denied', `bl:pv${i}`));
      log.close();
      const lines = readLines(file);
      assert.equal(lines.length, 6);
      assert.deepEqual([lines[5].dropped, lines[5].reason], [15, '15 put log lines dropped: more than 1 a second']);
      assert.ok(journal.some((l) => /15 put log lines dropped/.test(l)));
    });

    it('a failing log path turns ok false, and the line still reaches the journal', () => {
      const journal: string[] = [];
      const log = new PutLog({ file: '/proc/no/such/dir/put.jsonl', format: 'json', log: memoryLogger(journal) });
      const loaded = createDatabase();
      mergeInto(loaded, parseDbText('record(bi, "PutLogOK") { field(DTYP, "ioc") field(INP, "@putlog") field(ZSV, "MAJOR") }', { file: 't.db' }));
      const db = Database.build(loaded, { registry: defaultRegistry().register(iocDeviceSupport(Date.now(), undefined, log)) });
      db.start();
      log.audit(attempt('done'));
      assert.equal(log.ok, false);
      const pv = db.lookup('PutLogOK')!.snapshot();
      assert.deepEqual([pv.value[0], pv.severity], [0, 2], 'PutLogOK = 0, MAJOR');
      assert.ok(journal.some((l) => /bl:redis:Stop/.test(l)));
      assert.ok(journal.some((l) => /put log file failed/.test(l)));
    });
  });
});

describe('log fields', () => {
  it('show a value with control characters escaped, so a line stays one line', () => {
    assert.equal(formatFields({ input: 'x\x02y', pv: 'a\nb', plain: 'ok' }), ' input="x\\u0002y" pv="a\\nb" plain=ok');
  });
});
