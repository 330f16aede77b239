/**
 * How each setting's value is read: typed parsers that return the value, or what they expected
 * instead (`Expected`), so that every bad value becomes one issue of the `SettingsError`.
 */
import { isIP } from 'node:net';

/** A parser's verdict on a bad value: what it expected instead. */
export class Expected {
  constructor(readonly text: string) {}
}

/** Reads a raw value (a string from the environment, or what code passed, of type `In`) into a `T`. */
export type Parser<T, In = unknown> = ((raw: unknown) => T | Expected) & { readonly input?: In };

/** Log levels, by their pino names. `LOG_LEVEL` also accepts the Python names (see `loadSettings`). */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

/** One `host:port` of a node list; IPv6 hosts in brackets. */
export interface NodeAddress {
  host: string;
  port: number;
}

// pydantic v2's booleans, read as the Python services read them: these words in any case, and
// nothing around them.
const TRUE_WORDS = new Set(['true', '1', 'yes', 'on', 't', 'y']);
const FALSE_WORDS = new Set(['false', '0', 'no', 'off', 'f', 'n']);
const LOG_LEVELS: Record<string, LogLevel> = {
  trace: 'trace',
  debug: 'debug',
  info: 'info',
  warn: 'warn',
  warning: 'warn',
  error: 'error',
  fatal: 'fatal',
  critical: 'fatal',
  silent: 'silent',
};

/** What pydantic strips around a number: Unicode white space (Rust's `str::trim`). */
const AROUND =
  /^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g;
/** Digits with single underscores between them, as pydantic (and Python) allow: `5_000`. */
const DIGITS = '\\d(?:_?\\d)*';
/** pydantic's integers from text: a whole number, optionally written with a zero fraction (`5.0`). */
const INTEGER = new RegExp(`^[+-]?${DIGITS}(?:\\.0+)?$`);
/** pydantic's floats from text, `inf` and `nan` included (which the seconds settings refuse). */
const FLOAT = new RegExp(
  `^[+-]?(?:(?:${DIGITS}(?:\\.(?:${DIGITS})?)?|\\.${DIGITS})(?:e[+-]?${DIGITS})?|inf|infinity|nan)$`,
  'i',
);

/** A number read as pydantic v2 reads a float (`integer` for an int) from the environment; NaN when it refuses. */
const toNumber = (raw: unknown, integer = false): number => {
  if (typeof raw === 'number') return raw;
  if (typeof raw !== 'string') return Number.NaN;
  const text = raw.replace(AROUND, '');
  if (!(integer ? INTEGER : FLOAT).test(text)) return Number.NaN;
  const plain = text.replaceAll('_', '').toLowerCase();
  if (plain.endsWith('nan')) return Number.NaN;
  return plain.endsWith('inf') || plain.endsWith('infinity')
    ? plain.startsWith('-')
      ? -Infinity
      : Infinity
    : Number(plain);
};

/** Control characters (CR, LF, tab, NUL …): never part of a setting, often a sign of a .env saved with Windows line endings. */
export const CONTROL = /\p{Cc}/u;

/** What `value`'s first control character is, for a message. */
export function controlCharacter(value: string): string {
  const found = CONTROL.exec(value)?.[0] ?? '';
  if (found === '\r') return 'a carriage return (\\r: is the .env file saved with Windows line endings?)';
  if (found === '\n') return 'a line break (\\n)';
  if (found === '\t') return 'a tab';
  return `the control character U+${found.charCodeAt(0).toString(16).padStart(4, '0').toUpperCase()}`;
}

export const text: Parser<string, string> = (raw) => {
  if (typeof raw !== 'string' || raw.trim() === '') return new Expected('a non-empty string');
  if (CONTROL.test(raw)) {
    return new Expected(`a string without control characters; it contains ${controlCharacter(raw)}`);
  }
  return raw;
};

/** A user name or a password: any characters, as the Python services send them (AUTH takes any bytes). */
export const credential: Parser<string, string> = (raw) =>
  typeof raw === 'string' && raw !== '' ? raw : new Expected('a non-empty string');

/** A name that is one word of printable characters: a client name prefix, a sentinel master name. `why` says what it is for. */
export const word =
  (why: string): Parser<string, string> =>
  (raw) => {
    if (typeof raw === 'string' && /^[\x21-\x7e]+$/.test(raw)) return raw;
    const found = typeof raw === 'string' && CONTROL.test(raw) ? `; it contains ${controlCharacter(raw)}` : '';
    return new Expected(`a name of printable characters without spaces (${why})${found}`);
  };

