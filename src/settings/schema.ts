/**
 * Every setting, written once: its name in code, its environment variable, its parser, its
 * default and its documentation (the JSDoc of each entry, which the types below carry to
 * `SettingsInput` and to `CommonAppSettings`, and from which `npm run docs` writes the table in
 * docs/settings.md). The order here is that table's.
 */
import type { Secret } from '../secret.js';
import {
  age,
  boolean,
  credential,
  host,
  integer,
  interval,
  logLevel,
  nodeList,
  type Parser,
  protocol,
  readFrom,
  text,
  timeout,
  word,
} from './parsers.js';

/** One setting. */
export interface Field<T = unknown, In = unknown> {
  /** The environment variable, in the Python services' spelling. */
  readonly env: string;
  readonly parse: Parser<T, In>;
  /** The value when no source sets it. The address parts have none: the URL rule resolves them. */
  readonly default?: T;
  /** What docs/settings.md shows as the default when there is no plain one. */
  readonly shownDefault?: string;
  /** A secret: never shown, in messages or anywhere else. */
  readonly secret?: true;
  /**
   * An empty value means none (`''` is no host, user name or password to redis-py). Without it an
   * empty value goes to the parser, which refuses it, as pydantic refuses an empty number.
   */
  readonly empty?: 'none';
}

const field = <const F extends Field>(spec: F) => spec;

