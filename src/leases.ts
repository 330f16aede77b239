import { blockingTimeoutMs } from './commands.js';
import {
  AUTH_RETRY_FLOOR_MS,
  backoffDelay,
  type ConnectionHooks,
  connectWithin,
  createConnection,
  refuseLifecycle,
  type StringClient,
} from './connection.js';
import {
  AcquireTimeoutError,
  CommandTimeoutError,
  ConnectionLostError,
  LeaseReleasedError,
  PoolClosedError,
  RedisAuthError,
  RedisUnavailableError,
} from './errors.js';
import { ReplyMonitor } from './health.js';
import type { Logger } from './logger.js';
import { internals } from './node-redis.js';
import type { Target } from './sentinel.js';
import type { CommonAppSettings, NodeAddress } from './settings.js';

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
export interface LeaseEvents extends Pick<ConnectionHooks, 'onEvent'> {
  onAcquireTimeout(error: AcquireTimeoutError): void;
  onLeak(report: LeakReport): void;
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
  staleClosed: number;
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
  staleClosed: 0,
});

const word = (arg: unknown) => String(arg).toUpperCase();

/**
 * One connection that can be lent, with what it takes to lend it again safely: when it was made
 * and last used, and whether the borrower changed its state.
 */
class LeasableConnection {
  readonly client: StringClient;
  readonly monitor: ReplyMonitor;
  readonly expiresAt: number;
  /** The prototype of every lease facade of this connection. */
  readonly base: StringClient;
  lastUsedAt = performance.now();
  leasedAt = 0;
  stack: string | undefined;
  leakReported = false;
  /** State changes seen on the connection, from commands sent through it. */
  watching = false;
  inMulti = false;
  selectedDb: number;
  repliesOff = false;
  monitoring = false;
  wasReset = false;
  /** The server answered READONLY: it is a replica now, so the connection is not lent again. */
  readonly = false;

  /** Where it is connected: a failover makes it stale. */
  readonly address: NodeAddress | undefined;

  constructor(
    client: StringClient,
    settings: CommonAppSettings,
    monitor: ReplyMonitor,
    address: NodeAddress | undefined,
  ) {
    this.client = client;
    this.address = address;
    this.monitor = monitor;
    this.selectedDb = settings.redisDb;
    const lifetimeMs = settings.redisMaxLifetime * 1000;
    // Up to 10 % sooner, so connections made together do not all expire together.
    this.expiresAt =
      lifetimeMs > 0 ? this.lastUsedAt + lifetimeMs * (1 - Math.random() * 0.1) : Number.POSITIVE_INFINITY;
    this.base = leaseBase(this);
    monitor.attach(client);
    this.#track(settings.redisUrl);
  }

  get pending(): number {
    return internals(this.client)._getQueue().pendingCount;
  }

  /** State a RESET must undo before the connection is lent again (WATCH alone needs only UNWATCH). */
  needsReset(defaultDb: number): boolean {
    return (
      this.inMulti ||
      this.repliesOff ||
      this.monitoring ||
      this.wasReset ||
      this.selectedDb !== defaultDb ||
      this.client.isPubSubActive
    );
  }

  /** Nothing to undo before the connection is lent again. */
  isClean(defaultDb: number): boolean {
    return this.selectedDb === defaultDb && !this.watching && !this.client.isWatching && !this.needsReset(defaultDb);
  }

  clearState(defaultDb: number): void {
    this.watching = this.inMulti = this.repliesOff = this.monitoring = this.wasReset = false;
    this.selectedDb = defaultDb;
  }

