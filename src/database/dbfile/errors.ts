/**
 * Errors and warnings raised while reading EPICS database (.db) and
 * substitution files. Every error carries a stable string code, so callers
 * (the loader, the CLI, tests) can tell them apart without parsing text, and
 * the position of the offending text in the source file.
 */
import { ServiceIocError } from '../../errors';

export type DbLoadErrorCode =
  | 'DB_ERR_SYNTAX'               // unexpected token or invalid character
  | 'DB_ERR_BAD_STRING'           // newline or end of file in a quoted string, bad JSON string character
  | 'DB_ERR_BAD_JSON'             // malformed JSON value in field()/info()
  | 'DB_ERR_UNDEFINED_MACRO'      // $(NAME) with no definition and no default
  | 'DB_ERR_RECURSIVE_MACRO'      // a macro whose expansion refers back to itself
  | 'DB_ERR_BAD_MACRO'            // unterminated $( or ${ reference
  | 'DB_ERR_BAD_RECORD_NAME'      // empty, bad character, or longer than 60 bytes (also alias names)
  | 'DB_ERR_BAD_RECORD_TYPE'      // empty record type
  | 'DB_ERR_RECORD_TYPE_CHANGE'   // record(bo, X) after record(ai, X)
  | 'DB_ERR_DUPLICATE_RECORD'     // a record defined twice while recordsOnceOnly is set
  | 'DB_ERR_RECORD_NOT_FOUND'     // record("*", X) or alias(X, Y) for an unknown record X
  | 'DB_ERR_ALIAS_CONFLICT'       // alias name already used by a record or by another record's alias
  | 'DB_ERR_BAD_FIELD'            // empty field name, or an attempt to set NAME
  | 'DB_ERR_BAD_INFO'             // empty info item name
  | 'DB_ERR_INCLUDE_NOT_FOUND'    // include "x" that no search directory holds
  | 'DB_ERR_INCLUDE_CYCLE'        // a file that (indirectly) includes itself
  | 'DB_ERR_FILE_NOT_FOUND'       // the top-level file given to the loader cannot be read
  | 'DB_ERR_UNKNOWN_RECORD_TYPE'  // record(xyz, ...) for a type the IOC does not have
  | 'DB_ERR_UNKNOWN_FIELD'        // field(XYZ, ...) that the record type does not have
  | 'DB_ERR_BAD_FIELD_VALUE'      // a value the field cannot hold (menu choice, number, length)
  | 'DB_ERR_UNKNOWN_DTYP'         // DTYP naming no registered device support for the type
  | 'DB_ERR_DEVICE'               // device support refused the record's INP/OUT
  | 'DB_ERR_BAD_LINK'             // a link to no record of this IOC, to a field it lacks, or bad link text
  | 'DB_ERR_BAD_CALC';            // a CALC/OCAL expression the calc language refuses

export type DbLoadWarningCode =
  | 'DB_WARN_RECORD_NAME'         // record/alias name dbStatic accepts but warns about
  | 'DB_WARN_DBD_IGNORED'         // menu/recordtype/device/... in a .db file: parsed, then ignored
  | 'DB_WARN_DELETE_MISSING'      // record("#", X) for a record that does not exist
  | 'DB_WARN_MACRO_IN_COMMENT'    // undefined macro inside a # comment (harmless)
  | 'DB_WARN_SUBST_DEPRECATED'    // substitution file: name before a set's '{' (old syntax)
  | 'DB_WARN_SUBST_TOO_MANY';     // substitution file: more pattern values than names

/** A place in a source file; line and column are 1-based (0 when unknown). */
export interface SourcePosition {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

/** `file:line:column: ` or `file: ` when the position is unknown. */
export function formatPosition(pos: SourcePosition): string {
  return pos.line > 0 ? `${pos.file}:${pos.line}:${pos.column}: ` : `${pos.file}: `;
}

/** Error in a database or substitution file, with the place it was found. */
export class DbLoadError extends ServiceIocError {
  declare readonly code: DbLoadErrorCode;
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** The message without the `file:line:column: ` prefix. */
  readonly detail: string;

  constructor(code: DbLoadErrorCode, detail: string, pos: SourcePosition) {
    super(code, formatPosition(pos) + detail);
    this.file = pos.file;
    this.line = pos.line;
    this.column = pos.column;
    this.detail = detail;
  }
}

/** Something EPICS accepts with a message on the console. */
export interface DbLoadWarning extends SourcePosition {
  readonly code: DbLoadWarningCode;
  /** `file:line:column: detail` */
  readonly message: string;
  readonly detail: string;
}

export function makeWarning(code: DbLoadWarningCode, detail: string, pos: SourcePosition): DbLoadWarning {
  return {
    code,
    detail,
    message: formatPosition(pos) + detail,
    file: pos.file,
    line: pos.line,
    column: pos.column,
  };
}

/** Quote a piece of source text for an error message, shortened if long. */
export function quoteForMessage(text: string, max = 40): string {
  const shown = text.length > max ? `${text.slice(0, max)}...` : text;
  return JSON.stringify(shown);
}
