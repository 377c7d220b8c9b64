/**
 * Macro expansion cases shared by the unit tests (against the expected
 * values written here) and the libCom oracle test (against EPICS's own
 * macLib). Most come from the behaviour macLib's test programs
 * (macLibTest.c, macDefExpandTest.c in epics-base) document; the expected
 * values were written by hand from that documentation.
 *
 * `defs` is a macParseDefns string, `input` the text to expand.
 */
export type MacroCase =
  | { defs: string; input: string; expect: string; oracle?: boolean }
  | { defs: string; input: string; error: 'undefined' | 'recursive' | 'bad'; name: string; oracle?: boolean };

export const MACRO_CASES: readonly MacroCase[] = [
  // nothing defined
  { defs: '', input: 'FOO', expect: 'FOO' },
  { defs: '', input: '$(FOO)', error: 'undefined', name: 'FOO' },
  { defs: '', input: '${FOO}', error: 'undefined', name: 'FOO' },
  { defs: '', input: '${FOO=${FOO}}', error: 'undefined', name: 'FOO' },
  { defs: '', input: '${FOO,FOO}', error: 'undefined', name: 'FOO' },
  { defs: '', input: '${FOO,FOO=${FOO}}', error: 'recursive', name: 'FOO' },
  { defs: '', input: '${FOO,BAR}', error: 'undefined', name: 'FOO' },
  { defs: '', input: '${FOO,BAR=baz}', error: 'undefined', name: 'FOO' },
  { defs: '', input: '${FOO,BAR=${FOO}}', error: 'undefined', name: 'FOO' },
  { defs: '', input: '${FOO,BAR=baz,FUM}', error: 'undefined', name: 'FOO' },
  { defs: '', input: '${FOO=${BAR},BAR=${FOO}}', error: 'undefined', name: 'FOO' },
  { defs: '', input: '${FOO,FOO=${BAR},BAR=${FOO}}', error: 'recursive', name: 'BAR' },
  { defs: '', input: '${=}', expect: '' },
  { defs: '', input: 'x${=}y', expect: 'xy' },
  { defs: '', input: '${,=}', expect: '' },
  { defs: '', input: 'x${,=}y', expect: 'xy' },
  { defs: '', input: '${FOO=}', expect: '' },
  { defs: '', input: 'x${FOO=}y', expect: 'xy' },
  { defs: '', input: '${FOO=,}', expect: '' },
  { defs: '', input: '${FOO,FOO=}', expect: '' },
  { defs: '', input: 'x${FOO,FOO=}y', expect: 'xy' },
  { defs: '', input: '${FOO=,BAR}', expect: '' },
  { defs: '', input: '${FOO=${BAR=}}', expect: '' },
  { defs: '', input: '${FOO=,BAR=baz}', expect: '' },
  { defs: '', input: '${FOO=${BAR},BAR=}', expect: '' },
  { defs: '', input: 'x${FOO=${BAR},BAR=}y', expect: 'xy' },
  { defs: '', input: '${=BAR}', expect: 'BAR' },
  { defs: '', input: '${FOO=BAR}', expect: 'BAR' },
  { defs: '', input: 'x${FOO=BAR}y', expect: 'xBARy' },

  // FOO defined
  { defs: 'FOO=BLETCH', input: '${FOO}', expect: 'BLETCH' },
  { defs: 'FOO=BLETCH', input: '$(FOO)', expect: 'BLETCH' },
  { defs: 'FOO=BLETCH', input: '${FOO,FOO}', expect: 'BLETCH' },
  { defs: 'FOO=BLETCH', input: 'x${FOO}y${FOO}z', expect: 'xBLETCHyBLETCHz' },
  { defs: 'FOO=BLETCH', input: '${FOO=BAR}', expect: 'BLETCH' },
  { defs: 'FOO=BLETCH', input: '${FOO=${BAZ}}', expect: 'BLETCH' },
  { defs: 'FOO=BLETCH', input: '${FOO=${BAZ},BAR=${BAZ}}', expect: 'BLETCH' },
  { defs: 'FOO=BLETCH', input: '${BAR=${FOO}}', expect: 'BLETCH' },
  { defs: 'FOO=BLETCH', input: 'w${BAR=x${FOO}y}z', expect: 'wxBLETCHyz' },
  { defs: 'FOO=BLETCH', input: '${FOO,FOO=BAR}', expect: 'BAR' },
  { defs: 'FOO=BLETCH', input: '${BAR,BAR=${FOO}}', expect: 'BLETCH' },
  { defs: 'FOO=BLETCH', input: '${BAR,BAR=${${FOO}},BLETCH=GRIBBLE}', expect: 'GRIBBLE' },
  { defs: 'FOO=BLETCH', input: '${${BAR,BAR=${FOO}},BLETCH=GRIBBLE}', expect: 'GRIBBLE' },
  { defs: 'FOO=BLETCH', input: '${N=${FOO}/${BAR},BAR=GLEEP}', expect: 'BLETCH/GLEEP' },

  // FOO and BAR defined
  { defs: 'FOO=BLETCH,BAR=GLEEP', input: '${FOO}/${BAR}', expect: 'BLETCH/GLEEP' },
  { defs: 'FOO=BLETCH,BAR=GLEEP', input: '${FOO,BAR}/${BAR}', expect: 'BLETCH/GLEEP' },
  { defs: 'FOO=BLETCH,BAR=GLEEP', input: '${FOO,BAR=x}/${BAR}', expect: 'BLETCH/GLEEP' },
  { defs: 'FOO=BLETCH,BAR=GLEEP', input: '${BAZ=BLETCH,BAR}/${BAR}', expect: 'BLETCH/GLEEP' },
  { defs: 'FOO=BLETCH,BAR=GLEEP', input: '${BAZ=BLETCH,BAR=x}/${BAR}', expect: 'BLETCH/GLEEP' },
  { defs: 'FOO=BLETCH,BAR=GLEEP', input: '${N=${FOO}/${BAR}}', expect: 'BLETCH/GLEEP' },

  // names made of macros, values that refer to other macros
  { defs: 'FOO=BLETCH,BAR=GLEEP,BLETCH=BAR', input: '${${FOO}}', expect: 'BAR' },
  { defs: 'FOO=BLETCH,BAR=GLEEP,BLETCH=BAR', input: 'x${${FOO}=GRIBBLE}y', expect: 'xBARy' },
  { defs: 'FOO=BLETCH,BAR=GLEEP,BLETCH=${BAR}', input: '${${FOO}}', expect: 'GLEEP' },
  { defs: 'FOO=BLETCH,BAR=GLEEP,BLETCH=${BAR}', input: '${BLETCH=${FOO}}', expect: 'GLEEP' },
  { defs: 'FOO=${BAR},BAR=GLEEP', input: '${FOO}', expect: 'GLEEP' },
  { defs: 'FOO=${BAR},BAR=GLEEP', input: '${FOO=BLETCH,BAR=BAZ}', expect: 'BAZ' },
  { defs: 'FOO=${BAR},BAR=${BAZ}', input: '${FOO}', error: 'undefined', name: 'BAZ' },
  { defs: 'FOO=${BAR},BAR=${BAZ=GRIBBLE}', input: '${FOO}', expect: 'GRIBBLE' },
  { defs: 'FOO=${BAR},BAR=${BAZ=GRIBBLE}', input: '${FOO,BAZ=GEEK}', expect: 'GEEK' },
  { defs: 'FOO=${BAR},BAR=${STR1},STR1=VAL1,STR2=VAL2', input: '${FOO}', expect: 'VAL1' },
  { defs: 'FOO=${BAR},BAR=${STR2},STR1=VAL1,STR2=VAL2', input: '${FOO}', expect: 'VAL2' },
  { defs: 'FOO=${BAR},BAR=${STR2},STR2=VAL2', input: '$(FOO)$(FOO1)', error: 'undefined', name: 'FOO1' },

  // recursion is an error, not a hang
  { defs: 'FOO=${BAR},BAR=${FOO}', input: '${FOO}', error: 'recursive', name: 'BAR' },
  { defs: 'FOO=${BAR},BAR=${FOO}', input: '${FOO=GRIBBLE}', error: 'recursive', name: 'BAR' },
  { defs: 'FOO=${BAR},BAR=${FOO}', input: '${FOO=GRIBBLE,BAR=${FOO}}', error: 'recursive', name: 'BAR' },
  { defs: 'FOO=${BAR},BAR=${FOO}', input: '${FOO,FOO=${FOO}}', error: 'recursive', name: 'FOO' },
  { defs: 'FOO=${BAR},BAR=${FOO}', input: '${FOO=GRIBBLE,FOO=${FOO}}', error: 'recursive', name: 'FOO' },
  { defs: 'A=$(A)', input: 'x$(A)', error: 'recursive', name: 'A' },

  // quotes and escapes: kept in the text (level 0), removed from values
  { defs: 'A="x y"', input: '$(A)', expect: 'x y' },
  { defs: 'A="x y"', input: '"$(A)"', expect: '"x y"' },
  { defs: 'A=\'$(B)\',B=2', input: '$(A)', expect: '$(B)' },
  { defs: 'B=2', input: "'$(B)'", expect: "'$(B)'" },
  { defs: 'B=2', input: '"$(B)"', expect: '"2"' },
  { defs: 'B=2', input: '"it\'s $(B)"', expect: '"it\'s 2"' },
  { defs: 'B=2', input: '\\$(B)', expect: '\\$(B)' },
  { defs: 'B=2', input: 'a\\b\\"$(B)', expect: 'a\\b\\"2' },
  { defs: 'A=a\\"b', input: '$(A)', expect: 'a"b' },
  { defs: 'A=\\(x\\)', input: '[$(A)]', expect: '[(x)]' },
  { defs: 'A=x,B=$(A)$(A)', input: '$(B)', expect: 'xx' },
  { defs: 'P=pre', input: '$(X=$(P)-def)', expect: 'pre-def' },
  { defs: '', input: '$(X=$(B),B=1)', expect: '1' },
  { defs: 'A=$(B)', input: "$(A,B='x,y')", expect: 'x' },
  { defs: 'A=$(B)', input: '$(A,B=x\\,y)', expect: 'x,y' },
  { defs: '', input: '$A $ $$ x$', expect: '$A $ $$ x$' },
  { defs: 'A=1', input: '$(A)$(A)${A}', expect: '111' },
  { defs: '"A B"=1', input: '$(A B)', expect: '1' },
  { defs: 'A=1,A=2', input: '$(A)', expect: '2' },
  { defs: 'A=1,A', input: '$(A)', error: 'undefined', name: 'A' },
  { defs: ' A = 1 , B = " 2 " ', input: '[$(A)][$(B)]', expect: '[1][ 2 ]' },
  { defs: 'A=,B=2', input: '[$(A)][$(B)]', expect: '[][2]' },
  { defs: 'A=$(B),B=$(C),C=deep', input: '$(A)', expect: 'deep' },
  { defs: 'A="$(B,X=1)",B=$(X)', input: '$(A)', expect: '1' },

  // macLib finds the end of a default with escapes disabled (see macros.ts)
  { defs: 'B=1', input: '$(A=x\\$(B)y)z', expect: 'x$(Bz' },
  { defs: 'B=1', input: '$(A=x\\)y)z', expect: 'x)yy)z' },

  // deliberate difference: macLib reads an unterminated reference to the end
  { defs: 'A=1', input: 'x$(A', error: 'bad', name: 'A', oracle: false },
];

