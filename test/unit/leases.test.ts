// The lease pool's mechanism without a server: its factory makes fake connections (the pool's own
// `PooledConnection`, not Redis), and time is node:test's mock timers plus a mocked
// `performance.now()`. What the connections do with Redis is tested in test/leases.test.ts.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, mock, test } from 'node:test';
import { ConnectionBudget } from '../../src/connections/budget.js';
import { type CloseReason, Closes } from '../../src/connections/closes.js';
import type { LeakReport, PooledConnection } from '../../src/connections/lease.js';
import { LeasePool } from '../../src/connections/leases.js';
import type { Verdict } from '../../src/connections/reply-monitor.js';
import { AcquireTimeoutError, CommandTimeoutError, RedisUnavailableError } from '../../src/errors.js';
import { createLogger } from '../../src/logger.js';
import { CommonAppSettings, type SettingsInput } from '../../src/settings.js';
import { FixedTarget } from '../../src/topology/target.js';

/** A connection as the lease pool sees it, whose every answer the test sets. */
class FakeConnection implements PooledConnection {
  static made = 0;
  readonly id = ++FakeConnection.made;
  readonly address = undefined;
  readonly base = {};
  isReady = true;
  pending = 0;
  readonly = false;
  expiresAt = Number.POSITIVE_INFINITY;
  lastUsedAt = performance.now();
  leasedAt = 0;
  leakReported = false;
  stack: string | undefined;
  clean = true;
  restoreFails = false;
  checkFails = false;
  verdict: Verdict = 'ok';
  closed = false;
  failedWith: Error | undefined;
  checks = 0;

  watch(): Verdict {
    return this.verdict;
  }
  isClean(): boolean {
    return this.clean;
  }
  async restore(): Promise<void> {
    if (this.restoreFails) throw new Error('RESET refused');
    this.clean = true;
  }
  async check(): Promise<string | undefined> {
    this.checks++;
    return this.checkFails ? 'no PONG' : undefined;
  }
  fail(error: Error): void {
    this.failedWith = error;
  }
  close(): void {
    this.closed = true;
    this.isReady = false;
  }
}

let now = 0;
beforeEach(() => {
  now = 1_000_000;
  mock.method(performance, 'now', () => now);
  mock.timers.enable({ apis: ['setTimeout'] });
});
afterEach(() => {
  mock.timers.reset();
  mock.restoreAll();
});

/** Moves the clock and the timers on by `ms`. */
async function elapse(ms: number): Promise<void> {
  now += ms;
  mock.timers.tick(ms);
  await settle();
}

