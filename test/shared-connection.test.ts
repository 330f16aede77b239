import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { RESP_TYPES } from 'redis';
import { ClientUsageError, CommandTimeoutError, RedisPool, RedisUnavailableError } from '../src/index.js';
import { startRedisServer } from '../src/testing/index.js';
import { connectionsNamed, serverForFile, settingsFor, silent, timed } from './helpers.js';

const file = serverForFile({ args: ['--enable-debug-command', 'yes'] });

test('one pipelined connection carries a thousand concurrent commands, each reply to its caller', async () => {
  const pool = new RedisPool({ logger: silent });
  try {
    const client = await pool.getClient(settingsFor(file.server.url, { serviceName: 'pipelined' }));
    const keys = Array.from({ length: 1000 }, (_, i) => `pipelined:${i}`);
    await Promise.all(keys.map((key, i) => client.set(key, `value-${i}`)));
    const values = await Promise.all(keys.map((key) => client.get(key)));
    assert.deepEqual(
      values,
      keys.map((_, i) => `value-${i}`),
    );
    assert.deepEqual(await connectionsNamed(file.observer, 'pipelined:'), [`pipelined:shared:${process.pid}`]);
  } finally {
    pool.destroy();
  }
});

test("typed commands keep node-redis's reply transforms on the fast path", async () => {
  const pool = new RedisPool({ logger: silent });
  try {
    const client = await pool.getClient(settingsFor(file.server.url));
    await client.del(['fast:hash', 'fast:zset', 'fast:list']);
    assert.equal(await client.hSet('fast:hash', { a: '1', b: '2' }), 2);
    assert.deepEqual({ ...(await client.hGetAll('fast:hash')) }, { a: '1', b: '2' });
    assert.equal(
      await client.zAdd('fast:zset', [
        { score: 1.5, value: 'x' },
        { score: 2, value: 'y' },
      ]),
      2,
    );
    assert.deepEqual(await client.zRangeWithScores('fast:zset', 0, -1), [
      { value: 'x', score: 1.5 },
      { value: 'y', score: 2 },
    ]);
    assert.equal(await client.exists('fast:hash'), 1);
    assert.equal(await client.rPush('fast:list', ['1', '2', '3']), 3);
    assert.deepEqual(await client.lRange('fast:list', 0, -1), ['1', '2', '3']);
    assert.deepEqual(await client.multi().incr('fast:counter').incr('fast:counter').exec(), [1, 2]);
    assert.equal(await client.eval('return ARGV[1]', { arguments: ['script'] }), 'script');
    await assert.rejects(client.incr('fast:list'), /WRONGTYPE/);
  } finally {
    pool.destroy();
  }
});

test("with a subscriber on node-redis's reply channel, node-redis's own path publishes every reply", async () => {
  const pool = new RedisPool({ logger: silent });
  const seen: unknown[] = [];
  const listener = (message: unknown) => seen.push((message as { reply: unknown }).reply);
  subscribe('node-redis:command:reply', listener);
  try {
    const client = await pool.getClient(settingsFor(file.server.url));
    await client.set('traced', 'value');
    assert.equal(await client.get('traced'), 'value');
    assert.deepEqual(seen.slice(-2), ['OK', 'value']);
  } finally {
    unsubscribe('node-redis:command:reply', listener);
    pool.destroy();
  }
});

test("node-redis's own 5 s per-command timeout is off: a 5.5 s reply arrives", async () => {
  const pool = new RedisPool({ logger: silent });
  try {
    const client = await pool.getClient(settingsFor(file.server.url, { redisSocketTimeout: 10 }));
    assert.equal(await client.sendCommand(['DEBUG', 'SLEEP', '5.5']), 'OK');
  } finally {
    pool.destroy();
  }
});

