// Issue 22, point 2: per-call deadlines did nothing once a command was written.
// `withCommandOptions({ timeout })` and `withAbortSignal()` must reject the caller at the
// deadline on every kind of connection, and leave the connection as it was: the late reply is
// discarded in its place, and the replies behind it still reach their callers.
import assert from 'node:assert/strict';
import { after, before, describe, type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import calculateSlot from 'cluster-key-slot';
import { CommandTimeoutError, RedisPool } from '../src/index.js';
import { type Cluster, startCluster, startRedisServer } from '../src/testing/index.js';
import { admin, serverForFile, settingsFor, silent } from './helpers.js';

const file = serverForFile();

/** Keeps the server busy for ARGV[1] ms, then answers: a command the server takes that long for. */
const BUSY = `local t = redis.call('TIME')
local start = t[1] * 1000 + t[2] / 1000
repeat t = redis.call('TIME') until t[1] * 1000 + t[2] / 1000 - start >= tonumber(ARGV[1])
return 'late'`;

/** What the tests use of a client, whichever kind of connection it is. */
interface Client {
  withCommandOptions(options: { timeout?: number; abortSignal?: AbortSignal }): Client;
  withAbortSignal(signal: AbortSignal): Client;
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  set(key: string, value: string): Promise<unknown>;
  get(key: string): Promise<unknown>;
}

type Observer = Awaited<ReturnType<typeof admin>>;
/** A connection of its own to the server that holds `key`, outside the pool. */
type ObserverFor = (key: string) => Promise<Observer>;
type Cut = 'timeout' | 'abort';

/**
 * Sends a command the server takes 400 ms for, cut at 100 ms by a timeout or 50 ms in by an
 * abort signal, then 1,000 SET/GET pairs at once on the same client, behind its late reply.
 * Shows, by order, that the caller was rejected while the server was still busy (the observer
 * is answered only once the script is done), and that every GET got its own value. Returns the
 * rejection and the aborted signal's reason.
 */
async function cutWhileBusy(t: TestContext, client: Client, observerFor: ObserverFor, cut: Cut) {
  // One hash tag for every key, so that in a cluster they all go to the busy node (a lease's).
  const key = `{deadline}:${cut}:${Math.random()}`;
  const observer = await observerFor(key);
  const controller = new AbortController();
  const cutAt = cut === 'timeout' ? 100 : 50;
  const events: string[] = [];
  const started = performance.now();
  const view =
    cut === 'timeout' ? client.withCommandOptions({ timeout: 100 }) : client.withAbortSignal(controller.signal);
  const slow = view.eval(BUSY, { keys: [key], arguments: ['400'] }).then(
    () => events.push('reply'),
    (error: unknown) => {
      events.push('rejected');
      t.diagnostic(`${cut}: rejected ${(performance.now() - started - cutAt).toFixed(1)} ms after the deadline`);
      return error;
    },
  );
  await sleep(cut === 'abort' ? 50 : 20);
  controller.abort();
  const serverFree = observer.ping().then(() => events.push('server free'));
  const error = await slow;
  // Sent at once, while the late reply is still to come: each of them lines up behind it.
  const pairs = Array.from({ length: 1000 }, (_, i) => [`${key}:${i}`, `value-${i}`] as const);
  const replies = await Promise.all(pairs.map(([k, v]) => Promise.all([client.set(k, v), client.get(k)])));
  await serverFree;
  assert.deepEqual(events, ['rejected', 'server free'], 'the caller was rejected while the server was busy');
  assert.deepEqual(
    replies.map(([, value]) => value),
    pairs.map(([, value]) => value),
  );
  return { error, reason: controller.signal.reason as unknown };
}

/** Both cuts on `client`: a `CommandTimeoutError` naming the command only, and the signal's own reason. */
async function bothCutsHold(t: TestContext, client: Client, observerFor: ObserverFor) {
  const timedOut = await cutWhileBusy(t, client, observerFor, 'timeout');
  assert.ok(timedOut.error instanceof CommandTimeoutError, String(timedOut.error));
  assert.equal(timedOut.error.code, 'REDIS_POOL_COMMAND_TIMEOUT');
  assert.equal(timedOut.error.timeoutMs, 100);
  assert.match(timedOut.error.message, /^EVAL /);
  assert.doesNotMatch(timedOut.error.message, /redis\.call|deadline:/, 'no argument is printed');
  const aborted = await cutWhileBusy(t, client, observerFor, 'abort');
  assert.equal(aborted.error, aborted.reason);
}

const fileObserver: ObserverFor = async () => file.observer;
const asClient = (client: unknown) => client as Client;

describe('single server: a deadline holds after the write, and the connection stays', () => {
  const pool = new RedisPool<true>({ logger: silent });
  before(async () => {
    await pool.getClient(settingsFor(file.server.url, { serviceName: 'deadlines' }));
  });
  after(() => pool.destroy());

  test('the shared client', async (t) => {
    const client = await pool.getClient();
    const reconnects = pool.stats().reconnects;
    await bothCutsHold(t, asClient(client), fileObserver);
    assert.equal(pool.stats().reconnects, reconnects);
    assert.equal(pool.stats().shared.state, 'ready');
  });

  test('a lease', async (t) => {
    const reconnects = pool.stats().reconnects;
    await pool.withConnection(async (lease) => {
      await bothCutsHold(t, asClient(lease), fileObserver);
      // The same connection serves on after both.
      assert.equal(await lease.ping(), 'PONG');
    });
    assert.equal(pool.stats().reconnects, reconnects);
    assert.deepEqual([pool.stats().idle, pool.stats().closed], [1, pool.stats().closed]);
  });

  test('a duplicate', async (t) => {
    const duplicate = (await pool.getClient()).duplicate();
    await duplicate.connect();
    try {
      const id = await duplicate.clientId();
      await bothCutsHold(t, asClient(duplicate), fileObserver);
      assert.equal(await duplicate.clientId(), id, 'the same connection');
    } finally {
      duplicate.destroy();
    }
  });

  test('a raw sendCommand() through a view keeps the view’s deadline', async () => {
    const client = await pool.getClient();
    const view = client.withCommandOptions({ timeout: 100 });
    const slow = view.sendCommand(['EVAL', BUSY, '1', 'deadline:raw', '300']);
    await assert.rejects(slow, CommandTimeoutError);
    assert.equal(await client.get('deadline:raw'), null);
  });

  test('an already aborted signal rejects at once with its reason, and nothing is sent', async () => {
    const client = await pool.getClient();
    const reason = new Error('gave up before asking');
    await assert.rejects(client.withAbortSignal(AbortSignal.abort(reason)).set('deadline:never', 'x'), (error) => {
      assert.equal(error, reason);
      return true;
    });
    assert.equal(await client.get('deadline:never'), null);
  });
});

describe('a blocking command’s deadline starts after its block time', () => {
  test('BLPOP for longer than a duplicate’s default timeout (REDIS_SOCKET_TIMEOUT) is not cut', async () => {
    const pool = new RedisPool<true>({ logger: silent });
    try {
      const client = await pool.getClient(settingsFor(file.server.url, { redisSocketTimeout: 0.2 }));
      const duplicate = client.duplicate();
      await duplicate.connect();
      const popped = duplicate.blPop('deadline:queue', 1);
      const forever = duplicate.duplicate();
      await forever.connect();
      const waiting = forever.blPop('deadline:forever', 0);
      // Pushed well past the 200 ms default timeout: both are still waiting for it.
      await sleep(600);
      await file.observer.rPush('deadline:queue', 'first');
      await file.observer.rPush('deadline:forever', 'second');
      assert.deepEqual(await popped, { key: 'deadline:queue', element: 'first' });
      assert.deepEqual(await waiting, { key: 'deadline:forever', element: 'second' });
    } finally {
      pool.destroy();
    }
  });

  test('a BLPOP that blocks for ever is cut by its signal only', async () => {
    const pool = new RedisPool<true>({ logger: silent });
    try {
      const client = await pool.getClient(settingsFor(file.server.url));
      const controller = new AbortController();
      const popped = client
        .withCommandOptions({ timeout: 50, abortSignal: controller.signal })
        .blPop('deadline:none', 0);
      const outcome = popped.then(
        () => 'popped',
        (error: unknown) => error,
      );
      await sleep(300);
      controller.abort();
      assert.equal(await outcome, controller.signal.reason);
    } finally {
      pool.destroy();
    }
  });
});

describe('a command held while the shared connection is down', () => {
  test('rejects at its deadline, and is not sent when the connection comes back', async () => {
    const server = await startRedisServer();
    const pool = new RedisPool<true>({ logger: silent });
    try {
      const client = await pool.getClient(settingsFor(server.url, { redisOfflineQueueTimeout: 30 }));
      await server.kill();
      while (pool.stats().shared.state === 'ready') await sleep(10);
      const held = client.withCommandOptions({ timeout: 100 }).set('deadline:held', 'sent');
      const controller = new AbortController();
      const aborted = client.withAbortSignal(controller.signal).set('deadline:aborted', 'sent');
      assert.equal(pool.stats().shared.held, 2);
      controller.abort();
      await assert.rejects(aborted, (error) => error === controller.signal.reason);
      await assert.rejects(held, CommandTimeoutError);
      await server.restart();
      while (pool.stats().shared.state !== 'ready') await sleep(10);
      assert.equal(pool.stats().shared.held, 0);
      assert.deepEqual(await client.mGet(['deadline:held', 'deadline:aborted']), [null, null]);
    } finally {
      pool.destroy();
      await server.stop();
    }
  });
});

describe('cluster mode: a deadline holds after the write, and the connection stays', () => {
  let cluster: Cluster;
  const pool = new RedisPool<true>({ logger: silent });
  before(async () => {
    cluster = await startCluster({ masters: 3 });
    await pool.getClient(settingsFor('redis://127.0.0.1/0', { redisClusterNodes: cluster.nodeAddresses }));
  });
  after(async () => {
    pool.destroy();
    await cluster.stop();
  });

  /** One observer per primary, each a connection of its own, outside the pool. */
  const observers = new Map<number, Observer>();
  after(() => {
    for (const observer of observers.values()) observer.destroy();
  });
  const observerFor: ObserverFor = async (key) => {
    const node = await cluster.masterOf(calculateSlot(key));
    const known = observers.get(node.port) ?? (await admin(node.url));
    observers.set(node.port, known);
    return known;
  };

  test('the cluster client', async (t) => {
    const client = await pool.getClient();
    const reconnects = pool.stats().reconnects;
    await bothCutsHold(t, asClient(client), observerFor);
    assert.equal(pool.stats().reconnects, reconnects);
  });

  test('a cluster lease', async (t) => {
    await pool.withConnection({ key: '{deadline}' }, async (lease) => {
      await bothCutsHold(t, asClient(lease), observerFor);
    });
  });

  test('a cluster duplicate', async (t) => {
    const duplicate = (await pool.getClient()).duplicate();
    await duplicate.connect();
    try {
      await bothCutsHold(t, asClient(duplicate), observerFor);
    } finally {
      duplicate.destroy();
    }
  });
});
