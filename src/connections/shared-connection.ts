import { answerHits, type ClientCache } from '../client/cache.js';
import { blockingTimeoutMs, NEEDS_A_LOOK, stateCommand } from '../client/commands.js';
import { connectWithin, toConnectError } from '../client/connect.js';
import type { ConnectionHooks, Reconnect } from '../client/connection.js';
import { deadlineOf, sendWithin } from '../client/deadlines.js';
import { CLIENT_EVENTS, forwardEvents } from '../client/facades.js';
import type { StringClient } from '../client/types.js';
import { beforeDeadline } from '../deadline.js';
import { CommandTimeoutError, PoolClosedError, RedisAuthError } from '../errors.js';
import type { Logger } from '../logger.js';
import { decoderTap, flushAll, layerCommands, pendingCount, sendOn } from '../node-redis/node-redis.js';
import type { CommonAppSettings } from '../settings.js';
import type { Target } from '../topology/target.js';
import type { CloseReason, Closes } from './closes.js';
import { OfflineQueue } from './offline-queue.js';
import { ReplyMonitor, TICKS_PER_TIMEOUT } from './reply-monitor.js';
import { createFacade, guardBatches, type OnLease, refusal } from './shared-client.js';

/** State of the shared connection, as `redisPool.stats()` reports it. */
export type SharedState = 'ready' | 'reconnecting' | 'closed';

/**
 * The shared, multiplexed connection: one node-redis client that pipelines every ordinary
 * command. Blocking commands sent on it run on a leased connection instead; commands that would
 * change its state are refused with a `ClientUsageError` naming what to use.
 *
 * Its `ReplyMonitor`, ticked by the pool, bounds reply time at O(1) cost and PINGs it when idle.
 * A hung connection has its commands rejected with `CommandTimeoutError` and is replaced by a
 * fresh client, which reconnects with backoff; callers keep the same facade, whose prototype is
 * re-pointed to the new client. While the connection is down, commands wait in the
 * `OfflineQueue`, or are refused at once, as the settings say.
 *
 * With a client-side cache, a client it no longer stands on is retired from the cache (which then
 * trusts nothing that client read), it is PINGed after a second idle, so that a connection gone
 * silent is found even when every read is a hit, and the cache is emptied once a reply is late by
 * `CACHE_DOUBT_TICKS`: invalidations could be held up behind it.
 */
export class SharedConnection {
  readonly #settings: CommonAppSettings;
  readonly #logger: Logger;
  readonly #hooks: ConnectionHooks;
  readonly #facade: StringClient;
  readonly #monitor: ReplyMonitor;
  readonly #owner: SharedConnectionOwner;
  readonly #offline: OfflineQueue;
  #client: StringClient;
  /** Why the connection is down, while it is. */
  #lastError: unknown;
  /** Whether `park()` holds commands for a failover in progress. */
  #parked = false;
  #readonlyStreak = 0;
  #readonlyAfter = 0;
  #closing: Promise<void> | undefined;
  #closed = false;

  /** A shared connection, not yet connected: `connect()` opens it. */
  constructor(settings: CommonAppSettings, logger: Logger, owner: SharedConnectionOwner) {
    this.#settings = settings;
    this.#logger = logger;
    this.#owner = owner;
    this.#offline = new OfflineQueue(settings);
    const checkMs = settings.redisHealthCheckInterval * 1000;
    this.#monitor = new ReplyMonitor(
      settings.redisSocketTimeout * 1000,
      owner.cache ? Math.min(checkMs || CACHE_CHECK_MS, CACHE_CHECK_MS) : checkMs,
    );
    this.#hooks = {
      onEvent: (event, error) => {
        this.#onEvent(event, error);
        owner.onEvent?.(event, error);
      },
      // Every typed command passes here: one readiness check, a look at its deadline and one Set
      // lookup, unless it is one to hold, route or refuse. A command held or with a deadline
      // takes the facade's own way in, where its deadline is kept once for all.
      intercept: (args, options) => {
        if (!this.#client.isReady || deadlineOf(options)) return this.#route(args, options);
        return NEEDS_A_LOOK.has(args[0]) ? this.#special(args, options) : undefined;
      },
    };
    // Until connect(), a client that is never connected stands behind the facade, as in park().
    this.#client = this.#create('after-ready');
    this.#facade = createFacade(this.#client, (args, options) => this.#route(args, options), logger);
    if (owner.cache) answerHits(this.#facade, owner.cache, settings.redisKeyPrefix);
  }

