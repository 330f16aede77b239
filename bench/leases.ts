/**
 * Leased connections against node-redis's `createClientPool`, and the shared client's GET
 * latency with 100 blocked BLPOP waiters against none.
 */
import { createClientPool } from 'redis';
import { RedisPool } from '../src/index.js';
import type { RedisServer } from '../src/testing/index.js';
import { CeilingLeases } from './ceiling.js';
import {
  BASELINE,
  baselinePool,
  benchSettings,
  interleave,
  median,
  pairedRatio,
  quantile,
  rate,
  SECONDS,
  silent,
  table,
  target,
} from './lib.js';

const IN_FLIGHT = Number(process.env.BENCH_LEASE_CALLERS ?? 50);
/** Leasable connections on both sides: the pool adds one for its shared connection. */
const CONNECTIONS = 10;
const OURS = `redis-pool withConnection + GET (${CONNECTIONS} connections)`;
const THEIRS = 'node-redis createClientPool execute + GET (defaults)';
const AT_BASELINE = 'redis-pool withConnection + GET at BENCH_BASELINE';
const FENCED = 'redis-pool withConnection + GET, reply fences on';
const CEILING = `ceiling: ${CONNECTIONS} raw sockets, one GET outstanding on each (bench/ceiling.ts)`;

async function leaseRoundTrips(server: RedisServer): Promise<void> {
  const pool = new RedisPool<true>({ logger: silent });
  await pool.getClient(
    benchSettings(server.url, { redisMaxConnections: CONNECTIONS + 1, redisMinIdleConnections: CONNECTIONS }),
  );
  const fenced = new RedisPool<true>({ logger: silent });
  await fenced.getClient(
    benchSettings(server.url, {
      redisMaxConnections: CONNECTIONS + 1,
      redisMinIdleConnections: CONNECTIONS,
      redisReplyFences: true,
    }),
  );
  const theirs = createClientPool({ url: server.url });
  await theirs.connect();
  const baseline = BASELINE
    ? await baselinePool(server.url, { redisMaxConnections: CONNECTIONS + 1, redisMinIdleConnections: CONNECTIONS })
    : undefined;
  const ceiling = await CeilingLeases.open('127.0.0.1', server.port, CONNECTIONS);
  const contenders = [
    { name: CEILING, step: (key: string) => ceiling.withConnection((connection) => connection.get(key)) },
    { name: OURS, step: (key: string) => pool.withConnection((client) => client.get(key)) },
    { name: FENCED, step: (key: string) => fenced.withConnection((client) => client.get(key)) },
    { name: THEIRS, step: (key: string) => theirs.execute((client) => client.get(key)) },
    ...(baseline
      ? [{ name: AT_BASELINE, step: (key: string) => baseline.pool.withConnection((client) => client.get(key)) }]
      : []),
  ];
  for (const { step } of contenders) await rate(IN_FLIGHT, (worker) => step(`lease:${worker}`)); // warm-up
  const samples = await interleave('leases', contenders, ({ step }) =>
    rate(IN_FLIGHT, (worker) => step(`lease:${worker}`)),
  );
  await Promise.all([pool.close(), fenced.close(), theirs.close(), baseline?.pool.close()]);
  ceiling.close();

  console.log('## Leased connections\n');
  console.log(`One GET per lease, ${IN_FLIGHT} callers at once, leases/s:\n`);
  const against: [string, string][] = [
    ['× ceiling', CEILING],
    ['× createClientPool', THEIRS],
    ['× fences off', OURS],
  ];
  if (baseline) against.push(['× baseline', AT_BASELINE]);
  console.log(table(samples, 'leases/s', against));
  console.log();
  const ratio = pairedRatio(samples, OURS, CEILING);
  console.log(target('withConnection + GET against the lease ceiling', ratio, '≥ 0.6×', ratio >= 0.6));
  const fences = pairedRatio(samples, FENCED, OURS);
  console.log(target('reply fences on, against off', fences, '≥ 0.97×', fences >= 0.97));
  console.log();
}

/** GET latencies on the shared client, one at a time, for one slice. */
async function getLatencies(client: { get(key: string): Promise<unknown> }): Promise<number[]> {
  const latencies: number[] = [];
  const deadline = performance.now() + SECONDS * 1000;
  while (performance.now() < deadline) {
    const started = performance.now();
    await client.get('latency:key');
    latencies.push(performance.now() - started);
  }
  return latencies;
}

async function blockedWaiters(server: RedisServer): Promise<void> {
  const WAITERS = 100;
  const pool = new RedisPool<true>({ logger: silent });
  const client = await pool.getClient(benchSettings(server.url, { redisMaxConnections: WAITERS + 2 }));
  await client.set('latency:key', 'v');
  const contenders = [
    { name: 'no blocked waiters', waiters: 0 },
    { name: `${WAITERS} blocked BLPOP waiters`, waiters: WAITERS },
  ];
  const samples = await interleave('GET p99', contenders, async ({ waiters }) => {
    const blocked = Array.from({ length: waiters }, () => client.blPop('latency:queue', 0));
    while (pool.stats().leased < waiters) await new Promise((resolve) => setTimeout(resolve, 5));
    const p99 = quantile(await getLatencies(client), 0.99) * 1000;
    if (waiters > 0)
      await client.rPush(
        'latency:queue',
        Array.from({ length: waiters }, (_, i) => String(i)),
      );
    await Promise.all(blocked);
    return p99;
  });
  await pool.close();

  console.log('## GET latency with blocked waiters\n');
  console.log('GET on the shared client, one at a time, p99 per slice in µs:\n');
  console.log(table(samples, 'p99 µs', [['× no waiters', 'no blocked waiters']]));
  console.log();
  const ratio = pairedRatio(samples, `${WAITERS} blocked BLPOP waiters`, 'no blocked waiters');
  console.log(target(`GET p99 with ${WAITERS} blocked waiters against none`, ratio, '≤ 1.2×', ratio <= 1.2));
  console.log(
    `  (median p99: ${median(samples.get('no blocked waiters') ?? []).toFixed(0)} µs without, ` +
      `${median(samples.get(`${WAITERS} blocked BLPOP waiters`) ?? []).toFixed(0)} µs with)\n`,
  );
}

export async function leasesBench(server: RedisServer): Promise<void> {
  await leaseRoundTrips(server);
  await blockedWaiters(server);
}