describe('REDIS_SOCKET_TIMEOUT on a frozen server', () => {
  const timeoutMs = 1000;

  test('outstanding commands reject with CommandTimeoutError after the timeout, not before', async () => {
    const frozen = await startRedisServer();
    const pool = new RedisPool({ logger: silent });
    try {
      const client = await pool.getClient(
        settingsFor(frozen.url, { redisSocketTimeout: timeoutMs / 1000, redisOfflineQueueTimeout: timeoutMs / 1000 }),
      );
      const buffersView = client.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
      await client.set('before-freeze', 'ok');
      frozen.pause();
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => timed(client.get(`k${i}`))));
      for (const { outcome, ms } of results) {
        assert.equal(outcome.status, 'rejected');
        const error = (outcome as PromiseRejectedResult).reason;
        assert.ok(error instanceof CommandTimeoutError, String(error));
        assert.equal(error.code, 'REDIS_POOL_COMMAND_TIMEOUT');
        assert.match(error.message, /REDIS_SOCKET_TIMEOUT/);
        // Behaviour, not speed: never before the timeout, and within the watchdog's resolution
        // (1/20 of the timeout) plus generous room for a busy machine.
        assert.ok(ms >= timeoutMs * 0.95, `rejected early, after ${ms} ms`);
        assert.ok(ms <= timeoutMs * 1.1 + 400, `rejected late, after ${ms} ms`);
      }

      // Commands sent while the server is still frozen wait for a connection that cannot be made,
      // bounded by REDIS_OFFLINE_QUEUE_TIMEOUT, and were never sent.
      const later = await timed(client.ping());
      const error = (later.outcome as PromiseRejectedResult).reason;
      assert.ok(error instanceof RedisUnavailableError, String(error));
      assert.equal(error.reason, 'offline-queue-timeout');
      assert.ok(later.ms <= timeoutMs * 1.1 + 400, `rejected late, after ${later.ms} ms`);

      frozen.resume();
      // The same client object serves again once the server thaws: no restart, no new getClient().
      let answer: string | undefined;
      for (let attempt = 0; attempt < 50 && answer === undefined; attempt++) {
        answer =
          (await client.get('before-freeze').catch(async () => {
            await sleep(100);
            return undefined;
          })) ?? undefined;
      }
      assert.equal(answer, 'ok');
      // A command-option view taken before the freeze follows the replacement connection too.
      assert.deepEqual(await buffersView.get('before-freeze'), Buffer.from('ok'));
    } finally {
      pool.destroy();
      frozen.resume();
      await frozen.stop();
    }
  });

  test('a slow but live connection is not declared hung: the timeout runs from the last reply', async () => {
    const pool = new RedisPool({ logger: silent });
    try {
      const client = await pool.getClient(settingsFor(file.server.url, { redisSocketTimeout: timeoutMs / 1000 }));
      // Commands always outstanding for 1.8 s, but never 1 s without a reply: each sleeps 0.6 s
      // and the next is sent 0.5 s after the previous one, while it is still running. (Sent in
      // one write, Redis would run all three before flushing any reply.)
      const replies: Promise<unknown>[] = [];
      for (let i = 0; i < 3; i++) {
        replies.push(client.sendCommand(['DEBUG', 'SLEEP', '0.6']));
        if (i < 2) await sleep(500);
      }
      replies.push(client.ping());
      assert.deepEqual(await Promise.all(replies), ['OK', 'OK', 'OK', 'PONG']);
    } finally {
      pool.destroy();
    }
  });
});

describe('blocking commands on the shared client run on a lease', () => {
  test('fifty blocked BLPOP waiters do not stall a GET, and each gets its element when pushed', async () => {
    const pool = new RedisPool<true>({ logger: silent });
    try {
      const client = await pool.getClient(settingsFor(file.server.url, { redisMaxConnections: 60 }));
      await client.set('not-blocked', 'answered');
      const waiters = Array.from({ length: 50 }, () => client.blPop('blocking:queue', 0));
      for (let i = 0; i < 100 && pool.stats().leased < 50; i++) await sleep(10);
      assert.equal(pool.stats().leased, 50, 'each waiter holds a lease');
      let blockedCount = 0;
      for (let i = 0; i < 100 && blockedCount < 50; i++) {
        blockedCount = Number(/^blocked_clients:(\d+)/m.exec(await file.observer.info('clients'))?.[1]);
        if (blockedCount < 50) await sleep(10);
      }
      assert.equal(blockedCount, 50, 'all fifty are blocked at the server');
      // The GET answers while all fifty are still blocked.
      assert.equal(await client.get('not-blocked'), 'answered');
      assert.equal(pool.stats().leased, 50);
      await file.observer.rPush(
        'blocking:queue',
        Array.from({ length: 50 }, (_, i) => `element-${i}`),
      );
      const popped = await Promise.all(waiters);
      assert.deepEqual(
        popped.map((reply) => reply?.element).sort(),
        Array.from({ length: 50 }, (_, i) => `element-${i}`).sort(),
      );
      assert.equal(pool.stats().leased, 0);
    } finally {
      pool.destroy();
    }
  });

  test('a blocking command outlasting REDIS_SOCKET_TIMEOUT is not declared hung', async () => {
    const pool = new RedisPool<true>({ logger: silent });
    try {
      const client = await pool.getClient(settingsFor(file.server.url, { redisSocketTimeout: 0.3 }));
      assert.equal(await client.blPop('never-pushed', 0.8), null);
      assert.equal(await client.sendCommand(['BRPOP', 'never-pushed', '0.5']), null);
    } finally {
      pool.destroy();
    }
  });

  test('XREAD with BLOCK, raw sendCommand and pipelines are routed; XREAD without BLOCK stays shared', async () => {
    const pool = new RedisPool<true>({ logger: silent });
    try {
      const client = await pool.getClient(settingsFor(file.server.url));
      await client.xAdd('routed:stream', '*', { field: 'one' });
      assert.equal((await client.xRead({ key: 'routed:stream', id: '0' }))?.length, 1);
      assert.equal(pool.stats().misses, 0, 'no lease for a non-blocking XREAD');
      const blocked = client.xRead({ key: 'routed:stream', id: '$' }, { BLOCK: 2000 });
      for (let i = 0; i < 100 && pool.stats().leased < 1; i++) await sleep(10);
      assert.equal(pool.stats().leased, 1);
      await client.xAdd('routed:stream', '*', { field: 'two' });
      assert.equal((await blocked)?.length, 1);

      const raw = client.sendCommand(['blpop', 'routed:list', '2']);
      for (let i = 0; i < 100 && pool.stats().leased < 1; i++) await sleep(10);
      assert.equal(pool.stats().leased, 1, 'a raw, lower-case BLPOP is routed too');
      await client.rPush('routed:list', 'x');
      assert.deepEqual(await raw, ['routed:list', 'x']);

      const pipeline = client.multi().rPush('routed:list2', 'y').blPop('routed:list2', 1).execAsPipeline();
      assert.deepEqual(await pipeline, [1, { key: 'routed:list2', element: 'y' }]);

      const leasesBefore = pool.stats().hits + pool.stats().misses;
      assert.equal(await client.wait(1, 100), 0, 'WAIT for a replica that does not exist times out with 0');
      assert.equal(pool.stats().hits + pool.stats().misses, leasesBefore + 1, 'WAIT ran on a lease');
    } finally {
      pool.destroy();
    }
  });
});

