import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { WatchError } from 'redis';
import { ConnectionBudget } from '../src/connections/budget.js';
import { Closes } from '../src/connections/closes.js';
import { openLeasable } from '../src/connections/leasable-connection.js';
import { LeasePool } from '../src/connections/leases.js';
import {
  AcquireTimeoutError,
  ClientUsageError,
  ConnectionRefusedError,
  LeaseReleasedError,
  RedisPool,
  RedisUnavailableError,
  type SettingsInput,
} from '../src/index.js';
import { startRedisServer } from '../src/testing/index.js';
import { SentinelTarget } from '../src/topology/target.js';
import { admin, connectionsNamed, serverForFile, settingsFor, silent } from './helpers.js';

const file = serverForFile({ args: ['--enable-debug-command', 'yes'] });

/** A pool on the file's server; destroyed by the caller. */
async function openPool(input: Omit<SettingsInput, 'redisDecodeResponses'> = {}, url = file.server.url) {
  const pool = new RedisPool<true>({ logger: silent });
  await pool.getClient(settingsFor(url, input));
  return pool;
}

/** Takes a lease and keeps it until `release()`; resolves once the callback runs. */
async function hold(pool: RedisPool<true>) {
  let release = () => {};
  let done: Promise<void> = Promise.resolve();
  await new Promise<void>((started) => {
    done = pool.withConnection(
      () =>
        new Promise<void>((resolve) => {
          release = resolve;
          started();
        }),
    );
  });
  return { release: () => release(), done };
}

/** The server-side id of the connection a lease got. */
const clientId = (client: { clientId(): Promise<number> }) => client.clientId();

describe('withConnection lends one exclusive connection', () => {
  test('WATCH/MULTI/EXEC: a concurrent write aborts the transaction, an undisturbed one commits', async () => {
    const pool = await openPool();
    try {
      await file.observer.set('balance', '100');
      await assert.rejects(
        pool.withConnection(async (client) => {
          await client.watch('balance');
          const balance = Number(await client.get('balance'));
          await file.observer.set('balance', '500'); // someone else writes in between
          return client
            .multi()
            .set('balance', String(balance - 10))
            .exec();
        }),
        WatchError,
      );
      assert.equal(await file.observer.get('balance'), '500');
      const replies = await pool.withConnection(async (client) => {
        await client.watch('balance');
        const balance = Number(await client.get('balance'));
        return client
          .multi()
          .set('balance', String(balance - 10))
          .exec();
      });
      assert.deepEqual(replies, ['OK']);
      assert.equal(await file.observer.get('balance'), '490');
    } finally {
      pool.destroy();
    }
  });

  test('the callback has the connection to itself, and its result is returned', async () => {
    const pool = await openPool();
    try {
      const ids = await Promise.all(
        Array.from({ length: 5 }, () =>
          pool.withConnection(async (client) => {
            const id = await clientId(client);
            await sleep(30);
            assert.equal(await clientId(client), id);
            return id;
          }),
        ),
      );
      assert.equal(new Set(ids).size, 5, 'five concurrent leases, five connections');
      assert.equal(pool.stats().leased, 0);
      assert.equal(pool.stats().idle, 5);
    } finally {
      pool.destroy();
    }
  });

  test('options may come first, as in withConnection({ … }, fn)', async () => {
    const pool = await openPool();
    try {
      assert.equal(await pool.withConnection({ timeoutMs: 1000 }, (client) => client.ping()), 'PONG');
    } finally {
      pool.destroy();
    }
  });
});

