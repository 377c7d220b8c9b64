/** The DbLoadError a call throws, checked for its code and full message. */
import { strict as assert } from 'node:assert';
import { DbLoadError } from '../../src/database/dbfile/errors';

export function expectDbError(fn: () => unknown, code: string, message: string): DbLoadError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof DbLoadError, `expected DbLoadError, got ${String(caught)}`);
  assert.equal(caught.message, message);
  assert.equal(caught.code, code);
  return caught;
}
