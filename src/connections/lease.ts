/**
 * One lending of a connection (`Lease`), and what the lease pool and its owners say about leases:
 * the options of `withConnection()`, the events and figures it reports, and what it needs of a
 * connection (`PooledConnection`) and is made with (`LeasePoolOptions`).
 */
import type { ConnectionEventName, StringClient } from '../client/types.js';
import type { AcquireTimeoutError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { CommonAppSettings, NodeAddress } from '../settings.js';
import type { Target } from '../topology/target.js';
import type { ConnectionBudget } from './budget.js';
import type { Closes } from './closes.js';
import type { Verdict } from './reply-monitor.js';

/** Where a lease's client keeps its lease (see `leaseBase()` in leasable-connection.ts). */
export const LEASE = Symbol('lease');

/** One lending of a connection. Its client refuses every call once the lease is released. */
export class Lease<C extends { readonly base: object } = { readonly base: object }> {
  readonly connection: C;
  /** The borrower's client: node-redis's, on this connection alone. */
  readonly client: StringClient;
  released = false;

  constructor(connection: C) {
    this.connection = connection;
    // One object per lease, so a client kept past its lease stays cut off after the
    // connection is lent again.
    this.client = Object.create(connection.base);
    (this.client as unknown as { [LEASE]: Lease<C> })[LEASE] = this;
  }
}

/** Options of `withConnection()`. */
export interface LeaseOptions {
  /** How long to wait for a free connection, in ms. @default REDIS_POOL_TIMEOUT */
  timeoutMs?: number;
  /** Aborts the wait for a connection, or the callback while it runs (its connection is then closed). */
  signal?: AbortSignal;
  /**
   * Cluster mode: the key the connection is for; the lease is a connection to the primary that
   * serves its slot, so WATCH/MULTI on keys of that slot work. Ignored outside cluster mode.
   */
  key?: string;
}

/** A lease held longer than `REDIS_LEAK_DETECTION_THRESHOLD`. */
export interface LeakReport {
  /** How long the lease had been held when it was reported, in ms. */
  heldMs: number;
  /** Where the lease was taken. */
  stack: string;
}

/** What the lease pool reports to its owner. */
export interface LeaseEvents {
  /** Reports each lifecycle event of the leasable connections. */
  onEvent?: (event: ConnectionEventName, error?: unknown) => void;
  onAcquireTimeout(error: AcquireTimeoutError): void;
  onLeak(report: LeakReport): void;
  /** A lease's wait for its connection (`wait`, when lent) or its use of it (`use`, when back), in ms. */
  onLeaseTime?(kind: 'wait' | 'use', ms: number): void;
}

/** The lease pool's own counters, part of `redisPool.stats()`. */
export interface LeaseStats {
  idle: number;
  leased: number;
  connecting: number;
  pending: number;
  hits: number;
  misses: number;
  timeouts: number;
  waitCount: number;
  waitTimeMs: number;
}

/** The counters of a lease pool that has done nothing yet. */
export const EMPTY_LEASE_STATS: LeaseStats = Object.freeze({
  idle: 0,
  leased: 0,
  connecting: 0,
  pending: 0,
  hits: 0,
  misses: 0,
  timeouts: 0,
  waitCount: 0,
  waitTimeMs: 0,
});

/**
 * What the lease pool needs of a connection. `LeasableConnection` is the real one, made by the
 * factory the pool's owner passes in (`LeasePoolOptions.open`); unit tests pass their own.
 */
export interface PooledConnection {
  /** Where it leads: a failover makes it stale. */
  readonly address: NodeAddress | undefined;
  /** The prototype of the clients its leases hand out. */
  readonly base: object;
  readonly isReady: boolean;
  /** Commands sent and not yet answered. */
  readonly pending: number;
  /** The server answered READONLY: it is a replica now. */
  readonly readonly: boolean;
  /** When its lifetime (`REDIS_MAX_LIFETIME`) ends, in `performance.now()` time. */
  readonly expiresAt: number;
  lastUsedAt: number;
  leasedAt: number;
  leakReported: boolean;
  /** Where its current lease was taken, for leak reports. */
  stack: string | undefined;
  /** The watchdog's look at it, once per tick. */
  watch(): Verdict;
  /** Nothing a borrower left needs undoing. */
  isClean(): boolean;
  /** Undoes what a borrower left; rejects when it cannot. */
  restore(): Promise<void>;
  /** PINGs it within `timeoutMs`: `undefined` when it answered, else what went wrong. */
  check(timeoutMs: number): Promise<string | undefined>;
  /** Rejects every command outstanding on it with `error`. */
  fail(error: Error): void;
  /** Destroys its socket. */
  close(): void;
}

/** What the lease pool is made with. */
export interface LeasePoolOptions<C extends PooledConnection> {
  settings: CommonAppSettings;
  logger: Logger;
  events: LeaseEvents;
  /** Where the pool's connections go now; an idle connection that leads elsewhere is not lent. */
  target: Target;
  /** The `REDIS_MAX_CONNECTIONS` slots, shared with the pool's other connections. */
  budget: ConnectionBudget;
  /** Why connections are closed, counted pool-wide. */
  closes: Closes;
  /** Opens a connection, connected and ready: undici's `factory`, tarn's `create`. */
  open(): Promise<C>;
}