  /**
   * Every command path of the lent client ends in `sendCommand`, `_executeMulti` or
   * `_executePipeline` on the instance; watching them tells what state the borrower left, lets a
   * blocking command keep the connection silent for its own timeout, and turns node-redis's
   * "client is closed" into `ConnectionLostError` once the connection has dropped.
   */
  #track(url: string): void {
    const instance = internals(this.client)._self;
    const lost = () =>
      Promise.reject(new ConnectionLostError(url, new Error('the leased connection had already closed')));
    const send = instance.sendCommand;
    instance.sendCommand = (args, options) => {
      if (!this.client.isOpen) return lost();
      const name = word(args[0]);
      if (name === 'WATCH') this.watching = true;
      else if (name === 'UNWATCH') this.watching = false;
      else if (name === 'MULTI') this.inMulti = true;
      else if (name === 'EXEC' || name === 'DISCARD') this.inMulti = this.watching = false;
      else if (name === 'SELECT') this.selectedDb = Number(String(args[1]));
      else if (name === 'CLIENT' && word(args[1]) === 'REPLY') this.repliesOff = word(args[2]) !== 'ON';
      else if (name === 'RESET') this.wasReset = true;
      const reply = send.call(instance, args, options);
      const blockingMs = blockingTimeoutMs(args);
      if (blockingMs !== undefined) {
        const done = this.monitor.expectSilence(blockingMs);
        reply.then(done, done);
      }
      return reply;
    };
    const executeMulti = instance._executeMulti as (...args: unknown[]) => Promise<unknown>;
    instance._executeMulti = (...args: unknown[]) => {
      if (!this.client.isOpen) return lost();
      // EXEC ends a WATCH whatever its outcome.
      const reply = executeMulti.apply(instance, args);
      this.watching = false;
      return reply;
    };
    const executePipeline = instance._executePipeline as (...args: unknown[]) => Promise<unknown>;
    instance._executePipeline = (...args: unknown[]) =>
      this.client.isOpen ? executePipeline.apply(instance, args) : lost();
  }
}

/** The prototype shared by every lease facade of one connection: lifecycle refusals and MONITOR tracking. */
function leaseBase(connection: LeasableConnection): StringClient {
  const base = Object.create(connection.client);
  refuseLifecycle(
    base,
    'a leased client: the pool owns the connection',
    'Return from the withConnection() callback to give it back.',
  );
  const monitor = connection.client.monitor;
  base.monitor = base.MONITOR = function (this: StringClient, ...args: unknown[]) {
    connection.monitoring = true;
    return (monitor as (...args: unknown[]) => unknown).apply(this, args);
  };
  // Every command reaches the connection through `_self`; a released lease cuts that path.
  const instance = internals(connection.client)._self;
  Object.defineProperty(base, '_self', {
    get(this: { [LEASE]: Lease }) {
      if (this[LEASE].released) throw new LeaseReleasedError();
      return instance;
    },
  });
  return base;
}

/** Where a lease's client keeps its lease. */
const LEASE = Symbol('lease');

/** One lending of a connection. Its client refuses every call once the lease is released. */
export class Lease {
  readonly connection: LeasableConnection;
  readonly client: StringClient;
  released = false;

  constructor(connection: LeasableConnection) {
    this.connection = connection;
    // One object per lease, so a client kept past its lease stays cut off after the
    // connection is lent again.
    this.client = Object.create(connection.base);
    (this.client as unknown as { [LEASE]: Lease })[LEASE] = this;
  }

  /** Sends raw arguments on the leased connection, through its tracking. */
  send(args: readonly unknown[], options?: unknown): Promise<unknown> {
    return internals(this.connection.client)._self.sendCommand(args, options);
  }
}

/** What a caller is given: an idle connection, or (`connection: undefined`) a slot to open one in. */
interface Grant {
  connection: LeasableConnection | undefined;
}

interface Waiter {
  grant(grant: Grant): void;
  fail(error: unknown): void;
}

/**
 * The leased side of the pool: exclusive connections lent FIFO, bounded with every other socket
 * by `REDIS_MAX_CONNECTIONS`, checked before they are lent, reset or closed when a borrower
 * leaves them changed, and closed when idle or old. undici's split applies: this class is the
 * mechanism (queue, slots, lifecycle); the pool decides when to use it.
 */
