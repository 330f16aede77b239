/**
 * The shared client against the other ways to use Redis from Node. Each of N workers loops SET
 * then GET of a 100-byte value on its own key, so N commands are in flight.
 */
import { execFileSync } from 'node:child_process';
import { Redis as IORedis } from 'ioredis';
import { createClient, createClientPool } from 'redis';
import { clientOptions } from '../src/client/options.js';
import { RedisPool } from '../src/index.js';
import type { RedisServer } from '../src/testing/index.js';
import { CeilingConnection } from './ceiling.js';
import {
  BASELINE,
  baselinePool,
  benchSettings,
  format,
  interleave,
  median,
  pairedRatio,
  setThenGet,
  silent,
  type Target,
  table,
  target,
} from './lib.js';

interface Contender {
  name: string;
  open(url: string): Promise<{ target: Target; close(): Promise<unknown> | unknown }>;
}

const OURS = 'redis-pool shared client (reply timeout on)';
const FENCED = 'redis-pool shared client, reply fences on';
const RAW_NO_TIMEOUT = 'node-redis createClient, timeout off';
const IOREDIS = 'ioredis, auto-pipelining';
const CEILING = 'ceiling: a minimal pipelined RESP client (bench/ceiling.ts)';
const LEVELS = [1, 50, 1000] as const;

const contenders: Contender[] = [
  {
    name: CEILING,
    async open(url) {
      const { hostname, port } = new URL(url);
      const connection = await CeilingConnection.open(hostname, Number(port));
      return { target: connection, close: () => connection.close() };
    },
  },
  {
    name: OURS,
    async open(url) {
      const pool = new RedisPool<true>({ logger: silent });
      return { target: await pool.getClient(benchSettings(url)), close: () => pool.close() };
    },
  },
  {
    name: FENCED,
    async open(url) {
      const pool = new RedisPool<true>({ logger: silent });
      return {
        target: await pool.getClient(benchSettings(url, { redisReplyFences: true })),
        close: () => pool.close(),
      };
    },
  },
  {
    // The pool's own node-redis options without its fast path: isolates what the fast path adds.
    name: "node-redis createClient, the pool's options, no fast path",
    async open(url) {
      const client = await createClient(clientOptions(benchSettings(url), 'shared')).connect();
      return { target: client, close: () => client.close() };
    },
  },
  {
    name: 'node-redis createClient, defaults',
    async open(url) {
      const client = await createClient({ url }).connect();
      return { target: client, close: () => client.close() };
    },
  },
  {
    name: RAW_NO_TIMEOUT,
    async open(url) {
      const client = await createClient({ url, commandOptions: { timeout: 0 } }).connect();
      return { target: client, close: () => client.close() };
    },
  },
  {
    name: 'node-redis createClientPool, defaults',
    async open(url) {
      const pool = createClientPool({ url });
      await pool.connect();
      return { target: pool, close: () => pool.close() };
    },
  },
  {
    name: IOREDIS,
    async open(url) {
      const client = new IORedis(url, { enableAutoPipelining: true, lazyConnect: true });
      await client.connect();
      return { target: client, close: () => client.quit() };
    },
  },
];

const AT_BASELINE = 'redis-pool shared client at BENCH_BASELINE';
if (BASELINE) {
  contenders.splice(1, 0, {
    name: AT_BASELINE,
    async open(url) {
      const { pool, client } = await baselinePool(url);
      return { target: client, close: () => pool.close() };
    },
  });
}

/** `redis-benchmark -P 16`: the server's own limit, SET and GET averaged. */
function redisBenchmark(port: number): number {
  const args = ['-h', '127.0.0.1', '-p', String(port), '-t', 'set,get', '-d', '100', '-P', '16', '-c', '50'];
  const csv = execFileSync('redis-benchmark', [...args, '-n', '1000000', '--csv'], { encoding: 'utf8' });
  const rates = [...csv.matchAll(/^"(SET|GET)","([\d.]+)"/gm)].map((match) => Number(match[2]));
  return rates.reduce((sum, value) => sum + value, 0) / rates.length;
}

export async function sharedClientBench(server: RedisServer): Promise<void> {
  const opened = [];
  for (const contender of contenders) opened.push({ name: contender.name, ...(await contender.open(server.url)) });
  for (const { target: client } of opened) await setThenGet(client, 50); // warm-up, discarded
  const results = new Map<number, Awaited<ReturnType<typeof interleave>>>();
  for (const inFlight of LEVELS) {
    results.set(
      inFlight,
      await interleave(`${inFlight} in flight`, opened, ({ target: client }) => setThenGet(client, inFlight)),
    );
  }
  process.stderr.write('redis-benchmark -P 16 …\n');
  const serverLimit = median([redisBenchmark(server.port), redisBenchmark(server.port), redisBenchmark(server.port)]);
  await Promise.all(opened.map(({ close }) => close()));

  console.log('## The shared client\n');
  for (const inFlight of LEVELS) {
    console.log(`SET+GET of 100 B, ${inFlight} in flight, ops/s:\n`);
    const samples = results.get(inFlight) as Awaited<ReturnType<typeof interleave>>;
    console.log(
      table(samples, 'ops/s', [
        ['× ceiling', CEILING],
        ['× node-redis timeout off', RAW_NO_TIMEOUT],
        ['× ioredis', IOREDIS],
        ['× fences off', OURS],
        ...(BASELINE ? ([['× baseline', AT_BASELINE]] as [string, string][]) : []),
      ]),
    );
    console.log();
  }
  console.log(
    `Server's limit, redis-benchmark -P 16 -c 50 (800 in flight), SET/GET 100 B: ${format(serverLimit)} ops/s\n`,
  );
  console.log('Targets (design §7), shared client with its reply timeout on, paired medians:\n');
  for (const [inFlight, goal] of [
    [1, 0.95],
    [50, 0.8],
    [1000, 0.6],
  ] as const) {
    const samples = results.get(inFlight) as Awaited<ReturnType<typeof interleave>>;
    const versusCeiling = pairedRatio(samples, OURS, CEILING);
    const versusRaw = pairedRatio(samples, OURS, RAW_NO_TIMEOUT);
    console.log(
      target(`${inFlight} in flight, against the ceiling`, versusCeiling, `≥ ${goal}×`, versusCeiling >= goal),
    );
    console.log(
      target(`${inFlight} in flight, against node-redis createClient, timeout off`, versusRaw, '≥ 1×', versusRaw >= 1),
    );
  }
  console.log();
  console.log('Reply fences (REDIS_REPLY_FENCES=true) against the same build without them, paired medians:\n');
  for (const [inFlight, goal] of [
    [1, 0.95],
    [50, 0.97],
    [1000, 0.97],
  ] as const) {
    const ratio = pairedRatio(results.get(inFlight) as Awaited<ReturnType<typeof interleave>>, FENCED, OURS);
    console.log(target(`${inFlight} in flight`, ratio, `≥ ${goal}×`, ratio >= goal));
  }
  console.log();
}
