import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import fc from 'fast-check';
import { DbLoadError, DbLoadWarning } from '../../src/database/dbfile/errors';
import { parseMacroDefinitions } from '../../src/database/dbfile/macros';
import {
  DbFieldItem,
  DbRecordStatement,
  DbStatement,
  createDatabase,
  loadDbFile,
  mergeInto,
  parseDbText,
  translateEscapes,
} from '../../src/database/dbfile/parser';
import { expectDbError } from '../helpers/db-errors';

function parse(text: string, macros = '', onWarning?: (w: DbLoadWarning) => void): DbStatement[] {
  return parseDbText(text, { file: 't.db', macros: parseMacroDefinitions(macros), onWarning });
}

function record(text: string, macros = ''): DbRecordStatement {
  const [s] = parse(text, macros);
  assert.equal(s.kind, 'record');
  return s as DbRecordStatement;
}

/** field name -> [kind, value] of a one-record text. */
function fields(text: string, macros = ''): Record<string, [string, string]> {
  const out: Record<string, [string, string]> = {};
  for (const item of record(text, macros).items) {
    if (item.kind === 'field') out[item.name.value] = [item.value.kind, item.value.value];
  }
  return out;
}

function at(pos: { line: number; column: number }): string {
  return `${pos.line}:${pos.column}`;
}

function parseError(text: string, code: string, message: string, macros = ''): DbLoadError {
  return expectDbError(() => parse(text, macros), code, message);
}

function loadText(text: string, macros = '', opts: { recordsOnceOnly?: boolean } = {}) {
  const db = createDatabase();
  mergeInto(db, parse(text, macros), { macros: parseMacroDefinitions(macros), ...opts });
  return db;
}

function loadError(text: string, code: string, message: string, macros = ''): DbLoadError {
  return expectDbError(() => loadText(text, macros), code, message);
}

describe('db parser: records', function () {
  it('parses record(TYPE, NAME) with a body, keeping positions', function () {
    const r = record('record(ai, "temp:1") {\n  field(DESC, "Inlet")\n}\n');
    assert.equal(r.keyword, 'record');
    assert.deepEqual([r.type.value, r.type.quoted, at(r.type.pos)], ['ai', false, '1:8']);
    assert.deepEqual([r.name.value, r.name.quoted, at(r.name.pos)], ['temp:1', true, '1:12']);
    assert.equal(r.hasBody, true);
    assert.equal(at(r.pos), '1:1');
    const f = r.items[0] as DbFieldItem;
    assert.deepEqual([f.kind, at(f.pos), f.name.value, at(f.name.pos), f.value.value, at(f.value.pos)],
      ['field', '2:3', 'DESC', '2:9', 'Inlet', '2:15']);
  });

  it('accepts grecord, an empty body and no body at all', function () {
    const s = parse('grecord(ao, a) {}\nrecord(bo, b)\nrecord(bi, c) record(calc, d) {}');
    assert.deepEqual(s.map((x) => x.kind === 'record' ? [x.keyword, x.name.value, x.hasBody] : x.kind), [
      ['grecord', 'a', true], ['record', 'b', false], ['record', 'c', false], ['record', 'd', true],
    ]);
  });

  it('reads barewords with every bareword character', function () {
    const r = record('record(ai, a-b+c:d.e[1]<x>;_Z9)');
    assert.equal(r.name.value, 'a-b+c:d.e[1]<x>;_Z9');
  });

  it('keeps escapes untouched in names', function () {
    assert.equal(record('record(ai, "a\\"b")').name.value, 'a\\"b');
  });

  it('skips comments, CR LF line ends and a byte order mark', function () {
    const s = parse('\ufeff# header $(not expanded? yes, but in a comment)\r\nrecord(ai, x) # trailing\r\n{ # open\r\n field(A, 1) # c\r\n}\r\n');
    assert.equal(s.length, 1);
    const r = s[0] as DbRecordStatement;
    assert.equal(at(r.pos), '2:1');
    assert.deepEqual(fields('record(ai,x){field(A,1)#c\r\n}'), { A: ['number', '1'] });
  });

  it('parses info items and aliases inside a record', function () {
    const r = record('record(ai, x) { info(Q:group, {"g": {"+id": "x"}}) info(autosaveFields, "VAL EGU") alias("x:alias") }');
    assert.deepEqual(r.items.map((i) => {
      if (i.kind === 'info') return ['info', i.name.value, i.value.value];
      if (i.kind === 'alias') return ['alias', i.alias.value, at(i.alias.pos)];
      return [i.kind];
    }), [
      ['info', 'Q:group', '{"g":{"+id":"x"}}'],
      ['info', 'autosaveFields', 'VAL EGU'],
      ['alias', 'x:alias', '1:90'],
    ]);
  });

  it('parses top-level alias, include, path and addpath', function () {
    const s = parse('alias(rec, "other")\ninclude "common.db"\ninclude plain.db\npath "a:b"\naddpath c');
    assert.deepEqual(s.map((x) => {
      switch (x.kind) {
        case 'alias': return ['alias', x.record.value, x.alias.value, at(x.alias.pos)];
        case 'include': return ['include', x.file.value, x.file.quoted];
        case 'path': case 'addpath': return [x.kind, x.path.value];
        default: return [x.kind];
      }
    }), [
      ['alias', 'rec', 'other', '1:12'],
      ['include', 'common.db', true],
      ['include', 'plain.db', false],
      ['path', 'a:b'],
      ['addpath', 'c'],
    ]);
  });

  it('allows include inside a record body', function () {
    const r = record('record(ai, x) { include "fields.db" field(A, 1) }');
    assert.deepEqual(r.items.map((i) => i.kind), ['include', 'field']);
  });

  it('parses .dbd definitions so that dbLoadRecords-legal files load', function () {
    const s = parse([
      'menu(m) { choice(mA, "A") include "more.dbd" }',
      'recordtype(r) {',
      '%#include "epicsTypes.h"',
      '  field(VAL, DBF_DOUBLE) { prompt("Value") menu(m) special(SPC_NOMOD) }',
      '  include "common.dbd"',
      '}',
      'breaktable(t) { 1 2, 3 4 }',
      'device(ai, CONSTANT, devAiSoft, "Soft Channel")',
      'driver(drvX) registrar(regX) function(fnX) variable(v) variable(w, double) link(calc, lsetCalc)',
    ].join('\n'));
    assert.deepEqual(s.map((x) => x.kind === 'dbd' ? [x.keyword, ...x.args.map((a) => a.value)] : x.kind), [
      ['menu', 'm'], ['recordtype', 'r'], ['breaktable', 't'], ['device', 'ai', 'CONSTANT', 'devAiSoft', 'Soft Channel'],
      ['driver', 'drvX'], ['registrar', 'regX'], ['function', 'fnX'], ['variable', 'v'], ['variable', 'w', 'double'],
      ['link', 'calc', 'lsetCalc'],
    ]);
  });
});