describe('connection-state commands on the shared client', () => {
  test('throw a ClientUsageError naming what to use instead, and leave the connection intact', async () => {
    const pool = new RedisPool<true>({ logger: silent });
    try {
      const client = await pool.getClient(settingsFor(file.server.url));
      await client.set('state:key', 'db0');
      const refused: [string, () => Promise<unknown>, RegExp][] = [
        ['WATCH', () => client.watch('state:key'), /withConnection/],
        ['UNWATCH', () => client.unwatch(), /withConnection/],
        ['SELECT', () => client.select(2), /REDIS_DB/],
        ['SUBSCRIBE', () => client.subscribe('ch', () => {}), /redisPool\.subscriber\(\).*client\.duplicate\(\)/],
        ['PSUBSCRIBE', () => client.pSubscribe('ch*', () => {}), /redisPool\.subscriber\(\).*client\.duplicate\(\)/],
        ['SSUBSCRIBE', () => client.sSubscribe('ch', () => {}), /redisPool\.subscriber\(\).*client\.duplicate\(\)/],
        ['MONITOR', () => client.monitor(() => {}), /withConnection/],
        ['SELECT', () => client.sendCommand(['SELECT', '2']), /REDIS_DB/],
        ['MULTI', () => client.sendCommand(['MULTI']), /multi\(\)/],
        ['CLIENT REPLY', () => client.sendCommand(['CLIENT', 'REPLY', 'OFF']), /client\.duplicate\(\)/],
        ['CLIENT TRACKING', () => client.clientTracking(true), /client\.duplicate\(\)/],
        ['CLIENT TRACKING', () => client.sendCommand(['client', 'tracking', 'on', 'BCAST']), /client\.duplicate\(\)/],
        ['CLIENT TRACKING', () => client.multi().clientTracking(true).exec(), /client\.duplicate\(\)/],
        ['SELECT', () => client.multi().select(2).get('state:key').exec(), /REDIS_DB/],
      ];
      for (const [command, call, alternative] of refused) {
        await assert.rejects(call(), (error) => {
          assert.ok(error instanceof ClientUsageError, `${command}: ${error}`);
          assert.equal(error.code, 'REDIS_POOL_CLIENT_MISUSE');
          assert.match(error.message, new RegExp(`^${command} is not available on the pool's shared client`));
          assert.match(error.message, alternative);
          return true;
        });
      }
      assert.equal(await client.get('state:key'), 'db0', 'still on database 0, not subscribed, replies on');
      assert.deepEqual(await client.multi().set('state:key', 'again').get('state:key').exec(), ['OK', 'again']);
      assert.equal(await client.sendCommand(['CLIENT', 'GETNAME']), `pool-test:shared:${process.pid}`);
      assert.deepEqual((await client.clientTrackingInfo()).flags, ['off'], 'tracking stayed off');
    } finally {
      pool.destroy();
    }
  });
});
