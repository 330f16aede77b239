// What a library that takes a node-redis client does with the pool's clients: lifecycle calls,
// listeners, a subscriber client and duplicates, against real servers (and a fault proxy).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { AcquireTimeoutError, closeRedisPool, createLogger, getRedisClient, RedisPool } from '../src/index.js';
import { startFaultProxy } from '../src/testing/index.js';
import { connectionsNamed, serverForFile, settingsFor, silent } from './helpers.js';

const file = serverForFile();

/** Waits up to 5 s for `done()`. */
async function until(done: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 250; i++) {
    if (await done()) return;
    await sleep(20);
  }
  assert.fail(`not within 5 s: ${what}`);
}

/** Counts uncaught exceptions and unhandled rejections until the returned function is called. */
function countCrashes(): () => number {
  let count = 0;
  const onCrash = () => count++;
  process.on('uncaughtException', onCrash);
  process.on('unhandledRejection', onCrash);
  return () => {
    process.off('uncaughtException', onCrash);
    process.off('unhandledRejection', onCrash);
    return count;
  };
}

/** Every byte value, then some invalid UTF-8: what a binary protocol (msgpack) may send. */
const BINARY = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), Buffer.from([0xc3, 0x28, 0xff])]);

describe('the shared client takes every lifecycle call a library makes', () => {
  test('connect() resolves; close(), quit(), disconnect() and destroy() resolve, close nothing, and are logged once', async () => {
    const lines: string[] = [];
    const pool = new RedisPool({ logger: createLogger('warn', (line) => lines.push(line)) });
    try {
      const client = await pool.getClient(settingsFor(file.server.url, { serviceName: 'lifecycle' }));
      assert.equal(await client.connect(), client);
      // A library's `client.quit().catch(…)` must not throw before its catch is attached.
      const calls = [() => client.close(), () => client.quit(), () => client.disconnect(), () => client.destroy()];
      for (const call of calls) {
        const result = call() as unknown;
        assert.ok(result instanceof Promise, 'a promise, not a throw');
        await result;
      }
      assert.equal(await client.ping(), 'PONG');
      assert.equal((await connectionsNamed(file.observer, 'lifecycle:shared:')).length, 1, 'still connected');
      const ignored = lines.filter((line) => line.includes('was ignored'));
      assert.equal(ignored.length, 1, lines.join('\n'));
      assert.match(ignored[0] as string, /closeRedisPool\(\)/);
      await pool.close();
      await until(async () => (await connectionsNamed(file.observer, 'lifecycle:')).length === 0, 'the pool closed');
    } finally {
      pool.destroy();
    }
  });
});

describe('listeners on the shared client', () => {
  test('survive the replacement of a hung connection: a later cut reaches them, and nothing is uncaught', async () => {
    const proxy = await startFaultProxy({ target: file.server.url });
    const crashes = countCrashes();
    const pool = new RedisPool({ logger: silent });
    try {
      const client = await pool.getClient(settingsFor(proxy.url, { redisSocketTimeout: 0.3 }));
      const errors: unknown[] = [];
      let readies = 0;
      client.on('error', (error) => errors.push(error));
      client.on('ready', () => readies++);

      // A blackhole hangs the connection; the watchdog replaces it with a new client.
      proxy.blackhole();
      await assert.rejects(client.ping());
      await proxy.restore();
      await until(async () => (await client.ping().catch(() => '')) === 'PONG', 'back after the blackhole');
      assert.ok(readies >= 1, 'the new connection’s ready reached the listener');

      errors.length = 0;
      proxy.cut();
      await until(() => errors.length > 0, 'the cut’s error reached the listener added before the replacement');
      await until(async () => (await client.ping().catch(() => '')) === 'PONG', 'back after the cut');

      // A library that clears its listeners leaves the pool's own guard in place.
      client.removeAllListeners();
      proxy.cut();
      await until(async () => (await client.ping().catch(() => '')) === 'PONG', 'back after a cut with no listener');
      await sleep(50);
      assert.equal(crashes(), 0, 'no uncaught exception or unhandled rejection');
    } finally {
      crashes();
      pool.destroy();
      await proxy.stop();
    }
  });
});

