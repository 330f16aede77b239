import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { RESP_TYPES } from 'redis';
import {
  CommandTimeoutError,
  CommonAppSettings,
  ConnectionLostError,
  ProtocolError,
  RedisPool,
  RedisPoolError,
  RedisUnavailableError,
  type StringClient,
} from '../src/index.js';
import { type FakeConnection, type FakeReply, startFakeRedis, startRedisServer } from '../src/testing/index.js';
import { settingsFor, silent } from './helpers.js';

// Regression: when node-redis's decoder threw, it reset itself but kept the queue of commands
// awaiting replies, so from then on every reply went to the caller after the right one (16 of
// 17 callers got another key's value in the garbage and 2^32-array cases before this fix).

const KEYS = Array.from({ length: 16 }, (_, i) => `k${i}`);

/** What the callers got: right values, typed failures by code, and values that belong to someone else. */
interface Outcome {
  right: number;
  wrong: string[];
  typed: Map<string, number>;
  untyped: unknown[];
  /** The trigger's own failure, if it failed. */
  triggerError: unknown;
}

/**
 * Stores `k0`…`k15` (each `v<i>`), then sends `trigger` and the sixteen GETs, `gapMs` apart (0:
 * all at once, pipelined), and sorts the outcomes. A reply that is not the caller's own is wrong.
 */
async function run(
  send: (args: string[]) => Promise<unknown>,
  trigger: string[],
  gapMs: number,
  triggerExpects: unknown,
): Promise<Outcome> {
  await send(['MSET', ...KEYS.flatMap((key, i) => [key, `v${i}`])]);
  const calls = [
    send(trigger).then((value) => ({ value, expected: triggerExpects })),
    ...KEYS.map(async (key, i) => {
      if (gapMs > 0) await sleep((i + 1) * gapMs);
      return { value: await send(['GET', key]), expected: `v${i}` };
    }),
  ];
  const settled = await Promise.allSettled(calls);
  const outcome: Outcome = { right: 0, wrong: [], typed: new Map(), untyped: [], triggerError: undefined };
  if (settled[0]?.status === 'rejected') outcome.triggerError = settled[0].reason;
  for (const result of settled) {
    if (result.status === 'fulfilled') {
      if (result.value.value === result.value.expected) outcome.right++;
      else outcome.wrong.push(`expected ${String(result.value.expected)}, got ${String(result.value.value)}`);
    } else if (result.reason instanceof RedisPoolError) {
      outcome.typed.set(result.reason.code, (outcome.typed.get(result.reason.code) ?? 0) + 1);
    } else {
      outcome.untyped.push(result.reason);
    }
  }
  return outcome;
}

/** `error` is a ConnectionLostError caused by a ProtocolError whose message matches `detail`. */
function assertLostToProtocol(error: unknown, detail: RegExp): void {
  assert.ok(error instanceof ConnectionLostError, `expected ConnectionLostError, got ${String(error)}`);
  assert.equal(error.code, 'REDIS_POOL_CONNECTION_LOST');
  assert.ok(error.cause instanceof ProtocolError, `expected a ProtocolError cause, got ${String(error.cause)}`);
  assert.equal(error.cause.code, 'REDIS_POOL_PROTOCOL_ERROR');
  assert.match(error.cause.message, detail);
}

/** Answers the command `name key` with `reply` instead of the usual answer. */
function on(name: string, key: string, reply: FakeReply): FakeReply {
  return (command, connection) => (command[0] === name && command[1] === key ? reply(command, connection) : undefined);
}

/**
 * Faults a broken or hostile server can send, each with the command it answers and what that
 * command's caller must get. `gapMs` 0 sends every caller at once.
 */
