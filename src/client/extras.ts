/**
 * What a pool's connections take from code rather than from the settings: node-redis's scripts
 * and functions, and the connection options no environment variable can carry
 * (`RedisPoolOptions.clientOptions`). Checked once, when the pool is made and again when it opens.
 */
import type { LookupFunction } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import type { RedisClientOptions, RedisFunctions, RedisScripts } from 'redis';
import { ClientUsageError } from '../errors.js';
import type { CommonAppSettings } from '../settings.js';

/** A cluster node's address as the cluster announces it, and where to reach it instead. */
export type NodeAddressMap =
  | Record<string, { host: string; port: number }>
  | ((address: string) => { host: string; port: number } | undefined);

/** TLS options beyond the CA, certificate and key files the settings name (`REDIS_SSL_*`). */
export type TlsClientOptions = Pick<
  ConnectionOptions,
  | 'rejectUnauthorized'
  | 'servername'
  | 'passphrase'
  | 'ciphers'
  | 'checkServerIdentity'
  | 'minVersion'
  | 'maxVersion'
  | 'ecdhCurve'
  | 'sigalgs'
  | 'pfx'
  | 'crl'
  | 'ALPNProtocols'
>;

/**
 * Connection options the environment cannot carry, passed to every connection the pool makes
 * (sentinel connections excepted: they take `REDIS_SENTINEL_*` only). The pool merges them under
 * the options it owns; naming one of those is a `ClientUsageError`.
 */
export interface PoolClientOptions {
  /** Socket options: `family` and `lookup` for every connection, TLS options when TLS is on (`REDIS_SSL`, `rediss://`). */
  socket?: TlsClientOptions & {
    /** 4 or 6: the IP family to resolve host names to (0: either). */
    family?: number;
    /** A resolver in place of `dns.lookup()`. */
    lookup?: LookupFunction;
    localAddress?: string;
  };
  /**
   * node-redis's provider of credentials, asked at every connect (and reconnect): for passwords
   * that rotate, such as cloud IAM or Entra ID tokens. Not with `REDIS_PASSWORD`.
   */
  credentialsProvider?: RedisClientOptions['credentialsProvider'];
  /**
   * Cluster mode only: where to reach each node the cluster announces (`host:port`), for a
   * cluster behind NAT or in Kubernetes. An address the map does not name is used as announced.
   */
  nodeAddressMap?: NodeAddressMap;
}

/** What `RedisPoolOptions` gives every connection: its scripts, functions and client options, checked. */
export interface ClientExtras {
  scripts?: RedisScripts | undefined;
  functions?: RedisFunctions | undefined;
  client: PoolClientOptions;
}

const SOCKET_KEYS = new Set(['family', 'lookup', 'localAddress']);
const TLS_KEYS = new Set([
  'rejectUnauthorized',
  'servername',
  'passphrase',
  'ciphers',
  'checkServerIdentity',
  'minVersion',
  'maxVersion',
  'ecdhCurve',
  'sigalgs',
  'pfx',
  'crl',
  'ALPNProtocols',
]);

/** Options the pool owns, and what sets each instead. */
const OWNED: Record<string, string> = {
  url: 'REDIS_URL',
  username: 'REDIS_USERNAME (or credentialsProvider)',
  password: 'REDIS_PASSWORD (or credentialsProvider)',
  database: 'REDIS_DB',
  RESP: 'REDIS_PROTOCOL',
  name: 'SERVICE_NAME: the pool names each connection after the service and its role',
  keyPrefix: 'REDIS_KEY_PREFIX',
  disableOfflineQueue: 'REDIS_OFFLINE_QUEUE (the pool holds commands while a connection is down)',
  commandOptions: 'client.withCommandOptions(), per call',
  pingInterval: 'REDIS_HEALTH_CHECK_INTERVAL',
  scripts: 'RedisPoolOptions.scripts',
  functions: 'RedisPoolOptions.functions',
  'socket.host': 'REDIS_URL or REDIS_HOST',
  'socket.port': 'REDIS_URL or REDIS_PORT',
  'socket.path': 'REDIS_URL (unix:// or redis+unix://)',
  'socket.tls': 'REDIS_SSL or a rediss:// URL',
  'socket.ca': 'REDIS_SSL_CA_CERTS',
  'socket.cert': 'REDIS_SSL_CERTFILE',
  'socket.key': 'REDIS_SSL_KEYFILE',
  'socket.connectTimeout': 'REDIS_SOCKET_CONNECT_TIMEOUT',
  'socket.keepAlive': 'REDIS_SOCKET_KEEPALIVE',
  'socket.keepAliveInitialDelay': 'REDIS_SOCKET_KEEPALIVE_INITIAL_DELAY',
  'socket.reconnectStrategy': 'REDIS_RECONNECT_BASE_DELAY and REDIS_RECONNECT_MAX_DELAY',
  'socket.noDelay': 'the pool (always on: its writes are already coalesced)',
  'socket.signal': 'the pool (it ends a connection whose replies cannot be trusted)',
};

