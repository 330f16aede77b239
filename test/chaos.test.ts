import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorReply } from 'redis';
import type { StringClient } from '../src/client/types.js';
import { ConnectionLostError, RedisAuthError, RedisPool, RedisUnavailableError } from '../src/index.js';
import { socketKiller } from '../src/node-redis/node-redis.js';
import { startFaultProxy, startRedisServer } from '../src/testing/index.js';
import { admin, infoNumber, settingsFor, silent, timed } from './helpers.js';
import {
  countUnhandledRejections,
  firstOkAfter,
  type KeyValue,
  type LoadReport,
  openSockets,
  startLoad,
} from './load.js';

/** Every failure typed, no reply explained by no SET, and what the run saw, for the log. */
function assertHonest(report: LoadReport, label: string): void {
  console.log(
    `${label}: ${report.ok} ok, failures ${JSON.stringify(Object.fromEntries(report.failures))}, ` +
      `slowest ms ${JSON.stringify(Object.fromEntries([...report.slowest].map(([k, v]) => [k, Math.round(v)])))}`,
  );
  assert.deepEqual(report.wrong, [], 'every GET matches its key’s last acknowledged SET');
  assert.deepEqual(report.untyped, [], 'every failure is a typed error with a code');
  assert.ok(report.ok > 0);
}

