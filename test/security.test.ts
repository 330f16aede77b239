import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RedisAuthError, RedisPool } from '../src/index.js';
import { serverForFile, settingsFor, silent } from './helpers.js';

const file = serverForFile();

describe('REDIS_USERNAME without a password', () => {
  test('authenticates as that user (a nopass ACL user) on every connection, confined to its key pattern', async () => {
    // Regression: node-redis sends credentials only with a password, so the pool connected as
    // `default` while the settings, the logs and `redis-pool check` all said `limited`.
    await file.observer.sendCommand([
      'ACL',
      'SETUSER',
      'limited',
      'reset',
      'on',
      'nopass',
      '~limited:*',
      '&limited-*',
      '+@all',
    ]);
    const pool = new RedisPool<true>({ logger: silent });
    try {
      const client = await pool.getClient(settingsFor(file.server.url, { redisUsername: 'limited' }));
      assert.equal(await client.sendCommand(['ACL', 'WHOAMI']), 'limited');
      assert.equal(await client.set('limited:a', '1'), 'OK');
      await assert.rejects(client.set('other:a', '1'), /NOPERM/);
      const subscriber = await pool.subscriber();
      await subscriber.subscribe('limited-news', () => undefined);
      const users = await pool.withConnection(async (lease) => {
        assert.equal(await lease.sendCommand(['ACL', 'WHOAMI']), 'limited', 'a leased connection authenticates too');
        return (await file.observer.clientList())
          .filter((entry) => entry.name?.startsWith('pool-test:'))
          .map((entry) => `${entry.name?.split(':')[1]} ${(entry as { user?: string }).user}`);
      });
      assert.deepEqual(users.sort(), ['lease limited', 'shared limited', 'subscriber limited']);
    } finally {
      pool.destroy();
      await file.observer.sendCommand(['ACL', 'DELUSER', 'limited']);
    }
  });

  test('a user that has a password is refused with a RedisAuthError that says why, never connected as default', async () => {
    await file.observer.sendCommand(['ACL', 'SETUSER', 'guarded', 'reset', 'on', '>its-password', '~*', '+@all']);
    const pool = new RedisPool<true>({ logger: silent });
    try {
      await assert.rejects(pool.getClient(settingsFor(file.server.url, { redisUsername: 'guarded' })), (error) => {
        assert.ok(error instanceof RedisAuthError);
        assert.equal(error.code, 'REDIS_POOL_AUTH_FAILED');
        assert.match(error.message, /WRONGPASS/);
        assert.match(error.message, /REDIS_USERNAME \(guarded\) is set without a password.*nopass/);
        return true;
      });
    } finally {
      pool.destroy();
      await file.observer.sendCommand(['ACL', 'DELUSER', 'guarded']);
    }
  });
});
