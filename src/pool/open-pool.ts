/**
 * `OpenPool`: everything an open pool holds, the topology the settings choose and what every
 * topology shares (the pool's events, the one ticker, the subscriber, the duplicates); and the
 * pool's stats and events.
 */

import type { EventEmitter } from 'node:events';
import type { RedisClientOptions } from 'redis';
import { ClientCache, type ClientCacheStats } from '../client/cache.js';
import type { ClientExtras } from '../client/extras.js';
import type { ConnectionRole } from '../client/options.js';
import type { ConnectionEventName, TopologyClient } from '../client/types.js';
import { CLOSE_REASONS, type CloseReason, Closes } from '../connections/closes.js';
import type { ConnectionLease } from '../connections/leasable-connection.js';
import { EMPTY_LEASE_STATS, type LeakReport, type LeaseEvents, type LeaseOptions } from '../connections/lease.js';
import { TICKS_PER_TIMEOUT } from '../connections/reply-monitor.js';
import { Subscriber } from '../connections/subscriber.js';
import { beforeDeadline } from '../deadline.js';
import type { AcquireTimeoutError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { CommonAppSettings } from '../settings.js';
import { ClusterTopology } from '../topology/cluster.js';
import { SentinelTopology } from '../topology/sentinel.js';
import { StandaloneTopology } from '../topology/standalone.js';
import type { Topology, TopologyContext, TopologyStats } from '../topology/topology.js';
import { Duplicates } from './duplicates.js';
import type { TopologyHealth } from './readiness.js';

/** A snapshot of the pool, modelled on go-redis's `PoolStats`. */
export interface PoolStats extends TopologyStats {
  /** Connections closed for age or failed health (idle, expired, unhealthy, failed over): go-redis's `StaleConns`. */
  staleClosed: number;
  /** Connections the pool closed, by reason (see `CloseReason`). */
  closed: Record<CloseReason, number>;
  /** Times a connection that had been up was up again: node-redis reconnects and replacements. */
  reconnects: number;
  /** Connections made by `client.duplicate()` and still open (each counts in `total`). */
  duplicates: number;
  subscriber: { open: boolean; channels: number; patterns: number; shards: number };
  /** The client-side cache's figures, with `REDIS_CLIENT_SIDE_CACHE` on. */
  clientSideCache?: ClientCacheStats;
}

/** Which connection an event is about. */
export interface ConnectionEvent {
  role: ConnectionRole;
  /** The server's URL, without password. */
  url: string;
}

/** The pool's events and their arguments. */
export interface PoolEvents {
  /** A socket connected (before authentication and PING). */
  connect: [event: ConnectionEvent];
  /** A connection is ready for commands. */
  ready: [event: ConnectionEvent];
  /** A connection that was up is being reopened. */
  reconnecting: [event: ConnectionEvent];
  /** A connection that was up failed. Emitted only while someone listens, so it never throws. */
  error: [error: unknown, event: ConnectionEvent];
  /** A `withConnection()` caller waited `REDIS_POOL_TIMEOUT` in vain. */
  'acquire-timeout': [error: AcquireTimeoutError];
  /** A lease was held longer than `REDIS_LEAK_DETECTION_THRESHOLD`; reported once per lease. */
  leak: [report: LeakReport];
}

/** What a pool opens with, besides its settings. */
export interface OpenPoolParts {
  logger: Logger;
  /** The pool's emitter, which the pool's events go out on. */
  events: EventEmitter<PoolEvents>;
  onLeaseTime: LeaseEvents['onLeaseTime'];
  /** The pool's scripts, functions and client options (`RedisPoolOptions`). */
  extras: ClientExtras | undefined;
}

/**
 * Everything an open pool holds: the topology the settings choose, and what every topology shares
 * (the pool's events, the one ticker, the subscriber).
 */
export class OpenPool {
  readonly settings: CommonAppSettings;
  readonly logger: Logger;
  readonly #topology: Topology;
  readonly #events: EventEmitter<PoolEvents>;
  /** Started once the topology is open: the watchdogs must not judge a first connect, which has its own deadline. */
  #ticker: NodeJS.Timeout | undefined;
  #subscriber: Subscriber | undefined;
  /** The topology's budget, as the subscriber and the duplicates take and give their slots. */
  readonly #slots: { reserve: () => Promise<void>; give: () => void };
  readonly #duplicates: Duplicates;
  /** Readies seen per role; each after the first is a reconnect. */
  readonly #readies = new Map<ConnectionRole, number>();
  readonly #closes: Closes;
  readonly #extras: ClientExtras | undefined;
  readonly #cache: ClientCache | undefined;

  /** Opens the topology the settings choose; on failure nothing is left open. */
  static async open(settings: CommonAppSettings, parts: OpenPoolParts): Promise<OpenPool> {
    const pool = new OpenPool(settings, parts);
    try {
      await pool.#topology.open();
    } catch (error) {
      pool.destroy();
      throw error;
    }
    const tickMs = (settings.redisSocketTimeout * 1000) / TICKS_PER_TIMEOUT;
    pool.#ticker = setInterval(() => pool.#tick(), tickMs).unref();
    return pool;
  }

  private constructor(settings: CommonAppSettings, { logger, events, onLeaseTime, extras }: OpenPoolParts) {
    this.settings = settings;
    this.#extras = extras;
    this.logger = logger;
    this.#events = events;
    this.#closes = new Closes(logger);
    this.#cache = settings.redisClientSideCache ? new ClientCache(settings) : undefined;
    const context: TopologyContext = {
      closes: this.#closes,
      settings,
      logger,
      report: (role) => this.#reporter(role),
      leaseEvents: {
        onEvent: this.#reporter('lease'),
        onAcquireTimeout: (error) => events.emit('acquire-timeout', error),
        onLeak: (report) => {
          logger.warn(
            { heldMs: Math.round(report.heldMs), stack: report.stack },
            'Redis lease held past REDIS_LEAK_DETECTION_THRESHOLD',
          );
          events.emit('leak', report);
        },
        onLeaseTime,
      },
      onMoved: () => this.#subscriber?.moveOn(),
      extras,
      cache: this.#cache,
    };
    this.#topology = settings.redisClusterNodes
      ? new ClusterTopology(context)
      : settings.redisSentinels
        ? new SentinelTopology(context)
        : new StandaloneTopology(context);
    const topology = this.#topology;
    this.#slots = { reserve: () => topology.reserveSlot(), give: () => topology.giveSlot() };
    const duplicates = new Duplicates(this.#slots);
    this.#duplicates = duplicates;
    (topology.client as unknown as Record<string, unknown>).duplicate = function (
      this: object,
      overrides?: RedisClientOptions,
    ) {
      return duplicates.adopt(topology.duplicate(this, overrides));
    };
  }

  /** The shared client, or in cluster mode the cluster client: what `getClient()` hands out, typed as the public client. */
  get client(): TopologyClient {
    return this.#topology.client;
  }

  /** Runs `use` with a leased connection, and always gives the connection back. */
  lease<T>(use: (lease: ConnectionLease) => Promise<T> | T, options: LeaseOptions = {}): Promise<T> {
    return this.#topology.lease(use, options);
  }

  subscriber(): Subscriber {
    if (this.#subscriber?.isClosed) this.#subscriber = undefined;
    this.#subscriber ??= new Subscriber({
      settings: this.settings,
      logger: this.logger,
      slots: this.#slots,
      target: this.#topology.subscriberTarget,
      onEvent: this.#reporter('subscriber'),
      sharded: this.#topology.shardedPubSub,
      closes: this.#closes,
      extras: this.#extras,
    });
    return this.#subscriber;
  }

  stats(): PoolStats {
    const subscriber = this.#subscriber;
    let reconnects = 0;
    for (const count of this.#readies.values()) reconnects += Math.max(0, count - 1);
    return {
      ...this.#topology.stats(),
      reconnects,
      staleClosed: this.#closes.stale,
      closed: this.#closes.counts(),
      duplicates: this.#duplicates.count,
      subscriber: {
        open: subscriber?.isReady ?? false,
        channels: subscriber?.channels.length ?? 0,
        patterns: subscriber?.patterns.length ?? 0,
        shards: subscriber?.shards.length ?? 0,
      },
      ...(this.#cache ? { clientSideCache: this.#cache.figures() } : {}),
    };
  }

  health(timeoutMs: number): Promise<TopologyHealth> {
    return this.#topology.health(timeoutMs);
  }

  async close(timeoutMs: number | undefined): Promise<void> {
    try {
      // The connections callers hold close gracefully too: a library's last commands (an
      // unsubscribe it did not await, say) get their replies, within the same deadline.
      const theirs = Promise.all([this.#subscriber?.close(), this.#duplicates.closeAll()]);
      await Promise.all([beforeDeadline(theirs, timeoutMs, () => undefined), this.#topology.close(timeoutMs)]);
    } finally {
      clearInterval(this.#ticker);
      this.#subscriber?.destroy();
      this.#duplicates.destroyAll();
    }
  }

  destroy(): void {
    clearInterval(this.#ticker);
    this.#subscriber?.destroy();
    this.#duplicates.destroyAll();
    this.#topology.destroy();
  }

  #tick(): void {
    this.#topology.tick();
    this.#subscriber?.tick();
  }

  /** Turns one connection's lifecycle into pool events. */
  #reporter(role: ConnectionRole) {
    const event: ConnectionEvent = { role, url: this.settings.redisUrl };
    return (name: ConnectionEventName, error?: unknown) => {
      // Leases and duplicates come and go: a ready of theirs is not a reconnect.
      const counted = role !== 'lease' && role !== 'duplicate';
      if (name === 'ready' && counted) this.#readies.set(role, (this.#readies.get(role) ?? 0) + 1);
      // An 'error' event with no listener would throw, so it goes out only while someone listens.
      if (name === 'error') {
        if (this.#events.listenerCount('error') > 0) this.#events.emit('error', error, event);
      } else if (name !== 'end') {
        this.#events.emit(name, event);
      }
    };
  }
}

/** `stats()` of a pool that is closed: all zero. */
export const CLOSED_POOL_STATS: PoolStats = Object.freeze<PoolStats>({
  ...EMPTY_LEASE_STATS,
  staleClosed: 0,
  closed: Object.fromEntries(CLOSE_REASONS.map((reason) => [reason, 0])) as Record<CloseReason, number>,
  total: 0,
  max: 0,
  reconnects: 0,
  duplicates: 0,
  shared: { state: 'closed', inFlight: 0, held: 0 },
  subscriber: { open: false, channels: 0, patterns: 0, shards: 0 },
});
