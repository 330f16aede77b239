import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseEnv } from 'node:util';
import { SettingsError, type SettingsIssue } from './errors.js';
import { redactUrl, Secret } from './secret.js';

/** Log levels, by their pino names. `LOG_LEVEL` also accepts the Python names (see `loadSettings`). */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

/**
 * Settings passed in code. Each one overrides the same setting from the process environment and
 * from `.env`. Names are the camel-case forms of the environment variables (`redisSocketTimeout`
 * is `REDIS_SOCKET_TIMEOUT`), with the same units: times are in **seconds**, as in the Python
 * services.
 */
export interface SettingsInput<D extends boolean = boolean> {
  /** `SERVICE_NAME`, required. A name without spaces; it prefixes `CLIENT SETNAME` so `CLIENT LIST` shows who holds each connection. */
  serviceName?: string;
  /** `LOG_LEVEL`, required. `DEBUG`, `INFO`, `WARNING`, `ERROR`, `CRITICAL` (Python names, any case) or a pino level name. */
  logLevel?: string;
  /**
   * `REDIS_URL`: `redis://[user[:password]@]host[:port][/db]`, `rediss://…` for TLS, or
   * `unix:///path/to/redis.sock[?db=N]`. The URL is the base; the individual fields below may fill
   * parts it leaves out, and a field that contradicts it is an error.
   * @default 'redis://localhost:6379/0'
   * @example 'rediss://app@redis.internal:6380/2'
   */
  redisUrl?: string;
  /** `REDIS_HOST`: fills in the host when there is no `REDIS_URL`. */
  redisHost?: string;
  /** `REDIS_PORT`: 1–65535; fills in the port when `REDIS_URL` has none. */
  redisPort?: number | string;
  /** `REDIS_DB`: an integer ≥ 0; fills in the database when `REDIS_URL` has no `/db` path. */
  redisDb?: number | string;
  /** `REDIS_USERNAME`: the ACL user, when `REDIS_URL` has none. */
  redisUsername?: string;
  /** `REDIS_PASSWORD`: usually kept in a secret store while `REDIS_URL` holds no password. */
  redisPassword?: string;
  /** `REDIS_SSL`: use TLS. Must agree with the URL's scheme when `REDIS_URL` is set. */
  redisSsl?: boolean | string;
  /** `REDIS_SSL_CA_CERTS`: a PEM file of CA certificates to trust instead of Node's default store. Needs TLS. */
  redisSslCaCerts?: string;
  /** `REDIS_SSL_CERTFILE`: a PEM client certificate, for servers that require one. Needs TLS and `REDIS_SSL_KEYFILE`. */
  redisSslCertfile?: string;
  /** `REDIS_SSL_KEYFILE`: the PEM private key of `REDIS_SSL_CERTFILE`. */
  redisSslKeyfile?: string;
  /**
   * `REDIS_DECODE_RESPONSES`: `true` returns strings, `false` returns Buffers. Pass it in code as a
   * literal and the client's types follow it.
   * @default true
   */
  redisDecodeResponses?: D;
  /** `REDIS_SOCKET_CONNECT_TIMEOUT`, seconds > 0: the budget for connecting, TLS, authenticating and the first PING. @default 5 */
  redisSocketConnectTimeout?: number | string;
  /** `REDIS_SOCKET_TIMEOUT`, seconds > 0: a connection with commands outstanding and no reply for this long is declared hung. @default 5 */
  redisSocketTimeout?: number | string;
  /** `REDIS_MAX_CONNECTIONS`, integer ≥ 1: the hard cap on sockets the pool holds at once. @default 10 */
  redisMaxConnections?: number | string;
  /** `REDIS_HEALTH_CHECK_INTERVAL`, seconds ≥ 0: idle time after which a connection is checked with PING; 0 turns checks off. @default 30 */
  redisHealthCheckInterval?: number | string;
  /** `REDIS_SOCKET_KEEPALIVE`: TCP keepalive on every socket. @default true */
  redisSocketKeepalive?: boolean | string;
  /** `REDIS_SOCKET_KEEPALIVE_INITIAL_DELAY`, seconds ≥ 0: idle time before the first keepalive probe. @default 30 */
  redisSocketKeepaliveInitialDelay?: number | string;
  /** `REDIS_POOL_TIMEOUT`, seconds > 0: how long to wait for a leased connection. @default 5 */
  redisPoolTimeout?: number | string;
  /**
   * `REDIS_MIN_IDLE_CONNECTIONS`, integer ≥ 0: leasable connections opened when the pool opens and
   * kept idle from then on, so the first `withConnection()` calls need not connect. At most
   * `REDIS_MAX_CONNECTIONS` − 1 (the shared connection takes one). @default 0
   */
  redisMinIdleConnections?: number | string;
  /** `REDIS_IDLE_TIMEOUT`, seconds ≥ 0: an idle leasable connection above the minimum is closed after this long; 0 never. @default 1800 */
  redisIdleTimeout?: number | string;
  /**
   * `REDIS_MAX_LIFETIME`, seconds ≥ 0: a leasable connection is closed once it is this old (each
   * one up to 10 % sooner, so they do not all expire together); 0 never. @default 0
   */
  redisMaxLifetime?: number | string;
  /**
   * `REDIS_LEAK_DETECTION_THRESHOLD`, seconds ≥ 0: a lease held longer than this is reported once,
   * with the stack of the code that took it; 0 turns detection off. @default 0
   */
  redisLeakDetectionThreshold?: number | string;
  /**
   * `REDIS_RECONNECT_BASE_DELAY`, seconds > 0: the first wait before reconnecting a lost
   * connection. Each failed attempt doubles it, up to `REDIS_RECONNECT_MAX_DELAY`, and every wait
   * is drawn at random between half and all of that (jitter). @default 0.05
   */
  redisReconnectBaseDelay?: number | string;
  /**
   * `REDIS_RECONNECT_MAX_DELAY`, seconds > 0: the longest wait between reconnect attempts, so a
   * server that comes back is found again within about this long. @default 0.5
   */
  redisReconnectMaxDelay?: number | string;
  /**
   * `REDIS_OFFLINE_QUEUE`: while the shared connection is down, `true` holds commands until it is
   * back (bounded by the two settings below); `false` rejects them at once with
   * `RedisUnavailableError`. @default true
   */
  redisOfflineQueue?: boolean | string;
  /** `REDIS_OFFLINE_QUEUE_SIZE`, integer ≥ 1: commands held at most while down; more are rejected. @default 1000 */
  redisOfflineQueueSize?: number | string;
  /** `REDIS_OFFLINE_QUEUE_TIMEOUT`, seconds > 0: how long a held command waits before it is rejected. @default 5 */
  redisOfflineQueueTimeout?: number | string;
  /**
   * `REDIS_SENTINELS`: `host:port,host:port` of Redis Sentinels. Selects sentinel mode: the pool
   * asks them for the primary of `REDIS_SENTINEL_MASTER` and follows its failovers. `REDIS_URL`
   * then gives only credentials, TLS and database; its host and port are not used.
   * @example '10.0.0.1:26379,10.0.0.2:26379,10.0.0.3:26379'
   */
  redisSentinels?: string;
  /** `REDIS_SENTINEL_MASTER`: the name the sentinels monitor the primary under; required with `REDIS_SENTINELS`. */
  redisSentinelMaster?: string;
  /** `REDIS_SENTINEL_USERNAME`: the ACL user for the sentinels themselves, when they require one. */
  redisSentinelUsername?: string;
  /** `REDIS_SENTINEL_PASSWORD`: the password for the sentinels themselves (`requirepass` in sentinel.conf). */
  redisSentinelPassword?: string;
  /**
   * `REDIS_CLUSTER_NODES`: `host:port,host:port` of some nodes of a Redis Cluster. Selects
   * cluster mode: the rest of the cluster is discovered from them. `REDIS_URL` then gives only
   * credentials and TLS; the database must be 0, the only one a cluster has.
   * @example '10.0.0.1:6379,10.0.0.2:6379'
   */
  redisClusterNodes?: string;
}

