/**
 * Database links, calc/calcout and disable in memory: FLNK, INP/DOL/OUT with
 * NPP/PP/CP/CPP and NMS/MS/MSS/MSI, constants, OMSL closed_loop, PROC,
 * links to fields, loops, load errors, link fields written at run time, and
 * a disabled output record that never reaches its device support. The same
 * behaviour is compared with softIoc in test/interop/records-oracle.test.ts.
 */
import { strict as assert } from 'node:assert';
import { AlarmSeverity, AlarmStatus, DBE_VALUE, Eca } from '../../src/ca/protocol/constants';
import { WriteError } from '../../src/ca/pv';
import { valueElements } from '../../src/ca/protocol/types';
import { Database, defaultRegistry } from '../../src/database/database';
import type { DeviceRecord, DeviceSupport } from '../../src/database/device';
import { buildDatabase, dbPv, DB_TEST_CLIENT } from '../helpers/db-build';
import { expectDbError } from '../helpers/db-errors';

const client = DB_TEST_CLIENT;
const build = (text: string, registry = defaultRegistry()): Database => buildDatabase(text, 'links.db', registry);
const pv = dbPv;

function put(db: Database, name: string, value: number | string): Promise<void> {
  return pv(db, name).write({ value: [value] as number[] | string[], client, notify: true });
}

function get(db: Database, name: string): number | string {
  return valueElements(pv(db, name).snapshot().value)[0] as number | string;
}

function alarm(db: Database, name: string): [string, string] {
  const s = pv(db, name).snapshot();
  return [AlarmStatus[s.status], AlarmSeverity[s.severity]];
}

