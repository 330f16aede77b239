/**
 * `CommonAppSettings` and `loadSettings()`: the settings of one pool, from code, the environment
 * and `.env`, validated all at once. The parts live in `settings/`: the table of settings
 * (`schema.ts`), their parsers, where values come from (`sources.ts`), the address and its URL
 * rule, the rules across settings, and the suggestions for typos.
 */
import { resolve } from 'node:path';
import { SettingsError, type SettingsIssue } from './errors.js';
import { Secret } from './secret.js';
import { clusterUrl, resolveAddress, sentinelUrl } from './settings/address.js';
import { Expected } from './settings/parsers.js';
import { checkCluster, checkLimits, checkReads, checkSentinel, checkTlsFiles } from './settings/rules.js';
import {
  envOf,
  type Field,
  type Key,
  type Parsed,
  type ResolvedSettings,
  SCHEMA,
  SETTINGS_DEFAULTS,
  type SettingsInput,
} from './settings/schema.js';
import {
  byName,
  type Candidate,
  describe,
  environmentVariables,
  fromVariable,
  pick,
  readEnvFile,
  shown,
} from './settings/sources.js';
import { unknownOptions, unknownVariables } from './settings/suggestions.js';

export type { LogLevel, NodeAddress, ReadFrom } from './settings/parsers.js';
export { SETTINGS_DEFAULTS, type SettingsInput } from './settings/schema.js';

/** Where `loadSettings` reads from, and where its warnings go. */
export interface LoadSettingsOptions {
  /** The environment to read. @default process.env */
  env?: Record<string, string | undefined>;
  /** The `.env` file to read, or `false` for none. A missing file is not an error. @default '.env' in the current directory */
  envFile?: string | false;
  /** Receives one line per warning (unknown `REDIS_*` variables, ignored settings). @default process.emitWarning */
  onWarning?: (message: string) => void;
}

/** Where one setting's value came from, as `settings.sources()` and `redis-pool check` show it. */
export interface SettingSource {
  /** The variable a user sets, for example `REDIS_URL`. */
  readonly variable: string;
  /** The value as it may be shown: secrets as `***`, the URL without its password; `undefined` when unset. */
  readonly value: string | undefined;
  /** Passed in code, from the environment, from `.env`, from the URL (`REDIS_URL` states it), or the default. */
  readonly source: 'code' | 'environment' | '.env' | 'REDIS_URL' | 'default';
  /** The name found in the environment or `.env`, when it is not the variable's own spelling (`redis_url`). */
  readonly spelling?: string;
  /** The line of `.env`. */
  readonly line?: number;
}

/**
 * The fields of `CommonAppSettings`: one per setting of the table, typed and documented by it.
 * The address fields are documented again here, as resolved.
 */
export interface CommonAppSettings<D extends boolean = boolean> extends ResolvedSettings<D> {
  /**
   * The server address as a URL, without password: `redis://user@host:6379/0`,
   * `unix:///path?db=0`, `redis+sentinel://user@sentinel:26379/mymaster/0` in sentinel mode, or
   * `redis+cluster://user@node:6379` in cluster mode.
   */
  readonly redisUrl: string;
  /** The server's host; `undefined` for a unix socket. */
  readonly redisHost: string | undefined;
  /** The server's port; `undefined` for a unix socket. */
  readonly redisPort: number | undefined;
}

/**
 * The resolved, validated settings of one pool. Built by `loadSettings()` (or
 * `new CommonAppSettings()`), which reads code values, then the process environment, then `.env`,
 * then defaults, and throws one `SettingsError` listing every problem.
 *
 * The password never sits in a string property: `redisUrl` is rebuilt without it and
 * `redisPassword` is a {@link Secret}. So `JSON.stringify`, `util.inspect`, spreading and logging a
 * settings object are all safe.
 */
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the interface above gives the class its fields, from the table.
export class CommonAppSettings<D extends boolean = boolean> {
  readonly #warnings: readonly string[];
  readonly #sources: readonly SettingSource[];

  constructor(input: SettingsInput<D> = {}, options: LoadSettingsOptions = {}) {
    const { values, warnings, sources } = resolveSettings(input, options);
    Object.assign(this, values);
    this.#warnings = warnings;
    this.#sources = sources;
    const onWarning = options.onWarning ?? ((message) => process.emitWarning(message, 'RedisPoolSettingsWarning'));
    for (const warning of warnings) onWarning(warning);
    Object.freeze(this);
  }

  /** Warnings found while loading: unknown `REDIS_*` variables and settings Node cannot honour. */
  get warnings(): readonly string[] {
    return this.#warnings;
  }

  /**
   * Where each setting's value came from, by the variable a user sets: code, the environment (with
   * the spelling found), `.env` (with its line), the URL, or the default. Secrets show as `***`.
   * This is what `redis-pool check` prints, to answer "why does this service connect there?".
   */
  sources(): readonly SettingSource[] {
    return this.#sources;
  }

  /** The environment variable names of the settings whose values differ from `other`'s. */
  differences(other: CommonAppSettings): string[] {
    const differing: string[] = [];
    const mine = this as unknown as Record<string, unknown>;
    const theirs = other as unknown as Record<string, unknown>;
    for (const key of Object.keys(mine)) {
      const value = mine[key];
      const same =
        value instanceof Secret
          ? value.equals(theirs[key] as Secret | undefined)
          : Array.isArray(value)
            ? JSON.stringify(value) === JSON.stringify(theirs[key])
            : value === theirs[key];
      // redisSocketPath is the only resolved value without a variable of its own; it comes from REDIS_URL.
      const name = key in SCHEMA ? envOf(key as Key) : 'REDIS_URL';
      if (!same && !differing.includes(name)) differing.push(name);
    }
    return differing;
  }
}