const HOSTNAME = /^(?=.{1,253}$)[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?\.?$/i;

/** A host name, an IPv4 address, or an IPv6 address (brackets optional); `undefined` for anything else. */
export function hostOf(raw: string): string | undefined {
  const bare = raw.replace(/^\[(.*)\]$/, '$1');
  if (isIP(bare) !== 0) return bare;
  return HOSTNAME.test(raw) ? raw : undefined;
}

export const host: Parser<string, string> = (raw) => {
  const expected = 'a host name or an IP address';
  if (typeof raw !== 'string' || raw.trim() === '') return new Expected(expected);
  if (CONTROL.test(raw)) return new Expected(`${expected}; it contains ${controlCharacter(raw)}`);
  if (/\s/.test(raw)) return new Expected(`${expected}, without spaces`);
  if (raw.includes('://')) return new Expected(`${expected}, not a URL (a URL goes in REDIS_URL)`);
  const found = hostOf(raw);
  if (found !== undefined) return found;
  if (/^[^:]+:\d*$/.test(raw)) return new Expected(`${expected} without a port (the port goes in REDIS_PORT)`);
  return new Expected(expected);
};

export const nodeList: Parser<readonly NodeAddress[], string> = (raw) => {
  const expected = new Expected(
    'a comma-separated list of host:port, like 10.0.0.1:26379,10.0.0.2:26379 (IPv6 in brackets: [::1]:26379)',
  );
  if (typeof raw !== 'string') return expected;
  if (CONTROL.test(raw)) return new Expected(`${expected.text}; it contains ${controlCharacter(raw)}`);
  const nodes: NodeAddress[] = [];
  for (const item of raw.split(',')) {
    const match = /^\s*(\[[^\]]*\]|[^\s:[\]]+):(\d{1,5})\s*$/.exec(item);
    const found = match && hostOf(match[1] as string);
    const port = Number(match?.[2]);
    if (!found || port < 1 || port > 65535) return expected;
    nodes.push({ host: found, port });
  }
  return nodes;
};

export const boolean: Parser<boolean, boolean | string> = (raw) => {
  if (typeof raw === 'boolean') return raw;
  const word = typeof raw === 'string' ? raw.toLowerCase() : undefined;
  if (word !== undefined && TRUE_WORDS.has(word)) return true;
  if (word !== undefined && FALSE_WORDS.has(word)) return false;
  return new Expected('a boolean: true/false, 1/0, yes/no, on/off, t/f or y/n, in any case and without spaces');
};

export const integer =
  (min: number, max = Number.MAX_SAFE_INTEGER): Parser<number, number | string> =>
  (raw) => {
    const n = toNumber(raw, true);
    if (Number.isInteger(n) && n >= min && n <= max) return n;
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
    return new Expected(`an integer ${range}`);
  };

/** The longest delay Node's timers take, in seconds (2^31 − 1 ms); a longer one fires after 1 ms. */
const MAX_TIMER_SECONDS = 2_147_483.647;

/**
 * A number of seconds, from 1 ms up: to `MAX_TIMER_SECONDS` for a setting that becomes a timer
 * (`timer`), or 0 too when it turns something off (`allowZero`).
 */
const seconds =
  ({ allowZero, timer }: { allowZero: boolean; timer: boolean }): Parser<number, number | string> =>
  (raw) => {
    const n = toNumber(raw);
    const max = timer ? MAX_TIMER_SECONDS : Number.MAX_SAFE_INTEGER;
    if (n === 0 ? allowZero : Number.isFinite(n) && n >= 0.001 && n <= max) return n;
    const range = timer
      ? `from 0.001 to ${MAX_TIMER_SECONDS} (2147483647 ms, the longest delay Node's timers take)`
      : 'at least 0.001';
    return new Expected(`a number of seconds, ${allowZero ? '0 or ' : ''}${range}`);
  };
/** Seconds that become a timer's delay. */
export const timeout = seconds({ allowZero: false, timer: true });
/** Seconds that become a timer's delay, or 0 to turn it off. */
export const interval = seconds({ allowZero: true, timer: true });
/** Seconds compared with the clock, never a timer: no upper bound; 0 turns it off. */
export const age = seconds({ allowZero: true, timer: false });

export const protocol: Parser<2 | 3, 2 | 3 | string> = (raw) => {
  const n = toNumber(raw, true);
  return n === 2 || n === 3 ? n : new Expected('2 or 3 (the RESP version)');
};

/** Where reads go (`REDIS_READ_FROM`): the primary, replicas first, replicas only, or either. */
export type ReadFrom = 'primary' | 'replica-preferred' | 'replica' | 'any';
const READ_FROM: readonly ReadFrom[] = ['primary', 'replica-preferred', 'replica', 'any'];

export const readFrom: Parser<ReadFrom, ReadFrom> = (raw) => {
  const value = typeof raw === 'string' ? raw.trim().toLowerCase() : raw;
  return READ_FROM.includes(value as ReadFrom) ? (value as ReadFrom) : new Expected(`one of ${READ_FROM.join(', ')}`);
};

export const logLevel: Parser<LogLevel, string> = (raw) =>
  (typeof raw === 'string' && LOG_LEVELS[raw.trim().toLowerCase()]) ||
  new Expected(
    'one of DEBUG, INFO, WARNING, ERROR, CRITICAL (or a pino level: trace, debug, info, warn, error, fatal, silent)',
  );