describe('db parser: field values', function () {
  it('translates escapes in quoted values as dbTranslateEscape does', function () {
    assert.deepEqual(fields('record(ai,x){field(A,"a\\tb\\n\\"q\\" \\\\ \\x41\\x4a\\u00e9 \\q") field(B,"cut\\0here")}'), {
      A: ['string', 'a\tb\n"q" \\ AJ\u00e9 q'],
      B: ['string', 'cut'],
    });
    assert.equal(translateEscapes('\\a\\b\\f\\r\\v\\\'\\x4\\xg'), '\x07\b\f\r\v\'\x04g');
  });

  it('accepts single-quoted values (EPICS 7 JSON strings)', function () {
    assert.deepEqual(fields(`record(ai,x){field(A,'say "hi"') field(B, "it's")}`), {
      A: ['string', 'say "hi"'],
      B: ['string', "it's"],
    });
  });

  it('classifies bare values as the JSON lexer does', function () {
    assert.deepEqual(fields('record(ai,x){field(A,1) field(B,-2.5e3) field(C,0x1F) field(D,NaN) field(E,-Infinity)' +
      ' field(F,.5) field(G,1.) field(H,01) field(I,abc) field(J,null) field(K,true) field(L,1.5.6) field(M,+)' +
      ' field(N,Passive) field(O,"")}'), {
      A: ['number', '1'], B: ['number', '-2.5e3'], C: ['number', '0x1F'], D: ['number', 'NaN'],
      E: ['number', '-Infinity'], F: ['number', '.5'], G: ['number', '1.'], H: ['bare', '01'],
      I: ['bare', 'abc'], J: ['literal', 'null'], K: ['literal', 'true'], L: ['bare', '1.5.6'],
      M: ['bare', '+'], N: ['bare', 'Passive'], O: ['string', ''],
    });
  });

  it('keeps JSON objects and arrays as JSON text', function () {
    assert.deepEqual(fields([
      'record(ai,x){',
      '  field(INP, {const: 1.5})',
      '  field(OUT, {"pva": {"pv": "a:b", "field": \'value\', proc: true,}})',
      '  field(X, [1, "two", [], {}, null])',
      '  field(Y, ["one",])',
      '  field(Z, {a: "q\\"\\t", "b-c": -1, # comment inside a JSON value',
      '            c: [0x10]})',
      '}',
    ].join('\n')), {
      INP: ['object', '{"const":1.5}'],
      OUT: ['object', '{"pva":{"pv":"a:b","field":"value","proc":true}}'],
      X: ['array', '[1,"two",[],{},null]'],
      Y: ['array', '["one",]'],
      Z: ['object', '{"a":"q\\"\\t","b-c":-1,"c":[0x10]}'],
    });
  });

  it('expands macros in quoted and bare values and names, before lexing', function () {
    const r = record('record(ai, $(P)temp) {\n  field(DESC, "$(D)")\n  field(SCAN, $(S))\n  field(INP, {pv: "$(P)x"})\n}',
      'P=ioc:,D="Inlet, top",S=Passive');
    assert.equal(r.name.value, 'ioc:temp');
    assert.equal(at(r.name.pos), '1:12');
    assert.deepEqual(r.items.map((i) => i.kind === 'field' ? [i.name.value, i.value.value, at(i.value.pos)] : []), [
      ['DESC', 'Inlet, top', '2:15'],
      ['SCAN', 'Passive', '3:15'],
      ['INP', '{"pv":"ioc:x"}', '4:14'],
    ]);
  });

  it('a token that starts inside a macro expansion points at the $', function () {
    const r = record('record(ai, x) {  field(A, $(V)) }', 'V=  "v"');
    const f = r.items[0] as DbFieldItem;
    assert.deepEqual([f.value.value, at(f.value.pos)], ['v', '1:27']);
  });

  it('does not expand macros in single-quoted values', function () {
    assert.deepEqual(fields("record(ai,x){field(A,'$(P)')}", 'P=1'), { A: ['string', '$(P)'] });
  });

  it('forgives undefined macros in comments, with a warning', function () {
    const warnings: DbLoadWarning[] = [];
    const s = parse('# $(UNDEFINED) here\nrecord(ai, x) { field(A, 1) # and ${ALSO}\n}', '', (w) => warnings.push(w));
    assert.equal(s.length, 1);
    assert.deepEqual(warnings.map((w) => [w.code, w.message]), [
      ['DB_WARN_MACRO_IN_COMMENT', "t.db:1:3: undefined macro 'UNDEFINED' (in a comment)"],
      ['DB_WARN_MACRO_IN_COMMENT', "t.db:2:35: undefined macro 'ALSO' (in a comment)"],
    ]);
  });
});

