/**
 * `BENCH_ONLY=deadlines`: how late a per-call deadline rejects its caller, on each kind of
 * connection. Each trial sends a Lua script the server takes 150 ms for, cut at 30 ms by
 * `withCommandOptions({ timeout })` or by an abort signal fired 30 ms in, while 50 other
 * commands are in flight on the same client; the lateness is the time from the deadline to the
 * rejection. Target: within 20 ms (issue 22). Beside it, how late a plain `setTimeout()` of the
 * same length fires in the same trial: what this machine's event loop allows.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { RedisPool } from '../src/index.js';
import { type RedisServer, startCluster } from '../src/testing/index.js';
import { benchSettings, quantile, silent } from './lib.js';

const TRIALS = Number(process.env.BENCH_DEADLINE_TRIALS ?? 30);
const CUT_MS = 30;
const BUSY = `local t = redis.call('TIME')
local start = t[1] * 1000 + t[2] / 1000
repeat t = redis.call('TIME') until t[1] * 1000 + t[2] / 1000 - start >= tonumber(ARGV[1])
return 'late'`;

interface Client {
  withCommandOptions(options: { timeout?: number; abortSignal?: AbortSignal }): Client;
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  get(key: string): Promise<unknown>;
}
const asClient = (client: unknown) => client as Client;

/** Milliseconds from the deadline to the rejection, and of a plain timer's lateness, one per trial. */
async function lateness(client: Client, cut: 'timeout' | 'abort'): Promise<{ late: number[]; timer: number[] }> {
  const late: number[] = [];
  const timer: number[] = [];
  for (let trial = 0; trial < TRIALS; trial++) {
    const key = `{deadline-bench}:${trial}`;
    const controller = new AbortController();
    const view = client.withCommandOptions(
      cut === 'timeout' ? { timeout: CUT_MS } : { abortSignal: controller.signal },
    );
    const started = performance.now();
    const control = sleep(CUT_MS).then(() => performance.now() - started - CUT_MS);
    const slow = view.eval(BUSY, { keys: [key], arguments: ['150'] }).then(
      () => Number.NaN,
      () => performance.now() - started - CUT_MS,
    );
    const others = Array.from({ length: 50 }, (_, i) => client.get(`${key}:${i}`));
    if (cut === 'abort') setTimeout(() => controller.abort(), CUT_MS);
    late.push(await slow);
    timer.push(await control);
    await Promise.all(others);
    // The server finishes the script before the next trial.
    await sleep(150);
  }
  return { late, timer };
}

async function report(kind: string, client: Client): Promise<void> {
  for (const cut of ['timeout', 'abort'] as const) {
    const { late, timer } = await lateness(client, cut);
    const missed = late.filter(Number.isNaN).length;
    const p99 = quantile(late, 0.99);
    const met = missed === 0 && p99 <= 20;
    const ms = (values: number[], q: number) => quantile(values, q).toFixed(1).padStart(6);
    console.log(
      `| ${kind.padEnd(22)} | ${cut.padEnd(7)} | ${ms(late, 0.5)} | ${ms(late, 0.99)} | ${ms(timer, 0.5)} | ${ms(timer, 0.99)} | ${
        missed === 0 ? (met ? 'met' : 'NOT met') : `${missed} not cut`
      } |`,
    );
  }
}

export async function deadlinesBench(server: RedisServer): Promise<void> {
  console.log(
    `Deadline lateness, ms from the deadline to the rejection, ${TRIALS} trials each, 50 other commands in flight (target p99 ≤ 20 ms):\n`,
  );
  console.log('| connection             | cut     |    p50 |    p99 | timer p50 | timer p99 | target |');
  console.log('| ---------------------- | ------- | -----: | -----: | -----: | -----: | ------ |');
  const pool = new RedisPool<true>({ logger: silent });
  try {
    const client = await pool.getClient(benchSettings(server.url));
    await report('shared client', asClient(client));
    await pool.withConnection((lease) => report('lease', asClient(lease)));
    const duplicate = client.duplicate();
    await duplicate.connect();
    await report('duplicate', asClient(duplicate));
  } finally {
    pool.destroy();
  }
  const cluster = await startCluster({ masters: 3 });
  const clustered = new RedisPool<true>({ logger: silent });
  try {
    const client = await clustered.getClient(
      benchSettings('redis://127.0.0.1/0', { redisClusterNodes: cluster.nodeAddresses }),
    );
    await report('cluster client', asClient(client));
    await clustered.withConnection({ key: '{deadline-bench}' }, (lease) => report('cluster lease', asClient(lease)));
  } finally {
    clustered.destroy();
    await cluster.stop();
  }
  console.log();
}
