/**
 * A record database built from .db text in memory and started (PINI, scans),
 * for tests of records, links and device support without a server.
 */
import { strict as assert } from 'node:assert';
import type { ProcessVariable } from '../../src/ca/pv';
import { Database, defaultRegistry } from '../../src/database/database';
import { createDatabase, mergeInto, parseDbText } from '../../src/database/dbfile/parser';

/** The client the tests' writes come from. */
export const DB_TEST_CLIENT = { user: 'op', host: 'opi', address: '127.0.0.1' };

/** Load `text` as if from `file` (the name load errors give) and start the database. */
export function buildDatabase(text: string, file: string, registry = defaultRegistry()): Database {
  const loaded = createDatabase();
  mergeInto(loaded, parseDbText(text, { file }));
  const db = Database.build(loaded, { registry });
  db.start();
  return db;
}

/** The PV `name`, which must exist. */
export function dbPv(db: Database, name: string): ProcessVariable {
  const p = db.lookup(name);
  assert.ok(p, `${name} exists`);
  return p;
}