describe('db parser: errors, with their positions', function () {
  it('reports what was expected and what was found', function () {
    parseError('record(ai, x) {\n    field(VAL, "a" {', 'DB_ERR_SYNTAX', "t.db:2:20: expected ')' after field value, found '{'");
  });

  it('record head errors', function () {
    parseError('record ai, x)', 'DB_ERR_SYNTAX', "t.db:1:8: expected '(' after 'record', found 'ai'");
    parseError('record(, x)', 'DB_ERR_SYNTAX', "t.db:1:8: expected record type, found ','");
    parseError('record(ai x)', 'DB_ERR_SYNTAX', "t.db:1:11: expected ',' after record type, found 'x'");
    parseError('record(ai, field)', 'DB_ERR_SYNTAX', "t.db:1:12: expected record name, found keyword 'field'");
    parseError('record(ai, "x" "y")', 'DB_ERR_SYNTAX', 't.db:1:16: expected \')\' after record name, found string "y"');
    parseError('grecord(ai, x', 'DB_ERR_SYNTAX', "t.db:1:14: expected ')' after record name, found end of file");
  });

  it('record body errors', function () {
    parseError('record(ai, x) {\n  VAL(1)\n}', 'DB_ERR_SYNTAX',
      "t.db:2:3: expected field, info, alias, include or '}' in record body, found 'VAL'");
    parseError('record(ai, x) {\n  field(A, 1)\n', 'DB_ERR_SYNTAX',
      't.db:3:1: expected \'}\' to close the body of record "x" opened at line 1, found end of file');
    parseError('record(ai, x) { field A, 1) }', 'DB_ERR_SYNTAX', "t.db:1:23: expected '(' after 'field', found 'A'");
    parseError('record(ai, x) { field(A 1) }', 'DB_ERR_SYNTAX', "t.db:1:25: expected ',' after field name, found '1'");
    parseError('record(ai, x) { field(A, ) }', 'DB_ERR_SYNTAX', "t.db:1:26: expected field value, found ')'");
    parseError('record(ai, x) { info(A, ) }', 'DB_ERR_SYNTAX', "t.db:1:25: expected info value, found ')'");
    parseError('record(ai, x) { field(A, 1 2) }', 'DB_ERR_SYNTAX', "t.db:1:28: expected ')' after field value, found '2'");
    parseError('record(ai, x) { alias(a, b) }', 'DB_ERR_SYNTAX', "t.db:1:24: expected ')' after alias name, found ','");
  });

  it('a bare value with ":" fails as in EPICS 7, with a hint', function () {
    parseError('record(ai, x) { field(INP, a:b) }', 'DB_ERR_SYNTAX',
      "t.db:1:29: expected ')' after field value, found ':b' " +
      '(an unquoted value may only contain letters, digits and _ - + .)');
  });

  it('top-level errors', function () {
    parseError('\n  foo', 'DB_ERR_SYNTAX', "t.db:2:3: expected record, grecord, alias, include, path or addpath, found 'foo'");
    parseError('field(A, 1)', 'DB_ERR_SYNTAX',
      "t.db:1:1: expected record, grecord, alias, include, path or addpath, found keyword 'field'");
    parseError('{}', 'DB_ERR_SYNTAX', "t.db:1:1: expected record, grecord, alias, include, path or addpath, found '{'");
    parseError('include', 'DB_ERR_SYNTAX', "t.db:1:8: expected file name after 'include', found end of file");
    parseError('alias(a)', 'DB_ERR_SYNTAX', "t.db:1:8: expected ',' after record name, found ')'");
  });

  it('invalid characters', function () {
    parseError("record(ai, 'x')", 'DB_ERR_SYNTAX', 't.db:1:12: invalid character "\'"');
    parseError('record(ai, x) {\n  field(A, 1)\n  =', 'DB_ERR_SYNTAX', "t.db:3:3: invalid character '='");
    parseError('record(ai, $x)', 'DB_ERR_SYNTAX', "t.db:1:12: invalid character '$'");
    parseError('record(ai, x) { field(A, @x) }', 'DB_ERR_SYNTAX', "t.db:1:26: invalid character '@'");
    parseError('record(ai, x\x01)', 'DB_ERR_SYNTAX', 't.db:1:13: invalid character 0x01');
  });

  it('string errors point at the opening quote or the bad character', function () {
    parseError('record(ai, "x\n")', 'DB_ERR_BAD_STRING', 't.db:1:12: newline in string, closing quote missing');
    parseError('record(ai, x) { field(A, "abc)\n}', 'DB_ERR_BAD_STRING', 't.db:1:26: newline in string, closing quote missing');
    parseError('record(ai, x) { field(A, "abc', 'DB_ERR_BAD_STRING', 't.db:1:26: closing quote missing at end of file');
    parseError('record(ai, x) { field(A, "a\tb") }', 'DB_ERR_BAD_STRING', 't.db:1:28: bad character 0x09 in JSON string');
    parseError('record(ai, x) { field(A, "a\\x4") }', 'DB_ERR_BAD_STRING',
      "t.db:1:28: bad escape '\\x' in JSON string: needs 2 hex digits");
    parseError('record(ai, x) { field(A, "\\u12") }', 'DB_ERR_BAD_STRING',
      "t.db:1:27: bad escape '\\u' in JSON string: needs 4 hex digits");
    parseError('record(ai, x) { field(A, "\\101") }', 'DB_ERR_BAD_STRING', "t.db:1:27: bad escape '\\1' in JSON string");
  });

  it('JSON value errors', function () {
    parseError('record(ai, x) { field(A, {a 1}) }', 'DB_ERR_BAD_JSON', "t.db:1:29: expected ':' after JSON object key, found '1'");
    parseError('record(ai, x) { field(A, {,}) }', 'DB_ERR_BAD_JSON', "t.db:1:27: expected JSON object key or '}', found ','");
    parseError('record(ai, x) { field(A, {1: 2}) }', 'DB_ERR_BAD_JSON', "t.db:1:27: expected JSON object key or '}', found '1'");
    parseError('record(ai, x) { field(A, {a: 1 b: 2}) }', 'DB_ERR_BAD_JSON', "t.db:1:32: expected ',' or '}' in JSON object, found 'b'");
    parseError('record(ai, x) { field(A, [1 2]) }', 'DB_ERR_BAD_JSON', "t.db:1:29: expected ',' or ']' in JSON array, found '2'");
    parseError('record(ai, x) { field(A, [,]) }', 'DB_ERR_BAD_JSON', "t.db:1:27: expected JSON value, found ','");
    parseError('record(ai, x) { field(A, {a: }) }', 'DB_ERR_BAD_JSON', "t.db:1:30: expected JSON value, found '}'");
    parseError('record(ai, x) { field(A, [1,\n', 'DB_ERR_BAD_JSON', 't.db:2:1: expected JSON value, found end of file');
    const deep = `${'['.repeat(70)}${']'.repeat(70)}`;
    parseError(`record(ai, x) { field(A, ${deep}) }`, 'DB_ERR_BAD_JSON', 't.db:1:90: JSON value nested more than 64 levels deep');
  });

  it('macro errors point at the $ of the reference', function () {
    parseError('record(ai, x) {\n  field(DESC, "$(WHAT) is $(THIS)")\n}', 'DB_ERR_UNDEFINED_MACRO',
      "t.db:2:16: undefined macro 'WHAT'", '');
    parseError('record(ai, $(P)x)', 'DB_ERR_UNDEFINED_MACRO', "t.db:1:12: undefined macro 'P'");
    parseError('record(ai, x) { field(A, "$(R)") }', 'DB_ERR_RECURSIVE_MACRO',
      "t.db:1:27: macro 'R' is recursive (expanding 'R' -> 'R')", 'R=$(R)');
    parseError('record(ai, "x") # ok\nrecord(ai, $(P', 'DB_ERR_BAD_MACRO',
      't.db:2:12: unterminated macro reference "$(P": missing \')\'', 'P=1');
    // Terminators count even inside quotes, as in macLib: `"$(P") ` reads as
    // `"$(P) `, which takes the string's closing quote; that is what is said.
    parseError('record(ai, "$(P") ', 'DB_ERR_BAD_MACRO', 't.db:1:13: unterminated macro reference "$(P": missing \')\' before the quote', 'P=1');
    parseError('record(ai, "a:x") {\n  field(DESC, "$(P")\n}\n', 'DB_ERR_BAD_MACRO',
      't.db:2:16: unterminated macro reference "$(P": missing \')\' before the quote', 'P=1');
    parseError('record(ai, "${P") {}\n', 'DB_ERR_BAD_MACRO', 't.db:1:13: unterminated macro reference "${P": missing \'}\' before the quote', 'P=1');
    // A string left open without any macro is still just that.
    parseError('record(ai, "abc) {}\n', 'DB_ERR_BAD_STRING', 't.db:1:12: newline in string, closing quote missing');
  });

  it('.dbd definition errors', function () {
    parseError('menu(m) {}', 'DB_ERR_SYNTAX', "t.db:1:10: expected choice or include in menu, found '}'");
    parseError('device(ai, CONSTANT)', 'DB_ERR_SYNTAX', "t.db:1:20: expected ',' in device(), found ')'");
    parseError('variable(a, b, c)', 'DB_ERR_SYNTAX', "t.db:1:14: expected ')' in variable(), found ','");
    parseError('recordtype(r) { field(A, DBF_LONG) {} }', 'DB_ERR_SYNTAX',
      "t.db:1:37: expected field attribute, found '}'");
    parseError('breaktable(t) { , 1 }', 'DB_ERR_SYNTAX', "t.db:1:17: expected breaktable value, found ','");
    parseError('record(ai, x) %oops', 'DB_ERR_SYNTAX',
      "t.db:1:15: expected record, grecord, alias, include, path or addpath, found '%oops'");
  });
});

