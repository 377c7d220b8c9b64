/**
 * The one base class of the errors a user of service-ioc can see: a load
 * that fails (a .db, .acf or configuration file, an environment variable), a
 * record link that device support refuses, a write that fails. Each carries
 * a stable string code, `AREA_ERR_WHAT`, that callers and tests tell errors
 * apart by, without reading their text. docs/errors.md lists every code with
 * its meaning and what to do about it.
 */

/** A code: the area (DB, ACF, CONFIG, ...), `_ERR_`, and what went wrong. */
export type ErrorCode = `${string}_ERR_${string}`;

export class ServiceIocError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** What is wrong with the configuration file (service-ioc.toml and the [[queueserver]] and [[redis]] tables in it). */
export type ConfigErrorCode =
  | 'CONFIG_ERR_READ' | 'CONFIG_ERR_TOML' | 'CONFIG_ERR_UNKNOWN_KEY' | 'CONFIG_ERR_MISSING_KEY'
  | 'CONFIG_ERR_BAD_VALUE' | 'CONFIG_ERR_DUPLICATE' | 'CONFIG_ERR_FILE';

/** The code of an error, when it has one of ours. */
export function errorCode(err: unknown): ErrorCode | undefined {
  return err instanceof ServiceIocError ? err.code : undefined;
}
