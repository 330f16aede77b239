/**
 * Where setting values come from (code, the environment, `.env`) and how a value is shown in a
 * message: secrets as `***`, URLs redacted, control characters escaped.
 */
import { readFileSync } from 'node:fs';
import type { SettingsIssue } from '../errors.js';
import { redactUrl } from '../secret.js';
import { expandDotenv, parseDotenv } from './dotenv.js';
import { CONTROL } from './parsers.js';
import { ENV_NAMES } from './schema.js';

export type Origin = 'code' | 'the environment' | '.env' | 'REDIS_URL';

/** A value for a setting, and where it came from: the spelling found, and the line of a `.env`. */
export interface Candidate {
  value: unknown;
  origin: Origin;
  name?: string | undefined;
  line?: number | undefined;
}

/** One variable of the environment or of a `.env`, as spelled there. */
export interface Variable {
  name: string;
  value: string;
  /** Its line, in a `.env`. */
  line?: number | undefined;
}

/** The variables of one source, by upper-case name. */
export type Variables = Map<string, Variable>;

/**
 * A source's variables by their upper-case name, as pydantic-settings reads them on the Python
 * side: `redis_url`, `Redis_Url` and `REDIS_URL` are one setting. An empty value is a value, as
 * there: it does not fall back to `.env` or the default. Two spellings of one of our settings with
 * different values are an issue (pydantic-settings would take one of them silently); their values
 * are not shown, since either may be a secret.
 */
export function byName(source: Iterable<Variable>, where: string, issues: SettingsIssue[]): Variables {
  const found: Variables = new Map();
  for (const variable of source) {
    const upper = variable.name.toUpperCase();
    const earlier = found.get(upper);
    if (earlier === undefined) found.set(upper, variable);
    else if (earlier.value !== variable.value && ENV_NAMES.includes(upper)) {
      issues.push({
        code: 'conflict',
        path: upper,
        message:
          `\`${earlier.name}\` and \`${variable.name}\` are both set in ${where}, with different values, and name one ` +
          'setting (names are read case-insensitively, as the Python services read them); keep one of them',
      });
    }
  }
  return found;
}

/** The variables of an environment (`process.env`, say). */
export function environmentVariables(env: Record<string, string | undefined>): Variable[] {
  return Object.entries(env).flatMap(([name, value]) => (value === undefined ? [] : [{ name, value }]));
}

/** A value passed in code, unless it is unset (`undefined`, `null` or empty). */
export function pick(value: unknown, origin: Origin): Candidate | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  return { value, origin };
}

/** The candidate a variable of the environment or of `.env` gives. */
export function fromVariable(variable: Variable | undefined, origin: Origin): Candidate | undefined {
  return variable && { value: variable.value, origin, name: variable.name, line: variable.line };
}

/** Where a candidate came from, as a message says it: `in code`, `from .env (line 3)`. */
export function whereFrom({ origin, name, line }: Candidate): string {
  if (origin === 'code') return 'in code';
  if (origin === 'REDIS_URL') return 'from the query of REDIS_URL';
  const spelled = name !== undefined && name !== name.toUpperCase() ? ` as ${name}` : '';
  return `from ${origin}${line === undefined ? '' : ` (line ${line})`}${spelled}`;
}

/** A value as a message shows it, with its type and origin. */
export function describe(candidate: Candidate, secret: boolean, env: string): string {
  return `\`${shown(candidate.value, secret, env)}\` (${typeof candidate.value}, ${whereFrom(candidate)})`;
}

/** A value as it may be shown: secrets as `***`, the URL without its password, control characters escaped. */
export function shown(value: unknown, secret: boolean, env: string): string {
  // Control characters are shown escaped (`\r`), so that they neither break the message nor hide.
  const visible = String(value).replace(new RegExp(CONTROL.source, 'gu'), (found) =>
    JSON.stringify(found).slice(1, -1),
  );
  return secret && env === 'REDIS_URL' && typeof value === 'string' ? redactUrl(visible) : secret ? '***' : visible;
}

/**
 * The variables of a `.env` file, read as python-dotenv reads it, `${VAR}` expanded from the file
 * and `environment`; a missing file has none. A line python-dotenv cannot read is skipped, with a
 * warning naming the file and line. A byte-order mark is an issue when it hides a setting: python-dotenv
 * keeps it in the first name, so the Python services do not see that setting.
 */
export function readEnvFile(
  path: string,
  environment: Record<string, string | undefined>,
  issues: SettingsIssue[],
  warnings: string[],
): Variable[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    issues.push({
      code: 'invalid_value',
      path: path,
      message: `Could not read the .env file \`${path}\`: ${(error as Error).message}`,
    });
    return [];
  }
  const { bindings, skipped } = parseDotenv(text);
  for (const line of skipped) {
    warnings.push(
      `${path}:${line}: not a KEY=value line; skipped, as python-dotenv (and so the Python services) skip it`,
    );
  }
  const [first] = bindings;
  const hidden = first?.key.startsWith('\ufeff') ? first.key.slice(1).toUpperCase() : undefined;
  if (hidden !== undefined && ENV_NAMES.includes(hidden)) {
    issues.push({
      code: 'invalid_value',
      path: hidden,
      message:
        `The .env file \`${path}\` starts with a byte-order mark (U+FEFF), which python-dotenv keeps as part of the ` +
        `first name, so the Python services do not see \`${hidden}\` on line ${first?.line}; save the file as UTF-8 without a BOM`,
    });
  }
  return [...expandDotenv(bindings, environment)].flatMap(([name, { value, line }]) =>
    value === undefined ? [] : [{ name, value, line }],
  );
}