export class LeasePool {
  readonly #settings: CommonAppSettings;
  readonly #logger: Logger;
  readonly #events: LeaseEvents;
  readonly #target: Target;
  readonly #max: number;
  readonly #idle: LeasableConnection[] = [];
  readonly #leased = new Set<LeasableConnection>();
  /** Callers waiting for a connection, oldest first (a Set keeps insertion order, and removes in O(1)). */
  readonly #waiters = new Set<Waiter>();
  #used = 0;
  #connecting = 0;
  #state: 'open' | 'closing' | 'closed' = 'open';
  #lastConnectError: unknown;
  /**
   * After a failed opening, no connection is opened (for a lease or the idle top-up) until this
   * time: capped exponential backoff with jitter, so a server that is down or refuses our
   * credentials meets a few attempts per second, not one per caller.
   */
  #openFailures = 0;
  #openAfter = 0;
  /** While a failover runs, nothing is lent: callers wait in line, up to `REDIS_POOL_TIMEOUT`. */
  #held = false;
  #drained: (() => void) | undefined;
  readonly #stats = { hits: 0, misses: 0, timeouts: 0, waitCount: 0, waitTimeMs: 0, staleClosed: 0 };

  constructor(settings: CommonAppSettings, logger: Logger, events: LeaseEvents, target: Target) {
    this.#settings = settings;
    this.#logger = logger;
    this.#events = events;
    this.#target = target;
    this.#max = settings.redisMaxConnections;
  }

  /** Sockets held against `REDIS_MAX_CONNECTIONS`, leased or not. */
  get used(): number {
    return this.#used;
  }

  stats(): LeaseStats {
    return {
      idle: this.#idle.length,
      leased: this.#leased.size,
      connecting: this.#connecting,
      pending: this.#waiters.size,
      ...this.#stats,
    };
  }

