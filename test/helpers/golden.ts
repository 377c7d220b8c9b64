/**
 * Golden files for the generated operator files: the fixed configuration
 * test/golden/service-ioc.toml, the expected output under test/golden/<set>/,
 * compared byte for byte. `UPDATE_GOLDEN=1` rewrites them instead (review
 * the diff before committing).
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseConfig, type IocConfig } from '../../src/ioc/config';
import { buildServiceIoc } from '../../src/ioc/service-ioc';
import type { Database } from '../../src/database/database';
import { memoryLogger } from '../../src/log';

export const REPO_ROOT = path.resolve(__dirname, '../../..');
export const GOLDEN_DIR = path.join(REPO_ROOT, 'test/golden');
export const FIXTURE_CONFIG = path.join(GOLDEN_DIR, 'service-ioc.toml');
export const UPDATE_GOLDEN = process.env.UPDATE_GOLDEN === '1';

export function fixtureConfig(): IocConfig {
  return parseConfig(fs.readFileSync(FIXTURE_CONFIG, 'utf8'), FIXTURE_CONFIG);
}

/** The records the IOC would serve for `config` (built, not started). */
export function serviceDatabase(config: IocConfig): Database {
  return buildServiceIoc(config, memoryLogger([], 'error')).database;
}

/** Whether the IOC serves `pv` (a record, or REC.FIELD). */
export function servesPv(db: Database, pv: string): boolean {
  return db.lookup(pv) !== undefined;
}

/** Expand $(NAME) and ${NAME}; an undefined macro is an error, as for a display that would show "". */
export function expandMacros(text: string, macros: ReadonlyMap<string, string>): string {
  return text.replace(/\$(?:\(([^)]*)\)|\{([^}]*)\})/g, (_all, a: string | undefined, b: string | undefined) => {
    const name = a ?? b ?? '';
    const v = macros.get(name);
    if (v === undefined) throw new Error(`macro $(${name}) is not defined (in "${text}")`);
    return v;
  });
}

/** Compare `files` with test/golden/<set>/, or rewrite that directory with UPDATE_GOLDEN=1. */
export function checkGolden(set: string, files: ReadonlyArray<{ name: string; text: string }>): void {
  const dir = path.join(GOLDEN_DIR, set);
  if (UPDATE_GOLDEN) {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    for (const f of files) fs.writeFileSync(path.join(dir, f.name), f.text);
    return;
  }
  const onDisk = fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
  assert.deepEqual(onDisk, files.map((f) => f.name).sort(), `test/golden/${set}/ holds other files than generated; UPDATE_GOLDEN=1 rewrites it`);
  for (const f of files) {
    const expected = fs.readFileSync(path.join(dir, f.name), 'utf8');
    if (expected === f.text) continue;
    const a = expected.split('\n');
    const b = f.text.split('\n');
    let i = 0;
    while (i < a.length && a[i] === b[i]) i++;
    assert.fail(`test/golden/${set}/${f.name} differs at line ${i + 1}:\n  golden:    ${JSON.stringify(a[i])}\n  generated: ${JSON.stringify(b[i])}\n` +
      'If the change is intended, rerun with UPDATE_GOLDEN=1 and review the diff.');
  }
}