const FAULTS = [
  {
    fault: 'garbage bytes',
    trigger: ['GET', 'bad'],
    reply: on('GET', 'bad', () => 'hello, this is not RESP\r\n'),
    detail: /cannot be decoded as RESP/,
  },
  {
    fault: 'an array header of 2^32 elements',
    trigger: ['GET', 'bad'],
    reply: on('GET', 'bad', () => '*4294967296\r\n'),
    detail: /cannot be decoded as RESP \(Invalid array length\)/,
  },
  {
    fault: 'an integer in reply to GET',
    trigger: ['GET', 'bad'],
    reply: on('GET', 'bad', () => ':1\r\n'),
    detail: /answered GET with a number/,
  },
  {
    fault: 'a simple string in reply to GET',
    trigger: ['GET', 'bad'],
    reply: on('GET', 'bad', () => '+OK\r\n'),
    detail: /answered GET with a simple string/,
  },
  {
    fault: 'an array in reply to GET',
    trigger: ['GET', 'bad'],
    reply: on('GET', 'bad', () => '*2\r\n$1\r\na\r\n$1\r\nb\r\n'),
    detail: /answered GET with an array/,
  },
  {
    fault: 'a bulk string in reply to INCR',
    trigger: ['INCR', 'bad'],
    reply: on('INCR', 'bad', () => '$2\r\n10\r\n'),
    detail: /answered INCR with a string/,
  },
  {
    fault: 'a null in reply to INCR',
    trigger: ['INCR', 'bad'],
    reply: on('INCR', 'bad', () => '_\r\n'),
    detail: /answered INCR with a null/,
  },
  {
    fault: 'a single value in reply to MGET',
    trigger: ['MGET', 'bad'],
    reply: on('MGET', 'bad', () => '$1\r\nx\r\n'),
    detail: /answered MGET with a string/,
  },
  {
    // The reply to INCR is lost; the first GET's bulk string then arrives where INCR's integer should.
    fault: 'a dropped reply, followed by replies of another type',
    trigger: ['INCR', 'bad'],
    reply: on('INCR', 'bad', () => ''),
    detail: /answered INCR with a string/,
  },
  {
    // An extra status before the reply to GET k0, while GET k0 and the others wait.
    fault: 'an extra reply, of a type the waiting command cannot take',
    trigger: ['GET', 'k0'],
    reply: on('GET', 'k0', () => '+OK\r\n$2\r\nv0\r\n'),
    detail: /answered GET with a simple string/,
  },
  {
    // Only while nothing waits: an extra bulk string among waiting GETs is a reply of a type they
    // can take, which no client can tell from the right one (see docs/faults-and-errors.md).
    fault: 'a reply with no command waiting for it',
    trigger: ['GET', 'bad'],
    reply: on('GET', 'bad', () => '$1\r\nx\r\n$5\r\nextra\r\n'),
    detail: /no command was waiting for it/,
    triggerExpects: 'x',
    idleOnly: true,
  },
];

/**
 * Callers of an "only while nothing waits" fault are this far apart, so that the extra reply comes
 * while nothing waits even on a loaded machine (5 ms let a GET go out first, now and then, in CI).
 */
const IDLE_GAP_MS = 25;

