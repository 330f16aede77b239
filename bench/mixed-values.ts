/**
 * Small replies beside large ones: 48 workers GET a 100 B value while 2 GET a 1 MB value, on one
 * shared client, beside node-redis and, with `BENCH_BASELINE`, the shared client of another build.
 * Reply fences hold each reply until the fence after its batch, so a small reply written in the
 * same batch as a large one waits for it: the p99 of the small GETs shows how long.
 */
import { createClient, RESP_TYPES } from 'redis';
import { RedisPool } from '../src/index.js';
import type { RedisServer } from '../src/testing/index.js';
import { BASELINE, baselinePool, benchSettings, interleave, quantile, SECONDS, silent, table, VALUE } from './lib.js';

const SMALL_WORKERS = 48;
const LARGE_WORKERS = 2;
const OURS = 'redis-pool shared client';
const RAW = 'node-redis createClient, timeout off';
const AT_BASELINE = 'redis-pool shared client at BENCH_BASELINE';
const FENCED = 'redis-pool shared client, reply fences on';

interface Client {
  set(key: string, value: string | Buffer): Promise<unknown>;
  get(key: string): Promise<unknown>;
  withTypeMapping(mapping: object): Client;
}

/** One slice: small GETs per second, and their p99 in µs. */
async function slice(client: Client): Promise<{ rate: number; p99: number }> {
  const large = client.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
  const deadline = performance.now() + SECONDS * 1000;
  const latencies: number[] = [];
  const started = performance.now();
  await Promise.all([
    ...Array.from({ length: SMALL_WORKERS }, async () => {
      while (performance.now() < deadline) {
        const sent = performance.now();
        await client.get('mixed:small');
        latencies.push(performance.now() - sent);
      }
    }),
    ...Array.from({ length: LARGE_WORKERS }, async () => {
      while (performance.now() < deadline) await large.get('mixed:large');
    }),
  ]);
  return { rate: latencies.length / ((performance.now() - started) / 1000), p99: quantile(latencies, 0.99) * 1000 };
}

export async function mixedValuesBench(server: RedisServer): Promise<void> {
  const pool = new RedisPool<true>({ logger: silent });
  const fenced = new RedisPool<true>({ logger: silent });
  const raw = await createClient({ url: server.url, commandOptions: { timeout: 0 } }).connect();
  const baseline = BASELINE ? await baselinePool(server.url) : undefined;
  const clients: { name: string; client: Client; close: () => Promise<unknown> }[] = [
    {
      name: OURS,
      client: (await pool.getClient(benchSettings(server.url))) as unknown as Client,
      close: () => pool.close(),
    },
    {
      name: FENCED,
      client: (await fenced.getClient(benchSettings(server.url, { redisReplyFences: true }))) as unknown as Client,
      close: () => fenced.close(),
    },
    { name: RAW, client: raw as unknown as Client, close: () => raw.close() },
    ...(baseline
      ? [{ name: AT_BASELINE, client: baseline.client as unknown as Client, close: () => baseline.pool.close() }]
      : []),
  ];
  await raw.set('mixed:small', VALUE);
  await raw.set('mixed:large', Buffer.alloc(1024 * 1024, 7));
  console.log('## Small replies beside large ones\n');
  for (const { client } of clients) await slice(client); // warm-up, discarded
  const p99s = new Map<string, number[]>(clients.map(({ name }) => [name, []]));
  const rates = await interleave('100 B beside 1 MB', clients, async ({ name, client }) => {
    const { rate, p99 } = await slice(client);
    p99s.get(name)?.push(p99);
    return rate;
  });
  const against: [string, string][] = [
    ['× node-redis timeout off', RAW],
    ['× fences off', OURS],
  ];
  if (baseline) against.push(['× baseline', AT_BASELINE]);
  console.log(`GET of 100 B (${SMALL_WORKERS} workers) beside GET of 1 MB (${LARGE_WORKERS} workers), small GETs/s:\n`);
  console.log(table(rates, 'GETs/s', against));
  console.log(`\nThe same, p99 of the small GETs per slice in µs (lower is better):\n`);
  console.log(table(p99s, 'p99 µs', against));
  console.log();
  for (const { close } of clients) await close();
}