describe('the connection comes back whatever the callback does', () => {
  test('when it throws, the error propagates and the connection is idle again', async () => {
    const pool = await openPool();
    try {
      const boom = new Error('boom');
      await assert.rejects(
        pool.withConnection(async (client) => {
          await client.ping();
          throw boom;
        }),
        (error) => error === boom,
      );
      assert.deepEqual([pool.stats().leased, pool.stats().idle], [0, 1]);
    } finally {
      pool.destroy();
    }
  });

  test('when aborted, it rejects with the reason at once, and the connection is closed, not reused', async () => {
    const pool = await openPool();
    try {
      const controller = new AbortController();
      let leasedId = 0;
      const running = pool.withConnection(
        async (client) => {
          leasedId = await clientId(client);
          await client.sendCommand(['DEBUG', 'SLEEP', '0.5']);
        },
        { signal: controller.signal },
      );
      while (leasedId === 0) await sleep(5);
      controller.abort(new Error('caller gave up'));
      await assert.rejects(running, /caller gave up/);
      assert.deepEqual([pool.stats().leased, pool.stats().total], [0, 1], 'only the shared connection is left');
      const next = await pool.withConnection((client) => clientId(client));
      assert.notEqual(next, leasedId);
    } finally {
      pool.destroy();
    }
  });

  test('an abort while waiting removes the waiter', async () => {
    const pool = await openPool({ redisMaxConnections: 2 });
    try {
      const { release, done: holding } = await hold(pool);
      const controller = new AbortController();
      const waiting = pool.withConnection((client) => client.ping(), { signal: controller.signal });
      await sleep(20);
      assert.equal(pool.stats().pending, 1);
      controller.abort();
      await assert.rejects(waiting, { name: 'AbortError' });
      assert.equal(pool.stats().pending, 0);
      release();
      await holding;
    } finally {
      pool.destroy();
    }
  });

  test('a client used after its callback returned rejects with LeaseReleasedError', async () => {
    const pool = await openPool();
    try {
      const kept = await pool.withConnection((client) => client);
      await assert.rejects(kept.ping(), (error) => {
        assert.ok(error instanceof LeaseReleasedError);
        assert.equal(error.code, 'REDIS_POOL_LEASE_RELEASED');
        return true;
      });
      assert.throws(() => kept.close(), ClientUsageError);
    } finally {
      pool.destroy();
    }
  });
});

describe('a connection left changed is reset or closed before it is lent again', () => {
  test('another database: the next borrower is back on REDIS_DB', async () => {
    const pool = await openPool();
    try {
      const first = await pool.withConnection(async (client) => {
        await client.select(3);
        await client.set('in-db-3', 'x');
        return clientId(client);
      });
      const [second, value] = await pool.withConnection(async (client) => [
        await clientId(client),
        await client.get('in-db-3'),
      ]);
      assert.equal(second, first, 'the same connection, reset');
      assert.equal(value, null, 'database 0 has no such key');
      const rawSelect = await pool.withConnection(async (client) => {
        await client.sendCommand(['SELECT', '4']);
        return clientId(client);
      });
      assert.equal(rawSelect, first);
      assert.equal(await pool.withConnection((client) => client.get('in-db-3')), null);
    } finally {
      pool.destroy();
    }
  });

  test('an open WATCH: the next borrower does not inherit it', async () => {
    const pool = await openPool();
    try {
      await pool.withConnection((client) => client.watch('watched'));
      await file.observer.set('watched', 'changed');
      const replies = await pool.withConnection((client) => client.multi().set('other', '1').exec());
      assert.deepEqual(replies, ['OK'], 'a leftover WATCH would have aborted this transaction');
    } finally {
      pool.destroy();
    }
  });

  test('subscribe mode: the next borrower gets a normal connection', async () => {
    const pool = await openPool();
    try {
      await pool.withConnection((client) => client.subscribe('leftover', () => {}));
      assert.equal(await pool.withConnection((client) => client.set('after-subscribe', 'ok')), 'OK');
      const subscribers = await file.observer.sendCommand(['PUBSUB', 'NUMSUB', 'leftover']);
      assert.deepEqual(subscribers, ['leftover', 0]);
    } finally {
      pool.destroy();
    }
  });

  test('an unread reply: the connection is closed, so no reply reaches the wrong borrower', async () => {
    const pool = await openPool();
    try {
      await file.observer.set('mine', 'right value');
      const first = await pool.withConnection(async (client) => {
        const id = await clientId(client);
        // Sent and not awaited: its reply is still due when the callback returns.
        client.sendCommand(['DEBUG', 'SLEEP', '0.2']).catch(() => {});
        return id;
      });
      const [second, value] = await pool.withConnection(async (client) => [
        await clientId(client),
        await client.get('mine'),
      ]);
      assert.notEqual(second, first);
      assert.equal(value, 'right value');
    } finally {
      pool.destroy();
    }
  });

  test('CLIENT REPLY is refused, in every form, naming where to send it; the lease stays in step', async () => {
    const pool = await openPool();
    try {
      await pool.withConnection(async (client) => {
        await client.set('reply:a', 'A');
        await client.set('reply:b', 'B');
        const refused = [
          client.sendCommand(['CLIENT', 'REPLY', 'SKIP']),
          client.sendCommand(['client', 'reply', 'off']),
          client.multi().get('reply:a').addCommand(['CLIENT', 'REPLY', 'SKIP']).exec(),
          client.multi().addCommand(['CLIENT', 'REPLY', 'OFF']).get('reply:a').execAsPipeline(),
        ];
        for (const call of refused) {
          await assert.rejects(call, (error) => {
            assert.ok(error instanceof ClientUsageError, String(error));
            assert.match(error.message, /^CLIENT REPLY is not available on a leased client/);
            assert.match(error.message, /client\.duplicate\(\)/);
            return true;
          });
        }
        // What the report saw: CLIENT REPLY SKIP resolved with the GET after it, and later commands hung.
        assert.deepEqual(await Promise.all([client.get('reply:b'), client.get('reply:a')]), ['B', 'A']);
      });
      const stats = pool.stats();
      assert.equal(stats.closed.broken + stats.closed.hung, 0, 'no lease was lost to it');
    } finally {
      pool.destroy();
    }
  });

  test('CLIENT TRACKING and MONITOR are reset too', async () => {
    // One lease connection, so the second lease is the first one's connection.
    const pool = await openPool({ redisMaxConnections: 2 });
    try {
      await pool.withConnection((client) => client.clientTracking(true));
      assert.deepEqual(await pool.withConnection((client) => client.clientTrackingInfo()), {
        flags: ['off'],
        redirect: -1,
        prefixes: [],
      });
      await pool.withConnection((client) => client.monitor(() => {}));
      assert.equal(await pool.withConnection((client) => client.ping()), 'PONG');
    } finally {
      pool.destroy();
    }
  });
});