describe('chaos against real servers', () => {
  test('SIGKILL and restart under 200 callers: back within 1 s, no wrong reply, all typed, nothing leaked', async () => {
    // appendfsync always: every acknowledged SET survives the kill, so a GET can be held to it.
    const server = await startRedisServer({ args: ['--appendonly', 'yes', '--appendfsync', 'always'] });
    const unhandled = countUnhandledRejections();
    const socketsBefore = openSockets();
    const pool = new RedisPool<true>({ logger: silent });
    try {
      const client = await pool.getClient(settingsFor(server.url, { redisSocketTimeout: 2 }));
      const load = startLoad((fn) => fn(client), 200, 'kill');
      await sleep(500);
      await server.kill();
      const killedAt = performance.now();
      await sleep(1000);
      await server.restart();
      const backAt = performance.now();
      await sleep(1500);
      const report = await load.stop();
      assertHonest(report, 'SIGKILL + restart');
      const recovery = firstOkAfter(report, backAt);
      console.log(
        `down ${Math.round(backAt - killedAt)} ms; first success ${Math.round(recovery ?? -1)} ms after the server was back`,
      );
      assert.ok(recovery !== undefined && recovery <= 1000, `recovered ${recovery} ms after the server was back`);
      assert.ok(
        report.failures.size > 0 || (report.slowest.get('ok') ?? 0) > 900,
        'the outage was felt by the callers',
      );
      assert.equal(pool.stats().reconnects, 1);
    } finally {
      await pool.close();
      await server.stop();
    }
    // Sockets close asynchronously; give the loop a moment before counting.
    await sleep(50);
    assert.equal(openSockets(), socketsBefore, 'no socket left open after close()');
    assert.equal(unhandled(), 0, 'no unhandled rejection');
  });

  test('SIGSTOP for 3 s under load: commands reject within REDIS_SOCKET_TIMEOUT + 10 %, healthy within a health interval of SIGCONT', async () => {
    const server = await startRedisServer();
    const pool = new RedisPool<true>({ logger: silent });
    const timeoutMs = 1000;
    try {
      const client = await pool.getClient(
        settingsFor(server.url, { redisSocketTimeout: 1, redisOfflineQueueTimeout: 1, redisHealthCheckInterval: 1 }),
      );
      const load = startLoad((fn) => fn(client), 100, 'stop');
      await sleep(300);
      server.pause();
      await sleep(3000);
      server.resume();
      const thawedAt = performance.now();
      await sleep(1500);
      const report = await load.stop();
      assertHonest(report, 'SIGSTOP 3 s');
      // Outstanding commands: declared hung by the watchdog (resolution 1/20 of the timeout). The
      // 100 ms on top is for event-loop lag with 100 callers on a 2-core machine.
      const timedOut = report.slowest.get('REDIS_POOL_COMMAND_TIMEOUT');
      assert.ok(timedOut !== undefined && timedOut <= timeoutMs * 1.1 + 100, `command timeout after ${timedOut} ms`);
      // Commands sent while it was frozen waited at most REDIS_OFFLINE_QUEUE_TIMEOUT, never sent.
      const held = report.slowest.get('REDIS_POOL_UNAVAILABLE') ?? 0;
      assert.ok(held <= timeoutMs * 1.1 + 100, `held for ${held} ms`);
      const recovery = firstOkAfter(report, thawedAt);
      assert.ok(recovery !== undefined && recovery <= 1000, `healthy ${recovery} ms after SIGCONT`);
      assert.equal(pool.stats().shared.state, 'ready');
    } finally {
      pool.destroy();
      server.resume();
      await server.stop();
    }
  });

  test('a proxy that cuts, blackholes, delays and refuses at random for 30 s: no wrong reply, no hang, never over the cap', async () => {
    const server = await startRedisServer();
    const proxy = await startFaultProxy({ target: server.url });
    const observer = await admin(server.url);
    const pool = new RedisPool<true>({ logger: silent });
    const cap = 4;
    const settings = settingsFor(proxy.url, {
      serviceName: 'chaos',
      redisMaxConnections: cap,
      redisSocketTimeout: 1,
      redisSocketConnectTimeout: 1,
      redisOfflineQueueTimeout: 1,
      redisPoolTimeout: 1,
    });
    const faults: string[] = [];
    let most = { pool: 0, proxy: 0, server: 0 };
    try {
      const client = await pool.getClient(settings);
      const shared = startLoad((fn) => fn(client), 60, 'shared');
      const leased = startLoad((fn) => pool.withConnection((lease) => fn(lease as KeyValue)), 6, 'leased');
      const until = performance.now() + 30_000;
      const sampler = (async () => {
        while (performance.now() < until) {
          const named = (await observer.clientList()).filter((entry) => entry.name?.startsWith('chaos:')).length;
          most = {
            pool: Math.max(most.pool, pool.stats().total),
            proxy: Math.max(most.proxy, proxy.connections),
            server: Math.max(most.server, named),
          };
          await sleep(20);
        }
      })();
      while (performance.now() < until) {
        const roll = Math.random();
        if (roll < 0.2) proxy.cut();
        else if (roll < 0.4) proxy.blackhole();
        else if (roll < 0.6) proxy.latency(Math.round(Math.random() * 50));
        else if (roll < 0.7) await proxy.refuse();
        else await proxy.restore();
        faults.push(proxy.mode === 'forward' && roll < 0.2 ? 'cut' : proxy.mode);
        await sleep(200 + Math.random() * 1300);
      }
      await proxy.restore();
      await sampler;
      await sleep(1000);
      const reports = { shared: await shared.stop(), leased: await leased.stop() };
      console.log(`faults: ${faults.join(' ')}; most connections seen ${JSON.stringify(most)} (cap ${cap})`);
      assertHonest(reports.shared, 'chaos proxy, shared client');
      assertHonest(reports.leased, 'chaos proxy, leases');
      // No call outlives its bounds: a shared command waits at most REDIS_OFFLINE_QUEUE_TIMEOUT,
      // then REDIS_SOCKET_TIMEOUT once sent; a lease waits REDIS_POOL_TIMEOUT, connects within
      // REDIS_SOCKET_CONNECT_TIMEOUT, then its command gets REDIS_SOCKET_TIMEOUT. 300 ms for lag.
      for (const [outcome, ms] of reports.shared.slowest)
        assert.ok(ms <= 2000 * 1.1 + 300, `shared ${outcome}: ${ms} ms`);
      for (const [outcome, ms] of reports.leased.slowest)
        assert.ok(ms <= 3000 * 1.1 + 300, `leased ${outcome}: ${ms} ms`);
      assert.ok(most.pool <= cap && most.proxy <= cap && most.server <= cap, JSON.stringify(most));
    } finally {
      pool.destroy();
      observer.destroy();
      await proxy.stop();
      await server.stop();
    }
  });
});

