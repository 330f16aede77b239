// Client-side caching (REDIS_CLIENT_SIDE_CACHE) on real servers: what it serves, what it never
// serves. Each fault runs with a writer on a pool of its own and four readers through the cached
// pool, and no read may return a value older than one acknowledged before it began.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import calculateSlot from 'cluster-key-slot';
import { type PoolStats, RedisPool, type SettingsInput } from '../src/index.js';
import {
  type RedisServer,
  startCluster,
  startFaultProxy,
  startRedisServer,
  startSentinelGroup,
} from '../src/testing/index.js';
import { admin, KEY_PREFIXES, keyPrefixed, prefixLabel, serverForFile, settingsFor, silent } from './helpers.js';

const file = serverForFile();

/** GETs the file's server has run. */
async function getCalls(): Promise<number> {
  return Number(/^cmdstat_get:calls=(\d+)/m.exec(await file.observer.info('commandstats'))?.[1] ?? 0);
}

type Reader = { get(key: string): Promise<string | null> };

/**
 * How long after a write's acknowledgement a cached read may still return the value before it:
 * the invalidation is on its way on another socket. bench/cache.ts measures it (well under 1 ms
 * on loopback); this allows for a loaded machine. A missed invalidation is stale for good.
 */
const IN_FLIGHT_MS = 250;

interface Watched {
  reads: number;
  /** Stale reads: when each began, and what it read. */
  stale: { at: number; line: string }[];
  errors: number;
  writes: number;
  /** When the fault began and ended. */
  fault: { from: number; to: number };
}

/**
 * A writer sets `key` to 1, 2, 3 … (`write` says whether the write was acknowledged), four readers
 * read it through `reader`, and `fault` runs meanwhile. A read is stale when it returns a number
 * below one acknowledged `IN_FLIGHT_MS` before the read began. Unless `readDuringFault`, the readers
 * wait while the fault runs: a read sent to the server then would have the new connection track
 * the key, which would hide an entry the pool failed to drop.
 */
async function readWhileWriting(
  pool: RedisPool<true>,
  reader: Reader,
  key: string,
  write: (value: string) => Promise<boolean>,
  fault: () => Promise<void>,
  readDuringFault = false,
): Promise<Watched> {
  const acknowledged: [at: number, value: number][] = [];
  const reads: [at: number, value: number][] = [];
  let errors = 0;
  let running = true;
  let faulting = false;
  const writer = async () => {
    for (let value = 1; running; value++) {
      if (await write(String(value)).catch(() => false)) acknowledged.push([performance.now(), value]);
      await sleep(20);
    }
  };
  const readLoop = async () => {
    while (running) {
      if (faulting && !readDuringFault) {
        await sleep(5);
        continue;
      }
      const at = performance.now();
      try {
        reads.push([at, Number((await reader.get(key)) ?? 0)]);
      } catch {
        errors++;
        await sleep(10);
      }
      await sleep(1);
    }
  };
  const loops = [writer(), ...Array.from({ length: 4 }, readLoop)];
  await sleep(300);
  const from = performance.now();
  faulting = true;
  await fault();
  // Back once the pool is: a read held meanwhile would be sent on the new connection, which would
  // then track the key and hide an entry the pool failed to drop.
  while (pool.stats().shared.state !== 'ready') await sleep(5);
  faulting = false;
  const to = performance.now();
  await sleep(1500);
  running = false;
  await Promise.all(loops);
  const stale: Watched['stale'] = [];
  let known = 0;
  let next = 0;
  for (const [at, value] of reads.sort((a, b) => a[0] - b[0])) {
    while (next < acknowledged.length && (acknowledged[next] as [number, number])[0] <= at - IN_FLIGHT_MS) {
      known = (acknowledged[next] as [number, number])[1];
      next++;
    }
    if (value < known)
      stale.push({ at, line: `read ${value} ${Math.round(at - from)} ms into the fault, after ${known}` });
  }
  return { reads: reads.length, stale, errors, writes: acknowledged.length, fault: { from, to } };
}

function cacheOf(pool: RedisPool<true>): NonNullable<PoolStats['clientSideCache']> {
  const figures = pool.stats().clientSideCache;
  assert.ok(figures, 'stats() has the cache figures');
  return figures;
}