describe('db loader: merging records', function () {
  it('builds records with fields, info and aliases', function () {
    const db = loadText([
      'record(ai, "$(P)t") {',
      '  field(DESC, "Temperature")',
      '  field(EGU, degC)',
      '  info(autosaveFields, "VAL")',
      '  alias("$(P)temp")',
      '}',
      'alias("$(P)t", "$(P)T")',
    ].join('\n'), 'P=ioc:');
    const rec = db.records.get('ioc:t');
    assert.ok(rec);
    assert.deepEqual([rec.name, rec.type, rec.file, rec.line, rec.column], ['ioc:t', 'ai', 't.db', 1, 1]);
    assert.deepEqual([...rec.fields].map(([k, v]) => [k, v.value, `${v.line}:${v.column}`]), [
      ['DESC', 'Temperature', '2:15'],
      ['EGU', 'degC', '3:14'],
    ]);
    assert.deepEqual([...rec.info], [['autosaveFields', 'VAL']]);
    assert.deepEqual(rec.aliases, ['ioc:temp', 'ioc:T']);
    assert.deepEqual([...db.aliases], [['ioc:temp', 'ioc:t'], ['ioc:T', 'ioc:t']]);
  });

  it('keeps field names as written (EPICS field names are case-sensitive)', function () {
    const db = loadText('record(ai, x) { field(desc, "a") field(DESC, "b") }');
    assert.deepEqual([...db.records.get('x')!.fields.keys()], ['desc', 'DESC']);
  });

  it('a second definition with the same type adds to the record (dbRecordHead)', function () {
    const db = loadText('record(ai, x) { field(A, 1) field(B, 2) }\nrecord(ai, x) { field(B, 3) field(C, 4) }\nrecord(ai, x)');
    const rec = db.records.get('x')!;
    assert.deepEqual([...rec.fields].map(([k, v]) => [k, v.value, v.line]), [['A', '1', 1], ['B', '3', 2], ['C', '4', 2]]);
    assert.equal(rec.line, 1);
    assert.equal(db.records.size, 1);
  });

  it('a second definition with another type is an error', function () {
    loadError('record(ai, x)\n\nrecord(bo, x) { field(A, 1) }', 'DB_ERR_RECORD_TYPE_CHANGE',
      't.db:3:8: record "x" already exists as type \'ai\' (t.db:1:1), can\'t load it as type \'bo\'');
  });

  it('with recordsOnceOnly a second definition is an error', function () {
    expectDbError(() => loadText('record(ai, x)\nrecord(ai, x)', '', { recordsOnceOnly: true }), 'DB_ERR_DUPLICATE_RECORD',
      't.db:2:12: record "x" is already defined (t.db:1:1) and records may be defined only once: use record("*", NAME) to add fields to it');
  });

  it('record("*", NAME) adds to an existing record and fails for a missing one', function () {
    const db = loadText('record(ai, x) { field(A, 1) }\nrecord("*", x) { field(B, 2) }');
    assert.deepEqual([...db.records.get('x')!.fields.keys()], ['A', 'B']);
    assert.equal(db.records.get('x')!.type, 'ai');
    loadError('record("*", y) { field(B, 2) }', 'DB_ERR_RECORD_NOT_FOUND',
      't.db:1:13: record "y" not found; record("*", ...) can only add to an existing record');
  });

  it('record("#", NAME) deletes a record and its aliases; a missing one only warns', function () {
    const db = loadText('record(ai, x) { alias(x2) }\nrecord(ai, y)\nrecord("#", x) { field(IGNORED, 1) }\nrecord("#", z)');
    assert.deepEqual([...db.records.keys()], ['y']);
    assert.deepEqual([...db.aliases], []);
    assert.deepEqual(db.warnings.map((w) => w.message), ['t.db:4:13: record "z" not found, can\'t delete']);
  });

  it('validates record names as dbRecordNameValidate does', function () {
    loadError('record(ai, "")', 'DB_ERR_BAD_RECORD_NAME', "t.db:1:12: record name can't be empty");
    loadError('record(ai, "a b")', 'DB_ERR_BAD_RECORD_NAME', 't.db:1:12: bad character \' \' in record name "a b"');
    loadError('record(ai, "a\tb")', 'DB_ERR_BAD_RECORD_NAME', 't.db:1:12: bad character 0x09 in record name "a\\tb"');
    loadError('\nrecord(ai, a.VAL)', 'DB_ERR_BAD_RECORD_NAME', 't.db:2:12: bad character \'.\' in record name "a.VAL"');
    loadError('record(ai, "a$b")', 'DB_ERR_BAD_RECORD_NAME', 't.db:1:12: bad character \'$\' in record name "a$b"');
    loadError('record(ai, "a\\"b")', 'DB_ERR_BAD_RECORD_NAME', 't.db:1:12: bad character \'"\' in record name "a\\\\\\"b"');
    loadError('record(ai, "a\'b")', 'DB_ERR_BAD_RECORD_NAME', 't.db:1:12: bad character "\'" in record name "a\'b"');
    loadError('record("", x)', 'DB_ERR_BAD_RECORD_TYPE', 't.db:1:8: record type of "x" can\'t be empty');
  });

  it('allows 60 bytes in a record name, not 61', function () {
    const ok = 'n'.repeat(60);
    assert.ok(loadText(`record(ai, ${ok})`).records.has(ok));
    const long = 'n'.repeat(61);
    loadError(`record(ai, ${long})`, 'DB_ERR_BAD_RECORD_NAME',
      `t.db:1:12: record name "${'n'.repeat(40)}..." is 61 bytes long; at most 60 are allowed`);
    loadError(`record(ai, "${'\u00e9'.repeat(31)}")`, 'DB_ERR_BAD_RECORD_NAME',
      `t.db:1:12: record name "${'\u00e9'.repeat(31)}" is 62 bytes long; at most 60 are allowed`);
  });

  it('warns about names dbStatic warns about', function () {
    const db = loadText('record(ai, "-x")\nrecord(ai, "+y") { alias("[z") }');
    assert.deepEqual(db.warnings.map((w) => [w.code, w.message]), [
      ['DB_WARN_RECORD_NAME', 't.db:1:12: record name "-x" should not begin with \'-\''],
      ['DB_WARN_RECORD_NAME', 't.db:2:12: record name "+y" should not begin with \'+\''],
      ['DB_WARN_RECORD_NAME', 't.db:2:26: alias name "[z" should not begin with \'[\''],
    ]);
  });

  it('NAME can not be set; field and info names can not be empty', function () {
    loadError('record(ai, x) { field(NAME, y) }', 'DB_ERR_BAD_FIELD', 't.db:1:23: can\'t set the NAME field of record "x"');
    loadError('record(ai, x) { field("", y) }', 'DB_ERR_BAD_FIELD', 't.db:1:23: field name can\'t be empty (record "x")');
    loadError('record(ai, x) { info("", y) }', 'DB_ERR_BAD_INFO', 't.db:1:22: info item name can\'t be empty (record "x")');
  });

  it('aliases must not collide with records or other records\' aliases', function () {
    loadError('record(ai, x)\nrecord(ai, y) { alias(x) }', 'DB_ERR_ALIAS_CONFLICT',
      't.db:2:23: alias "x" for record "y" is already a record name');
    loadError('record(ai, x) { alias(x) }', 'DB_ERR_ALIAS_CONFLICT', 't.db:1:23: alias "x" for record "x" is already a record name');
    loadError('record(ai, x) { alias(a) }\nrecord(ai, y)\nalias(y, a)', 'DB_ERR_ALIAS_CONFLICT',
      't.db:3:10: alias "a" for record "y" already aliases "x"');
    loadError('alias(nope, a)', 'DB_ERR_RECORD_NOT_FOUND', 't.db:1:7: alias "a" names an unknown record "nope"');
    loadError('record(ai, x)\nalias(x, "b c")', 'DB_ERR_BAD_RECORD_NAME', 't.db:2:10: bad character \' \' in alias name "b c"');
  });

  it('the same alias twice for one record is fine; aliases of aliases reach the record', function () {
    const db = loadText('record(ai, x) { alias(a) }\nalias(x, a)\nalias(a, b)\nrecord(ai, b) { field(F, 1) }\nrecord("*", a) { field(G, 2) }');
    assert.deepEqual([...db.aliases], [['a', 'x'], ['b', 'x']]);
    assert.deepEqual([...db.records.keys()], ['x']);
    assert.deepEqual([...db.records.get('x')!.fields.keys()], ['F', 'G']);
    loadError('record(ai, x) { alias(a) }\nrecord(bo, a)', 'DB_ERR_RECORD_TYPE_CHANGE',
      't.db:2:8: record "a" already exists as type \'ai\' (t.db:1:1), can\'t load it as type \'bo\'');
  });

  it('ignores .dbd definitions with a warning', function () {
    const db = loadText('menu(m) { choice(a, "A") }\nrecord(ai, x)\ndevice(ai, CONSTANT, devX, "X")');
    assert.deepEqual([...db.records.keys()], ['x']);
    assert.deepEqual(db.warnings.map((w) => [w.code, `${w.line}:${w.column}`, w.detail.split(' ignored')[0]]), [
      ['DB_WARN_DBD_IGNORED', '1:1', 'menu(m)'],
      ['DB_WARN_DBD_IGNORED', '3:1', 'device(ai, CONSTANT, devX, X)'],
    ]);
  });

  it('mergeInto is all or nothing', function () {
    const db = loadText('record(ai, x) { field(A, 1) }');
    const before = JSON.stringify([...db.records.get('x')!.fields]);
    expectDbError(() => mergeInto(db, parse('record(ai, x) { field(A, 2) }\nrecord(ai, y)\nrecord(bo, x)')),
      'DB_ERR_RECORD_TYPE_CHANGE', 't.db:3:8: record "x" already exists as type \'ai\' (t.db:1:1), can\'t load it as type \'bo\'');
    assert.deepEqual([...db.records.keys()], ['x']);
    assert.equal(JSON.stringify([...db.records.get('x')!.fields]), before);
  });
});

