import { setTimeout as sleep } from 'node:timers/promises';
import { RedisAuthError, RedisUnavailableError } from '../errors.js';
import type { CommonAppSettings } from '../settings.js';

/** The least wait, in ms, before trying again with credentials the server refused: they rarely fix themselves. */
export const AUTH_RETRY_FLOOR_MS = 1000;

/**
 * Capped exponential backoff with jitter, in ms: `REDIS_RECONNECT_BASE_DELAY` doubling with each
 * retry up to `REDIS_RECONNECT_MAX_DELAY`, each delay drawn between half and all of that, so that
 * many clients do not reconnect in step. After refused credentials, at least `AUTH_RETRY_FLOOR_MS`.
 */
export function backoffDelay(retries: number, settings: CommonAppSettings, cause?: unknown): number {
  const ceiling = Math.min(
    settings.redisReconnectMaxDelay,
    settings.redisReconnectBaseDelay * 2 ** Math.min(retries, 30),
  );
  const delay = Math.round((ceiling / 2 + Math.random() * (ceiling / 2)) * 1000);
  return cause instanceof RedisAuthError ? Math.max(delay, AUTH_RETRY_FLOOR_MS) : delay;
}

/**
 * Runs `attempt` until it succeeds, waiting `backoffDelay` between failures, each reported to
 * `onFailure`; gives up, with `undefined`, once `stopped()` says so.
 */
export async function retryWithBackoff<T>(
  attempt: () => Promise<T>,
  settings: CommonAppSettings,
  stopped: () => boolean,
  onFailure: (error: unknown) => void,
): Promise<T | undefined> {
  for (let retries = 0; !stopped(); retries++) {
    try {
      return await attempt();
    } catch (error) {
      onFailure(error);
      await sleep(backoffDelay(retries, settings));
    }
  }
  return undefined;
}

/**
 * The back-off on opening connections after a failure, here or on another connection of the
 * pool: no connection is opened until it has passed, and while failures continue one opening at a
 * time probes the server, so a server that is down, or refuses our credentials, meets a few
 * attempts per second, not one per caller.
 */
export class OpeningBackoff {
  readonly #settings: CommonAppSettings;
  #failures = 0;
  #openAfter = 0;
  #lastError: unknown;

  constructor(settings: CommonAppSettings) {
    this.#settings = settings;
  }

  /** The last failure, for `AcquireTimeoutError` and for callers refused meanwhile. */
  get lastError(): unknown {
    return this.#lastError;
  }

  failed(error: unknown): void {
    this.#lastError = error;
    this.#openAfter = performance.now() + backoffDelay(this.#failures++, this.#settings, error);
  }

  succeeded(): void {
    this.#failures = 0;
    this.#openAfter = 0;
  }

  /** Whether an opening may start, with `opening` of them under way. */
  allows(opening: number): boolean {
    return this.#failures === 0 || (performance.now() >= this.#openAfter && opening === 0);
  }

  /** Why no connection is opened now: the refused credentials themselves, or the server being unreachable. */
  refusal(): unknown {
    const last = this.#lastError;
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
}

/**
 * Opens connections through a factory within the opening back-off: each failure starts it, and
 * while it runs no connection opens (`allows()`), then one at a time probes the server.
 */
export class Opener<C> {
  readonly #factory: () => Promise<C>;
  readonly #backoff: OpeningBackoff;
  #opening = 0;

  constructor(factory: () => Promise<C>, settings: CommonAppSettings) {
    this.#factory = factory;
    this.#backoff = new OpeningBackoff(settings);
  }

  /** Openings under way. */
  get opening(): number {
    return this.#opening;
  }

  /** The last failure, for `AcquireTimeoutError`. */
  get lastError(): unknown {
    return this.#backoff.lastError;
  }

  /** Whether an opening may start now. */
  allows(): boolean {
    return this.#backoff.allows(this.#opening);
  }

  /** Why no connection opens now (see `OpeningBackoff.refusal()`). */
  refusal(): unknown {
    return this.#backoff.refusal();
  }

  /** A connection attempt failed, here or on another of the pool's connections. */
  failed(error: unknown): void {
    this.#backoff.failed(error);
  }

  /** A connection to the server was just made: openings need not back off any more. */
  succeeded(): void {
    this.#backoff.succeeded();
  }

  async open(): Promise<C> {
    this.#opening++;
    try {
      const connection = await this.#factory();
      this.succeeded();
      return connection;
    } catch (error) {
      this.failed(error);
      throw error;
    } finally {
      this.#opening--;
    }
  }
}
