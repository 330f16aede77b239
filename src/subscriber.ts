import { retryWithBackoff } from './backoff.js';
import { type ConnectionHooks, connectWithin, createConnection, type StringClient } from './connection.js';
import { PoolClosedError } from './errors.js';
import { ReplyMonitor } from './health.js';
import type { Logger } from './logger.js';
import { decoderTap, pendingCount } from './node-redis.js';
import type { CommonAppSettings } from './settings.js';
import type { Target } from './target.js';

/** Receives one published message: its text and the channel it came on. */
export type MessageListener = (message: string, channel: string) => void;

type Kind = 'channels' | 'patterns';

/**
 * Pub/sub on a dedicated connection, which counts against `REDIS_MAX_CONNECTIONS` and is opened
 * on the first subscription. Subscriptions are kept here as well as on the connection: when the
 * connection is lost or hangs, a new one is opened with backoff and every channel and pattern is
 * subscribed again. Messages published while it is down are not delivered (Redis pub/sub is
 * at-most-once); use streams for delivery that survives disconnects.
 */
export class Subscriber {
  readonly #settings: CommonAppSettings;
  readonly #logger: Logger;
  readonly #reserveSlot: () => Promise<void>;
  readonly #giveSlot: () => void;
  readonly #onEvent: ConnectionHooks['onEvent'];
  readonly #monitor: ReplyMonitor;
  readonly #target: Target;
  readonly #subscriptions: Record<Kind, Map<string, Set<MessageListener>>> = {
    channels: new Map(),
    patterns: new Map(),
  };
  #client: StringClient | undefined;
  #opening: Promise<StringClient> | undefined;
  #closed = false;
  #holdsSlot = false;
  #reconnects = 0;

  /** @internal Made by the pool: `await redisPool.subscriber()`. */
  constructor(
    settings: CommonAppSettings,
    logger: Logger,
    slots: { reserve: () => Promise<void>; give: () => void },
    target: Target,
    onEvent?: ConnectionHooks['onEvent'],
  ) {
    this.#target = target;
    this.#settings = settings;
    this.#logger = logger;
    this.#reserveSlot = slots.reserve;
    this.#giveSlot = slots.give;
    this.#onEvent = onEvent;
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

  /** How many times the connection was replaced and the subscriptions restored. */
  get reconnects(): number {
    return this.#reconnects;
  }

  /** Whether `close()` was called; the pool then hands out a new subscriber. */
  get isClosed(): boolean {
    return this.#closed;
  }

  /** Whether the dedicated connection is open and ready. */
  get isReady(): boolean {
    return this.#client?.isReady === true;
  }

  /** Calls `listener` for every message on these channels; resolves once the server confirms. */
  subscribe(channels: string | readonly string[], listener: MessageListener): Promise<void> {
    return this.#change('channels', channels, listener, true);
  }

  /** Stops `listener` (or every listener) for these channels (or all of them). */
  unsubscribe(channels?: string | readonly string[], listener?: MessageListener): Promise<void> {
    return this.#change('channels', channels, listener, false);
  }

  /** Calls `listener` for every message on a channel matching these glob patterns. */
  pSubscribe(patterns: string | readonly string[], listener: MessageListener): Promise<void> {
    return this.#change('patterns', patterns, listener, true);
  }

  /** Stops `listener` (or every listener) for these patterns (or all of them). */
  pUnsubscribe(patterns?: string | readonly string[], listener?: MessageListener): Promise<void> {
    return this.#change('patterns', patterns, listener, false);
  }

  /** The pool's tick: a hung connection is replaced; an idle one is checked with PING. */
  tick(): void {
    const client = this.#client;
    if (!client?.isReady) return;
    const verdict = this.#monitor.tick(pendingCount(client));
    if (verdict === 'hung') {
      this.#logger.warn({ url: this.#settings.redisUrl }, 'Redis subscriber connection hung; replacing it');
      client.destroy();
    } else if (verdict === 'check') {
      client.ping().catch((error: unknown) => {
        this.#logger.debug({ err: error }, 'Health-check PING on the Redis subscriber connection failed');
      });
    }
  }

  /** Drops the connection so that a new one is made to the pool's current target (after a failover); subscriptions follow. */
  moveOn(): void {
    this.#client?.destroy();
  }

  /** Closes the dedicated connection; later calls reject with `PoolClosedError`. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const client = this.#client;
    this.#client = undefined;
    client?.destroy();
    // The slot is held from the first connection on, through every replacement, until now.
    if (this.#holdsSlot) this.#giveSlot();
  }

  async #change(
    kind: Kind,
    names: string | readonly string[] | undefined,
    listener: MessageListener | undefined,
    add: boolean,
  ) {
    if (this.#closed) throw new PoolClosedError();
    const subscriptions = this.#subscriptions[kind];
    const list = names === undefined ? [...subscriptions.keys()] : typeof names === 'string' ? [names] : [...names];
    if (!add) {
      for (const name of list) {
        const listeners = subscriptions.get(name);
        if (listener) listeners?.delete(listener);
        if (!listener || listeners?.size === 0) subscriptions.delete(name);
      }
      if (!this.#client) return;
      const client = this.#client;
      await (kind === 'channels' ? client.unsubscribe(list, listener) : client.pUnsubscribe(list, listener));
      return;
    }
    const added = listener as MessageListener;
    for (const name of list) subscriptions.set(name, (subscriptions.get(name) ?? new Set()).add(added));
    try {
      const client = await this.#connection();
      await (kind === 'channels' ? client.subscribe(list, added) : client.pSubscribe(list, added));
    } catch (error) {
      // Not subscribed, so not to be restored after a reconnect either.
      for (const name of list) {
        subscriptions.get(name)?.delete(added);
        if (subscriptions.get(name)?.size === 0) subscriptions.delete(name);
      }
      throw error;
    }
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
          client.destroy();
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
    const client = createConnection(this.#settings, 'subscriber', this.#logger, 'never', {
      address: this.#target.address(),
      onEvent: (event, error) => {
        this.#onEvent?.(event, error);
        if (event === 'end' && client === this.#client && !this.#closed) void this.#replace();
      },
    });
    await connectWithin(client, this.#settings);
    this.#monitor.attach(decoderTap(client));
    this.#client = client;
    return client;
  }

  /** Opens a new connection with backoff and subscribes it to everything the old one had. */
  async #replace(): Promise<void> {
    this.#client = undefined;
    this.#onEvent?.('reconnecting');
    const resubscribed = await retryWithBackoff(
      () => this.#resubscribe(),
      this.#settings,
      () => this.#closed,
      (error) => {
        // Forget the failed client before destroying it, so its 'end' does not start another replacement.
        const failed = this.#client as StringClient | undefined;
        this.#client = undefined;
        failed?.destroy();
        this.#logger.debug({ err: error }, 'Reopening the Redis subscriber connection failed; retrying');
      },
    );
    if (resubscribed) {
      this.#reconnects++;
      this.#logger.info({ url: this.#settings.redisUrl }, 'Redis subscriber reconnected and resubscribed');
    }
  }

  /** A new connection, subscribed to every channel and pattern; `false` when closed meanwhile. */
  async #resubscribe(): Promise<boolean> {
    const client = await this.#open();
    if (this.#closed) {
      client.destroy();
      return false;
    }
    for (const [channel, listeners] of this.#subscriptions.channels) {
      for (const listener of listeners) await client.subscribe(channel, listener);
    }
    for (const [pattern, listeners] of this.#subscriptions.patterns) {
      for (const listener of listeners) await client.pSubscribe(pattern, listener);
    }
    return true;
  }
}