describe('db loader: loading into a database', function () {
  const files: Record<string, string> = {};
  const readFile = (p: string): string => {
    const text = files[p];
    if (text === undefined) throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
    return text;
  };
  const load = (name: string, text: string, into = createDatabase()) => {
    files[`/v/${name}`] = text;
    return loadDbFile(`/v/${name}`, { into, readFile });
  };
  const snapshot = (db: ReturnType<typeof createDatabase>) =>
    JSON.stringify([[...db.records].map(([k, r]) => [k, [...r.fields], [...r.info], r.aliases]), [...db.aliases], db.warnings]);

  it('gives the order loading straight into the database would give', function () {
    const db = load('base.db', 'record(ai, a)\nrecord(ai, b) { field(A, 1) alias(b1) }\nrecord(ai, c)\nalias(c, c1)\n');
    load('more.db', 'record("#", a)\nrecord(ai, d)\nrecord(ai, a)\nrecord("*", b) { field(B, 2) field(A, 3) alias(b2) }\n' +
      'alias(c, c2)\n', db);
    assert.deepEqual([...db.records.keys()], ['b', 'c', 'd', 'a']);
    assert.deepEqual([...db.aliases], [['b1', 'b'], ['c1', 'c'], ['b2', 'b'], ['c2', 'c']]);
    const b = db.records.get('b')!;
    assert.deepEqual([...b.fields].map(([k, v]) => [k, v.value, `${v.file}:${v.line}:${v.column}`]), [
      ['A', '3', '/v/more.db:4:39'], ['B', '2', '/v/more.db:4:27'],
    ]);
    assert.deepEqual(b.aliases, ['b1', 'b2']);
  });

  it('a failed load changes none of the records it touched', function () {
    const db = load('base.db', 'record(ai, a) { field(A, 1) info(i, 1) }\nrecord(ai, b) { alias(b1) }\n');
    const before = snapshot(db);
    expectDbError(() => load('bad.db', 'record("*", a) { field(A, 2) field(B, 3) info(i, 2) alias(a1) }\nrecord("#", b)\n' +
      'record(ai, c)\nrecord(bo, a)\n', db), 'DB_ERR_RECORD_TYPE_CHANGE',
      "/v/bad.db:4:8: record \"a\" already exists as type 'ai' (/v/base.db:1:1), can't load it as type 'bo'");
    assert.equal(snapshot(db), before);
  });

  it('a failed first load leaves the database empty', function () {
    const db = createDatabase();
    expectDbError(() => load('bad.db', 'record(ai, a) { alias(a1) }\nrecord(bo, a)\n', db), 'DB_ERR_RECORD_TYPE_CHANGE',
      "/v/bad.db:2:8: record \"a\" already exists as type 'ai' (/v/bad.db:1:1), can't load it as type 'bo'");
    assert.equal(snapshot(db), snapshot(createDatabase()));
  });

  it('a syntax error wins over a merge error before it, as if the whole file were parsed first', function () {
    expectDbError(() => load('bad.db', 'alias(x, w)\nrecord(ai, y)\nrecord(\n'), 'DB_ERR_SYNTAX',
      '/v/bad.db:4:1: expected record type, found end of file');
  });

  it("a file's parse warnings come before the warnings of merging it", function () {
    const db = load('w.db', 'record("#", gone)\n# $(U)\nrecord(ai, "-x")\n');
    assert.deepEqual(db.warnings.map((w) => [w.code, `${w.line}:${w.column}`]), [
      ['DB_WARN_MACRO_IN_COMMENT', '2:3'], ['DB_WARN_DELETE_MISSING', '1:13'], ['DB_WARN_RECORD_NAME', '3:12'],
    ]);
  });

  it('fields read as a Map: in order of first setting, the last value winning', function () {
    const db = load('f.db', 'record(ai, x) { field(A, 1) field(B, 2) }\nrecord(ai, x) { field(A, 3) }\n');
    const fields = db.records.get('x')!.fields;
    assert.deepEqual([fields.size, fields.has('A'), fields.has('C'), fields.get('C')], [2, true, false, undefined]);
    assert.deepEqual([...fields.keys()], ['A', 'B']);
    assert.deepEqual([...fields.values()].map((f) => [f.value, f.line, f.column]), [['3', 2, 26], ['2', 1, 38]]);
    const seen: string[] = [];
    fields.forEach((f, name) => seen.push(`${name}=${f.value}`));
    assert.deepEqual(seen, ['A=3', 'B=2']);
  });
});

