import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { AcquireTimeoutError, PoolClosedError, RedisPool } from '../src/index.js';
import { startRedisServer } from '../src/testing/index.js';
import { admin, serverForFile, settingsFor, silent } from './helpers.js';

const file = serverForFile();

/** Resolves with the messages `received` holds once it has `count` of them, or what it has after 5 s. */
async function collected<T>(received: T[], count: number): Promise<T[]> {
  for (let i = 0; i < 250 && received.length < count; i++) await sleep(20);
  return received;
}

test('subscribe, pSubscribe and unsubscribe on the dedicated connection', async () => {
  const pool = new RedisPool<true>({ logger: silent });
  try {
    await pool.getClient(settingsFor(file.server.url));
    const subscriber = await pool.subscriber();
    const received: string[] = [];
    const onOrders = (message: string, channel: string) => received.push(`${channel}:${message}`);
    await subscriber.subscribe('orders', onOrders);
    await subscriber.pSubscribe('events.*', (message, channel) => received.push(`${channel}:${message}`));
    assert.deepEqual([subscriber.channels, subscriber.patterns], [['orders'], ['events.*']]);
    assert.equal(pool.stats().subscriber.open, true);

    await file.observer.publish('orders', 'o1');
    await file.observer.publish('events.created', 'e1');
    assert.deepEqual((await collected(received, 2)).sort(), ['events.created:e1', 'orders:o1']);

    await subscriber.unsubscribe('orders', onOrders);
    await file.observer.publish('orders', 'o2');
    await file.observer.publish('events.created', 'e2');
    await collected(received, 3);
    await sleep(50);
    assert.deepEqual(received.slice(2), ['events.created:e2'], 'no message after unsubscribing');
    assert.deepEqual(subscriber.channels, []);
  } finally {
    pool.destroy();
  }
});

test('after a reconnect, every channel and pattern is subscribed again', async () => {
  const server = await startRedisServer();
  const pool = new RedisPool<true>({ logger: silent });
  const events: string[] = [];
  pool.on('reconnecting', (event) => events.push(`reconnecting:${event.role}`));
  try {
    await pool.getClient(settingsFor(server.url));
    const subscriber = await pool.subscriber();
    const received: string[] = [];
    await subscriber.subscribe(['news', 'sport'], (message, channel) => received.push(`${channel}:${message}`));
    await subscriber.pSubscribe('alerts.*', (message, channel) => received.push(`${channel}:${message}`));

    await server.kill();
    await server.restart();
    for (let i = 0; i < 200 && subscriber.reconnects < 1; i++) await sleep(20);
    assert.equal(subscriber.reconnects, 1);
    assert.ok(events.includes('reconnecting:subscriber'));

    const publisher = await admin(server.url);
    try {
      await publisher.publish('news', 'n1');
      await publisher.publish('sport', 's1');
      await publisher.publish('alerts.fire', 'a1');
      assert.deepEqual((await collected(received, 3)).sort(), ['alerts.fire:a1', 'news:n1', 'sport:s1']);
    } finally {
      publisher.destroy();
    }
  } finally {
    pool.destroy();
    await server.stop();
  }
});

test('a subscriber connection that hangs is replaced and resubscribed once the server answers', async () => {
  const server = await startRedisServer();
  const pool = new RedisPool<true>({ logger: silent });
  try {
    await pool.getClient(
      settingsFor(server.url, {
        redisSocketTimeout: 0.3,
        redisHealthCheckInterval: 0.1,
        redisSocketConnectTimeout: 0.5,
      }),
    );
    const subscriber = await pool.subscriber();
    const received: string[] = [];
    await subscriber.subscribe('frozen', (message) => received.push(message));
    server.pause();
    await sleep(1200);
    server.resume();
    for (let i = 0; i < 250 && subscriber.reconnects < 1; i++) await sleep(20);
    assert.ok(subscriber.reconnects >= 1, 'the hung connection was replaced');
    const publisher = await admin(server.url);
    try {
      await publisher.publish('frozen', 'thawed');
      assert.deepEqual(await collected(received, 1), ['thawed']);
    } finally {
      publisher.destroy();
    }
  } finally {
    pool.destroy();
    await server.stop();
  }
});

test('the subscriber connection counts against REDIS_MAX_CONNECTIONS and gives its slot back on close', async () => {
  const pool = new RedisPool<true>({ logger: silent });
  try {
    await pool.getClient(settingsFor(file.server.url, { redisMaxConnections: 2, redisPoolTimeout: 0.2 }));
    const subscriber = await pool.subscriber();
    await subscriber.subscribe('cap', () => {});
    assert.equal(pool.stats().total, 2);
    await assert.rejects(
      pool.withConnection((client) => client.ping()),
      AcquireTimeoutError,
    );
    await subscriber.close();
    assert.equal(pool.stats().total, 1);
    assert.equal(await pool.withConnection((client) => client.ping()), 'PONG');
    await assert.rejects(
      subscriber.subscribe('cap', () => {}),
      PoolClosedError,
    );
  } finally {
    pool.destroy();
  }
});
