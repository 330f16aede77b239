/**
 * Where setting values come from (code, the environment, `.env`) and how a value is shown in a
 * message: secrets as `***`, URLs redacted, control characters escaped.
 */
import { readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import type { SettingsIssue } from '../errors.js';
import { redactUrl } from '../secret.js';
import { CONTROL } from './parsers.js';
import { ENV_NAMES } from './schema.js';

export type Origin = 'code' | 'the environment' | '.env';

/** A value for a setting, and where it came from. */
export interface Candidate {
  value: unknown;
  origin: Origin;
}

/** The variables of one source, by upper-case name, with the spelling they were given in. */
export type Variables = Map<string, { name: string; value: string }>;

/**
 * A source's variables by their upper-case name, as pydantic-settings reads them on the Python
 * side: `redis_url`, `Redis_Url` and `REDIS_URL` are one setting. Empty values count as unset.
 * Two spellings of one of our settings with different values are an issue; their values are not
 * shown, since either may be a secret.
 */
export function byName(source: Record<string, string | undefined>, where: string, issues: SettingsIssue[]): Variables {
  const found = new Map<string, { name: string; value: string }>();
  for (const [name, value] of Object.entries(source)) {
    if (value === undefined || value === '') continue;
    const upper = name.toUpperCase();
    const earlier = found.get(upper);
    if (earlier === undefined) found.set(upper, { name, value });
    else if (earlier.value !== value && ENV_NAMES.includes(upper)) {
      issues.push({
        code: 'conflict',
        path: upper,
        message:
          `\`${earlier.name}\` and \`${name}\` are both set in ${where}, with different values, and name one ` +
          'setting (names are read case-insensitively, as the Python services read them); keep one of them',
      });
    }
  }
  return found;
}

/** A value, unless it is unset (`undefined`, `null` or empty). */
export function pick(value: unknown, origin: Origin): Candidate | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  return { value, origin };
}

/** A value as a message shows it, with its type and origin. */
export function describe(candidate: Candidate, secret: boolean, env: string): string {
  const { value, origin } = candidate;
  // Control characters are shown escaped (`\r`), so that they neither break the message nor hide.
  const visible = String(value).replace(new RegExp(CONTROL.source, 'gu'), (found) =>
    JSON.stringify(found).slice(1, -1),
  );
  const shown =
    secret && env === 'REDIS_URL' && typeof value === 'string' ? redactUrl(visible) : secret ? '***' : visible;
  const where = origin === 'code' ? 'in code' : `from ${origin}`;
  return `\`${shown}\` (${typeof value}, ${where})`;
}

/** The variables of a `.env` file; a missing file has none. */
export function readEnvFile(path: string, issues: SettingsIssue[]): Record<string, string | undefined> {
  try {
    return parseEnv(readFileSync(path, 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    issues.push({
      code: 'invalid_value',
      path: path,
      message: `Could not read the .env file \`${path}\`: ${(error as Error).message}`,
    });
    return {};
  }
}
