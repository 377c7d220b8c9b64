/**
 * Record behaviour in memory: alarms with hysteresis, state severities,
 * deadbands, UDF, ACKS/ACKT, device support, field PVs.
 */
import { strict as assert } from 'node:assert';
import { AlarmSeverity, AlarmStatus, DBE_ALARM, DBE_LOG, DBE_PROPERTY, DBE_VALUE, DbrType, Eca } from '../../src/ca/protocol/constants';
import { WriteError, type ProcessVariable } from '../../src/ca/pv';
import { menuScan } from '../../src/database/fields';
import { valueElements } from '../../src/ca/protocol/types';
import { encodeDbr } from '../../src/ca/protocol/dbr';
import { Database, defaultRegistry } from '../../src/database/database';
import { DbLoadError } from '../../src/database/dbfile/errors';
import type { DeviceRecord, DeviceSupport } from '../../src/database/device';
import { buildDatabase, dbPv, DB_TEST_CLIENT } from '../helpers/db-build';

const client = DB_TEST_CLIENT;
const build = (text: string, registry = defaultRegistry()): Database => buildDatabase(text, 'test.db', registry);
const pv = dbPv;

async function put(db: Database, name: string, value: number | string): Promise<void> {
  await pv(db, name).write({ value: typeof value === 'string' ? [value] : [value], client, notify: true });
}

/** The first element of a PV's value. */
function value(db: Database, name: string): number {
  return valueElements(pv(db, name).snapshot().value)[0] as number;
}

function alarm(db: Database, name: string): [string, string] {
  const s = pv(db, name).snapshot();
  return [AlarmStatus[s.status], AlarmSeverity[s.severity]];
}

/** Collect event masks posted to a PV. */
function watch(p: ProcessVariable): number[] {
  const masks: number[] = [];
  p.subscribe((m) => masks.push(m));
  return masks;
}