/** The cache served reads, was emptied at least once for the fault, and nothing stale came out of it. */
function assertHeld(watched: Watched, pool: RedisPool<true>, label: string): void {
  const cache = cacheOf(pool);
  console.log(
    `${label}: ${watched.reads} reads (${cache.hits} hits), ${watched.writes} writes acknowledged, ` +
      `${watched.stale.length} stale, ${watched.errors} failed; the cache was emptied ${cache.flushes} times`,
  );
  assert.deepEqual(
    watched.stale.slice(0, 5).map((read) => read.line),
    [],
    'no read older than a write acknowledged before it',
  );
  assert.ok(cache.hits > 100, `the cache served reads (${cache.hits} hits)`);
  assert.ok(watched.writes > 20, 'the writer kept writing');
}

describe('client-side caching on one server', () => {
  for (const prefix of KEY_PREFIXES) {
    test(`reads are served from the cache until another client writes the key; figures in stats()${prefixLabel(prefix)}`, async () => {
      const pool = new RedisPool<true>({ logger: silent });
      const other = await admin(file.server.url);
      try {
        const client = await pool.getClient(
          settingsFor(file.server.url, { redisClientSideCache: true, ...keyPrefixed(prefix) }),
        );
        await file.observer.del(`${prefix}basic:k`);
        await client.set('basic:k', 'v1');
        const getsBefore = await getCalls();
        for (let i = 0; i < 50; i++) assert.equal(await client.get('basic:k'), 'v1');
        const getsAfter = await getCalls();
        assert.equal(getsAfter - getsBefore, 1, '50 reads, 1 GET on the server');
        assert.deepEqual(cacheOf(pool), {
          entries: 1,
          hits: 49,
          misses: 1,
          evictions: 0,
          invalidations: 0,
          flushes: 0,
        });

        // A view with a type mapping of its own takes node-redis's path, which caches only replies of the client's mapping.
        assert.equal(await client.withTypeMapping({}).get('basic:k'), 'v1');
        assert.equal(cacheOf(pool).hits, 49);
        assert.equal((await getCalls()) - getsAfter, 1);
        await other.set(`${prefix}basic:k`, 'v2');
        for (let i = 0; i < 100 && cacheOf(pool).invalidations === 0; i++) await sleep(5);
        assert.equal(await client.get('basic:k'), 'v2', 'another client’s write invalidated the entry');
        assert.equal(cacheOf(pool).invalidations, 1);
        await client.set('basic:k', 'v3');
        assert.equal(await client.get('basic:k'), 'v3', 'the pool’s own write is seen at once');
        // Each value is a copy: a caller changing what it got changes nothing for the next.
        await client.hSet('basic:h', { a: '1' });
        const first = await client.hGetAll('basic:h');
        (first as Record<string, string>).a = 'changed';
        assert.deepEqual({ ...(await client.hGetAll('basic:h')) }, { a: '1' });
      } finally {
        other.destroy();
        await pool.close();
      }
    });
  }

  test('the size and age limits hold: the least recently used goes first, and an old entry is read again', async () => {
    const pool = new RedisPool<true>({ logger: silent });
    try {
      const client = await pool.getClient(
        settingsFor(file.server.url, {
          redisClientSideCache: true,
          redisClientSideCacheMaxEntries: 3,
          redisClientSideCacheTtl: 0.2,
        }),
      );
      for (const key of ['a', 'b', 'c', 'a', 'd']) await client.get(`limits:${key}`);
      assert.equal(cacheOf(pool).entries, 3);
      assert.equal(cacheOf(pool).evictions, 1, 'b went for d: a was used after it');
      const hits = cacheOf(pool).hits;
      await client.get('limits:a');
      assert.equal(cacheOf(pool).hits, hits + 1);
      await sleep(250);
      await client.get('limits:a');
      assert.equal(cacheOf(pool).hits, hits + 1, 'past REDIS_CLIENT_SIDE_CACHE_TTL the entry is read again');
    } finally {
      await pool.close();
    }
  });

  test('leases read from the server; a duplicate given clientSideCache caches, one without does not', async () => {
    const pool = new RedisPool<true>({ logger: silent });
    try {
      const client = await pool.getClient(settingsFor(file.server.url, { redisClientSideCache: true }));
      await client.set('lease:k', 'v');
      const before = await getCalls();
      await pool.withConnection(async (lease) => {
        for (let i = 0; i < 10; i++) await lease.get('lease:k');
      });
      assert.equal((await getCalls()) - before, 10);

      const cached = client.duplicate({ clientSideCache: { maxEntries: 10 } });
      const plain = client.duplicate();
      await Promise.all([cached.connect(), plain.connect()]);
      try {
        const start = await getCalls();
        for (let i = 0; i < 50; i++) await cached.get('lease:k');
        assert.equal((await getCalls()) - start, 1);
        assert.equal(cached.clientSideCache?.stats().hitCount, 49);
        for (let i = 0; i < 50; i++) await plain.get('lease:k');
        assert.equal((await getCalls()) - start, 51);
      } finally {
        cached.destroy();
        plain.destroy();
      }
    } finally {
      await pool.close();
    }
  });

  const serverFaults: (readonly [label: string, fault: (server: RedisServer) => Promise<void>])[] = [
    [
      'SIGKILL and restart',
      async (server) => {
        await server.kill();
        await sleep(300);
        await server.restart();
      },
    ],
    ...[300, 3000].map(
      (pauseMs) =>
        [
          `SIGSTOP for ${pauseMs} ms, then SIGCONT`,
          async (server: RedisServer) => {
            server.pause();
            await sleep(pauseMs);
            server.resume();
          },
        ] as const,
    ),
  ];
  for (const [label, fault] of serverFaults) {
    test(`${label}: 0 stale reads`, async () => {
      // appendfsync always: every acknowledged write survives a kill.
      const server = await startRedisServer({ args: ['--appendonly', 'yes', '--appendfsync', 'always'] });
      const pool = new RedisPool<true>({ logger: silent });
      const writer = new RedisPool<true>({ logger: silent });
      try {
        const settings = { redisSocketTimeout: 1 } satisfies SettingsInput;
        const client = await pool.getClient(settingsFor(server.url, { ...settings, redisClientSideCache: true }));
        const writes = await writer.getClient(settingsFor(server.url, settings));
        const watched = await readWhileWriting(
          pool,
          client,
          'fault:server',
          async (value) => (await writes.set('fault:server', value)) === 'OK',
          () => fault(server),
        );
        assertHeld(watched, pool, label);
      } finally {
        server.resume();
        await Promise.all([pool.close(), writer.close()]);
        await server.stop();
      }
    });
  }

  for (const fault of ['cut', 'blackhole'] as const) {
    test(`a write made while the pool's connection was down (${fault}): 0 stale reads`, async () => {
      const server = await startRedisServer();
      const proxy = await startFaultProxy({ target: server.url });
      const pool = new RedisPool<true>({ logger: silent });
      const writer = await admin(server.url);
      try {
        const client = await pool.getClient(
          settingsFor(proxy.url, { redisSocketTimeout: 1, redisClientSideCache: true }),
        );
        const watched = await readWhileWriting(
          pool,
          client,
          `fault:${fault}`,
          async (value) => (await writer.set(`fault:${fault}`, value)) === 'OK',
          async () => {
            if (fault === 'cut') {
              await proxy.refuse();
              proxy.cut();
            } else {
              proxy.blackhole();
            }
            await sleep(1500);
            await proxy.restore();
          },
          fault === 'blackhole',
        );
        if (fault === 'cut') assertHeld(watched, pool, 'connection cut and refused for 1.5 s');
        else {
          // Behind a dead link nothing says the connection is gone: the cache is emptied once the
          // PING it is sent after a second idle is late by a fifth of REDIS_SOCKET_TIMEOUT, and
          // reads until then may be stale (docs/usage.md). After the link is back, none is.
          const after = watched.stale.filter((read) => read.at >= watched.fault.to).map((read) => read.line);
          const last = watched.stale.at(-1);
          console.log(
            `blackhole: ${watched.reads} reads, ${watched.stale.length} stale while the link was dead, the last ` +
              `${last ? Math.round(last.at - watched.fault.from) : 0} ms into it; the cache was emptied ${cacheOf(pool).flushes} times`,
          );
          assert.ok(cacheOf(pool).flushes >= 1, 'the late PING emptied the cache');
          assert.deepEqual(after.slice(0, 5), [], 'no stale read once the link was back');
        }
      } finally {
        writer.destroy();
        await pool.close();
        await proxy.stop();
        await server.stop();
      }
    });
  }
});