/**
 * Checks `clientOptions` key by key: each must be one the pool passes on. A key the pool owns
 * names what sets it instead; any other key names those the pool takes.
 *
 * @throws {ClientUsageError} naming the first key refused.
 */
export function checkClientOptions(clientOptions: PoolClientOptions): void {
  for (const [key, value] of Object.entries(clientOptions)) {
    if (key === 'socket') {
      for (const socketKey of Object.keys(value ?? {})) {
        if (!SOCKET_KEYS.has(socketKey) && !TLS_KEYS.has(socketKey)) refuse(`socket.${socketKey}`);
      }
    } else if (key !== 'credentialsProvider' && key !== 'nodeAddressMap') {
      refuse(key);
    }
  }
}

function refuse(key: string): never {
  const owner = OWNED[key];
  if (owner) {
    throw new ClientUsageError(`clientOptions.${key} is the pool's to set, not the caller's: it comes from ${owner}.`);
  }
  throw new ClientUsageError(
    `clientOptions.${key} is not an option the pool passes on. It takes socket.family, socket.lookup, ` +
      `socket.localAddress, the TLS options (${[...TLS_KEYS].map((name) => `socket.${name}`).join(', ')}), ` +
      'credentialsProvider, and nodeAddressMap (cluster mode).',
  );
}

/**
 * Checks `clientOptions` against the settings the pool opens with: TLS options need TLS on, a
 * credentials provider excludes a password in the settings, and an address map needs cluster mode.
 *
 * @throws {ClientUsageError} naming the option and the setting.
 */
export function checkAgainstSettings(clientOptions: PoolClientOptions, settings: CommonAppSettings): void {
  const tls = Object.keys(clientOptions.socket ?? {}).find((key) => TLS_KEYS.has(key));
  if (tls && !settings.redisSsl) {
    throw new ClientUsageError(
      `clientOptions.socket.${tls} is a TLS option, but TLS is off: set REDIS_SSL=true or use a rediss:// URL.`,
    );
  }
  if (clientOptions.credentialsProvider && (settings.redisPassword || settings.redisUsername)) {
    throw new ClientUsageError(
      'clientOptions.credentialsProvider and REDIS_USERNAME/REDIS_PASSWORD (or the credentials of REDIS_URL) ' +
        'both give credentials; keep one.',
    );
  }
  if (clientOptions.nodeAddressMap && !settings.redisClusterNodes) {
    throw new ClientUsageError('clientOptions.nodeAddressMap is for cluster mode; set REDIS_CLUSTER_NODES.');
  }
}

/** Where the address map sends a node the cluster announces at `address`, or `undefined` to use it as announced. */
export function mapNodeAddress(map: NodeAddressMap | undefined, address: string) {
  return typeof map === 'function' ? map(address) : map?.[address];
}

/** `options` (the pool's own, for one connection) with `extras` merged under them. */
export function withExtras(options: RedisClientOptions, extras: ClientExtras | undefined): RedisClientOptions {
  if (!extras) return options;
  const { socket, credentialsProvider } = extras.client;
  return {
    ...(extras.scripts ? { scripts: extras.scripts } : {}),
    ...(extras.functions ? { functions: extras.functions } : {}),
    ...(credentialsProvider ? { credentialsProvider } : {}),
    ...options,
    // Every key of the caller's socket options is one the pool does not set (checkClientOptions()),
    // but for `servername`, which the pool derives from REDIS_HOST and the caller may name.
    socket: { ...options.socket, ...socket } as RedisClientOptions['socket'],
  };
}
