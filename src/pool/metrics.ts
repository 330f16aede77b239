import type { ClientCacheStats } from '../client/cache.js';
import { ClientUsageError } from '../errors.js';
import type { PoolStats } from './open-pool.js';

/*
 * The OpenTelemetry and prom-client types the pool's API takes, written structurally: the two are
 * optional peers, and a declaration that imported theirs would not compile for a consumer without
 * them (TS2307). Their own MeterProvider and Registry fit these; test/types.test-d.ts checks it.
 */

/** Attributes of a measurement, as OpenTelemetry's `Attributes`. */
type Attributes = Record<string, string>;
/** What an instrument is made with, as OpenTelemetry's `MetricOptions`. */
interface InstrumentOptions {
  unit?: string;
  description?: string;
  advice?: { explicitBucketBoundaries?: number[] };
}
/** The part of OpenTelemetry's `Meter` the pool uses. */
interface Meter {
  createObservableUpDownCounter(name: string, options?: InstrumentOptions): object;
  createObservableCounter(name: string, options?: InstrumentOptions): object;
  createHistogram(name: string, options?: InstrumentOptions): { record(value: number, attributes?: Attributes): void };
  addBatchObservableCallback(
    callback: (result: { observe(observable: object, value: number, attributes?: Attributes): void }) => void,
    observables: object[],
  ): void;
}

/** An OpenTelemetry `MeterProvider` (from `@opentelemetry/api`, or an SDK's), as far as the pool uses it. */
export interface OpenTelemetryMeterProvider {
  getMeter(name: string): Meter;
}

/** A prom-client `Registry` (its `register`, or a `new Registry()`), as far as the pool's types need it. */
export interface PrometheusRegistry {
  registerMetric(metric: object): void;
  getSingleMetric(name: string): unknown;
  metrics(): Promise<string>;
}

/** The pool-level figures both exporters give, read from `stats()` when they collect. */
export interface PoolFigures {
  idle: number;
  /** Every other connection: the shared one, the subscriber, duplicates, leased and opening ones. */
  used: number;
  max: number;
  idleMin: number;
  pending: number;
  timeouts: number;
  /** Connections the pool closed, by reason (`stats().closed`). */
  closed: Record<string, number>;
  /** The client-side cache's figures, with `REDIS_CLIENT_SIDE_CACHE` on. */
  cache: ClientCacheStats | undefined;
}

/** The client-side cache's counters, each with its help; `entries` is a gauge of its own. */
const CACHE_COUNTERS: readonly [key: Exclude<keyof ClientCacheStats, 'entries'>, help: string][] = [
  ['hits', 'Reads the client-side cache answered'],
  ['misses', 'Cacheable reads the client-side cache sent to the server'],
  ['evictions', 'Client-side cache entries dropped for room, age or a flush'],
  ['invalidations', 'Keys the server said changed, invalidating client-side cache entries'],
  ['flushes', 'Times the client-side cache was emptied because an invalidation could have been missed'],
];
const CACHE_ENTRIES_HELP = 'Replies the client-side cache holds';

/** What the exporters read: the figures (none while the pool is closed), and each lease's times. */
export interface MetricsSource {
  figures(): PoolFigures | undefined;
  poolName(): string;
  /** Calls `listener` with each lease's wait and use, in seconds. */
  onLeaseTime(listener: (kind: 'wait' | 'use', seconds: number) => void): void;
}

/** Histogram buckets for connection wait and use times, in seconds: 0.5 ms to 10 s. */
const TIME_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** `@opentelemetry/api`'s global MeterProvider; a `ClientUsageError` when the optional peer is not installed. */
export async function globalMeterProvider(): Promise<OpenTelemetryMeterProvider> {
  const api = await import('@opentelemetry/api').catch((cause: unknown) => {
    throw new ClientUsageError(
      'enableOpenTelemetry() needs a meterProvider, or @opentelemetry/api installed (npm install @opentelemetry/api)',
      { cause },
    );
  });
  return api.metrics.getMeterProvider();
}