test('a command whose reply is lost with the connection is rejected, never resent: INCR runs once', async () => {
  const server = await startRedisServer();
  const proxy = await startFaultProxy({ target: server.url });
  const observer = await admin(server.url);
  const pool = new RedisPool<true>({ logger: silent });
  try {
    const client = await pool.getClient(settingsFor(proxy.url));
    // The INCR reaches the server after 300 ms and its reply would come back 300 ms later; the
    // connection is cut in between, so the server has run it and the caller never hears.
    proxy.latency(300);
    const incr = client.incr('counter').then(
      () => 'acknowledged',
      (error: unknown) => error,
    );
    await sleep(450);
    assert.equal(await observer.get('counter'), '1', 'the server ran it');
    proxy.cut();
    const error = await incr;
    assert.ok(error instanceof ConnectionLostError, String(error));
    await proxy.restore();
    assert.equal(await client.get('counter'), '1', 'and it was not sent again after the reconnect');
    assert.equal(await client.incr('counter'), 2);
  } finally {
    pool.destroy();
    observer.destroy();
    await proxy.stop();
    await server.stop();
  }
});

// Regression: every socket a connection had kept two listeners on the signal that lets the pool
// destroy it, so a connection that reconnected often held all its old sockets.
test('a connection that reconnects many times holds none of its old sockets', async () => {
  const server = await startRedisServer();
  const observer = await admin(server.url);
  const pool = new RedisPool<true>({ logger: silent });
  try {
    const client = await pool.getClient(settingsFor(server.url));
    for (let round = 0; round < 15; round++) {
      await observer.sendCommand(['CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes']);
      // Commands fail while it is down (ConnectionLostError); it is back once one succeeds.
      for (let tries = 0; (await client.ping().catch(() => 'down')) !== 'PONG'; tries++) {
        assert.ok(tries < 100, `round ${round}: not back within 5 s`);
        await sleep(50);
      }
    }
    const killer = socketKiller(client as unknown as StringClient);
    assert.ok(killer.listenerCount <= 2, `${killer.listenerCount} listeners after 15 reconnects`);
  } finally {
    pool.destroy();
    observer.destroy();
    await server.stop();
  }
});

// Regression: after its connection dropped, a lease's next command failed with node-redis's
// untyped "The client is closed".
test('a leased connection that drops: the command in flight and the ones after reject with ConnectionLostError', async () => {
  const server = await startRedisServer();
  const observer = await admin(server.url);
  const pool = new RedisPool<true>({ logger: silent });
  try {
    await pool.getClient(settingsFor(server.url, { serviceName: 'dropped' }));
    await pool.withConnection(async (lease) => {
      const blocked = assert.rejects(lease.blPop('never-pushed', 0), (error) => {
        assert.ok(error instanceof ConnectionLostError, String(error));
        assert.equal(error.code, 'REDIS_POOL_CONNECTION_LOST');
        assert.match(error.message, /may or may not have run/);
        assert.ok(error.cause, 'carries the socket error');
        return true;
      });
      await sleep(50);
      await observer.sendCommand(['CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes']);
      await blocked;
      await assert.rejects(lease.get('k'), ConnectionLostError);
      await assert.rejects(lease.multi().set('k', 'v').exec(), ConnectionLostError);
    });
    // The broken connection was closed, not lent again.
    assert.equal(await pool.withConnection((lease) => lease.ping()), 'PONG');
  } finally {
    pool.destroy();
    observer.destroy();
    await server.stop();
  }
});

test('a server loading its data after a restart: LOADING becomes RedisUnavailableError, then commands run', async () => {
  const server = await startRedisServer({ args: ['--enable-debug-command', 'yes'] });
  const observer = await admin(server.url);
  const pool = new RedisPool<true>({ logger: silent });
  try {
    const client = await pool.getClient(settingsFor(server.url));
    // Enough keys that loading them back takes a moment after the restart.
    await observer.sendCommand(['DEBUG', 'POPULATE', '3000000']);
    await observer.sendCommand(['SAVE']);
    observer.destroy();
    await server.kill();
    let restarted = false;
    const restarting = server.restart().then(() => {
      restarted = true;
    });
    const loading: unknown[] = [];
    while (!restarted) {
      await client.get('key:1').catch((error: unknown) => {
        if (error instanceof RedisUnavailableError && error.reason === 'loading') loading.push(error);
      });
      await sleep(5);
    }
    await restarting;
    console.log(`${loading.length} commands refused while the server loaded its data`);
    assert.ok(loading.length > 0, 'the pool reached the server while it was loading');
    const first = loading[0] as RedisUnavailableError;
    assert.equal(first.code, 'REDIS_POOL_UNAVAILABLE');
    assert.ok(first.cause instanceof ErrorReply && first.cause.message.startsWith('LOADING'));
    assert.equal(await client.get('key:1'), 'value:1');
  } finally {
    pool.destroy();
    await server.stop();
  }
});

