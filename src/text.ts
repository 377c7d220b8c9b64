/**
 * How messages show what a user or a peer gave: a value is quoted with its
 * control characters escaped and cut to a few dozen characters (a 50 MB
 * field value must not become a 50 MB log line), and a system error is its
 * reason alone ("no such file or directory"), so a message that names the
 * file itself does not say it twice.
 */

/** Longest part of a value a message repeats. */
export const SHOWN_CHARACTERS = 60;

/** `"text"` with control characters escaped; a longer text is cut and says how long it was. */
export function quoteValue(text: string, max = SHOWN_CHARACTERS): string {
  if (text.length <= max) return JSON.stringify(text);
  return `${JSON.stringify(text.slice(0, max))}... (${text.length} characters)`;
}

/** One character as a message shows it: printable as itself in quotes, anything else by its code. */
export function showCharacter(c: string): string {
  const code = c.codePointAt(0) ?? 0;
  if (code < 0x20 || code === 0x7f || (code >= 0x80 && code < 0xa0)) return `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
  return JSON.stringify(c);
}

/**
 * The reason of a failed system call without Node's decoration:
 * "ENOENT: no such file or directory, open '/x'" becomes "no such file or directory".
 */
export function systemErrorText(err: unknown): string {
  const e = err as NodeJS.ErrnoException | undefined;
  const message = e?.message ?? String(err);
  if (!e?.code) return message;
  const m = /^[A-Z0-9_]+: (.*?)(?:, \w+(?: '[^']*'(?: -> '[^']*')?)?)?$/s.exec(message);
  return m ? m[1] : message;
}
