import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { DbLoadError } from '../../src/database/dbfile/errors';
import {
  expandMacros,
  expandSource,
  parseMacroDefinitions,
  parseMacroPairs,
  resolveMacroValues,
} from '../../src/database/dbfile/macros';
import { DEFINITION_CASES, MACRO_CASES } from './db-macro-cases';
import { expectDbError } from '../helpers/db-errors';

const where = { file: 'test.db', line: 1 };

describe('db macros: parseMacroPairs (macParseDefns)', function () {
  for (const c of DEFINITION_CASES) {
    it(`parses ${JSON.stringify(c.defs)}`, function () {
      const pairs = parseMacroPairs(c.defs).map((p): [string, string | null] => [p.name, p.value]);
      assert.deepEqual(pairs, c.pairs);
    });
  }

  it('parseMacroDefinitions applies pairs in order: later wins, a bare name undefines', function () {
    assert.deepEqual([...parseMacroDefinitions('A=1,B=2,A=3')], [['A', '3'], ['B', '2']]);
    assert.deepEqual([...parseMacroDefinitions('A=1,B=2,A')], [['B', '2']]);
    assert.deepEqual([...parseMacroDefinitions('A,A=')], [['A', '']]);
  });

  it('keeps quotes and escapes in values, to be removed at expansion', function () {
    const defs = parseMacroDefinitions('DESC="Temp, inlet",Q=\'$(X)\',E=a\\,b');
    assert.equal(defs.get('DESC'), '"Temp, inlet"');
    assert.equal(defs.get('Q'), "'$(X)'");
    assert.equal(defs.get('E'), 'a\\,b');
    assert.equal(expandMacros('$(DESC)|$(Q)|$(E)', defs, where), 'Temp, inlet|$(X)|a,b');
  });
});

describe('db macros: expandMacros (macExpandString)', function () {
  for (const c of MACRO_CASES) {
    const label = `${JSON.stringify(c.input)} with ${JSON.stringify(c.defs)}`;
    if ('expect' in c) {
      it(`${label} -> ${JSON.stringify(c.expect)}`, function () {
        assert.equal(expandMacros(c.input, parseMacroDefinitions(c.defs), where), c.expect);
      });
    } else {
      it(`${label} -> ${c.error} ${c.name}`, function () {
        const code = {
          undefined: 'DB_ERR_UNDEFINED_MACRO',
          recursive: 'DB_ERR_RECURSIVE_MACRO',
          bad: 'DB_ERR_BAD_MACRO',
        }[c.error];
        assert.throws(() => expandMacros(c.input, parseMacroDefinitions(c.defs), where), (err: unknown) => {
          assert.ok(err instanceof DbLoadError);
          assert.equal(err.code, code, err.message);
          assert.ok(err.detail.includes(`'${c.name}'`) || err.detail.includes(`$(${c.name}`), err.detail);
          return true;
        });
      });
    }
  }

  it('reports an undefined macro at the column of its $', function () {
    expectDbError(() => expandMacros('ab $(X) cd', new Map(), { file: 'f.db', line: 12 }),
      'DB_ERR_UNDEFINED_MACRO', "f.db:12:4: undefined macro 'X'");
  });

  it('counts columns from where.column and lines across newlines', function () {
    expectDbError(() => expandMacros('ab $(X)', new Map(), { file: 'f.db', line: 3, column: 10 }),
      'DB_ERR_UNDEFINED_MACRO', "f.db:3:13: undefined macro 'X'");
    expectDbError(() => expandMacros('ok\n  ${Y}', new Map(), { file: 'f.db', line: 3, column: 10 }),
      'DB_ERR_UNDEFINED_MACRO', "f.db:4:3: undefined macro 'Y'");
  });

  it('names the macro whose value holds the undefined reference', function () {
    const defs = parseMacroDefinitions('A=x$(B)');
    expectDbError(() => expandMacros('1234$(A)', defs, where),
      'DB_ERR_UNDEFINED_MACRO', "test.db:1:5: undefined macro 'B' (expanding 'A' -> 'B')");
  });

  it('stops recursion with an error naming the cycle', function () {
    const defs = parseMacroDefinitions('A=$(B),B=$(C),C=$(A)');
    expectDbError(() => expandMacros('$(A)', defs, where),
      'DB_ERR_RECURSIVE_MACRO', "test.db:1:1: macro 'A' is recursive (expanding 'A' -> 'B' -> 'C' -> 'A')");
  });

  it('rejects an unterminated reference (macLib would read to the end)', function () {
    expectDbError(() => expandMacros('x $(A', parseMacroDefinitions('A=1'), where),
      'DB_ERR_BAD_MACRO', 'test.db:1:3: unterminated macro reference "$(A": missing \')\'');
  });

  it('does not expand inside single quotes or after a backslash, but does in double quotes', function () {
    const defs = parseMacroDefinitions('P=ioc:');
    assert.equal(expandMacros(`'$(P)' "$(P)" \\$(P) $(P)`, defs, where), `'$(P)' "ioc:" \\$(P) ioc:`);
  });

  it('an undefined macro in an unused default or scoped value is no error', function () {
    const defs = parseMacroDefinitions('A=1');
    assert.equal(expandMacros('$(A=$(NOPE))$(A,X=$(NOPE))', defs, where), '11');
  });

  it('a scoped definition is visible only inside its reference', function () {
    const defs = parseMacroDefinitions('V=$(S=outer)');
    assert.equal(expandMacros('$(V,S=inner) $(V)', defs, where), 'inner outer');
  });
});

