import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConnectError, RedisPool } from '../src/index.js';
import { settingsFor, silent } from './helpers.js';

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
