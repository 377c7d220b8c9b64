/**
 * Loading databases the way softIoc's command line does: `-m` macros apply to
 * the `-d` files that follow, `-s` loads a substitution file (dbLoadTemplate),
 * all into one database, with every error naming its file and line.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DbLoadError } from '../database/dbfile/errors';
import { parseMacroDefinitions } from '../database/dbfile/macros';
import { createDatabase, loadDbFile, type LoadedDatabase } from '../database/dbfile/parser';
import { parseSubstitutions } from '../database/dbfile/substitutions';

export type LoadStep =
  | { kind: 'db'; file: string; macros: ReadonlyMap<string, string> }
  | { kind: 'substitutions'; file: string; macros: ReadonlyMap<string, string> };

export interface LoadOptions {
  /** Directories searched for relative .db names (EPICS_DB_INCLUDE_PATH style). */
  includePath?: string[];
  /**
   * A second definition of a record is an error unless its type is "*" (the
   * default here; EPICS base merges same-type redefinitions unless
   * dbRecordsOnceOnly is set, which hides typos such as a copied record name).
   */
  allowRedefinition?: boolean;
}

export function loadAll(steps: readonly LoadStep[], opts: LoadOptions = {}): LoadedDatabase {
  const db = createDatabase();
  for (const step of steps) {
    if (step.kind === 'db') {
      loadDbFile(step.file, { into: db, macros: step.macros, includePath: opts.includePath, recordsOnceOnly: !opts.allowRedefinition });
      continue;
    }
    let text: string;
    try {
      text = fs.readFileSync(step.file, 'utf8');
    } catch (err) {
      throw new DbLoadError('DB_ERR_FILE_NOT_FOUND', `can't open substitution file: ${(err as Error).message}`, { file: step.file, line: 0, column: 0 });
    }
    const dir = path.dirname(step.file);
    for (const set of parseSubstitutions(text, step.file, { macros: step.macros })) {
      // Template names are looked up in the include path, then beside the substitution file.
      loadDbFile(set.file, { into: db, macros: set.macros, includePath: [...(opts.includePath ?? []), dir], recordsOnceOnly: !opts.allowRedefinition });
    }
  }
  return db;
}

/** "A=1,B=2" as softIoc's -m takes it. */
export function macrosFromArg(text: string): Map<string, string> {
  return parseMacroDefinitions(text);
}
