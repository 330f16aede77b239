import calculateSlot from 'cluster-key-slot';
import type { RedisClientOptions, RedisClusterOptions } from 'redis';
import { answerHits } from '../client/cache.js';
import { blockingTimeoutMs } from '../client/commands.js';
import { openWithin, pingWithin } from '../client/connect.js';
import { deadlineOf, sendWithin } from '../client/deadlines.js';
import { type ClientExtras, mapNodeAddress, withExtras } from '../client/extras.js';
import { CLUSTER_EVENTS, forwardEvents, ownListeners, shareLifecycle } from '../client/facades.js';
import { clientOptions } from '../client/options.js';
import type { ClusterClient } from '../client/types.js';
import { ConnectionBudget } from '../connections/budget.js';
import type { Closes } from '../connections/closes.js';
import type { ConnectionLease } from '../connections/leasable-connection.js';
import { type LeasableConnection, openLeasable } from '../connections/leasable-connection.js';
import { EMPTY_LEASE_STATS, type LeaseEvents, type LeaseOptions, type LeaseStats } from '../connections/lease.js';
import { LeasePool } from '../connections/leases.js';
import type { ShardedPubSub } from '../connections/pub-sub.js';
import { beforeDeadline } from '../deadline.js';
import { ClientUsageError, ConnectionLostError, PoolClosedError, RedisPoolError } from '../errors.js';
import type { Logger } from '../logger.js';
import {
  addWithAbortSignal,
  type ClusterExecute,
  chooseClusterNodes,
  createCluster,
  ErrorReply,
  killableSocket,
  layerClusterCommands,
  MaxCommandRedirectionsError,
  pendingCount,
  type SlotNode,
  type SlotShard,
  TimeoutError,
  WatchError,
} from '../node-redis/node-redis.js';
import type { DuplicateClient } from '../pool/duplicates.js';
import type { TopologyHealth } from '../pool/readiness.js';
import type { CommonAppSettings, NodeAddress } from '../settings.js';
import { type ClusterNode, ClusterNodeClients } from './cluster-nodes.js';
import { ClusterScan, installScanIterators } from './cluster-scan.js';
import { noReplica, PRIMARY, ReadRotation, readAgain } from './read-from.js';
import { AnyOfTarget, FixedTarget, type Target } from './target.js';
import type { ClusterNodeStats, Topology, TopologyContext, TopologyStats } from './topology.js';

type Cluster = ClusterClient;

/** Failures that reach cluster callers as they are: Redis's replies, and errors already typed. */
const PASSING = [ErrorReply, WatchError, MaxCommandRedirectionsError, RedisPoolError];

/**
 * Cluster mode: node-redis's own cluster client carries ordinary commands (it routes by slot and
 * follows MOVED and ASK), and each primary gets a `LeasePool` of its own for
 * `withConnection({ key })`, with a `ConnectionBudget` of `REDIS_MAX_CONNECTIONS` per node. The
 * subscriber connects to any primary that is up, within a budget of its own.
 */
export class ClusterTopology implements Topology {
  readonly #settings: CommonAppSettings;
  readonly #extras: ClientExtras | undefined;
  readonly #logger: Logger;
  readonly #events: LeaseEvents;
  readonly #cluster: Cluster;
  readonly #facade: Cluster;
  readonly #leases = new Map<string, LeasePool<LeasableConnection>>();
  readonly #closes: Closes;
  readonly #nodeClients: ClusterNodeClients;
  readonly #subscriberTarget: Target;
  /** Where replica-safe commands go (`REDIS_READ_FROM`). */
  readonly #reads: ReadRotation;
  /** 1 while the subscriber holds a connection (it counts in `total`), else 0. */
  #subscriberSlots = 0;
  #closed = false;