describe('db loader: files and includes', function () {
  let dir: string;

  function write(rel: string, text: string): string {
    const p = path.join(dir, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, text);
    return p;
  }

  beforeEach(function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'db-parser-'));
  });

  afterEach(function () {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('loads a file with macros, following includes relative to the including file', function () {
    write('sub/inner.db', 'record(bo, "$(P)inner") { field(ZNAM, Off) }\n');
    write('sub/common.db', 'include "inner.db"\nrecord(ai, "$(P)common")\n');
    const main = write('main.db', 'include "sub/common.db"\nrecord(ai, "$(P)main")\n');
    const db = loadDbFile(main, { macros: parseMacroDefinitions('P=bl:') });
    assert.deepEqual([...db.records.keys()], ['bl:inner', 'bl:common', 'bl:main']);
    const inner = db.records.get('bl:inner')!;
    assert.equal(inner.file, path.join(dir, 'sub', 'inner.db'));
    assert.equal(inner.fields.get('ZNAM')!.file, path.join(dir, 'sub', 'inner.db'));
  });

  it('an include inside a record body adds items to that record', function () {
    write('fields.db', '# shared fields\nfield(EGU, "mm")\ninfo(i, "$(V)")\nalias("$(N)_alias")\n');
    const main = write('main.db', 'record(ao, m) {\n  field(DESC, "x")\n  include "fields.db"\n  field(PREC, 3)\n}\n');
    const db = loadDbFile(main, { macros: parseMacroDefinitions('V=1,N=m') });
    const rec = db.records.get('m')!;
    assert.deepEqual([...rec.fields.keys()], ['DESC', 'EGU', 'PREC']);
    assert.deepEqual([...rec.info], [['i', '1']]);
    assert.deepEqual([...db.aliases], [['m_alias', 'm']]);
  });

  it('an error in an included file names that file and its position', function () {
    write('bad.db', 'record(ai, ok)\nrecord(ai, x) { field(A, $(NOPE)) }\n');
    const main = write('main.db', 'include "bad.db"\n');
    expectDbError(() => loadDbFile(main), 'DB_ERR_UNDEFINED_MACRO', `${path.join(dir, 'bad.db')}:2:26: undefined macro 'NOPE'`);
    write('badbody.db', 'field(A, 1)\nrecord(ai, y)\n');
    const main2 = write('main2.db', 'record(ai, x) {\n  include "badbody.db"\n}\n');
    expectDbError(() => loadDbFile(main2), 'DB_ERR_SYNTAX',
      `${path.join(dir, 'badbody.db')}:2:1: expected field, info, alias or include in a file included in a record body, ` +
      "found keyword 'record'");
  });

  it('a missing include is an error at the file name', function () {
    const main = write('main.db', 'record(ai, x)\n  include "nope.db"\n');
    expectDbError(() => loadDbFile(main), 'DB_ERR_INCLUDE_NOT_FOUND',
      `${main}:2:11: include file "nope.db" not found (tried ${path.join(dir, 'nope.db')})`);
  });

  it('searches includePath, then path/addpath directories, before the file\'s own directory', function () {
    write('lib1/x.db', 'record(ai, from_lib1)\n');
    write('lib2/x.db', 'record(ai, from_lib2)\n');
    write('lib2/y.db', 'record(ai, y_from_lib2)\n');
    write('x.db', 'record(ai, from_own_dir)\n');
    write('y.db', 'record(ai, y_own)\n');
    const main = write('main.db', 'include "x.db"\n');
    assert.deepEqual([...loadDbFile(main).records.keys()], ['from_own_dir']);
    assert.deepEqual([...loadDbFile(main, { includePath: [path.join(dir, 'lib1')] }).records.keys()], ['from_lib1']);
    const withPath = write('main2.db', 'path "lib2"\ninclude "x.db"\npath "lib1:lib2"\ninclude "x.db"\ninclude y.db\n');
    assert.deepEqual([...loadDbFile(withPath).records.keys()], ['from_lib2', 'from_lib1', 'y_from_lib2']);
    const withAddpath = write('main3.db', 'path lib1\naddpath " lib2 "\ninclude y.db\n');
    assert.deepEqual([...loadDbFile(withAddpath).records.keys()], ['y_from_lib2']);
  });

  it('a file that includes itself is an error, not a hang', function () {
    const a = write('a.db', 'include "b.db"\n');
    write('b.db', 'record(ai, x)\ninclude "a.db"\n');
    expectDbError(() => loadDbFile(a), 'DB_ERR_INCLUDE_CYCLE', `${path.join(dir, 'b.db')}:2:9: file "${a}" includes itself`);
  });

  it('a missing top-level file is DB_ERR_FILE_NOT_FOUND', function () {
    const missing = path.join(dir, 'missing.db');
    assert.throws(() => loadDbFile(missing), (err: unknown) => {
      assert.ok(err instanceof DbLoadError);
      assert.equal(err.code, 'DB_ERR_FILE_NOT_FOUND');
      assert.equal(err.file, missing);
      assert.ok(err.message.startsWith(`${missing}: can't open database file: `), err.message);
      return true;
    });
  });

  it('loads several files into one database (-d a.db -d b.db)', function () {
    const a = write('a.db', 'record(ai, x) { field(A, 1) }\n');
    const b = write('b.db', 'record(ai, x) { field(B, 2) }\nrecord(bo, y) { alias(yy) }\n');
    const db = loadDbFile(a);
    assert.equal(loadDbFile(b, { into: db }), db);
    assert.deepEqual([...db.records.keys()], ['x', 'y']);
    assert.deepEqual([...db.records.get('x')!.fields.keys()], ['A', 'B']);
    const c = write('c.db', 'record(ai, z)\nrecord(ai, yy)\n');
    expectDbError(() => loadDbFile(c, { into: db }), 'DB_ERR_RECORD_TYPE_CHANGE',
      `${c}:2:8: record "yy" already exists as type 'bo' (${b}:2:1), can't load it as type 'ai'`);
    assert.ok(!db.records.has('z'), 'a failed load leaves the database as it was');
  });

  it('reads through an injected readFile', function () {
    const files: Record<string, string> = {
      '/virtual/top.db': 'include "part.db"\nrecord(ai, top)\n',
      '/virtual/part.db': 'record(ai, part)\n',
    };
    const readFile = (p: string): string => {
      const text = files[p];
      if (text === undefined) throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
      return text;
    };
    const db = loadDbFile('/virtual/top.db', { readFile });
    assert.deepEqual([...db.records.keys()], ['part', 'top']);
  });
});

