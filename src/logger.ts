import type { LogLevel } from './settings.js';

/** One logging method, in pino's calling convention: a context object first, then the message. */
export type LogMethod = (context: Record<string, unknown>, message: string) => void;

/**
 * The logger the pool writes to. A pino logger fits as it is, and so does any object with these
 * four methods that takes `(context, message)`. The pool only ever logs its own messages and
 * its own errors, which never contain passwords.
 */
export interface Logger {
  debug: LogMethod;
  info: LogMethod;
  warn: LogMethod;
  error: LogMethod;
}

const LEVEL_NUMBERS: Record<LogLevel, number> = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
  silent: Number.POSITIVE_INFINITY,
};

/**
 * The default logger: one JSON line per entry on stderr, in pino's format (`level`, `time`,
 * `name`, `msg`), dropping entries below `level`. Errors under the `err` key are written as
 * `{ type, code, message, stack }`.
 */
export function createLogger(
  level: LogLevel,
  write: (line: string) => void = (line) => process.stderr.write(line),
): Logger {
  const threshold = LEVEL_NUMBERS[level];
  const method =
    (name: keyof Logger): LogMethod =>
    (context, message) => {
      const number = LEVEL_NUMBERS[name];
      if (number < threshold) return;
      const entry = { level: number, time: Date.now(), name: 'redis-pool', ...context, msg: message };
      write(`${JSON.stringify(entry, serializeErrors)}\n`);
    };
  return { debug: method('debug'), info: method('info'), warn: method('warn'), error: method('error') };
}

function serializeErrors(_key: string, value: unknown): unknown {
  if (!(value instanceof Error)) return value;
  const { code } = value as { code?: unknown };
  return { type: value.name, code, message: value.message, stack: value.stack, cause: value.cause };
}
