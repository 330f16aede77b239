/**
 * `npm run soak`: 1M commands through the pool with a fault every 100k (network cut, blackhole,
 * refused connections, latency, a server SIGKILL and restart), printing heap use after a full GC
 * as it goes. Fails (exit 1) if the heap grows by 10 MB or more, or if any reply is wrong.
 * Not part of `npm test`: it is a memory check, and takes about a minute.
 *
 * Environment: SOAK_COMMANDS (default 1000000), SOAK_CALLERS (default 100).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorReply } from 'redis';
import { RedisPool, RedisUnavailableError } from '../src/index.js';
import { startFaultProxy, startRedisServer } from '../src/testing/index.js';

const TOTAL = Number(process.env.SOAK_COMMANDS ?? 1_000_000);
const CALLERS = Number(process.env.SOAK_CALLERS ?? 100);
const STEP = TOTAL / 10;
const LIMIT_MB = 10;

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('Run with node --expose-gc (npm run soak does).');
const heapMb = () => {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
};

const server = await startRedisServer({ args: ['--appendonly', 'yes', '--appendfsync', 'everysec'] });
const proxy = await startFaultProxy({ target: server.url });
const pool = new RedisPool<true>();
const redis = await pool.getClient({
  serviceName: 'soak',
  logLevel: 'ERROR',
  redisUrl: proxy.url,
  redisDecodeResponses: true,
  redisSocketTimeout: 1,
  redisSocketConnectTimeout: 1,
  redisOfflineQueueTimeout: 1,
});

let sent = 0;
let ok = 0;
let wrong = 0;
const failures = new Map<string, number>();
const untyped = new Set<string>();

/** One caller: SET a unique value, GET it back, and check it against what may be there. */
async function caller(index: number) {
  const key = `soak:${index}`;
  let acknowledged: string | null = null;
  const mayHaveRun = new Set<string>();
  const fail = (error: unknown) => {
    // The server's own reply errors pass through unchanged, as they should; anything else must
    // carry one of our codes (LOADING after the restart is REDIS_POOL_UNAVAILABLE).
    const code =
      error instanceof ErrorReply
        ? `server ${error.message.split(' ')[0]}`
        : String((error as { code?: unknown }).code ?? 'untyped');
    if (code === 'untyped') untyped.add(String(error));
    failures.set(code, (failures.get(code) ?? 0) + 1);
  };
  for (let seq = 0; sent < TOTAL; seq++) {
    const value = `${index}:${seq}`;
    sent += 2;
    try {
      await redis.set(key, value);
      acknowledged = value;
      mayHaveRun.clear();
      ok++;
    } catch (error) {
      fail(error);
      if (!(error instanceof RedisUnavailableError)) mayHaveRun.add(value);
    }
    try {
      const got = await redis.get(key);
      ok++;
      if (got !== acknowledged && !mayHaveRun.has(got as string)) wrong++;
    } catch (error) {
      fail(error);
      await sleep(5);
    }
  }
}

const faults: [string, () => Promise<void>][] = [
  ['cut', async () => proxy.cut()],
  [
    'blackhole 1.5 s',
    async () => {
      proxy.blackhole();
      await sleep(1500);
      await proxy.restore();
    },
  ],
  [
    'refuse 0.5 s + cut',
    async () => {
      await proxy.refuse();
      proxy.cut();
      await sleep(500);
      await proxy.restore();
    },
  ],
  [
    'latency 20 ms for 1 s',
    async () => {
      proxy.latency(20);
      await sleep(1000);
      await proxy.restore();
    },
  ],
  [
    'SIGKILL + restart',
    async () => {
      await server.kill();
      await sleep(500);
      await server.restart();
    },
  ],
];

const started = performance.now();
const loops = Array.from({ length: CALLERS }, (_, index) => caller(index));
let baseline: number | undefined;
console.log(`soak: ${TOTAL.toLocaleString()} commands, ${CALLERS} callers, a fault every ${STEP.toLocaleString()}`);
console.log('commands     heap MB   growth MB  elapsed s  fault');
for (let mark = STEP, round = 0; mark <= TOTAL; mark += STEP, round++) {
  while (sent < mark && sent < TOTAL) await sleep(20);
  const heap = heapMb();
  baseline ??= heap;
  const [name, inject] = faults[round % faults.length] as [string, () => Promise<void>];
  const elapsed = ((performance.now() - started) / 1000).toFixed(1);
  console.log(
    `${String(Math.min(sent, TOTAL)).padStart(9)}  ${heap.toFixed(2).padStart(8)}  ${(heap - baseline).toFixed(2).padStart(10)}  ${elapsed.padStart(9)}  ${mark < TOTAL ? name : ''}`,
  );
  if (mark < TOTAL) await inject();
}
await Promise.all(loops);
await pool.close();
await proxy.stop();
await server.stop();
const growth = heapMb() - (baseline ?? 0);
console.log(
  `soak: ${ok.toLocaleString()} ok, ${wrong} wrong replies, failures ${JSON.stringify(Object.fromEntries(failures))}`,
);
for (const message of untyped) console.log(`soak: untyped failure: ${message}`);
console.log(`soak: heap growth ${growth.toFixed(2)} MB after close (limit ${LIMIT_MB} MB)`);
const passed = growth < LIMIT_MB && wrong === 0 && !failures.has('untyped');
console.log(passed ? 'soak: PASS' : 'soak: FAIL');
process.exitCode = passed ? 0 : 1;
