/**
 * `BENCH_ONLY=cache`: client-side caching (`REDIS_CLIENT_SIDE_CACHE`, issue 23).
 * - A hot key read through the cache against the same pool without it, at 1 and 50 in flight,
 *   and against the ceiling: a `Map` lookup behind a resolved promise, the least a cached read
 *   could cost on this runtime. Target: 20× or more at 50 in flight.
 * - The stale window: from a write's acknowledgement, on another client, until the pool's cache
 *   has dropped the key (its `invalidate` event), p50 and p99 over many writes.
 * - The heap each cached entry costs (a 100-byte string value under a short key).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient } from 'redis';
import { RedisPool } from '../src/index.js';
import type { RedisServer } from '../src/testing/index.js';
import { benchSettings, format, interleave, quantile, rate, silent, table, target, VALUE } from './lib.js';

const KEY = 'bench:hot';
const CACHED = 'redis-pool shared client, REDIS_CLIENT_SIDE_CACHE=true';
const UNCACHED = 'redis-pool shared client, no cache';
const CEILING = 'ceiling: a Map lookup behind a resolved promise';
const WINDOW_TRIALS = Number(process.env.BENCH_WINDOW_TRIALS ?? 500);
const MEMORY_ENTRIES = 50_000;

interface Reader {
  get(key: string): Promise<unknown>;
}

export async function cacheBench(server: RedisServer): Promise<void> {
  const cachedPool = new RedisPool<true>({ logger: silent });
  const plainPool = new RedisPool<true>({ logger: silent });
  const cached = await cachedPool.getClient(
    benchSettings(server.url, { redisClientSideCache: true, redisClientSideCacheMaxEntries: 100_000 }),
  );
  const plain = await plainPool.getClient(benchSettings(server.url));
  const ceiling = new Map([[KEY, VALUE]]);
  try {
    await plain.set(KEY, VALUE);
    const contenders: { name: string; reader: Reader }[] = [
      { name: CEILING, reader: { get: (key) => Promise.resolve(ceiling.get(key)) } },
      { name: CACHED, reader: cached },
      { name: UNCACHED, reader: plain },
    ];
    console.log('## Client-side caching\n');
    for (const inFlight of [1, 50]) {
      const samples = await interleave(`cache, ${inFlight} in flight`, contenders, ({ reader }) =>
        rate(inFlight, () => reader.get(KEY)),
      );
      console.log(`GET of one hot 100 B key, ${inFlight} in flight, reads/s:\n`);
      console.log(
        table(samples, 'reads/s', [
          ['× no cache', UNCACHED],
          ['× ceiling', CEILING],
        ]),
      );
      console.log();
      if (inFlight === 50) {
        const samplesRatio = samples.get(CACHED)?.map((value, i) => value / (samples.get(UNCACHED)?.[i] as number));
        const ratio = samplesRatio ? quantile(samplesRatio, 0.5) : 0;
        console.log(`${target('cached against uncached, 50 in flight', ratio, '≥ 20×', ratio >= 20)}\n`);
      }
    }
    await staleWindow(server, cachedPool, cached);
    await memoryPerEntry(cachedPool, cached);
  } finally {
    await Promise.all([cachedPool.close(), plainPool.close()]);
  }
}

/** How long after another client's write is acknowledged the pool's cache still holds the old value. */
async function staleWindow(server: RedisServer, pool: RedisPool<true>, cached: Reader): Promise<void> {
  const writer = createClient({ url: server.url });
  await writer.connect();
  const cache = (cached as unknown as { clientSideCache: NodeJS.EventEmitter }).clientSideCache;
  const windows: number[] = [];
  let before = 0;
  try {
    for (let trial = 0; trial < WINDOW_TRIALS; trial++) {
      const key = `bench:window:${trial % 10}`;
      await cached.get(key);
      const dropped = new Promise<number>((resolve) => {
        const listener = (invalidated: unknown) => {
          if (String(invalidated) !== key) return;
          cache.off('invalidate', listener);
          resolve(performance.now());
        };
        cache.on('invalidate', listener);
      });
      await writer.set(key, String(trial));
      const acknowledged = performance.now();
      const at = await dropped;
      if (at <= acknowledged) before++;
      windows.push(Math.max(0, at - acknowledged));
      await sleep(1);
    }
  } finally {
    writer.destroy();
  }
  const ms = (q: number) => quantile(windows, q).toFixed(3);
  console.log(
    `Stale window on loopback (${WINDOW_TRIALS} writes by another client; from the write's acknowledgement to the ` +
      `invalidation reaching the pool's cache): p50 ${ms(0.5)} ms, p99 ${ms(0.99)} ms, max ${ms(1)} ms; ` +
      `${before} of ${WINDOW_TRIALS} arrived before the writer had its acknowledgement. ` +
      `Invalidations so far: ${pool.stats().clientSideCache?.invalidations}.\n`,
  );
}

/** The heap a cached entry costs: read `MEMORY_ENTRIES` keys into the cache and compare the heap. */
async function memoryPerEntry(
  pool: RedisPool<true>,
  cached: Reader & { set(key: string, value: string): Promise<unknown> },
) {
  const keys = Array.from({ length: MEMORY_ENTRIES }, (_, i) => `bench:mem:${i}`);
  for (let i = 0; i < keys.length; i += 1000) {
    await Promise.all(keys.slice(i, i + 1000).map((key) => cached.set(key, VALUE)));
  }
  const gc = (globalThis as { gc?: () => void }).gc;
  const heap = () => {
    gc?.();
    return process.memoryUsage().heapUsed;
  };
  const empty = pool.stats().clientSideCache?.entries ?? 0;
  const start = heap();
  for (let i = 0; i < keys.length; i += 1000) await Promise.all(keys.slice(i, i + 1000).map((key) => cached.get(key)));
  const added = (pool.stats().clientSideCache?.entries ?? 0) - empty;
  const perEntry = (heap() - start) / added;
  console.log(
    `Memory: ${format(added)} entries of a 100 B value under a ${keys[0]?.length}-character key cost about ` +
      `${format(perEntry)} bytes of heap each${gc ? '' : ' (measured without --expose-gc: rough)'}.\n`,
  );
}
