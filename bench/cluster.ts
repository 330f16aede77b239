/**
 * Cluster mode (3 primaries started by `startCluster()`): the pool's cluster client against
 * node-redis's `createCluster` and ioredis's `Cluster`, and the cluster ceiling. The workload is
 * the shared client's: N workers loop SET then GET of 100 B, each on a key of its own, so the
 * keys spread over the three primaries.
 */
import { Cluster as IORedisCluster } from 'ioredis';
import { createCluster } from 'redis';
import { RedisPool } from '../src/index.js';
import { startCluster } from '../src/testing/index.js';
import { CeilingCluster } from './ceiling.js';
import {
  BASELINE,
  baselinePool,
  benchSettings,
  interleave,
  pairedRatio,
  setThenGet,
  silent,
  type Target,
  table,
  target,
} from './lib.js';

const OURS = 'redis-pool, cluster mode (reply timeout on)';
const NODE_REDIS = 'node-redis createCluster, timeout off';
const IOREDIS = 'ioredis Cluster, auto-pipelining';
const CEILING = 'ceiling: a minimal pipelined RESP client per primary (bench/ceiling.ts)';
const AT_BASELINE = 'redis-pool, cluster mode, at BENCH_BASELINE';
const LEVELS = [1, 50, 1000] as const;

export async function clusterBench(): Promise<void> {
  const cluster = await startCluster({ masters: 3 });
  try {
    const [first] = cluster.nodes;
    const port = first?.port as number;
    const rootNodes = cluster.nodes.map((node) => ({ url: node.url }));
    const pool = new RedisPool<true>({ logger: silent });
    const ours = await pool.getClient(
      benchSettings('redis://127.0.0.1/0', { redisClusterNodes: cluster.nodeAddresses }),
    );
    // The cluster's command options override its node clients'; its type leaves the timeout out.
    const nodeRedis = createCluster({ rootNodes, commandOptions: { timeout: 0 } } as Parameters<
      typeof createCluster
    >[0]);
    await nodeRedis.connect();
    const ioredis = new IORedisCluster(
      cluster.nodes.map((node) => ({ host: '127.0.0.1', port: node.port })),
      { enableAutoPipelining: true, lazyConnect: true },
    );
    await ioredis.connect();
    const ceiling = await CeilingCluster.open('127.0.0.1', port);
    const baseline = BASELINE
      ? await baselinePool('redis://127.0.0.1/0', { redisClusterNodes: cluster.nodeAddresses })
      : undefined;
    const opened: { name: string; target: Target }[] = [
      { name: CEILING, target: ceiling },
      { name: OURS, target: ours },
      { name: NODE_REDIS, target: nodeRedis as unknown as Target },
      { name: IOREDIS, target: ioredis },
      ...(baseline ? [{ name: AT_BASELINE, target: baseline.client as Target }] : []),
    ];
    for (const { target: client } of opened) await setThenGet(client, 50); // warm-up, discarded
    const results = new Map<number, Awaited<ReturnType<typeof interleave>>>();
    for (const inFlight of LEVELS) {
      results.set(
        inFlight,
        await interleave(`cluster, ${inFlight} in flight`, opened, ({ target: client }) =>
          setThenGet(client, inFlight),
        ),
      );
    }
    await Promise.all([pool.close(), nodeRedis.close(), ioredis.quit(), baseline?.pool.close()]);
    ceiling.close();

    console.log('## Cluster mode (3 primaries)\n');
    for (const inFlight of LEVELS) {
      console.log(`SET+GET of 100 B, ${inFlight} in flight, ops/s:\n`);
      console.log(
        table(results.get(inFlight) as Awaited<ReturnType<typeof interleave>>, 'ops/s', [
          ['× ceiling', CEILING],
          ['× createCluster', NODE_REDIS],
          ['× ioredis', IOREDIS],
          ...(baseline ? ([['× baseline', AT_BASELINE]] as [string, string][]) : []),
        ]),
      );
      console.log();
    }
    console.log('Targets (design §7), cluster mode with its reply timeout on, paired medians:\n');
    for (const inFlight of [50, 1000]) {
      const samples = results.get(inFlight) as Awaited<ReturnType<typeof interleave>>;
      const versusIoredis = pairedRatio(samples, OURS, IOREDIS);
      const versusNodeRedis = pairedRatio(samples, OURS, NODE_REDIS);
      console.log(
        target(`${inFlight} in flight, against ioredis Cluster`, versusIoredis, '≥ 1.5×', versusIoredis >= 1.5),
      );
      console.log(
        target(`${inFlight} in flight, against createCluster`, versusNodeRedis, '≥ 1×', versusNodeRedis >= 1),
      );
    }
    console.log();
  } finally {
    await cluster.stop();
  }
}