/** macParseDefns cases: the definitions string and the pairs it gives. */
export const DEFINITION_CASES: readonly { defs: string; pairs: [string, string | null][] }[] = [
  { defs: '', pairs: [] },
  { defs: 'A=1,B=2', pairs: [['A', '1'], ['B', '2']] },
  { defs: '  A = 1 ,  B = 2  ', pairs: [['A', '1'], ['B', '2']] },
  { defs: 'A="1,2",B=\'3 4\'', pairs: [['A', '"1,2"'], ['B', "'3 4'"]] },
  { defs: 'A\\=B=1', pairs: [['A=B', '1']] },
  { defs: 'A,B=1', pairs: [['A', null], ['B', '1']] },
  { defs: 'A', pairs: [['A', null]] },
  { defs: '=1', pairs: [['', '1']] },
  { defs: 'A=', pairs: [['A', '']] },
  { defs: ',,A=1,,', pairs: [['A', '1']] },
  { defs: 'A=1 2', pairs: [['A', '1 2']] },
  { defs: 'A=x\\,y', pairs: [['A', 'x\\,y']] },
  { defs: 'A=x\\ ', pairs: [['A', 'x\\']] },
  { defs: '"A B"=1', pairs: [['A B', '1']] },
  { defs: 'A=$(B,C=1),D=${E}', pairs: [['A', '$(B'], ['C', '1)'], ['D', '${E}']] },
  { defs: 'A = "x y" , B', pairs: [['A', '"x y"'], ['B', null]] },
];
