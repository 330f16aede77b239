/**
 * The clients node-redis's cluster client makes for its nodes, given what the pool's own
 * connections have: protection against replies that cannot be used, the fast path, coalesced
 * writes, and a reply watchdog in place of a timer per command.
 */
import { protectClient } from '../client/connection.js';
import type { StringClient } from '../client/types.js';
import { ReplyMonitor } from '../connections/reply-monitor.js';
import { CommandTimeoutError } from '../errors.js';
import type { Logger } from '../logger.js';
import {
  coalesceWrites,
  decoderTap,
  flushAll,
  installFastPath,
  type KillSocket,
  pendingCount,
} from '../node-redis/node-redis.js';
import type { CommonAppSettings, NodeAddress } from '../settings.js';

/** A node as node-redis's cluster client lists it: its address, and its client once made. */
export type ClusterNode = NodeAddress & { client?: StringClient | undefined };

export class ClusterNodeClients {
  readonly #settings: CommonAppSettings;
  readonly #logger: Logger;
  /** Each node client adopted, with its reply watchdog and what ends its socket. */
  readonly #clients = new Map<StringClient, { url: string; monitor: ReplyMonitor; killer: KillSocket }>();

  constructor(settings: CommonAppSettings, logger: Logger) {
    this.#settings = settings;
    this.#logger = logger;
  }

  /**
   * Adopts the node clients not seen before. A node client connects after it is made and before
   * it decodes a reply, so adopting at each node's connect is in time.
   */
  adopt(nodes: readonly ClusterNode[]): void {
    for (const { client, host, port } of nodes) {
      if (!client || this.#clients.has(client)) continue;
      const killer = protectClient(client, {
        url: this.#settings.redisUrl,
        logger: this.#logger,
        role: 'cluster-node',
        fences: this.#settings.redisReplyFences,
      });
      installFastPath(client, undefined);
      coalesceWrites(client);
      const monitor = new ReplyMonitor(this.#settings.redisSocketTimeout * 1000, 0);
      monitor.attach(decoderTap(client));
      this.#clients.set(client, { url: `redis://${host}:${port}`, monitor, killer });
    }
  }

  /**
   * The watchdogs' tick. A node client with commands outstanding and no reply for
   * `REDIS_SOCKET_TIMEOUT` has them rejected with `CommandTimeoutError` and its socket ended, and
   * node-redis reconnects it. Clients no longer among `nodes` are forgotten.
   */
  watch(nodes: readonly ClusterNode[]): void {
    const current = new Set(nodes.map((node) => node.client));
    for (const [client, { url, monitor, killer }] of this.#clients) {
      if (!current.has(client)) {
        this.#clients.delete(client);
        continue;
      }
      const pending = pendingCount(client);
      if (monitor.tick(pending) !== 'hung') continue;
      const error = new CommandTimeoutError(url, this.#settings.redisSocketTimeout * 1000, pending);
      this.#logger.warn({ err: error, url: this.#settings.redisUrl }, 'Redis cluster node hung; reconnecting it');
      flushAll(client, error);
      killer.kill(error);
    }
  }
}