describe('bounds', () => {
  test('waiting is FIFO, and running out gives AcquireTimeoutError carrying the stats', async () => {
    const pool = await openPool({ redisMaxConnections: 2, redisPoolTimeout: 0.3 });
    try {
      const order: number[] = [];
      const { release, done: holding } = await hold(pool);
      await sleep(20);
      const waiters = [1, 2, 3].map((n) =>
        pool.withConnection(
          async () => {
            order.push(n);
          },
          { timeoutMs: 5000 },
        ),
      );
      await sleep(20);
      assert.equal(pool.stats().pending, 3);
      release();
      await Promise.all([holding, ...waiters]);
      assert.deepEqual(order, [1, 2, 3]);

      const { release: releaseAgain, done: holdingAgain } = await hold(pool);
      const timeouts: unknown[] = [];
      pool.on('acquire-timeout', (error) => timeouts.push(error));
      await assert.rejects(
        pool.withConnection((client) => client.ping()),
        (error) => {
          assert.ok(error instanceof AcquireTimeoutError);
          assert.equal(error.code, 'REDIS_POOL_ACQUIRE_TIMEOUT');
          assert.match(error.message, /within 0\.3 s \(REDIS_POOL_TIMEOUT\)/);
          assert.match(error.message, /all 2 connections \(REDIS_MAX_CONNECTIONS\)/);
          assert.match(error.message, /"leased":1/);
          return true;
        },
      );
      assert.equal(timeouts.length, 1);
      assert.equal(pool.stats().timeouts, 1);
      releaseAgain();
      await holdingAgain;
    } finally {
      pool.destroy();
    }
  });

  test('a failed connect rejects the caller at once, backs off, and is the cause of a later acquire timeout', async () => {
    const server = await startRedisServer();
    const pool = await openPool(
      { redisMaxConnections: 2, redisPoolTimeout: 0.2, redisReconnectBaseDelay: 0.3, redisReconnectMaxDelay: 0.3 },
      server.url,
    );
    try {
      await server.kill();
      await assert.rejects(
        pool.withConnection((client) => client.ping()),
        ConnectionRefusedError,
      );
      // Within the back-off that follows, no connection is attempted: callers learn why at once.
      await assert.rejects(
        pool.withConnection((client) => client.ping()),
        (error) => {
          assert.ok(error instanceof RedisUnavailableError);
          assert.equal(error.reason, 'connect-backoff');
          assert.ok(error.cause instanceof ConnectionRefusedError);
          return true;
        },
      );
      await server.restart();
      await sleep(300);
      const { release, done: holding } = await hold(pool);
      await assert.rejects(
        pool.withConnection((client) => client.ping()),
        (error) => {
          assert.ok(error instanceof AcquireTimeoutError);
          assert.ok(error.cause instanceof ConnectionRefusedError);
          return true;
        },
      );
      release();
      await holding;
    } finally {
      pool.destroy();
      await server.stop();
    }
  });

  test('REDIS_MAX_CONNECTIONS caps every socket: the server never sees more under load', async () => {
    const pool = await openPool({ serviceName: 'capped', redisMaxConnections: 5, redisPoolTimeout: 10 });
    const client = await pool.getClient();
    const subscriber = await pool.subscriber();
    await subscriber.subscribe('capped-channel', () => {});
    let running = true;
    let most = 0;
    const sampler = (async () => {
      while (running) {
        most = Math.max(most, (await connectionsNamed(file.observer, 'capped:')).length);
        await sleep(5);
      }
    })();
    try {
      await Promise.all([
        ...Array.from({ length: 40 }, (_, i) =>
          pool.withConnection(async (leased) => {
            await leased.set(`capped:${i}`, String(i));
            await sleep(Math.random() * 20);
            return leased.get(`capped:${i}`);
          }),
        ),
        ...Array.from({ length: 200 }, (_, i) => client.incr(`capped:counter:${i % 7}`)),
        ...Array.from({ length: 10 }, () => client.blPop('capped:queue', 0.05)),
      ]);
    } finally {
      running = false;
      await sampler;
      pool.destroy();
    }
    assert.ok(most >= 4, `the load used the connections (saw ${most})`);
    assert.ok(most <= 5, `the server saw ${most} connections, more than the cap of 5`);
  });
});

