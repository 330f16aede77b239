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

/** Query parameters whose value is a credential, in any case. */
const SECRET_PARAMETERS = /^(password|pass|passwd|pwd|auth|token|secret)$/i;

/**
 * A URL as it may be shown: its password, the credential parameters of its query (`password`,
 * `pass`, `auth`, `token` …) and its fragment become `***`; the user name stays. A string that is
 * not a valid URL cannot be split into its parts safely (a password with an unescaped `@`, `/`
 * or `#` moves every boundary), so it is shown only when it has none of `@`, `?` and `#`, and
 * otherwise as its scheme and `***`.
 *
 * @example redactUrl('redis://app:hunter2@cache:6379/0?token=abc') // 'redis://app:***@cache:6379/0?token=***'
 */
export function redactUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(text)?.[0];
    const rest = scheme === undefined ? text : text.slice(scheme.length);
    return scheme !== undefined && !/[@?#]/.test(rest) ? text : `${scheme ?? ''}***`;
  }
  if (url.password) url.password = '***';
  const query = [...url.searchParams].map(([name, value]) => [name, SECRET_PARAMETERS.test(name) ? '***' : value]);
  if (query.length > 0) url.search = `?${query.map(([name, value]) => `${name}=${value}`).join('&')}`;
  if (url.hash) url.hash = '***';
  // The URL API percent-encodes what it is given back; the stars read better as stars.
  return url.href.replaceAll('%2A%2A%2A', '***');
}
