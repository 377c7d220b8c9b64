/**
 * Text that must not be shown (a lock key, a password): it prints as
 * "(secret)" in logs, JSON and util.inspect; only reveal() gives it.
 */
import { inspect } from 'node:util';

export class SecretText {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return '(secret)';
  }
  toJSON(): string {
    return '(secret)';
  }
  [inspect.custom](): string {
    return '(secret)';
  }
}