/**
 * The OpenTelemetry instruments of the semantic conventions for database client connection
 * pools, each with `db.client.connection.pool.name`, and the pool's own (`redis_pool.connection.closed`;
 * `redis_pool.cache.entries`, `.hits`, `.misses`, `.evictions`, `.invalidations` and `.flushes` with the
 * client-side cache on). The gauges are observed at collect time, so
 * they cost nothing between collections; the two histograms record once per lease.
 */
export function instrumentOpenTelemetry(provider: OpenTelemetryMeterProvider, source: MetricsSource): void {
  const meter = provider.getMeter('@refactorizado/redis-pool');
  const connections = { unit: '{connection}' };
  const count = meter.createObservableUpDownCounter('db.client.connection.count', {
    ...connections,
    description: 'Connections the pool holds, by state (idle or used)',
  });
  const max = meter.createObservableUpDownCounter('db.client.connection.max', {
    ...connections,
    description: 'The most connections the pool may hold (REDIS_MAX_CONNECTIONS)',
  });
  const idleMin = meter.createObservableUpDownCounter('db.client.connection.idle.min', {
    ...connections,
    description: 'The idle connections the pool keeps (REDIS_MIN_IDLE_CONNECTIONS)',
  });
  const pending = meter.createObservableUpDownCounter('db.client.connection.pending_requests', {
    unit: '{request}',
    description: 'Callers waiting for a connection',
  });
  const timeouts = meter.createObservableCounter('db.client.connection.timeouts', {
    unit: '{timeout}',
    description: 'Waits for a connection that ran out of time (AcquireTimeoutError)',
  });
  const closed = meter.createObservableCounter('redis_pool.connection.closed', {
    unit: '{connection}',
    description: 'Connections the pool closed, by reason (idle, expired, unhealthy, failed-over, hung …)',
  });
  const cacheEntries = meter.createObservableUpDownCounter('redis_pool.cache.entries', {
    unit: '{entry}',
    description: CACHE_ENTRIES_HELP,
  });
  const cacheCounters = CACHE_COUNTERS.map(
    ([key, description]) => [key, meter.createObservableCounter(`redis_pool.cache.${key}`, { description })] as const,
  );
  meter.addBatchObservableCallback(
    (result) => {
      const figures = source.figures();
      if (!figures) return;
      const pool = { 'db.client.connection.pool.name': source.poolName() };
      result.observe(count, figures.idle, { ...pool, 'db.client.connection.state': 'idle' });
      result.observe(count, figures.used, { ...pool, 'db.client.connection.state': 'used' });
      result.observe(max, figures.max, pool);
      result.observe(idleMin, figures.idleMin, pool);
      result.observe(pending, figures.pending, pool);
      result.observe(timeouts, figures.timeouts, pool);
      for (const [reason, n] of Object.entries(figures.closed)) result.observe(closed, n, { ...pool, reason });
      if (!figures.cache) return;
      result.observe(cacheEntries, figures.cache.entries, pool);
      for (const [key, counter] of cacheCounters) result.observe(counter, figures.cache[key], pool);
    },
    [count, max, idleMin, pending, timeouts, closed, cacheEntries, ...cacheCounters.map(([, counter]) => counter)],
  );
  const times = {
    wait: meter.createHistogram('db.client.connection.wait_time', {
      unit: 's',
      description: 'The time it took to obtain a connection from the pool',
      advice: { explicitBucketBoundaries: TIME_BUCKETS },
    }),
    use: meter.createHistogram('db.client.connection.use_time', {
      unit: 's',
      description: 'The time between borrowing a connection and returning it',
      advice: { explicitBucketBoundaries: TIME_BUCKETS },
    }),
  };
  source.onLeaseTime((kind, seconds) =>
    times[kind].record(seconds, { 'db.client.connection.pool.name': source.poolName() }),
  );
}

/**
 * The same figures in `registry`, with Prometheus-style names: `db_client_connection_count`
 * (label `state`), `…_max`, `…_idle_min`, `…_pending_requests`, `…_timeouts_total`,
 * `redis_pool_connections_closed_total` (label `reason`), with the client-side cache on
 * `redis_pool_cache_entries` and `redis_pool_cache_{hits,misses,evictions,invalidations,flushes}_total`, and the
 * histograms `…_wait_time_seconds` and `…_use_time_seconds`, each labelled `pool_name`. The gauges
 * are read when the registry is scraped.
 */
