import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
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
  /**
   * `REDIS_PROTOCOL`: the RESP version the connections speak, 3 or 2. Use 2 for servers without
   * `HELLO` (Redis 5, some proxies): the handshake is then `AUTH` and `CLIENT SETNAME`, and a few
   * commands' replies take node-redis's RESP2 shapes, which its types do not describe.
   * @default 3
   */
  redisProtocol?: 2 | 3 | string;
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

/** Control characters (CR, LF, tab, NUL …): never part of a setting, often a sign of a .env saved with Windows line endings. */
const CONTROL = /\p{Cc}/u;

/** What `value`'s first control character is, for a message. */
function controlCharacter(value: string): string {
  const found = CONTROL.exec(value)?.[0] ?? '';
  if (found === '\r') return 'a carriage return (\\r: is the .env file saved with Windows line endings?)';
  if (found === '\n') return 'a line break (\\n)';
  if (found === '\t') return 'a tab';
  return `the control character U+${found.charCodeAt(0).toString(16).padStart(4, '0').toUpperCase()}`;
}

const text: Parser<string> = (raw) => {
  if (typeof raw !== 'string' || raw.trim() === '') return new Expected('a non-empty string');
  if (CONTROL.test(raw))
    return new Expected(`a string without control characters; it contains ${controlCharacter(raw)}`);
  return raw;
};

/** A name that is one word of printable characters: a client name prefix, a sentinel master name. `why` says what it is for. */
const word =
  (why: string): Parser<string> =>
  (raw) => {
    if (typeof raw === 'string' && /^[\x21-\x7e]+$/.test(raw)) return raw;
    const found = typeof raw === 'string' && CONTROL.test(raw) ? `; it contains ${controlCharacter(raw)}` : '';
    return new Expected(`a name of printable characters without spaces (${why})${found}`);
  };

