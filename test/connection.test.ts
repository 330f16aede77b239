import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffDelay } from '../src/connection.js';
import { ConnectError, RedisPool } from '../src/index.js';
import { settingsFor, silent } from './helpers.js';

test('reconnect backoff doubles from 50 ms to a 2 s cap, jittered between half and all of it', () => {
  for (let retries = 0; retries < 40; retries++) {
    const ceiling = Math.min(2000, 50 * 2 ** retries);
    for (let sample = 0; sample < 50; sample++) {
      const delay = backoffDelay(retries);
      assert.ok(delay >= ceiling / 2 && delay <= ceiling, `retry ${retries}: ${delay} ms`);
    }
  }
  const spread = new Set(Array.from({ length: 50 }, () => backoffDelay(10)));
  assert.ok(spread.size > 10, 'delays are jittered, not all equal');
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
