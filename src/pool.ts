import type { RedisPoolClient } from './connection.js';
import { PoolClosedError, SettingsConflictError } from './errors.js';
import { createLogger, type Logger } from './logger.js';
import { CommonAppSettings, type SettingsInput } from './settings.js';
import { SharedConnection } from './shared-connection.js';

/** Options of a `RedisPool` that are not settings. */
export interface RedisPoolOptions {
  /**
   * Where the pool logs (pino-compatible). By default, JSON lines on stderr at `LOG_LEVEL`.
   * @example new RedisPool({ logger: pino() })
   */
  logger?: Logger;
}

/** Options of `close()`. */
export interface CloseOptions {
  /**
   * How long to let outstanding commands finish, in milliseconds, before the rest are rejected
   * and the sockets destroyed. By default the drain waits for them, and each is still bounded
   * by `REDIS_SOCKET_TIMEOUT`.
   */
  timeoutMs?: number;
}

/**
 * A Redis connection pool: the TypeScript port of `refactorizado.common.redis_pool.RedisPool`.
 * Most code uses the process-wide instance, {@link redisPool}, through {@link getRedisClient}
 * and {@link closeRedisPool}; a second `new RedisPool()` is for a second Redis configuration.
 *
 * The pool opens lazily on the first `getClient()`, sends PING before handing anything out, and
 * can be closed and opened again any number of times.
 */
export class RedisPool {
  readonly #logger: Logger | undefined;
  #settings: CommonAppSettings | undefined;
  #shared: SharedConnection | undefined;
  #opening: Promise<SharedConnection> | undefined;
  #closing: Promise<void> | undefined;
  /** Bumped by destroy(), so a connection that finishes opening afterwards is thrown away. */
  #generation = 0;

  constructor(options: RedisPoolOptions = {}) {
    this.#logger = options.logger;
  }

  /** The settings of the open (or opening) pool; `undefined` while closed. */
  get settings(): CommonAppSettings | undefined {
    return this.#settings;
  }

  /**
   * Returns the shared client, opening the pool on the first call. Concurrent first calls share
   * one opening, so exactly one pool is created. Without `settings`, an open pool is returned as
   * it is and a closed one opens with `loadSettings()`.
   *
   * @throws {SettingsError} when the settings are invalid.
   * @throws {SettingsConflictError} when `settings` differ from those of the open pool.
   * @throws {ConnectError} (one of its subclasses) when the first connection fails; nothing is
   * left open, and the next call tries again.
   */
  async getClient<D extends boolean = boolean>(
    settings?: CommonAppSettings<D> | SettingsInput<D>,
  ): Promise<RedisPoolClient<D>> {
    if (this.#closing) {
      await this.#closing;
      return this.getClient(settings);
    }
    const wanted =
      settings === undefined || settings instanceof CommonAppSettings ? settings : new CommonAppSettings(settings);
    if (this.#settings && wanted) {
      const differences = wanted.differences(this.#settings);
      if (differences.length > 0) throw new SettingsConflictError(differences);
    }
    if (this.#shared) return this.#shared.client as RedisPoolClient<D>;
    if (!this.#opening) {
      this.#settings = wanted ?? new CommonAppSettings();
      this.#opening = this.#open(this.#settings);
    }
    const shared = await this.#opening;
    return shared.client as RedisPoolClient<D>;
  }

  /**
   * Graceful shutdown: new commands reject with `PoolClosedError`, outstanding ones finish,
   * then the sockets close. Idempotent; the next `getClient()` opens a new pool.
   */
  close(options: CloseOptions = {}): Promise<void> {
    if (this.#closing) return this.#closing;
    const opening = this.#opening;
    const shared = this.#shared;
    if (!opening && !shared) return Promise.resolve();
    this.#closing = (async () => {
      try {
        // An opening that fails has already reported its error to its getClient() callers and
        // left nothing open, so there is nothing to close.
        const connection = shared ?? (await opening?.catch(() => undefined));
        await connection?.close(options.timeoutMs);
      } finally {
        this.#reset();
        this.#closing = undefined;
      }
    })();
    return this.#closing;
  }

  /**
   * Immediate shutdown: outstanding commands and pending `getClient()` calls reject with
   * `PoolClosedError`, and sockets close now. Idempotent.
   */
  destroy(): void {
    this.#generation++;
    this.#shared?.destroy();
    this.#reset();
  }

  #reset(): void {
    this.#shared = undefined;
    this.#opening = undefined;
    this.#settings = undefined;
  }

  async #open(settings: CommonAppSettings): Promise<SharedConnection> {
    const generation = this.#generation;
    const logger = this.#logger ?? createLogger(settings.logLevel);
    try {
      const shared = await SharedConnection.open(settings, logger);
      if (generation !== this.#generation) {
        shared.destroy();
        throw new PoolClosedError('The Redis pool was destroyed while it was opening');
      }
      this.#shared = shared;
      logger.info({ url: settings.redisUrl }, 'Redis pool open');
      return shared;
    } catch (error) {
      // A failed opening leaves nothing behind, so the next getClient() starts afresh.
      if (generation === this.#generation) this.#reset();
      throw error;
    }
  }
}

/** The process-wide pool, like the Python module's `redis_pool`. */
export const redisPool = new RedisPool();

/**
 * The shared client of the process-wide pool, opening it on first use.
 * Settings default to `loadSettings()`, that is, the environment and `.env`.
 *
 * @example
 * const redis = await getRedisClient({ serviceName: 'orders', logLevel: 'INFO', redisDecodeResponses: true });
 * await redis.set('greeting', 'hola');
 */
export function getRedisClient<D extends boolean = boolean>(
  settings?: CommonAppSettings<D> | SettingsInput<D>,
): Promise<RedisPoolClient<D>> {
  return redisPool.getClient(settings);
}

/** Gracefully closes the process-wide pool. Safe to call when it is not open. */
export function closeRedisPool(options?: CloseOptions): Promise<void> {
  return redisPool.close(options);
}
