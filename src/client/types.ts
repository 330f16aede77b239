/** The types of the clients the pool hands out. */
import type { RESP_TYPES, RedisClientType, RedisClusterType } from 'redis';

type StringTypes = (typeof RESP_TYPES)['BLOB_STRING' | 'SIMPLE_STRING' | 'VERBATIM_STRING'];

/** node-redis's type mapping that turns every string reply into a Buffer. */
export type BufferTypeMapping = { [K in StringTypes]: BufferConstructor };

/** The node-redis client with string replies (`REDIS_DECODE_RESPONSES=true`). */
export type StringClient = RedisClientType<{}, {}, {}, 3, {}>;
/** The node-redis client with Buffer replies (`REDIS_DECODE_RESPONSES=false`). */
export type BufferClient = RedisClientType<{}, {}, {}, 3, BufferTypeMapping>;
/**
 * The client `getClient()` returns, by the type of `redisDecodeResponses`: strings for `true`,
 * Buffers for `false`, and either when only the environment decides (`boolean`).
 */
export type RedisPoolClient<D extends boolean = true> = boolean extends D
  ? StringClient | BufferClient
  : D extends false
    ? BufferClient
    : StringClient;

/** The lifecycle events of one connection, as the pool reports them. */
export type ConnectionEventName = 'connect' | 'ready' | 'reconnecting' | 'error' | 'end';

/** node-redis's cluster client, as the pool makes it in cluster mode. */
export type ClusterClient = RedisClusterType<{}, {}, {}, 3, {}>;

/** What a topology serves ordinary commands with: a single server's client, or the cluster client. */
export type TopologyClient = StringClient | ClusterClient;
