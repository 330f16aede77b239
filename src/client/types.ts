/** The types of the clients the pool hands out. */
import type { RESP_TYPES, RedisClientType, RedisClusterType, RedisFunctions, RedisScripts } from 'redis';

type StringTypes = (typeof RESP_TYPES)['BLOB_STRING' | 'SIMPLE_STRING' | 'VERBATIM_STRING'];

/** node-redis's type mapping that turns every string reply into a Buffer. */
export type BufferTypeMapping = { [K in StringTypes]: BufferConstructor };

/**
 * The node-redis client with string replies (`REDIS_DECODE_RESPONSES=true`), with node-redis 6's
 * default modules (JSON, Search, TimeSeries, Bloom) and the pool's scripts `S` and functions `F`.
 */
export type StringClient<S extends RedisScripts = {}, F extends RedisFunctions = {}> = RedisClientType<{}, F, S, 3, {}>;
/** The node-redis client with Buffer replies (`REDIS_DECODE_RESPONSES=false`); see {@link StringClient}. */
export type BufferClient<S extends RedisScripts = {}, F extends RedisFunctions = {}> = RedisClientType<
  {},
  F,
  S,
  3,
  BufferTypeMapping
>;
/**
 * The client `getClient()` returns, by the type of `redisDecodeResponses`: strings for `true`,
 * Buffers for `false`, and either when only the environment decides (`boolean`); with the pool's
 * scripts `S` and functions `F` (`new RedisPool({ scripts, functions })`).
 */
export type RedisPoolClient<
  D extends boolean = true,
  S extends RedisScripts = {},
  F extends RedisFunctions = {},
> = boolean extends D
  ? StringClient<S, F> | BufferClient<S, F>
  : D extends false
    ? BufferClient<S, F>
    : StringClient<S, F>;

/** The lifecycle events of one connection, as the pool reports them. */
export type ConnectionEventName = 'connect' | 'ready' | 'reconnecting' | 'error' | 'end';

/** node-redis's cluster client, as the pool makes it in cluster mode. */
export type ClusterClient = RedisClusterType<{}, {}, {}, 3, {}>;

/** What a topology serves ordinary commands with: a single server's client, or the cluster client. */
export type TopologyClient = StringClient | ClusterClient;
