import { EventEmitter } from 'node:events';
import { connectWithin } from '../client/connect.js';
import { type ConnectionHooks, createConnection } from '../client/connection.js';
import type { ClientExtras } from '../client/extras.js';
import type { ConnectionEventName, StringClient } from '../client/types.js';
import { PoolClosedError } from '../errors.js';
import type { Logger } from '../logger.js';
import { decoderTap, pendingCount } from '../node-redis/node-redis.js';
import type { CommonAppSettings } from '../settings.js';
import type { Target } from '../topology/target.js';
import { retryWithBackoff } from './backoff.js';
import type { CloseReason, Closes } from './closes.js';
import {
  forget,
  type Kind,
  METHODS,
  type Names,
  type PubSubListener,
  type ShardedPubSub,
  type SubscriberEvents,
  type Subscriptions,
} from './pub-sub.js';
import { ReplyMonitor } from './reply-monitor.js';

/** @internal What the pool makes its subscriber with. */
export interface SubscriberOptions {
  settings: CommonAppSettings;
  logger: Logger;
  /** The pool's budget, where the subscriber's connection takes its slot. */
  slots: { reserve: () => Promise<void>; give: () => void };
  /** Where it connects: read at each (re)connect. */
  target: Target;
  onEvent?: ConnectionHooks['onEvent'];
  /** Where shard channels go instead of its connection: the cluster client, in cluster mode. */
  sharded?: ShardedPubSub | undefined;
  closes: Closes;
  /** The pool's client options (`RedisPoolOptions.clientOptions`). */
  extras?: ClientExtras | undefined;
}

/**
 * Pub/sub on a dedicated connection, which counts against `REDIS_MAX_CONNECTIONS` and is opened
 * on the first subscription (or `connect()`). It stands in for a node-redis subscriber client:
 * the same methods and arguments (with `bufferMode`), `isOpen`/`isReady`, and its events.
 * Subscriptions are kept here as well as on the connection: when the connection is lost or hangs,
 * a new one is opened with backoff and every channel, pattern and shard channel is subscribed
 * again. In cluster mode, shard channels (`sSubscribe`) go through the cluster client, to the
 * node that owns each one's slot. Messages published while it is down are not delivered (Redis
 * pub/sub is at-most-once); use streams for delivery that survives disconnects.
 */
