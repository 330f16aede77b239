/**
 * `npm run bench`: the pool's shared client against the other ways to use Redis from Node, side
 * by side in one run, against one throwaway redis-server. Contenders take turns in every round,
 * so machine noise falls on all of them alike; the tables report medians and ratios.
 *
 * Workload: each of N workers loops SET then GET of a 100-byte value on its own key, so N
 * commands are in flight at once. `BENCH_ROUNDS` (default 5) and `BENCH_SECONDS` (default 1.5)
 * set the length of the run.
 */
import { execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { Redis as IORedis } from 'ioredis';
import { createClient, createClientPool } from 'redis';
import { clientOptions } from '../src/connection.js';
import { createLogger, loadSettings, RedisPool } from '../src/index.js';
import { startRedisServer } from '../src/testing/index.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 1.5);
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
const results = new Map<string, number[]>();
try {
  const opened = [];
  for (const contender of contenders) opened.push({ contender, ...(await contender.open(server.url)) });
  const total = ROUNDS * LEVELS.length * opened.length;
  let done = 0;
  for (const { target } of opened) await measure(target, 50); // warm-up, discarded
  for (let round = 1; round <= ROUNDS; round++) {
    for (const inFlight of LEVELS) {
      for (const { contender, target } of opened) {
        process.stderr.write(
          `\r[${++done}/${total}] round ${round}, ${inFlight} in flight: ${contender.name}`.padEnd(90),
        );
        const key = `${contender.name}@${inFlight}`;
        results.set(key, [...(results.get(key) ?? []), await measure(target, inFlight)]);
      }
    }
  }
  process.stderr.write('\r'.padEnd(90));
  process.stderr.write('\rredis-benchmark -P 16 …\n');
  const serverLimit = median([redisBenchmark(server.port), redisBenchmark(server.port), redisBenchmark(server.port)]);
  await Promise.all(opened.map(({ close }) => close()));

  const version = execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).match(/v=(\S+)/)?.[1];
  console.log(
    `Machine: ${cpus()[0]?.model} × ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB; ` +
      `Node ${process.version}; redis-server ${version}. ${ROUNDS} rounds of ${SECONDS} s; medians.\n`,
  );
  const rate = (name: string, inFlight: number) => median(results.get(`${name}@${inFlight}`) ?? [0]);
  for (const inFlight of LEVELS) {
    console.log(`SET+GET of 100 B, ${inFlight} in flight:\n`);
    console.log('| client | ops/s (median) | min–max | × node-redis timeout off | × ioredis |');
    console.log('|---|---:|---:|---:|---:|');
    for (const { name } of contenders) {
      const samples = results.get(`${name}@${inFlight}`) ?? [];
      const ops = rate(name, inFlight);
      console.log(
        `| ${name} | ${format(ops)} | ${format(Math.min(...samples))}–${format(Math.max(...samples))} | ` +
          `${(ops / rate(RAW_NO_TIMEOUT, inFlight)).toFixed(2)} | ${(ops / rate(IOREDIS, inFlight)).toFixed(2)} |`,
      );
    }
    console.log();
  }
  console.log(
    `Server's limit: redis-benchmark -P 16 -c 50 (800 in flight), SET/GET 100 B: ${format(serverLimit)} ops/s\n`,
  );
  console.log('Targets (design §7), shared client with its reply timeout on:\n');
  for (const inFlight of [50, 1000]) {
    const ours = rate(OURS, inFlight);
    const checks: [string, number, number][] = [
      ['node-redis createClient, timeout off', ours / rate(RAW_NO_TIMEOUT, inFlight), 0.95],
      ['ioredis auto-pipelining', ours / rate(IOREDIS, inFlight), 2.5],
      ['redis-benchmark -P 16', ours / serverLimit, 0.85],
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
