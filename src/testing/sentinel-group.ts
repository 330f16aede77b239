import { ask, waitFor } from './admin.js';
import { RedisServerStartError } from './errors.js';
import { type RedisServer, startRedisServer } from './redis-server.js';

/** Options of {@link startSentinelGroup}. */
export interface SentinelGroupOptions {
  /** Replicas of the primary. @default 1 */
  replicas?: number;
  /** Sentinels watching it; a majority of them is the quorum. @default 3 */
  sentinels?: number;
  /** The name the sentinels monitor the primary under. @default 'mymaster' */
  masterName?: string;
  /** Silence after which a sentinel deems a server down (`down-after-milliseconds`). @default 1000 */
  downAfterMs?: number;
  /** How long to wait for the group, and for each failover, in ms. @default 30000 */
  timeoutMs?: number;
}

/** A primary, its replicas and the sentinels watching them: real processes on loopback. */
export interface SentinelGroup {
  readonly masterName: string;
  /** Every data server, the primary among them; which one is primary changes with failovers. */
  readonly servers: readonly RedisServer[];
  readonly sentinels: readonly RedisServer[];
  /** `REDIS_SENTINELS` for this group: `127.0.0.1:<port>,…`. */
  readonly sentinelAddresses: string;
  /** The server the sentinels currently name as primary. */
  master(): Promise<RedisServer>;
  /**
   * `SENTINEL FAILOVER`: promotes a replica, and resolves once the sentinels name it and it
   * answers as a primary.
   */
  failover(): Promise<{ from: RedisServer; to: RedisServer }>;
  /** Kills the primary with SIGKILL and resolves once the sentinels have promoted a replica. */
  killMaster(): Promise<{ from: RedisServer; to: RedisServer }>;
  /** Stops every process and removes their directories. */
  stop(): Promise<void>;
}

/**
 * Starts a primary, `replicas` replicas and `sentinels` sentinels on free loopback ports, and
 * resolves once every replica is in sync and every sentinel knows every replica and every other
 * sentinel, so that both `SENTINEL FAILOVER` and an automatic failover can run.
 *
 * @example
 * const group = await startSentinelGroup({ replicas: 1, sentinels: 3 });
 * const settings = { redisSentinels: group.sentinelAddresses, redisSentinelMaster: group.masterName };
 */
export async function startSentinelGroup(options: SentinelGroupOptions = {}): Promise<SentinelGroup> {
  const { replicas = 1, sentinels = 3, masterName = 'mymaster', downAfterMs = 1000, timeoutMs = 30_000 } = options;
  const started: RedisServer[] = [];
  const stop = async () => {
    await Promise.all(started.map((server) => server.stop()));
  };
  try {
    // Replicas sync at once instead of after the default 5 s delay.
    const fast = ['--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '0'];
    const primary = await startRedisServer({ args: fast });
    started.push(primary);
    const servers = [primary];
    for (let i = 0; i < replicas; i++) {
      const replica = await startRedisServer({ args: [...fast, '--replicaof', '127.0.0.1', String(primary.port)] });
      started.push(replica);
      servers.push(replica);
    }
    const quorum = Math.floor(sentinels / 2) + 1;
    const watchers: RedisServer[] = [];
    for (let i = 0; i < sentinels; i++) {
      const sentinel = await startRedisServer({
        sentinel: [
          `sentinel monitor ${masterName} 127.0.0.1 ${primary.port} ${quorum}`,
          `sentinel down-after-milliseconds ${masterName} ${downAfterMs}`,
          `sentinel failover-timeout ${masterName} ${Math.max(3 * downAfterMs, 3000)}`,
          `sentinel parallel-syncs ${masterName} ${replicas}`,
        ],
      });
      started.push(sentinel);
      watchers.push(sentinel);
    }

    const until = (what: string, check: () => Promise<boolean>) => waitFor('sentinel group', what, timeoutMs, check);
    /** The port of the primary `sentinel` names. */
    const masterPortSeenBy = async (sentinel: RedisServer) => {
      const [, port] = await ask<string[]>(sentinel, ['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', masterName]);
      return Number(port);
    };
    const master = async () => {
      const port = await masterPortSeenBy(watchers[0] as RedisServer);
      const found = servers.find((server) => server.port === port);
      if (!found) throw new RedisServerStartError(`The sentinels name an unknown primary on port ${port}`);
      return found;
    };
    const role = async (server: RedisServer) => (await ask<unknown[]>(server, ['ROLE']))[0];
    const inSync = async (server: RedisServer) =>
      /master_link_status:up/.test(await ask<string>(server, ['INFO', 'replication']));
    // A flat array of names and values in RESP2, a map in RESP3.
    const field = (reply: unknown, name: string) =>
      Number(
        Array.isArray(reply)
          ? reply[reply.indexOf(name) + 1]
          : reply instanceof Map
            ? reply.get(name)
            : (reply as Record<string, unknown>)[name],
      );
    const settled = async () => {
      for (const sentinel of watchers) {
        const state = await ask<unknown>(sentinel, ['SENTINEL', 'MASTER', masterName]);
        if (field(state, 'num-slaves') < replicas || field(state, 'num-other-sentinels') < sentinels - 1) return false;
      }
      return true;
    };
    /** Waits until every sentinel names the same new primary, and it answers as one. */
    const promoted = async (from: RedisServer) => {
      let to: RedisServer | undefined;
      await until('a replica was promoted', async () => {
        to = await master();
        if (to === from || (await role(to)) !== 'master') return false;
        for (const sentinel of watchers) if ((await masterPortSeenBy(sentinel)) !== to.port) return false;
        return true;
      });
      return { from, to: to as RedisServer };
    };

    await until('replicas in sync', async () => (await Promise.all(servers.slice(1).map(inSync))).every(Boolean));
    await until('sentinels know every replica and each other', settled);

    return {
      masterName,
      servers,
      sentinels: watchers,
      sentinelAddresses: watchers.map((sentinel) => `127.0.0.1:${sentinel.port}`).join(','),
      master,
      async failover() {
        const from = await master();
        // A replica must be in sync, and known to the sentinels as such, to be promoted.
        await until('a replica in sync', async () =>
          (await Promise.all(servers.filter((s) => s !== from).map(inSync))).some(Boolean),
        );
        // A sentinel refreshes what it knows of the replicas every few seconds; until then, just
        // after an earlier failover, it may judge none of them good enough (NOGOODSLAVE): ask again.
        await until('the sentinels take the failover', () =>
          ask(watchers[0] as RedisServer, ['SENTINEL', 'FAILOVER', masterName]).then(() => true),
        );
        return promoted(from);
      },
      async killMaster() {
        const from = await master();
        await from.kill();
        return promoted(from);
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