/**
 * Loads and validates the settings: values passed in code win over the process environment,
 * which wins over the `.env` file, which wins over the defaults (pydantic-settings' order).
 * Empty values count as unset. Throws a `SettingsError` listing every invalid input.
 *
 * @example
 * const settings = loadSettings({ serviceName: 'orders', logLevel: 'INFO' });
 */
export function loadSettings<const D extends boolean = boolean>(
  input?: SettingsInput<D>,
  options?: LoadSettingsOptions,
): CommonAppSettings<D> {
  return new CommonAppSettings<D>(input, options);
}

function resolveSettings(input: SettingsInput, options: LoadSettingsOptions) {
  const issues: SettingsIssue[] = [];
  const warnings: string[] = [];
  const environment = options.env ?? process.env;
  const env = byName(environmentVariables(environment), 'the environment', issues);
  const envFile = options.envFile === false ? undefined : resolve(options.envFile ?? '.env');
  const dotenv = byName(
    envFile === undefined ? [] : readEnvFile(envFile, environment, issues, warnings),
    '.env',
    issues,
  );
  unknownOptions(input, issues);

  const candidates: Partial<Record<Key, Candidate>> = {};
  const parsed: Parsed = {};
  for (const key of Object.keys(SCHEMA) as Key[]) {
    const field: Field = SCHEMA[key];
    const candidate =
      pick(input[key], 'code') ??
      fromVariable(env.get(field.env), 'the environment') ??
      fromVariable(dotenv.get(field.env), '.env');
    if (candidate === undefined) continue;
    candidates[key] = candidate;
    // An empty host, user name or password is none, as redis-py reads it; an empty number or
    // boolean is refused, as pydantic refuses it.
    if (candidate.value === '' && 'empty' in field) continue;
    const value = field.parse(candidate.value);
    if (value instanceof Expected) {
      issues.push({
        code: 'invalid_value',
        path: field.env,
        message: `Expected \`${field.env}\` to be ${value.text}, got ${describe(candidate, field.secret === true, field.env)}`,
      });
      continue;
    }
    (parsed as Record<Key, unknown>)[key] = value;
  }

  for (const key of ['serviceName', 'logLevel'] as const) {
    if (parsed[key] !== undefined || issues.some((issue) => issue.path === envOf(key))) continue;
    issues.push({
      code: 'required',
      path: envOf(key),
      message: `\`${envOf(key)}\` is required: set it in the environment or in .env, or pass \`${key}\` in code`,
    });
  }

  const address = resolveAddress(parsed, candidates, issues);
  for (const [key, value] of Object.entries(address.options)) {
    (parsed as Record<string, unknown>)[key] = value;
    candidates[key as Key] = { value, origin: 'REDIS_URL' };
  }
  checkLimits(parsed, issues);
  checkReads(parsed, issues);
  checkSentinel(parsed, address.path !== undefined, issues);
  checkCluster(parsed, address, issues);
  // TLS asked for anywhere counts here, so a scheme conflict is not reported twice.
  checkTlsFiles(parsed, address.ssl || parsed.redisSsl === true, issues);
  warnings.push(...unknownVariables([env, dotenv]));

  if (issues.length > 0) throw new SettingsError(issues);

  // In sentinel and cluster modes the addresses come from the sentinels or the cluster.
  const elsewhere = parsed.redisSentinels !== undefined || parsed.redisClusterNodes !== undefined;
  const values: Record<string, unknown> = { ...SETTINGS_DEFAULTS, ...parsed };
  Object.assign(values, {
    redisUrl: parsed.redisSentinels
      ? sentinelUrl(address, parsed)
      : parsed.redisClusterNodes
        ? clusterUrl(address, parsed.redisClusterNodes)
        : address.url,
    redisHost: elsewhere ? undefined : address.host,
    redisPort: elsewhere ? undefined : address.port,
    redisSocketPath: address.path,
    redisDb: address.db,
    redisUsername: address.username,
    redisPassword: address.password === undefined ? undefined : new Secret(address.password),
    redisSsl: address.ssl,
    redisSentinelPassword:
      parsed.redisSentinelPassword === undefined ? undefined : new Secret(parsed.redisSentinelPassword),
  });
  // Every setting is a field, set or not, in the table's order.
  const ordered = Object.fromEntries(
    [...Object.keys(SCHEMA), 'redisSocketPath'].map((key) => [key, values[key]]),
  ) as unknown as ResolvedSettings;
  const sources = (Object.keys(SCHEMA) as Key[]).map((key): SettingSource => {
    const field: Field = SCHEMA[key];
    const value = values[key];
    const text =
      value === undefined
        ? undefined
        : Array.isArray(value)
          ? value.map((node: { host: string; port: number }) => `${node.host}:${node.port}`).join(',')
          : shown(value instanceof Secret ? value.reveal() : value, field.secret === true, field.env);
    const candidate = key !== 'redisUrl' && address.stated.has(key) ? undefined : candidates[key];
    if (candidate === undefined) {
      const source = address.stated.has(key) && key !== 'redisUrl' ? 'REDIS_URL' : 'default';
      return { variable: field.env, value: text, source };
    }
    const source = candidate.origin === 'the environment' ? 'environment' : candidate.origin;
    const spelling = candidate.name !== undefined && candidate.name !== field.env ? { spelling: candidate.name } : {};
    const line = candidate.line === undefined ? {} : { line: candidate.line };
    return { variable: field.env, value: text, source, ...spelling, ...line };
  });
  return { values: ordered, warnings, sources };
}
