/**
 * Replica reads in cluster mode (3 primaries, 1 replica each, started by `startCluster()`): the
 * pool's cluster client with `REDIS_READ_FROM=primary` (replicas off) against `replica-preferred`
 * and `any` (replicas on), on a read mix: N workers each loop 9 GETs then 1 SET of 100 B on keys
 * of their own, so the keys spread over the three shards. With every process on the same cores,
 * replicas add servers but no CPU: the figures show what routing reads costs or gains here, not
 * what spare machines would.
 */
import { RedisPool } from '../src/index.js';
import type { ReadFrom } from '../src/settings/parsers.js';
import { startCluster } from '../src/testing/index.js';
import { benchSettings, interleave, rate, silent, type Target, table, VALUE } from './lib.js';

const MODES: readonly ReadFrom[] = ['primary', 'replica-preferred', 'any'];
const name = (mode: ReadFrom) =>
  `redis-pool, cluster, REDIS_READ_FROM=${mode}${mode === 'primary' ? ' (replicas off)' : ''}`;
const LEVELS = [50, 1000] as const;
const KEYS = 64;

/** Commands per second of `inFlight` workers, each looping 9 GETs then 1 SET on keys of its own. */
function readMix(client: Target, inFlight: number): Promise<number> {
  return rate(inFlight, async (worker) => {
    for (let i = 0; i < 9; i++) await client.get(`mix:${(worker + i) % KEYS}`);
    await client.set(`mix:${worker % KEYS}`, VALUE);
  }).then((loops) => loops * 10);
}

export async function replicasBench(): Promise<void> {
  const cluster = await startCluster({ masters: 3, replicasPerMaster: 1 });
  const pools: RedisPool<true>[] = [];
  try {
    const opened: { name: string; target: Target }[] = [];
    for (const mode of MODES) {
      const pool = new RedisPool<true>({ logger: silent });
      pools.push(pool);
      const client = await pool.getClient(
        benchSettings('redis://127.0.0.1/0', { redisClusterNodes: cluster.nodeAddresses, redisReadFrom: mode }),
      );
      opened.push({ name: name(mode), target: client });
    }
    // Each replica's node connection is ready before the first round.
    for (const pool of pools) {
      for (let i = 0; i < 400; i++) {
        const replicas = Object.values(pool.stats().replicas ?? {});
        if (replicas.every((replica) => replica.state === 'ready')) break;
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    }
    for (const { target: client } of opened) await readMix(client, 50); // warm-up, discarded
    const results = new Map<number, Awaited<ReturnType<typeof interleave>>>();
    for (const inFlight of LEVELS) {
      results.set(
        inFlight,
        await interleave(`replica reads, ${inFlight} in flight`, opened, ({ target: client }) =>
          readMix(client, inFlight),
        ),
      );
    }
    console.log('## Cluster read mix, replicas on and off (3 primaries, 1 replica each)\n');
    for (const inFlight of LEVELS) {
      console.log(`9 GETs + 1 SET of 100 B per loop, ${inFlight} in flight, ops/s:\n`);
      console.log(
        table(results.get(inFlight) as Awaited<ReturnType<typeof interleave>>, 'ops/s', [
          ['× replicas off', name('primary')],
        ]),
      );
      console.log();
    }
  } finally {
    await Promise.all(pools.map((pool) => pool.close()));
    await cluster.stop();
  }
}
