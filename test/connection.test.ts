import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffDelay } from '../src/backoff.js';
import { ConnectError, RedisPool } from '../src/index.js';
import { settingsFor, silent } from './helpers.js';

test('reconnect backoff doubles from REDIS_RECONNECT_BASE_DELAY to REDIS_RECONNECT_MAX_DELAY, jittered', () => {
  const policies = [
    { base: 0.05, max: 0.5, settings: settingsFor('redis://127.0.0.1:1') },
    {
      base: 0.2,
      max: 3,
      settings: settingsFor('redis://127.0.0.1:1', { redisReconnectBaseDelay: 0.2, redisReconnectMaxDelay: 3 }),
    },
  ];
  for (const { base, max, settings } of policies) {
    for (let retries = 0; retries < 40; retries++) {
      const ceiling = Math.min(max, base * 2 ** retries) * 1000;
      for (let sample = 0; sample < 50; sample++) {
        const delay = backoffDelay(retries, settings);
        assert.ok(delay >= Math.floor(ceiling / 2) && delay <= Math.ceil(ceiling), `retry ${retries}: ${delay} ms`);
      }
    }
    const spread = new Set(Array.from({ length: 50 }, () => backoffDelay(10, settings)));
    assert.ok(spread.size > 10, 'delays are jittered, not all equal');
  }
});

test('a host that does not resolve is a ConnectError that carries the DNS failure', async () => {
  const pool = new RedisPool({ logger: silent });
  await assert.rejects(pool.getClient(settingsFor('redis://no-such-host.invalid:6379')), (error) => {
    assert.ok(error instanceof ConnectError);
    assert.equal(error.code, 'REDIS_POOL_CONNECT_FAILED');
    assert.equal(error.reason, 'other');
    assert.match(String((error.cause as NodeJS.ErrnoException).code), /^(ENOTFOUND|EAI_AGAIN)$/);
    return true;
  });
});
