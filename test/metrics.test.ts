import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { metrics as otel } from '@opentelemetry/api';
import {
  AggregationTemporality,
  type DataPoint,
  type Histogram,
  MeterProvider,
  MetricReader,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import { Registry } from 'prom-client';
import { OpenTelemetry } from 'redis';
import { AcquireTimeoutError, RedisPool } from '../src/index.js';
import { serverForFile, settingsFor, silent } from './helpers.js';

const file = serverForFile();

/** A reader the test collects from when it wants. */
class TestReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

/** Every metric collected, by name, with its unit and data points. */
async function collect(reader: TestReader) {
  const { resourceMetrics } = (await reader.collect()) as { resourceMetrics: ResourceMetrics };
  const found = new Map<string, { unit: string; points: DataPoint<unknown>[] }>();
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      found.set(metric.descriptor.name, {
        unit: metric.descriptor.unit,
        points: metric.dataPoints as DataPoint<unknown>[],
      });
    }
  }
  return found;
}

/**
 * A pool under a lease load frozen in place: 3 leases held (REDIS_MAX_CONNECTIONS 4, the shared
 * connection takes one), 5 callers waiting, and one wait that timed out. `release()` lets it end.
 */
async function frozenLoad(pool: RedisPool) {
  await pool.getClient(
    settingsFor(file.server.url, { serviceName: 'metered', redisMaxConnections: 4, redisMinIdleConnections: 1 }),
  );
  await assert.rejects(
    Promise.all(Array.from({ length: 4 }, () => pool.withConnection({ timeoutMs: 50 }, () => sleep(150)))),
    AcquireTimeoutError,
  );
  await sleep(200);
  let release = () => {};
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const leases = Array.from({ length: 8 }, () => pool.withConnection(() => gate));
  for (let i = 0; i < 100 && pool.stats().pending < 5; i++) await sleep(10);
  assert.equal(pool.stats().pending, 5);
  return {
    release: async () => {
      release();
      await Promise.all(leases);
    },
  };
}

test('OpenTelemetry: the semantic-convention instruments agree with stats() under a lease load', async () => {
  const reader = new TestReader();
  const pool = new RedisPool({ logger: silent });
  try {
    await pool.enableOpenTelemetry({ meterProvider: new MeterProvider({ readers: [reader] }) });
    const load = await frozenLoad(pool);
    const stats = pool.stats();
    const found = await collect(reader);
    const named = { 'db.client.connection.pool.name': 'metered' };
    const value = (name: string, state?: string) => {
      const metric = found.get(name);
      assert.ok(metric, `${name} is reported`);
      assert.equal(
        metric.unit,
        name.endsWith('pending_requests') ? '{request}' : name.endsWith('timeouts') ? '{timeout}' : '{connection}',
      );
      const point = metric.points.find((candidate) => candidate.attributes['db.client.connection.state'] === state);
      assert.ok(point, `${name} ${state ?? ''}`);
      assert.equal(point.attributes['db.client.connection.pool.name'], named['db.client.connection.pool.name']);
      return point.value;
    };
    assert.equal(value('db.client.connection.count', 'idle'), stats.idle);
    assert.equal(value('db.client.connection.count', 'used'), stats.total - stats.idle);
    assert.equal(value('db.client.connection.max'), 4);
    assert.equal(value('db.client.connection.idle.min'), 1);
    assert.equal(value('db.client.connection.pending_requests'), 5);
    assert.equal(value('db.client.connection.timeouts'), stats.timeouts);
    assert.ok(stats.timeouts >= 1);

    await sleep(100);
    await load.release();
    const after = await collect(reader);
    for (const name of ['db.client.connection.wait_time', 'db.client.connection.use_time']) {
      const metric = after.get(name);
      assert.ok(metric, name);
      assert.equal(metric.unit, 's');
      const [point] = metric.points as DataPoint<Histogram>[];
      // 8 gated leases, 3 of the 4 that raced the timeout, all with the pool's name.
      assert.equal(point?.value.count, 11, name);
      assert.deepEqual(point?.attributes, named);
    }
    const waits = after.get('db.client.connection.wait_time')?.points[0] as DataPoint<Histogram> | undefined;
    assert.ok(
      (waits?.value.max ?? 0) >= 0.1,
      `the waiters waited at least the 100 ms the leases were held: ${waits?.value.max}`,
    );
  } finally {
    pool.destroy();
  }
});

