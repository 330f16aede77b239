// The pool's client-side cache as a building block: which entries it trusts, and its figures.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClientCache } from '../../src/client/cache.js';
import { CommonAppSettings } from '../../src/settings.js';

const settings = new CommonAppSettings(
  { serviceName: 'unit', logLevel: 'silent', redisClientSideCache: true, redisClientSideCacheMaxEntries: 2 },
  { env: {}, envFile: false },
);

/** A stand-in for the node-redis client an entry was read on: all the cache looks at. */
const reader = () => ({ isReady: true, socketEpoch: 1 });

function store(cache: ClientCache, key: string, client: object, value: unknown = key) {
  cache.set(key, cache.createValueEntry(client as never, value), [key]);
}

test('an entry is trusted while its connection is ready, on the same socket, and not retired', () => {
  const cache = new ClientCache(settings);
  const client = reader();
  store(cache, 'a', client);
  assert.ok(cache.get('a'));
  client.isReady = false;
  assert.equal(cache.get('a'), undefined, 'not while its connection is down');
  client.isReady = true;
  store(cache, 'a', client);
  client.socketEpoch = 2;
  assert.equal(cache.get('a'), undefined, 'not after a reconnect: invalidations could have been missed');
  store(cache, 'a', client);
  assert.ok(cache.get('a'));
  const other = reader();
  store(cache, 'b', other);
  cache.retire(client);
  assert.equal(cache.size(), 0, 'retiring a connection empties the cache');
  store(cache, 'a', client);
  assert.equal(cache.get('a'), undefined, 'a reply the retired connection brings later is not trusted');
  store(cache, 'b', other);
  assert.ok(cache.get('b'), 'one from another connection is');
});

test('figures: hits and misses are node-redis’s, invalidations and flushes the pool’s; a flush keeps them', () => {
  const cache = new ClientCache(settings);
  const client = reader();
  for (const key of ['a', 'b', 'c']) store(cache, key, client);
  assert.equal(cache.figures().evictions, 1, 'REDIS_CLIENT_SIDE_CACHE_MAX_ENTRIES=2');
  cache.recordHits(3);
  cache.recordMisses(2);
  cache.invalidate('b');
  assert.equal(cache.get('b'), undefined);
  cache.onError();
  cache.clear();
  assert.deepEqual(cache.figures(), { entries: 0, hits: 3, misses: 2, evictions: 2, invalidations: 1, flushes: 1 });
});