describe('idle connections', () => {
  test('REDIS_MIN_IDLE_CONNECTIONS are opened when the pool opens', async () => {
    const pool = await openPool({ serviceName: 'prewarmed', redisMinIdleConnections: 3 });
    try {
      for (let i = 0; i < 50 && pool.stats().idle < 3; i++) await sleep(20);
      assert.equal(pool.stats().idle, 3);
      assert.equal((await connectionsNamed(file.observer, 'prewarmed:lease:')).length, 3);
      await pool.withConnection((client) => client.ping());
      assert.equal(pool.stats().misses, 0, 'the first lease found a connection ready');
    } finally {
      pool.destroy();
    }
  });

  test('REDIS_IDLE_TIMEOUT closes idle connections above the minimum', async () => {
    const pool = await openPool({ redisIdleTimeout: 0.2, redisMinIdleConnections: 1, redisSocketTimeout: 0.5 });
    try {
      await Promise.all([1, 2, 3].map(() => pool.withConnection(() => sleep(10))));
      // Three leases at once, plus the one opened for the minimum while they started.
      const opened = pool.stats().idle;
      assert.ok(opened >= 3, `${opened} idle`);
      for (let i = 0; i < 50 && pool.stats().idle > 1; i++) await sleep(20);
      assert.equal(pool.stats().idle, 1, 'the minimum stays');
      assert.equal(pool.stats().staleClosed, opened - 1);
    } finally {
      pool.destroy();
    }
  });

  test('REDIS_MAX_LIFETIME closes old connections, not all at the same moment', async () => {
    const pool = await openPool({ redisMaxLifetime: 1, redisMaxConnections: 12, redisSocketTimeout: 0.4 });
    try {
      await Promise.all(Array.from({ length: 10 }, () => pool.withConnection(() => sleep(10))));
      const counts = new Set<number>();
      for (let i = 0; i < 150 && pool.stats().idle > 0; i++) {
        counts.add(pool.stats().idle);
        await sleep(10);
      }
      assert.equal(pool.stats().idle, 0);
      assert.equal(pool.stats().staleClosed, 10);
      const between = [...counts].filter((count) => count > 0 && count < 10);
      assert.ok(between.length > 0, `all ten expired in one tick: idle counts seen ${[...counts]}`);
    } finally {
      pool.destroy();
    }
  });
});

