/**
 * Structured, quiet-by-default logging. Each line is `level component: message`
 * followed by key=value pairs, which journald keeps as one entry per line.
 * The level comes from SERVICE_IOC_LOG (error, warn, info, debug; default info).
 */
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export type LogFields = Record<string, string | number | boolean | undefined | null>;

export interface Logger {
  error(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  debug(message: string, fields?: LogFields): void;
  child(component: string): Logger;
}

const RANK: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

/** journald/sd-daemon priority prefixes, so `journalctl -p warning` works. */
const SD_PREFIX: Record<LogLevel, string> = { error: '<3>', warn: '<4>', info: '<6>', debug: '<7>' };

export function parseLogLevel(text: string | undefined, fallback: LogLevel = 'info'): LogLevel {
  const t = (text ?? '').trim().toLowerCase();
  return t in RANK ? (t as LogLevel) : fallback;
}

export function formatFields(fields: LogFields | undefined): string {
  if (!fields) return '';
  let out = '';
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    const s = String(v);
    // Control characters are escaped (JSON), so a peer's text cannot forge or garble a log line.
    // eslint-disable-next-line no-control-regex
    out += ` ${k}=${/[\s"=\x00-\x1f\x7f]/.test(s) || s === '' ? JSON.stringify(s) : s}`;
  }
  return out;
}

export interface LoggerOptions {
  level?: LogLevel;
  write?: (line: string) => void;
  /** Prefix lines with sd-daemon priorities (when stderr goes to the journal). */
  journal?: boolean;
}

export function createLogger(component: string, opts: LoggerOptions = {}): Logger {
  const level = opts.level ?? parseLogLevel(process.env.SERVICE_IOC_LOG);
  const write = opts.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const journal = opts.journal ?? process.env.JOURNAL_STREAM !== undefined;
  const emit = (lvl: LogLevel, message: string, fields?: LogFields): void => {
    if (RANK[lvl] > RANK[level]) return;
    write(`${journal ? SD_PREFIX[lvl] : ''}${lvl} ${component}: ${message}${formatFields(fields)}`);
  };
  return {
    error: (m, f) => emit('error', m, f),
    warn: (m, f) => emit('warn', m, f),
    info: (m, f) => emit('info', m, f),
    debug: (m, f) => emit('debug', m, f),
    child: (c) => createLogger(`${component}.${c}`, { level, write, journal }),
  };
}

/** A logger that keeps lines in memory, for tests. */
export function memoryLogger(lines: string[] = [], level: LogLevel = 'debug'): Logger & { lines: string[] } {
  const logger = createLogger('test', { level, write: (l) => lines.push(l), journal: false });
  return Object.assign(logger, { lines });
}