describe('offline queue (REDIS_OFFLINE_QUEUE)', () => {
  test('on: commands wait for the server, bounded in length and in time; off: they fail at once', async () => {
    const server = await startRedisServer();
    const queued = new RedisPool<true>({ logger: silent });
    const failFast = new RedisPool<true>({ logger: silent });
    try {
      const client = await queued.getClient(
        settingsFor(server.url, { redisOfflineQueueSize: 3, redisOfflineQueueTimeout: 1 }),
      );
      const other = await failFast.getClient(settingsFor(server.url, { redisOfflineQueue: false }));
      await server.kill();
      await sleep(50);

      const refused = await timed(other.get('k'));
      const error = (refused.outcome as PromiseRejectedResult).reason;
      assert.ok(error instanceof RedisUnavailableError, String(error));
      assert.equal(error.reason, 'offline-queue-off');
      assert.ok(error.cause, 'carries why the connection is down');

      // Three wait; the fourth finds the queue full.
      const waiting = [client.set('a', '1'), client.set('b', '2'), client.get('a')];
      await assert.rejects(
        client.get('c'),
        (e) => e instanceof RedisUnavailableError && e.reason === 'offline-queue-full',
      );
      assert.equal(queued.stats().shared.held, 3);
      await server.restart();
      assert.deepEqual(await Promise.all(waiting), ['OK', 'OK', '1'], 'held commands run in order once it is back');

      await server.kill();
      await sleep(50);
      const expired = await timed(client.get('a'));
      const late = (expired.outcome as PromiseRejectedResult).reason;
      assert.ok(late instanceof RedisUnavailableError && late.reason === 'offline-queue-timeout', String(late));
      assert.ok(expired.ms >= 950, `held ${expired.ms} ms, not the full REDIS_OFFLINE_QUEUE_TIMEOUT`);
    } finally {
      queued.destroy();
      failFast.destroy();
      await server.stop();
    }
  });
});

