import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { RESP_TYPES } from 'redis';
import { CommandTimeoutError, RedisPool } from '../src/index.js';
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
      const client = await pool.getClient(settingsFor(frozen.url, { redisSocketTimeout: timeoutMs / 1000 }));
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

      // Commands sent while the server is still frozen are bounded the same way.
      const later = await timed(client.ping());
      assert.ok((later.outcome as PromiseRejectedResult).reason instanceof CommandTimeoutError);

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
