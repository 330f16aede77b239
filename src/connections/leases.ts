import type { ConnectionEventName } from '../client/types.js';
import { beforeDeadline } from '../deadline.js';
import { AcquireTimeoutError, CommandTimeoutError, LeaseReleasedError, PoolClosedError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { CommonAppSettings, NodeAddress } from '../settings.js';
import type { Target } from '../topology/target.js';
import { OpeningBackoff } from './backoff.js';
import type { ConnectionBudget } from './budget.js';
import type { CloseReason, Closes } from './closes.js';
import { Lease } from './lease.js';
import type { Verdict } from './reply-monitor.js';
import { WaiterQueue } from './waiters.js';

export { Lease } from './lease.js';

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

/** What a caller is given: an idle connection, or (`connection: undefined`) a slot to open one in. */
interface Grant<C> {
  connection: C | undefined;
}

/**
 * The leased side of the pool: exclusive connections lent FIFO within the pool's
 * `ConnectionBudget`, checked before they are lent, restored or closed when a borrower leaves them
 * changed, and closed when idle or old. undici's split applies: this class is the mechanism
 * (lending, giving back, housekeeping); the waiter queue, the budget, the opening back-off and the
 * connection factory are parts of their own, and the pool's topology decides when to use it.
 */
export class LeasePool<C extends PooledConnection = PooledConnection> {
  readonly #settings: CommonAppSettings;
  readonly #logger: Logger;
  readonly #events: LeaseEvents;
  readonly #target: Target;
  readonly #budget: ConnectionBudget;
  readonly #closes: Closes;
  readonly #factory: () => Promise<C>;
  readonly #backoff: OpeningBackoff;
  readonly #waiters: WaiterQueue<Grant<C>>;
  readonly #idle: C[] = [];
  readonly #leased = new Set<C>();
  /** Connections the watchdog ended while lent, closed for that reason when they come back. */
  readonly #hung = new WeakSet<C>();
  #connecting = 0;
  #state: 'open' | 'closing' | 'closed' = 'open';
  /** While a failover runs, nothing is lent: callers wait in line, up to `REDIS_POOL_TIMEOUT`. */
  #held = false;
  #drained: (() => void) | undefined;
  readonly #stats = { hits: 0, misses: 0 };

  constructor({ settings, logger, events, target, budget, closes, open }: LeasePoolOptions<C>) {
    this.#settings = settings;
    this.#logger = logger;
    this.#events = events;
    this.#target = target;
    this.#budget = budget;
    this.#closes = closes;
    this.#factory = open;
    this.#backoff = new OpeningBackoff(settings);
    this.#waiters = new WaiterQueue((timeoutMs) => {
      const error = new AcquireTimeoutError(timeoutMs, this.#situation(), this.#backoff.lastError);
      events.onAcquireTimeout(error);
      return error;
    });
  }

  /** Slots taken in its budget, by connections of every kind. */
  get used(): number {
    return this.#budget.used;
  }

  stats(): LeaseStats {
    const { waitCount, waitTimeMs, timeouts } = this.#waiters.stats;
    return {
      idle: this.#idle.length,
      leased: this.#leased.size,
      connecting: this.#connecting,
      pending: this.#waiters.size,
      hits: this.#stats.hits,
      misses: this.#stats.misses,
      timeouts,
      waitCount,
      waitTimeMs,
    };
  }

  /**
   * Waits FIFO, with the callers waiting for a lease, for a slot for a connection the caller will
   * own for good (the subscriber), up to `REDIS_POOL_TIMEOUT`. Give it back with `giveSlot()`.
   */
  async reserveSlot(): Promise<void> {
    const { connection } = this.#grantNow() ?? (await this.#wait({}));
    if (connection) this.#closeKeepingSlot(connection, 'made-way');
  }

  /** Gives back a slot taken with `reserveSlot()`, or by an opening that failed. */
  giveSlot(): void {
    this.#budget.give();
    this.#dispatch();
  }

  /**
   * Runs `use` with a lease, and always gives it back: when `use` settles, or at once when
   * `options.signal` aborts (the connection is then closed, its replies unread).
   */
  async run<T>(use: (lease: Lease<C>) => Promise<T> | T, options: LeaseOptions = {}): Promise<T> {
    const asked = performance.now();
    const lease = this.#tryAcquire() ?? (await this.#acquire(options));
    const { connection } = lease;
    this.#events.onLeaseTime?.('wait', connection.leasedAt - asked);
    let ended: 'returned' | 'abandoned' = 'returned';
    try {
      const { signal } = options;
      // Aborted while a connection was being opened: the callback never runs.
      signal?.throwIfAborted();
      if (!signal) return await use(lease);
      return await abortable(use(lease), signal, () => {
        ended = 'abandoned';
      });
    } finally {
      const restoring = this.#release(lease, ended);
      this.#events.onLeaseTime?.('use', connection.lastUsedAt - connection.leasedAt);
      if (restoring) await restoring;
    }
  }

  /** Gives every leased connection its watchdog tick, reports leaks, closes idle and old ones, and tops up the minimum idle. */
  tick(): void {
    const now = performance.now();
    const leakMs = this.#settings.redisLeakDetectionThreshold * 1000;
    for (const connection of this.#leased) {
      if (connection.watch() === 'hung') this.#abortHung(connection);
      if (leakMs > 0 && !connection.leakReported && now - connection.leasedAt > leakMs) {
        connection.leakReported = true;
        this.#events.onLeak({ heldMs: now - connection.leasedAt, stack: connection.stack ?? '' });
      }
    }
    const idleMs = this.#settings.redisIdleTimeout * 1000;
    for (const connection of [...this.#idle]) {
      if (now >= connection.expiresAt) this.#close(connection, 'expired');
      else if (idleMs > 0 && now - connection.lastUsedAt > idleMs && this.#idle.length > this.#minIdle()) {
        this.#close(connection, 'idle');
      }
    }
    this.prewarm();
  }

  /** Opens connections in the background until `REDIS_MIN_IDLE_CONNECTIONS` are idle or opening. */
  prewarm(): void {
    if (!this.#backoff.allows(this.#connecting)) return;
    while (
      this.#state === 'open' &&
      this.#waiters.size === 0 &&
      this.#idle.length + this.#connecting < this.#minIdle() &&
      this.#budget.tryTake()
    ) {
      this.#open().then(
        (connection) => {
          if (this.#state !== 'open') return this.#close(connection, 'pool-closed');
          this.#idle.push(connection);
          this.#dispatch();
        },
        (error: unknown) => {
          this.#logger.debug({ err: error }, 'Opening an idle Redis connection failed');
          this.giveSlot();
        },
      );
    }
  }

  /**
   * Graceful: waiters are refused, idle connections closed, and leased ones closed as they come
   * back, or after `timeoutMs`.
   */
  async close(timeoutMs?: number): Promise<void> {
    if (this.#state !== 'open') return;
    this.#state = 'closing';
    this.#waiters.failAll(new PoolClosedError());
    for (const connection of [...this.#idle]) this.#close(connection, 'pool-closed');
    if (this.#leased.size > 0) {
      const drained = new Promise<void>((resolve) => {
        this.#drained = resolve;
      });
      await beforeDeadline(drained, timeoutMs, () => undefined);
    }
    this.destroy();
  }

  /** Immediate: waiters are refused and every connection is closed now. */
  destroy(): void {
    this.#state = 'closed';
    this.#waiters.failAll(new PoolClosedError());
    for (const connection of [...this.#idle, ...this.#leased]) {
      connection.fail(new PoolClosedError('The Redis pool was destroyed'));
      this.#close(connection, 'pool-closed');
    }
  }

  /**
   * Notes a failed connection attempt, here or on another of the pool's connections: it is kept
   * for `AcquireTimeoutError`, and no connection is opened until the back-off has passed.
   */
  connectFailed(error: unknown): void {
    this.#backoff.failed(error);
  }

  /** Notes that a connection to the server was just made: openings need not back off any more. */
  connectSucceeded(): void {
    this.#backoff.succeeded();
  }

  /**
   * Lends nothing until `resume()`: a failover is under way, and a connection to the old primary
   * would take writes that are then lost. Callers wait in line as when all connections are taken.
   */
  hold(): void {
    this.#held = true;
  }

  /** Lends again, to the callers waiting first. */
  resume(): void {
    this.#held = false;
    this.#dispatch();
  }

  /** Closes every idle connection: the server they lead to is no longer the primary (READONLY, or a failover). */
  discardIdle(): void {
    for (const connection of [...this.#idle]) this.#close(connection, 'failed-over');
  }

  #minIdle(): number {
    return this.#settings.redisMinIdleConnections;
  }

  /**
   * A lease at once, without waiting or checking, when an idle connection that needs no health
   * check is there and nobody is queued before the caller; `undefined` otherwise.
   */
  #tryAcquire(): Lease<C> | undefined {
    if (this.#state !== 'open' || this.#waiters.size > 0 || this.#held) return undefined;
    const connection = this.#idle.at(-1);
    if (!connection?.isReady || this.#checkDue(connection) || !this.#isCurrent(connection)) return undefined;
    this.#idle.pop();
    this.#stats.hits++;
    return this.#lend(connection, 'idle');
  }

  /** Lends a connection: an idle one (checked first if it has been idle long), or a new one. */
  async #acquire(options: LeaseOptions): Promise<Lease<C>> {
    const { connection } = this.#grantNow() ?? (await this.#wait(options));
    if (connection) {
      const unfit = await this.#unfit(connection);
      if (unfit === undefined) {
        this.#stats.hits++;
        return this.#lend(connection, 'idle');
      }
      // A connection that fails its check is closed and never lent; its slot serves this caller.
      this.#closeKeepingSlot(connection, unfit);
    }
    this.#stats.misses++;
    let opened: C;
    try {
      if (!this.#backoff.allows(this.#connecting)) throw this.#backoff.refusal();
      opened = await this.#open();
    } catch (error) {
      this.giveSlot();
      throw error;
    }
    return this.#lend(opened, 'new');
  }

  /**
   * Takes a lease back. A connection with replies still unread, or broken, or past its lifetime
   * is closed; one whose state the borrower changed is restored first (the only case that returns
   * a promise).
   */
  #release(lease: Lease<C>, ended: 'returned' | 'abandoned'): Promise<void> | undefined {
    if (lease.released) return undefined;
    lease.released = true;
    const connection = lease.connection;
    this.#leased.delete(connection);
    connection.lastUsedAt = performance.now();
    if (ended === 'abandoned') connection.fail(new LeaseReleasedError());
    const reason = ended === 'abandoned' ? 'abandoned' : this.#unusable(connection);
    if (reason !== undefined) this.#close(connection, reason);
    else if (!connection.isClean()) return this.#restoreThenKeep(connection);
    else this.#keep(connection);
    return undefined;
  }

  /** Why a connection given back cannot be lent again, if it cannot. */
  #unusable(connection: C): CloseReason | undefined {
    if (this.#state !== 'open') return 'pool-closed';
    if (this.#hung.has(connection)) return 'hung';
    if (!connection.isReady) return 'broken';
    if (connection.pending > 0) return 'unread-replies';
    if (connection.readonly) return 'readonly';
    if (!this.#isCurrent(connection)) return 'failed-over';
    if (connection.lastUsedAt >= connection.expiresAt) return 'expired';
    return undefined;
  }

  /** An idle connection or a free slot, if one can be had without queueing behind earlier callers. */
  #grantNow(): Grant<C> | undefined {
    if (this.#state !== 'open') throw new PoolClosedError();
    if (this.#waiters.size > 0 || this.#held) return undefined;
    return this.#takeGrant();
  }

  /** An idle connection, else a free slot; `undefined` when neither is there. */
  #takeGrant(): Grant<C> | undefined {
    const idle = this.#idle.pop();
    if (idle) return { connection: idle };
    return this.#budget.tryTake() ? { connection: undefined } : undefined;
  }

  #wait({ timeoutMs, signal }: LeaseOptions): Promise<Grant<C>> {
    return this.#waiters.wait({ timeoutMs: timeoutMs ?? this.#settings.redisPoolTimeout * 1000, signal });
  }

  #situation(): string {
    const { idle, leased, connecting, pending } = this.stats();
    return (
      `all ${this.#budget.max} connections (REDIS_MAX_CONNECTIONS) are taken, ${leased} of them leased, ` +
      `${connecting} opening, ${idle} idle; ${pending} caller(s) waiting; stats: ${JSON.stringify({ ...this.stats(), used: this.#budget.used })}`
    );
  }

  /** Hands freed connections and slots to waiters, first come first served. */
  #dispatch(): void {
    while (this.#state === 'open' && !this.#held && this.#waiters.grantOldest(() => this.#takeGrant()));
    if (this.#state === 'closing' && this.#leased.size === 0) this.#drained?.();
  }

  /**
   * Opens a connection in a slot the caller already holds. A failure is kept for
   * `AcquireTimeoutError` and starts the back-off before the next attempt.
   */
  async #open(): Promise<C> {
    this.#connecting++;
    try {
      const connection = await this.#factory();
      this.connectSucceeded();
      return connection;
    } catch (error) {
      this.connectFailed(error);
      throw error;
    } finally {
      this.#connecting--;
    }
  }

  /** Whether a connection leads where the pool's connections go now (not to a primary failed over from). */
  #isCurrent(connection: C): boolean {
    return connection.address === undefined || this.#target.is(connection.address);
  }

  /** Whether a connection has been idle longer than `REDIS_HEALTH_CHECK_INTERVAL`. */
  #checkDue(connection: C): boolean {
    const intervalMs = this.#settings.redisHealthCheckInterval * 1000;
    return intervalMs > 0 && performance.now() - connection.lastUsedAt >= intervalMs;
  }

  /** Why an idle connection must not be lent: lost or (idle long) no answer to a PING, or led elsewhere. */
  async #unfit(connection: C): Promise<CloseReason | undefined> {
    if (!connection.isReady) return 'unhealthy';
    if (!this.#isCurrent(connection)) return 'failed-over';
    if (!this.#checkDue(connection)) return undefined;
    const failure = await connection.check(this.#settings.redisSocketTimeout * 1000);
    if (failure === undefined) return undefined;
    this.#logger.debug({ reason: failure }, 'Idle Redis connection failed its health check');
    return 'unhealthy';
  }

  #lend(connection: C, from: 'idle' | 'new'): Lease<C> {
    if (this.#state !== 'open') {
      this.#close(connection, 'pool-closed');
      throw new PoolClosedError();
    }
    connection.leasedAt = performance.now();
    connection.leakReported = false;
    connection.stack = this.#settings.redisLeakDetectionThreshold > 0 ? new Error('Lease taken here').stack : undefined;
    if (from === 'new') connection.lastUsedAt = connection.leasedAt;
    this.#leased.add(connection);
    return new Lease(connection);
  }

  #keep(connection: C): void {
    this.#idle.push(connection);
    this.#dispatch();
  }

  async #restoreThenKeep(connection: C): Promise<void> {
    try {
      await connection.restore();
    } catch (error) {
      this.#logger.debug({ err: error }, 'Leased Redis connection could not be reset');
      return this.#close(connection, 'unrestorable');
    }
    this.#keep(connection);
  }

  #abortHung(connection: C): void {
    const error = new CommandTimeoutError(
      this.#settings.redisUrl,
      this.#settings.redisSocketTimeout * 1000,
      connection.pending,
    );
    this.#logger.warn({ err: error }, 'Leased Redis connection hung; closing it');
    this.#hung.add(connection);
    connection.fail(error);
    connection.close();
  }

  /** Closes a connection for `reason`, and gives its slot back. */
  #close(connection: C, reason: CloseReason): void {
    this.#closeKeepingSlot(connection, reason);
    this.giveSlot();
  }

  /** Closes a connection for `reason`; its slot goes to the caller at hand. */
  #closeKeepingSlot(connection: C, reason: CloseReason): void {
    const at = this.#idle.indexOf(connection);
    if (at !== -1) this.#idle.splice(at, 1);
    this.#leased.delete(connection);
    this.#closes.record(reason, 'lease');
    connection.close();
  }
}

/** Settles with `work`, or rejects with the signal's reason as soon as it aborts. */
function abortable<T>(work: Promise<T> | T, signal: AbortSignal, onAbort: () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const abort = () => {
      onAbort();
      reject(signal.reason);
    };
    signal.addEventListener('abort', abort, { once: true });
    Promise.resolve(work).then(
      (value) => {
        signal.removeEventListener('abort', abort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', abort);
        reject(error);
      },
    );
  });
}