export const SCHEMA = {
  /**
   * Required. A name without spaces; it prefixes `CLIENT SETNAME` (connections are named
   * `<SERVICE_NAME>:<role>:<pid>`), so `CLIENT LIST` shows who holds what.
   */
  serviceName: field({ env: 'SERVICE_NAME', parse: word('it prefixes CLIENT SETNAME'), shownDefault: 'required' }),
  /** Required: `DEBUG`, `INFO`, `WARNING`, `ERROR`, `CRITICAL` in any case, or a pino level (`trace` … `silent`). */
  logLevel: field({ env: 'LOG_LEVEL', parse: logLevel, shownDefault: 'required' }),
  /**
   * `redis://[user[:password]@]host[:port][/db]`, `rediss://…` for TLS, or
   * `unix:///path/to/redis.sock`, read as redis-py reads it; the query may give `db`, `username`,
   * `password`, and `socket_connect_timeout`, `socket_timeout`, `socket_keepalive`,
   * `max_connections` and `health_check_interval`. The URL is the base: the fields below may fill
   * parts it leaves out, and one that contradicts it is an error.
   * @example 'rediss://app@redis.internal:6380/2'
   */
  redisUrl: field({ env: 'REDIS_URL', parse: text, secret: true, shownDefault: 'redis://localhost:6379/0' }),
  /** The host, when `REDIS_URL` gives none: a host name or an IP address, without a port. */
  redisHost: field({ empty: 'none', env: 'REDIS_HOST', parse: host, shownDefault: 'localhost' }),
  /** The port, 1–65535, when `REDIS_URL` gives none. */
  redisPort: field({ env: 'REDIS_PORT', parse: integer(1, 65535), shownDefault: '6379' }),
  /** The database, an integer ≥ 0, when `REDIS_URL` gives none. */
  redisDb: field({ env: 'REDIS_DB', parse: integer(0), shownDefault: '0' }),
  /**
   * The ACL user, when `REDIS_URL` gives none. Without a password it authenticates with an empty
   * one, which Redis accepts for a `nopass` user.
   */
  redisUsername: field({ empty: 'none', env: 'REDIS_USERNAME', parse: credential }),
  /** The password, usually kept in a secret store while `REDIS_URL` holds none. */
  redisPassword: field({ empty: 'none', env: 'REDIS_PASSWORD', parse: credential, secret: true }),
  /** Use TLS. Must agree with the URL's scheme when `REDIS_URL` is set (`rediss://` is TLS). */
  redisSsl: field({ env: 'REDIS_SSL', parse: boolean, shownDefault: 'false' }),
  /** A PEM file of CA certificates to trust instead of Node's store. Needs TLS. */
  redisSslCaCerts: field({ empty: 'none', env: 'REDIS_SSL_CA_CERTS', parse: text }),
  /** A PEM client certificate, for servers that ask for one. Needs TLS and `REDIS_SSL_KEYFILE`. */
  redisSslCertfile: field({ empty: 'none', env: 'REDIS_SSL_CERTFILE', parse: text }),
  /** The unencrypted PEM private key of `REDIS_SSL_CERTFILE`. */
  redisSslKeyfile: field({ empty: 'none', env: 'REDIS_SSL_KEYFILE', parse: text }),
  /**
   * `true` returns strings, `false` returns Buffers. Passed in code as a literal, the client's
   * types follow it.
   */
  redisDecodeResponses: field({ env: 'REDIS_DECODE_RESPONSES', parse: boolean, default: true }),
  /**
   * The RESP version the connections speak, 3 or 2. Use 2 for servers without `HELLO` (Redis 5,
   * some proxies): connections then start with `AUTH` and `CLIENT SETNAME`, and a few commands'
   * replies take node-redis's RESP2 shapes, which its types do not describe.
   */
  redisProtocol: field({ env: 'REDIS_PROTOCOL', parse: protocol, default: 3 }),
  /** Seconds for connecting, TLS, authentication and the first PING. */
  redisSocketConnectTimeout: field({ env: 'REDIS_SOCKET_CONNECT_TIMEOUT', parse: timeout, default: 5 }),
  /**
   * Seconds a reply may take to complete once it is the oldest one awaited, before the
   * connection is declared hung and replaced.
   */
  redisSocketTimeout: field({ env: 'REDIS_SOCKET_TIMEOUT', parse: timeout, default: 5 }),
  /** Integer ≥ 1: the hard cap on every socket the pool holds (shared, leased, idle, subscriber). */
  redisMaxConnections: field({ env: 'REDIS_MAX_CONNECTIONS', parse: integer(1), default: 10 }),
  /** Seconds of idle time before a connection is checked with PING; 0 turns checks off. */
  redisHealthCheckInterval: field({ env: 'REDIS_HEALTH_CHECK_INTERVAL', parse: interval, default: 30 }),
  /** TCP keepalive on every socket. */
  redisSocketKeepalive: field({ env: 'REDIS_SOCKET_KEEPALIVE', parse: boolean, default: true }),
  /** Seconds of idle time before the first keepalive probe. */
  redisSocketKeepaliveInitialDelay: field({
    env: 'REDIS_SOCKET_KEEPALIVE_INITIAL_DELAY',
    parse: interval,
    default: 30,
  }),
  /** Seconds to wait for a leased connection, before `AcquireTimeoutError`. */
  redisPoolTimeout: field({ env: 'REDIS_POOL_TIMEOUT', parse: timeout, default: 5 }),
  /**
   * Integer ≥ 0: leasable connections opened with the pool and kept idle, so the first
   * `withConnection()` calls need not connect; at most `REDIS_MAX_CONNECTIONS` − 1. Per primary in
   * cluster mode.
   */
  redisMinIdleConnections: field({ env: 'REDIS_MIN_IDLE_CONNECTIONS', parse: integer(0), default: 0 }),
  /** Seconds: an idle leasable connection above the minimum is closed after this long; 0 never. */
  redisIdleTimeout: field({ env: 'REDIS_IDLE_TIMEOUT', parse: age, default: 1800 }),
  /** Seconds: a leasable connection is closed at this age, each up to 10 % sooner; 0 never. */
  redisMaxLifetime: field({ env: 'REDIS_MAX_LIFETIME', parse: age, default: 0 }),
  /** Seconds: a lease held longer is reported once, with the stack that took it; 0 turns detection off. */
  redisLeakDetectionThreshold: field({ env: 'REDIS_LEAK_DETECTION_THRESHOLD', parse: age, default: 0 }),
  /**
   * Seconds before the first attempt to reopen a lost connection; each failed attempt doubles it,
   * up to `REDIS_RECONNECT_MAX_DELAY`, and each wait is drawn between half and all of that.
   */
  redisReconnectBaseDelay: field({ env: 'REDIS_RECONNECT_BASE_DELAY', parse: timeout, default: 0.05 }),
  /** Seconds: the longest wait between reconnect attempts, so a server that comes back is found within about this long. */
  redisReconnectMaxDelay: field({ env: 'REDIS_RECONNECT_MAX_DELAY', parse: timeout, default: 0.5 }),
  /**
   * While the shared connection is down: hold commands until it is back (`true`), or reject them
   * at once with `RedisUnavailableError` (`false`).
   */
  redisOfflineQueue: field({ env: 'REDIS_OFFLINE_QUEUE', parse: boolean, default: true }),
  /** Integer ≥ 1: commands held at most while down; more are rejected with `RedisUnavailableError`. */
  redisOfflineQueueSize: field({ env: 'REDIS_OFFLINE_QUEUE_SIZE', parse: integer(1), default: 1000 }),
  /** Seconds a held command waits before it is rejected with `RedisUnavailableError`. */
  redisOfflineQueueTimeout: field({ env: 'REDIS_OFFLINE_QUEUE_TIMEOUT', parse: timeout, default: 5 }),
  /**
   * Reply fences: each write on a connection ends with `ECHO <token>`, and its replies reach their
   * callers only once the token comes back in its place, so a reply dropped, added, duplicated or
   * cut by a proxy or a server ends the connection instead of reaching another caller. Off by
   * default for their cost, which docs/performance.md gives.
   */
  redisReplyFences: field({ env: 'REDIS_REPLY_FENCES', parse: boolean, default: false }),
  /**
   * Put before every key the pool's clients send, with node-redis's `keyPrefix` semantics: keys in
   * commands, scripts and transactions are prefixed, replies are not (`SCAN`/`KEYS` give the keys as
   * stored), and channel names are not keys. In cluster mode a key's slot is its prefixed name's.
   * @example 'orders:'
   */
  redisKeyPrefix: field({ empty: 'none', env: 'REDIS_KEY_PREFIX', parse: text }),
  /**
   * Client-side caching with server-assisted invalidation (RESP3 `CLIENT TRACKING`): the shared
   * client keeps the replies of cacheable reads (`GET`, `HGETALL` …) in one cache per pool, which
   * the server empties key by key as other clients write. Emptied whole whenever an invalidation
   * could have been missed (a reconnect, a replaced or moved connection, a new cluster topology).
   * Needs `REDIS_PROTOCOL=3`. Leases do not use it.
   */
  redisClientSideCache: field({ env: 'REDIS_CLIENT_SIDE_CACHE', parse: boolean, default: false }),
  /** Integer ≥ 1: replies the cache holds at most; the least recently used goes first. */
  redisClientSideCacheMaxEntries: field({
    env: 'REDIS_CLIENT_SIDE_CACHE_MAX_ENTRIES',
    parse: integer(1),
    default: 10000,
  }),
  /** Seconds a cached reply is kept at most, even with no invalidation; 0 means no limit. */
  redisClientSideCacheTtl: field({ env: 'REDIS_CLIENT_SIDE_CACHE_TTL', parse: age, default: 0 }),
  /**
   * Where the shared client's read-only commands go, in sentinel and cluster modes: `primary`,
   * `replica-preferred` (a replica, the primary when none answers), `replica` (replicas only: a
   * `RedisUnavailableError` when none answers) or `any` (the primary and its replicas in turn).
   * Writes always go to the primary, and so do leases. A replica lags its primary: a read from it
   * may not see a write just made (docs/topologies.md).
   */
  redisReadFrom: field({ env: 'REDIS_READ_FROM', parse: readFrom, default: 'primary' }),
  /**
   * Sentinel mode: `host:port,host:port` of the sentinels, which name the primary of
   * `REDIS_SENTINEL_MASTER` and announce its failovers. `REDIS_URL` then gives only credentials,
   * TLS and the database.
   * @example '10.0.0.1:26379,10.0.0.2:26379,10.0.0.3:26379'
   */
  redisSentinels: field({ empty: 'none', env: 'REDIS_SENTINELS', parse: nodeList }),
  /** The name the sentinels monitor the primary under; required with `REDIS_SENTINELS`. */
  redisSentinelMaster: field({
    empty: 'none',
    env: 'REDIS_SENTINEL_MASTER',
    parse: word('the sentinels monitor the primary under it'),
  }),
  /** The ACL user for the sentinels themselves, when they require one. */
  redisSentinelUsername: field({ empty: 'none', env: 'REDIS_SENTINEL_USERNAME', parse: credential }),
  /** The password for the sentinels themselves, when they require one. */
  redisSentinelPassword: field({ empty: 'none', env: 'REDIS_SENTINEL_PASSWORD', parse: credential, secret: true }),
  /**
   * Cluster mode: `host:port,host:port` of some nodes of a Redis Cluster; the rest is discovered.
   * `REDIS_URL` then gives only credentials and TLS; the database must be 0.
   * @example '10.0.0.1:6379,10.0.0.2:6379'
   */
  redisClusterNodes: field({ empty: 'none', env: 'REDIS_CLUSTER_NODES', parse: nodeList }),
};

