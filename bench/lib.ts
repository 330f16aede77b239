/**
 * What every benchmark section shares: interleaved rounds on a noisy machine, medians, paired
 * ratios and markdown tables.
 */
import { createLogger, loadSettings, type SettingsInput } from '../src/index.js';

/** Rounds per measurement (`BENCH_ROUNDS`) and seconds per slice (`BENCH_SECONDS`). */
export const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
export const SECONDS = Number(process.env.BENCH_SECONDS ?? 0.5);
export const VALUE = 'v'.repeat(100);
export const silent = createLogger('silent');

/**
 * `BENCH_BASELINE=<directory>`: another build of this package (its `dist/`, say of the previous
 * commit) runs as one more contender in each section, so a change's cost shows as a paired ratio
 * in one run.
 */
export const BASELINE = process.env.BENCH_BASELINE;

/** A pool of the baseline build, opened on `url` with the bench's settings and `input`. */
export async function baselinePool(url: string, input: Omit<SettingsInput, 'redisDecodeResponses'> = {}) {
  const baseline = (await import(`${BASELINE}/dist/index.js`)) as typeof import('../src/index.js');
  const pool = new baseline.RedisPool<true>({ logger: silent });
  const settings = baseline.loadSettings(
    { serviceName: 'bench', logLevel: 'silent', redisUrl: url, ...input, redisDecodeResponses: true },
    { env: {}, envFile: false },
  );
  return { pool, client: await pool.getClient(settings) };
}

/** Settings for the pool under test, with nothing from the environment. */
export function benchSettings(url: string, input: Omit<SettingsInput, 'redisDecodeResponses'> = {}) {
  return loadSettings(
    { serviceName: 'bench', logLevel: 'silent', redisUrl: url, ...input, redisDecodeResponses: true },
    { env: {}, envFile: false },
  );
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

/** The `q` quantile (0–1) of `values`. */
export function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

export const format = (n: number) => Math.round(n).toLocaleString('en-US');

/** Runs `workers` loops of `step` for `SECONDS`; returns steps per second. */
export async function rate(workers: number, step: (worker: number) => Promise<unknown>): Promise<number> {
  const deadline = performance.now() + SECONDS * 1000;
  let steps = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async (_, worker) => {
      while (performance.now() < deadline) {
        await step(worker);
        steps++;
      }
    }),
  );
  return steps / ((performance.now() - started) / 1000);
}

/** Samples per contender, one per round, in round order. */
export type Samples = Map<string, number[]>;

/**
 * Runs `measure` for every contender once per round, in an order that rotates from round to
 * round, so slow stretches of the machine fall on all of them alike.
 */
export async function interleave<C extends { name: string }>(
  label: string,
  contenders: readonly C[],
  measure: (contender: C) => Promise<number>,
): Promise<Samples> {
  const samples: Samples = new Map(contenders.map(({ name }) => [name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (let turn = 0; turn < contenders.length; turn++) {
      const contender = contenders[(round + turn) % contenders.length] as C;
      process.stderr.write(`\r${`${label}, round ${round + 1}/${ROUNDS}: ${contender.name}`.padEnd(110)}`);
      samples.get(contender.name)?.push(await measure(contender));
    }
  }
  process.stderr.write(`\r${''.padEnd(110)}\r`);
  return samples;
}

/** The median over rounds of `name`'s sample divided by `other`'s in the same round. */
export function pairedRatio(samples: Samples, name: string, other: string): number {
  const theirs = samples.get(other) ?? [];
  return median((samples.get(name) ?? []).map((value, round) => value / (theirs[round] as number)));
}

/** A markdown table of the medians, ranges and paired ratios against each of `against`. */
export function table(samples: Samples, unit: string, against: readonly [label: string, name: string][]): string {
  const header = `| client | ${unit} (median) | min–max | ${against.map(([label]) => label).join(' | ')} |`;
  const rule = `|---|---:|---:|${against.map(() => '---:').join('|')}|`;
  const rows = [...samples].map(([name, values]) => {
    const ratios = against.map(([, other]) => pairedRatio(samples, name, other).toFixed(2));
    return `| ${name} | ${format(median(values))} | ${format(Math.min(...values))}–${format(Math.max(...values))} | ${ratios.join(' | ')} |`;
  });
  return [header, rule, ...rows].join('\n');
}

/** One line per target: the measured ratio and whether it meets the goal. */
export function target(what: string, ratio: number, goal: string, met: boolean): string {
  return `- ${what}: ${ratio.toFixed(3)}× (target ${goal}): ${met ? 'met' : 'NOT met'}`;
}

/** What the throughput sections drive: a client, a pool's client or a ceiling. */
export interface Target {
  set(key: string, value: string): Promise<unknown>;
  get(key: string): Promise<unknown>;
}

/** Commands per second of `inFlight` workers, each looping SET then GET of `VALUE` on a key of its own. */
export function setThenGet(client: Target, inFlight: number): Promise<number> {
  return rate(inFlight, async (worker) => {
    await client.set(`bench:${worker}`, VALUE);
    await client.get(`bench:${worker}`);
  }).then((loops) => loops * 2);
}
