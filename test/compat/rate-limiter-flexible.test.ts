import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { RedisPool } from '../../src/index.js';
import { KEY_PREFIXES, keyPrefixed, prefixLabel, serverForFile, settingsFor, silent } from '../helpers.js';

const file = serverForFile();

for (const prefix of KEY_PREFIXES) {
  describe(`rate-limiter-flexible on the pool's client${prefixLabel(prefix)}`, () => {
    test('2000 concurrent consume() calls against 1000 points: exactly 1000 pass, 1000 are refused', async () => {
      const pool = new RedisPool<true>({ logger: silent });
      try {
        const client = await pool.getClient(settingsFor(file.server.url, keyPrefixed(prefix)));
        // rate-limiter-flexible's README for the redis package v4+: storeClient and useRedisPackage.
        const limiter = new RateLimiterRedis({
          storeClient: client,
          useRedisPackage: true,
          keyPrefix: 'login',
          points: 1000,
          duration: 60,
        });

        const outcomes = await Promise.allSettled(Array.from({ length: 2000 }, () => limiter.consume('user-1')));
        const passed = outcomes.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []));
        const refused = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason] : []));
        assert.equal(passed.length, 1000);
        assert.equal(refused.length, 1000);
        assert.ok(
          refused.every((reason) => reason instanceof RateLimiterRes),
          'a refusal is a RateLimiterRes, not an Error',
        );
        // The Lua script increments atomically: each call saw its own count, 1 to 2000, once.
        const counts = [...passed, ...(refused as RateLimiterRes[])].map((res) => res.consumedPoints);
        assert.deepEqual(
          counts.sort((a, b) => a - b),
          Array.from({ length: 2000 }, (_, i) => i + 1),
        );
        assert.ok(passed.every((res) => res.consumedPoints <= 1000));
        assert.equal(await file.observer.get(`${prefix}login:user-1`), '2000');
        assert.ok((await file.observer.pTTL(`${prefix}login:user-1`)) > 0, 'the counter expires with the duration');
      } finally {
        await pool.close();
      }
    });

    test('get() reads the counter and delete() removes it', async () => {
      const pool = new RedisPool<true>({ logger: silent });
      try {
        const client = await pool.getClient(settingsFor(file.server.url, keyPrefixed(prefix)));
        const limiter = new RateLimiterRedis({
          storeClient: client,
          useRedisPackage: true,
          keyPrefix: 'api',
          points: 10,
          duration: 60,
        });
        assert.equal(await limiter.get('user-2'), null, 'no counter before the first consume()');
        await limiter.consume('user-2', 3);

        const res = await limiter.get('user-2');
        assert.ok(res instanceof RateLimiterRes);
        assert.equal(res.consumedPoints, 3);
        assert.equal(res.remainingPoints, 7);
        assert.ok(res.msBeforeNext > 0 && res.msBeforeNext <= 60_000);

        assert.equal(await limiter.delete('user-2'), true);
        assert.equal(await file.observer.exists(`${prefix}api:user-2`), 0);
        assert.equal(await limiter.get('user-2'), null);
        assert.equal(await limiter.delete('user-2'), false, 'nothing left to delete');
      } finally {
        await pool.close();
      }
    });
  });
}