describe('a reply that cannot be decoded or matched ends the connection: no caller gets another caller’s reply', () => {
  for (const { fault, trigger, reply, detail, triggerExpects, idleOnly } of FAULTS) {
    for (const gapMs of idleOnly ? [IDLE_GAP_MS] : [0, 5]) {
      test(`shared client, ${gapMs ? `callers ${gapMs} ms apart` : 'all callers pipelined'}: ${fault}`, async () => {
        const server = await startFakeRedis({ reply });
        const pool = new RedisPool<true>({ logger: silent });
        try {
          const client = await pool.getClient(settingsFor(server.url));
          const outcome = await run((args) => client.sendCommand(args), trigger, gapMs, triggerExpects);
          assert.deepEqual(outcome.wrong, []);
          assert.deepEqual(outcome.untyped, []);
          if (triggerExpects === undefined) assertLostToProtocol(outcome.triggerError, detail);
          // The socket was replaced, and the new one works.
          await sleep(50);
          assert.equal(await client.get('k3'), 'v3');
          assert.ok(
            new Set(server.commands.filter(([name]) => name === 'HELLO')).size >= 2,
            'a new connection was made',
          );
        } finally {
          pool.destroy();
          await server.stop();
        }
      });
    }
  }

  test('typed commands are checked too, and a command outside the checked list takes any reply', async () => {
    const server = await startFakeRedis({
      reply: (command) => (command[0] === 'INCR' ? '$2\r\n10\r\n' : command[0] === 'OBJECT' ? ':5\r\n' : undefined),
    });
    const pool = new RedisPool<true>({ logger: silent });
    try {
      const client = await pool.getClient(settingsFor(server.url));
      await assert.rejects(client.incr('n'), (error) => {
        assertLostToProtocol(error, /answered INCR with a string/);
        return true;
      });
      await sleep(50);
      assert.equal(await client.sendCommand(['OBJECT', 'FREQ', 'n']), 5);
    } finally {
      pool.destroy();
      await server.stop();
    }
  });

  test('a dropped reply followed by silence: the reply timeout ends it before a later command is sent', async () => {
    const server = await startFakeRedis({ reply: on('GET', 'bad', () => '') });
    const pool = new RedisPool<true>({ logger: silent });
    try {
      const client = await pool.getClient(settingsFor(server.url, { redisSocketTimeout: 0.2 }));
      const outcome = await run((args) => client.sendCommand(args), ['GET', 'bad'], 250, undefined);
      assert.deepEqual(outcome.wrong, []);
      assert.ok(outcome.triggerError instanceof CommandTimeoutError);
      assert.equal(outcome.right, 16);
    } finally {
      pool.destroy();
      await server.stop();
    }
  });

  test('with REDIS_REPLY_FENCES, a dropped reply followed by silence: the fence’s reply came in its place, and the timeout shows the replies no longer match', async () => {
    const server = await startFakeRedis({ reply: on('GET', 'bad', () => '') });
    const pool = new RedisPool<true>({ logger: silent });
    try {
      const client = await pool.getClient(settingsFor(server.url, { redisSocketTimeout: 0.2, redisReplyFences: true }));
      const outcome = await run((args) => client.sendCommand(args), ['GET', 'bad'], 250, undefined);
      assert.deepEqual(outcome.wrong, []);
      assertLostToProtocol(outcome.triggerError, /not the fence written after them .* within REDIS_SOCKET_TIMEOUT/);
      assert.ok(((outcome.triggerError as Error).cause as Error).cause instanceof CommandTimeoutError);
      assert.equal(outcome.right, 16);
    } finally {
      pool.destroy();
      await server.stop();
    }
  });

  test('with REDIS_REPLY_FENCES, a server that refuses every command while it loads refuses the fence too: the caller gets RedisUnavailableError, not a broken stream', async () => {
    let loading = false;
    const server = await startFakeRedis({
      reply: ([name]) =>
        loading && (name === 'GET' || name === 'ECHO')
          ? '-LOADING Redis is loading the dataset in memory\r\n'
          : undefined,
    });
    const pool = new RedisPool<true>({ logger: silent });
    try {
      const client = await pool.getClient(settingsFor(server.url, { redisReplyFences: true }));
      loading = true;
      await assert.rejects(
        client.get('k'),
        (error) => error instanceof RedisUnavailableError && error.reason === 'loading',
      );
      loading = false;
      assert.equal(await client.get('k'), null, 'the same connection serves on');
    } finally {
      pool.destroy();
      await server.stop();
    }
  });

  for (const { fault, trigger, reply, detail, triggerExpects, idleOnly } of FAULTS) {
    test(`leased connection: ${fault}`, async () => {
      const server = await startFakeRedis({ reply });
      const pool = new RedisPool<true>({ logger: silent });
      try {
        await pool.getClient(settingsFor(server.url));
        const outcome = await pool.withConnection((lease) =>
          run((args) => lease.sendCommand(args), trigger, idleOnly ? IDLE_GAP_MS : 0, triggerExpects),
        );
        assert.deepEqual(outcome.wrong, []);
        assert.deepEqual(outcome.untyped, []);
        if (triggerExpects === undefined) assertLostToProtocol(outcome.triggerError, detail);
        // The broken connection was closed, not lent again: the next lease is a new connection.
        assert.equal(pool.stats().idle, 0);
        const connectionsBefore = new Set(server.commands.filter(([name]) => name === 'HELLO')).size;
        assert.equal(await pool.withConnection((lease) => lease.get('k5')), 'v5');
        assert.ok(new Set(server.commands.filter(([name]) => name === 'HELLO')).size > connectionsBefore);
      } finally {
        pool.destroy();
        await server.stop();
      }
    });
  }

  test('a duplicate of the shared client has the same protection, and reconnects', async () => {
    const server = await startFakeRedis({ reply: on('GET', 'bad', () => 'garbage\r\n') });
    const pool = new RedisPool<true>({ logger: silent });
    try {
      const client = await pool.getClient(settingsFor(server.url));
      const duplicate = client.duplicate();
      await duplicate.connect();
      try {
        const outcome = await run((args) => duplicate.sendCommand(args), ['GET', 'bad'], 0, undefined);
        assert.deepEqual(outcome.wrong, []);
        assertLostToProtocol(outcome.triggerError, /cannot be decoded as RESP/);
        assert.equal(await duplicate.get('k7'), 'v7');
      } finally {
        duplicate.destroy();
      }
    } finally {
      pool.destroy();
      await server.stop();
    }
  });

  test('the subscriber connection is replaced and resubscribed after garbage', async () => {
    let subscriberConnection: FakeConnection | undefined;
    const server = await startFakeRedis({
      reply: (command, connection) => {
        if (command[0]?.toUpperCase() === 'SUBSCRIBE') subscriberConnection = connection;
        return undefined;
      },
    });
    const pool = new RedisPool<true>({ logger: silent });
    try {
      await pool.getClient(settingsFor(server.url));
      const subscriber = await pool.subscriber();
      await subscriber.subscribe('news', () => undefined);
      const first = subscriberConnection;
      first?.write('\x00\x01 not RESP\r\n');
      for (let i = 0; i < 100 && subscriberConnection === first; i++) await sleep(20);
      assert.notEqual(subscriberConnection?.id, first?.id, 'a new connection subscribed');
      assert.deepEqual(subscriber.channels, ['news']);
      assert.equal(subscriber.reconnects, 1);
    } finally {
      pool.destroy();
      await server.stop();
    }
  });

  test('the sentinel connection asks again after garbage', async () => {
    const data = await startFakeRedis();
    let watch: FakeConnection | undefined;
    const sentinel = await startFakeRedis({
      reply: (command, connection) => {
        if (command[0] !== 'SENTINEL') return undefined;
        watch = connection;
        return `*2\r\n$9\r\n127.0.0.1\r\n$${String(data.port).length}\r\n${data.port}\r\n`;
      },
    });
    const pool = new RedisPool<true>({ logger: silent });
    try {
      const client = await pool.getClient(
        settingsFor('redis://', { redisSentinels: `127.0.0.1:${sentinel.port}`, redisSentinelMaster: 'mymaster' }),
      );
      const first = watch;
      first?.write('*4294967296\r\n');
      for (let i = 0; i < 100 && watch === first; i++) await sleep(20);
      assert.notEqual(watch?.id, first?.id, 'the primary was asked for again, on a new connection');
      await client.set('after', 'yes');
      assert.equal(await client.get('after'), 'yes');
    } finally {
      pool.destroy();
      await sentinel.stop();
      await data.stop();
    }
  });

  test('a cluster node connection is replaced after garbage', async () => {
    const nodeId = 'f'.repeat(40);
    const server = await startFakeRedis({
      reply: (command) => {
        if (command[0] === 'CLUSTER' && command[1]?.toUpperCase() === 'SLOTS') {
          return `*1\r\n*3\r\n:0\r\n:16383\r\n*3\r\n$9\r\n127.0.0.1\r\n:${server.port}\r\n$40\r\n${nodeId}\r\n`;
        }
        return command[0] === 'GET' && command[1] === 'bad' ? 'garbage\r\n' : undefined;
      },
    });
    const pool = new RedisPool<true>({ logger: silent });
    try {
      const client = await pool.getClient(settingsFor('redis://', { redisClusterNodes: `127.0.0.1:${server.port}` }));
      await client.set('k1', 'v1');
      const results = await Promise.allSettled([client.get('bad'), client.get('k1')]);
      assert.equal(results[0].status, 'rejected');
      assertLostToProtocol((results[0] as PromiseRejectedResult).reason, /cannot be decoded as RESP/);
      assert.ok(results[1].status === 'rejected' || results[1].value === 'v1');
      assert.equal(await client.get('k1'), 'v1');
    } finally {
      pool.destroy();
      await server.stop();
    }
  });
});

