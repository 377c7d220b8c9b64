import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { DbLoadError, DbLoadWarning } from '../../src/database/dbfile/errors';
import { parseMacroDefinitions, resolveMacroValues } from '../../src/database/dbfile/macros';
import { loadDbFile } from '../../src/database/dbfile/parser';
import { SubstitutionSet, parseSubstitutions } from '../../src/database/dbfile/substitutions';

/** [file, line, macros as [name, raw value][]] for each set. */
function sets(text: string, opts = {}): [string, number, [string, string][]][] {
  return parseSubstitutions(text, 'x.substitutions', opts).map((s: SubstitutionSet) => [s.file, s.line, [...s.macros]]);
}

function expectError(text: string, code: string, message: string): void {
  assert.throws(() => parseSubstitutions(text, 'x.substitutions'), (err: unknown) => {
    assert.ok(err instanceof DbLoadError, String(err));
    assert.equal(err.message, message);
    assert.equal(err.code, code);
    return true;
  });
}

describe('db substitutions: parsing', function () {
  it('turns each {...} of a file block into one set, in order', function () {
    assert.deepEqual(sets([
      'file "motor.db" {',
      '  { P=a:, M=m1 }',
      '  {P=b:,M=m2}',
      '}',
      'file db/other.db { { X=1 } }',
    ].join('\n')), [
      ['motor.db', 2, [['P', 'a:'], ['M', 'm1']]],
      ['motor.db', 3, [['P', 'b:'], ['M', 'm2']]],
      ['db/other.db', 5, [['X', '1']]],
    ]);
  });

  it('reads pattern blocks: names once, then values by position', function () {
    assert.deepEqual(sets([
      'file x.db {',
      '  pattern { P, R DESC }',
      '  { a, b, "first one" }',
      '  { c d }',
      '  {}',
      '}',
    ].join('\n')), [
      ['x.db', 3, [['P', 'a'], ['R', 'b'], ['DESC', '"first one"']]],
      ['x.db', 4, [['P', 'c'], ['R', 'd']]],
      ['x.db', 5, []],
    ]);
  });

  it('applies globals to every later set, also across file blocks; sets override them', function () {
    assert.deepEqual(sets([
      'global { SYS=bl1, P=default }',
      'file a.db {',
      '  { P=p1 }',
      '  global { DLY=2 }',
      '  { }',
      '}',
      'global { SYS=bl2 }',
      'file b.db { pattern {P} global {Q=q} {p3} }',
    ].join('\n')), [
      ['a.db', 3, [['SYS', 'bl1'], ['P', 'p1']]],
      ['a.db', 5, [['SYS', 'bl1'], ['P', 'default'], ['DLY', '2']]],
      ['b.db', 8, [['SYS', 'bl2'], ['P', 'p3'], ['DLY', '2'], ['Q', 'q']]],
    ]);
  });

  it('prepends the macros given by the caller (dbLoadTemplate\'s second argument)', function () {
    assert.deepEqual(sets('file a.db { {A=1} }', { macros: parseMacroDefinitions('TOP=/opt,A=0') }), [
      ['a.db', 1, [['TOP', '/opt'], ['A', '1']]],
    ]);
  });

  it('keeps values raw: quotes, escapes and macro references stay for macLib', function () {
    assert.deepEqual(sets('file a.db { { A="x, y", B=\'$(SYS)\', C="say \\"hi\\"", D=a\\b, E="$(SYS):x" } }'), [
      ['a.db', 1, [['A', '"x, y"'], ['B', "'$(SYS)'"], ['C', '"say \\"hi\\""'], ['D', 'a\\b'], ['E', '"$(SYS):x"']]],
    ]);
    const [set] = parseSubstitutions('global {SYS=bl1}\nfile a.db { { A="x, y", B=\'$(SYS)\', E="$(SYS):x" } }', 's');
    assert.deepEqual([...resolveMacroValues(set.macros, { file: 's', line: 1 })], [
      ['SYS', 'bl1'], ['A', 'x, y'], ['B', '$(SYS)'], ['E', 'bl1:x'],
    ]);
  });

  it('skips comments, CR and empty blocks; an empty file has no sets', function () {
    assert.deepEqual(sets(''), []);
    assert.deepEqual(sets('# nothing\r\n\r\nfile "a.db" { } # no sets\r\nglobal {}\r\n'), []);
    assert.deepEqual(sets('file a.db {\r\n  # a comment { P=x }\r\n  { P=1 } # trailing\r\n}\r\n'), [['a.db', 3, [['P', '1']]]]);
  });

  it('accepts the deprecated `name { ... }` set syntax with a warning', function () {
    const warnings: DbLoadWarning[] = [];
    const result = parseSubstitutions('file a.db {\n  old { P=1 }\n}\nfile b.db { pattern {P} row1 {2} }', 's', {
      onWarning: (w) => warnings.push(w),
    });
    assert.deepEqual(result.map((s) => [s.file, s.line, [...s.macros]]), [['a.db', 2, [['P', '1']]], ['b.db', 4, [['P', '2']]]]);
    assert.deepEqual(warnings.map((w) => [w.code, w.message]), [
      ['DB_WARN_SUBST_DEPRECATED', "s:2:3: deprecated syntax: 'old' before '{' is extraneous and should be removed"],
      ['DB_WARN_SUBST_DEPRECATED', "s:4:25: deprecated syntax: 'row1' before '{' is extraneous and should be removed"],
    ]);
  });

  it('ignores extra pattern values with a warning, as dbLoadTemplate does', function () {
    const warnings: DbLoadWarning[] = [];
    const result = parseSubstitutions('file a.db { pattern {P} {1, 2} }', 's', { onWarning: (w) => warnings.push(w) });
    assert.deepEqual(result.map((s) => [...s.macros]), [[['P', '1']]]);
    assert.deepEqual(warnings.map((w) => w.message), ['s:1:29: too many values: the pattern has 1 names, value "2" ignored']);
  });

  it('reports the column of each set', function () {
    const result = parseSubstitutions('file a.db {\n   {A=1}  {A=2}\n}', 's');
    assert.deepEqual(result.map((s) => [s.line, s.column]), [[2, 4], [2, 11]]);
  });
});

