import { RedisAuthError, RedisUnavailableError } from '../errors.js';
import type { CommonAppSettings } from '../settings.js';

interface Held {
  deadline: number;
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * Where commands wait while the shared connection is down: `REDIS_OFFLINE_QUEUE`, bounded in
 * length by `REDIS_OFFLINE_QUEUE_SIZE` and in time by `REDIS_OFFLINE_QUEUE_TIMEOUT`. A command
 * held here has not been sent, so every rejection is a `RedisUnavailableError` (safe to retry),
 * or the `RedisAuthError` that keeps the connection down. Released in arrival order.
 */
export class OfflineQueue {
  readonly #settings: CommonAppSettings;
  #held: Held[] = [];

  constructor(settings: CommonAppSettings) {
    this.#settings = settings;
  }

  get size(): number {
    return this.#held.length;
  }

  /**
   * Resolves when the connection is back; `lastError` is why it is down, if known. Rejects at once
   * when the queue is off or full, or when the server refused the credentials.
   */
  hold(lastError: unknown): Promise<void> {
    if (lastError instanceof RedisAuthError) return Promise.reject(lastError);
    const { redisUrl, redisOfflineQueue, redisOfflineQueueSize, redisOfflineQueueTimeout } = this.#settings;
    if (!redisOfflineQueue) {
      return Promise.reject(
        new RedisUnavailableError(
          redisUrl,
          'offline-queue-off',
          'the connection is down and REDIS_OFFLINE_QUEUE is off',
          lastError,
        ),
      );
    }
    if (this.#held.length >= redisOfflineQueueSize) {
      return Promise.reject(
        new RedisUnavailableError(
          redisUrl,
          'offline-queue-full',
          `the connection is down and ${redisOfflineQueueSize} commands already wait for it (REDIS_OFFLINE_QUEUE_SIZE)`,
          lastError,
        ),
      );
    }
    return new Promise((resolve, reject) => {
      this.#held.push({ deadline: performance.now() + redisOfflineQueueTimeout * 1000, resolve, reject });
    });
  }

  /** The connection is back: every held command goes on, in arrival order. */
  release(): void {
    const held = this.#held;
    this.#held = [];
    for (const entry of held) entry.resolve();
  }

  /** Rejects the commands that have waited `REDIS_OFFLINE_QUEUE_TIMEOUT`. */
  expire(lastError: unknown): void {
    const now = performance.now();
    let expired = 0;
    while (expired < this.#held.length && (this.#held[expired] as Held).deadline <= now) expired++;
    if (expired === 0) return;
    const error = new RedisUnavailableError(
      this.#settings.redisUrl,
      'offline-queue-timeout',
      `the connection stayed down for ${this.#settings.redisOfflineQueueTimeout} s (REDIS_OFFLINE_QUEUE_TIMEOUT)`,
      lastError,
    );
    for (const entry of this.#held.splice(0, expired)) entry.reject(error);
  }

  /** Rejects every held command with `error`. */
  failAll(error: unknown): void {
    const held = this.#held;
    this.#held = [];
    for (const entry of held) entry.reject(error);
  }
}