describe('replies the checks must let through, on a real server', () => {
  test('inside a raw MULTI every reply is QUEUED, whatever the command; EXEC brings the real ones', async () => {
    const server = await startRedisServer();
    const pool = new RedisPool<true>({ logger: silent });
    try {
      await pool.getClient(settingsFor(server.url));
      const replies = await pool.withConnection(async (lease) => {
        await lease.sendCommand(['MULTI']);
        const queued = [await lease.get('t:k'), await lease.incr('t:n'), await lease.mGet(['t:k'])];
        return { queued, exec: await lease.sendCommand(['EXEC']), after: await lease.incr('t:n') };
      });
      assert.deepEqual(replies.queued, ['QUEUED', 'QUEUED', 'QUEUED']);
      assert.deepEqual(replies.exec, [null, 1, [null]]);
      assert.equal(replies.after, 2);
    } finally {
      pool.destroy();
      await server.stop();
    }
  });

  test('every checked command meets its real replies, in string and Buffer modes', async () => {
    const server = await startRedisServer();
    for (const redisDecodeResponses of [true, false] as const) {
      const pool = new RedisPool({ logger: silent });
      try {
        const client = await pool.getClient(
          new CommonAppSettings(
            { serviceName: 'checks', logLevel: 'silent', redisUrl: server.url, redisDecodeResponses },
            { env: {}, envFile: false },
          ),
        );
        await client.flushDb();
        await client.set('s', '1');
        assert.equal(String(await client.set('s', '2', { GET: true })), '1');
        assert.equal(await client.set('s', '3', { NX: true }), null);
        assert.equal(await client.get('missing'), null);
        assert.equal(await client.incr('n'), 1);
        assert.equal(await client.exists(['s', 'n', 'missing']), 2);
        assert.equal(String(await client.ping()), 'PONG');
        assert.equal(String(await client.ping('hi')), 'hi');
        assert.equal(String(await client.type('s')), 'string');
        await client.hSet('h', { a: '1' });
        assert.equal(String((await client.hGetAll('h')).a), '1');
        assert.equal((await client.mGet(['s', 'missing'])).length, 2);
        assert.equal(await client.lPush('l', ['x', 'y']), 2);
        assert.equal((await client.lRange('l', 0, -1)).length, 2);
        assert.equal(await client.sAdd('set', ['a', 'b']), 2);
        assert.equal((await client.sMembers('set')).length, 2);
        assert.equal(await client.ttl('s'), -1);
      } finally {
        pool.destroy();
      }
    }
    await server.stop();
  });
});