export class Subscriber extends EventEmitter<SubscriberEvents> {
  readonly #settings: CommonAppSettings;
  readonly #extras: ClientExtras | undefined;
  readonly #logger: Logger;
  readonly #reserveSlot: () => Promise<void>;
  readonly #giveSlot: () => void;
  readonly #onEvent: ConnectionHooks['onEvent'];
  readonly #monitor: ReplyMonitor;
  readonly #target: Target;
  readonly #sharded: ShardedPubSub | undefined;
  readonly #closes: Closes;
  readonly #subscriptions: Record<Kind, Subscriptions> = {
    channels: new Map(),
    patterns: new Map(),
    shards: new Map(),
  };
  #client: StringClient | undefined;
  #opening: Promise<StringClient> | undefined;
  #closed = false;
  #holdsSlot = false;
  #reconnects = 0;

  /** @internal Made by the pool: `await redisPool.subscriber()`. */
  constructor({ settings, logger, slots, target, onEvent, sharded, closes, extras }: SubscriberOptions) {
    super();
    this.#target = target;
    this.#settings = settings;
    this.#extras = extras;
    this.#logger = logger;
    this.#reserveSlot = slots.reserve;
    this.#giveSlot = slots.give;
    this.#onEvent = onEvent;
    this.#sharded = sharded;
    this.#closes = closes;
    this.#monitor = new ReplyMonitor(settings.redisSocketTimeout * 1000, settings.redisHealthCheckInterval * 1000);
  }

  /** The channels subscribed to. */
  get channels(): string[] {
    return [...this.#subscriptions.channels.keys()];
  }

  /** The patterns subscribed to. */
  get patterns(): string[] {
    return [...this.#subscriptions.patterns.keys()];
  }

  /** The shard channels subscribed to (`sSubscribe`). */
  get shards(): string[] {
    return [...this.#subscriptions.shards.keys()];
  }

  /** How many times the connection was replaced and the subscriptions restored. */
  get reconnects(): number {
    return this.#reconnects;
  }

  /** Whether `close()` was called; the pool then hands out a new subscriber. */
  get isClosed(): boolean {
    return this.#closed;
  }

  /** Whether it is open: until `close()`, as node-redis's client is from `connect()` to its end. */
  get isOpen(): boolean {
    return !this.#closed;
  }

  /** Whether the dedicated connection is open and ready. */
  get isReady(): boolean {
    return this.#client?.isReady === true;
  }

  /** Opens the dedicated connection now rather than at the first subscription. */
  async connect(): Promise<this> {
    if (this.#closed) throw new PoolClosedError();
    await this.#connection();
    return this;
  }

  /** Calls `listener` for every message on these channels; resolves once the server confirms. */
  subscribe<B extends boolean = false>(channels: Names, listener: PubSubListener<B>, bufferMode?: B): Promise<void> {
    return this.#add('channels', channels, listener as PubSubListener<boolean>, bufferMode === true);
  }

  /** Stops `listener` (or every listener) for these channels (or all of them). */
  unsubscribe<B extends boolean = false>(
    channels?: Names,
    listener?: PubSubListener<B>,
    bufferMode?: B,
  ): Promise<void> {
    return this.#remove('channels', channels, listener as PubSubListener<boolean>, bufferMode === true);
  }

  /** Calls `listener` for every message on a channel matching these glob patterns. */
  pSubscribe<B extends boolean = false>(patterns: Names, listener: PubSubListener<B>, bufferMode?: B): Promise<void> {
    return this.#add('patterns', patterns, listener as PubSubListener<boolean>, bufferMode === true);
  }

  /** Stops `listener` (or every listener) for these patterns (or all of them). */
  pUnsubscribe<B extends boolean = false>(
    patterns?: Names,
    listener?: PubSubListener<B>,
    bufferMode?: B,
  ): Promise<void> {
    return this.#remove('patterns', patterns, listener as PubSubListener<boolean>, bufferMode === true);
  }

  /** Calls `listener` for every message on these shard channels (`SSUBSCRIBE`, Redis 7). */
  sSubscribe<B extends boolean = false>(channels: Names, listener: PubSubListener<B>, bufferMode?: B): Promise<void> {
    return this.#add('shards', channels, listener as PubSubListener<boolean>, bufferMode === true);
  }

  /** Stops `listener` (or every listener) for these shard channels (or all of them). */
  sUnsubscribe<B extends boolean = false>(
    channels?: Names,
    listener?: PubSubListener<B>,
    bufferMode?: B,
  ): Promise<void> {
    return this.#remove('shards', channels, listener as PubSubListener<boolean>, bufferMode === true);
  }

  /** The pool's tick: a hung connection is replaced; an idle one is checked with PING. */
  tick(): void {
    const client = this.#client;
    if (!client?.isReady) return;
    const verdict = this.#monitor.tick(pendingCount(client));
    if (verdict === 'hung') {
      this.#logger.warn({ url: this.#settings.redisUrl }, 'Redis subscriber connection hung; replacing it');
      this.#retire(client, 'hung');
    } else if (verdict === 'check') {
      client.ping().catch((error: unknown) => {
        this.#logger.debug({ err: error }, 'Health-check PING on the Redis subscriber connection failed');
      });
    }
  }

  /** Drops the connection so that a new one is made to the pool's current target (after a failover); subscriptions follow. */
  moveOn(): void {
    if (this.#client) this.#retire(this.#client, 'failed-over');
  }

  /**
   * Closes the dedicated connection once what was sent on it is answered (an unsubscribe a
   * library did not await, say); later calls reject with `PoolClosedError`.
   */
  close(): Promise<void> {
    return this.#end('drained');
  }

  /** Closes the dedicated connection now: what was sent on it and not answered rejects. */
  destroy(): void {
    void this.#end('now');
  }

  /** `close()`, under node-redis's older name for it. */
  quit(): Promise<void> {
    return this.close();
  }

  /** `destroy()`, under node-redis's older name for it. */
  async disconnect(): Promise<void> {
    this.destroy();
  }

  async #add(kind: Kind, names: Names, listener: PubSubListener<boolean>, buffers: boolean): Promise<void> {
    if (this.#closed) throw new PoolClosedError();
    const subscriptions = this.#subscriptions[kind];
    const list = typeof names === 'string' ? [names] : [...names];
    for (const name of list) subscriptions.set(name, (subscriptions.get(name) ?? new Map()).set(listener, buffers));
    try {
      if (kind === 'shards' && this.#sharded) await this.#sharded.sSubscribe(list, listener, buffers);
      else await (await this.#connection())[METHODS[kind][0]](list, listener, buffers);
    } catch (error) {
      // Not subscribed, so not to be restored after a reconnect either.
      forget(subscriptions, list, listener);
      throw error;
    }
  }

  async #remove(kind: Kind, names: Names | undefined, listener: PubSubListener<boolean> | undefined, buffers: boolean) {
    if (this.#closed) throw new PoolClosedError();
    const subscriptions = this.#subscriptions[kind];
    const list = names === undefined ? [...subscriptions.keys()] : typeof names === 'string' ? [names] : [...names];
    forget(subscriptions, list, listener);
    if (kind === 'shards' && this.#sharded) await this.#sharded.sUnsubscribe(list, listener, buffers);
    else await this.#client?.[METHODS[kind][1]](list, listener, buffers);
  }

  async #end(how: 'drained' | 'now'): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const client = this.#client;
    this.#client = undefined;
    // Its 'end' no longer starts a replacement: it is not the current client.
    if (client) this.#closes.record('pool-closed', 'subscriber');
    if (how === 'drained' && client?.isOpen) await client.close().catch(() => client.destroy());
    else client?.destroy();
    if (this.#sharded && this.#subscriptions.shards.size > 0) {
      const unsubscribed = this.#sharded.sUnsubscribe(this.shards).catch(() => undefined);
      if (how === 'drained') await unsubscribed;
    }
    // The slot is held from the first connection on, through every replacement, until now.
    if (this.#holdsSlot) this.#giveSlot();
    this.emit('end');
  }

  /** The open connection, opening it (and taking its slot) on first use. */
  #connection(): Promise<StringClient> {
    if (this.#client) return Promise.resolve(this.#client);
    this.#opening ??= (async () => {
      await this.#reserveSlot();
      try {
        const client = await this.#open();
        if (this.#closed) {
          this.#client = undefined;
          this.#retire(client, 'pool-closed');
          throw new PoolClosedError();
        }
        this.#holdsSlot = true;
        return client;
      } catch (error) {
        this.#giveSlot();
        throw error;
      } finally {
        this.#opening = undefined;
      }
    })();
    return this.#opening;
  }

  async #open(): Promise<StringClient> {
    const client = createConnection({
      settings: this.#settings,
      extras: this.#extras,
      role: 'subscriber',
      logger: this.#logger,
      reconnect: 'never',
      hooks: {
        address: this.#target.address(),
        onEvent: (event, error) => {
          this.#onEvent?.(event, error);
          if (event === 'end' && client === this.#client && !this.#closed) void this.#replace();
          else if (event !== 'end') this.#emitEvent(event, error);
        },
      },
    });
    await connectWithin(client, this.#settings);
    this.#monitor.attach(decoderTap(client));
    this.#client = client;
    return client;
  }

  /** Destroys `client` for `reason`, counted with the pool's other closes. */
  #retire(client: StringClient, reason: CloseReason): void {
    this.#closes.record(reason, 'subscriber');
    client.destroy();
  }

  /** Opens a new connection with backoff and subscribes it to everything the old one had. */
  async #replace(): Promise<void> {
    this.#client = undefined;
    this.#onEvent?.('reconnecting');
    this.#emitEvent('reconnecting');
    const resubscribed = await retryWithBackoff(
      () => this.#resubscribe(),
      this.#settings,
      () => this.#closed,
      (error) => {
        // Forget the failed client before destroying it, so its 'end' does not start another replacement.
        const failed = this.#client as StringClient | undefined;
        this.#client = undefined;
        if (failed) this.#retire(failed, 'broken');
        this.#logger.debug({ err: error }, 'Reopening the Redis subscriber connection failed; retrying');
      },
    );
    if (resubscribed) {
      this.#reconnects++;
      this.#logger.info({ url: this.#settings.redisUrl }, 'Redis subscriber reconnected and resubscribed');
    }
  }

  /**
   * A new connection, subscribed to every channel, pattern and (but in cluster mode, where the
   * cluster client keeps them) shard channel; `false` when closed meanwhile.
   */
  async #resubscribe(): Promise<boolean> {
    const client = await this.#open();
    if (this.#closed) {
      this.#retire(client, 'pool-closed');
      return false;
    }
    const kinds: Kind[] = this.#sharded ? ['channels', 'patterns'] : ['channels', 'patterns', 'shards'];
    for (const kind of kinds) {
      for (const [name, listeners] of this.#subscriptions[kind]) {
        for (const [listener, buffers] of listeners) await client[METHODS[kind][0]](name, listener, buffers);
      }
    }
    return true;
  }

  /** Passes a connection's event on, as node-redis's client emits it; an `error` only to a listener. */
  #emitEvent(event: Exclude<ConnectionEventName, 'end'>, error?: unknown): void {
    if (event === 'error') {
      if (this.listenerCount('error') > 0) this.emit('error', error);
    } else {
      this.emit(event);
    }
  }
}