describe('client-side caching in sentinel and cluster modes', () => {
  test('a sentinel failover: 0 stale reads, and the cache was emptied when the pool moved', async () => {
    const group = await startSentinelGroup({ replicas: 1, sentinels: 3 });
    const pool = new RedisPool<true>({ logger: silent });
    const writer = new RedisPool<true>({ logger: silent });
    try {
      const settings = {
        serviceName: 'cache-failover',
        redisSentinels: group.sentinelAddresses,
        redisSentinelMaster: group.masterName,
        redisSocketTimeout: 1,
      } satisfies SettingsInput;
      const client = await pool.getClient(
        settingsFor('redis://127.0.0.1/0', { ...settings, redisClientSideCache: true }),
      );
      const writes = await writer.getClient(settingsFor('redis://127.0.0.1/0', settings));
      // A key nobody writes stays cached up to the failover, which must drop it.
      await writes.set('steady', 'v');
      await client.get('steady');
      const watched = await readWhileWriting(
        pool,
        client,
        'fault:failover',
        // Acknowledged once the replica has it too: a write only the old primary took may be lost
        // to the failover (replication is asynchronous), and reading the value before it is no fault.
        async (value) => (await writes.set('fault:failover', value)) === 'OK' && (await writes.wait(1, 200)) >= 1,
        async () => {
          const { to } = await group.failover();
          // Until the old primary follows the new one, no write can be acknowledged by a replica.
          const promoted = await admin(to.url);
          try {
            while (!/^connected_slaves:[1-9]/m.test(await promoted.info('replication'))) await sleep(100);
          } finally {
            promoted.destroy();
          }
        },
      );
      assertHeld(watched, pool, 'sentinel failover');
      assert.ok(cacheOf(pool).flushes >= 1, 'the cache was emptied when the pool moved');
      const misses = cacheOf(pool).misses;
      assert.equal(await client.get('steady'), 'v');
      assert.equal(cacheOf(pool).misses, misses + 1, 'the steady key was read again from the new primary');
    } finally {
      await Promise.all([pool.close(), writer.close()]);
      await group.stop();
    }
  });

  test('cluster mode: one cache for every node, and a slot migrated under a writer gives 0 stale reads', async () => {
    const cluster = await startCluster({ masters: 3 });
    const pool = new RedisPool<true>({ logger: silent });
    const writer = new RedisPool<true>({ logger: silent });
    try {
      const settings = { redisClusterNodes: cluster.nodeAddresses, redisSocketTimeout: 1 } satisfies SettingsInput;
      const client = await pool.getClient(
        settingsFor('redis://127.0.0.1', { ...settings, redisClientSideCache: true }),
      );
      const writes = await writer.getClient(settingsFor('redis://127.0.0.1', settings));
      // Keys on every primary are cached, each read once from its node.
      const keys = Array.from({ length: 30 }, (_, i) => `spread:${i}`);
      for (const key of keys) await writes.set(key, key);
      for (let round = 0; round < 3; round++) {
        for (const key of keys) assert.equal(await client.get(key), key);
      }
      assert.equal(cacheOf(pool).hits, 60);
      assert.equal(cacheOf(pool).misses, 30);

      const key = 'fault:migrate';
      const slot = calculateSlot(key);
      const from = await cluster.masterOf(slot);
      const to = cluster.nodes.find((node) => node !== from) as (typeof cluster.nodes)[number];
      const watched = await readWhileWriting(
        pool,
        client,
        key,
        async (value) => (await writes.set(key, value)) === 'OK',
        () => cluster.migrateSlot(slot, to),
      );
      assert.equal(await cluster.masterOf(slot), to, 'the slot moved');
      assertHeld(watched, pool, 'cluster slot migration');
    } finally {
      await Promise.all([pool.close(), writer.close()]);
      await cluster.stop();
    }
  });
});
