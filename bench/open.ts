/**
 * What opening a pool costs, and what the node-redis self-check adds to it: each slice in a fresh
 * process (bench/open-child.ts), the modes alternating round by round, so the ratio is paired.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { RedisServer } from '../src/testing/index.js';
import { interleave, median, pairedRatio, table } from './lib.js';

const child = fileURLToPath(new URL('./open-child.js', import.meta.url));
const OPEN = 'first getClient() of a process, self-check included';
const CHECKED = 'first getClient() of a process, self-check already run';
const CHECK = 'the self-check of clients alone';
const CLUSTER = 'the self-check of the cluster client alone (cluster mode only)';

export async function openBench(server: RedisServer): Promise<void> {
  console.log('## Opening, and the node-redis self-check\n');
  const contenders = [
    { name: OPEN, mode: 'open' },
    { name: CHECKED, mode: 'open-checked' },
    { name: CHECK, mode: 'check' },
    { name: CLUSTER, mode: 'check-cluster' },
  ];
  const samples = await interleave('opening', contenders, async ({ mode }) => {
    const output = execFileSync(process.execPath, [child, server.url, mode], { encoding: 'utf8' });
    return (JSON.parse(output.trim().split('\n').at(-1) as string) as { ms: number }).ms;
  });
  console.log('Milliseconds, each slice in a process of its own:\n');
  console.log(table(samples, 'ms', [['× self-check already run', CHECKED]]));
  const added = median((samples.get(OPEN) ?? []).map((ms, round) => ms - (samples.get(CHECKED)?.[round] ?? 0)));
  console.log(
    `\n- the self-check adds ${added.toFixed(0)} ms (paired median) to a process's first getClient(), ` +
      `${pairedRatio(samples, OPEN, CHECKED).toFixed(2)}× its time; later openings pay nothing\n`,
  );
}