describe('db macros: resolveMacroValues', function () {
  it('gives each value as a reference would see it', function () {
    const defs = parseMacroDefinitions('SYS=bl1,P="$(SYS):ai",Q=\'$(SYS)\',W=a\\,b');
    assert.deepEqual([...resolveMacroValues(defs, where)], [
      ['SYS', 'bl1'], ['P', 'bl1:ai'], ['Q', '$(SYS)'], ['W', 'a,b'],
    ]);
  });
});

describe('db macros: expandSource', function () {
  it('maps every expanded character to the source line and column', function () {
    const src = expandSource('a $(X) b\n$(Y)c', parseMacroDefinitions('X=123,Y=z'), 'f.db');
    assert.equal(src.text, 'a 123 b\nzc');
    const at = (i: number) => {
      const pos = src.positionAt(i);
      return `${pos.line}:${pos.column}`;
    };
    assert.deepEqual([0, 2, 3, 4, 5, 6, 7, 8, 9].map(at), ['1:1', '1:3', '1:3', '1:3', '1:7', '1:8', '1:9', '2:1', '2:5']);
    assert.deepEqual(src.problems, []);
  });

  it('keeps going past problems, recording where their text starts', function () {
    const src = expandSource('x $(U) y\n# $(V)', new Map(), 'f.db');
    assert.equal(src.text, 'x $(U) y\n# $(V)');
    assert.deepEqual(src.problems.map((p) => [p.code, p.offset, p.pos.line, p.pos.column]), [
      ['DB_ERR_UNDEFINED_MACRO', 2, 1, 3],
      ['DB_ERR_UNDEFINED_MACRO', 11, 2, 3],
    ]);
  });
});

describe('db macros: properties', function () {
  const pieces = fc.constantFrom('$(', '${', ')', '}', '=', ',', "'", '"', '\\', 'A', 'B', 'x', ' ', '$', '\n');

  it('expansion ends with text or a DbLoadError for any input and definitions, even self-referencing ones', function () {
    fc.assert(fc.property(fc.string({ unit: pieces, maxLength: 30 }), fc.string({ unit: pieces, maxLength: 20 }), (text, defs) => {
      try {
        expandMacros(text, parseMacroDefinitions(defs), where);
      } catch (err) {
        if (!(err instanceof DbLoadError)) throw err;
      }
    }), { numRuns: 3000 });
  });

  it('text without $ expands to itself', function () {
    fc.assert(fc.property(fc.string({ maxLength: 50 }).filter((t) => !t.includes('$')), (text) => {
      assert.equal(expandMacros(text, new Map(), where), text);
    }));
  });
});