  /** Takes one of the `REDIS_MAX_CONNECTIONS` slots for a connection the pool holds itself (the shared one). */
  takeSlot(): boolean {
    if (this.#used >= this.#max) return false;
    this.#used++;
    return true;
  }

  /**
   * Waits FIFO for a slot for a connection the caller will own for good (the subscriber), up to
   * `REDIS_POOL_TIMEOUT`. Give it back with `giveSlot()`.
   */
  async reserveSlot(options: LeaseOptions = {}): Promise<void> {
    const { connection } = this.#grantNow() ?? (await this.#wait(options));
    // An idle connection makes way for the caller's own.
    if (connection) this.#discard(connection, false, true);
  }

  /** Gives back a slot taken with `takeSlot()` or `reserveSlot()`. */
  giveSlot(): void {
    this.#used--;
    this.#dispatch();
  }

  /**
   * A lease at once, without waiting or checking, when an idle connection that needs no health
   * check is there and nobody is queued before the caller; `undefined` otherwise.
   */
  tryAcquire(): Lease | undefined {
    if (this.#state !== 'open' || this.#waiters.size > 0 || this.#held) return undefined;
    const connection = this.#idle.at(-1);
    if (!connection?.client.isReady || this.#checkDue(connection) || !this.#isCurrent(connection)) return undefined;
    this.#idle.pop();
    this.#stats.hits++;
    return this.#lend(connection, true);
  }

  /** Lends a connection: an idle one (checked first if it has been idle long), or a new one. */
  async acquire(options: LeaseOptions = {}): Promise<Lease> {
    let { connection } = this.#grantNow() ?? (await this.#wait(options));
    while (connection) {
      if (await this.#healthy(connection)) {
        this.#stats.hits++;
        return this.#lend(connection, true);
      }
      // A connection that fails its check is closed and never lent; its slot serves this caller.
      this.#discard(connection, true, true);
      connection = undefined;
    }
    this.#stats.misses++;
    let opened: LeasableConnection;
    try {
      // While openings fail, one attempt at a time probes the server once the back-off has passed.
      if (this.#openFailures > 0 && (performance.now() < this.#openAfter || this.#connecting > 0)) {
        throw this.#backingOff();
      }
      opened = await this.#open();
    } catch (error) {
      this.giveSlot();
      throw error;
    }
    return this.#lend(opened, false);
  }

  /**
   * Runs `use` with a lease, and always gives it back: when `use` settles, or at once when
   * `options.signal` aborts (the connection is then closed, its replies unread).
   */
  async run<T>(use: (lease: Lease) => Promise<T> | T, options: LeaseOptions = {}): Promise<T> {
    const lease = this.tryAcquire() ?? (await this.acquire(options));
    let abandoned = false;
    try {
      const { signal } = options;
      // Aborted while a connection was being opened: the callback never runs.
      signal?.throwIfAborted();
      if (!signal) return await use(lease);
      return await abortable(use(lease), signal, () => {
        abandoned = true;
      });
    } finally {
      const restoring = this.release(lease, abandoned);
      if (restoring) await restoring;
    }
  }

  /**
   * Takes a lease back. A connection with replies still unread, or broken, or past its lifetime
   * is closed; one whose state the borrower changed is reset first (the only case that returns
   * a promise).
   */
  release(lease: Lease, abandon = false): Promise<void> | undefined {
    if (lease.released) return undefined;
    lease.released = true;
    const connection = lease.connection;
    this.#leased.delete(connection);
    connection.lastUsedAt = performance.now();
    if (abandon) internals(connection.client)._getQueue().flushAll(new LeaseReleasedError());
    const reusable =
      !abandon &&
      this.#state === 'open' &&
      connection.client.isReady &&
      connection.pending === 0 &&
      !connection.readonly;
    if (!reusable) this.#discard(connection, false);
    else if (connection.lastUsedAt >= connection.expiresAt) this.#discard(connection, true);
    else if (!connection.isClean(this.#settings.redisDb)) return this.#restoreThenKeep(connection);
    else this.#keep(connection);
    return undefined;
  }

  /** Gives every leased connection its watchdog tick, closes idle and old ones, and tops up the minimum idle. */
  tick(): void {
    const now = performance.now();
    const leakMs = this.#settings.redisLeakDetectionThreshold * 1000;
    for (const connection of this.#leased) {
      if (connection.monitor.tick(connection.pending) === 'hung') this.#abortHung(connection);
      if (leakMs > 0 && !connection.leakReported && now - connection.leasedAt > leakMs) {
        connection.leakReported = true;
        this.#events.onLeak({ heldMs: now - connection.leasedAt, stack: connection.stack ?? '' });
      }
    }
    const idleMs = this.#settings.redisIdleTimeout * 1000;
    for (const connection of [...this.#idle]) {
      const tooIdle = idleMs > 0 && now - connection.lastUsedAt > idleMs && this.#idle.length > this.#minIdle();
      if (tooIdle || now >= connection.expiresAt) this.#discard(connection, true);
    }
    this.prewarm();
  }

  /** Opens connections in the background until `REDIS_MIN_IDLE_CONNECTIONS` are idle or opening. */
  prewarm(): void {
    if (this.#openFailures > 0 && (performance.now() < this.#openAfter || this.#connecting > 0)) return;
    while (
      this.#state === 'open' &&
      this.#waiters.size === 0 &&
      this.#idle.length + this.#connecting < this.#minIdle() &&
      this.#used < this.#max
    ) {
      this.#used++;
      this.#open().then(
        (connection) => {
          if (this.#state !== 'open') return this.#discard(connection, false);
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
    this.#failWaiters();
    for (const connection of [...this.#idle]) this.#discard(connection, false);
    if (this.#leased.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.#drained = resolve;
        if (timeoutMs !== undefined) timer = setTimeout(resolve, timeoutMs);
      });
      clearTimeout(timer);
    }
    this.destroy();
  }

  /** Immediate: waiters are refused and every connection is closed now. */
  destroy(): void {
    this.#state = 'closed';
    this.#failWaiters();
    for (const connection of [...this.#idle, ...this.#leased]) {
      internals(connection.client)._getQueue().flushAll(new PoolClosedError('The Redis pool was destroyed'));
      this.#discard(connection, false);
    }
  }

  #minIdle(): number {
    return this.#settings.redisMinIdleConnections;
  }

  /** An idle connection or a free slot, if one can be had without queueing behind earlier callers. */
  #grantNow(): Grant | undefined {
    if (this.#state !== 'open') throw new PoolClosedError();
    if (this.#waiters.size > 0 || this.#held) return undefined;
    const idle = this.#idle.pop();
    if (idle) return { connection: idle };
    if (this.#used >= this.#max) return undefined;
    this.#used++;
    return { connection: undefined };
  }

  #wait(options: LeaseOptions): Promise<Grant> {
    const timeoutMs = options.timeoutMs ?? this.#settings.redisPoolTimeout * 1000;
    const { signal } = options;
    signal?.throwIfAborted();
    const started = performance.now();
    this.#stats.waitCount++;
    return new Promise((resolve, reject) => {
      const settle = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.#waiters.delete(waiter);
        this.#stats.waitTimeMs += performance.now() - started;
      };
      const waiter: Waiter = {
        grant: (grant) => {
          settle();
          resolve(grant);
        },
        fail: (error) => {
          settle();
          reject(error);
        },
      };
      const onAbort = () => waiter.fail(signal?.reason);
      const timer = setTimeout(() => {
        this.#stats.timeouts++;
        const error = new AcquireTimeoutError(timeoutMs, this.#situation(), this.#lastConnectError);
        this.#events.onAcquireTimeout(error);
        waiter.fail(error);
      }, timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.add(waiter);
    });
  }

  #situation(): string {
    const { idle, leased, connecting, pending } = this.stats();
    return (
      `all ${this.#max} connections (REDIS_MAX_CONNECTIONS) are taken, ${leased} of them leased, ` +
      `${connecting} opening, ${idle} idle; ${pending} caller(s) waiting; stats: ${JSON.stringify({ ...this.stats(), used: this.#used })}`
    );
  }

  /** Hands freed connections and slots to waiters, first come first served. */
  #dispatch(): void {
    while (this.#waiters.size > 0 && this.#state === 'open' && !this.#held) {
      const waiter = this.#waiters.values().next().value as Waiter;
      const idle = this.#idle.pop();
      if (idle) waiter.grant({ connection: idle });
      else if (this.#used < this.#max) {
        this.#used++;
        waiter.grant({ connection: undefined });
      } else return;
    }
    if (this.#state === 'closing' && this.#leased.size === 0) this.#drained?.();
  }

  #failWaiters(): void {
    for (const waiter of [...this.#waiters]) waiter.fail(new PoolClosedError());
  }

  /**
   * Notes a failed connection attempt, here or on another of the pool's connections: it is kept
   * for AcquireTimeoutError, and no connection is opened until the back-off has passed.
   */
  connectFailed(error: unknown): void {
    this.#lastConnectError = error;
    const delay = backoffDelay(this.#openFailures++, this.#settings);
    this.#openAfter =
      performance.now() + (error instanceof RedisAuthError ? Math.max(delay, AUTH_RETRY_FLOOR_MS) : delay);
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

  /** Notes that a connection to the server was just made: openings need not back off any more. */
  connectSucceeded(): void {
    this.#openFailures = 0;
    this.#openAfter = 0;
  }

  /** Closes every idle connection: the server they lead to is no longer the primary (READONLY, or a failover). */
  discardIdle(): void {
    for (const connection of [...this.#idle]) this.#discard(connection, true);
  }

  /**
   * Opens a connection in a slot the caller already holds. A failure is kept for
   * AcquireTimeoutError and starts the back-off before the next attempt.
   */
  async #open(): Promise<LeasableConnection> {
    this.#connecting++;
    const address = this.#target.address();
    let connection: LeasableConnection | undefined;
    const client = createConnection(this.#settings, 'lease', this.#logger, 'never', {
      ...(this.#events.onEvent ? { onEvent: this.#events.onEvent } : {}),
      address,
      onReadonly: () => {
        if (connection) connection.readonly = true;
      },
    });
    try {
      await connectWithin(client, this.#settings);
      this.connectSucceeded();
      const monitor = new ReplyMonitor(this.#settings.redisSocketTimeout * 1000, 0);
      connection = new LeasableConnection(client, this.#settings, monitor, address);
      return connection;
    } catch (error) {
      this.connectFailed(error);
      throw error;
    } finally {
      this.#connecting--;
    }
  }

  /** Why no connection is opened now: the refused credentials themselves, or the server being unreachable. */
  #backingOff(): unknown {
    const last = this.#lastConnectError;
    if (last instanceof RedisAuthError) return last;
    const waitMs = Math.max(0, Math.ceil(this.#openAfter - performance.now()));
    return new RedisUnavailableError(
      this.#settings.redisUrl,
      'connect-backoff',
      `opening a connection failed moments ago; the next attempt is in ${waitMs} ms or under way ` +
        '(REDIS_RECONNECT_BASE_DELAY, REDIS_RECONNECT_MAX_DELAY)',
      last,
    );
  }

  /** Whether a connection leads where the pool's connections go now (not to a primary failed over from). */
  #isCurrent(connection: LeasableConnection): boolean {
    return connection.address === undefined || this.#target.is(connection.address);
  }

  /** Whether a connection has been idle longer than `REDIS_HEALTH_CHECK_INTERVAL`. */
  #checkDue(connection: LeasableConnection): boolean {
    const intervalMs = this.#settings.redisHealthCheckInterval * 1000;
    return intervalMs > 0 && performance.now() - connection.lastUsedAt >= intervalMs;
  }

  /** A connection idle longer than `REDIS_HEALTH_CHECK_INTERVAL` answers a PING before it is lent. */
  async #healthy(connection: LeasableConnection): Promise<boolean> {
    if (!connection.client.isReady || !this.#isCurrent(connection)) return false;
    if (!this.#checkDue(connection)) return true;
    try {
      await withTimeout(connection.client.ping(), this.#settings.redisSocketTimeout * 1000);
      return true;
    } catch (error) {
      this.#logger.debug({ err: error }, 'Idle Redis connection failed its health check; closing it');
      return false;
    }
  }

  #lend(connection: LeasableConnection, fromIdle: boolean): Lease {
    if (this.#state !== 'open') {
      this.#discard(connection, false);
      throw new PoolClosedError();
    }
    connection.leasedAt = performance.now();
    connection.leakReported = false;
    connection.stack = this.#settings.redisLeakDetectionThreshold > 0 ? new Error('Lease taken here').stack : undefined;
    if (!fromIdle) connection.lastUsedAt = connection.leasedAt;
    this.#leased.add(connection);
    return new Lease(connection);
  }

  #keep(connection: LeasableConnection): void {
    this.#idle.push(connection);
    this.#dispatch();
  }

  async #restoreThenKeep(connection: LeasableConnection): Promise<void> {
    try {
      await this.#restore(connection);
    } catch (error) {
      this.#logger.debug({ err: error }, 'Leased Redis connection could not be reset; closing it');
      return this.#discard(connection, false);
    }
    this.#keep(connection);
  }

  /**
   * Undoes what the borrower left: SELECT back to the configured database, RESET for other state
   * changes, and UNWATCH for a WATCH alone.
   */
  async #restore(connection: LeasableConnection): Promise<void> {
    const timeoutMs = this.#settings.redisSocketTimeout * 1000;
    const db = this.#settings.redisDb;
    // SELECT first, through node-redis's own select(): its reset() re-sends the SELECT of its
    // handshake from the database it last saw selected, so it must see the right one.
    if (connection.selectedDb !== db) await withTimeout(connection.client.select(db), timeoutMs);
    connection.selectedDb = db;
    if (connection.needsReset(db)) {
      await withTimeout(connection.client.reset(), timeoutMs);
    } else if (connection.watching || connection.client.isWatching) {
      await withTimeout(connection.client.unwatch(), timeoutMs);
    }
    connection.clearState(db);
  }

  #abortHung(connection: LeasableConnection): void {
    const error = new CommandTimeoutError(
      this.#settings.redisUrl,
      this.#settings.redisSocketTimeout * 1000,
      connection.pending,
    );
    this.#logger.warn({ err: error }, 'Leased Redis connection hung; closing it');
    internals(connection.client)._getQueue().flushAll(error);
    connection.client.destroy();
  }

  /** Closes a connection. `stale`: counted as closed for age or failed health; `keepSlot`: the caller reuses its slot. */
  #discard(connection: LeasableConnection, stale: boolean, keepSlot = false): void {
    const at = this.#idle.indexOf(connection);
    if (at !== -1) this.#idle.splice(at, 1);
    this.#leased.delete(connection);
    if (stale) this.#stats.staleClosed++;
    connection.client.destroy();
    if (keepSlot) return;
    this.#used--;
    this.#dispatch();
  }
}

/** Rejects with a `CommandTimeoutError`-worthy timeout if `promise` takes longer than `ms`. */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no reply within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
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
