/** The types of the clients the pool hands out. */
import type { RESP_TYPES, RedisArgument, RedisClientType, RedisClusterType, RedisFunctions, RedisScripts } from 'redis';

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

/** The options of the cluster client's `scanIterator()`: node-redis's SCAN options; a `cursor` other than `0` is refused. */
export interface ClusterScanOptions {
  /** A glob-style pattern (`MATCH`), as Redis reads it. */
  MATCH?: string;
  /** How much work each `SCAN` call does on its node (`COUNT`). */
  COUNT?: number;
  /** Only keys of this type (`TYPE`), for example `hash`. */
  TYPE?: string;
  /** Refused unless `0`: a cluster-wide scan cannot resume from one node's cursor. */
  cursor?: RedisArgument;
}

/** The options of the per-key scan iterators: `MATCH`, `COUNT`, and a `cursor` to start from. */
export interface KeyScanOptions {
  MATCH?: string;
  COUNT?: number;
  cursor?: RedisArgument;
}

/**
 * What the pool gives its cluster client, which node-redis's lacks: `scanIterator()` over every
 * primary (cluster-scan.ts), the per-key scan iterators, and `withAbortSignal()`. `K` is a string
 * or a Buffer.
 */
export interface ClusterScanIterators<K> {
  /** A view of the client whose commands are cut by `signal` (before and after their write). */
  withAbortSignal(signal: AbortSignal): this;
  scanIterator(options?: ClusterScanOptions): AsyncGenerator<K[]>;
  hScanIterator(key: RedisArgument, options?: KeyScanOptions): AsyncGenerator<{ field: K; value: K }[]>;
  hScanValuesIterator(key: RedisArgument, options?: KeyScanOptions): AsyncGenerator<K[]>;
  hScanNoValuesIterator(key: RedisArgument, options?: KeyScanOptions): AsyncGenerator<K[]>;
  sScanIterator(key: RedisArgument, options?: KeyScanOptions): AsyncGenerator<K[]>;
  zScanIterator(key: RedisArgument, options?: KeyScanOptions): AsyncGenerator<{ value: K; score: number }[]>;
}

/**
 * The client `getClusterClient()` returns in cluster mode: node-redis's cluster client, with the
 * default modules, the pool's scripts `S` and functions `F`, and the scan iterators the pool adds.
 * Unlike `RedisPoolClient`, it promises no single-server method the cluster client lacks.
 */
export type RedisPoolClusterClient<
  D extends boolean = true,
  S extends RedisScripts = {},
  F extends RedisFunctions = {},
> = boolean extends D
  ?
      | (RedisClusterType<{}, F, S, 3, {}> & ClusterScanIterators<string>)
      | (RedisClusterType<{}, F, S, 3, BufferTypeMapping> & ClusterScanIterators<Buffer>)
  : D extends false
    ? RedisClusterType<{}, F, S, 3, BufferTypeMapping> & ClusterScanIterators<Buffer>
    : RedisClusterType<{}, F, S, 3, {}> & ClusterScanIterators<string>;

/** What a topology serves ordinary commands with: a single server's client, or the cluster client. */
export type TopologyClient = StringClient | ClusterClient;
