import { EventEmitter } from 'node:events';
import type { RedisFunctions, RedisScripts } from 'redis';
import {
  type ClientExtras,
  checkAgainstSettings,
  checkClientOptions,
  type PoolClientOptions,
} from '../client/extras.js';
import type { RedisPoolClient, RedisPoolClusterClient } from '../client/types.js';
import type { LeaseOptions } from '../connections/lease.js';
import type { Subscriber } from '../connections/subscriber.js';
import { ClientUsageError, PoolClosedError, SettingsConflictError } from '../errors.js';
import { createLogger, type Logger } from '../logger.js';
import { checkNodeRedis } from '../node-redis/self-check.js';
import { CommonAppSettings, type SettingsInput } from '../settings.js';
import {
  figuresOf,
  globalMeterProvider,
  instrumentOpenTelemetry,
  type MetricsSource,
  type OpenTelemetryMeterProvider,
  type PrometheusRegistry,
  registerPrometheus,
} from './metrics.js';
import { CLOSED_POOL_STATS, OpenPool, type PoolEvents, type PoolStats } from './open-pool.js';
import { type HealthReport, healthReport } from './readiness.js';
import { type CloseOnSignalsOptions, closeOnSignals } from './shutdown.js';

/** Options of a `RedisPool` that are not settings: what code gives and no environment can say. */
export interface RedisPoolOptions<S extends RedisScripts = {}, F extends RedisFunctions = {}> {
  /**
   * Where the pool logs (pino-compatible). By default, JSON lines on stderr at `LOG_LEVEL`.
   * @example new RedisPool({ logger: pino() })
   */
  logger?: Logger;
  /**
   * node-redis Lua scripts (`defineScript()`), as methods of every client the pool hands out: the
   * shared client, leases, duplicates and the cluster client, typed. A script the server has lost
   * (SCRIPT FLUSH, a restart, a failover, a new cluster node) is sent again with EVAL, once,
   * without the caller seeing NOSCRIPT; in cluster mode, on its first key's node.
   * @example
   * const pool = new RedisPool({ scripts: { take: defineScript({ NUMBER_OF_KEYS: 1, SCRIPT: '…',
   *   parseCommand: (parser, key: string) => parser.pushKey(key), transformReply: () => 0 as NumberReply }) } });
   * await (await pool.getClient()).take('bucket');
   */
  scripts?: S;
  /**
   * node-redis function definitions (libraries loaded with FUNCTION LOAD), as typed methods of
   * every client the pool hands out (`client.library.fn(…)`). Loading the library is the
   * service's own step: the pool cannot send code it is not given.
   */
  functions?: F;
  /**
   * Connection options the environment cannot carry: TLS options beyond the files of
   * `REDIS_SSL_*`, a `credentialsProvider` for credentials that rotate, socket `family` and
   * `lookup`, and `nodeAddressMap` in cluster mode. Merged under the options the pool owns;
   * naming one of those (the offline queue, timers, the reconnect strategy, the name …) is a
   * `ClientUsageError` that says which setting governs it.
   */
  clientOptions?: PoolClientOptions;
}

/** Options of `close()`. */
export interface CloseOptions {
  /**
   * How long to let outstanding commands and leases finish, in milliseconds, before the rest
   * are rejected and the sockets destroyed. By default the drain waits for them; each command
   * is still bounded by `REDIS_SOCKET_TIMEOUT`.
   */
  timeoutMs?: number;
}

/** The client a `withConnection()` callback receives: exclusive to it until it returns. */
export type LeasedClient<
  D extends boolean = true,
  S extends RedisScripts = {},
  F extends RedisFunctions = {},
> = RedisPoolClient<D, S, F>;

/**
 * A Redis connection pool: the TypeScript port of `refactorizado.common.redis_pool.RedisPool`,
 * and more. `D` types the clients `withConnection()` lends: strings for `true`, Buffers for
 * `false`, either for `boolean` (when only `REDIS_DECODE_RESPONSES` in the environment decides). Most code uses the process-wide instance, {@link redisPool}, through
 * {@link getRedisClient} and {@link closeRedisPool}; a second `new RedisPool()` is for a second
 * Redis configuration.
 *
 * The pool opens lazily, sends PING before handing anything out, and can be closed and opened
 * again any number of times. It holds one shared, pipelined connection for ordinary commands,
 * lends exclusive connections with `withConnection()`, and keeps a dedicated connection for
 * pub/sub, all within `REDIS_MAX_CONNECTIONS`.
 */
export class RedisPool<
  D extends boolean = boolean,
  S extends RedisScripts = {},
  F extends RedisFunctions = {},
