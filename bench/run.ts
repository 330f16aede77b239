/**
 * `npm run bench`: the pool's shared client against the other ways to use Redis from Node, side
 * by side in one run, against one throwaway redis-server.
 *
 * Workload: each of N workers loops SET then GET of a 100-byte value on its own key, so N
 * commands are in flight at once.
 *
 * This machine is noisy (the client, the server and V8's GC threads share two cores), so the run
 * is many short rounds. In each round every contender runs one slice, in an order that rotates
 * from round to round. Ratios are paired: each round's ratio between two contenders, measured
 * seconds apart, then the median over the rounds. `BENCH_ROUNDS` (default 15) and
 * `BENCH_SECONDS` (seconds per slice, default 0.5) set the length of the run.
 */
import { execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { Redis as IORedis } from 'ioredis';
import { createClient, createClientPool } from 'redis';
import { clientOptions } from '../src/connection.js';
import { createLogger, loadSettings, RedisPool } from '../src/index.js';
import { startRedisServer } from '../src/testing/index.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 0.5);
const LEVELS = [1, 50, 1000];
const VALUE = 'v'.repeat(100);

interface Target {
  set(key: string, value: string): Promise<unknown>;
  get(key: string): Promise<unknown>;
}
interface Contender {
  name: string;
  open(url: string): Promise<{ target: Target; close(): Promise<unknown> | unknown }>;
}

const OURS = 'redis-pool shared client (reply timeout on)';
const RAW_NO_TIMEOUT = 'node-redis createClient, timeout off';
const IOREDIS = 'ioredis, auto-pipelining';

const benchSettings = (url: string) =>
  loadSettings(
    { serviceName: 'bench', logLevel: 'silent', redisUrl: url, redisDecodeResponses: true },
    { env: {}, envFile: false },
  );

const contenders: Contender[] = [
  {
    name: OURS,
    async open(url) {
      const pool = new RedisPool({ logger: createLogger('silent') });
      return { target: await pool.getClient(benchSettings(url)), close: () => pool.close() };
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

/** Operations per second with `inFlight` workers running for `SECONDS`. */
async function measure(target: Target, inFlight: number): Promise<number> {
  const deadline = performance.now() + SECONDS * 1000;
  let operations = 0;
  const worker = async (id: number) => {
    const key = `bench:${id}`;
    while (performance.now() < deadline) {
      await target.set(key, VALUE);
      await target.get(key);
      operations += 2;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: inFlight }, (_, id) => worker(id)));
  return operations / ((performance.now() - started) / 1000);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

function redisBenchmark(port: number): number {
  const csv = execFileSync(
    'redis-benchmark',
    [
      '-h',
      '127.0.0.1',
      '-p',
      String(port),
      '-t',
      'set,get',
      '-d',
      '100',
      '-P',
      '16',
      '-c',
      '50',
      '-n',
      '1000000',
      '--csv',
    ],
    { encoding: 'utf8' },
  );
  const rates = [...csv.matchAll(/^"(SET|GET)","([\d.]+)"/gm)].map((match) => Number(match[2]));
  return rates.reduce((sum, rate) => sum + rate, 0) / rates.length;
}

const format = (n: number) => Math.round(n).toLocaleString('en-US');

const server = await startRedisServer();
/** ops/s per contender and level, one sample per round, in round order. */
const results = new Map<string, number[]>();
const samples = (name: string, inFlight: number) => results.get(`${name}@${inFlight}`) ?? [];
try {
  const opened = [];
  for (const contender of contenders) opened.push({ contender, ...(await contender.open(server.url)) });
  const total = ROUNDS * LEVELS.length * opened.length;
  let done = 0;
  for (const { target } of opened) await measure(target, 50); // warm-up, discarded
  for (let round = 0; round < ROUNDS; round++) {
    for (const inFlight of LEVELS) {
      for (let turn = 0; turn < opened.length; turn++) {
        const { contender, target } = opened[(round + turn) % opened.length] as (typeof opened)[number];
        process.stderr.write(
          `\r[${++done}/${total}] round ${round + 1}, ${inFlight} in flight: ${contender.name}`.padEnd(100),
        );
        const key = `${contender.name}@${inFlight}`;
        results.set(key, [...samples(contender.name, inFlight), await measure(target, inFlight)]);
      }
    }
  }
  process.stderr.write(`\r${''.padEnd(100)}\rredis-benchmark -P 16 …\n`);
  const serverLimit = median([redisBenchmark(server.port), redisBenchmark(server.port), redisBenchmark(server.port)]);
  await Promise.all(opened.map(({ close }) => close()));

  /** The median over rounds of `name`'s rate divided by `other`'s in the same round. */
  const pairedRatio = (name: string, other: string, inFlight: number) => {
    const theirs = samples(other, inFlight);
    return median(samples(name, inFlight).map((ops, round) => ops / (theirs[round] as number)));
  };
  const version = execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).match(/v=(\S+)/)?.[1];
  console.log(
    `Machine: ${cpus()[0]?.model} × ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB; ` +
      `Node ${process.version}; redis-server ${version}. ${ROUNDS} rounds, ${SECONDS} s slices.\n`,
  );
  for (const inFlight of LEVELS) {
    console.log(`SET+GET of 100 B, ${inFlight} in flight:\n`);
    console.log('| client | ops/s (median) | min–max | × node-redis timeout off | × ioredis |');
    console.log('|---|---:|---:|---:|---:|');
    for (const { name } of contenders) {
      const rates = samples(name, inFlight);
      console.log(
        `| ${name} | ${format(median(rates))} | ${format(Math.min(...rates))}–${format(Math.max(...rates))} | ` +
          `${pairedRatio(name, RAW_NO_TIMEOUT, inFlight).toFixed(2)} | ${pairedRatio(name, IOREDIS, inFlight).toFixed(2)} |`,
      );
    }
    console.log();
  }
  console.log(
    `Server's limit: redis-benchmark -P 16 -c 50 (800 in flight), SET/GET 100 B: ${format(serverLimit)} ops/s\n`,
  );
  console.log('Targets (design §7), shared client with its reply timeout on (paired medians):\n');
  for (const inFlight of [50, 1000]) {
    const checks: [string, number, number][] = [
      ['node-redis createClient, timeout off', pairedRatio(OURS, RAW_NO_TIMEOUT, inFlight), 0.95],
      ['ioredis auto-pipelining', pairedRatio(OURS, IOREDIS, inFlight), 2.5],
      ['redis-benchmark -P 16', median(samples(OURS, inFlight)) / serverLimit, 0.85],
    ];
    for (const [against, ratio, goal] of checks) {
      console.log(
        `- ${inFlight} in flight: ${ratio.toFixed(2)}× ${against} (target ≥ ${goal}×): ${ratio >= goal ? 'met' : 'NOT met'}`,
      );
    }
  }
} finally {
  await server.stop();
}
