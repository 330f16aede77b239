/**
 * The pool's client-side cache (`REDIS_CLIENT_SIDE_CACHE`): node-redis's own cache, given to every
 * connection that reads for the shared client, which trusts an entry only while the connection
 * that read it could still tell it of a change.
 */

import { BasicPooledClientSideCache, cachedGet } from '../node-redis/node-redis.js';
import type { CommonAppSettings } from '../settings.js';

/** The cache's figures, in `stats().clientSideCache`. */
export interface ClientCacheStats {
  /** Replies held now. */
  entries: number;
  /** Reads answered from the cache. */
  hits: number;
  /** Cacheable reads sent to the server (a read awaiting the same reply counts as one). */
  misses: number;
  /** Entries dropped for room (`REDIS_CLIENT_SIDE_CACHE_MAX_ENTRIES`), age (`REDIS_CLIENT_SIDE_CACHE_TTL`) or a flush. */
  evictions: number;
  /** Keys the server said changed (`invalidate` push messages); a whole flush from the server counts as one. */
  invalidations: number;
  /** Times the whole cache was emptied because an invalidation could have been missed. */
  flushes: number;
}

type Pooled = InstanceType<typeof BasicPooledClientSideCache>;

/** The client a node-redis cache entry was read on, and its socket's epoch then (a reconnect changes it). */
interface Origin {
  client: { readonly isReady: boolean; readonly socketEpoch: number };
  epoch: number;
}

/**
 * node-redis's pooled cache, which one or several connections share (node-redis's cluster client
 * gives its one cache to every node client), with a stricter rule for trust: an entry is served
 * only while the connection that read it is ready, on the same socket (no reconnect since), and
 * not retired by the pool (replaced by the watchdog, moved after a failover). The server's
 * invalidations come on that connection and no other, so once it is gone, so is every promise
 * about its entries. node-redis's own clients also empty the cache on a socket error and at
 * close; a cluster's on every new topology.
 */
export class ClientCache extends BasicPooledClientSideCache {
  readonly #origins = new WeakMap<object, Origin>();
  readonly #retired = new WeakSet<object>();
  #invalidations = 0;
  #flushes = 0;

  constructor(settings: CommonAppSettings) {
    super({
      maxEntries: settings.redisClientSideCacheMaxEntries,
      ttl: settings.redisClientSideCacheTtl * 1000,
      evictPolicy: 'LRU',
      recordStats: true,
    });
  }

  /** The pool no longer reads on `client`: what it read is not trusted, and the cache is emptied. */
  retire(client: object): void {
    this.#retired.add(client);
    this.flush();
  }

  /** Empties the cache: an invalidation could have been missed. Its figures stay. */
  flush(): void {
    if (this.size() > 0) this.#flushes++;
    super.clear(false);
  }

  /** node-redis calls this after a socket error, at close and at a new cluster topology; the figures stay. */
  override clear(): void {
    this.flush();
  }

  override onError(): void {
    this.flush();
  }

  override onClose(): void {
    this.flush();
  }

  override invalidate(key: Parameters<Pooled['invalidate']>[0]): void {
    this.#invalidations++;
    super.invalidate(key);
  }

  override get(cacheKey: string): ReturnType<Pooled['get']> {
    const entry = super.get(cacheKey);
    if (entry === undefined) return undefined;
    const origin = this.#origins.get(entry);
    if (origin === undefined || this.#trusts(origin)) return entry;
    this.delete(cacheKey);
    this.recordEvictions(1);
    return undefined;
  }

  override createValueEntry(
    client: Parameters<Pooled['createValueEntry']>[0],
    value: unknown,
  ): ReturnType<Pooled['createValueEntry']> {
    return this.#note(super.createValueEntry(client, value), client);
  }

  override createPromiseEntry(
    client: Parameters<Pooled['createPromiseEntry']>[0],
    reply: Parameters<Pooled['createPromiseEntry']>[1],
  ): ReturnType<Pooled['createPromiseEntry']> {
    return this.#note(super.createPromiseEntry(client, reply), client);
  }

  /** The figures `stats()` reports. */
  figures(): ClientCacheStats {
    const { hitCount, missCount, evictionCount } = this.stats();
    return {
      entries: this.size(),
      hits: hitCount,
      misses: missCount,
      evictions: evictionCount,
      invalidations: this.#invalidations,
      flushes: this.#flushes,
    };
  }

  #note<E extends object>(entry: E, client: object): E {
    const reader = client as Origin['client'];
    this.#origins.set(entry, { client: reader, epoch: reader.socketEpoch });
    return entry;
  }

  #trusts({ client, epoch }: Origin): boolean {
    return client.isReady && client.socketEpoch === epoch && !this.#retired.has(client);
  }
}

/**
 * Answers `client.get(key)` on `facade` itself (not on its views, whose options may differ) from
 * `cache` when it holds a string for the key, before node-redis builds the command: a hit then
 * costs a lookup, where node-redis's own path builds the command, finds its cache policy, makes
 * the cache key and copies the value (docs/performance.md). Anything else takes node-redis's
 * path, and its cache, as before. `prefix` is `REDIS_KEY_PREFIX`, which the cache keys carry.
 */
export function answerHits(facade: object, cache: ClientCache, prefix = ''): void {
  (facade as { get: (key: unknown) => Promise<unknown> }).get = function (this: object, key: unknown) {
    if (this === facade && typeof key === 'string') {
      const value = cachedGet(cache, prefix + key);
      if (value !== undefined) return Promise.resolve(value);
    }
    return Object.getPrototypeOf(facade).get.call(this, key);
  };
}
