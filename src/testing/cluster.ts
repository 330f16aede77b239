import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ask, waitFor } from './admin.js';
import { RedisServerStartError } from './errors.js';
import { type RedisServer, startRedisServer } from './redis-server.js';

const run = promisify(execFile);

/** Options of {@link startCluster}. */
export interface ClusterOptions {
  /** Primaries, which share the 16384 slots evenly. @default 3 */
  masters?: number;
  /** Replicas of each primary. @default 0 */
  replicasPerMaster?: number;
  /** `cluster-node-timeout`, in ms: how long a silent node takes to be deemed failed. @default 2000 */
  nodeTimeoutMs?: number;
  /** How long to wait for the cluster, and for each failover, in ms. @default 30000 */
  timeoutMs?: number;
}

/** A Redis Cluster of real processes on loopback. */
export interface Cluster {
  readonly nodes: readonly RedisServer[];
  /** `REDIS_CLUSTER_NODES` for this cluster: every node's `127.0.0.1:<port>`. */
  readonly nodeAddresses: string;
  /** The node that serves `slot` as primary now. */
  masterOf(slot: number): Promise<RedisServer>;
  /**
   * Moves `slot`, with its keys, to the primary `to`, the way `redis-cli --cluster reshard` does:
   * IMPORTING/MIGRATING, then MIGRATE of the keys in batches (callers meet ASK meanwhile), then
   * the new owner everywhere (callers meet MOVED).
   */
  migrateSlot(slot: number, to: RedisServer): Promise<void>;
  /** Makes a replica of the primary of `slot` take over (`CLUSTER FAILOVER`). Needs replicas. */
  failover(slot?: number): Promise<{ from: RedisServer; to: RedisServer }>;
  /** Kills the primary of `slot` with SIGKILL and waits until a replica has taken over. Needs replicas. */
  killMaster(slot?: number): Promise<{ from: RedisServer; to: RedisServer }>;
  /** Stops every node and removes their directories. */
  stop(): Promise<void>;
}

/**
 * Starts `masters × (1 + replicasPerMaster)` nodes in cluster mode, joins them with
 * `redis-cli --cluster create`, and resolves once every node reports `cluster_state:ok`.
 *
 * @example
 * const cluster = await startCluster({ masters: 3 });
 * const settings = { redisClusterNodes: cluster.nodeAddresses };
 */
export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const { masters = 3, replicasPerMaster = 0, nodeTimeoutMs = 2000, timeoutMs = 30_000 } = options;
  const nodes: RedisServer[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((node) => node.stop()));
  };
  const until = (what: string, check: () => Promise<boolean>) => waitFor('cluster', what, timeoutMs, check);
  const alive = () => nodes.filter((node) => node.pid !== undefined);
  const allOk = async () => {
    for (const node of alive()) {
      if (!/cluster_state:ok/.test(await ask<string>(node, ['CLUSTER', 'INFO']))) return false;
    }
    return true;
  };
  try {
    for (let i = 0; i < masters * (1 + replicasPerMaster); i++) {
      nodes.push(
        await startRedisServer({
          args: [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            'nodes.conf',
            '--cluster-node-timeout',
            String(nodeTimeoutMs),
            '--repl-diskless-sync',
            'yes',
            '--repl-diskless-sync-delay',
            '0',
          ],
        }),
      );
    }
    const addresses = nodes.map((node) => `127.0.0.1:${node.port}`);
    try {
      await run('redis-cli', [
        '--cluster',
        'create',
        ...addresses,
        '--cluster-replicas',
        String(replicasPerMaster),
        '--cluster-yes',
      ]);
    } catch (error) {
      throw new RedisServerStartError(
        `redis-cli --cluster create failed: ${(error as { stderr?: string }).stderr ?? error}`,
        {
          cause: error,
        },
      );
    }
    await until('every node reports cluster_state:ok', allOk);

    const byPort = (port: number) => nodes.find((node) => node.port === port) as RedisServer;
    /** The port of the primary that `node` believes serves `slot`. */
    const ownerSeenBy = async (node: RedisServer, slot: number) => {
      const ranges = await ask<[number, number, [string, number, ...unknown[]], ...unknown[]][]>(node, [
        'CLUSTER',
        'SLOTS',
      ]);
      const range = ranges.find(([from, to]) => slot >= from && slot <= to);
      return range && Number(range[2][1]);
    };
    const masterOf = async (slot: number) => {
      for (const node of alive()) {
        const port = await ownerSeenBy(node, slot);
        if (port !== undefined) return byPort(port);
      }
      throw new RedisServerStartError(`No node serves slot ${slot}`);
    };
    const nodeId = (node: RedisServer) => ask<string>(node, ['CLUSTER', 'MYID']);
    /** A replica of `master` that is connected to it (after a failover, the old primary turns into one). */
    const replicaOf = async (master: RedisServer) => {
      const id = await nodeId(master);
      let replica: RedisServer | undefined;
      await until(`a connected replica of the primary on port ${master.port}`, async () => {
        const lines = await ask<string[]>(master, ['CLUSTER', 'REPLICAS', id]);
        const line = lines.find((entry) => / connected/.test(entry) && !/fail/.test(entry));
        const port = Number(line?.split(' ')[1]?.split(':')[1]?.split('@')[0]);
        replica = nodes.find((node) => node.port === port && node.pid !== undefined);
        return (
          replica !== undefined && /master_link_status:up/.test(await ask<string>(replica, ['INFO', 'replication']))
        );
      });
      return replica as RedisServer;
    };
    const takenOver = async (slot: number, from: RedisServer) => {
      let to: RedisServer | undefined;
      await until(`a replica took over slot ${slot}`, async () => {
        to = await masterOf(slot);
        return to !== from && (await allOk());
      });
      return { from, to: to as RedisServer };
    };

    return {
      nodes,
      nodeAddresses: addresses.join(','),
      masterOf,
      async migrateSlot(slot, to) {
        const from = await masterOf(slot);
        if (from === to) return;
        const [fromId, toId] = await Promise.all([nodeId(from), nodeId(to)]);
        await ask(to, ['CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', fromId]);
        await ask(from, ['CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', toId]);
        for (;;) {
          const keys = await ask<string[]>(from, ['CLUSTER', 'GETKEYSINSLOT', String(slot), '100']);
          if (keys.length === 0) break;
          await ask(from, ['MIGRATE', '127.0.0.1', String(to.port), '', '0', '5000', 'KEYS', ...keys]);
        }
        for (const node of [to, from, ...alive().filter((node) => node !== to && node !== from)]) {
          // Replicas refuse SETSLOT; they learn the new owner from their primaries, which the
          // wait below checks.
          await ask(node, ['CLUSTER', 'SETSLOT', String(slot), 'NODE', toId]).catch(() => undefined);
        }
        await until(`every node sees slot ${slot} on port ${to.port}`, async () => {
          for (const node of alive()) if ((await ownerSeenBy(node, slot)) !== to.port) return false;
          return true;
        });
      },
      async failover(slot = 0) {
        const from = await masterOf(slot);
        const replica = await replicaOf(from);
        await ask(replica, ['CLUSTER', 'FAILOVER']);
        return takenOver(slot, from);
      },
      async killMaster(slot = 0) {
        const from = await masterOf(slot);
        await replicaOf(from);
        await from.kill();
        return takenOver(slot, from);
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