const HOSTNAME = /^(?=.{1,253}$)[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?\.?$/i;

/** A host name, an IPv4 address, or an IPv6 address (brackets optional); `undefined` for anything else. */
function hostOf(raw: string): string | undefined {
  const bare = raw.replace(/^\[(.*)\]$/, '$1');
  if (isIP(bare) !== 0) return bare;
  return HOSTNAME.test(raw) ? raw : undefined;
}

const host: Parser<string> = (raw) => {
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

/** One `host:port` of a node list; IPv6 hosts in brackets. */
export interface NodeAddress {
  host: string;
  port: number;
}

const nodeList: Parser<readonly NodeAddress[]> = (raw) => {
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

/** The longest delay Node's timers take, in seconds (2^31 − 1 ms); a longer one fires after 1 ms. */
const MAX_TIMER_SECONDS = 2_147_483.647;

/**
 * A number of seconds, from 1 ms up: to `MAX_TIMER_SECONDS` for a setting that becomes a timer
 * (`timer`), or 0 too when it turns something off (`allowZero`).
 */
const seconds =
  ({ allowZero, timer }: { allowZero: boolean; timer: boolean }): Parser<number> =>
  (raw) => {
    const n = toNumber(raw);
    const max = timer ? MAX_TIMER_SECONDS : Number.MAX_SAFE_INTEGER;
    if (n === 0 ? allowZero : Number.isFinite(n) && n >= 0.001 && n <= max) return n;
    const range = timer
      ? `from 0.001 to ${MAX_TIMER_SECONDS} (2147483647 ms, the longest delay Node's timers take)`
      : 'at least 0.001';
    return new Expected(`a number of seconds, ${allowZero ? '0 or ' : ''}${range}`);
  };
const protocol: Parser<2 | 3> = (raw) => {
  const n = toNumber(raw);
  return n === 2 || n === 3 ? n : new Expected('2 or 3 (the RESP version)');
};

const timeout = seconds({ allowZero: false, timer: true });
const interval = seconds({ allowZero: true, timer: true });
const age = seconds({ allowZero: true, timer: false });

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
  serviceName: { env: 'SERVICE_NAME', parse: word('it prefixes CLIENT SETNAME') },
  logLevel: { env: 'LOG_LEVEL', parse: logLevel },
  redisUrl: { env: 'REDIS_URL', parse: text, secret: true },
  redisHost: { env: 'REDIS_HOST', parse: host },
  redisPort: { env: 'REDIS_PORT', parse: integer(1, 65535) },
  redisDb: { env: 'REDIS_DB', parse: integer(0) },
  redisUsername: { env: 'REDIS_USERNAME', parse: text },
  redisPassword: { env: 'REDIS_PASSWORD', parse: text, secret: true },
  redisSsl: { env: 'REDIS_SSL', parse: boolean },
  redisSslCaCerts: { env: 'REDIS_SSL_CA_CERTS', parse: text },
  redisSslCertfile: { env: 'REDIS_SSL_CERTFILE', parse: text },
  redisSslKeyfile: { env: 'REDIS_SSL_KEYFILE', parse: text },
  redisDecodeResponses: { env: 'REDIS_DECODE_RESPONSES', parse: boolean },
  redisProtocol: { env: 'REDIS_PROTOCOL', parse: protocol },
  redisSocketConnectTimeout: { env: 'REDIS_SOCKET_CONNECT_TIMEOUT', parse: timeout },
  redisSocketTimeout: { env: 'REDIS_SOCKET_TIMEOUT', parse: timeout },
  redisMaxConnections: { env: 'REDIS_MAX_CONNECTIONS', parse: integer(1) },
  redisHealthCheckInterval: { env: 'REDIS_HEALTH_CHECK_INTERVAL', parse: interval },
  redisSocketKeepalive: { env: 'REDIS_SOCKET_KEEPALIVE', parse: boolean },
  redisSocketKeepaliveInitialDelay: { env: 'REDIS_SOCKET_KEEPALIVE_INITIAL_DELAY', parse: interval },
  redisPoolTimeout: { env: 'REDIS_POOL_TIMEOUT', parse: timeout },
  redisMinIdleConnections: { env: 'REDIS_MIN_IDLE_CONNECTIONS', parse: integer(0) },
  redisIdleTimeout: { env: 'REDIS_IDLE_TIMEOUT', parse: age },
  redisMaxLifetime: { env: 'REDIS_MAX_LIFETIME', parse: age },
  redisLeakDetectionThreshold: { env: 'REDIS_LEAK_DETECTION_THRESHOLD', parse: age },
  redisReconnectBaseDelay: { env: 'REDIS_RECONNECT_BASE_DELAY', parse: timeout },
  redisReconnectMaxDelay: { env: 'REDIS_RECONNECT_MAX_DELAY', parse: timeout },
  redisOfflineQueue: { env: 'REDIS_OFFLINE_QUEUE', parse: boolean },
  redisOfflineQueueSize: { env: 'REDIS_OFFLINE_QUEUE_SIZE', parse: integer(1) },
  redisOfflineQueueTimeout: { env: 'REDIS_OFFLINE_QUEUE_TIMEOUT', parse: timeout },
  redisSentinels: { env: 'REDIS_SENTINELS', parse: nodeList },
  redisSentinelMaster: { env: 'REDIS_SENTINEL_MASTER', parse: word('the sentinels monitor the primary under it') },
  redisSentinelUsername: { env: 'REDIS_SENTINEL_USERNAME', parse: text },
  redisSentinelPassword: { env: 'REDIS_SENTINEL_PASSWORD', parse: text, secret: true },
  redisClusterNodes: { env: 'REDIS_CLUSTER_NODES', parse: nodeList },
} satisfies Record<keyof SettingsInput, Field<unknown>>;

type Key = keyof typeof FIELDS;
type Parsed = { [K in Key]?: (typeof FIELDS)[K] extends Field<infer T> ? T : never };

/** Defaults for everything that is not part of the server address. */
export const SETTINGS_DEFAULTS = {
  redisDecodeResponses: true,
  redisProtocol: 3,
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
  declare readonly redisProtocol: 2 | 3;
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
  // Control characters are shown escaped (`\r`), so that they neither break the message nor hide.
  const visible = String(value).replace(new RegExp(CONTROL.source, 'gu'), (found) =>
    JSON.stringify(found).slice(1, -1),
  );
  const shown =
    secret && env === 'REDIS_URL' && typeof value === 'string' ? redactUrl(visible) : secret ? '***' : visible;
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
  const env = byName(options.env ?? process.env, 'the environment', issues);
  const dotenv = byName(
    options.envFile === false ? {} : readEnvFile(resolve(options.envFile ?? '.env'), issues),
    '.env',
    issues,
  );

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
      pick(input[key], 'code') ??
      pick(env.get(field.env)?.value, 'the environment') ??
      pick(dotenv.get(field.env)?.value, '.env');
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
    for (const [upper, { name }] of source) {
      if (!upper.startsWith('REDIS_') || ENV_NAMES.includes(upper) || NOT_SETTINGS.has(upper)) continue;
      const reason = UNSUPPORTED[upper];
      const hint = reason ? undefined : closest(upper, ENV_NAMES);
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
    redisProtocol: parsed.redisProtocol ?? SETTINGS_DEFAULTS.redisProtocol,
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

/**
 * A source's variables by their upper-case name, as pydantic-settings reads them on the Python
 * side: `redis_url`, `Redis_Url` and `REDIS_URL` are one setting. Empty values count as unset.
 * Two spellings of one of our settings with different values are an issue; their values are not
 * shown, since either may be a secret.
 */
function byName(
  source: Record<string, string | undefined>,
  where: string,
  issues: SettingsIssue[],
): Map<string, { name: string; value: string }> {
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

/** Query parameters a Redis URL may carry: redis-py reads these (and more) from the query too. */
const URL_PARAMETERS = new Set(['db', 'username', 'password']);
/** redis-py's other query parameters, with the setting that does the same here. */
const PYTHON_PARAMETERS: Record<string, string> = {
  socket_timeout: 'REDIS_SOCKET_TIMEOUT',
  socket_connect_timeout: 'REDIS_SOCKET_CONNECT_TIMEOUT',
  socket_keepalive: 'REDIS_SOCKET_KEEPALIVE',
  health_check_interval: 'REDIS_HEALTH_CHECK_INTERVAL',
  max_connections: 'REDIS_MAX_CONNECTIONS',
  ssl_ca_certs: 'REDIS_SSL_CA_CERTS',
  ssl_certfile: 'REDIS_SSL_CERTFILE',
  ssl_keyfile: 'REDIS_SSL_KEYFILE',
};

/**
 * The parts `REDIS_URL` states. The query may hold `db`, `username` and `password`, as redis-py
 * reads them; a part stated twice (in the user info or path and in the query) must agree.
 * Messages show the URL redacted (`redactUrl`), or not at all when it cannot be parsed.
 */
function parseRedisUrl(candidate: Candidate, issues: SettingsIssue[]): UrlParts | undefined {
  const raw = String(candidate.value).trim();
  let failed = false;
  const bad = (expected: string) => {
    failed = true;
    issues.push({
      code: 'invalid_value',
      path: 'REDIS_URL',
      message: `Expected \`REDIS_URL\` to be ${expected}, got ${describe(candidate, true, 'REDIS_URL')}`,
    });
    return undefined;
  };
  // The URL parser drops tabs and line breaks without a word, so a URL split over two lines
  // would quietly become another URL.
  if (CONTROL.test(raw)) return bad(`a URL without control characters; it contains ${controlCharacter(raw)}`);
  // redis-py writes credentials on a unix:// URL as unix://user:password@/path, which the URL
  // parser refuses (user info without a host); they are set on the parsed URL instead.
  const unixUser = /^unix:\/\/([^/]*)@(\/.*)$/is.exec(raw);
  let url: URL;
  let userInfo: [string, string];
  try {
    url = new URL(unixUser ? `unix://${unixUser[2]}` : raw);
    const [user = '', pass = ''] = unixUser ? (unixUser[1] as string).split(/:(.*)/s) : [url.username, url.password];
    userInfo = [user, pass];
  } catch {
    // The parser's own error echoes the input, password included, so it is not kept as a cause.
    return bad('a URL like redis://[user[:password]@]host[:port][/db], rediss://… or unix:///path/to/socket');
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:' && url.protocol !== 'unix:') {
    return bad('a URL with the scheme redis://, rediss:// or unix://');
  }
  if (url.hash) return bad('a URL without a #fragment (write a # in a password as %23)');
  const decode = (part: string, what: string) => {
    try {
      return part === '' ? undefined : decodeURIComponent(part);
    } catch {
      return bad(`a URL whose ${what} is percent-encoded (a % followed by two hex digits; a % itself is %25)`);
    }
  };
  const query = new Map<string, string>();
  for (const [name, value] of url.searchParams) {
    if (!URL_PARAMETERS.has(name)) {
      const instead = PYTHON_PARAMETERS[name];
      return bad(
        `a URL whose query holds only db, username and password; \`${name}\` is not read here` +
          (instead ? `: set ${instead} instead` : ''),
      );
    }
    if (query.has(name)) return bad(`a URL that states ?${name}= once`);
    query.set(name, value);
  }
  const agreed = (what: string, fromUrl: string | undefined, fromQuery: string | undefined) => {
    if (fromUrl !== undefined && fromQuery !== undefined && fromUrl !== fromQuery) {
      bad(
        `a URL that states its ${what} once, or the same twice (in the ${what === 'database' ? 'path' : 'user info'} and in the query)`,
      );
    }
    return fromUrl ?? fromQuery;
  };
  const username = agreed('user name', decode(userInfo[0], 'user name'), query.get('username'));
  const password = agreed('password', decode(userInfo[1], 'password'), query.get('password'));
  const dbInPath = url.protocol === 'unix:' ? undefined : url.pathname.replace(/^\//, '') || undefined;
  const dbText = agreed('database', dbInPath, query.get('db'));
  const db = dbText === undefined ? undefined : integer(0)(dbText);
  if (db instanceof Expected) return bad('a URL whose database (the path, or ?db=) is an integer >= 0, like /0');
  if (url.protocol === 'unix:') {
    if (url.host) {
      return bad(
        'a unix:// URL without a host: unix:///run/redis.sock (three slashes; in unix://run/redis.sock, run is a host)',
      );
    }
    const path = decode(url.pathname, 'socket path');
    if (!path?.startsWith('/') || path === '/')
      return bad('a unix:// URL with an absolute socket path, like unix:///run/redis.sock');
    return failed ? undefined : { unix: true, path, db, username, password, ssl: false };
  }
  const hostText = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const host = hostText === '' ? undefined : hostOf(hostText);
  if (hostText !== '' && host === undefined) return bad('a URL whose host is a host name or an IP address');
  const port = url.port === '' ? undefined : Number(url.port);
  if (port === 0) return bad('a URL with a port from 1 to 65535');
  return failed ? undefined : { unix: false, host, port, db, username, password, ssl: url.protocol === 'rediss:' };
}

/**
 * The TLS files must be readable PEM, and the key must match the certificate: found when the
 * settings load, not at the first connect (when every connection would fail the same way).
 */
function checkTlsFiles(parsed: Parsed, ssl: boolean, issues: SettingsIssue[]): void {
  const invalid = (env: string, message: string) => issues.push({ code: 'invalid_value', path: env, message });
  const contents: Partial<Record<'redisSslCaCerts' | 'redisSslCertfile' | 'redisSslKeyfile', string>> = {};
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
      contents[key] = readFileSync(path, 'latin1');
    } catch (error) {
      invalid(
        env,
        `Expected \`${env}\` to be a readable PEM file, got \`${path}\` (${(error as NodeJS.ErrnoException).code})`,
      );
    }
  }
  const certificates = (pem: string) => pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
  const parses = (make: () => unknown) => {
    try {
      return make();
    } catch {
      return undefined;
    }
  };
  const { redisSslCaCerts: ca, redisSslCertfile: cert, redisSslKeyfile: key } = contents;
  if (ca !== undefined) {
    const found = certificates(ca);
    if (found.length === 0 || found.some((pem) => parses(() => new X509Certificate(pem)) === undefined)) {
      invalid(
        'REDIS_SSL_CA_CERTS',
        `Expected \`REDIS_SSL_CA_CERTS\` (\`${parsed.redisSslCaCerts}\`) to hold PEM certificates (-----BEGIN CERTIFICATE-----)`,
      );
    }
  }
  const certificate = cert === undefined ? undefined : parses(() => new X509Certificate(certificates(cert)[0] ?? ''));
  if (cert !== undefined && certificate === undefined) {
    invalid(
      'REDIS_SSL_CERTFILE',
      `Expected \`REDIS_SSL_CERTFILE\` (\`${parsed.redisSslCertfile}\`) to hold a PEM certificate (-----BEGIN CERTIFICATE-----)`,
    );
  }
  const privateKey = key === undefined ? undefined : parses(() => createPrivateKey(key));
  if (key !== undefined && (privateKey === undefined || !key.includes('-----BEGIN'))) {
    invalid(
      'REDIS_SSL_KEYFILE',
      `Expected \`REDIS_SSL_KEYFILE\` (\`${parsed.redisSslKeyfile}\`) to hold an unencrypted PEM private key (-----BEGIN PRIVATE KEY-----)`,
    );
  } else if (
    certificate instanceof X509Certificate &&
    privateKey !== undefined &&
    !certificate.checkPrivateKey(privateKey as KeyObject)
  ) {
    issues.push({
      code: 'conflict',
      path: 'REDIS_SSL_KEYFILE',
      message: `\`REDIS_SSL_KEYFILE\` (\`${parsed.redisSslKeyfile}\`) is not the private key of the certificate in \`REDIS_SSL_CERTFILE\` (\`${parsed.redisSslCertfile}\`)`,
    });
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
  if (parsed.redisSentinelMaster === undefined && !issues.some((issue) => issue.path === 'REDIS_SENTINEL_MASTER')) {
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
