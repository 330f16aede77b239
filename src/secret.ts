import { inspect } from 'node:util';

/**
 * A secret value, such as a password. Every way of turning it into text (`String()`, template
 * literals, `JSON.stringify`, `util.inspect`, loggers) shows `***`; only `reveal()` returns it.
 * This is how settings keep passwords out of logs, errors and CLI output.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  /** The secret itself. Call it only where the value is handed to Redis. */
  reveal(): string {
    return this.#value;
  }

  /** Compares without revealing. */
  equals(other: Secret | undefined): boolean {
    return other !== undefined && other.#value === this.#value;
  }

  toString(): string {
    return '***';
  }

  toJSON(): string {
    return '***';
  }

  [inspect.custom](): string {
    return 'Secret(***)';
  }
}

/**
 * Replaces the password in a `scheme://user:password@host` string with `***`, even when the
 * string is not a valid URL. Everything up to the last `@` counts as user info, so a password
 * with an unescaped `@` in it is hidden too.
 */
export function redactUrl(url: string): string {
  const at = url.lastIndexOf('@');
  if (at === -1) return url;
  const schemeEnd = url.indexOf('://');
  const userStart = schemeEnd !== -1 && schemeEnd < at ? schemeEnd + 3 : 0;
  const colon = url.indexOf(':', userStart);
  if (colon === -1 || colon > at) return url;
  return `${url.slice(0, colon)}:***${url.slice(at)}`;
}