> extends EventEmitter<PoolEvents> {
  #logger: Logger | undefined;
  #extras: ClientExtras;
  readonly #leaseTimeListeners: ((kind: 'wait' | 'use', seconds: number) => void)[] = [];
  #settings: CommonAppSettings | undefined;
  #open: OpenPool | undefined;
  #opening: Promise<OpenPool> | undefined;
  #closing: Promise<void> | undefined;
  /** Bumped by destroy(), so a pool that finishes opening afterwards is thrown away. */
  #generation = 0;

  /** @throws {ClientUsageError} when `options.clientOptions` names an option the pool owns, or one it does not know. */
  constructor(options: RedisPoolOptions<S, F> = {}) {
    super();
    this.#logger = options.logger;
    this.#extras = extrasOf(options);
  }

  /**
   * Gives a pool that is not open (the process-wide {@link redisPool}, say) its options, and
   * returns it typed with its scripts and functions. Options not given keep their values.
   *
   * @throws {ClientUsageError} when the pool is open or opening (close it first), or when
   * `options.clientOptions` names an option the pool owns.
   * @example
   * export const redis = redisPool.configure({ scripts: { take } });
   * await (await redis.getClient()).take('bucket');
   */
  configure<S2 extends RedisScripts = S, F2 extends RedisFunctions = F>(
    options: RedisPoolOptions<S2, F2>,
  ): RedisPool<D, S2, F2> {
    if (this.#open || this.#opening) {
      throw new ClientUsageError(
        'configure() is for a pool that is not open: this one is open (or opening) with its options. ' +
          'Call it before the first getClient(), or close() the pool first.',
      );
    }
    const extras = extrasOf({
      scripts: this.#extras.scripts,
      functions: this.#extras.functions,
      clientOptions: this.#extras.client,
      ...options,
    });
    this.#logger = options.logger ?? this.#logger;
    this.#extras = extras;
    return this as unknown as RedisPool<D, S2, F2>;
  }

  /**
   * Reports the pool's connections through OpenTelemetry, with the semantic conventions' names:
   * `db.client.connection.count` (state `idle` or `used`), `.max`, `.idle.min`,
   * `.pending_requests`, `.timeouts`, the pool's own `redis_pool.connection.closed` (by `reason`),
   * and the histograms `.wait_time` and `.use_time` in
   * seconds, each with `db.client.connection.pool.name` (`poolName`, or `SERVICE_NAME`). The
   * gauges are read at collect time. Uses `meterProvider`, or `@opentelemetry/api`'s global one
   * (an optional peer). node-redis's own metrics (`OpenTelemetry.init` from 'redis': command
   * durations, connections, resiliency) complement these, and measure the pool's commands too.
   *
   * @throws {ClientUsageError} when neither `meterProvider` nor `@opentelemetry/api` is there.
   */
  async enableOpenTelemetry(
    options: { meterProvider?: OpenTelemetryMeterProvider; poolName?: string } = {},
  ): Promise<void> {
    instrumentOpenTelemetry(
      options.meterProvider ?? (await globalMeterProvider()),
      this.#metricsSource(options.poolName),
    );
  }

  /**
   * Registers the pool's figures in a prom-client `registry` (prom-client is an optional peer):
   * `db_client_connection_count{state}`, `…_max`, `…_idle_min`, `…_pending_requests`,
   * `…_timeouts_total`, `redis_pool_connections_closed_total{reason}`, and the histograms
   * `…_wait_time_seconds` and `…_use_time_seconds`, each
   * labelled `pool_name` (`poolName`, or `SERVICE_NAME`). The gauges are read at scrape time.
   *
   * @throws {ClientUsageError} when prom-client is not installed.
   * @example
   * import { register } from 'prom-client';
   * await redisPool.registerPrometheus(register);
   */
  async registerPrometheus(registry: PrometheusRegistry, options: { poolName?: string } = {}): Promise<void> {
    await registerPrometheus(registry, this.#metricsSource(options.poolName));
  }

  /** The open pool, unless it is closing. */
  get #serving(): OpenPool | undefined {
    return this.#closing ? undefined : this.#open;
  }

  #metricsSource(poolName: string | undefined): MetricsSource {
    return {
      figures: () => {
        const open = this.#serving;
        return open && figuresOf(open.stats(), open.settings.redisMinIdleConnections);
      },
      poolName: () => poolName ?? this.#settings?.serviceName ?? 'redis-pool',
      onLeaseTime: (listener) => {
        this.#leaseTimeListeners.push(listener);
      },
    };
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
   * @throws {UnsupportedNodeRedisError} when the node-redis installed does not behave as the pool
   * relies on (checked once per process, before the first connection).
   */
  async getClient<D extends boolean = boolean>(
    settings?: CommonAppSettings<D> | SettingsInput<D>,
  ): Promise<RedisPoolClient<D, S, F>> {
    const open = await this.#ensureOpen(settings);
    return open.client as unknown as RedisPoolClient<D, S, F>;
  }

  /**
   * In cluster mode (`REDIS_CLUSTER_NODES`), the same client as `getClient()`, typed as what it
   * is: node-redis's cluster client (`getSlotMaster()`, `masters`, `sendCommand(firstKey,
   * isReadonly, args)` …) with the pool's scripts and functions and its cluster-wide scan
   * iterators, and none of the single-server methods the cluster client lacks.
   *
   * @throws {ClientUsageError} when the settings are not cluster mode; and as `getClient()`.
   * @example
   * const cluster = await redisPool.getClusterClient();
   * for await (const keys of cluster.scanIterator({ MATCH: 'user:*' })) console.log(keys);
   */
  async getClusterClient<D extends boolean = boolean>(
    settings?: CommonAppSettings<D> | SettingsInput<D>,
  ): Promise<RedisPoolClusterClient<D, S, F>> {
    const open = await this.#ensureOpen(settings);
    if (!open.settings.redisClusterNodes) {
      throw new ClientUsageError(
        'getClusterClient() is for cluster mode, and REDIS_CLUSTER_NODES is not set: use getClient() for a single ' +
          'server or a sentinel-managed primary.',
      );
    }
    return open.client as unknown as RedisPoolClusterClient<D, S, F>;
  }

  /**
   * Lends one exclusive connection for the whole of `fn`: for WATCH/MULTI/EXEC, SELECT, CLIENT
   * state, blocking commands and long scripts. The connection comes back to the pool whatever
   * `fn` does; if `fn` left it changed (another database, an open WATCH, subscribe mode), it is
   * reset first, and if replies are still unread it is closed. Waiting is FIFO, up to
   * `REDIS_POOL_TIMEOUT`, then `AcquireTimeoutError`.
   *
   * @example
   * await redisPool.withConnection(async (client) => {
   *   await client.watch('balance');
   *   const balance = Number(await client.get('balance'));
   *   await client.multi().set('balance', String(balance - 10)).exec();
   * });
   */
  withConnection<T>(fn: (client: LeasedClient<D, S, F>) => Promise<T> | T, options?: LeaseOptions): Promise<T>;
  withConnection<T>(options: LeaseOptions, fn: (client: LeasedClient<D, S, F>) => Promise<T> | T): Promise<T>;
  withConnection<T>(
    first: LeaseOptions | ((client: never) => Promise<T> | T),
    second?: LeaseOptions | ((client: never) => Promise<T> | T),
  ): Promise<T> {
    const [fn, options] = (typeof first === 'function' ? [first, second] : [second, first]) as [
      (client: unknown) => Promise<T> | T,
      LeaseOptions | undefined,
    ];
    const run = (open: OpenPool) => open.lease((lease) => fn(lease.client), options);
    // An open pool lends at once; otherwise it opens (or finishes closing) first.
    const open = this.#serving;
    return open ? run(open) : this.#ensureOpen(undefined).then(run);
  }

  /**
   * The pub/sub side of the pool: a dedicated connection, opened on the first subscription,
   * that resubscribes to every channel and pattern after a reconnect.
   *
   * @example
   * const subscriber = await redisPool.subscriber();
   * await subscriber.subscribe('orders', (message) => console.log(message));
   */
  async subscriber(): Promise<Subscriber> {
    const open = await this.#ensureOpen(undefined);
    return open.subscriber();
  }

  /** A snapshot of the pool's connections and counters; all zero while closed. */
  stats(): PoolStats {
    return this.#open?.stats() ?? CLOSED_POOL_STATS;
  }

  /**
   * Opt-in graceful shutdown: on SIGTERM or SIGINT (or `options.signals`), closes the pool with
   * `close({ timeoutMs })`, then lets the process exit once nothing else keeps it alive; with
   * `exit: true` it exits, with code 128 + the signal's number. Other listeners of those signals
   * still run. Returns a function that removes the listeners.
   *
   * @example
   * redisPool.closeOnSignals({ timeoutMs: 5000 });
   */
  closeOnSignals(options?: CloseOnSignalsOptions): () => void {
    return closeOnSignals(
      this,
      (error) =>
        (this.#logger ?? createLogger('info')).error({ err: error }, 'Closing the Redis pool on a signal failed'),
      options,
    );
  }

  /**
   * For a Kubernetes readiness probe (not liveness: a Redis outage is no reason to restart the
   * service, and the pool reconnects by itself). PINGs what serves the pool's commands, within
   * `timeoutMs` (default 1 s): `up` when it answers; `degraded` when commands are held (the
   * offline queue, a failover) or callers wait for a lease, or in cluster mode when some primaries
   * answer; `down` when nothing answers, or the pool is closed. In sentinel mode the details name
   * the primary; in cluster mode every primary, with a status each. Never rejects, and never
   * opens a connection.
   *
   * @throws {ClientUsageError} when `timeoutMs` is not a positive number.
   * @example
   * app.get('/healthz/ready', async (_req, res) => {
   *   const health = await redisPool.health();
   *   res.status(health.status === 'down' ? 503 : 200).json(health);
   * });
   */
  async health({ timeoutMs = 1000 }: { timeoutMs?: number } = {}): Promise<HealthReport> {
    const open = this.#serving;
    const closed = this.#opening ? 'the pool is opening' : 'the pool is closed';
    return healthReport(this.#settings, timeoutMs, open ? (ms) => open.health(ms) : closed);
  }

  /**
   * Graceful shutdown: new commands and leases are refused with `PoolClosedError`, outstanding
   * commands and leases finish, then the sockets close. Idempotent; the next `getClient()` opens
   * a new pool.
   */
  close(options: CloseOptions = {}): Promise<void> {
    if (this.#closing) return this.#closing;
    const opening = this.#opening;
    const open = this.#open;
    if (!opening && !open) return Promise.resolve();
    this.#closing = (async () => {
      try {
        // An opening that fails has already reported its error to its callers and left nothing
        // open, so there is nothing to close.
        const pool = open ?? (await opening?.catch(() => undefined));
        await pool?.close(options.timeoutMs);
      } finally {
        this.#reset();
        this.#closing = undefined;
      }
    })();
    return this.#closing;
  }

  /**
   * Immediate shutdown: outstanding commands, leases and pending calls reject with
   * `PoolClosedError`, and sockets close now. Idempotent.
   */
  destroy(): void {
    this.#generation++;
    this.#open?.destroy();
    this.#reset();
  }

  async #ensureOpen(settings: CommonAppSettings | SettingsInput | undefined): Promise<OpenPool> {
    if (this.#closing) {
      await this.#closing;
      return this.#ensureOpen(settings);
    }
    const wanted =
      settings === undefined || settings instanceof CommonAppSettings ? settings : new CommonAppSettings(settings);
    if (this.#settings && wanted) {
      const differences = wanted.differences(this.#settings);
      if (differences.length > 0) throw new SettingsConflictError(differences);
    }
    if (this.#open) return this.#open;
    if (!this.#opening) {
      this.#settings = wanted ?? new CommonAppSettings();
      this.#opening = this.#start(this.#settings);
    }
    return this.#opening;
  }

  #reset(): void {
    this.#open = undefined;
    this.#opening = undefined;
    this.#settings = undefined;
  }

  async #start(settings: CommonAppSettings): Promise<OpenPool> {
    const generation = this.#generation;
    const logger = this.#logger ?? createLogger(settings.logLevel);
    try {
      checkAgainstSettings(this.#extras.client, settings);
      await checkNodeRedis(settings.redisClusterNodes !== undefined, logger);
      const open = await OpenPool.open(settings, {
        logger,
        events: this,
        onLeaseTime: (kind, ms) => {
          for (const listener of this.#leaseTimeListeners) listener(kind, ms / 1000);
        },
        extras: this.#extras,
      });
      if (generation !== this.#generation) {
        open.destroy();
        throw new PoolClosedError('The Redis pool was destroyed while it was opening');
      }
      this.#open = open;
      logger.info({ url: settings.redisUrl }, 'Redis pool open');
      return open;
    } catch (error) {
      // A failed opening leaves nothing behind, so the next getClient() starts afresh.
      if (generation === this.#generation) this.#reset();
      throw error;
    }
  }
}

/** A pool's options as its connections take them, checked. */
function extrasOf({ scripts, functions, clientOptions = {} }: RedisPoolOptions<RedisScripts, RedisFunctions>) {
  checkClientOptions(clientOptions);
  return { scripts, functions, client: clientOptions };
}

/**
 * The process-wide pool, like the Python module's `redis_pool`. It takes scripts, functions and
 * client options through {@link RedisPool.configure} before it opens.
 */
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
