/**
 * Which databases a configuration stands for: the templates shipped in db/
 * (ioc.db, iocstats.db, and per unit, queueserver and redis server their own),
 * then the configuration's own .db files, in load order.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { IocConfig } from './config';
import { macrosFromArg, type LoadStep } from './load';

/**
 * The templates shipped with service-ioc: `db/` at the package root, which is
 * two levels above this file in dist/ and three in the test build.
 */
export const DB_DIR = ['../../db', '../../../db'].map((d) => path.resolve(__dirname, d)).find((d) => fs.existsSync(path.join(d, 'ioc.db'))) ?? path.resolve(__dirname, '../../db');

/** The databases a configuration stands for, in load order. */
export function configSteps(config: IocConfig): LoadStep[] {
  const P = config.prefix;
  // Lingering matters to a user manager only.
  const iocMacros = new Map([['P', P], ['LINGER_SEVR', config.bus === 'user' ? 'MINOR' : 'NO_ALARM']]);
  const steps: LoadStep[] = [{ kind: 'db', file: path.join(DB_DIR, 'ioc.db'), macros: iocMacros }];
  if (config.iocStats) steps.push({ kind: 'db', file: path.join(DB_DIR, 'iocstats.db'), macros: new Map([['P', P]]) });
  for (const u of config.units) {
    const macros = new Map([['P', P], ['N', u.pv], ['UNIT', u.name], ['INACTIVE_SEVR', u.expect === 'active' ? 'MAJOR' : 'NO_ALARM']]);
    steps.push({ kind: 'db', file: path.join(DB_DIR, 'unit.db'), macros });
    if (u.control) steps.push({ kind: 'db', file: path.join(DB_DIR, 'unit-control.db'), macros });
  }
  const unitPvs = new Map(config.units.map((u) => [u.name, u.pv]));
  /** A CP link to a watched unit's ActiveState; undefined when the unit is not named or not watched. */
  const unitUp = (unit: string | undefined): string | undefined => {
    const pv = unit === undefined ? undefined : unitPvs.get(unit);
    return pv === undefined ? undefined : `${P}${pv}:ActiveState CP`;
  };
  for (const q of config.queueservers) {
    const redis = q.redis === undefined ? undefined : config.redis.find((r) => r.pv === q.redis);
    const macros = new Map([['P', P], ['N', q.pv]]);
    // What DepsUp reads (db/queueserver.db); 1 for what is not there.
    macros.set('UNIT_UP', unitUp(q.unit) ?? '1');
    macros.set('REDIS_UP', redis === undefined ? '1' : `${P}${redis.pv}:Connected CP`);
    macros.set('REDIS_UNIT_UP', unitUp(redis?.unit) ?? '1');
    steps.push({ kind: 'db', file: path.join(DB_DIR, 'queueserver.db'), macros });
    if (q.control) steps.push({ kind: 'db', file: path.join(DB_DIR, 'queueserver-control.db'), macros });
  }
  for (const r of config.redis) steps.push({ kind: 'db', file: path.join(DB_DIR, 'redis.db'), macros: new Map([['P', P], ['N', r.pv]]) });
  for (const d of config.databases) {
    const macros = macrosFromArg(d.macros);
    if (!macros.has('P')) macros.set('P', P);
    steps.push({ kind: 'db', file: d.file, macros });
  }
  return steps;
}