describe('db substitutions: errors', function () {
  it('reports what was expected and what was found, with the position', function () {
    expectError('file a.db { { P } }', 'DB_ERR_SYNTAX', "x.substitutions:1:17: expected '=' after macro name 'P', found '}'");
    expectError('file a.db {\n  { P= }\n}', 'DB_ERR_SYNTAX', "x.substitutions:2:8: expected value for macro 'P', found '}'");
    expectError('file a.db { { P=$(X) } }', 'DB_ERR_SYNTAX', "x.substitutions:1:17: invalid character '$'");
    expectError('file a.db { { P="x } }', 'DB_ERR_BAD_STRING', 'x.substitutions:1:17: closing quote missing at end of file');
    expectError('file a.db { { P="x\n" } }', 'DB_ERR_BAD_STRING', 'x.substitutions:1:17: newline in string, closing quote missing');
    expectError('file a.db { { ,P=1 } }', 'DB_ERR_SYNTAX', "x.substitutions:1:15: expected macro name or '}', found ','");
    expectError('file a.db { { file=1 } }', 'DB_ERR_SYNTAX', "x.substitutions:1:15: expected macro name or '}', found keyword 'file'");
    expectError('file a.db { { "P"=1 } }', 'DB_ERR_SYNTAX', 'x.substitutions:1:15: expected macro name or \'}\', found string "P"');
    expectError('file a.db { { P=1 } pattern {A} }', 'DB_ERR_SYNTAX',
      "x.substitutions:1:21: expected '{', 'global' or '}' in file block, found keyword 'pattern'");
    expectError('file a.db { pattern {A} {1} {2 {3} } }', 'DB_ERR_SYNTAX',
      "x.substitutions:1:32: expected value or '}' in pattern values, found '{'");
    expectError('file a.db { pattern {, A} }', 'DB_ERR_SYNTAX', "x.substitutions:1:22: expected macro name or '}' in pattern, found ','");
    expectError('file a.db { { P=1 }', 'DB_ERR_SYNTAX', "x.substitutions:1:20: expected '{', 'global' or '}' in file block, found end of file");
    expectError('file { {P=1} }', 'DB_ERR_SYNTAX', "x.substitutions:1:6: expected template file name after 'file', found '{'");
    expectError('file a.db P=1', 'DB_ERR_SYNTAX', "x.substitutions:1:11: expected '{' after template file name, found 'P'");
    expectError('\n  {P=1}', 'DB_ERR_SYNTAX', "x.substitutions:2:3: expected 'file' or 'global', found '{'");
    expectError('global P=1', 'DB_ERR_SYNTAX', "x.substitutions:1:8: expected '{' after 'global', found 'P'");
  });
});

describe('db substitutions: loading the sets', function () {
  it('each set loads its template with its macros, globals resolved by macLib', function () {
    const files: Record<string, string> = {
      '/t/motor.db': 'record(motor, "$(SYS):$(M)") {\n  field(DESC, "$(DESC=no description)")\n  field(DLY, "$(DLY)")\n}\n',
    };
    const readFile = (p: string): string => {
      const text = files[p];
      if (text === undefined) throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
      return text;
    };
    const subs = parseSubstitutions([
      'global { SYS=bl1, DLY=1 }',
      'file motor.db {',
      '  pattern { M, DESC }',
      '  { m1, "Slit, top" }',
      '  { m2 }',
      '}',
    ].join('\n'), '/t/motors.substitutions');
    let db = undefined;
    for (const set of subs) {
      db = loadDbFile(`/t/${set.file}`, { macros: set.macros, readFile, into: db });
    }
    assert.ok(db);
    assert.deepEqual([...db.records.values()].map((r) => [r.name, r.fields.get('DESC')!.value, r.fields.get('DLY')!.value]), [
      ['bl1:m1', 'Slit, top', '1'],
      ['bl1:m2', 'no description', '1'],
    ]);
  });
});

describe('db substitutions: properties', function () {
  it('any input gives sets or a DbLoadError, nothing else', function () {
    const pieces = fc.constantFrom('file', 'global', 'pattern', '{', '}', '=', ',', 'P', 'x.db', '"q"', "'s'", '"', '#', '\n', ' ', '$');
    const check = (text: string): void => {
      try {
        parseSubstitutions(text, 's');
      } catch (err) {
        if (!(err instanceof DbLoadError)) throw err;
      }
    };
    fc.assert(fc.property(fc.string({ unit: pieces, maxLength: 40 }), check), { numRuns: 2000 });
    fc.assert(fc.property(fc.string({ maxLength: 200 }), check), { numRuns: 500 });
  });
});