export async function registerPrometheus(registry: PrometheusRegistry, source: MetricsSource): Promise<void> {
  const { Counter, Gauge, Histogram, Registry } = await import('prom-client').catch((cause: unknown) => {
    if ((cause as { code?: unknown }).code !== 'ERR_MODULE_NOT_FOUND') throw cause;
    throw new ClientUsageError('registerPrometheus() needs prom-client installed (npm install prom-client)', { cause });
  });
  // The caller's registry, of the prom-client it installed: this very type, from the same module.
  const registers = [registry as InstanceType<typeof Registry>];
  const gauge = (
    name: string,
    help: string,
    pick: (figures: PoolFigures) => number,
    shown: (figures: PoolFigures) => boolean = () => true,
  ) =>
    new Gauge({
      name,
      help,
      labelNames: ['pool_name'],
      registers,
      collect() {
        this.reset();
        const figures = source.figures();
        if (figures && shown(figures)) this.set({ pool_name: source.poolName() }, pick(figures));
      },
    });
  new Gauge({
    name: 'db_client_connection_count',
    help: 'Connections the pool holds, by state (idle or used)',
    labelNames: ['pool_name', 'state'],
    registers,
    collect() {
      this.reset();
      const figures = source.figures();
      if (!figures) return;
      this.set({ pool_name: source.poolName(), state: 'idle' }, figures.idle);
      this.set({ pool_name: source.poolName(), state: 'used' }, figures.used);
    },
  });
  gauge('db_client_connection_max', 'The most connections the pool may hold (REDIS_MAX_CONNECTIONS)', (f) => f.max);
  gauge(
    'db_client_connection_idle_min',
    'The idle connections the pool keeps (REDIS_MIN_IDLE_CONNECTIONS)',
    (f) => f.idleMin,
  );
  gauge('db_client_connection_pending_requests', 'Callers waiting for a connection', (f) => f.pending);
  new Counter({
    name: 'db_client_connection_timeouts_total',
    help: 'Waits for a connection that ran out of time (AcquireTimeoutError)',
    labelNames: ['pool_name'],
    registers,
    collect() {
      this.reset();
      const figures = source.figures();
      if (figures) this.inc({ pool_name: source.poolName() }, figures.timeouts);
    },
  });
  new Counter({
    name: 'redis_pool_connections_closed_total',
    help: 'Connections the pool closed, by reason (idle, expired, unhealthy, failed-over, hung …)',
    labelNames: ['pool_name', 'reason'],
    registers,
    collect() {
      this.reset();
      const figures = source.figures();
      if (!figures) return;
      for (const [reason, n] of Object.entries(figures.closed)) this.inc({ pool_name: source.poolName(), reason }, n);
    },
  });
  gauge(
    'redis_pool_cache_entries',
    CACHE_ENTRIES_HELP,
    (f) => f.cache?.entries ?? 0,
    (f) => f.cache !== undefined,
  );
  for (const [key, help] of CACHE_COUNTERS) {
    new Counter({
      name: `redis_pool_cache_${key}_total`,
      help,
      labelNames: ['pool_name'],
      registers,
      collect() {
        this.reset();
        const cache = source.figures()?.cache;
        if (cache) this.inc({ pool_name: source.poolName() }, cache[key]);
      },
    });
  }
  const histogram = (name: string, help: string) =>
    new Histogram({ name, help, labelNames: ['pool_name'], buckets: TIME_BUCKETS, registers });
  const times = {
    wait: histogram('db_client_connection_wait_time_seconds', 'The time it took to obtain a connection from the pool'),
    use: histogram('db_client_connection_use_time_seconds', 'The time between borrowing a connection and returning it'),
  };
  source.onLeaseTime((kind, seconds) => times[kind].observe({ pool_name: source.poolName() }, seconds));
}

/** The figures the metrics report in `stats`, with `REDIS_MIN_IDLE_CONNECTIONS`. */
export function figuresOf(stats: PoolStats, idleMin: number): PoolFigures {
  return {
    idle: stats.idle,
    used: stats.total - stats.idle,
    max: stats.max,
    idleMin,
    pending: stats.pending,
    timeouts: stats.timeouts,
    closed: stats.closed,
    cache: stats.clientSideCache,
  };
}