/** Resolves once every scanOnce queued so far (CP links) has run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('database links', () => {
  it('an output link writes a numeric field by that field\'s type: numbers cast (70000 is 4464 in a USHORT), text parsed (70000 fails the link)', async () => {
    const db = build(`
      record(mbbo, "m") { }
      record(longout, "l") { field(OUT, "m.SHFT") }
      record(ao, "a") { field(OUT, "m.DISV") }
      record(stringout, "s") { field(OUT, "m.SHFT") }
    `);
    await put(db, 'l', 70000);
    assert.equal(get(db, 'm.SHFT'), 4464);
    await put(db, 'a', 3e9);
    assert.equal(get(db, 'm.DISV'), 0);
    await put(db, 's', '-1');
    assert.equal(get(db, 'm.SHFT'), 65535);
    await put(db, 's', '70000');
    assert.equal(get(db, 'm.SHFT'), 65535);
    assert.deepEqual(alarm(db, 's'), ['LINK', 'INVALID']);
  });

  it('a link from an unsigned long field casts as integers do: 4294967295 is -1 in a LONG, 70000 is 4464 in an ENUM (softIoc\'s figures)', async () => {
    const db = build(`
      record(bi, "b") { }
      record(longout, "l") { field(DOL, "b.RVAL") field(OMSL, "closed_loop") }
      record(mbbo, "m") { field(DOL, "b.RVAL") field(OMSL, "closed_loop") }
      record(ao, "a") { field(DOL, "b.RVAL") field(OMSL, "closed_loop") }
    `);
    const cases: Array<[number, number, number]> = [[4294967295, -1, 65535], [3000000000, -1294967296, 24064], [70000, 70000, 4464], [2147483648, -2147483648, 0]];
    for (const [raw, asLong, asEnum] of cases) {
      await put(db, 'b.RVAL', raw);
      for (const r of ['l', 'm', 'a']) await put(db, `${r}.PROC`, 1);
      assert.deepEqual([get(db, 'l'), get(db, 'm'), get(db, 'a')], [asLong, asEnum, raw], `RVAL ${raw}`);
    }
  });

  it('FLNK processes a passive record; a FLNK loop ends at the record already active', async () => {
    const db = build(`
      record(ai, "a") { field(INP, "3") field(FLNK, "b") }
      record(calc, "b") { field(INPA, "a") field(CALC, "A*2") field(FLNK, "c") }
      record(calc, "c") { field(INPA, "b") field(CALC, "A+1") field(FLNK, "b") }
      record(calc, "n") { field(CALC, "VAL+1") field(FLNK, "m") }
      record(calc, "m") { field(INPA, "n") field(CALC, "A") field(FLNK, "n") }`);
    await put(db, 'a.PROC', 1);
    assert.equal(get(db, 'b'), 6);
    assert.equal(get(db, 'c'), 7);
    await put(db, 'n.PROC', 1);
    assert.deepEqual([get(db, 'n'), get(db, 'm')], [1, 1], 'n processed once: m\'s FLNK back to n finds it active');
  });

  it('INP NPP reads the target as it is; PP processes a passive target first', async () => {
    const db = build(`
      record(calc, "count") { field(CALC, "VAL+1") }
      record(ai, "npp") { field(INP, "count NPP") }
      record(ai, "pp") { field(INP, "count PP") }`);
    await put(db, 'npp.PROC', 1);
    assert.equal(get(db, 'npp'), 0);
    await put(db, 'pp.PROC', 1);
    assert.equal(get(db, 'pp'), 1);
    assert.equal(get(db, 'count'), 1);
    await put(db, 'npp.PROC', 1);
    assert.equal(get(db, 'npp'), 1);
  });

  it('NMS, MS, MSS and MSI pass the target\'s alarm on as EPICS does', async () => {
    const db = build(`
      record(ai, "src") { field(HIGH, "5") field(HSV, "MINOR") field(HIHI, "10") field(HHSV, "INVALID") field(VAL, "0") }
      record(ai, "nms") { field(INP, "src NMS") }
      record(ai, "ms") { field(INP, "src MS") }
      record(ai, "mss") { field(INP, "src MSS") }
      record(ai, "msi") { field(INP, "src MSI") }`);
    const all = async (): Promise<string[]> => {
      for (const n of ['nms', 'ms', 'mss', 'msi']) await put(db, `${n}.PROC`, 1);
      return ['nms', 'ms', 'mss', 'msi'].map((n) => alarm(db, n).join('/'));
    };
    await put(db, 'src', 7);
    assert.deepEqual(await all(), ['NO_ALARM/NO_ALARM', 'LINK/MINOR', 'HIGH/MINOR', 'NO_ALARM/NO_ALARM']);
    await put(db, 'src', 20);
    assert.deepEqual(await all(), ['NO_ALARM/NO_ALARM', 'LINK/INVALID', 'HIHI/INVALID', 'LINK/INVALID']);
  });

  it('CP processes the record on every change of the target, and once at start', async () => {
    const db = build(`
      record(ai, "src") { field(VAL, "4") }
      record(calc, "cp") { field(INPA, "src CP") field(CALC, "A*10") }`);
    await settle();
    assert.equal(get(db, 'cp'), 40);
    await put(db, 'src', 5);
    await settle();
    assert.equal(get(db, 'cp'), 50);
  });

  it('OUT PP writes and processes the target; OUT NPP only stores; a link to a field writes that field', async () => {
    const db = build(`
      record(ao, "o") { field(OUT, "t PP") }
      record(ao, "n") { field(OUT, "t2 NPP") }
      record(ao, "h") { field(OUT, "t.HIGH") }
      record(ai, "t") { field(FLNK, "seen") }
      record(ai, "t2") { }
      record(calc, "seen") { field(CALC, "VAL+1") }`);
    await put(db, 'o', 4);
    assert.equal(get(db, 't'), 4);
    assert.equal(get(db, 'seen'), 1, 't processed');
    await put(db, 'n', 9);
    assert.equal(get(db, 't2'), 9);
    assert.deepEqual(alarm(db, 't2'), ['UDF', 'INVALID'], 't2 stored, not processed');
    await put(db, 'h', 2.5);
    assert.equal(get(db, 't.HIGH'), 2.5);
  });

  it('an output link with MS passes the writer\'s alarm to its target', async () => {
    const db = build(`
      record(ao, "o") { field(OUT, "t PP MS") field(HIGH, "5") field(HSV, "MINOR") }
      record(ao, "n") { field(OUT, "t2 PP") field(HIGH, "5") field(HSV, "MINOR") }
      record(ai, "t") { }
      record(ai, "t2") { }`);
    await put(db, 'o', 6);
    await put(db, 'n', 6);
    assert.deepEqual(alarm(db, 't'), ['LINK', 'MINOR']);
    assert.deepEqual(alarm(db, 't2'), ['NO_ALARM', 'NO_ALARM']);
  });

  it('a record that is not passive is not processed by a PP link, a FLNK or a write to VAL; PROC processes it', async () => {
    const db = build(`
      record(calc, "tick") { field(SCAN, "10 second") field(CALC, "VAL+1") }
      record(ai, "r") { field(INP, "tick PP") field(FLNK, "tick") }
      record(ai, "periodic") { field(SCAN, "10 second") }`);
    try {
      await put(db, 'r.PROC', 1);
      assert.equal(get(db, 'tick'), 0);
      const masks: number[] = [];
      pv(db, 'periodic').subscribe((m) => masks.push(m));
      await put(db, 'periodic', 3);
      assert.equal(get(db, 'periodic'), 3, 'stored');
      assert.deepEqual(masks, [], 'not posted until it is scanned');
      assert.deepEqual(alarm(db, 'periodic'), ['UDF', 'INVALID'], 'not processed');
      await put(db, 'tick.PROC', 1);
      assert.equal(get(db, 'tick'), 1);
    } finally {
      db.stop();
    }
  });

  it('an output loop through PP links ends at the record already active', async () => {
    const db = build('record(ao, "l1") { field(OUT, "l2 PP") }\nrecord(ao, "l2") { field(OUT, "l1 PP") }');
    await put(db, 'l1', 3);
    assert.deepEqual([get(db, 'l1'), get(db, 'l2')], [3, 3]);
  });

  it('OMSL closed_loop takes VAL from DOL; supervisory ignores it; a constant DOL sets the start value', async () => {
    const db = build(`
      record(ai, "src") { field(VAL, "12") }
      record(ao, "cl") { field(DOL, "src") field(OMSL, "closed_loop") field(DRVH, "10") }
      record(ao, "sup") { field(DOL, "src") }
      record(longout, "k") { field(DOL, "7") }`);
    assert.equal(get(db, 'k'), 7);
    await put(db, 'cl.PROC', 1);
    assert.equal(get(db, 'cl'), 10, 'read through DOL, held to DRVH');
    await put(db, 'sup', 1);
    assert.equal(get(db, 'sup'), 1);
  });

  it('links convert between types: an ai into a bi and a stringin, a bo into a stringin by state name', async () => {
    const db = build(`
      record(ai, "x") { field(VAL, "1.7") field(PREC, "2") }
      record(bi, "b") { field(INP, "x") field(ZNAM, "Off") field(ONAM, "On") }
      record(stringin, "s") { field(INP, "x") }
      record(stringin, "sb") { field(INP, "b") }`);
    for (const n of ['b', 's', 'sb']) await put(db, `${n}.PROC`, 1);
    assert.equal(get(db, 'b'), 1);
    assert.equal(get(db, 's'), '1.70');
    assert.equal(get(db, 'sb'), 'On');
  });

  it('a link to no record of this IOC, or to a field the record lacks, is a load error at the link', () => {
    expectDbError(() => build('record(ai, "a") {\n  field(INP, "other:ioc:pv CP")\n}'), 'DB_ERR_BAD_LINK',
      'links.db:2:14: record "a" field INP: no record "other:ioc:pv" in this IOC (links to other IOCs over Channel Access are not supported)');
    expectDbError(() => build('record(ai, "a") { field(FLNK, "a.NOPE") }'), 'DB_ERR_BAD_LINK',
      'links.db:1:31: record "a" field FLNK: record "a" (ai) has no field NOPE');
    expectDbError(() => build('record(ao, "a") { field(OUT, "a XX") }'), 'DB_ERR_BAD_LINK',
      'links.db:1:30: record "a" field OUT: unknown link modifier "XX"; expected NPP, PP, CA, CP, CPP, NMS, MS, MSS or MSI');
  });

  it('links read back with their modifiers, as dbGetString shows them', () => {
    const db = build('record(ai, "a") { field(INP, "b.HIHI") field(FLNK, "b") }\nrecord(ai, "b") { field(INP, "a PP MS") }');
    assert.equal(get(db, 'a.INP'), 'b.HIHI NPP NMS');
    assert.equal(get(db, 'b.INP'), 'a PP MS');
    assert.equal(get(db, 'a.FLNK'), 'b', 'a forward link reads back as the name alone');
  });

  describe('link fields written at run time', () => {
    it('a soft-channel link is resolved again: the new target is read', async () => {
      const db = build('record(ai, "x") { field(VAL, "1") }\nrecord(ai, "y") { field(VAL, "2") }\nrecord(ai, "r") { field(INP, "x") }');
      await put(db, 'r.INP', 'y');
      assert.equal(get(db, 'r.INP'), 'y NPP NMS');
      await put(db, 'r.PROC', 1);
      assert.equal(get(db, 'r'), 2);
    });

    it('a name that is no record here is refused, and the old link stays', async () => {
      const db = build('record(ai, "x") { field(VAL, "1") }\nrecord(ai, "r") { field(INP, "x") }');
      await assert.rejects(put(db, 'r.INP', 'nowhere'), (e: unknown) => e instanceof WriteError && e.eca === Eca.PUTFAIL && /no record "nowhere"/.test(e.message));
      assert.equal(get(db, 'r.INP'), 'x NPP NMS');
    });

    it('device support other than Soft Channel refuses a new INP/OUT', async () => {
      const support: DeviceSupport = { dtyp: 'dev', recordTypes: ['bo'], bind: () => ({ write: () => Promise.resolve() }) };
      const db = build('record(bo, "b") { field(DTYP, "dev") field(OUT, "@x") }', defaultRegistry().register(support));
      await assert.rejects(put(db, 'b.OUT', '@y'), (e: unknown) => e instanceof WriteError && e.eca === Eca.PUTFAIL);
      assert.equal(get(db, 'b.OUT'), '@x');
    });
  });
});

describe('disable', () => {
  it('a disabled output record makes no device call; DISABLE with DISS, posted once', async () => {
    const writes: number[] = [];
    const support: DeviceSupport = { dtyp: 'dev', recordTypes: ['bo'], bind: () => ({ write: (v) => { writes.push(v as number); return Promise.resolve(); } }) };
    const db = build('record(bo, "b") { field(DTYP, "dev") field(OUT, "@x") field(DISS, "MAJOR") }', defaultRegistry().register(support));
    await put(db, 'b', 1);
    assert.deepEqual(writes, [1]);
    await put(db, 'b.DISA', 1);
    const masks: number[] = [];
    pv(db, 'b').subscribe((m) => masks.push(m));
    await put(db, 'b', 0);
    await put(db, 'b', 1);
    assert.deepEqual(writes, [1], 'no write while disabled');
    assert.deepEqual(alarm(db, 'b'), ['DISABLE', 'MAJOR']);
    assert.equal(masks.filter((m) => m & DBE_VALUE).length, 1, 'DISABLE posted once');
    await put(db, 'b.DISA', 0);
    await put(db, 'b', 0);
    assert.deepEqual(writes, [1, 0]);
    assert.deepEqual(alarm(db, 'b'), ['NO_ALARM', 'NO_ALARM']);
  });

  it('SDIS reads DISA from another record before every processing', async () => {
    const db = build(`
      record(bo, "gate") { field(VAL, "0") }
      record(calc, "c") { field(SDIS, "gate") field(DISV, "1") field(CALC, "VAL+1") }`);
    await put(db, 'c.PROC', 1);
    assert.equal(get(db, 'c'), 1);
    await put(db, 'gate', 1);
    await put(db, 'c.PROC', 1);
    assert.equal(get(db, 'c'), 1);
    assert.deepEqual(alarm(db, 'c'), ['DISABLE', 'NO_ALARM']);
  });
});

describe('device support and processing', () => {
  it('a value the device pushes while it carries out a write is posted when the write ends', async () => {
    let dev!: DeviceRecord;
    let finish: () => void = () => undefined;
    const support: DeviceSupport = {
      dtyp: 'dev', recordTypes: ['bo'],
      bind: (rec) => { dev = rec; return { write: () => new Promise<void>((resolve) => { finish = resolve; }) }; },
    };
    const db = build('record(bo, "b") { field(DTYP, "dev") field(OUT, "@x") field(FLNK, "after") }\nrecord(calc, "after") { field(CALC, "VAL+1") }', defaultRegistry().register(support));
    const values: number[] = [];
    pv(db, 'b').subscribe(() => values.push(get(db, 'b') as number));
    const written = put(db, 'b', 1);
    dev.update(0);
    assert.deepEqual(values, [], 'nothing posted while the write is in progress');
    assert.equal(get(db, 'after'), 0, 'the forward link waits for the end of processing');
    finish();
    await written;
    assert.deepEqual(values, [0]);
    assert.equal(get(db, 'after'), 1);
  });
});

describe('calc and calcout records', () => {
  it('calc: inputs through INPA..INPL, constants, the result with limit alarms; A..L posted when they change', async () => {
    const db = build(`
      record(ai, "x") { field(VAL, "2") }
      record(calc, "c") { field(INPA, "x") field(INPB, "10") field(CALC, "A*B+C") field(HIGH, "30") field(HSV, "MINOR") }`);
    const seenA: number[] = [];
    pv(db, 'c.A').subscribe(() => seenA.push(get(db, 'c.A') as number));
    await put(db, 'c.PROC', 1);
    assert.equal(get(db, 'c'), 20);
    await put(db, 'x', 4);
    await put(db, 'c.PROC', 1);
    assert.equal(get(db, 'c'), 40);
    assert.deepEqual(alarm(db, 'c'), ['HIGH', 'MINOR']);
    assert.deepEqual(seenA, [2, 4]);
    await put(db, 'c.C', 1);
    assert.equal(get(db, 'c'), 41, 'a write to C processes');
  });

  it('calc: assignments change their input; VAL is the previous result', async () => {
    const db = build('record(calc, "c") { field(CALC, "B:=B+2;VAL+B") }');
    await put(db, 'c.PROC', 1);
    await put(db, 'c.PROC', 1);
    assert.deepEqual([get(db, 'c'), get(db, 'c.B')], [6, 4]);
  });

  it('a bad CALC is a load error at the field, and a put failure at run time', async () => {
    expectDbError(() => build('record(calc, "c") {\n  field(CALC, "A+")\n}'), 'DB_ERR_BAD_CALC',
      'links.db:2:15: record "c" field CALC: the expression ends too early, found "A+"');
    const db = build('record(calc, "c") { field(CALC, "1") }');
    await assert.rejects(put(db, 'c.CALC', '(1'), (e: unknown) => e instanceof WriteError && e.eca === Eca.PUTFAIL);
    assert.equal(get(db, 'c.CALC'), '(1', 'kept as written, as dbPut keeps it');
    await put(db, 'c.PROC', 1);
    assert.deepEqual([get(db, 'c'), ...alarm(db, 'c')], [0, 'CALC', 'INVALID'], 'no program to run: VAL kept, CALC/INVALID');
    await put(db, 'c.CALC', '2+3');
    assert.equal(get(db, 'c'), 5, 'a good CALC processes the record');
    assert.equal(db.lookup('c.RPCL'), undefined, 'the compiled expression is no PV');
  });

  it('calcout: OOPT, DOPT/OCAL and OUT', async () => {
    const db = build(`
      record(calcout, "co") { field(INPA, "0") field(CALC, "A") field(OOPT, "Transition To Non-zero") field(DOPT, "Use OCAL") field(OCAL, "A*100") field(OUT, "dst PP") }
      record(ai, "dst") { }`);
    await put(db, 'co.A', 1);
    assert.deepEqual([get(db, 'co'), get(db, 'co.OVAL'), get(db, 'dst')], [1, 100, 100]);
    await put(db, 'co.A', 2);
    assert.equal(get(db, 'co.OVAL'), 100, 'no transition, no output');
    await put(db, 'co.A', 0);
    await put(db, 'co.A', 3);
    assert.deepEqual([get(db, 'co.OVAL'), get(db, 'dst')], [300, 300]);
    assert.equal(get(db, 'co.PVAL'), 3);
  });

  it('calcout: ODLY writes the output after the delay, and the record stays active until then', async () => {
    const db = build(`
      record(calcout, "co") { field(CALC, "A") field(ODLY, "0.05") field(OUT, "dst PP") }
      record(ai, "dst") { }`);
    const written = put(db, 'co.A', 5);
    await settle();
    assert.equal(get(db, 'co.DLYA'), 1);
    assert.equal(get(db, 'dst'), 0, 'not yet written');
    // The put completes when the delayed output has been written (as dbPutNotify on an asynchronous record).
    await written;
    assert.deepEqual([get(db, 'dst'), get(db, 'co.DLYA')], [5, 0]);
  });
});

describe('a put waits for what its links process (dbNotify)', () => {
  /** Device support whose writes finish when the test says: `finish[name]()`. */
  function slowDevice(): {
    support: DeviceSupport; finish: Map<string, () => void>; fail: Map<string, (e: Error) => void>; started(name: string): Promise<void>;
  } {
    const finish = new Map<string, () => void>();
    const fail = new Map<string, (e: Error) => void>();
    const waiting = new Map<string, () => void>();
    const support: DeviceSupport = {
      dtyp: 'slow', recordTypes: ['bo'],
      bind: (rec) => ({
        write: () => new Promise<void>((resolve, reject) => {
          finish.set(rec.name, resolve);
          fail.set(rec.name, reject);
          waiting.get(rec.name)?.();
        }),
      }),
    };
    /** Resolves once a write to `name` has started. */
    const started = (name: string): Promise<void> => (finish.has(name) ? Promise.resolve() : new Promise((resolve) => waiting.set(name, resolve)));
    return { support, finish, fail, started };
  }
  const state = (p: Promise<void>): { done: boolean } => {
    const s = { done: false };
    p.then(() => { s.done = true; }, () => { s.done = true; });
    return s;
  };

  it('a dfanout\'s put completes once both outputs\' device writes have, and their FLNK\'s too; a failed one is that record\'s alarm only', async () => {
    const dev = slowDevice();
    const db = build(`
      record(dfanout, "all") { field(OUTA, "a PP") field(OUTB, "b PP") }
      record(bo, "a") { field(DTYP, "slow") field(OUT, "@a") }
      record(bo, "b") { field(DTYP, "slow") field(OUT, "@b") field(FLNK, "c") }
      record(bo, "c") { field(DTYP, "slow") field(OUT, "@c") }
    `, defaultRegistry().register(dev.support));
    const put1 = put(db, 'all', 1);
    const s = state(put1);
    assert.deepEqual([...dev.finish.keys()].sort(), ['a', 'b'], 'both outputs started at once');
    dev.finish.get('a')!();
    await settle();
    assert.equal(s.done, false, 'b still running');
    dev.finish.get('b')!();
    await settle();
    assert.ok(dev.finish.has('c'), "b's FLNK started c when b finished");
    assert.equal(s.done, false, 'c (processed by b\'s end) still running');
    dev.fail.get('c')!(new Error('no such unit'));
    await put1;
    assert.deepEqual(alarm(db, 'c'), ['WRITE', 'INVALID']);
    assert.deepEqual(alarm(db, 'all'), ['NO_ALARM', 'NO_ALARM']);
  });

  it('a seq\'s put waits for the device writes its groups start, the later group after its delay', async () => {
    const dev = slowDevice();
    const db = build(`
      record(seq, "s") { field(DOL0, "1") field(LNK0, "a PP") field(DLY1, "0.01") field(DOL1, "1") field(LNK1, "b PP") }
      record(bo, "a") { field(DTYP, "slow") field(OUT, "@a") }
      record(bo, "b") { field(DTYP, "slow") field(OUT, "@b") }
    `, defaultRegistry().register(dev.support));
    const s = state(put(db, 's.PROC', 1));
    await dev.started('a');
    dev.finish.get('a')!();
    await dev.started('b');
    await settle();
    assert.equal(s.done, false, 'b still running');
    dev.finish.get('b')!();
    await settle();
    assert.equal(s.done, true);
  });

  it('a fanout\'s forward links are waited for too; a later put to the fanout does not queue behind them', async () => {
    const dev = slowDevice();
    const db = build(`
      record(fanout, "fan") { field(LNK0, "a") }
      record(bo, "a") { field(DTYP, "slow") field(OUT, "@a") }
    `, defaultRegistry().register(dev.support));
    const first = state(put(db, 'fan.PROC', 1));
    await settle();
    assert.equal(first.done, false);
    // The fanout itself is done: a second put processes it at once (a, still busy, is not processed again).
    await put(db, 'fan.SELM', 1);
    assert.equal(get(db, 'fan.SELM'), 1);
    dev.finish.get('a')!();
    await settle();
    assert.equal(first.done, true);
  });
});

describe('seq', () => {
  it('runs its groups in order after their delays, stays active until the last, and a put to PROC completes then', async () => {
    const db = build(`
      record(seq, "s") { field(DOL0, "1") field(LNK0, "a PP") field(DLY1, "0.02") field(DOL1, "a") field(LNK1, "b PP") field(DOL2, "3") }
      record(ai, "a") { }
      record(ai, "b") { }`);
    const seen: string[] = [];
    for (const name of ['a', 'b', 's']) pv(db, name).subscribe(() => seen.push(`${name}=${String(get(db, name))}`));
    const done = put(db, 's.PROC', 1);
    assert.equal(get(db, 's.PACT'), 1, 'active from the start');
    assert.equal(get(db, 'a'), 0, 'even a group without a delay is carried out later (the callback task)');
    await put(db, 's.PROC', 1);
    await done;
    assert.deepEqual(seen, ['a=1', 'b=1', 's=0'], 'groups in order; a second PROC while active did nothing; VAL posted at the end (its alarm)');
    assert.deepEqual([get(db, 's.PACT'), get(db, 's.DO0'), get(db, 's.DO1'), get(db, 's.DO2')], [0, 1, 1, 3]);
  });
});
