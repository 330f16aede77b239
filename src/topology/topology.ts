import type { RedisClientOptions } from 'redis';
import type { ClientCache } from '../client/cache.js';
import type { ClientExtras } from '../client/extras.js';
import type { ConnectionRole } from '../client/options.js';
import type { ConnectionEventName, TopologyClient } from '../client/types.js';
import type { Closes } from '../connections/closes.js';
import type { ConnectionLease } from '../connections/leasable-connection.js';
import type { LeaseEvents, LeaseOptions, LeaseStats } from '../connections/lease.js';
import type { ShardedPubSub } from '../connections/pub-sub.js';
import type { SharedState } from '../connections/shared-connection.js';
import type { Logger } from '../logger.js';
import type { DuplicateClient } from '../pool/duplicates.js';
import type { TopologyHealth } from '../pool/readiness.js';
import type { CommonAppSettings } from '../settings.js';
import type { Target } from './target.js';

/** One primary of the cluster, as `stats().nodes` shows it. */
export interface ClusterNodeStats extends LeaseStats {
  /** The node's shared connection: its state and the commands sent and not yet answered. */
  shared: { state: 'ready' | 'reconnecting' | 'closed'; inFlight: number };
  /** Leasable sockets held to this node, at most `REDIS_MAX_CONNECTIONS`. */
  total: number;
}

/** The figures a topology knows: `redisPool.stats()` but for the subscriber and reconnects, which the pool counts. */
export interface TopologyStats extends LeaseStats {
  /**
   * Sockets held (shared, subscriber, leased, idle and opening): at most `max` on a single server;
   * in a cluster, the nodes' figures summed, plus the subscriber's.
   */
  total: number;
  /** `REDIS_MAX_CONNECTIONS`. */
  max: number;
  /**
   * The shared connection: its state, the commands sent and not yet answered, and those held
   * while it is down (`REDIS_OFFLINE_QUEUE`).
   */
  shared: { state: SharedState; inFlight: number; held: number };
  /**
   * Cluster mode only: each primary's figures, keyed by `host:port` (`max` and the leasable
   * connections are per node there). The top-level figures are their sums.
   */
  nodes?: Record<string, ClusterNodeStats>;
  /**
   * With `REDIS_READ_FROM` other than `primary`: the connection to each replica that serves reads
   * (sentinel mode: the replicas the sentinels name; cluster mode: each replica's node
   * connection), keyed by `host:port`. Each counts in `total`, not in a primary's `nodes` entry.
   */
  replicas?: Record<string, ReplicaStats>;
}

/** One replica's read connection, as `stats().replicas` shows it. */
export interface ReplicaStats {
  state: 'ready' | 'reconnecting' | 'closed';
  /** Commands sent on it and not yet answered. */
  inFlight: number;
}

/** What the pool lends its topology. */
export interface TopologyContext {
  settings: CommonAppSettings;
  logger: Logger;
  /** Reports one kind of connection's lifecycle as the pool's events. */
  report(role: ConnectionRole): (event: ConnectionEventName, error?: unknown) => void;
  leaseEvents: LeaseEvents;
  /** Why the pool's connections were closed, counted pool-wide. */
  closes: Closes;
  /** The topology's connections now lead elsewhere (a failover): the subscriber must follow. */
  onMoved(): void;
  /** The pool's scripts, functions and client options (`RedisPoolOptions`), for every connection. */
  extras: ClientExtras | undefined;
  /** The pool's one client-side cache (`REDIS_CLIENT_SIDE_CACHE`), for the connections the shared client reads on. */
  cache: ClientCache | undefined;
}

/**
 * One way of reaching Redis: a single server (`StandaloneTopology`), one found through sentinels
 * (`SentinelTopology`, the same plus the watcher), or a cluster (`ClusterTopology`). The pool holds
 * one, chosen by the settings, and keeps what they all share: events, the ticker and the
 * subscriber. undici's `PoolBase`/`Pool` split is the model.
 */
export interface Topology {
  /** Connects, with PING, within `REDIS_SOCKET_CONNECT_TIMEOUT`; a typed `ConnectError` otherwise. */
  open(): Promise<void>;
  /** The client `getClient()` returns. */
  readonly client: TopologyClient;
  /** Runs `use` with an exclusive connection, and always takes it back. */
  lease<T>(use: (lease: ConnectionLease) => Promise<T> | T, options: LeaseOptions): Promise<T>;
  /** Where the subscriber connects: read at each (re)connect. */
  readonly subscriberTarget: Target;
  /** Where the subscriber's shard channels go instead of its connection: the cluster client, in cluster mode. */
  readonly shardedPubSub: ShardedPubSub | undefined;
  /**
   * Takes a slot for the subscriber's connection: in the one `REDIS_MAX_CONNECTIONS` budget, in
   * line with lease callers, on a single server; counted apart from the nodes' budgets in a cluster.
   */
  reserveSlot(): Promise<void>;
  /** Gives the subscriber's slot back. */
  giveSlot(): void;
  /**
   * What `duplicate()` on the client makes, not yet connected: a dedicated client with the
   * pool's settings (and `receiver`'s command options), to where the pool's connections go now.
   */
  duplicate(receiver: object, overrides: RedisClientOptions | undefined): DuplicateClient;
  stats(): TopologyStats;
  /** PINGs what serves the pool's commands, each within `timeoutMs`; never rejects. */
  health(timeoutMs: number): Promise<TopologyHealth>;
  /** The pool's ticker: watchdogs, health checks, housekeeping. */
  tick(): void;
  /** Graceful: refuses new commands, lets outstanding ones finish (up to `timeoutMs`), then closes. */
  close(timeoutMs: number | undefined): Promise<void>;
  /** Immediate: outstanding commands reject with `PoolClosedError`. */
  destroy(): void;
}
