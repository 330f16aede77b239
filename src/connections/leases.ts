import { abortable, beforeDeadline } from '../deadline.js';
import { AcquireTimeoutError, CommandTimeoutError, LeaseReleasedError, PoolClosedError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { CommonAppSettings } from '../settings.js';
import { Opener } from './backoff.js';
import type { ConnectionBudget } from './budget.js';
import type { CloseReason, Closes } from './closes.js';
import {
  Lease,
  type LeaseEvents,
  type LeaseOptions,
  type LeasePoolOptions,
  type LeaseStats,
  type PooledConnection,
} from './lease.js';
import { LeaseChecks } from './lease-checks.js';
import { WaiterQueue } from './waiters.js';

/** What a caller is given: an idle connection, or (`connection: undefined`) a slot to open one in. */
interface Grant<C> {
  connection: C | undefined;
}

/**
 * The leased side of the pool: exclusive connections lent FIFO within the pool's budget, checked
 * before they are lent, restored or closed when they come back, closed when idle or old. This is
 * the mechanism (undici's split); the waiters, the budget, the opener and the checks are parts of their own.
 */
export class LeasePool<C extends PooledConnection = PooledConnection> {
  readonly #settings: CommonAppSettings;
  readonly #logger: Logger;
  readonly #events: LeaseEvents;
  readonly #checks: LeaseChecks;
  readonly #budget: ConnectionBudget;
  readonly #closes: Closes;
  readonly #opener: Opener<C>;
  readonly #waiters: WaiterQueue<Grant<C>>;
  readonly #idle: C[] = [];
  readonly #leased = new Set<C>();
  /** Connections the watchdog ended while lent, closed for that reason when they come back. */
  readonly #hung = new WeakSet<C>();
  #state: 'open' | 'closing' | 'closed' = 'open';
  /** While a failover runs, nothing is lent: callers wait in line, up to `REDIS_POOL_TIMEOUT`. */
  #held = false;
  #drained: (() => void) | undefined;
  readonly #stats = { hits: 0, misses: 0 };

  constructor({ settings, logger, events, target, budget, closes, open }: LeasePoolOptions<C>) {
    this.#settings = settings;
    this.#logger = logger;
    this.#events = events;
    this.#checks = new LeaseChecks(settings, target, logger);
    this.#budget = budget;
    this.#closes = closes;
    this.#opener = new Opener(open, settings);
    this.#waiters = new WaiterQueue((timeoutMs) => {
      const error = new AcquireTimeoutError(timeoutMs, this.#situation(), this.#opener.lastError);
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
      connecting: this.#opener.opening,
      pending: this.#waiters.size,
      hits: this.#stats.hits,
      misses: this.#stats.misses,
      timeouts,
      waitCount,
      waitTimeMs,
    };
  }

  /** Waits in line with lease callers for a slot the caller keeps (the subscriber's); `giveSlot()` returns it. */
  async reserveSlot(): Promise<void> {
    const { connection } = this.#grantNow() ?? (await this.#wait({}));
    if (connection) this.#closeKeepingSlot(connection, 'made-way');
  }

  /** Gives back a slot taken with `reserveSlot()`, or by an opening that failed. */
  giveSlot(): void {
    this.#budget.give();
    this.#dispatch();
  }

  /** Runs `use` with a lease, given back when `use` settles, or at once when `options.signal` aborts. */
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
    if (!this.#opener.allows()) return;
    while (
      this.#state === 'open' &&
      this.#waiters.size === 0 &&
      this.#idle.length + this.#opener.opening < this.#minIdle() &&
      this.#budget.tryTake()
    ) {
      this.#opener.open().then(
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

  /** Graceful: waiters are refused, idle connections closed, leased ones as they come back (or at `timeoutMs`). */
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

  /** A connection attempt failed, here or elsewhere in the pool: openings back off, and it is kept for `AcquireTimeoutError`. */
  connectFailed(error: unknown): void {
    this.#opener.failed(error);
  }

  /** Notes that a connection to the server was just made: openings need not back off any more. */
  connectSucceeded(): void {
    this.#opener.succeeded();
  }

  /** Lends nothing until `resume()`: during a failover, writes to the old primary would be lost. Callers wait in line. */
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

  /** A lease at once, when an idle connection needs no check and nobody is queued first; else `undefined`. */
  #tryAcquire(): Lease<C> | undefined {
    if (this.#state !== 'open' || this.#waiters.size > 0 || this.#held) return undefined;
    const connection = this.#idle.at(-1);
    if (!connection?.isReady || this.#checks.checkDue(connection) || !this.#checks.isCurrent(connection))
      return undefined;
    this.#idle.pop();
    this.#stats.hits++;
    return this.#lend(connection, 'idle');
  }

  /** Lends a connection: an idle one (checked first if it has been idle long), or a new one. */
  async #acquire(options: LeaseOptions): Promise<Lease<C>> {
    const { connection } = this.#grantNow() ?? (await this.#wait(options));
    if (connection) {
      const unfit = await this.#checks.unfit(connection);
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
      if (!this.#opener.allows()) throw this.#opener.refusal();
      opened = await this.#opener.open();
    } catch (error) {
      this.giveSlot();
      throw error;
    }
    return this.#lend(opened, 'new');
  }

  /** Takes a lease back: closes an unusable connection, restores a changed one (the only case returning a promise). */
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

  /** Why a connection given back cannot be lent again, if it cannot. */
  #unusable(connection: C): CloseReason | undefined {
    if (this.#state !== 'open') return 'pool-closed';
    if (this.#hung.has(connection)) return 'hung';
    return this.#checks.unusable(connection);
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
