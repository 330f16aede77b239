import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ClientUsageError, RedisPool } from '../src/index.js';
import { startRedisServer } from '../src/testing/index.js';
import { connectionsNamed, serverForFile, settingsFor, silent } from './helpers.js';

const file = serverForFile();

test('up: the shared connection answers a PING; the report says when, how fast and where', async () => {
  const pool = new RedisPool({ logger: silent });
  try {
    await pool.getClient(settingsFor(file.server.url));
    const before = Date.now();
    const health = await pool.health();
    assert.equal(health.status, 'up');
    assert.equal(health.mode, 'standalone');
    assert.ok(typeof health.latencyMs === 'number' && health.latencyMs >= 0);
    assert.ok(Date.parse(health.checkedAt) >= before - 1000);
    assert.deepEqual(health.details, {
      address: `127.0.0.1:${new URL(file.server.url).port}`,
      shared: 'ready',
      held: 0,
      waiting: 0,
    });
  } finally {
    pool.destroy();
  }
});

test('degraded while the offline queue holds commands for a server that is gone; down with nothing held; up when back', async () => {
  const server = await startRedisServer();
  const pool = new RedisPool({ logger: silent });
  try {
    const client = await pool.getClient(settingsFor(server.url, { redisOfflineQueueTimeout: 10 }));
    await server.kill();
    for (let i = 0; i < 100 && pool.stats().shared.state === 'ready'; i++) await sleep(20);

    const down = await pool.health();
    assert.equal(down.status, 'down', JSON.stringify(down));
    assert.equal(down.latencyMs, undefined);
    assert.equal(down.details.shared, 'reconnecting');

    const held = client.get('waits-for-the-server');
    const degraded = await pool.health();
    assert.equal(degraded.status, 'degraded', JSON.stringify(degraded));
    assert.equal(degraded.details.held, 1);

    await server.restart();
    assert.equal(await held, null, 'the held command ran once the server was back');
    let status = '';
    for (let i = 0; i < 100 && status !== 'up'; i++) {
      status = (await pool.health()).status;
      if (status !== 'up') await sleep(20);
    }
    assert.equal(status, 'up');
  } finally {
    pool.destroy();
    await server.stop();
  }
});

test('a frozen server is down within timeoutMs, with the reason', async () => {
  const server = await startRedisServer();
  const pool = new RedisPool({ logger: silent });
  try {
    await pool.getClient(settingsFor(server.url));
    server.pause();
    const health = await pool.health({ timeoutMs: 200 });
    assert.equal(health.status, 'down');
    assert.match(String(health.details.error), /no PONG within 200 ms/);
  } finally {
    server.resume();
    pool.destroy();
    await server.stop();
  }
});

test('closed: down, and asking opens nothing', async () => {
  const pool = new RedisPool({ logger: silent });
  const never = await pool.health();
  assert.deepEqual([never.status, never.mode, never.details], ['down', undefined, { reason: 'the pool is closed' }]);

  await pool.getClient(settingsFor(file.server.url, { serviceName: 'health-closed' }));
  await pool.close();
  const closed = await pool.health();
  assert.equal(closed.status, 'down');
  assert.equal(pool.settings, undefined, 'still closed');
  await sleep(50);
  assert.deepEqual(await connectionsNamed(file.observer, 'health-closed:'), []);
});

test('a timeoutMs that is not a positive number is a ClientUsageError naming it', async () => {
  const pool = new RedisPool({ logger: silent });
  for (const timeoutMs of [0, -1, Number.NaN, '100' as unknown as number]) {
    await assert.rejects(pool.health({ timeoutMs }), (error) => {
      assert.ok(error instanceof ClientUsageError);
      assert.match(error.message, /timeoutMs/);
      return true;
    });
  }
});