describe('redisPool.subscriber() stands in for a node-redis subscriber client', () => {
  test('events, isOpen/isReady, and Buffers byte for byte with bufferMode, for channels, patterns and shard channels', async () => {
    const pool = new RedisPool({ logger: silent });
    try {
      await pool.getClient(settingsFor(file.server.url));
      const subscriber = await pool.subscriber();
      const events: string[] = [];
      for (const event of ['connect', 'ready', 'reconnecting', 'end'] as const)
        subscriber.on(event, () => events.push(event));
      assert.equal(subscriber.isOpen, true);
      assert.equal(await subscriber.connect(), subscriber);
      assert.equal(subscriber.isReady, true);
      assert.deepEqual(events, ['connect', 'ready']);

      const received: string[] = [];
      const bytes: Buffer[] = [];
      await subscriber.subscribe(
        'bin',
        (message: Buffer, channel: Buffer) => {
          assert.ok(Buffer.isBuffer(channel));
          bytes.push(message);
        },
        true,
      );
      await subscriber.pSubscribe('text.*', (message, channel) => received.push(`${channel}:${message}`));
      await subscriber.sSubscribe('shard', (message: Buffer) => bytes.push(message), true);
      await file.observer.publish('bin', BINARY);
      await file.observer.publish('text.a', 'hello');
      await file.observer.sPublish('shard', BINARY);
      await until(() => bytes.length === 2 && received.length === 1, 'three messages');
      assert.deepEqual(bytes, [BINARY, BINARY]);
      assert.deepEqual(received, ['text.a:hello']);
      assert.deepEqual(pool.stats().subscriber, { open: true, channels: 1, patterns: 1, shards: 1 });

      await subscriber.sUnsubscribe('shard');
      await file.observer.sPublish('shard', 'late');
      await file.observer.publish('bin', 'after');
      await until(() => bytes.length === 3, 'the channel still delivers');
      assert.deepEqual(bytes[2], Buffer.from('after'), 'nothing more on the shard channel');

      await subscriber.close();
      assert.equal(subscriber.isOpen, false);
      assert.equal(events.at(-1), 'end');
    } finally {
      pool.destroy();
    }
  });

  test('a lost connection is reopened and all three kinds are subscribed again, Buffers still byte for byte', async () => {
    const pool = new RedisPool({ logger: silent });
    try {
      await pool.getClient(settingsFor(file.server.url, { serviceName: 'resub' }));
      const subscriber = await pool.subscriber();
      const got: string[] = [];
      const reconnecting: string[] = [];
      subscriber.on('reconnecting', () => reconnecting.push('reconnecting'));
      subscriber.on('error', () => undefined);
      await subscriber.subscribe('c', (message: Buffer) => got.push(`c:${message.equals(BINARY)}`), true);
      await subscriber.pSubscribe('p.*', (message: Buffer) => got.push(`p:${message.equals(BINARY)}`), true);
      await subscriber.sSubscribe('s', (message: Buffer) => got.push(`s:${message.equals(BINARY)}`), true);

      await file.observer.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub']);
      await until(() => subscriber.reconnects === 1, 'resubscribed');
      assert.deepEqual(reconnecting, ['reconnecting']);
      await file.observer.publish('c', BINARY);
      await file.observer.publish('p.x', BINARY);
      await file.observer.sPublish('s', BINARY);
      await until(() => got.length === 3, 'a message of each kind after the reconnect');
      assert.deepEqual(got.sort(), ['c:true', 'p:true', 's:true']);
    } finally {
      pool.destroy();
    }
  });
});

describe('client.duplicate() gives a dedicated connection the pool knows about', () => {
  test('its own name, serves at once after connect(), counted in stats() and against REDIS_MAX_CONNECTIONS', async () => {
    const pool = new RedisPool({ logger: silent });
    try {
      const client = await pool.getClient(
        settingsFor(file.server.url, { serviceName: 'dup', redisMaxConnections: 2, redisPoolTimeout: 0.2 }),
      );
      const before = pool.stats().total;
      const duplicate = client.duplicate();
      await duplicate.connect();
      // Sent in the same tick as connect() resolved: no offline-queue refusal.
      assert.equal(await duplicate.set('dup:key', 'v'), 'OK');
      assert.deepEqual(await connectionsNamed(file.observer, 'dup:duplicate:'), [`dup:duplicate:${process.pid}`]);
      assert.equal(pool.stats().total, before + 1);
      assert.equal(pool.stats().duplicates, 1);

      // The shared connection and this duplicate hold both slots: a second one waits, then times out.
      const second = client.duplicate();
      await assert.rejects(second.connect(), AcquireTimeoutError);
      assert.equal(second.isOpen, false);

      // A subscription on a duplicate, as node-redis allows.
      const messages: string[] = [];
      await duplicate.subscribe('dup:news', (message) => messages.push(message));
      await file.observer.publish('dup:news', 'hi');
      await until(() => messages.length === 1, 'the duplicate’s subscription');

      await duplicate.close();
      assert.equal(pool.stats().duplicates, 0);
      assert.equal(pool.stats().total, before, 'its slot is back');
    } finally {
      pool.destroy();
    }
  });

  test('closeRedisPool() closes the duplicates still open: none is left at the server', async () => {
    const client = await getRedisClient(settingsFor(file.server.url, { serviceName: 'forgotten' }));
    const duplicate = client.duplicate();
    await duplicate.connect();
    const view = client.withTypeMapping({}).duplicate();
    await view.connect();
    assert.equal((await connectionsNamed(file.observer, 'forgotten:duplicate:')).length, 2);
    await closeRedisPool();
    assert.equal(duplicate.isOpen, false);
    assert.equal(view.isOpen, false);
    await until(async () => (await connectionsNamed(file.observer, 'forgotten:')).length === 0, 'no connection left');
  });
});