describe('credentials and roles that change under a running pool', () => {
  test('a user without the rights the pool needs is a RedisAuthError at once', async () => {
    const server = await startRedisServer();
    const observer = await admin(server.url);
    const pool = new RedisPool({ logger: silent });
    try {
      await observer.sendCommand(['ACL', 'SETUSER', 'noping', 'on', '>pw', '~*', '+@all', '-ping']);
      const url = server.url.replace('redis://', 'redis://noping:pw@');
      const attempt = await timed(pool.getClient(settingsFor(url)));
      const error = (attempt.outcome as PromiseRejectedResult).reason;
      assert.ok(error instanceof RedisAuthError, String(error));
      assert.match(String((error.cause as Error).message), /NOPERM/);
      assert.doesNotMatch(error.message, /pw/);
    } finally {
      pool.destroy();
      observer.destroy();
      await server.stop();
    }
  });

  test('a password changed at the server: RedisAuthError at once, a few attempts per second, back when fixed', async () => {
    const server = await startRedisServer();
    const observer = await admin(server.url);
    await observer.sendCommand(['ACL', 'SETUSER', 'app', 'on', '>old-secret', '~*', '+@all']);
    const url = server.url.replace('redis://', 'redis://app:old-secret@');
    const pool = new RedisPool<true>({ logger: silent });
    try {
      const client = await pool.getClient(settingsFor(url));
      await client.set('k', 'v');
      await pool.withConnection((lease) => lease.ping());
      // Rotate the password and drop the pool's connections, as a credential rotation would.
      await observer.sendCommand(['ACL', 'SETUSER', 'app', 'resetpass', '>new-secret']);
      await observer.sendCommand(['CLIENT', 'KILL', 'USER', 'app']);
      await sleep(300);

      const received = () => infoNumber(observer, 'stats', 'total_connections_received');
      const before = await received();
      const started = performance.now();
      let authErrors = 0;
      let slowest = 0;
      const callers = Array.from({ length: 20 }, async (_, i) => {
        while (performance.now() - started < 3000) {
          const shared = await timed(client.get('k'));
          const leased = await timed(pool.withConnection((lease) => lease.get(`k${i}`)));
          for (const { outcome, ms } of [shared, leased]) {
            assert.equal(outcome.status, 'rejected');
            assert.ok((outcome as PromiseRejectedResult).reason instanceof RedisAuthError);
            authErrors++;
            slowest = Math.max(slowest, ms);
          }
          await sleep(10);
        }
      });
      await sleep(1000);
      const afterFirstSecond = await received();
      await Promise.all(callers);
      const elapsed = (performance.now() - started) / 1000;
      const after = await received();
      const steady = (after - afterFirstSecond) / (elapsed - 1);
      console.log(
        `${authErrors} RedisAuthErrors in ${elapsed.toFixed(1)} s, slowest ${Math.round(slowest)} ms; ` +
          `${after - before} connection attempts, ${afterFirstSecond - before} of them in the first second`,
      );
      // At once: no caller waits for a timeout (REDIS_OFFLINE_QUEUE_TIMEOUT is 5 s here).
      assert.ok(slowest < 1000, `slowest RedisAuthError after ${slowest} ms`);
      // The shared connection met the refusal first, so leases do not each try; from then on the
      // shared connection and the leases each try about once a second.
      assert.ok(afterFirstSecond - before <= 4, `${afterFirstSecond - before} attempts in the first second`);
      assert.ok(steady <= 3, `${steady.toFixed(1)} connection attempts per second after the first`);

      await observer.sendCommand(['ACL', 'SETUSER', 'app', 'resetpass', '>old-secret']);
      let value: string | null | undefined;
      for (let i = 0; i < 40 && value === undefined; i++)
        value = await client.get('k').catch(() => sleep(100).then(() => undefined));
      assert.equal(value, 'v');
      assert.equal(await pool.withConnection((lease) => lease.get('k')), 'v');
    } finally {
      pool.destroy();
      observer.destroy();
      await server.stop();
    }
  });

  test('READONLY from a demoted primary: the reply is the server’s own, and the pool reconnects, but not in a loop', async () => {
    const primary = await startRedisServer();
    const other = await startRedisServer();
    const observer = await admin(primary.url);
    const pool = new RedisPool<true>({ logger: silent });
    try {
      const client = await pool.getClient(settingsFor(primary.url));
      await client.set('k', 'v');
      const before = await infoNumber(observer, 'stats', 'total_connections_received');
      // Demote it behind the pool's back.
      await observer.sendCommand(['REPLICAOF', '127.0.0.1', String(other.port)]);
      const writes = { readonly: 0, unavailable: 0, other: [] as unknown[] };
      const started = performance.now();
      while (performance.now() - started < 3000) {
        try {
          await client.set('k', 'w');
          writes.other.push('acknowledged');
        } catch (error) {
          if (error instanceof ErrorReply && error.message.startsWith('READONLY')) writes.readonly++;
          else if (error instanceof RedisUnavailableError) writes.unavailable++;
          else writes.other.push(error);
        }
        await sleep(5);
      }
      const reconnects = (await infoNumber(observer, 'stats', 'total_connections_received')) - before;
      console.log(`READONLY replies ${writes.readonly}, reconnects ${reconnects} in 3 s`);
      assert.deepEqual(writes.other, []);
      assert.ok(writes.readonly > 10, 'the server’s READONLY reaches the caller unchanged, and is not retried');
      // Back-off 1 s, then 2 s: two reconnects in 3 s, not one per reply.
      assert.ok(reconnects >= 1 && reconnects <= 3, `${reconnects} reconnects`);
      assert.ok(pool.stats().reconnects >= 1);

      await observer.sendCommand(['REPLICAOF', 'NO', 'ONE']);
      assert.equal(await client.set('k', 'x'), 'OK');
    } finally {
      pool.destroy();
      observer.destroy();
      await other.stop();
      await primary.stop();
    }
  });
});