describe('a real server’s value too long for a JavaScript string', () => {
  test('read as a string, it ends the connection with a ProtocolError that says how to read it; nobody gets another’s reply', async () => {
    // V8's longest string is 2^29 − 24 characters; the server's default proto-max-bulk-len (512 MiB) is more.
    const server = await startRedisServer();
    const pool = new RedisPool<true>({ logger: silent });
    try {
      // Half a gigabyte takes seconds to arrive here; the reply timeout must allow for it (see docs/faults-and-errors.md).
      const client = await pool.getClient(settingsFor(server.url, { redisSocketTimeout: 60 }));
      await client.setRange('huge', 536_870_899, 'x');
      const outcome = await run((args) => client.sendCommand(args), ['GET', 'huge'], 250, undefined);
      assert.deepEqual(outcome.wrong, []);
      assert.deepEqual(outcome.untyped, []);
      assertLostToProtocol(outcome.triggerError, /too long for a JavaScript string.*Buffer/);
      assert.equal(await client.get('k9'), 'v9');
      // Read as a Buffer, as the message says, it arrives whole.
      const buffer = await (client as StringClient).withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer }).get('huge');
      assert.ok(Buffer.isBuffer(buffer));
      assert.equal(buffer.length, 536_870_900);
    } finally {
      pool.destroy();
      await server.stop();
    }
  });
});