export type Schema = typeof SCHEMA;
export type Key = keyof Schema;
/** The value `K`'s parser gives. */
type ValueOf<K extends Key> = Exclude<ReturnType<Schema[K]['parse']>, { text: string }>;
/** What code may pass for `K`. */
type InputOf<K extends Key> = Schema[K]['parse'] extends { readonly input?: infer In } ? In : never;
type WithDefault = { [K in Key]: Schema[K] extends { default: unknown } ? K : never }[Key];

// The mapped types below name `keyof Schema` itself (not the `Key` alias), so that each field
// keeps its entry's JSDoc.

/** The values parsed from the sources, before defaults and the address rule. */
export type Parsed = { [K in keyof Schema]?: ValueOf<K> };

/**
 * Settings passed in code. Each overrides the same setting from the environment and from
 * `.env`. Names are the camel-case forms of the environment variables (`redisSocketTimeout` is
 * `REDIS_SOCKET_TIMEOUT`), with the same units: times are in **seconds**, as in the Python
 * services.
 */
export type SettingsInput<D extends boolean = boolean> = {
  [K in keyof Schema]?: K extends 'redisDecodeResponses' ? D : InputOf<K>;
};

/** The resolved settings, as `CommonAppSettings` holds them. */
export type ResolvedSettings<D extends boolean = boolean> = {
  readonly [K in keyof Schema]: K extends 'redisDecodeResponses'
    ? D
    : K extends 'redisPassword' | 'redisSentinelPassword'
      ? Secret | undefined
      : K extends WithDefault | 'serviceName' | 'logLevel' | 'redisUrl' | 'redisDb' | 'redisSsl'
        ? ValueOf<K>
        : ValueOf<K> | undefined;
} & {
  /** The unix socket path of a `unix://` `REDIS_URL`. */
  readonly redisSocketPath: string | undefined;
};

/** The default of every setting that has one. */
export const SETTINGS_DEFAULTS = Object.freeze(
  Object.fromEntries(Object.entries(SCHEMA).flatMap(([key, spec]) => ('default' in spec ? [[key, spec.default]] : []))),
) as { readonly [K in WithDefault]: Schema[K] extends { default: infer V } ? V : never };

/** The environment variable names of the settings. */
export const ENV_NAMES: readonly string[] = Object.values(SCHEMA).map((spec) => spec.env);

/** The environment variable of `key`. */
export const envOf = (key: Key): string => SCHEMA[key].env;