describe('a target that moves (a failover)', () => {
  test('a lease to the old address is closed when it comes back, not kept idle', async () => {
    const other = await startRedisServer();
    const otherObserver = await admin(other.url);
    const settings = settingsFor(file.server.url, { serviceName: 'moved' });
    // A target that moves, as the sentinels' primary does.
    const target = new SentinelTarget();
    target.moveTo({ host: settings.redisHost as string, port: settings.redisPort as number });
    const noop = () => undefined;
    const leases = new LeasePool({
      settings,
      logger: silent,
      events: { onEvent: noop, onAcquireTimeout: noop, onLeak: noop },
      target,
      budget: new ConnectionBudget(4),
      closes: new Closes(silent),
      open: () => openLeasable({ settings, logger: silent, target }),
    });
    try {
      await leases.run(async (lease) => {
        assert.equal(await lease.client.ping(), 'PONG');
        target.moveTo({ host: '127.0.0.1', port: Number(new URL(other.url).port) });
      });
      assert.equal(leases.stats().idle, 0);
      for (let i = 0; i < 50 && (await connectionsNamed(file.observer, 'moved:lease:')).length > 0; i++)
        await sleep(20);
      assert.deepEqual(await connectionsNamed(file.observer, 'moved:lease:'), [], 'closed at the old address');
      await leases.run((lease) => lease.client.ping());
      assert.equal(leases.stats().idle, 1, 'the next lease goes to the new address and is kept');
      assert.equal((await connectionsNamed(otherObserver, 'moved:lease:')).length, 1);
    } finally {
      leases.destroy();
      otherObserver.destroy();
      await other.stop();
    }
  });
});

describe('health', () => {
  test('a connection idle past REDIS_HEALTH_CHECK_INTERVAL is PINGed before it is lent', async () => {
    const pool = await openPool({ redisHealthCheckInterval: 0.1 });
    try {
      await pool.withConnection((client) => client.get('x'));
      await sleep(150);
      await file.observer.configResetStat();
      await pool.withConnection((client) => client.get('x'));
      // The shared connection may PING too (it is idle as well); the lease's PING is one more.
      const calls = Number(/^cmdstat_ping:calls=(\d+)/m.exec(await file.observer.info('commandstats'))?.[1] ?? 0);
      assert.ok(calls >= 1, 'no PING before the lend');
    } finally {
      pool.destroy();
    }
  });

  test('a connection that fails its check is replaced, never handed out', async () => {
    const pool = await openPool({ redisHealthCheckInterval: 0.1 });
    try {
      const first = await pool.withConnection((client) => clientId(client));
      await file.observer.clientKill({ filter: 'ID', id: first } as never);
      await sleep(150);
      const [second, pong] = await pool.withConnection(async (client) => [await clientId(client), await client.ping()]);
      assert.notEqual(second, first);
      assert.equal(pong, 'PONG');
      assert.equal(pool.stats().staleClosed, 1);
    } finally {
      pool.destroy();
    }
  });

  test('the shared connection PINGs after REDIS_HEALTH_CHECK_INTERVAL of idle time', async () => {
    const pool = await openPool({ redisHealthCheckInterval: 0.1, redisSocketTimeout: 0.5 });
    try {
      await file.observer.configResetStat();
      await sleep(450);
      const calls = Number(/^cmdstat_ping:calls=(\d+)/m.exec(await file.observer.info('commandstats'))?.[1] ?? 0);
      assert.ok(calls >= 2, `only ${calls} PING(s) in 450 ms of idle time`);
    } finally {
      pool.destroy();
    }
  });
});

