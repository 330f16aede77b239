/** What pub/sub deals in: listeners, the subscriptions kept to restore, and node-redis's methods for each kind. */

/**
 * Receives one published message and the channel it came on: strings, or Buffers byte for byte
 * when subscribed with `bufferMode` true (node-redis's `PubSubListener`).
 */
export type PubSubListener<B extends boolean = false> = (
  message: B extends true ? Buffer : string,
  channel: B extends true ? Buffer : string,
) => unknown;

/** Receives one published message as text, and the channel it came on. */
export type MessageListener = PubSubListener<false>;

/** Where `sSubscribe()` goes in cluster mode: node-redis's cluster client, which follows slot owners. */
export interface ShardedPubSub {
  sSubscribe(channels: string | string[], listener: PubSubListener<boolean>, bufferMode?: boolean): Promise<unknown>;
  sUnsubscribe(
    channels?: string | string[],
    listener?: PubSubListener<boolean>,
    bufferMode?: boolean,
  ): Promise<unknown>;
}

/** The subscriber's events, named as node-redis's client names them. */
export interface SubscriberEvents {
  connect: [];
  ready: [];
  /** The subscriber was closed. */
  end: [];
  /** Emitted only while someone listens, so it never crashes the process. */
  error: [error: unknown];
  reconnecting: [];
}

export type Kind = 'channels' | 'patterns' | 'shards';
export type Names = string | readonly string[];
/** A kind's subscriptions: name → listener → whether it takes Buffers. */
export type Subscriptions = Map<string, Map<PubSubListener<boolean>, boolean>>;

/** node-redis's subscribe and unsubscribe methods of each kind. */
export const METHODS = {
  channels: ['subscribe', 'unsubscribe'],
  patterns: ['pSubscribe', 'pUnsubscribe'],
  shards: ['sSubscribe', 'sUnsubscribe'],
} as const;

/** Drops `listener` (or every listener) of each name, and the names left without one. */
export function forget(
  subscriptions: Subscriptions,
  names: readonly string[],
  listener?: PubSubListener<boolean>,
): void {
  for (const name of names) {
    const listeners = subscriptions.get(name);
    if (listener) listeners?.delete(listener);
    if (!listener || listeners?.size === 0) subscriptions.delete(name);
  }
}