/** Lets promise callbacks run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

function makePool(input: SettingsInput = {}, max = 3) {
  const settings = new CommonAppSettings(
    { serviceName: 'unit', logLevel: 'silent', redisHealthCheckInterval: 0, ...input },
    { env: {}, envFile: false },
  );
  const opened: FakeConnection[] = [];
  const factory = { fail: undefined as Error | undefined, calls: 0 };
  const leaks: LeakReport[] = [];
  const logger = createLogger('silent');
  const closes = new Closes(logger);
  const pool = new LeasePool<FakeConnection>({
    settings,
    logger,
    events: { onAcquireTimeout: () => undefined, onLeak: (report) => leaks.push(report) },
    target: new FixedTarget(settings.redisHost, settings.redisPort),
    budget: new ConnectionBudget(max),
    closes,
    open: async () => {
      factory.calls++;
      if (factory.fail) throw factory.fail;
      const connection = new FakeConnection();
      opened.push(connection);
      return connection;
    },
  });
  const closed = (reason: CloseReason) => closes.counts()[reason];
  return { pool, opened, factory, closes, closed, leaks };
}

test('lends a new connection, takes it back idle, and lends it again: a miss, then a hit', async () => {
  const { pool, opened } = makePool();
  const first = await pool.run((lease) => lease.connection);
  assert.equal(pool.stats().idle, 1);
  const second = await pool.run((lease) => lease.connection);
  assert.equal(second, first);
  assert.equal(opened.length, 1);
  assert.deepEqual([pool.stats().misses, pool.stats().hits], [1, 1]);
});

test('callers beyond the budget wait, and are served first come, first served', async () => {
  const { pool } = makePool({}, 1);
  const order: number[] = [];
  let release!: () => void;
  const holding = pool.run(() => new Promise<void>((resolve) => (release = resolve)));
  await settle();
  const waiting = [1, 2, 3].map((n) => pool.run(() => order.push(n)));
  await settle();
  assert.equal(pool.stats().pending, 3);
  release();
  await Promise.all([holding, ...waiting]);
  assert.deepEqual(order, [1, 2, 3]);
  assert.equal(pool.stats().waitCount, 3);
});

test('a caller that waits past REDIS_POOL_TIMEOUT gets AcquireTimeoutError, with the last failure as its cause', async () => {
  const { pool, factory } = makePool({ redisPoolTimeout: 2 }, 1);
  let release!: () => void;
  const holding = pool.run(() => new Promise<void>((resolve) => (release = resolve)));
  await settle();
  factory.fail = new Error('refused');
  pool.connectFailed(factory.fail);
  const waiting = pool.run(() => 'never').catch((error: unknown) => error);
  await elapse(1999);
  assert.equal(pool.stats().pending, 1, 'still waiting a millisecond before the deadline');
  await elapse(1);
  const error = await waiting;
  assert.ok(error instanceof AcquireTimeoutError);
  assert.equal(error.cause, factory.fail);
  assert.equal(pool.stats().timeouts, 1);
  release();
  await holding;
});

test('a connection given back changed is restored before it is kept; one that cannot be is closed', async () => {
  const { pool, closed } = makePool();
  const first = await pool.run((lease) => {
    lease.connection.clean = false;
    return lease.connection;
  });
  assert.equal(first.clean, true, 'restored');
  assert.equal(pool.stats().idle, 1);
  await pool.run((lease) => {
    lease.connection.clean = false;
    lease.connection.restoreFails = true;
  });
  assert.equal(first.closed, true);
  assert.equal(closed('unrestorable'), 1);
  assert.equal(pool.stats().idle, 0);
});

test('a connection given back broken, with replies unread or on a replica is closed, each for its reason, and its slot freed', async () => {
  const { pool, closed } = makePool({}, 2);
  for (const [change, reason] of [
    [(connection: FakeConnection) => (connection.isReady = false), 'broken'],
    [(connection: FakeConnection) => (connection.pending = 1), 'unread-replies'],
    [(connection: FakeConnection) => (connection.readonly = true), 'readonly'],
  ] as const) {
    const connection = await pool.run((lease) => {
      change(lease.connection);
      return lease.connection;
    });
    assert.equal(connection.closed, true, reason);
    assert.equal(closed(reason), 1, reason);
  }
  assert.equal(pool.used, 0, 'every slot given back');
});

test('a lease whose signal aborts is given back at once, its connection failed and closed as abandoned', async () => {
  const { pool, opened, closed } = makePool();
  const controller = new AbortController();
  const running = pool.run(() => new Promise(() => undefined), { signal: controller.signal });
  await settle();
  controller.abort(new Error('caller gave up'));
  await assert.rejects(running, /caller gave up/);
  assert.equal(opened[0]?.closed, true);
  assert.equal(opened[0]?.failedWith?.name, 'LeaseReleasedError');
  assert.equal(closed('abandoned'), 1);
});

test('REDIS_MAX_LIFETIME: an idle connection past it is closed at the tick; one given back past it too', async () => {
  const { pool, opened, closed } = makePool({ redisMaxLifetime: 60 });
  await pool.run(() => undefined);
  const [first] = opened as [FakeConnection];
  first.expiresAt = now + 1000;
  await elapse(1000);
  pool.tick();
  assert.equal(first.closed, true);
  await pool.run((lease) => {
    lease.connection.expiresAt = now;
  });
  assert.equal(closed('expired'), 2);
});

test('REDIS_IDLE_TIMEOUT closes idle connections above REDIS_MIN_IDLE_CONNECTIONS, and keeps the minimum', async () => {
  const { pool, opened, closed } = makePool({ redisIdleTimeout: 10, redisMinIdleConnections: 1 });
  await Promise.all([1, 2, 3].map(() => pool.run(() => settle())));
  assert.equal(pool.stats().idle, 3);
  await elapse(9_000);
  pool.tick();
  assert.equal(pool.stats().idle, 3, 'not yet');
  await elapse(1_001);
  pool.tick();
  assert.equal(pool.stats().idle, 1);
  assert.equal(closed('idle'), 2);
  assert.equal(opened.filter((connection) => !connection.closed).length, 1);
});

test('an idle connection due for its health check is checked before it is lent; one that fails is closed as unhealthy and replaced', async () => {
  const { pool, opened, closed } = makePool({ redisHealthCheckInterval: 30 });
  await pool.run(() => undefined);
  const [first] = opened as [FakeConnection];
  await elapse(29_000);
  assert.equal(await pool.run((lease) => lease.connection), first);
  assert.equal(first.checks, 0, 'not due yet');
  await elapse(30_000);
  first.checkFails = true;
  const lent = await pool.run((lease) => lease.connection);
  assert.notEqual(lent, first);
  assert.equal(first.checks, 1);
  assert.equal(closed('unhealthy'), 1);
  assert.equal(pool.stats().idle, 1);
});

test('after a failed opening, no connection opens until the back-off has passed; then one probes the server', async () => {
  const { pool, factory } = makePool({ redisReconnectBaseDelay: 1, redisReconnectMaxDelay: 1 });
  factory.fail = new Error('ECONNREFUSED');
  await assert.rejects(
    pool.run(() => undefined),
    /ECONNREFUSED/,
  );
  assert.equal(factory.calls, 1);
  await assert.rejects(
    pool.run(() => undefined),
    (error) => {
      assert.ok(error instanceof RedisUnavailableError);
      assert.equal(error.reason, 'connect-backoff');
      return true;
    },
  );
  assert.equal(factory.calls, 1, 'refused without an attempt');
  factory.fail = undefined;
  await elapse(1000);
  await pool.run(() => undefined);
  assert.equal(factory.calls, 2);
  assert.equal(pool.used, 1, 'the refused callers gave their slots back');
});

test('a leased connection the watchdog calls hung is failed with CommandTimeoutError and closed as hung', async () => {
  const { pool, opened, closed } = makePool();
  let ticked!: () => void;
  const running = pool.run(
    (lease) =>
      new Promise<void>((resolve) => {
        lease.connection.pending = 1;
        lease.connection.verdict = 'hung';
        ticked = resolve;
      }),
  );
  await settle();
  pool.tick();
  const [connection] = opened as [FakeConnection];
  assert.ok(connection.failedWith instanceof CommandTimeoutError);
  ticked();
  await running;
  assert.equal(closed('hung'), 1);
  assert.equal(closed('broken'), 0, 'counted once, for why it was closed');
});

test('a lease held past REDIS_LEAK_DETECTION_THRESHOLD is reported once, with where it was taken', async () => {
  const { pool, leaks } = makePool({ redisLeakDetectionThreshold: 5 });
  let release!: () => void;
  const running = pool.run(() => new Promise<void>((resolve) => (release = resolve)));
  await settle();
  await elapse(5001);
  pool.tick();
  pool.tick();
  assert.equal(leaks.length, 1);
  assert.match(leaks[0]?.stack ?? '', /Lease taken here/);
  release();
  await running;
});

test('close() refuses new callers, closes idle connections at once and leased ones as they come back', async () => {
  const { pool, opened, closed } = makePool({}, 2);
  let release!: () => void;
  const running = pool.run(() => new Promise<void>((resolve) => (release = resolve)));
  await pool.run(() => undefined);
  assert.deepEqual([pool.stats().idle, pool.stats().leased], [1, 1]);
  const closing = pool.close();
  await settle();
  await assert.rejects(
    pool.run(() => undefined),
    { name: 'PoolClosedError' },
  );
  assert.equal(opened[1]?.closed, true, 'the idle one');
  assert.equal(opened[0]?.closed, false, 'the leased one, until it comes back');
  release();
  await Promise.all([running, closing]);
  assert.equal(closed('pool-closed'), 2);
});
