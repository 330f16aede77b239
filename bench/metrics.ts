/**
 * What metrics cost the shared client: each slice runs in a fresh process (bench/metrics-child.ts),
 * with OpenTelemetry off or on, alternating round by round, so the ratio is paired.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { RedisServer } from '../src/testing/index.js';
import { interleave, pairedRatio, table, target } from './lib.js';

const child = fileURLToPath(new URL('./metrics-child.js', import.meta.url));
const OFF = 'shared client, metrics off';
const POOL = 'shared client, the pool’s instruments (enableOpenTelemetry())';
const ALL = 'shared client, those and node-redis’s metrics, command durations included (OpenTelemetry.init())';

export async function metricsBench(server: RedisServer): Promise<void> {
  console.log('## Metrics\n');
  for (const inFlight of [50, 1000]) {
    const contenders = [
      { name: OFF, mode: 'off' },
      { name: POOL, mode: 'pool' },
      { name: ALL, mode: 'all' },
    ];
    const samples = await interleave(`metrics, ${inFlight} in flight`, contenders, async ({ mode }) => {
      const output = execFileSync(process.execPath, [child, server.url, mode, String(inFlight)], { encoding: 'utf8' });
      return (JSON.parse(output.trim().split('\n').at(-1) as string) as { rate: number }).rate;
    });
    console.log(`SET+GET of 100 B, ${inFlight} in flight, ops/s, each slice in a process of its own:\n`);
    console.log(table(samples, 'ops/s', [['× metrics off', OFF]]));
    console.log();
    for (const [what, name] of [
      ['the pool’s instruments', POOL],
      ['with node-redis’s metrics too', ALL],
    ] as const) {
      const ratio = pairedRatio(samples, name, OFF);
      console.log(target(`${what} against metrics off, ${inFlight} in flight`, ratio, '≥ 0.85×', ratio >= 0.85));
    }
    console.log();
  }
}