describe('progress is a completed reply: a trickle does not keep a reply alive', () => {
  test('a reply sent a byte every 50 ms is declared hung after REDIS_SOCKET_TIMEOUT, with every caller behind it', async () => {
    // Regression: any byte counted as progress, so a 57-byte reply trickled over 5.6 s passed a 2 s timeout.
    const reply = `$50\r\n${'x'.repeat(50)}\r\n`;
    const server = await startFakeRedis({
      reply: on('GET', 'slow', (_, connection) => {
        let sent = 0;
        const timer = setInterval(() => {
          if (sent === reply.length) return clearInterval(timer);
          connection.write(reply[sent++] as string);
        }, 50);
        return null;
      }),
    });
    const pool = new RedisPool<true>({ logger: silent });
    try {
      const client = await pool.getClient(settingsFor(server.url, { redisSocketTimeout: 0.5 }));
      const behind = sleep(100).then(() => client.get('k1'));
      const results = await Promise.allSettled([client.get('slow'), behind]);
      for (const result of results) {
        assert.equal(result.status, 'rejected');
        assert.ok((result as PromiseRejectedResult).reason instanceof CommandTimeoutError);
      }
      await client.set('k1', 'v1');
      assert.equal(await client.get('k1'), 'v1');
    } finally {
      pool.destroy();
      await server.stop();
    }
  });

  test('an endless simple string is declared hung, and the connection that carried it is closed', async () => {
    let flood: NodeJS.Timeout | undefined;
    let floodClosed = false;
    const server = await startFakeRedis({
      reply: on('SET', 'flood', (_, connection) => {
        connection.write('+');
        const chunk = 'A'.repeat(64 * 1024);
        flood = setInterval(() => connection.write(chunk), 5);
        return null;
      }),
    });
    const pool = new RedisPool<true>({ logger: silent });
    try {
      const client = await pool.getClient(settingsFor(server.url, { redisSocketTimeout: 0.5 }));
      // SET can take a simple string, so only the reply timeout can end this one.
      await assert.rejects(client.set('flood', 'x'), CommandTimeoutError);
      // The flooding connection was destroyed by the client: only the replacement is left.
      for (let i = 0; i < 50 && server.connections > 1; i++) await sleep(20);
      floodClosed = server.connections === 1;
      assert.ok(floodClosed, `${server.connections} connections left`);
      await client.set('after', 'ok');
      assert.equal(await client.get('after'), 'ok');
    } finally {
      clearInterval(flood);
      pool.destroy();
      await server.stop();
    }
  });

  test('a reply of many chunks that completes within REDIS_SOCKET_TIMEOUT is not cut', async () => {
    const value = 'y'.repeat(200);
    const server = await startFakeRedis({
      reply: on('GET', 'chunky', (_, connection) => {
        const reply = `$${value.length}\r\n${value}\r\n`;
        let sent = 0;
        const timer = setInterval(() => {
          connection.write(reply.slice(sent, sent + 20));
          sent += 20;
          if (sent >= reply.length) clearInterval(timer);
        }, 10);
        return null;
      }),
    });
    const pool = new RedisPool<true>({ logger: silent });
    try {
      const client = await pool.getClient(settingsFor(server.url, { redisSocketTimeout: 1 }));
      assert.equal(await client.get('chunky'), value);
    } finally {
      pool.destroy();
      await server.stop();
    }
  });
});