describe('records', () => {
  describe('ai limit alarms', () => {
    const db = build(`
      record(ai, "t") {
        field(HIHI, "90") field(HHSV, "MAJOR")
        field(HIGH, "70") field(HSV, "MINOR")
        field(LOW, "10") field(LSV, "MINOR")
        field(LOLO, "0") field(LLSV, "MAJOR")
        field(HYST, "5")
      }`);

    it('is UDF/INVALID until a value is written', () => {
      assert.deepEqual(alarm(db, 't'), ['UDF', 'INVALID']);
      assert.equal(pv(db, 't.UDF').snapshot().value[0], 1);
    });

    it('follows writes across the limits, with hysteresis on the way back', async () => {
      const seen: Array<[number, [string, string]]> = [];
      for (const v of [50, 75, 95, 88, 84, 72, 66, 64, 8, 12, 16, -1, 4, 6]) {
        await put(db, 't', v);
        seen.push([v, alarm(db, 't')]);
      }
      assert.deepEqual(seen, [
        [50, ['NO_ALARM', 'NO_ALARM']],
        [75, ['HIGH', 'MINOR']],
        [95, ['HIHI', 'MAJOR']],
        [88, ['HIHI', 'MAJOR']], // within HYST of HIHI: stays
        [84, ['HIGH', 'MINOR']], // below HIHI - HYST
        [72, ['HIGH', 'MINOR']],
        [66, ['HIGH', 'MINOR']], // within HYST of HIGH
        [64, ['NO_ALARM', 'NO_ALARM']],
        [8, ['LOW', 'MINOR']],
        [12, ['LOW', 'MINOR']],
        [16, ['NO_ALARM', 'NO_ALARM']],
        [-1, ['LOLO', 'MAJOR']],
        [4, ['LOLO', 'MAJOR']],
        [6, ['LOW', 'MINOR']],
      ]);
      assert.equal(pv(db, 't.UDF').snapshot().value[0], 0);
    });
  });

  describe('monitors and deadbands', () => {
    it('posts VALUE beyond MDEL, LOG beyond ADEL, ALARM on a severity change', async () => {
      const db = build('record(ai, "d") { field(MDEL, "1") field(ADEL, "5") field(HIGH, "20") field(HSV, "MINOR") field(VAL, "0") }');
      const masks = watch(pv(db, 'd'));
      await put(db, 'd', 0.5); // inside both deadbands
      await put(db, 'd', 1.6); // beyond MDEL from 0
      await put(db, 'd', 6); // beyond both
      await put(db, 'd', 21); // beyond both, and an alarm
      await put(db, 'd', 21); // nothing changes
      // The first processing takes STAT out of UDF, where iocInit left it: an alarm event.
      assert.deepEqual(masks, [DBE_ALARM, DBE_VALUE, DBE_VALUE | DBE_LOG, DBE_VALUE | DBE_LOG | DBE_ALARM]);
    });

    it('posts PROPERTY on VAL when a metadata field changes', async () => {
      const db = build('record(ao, "p") { field(EGU, "mm") }');
      const masks = watch(pv(db, 'p'));
      await put(db, 'p.EGU', 'um');
      assert.deepEqual(masks, [DBE_PROPERTY]);
      assert.equal(pv(db, 'p').snapshot().metadata.units, 'um');
    });

    it('bi posts VALUE|LOG only on a change', async () => {
      const db = build('record(bi, "b") { field(ZNAM, "Off") field(ONAM, "On") field(VAL, "0") }');
      const masks = watch(pv(db, 'b'));
      await put(db, 'b', 0);
      await put(db, 'b', 1);
      // The first write also takes STAT out of UDF (DBE_ALARM).
      assert.deepEqual(masks, [DBE_ALARM, DBE_VALUE | DBE_LOG]);
    });
  });

  describe('field PV metadata', () => {
    it('a numeric field other than VAL has NaN alarm limits (recGblGetAlarmDouble)', () => {
      const db = build('record(ai, "a") { field(HIHI, "5") field(HHSV, "MAJOR") }');
      const m = pv(db, 'a.HIHI').snapshot().metadata;
      assert.ok([m.upperAlarmLimit, m.upperWarningLimit, m.lowerWarningLimit, m.lowerAlarmLimit].every(Number.isNaN));
      assert.equal(pv(db, 'a').snapshot().metadata.upperAlarmLimit, 5);
    });
  });

  describe('start, as iocInit leaves records', () => {
    it('without PINI: STAT UDF, no timestamp, SEVR UDFS while the value is undefined, else NO_ALARM', () => {
      const db = build(`record(ai, "v") { field(VAL, "3") field(HIHI, "1") field(HHSV, "MAJOR") }
        record(stringin, "s") { }
        record(bi, "b") { field(VAL, "1") field(OSV, "MAJOR") }`);
      assert.deepEqual(alarm(db, 'v'), ['UDF', 'NO_ALARM']);
      assert.deepEqual(alarm(db, 's'), ['UDF', 'INVALID']);
      assert.deepEqual(alarm(db, 'b'), ['UDF', 'NO_ALARM']);
      assert.deepEqual(pv(db, 'v').snapshot().timestamp, { secPastEpoch: 0, nsec: 0 });
    });

    it('PINI processes a Soft Channel input: ai, bi, mbbi, longin, waveform become defined; a stringin raises no UDF; outputs keep UDF', () => {
      const db = build(['ai', 'bi', 'mbbi', 'longin', 'waveform', 'stringin', 'lsi', 'ao', 'bo', 'mbbo', 'longout', 'stringout', 'lso']
        .map((t) => `record(${t}, "${t}") { field(PINI, "YES") }`).join('\n'));
      for (const t of ['ai', 'bi', 'mbbi', 'longin', 'waveform', 'ao']) {
        assert.deepEqual(alarm(db, t), ['NO_ALARM', 'NO_ALARM'], t);
        assert.equal(pv(db, `${t}.UDF`).snapshot().value[0], 0, t);
      }
      for (const t of ['stringin', 'lsi']) {
        assert.deepEqual(alarm(db, t), ['NO_ALARM', 'NO_ALARM'], t);
        assert.equal(pv(db, `${t}.UDF`).snapshot().value[0], 1, t);
      }
      for (const t of ['bo', 'mbbo', 'longout', 'stringout', 'lso']) assert.deepEqual(alarm(db, t), ['UDF', 'INVALID'], t);
      assert.ok(pv(db, 'ai').snapshot().timestamp.secPastEpoch > 0);
    });
  });

  describe('state alarms', () => {
    it('bi/bo: ZSV, OSV and change of state COSV', async () => {
      const db = build('record(bo, "b") { field(ZNAM, "Stopped") field(ONAM, "Running") field(ZSV, "MAJOR") field(COSV, "MINOR") field(VAL, "1") }');
      await put(db, 'b', 1);
      assert.deepEqual(alarm(db, 'b'), ['NO_ALARM', 'NO_ALARM']);
      await put(db, 'b', 0);
      assert.deepEqual(alarm(db, 'b'), ['STATE', 'MAJOR']);
      const db2 = build('record(bo, "c") { field(COSV, "MINOR") field(VAL, "0") }');
      await put(db2, 'c', 1);
      assert.deepEqual(alarm(db2, 'c'), ['COS', 'MINOR']);
      await put(db2, 'c', 1);
      assert.deepEqual(alarm(db2, 'c'), ['NO_ALARM', 'NO_ALARM']);
    });

    it('mbbi/mbbo: the state severity, UNSV for an undefined state, labels as enum strings', async () => {
      const db = build('record(mbbo, "m") { field(ZRST, "Idle") field(ONST, "Run") field(TWST, "Fault") field(TWSV, "MAJOR") field(UNSV, "INVALID") }');
      assert.deepEqual(pv(db, 'm').snapshot().metadata.enumStrings, ['Idle', 'Run', 'Fault']);
      await put(db, 'm', 2);
      assert.deepEqual(alarm(db, 'm'), ['STATE', 'MAJOR']);
      await put(db, 'm', 1);
      assert.deepEqual(alarm(db, 'm'), ['NO_ALARM', 'NO_ALARM']);
      // Beyond the 16 states: stored as dbPut stores it; an mbbo with strings has no raw value for it (SOFT/INVALID).
      await put(db, 'm', 16);
      assert.equal(pv(db, 'm').snapshot().value[0], 16);
      assert.deepEqual(alarm(db, 'm'), ['SOFT', 'INVALID']);
      const mbbi = build('record(mbbi, "i") { field(ZRST, "Idle") field(UNSV, "MAJOR") }');
      await put(mbbi, 'i', 16);
      assert.deepEqual(alarm(mbbi, 'i'), ['STATE', 'MAJOR']);
    });

    it('bi/bo/mbbi/mbbo as DBR_STRING: the state name, empty for a state without one, else "Illegal_Value"/"Illegal Value"', async () => {
      const db = build(`record(bo, "b") { field(ZNAM, "Off") field(ONAM, "On") }
        record(bo, "n") { }
        record(mbbo, "m") { field(ZRST, "Idle") field(ONST, "Run") }
        record(mbbi, "u") { }`);
      const text = (name: string): string => String(encodeDbr(DbrType.STRING, 1, pv(db, name).snapshot()).toString('latin1').split('\0')[0]);
      await put(db, 'b', 1);
      assert.equal(text('b'), 'On');
      // A bo takes any state number (boRecord.c keeps VAL; only RVAL is 0 or 1).
      await put(db, 'b', 2);
      assert.equal(pv(db, 'b').snapshot().value[0], 2);
      assert.equal(text('b'), 'Illegal_Value');
      await put(db, 'n', 0);
      assert.equal(text('n'), '');
      await put(db, 'm', 1);
      assert.equal(text('m'), 'Run');
      await put(db, 'm', 7);
      assert.equal(text('m'), '');
      await put(db, 'm', 20);
      assert.equal(text('m'), 'Illegal Value');
      // No strings at all: still the (empty) string of the state, as mbbiRecord.c get_enum_str gives it.
      await put(db, 'u', 5);
      assert.equal(text('u'), '');
      await put(db, 'u', 16);
      assert.equal(text('u'), 'Illegal Value');
    });

    it('mbbo without states (no xxST, every xxVL 0) serves VAL as a number; an mbbi stays an ENUM with no strings', async () => {
      const db = build(`record(mbbo, "none") { field(VAL, "2") }
        record(mbbo, "valued") { field(ONVL, "5") }
        record(mbbi, "in") { field(VAL, "3") }`);
      assert.equal(pv(db, 'none').nativeType, DbrType.LONG);
      assert.equal(pv(db, 'valued').nativeType, DbrType.ENUM, 'a state value alone defines states');
      assert.equal(pv(db, 'in').nativeType, DbrType.ENUM);
      assert.deepEqual(pv(db, 'in').snapshot().metadata.enumStrings, []);
      assert.equal(value(db, 'none.RVAL'), 2, 'RVAL from VAL at start');
      await put(db, 'none', 70);
      assert.deepEqual([value(db, 'none'), value(db, 'none.RVAL')], [70, 70]);
      assert.deepEqual(alarm(db, 'none'), ['NO_ALARM', 'NO_ALARM'], 'a state beyond 15 without states: UNSV only, no SOFT alarm');
      // A state string given at run time: channels connected from then on see an ENUM.
      await put(db, 'none.ZRST', 'Idle');
      assert.equal(pv(db, 'none').nativeType, DbrType.ENUM);
      assert.deepEqual(pv(db, 'none').snapshot().metadata.enumStrings, ['Idle']);
    });

    it('mbbo RVAL: the state value (xxVL) shifted by SHFT; IVOV through the same conversion', async () => {
      const db = build(`record(mbbo, "m") { field(ZRST, "a") field(ONST, "b") field(TWST, "c") field(ONVL, "3") field(TWVL, "6") field(SHFT, "1")
        field(TWSV, "INVALID") field(IVOA, "Set output to IVOV") field(IVOV, "1") field(OUT, "dst PP") }
        record(longout, "dst") { }`);
      const rvals = watch(pv(db, 'm.RVAL'));
      await put(db, 'm', 1);
      assert.deepEqual([value(db, 'm'), value(db, 'm.RVAL'), value(db, 'dst')], [1, 6, 1]);
      await put(db, 'm', 2);
      assert.deepEqual([value(db, 'm'), value(db, 'm.RVAL'), value(db, 'dst')], [1, 6, 1], 'INVALID state: IVOV written instead');
      assert.deepEqual(alarm(db, 'm'), ['STATE', 'INVALID']);
      await put(db, 'm', 0);
      assert.equal(value(db, 'm.RVAL'), 0);
      assert.equal(rvals.length, 2, 'RVAL posted when it changed');
    });
  });

  describe('outputs', () => {
    it('ao clamps writes to DRVH/DRVL and serves them as control limits', async () => {
      const db = build('record(ao, "o") { field(DRVH, "10") field(DRVL, "-10") field(HOPR, "20") field(LOPR, "-20") }');
      await put(db, 'o', 55);
      assert.equal(pv(db, 'o').snapshot().value[0], 10);
      await put(db, 'o', -55);
      assert.equal(pv(db, 'o').snapshot().value[0], -10);
      const m = pv(db, 'o').snapshot().metadata;
      assert.deepEqual([m.upperControlLimit, m.lowerControlLimit, m.upperDisplayLimit], [10, -10, 20]);
    });

    it('ao OROC: OVAL moves toward VAL by at most OROC each time the record processes, RVAL and OUT follow it', async () => {
      const db = build(`record(ao, "o") { field(OROC, "2") field(VAL, "1") field(AOFF, "0.5") field(OUT, "dst PP") }
        record(ai, "dst") { }`);
      const ovals: number[] = [];
      pv(db, 'o.OVAL').subscribe(() => ovals.push(value(db, 'o.OVAL')));
      assert.equal(value(db, 'o.OVAL'), 1, 'OVAL starts at VAL');
      await put(db, 'o', 6);
      assert.deepEqual(['o', 'o.OVAL', 'o.RVAL', 'dst'].map((n) => value(db, n)), [6, 3, 3, 3]);
      await put(db, 'o.PROC', 1);
      await put(db, 'o.PROC', 1);
      assert.deepEqual(['o', 'o.OVAL', 'o.RVAL', 'dst'].map((n) => value(db, n)), [6, 6, 6, 6]);
      await put(db, 'o.PROC', 1);
      await put(db, 'o', -1);
      assert.deepEqual(['o', 'o.OVAL', 'dst'].map((n) => value(db, n)), [-1, 4, 4]);
      assert.deepEqual(ovals, [3, 5, 6, 4], 'OVAL posted when it moves, not when it stays');
    });

    it('ao OROC with a periodic SCAN: OVAL reaches a new VAL one step per scan', async () => {
      const db = build('record(ao, "o") { field(SCAN, ".1 second") field(OROC, "3") }');
      try {
        const ovals: number[] = [];
        const reached = new Promise<void>((resolve) => pv(db, 'o.OVAL').subscribe(() => {
          ovals.push(value(db, 'o.OVAL'));
          if (value(db, 'o.OVAL') === 10) resolve();
        }));
        await put(db, 'o', 10);
        await reached;
        assert.deepEqual(ovals, [3, 6, 9, 10]);
      } finally {
        db.stop();
      }
    });

    it('ao IVOA "Set output to IVOV": an INVALID ao takes IVOV as VAL, held to DRVH and ramped by OROC, and writes it', async () => {
      const db = build(`record(ao, "o") { field(HIHI, "5") field(HHSV, "INVALID") field(IVOA, "Set output to IVOV") field(IVOV, "42") field(DRVH, "30") field(OROC, "20") field(OUT, "dst PP") }
        record(ao, "quiet") { field(HIHI, "5") field(HHSV, "INVALID") field(IVOA, "Don't drive outputs") field(OUT, "dst2 PP") }
        record(ai, "dst") { }
        record(ai, "dst2") { }`);
      await put(db, 'o', 3);
      assert.deepEqual(['o', 'o.OVAL', 'dst'].map((n) => value(db, n)), [3, 3, 3]);
      await put(db, 'o', 8);
      // 8 moves OVAL from 3 to 8 first; then IVOV (42, held to 30) moves it on by OROC, to 28.
      assert.deepEqual(['o', 'o.OVAL', 'dst'].map((n) => value(db, n)), [30, 28, 28]);
      assert.deepEqual(alarm(db, 'o'), ['HIHI', 'INVALID'], 'the alarm is that of the value written');
      await put(db, 'quiet', 3);
      await put(db, 'quiet', 8);
      assert.deepEqual(['quiet', 'quiet.OVAL', 'dst2'].map((n) => value(db, n)), [8, 8, 3]);
    });

    it('goes through device support; the write completes when the device has, and a failure raises WRITE/INVALID', async () => {
      const writes: number[] = [];
      let fail = false;
      const support: DeviceSupport = {
        dtyp: 'test', recordTypes: ['bo'],
        bind: (_rec: DeviceRecord, link: string) => {
          assert.equal(link, '@unit.service Start');
          return {
            write: async (v) => {
              await new Promise((r) => setImmediate(r));
              if (fail) throw new Error('job failed');
              writes.push(v as number);
            },
          };
        },
      };
      const db = build('record(bo, "start") { field(DTYP, "test") field(OUT, "@unit.service Start") }', defaultRegistry().register(support));
      await put(db, 'start', 1);
      assert.deepEqual(writes, [1]);
      assert.deepEqual(alarm(db, 'start'), ['NO_ALARM', 'NO_ALARM']);
      fail = true;
      await assert.rejects(put(db, 'start', 1), (e: unknown) => e instanceof WriteError && e.eca === Eca.PUTFAIL && /job failed/.test(e.message));
      assert.deepEqual(alarm(db, 'start'), ['WRITE', 'INVALID']);
    });

    it('input records with device support take values from it, and refuse CA writes to VAL', () => {
      let dev!: DeviceRecord;
      const support: DeviceSupport = { dtyp: 'feed', recordTypes: ['longin'], bind: (rec) => { dev = rec; return {}; } };
      const db = build('record(longin, "n") { field(DTYP, "feed") field(INP, "@x") }', defaultRegistry().register(support));
      dev.update(42);
      assert.deepEqual(valueElements(pv(db, 'n').snapshot().value), [42]);
      assert.equal(pv(db, 'n').accessRights(client).write, false);
      dev.setDeviceAlarm({ status: AlarmStatus.COMM, severity: AlarmSeverity.INVALID });
      assert.deepEqual(alarm(db, 'n'), ['COMM', 'INVALID']);
      dev.setDeviceAlarm(undefined);
      assert.deepEqual(alarm(db, 'n'), ['NO_ALARM', 'NO_ALARM']);
    });
  });

  describe('ACKS and ACKT', () => {
    it('latch the highest unacknowledged severity, and release it on acknowledgement', async () => {
      const db = build('record(ai, "a") { field(HIHI, "10") field(HHSV, "MAJOR") field(VAL, "0") }');
      const p = pv(db, 'a');
      const acks = (): number => p.snapshot().acks;
      await put(db, 'a', 1);
      assert.equal(acks(), 0);
      await put(db, 'a', 20);
      assert.equal(acks(), AlarmSeverity.MAJOR);
      await put(db, 'a', 1);
      assert.equal(acks(), AlarmSeverity.MAJOR, 'still unacknowledged after the alarm went away');
      await p.acknowledge!({ field: 'acks', value: AlarmSeverity.MINOR, client });
      assert.equal(acks(), AlarmSeverity.MAJOR, 'a lower acknowledgement does nothing');
      await p.acknowledge!({ field: 'acks', value: AlarmSeverity.MAJOR, client });
      assert.equal(acks(), 0);
      await p.acknowledge!({ field: 'ackt', value: 0, client });
      await put(db, 'a', 20);
      await put(db, 'a', 1);
      assert.equal(acks(), 0, 'with ACKT off, ACKS follows the severity down');
    });
  });

  describe('SCAN written at run time (dbScan scanDelete/scanAdd)', () => {
    /** Resolves once `p` has posted `n` more events. */
    const events = (p: ProcessVariable, n: number): Promise<void> => new Promise((resolve) => {
      let left = n;
      const stop = p.subscribe(() => {
        if (--left > 0) return;
        stop();
        resolve();
      });
    });
    const scanChoice = (choice: string): number => menuScan.indexOf(choice as typeof menuScan[number]);

    it('a passive record given a periodic SCAN is scanned from then on; given Passive again, it is not', async () => {
      const db = build(`record(calc, "n") { field(CALC, "VAL+1") }
        record(calc, "clock") { field(SCAN, ".1 second") field(CALC, "VAL+1") }`);
      try {
        const scanned = events(pv(db, 'n'), 3);
        await put(db, 'n.SCAN', scanChoice('.1 second'));
        await scanned;
        await put(db, 'n.SCAN', scanChoice('Passive'));
        const at = value(db, 'n');
        await events(pv(db, 'clock'), 3);
        assert.equal(value(db, 'n'), at, 'not scanned while the clock, on the list it left, ticks');
        await put(db, 'n.PROC', 1);
        assert.equal(value(db, 'n'), at + 1);
      } finally {
        db.stop();
      }
    });

    it('a periodic record moved to another period leaves the first list', async () => {
      const db = build(`record(calc, "n") { field(SCAN, ".1 second") field(CALC, "VAL+1") }
        record(calc, "clock") { field(SCAN, ".1 second") field(CALC, "VAL+1") }`);
      try {
        await events(pv(db, 'n'), 1);
        await put(db, 'n.SCAN', scanChoice('10 second'));
        const at = value(db, 'n');
        await events(pv(db, 'clock'), 3);
        assert.equal(value(db, 'n'), at);
        assert.equal(value(db, 'n.SCAN'), scanChoice('10 second'));
      } finally {
        db.stop();
      }
    });

    it('I/O Intr without device support that pushes values is made Passive, in the file and when written', async () => {
      const db = build('record(ai, "a") { field(SCAN, "I/O Intr") } record(ai, "b") { }');
      assert.equal(value(db, 'a.SCAN'), scanChoice('Passive'));
      const posted = watch(pv(db, 'b.SCAN'));
      await put(db, 'b.SCAN', scanChoice('I/O Intr'));
      assert.equal(value(db, 'b.SCAN'), scanChoice('Passive'));
      assert.equal(posted.length, 1);
      assert.equal(valueElements(pv(db, 'b.SCAN').snapshot().value)[0], scanChoice('Passive'));
    });

    it('PHAS orders a scan list: a lower PHAS is processed first, and a new PHAS moves the record', async () => {
      // Each record writes its number to "last"; "mark" (PHAS 5) ends every tick with 0.
      const db = build(`record(calcout, "first") { field(SCAN, ".1 second") field(PHAS, "1") field(CALC, "1") field(OUT, "last PP") }
        record(calcout, "second") { field(SCAN, ".1 second") field(CALC, "2") field(OUT, "last PP") }
        record(calcout, "mark") { field(SCAN, ".1 second") field(PHAS, "5") field(CALC, "0") field(OUT, "last PP") }
        record(ai, "last") { field(VAL, "-1") }`);
      try {
        const seen: number[] = [];
        const p = pv(db, 'last');
        p.subscribe(() => seen.push(value(db, 'last')));
        /** The order of one whole tick seen from now on. */
        const nextTick = async (): Promise<number[]> => {
          seen.length = 0;
          await events(p, 6);
          const end = seen.indexOf(0);
          return seen.slice(end + 1, end + 4);
        };
        assert.deepEqual(await nextTick(), [2, 1, 0], 'PHAS 0 ("second") before PHAS 1 ("first")');
        await put(db, 'second.PHAS', 2);
        assert.deepEqual(await nextTick(), [1, 2, 0]);
      } finally {
        db.stop();
      }
    });

    it('at start, records of one PHAS are scanned type by type (types in name order), each type in load order', async () => {
      const db = build(`record(longout, "lo") { field(SCAN, ".1 second") field(VAL, "3") field(OUT, "last PP") }
        record(ao, "a2") { field(SCAN, ".1 second") field(VAL, "2") field(OUT, "last PP") }
        record(calcout, "mark") { field(SCAN, ".1 second") field(PHAS, "5") field(CALC, "0") field(OUT, "last PP") }
        record(ao, "a1") { field(SCAN, ".1 second") field(VAL, "1") field(OUT, "last PP") }
        record(ai, "last") { field(VAL, "-1") }`);
      try {
        const seen: number[] = [];
        const p = pv(db, 'last');
        p.subscribe(() => seen.push(value(db, 'last')));
        await events(p, 8);
        const end = seen.indexOf(0);
        assert.deepEqual(seen.slice(end + 1, end + 5), [2, 1, 3, 0], 'ao a2, ao a1, longout, then mark');
      } finally {
        db.stop();
      }
    });
  });

  describe('DISA/DISV', () => {
    it('a write to DISA does not process; a disabled record that processes reports DISABLE with DISS', async () => {
      const db = build('record(ai, "x") { field(DISS, "MINOR") field(VAL, "1") }');
      await put(db, 'x.DISA', 1);
      assert.deepEqual(alarm(db, 'x'), ['UDF', 'NO_ALARM'], 'DISA alone processes nothing, as softIoc');
      await put(db, 'x.PROC', 1);
      assert.deepEqual(alarm(db, 'x'), ['DISABLE', 'MINOR']);
      await put(db, 'x.DISA', 0);
      await put(db, 'x.PROC', 1);
      assert.deepEqual(alarm(db, 'x'), ['NO_ALARM', 'NO_ALARM']);
    });
  });

  describe('field PVs', () => {
    const db = build(`
      record(stringin, "s") { field(DESC, "A description") field(VAL, "hi") }
      record(waveform, "w") { field(FTVL, "LONG") field(NELM, "16") }
      record(lsi, "l") { field(SIZV, "100") }
      record(ai, "a") { field(SCAN, "Passive") }
      alias("s", "s2")`);

    it('REC means REC.VAL, aliases resolve, RTYP and NAME are served', () => {
      assert.equal(pv(db, 's').snapshot().value[0], 'hi');
      assert.equal(pv(db, 's2').snapshot().value[0], 'hi');
      assert.equal(pv(db, 's.RTYP').snapshot().value[0], 'stringin');
      assert.equal(pv(db, 's.NAME').snapshot().value[0], 's');
      assert.equal(pv(db, 's.RTYP').accessRights(client).write, false);
      assert.equal(db.lookup('s.NOPE'), undefined);
      assert.equal(db.lookup('nope'), undefined);
    });

    it('names every record and alias as served for good, each one a PV lookup finds', () => {
      const names = [...db.servedNames()];
      assert.deepEqual(names.sort(), ['a', 'l', 's', 's2', 'w']);
      for (const n of names) assert.ok(db.lookup(n), n);
    });

    it('REC.FIELD$ serves a string field as a NUL-terminated CHAR array', () => {
      const p = pv(db, 's.DESC$');
      assert.equal(p.nativeType, DbrType.CHAR);
      assert.equal(p.maxCount, 41);
      // All of the field, as dbGet gives it: the string, then NULs.
      assert.equal(Buffer.from(valueElements(p.snapshot().value) as number[]).toString(), 'A description'.padEnd(41, '\0'));
      assert.equal(db.lookup('a.PREC$'), undefined, 'not for numeric fields');
    });

    it('lsi VAL$ holds SIZV characters', async () => {
      const long = 'x'.repeat(80);
      await pv(db, 'l.VAL$').write({ value: Buffer.from(long + '\0'), client, notify: true });
      assert.equal(pv(db, 'l.VAL$').maxCount, 100);
      assert.equal(Buffer.from(valueElements(pv(db, 'l.VAL$').snapshot().value) as number[]).toString(), long.padEnd(100, '\0'));
      assert.equal(pv(db, 'l').snapshot().value[0], long);
    });

    it('waveform: native type from FTVL, NELM maximum, NORD follows writes', async () => {
      const p = pv(db, 'w');
      assert.deepEqual([p.nativeType, p.maxCount], [DbrType.LONG, 16]);
      assert.equal(pv(db, 'w.NORD').snapshot().value[0], 0);
      await p.write({ value: [1, 2, 3], client, notify: true });
      assert.deepEqual(valueElements(p.snapshot().value), [1, 2, 3]);
      assert.equal(pv(db, 'w.NORD').snapshot().value[0], 3);
    });

    it('menu fields are enums with their choices; a bad choice is refused', async () => {
      const p = pv(db, 'a.SCAN');
      assert.equal(p.nativeType, DbrType.ENUM);
      assert.equal(p.snapshot().metadata.enumStrings[6], '1 second');
      await assert.rejects(p.write({ value: [42], client, notify: true }), WriteError);
    });
  });

  describe('load errors name the file, line and column', () => {
    const cases: Array<[string, string, RegExp]> = [
      ['record(xyz, "a") {}', 'DB_ERR_UNKNOWN_RECORD_TYPE', /^test\.db:1:1: unknown record type "xyz"/],
      ['record(ai, "a") {\n  field(NOPE, "1")\n}', 'DB_ERR_UNKNOWN_FIELD', /^test\.db:2:15: record type ai has no field "NOPE"/],
      ['record(ai, "a") {\n  field(HHSV, "BAD")\n}', 'DB_ERR_BAD_FIELD_VALUE', /^test\.db:2:15: record "a" field HHSV: expected one of "NO_ALARM", "MINOR", "MAJOR", "INVALID", found "BAD"/],
      ['record(ai, "a") { field(PREC, "two") }', 'DB_ERR_BAD_FIELD_VALUE', /expected a number, found "two"/],
      ['record(ai, "a") { field(DESC, "' + 'x'.repeat(41) + '") }', 'DB_ERR_BAD_FIELD_VALUE', /expected at most 40 characters/],
      ['record(ai, "a") { field(DTYP, "nothing") }', 'DB_ERR_UNKNOWN_DTYP', /no device support "nothing"; registered: "Soft Channel"/],
    ];
    for (const [text, code, re] of cases) {
      it(code + ': ' + re.source.slice(0, 40), () => {
        assert.throws(() => build(text), (e: unknown) => e instanceof DbLoadError && e.code === code && re.test(e.message));
      });
    }
  });
});
