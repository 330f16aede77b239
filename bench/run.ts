/**
 * `npm run bench`: the pool against the other ways to use Redis from Node, side by side in one
 * run, against one throwaway redis-server.
 *
 * This machine is noisy (the client, the server and V8's GC threads share two cores), so each
 * measurement is many short rounds. In each round every contender runs one slice, in an order
 * that rotates from round to round. Ratios are paired: each round's ratio between two
 * contenders, measured seconds apart, then the median over the rounds. `BENCH_ROUNDS` (default
 * 15) and `BENCH_SECONDS` (seconds per slice, default 0.5) set the length of the run;
 * `BENCH_ONLY=shared`, `leases`, `metrics`, `large`, `mixed`, `cluster`, `replicas`, `open`, `deadlines` or `cache` runs one
 * section.
 */
import { execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { startRedisServer } from '../src/testing/index.js';
import { cacheBench } from './cache.js';
import { clusterBench } from './cluster.js';
import { deadlinesBench } from './deadlines.js';
import { largeValuesBench } from './large-values.js';
import { leasesBench } from './leases.js';
import { ROUNDS, SECONDS } from './lib.js';
import { metricsBench } from './metrics.js';
import { mixedValuesBench } from './mixed-values.js';
import { openBench } from './open.js';
import { replicasBench } from './replicas.js';
import { sharedClientBench } from './shared-client.js';

const only = process.env.BENCH_ONLY;
const version = execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).match(/v=(\S+)/)?.[1];
console.log(
  `Machine: ${cpus()[0]?.model} × ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB; ` +
    `Node ${process.version}; redis-server ${version}. ${ROUNDS} rounds, ${SECONDS} s slices.\n`,
);
const server = await startRedisServer();
try {
  if (only === undefined || only === 'shared') await sharedClientBench(server);
  if (only === undefined || only === 'leases') await leasesBench(server);
  if (only === undefined || only === 'metrics') await metricsBench(server);
  if (only === undefined || only === 'large') await largeValuesBench(server);
  if (only === undefined || only === 'mixed') await mixedValuesBench(server);
  if (only === undefined || only === 'cluster') await clusterBench();
  if (only === undefined || only === 'replicas') await replicasBench();
  if (only === undefined || only === 'open') await openBench(server);
  if (only === undefined || only === 'deadlines') await deadlinesBench(server);
  if (only === undefined || only === 'cache') await cacheBench(server);
} finally {
  await server.stop();
}