test('a lease held past REDIS_LEAK_DETECTION_THRESHOLD is reported once, with where it was taken', async () => {
  const lines: string[] = [];
  const pool = new RedisPool<true>({
    logger: {
      debug: () => {},
      info: () => {},
      error: () => {},
      warn: (context, message) => lines.push(`${message} ${context.stack}`),
    },
  });
  await pool.getClient(settingsFor(file.server.url, { redisLeakDetectionThreshold: 0.1, redisSocketTimeout: 0.5 }));
  const leaks: { heldMs: number; stack: string }[] = [];
  pool.on('leak', (report) => leaks.push(report));
  try {
    await pool.withConnection(() => sleep(400));
    assert.equal(leaks.length, 1);
    assert.ok((leaks[0]?.heldMs ?? 0) >= 100);
    assert.match(leaks[0]?.stack ?? '', /leases\.test\.ts/);
    assert.equal(lines.filter((line) => line.includes('REDIS_LEAK_DETECTION_THRESHOLD')).length, 1);
    assert.match(lines.join('\n'), /leases\.test\.ts/);
  } finally {
    pool.destroy();
  }
});

describe('stats and events', () => {
  test('stats() counts hits, misses, waits and timeouts, and shows the shared connection', async () => {
    const pool = await openPool({ redisMaxConnections: 2, redisPoolTimeout: 0.1 });
    try {
      await pool.withConnection((client) => client.ping()); // miss: opens one
      await pool.withConnection((client) => client.ping()); // hit: reuses it
      const { release, done: holding } = await hold(pool);
      await assert.rejects(
        pool.withConnection((client) => client.ping()),
        AcquireTimeoutError,
      );
      release();
      await holding;
      const stats = pool.stats();
      assert.equal(stats.misses, 1);
      assert.equal(stats.hits, 2);
      assert.equal(stats.waitCount, 1);
      assert.equal(stats.timeouts, 1);
      assert.ok(stats.waitTimeMs >= 90);
      assert.deepEqual([stats.total, stats.max, stats.idle, stats.leased, stats.pending], [2, 2, 1, 0, 0]);
      assert.deepEqual(stats.shared, { state: 'ready', inFlight: 0, held: 0 });
    } finally {
      pool.destroy();
    }
    assert.equal(pool.stats().total, 0);
    assert.equal(pool.stats().shared.state, 'closed');
  });

  test('connect, ready, reconnecting and error events follow the connections', async () => {
    const server = await startRedisServer();
    const pool = new RedisPool<true>({ logger: silent });
    const seen: string[] = [];
    for (const name of ['connect', 'ready', 'reconnecting'] as const) {
      pool.on(name, (event) => seen.push(`${name}:${event.role}`));
    }
    const errors: unknown[] = [];
    pool.on('error', (error) => errors.push(error));
    try {
      const client = await pool.getClient(settingsFor(server.url));
      assert.deepEqual(seen, ['connect:shared', 'ready:shared']);
      await server.kill();
      await server.restart();
      const readies = () => seen.filter((name) => name === 'ready:shared').length;
      for (let i = 0; i < 100 && readies() < 2; i++) await sleep(50);
      assert.equal(await client.ping(), 'PONG');
      assert.ok(seen.includes('reconnecting:shared'), String(seen));
      assert.equal(seen.filter((name) => name === 'ready:shared').length, 2, String(seen));
      assert.ok(errors.length >= 1);
      assert.equal(pool.stats().reconnects, 1);
    } finally {
      pool.destroy();
      await server.stop();
    }
  });

  test('close() waits for running leases, then closes every connection', async () => {
    const pool = await openPool({ serviceName: 'closing-leases' });
    await pool.withConnection((client) => client.ping()); // leaves one idle
    const running = pool.withConnection(async (client) => {
      await sleep(100);
      return client.ping();
    });
    await sleep(20);
    await pool.close();
    assert.equal(await running, 'PONG');
    assert.equal(pool.stats().total, 0);
    assert.deepEqual(await connectionsNamed(file.observer, 'closing-leases:'), []);
  });
});