/** Where `loadSettings` reads from, and where its warnings go. */
export interface LoadSettingsOptions {
  /** The environment to read. @default process.env */
  env?: Record<string, string | undefined>;
  /** The `.env` file to read, or `false` for none. A missing file is not an error. @default '.env' in the current directory */
  envFile?: string | false;
  /** Receives one line per warning (unknown `REDIS_*` variables, ignored settings). @default process.emitWarning */
  onWarning?: (message: string) => void;
}

type Origin = 'code' | 'the environment' | '.env';
interface Candidate {
  value: unknown;
  origin: Origin;
}

/** A parser's verdict on a bad value: what it expected instead. */
class Expected {
  constructor(readonly text: string) {}
}
type Parser<T> = (raw: unknown) => T | Expected;

const TRUE_WORDS = new Set(['true', '1', 'yes', 'on']);
const FALSE_WORDS = new Set(['false', '0', 'no', 'off']);
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

const toNumber = (raw: unknown): number =>
  typeof raw === 'number'
    ? raw
    : typeof raw === 'string' && /^\s*[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?\s*$/i.test(raw)
      ? Number(raw)
      : Number.NaN;

const text: Parser<string> = (raw) =>
  typeof raw === 'string' && raw.trim() !== '' ? raw : new Expected('a non-empty string');

/** One `host:port` of a node list; IPv6 hosts in brackets. */
export interface NodeAddress {
  host: string;
  port: number;
}

const nodeList: Parser<readonly NodeAddress[]> = (raw) => {
  const expected = new Expected('a comma-separated list of host:port, like 10.0.0.1:26379,10.0.0.2:26379');
  if (typeof raw !== 'string') return expected;
  const nodes: NodeAddress[] = [];
  for (const item of raw.split(',')) {
    const match = /^\s*(\[[0-9a-f:.]+\]|[^\s:[\]]+):(\d{1,5})\s*$/i.exec(item);
    const port = Number(match?.[2]);
    if (!match || port < 1 || port > 65535) return expected;
    nodes.push({ host: (match[1] as string).replace(/^\[|\]$/g, ''), port });
  }
  return nodes;
};

const clientName: Parser<string> = (raw) =>
  typeof raw === 'string' && /^[\x21-\x7e]+$/.test(raw)
    ? raw
    : new Expected('a name of printable characters without spaces (it prefixes CLIENT SETNAME)');

const boolean: Parser<boolean> = (raw) => {
  if (typeof raw === 'boolean') return raw;
  const word = typeof raw === 'string' ? raw.trim().toLowerCase() : undefined;
  if (word !== undefined && TRUE_WORDS.has(word)) return true;
  if (word !== undefined && FALSE_WORDS.has(word)) return false;
  return new Expected('a boolean (true/false, 1/0, yes/no or on/off)');
};

const integer =
  (min: number, max = Number.MAX_SAFE_INTEGER): Parser<number> =>
  (raw) => {
    const n = toNumber(raw);
    if (Number.isInteger(n) && n >= min && n <= max) return n;
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
    return new Expected(`an integer ${range}`);
  };

const seconds =
  (allowZero: boolean): Parser<number> =>
  (raw) => {
    const n = toNumber(raw);
    if (Number.isFinite(n) && (allowZero ? n >= 0 : n > 0)) return n;
    return new Expected(`a number of seconds ${allowZero ? '>= 0' : '> 0'}`);
  };

const logLevel: Parser<LogLevel> = (raw) =>
  (typeof raw === 'string' && LOG_LEVELS[raw.trim().toLowerCase()]) ||
  new Expected(
    'one of DEBUG, INFO, WARNING, ERROR, CRITICAL (or a pino level: trace, debug, info, warn, error, fatal, silent)',
  );

/** One setting: its environment variable and how to read it. */
interface Field<T> {
  env: string;
  parse: Parser<T>;
  secret?: true;
}

const FIELDS = {
  serviceName: { env: 'SERVICE_NAME', parse: clientName },
  logLevel: { env: 'LOG_LEVEL', parse: logLevel },
  redisUrl: { env: 'REDIS_URL', parse: text, secret: true },
  redisHost: { env: 'REDIS_HOST', parse: text },
  redisPort: { env: 'REDIS_PORT', parse: integer(1, 65535) },
  redisDb: { env: 'REDIS_DB', parse: integer(0) },
  redisUsername: { env: 'REDIS_USERNAME', parse: text },
  redisPassword: { env: 'REDIS_PASSWORD', parse: text, secret: true },
  redisSsl: { env: 'REDIS_SSL', parse: boolean },
  redisSslCaCerts: { env: 'REDIS_SSL_CA_CERTS', parse: text },
  redisSslCertfile: { env: 'REDIS_SSL_CERTFILE', parse: text },
  redisSslKeyfile: { env: 'REDIS_SSL_KEYFILE', parse: text },
  redisDecodeResponses: { env: 'REDIS_DECODE_RESPONSES', parse: boolean },
  redisSocketConnectTimeout: { env: 'REDIS_SOCKET_CONNECT_TIMEOUT', parse: seconds(false) },
  redisSocketTimeout: { env: 'REDIS_SOCKET_TIMEOUT', parse: seconds(false) },
  redisMaxConnections: { env: 'REDIS_MAX_CONNECTIONS', parse: integer(1) },
  redisHealthCheckInterval: { env: 'REDIS_HEALTH_CHECK_INTERVAL', parse: seconds(true) },
  redisSocketKeepalive: { env: 'REDIS_SOCKET_KEEPALIVE', parse: boolean },
  redisSocketKeepaliveInitialDelay: { env: 'REDIS_SOCKET_KEEPALIVE_INITIAL_DELAY', parse: seconds(true) },
  redisPoolTimeout: { env: 'REDIS_POOL_TIMEOUT', parse: seconds(false) },
  redisMinIdleConnections: { env: 'REDIS_MIN_IDLE_CONNECTIONS', parse: integer(0) },
  redisIdleTimeout: { env: 'REDIS_IDLE_TIMEOUT', parse: seconds(true) },
  redisMaxLifetime: { env: 'REDIS_MAX_LIFETIME', parse: seconds(true) },
  redisLeakDetectionThreshold: { env: 'REDIS_LEAK_DETECTION_THRESHOLD', parse: seconds(true) },
  redisReconnectBaseDelay: { env: 'REDIS_RECONNECT_BASE_DELAY', parse: seconds(false) },
  redisReconnectMaxDelay: { env: 'REDIS_RECONNECT_MAX_DELAY', parse: seconds(false) },
  redisOfflineQueue: { env: 'REDIS_OFFLINE_QUEUE', parse: boolean },
  redisOfflineQueueSize: { env: 'REDIS_OFFLINE_QUEUE_SIZE', parse: integer(1) },
  redisOfflineQueueTimeout: { env: 'REDIS_OFFLINE_QUEUE_TIMEOUT', parse: seconds(false) },
  redisSentinels: { env: 'REDIS_SENTINELS', parse: nodeList },
  redisSentinelMaster: { env: 'REDIS_SENTINEL_MASTER', parse: text },
  redisSentinelUsername: { env: 'REDIS_SENTINEL_USERNAME', parse: text },
  redisSentinelPassword: { env: 'REDIS_SENTINEL_PASSWORD', parse: text, secret: true },
  redisClusterNodes: { env: 'REDIS_CLUSTER_NODES', parse: nodeList },
} satisfies Record<keyof SettingsInput, Field<unknown>>;

type Key = keyof typeof FIELDS;
type Parsed = { [K in Key]?: (typeof FIELDS)[K] extends Field<infer T> ? T : never };

/** Defaults for everything that is not part of the server address. */
export const SETTINGS_DEFAULTS = {
  redisDecodeResponses: true,
  redisSocketConnectTimeout: 5,
  redisSocketTimeout: 5,
  redisMaxConnections: 10,
  redisHealthCheckInterval: 30,
  redisSocketKeepalive: true,
  redisSocketKeepaliveInitialDelay: 30,
  redisPoolTimeout: 5,
  redisMinIdleConnections: 0,
  redisIdleTimeout: 1800,
  redisMaxLifetime: 0,
  redisLeakDetectionThreshold: 0,
  redisReconnectBaseDelay: 0.05,
  redisReconnectMaxDelay: 0.5,
  redisOfflineQueue: true,
  redisOfflineQueueSize: 1000,
  redisOfflineQueueTimeout: 5,
} as const satisfies Parsed;

/** The address used when neither `REDIS_URL` nor the individual fields say otherwise. */
const DEFAULT_ADDRESS = { host: 'localhost', port: 6379, db: 0 };

/** Known names that are not settings of ours but must not be reported as typos. */
const NOT_SETTINGS = new Set(['REDIS_SERVER_BIN']);
/** Names users carry over from Python, which Node cannot honour; each gets its own warning. */
const UNSUPPORTED: Record<string, string> = {
  REDIS_SOCKET_KEEPALIVE_INTERVAL:
    'Node.js cannot set TCP_KEEPINTVL per socket; libuv sends keepalive probes 1 s apart',
  REDIS_SOCKET_KEEPALIVE_COUNT: 'Node.js cannot set TCP_KEEPCNT per socket; libuv gives up after 10 probes',
};

const ENV_NAMES: readonly string[] = Object.values(FIELDS).map((field) => field.env);

/**
 * The resolved, validated settings of one pool. Built by `loadSettings()` (or
 * `new CommonAppSettings()`), which reads code values, then the process environment, then `.env`,
 * then defaults, and throws one `SettingsError` listing every problem.
 *
 * The password never sits in a string property: `redisUrl` is rebuilt without it and
 * `redisPassword` is a {@link Secret}. So `JSON.stringify`, `util.inspect`, spreading and logging a
 * settings object are all safe.
 */
export class CommonAppSettings<D extends boolean = boolean> {
  declare readonly serviceName: string;
  declare readonly logLevel: LogLevel;
  /** The server address as a URL, without password: `redis://user@host:6379/0` or `unix:///path?db=0`. */
  declare readonly redisUrl: string;
  /** The server's host; `undefined` for a unix socket. */
  declare readonly redisHost: string | undefined;
  /** The server's port; `undefined` for a unix socket. */
  declare readonly redisPort: number | undefined;
  /** The unix socket path, for `unix://` URLs. */
  declare readonly redisSocketPath: string | undefined;
  declare readonly redisDb: number;
  declare readonly redisUsername: string | undefined;
  declare readonly redisPassword: Secret | undefined;
  declare readonly redisSsl: boolean;
  declare readonly redisSslCaCerts: string | undefined;
  declare readonly redisSslCertfile: string | undefined;
  declare readonly redisSslKeyfile: string | undefined;
  declare readonly redisDecodeResponses: D;
  declare readonly redisSocketConnectTimeout: number;
  declare readonly redisSocketTimeout: number;
  declare readonly redisMaxConnections: number;
  declare readonly redisHealthCheckInterval: number;
  declare readonly redisSocketKeepalive: boolean;
  declare readonly redisSocketKeepaliveInitialDelay: number;
  declare readonly redisPoolTimeout: number;
  declare readonly redisMinIdleConnections: number;
  declare readonly redisIdleTimeout: number;
  declare readonly redisMaxLifetime: number;
  declare readonly redisLeakDetectionThreshold: number;
  declare readonly redisReconnectBaseDelay: number;
  declare readonly redisReconnectMaxDelay: number;
  declare readonly redisOfflineQueue: boolean;
  declare readonly redisOfflineQueueSize: number;
  declare readonly redisOfflineQueueTimeout: number;
  /** The sentinels, in sentinel mode. */
  declare readonly redisSentinels: readonly NodeAddress[] | undefined;
  declare readonly redisSentinelMaster: string | undefined;
  declare readonly redisSentinelUsername: string | undefined;
  declare readonly redisSentinelPassword: Secret | undefined;
  /** The seed nodes, in cluster mode. */
  declare readonly redisClusterNodes: readonly NodeAddress[] | undefined;
  readonly #warnings: readonly string[];

  constructor(input: SettingsInput<D> = {}, options: LoadSettingsOptions = {}) {
    const { values, warnings } = resolveSettings(input, options);
    Object.assign(this, values);
    this.#warnings = warnings;
    const onWarning = options.onWarning ?? ((message) => process.emitWarning(message, 'RedisPoolSettingsWarning'));
    for (const warning of warnings) onWarning(warning);
    Object.freeze(this);
  }

  /** Warnings found while loading: unknown `REDIS_*` variables and settings Node cannot honour. */
  get warnings(): readonly string[] {
    return this.#warnings;
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
      const name = key in FIELDS ? FIELDS[key as Key].env : 'REDIS_URL';
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

function describe(candidate: Candidate, secret: boolean, env: string): string {
  const { value, origin } = candidate;
  const shown =
    secret && env === 'REDIS_URL' && typeof value === 'string' ? redactUrl(value) : secret ? '***' : String(value);
  const where = origin === 'code' ? 'in code' : `from ${origin}`;
  return `\`${shown}\` (${typeof value}, ${where})`;
}

function readEnvFile(path: string, issues: SettingsIssue[]): Record<string, string | undefined> {
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

function resolveSettings(input: SettingsInput, options: LoadSettingsOptions) {
  const issues: SettingsIssue[] = [];
  const warnings: string[] = [];
  const env = options.env ?? process.env;
  const dotenv = options.envFile === false ? {} : readEnvFile(resolve(options.envFile ?? '.env'), issues);

  for (const key of Object.keys(input)) {
    if (key in FIELDS) continue;
    const hint = closest(key, Object.keys(FIELDS));
    issues.push({
      code: 'unknown_option',
      path: key,
      message: `Unknown setting \`${key}\` passed in code${hint ? `; did you mean \`${hint}\`?` : ''}`,
    });
  }

  const candidates: Partial<Record<Key, Candidate>> = {};
  const parsed: Parsed = {};
  for (const key of Object.keys(FIELDS) as Key[]) {
    const field: Field<unknown> = FIELDS[key];
    const candidate =
      pick(input[key], 'code') ?? pick(env[field.env], 'the environment') ?? pick(dotenv[field.env], '.env');
    if (candidate === undefined) continue;
    const value = field.parse(candidate.value);
    if (value instanceof Expected) {
      issues.push({
        code: 'invalid_value',
        path: field.env,
        message: `Expected \`${field.env}\` to be ${value.text}, got ${describe(candidate, field.secret === true, field.env)}`,
      });
      continue;
    }
    candidates[key] = candidate;
    (parsed as Record<Key, unknown>)[key] = value;
  }

  for (const key of ['serviceName', 'logLevel'] as const) {
    if (parsed[key] !== undefined || issues.some((issue) => issue.path === FIELDS[key].env)) continue;
    issues.push({
      code: 'required',
      path: FIELDS[key].env,
      message: `\`${FIELDS[key].env}\` is required: set it in the environment or in .env, or pass \`${key}\` in code`,
    });
  }

  const minIdle = parsed.redisMinIdleConnections ?? SETTINGS_DEFAULTS.redisMinIdleConnections;
  const max = parsed.redisMaxConnections ?? SETTINGS_DEFAULTS.redisMaxConnections;
  if (minIdle > max - 1) {
    issues.push({
      code: 'conflict',
      path: 'REDIS_MIN_IDLE_CONNECTIONS',
      message: `\`REDIS_MIN_IDLE_CONNECTIONS\` (${minIdle}) must leave room for the shared connection: at most \`REDIS_MAX_CONNECTIONS\` − 1 (${max - 1})`,
    });
  }

  const baseDelay = parsed.redisReconnectBaseDelay ?? SETTINGS_DEFAULTS.redisReconnectBaseDelay;
  const maxDelay = parsed.redisReconnectMaxDelay ?? SETTINGS_DEFAULTS.redisReconnectMaxDelay;
  if (maxDelay < baseDelay) {
    issues.push({
      code: 'conflict',
      path: 'REDIS_RECONNECT_MAX_DELAY',
      message: `\`REDIS_RECONNECT_MAX_DELAY\` (${maxDelay} s) must be at least \`REDIS_RECONNECT_BASE_DELAY\` (${baseDelay} s)`,
    });
  }

  const address = resolveAddress(parsed, candidates, issues);
  checkSentinel(parsed, address.path !== undefined, issues);
  checkCluster(parsed, address, issues);
  // TLS asked for anywhere counts here, so a scheme conflict is not reported twice.
  checkTlsFiles(parsed, address.ssl || parsed.redisSsl === true, issues);

  for (const source of [env, dotenv]) {
    for (const name of Object.keys(source)) {
      if (!name.startsWith('REDIS_') || ENV_NAMES.includes(name) || NOT_SETTINGS.has(name)) continue;
      const reason = UNSUPPORTED[name];
      const hint = reason ? undefined : closest(name, ENV_NAMES);
      const line = reason
        ? `${name} is ignored: ${reason}`
        : `Unknown setting ${name} is ignored${hint ? `; did you mean ${hint}?` : ''}`;
      if (!warnings.includes(line)) warnings.push(line);
    }
  }

  if (issues.length > 0) throw new SettingsError(issues);

  const values = {
    serviceName: parsed.serviceName as string,
    logLevel: parsed.logLevel as LogLevel,
    redisUrl: parsed.redisSentinels
      ? sentinelUrl(address, parsed)
      : parsed.redisClusterNodes
        ? clusterUrl(address, parsed.redisClusterNodes)
        : address.url,
    // In sentinel and cluster modes the addresses come from the sentinels or the cluster.
    redisHost: parsed.redisSentinels || parsed.redisClusterNodes ? undefined : address.host,
    redisPort: parsed.redisSentinels || parsed.redisClusterNodes ? undefined : address.port,
    redisSocketPath: address.path,
    redisDb: address.db,
    redisUsername: address.username,
    redisPassword: address.password === undefined ? undefined : new Secret(address.password),
    redisSsl: address.ssl,
    redisSslCaCerts: parsed.redisSslCaCerts,
    redisSslCertfile: parsed.redisSslCertfile,
    redisSslKeyfile: parsed.redisSslKeyfile,
    redisDecodeResponses: parsed.redisDecodeResponses ?? SETTINGS_DEFAULTS.redisDecodeResponses,
    redisSocketConnectTimeout: parsed.redisSocketConnectTimeout ?? SETTINGS_DEFAULTS.redisSocketConnectTimeout,
    redisSocketTimeout: parsed.redisSocketTimeout ?? SETTINGS_DEFAULTS.redisSocketTimeout,
    redisMaxConnections: parsed.redisMaxConnections ?? SETTINGS_DEFAULTS.redisMaxConnections,
    redisHealthCheckInterval: parsed.redisHealthCheckInterval ?? SETTINGS_DEFAULTS.redisHealthCheckInterval,
    redisSocketKeepalive: parsed.redisSocketKeepalive ?? SETTINGS_DEFAULTS.redisSocketKeepalive,
    redisSocketKeepaliveInitialDelay:
      parsed.redisSocketKeepaliveInitialDelay ?? SETTINGS_DEFAULTS.redisSocketKeepaliveInitialDelay,
    redisPoolTimeout: parsed.redisPoolTimeout ?? SETTINGS_DEFAULTS.redisPoolTimeout,
    redisMinIdleConnections: parsed.redisMinIdleConnections ?? SETTINGS_DEFAULTS.redisMinIdleConnections,
    redisIdleTimeout: parsed.redisIdleTimeout ?? SETTINGS_DEFAULTS.redisIdleTimeout,
    redisMaxLifetime: parsed.redisMaxLifetime ?? SETTINGS_DEFAULTS.redisMaxLifetime,
    redisLeakDetectionThreshold: parsed.redisLeakDetectionThreshold ?? SETTINGS_DEFAULTS.redisLeakDetectionThreshold,
    redisReconnectBaseDelay: baseDelay,
    redisReconnectMaxDelay: maxDelay,
    redisOfflineQueue: parsed.redisOfflineQueue ?? SETTINGS_DEFAULTS.redisOfflineQueue,
    redisOfflineQueueSize: parsed.redisOfflineQueueSize ?? SETTINGS_DEFAULTS.redisOfflineQueueSize,
    redisOfflineQueueTimeout: parsed.redisOfflineQueueTimeout ?? SETTINGS_DEFAULTS.redisOfflineQueueTimeout,
    redisSentinels: parsed.redisSentinels,
    redisSentinelMaster: parsed.redisSentinelMaster,
    redisSentinelUsername: parsed.redisSentinelUsername,
    redisSentinelPassword:
      parsed.redisSentinelPassword === undefined ? undefined : new Secret(parsed.redisSentinelPassword),
    redisClusterNodes: parsed.redisClusterNodes,
  };
  return { values, warnings };
}

function pick(value: unknown, origin: Origin): Candidate | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  return { value, origin };
}

interface Address {
  url: string;
  host: string | undefined;
  port: number | undefined;
  path: string | undefined;
  db: number;
  username: string | undefined;
  password: string | undefined;
  ssl: boolean;
}

/** The parts of the address a URL may state; `undefined` means the URL leaves that part out. */
interface UrlParts {
  unix: boolean;
  host?: string | undefined;
  port?: number | undefined;
  path?: string | undefined;
  db?: number | undefined;
  username?: string | undefined;
  password?: string | undefined;
  ssl: boolean;
}

/**
 * The URL-versus-fields rule: the URL is the base, a field may fill a part the URL leaves out,
 * and a field that contradicts a part the URL states is an issue naming both variables.
 */
function resolveAddress(parsed: Parsed, candidates: Partial<Record<Key, Candidate>>, issues: SettingsIssue[]): Address {
  const urlCandidate = candidates.redisUrl;
  const parts = urlCandidate ? parseRedisUrl(urlCandidate, issues) : undefined;

  const fill = <T>(key: Key, part: string, fromUrl: T | undefined, fromField: T | undefined, secret = false) => {
    if (fromUrl === undefined || fromField === undefined || fromUrl === fromField) return fromUrl ?? fromField;
    const field = FIELDS[key].env;
    const message =
      key === 'redisSsl'
        ? `\`REDIS_SSL\` (${fromField}) contradicts the scheme of \`REDIS_URL\` (${fromUrl ? 'rediss' : 'redis'}://); use rediss:// for TLS and drop REDIS_SSL`
        : secret
          ? `\`${field}\` contradicts the ${part} in \`REDIS_URL\`; state the ${part} in one place only`
          : `\`${field}\` (${fromField}) contradicts the ${part} in \`REDIS_URL\` (${fromUrl}); state the ${part} in one place only`;
    issues.push({ code: 'conflict', path: field, message });
    return fromUrl;
  };

  if (parts?.unix) {
    for (const key of ['redisHost', 'redisPort', 'redisSsl'] as const) {
      if (parsed[key] === undefined || (key === 'redisSsl' && parsed.redisSsl === false)) continue;
      issues.push({
        code: 'conflict',
        path: FIELDS[key].env,
        message: `\`${FIELDS[key].env}\` cannot be used with a unix:// \`REDIS_URL\`, which connects to a socket file`,
      });
    }
  }

  const unix = parts?.unix === true;
  const host = unix ? undefined : (fill('redisHost', 'host', parts?.host, parsed.redisHost) ?? DEFAULT_ADDRESS.host);
  const port = unix ? undefined : (fill('redisPort', 'port', parts?.port, parsed.redisPort) ?? DEFAULT_ADDRESS.port);
  const db = fill('redisDb', 'database', parts?.db, parsed.redisDb) ?? DEFAULT_ADDRESS.db;
  const username = fill('redisUsername', 'username', parts?.username, parsed.redisUsername);
  const password = fill('redisPassword', 'password', parts?.password, parsed.redisPassword, true);
  const ssl = unix ? false : (fill('redisSsl', 'scheme', parts?.ssl, parsed.redisSsl) ?? false);

  const user = username === undefined ? '' : `${encodeURIComponent(username)}@`;
  const url = unix
    ? `unix://${user}${parts?.path}?db=${db}`
    : `${ssl ? 'rediss' : 'redis'}://${user}${host?.includes(':') ? `[${host}]` : host}:${port}/${db}`;
  return { url, host, port, path: parts?.path, db, username, password, ssl };
}

function parseRedisUrl(candidate: Candidate, issues: SettingsIssue[]): UrlParts | undefined {
  const raw = String(candidate.value).trim();
  const bad = (expected: string) => {
    issues.push({
      code: 'invalid_value',
      path: 'REDIS_URL',
      message: `Expected \`REDIS_URL\` to be ${expected}, got ${describe(candidate, true, 'REDIS_URL')}`,
    });
    return undefined;
  };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    // The parser's own error echoes the input, password included, so it is not kept as a cause.
    return bad('a URL like redis://[user[:password]@]host[:port][/db], rediss://… or unix:///path/to/socket');
  }
  const username = url.username ? decodeURIComponent(url.username) : undefined;
  const password = url.password ? decodeURIComponent(url.password) : undefined;
  if (url.protocol === 'unix:') {
    const db = url.searchParams.get('db');
    const dbNumber = db === null ? undefined : integer(0)(db);
    if (!url.pathname || url.pathname === '/')
      return bad('a unix:// URL with a socket path, like unix:///run/redis.sock');
    if (dbNumber instanceof Expected) return bad('a unix:// URL whose ?db= is an integer >= 0');
    if ([...url.searchParams.keys()].some((name) => name !== 'db'))
      return bad('a unix:// URL with no query other than ?db=');
    return { unix: true, path: decodeURIComponent(url.pathname), db: dbNumber, username, password, ssl: false };
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    return bad('a URL with the scheme redis://, rediss:// or unix://');
  }
  if (url.search || url.hash) return bad('a redis:// URL without a query or fragment');
  const dbText = url.pathname.replace(/^\//, '');
  const db = dbText === '' ? undefined : integer(0)(dbText);
  if (db instanceof Expected) return bad('a URL whose path is a database number, like /0');
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1') || undefined;
  const port = url.port === '' ? undefined : Number(url.port);
  if (port === 0) return bad('a URL with a port from 1 to 65535');
  return { unix: false, host, port, db, username, password, ssl: url.protocol === 'rediss:' };
}

function checkTlsFiles(parsed: Parsed, ssl: boolean, issues: SettingsIssue[]): void {
  for (const key of ['redisSslCaCerts', 'redisSslCertfile', 'redisSslKeyfile'] as const) {
    const path = parsed[key];
    if (path === undefined) continue;
    const env = FIELDS[key].env;
    if (!ssl) {
      issues.push({
        code: 'conflict',
        path: env,
        message: `\`${env}\` needs TLS: use a rediss:// \`REDIS_URL\` or set \`REDIS_SSL=true\``,
      });
      continue;
    }
    try {
      readFileSync(path);
    } catch (error) {
      issues.push({
        code: 'invalid_value',
        path: env,
        message: `Expected \`${env}\` to be a readable PEM file, got \`${path}\` (${(error as NodeJS.ErrnoException).code})`,
      });
    }
  }
  if ((parsed.redisSslCertfile === undefined) !== (parsed.redisSslKeyfile === undefined)) {
    const missing = parsed.redisSslCertfile === undefined ? 'REDIS_SSL_CERTFILE' : 'REDIS_SSL_KEYFILE';
    issues.push({
      code: 'required',
      path: missing,
      message: '`REDIS_SSL_CERTFILE` and `REDIS_SSL_KEYFILE` go together: a client certificate needs its key',
    });
  }
}

/** The candidate nearest to `name` by edit distance, if it is close enough to be a likely typo. */
/**
 * The URL shown for a pool in sentinel mode, in logs and errors: the sentinels and the master
 * name instead of one address, for example `redis+sentinel://app@10.0.0.1:26379,10.0.0.2:26379/mymaster/0`.
 */
function sentinelUrl(address: Address, parsed: Parsed): string {
  return `${address.ssl ? 'rediss' : 'redis'}+sentinel://${userAndNodes(address, parsed.redisSentinels ?? [])}/${parsed.redisSentinelMaster}/${address.db}`;
}

/** The URL shown for a pool in cluster mode: `redis+cluster://app@10.0.0.1:6379,10.0.0.2:6379`. */
function clusterUrl(address: Address, nodes: readonly NodeAddress[]): string {
  return `${address.ssl ? 'rediss' : 'redis'}+cluster://${userAndNodes(address, nodes)}`;
}

function userAndNodes(address: Address, nodes: readonly NodeAddress[]): string {
  const user = address.username === undefined ? '' : `${encodeURIComponent(address.username)}@`;
  return user + nodes.map(({ host, port }) => `${host.includes(':') ? `[${host}]` : host}:${port}`).join(',');
}

/** Cluster mode's rules: one mode at a time, the address comes from the cluster, and database 0 only. */
function checkCluster(parsed: Parsed, address: Address, issues: SettingsIssue[]): void {
  if (!parsed.redisClusterNodes) return;
  const conflict = (path: string, message: string) => issues.push({ code: 'conflict', path, message });
  if (parsed.redisSentinels) {
    conflict(
      'REDIS_CLUSTER_NODES',
      '`REDIS_CLUSTER_NODES` and `REDIS_SENTINELS` select different modes; set one of them',
    );
  }
  for (const key of ['redisHost', 'redisPort'] as const) {
    if (parsed[key] !== undefined) {
      conflict(
        FIELDS[key].env,
        `\`${FIELDS[key].env}\` cannot be used with \`REDIS_CLUSTER_NODES\`: the cluster gives its nodes' addresses`,
      );
    }
  }
  if (address.path !== undefined)
    conflict('REDIS_URL', 'A unix:// `REDIS_URL` cannot be used with `REDIS_CLUSTER_NODES`');
  if (address.db !== 0) {
    const where = parsed.redisDb !== undefined ? 'REDIS_DB' : 'REDIS_URL';
    conflict(
      where,
      `Redis Cluster has only database 0, but \`${where}\` asks for ${address.db} (REDIS_CLUSTER_NODES is set)`,
    );
  }
}

/** Sentinel mode's rules: the master name goes with the sentinels, and the address comes from them. */
function checkSentinel(parsed: Parsed, unix: boolean, issues: SettingsIssue[]): void {
  const conflict = (path: string, message: string) => issues.push({ code: 'conflict', path, message });
  if (!parsed.redisSentinels) {
    // A malformed list has its own issue; what goes with it is not reported again.
    if (issues.some((issue) => issue.path === 'REDIS_SENTINELS')) return;
    for (const key of ['redisSentinelMaster', 'redisSentinelUsername', 'redisSentinelPassword'] as const) {
      if (parsed[key] !== undefined)
        conflict(FIELDS[key].env, `\`${FIELDS[key].env}\` needs \`REDIS_SENTINELS\`, which is empty or not set`);
    }
    return;
  }
  if (parsed.redisSentinelMaster === undefined) {
    issues.push({
      code: 'required',
      path: 'REDIS_SENTINEL_MASTER',
      message:
        '`REDIS_SENTINEL_MASTER` is required with `REDIS_SENTINELS`: the name the sentinels monitor the primary under',
    });
  }
  for (const key of ['redisHost', 'redisPort'] as const) {
    if (parsed[key] !== undefined) {
      conflict(
        FIELDS[key].env,
        `\`${FIELDS[key].env}\` cannot be used with \`REDIS_SENTINELS\`: the sentinels give the primary's address`,
      );
    }
  }
  if (unix)
    conflict(
      'REDIS_URL',
      'A unix:// `REDIS_URL` cannot be used with `REDIS_SENTINELS`: the sentinels give a TCP address',
    );
}

function closest(name: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(name.length / 4)) + 1;
  for (const candidate of candidates) {
    const distance = editDistance(name.toUpperCase(), candidate.toUpperCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] as number;
}
