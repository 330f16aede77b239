/** node-redis options for the pool's connections, from the settings. */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { RedisClientOptions } from 'redis';
import { EMPTY_PASSWORD, RESP_TYPES } from '../node-redis/node-redis.js';
import type { Secret } from '../secret.js';
import type { CommonAppSettings, NodeAddress } from '../settings.js';
import type { BufferTypeMapping } from './types.js';

const BUFFER_TYPE_MAPPING: BufferTypeMapping = {
  [RESP_TYPES.BLOB_STRING]: Buffer,
  [RESP_TYPES.SIMPLE_STRING]: Buffer,
  [RESP_TYPES.VERBATIM_STRING]: Buffer,
};

/** What a connection is for; it shows in `CLIENT LIST` as part of the connection name. */
export type ConnectionRole = 'shared' | 'lease' | 'subscriber' | 'duplicate' | 'replica';

/**
 * node-redis's username and password options for an ACL user. node-redis sends credentials only
 * along with a password, so a username alone would connect as the `default` user, silently.
 * With a username and no password the pool sends an empty password, as redis-py does: Redis
 * accepts any password for a `nopass` user, and refuses it (WRONGPASS) for any other.
 */
export function credentials(username: string | undefined, password: Secret | undefined) {
  return { username, password: password?.reveal() ?? (username === undefined ? undefined : EMPTY_PASSWORD) };
}

/** node-redis options for one connection, from the settings, to `address` if given (sentinel mode's primary). */
export function clientOptions(
  settings: CommonAppSettings,
  role: ConnectionRole,
  address: NodeAddress | undefined = undefined,
): RedisClientOptions {
  const socketCommon = {
    connectTimeout: settings.redisSocketConnectTimeout * 1000,
    noDelay: true,
  };
  const socket = settings.redisSocketPath
    ? { ...socketCommon, path: settings.redisSocketPath, tls: false as const }
    : {
        ...socketCommon,
        host: address?.host ?? settings.redisHost,
        port: address?.port ?? settings.redisPort,
        keepAlive: settings.redisSocketKeepalive,
        keepAliveInitialDelay: settings.redisSocketKeepaliveInitialDelay * 1000,
        ...(settings.redisSsl ? tlsOptions(settings) : {}),
      };
  return {
    socket,
    ...credentials(settings.redisUsername, settings.redisPassword),
    database: settings.redisDb,
    keyPrefix: settings.redisKeyPrefix,
    name: `${settings.serviceName}:${role}:${process.pid}`,
    RESP: settings.redisProtocol,
    // Our own watchdog bounds replies at O(1) cost per connection; node-redis's default arms a
    // 5 s timer for every command, which costs most of the throughput at high concurrency.
    // While a connection is down, the pool decides what waits (see REDIS_OFFLINE_QUEUE); node-redis
    // would queue without bound.
    disableOfflineQueue: true,
    commandOptions: {
      timeout: 0,
      // Every option a command may carry is declared, if only as undefined: node-redis merges each
      // command's options into the client's, and V8 is far slower when the second object has a key
      // the first lacks (docs/architecture.md, "Command options declare every key").
      typeMapping: settings.redisDecodeResponses ? undefined : BUFFER_TYPE_MAPPING,
      abortSignal: undefined,
      asap: undefined,
    },
    clientInfoTag: 'refactorizado-redis-pool',
    // Redis Enterprise maintenance hints need RESP3 handshakes that plain servers reject; skip them.
    maintNotifications: 'disabled',
  } as RedisClientOptions;
}

function tlsOptions(settings: CommonAppSettings) {
  const read = (path: string | undefined) => (path === undefined ? undefined : readFileSync(path));
  const host = settings.redisSentinels ? undefined : settings.redisHost;
  return {
    tls: true as const,
    // SNI names hosts, not addresses: Node warns (DEP0123) when given an IP address.
    servername: host === undefined || isIP(host) !== 0 ? undefined : host,
    ca: read(settings.redisSslCaCerts),
    cert: read(settings.redisSslCertfile),
    key: read(settings.redisSslKeyfile),
  };
}