  constructor({ settings, logger, leaseEvents, closes, extras, cache }: TopologyContext) {
    this.#closes = closes;
    this.#settings = settings;
    this.#extras = extras;
    this.#logger = logger;
    this.#events = leaseEvents;
    this.#reads = new ReadRotation(settings.redisReadFrom);
    // The cluster client prefixes keys (REDIS_KEY_PREFIX) before it routes them; its node clients,
    // which run the commands it builds, must not prefix them again.
    const { socket, keyPrefix, ...defaults } = withExtras(clientOptions(settings, 'shared'), extras);
    const nodeAddressMap = extras?.client.nodeAddressMap;
    const { host: _host, port: _port, ...socketDefaults } = socket as Record<string, unknown>;
    // No per-command timer: each node client gets the pool's O(1) watchdog (cluster-nodes.ts).
    // node-redis adds the slot to every command's options, so that key is declared too (see
    // clientOptions on why every key is). The cluster's own options win over the node clients'.
    const commandOptions = { ...defaults.commandOptions, slotNumber: undefined };
    this.#cluster = createCluster<{}, {}, {}, 3, {}>({
      ...(extras?.scripts ? { scripts: extras.scripts } : {}),
      ...(extras?.functions ? { functions: extras.functions } : {}),
      // Typed as RESP3 throughout; with REDIS_PROTOCOL=2 a few replies take RESP2 shapes (see the setting).
      RESP: settings.redisProtocol as 3,
      // node-redis gives its one cache to every node client, and empties it at each new topology.
      ...(cache ? { clientSideCache: cache } : {}),
      keyPrefix,
      commandOptions,
      // READONLY connections to every replica, for REDIS_READ_FROM; the pool chooses among them.
      useReplicas: this.#reads.replicas,
      rootNodes: (settings.redisClusterNodes ?? []).map(({ host, port }) => ({ socket: { host, port } })),
      // commandOptions reaches the node clients, though the type of `defaults` leaves it out.
      defaults: {
        ...defaults,
        socket: socketDefaults,
        commandOptions,
        disableOfflineQueue: false,
      } as RedisClusterOptions['defaults'],
      // Called for each node client the cluster makes: its socket is made killable, so that
      // protectClient() can end it when a reply cannot be used (see cluster-nodes.ts). The
      // caller's map (clientOptions.nodeAddressMap) says where a node announced at `address` is.
      nodeAddressMap: (address: string) => {
        const at = address.lastIndexOf(':');
        const { host, port } = mapNodeAddress(nodeAddressMap, address) ?? {
          host: address.slice(0, at),
          port: Number(address.slice(at + 1)),
        };
        return killableSocket({ host, port });
      },
    });
    this.#cluster.on('error', (error: unknown) =>
      logger.warn({ err: error, url: settings.redisUrl }, 'Redis cluster error'),
    );
    this.#nodeClients = new ClusterNodeClients(settings, logger);
    this.#cluster.on('node-connect', () => this.#nodeClients.adopt(this.#allNodes()));
    this.#layerCommands();
    if (this.#reads.replicas) {
      chooseClusterNodes(this.#cluster, {
        read: (shard) => {
          const node = this.#readNode(shard);
          if (node === undefined) throw noReplica(settings.redisUrl, `of ${shard.master.host}:${shard.master.port}`);
          return node;
        },
        keyless: (masters) => this.#keylessNode(masters),
      });
    }
    addWithAbortSignal(this.#cluster);
    const facade = Object.create(this.#cluster);
    shareLifecycle(facade, logger, "the pool's cluster client");
    ownListeners(facade);
    forwardEvents(this.#cluster, CLUSTER_EVENTS, () => facade);
    installScanIterators(
      facade,
      new ClusterScan(this.#cluster, (error) => this.#typed(error), settings.redisKeyPrefix),
    );
    if (cache) answerHits(facade, cache, settings.redisKeyPrefix);
    this.#facade = facade;
    this.#subscriberTarget = this.#anyPrimary();
  }

  /**
   * Discovers the cluster from `REDIS_CLUSTER_NODES` within the connect timeout, then opens
   * `REDIS_MIN_IDLE_CONNECTIONS` leasable connections to each primary.
   */
  async open(): Promise<void> {
    const cluster = this.#cluster;
    await openWithin(this.#settings, {
      open: () => cluster.connect().then(() => cluster.sendCommand(undefined, true, ['PING'])),
      destroy: () => this.destroy(),
    });
    for (const master of this.#masters()) this.#leasesFor(master).prewarm();
  }

  /**
   * The cluster client callers use: node-redis's `RedisCluster`, typed as the pool's client, with
   * the scan iterators its single-server client has (cluster-scan.ts).
   */
  get client(): Cluster {
    return this.#facade;
  }

  /** Runs `use` with an exclusive connection to the primary that serves `options.key` (prefixed by `REDIS_KEY_PREFIX`). */
  lease<T>(use: (lease: ConnectionLease) => Promise<T> | T, options: LeaseOptions): Promise<T> {
    if (options.key === undefined) {
      return Promise.reject(
        new ClientUsageError(
          'withConnection() in cluster mode needs the key the connection is for: withConnection({ key }, fn) ' +
            'lends a connection to the primary that serves it.',
        ),
      );
    }
    return this.#leaseFor(`${this.#settings.redisKeyPrefix ?? ''}${options.key}`, use, options);
  }

  /** Runs `use` with an exclusive connection to the primary that serves `key`, as the server stores it. */
  async #leaseFor<T>(
    key: string | Buffer,
    use: (lease: ConnectionLease) => Promise<T> | T,
    options: LeaseOptions,
  ): Promise<T> {
    if (this.#closed) throw new PoolClosedError();
    const master = this.#cluster.getSlotMaster(calculateSlot(key)) as NodeAddress;
    return this.#leasesFor(master).run(use, options);
  }

  get subscriberTarget(): Target {
    return this.#subscriberTarget;
  }

  /** The cluster client: it subscribes each shard channel on the node that owns its slot, and follows moves. */
  get shardedPubSub(): ShardedPubSub {
    return this.#cluster;
  }

  /** The subscriber's connection goes to a primary of its own choosing, outside every node's budget. */
  async reserveSlot(): Promise<void> {
    if (this.#closed) throw new PoolClosedError();
    this.#subscriberSlots++;
  }

  giveSlot(): void {
    this.#subscriberSlots--;
  }

  /**
   * A cluster client of the caller's own, made by node-redis's `duplicate()` with the pool's
   * options; the pool closes it, and counts it as one connection.
   */
  duplicate(_receiver: object, overrides: RedisClientOptions | undefined): DuplicateClient {
    const copy = this.#cluster.duplicate(overrides as Parameters<Cluster['duplicate']>[0]);
    addWithAbortSignal(copy);
    layerClusterCommands(
      copy,
      withinDeadline((_run, _parser, _options, route) => route.next()),
    );
    copy.on('error', (error: unknown) =>
      this.#logger.warn({ err: error, url: this.#settings.redisUrl }, 'Redis cluster error (a duplicate)'),
    );
    return copy;
  }

  stats(): TopologyStats {
    const nodes = this.#nodes();
    const all = Object.values(nodes);
    const sum = (pick: (node: ClusterNodeStats) => number) => all.reduce((total, node) => total + pick(node), 0);
    const leases: LeaseStats = { ...EMPTY_LEASE_STATS };
    for (const key of Object.keys(leases) as (keyof LeaseStats)[]) leases[key] = sum((node) => node[key]);
    const ready = all.every((node) => node.shared.state === 'ready');
    const replicas = this.#replicaStats();
    return {
      ...leases,
      // Each primary's node client and leases, each replica's node client, and the subscriber.
      total: sum((node) => node.total + 1) + Object.keys(replicas ?? {}).length + this.#subscriberSlots,
      max: this.#settings.redisMaxConnections,
      shared: { state: ready ? 'ready' : 'reconnecting', inFlight: sum((node) => node.shared.inFlight), held: 0 },
      nodes,
      ...(replicas ? { replicas } : {}),
    };
  }

  /**
   * Every primary PINGed on its node connection, at once: up when all answer, degraded when some
   * do, down when none does. The latency is the slowest answer.
   */
  async health(timeoutMs: number): Promise<TopologyHealth> {
    const primaries = await Promise.all(
      this.#masters().map(async (master) => {
        const address = `${master.host}:${master.port}`;
        if (!master.client?.isReady) return { address, status: 'down' as const, error: 'not connected' };
        const ping = await pingWithin(master.client, timeoutMs);
        return 'error' in ping
          ? { address, status: 'down' as const, error: ping.error }
          : { address, status: 'up' as const, latencyMs: ping.latencyMs };
      }),
    );
    const up = primaries.flatMap((primary) => (primary.status === 'up' ? [primary.latencyMs] : []));
    const status = up.length === 0 ? 'down' : up.length === primaries.length ? 'up' : 'degraded';
    return { status, latencyMs: up.length > 0 ? Math.max(...up) : undefined, details: { primaries } };
  }

  tick(): void {
    for (const pool of this.#leases.values()) pool.tick();
    this.#nodeClients.watch(this.#allNodes());
  }

  async close(timeoutMs: number | undefined): Promise<void> {
    this.#closed = true;
    try {
      const closing = [this.#cluster.close(), ...[...this.#leases.values()].map((pool) => pool.close(timeoutMs))];
      await beforeDeadline(Promise.all(closing), timeoutMs, () => undefined);
    } finally {
      this.destroy();
      this.#logger.info({ url: this.#settings.redisUrl }, 'Redis pool closed');
    }
  }

  destroy(): void {
    this.#closed = true;
    for (const pool of this.#leases.values()) pool.destroy();
    this.#cluster.destroy();
  }

  #masters(): ClusterNode[] {
    return this.#cluster.masters;
  }

  /** Every node: the primaries and their replicas. */
  #allNodes(): ClusterNode[] {
    return [...this.#cluster.masters, ...this.#cluster.replicas];
  }

  /** With `REDIS_READ_FROM` other than `primary`: each replica's node connection, keyed by `host:port`. */
  #replicaStats(): TopologyStats['replicas'] {
    if (!this.#reads.replicas) return undefined;
    const replicas: NonNullable<TopologyStats['replicas']> = {};
    for (const replica of this.#cluster.replicas as ClusterNode[]) {
      const client = replica.client;
      replicas[`${replica.host}:${replica.port}`] = {
        state: this.#closed ? 'closed' : client?.isReady ? 'ready' : 'reconnecting',
        inFlight: client ? pendingCount(client) : 0,
      };
    }
    return replicas;
  }

  /**
   * Where a replica-safe command on a key of `shard` goes: a ready replica, or the primary, as
   * `REDIS_READ_FROM` says; `undefined` with `replica` when no replica of it is ready. A replica
   * whose connection is down (killed, restarting) is passed over until it is ready again.
   */
  #readNode(shard: SlotShard): SlotNode | undefined {
    const ready = shard.replicas?.filter((replica) => replica.client?.isReady) ?? [];
    const chosen = this.#reads.choose(ready);
    return chosen === PRIMARY ? shard.master : chosen;
  }

  #keylessTurn = 0;

  /**
   * Where a command on no key goes: a primary, in turn. node-redis would draw any node, replicas
   * included, whatever the command (EVAL of a script that writes, with no keys, say).
   */
  #keylessNode(masters: readonly SlotNode[]): SlotNode {
    this.#keylessTurn = (this.#keylessTurn + 1) % Math.max(1, masters.length);
    return masters[this.#keylessTurn] as SlotNode;
  }

  /** Per-primary figures, keyed by `host:port`. */
  #nodes(): Record<string, ClusterNodeStats> {
    const nodes: Record<string, ClusterNodeStats> = {};
    for (const master of this.#masters()) {
      const address = `${master.host}:${master.port}`;
      const leases = this.#leases.get(address);
      const client = master.client;
      nodes[address] = {
        ...(leases?.stats() ?? EMPTY_LEASE_STATS),
        total: leases?.used ?? 0,
        shared: {
          state: this.#closed ? 'closed' : client?.isReady ? 'ready' : 'reconnecting',
          inFlight: client ? pendingCount(client) : 0,
        },
      };
    }
    return nodes;
  }

  /**
   * Where the subscriber connects: any primary that is up, drawn again at each reconnect. A
   * message PUBLISHed anywhere in a cluster reaches every node, so any one will do.
   */
  #anyPrimary(): Target {
    return new AnyOfTarget(() => {
      const masters = this.#masters();
      const up = masters.filter((master) => master.client?.isReady);
      const choices = up.length > 0 ? up : masters;
      const chosen = choices[Math.floor(Math.random() * choices.length)];
      return chosen && this.#reachable(chosen);
    });
  }

  /**
   * Puts the pool's layer around every command, `sendCommand()` and transaction of the cluster
   * client: each leaves with the pool's typed errors, as on a single connection (Redis's own
   * replies, node-redis's WatchError and its MaxCommandRedirectionsError, a slot that keeps
   * moving, pass unchanged); a blocking command on a key runs on a lease; and a command on one key
   * goes straight to its node's client when that is ready (see `layerClusterCommands`).
   */
  #layerCommands(): void {
    const cluster = this.#cluster;
    const reads = this.#reads.replicas;
    const readyClientFor = (key: unknown, readonly: () => boolean) => {
      const shard = cluster.slots[calculateSlot(key as string | Buffer)];
      if (!shard) return undefined;
      // With REDIS_READ_FROM=replica and no replica ready: node-redis's own route refuses it.
      const node = reads && readonly() ? this.#readNode(shard as SlotShard) : shard.master;
      const client = node?.client;
      return client?.isReady ? client : undefined;
    };
    const execute: ClusterExecute = (run, parser, options, route) => {
      // A blocking command on a key runs on a lease to the key's primary, as on a single server,
      // so it does not hold up that node's shared connection.
      const key = parser.firstKey;
      if (key !== undefined && blockingTimeoutMs(parser.redisArgs) !== undefined) {
        return this.#leaseFor(key as string | Buffer, (lease) => run(lease.client, options), {}).catch(
          (error: unknown) => {
            throw this.#typed(error);
          },
        );
      }
      return route
        .next()
        .catch((error: unknown) => {
          // A read whose connection was lost (a replica killed, say) runs once more, where the
          // choice now falls: that node's client is no longer ready, so on another.
          if (!reads || !readAgain(this.#reads, error) || !route.readonly()) throw error;
          return route.again();
        })
        .catch((error: unknown) => {
          throw this.#typed(error);
        });
    };
    layerClusterCommands(cluster, withinDeadline(execute), readyClientFor);
  }

  /** Where a node the cluster announces is reached: through the caller's address map, or as announced. */
  #reachable({ host, port }: NodeAddress): NodeAddress {
    return mapNodeAddress(this.#extras?.client.nodeAddressMap, `${host}:${port}`) ?? { host, port };
  }

  /** The error a cluster caller gets for `error`, met by one of its commands. */
  #typed(error: unknown): unknown {
    const url = this.#settings.redisUrl;
    // node-redis's TimeoutError comes only from a command's own timeout: withinDeadline() names it.
    if (error instanceof TimeoutError || PASSING.some((kind) => error instanceof kind)) return error;
    if (this.#closed) return new PoolClosedError();
    return new ConnectionLostError(url, error);
  }

  #leasesFor(master: NodeAddress): LeasePool<LeasableConnection> {
    const address = `${master.host}:${master.port}`;
    let pool = this.#leases.get(address);
    if (!pool) {
      const budget = new ConnectionBudget(this.#settings.redisMaxConnections);
      const [settings, logger, events] = [this.#settings, this.#logger, this.#events];
      const reachable = this.#reachable(master);
      const target = new FixedTarget(reachable.host, reachable.port);
      const extras = this.#extras;
      pool = new LeasePool({
        settings,
        logger,
        events,
        target,
        budget,
        closes: this.#closes,
        open: () => openLeasable({ settings, logger, target, onEvent: events.onEvent, extras }),
      });
      this.#leases.set(address, pool);
    }
    return pool;
  }
}

/** `execute` within each command's deadline (client/deadlines.ts), kept once, outside everything it does. */
function withinDeadline(execute: ClusterExecute): ClusterExecute {
  return (run, parser, options, route) => {
    const deadline = deadlineOf(options);
    if (!deadline) return execute(run, parser, options, route);
    return sendWithin(parser.redisArgs, deadline, () => execute(run, parser, options, route));
  };
}