describe('db parser: properties', function () {
  const dbPieces = fc.constantFrom(
    'record', 'grecord', 'field', 'info', 'alias', 'include', 'path', 'menu', 'choice', 'recordtype', 'breaktable',
    '(', ')', '{', '}', ',', ':', '[', ']', '"', "'", '\\', '#', '%', '\n', ' ', 'ai', 'x', '1', '0x1', 'null',
    '$(A)', '$(B', '${A=', '"str"', "'sq'", 'NAME', '*', '#',
  );

  it('any input gives statements or a DbLoadError, nothing else', function () {
    const macros = parseMacroDefinitions('A=1,B=$(A)');
    const check = (text: string): void => {
      try {
        parseDbText(text, { file: 'p.db', macros });
      } catch (err) {
        if (!(err instanceof DbLoadError)) throw err;
        assert.ok(err.line >= 1 && err.column >= 1, err.message);
      }
    };
    fc.assert(fc.property(fc.string({ unit: dbPieces, maxLength: 40 }), check), { numRuns: 2000 });
    fc.assert(fc.property(fc.string({ maxLength: 200 }), check), { numRuns: 500 });
  });

  it('loading any parsed input gives a database or a DbLoadError', function () {
    fc.assert(fc.property(fc.string({ unit: dbPieces, maxLength: 40 }), (text) => {
      let statements: DbStatement[];
      try {
        statements = parseDbText(text, { file: 'p.db' });
      } catch (err) {
        if (err instanceof DbLoadError) return;
        throw err;
      }
      try {
        mergeInto(createDatabase(), statements, { readFile: () => { throw Object.assign(new Error('no'), { code: 'ENOENT' }); } });
      } catch (err) {
        if (!(err instanceof DbLoadError)) throw err;
      }
    }), { numRuns: 1000 });
  });
});