  /**
   * Connects and sends PING. Rejects with a typed `ConnectError`, leaving nothing open. The client
   * is made now, since a connection reads its address when it is made, and in sentinel mode the
   * primary is known only once the sentinels have named it.
   */
  connect(): Promise<void> {
    const placeholder = this.#client;
    this.#client = this.#create('after-ready');
    Object.setPrototypeOf(this.#facade, this.#client);
    placeholder.destroy();
    return connectWithin(this.#client, this.#settings);
  }

  /** The typed node-redis client callers use. */
  get client(): StringClient {
    return this.#facade;
  }

  /** Commands queued or awaiting a reply on the shared connection. */
  get inFlight(): number {
    return pendingCount(this.#client);
  }

  /** Commands waiting for the connection to come back (`REDIS_OFFLINE_QUEUE`). */
  get held(): number {
    return this.#offline.size;
  }

  /** Whether commands are held for a failover in progress (`park()`). */
  get parked(): boolean {
    return this.#parked;
  }

  get state(): SharedState {
    if (this.#closed) return 'closed';
    return this.#client.isReady ? 'ready' : 'reconnecting';
  }

  /**
   * The monitor's tick: a hung connection (or a reconnect stuck in its handshake) is replaced,
   * an idle one is checked with PING, and held commands past their time are rejected.
   */
  tick(): void {
    this.#offline.expire(this.#lastError);
    const verdict = this.#monitor.tick(this.inFlight);
    if (this.#monitor.stalledTicks === CACHE_DOUBT_TICKS) this.#owner.cache?.flush();
    if (verdict === 'hung') this.#replaceHungClient();
    else if (verdict === 'check' && this.#client.isReady) {
      // A PING that never comes back leaves a command outstanding, which the next ticks catch.
      this.#client.ping().catch((error: unknown) => {
        this.#logger.debug({ err: error }, 'Health-check PING on the shared Redis connection failed');
      });
    }
  }

  /**
   * Stops taking commands (new ones reject with `PoolClosedError`), lets the outstanding ones
   * finish, then closes the socket. After `timeoutMs`, whatever is left is destroyed.
   */
  close(timeoutMs?: number): Promise<void> {
    this.#closing ??= this.#drain(timeoutMs);
    return this.#closing;
  }

  /** Closes the socket now; outstanding commands reject with `PoolClosedError`. */
  destroy(): void {
    if (!this.#closed) this.#owner.closes.record('pool-closed', 'shared');
    this.#closed = true;
    this.#refuseCommands();
    const error = new PoolClosedError('The Redis pool was destroyed');
    this.#offline.failAll(error);
    flushAll(this.#client, error);
    this.#client.destroy();
  }

  #create(reconnect: Reconnect): StringClient {
    const client = this.#owner.create(reconnect, {
      ...this.#hooks,
      read: this.#owner.read,
      address: this.#owner.target.address(),
      // The server became a replica behind our back (a failover): find the primary again.
      onReadonly: () => {
        if (client === this.#client) this.#reconnectAfterReadonly();
      },
    });
    this.#monitor.attach(decoderTap(client));
    // A replaced client's events (its 'end', say) are no longer the facade's.
    forwardEvents(client, CLIENT_EVENTS, () => (client === this.#client ? this.#facade : undefined));
    guardBatches(client, this.#owner.onLease, (retry) =>
      this.#client.isReady ? undefined : this.#hold(() => retry(this.#client)),
    );
    return client;
  }

  /**
   * Where every command of the facade goes in: within its deadline, if it has one (held while the
   * connection is down, or waiting for a lease, included).
   */
  #route(args: readonly unknown[], options?: unknown): Promise<unknown> {
    const deadline = deadlineOf(options);
    if (!deadline) return this.#send(args, options);
    return sendWithin(args, deadline, (over) => this.#send(args, options, over));
  }

  /**
   * Sends raw arguments: refused or routed when they must be, held while the connection is down.
   * `over()` says the caller has stopped waiting: a command held meanwhile is not sent.
   */
  #send(args: readonly unknown[], options: unknown, over?: () => boolean): Promise<unknown> {
    if (!this.#client.isReady) {
      return this.#hold(() => (over?.() ? Promise.resolve(undefined) : this.#send(args, options, over)));
    }
    return this.#special(args, options) ?? sendOn(this.#client, args, options);
  }

  /** A refusal for a state command, a lease for a blocking one, `undefined` for the rest. */
  #special(args: readonly unknown[], options: unknown): Promise<unknown> | undefined {
    const refused = stateCommand(args);
    if (refused) return Promise.reject(refusal(refused));
    if (blockingTimeoutMs(args) === undefined) return undefined;
    return this.#owner.onLease((lease) => sendOn(lease.connection.client, args, options));
  }

  /** Runs `send` once the connection is back, as `REDIS_OFFLINE_QUEUE` allows. */
  #hold(send: () => Promise<unknown>): Promise<unknown> {
    if (this.#closed || this.#closing) return Promise.reject(new PoolClosedError());
    return this.#offline.hold(this.#lastError).then(send);
  }

  #onEvent(event: string, error: unknown): void {
    if (event === 'ready') {
      this.#lastError = undefined;
      this.#offline.release();
      this.#owner.onConnectOutcome(undefined);
    } else if (event === 'error') {
      this.#lastError = toConnectError(error, this.#settings);
      // Wrong credentials do not fix themselves: waiting commands learn it now, not at their
      // timeout, and the pool stops opening connections that would meet the same refusal.
      if (this.#lastError instanceof RedisAuthError) {
        this.#offline.failAll(this.#lastError);
        this.#owner.onConnectOutcome(this.#lastError);
      }
    }
  }

  async #drain(timeoutMs: number | undefined): Promise<void> {
    this.#refuseCommands();
    this.#offline.failAll(new PoolClosedError('The Redis pool was closed while the command waited for a connection'));
    try {
      // A client whose socket is already shut has nothing to drain, and its close() would throw.
      if (this.#client.isOpen) await beforeDeadline(this.#client.close(), timeoutMs, () => undefined);
    } finally {
      // Ends a drain that ran out of time: destroy() rejects whatever is still outstanding.
      this.destroy();
      this.#logger.info({ url: this.#settings.redisUrl }, 'Redis pool closed');
    }
  }

  /** New commands reject with `PoolClosedError`, whichever way they are sent. */
  #refuseCommands(): void {
    const refuse = () => Promise.reject(new PoolClosedError());
    layerCommands(this.#client, { send: refuse, multi: refuse, pipeline: refuse });
  }

  #replaceHungClient(): void {
    const hung = this.#client;
    const pending = this.inFlight;
    const error = new CommandTimeoutError(this.#settings.redisUrl, this.#settings.redisSocketTimeout * 1000, pending);
    this.#logger.warn({ err: error, url: this.#settings.redisUrl }, 'Shared Redis connection hung; replacing it');
    this.#lastError = error;
    flushAll(hung, error);
    this.#swap();
    this.#owner.cache?.retire(hung);
    this.#owner.closes.record('hung', 'shared');
    hung.destroy();
  }

  /**
   * Replaces the client after a READONLY reply, at most once per back-off window (1 s doubling
   * up to 30 s while READONLY keeps coming), so a server that stays a replica does not make the
   * pool reconnect in a loop. The old client answers what it has outstanding, then closes.
   */
  #reconnectAfterReadonly(): void {
    const now = performance.now();
    if (this.#closing || now < this.#readonlyAfter) return;
    if (now - this.#readonlyAfter > 60_000) this.#readonlyStreak = 0;
    this.#readonlyAfter = now + Math.min(30_000, 1000 * 2 ** this.#readonlyStreak++);
    this.#logger.warn(
      { url: this.#settings.redisUrl },
      'Redis answered READONLY: the server is now a replica; reconnecting to find the primary',
    );
    this.moveOn('readonly');
    this.#owner.onReadonly();
  }

  /**
   * Stops sending to the current server: new commands wait, as while the connection is down,
   * until `moveOn()`. Outstanding ones finish on it. For a failover in progress.
   */
  park(): void {
    const old = this.#client;
    if (this.#parked || this.#closing) return;
    this.#parked = true;
    const parked = this.#create('always');
    this.#client = parked;
    Object.setPrototypeOf(this.#facade, parked);
    this.#retire(old, 'failed-over');
  }

  /**
   * Moves to a new connection, made to the owner's current target (after a failover, the new
   * primary). The old connection answers what it has outstanding, then closes.
   */
  moveOn(reason: 'failed-over' | 'readonly' = 'failed-over'): void {
    this.#parked = false;
    const old = this.#client;
    this.#swap();
    this.#retire(old, reason);
  }

  /** Closes a client the facade no longer stands on, once it has answered what it has outstanding. */
  #retire(old: StringClient, reason: CloseReason): void {
    this.#owner.cache?.retire(old);
    this.#owner.closes.record(reason, 'shared');
    old.close().catch(() => old.destroy());
  }

  /** Ends a `park()`: back to the owner's target, which has not changed. */
  resume(): void {
    if (this.#parked) this.moveOn();
  }

  /** Puts a new client behind the facade, connecting with backoff. */
  #swap(): void {
    if (this.#closing) return;
    const next = this.#create('always');
    this.#client = next;
    Object.setPrototypeOf(this.#facade, next);
    next.connect().catch((cause: unknown) => {
      this.#logger.debug({ err: cause }, 'Replacement Redis connection ended before it was ready');
    });
  }
}

/** What the shared connection needs from the pool that owns it. */
export interface SharedConnectionOwner extends Pick<ConnectionHooks, 'onEvent'> {
  /** Why its connections were closed, counted pool-wide. */
  closes: Closes;
  /** Makes a client, not yet connected, with these hooks: the factory (`createConnection` for the 'shared' role). */
  create(reconnect: Reconnect, hooks: ConnectionHooks): StringClient;
  /** Where to connect; read at each new connection. */
  target: Target;
  /** Runs blocking commands on a leased connection. */
  onLease: OnLease;
  /** Sends read-only commands elsewhere (sentinel mode's replicas), see `ConnectionHooks.read`. */
  read?: ConnectionHooks['read'];
  /** The server answered READONLY: other connections to it should go too. */
  onReadonly: () => void;
  /** The connection is ready again (`undefined`), or reconnecting met refused credentials. */
  onConnectOutcome: (error: RedisAuthError | undefined) => void;
  /** The pool's client-side cache, which the owner's `create()` gives each client. */
  cache?: ClientCache | undefined;
}

/** With a client-side cache, an idle shared connection is PINGed this often at least, in ms. */
const CACHE_CHECK_MS = 1000;
/** With a client-side cache, a reply this many ticks late (a fifth of `REDIS_SOCKET_TIMEOUT`) empties it. */
const CACHE_DOUBT_TICKS = TICKS_PER_TIMEOUT / 5;