test('Prometheus: the same figures, scraped from a prom-client registry', async () => {
  const registry = new Registry();
  const pool = new RedisPool({ logger: silent });
  try {
    await pool.registerPrometheus(registry);
    const load = await frozenLoad(pool);
    const stats = pool.stats();
    const scrape = async () => {
      const lines = (await registry.metrics()).split('\n').filter((line) => line && !line.startsWith('#'));
      return new Map(
        lines.map((line) => [line.slice(0, line.lastIndexOf(' ')), Number(line.slice(line.lastIndexOf(' ') + 1))]),
      );
    };
    const scraped = await scrape();
    assert.equal(scraped.get('db_client_connection_count{pool_name="metered",state="idle"}'), stats.idle);
    assert.equal(scraped.get('db_client_connection_count{pool_name="metered",state="used"}'), stats.total - stats.idle);
    assert.equal(scraped.get('db_client_connection_max{pool_name="metered"}'), 4);
    assert.equal(scraped.get('db_client_connection_idle_min{pool_name="metered"}'), 1);
    assert.equal(scraped.get('db_client_connection_pending_requests{pool_name="metered"}'), 5);
    assert.equal(scraped.get('db_client_connection_timeouts_total{pool_name="metered"}'), stats.timeouts);
    await load.release();
    const after = await scrape();
    assert.equal(after.get('db_client_connection_wait_time_seconds_count{pool_name="metered"}'), 11);
    assert.equal(after.get('db_client_connection_use_time_seconds_count{pool_name="metered"}'), 11);
    assert.equal(after.get('db_client_connection_use_time_seconds_bucket{le="+Inf",pool_name="metered"}'), 11);
  } finally {
    pool.destroy();
  }
  assert.equal(
    (await registry.metrics()).match(/^db_client_connection_count\{/m),
    null,
    'a closed pool reports no connections',
  );
});

test("node-redis's own command metrics still measure the commands the pool's fast path sends", async () => {
  const reader = new TestReader();
  otel.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
  OpenTelemetry.init({ metrics: { enabled: true, enabledMetricGroups: ['command'] } });
  const pool = new RedisPool({ logger: silent });
  try {
    const client = await pool.getClient(settingsFor(file.server.url));
    await Promise.all(Array.from({ length: 50 }, (_, i) => client.set(`measured:${i}`, 'v')));
    await Promise.all(Array.from({ length: 50 }, (_, i) => client.get(`measured:${i}`)));
    const found = await collect(reader);
    const durations = found.get('db.operation.duration') ?? found.get('db.client.operation.duration');
    assert.ok(durations, `metrics: ${[...found.keys()].join(', ')}`);
    const counts = new Map<string, number>();
    for (const point of durations.points as DataPoint<Histogram>[]) {
      const name = String(point.attributes['db.operation.name']);
      counts.set(name, (counts.get(name) ?? 0) + point.value.count);
    }
    assert.ok((counts.get('SET') ?? 0) >= 50 && (counts.get('GET') ?? 0) >= 50, JSON.stringify([...counts]));
  } finally {
    pool.destroy();
  }
});

test('every connection the pool closes has a reason: stats().closed, OpenTelemetry and Prometheus agree', async () => {
  const reader = new TestReader();
  const registry = new Registry();
  const pool = new RedisPool({ logger: silent });
  try {
    await pool.enableOpenTelemetry({ meterProvider: new MeterProvider({ readers: [reader] }) });
    await pool.registerPrometheus(registry);
    await pool.getClient(settingsFor(file.server.url, { serviceName: 'closing', redisIdleTimeout: 0.2 }));
    // Three leases at once leave three idle connections; the idle timeout closes all three.
    await Promise.all([1, 2, 3].map(() => pool.withConnection(() => sleep(20))));
    const controller = new AbortController();
    const abandoned = pool.withConnection({ signal: controller.signal }, () => sleep(1000));
    controller.abort(new Error('gave up'));
    await assert.rejects(abandoned, /gave up/);
    for (let i = 0; i < 100 && pool.stats().closed.idle < 2; i++) await sleep(20);
    const { closed, staleClosed } = pool.stats();
    assert.equal(closed.abandoned, 1);
    assert.ok(closed.idle >= 2, `${closed.idle} closed idle`);
    assert.equal(staleClosed, closed.idle + closed.expired + closed.unhealthy + closed['failed-over']);
    const otelPoints = (await collect(reader)).get('redis_pool.connection.closed')?.points ?? [];
    const byReason = Object.fromEntries(otelPoints.map((point) => [point.attributes.reason, point.value]));
    assert.equal(byReason.idle, pool.stats().closed.idle);
    assert.equal(byReason.abandoned, 1);
    const text = await registry.metrics();
    assert.match(
      text,
      new RegExp(
        `redis_pool_connections_closed_total\\{pool_name="closing",reason="idle"\\} ${pool.stats().closed.idle}`,
      ),
    );
    assert.match(text, /redis_pool_connections_closed_total\{pool_name="closing",reason="abandoned"\} 1/);
  } finally {
    pool.destroy();
  }
});

test('the client-side cache’s figures: stats(), OpenTelemetry and Prometheus agree; without the cache, none', async () => {
  const reader = new TestReader();
  const registry = new Registry();
  const pool = new RedisPool<true>({ logger: silent });
  const plain = new RedisPool<true>({ logger: silent });
  const plainRegistry = new Registry();
  try {
    await pool.enableOpenTelemetry({ meterProvider: new MeterProvider({ readers: [reader] }) });
    await pool.registerPrometheus(registry);
    const client = await pool.getClient(
      settingsFor(file.server.url, {
        serviceName: 'cached',
        redisClientSideCache: true,
        redisClientSideCacheMaxEntries: 2,
      }),
    );
    await client.set('metered:a', '1');
    for (let i = 0; i < 5; i++) await client.get('metered:a');
    await client.get('metered:b');
    await client.get('metered:c');
    await client.set('metered:c', '2');
    for (let i = 0; i < 100 && (pool.stats().clientSideCache?.invalidations ?? 0) === 0; i++) await sleep(5);
    const cache = pool.stats().clientSideCache;
    assert.deepEqual(cache, { entries: 1, hits: 4, misses: 3, evictions: 1, invalidations: 1, flushes: 0 });
    const otel = await collect(reader);
    const text = await registry.metrics();
    for (const [key, value] of Object.entries(cache ?? {})) {
      assert.equal(otel.get(`redis_pool.cache.${key}`)?.points[0]?.value, value, `OpenTelemetry's ${key}`);
      const name = key === 'entries' ? 'redis_pool_cache_entries' : `redis_pool_cache_${key}_total`;
      assert.match(text, new RegExp(`^${name}\\{pool_name="cached"\\} ${value}$`, 'm'), `Prometheus's ${key}`);
    }

    await plain.registerPrometheus(plainRegistry);
    await plain.getClient(settingsFor(file.server.url, { serviceName: 'uncached' }));
    assert.equal(plain.stats().clientSideCache, undefined);
    assert.doesNotMatch(await plainRegistry.metrics(), /redis_pool_cache_\w+\{/);
  } finally {
    pool.destroy();
    plain.destroy();
  }
});
